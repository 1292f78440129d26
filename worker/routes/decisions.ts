import { createRoute, z } from "@hono/zod-openapi";
import { deviceOf, requireRole } from "../auth.ts";
import { serviceContext } from "../context.ts";
import { ActionRequestSchema, BatchRequestSchema } from "../decisions/request.ts";
import { decideBatch, decideOne } from "../decisions/service.ts";
import { LogHeadSchema, deviceSecurity, jsonBody, problems, router } from "../openapi.ts";

const DecisionSchema = z
  .object({
    decision: z.enum(["permit", "deny", "review"]),
    reason_code: z.string().openapi({ description: "Why: policy_permit, policy_forbid, policy_review, or the fail-closed cause" }),
    reasons: z.array(z.string()).openapi({ description: "Ids of the policies that determined the decision" }),
    policy: z.string().nullable().openapi({ description: "Digest of the bundle that decided; null when none could" }),
    decision_id: z.string(),
    log: LogHeadSchema.nullable().openapi({ description: "The decision's log entry; null only when the append itself failed" }),
    targets: z.array(
      z.object({
        kind: z.string(),
        value: z.string().optional(),
        rejected: z.string().optional(),
        shell: z.string().optional(),
        cwd: z.string().optional(),
        home: z.string().optional(),
      }),
    ),
    derived: z
      .array(
        z.object({
          action: z.enum(["file.read", "file.write", "file.delete", "http.request"]),
          kind: z.enum(["path", "url"]),
          value: z.string().optional(),
          named: z.string().optional().openapi({ description: "A path as the command line names it, made absolute but not resolved, where that differs from value (link/../x): hooks follow symbolic links from it" }),
          follows_links_below: z.literal(true).optional().openapi({ description: "The program walks this directory and follows the symbolic links it finds below it (grep -R, rg -L, find -L, zip -r), or writes a tree through the links already below it (tar -x): hooks follow them too" }),
          makes_links: z.literal(true).optional().openapi({ description: "The program can make symbolic links below this path, or put one at it (tar -x, git clone, cp -r, ln -s)" }),
          after_links_made: z.literal(true).optional().openapi({ description: "Another command of the line can make symbolic links (makes_links): hooks check this path does not lead there through the device's links" }),
          rejected: z.string().optional(),
          from: z.int().openapi({ description: "Index of the command target it comes from" }),
        }),
      )
      .openapi({ description: "Targets the command lines imply (arguments, redirections), each judged under its own action; docs/commands.md" }),
    token: z.string().optional().openapi({ description: "On permit: single-use action token (JWT, EdDSA, at most 60 s)" }),
    token_expires_at: z.string().optional(),
    review: z
      .object({ id: z.string(), tier: z.string(), deadline: z.string() })
      .optional()
      .openapi({ description: "On review: the hold to wait on with GET /v1/reviews/{id}, its tier and current deadline" }),
  })
  .openapi("Decision");

const BatchSchema = z.object({ decisions: z.array(DecisionSchema) }).openapi("DecisionBatch");

export const decisions = router();

decisions.use("/v1/decisions", requireRole("device"));
decisions.openapi(
  createRoute({
    method: "post",
    path: "/v1/decisions",
    operationId: "decide",
    tags: ["decisions"],
    summary: "Decide permit, deny or review for one agent action",
    security: deviceSecurity,
    request: { ...jsonBody(ActionRequestSchema) },
    responses: {
      200: { description: "The decision, already in the device's log", content: { "application/json": { schema: DecisionSchema } } },
      ...problems(400, 401, 403, 413, 415),
    },
  }),
  async (c) => {
    return c.json(await decideOne(serviceContext(c), deviceOf(c), c.req.valid("json")), 200);
  },
);

decisions.use("/v1/decisions/batch", requireRole("device"));
decisions.openapi(
  createRoute({
    method: "post",
    path: "/v1/decisions/batch",
    operationId: "decideBatch",
    tags: ["decisions"],
    summary: "Decide up to 30 actions of one device, logged together",
    security: deviceSecurity,
    request: { ...jsonBody(BatchRequestSchema) },
    responses: {
      200: { description: "One decision per action, in request order", content: { "application/json": { schema: BatchSchema } } },
      ...problems(400, 401, 403, 413, 415),
    },
  }),
  async (c) => {
    return c.json({ decisions: await decideBatch(serviceContext(c), deviceOf(c), c.req.valid("json").decisions) }, 200);
  },
);
