/**
 * Rendering a tier's ticket templates (worker/review/ticket-templates.ts) for one hold. Pure
 * and synchronous: `ReviewHolds` renders in the transaction that moves the hold, so the ticket
 * says exactly what the hold was when it entered the tier.
 */
import type { JsonValue } from "../json/strict.ts";
import { recordSha256, type HoldRecord } from "./record.ts";
import { PLACEHOLDER, type JsonObject, type TicketVariableName } from "./ticket-templates.ts";

/** What the variables are read from: the hold as it entered the tier. */
export interface TicketFacts {
  record: HoldRecord;
  tier: string;
  deadline: string;
  /** The reviewer page's link to this hold, or null when `REVIEW_ORIGIN` is unset. */
  link: string | null;
  /** The ticket's item key (`<review id>#<n>`), the same on every attempt. */
  ticketId: string;
}

/**
 * What each variable is read from, and why it is offered. Only identifiers, digests, counts and
 * configuration: targets, inputs and context never reach a ticketing system (agent-chosen paths
 * and URLs may be sensitive); the reviewer sees the targets, masked as the device log holds
 * them, behind the review link.
 */
const VARIABLES: Record<TicketVariableName, (facts: TicketFacts) => string> = {
  // Which hold, decision and tenant: what the people working the ticket search by.
  review_id: (f) => f.record.review_id,
  decision_id: (f) => f.record.decision_id,
  tenant: (f) => f.record.tenant,
  // Who asks: the device (registered by an admin) and the agent it runs.
  device: (f) => f.record.requester.device,
  agent: (f) => f.record.agent.id,
  agent_version: (f) => f.record.agent.version,
  // What it asks: the action type and how many targets — a count, never the targets themselves.
  action_type: (f) => f.record.action.type,
  target_count: (f) => String(f.record.action.targets.length),
  sends_external: (f) => String(f.record.action.sends_external),
  // Where it waits: the tier's name and its deadline, for the ticket's urgency.
  tier: (f) => f.tier,
  deadline: (f) => f.deadline,
  // Why it was held: the bundle's digest and the ids of the policies that held it (from the signed bundle).
  policy_digest: (f) => f.record.policy.digest,
  policy_reasons: (f) => f.record.policy.reasons.join(", "),
  // The proof: what the hold is, where to act on it, where its decision is in the device log.
  record_sha256: (f) => recordSha256(f.record),
  review_url: (f) => f.link ?? "",
  log_seq: (f) => String(f.record.decision_log.seq),
  log_hash: (f) => f.record.decision_log.hash,
  // Stable across retries: a duplicate opened by a retry after a lost answer names the same id.
  ticket_id: (f) => f.ticketId,
};

function fill(value: JsonValue, values: ReadonlyMap<string, string>): JsonValue {
  if (typeof value === "string") return value.replace(PLACEHOLDER, (whole, name: string) => values.get(name) ?? whole);
  if (Array.isArray(value)) return value.map((item) => fill(item, values));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).flatMap(([key, item]) => (item === undefined ? [] : [[key, fill(item, values)]])));
  }
  return value;
}

/**
 * The template with every variable replaced inside string values only: keys and structure stay
 * the template's, so no value can add a field or change a type, whatever it contains.
 */
export function renderTicket(template: JsonObject, facts: TicketFacts): JsonObject {
  const values = new Map(Object.entries(VARIABLES).map(([name, of]) => [name, of(facts)]));
  return fill(template, values) as JsonObject;
}
