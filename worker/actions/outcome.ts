import { z } from "@hono/zod-openapi";
import { deviceCall, type DeviceSession, type ServiceContext } from "../context.ts";
import { StateError, WardenError } from "../errors.ts";
import type { JsonValue } from "../log/canonical.ts";
import { Sha256HexSchema } from "../openapi.ts";

/**
 * What happened after a decided action ran: the enforcement point reports it once the tool
 * has finished, and it is appended to the device's log as `action.completed`, linked to the
 * decision that let it run. The log then holds both halves of every action — what was asked
 * and permitted, and what came of it — under one hash chain.
 */

const OutcomeFileSchema = z.strictObject({
  path: z.string().min(1).max(4096).openapi({ description: "A file the action wrote, as the agent named it (absolute)" }),
  file_hash: Sha256HexSchema.nullable().openapi({ description: "SHA-256 (hex) of the file's bytes after the action; null when it no longer exists or could not be read" }),
});

/** The body of `POST /v1/actions/complete`. */
export const OutcomeRequestSchema = z
  .strictObject({
    decision_id: z.string().min(1).max(64).openapi({ description: "The `decision_id` of the decision that let the action run" }),
    decision_seq: z.int().min(1).openapi({ description: "That decision's `log.seq`: Warden checks the entry there is this device's decision with this id" }),
    tool: z.strictObject({
      name: z.string().min(1).max(256).openapi({ example: "Bash" }),
      use_id: z.string().min(1).max(256).optional().openapi({ description: "The agent's id for this tool call (Claude Code `tool_use_id`)" }),
    }),
    succeeded: z.boolean().openapi({ description: "Whether the agent reported the tool call as successful" }),
    exit_status: z.int().min(-2147483648).max(4294967295).nullable().openapi({ description: "A command's exit status; null for tools that have none or when the agent did not say" }),
    result_hash: Sha256HexSchema.nullable().openapi({ description: "SHA-256 (hex) of the tool's output as the agent reported it (docs/hooks.md defines the bytes)" }),
    files: z.array(OutcomeFileSchema).max(64).default([]),
    duration_ms: z.int().min(0).max(7 * 86_400_000).nullable(),
    human_reviewed: z.boolean().openapi({ description: "Whether a person approved the action (a review hold) before it ran" }),
    review_id: z.string().min(1).max(64).optional(),
  })
  .openapi("ActionOutcome");
/** A validated outcome body. */
export type OutcomeRequest = z.infer<typeof OutcomeRequestSchema>;

/** What the device learns: where its outcome sits in its log, and whether the decision link was checked. */
export interface RecordedOutcome {
  recorded: true;
  decision_id: string;
  decision_checked: boolean;
  log: { seq: number; hash: string };
}

/**
 * Records one outcome for the authenticated device: shapes the entry, then one Durable Object
 * call checks the decision link, spends the request's DPoP proof and appends, all in one
 * transaction. Refusals come back as their stable codes.
 */
export async function recordOutcome(ctx: ServiceContext, session: DeviceSession, request: OutcomeRequest): Promise<RecordedOutcome> {
  const now = ctx.deps.now();
  const store = ctx.deps.deviceStore(ctx.env, session.tenant, session.deviceId);
  const data: { [key: string]: JsonValue } = {
    decision_id: request.decision_id,
    decision_seq: request.decision_seq,
    session: session.sessionId,
    tool: { name: request.tool.name, use_id: request.tool.use_id ?? null },
    succeeded: request.succeeded,
    exit_status: request.exit_status,
    result_hash: request.result_hash,
    files: request.files.map((file) => ({ path: file.path, file_hash: file.file_hash })),
    duration_ms: request.duration_ms,
    human_reviewed: request.human_reviewed,
    review_id: request.review_id ?? null,
  };
  const outcome = await store.recordOutcome({ ...deviceCall(session), now, decision: { id: request.decision_id, seq: request.decision_seq }, data });
  if (!outcome.ok) {
    if (outcome.code === "unknown_decision") throw new WardenError("unknown_decision", `decision ${request.decision_id} is not this device's decision at seq ${request.decision_seq}`);
    throw new StateError(outcome.code, "the outcome cannot be recorded");
  }
  return { recorded: true, decision_id: request.decision_id, decision_checked: outcome.checked, log: outcome.log };
}
