import { createRoute, z } from "@hono/zod-openapi";
import { deviceInReach, personOf, requireRole } from "../auth.ts";
import { WardenError } from "../errors.ts";
import { DeviceIdSchema, LogHeadSchema, bearerSecurity, deviceSecurity, jsonBody, problems, router } from "../openapi.ts";
import type { DeviceRecord } from "../domain.ts";
import { SHELLS, defaultShell } from "../policy/targets.ts";
import { registerDevice } from "../devices/registration.ts";
import { quarantineDevice, releaseDevice, revokeSessions } from "../devices/standing.ts";
import { serviceContext } from "../context.ts";

const PublicJwkSchema = z
  .object({
    kty: z.enum(["OKP", "EC"]),
    crv: z.enum(["Ed25519", "P-256"]),
    x: z.string().max(128),
    y: z.string().max(128).optional(),
  })
  .strict()
  .openapi("DevicePublicKey", { description: "Public JWK of the device key: Ed25519 or P-256, no private members" });

const RegisterDeviceSchema = z
  .strictObject({
    id: DeviceIdSchema,
    os: z.enum(["linux", "macos", "windows"]).openapi({ description: "Decides how path targets are canonicalised" }),
    shell: z
      .enum(SHELLS)
      .optional()
      .openapi({ description: "The shell the device's agents run commands in, when not the OS default (bash on Linux, zsh on macOS, powershell on Windows)" }),
    public_key: PublicJwkSchema,
    groups: z
      .array(z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/))
      .max(16)
      .default([])
      .openapi({ description: "Named groups a canary bundle can target" }),
    user: z
      .email()
      .max(254)
      .transform((email) => email.toLowerCase())
      .optional()
      .openapi({ description: "The person who uses the device (their e-mail, as Cloudflare Access verifies it): its decisions read their consents" }),
  })
  .openapi("RegisterDevice");


const StandingChangeSchema = z
  .object({
    seq: z.int().openapi({ description: "The device log entry that records it" }),
    time: z.string(),
    type: z.enum(["device.quarantined", "device.released", "session.revoked", "action.revoked", "playbook.review_all", "playbook.cleared"]),
    by: z.string(),
    reason: z.string(),
  })
  .openapi("StandingChange");

const DeviceSchema = z
  .object({
    id: z.string(),
    os: z.string(),
    shell: z.string(),
    jkt: z.string(),
    assurance: z.string(),
    status: z.enum(["active", "quarantined", "disabled"]),
    groups: z.array(z.string()),
    user: z.string().nullable(),
    registered_at: z.string(),
  })
  .openapi("Device");

function deviceView(record: DeviceRecord) {
  return { id: record.id, os: record.os, shell: record.shell ?? defaultShell(record.os), jkt: record.jkt, assurance: record.assurance, status: record.status, groups: record.groups, user: record.user ?? null, registered_at: record.registeredAt };
}

export const devices = router();

devices.use("/v1/devices", requireRole("admin"));
devices.openapi(
  createRoute({
    method: "post",
    path: "/v1/devices",
    operationId: "registerDevice",
    tags: ["devices"],
    summary: "Register a device and its key (admin)",
    security: bearerSecurity,
    request: jsonBody(RegisterDeviceSchema),
    responses: {
      201: { description: "Registered", content: { "application/json": { schema: DeviceSchema.extend({ log: LogHeadSchema }) } } },
      ...problems(400, 401, 403, 409, 413, 415),
    },
  }),
  async (c) => {
    const record = await registerDevice(serviceContext(c), c.req.valid("json"), personOf(c).id);
    return c.json({ ...deviceView(record.device), log: record.log }, 201);
  },
);

devices.use("/v1/devices/:id", requireRole("admin", "auditor", "device"));
devices.openapi(
  createRoute({
    method: "get",
    path: "/v1/devices/{id}",
    operationId: "getDevice",
    tags: ["devices"],
    summary: "Read a device's registration, standing (active, quarantined, disabled) and the history of its standing",
    security: [...bearerSecurity, ...deviceSecurity],
    request: { params: z.object({ id: DeviceIdSchema }) },
    responses: {
      200: {
        description: "The device",
        content: {
          "application/json": {
            schema: DeviceSchema.extend({
              history: z.array(StandingChangeSchema),
              legal_hold: z
                .object({ since: z.string(), by: z.string(), reason: z.string(), seq: z.int() })
                .nullable()
                .openapi({ description: "The device's legal hold (retention deletes none of its records while set); the tenant's is GET /v1/legal-hold" }),
              retention: z.object({ retained_from: z.int().openapi({ description: "The first entry still kept: earlier ones were deleted with their archived segments at the end of their retention" }) }),
            }),
          },
        },
      },
      ...problems(401, 403, 404),
    },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const standing = await (await deviceInReach(c, id)).standing();
    if (!standing) throw new WardenError("not_found", "no such device");
    return c.json({ ...deviceView(standing.device), history: standing.history, legal_hold: standing.legalHold, retention: { retained_from: standing.retainedFrom } }, 200);
  },
);

const OrderSchema = z.strictObject({ reason: z.string().min(1).max(500).openapi({ description: "Why: recorded in the device log and the admin log" }) }).openapi("StandingOrder");
const StandingAnswerSchema = z
  .object({ changed: z.boolean(), log: LogHeadSchema, cancelled_holds: z.array(z.string()).optional().openapi({ description: "Quarantine: the holds of the device it ended" }) })
  .openapi("StandingChanged");

for (const [verb, operationId, summary, change] of [
  ["quarantine", "quarantineDevice", "Quarantine a device: from its next request every decision denies (device_quarantined), no session opens, no token redeems; its pending holds end (admin)", quarantineDevice],
  ["release", "releaseDevice", "Release a quarantined device, and end a playbook's hold of its every action for review (admin)", releaseDevice],
] as const) {
  devices.use(`/v1/devices/:id/${verb}`, requireRole("admin"));
  devices.openapi(
    createRoute({
      method: "post",
      path: `/v1/devices/{id}/${verb}`,
      operationId,
      tags: ["devices"],
      summary,
      security: bearerSecurity,
      request: { params: z.object({ id: DeviceIdSchema }), ...jsonBody(OrderSchema) },
      responses: {
        200: { description: "Done and logged; `changed` is false when the device already was so", content: { "application/json": { schema: StandingAnswerSchema } } },
        ...problems(400, 401, 403, 404, 413, 415),
      },
    }),
    async (c) => c.json(await change(serviceContext(c), c.req.valid("param").id, { by: personOf(c).id, reason: c.req.valid("json").reason }), 200),
  );
}

devices.use("/v1/devices/:id/sessions/revoke", requireRole("admin"));
devices.openapi(
  createRoute({
    method: "post",
    path: "/v1/devices/{id}/sessions/revoke",
    operationId: "revokeDeviceSessions",
    tags: ["devices"],
    summary: "Revoke one session of a device (by jti) or every session it has (admin)",
    security: bearerSecurity,
    request: {
      params: z.object({ id: DeviceIdSchema }),
      ...jsonBody(OrderSchema.extend({ jti: z.string().min(1).max(128).optional().openapi({ description: "The session token's jti; all sessions when absent" }) }).openapi("SessionRevocation")),
    },
    responses: {
      200: { description: "Revoked and logged", content: { "application/json": { schema: z.object({ revoked: z.int().openapi({ description: "How many live sessions it revoked" }), log: LogHeadSchema }) } } },
      ...problems(400, 401, 403, 404, 413, 415),
    },
  }),
  async (c) => {
    const { reason, jti } = c.req.valid("json");
    return c.json(await revokeSessions(serviceContext(c), c.req.valid("param").id, { by: personOf(c).id, reason, jti }), 200);
  },
);
