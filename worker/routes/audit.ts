import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { exportDeviceLog } from "../audit/export.ts";
import { publishedLogKeys } from "../audit/keys.ts";
import { compliancePackage } from "../audit/package.ts";
import { decisionReceipt } from "../audit/receipt.ts";
import type { JsonLinesDownload } from "../audit/stream.ts";
import { deviceInReach, requireRole } from "../auth.ts";
import { serviceContext, type AppEnv } from "../context.ts";
import { MalformedInputError, WardenError } from "../errors.ts";
import { DeviceIdSchema, bearerSecurity, deviceSecurity, problems, publicAccess, queryInt, router } from "../openapi.ts";

/**
 * The audit trail over HTTP: a device log's latest signed checkpoint, the log
 * keys that verify it, and streamed exports an auditor verifies offline with
 * `warden audit verify` (format: docs/audit-export.md).
 */

const CheckpointSchema = z
  .object({
    origin: z.string(),
    device: z.string(),
    size: z.int(),
    root: z.string().openapi({ description: "RFC 6962 Merkle root over the entry hashes (hex)" }),
    head: z.string().openapi({ description: "Hash of entry `size`" }),
    time: z.string(),
    key: z.string().openapi({ description: "RFC 7638 thumbprint of the log key that signed it" }),
    note: z.string().openapi({ description: "The checkpoint as a C2SP signed note (tlog-checkpoint body)" }),
  })
  .openapi("Checkpoint");

const LogKeySchema = z.object({
  kty: z.string(),
  crv: z.string(),
  x: z.string(),
  kid: z.string(),
  alg: z.string(),
  use: z.string(),
  status: z.enum(["current", "previous", "retired"]),
});
const LogKeysSchema = z.object({ keys: z.array(LogKeySchema) }).openapi("LogKeys");

export const audit = router();

audit.openapi(
  createRoute({
    method: "get",
    path: "/.well-known/warden-log-keys.json",
    operationId: "getLogKeys",
    tags: ["audit"],
    security: publicAccess,
    summary: "Public keys that verify log checkpoints, key rotations and export manifests, current and retired",
    responses: { 200: { description: "JWK Set; `status` says which key signs now", content: { "application/json": { schema: LogKeysSchema } } } },
  }),
  async (c) => {
    c.header("cache-control", "public, max-age=300");
    return c.json({ keys: await publishedLogKeys(serviceContext(c)) }, 200);
  },
);

audit.use("/v1/devices/:id/checkpoint", requireRole("admin", "auditor", "device"));
audit.openapi(
  createRoute({
    method: "get",
    path: "/v1/devices/{id}/checkpoint",
    operationId: "getDeviceCheckpoint",
    tags: ["audit"],
    summary: "The latest signed checkpoint of a device's log",
    description:
      "The device's Durable Object signs checkpoints after appends, at most every LOG_CHECKPOINT_ENTRIES entries or LOG_CHECKPOINT_SECONDS seconds; if one is due (or none exists yet) this request signs it first. With `Accept: text/plain` the answer is the bare signed note.",
    security: [...bearerSecurity, ...deviceSecurity],
    request: { params: z.object({ id: DeviceIdSchema }) },
    responses: {
      200: {
        description: "The latest checkpoint",
        content: { "application/json": { schema: CheckpointSchema }, "text/plain": { schema: z.string() } },
      },
      ...problems(401, 403, 404),
    },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const store = await deviceInReach(c, id);
    const { exists, checkpoint } = await store.checkpoint(c.var.deps.now());
    if (!exists) throw new WardenError("not_found", "no such device");
    if (!checkpoint) throw new WardenError("not_found", "the log has no checkpoint (is LOG_SIGNING_KEY set?)");
    if (prefersText(c.req.header("accept"))) return c.text(checkpoint.note, 200, { "content-type": "text/plain; charset=utf-8" });
    return c.json({ ...checkpoint, device: id }, 200);
  },
);

function prefersText(accept: string | undefined): boolean {
  if (!accept) return false;
  const text = accept.indexOf("text/plain");
  const json = accept.indexOf("application/json");
  return text >= 0 && (json < 0 || text < json);
}

audit.use("/v1/devices/:id/export", requireRole("admin", "auditor"));
audit.openapi(
  createRoute({
    method: "get",
    path: "/v1/devices/{id}/export",
    operationId: "exportDeviceLog",
    tags: ["audit"],
    summary: "Stream a device's log: archived segments, the live tail and a signed export manifest (admin, auditor)",
    description:
      "JSON Lines (docs/audit-export.md): a header, each archived segment's manifest followed by its entries, the unarchived entries, and last a manifest signed by the log key (a C2SP signed note). Verify with `warden audit verify`. The body streams; a failure midway ends it without the manifest, which the verifier reports as truncated.",
    security: bearerSecurity,
    request: {
      params: z.object({ id: DeviceIdSchema }),
      query: z.object({
        from: queryInt({ min: 1 }).default(1).openapi({ description: "First seq (default 1)" }),
        to: queryInt({ min: 1 }).optional().openapi({ description: "Last seq (default: the head when the export starts)" }),
      }),
    },
    responses: {
      200: { description: "The export, streamed", content: { "application/x-ndjson": { schema: z.string() } } },
      ...problems(400, 401, 403, 404),
    },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    return jsonLines(c, await exportDeviceLog(serviceContext(c), await deviceInReach(c, id), id, c.req.valid("query")));
  },
);

audit.use("/v1/audit/package", requireRole("auditor"));
audit.openapi(
  createRoute({
    method: "get",
    path: "/v1/audit/package",
    operationId: "getCompliancePackage",
    tags: ["audit"],
    summary: "Compliance package: bundles (signed artifacts, policy texts, admin log), the agent registry, the consent ledger, devices with checkpoints, attestation appraisals and passkey review verdicts proven into them, a mapping to SOC 2, ISO/IEC 27001, the EU AI Act and NIST AI RMF (auditor)",
    description:
      "JSON Lines (docs/audit-export.md), format warden.compliance-package.v2: a header; the bundle deployment, its admin-log records in the window (activations, rollbacks, refusals, admin orders) and the signed artifact (with policy text) of every bundle deployed up to `to`; the agent registry (`agent.registry`: every agent with its approved builds, its changes in the window) and the consent ledger's entries in the window (`consent.log`); per device its registration, assurance history and latest signed (and witnessed) checkpoint, then its attestation appraisals and review verdicts (with passkey assertions) in the window, each with an inclusion proof to that checkpoint; a mapping of framework controls to the package's files; and a manifest signed by the log key over the SHA-256 of every line before it, which names what the deployment does not keep in `absent`. Devices are listed from the archive (a device appears after its Durable Object's first alarm). Verify with `warden audit verify-package`.",
    security: bearerSecurity,
    request: {
      query: z.object({
        from: z.iso.datetime().optional().openapi({ description: "Start of the window (RFC 3339); default: the beginning" }),
        to: z.iso.datetime().optional().openapi({ description: "End of the window (RFC 3339); default: now" }),
      }),
    },
    responses: {
      200: { description: "The package, streamed", content: { "application/x-ndjson": { schema: z.string() } } },
      ...problems(400, 401, 403),
    },
  }),
  async (c) => jsonLines(c, await compliancePackage(serviceContext(c), c.req.valid("query"))),
);

audit.use("/v1/decisions/:id/receipt", requireRole("device", "auditor"));
audit.openapi(
  createRoute({
    method: "get",
    path: "/v1/decisions/{id}/receipt",
    operationId: "getDecisionReceipt",
    tags: ["audit"],
    summary: "A decision's receipt: its log entry, its session and review evidence, each with an inclusion proof to the latest signed and witnessed checkpoint (device, auditor)",
    description:
      "docs/audit-export.md (Receipts). `seq` is the decision's `log.seq`; an auditor names the `device`, a device reads its own. Verify offline with `warden audit verify-receipt`. If no checkpoint covers the entries yet, one is signed (and cosigned by the configured witnesses) first.",
    security: [...bearerSecurity, ...deviceSecurity],
    request: {
      params: z.object({ id: z.string().min(1).max(128) }),
      query: z.object({
        seq: z.coerce.number().int().min(1).openapi({ description: "The decision's position in its device's log (`log.seq` of the decision)" }),
        device: DeviceIdSchema.optional().openapi({ description: "The device whose log holds the decision (required for auditors)" }),
      }),
    },
    responses: {
      200: { description: "The receipt (compact JSON: keep it byte for byte)", content: { "application/json": { schema: z.record(z.string(), z.unknown()).openapi("DecisionReceipt") } } },
      ...problems(400, 401, 403, 404, 410),
    },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const { seq, device } = c.req.valid("query");
    const caller = c.var.caller;
    const deviceId = device ?? (caller.role === "device" ? caller.session.deviceId : undefined);
    if (deviceId === undefined) throw new MalformedInputError("malformed_request", "an auditor names the device");
    const receipt = await decisionReceipt(serviceContext(c), await deviceInReach(c, deviceId), deviceId, { decisionId: id, seq });
    return c.json(receipt as unknown as Record<string, unknown>, 200);
  },
);

/** A streamed JSON Lines download as the response. */
function jsonLines(c: Context<AppEnv>, download: JsonLinesDownload) {
  const response = c.body(download.body, 200, {
    "content-type": "application/x-ndjson; charset=utf-8",
    "content-disposition": `attachment; filename="${download.filename}"`,
    "cache-control": "no-store",
  });
  // @hono/zod-openapi types responses only for JSON and text/plain; x-ndjson falls through to `never`.
  return response as never;
}
