import { createRoute, z } from "@hono/zod-openapi";
import { personOf, requireRole } from "../auth.ts";
import { serviceContext } from "../context.ts";
import { DeviceIdSchema, LogHeadSchema, bearerSecurity, jsonBody, problems, router } from "../openapi.ts";
import { deviceLegalHold, readTenantLegalHold, tenantLegalHold } from "../privacy/holds.ts";

const HoldOrderSchema = z
  .strictObject({ reason: z.string().trim().min(1).max(500).openapi({ description: "Why (the matter, the request): recorded in the logs with who" }) })
  .openapi("LegalHoldOrder");

const TenantHoldSchema = z
  .object({ since: z.string(), by: z.string(), reason: z.string(), seq: z.int().openapi({ description: "The admin-log entry that set it" }) })
  .openapi("TenantLegalHold");

const ChangedSchema = z.object({ changed: z.boolean(), log: LogHeadSchema }).openapi("LegalHoldChanged");

/** Legal holds over HTTP (worker/privacy/holds.ts): admins set and lift them, with a reason. */
export const legalHolds = router();

for (const [on, suffix, operationId, summary] of [
  [true, "", "setDeviceLegalHold", "Suspend retention's deletions of a device's archived segments and vault values (admin)"],
  [false, "/lift", "liftDeviceLegalHold", "Lift a device's legal hold: retention applies again (admin)"],
] as const) {
  legalHolds.use(`/v1/devices/:id/legal-hold${suffix}`, requireRole("admin"));
  legalHolds.openapi(
    createRoute({
      method: "post",
      path: `/v1/devices/{id}/legal-hold${suffix}`,
      operationId,
      tags: ["privacy"],
      summary,
      security: bearerSecurity,
      request: { params: z.object({ id: DeviceIdSchema }), ...jsonBody(HoldOrderSchema) },
      responses: {
        200: { description: "Done and logged in the device log and the admin log; `changed` is false when it already was so", content: { "application/json": { schema: ChangedSchema } } },
        ...problems(400, 401, 403, 404, 413, 415),
      },
    }),
    async (c) => c.json(await deviceLegalHold(serviceContext(c), c.req.valid("param").id, { on, by: personOf(c).id, reason: c.req.valid("json").reason }), 200),
  );
}

for (const [on, suffix, operationId, summary] of [
  [true, "", "setTenantLegalHold", "Suspend retention's deletions for every device of the tenant (admin)"],
  [false, "/lift", "liftTenantLegalHold", "Lift the tenant's legal hold (admin)"],
] as const) {
  legalHolds.on("POST", `/v1/legal-hold${suffix}`, requireRole("admin"));
  legalHolds.openapi(
    createRoute({
      method: "post",
      path: `/v1/legal-hold${suffix}`,
      operationId,
      tags: ["privacy"],
      summary,
      security: bearerSecurity,
      request: jsonBody(HoldOrderSchema),
      responses: {
        200: { description: "Done and logged in the admin log", content: { "application/json": { schema: ChangedSchema.extend({ hold: TenantHoldSchema.nullable() }) } } },
        ...problems(400, 401, 403, 413, 415),
      },
    }),
    async (c) => {
      const changed = await tenantLegalHold(serviceContext(c), { on, by: personOf(c).id, reason: c.req.valid("json").reason });
      return c.json(changed, 200);
    },
  );
}

legalHolds.on("GET", "/v1/legal-hold", requireRole("admin", "auditor", "privacy-officer"));
legalHolds.openapi(
  createRoute({
    method: "get",
    path: "/v1/legal-hold",
    operationId: "getTenantLegalHold",
    tags: ["privacy"],
    summary: "The tenant's legal hold, if one is set (admin, auditor, privacy officer)",
    security: bearerSecurity,
    responses: {
      200: { description: "The hold, or null", content: { "application/json": { schema: z.object({ hold: TenantHoldSchema.nullable() }) } } },
      ...problems(401, 403),
    },
  }),
  async (c) => c.json({ hold: await readTenantLegalHold(serviceContext(c)) }, 200),
);
