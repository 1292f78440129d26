import { createRoute, z } from "@hono/zod-openapi";
import { publicAccess, router } from "../openapi.ts";
import { loadDeployment } from "../policy/store.ts";
import { signingKey } from "../tokens/keys.ts";

const JwksSchema = z
  .object({ keys: z.array(z.object({ kty: z.string(), crv: z.string(), x: z.string(), kid: z.string(), alg: z.string(), use: z.string() })) })
  .openapi("Jwks");

const HealthSchema = z
  .object({ status: z.enum(["ok", "degraded"]), bundle: z.object({ active: z.boolean(), version: z.int().nullable(), digest: z.string().nullable(), problem: z.string().nullable() }) })
  .openapi("Health");

export const wellKnown = router();

wellKnown.openapi(
  createRoute({
    method: "get",
    path: "/.well-known/jwks.json",
    operationId: "getJwks",
    tags: ["service"],
    security: publicAccess,
    summary: "Public keys that verify Warden's session and action tokens",
    responses: { 200: { description: "JWK Set", content: { "application/json": { schema: JwksSchema } } } },
  }),
  async (c) => {
    const { publicJwk } = await signingKey(c.env.SIGNING_KEY);
    c.header("cache-control", "public, max-age=300");
    return c.json({ keys: [publicJwk as z.infer<typeof JwksSchema>["keys"][number]] }, 200);
  },
);

wellKnown.openapi(
  createRoute({
    method: "get",
    path: "/healthz",
    operationId: "getHealth",
    tags: ["service"],
    security: publicAccess,
    summary: "Liveness, and whether a policy bundle is active",
    responses: {
      200: { description: "A bundle is active", content: { "application/json": { schema: HealthSchema } } },
      503: { description: "No usable bundle: every decision denies", content: { "application/json": { schema: HealthSchema } } },
    },
  }),
  async (c) => {
    const { active } = await loadDeployment(c.env, c.env.TENANT, c.var.deps.now());
    if (active.ok) return c.json({ status: "ok" as const, bundle: { active: true, version: active.bundle.version, digest: active.bundle.digest, problem: null } }, 200);
    return c.json({ status: "degraded" as const, bundle: { active: false, version: null, digest: null, problem: active.code } }, 503);
  },
);
