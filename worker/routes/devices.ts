import { createRoute, z } from "@hono/zod-openapi";
import { calculateJwkThumbprint } from "jose";
import { deviceInReach, requireRole } from "../auth.ts";
import { StateError, VerificationError, WardenError } from "../errors.ts";
import { DeviceIdSchema, LogHeadSchema, bearerSecurity, deviceSecurity, jsonBody, problems, router } from "../openapi.ts";
import { devicePublicJwk } from "../tokens/dpop.ts";
import type { DeviceRecord } from "../domain.ts";
import { SHELLS, defaultShell } from "../policy/targets.ts";

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
  })
  .openapi("RegisterDevice");


const DeviceSchema = z
  .object({
    id: z.string(),
    os: z.string(),
    shell: z.string(),
    jkt: z.string(),
    assurance: z.string(),
    status: z.string(),
    groups: z.array(z.string()),
    registered_at: z.string(),
  })
  .openapi("Device");

function deviceView(record: DeviceRecord) {
  return { id: record.id, os: record.os, shell: record.shell ?? defaultShell(record.os), jkt: record.jkt, assurance: record.assurance, status: record.status, groups: record.groups, registered_at: record.registeredAt };
}

export const devices = router();

devices.use("/v1/devices", requireRole("admin"));
devices.openapi(
  createRoute({
    method: "post",
    path: "/v1/devices",
    summary: "Register a device and its key (admin)",
    security: bearerSecurity,
    request: jsonBody(RegisterDeviceSchema),
    responses: {
      201: { description: "Registered", content: { "application/json": { schema: DeviceSchema.extend({ log: LogHeadSchema }) } } },
      ...problems(400, 401, 403, 409, 413, 415),
    },
  }),
  async (c) => {
    const body = c.req.valid("json");
    const { deps } = c.var;
    let publicJwk;
    try {
      publicJwk = devicePublicJwk(body.public_key).jwk;
    } catch (cause) {
      throw new VerificationError("malformed_request", "public_key must be an Ed25519 or P-256 public JWK", { cause });
    }
    const now = deps.now();
    const record: DeviceRecord = {
      id: body.id,
      tenant: c.env.TENANT,
      os: body.os,
      ...(body.shell !== undefined ? { shell: body.shell } : {}),
      publicJwk,
      jkt: await calculateJwkThumbprint(publicJwk),
      assurance: "software",
      groups: [...new Set(body.groups)],
      status: "active",
      registeredAt: new Date(now).toISOString(),
    };
    const outcome = await deps.deviceStore(c.env, c.env.TENANT, body.id).register(record, now);
    if (!outcome.ok) throw new StateError(outcome.code, `device ${body.id} cannot be registered`);
    return c.json({ ...deviceView(record), log: outcome.log }, 201);
  },
);

devices.use("/v1/devices/:id", requireRole("admin", "auditor", "device"));
devices.openapi(
  createRoute({
    method: "get",
    path: "/v1/devices/{id}",
    summary: "Read a device's registration",
    security: [...bearerSecurity, ...deviceSecurity],
    request: { params: z.object({ id: DeviceIdSchema }) },
    responses: {
      200: { description: "The device", content: { "application/json": { schema: DeviceSchema } } },
      ...problems(401, 403, 404),
    },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const record = await (await deviceInReach(c, id)).device();
    if (!record) throw new WardenError("not_found", "no such device");
    return c.json(deviceView(record), 200);
  },
);
