import { createRoute, z } from "@hono/zod-openapi";
import { personOf, requireRole } from "../auth.ts";
import { activateBundle, clearCandidate } from "../bundles/activation.ts";
import { bundleArtifact } from "../bundles/artifacts.ts";
import { serviceContext } from "../context.ts";
import { bearerSecurity, jsonBody, problems, router, LogHeadSchema, queryInt } from "../openapi.ts";

const ActivateSchema = z
  .strictObject({
    version: z.int().min(1).openapi({ description: "Version of an artifact uploaded to R2 at <tenant>/bundles/artifacts/<version>.jws" }),
    slot: z.enum(["active", "canary", "shadow"]).default("active"),
    percent: z.number().gt(0).max(100).optional().openapi({ description: "Canary: share of devices (stable by device id)" }),
    group: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/).optional().openapi({ description: "Canary: a device group instead of a share" }),
    rollback: z.boolean().default(false).openapi({ description: "Explicitly activate a version below the active one that was active before" }),
    reason: z.string().max(500).optional(),
  })
  .refine((body) => body.slot !== "canary" || (body.percent === undefined) !== (body.group === undefined), "a canary takes exactly one of percent or group")
  .refine((body) => body.slot === "canary" || (body.percent === undefined && body.group === undefined), "percent and group apply to a canary only")
  .openapi("ActivateBundle");

const RefSchema = z.object({ version: z.int(), digest: z.string(), name: z.string(), key: z.string(), expiresAt: z.string() }).openapi("BundleRef");
const DeploymentSchema = z
  .object({
    generation: z.int(),
    active: RefSchema.nullable(),
    canary: z.object({ bundle: RefSchema, percent: z.number().nullable(), group: z.string().nullable() }).nullable(),
    shadow: RefSchema.nullable(),
  })
  .openapi("Deployment");

const SummarySchema = z.object({ decision: z.string(), reason_code: z.string(), reasons: z.array(z.string()) });

const ShadowReportSchema = z
  .object({
    version: z.int(),
    agree: z.int(),
    disagree: z.int(),
    examples: z.array(z.object({ time: z.string(), device: z.string(), decision_id: z.string(), active: SummarySchema, shadow: SummarySchema })),
  })
  .openapi("ShadowReport");

export const bundles = router();

bundles.use("/v1/bundles/activate", requireRole("admin"));
bundles.openapi(
  createRoute({
    method: "post",
    path: "/v1/bundles/activate",
    operationId: "activateBundle",
    tags: ["bundles"],
    summary: "Activate a signed bundle artifact as active, canary or shadow (admin)",
    description:
      "Reads the artifact from R2, verifies its signature with a trusted publisher key over exactly the bytes it parses, refuses it if expired, for another tenant, or invalid, and moves the deployment forward only (a lower version needs `rollback`). Every activation, rollback and refusal is recorded in the admin log; on any failure the previous bundle stays active.",
    security: bearerSecurity,
    request: jsonBody(ActivateSchema),
    responses: {
      200: { description: "The new deployment", content: { "application/json": { schema: z.object({ deployment: DeploymentSchema, log: LogHeadSchema }) } } },
      ...problems(400, 401, 403, 404, 409, 413, 415, 422),
    },
  }),
  async (c) => c.json(await activateBundle(serviceContext(c), { ...c.req.valid("json"), by: personOf(c).id }), 200),
);

bundles.use("/v1/bundles", requireRole("admin", "auditor"));
bundles.openapi(
  createRoute({
    method: "get",
    path: "/v1/bundles",
    operationId: "listBundles",
    tags: ["bundles"],
    summary: "The active, canary and shadow bundles with their digests",
    security: bearerSecurity,
    responses: { 200: { description: "The deployment", content: { "application/json": { schema: DeploymentSchema } } }, ...problems(401, 403) },
  }),
  async (c) => c.json(await c.var.deps.bundleRegistry(c.env, c.env.TENANT).deployment(), 200),
);

bundles.use("/v1/bundles/:slot{canary|shadow}", requireRole("admin"));
bundles.openapi(
  createRoute({
    method: "delete",
    path: "/v1/bundles/{slot}",
    operationId: "clearBundleSlot",
    tags: ["bundles"],
    summary: "End a canary or shadow evaluation (admin)",
    security: bearerSecurity,
    request: { params: z.object({ slot: z.enum(["canary", "shadow"]) }) },
    responses: { 200: { description: "The deployment after", content: { "application/json": { schema: DeploymentSchema } } }, ...problems(401, 403, 404) },
  }),
  async (c) => {
    const { slot } = c.req.valid("param");
    return c.json(await clearCandidate(serviceContext(c), slot, personOf(c).id), 200);
  },
);

bundles.use("/v1/bundles/:version/shadow-report", requireRole("admin", "auditor"));
bundles.openapi(
  createRoute({
    method: "get",
    path: "/v1/bundles/{version}/shadow-report",
    operationId: "getShadowReport",
    tags: ["bundles"],
    summary: "How often a shadow bundle agreed with the active one, with examples of disagreement",
    security: bearerSecurity,
    request: { params: z.object({ version: queryInt({ min: 1 }) }) },
    responses: { 200: { description: "Agreement counts", content: { "application/json": { schema: ShadowReportSchema } } }, ...problems(400, 401, 403) },
  }),
  async (c) => c.json(await c.var.deps.bundleRegistry(c.env, c.env.TENANT).shadowReport(c.req.valid("param").version), 200),
);

bundles.use("/v1/bundles/artifacts/:digest", requireRole("admin", "auditor"));
bundles.openapi(
  createRoute({
    method: "get",
    path: "/v1/bundles/artifacts/{digest}",
    tags: ["bundles"],
    operationId: "getBundleArtifact",
    summary: "The signed artifact of a bundle a device log names by digest (auditor, admin)",
    description:
      "The artifact exactly as it was activated (a compact JWS line over the statement, then the body it names by SHA-256: docs/bundles.md › The artifact), for `warden audit verify --replay`: the auditor verifies its signature with the publisher keys they trust and recomputes every decision of an export from it (docs/history.md › Replay). Any bundle ever activated in any slot can be fetched by the digest decisions record in `policy`.",
    security: bearerSecurity,
    request: { params: z.object({ digest: z.string().regex(/^sha256:[0-9a-f]{64}$/).openapi({ description: "The bundle digest, as logged", example: `sha256:${"0".repeat(64)}` }) }) },
    responses: {
      200: { description: "The artifact (a compact JWS line, EdDSA, typ warden-bundle+jws, then its body)", content: { "application/octet-stream": { schema: z.string().openapi({ format: "binary" }) } } },
      ...problems(400, 401, 403, 404),
    },
  }),
  async (c) => c.body(await bundleArtifact(serviceContext(c), c.req.valid("param").digest), 200, { "content-type": "application/octet-stream" }),
);

bundles.use("/v1/bundles/log", requireRole("admin", "auditor"));
bundles.openapi(
  createRoute({
    method: "get",
    path: "/v1/bundles/log",
    operationId: "getBundleLog",
    tags: ["bundles"],
    summary: "The admin log: every activation, rollback and refusal, and every quarantine, release and revocation with who and why, hash-chained",
    security: bearerSecurity,
    request: {
      query: z.object({ after: queryInt({ min: 0 }).default(0), limit: queryInt({ min: 1, max: 1000 }).default(100) }),
    },
    responses: {
      200: {
        description: "Entries, oldest first",
        content: { "application/json": { schema: z.object({ entries: z.array(z.object({ seq: z.int(), type: z.string(), time: z.string(), hash: z.string(), prev: z.string(), device: z.string(), data: z.record(z.string(), z.unknown()) })) }) } },
      },
      ...problems(400, 401, 403),
    },
  }),
  async (c) => {
    const { after, limit } = c.req.valid("query");
    const stored = await c.var.deps.bundleRegistry(c.env, c.env.TENANT).readLog(after, limit);
    return c.json({ entries: stored.map((text) => JSON.parse(text) as { seq: number; type: string; time: string; hash: string; prev: string; device: string; data: Record<string, unknown> }) }, 200);
  },
);
