import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { deviceOf, requireRole } from "../auth.ts";
import type { AppEnv, DeviceSession } from "../context.ts";
import { StateError } from "../errors.ts";
import type { JsonValue } from "../log/canonical.ts";
import { decide, resolvedTargets, type ActionRequest, type CanonicalTarget, type ReasonCode, type Verdict } from "../policy/decide.ts";
import { ActionRequestSchema, BatchRequestSchema } from "../decisions/request.ts";
import { bundleFor, loadDeployment } from "../policy/store.ts";
import type { CompiledBundle } from "../policy/bundle.ts";
import { deviceSecurity, jsonBody, problems, router } from "../openapi.ts";
import { issueActionToken } from "../tokens/action.ts";
import { signingKey } from "../tokens/keys.ts";
import { LogHeadSchema } from "./devices.ts";
import { holdForReview, reviewLadder, type HeldReview } from "../review/holds.ts";
import type { TierStep } from "../review/record.ts";

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
    token: z.string().optional().openapi({ description: "On permit: single-use action token (JWT, EdDSA, at most 60 s)" }),
    token_expires_at: z.string().optional(),
    review: z
      .object({ id: z.string(), tier: z.string(), deadline: z.string() })
      .optional()
      .openapi({ description: "On review: the hold to wait on with GET /v1/reviews/{id}, its tier and current deadline" }),
  })
  .openapi("Decision");

const BatchSchema = z.object({ decisions: z.array(DecisionSchema) }).openapi("DecisionBatch");

type DecisionBody = z.infer<typeof DecisionSchema>;
type ActionBody = ActionRequest & { context?: { [key: string]: string | number | boolean } | undefined };

/** A verdict with what comes with it before it is logged: its id, bundle and, on permit, token. */
interface PendingDecision {
  id: string;
  verdict: Verdict;
  policy: string | null;
  bundle: { version: number; role: "active" | "canary" } | null;
  token?: { value: string; jti: string; expiresAt: number };
  request: ActionBody;
  /** On review: the tiers the hold may climb and the lifetime of the token an approval releases. */
  review?: { ladder: TierStep[]; tokenTtl: number };
}

function failClosed(reasonCode: ReasonCode, targets: CanonicalTarget[] = []): Verdict {
  return { decision: "deny", reasonCode, reasons: [], targets };
}

/**
 * Decides one action. Any failure up to the log append denies, with its own reason
 * code; nothing thrown here escapes as an error response.
 */
async function prepare(c: Context<AppEnv>, session: DeviceSession, request: ActionBody, now: number): Promise<PendingDecision> {
  const { deps } = c.var;
  const id = deps.newId();
  let policy: string | null = null;
  let bundle: PendingDecision["bundle"] = null;
  try {
    const deployment = await loadDeployment(c.env, c.env.TENANT, now);
    const chosen = bundleFor(deployment, { tenant: session.tenant, id: session.deviceId, groups: session.groups }, now);
    if (!chosen.ok) {
      console.warn(JSON.stringify({ event: "decision.no_bundle", code: chosen.code, detail: chosen.detail }));
      return { id, verdict: failClosed(chosen.code), policy, bundle, request };
    }
    policy = chosen.bundle.digest;
    bundle = { version: chosen.bundle.version, role: chosen.role };
    const device = { id: session.deviceId, os: session.os, shell: session.shell, assurance: session.assurance };
    const verdict = decide(chosen.bundle, request, device, now);
    if (deployment.shadow && chosen.role === "active") compareInShadow(c, deployment.shadow, verdict, request, device, id, now);
    const ttlSeconds = chosen.bundle.manifest.action_token.per_action[request.action.type] ?? chosen.bundle.manifest.action_token.ttl_seconds;
    if (verdict.decision === "review" && verdict.tier !== undefined) {
      return { id, verdict, policy, bundle, request, review: { ladder: reviewLadder(chosen.bundle, verdict.tier), tokenTtl: ttlSeconds } };
    }
    if (verdict.decision !== "permit") return { id, verdict, policy, bundle, request };
    const jti = deps.newId();
    const { token, expiresAt } = await issueActionToken(await signingKey(c.env.SIGNING_KEY), {
      device: session.deviceId,
      tenant: session.tenant,
      jkt: session.jkt,
      os: session.os,
      shell: session.shell,
      groups: session.groups,
      jti,
      decisionId: id,
      policy,
      scope: {
        action: request.action.type,
        targets: resolvedTargets(verdict),
        ...(request.action.inputs_sha256 !== undefined ? { inputs_sha256: request.action.inputs_sha256 } : {}),
      },
      now,
      ttlSeconds,
    });
    return { id, verdict, policy, bundle, request, token: { value: token, jti, expiresAt } };
  } catch (error) {
    console.error(JSON.stringify({ event: "decision.internal_error", error: String(error) }));
    return { id, verdict: failClosed("internal_error"), policy, bundle, request };
  }
}

/**
 * Evaluates the shadow bundle on the same request and reports agreement after the
 * response: the answer never waits for, or depends on, the candidate.
 */
function compareInShadow(
  c: Context<AppEnv>,
  shadow: CompiledBundle,
  verdict: Verdict,
  request: ActionRequest,
  device: Parameters<typeof decide>[2],
  decisionId: string,
  now: number,
): void {
  let candidate: Verdict;
  try {
    candidate = decide(shadow, request, device, now);
  } catch {
    candidate = failClosed("internal_error");
  }
  const summary = (v: Verdict) => ({ decision: v.decision, reason_code: v.reasonCode, reasons: [...v.reasons].sort() });
  const agree = JSON.stringify(summary(verdict)) === JSON.stringify(summary(candidate));
  const example = agree ? null : { time: new Date(now).toISOString(), device: device.id, decision_id: decisionId, active: summary(verdict), shadow: summary(candidate) };
  const report = c.var.deps.bundleRegistry(c.env, c.env.TENANT).recordShadow({ version: shadow.version, agree, example });
  c.executionCtx.waitUntil(report.catch((error: unknown) => console.error(JSON.stringify({ event: "shadow.report_failed", error: String(error) }))));
}

function logData(pending: PendingDecision, session: DeviceSession): { [key: string]: JsonValue } {
  const { verdict, request } = pending;
  return {
    decision_id: pending.id,
    decision: verdict.decision,
    reason_code: verdict.reasonCode,
    reasons: verdict.reasons,
    policy: pending.policy,
    bundle: pending.bundle,
    tier: verdict.tier ?? null,
    session: session.sessionId,
    agent: { id: request.agent.id, version: request.agent.version, artifact_sha256: request.agent.artifact_sha256 ?? null },
    action: {
      type: request.action.type,
      targets: verdict.targets.map((target) => ({ ...target })),
      submitted: request.action.targets.map((target) => ({ ...target })),
      inputs_sha256: request.action.inputs_sha256 ?? null,
      sends_external: request.action.sends_external ?? false,
    },
    context: request.context ?? null,
    token_jti: pending.token?.jti ?? null,
  };
}

function responseBody(pending: PendingDecision, log: { seq: number; hash: string } | null, held?: HeldReview): DecisionBody {
  const { verdict } = pending;
  const body: DecisionBody = {
    decision: verdict.decision,
    reason_code: verdict.reasonCode,
    reasons: verdict.reasons,
    policy: pending.policy,
    decision_id: pending.id,
    log,
    targets: verdict.targets,
  };
  if (pending.token) {
    body.token = pending.token.value;
    body.token_expires_at = new Date(pending.token.expiresAt).toISOString();
  }
  if (held) body.review = held;
  return body;
}

/**
 * Logs the decisions and only then shapes the answers. If the append fails the
 * decisions become denials without tokens: an unlogged permit never leaves.
 */
async function logAndAnswer(c: Context<AppEnv>, session: DeviceSession, pending: PendingDecision[], now: number): Promise<DecisionBody[]> {
  const store = c.var.deps.deviceStore(c.env, session.tenant, session.deviceId);
  let outcome;
  try {
    outcome = await store.recordDecisions({ proof: session.proof, now, decisions: pending.map((item) => logData(item, session)) });
  } catch (error) {
    console.error(JSON.stringify({ event: "decision.log_append_failed", device: session.deviceId, error: String(error) }));
    return pending.map((item) => {
      const { token: _discarded, ...rest } = item;
      return responseBody({ ...rest, verdict: failClosed("log_append_failed", item.verdict.targets) }, null);
    });
  }
  if (!outcome.ok) throw new StateError(outcome.code, "the decision could not be recorded");
  return Promise.all(
    pending.map(async (item, index) => {
      const log = outcome.logs[index] ?? null;
      if (item.verdict.decision !== "review" || !item.review) return responseBody(item, log);
      // The hold is made only once the decision is in the log; without one there is nothing to wait on, so deny.
      const held = await holdForReview({ env: c.env, deps: c.var.deps }, session, { decisionId: item.id, policy: item.policy, verdict: item.verdict, request: item.request, ...item.review }, now);
      if (!held.ok) return responseBody({ ...item, verdict: failClosed("review_unavailable", item.verdict.targets) }, log);
      return responseBody(item, log, held.review);
    }),
  );
}

export const decisions = router();

decisions.use("/v1/decisions", requireRole("device"));
decisions.openapi(
  createRoute({
    method: "post",
    path: "/v1/decisions",
    summary: "Decide permit, deny or review for one agent action",
    security: deviceSecurity,
    request: { ...jsonBody(ActionRequestSchema), headers: z.object({ dpop: z.string().max(4096) }) },
    responses: {
      200: { description: "The decision, already in the device's log", content: { "application/json": { schema: DecisionSchema } } },
      ...problems(400, 401, 403, 413, 415),
    },
  }),
  async (c) => {
    const session = deviceOf(c);
    const now = c.var.deps.now();
    const pending = await prepare(c, session, c.req.valid("json"), now);
    const [body] = await logAndAnswer(c, session, [pending], now);
    return c.json(body as DecisionBody, 200);
  },
);

decisions.use("/v1/decisions/batch", requireRole("device"));
decisions.openapi(
  createRoute({
    method: "post",
    path: "/v1/decisions/batch",
    summary: "Decide up to 30 actions of one device, logged together",
    security: deviceSecurity,
    request: { ...jsonBody(BatchRequestSchema), headers: z.object({ dpop: z.string().max(4096) }) },
    responses: {
      200: { description: "One decision per action, in request order", content: { "application/json": { schema: BatchSchema } } },
      ...problems(400, 401, 403, 413, 415),
    },
  }),
  async (c) => {
    const session = deviceOf(c);
    const now = c.var.deps.now();
    const pending = await Promise.all(c.req.valid("json").decisions.map((request) => prepare(c, session, request, now)));
    return c.json({ decisions: await logAndAnswer(c, session, pending, now) }, 200);
  },
);
