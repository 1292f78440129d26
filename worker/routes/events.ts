import { createRoute, z } from "@hono/zod-openapi";
import { requireRole } from "../auth.ts";
import { serviceContext } from "../context.ts";
import { readEvents } from "../events/feed.ts";
import { bearerSecurity, problems, router, queryInt } from "../openapi.ts";

const OcsfEventSchema = z
  .object({ class_uid: z.int(), metadata: z.object({ uid: z.string() }).passthrough() })
  .passthrough()
  .openapi("OcsfEvent", { description: "An OCSF 1.8.0 event (docs/events.md gives the class of each log entry type)" });

const FeedPageSchema = z
  .object({
    events: z.array(z.object({ cursor: z.int(), event: OcsfEventSchema })),
    next: z.int().openapi({ description: "Pass as `after` to read on" }),
    oldest: z.int().openapi({ description: "The oldest cursor still kept" }),
    head: z.int().openapi({ description: "The newest cursor" }),
  })
  .openapi("EventPage");

export const events = router();

events.use("/v1/events", requireRole("admin", "auditor"));
events.openapi(
  createRoute({
    method: "get",
    path: "/v1/events",
    operationId: "listEvents",
    tags: ["events"],
    summary: "The tenant's OCSF events, in order, without gaps (admin, auditor)",
    description:
      "Every decision, redemption, completion, review verdict, attestation result, bundle change, quarantine, release and revocation, as an OCSF 1.8.0 event whose `metadata.uid` is the hash of the log entry it comes from. Cursors are consecutive integers; a cursor older than the feed keeps is `cursor_expired` (410).",
    security: bearerSecurity,
    request: {
      query: z.object({
        after: queryInt({ min: 0 }).optional().openapi({ description: "The last cursor already read; absent, from the oldest kept" }),
        limit: queryInt({ min: 1, max: 1000 }).default(100),
      }),
    },
    responses: {
      200: { description: "Events after `after`, oldest first", content: { "application/json": { schema: FeedPageSchema } } },
      ...problems(400, 401, 403, 410),
    },
  }),
  async (c) => c.json(await readEvents(serviceContext(c), c.req.valid("query")), 200),
);
