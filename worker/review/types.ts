/**
 * Types of the human-review domain, shared by the review service (worker/review/) and its
 * three Durable Objects (durable-objects/ReviewHolds.ts, ReviewerRegistry.ts,
 * ReviewOutbox.ts). The objects import these; nothing here imports an object, so
 * dependencies run one way.
 */
import type { JsonValue } from "../log/canonical.ts";
import type { ChallengeStatement, HoldShown, ReviewStatus, TierStep } from "./record.ts";
import type { TicketService } from "./ticket-templates.ts";
import type { ReviewEvent } from "./webhook.ts";

/** A hold as the service and the page see it. */
export interface HoldState {
  id: string;
  status: ReviewStatus;
  /** permit or deny once decided (approval, rejection or the timeout rule). */
  outcome: "permit" | "deny" | null;
  shown: HoldShown;
  hold_sha256: string;
  deadline: number;
  approvals: { reviewer: string; at: string }[];
  decided_at: string | null;
  decided_by: string | null;
  released: boolean;
  token_ttl: number;
  /** Tickets opened for the hold, as their services answered (not part of what a verdict commits to). */
  tickets: HoldTicket[];
  /** The tiers the hold can climb, without their ticket templates (those stay inside the holds). */
  ladder: Omit<TierStep, "tickets">[];
}

/** A ticket a service opened for a hold, as noted back into the hold. */
export interface HoldTicket {
  service: TicketService;
  /** The tier the hold entered when the ticket was asked for. */
  tier: string;
  /** The service's key (`SEC-42`, `INC0010001`). */
  key: string;
  /** Where a person opens it. */
  url: string;
  at: string;
}

/** A reviewer an admin registered. Never changed once stored. */
export interface ReviewerRecord {
  id: string;
  display_name: string;
  /** Devices this reviewer uses: holds they (or their agents) raise from these they may not approve. */
  devices: string[];
  /** Random WebAuthn user handle (base64url), never the reviewer id. */
  user_handle: string;
  created_at: string;
}

/** An admin's removal of a reviewer or revocation of a passkey: when, by whom, why, and where the admin log has it (null until recorded). */
export interface AdminChange {
  at: number;
  by: string;
  reason: string;
  log: { seq: number; hash: string } | null;
}

/** A reviewer as an admin sees them. */
export interface ReviewerDetail {
  reviewer: ReviewerRecord;
  removed: AdminChange | null;
  passkeys: { id: string; created_at: number; last_used_at: number | null; revoked: AdminChange | null }[];
}

/** A sign-in or enrollment challenge, kept by the reviewer registry. */
export interface PasskeyChallenge {
  challenge: string;
  purpose: "register" | "login";
  /** For registrations: the reviewer the enrollment link belongs to. */
  reviewer: string | null;
  /** For registrations: the hash of the enrollment token it was issued under. */
  enrollment: string | null;
  expires_at: number;
}

/** A verdict's challenge, kept with the holds: the statement it commits to and who may answer it. */
export interface VerdictChallenge {
  challenge: string;
  reviewer: string;
  review_id: string;
  statement: ChallengeStatement;
  expires_at: number;
}

/**
 * Whom a hold's requesting device is registered to, as the verdict service read it from the device's registration for a
 * hold that did not keep it (`ReviewHolds.requesterToRead`): `user` null when the device was registered without one; null
 * when the registration could not be read, and then no one may approve or escalate the hold.
 */
export type RegisteredRequester = { user: string | null } | null;

/** How long an issued challenge may be answered. */
export const CHALLENGE_TTL_MS = 5 * 60_000;

/** The longest one wait on a hold keeps its request open (`GET /v1/reviews/{id}?wait=`). */
export const MAX_WAIT_SECONDS = 25;

/** Who waits on a hold: its device, or staff reading it. A hold keeps a few open waits of each (durable-objects/ReviewHolds.ts `MAX_WAITS_PER_HOLD`). */
export type HoldWaiter = "device" | "staff";

/** What the service hands over once an assertion verified: the raw assertion goes into the device log. */
export interface VerdictEvidence {
  credential_id: string;
  credential_public_key: string;
  assertion: { id: string; clientDataJSON: string; authenticatorData: string; signature: string; userHandle: string | null };
}

/**
 * One device-log entry on its way from the holds to the requester's `DeviceLog`. `key` (the
 * hold's id and a per-hold sequence number, `<review id>#<n>`) is also the entry's
 * `evidence_id`: the outbox accepts a key once and appends it once.
 */
export interface EvidenceItem {
  kind: "evidence";
  key: string;
  review_id: string;
  tenant: string;
  device: string;
  type: string;
  data: { [key: string]: JsonValue };
  at: number;
}

/** One signed notification on its way out; `key` is sent as `Warden-Event-Id`, the same on every attempt. */
export interface WebhookItem {
  kind: "webhook";
  key: string;
  review_id: string;
  event: ReviewEvent;
  at: number;
}

/**
 * One ticket to open, rendered from the tier's template when the hold entered it. `key` is the
 * item's `<review id>#<n>`; once opened, the ticket's own key is noted back into the hold.
 */
export interface TicketItem {
  kind: "ticket";
  key: string;
  review_id: string;
  tenant: string;
  service: TicketService;
  tier: string;
  /** What is sent: Jira's issue-create body, or ServiceNow's incident record. */
  body: { [key: string]: JsonValue };
  at: number;
}

/** What the holds hand to the outbox, in the order they wrote it. */
export type OutboxItem = EvidenceItem | WebhookItem | TicketItem;

/** A ticket the outbox opened, as it reports it back to the hold (`ReviewHolds.noteTicket`). */
export interface OpenedTicket {
  review_id: string;
  /** The ticket item's key: a hold notes each item once. */
  item: string;
  service: TicketService;
  tier: string;
  key: string;
  url: string;
}
