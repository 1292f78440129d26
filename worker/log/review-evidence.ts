import { createHash } from "node:crypto";
import { verifySignature } from "@simplewebauthn/server/helpers";
import { StrictJsonError, parseStrictJson } from "../json/strict.ts";
import { challengeFor, type ChallengeStatement } from "../review/record.ts";

/**
 * A review verdict as its device log records it (`review.approved`, `review.rejected`,
 * `review.escalated` by a reviewer) carries the reviewer's passkey assertion over the verdict's
 * challenge: this checks it again, offline, for the compliance package. The challenge is the
 * hash of the statement (hold digest, verdict, reviewer, nonce), so a verdict that was changed
 * after the reviewer signed does not verify.
 *
 * Not checked here, for want of the deployment's configuration: the RP ID hash and the expected
 * origin (the origin the client data names is reported for the auditor to compare).
 */

export class ReviewEvidenceError extends Error {}

function base64url(value: unknown, what: string): Uint8Array<ArrayBuffer> {
  if (typeof value !== "string" || !/^[A-Za-z0-9_-]*$/.test(value)) throw new ReviewEvidenceError(`${what} is not base64url`);
  return new Uint8Array(Buffer.from(value, "base64url"));
}

/** UP (bit 0) and UV (bit 2) of the authenticator data flags (WebAuthn §6.1). */
const USER_PRESENT = 0x01;
const USER_VERIFIED = 0x04;

/**
 * Verifies the passkey assertion of a review entry's `data`; null when the entry carries none
 * (a release, a timeout). Throws {@link ReviewEvidenceError} when it does not verify.
 */
export async function verifyReviewAssertion(data: { [key: string]: unknown }): Promise<{ origin: string; reviewer: string } | null> {
  const assertion = data["assertion"];
  if (assertion === undefined) return null;
  if (typeof assertion !== "object" || assertion === null) throw new ReviewEvidenceError("the assertion is not an object");
  const { id, clientDataJSON, authenticatorData, signature } = assertion as Record<string, unknown>;
  const statement = data["statement"] as ChallengeStatement | undefined;
  const challenge = data["challenge"];
  if (typeof statement !== "object" || statement === null || typeof challenge !== "string") throw new ReviewEvidenceError("the verdict has no statement and challenge");
  if (challengeFor(statement) !== challenge) throw new ReviewEvidenceError("the challenge is not the hash of the statement");
  if (statement.verdict !== data["verdict"] || statement.reviewer !== data["reviewer"]) throw new ReviewEvidenceError("the entry's verdict or reviewer is not the statement's");
  if (id !== data["credential_id"]) throw new ReviewEvidenceError("the assertion is by another credential than the entry names");
  const clientBytes = base64url(clientDataJSON, "clientDataJSON");
  let client: { type?: unknown; challenge?: unknown; origin?: unknown };
  try {
    client = parseStrictJson(clientBytes) as typeof client;
  } catch (error) {
    if (!(error instanceof StrictJsonError)) throw error;
    throw new ReviewEvidenceError(`clientDataJSON is not strict JSON (${error.code})`);
  }
  if (client.type !== "webauthn.get" || client.challenge !== challenge || typeof client.origin !== "string") throw new ReviewEvidenceError("the client data is not an assertion over the verdict's challenge");
  const auth = base64url(authenticatorData, "authenticatorData");
  if (auth.length < 37) throw new ReviewEvidenceError("the authenticator data is truncated");
  const flags = auth[32] as number;
  if ((flags & USER_PRESENT) === 0 || (flags & USER_VERIFIED) === 0) throw new ReviewEvidenceError("the authenticator did not verify the user");
  const signed = new Uint8Array(auth.length + 32);
  signed.set(auth);
  signed.set(createHash("sha256").update(clientBytes).digest(), auth.length);
  let ok = false;
  try {
    ok = await verifySignature({ signature: base64url(signature, "signature"), data: signed, credentialPublicKey: base64url(data["credential_public_key"], "credential_public_key") });
  } catch (cause) {
    throw new ReviewEvidenceError(`the passkey signature cannot be checked (${String(cause)})`);
  }
  if (!ok) throw new ReviewEvidenceError("the passkey signature does not verify");
  return { origin: client.origin, reviewer: String(data["reviewer"]) };
}
