import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { homedir, userInfo } from "node:os";
import { ClientError, type DecisionRequest, type DecisionResponse, type ReviewResponse, type WardenClient } from "../client.ts";
import { reachedThroughLinks } from "./links.ts";
import { canonicalSha256, planCall, type AgentMapping, type MapContext, type PlannedAction } from "./mapping.ts";
import { HookFailure, preToolUseAnswer, type HookInput } from "./protocol.ts";
import { connect, refused, withSession } from "./session.ts";
import { HookState, type PendingCall } from "./state.ts";
import { StrictJsonError } from "../../worker/json/strict.ts";
import { MAX_CONTEXT_TEXT } from "../../worker/domain.ts";

/**
 * One hook invocation, start to finish. PreToolUse: map the call (the agent's table), ask
 * Warden, wait for a review when one is held, redeem every action token — the hook is the
 * enforcement point, so an unredeemed permit never becomes "allow" — and remember the
 * decisions for PostToolUse. PostToolUse: report the outcome of each decision. Every failure
 * is a HookFailure, which the command turns into exit 2.
 */

export interface HookOptions {
  mapping: AgentMapping;
  url: string;
  device: string;
  keyPath: string;
  /** Where HookState lives (the config directory unless overridden). */
  stateRoot: string;
  /** How long a held action may wait for its reviewer before the hook denies it. */
  reviewWaitMs: number;
  /** Deadline of each request to Warden. */
  timeoutMs: number;
  agentVersion: string;
  /** The network (fetch with the `timeoutMs` deadline unless injected). */
  fetch?: (request: Request) => Promise<Response>;
}

/** What the agent reads on stdout when the hook exits 0: the protocol answer, or nothing. */
export interface HookAnswer {
  stdout: string;
}

const now = () => Date.now();

function mapContext(input: HookInput): MapContext {
  const loginShell = passwdShell();
  return { cwd: input.cwd, home: homedir(), platform: process.platform, env: process.env, ...(loginShell ? { loginShell } : {}) };
}

/** The OS user's login shell from the passwd entry; none on Windows, or without an entry. */
function passwdShell(): string | undefined {
  try {
    return userInfo().shell ?? undefined;
  } catch {
    return undefined;
  }
}

/** Network and protocol failures as their stable hook codes. */
export function asHookFailure(error: unknown, url: string): HookFailure {
  if (error instanceof HookFailure) return error;
  if (error instanceof ClientError) {
    const code = (error.response.body as { code?: unknown } | null)?.code;
    return new HookFailure("warden_refused", `${error.step} refused by ${url}: HTTP ${error.response.status}${typeof code === "string" ? ` ${code}` : ""}`, { cause: error });
  }
  if (error instanceof StrictJsonError) return new HookFailure("malformed_response", `${url} did not answer strict JSON: ${error.message}`, { cause: error });
  if (error instanceof DOMException && (error.name === "TimeoutError" || error.name === "AbortError")) return new HookFailure("warden_unreachable", `no answer from ${url} in time`, { cause: error });
  if (error instanceof TypeError && error.cause !== undefined) {
    const cause = error.cause as { code?: unknown; message?: unknown };
    return new HookFailure("warden_unreachable", `cannot reach ${url}: ${String(cause.code ?? cause.message ?? error.message)}`, { cause: error });
  }
  return new HookFailure("internal_error", error instanceof Error ? error.message : String(error), { cause: error });
}

function checkedDecision(value: unknown): DecisionResponse {
  const body = value as Partial<DecisionResponse> | null;
  if (!body || !["permit", "deny", "review"].includes(body.decision as string) || typeof body.decision_id !== "string") {
    throw new HookFailure("malformed_response", "the decision answer is not a decision");
  }
  if (body.decision === "permit" && typeof body.token !== "string") throw new HookFailure("malformed_response", "a permit came without its action token");
  if (body.decision === "review" && typeof body.review?.id !== "string") throw new HookFailure("malformed_response", "a review came without its hold");
  return body as DecisionResponse;
}

async function decideAll(client: WardenClient, state: HookState, requests: DecisionRequest[]): Promise<DecisionResponse[]> {
  if (requests.length === 1) {
    const answer = await withSession(client, state, () => client.decide<unknown>(requests[0]!));
    if (answer.status !== 200) throw refused("decision", answer);
    return [checkedDecision(answer.body)];
  }
  if (requests.length > 30) throw new HookFailure("unknown_tool_shape", `the call needs ${requests.length} decisions; at most 30 are asked together`);
  const answer = await withSession(client, state, () => client.decideBatch<{ decisions?: unknown }>(requests));
  if (answer.status !== 200) throw refused("decision batch", answer);
  const decisions = answer.body.decisions;
  if (!Array.isArray(decisions) || decisions.length !== requests.length) throw new HookFailure("malformed_response", "the batch answer does not hold one decision per action");
  return decisions.map(checkedDecision);
}

function policies(decision: DecisionResponse): string {
  return decision.reasons.length > 0 ? `; policies ${decision.reasons.join(", ")}` : "";
}

/** Why Warden could not judge a path the call's lines imply, so that the agent can write the call otherwise. */
function refusals(decision: DecisionResponse): string {
  const reasons = [...new Set(decision.derived.flatMap((target) => (target.rejected === undefined ? [] : [target.rejected])))];
  if (reasons.length === 0) return "";
  const madeLinks = reasons.includes("links_made") ? "; an earlier command of the line can make symbolic links on a later one's path: run it in a call of its own first" : "";
  return `; paths refused as ${reasons.join(", ")}${madeLinks}`;
}

/** The reviewer page, where the hold can be found and approved. */
function reviewLink(url: string, id: string): string {
  return `${url}/review#hold-${encodeURIComponent(id)}`;
}

type Verdict = { allow: true; token: string } | { allow: false; reason: string };

/** Waits for the hold, sharing one deadline across every hold of the call; prints nothing meanwhile. */
async function awaitReview(client: WardenClient, state: HookState, options: HookOptions, decision: DecisionResponse, deadline: number): Promise<Verdict> {
  const hold = decision.review!;
  const link = reviewLink(options.url, hold.id);
  // Each long poll must end before the request deadline aborts it.
  const waitSeconds = Math.max(1, Math.min(25, Math.floor(options.timeoutMs / 1000) - 2));
  const answer = await withSession(client, state, () => client.waitForReview(hold.id, { timeoutMs: Math.max(0, deadline - now()), waitSeconds }));
  if (answer.status !== 200) throw refused("review", answer);
  const body = answer.body as ReviewResponse;
  if (body.status === "approved" || body.decision === "permit") {
    // Warden hands the token on every read until it is redeemed or expires: without one, this call cannot run the action.
    if (typeof body.token !== "string") return { allow: false, reason: `Warden: review ${hold.id} was approved, but its action token was already used or has expired; retry the action (decision ${decision.decision_id})` };
    return { allow: true, token: body.token };
  }
  if (body.status === "pending") {
    return { allow: false, reason: `Warden: review ${hold.id} (${hold.tier}) was not decided within ${Math.round(options.reviewWaitMs / 1000)} s; a reviewer can approve it at ${link}, then retry` };
  }
  return { allow: false, reason: `Warden: review ${hold.id} was ${body.status} (decision ${decision.decision_id}); see ${link}` };
}

function describeActions(planned: PlannedAction[]): string {
  return planned.map((plan) => plan.action.type).join(" + ");
}

/** The denied action, named by the shell whose reading it is when a line was judged as several shells read it, or by the link it was reached through. */
function describeDenied(planned: PlannedAction[], index: number): string {
  const plan = planned[index];
  if (plan?.through !== undefined) return `${plan.action.type} of ${plan.action.targets[0]?.value}, where ${plan.through} leads through a symbolic link`;
  const readings = planned.filter((each) => each.action.type === "command.exec");
  const target = plan?.action.targets[0];
  if (readings.length > 1 && target?.kind === "command" && target.shell) return `command.exec as ${target.shell} reads it`;
  return describeActions(planned);
}

/** The first denial among `decisions`, as the agent is told it; null when none denies. */
function denial(planned: PlannedAction[], decisions: DecisionResponse[]): string | null {
  const at = decisions.findIndex((decision) => decision.decision === "deny");
  const denied = decisions[at];
  return denied ? `Warden denied ${describeDenied(planned, at)} (${denied.reason_code}${policies(denied)}${refusals(denied)}; decision ${denied.decision_id})` : null;
}

/** PreToolUse: the call may run only if every action it needs is permitted (or approved) and redeemed. */
export async function preToolUse(input: HookInput, options: HookOptions): Promise<HookAnswer> {
  const analyse = options.mapping.comparesReadings ? (await import("../../worker/policy/command/index.ts")).analyzeCommand : undefined;
  const planned = planCall(options.mapping, { name: input.toolName, input: input.toolInput }, { ...mapContext(input), ...(analyse ? { analyse } : {}) });
  const context = { ...input.context, tool: input.toolName, ...(input.toolUseId ? { tool_use_id: input.toolUseId } : {}) };
  const requests: DecisionRequest[] = planned.map((plan) => ({ agent: { id: options.mapping.agent, version: options.agentVersion }, action: plan.action, context }));
  const state = new HookState(options.stateRoot, options.url, options.device);
  state.prunePending(now());
  const client = await connect(options, state, options.reviewWaitMs);
  const decisions = await decideAll(client, state, requests);
  for (const decision of decisions) state.noteLogPosition(decision.log);

  const deny = (reason: string): HookAnswer => ({ stdout: preToolUseAnswer("deny", reason) });
  const denied = denial(planned, decisions);
  if (denied) return deny(denied);
  // The files the call's paths lead to through symbolic links, decided beside what the call named.
  const { linked, blocked } = process.platform === "win32" ? { linked: [], blocked: null } : reachedThroughLinks(planned, decisions);
  if (blocked !== null) return deny(`Warden: ${blocked}`);
  if (linked.length > 0) {
    // The path it came through, for the log, where a context value can hold it (the entry names the real path anyway).
    const linkedRequests = linked.map((plan) => ({ agent: requests[0]!.agent, action: plan.action, context: plan.through!.length <= MAX_CONTEXT_TEXT ? { ...context, reached_through: plan.through! } : context }));
    const more = await decideAll(client, state, linkedRequests);
    for (const decision of more) state.noteLogPosition(decision.log);
    planned.push(...linked);
    requests.push(...linkedRequests);
    decisions.push(...more);
    const deniedLink = denial(planned, decisions);
    if (deniedLink) return deny(deniedLink);
  }

  const deadline = now() + options.reviewWaitMs;
  const tokens: string[] = [];
  let reviewId: string | undefined;
  for (const decision of decisions) {
    if (decision.decision === "permit") {
      tokens.push(decision.token!);
      continue;
    }
    reviewId = decision.review!.id;
    const verdict = await awaitReview(client, state, options, decision, deadline);
    if (!verdict.allow) return deny(verdict.reason);
    tokens.push(verdict.token);
  }

  // The hook is the enforcement point: each token is spent here, for exactly the action decided.
  for (const [index, token] of tokens.entries()) {
    const redeemed = await client.redeem<{ code?: string; log?: { seq: number; hash: string } }>(token, requests[index]!.action);
    if (redeemed.status !== 200) return deny(`Warden: the action token of decision ${decisions[index]!.decision_id} was refused at redemption (${redeemed.body?.code ?? `HTTP ${redeemed.status}`}); ask again`);
    state.noteLogPosition(redeemed.body.log);
  }

  if (input.toolUseId) {
    const pending: PendingCall = {
      tool: input.toolName,
      startedAt: now(),
      humanReviewed: reviewId !== undefined,
      ...(reviewId !== undefined ? { reviewId } : {}),
      decisions: decisions.map((decision, index) => ({ id: decision.decision_id, seq: decision.log!.seq, type: planned[index]!.action.type, files: planned[index]!.files })),
    };
    state.savePending(input.toolUseId, pending);
  }
  const how = reviewId !== undefined ? `approved in review ${reviewId}` : `permitted${policies(decisions[0]!)}`;
  const answersAllow = options.mapping.answersAllow && !options.mapping.keepsOwnPrompt?.({ name: input.toolName, input: input.toolInput });
  return { stdout: answersAllow ? preToolUseAnswer("allow", `Warden ${how}; decision ${decisions.map((d) => d.decision_id).join(", ")}`) : "" };
}

/** SHA-256 (hex) of a file's bytes, streamed; null when it is gone or not a regular file. */
async function fileHash(path: string): Promise<string | null> {
  const hash = createHash("sha256");
  try {
    for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  } catch {
    return null;
  }
  return hash.digest("hex");
}

/** A command's exit status: a number the response names, "Exit code N" in the text, or the agent's rule for success. */
function exitStatus(input: HookInput, mapping: AgentMapping): number | null {
  if (mapping.reportsAtStart?.({ name: input.toolName, input: input.toolInput })) return null;
  const response = input.toolResponse as Record<string, unknown> | undefined;
  for (const field of ["exit_code", "exitCode"]) {
    const value = typeof response === "object" && response !== null ? response[field] : undefined;
    if (typeof value === "number" && Number.isInteger(value)) return value;
  }
  const text = input.event === "PostToolUseFailure" ? input.error : typeof input.toolResponse === "string" ? input.toolResponse : undefined;
  const stated = text !== undefined ? /^(?:Exit code|Process exited with code)[:\s]+(-?\d+)/m.exec(text) : null;
  if (stated) return Number(stated[1]);
  return input.event === "PostToolUse" ? mapping.successExitStatus : null;
}

/** PostToolUse (and PostToolUseFailure): one `action.completed` per decision the call ran under. */
export async function postToolUse(input: HookInput, options: HookOptions): Promise<HookAnswer> {
  if (!input.toolUseId) throw new HookFailure("malformed_input", "tool_use_id is required to find the call's decision");
  const state = new HookState(options.stateRoot, options.url, options.device);
  const pending = state.takePending(input.toolUseId);
  if (!pending) throw new HookFailure("no_pending_decision", `${input.toolName} (${input.toolUseId}) ran without a Warden decision this endpoint knows of`);
  const client = await connect(options, state);
  const succeeded = input.event === "PostToolUse";
  const commands = pending.decisions.some((decision) => decision.type === "command.exec");
  const outcomeBase = {
    tool: { name: input.toolName, use_id: input.toolUseId },
    succeeded,
    exit_status: commands ? exitStatus(input, options.mapping) : null,
    result_hash: canonicalSha256(succeeded ? (input.toolResponse ?? null) : (input.error ?? null)),
    duration_ms: input.durationMs ?? Math.max(0, now() - pending.startedAt),
    human_reviewed: pending.humanReviewed,
    ...(pending.reviewId !== undefined ? { review_id: pending.reviewId } : {}),
  };
  for (const decision of pending.decisions) {
    const files = await Promise.all(decision.files.map(async (path) => ({ path, file_hash: decision.type === "file.delete" ? null : await fileHash(path) })));
    const recorded = await withSession(client, state, () => client.recordOutcome<{ log?: { seq: number; hash: string } }>({ ...outcomeBase, decision_id: decision.id, decision_seq: decision.seq, files }));
    if (recorded.status !== 201) {
      const code = (recorded.body as { code?: unknown } | null)?.code;
      throw new HookFailure("outcome_not_recorded", `the outcome of decision ${decision.id} was refused: HTTP ${recorded.status}${typeof code === "string" ? ` ${code}` : ""}`);
    }
    state.noteLogPosition(recorded.body.log);
  }
  return { stdout: "" };
}
