/**
 * Signed review notifications. The body is JSON; `Warden-Signature: t=<unix seconds>,v1=<hex>`
 * carries HMAC-SHA256 (WebCrypto) over `<t>.<body>` with `REVIEW_WEBHOOK_SECRET`, so a receiver
 * checks both the bytes and their age before trusting an escalation.
 */

/** Seconds to wait after failed attempt n (1-based) before attempt n + 1. */
export const WEBHOOK_BACKOFF_SECONDS = [30, 120, 480, 1920, 7680] as const;
/** Attempts per event before it is marked failed (the first plus one per backoff step). */
export const WEBHOOK_MAX_ATTEMPTS = WEBHOOK_BACKOFF_SECONDS.length + 1;
/** A receiver that has not answered by then counts as a failed attempt. */
export const WEBHOOK_TIMEOUT_MS = 10_000;

/**
 * A review notification's body. `review.created` when a hold is queued (its tier's channel
 * learns of it without polling), `review.escalated` and `review.expired` as deadlines and
 * reviewers move it, `review.cancelled` when its device was quarantined. `link` opens the hold
 * on the reviewer page; `proof` ties the event to the verifiable log: the record's digest and
 * where the decision that raised the hold is in the device log.
 */
export interface ReviewEvent {
  type: "review.created" | "review.escalated" | "review.expired" | "review.cancelled";
  review_id: string;
  tenant: string;
  tier: string;
  previous_tier: string | null;
  deadline: string | null;
  outcome: "permit" | "deny" | null;
  by: string;
  action: { type: string; targets: number };
  requester: { device: string; agent: string };
  link: string | null;
  proof: { record_sha256: string; decision_log: { seq: number; hash: string } };
  at: string;
}

export async function webhookSignature(secret: string, timestamp: number, body: string): Promise<string> {
  const encoder = new TextEncoder();
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(`${timestamp}.${body}`)));
  return [...mac].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

export async function signatureHeader(secret: string, timestamp: number, body: string): Promise<string> {
  return `t=${timestamp},v1=${await webhookSignature(secret, timestamp, body)}`;
}

/** When to try again after failed attempt `attempt` (1-based), or null when it was the last. */
export function nextAttemptAt(attempt: number, now: number): number | null {
  const wait = WEBHOOK_BACKOFF_SECONDS[attempt - 1];
  return wait === undefined ? null : now + wait * 1000;
}
