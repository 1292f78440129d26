import { createRoute, z } from "@hono/zod-openapi";
import { deviceInReach, requireRole } from "../auth.ts";
import { DeviceIdSchema, bearerSecurity, deviceSecurity, problems, router, LogHeadSchema, queryInt } from "../openapi.ts";
import { WardenError } from "../errors.ts";

const LogEntrySchema = z
  .object({
    seq: z.int(),
    time: z.string(),
    prev: z.string(),
    device: z.string(),
    type: z.string(),
    data: z.record(z.string(), z.unknown()).openapi({ description: "Type-specific fields; decision entries carry the verdict, bundle digest and canonical targets" }),
    key: z.string().optional().openapi({ description: "Thumbprint of the log key in force (covered by `hash`)" }),
    hash: z.string(),
    mac: z.string().optional().openapi({ description: "Chained HMAC-SHA256 over the previous `mac` and this `hash` (not covered by `hash`)" }),
    mac_key: z.string().optional().openapi({ description: "Id of the HMAC key" }),
  })
  .openapi("LogEntry", { description: "hash = SHA-256 of the RFC 8785 canonical JSON of every field but hash, mac and mac_key" });

const LogPageSchema = z
  .object({
    entries: z.array(LogEntrySchema),
    head: LogHeadSchema,
    next_after: z.int().nullable().openapi({ description: "Pass as `after` for the next page; null at the head" }),
  })
  .openapi("LogPage");

type LogPage = z.infer<typeof LogPageSchema>;

export const logs = router();

logs.use("/v1/devices/:id/log", requireRole("admin", "auditor", "device"));
logs.openapi(
  createRoute({
    method: "get",
    path: "/v1/devices/{id}/log",
    operationId: "getDeviceLog",
    tags: ["devices"],
    summary: "Page through a device's hash-chained log",
    security: [...bearerSecurity, ...deviceSecurity],
    request: {
      params: z.object({ id: DeviceIdSchema }),
      query: z.object({
        after: queryInt({ min: 0 }).default(0).openapi({ description: "Return entries with seq greater than this" }),
        limit: queryInt({ min: 1, max: 1000 }).default(100),
      }),
    },
    responses: {
      200: { description: "A page of entries, oldest first", content: { "application/json": { schema: LogPageSchema } } },
      ...problems(400, 401, 403, 404),
    },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const { after, limit } = c.req.valid("query");
    const store = await deviceInReach(c, id);
    const { entries: stored, head, exists } = await store.readLog(after, limit);
    if (!exists) throw new WardenError("not_found", "no such device");
    const entries = stored.map((text) => JSON.parse(text) as LogPage["entries"][number]);
    const last = entries.at(-1);
    const page: LogPage = { entries, head, next_after: last && last.seq < head.seq ? last.seq : null };
    return c.json(page, 200);
  },
);
