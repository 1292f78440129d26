import { createHash } from "node:crypto";
import { sha256Hex, utf8Bytes } from "../encoding.ts";
import { canonicalJson, type JsonValue } from "../log/canonical.ts";
import type { ResolvedTarget } from "../policy/decide.ts";
import type { ActionScope } from "../tokens/action.ts";
import type { TicketTemplates } from "./ticket-templates.ts";

/**
 * The canonical record of a held action: exactly what a reviewer is shown and what an
 * approval commits to. It tells no more than the device log does: the shim sends inputs only as
 * their hash, the caller's free-form `context` is reduced to a hash of its canonical JSON as
 * logged, and the targets are shown as the decision's entry holds them, after the bundle's
 * privacy masking. The raw action — what the token an approval releases is scoped to — is kept
 * by the holds beside the record, never in it (`ReviewHolds` `scope`); the record commits to it
 * through the keyed `action_hash`.
 */
export interface HoldRecord {
  review_id: string;
  decision_id: string;
  tenant: string;
  /** Who raised it: the device and the agent running on it. */
  requester: { device: string; agent: string };
  agent: { id: string; version: string; artifact_sha256: string | null };
  action: {
    type: string;
    /** Canonical targets as the decision's log entry holds them: masked where the bundle's privacy section says (`[vault:…]`, `[hmac:…]`, `[masked]`). */
    targets: ResolvedTarget[];
    inputs_sha256: string | null;
    sends_external: boolean;
  };
  context_sha256: string | null;
  /** The bundle that held it and the policies that did. */
  policy: { digest: string; reasons: string[] };
  /**
   * Where the decision that raised the hold sits in the device log. An approval commits to it
   * through `hold_sha256`, so the chain from a verdict to the logged decision is by hash, not
   * only by `decision_id`; notifications and tickets carry it as proof.
   */
  decision_log: { seq: number; hash: string };
  /** Identity of the action, keyed (see `actionHash`): a pending hold is never queued twice. */
  action_hash: string;
  created_at: string;
}

/** One rung of a hold's escalation ladder, copied from the deciding bundle's manifest. */
export interface TierStep {
  name: string;
  sla_minutes: number;
  on_timeout: "deny" | "permit";
  approvers: number;
  /** Tickets opened when a hold enters this tier (worker/review/tickets.ts); absent, none. */
  tickets?: TicketTemplates;
}

/** `cancelled`: ended without a verdict (the device was quarantined); its outcome is deny. */
export type ReviewStatus = "pending" | "approved" | "rejected" | "expired" | "cancelled";
export type Verdict = "approve" | "reject" | "escalate";

/** The part of a hold that can change while it waits; a verdict commits to it too. */
export interface HoldShown {
  record: HoldRecord;
  tier: string;
  deadline: string;
  approvers_required: number;
}

/**
 * What a WebAuthn challenge for a verdict commits to. The challenge is SHA-256 over its
 * RFC 8785 form, so an auditor holding the log entry recomputes it from the stored hold
 * without trusting the server's word for what was shown.
 */
export interface ChallengeStatement {
  purpose: "warden-review-verdict";
  review_id: string;
  action_hash: string;
  decision_id: string;
  requester: { device: string; agent: string };
  tier: string;
  /** The hold's deadline when the challenge was issued. */
  expires_at: string;
  /** SHA-256 of the canonical `HoldShown`: any change to the record, tier or deadline changes it. */
  hold_sha256: string;
  verdict: Verdict;
  reviewer: string;
  nonce: string;
}

/**
 * Identity of an action for de-duplication: who asks, with which agent, to do what — the action
 * exactly as policy judged it, raw values included, so two actions that differ only in a secret
 * never join one hold. Lower-case hex HMAC-SHA-256 of the RFC 8785 form of
 * `{tenant, device, agent, action}` under `key`, the tenant's action-hash key
 * (worker/privacy/keys.ts, derived from `VAULT_KEYS`). Keyed because it travels where the raw
 * action does not — the hold's record, `review.*` entries, verdict statements — and an unkeyed
 * digest there would let anyone who reads it test guesses at a short secret in a target offline.
 */
export async function actionHash(key: CryptoKey, args: ActionIdentity): Promise<string> {
  return Buffer.from(await crypto.subtle.sign("HMAC", key, utf8Bytes(actionIdentity(args)))).toString("hex");
}

/** Who asks, with which agent, to do what: the action as policy judged it. */
export interface ActionIdentity {
  tenant: string;
  device: string;
  agent: HoldRecord["agent"];
  action: HoldRecord["action"];
}

/** The RFC 8785 text an action hash covers, keyed (`actionHash`) or, for holds made before it was keyed, not. */
export function actionIdentity(args: ActionIdentity): string {
  return canonicalJson({ tenant: args.tenant, device: args.device, agent: args.agent, action: args.action } as unknown as JsonValue);
}

/** The scope of the token that permits `action`: exactly a permit's (worker/tokens/action.ts). */
export function scopeOfAction(action: Pick<HoldRecord["action"], "type" | "targets" | "inputs_sha256">): ActionScope {
  return { action: action.type, targets: action.targets, ...(action.inputs_sha256 !== null ? { inputs_sha256: action.inputs_sha256 } : {}) };
}

/** SHA-256 of the context as logged (null when the request had none). */
export function contextHash(loggedContext: JsonValue): string | null {
  return loggedContext === null ? null : sha256Hex(canonicalJson(loggedContext));
}

/** SHA-256 of the canonical record: the hold's identity as notifications and tickets prove it, stable across tiers. */
export function recordSha256(record: HoldRecord): string {
  return sha256Hex(canonicalJson(record as unknown as JsonValue));
}

export function holdSha256(shown: HoldShown): string {
  return sha256Hex(canonicalJson(shown as unknown as JsonValue));
}

export function challengeStatement(shown: HoldShown, args: { verdict: Verdict; reviewer: string; nonce: string }): ChallengeStatement {
  const { record } = shown;
  return {
    purpose: "warden-review-verdict",
    review_id: record.review_id,
    action_hash: record.action_hash,
    decision_id: record.decision_id,
    requester: record.requester,
    tier: shown.tier,
    expires_at: shown.deadline,
    hold_sha256: holdSha256(shown),
    verdict: args.verdict,
    reviewer: args.reviewer,
    nonce: args.nonce,
  };
}

/** The WebAuthn challenge (base64url of 32 bytes) for a statement. */
export function challengeFor(statement: ChallengeStatement): string {
  return createHash("sha256").update(canonicalJson(statement as unknown as JsonValue)).digest("base64url");
}
