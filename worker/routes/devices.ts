import { createRoute, z } from "@hono/zod-openapi";
import { deviceInReach, requireRole } from "../auth.ts";
import { WardenError } from "../errors.ts";
import { DeviceIdSchema, LogHeadSchema, bearerSecurity, deviceSecurity, jsonBody, problems, router } from "../openapi.ts";
import type { DeviceRecord } from "../domain.ts";
import { SHELLS, defaultShell } from "../policy/targets.ts";
import { registerDevice } from "../devices/registration.ts";
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
    const record = await registerDevice(serviceContext(c), c.req.valid("json"));
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
