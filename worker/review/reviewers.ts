/**
 * The reviewer flows: an admin registers a reviewer and issues one-time enrollment links;
 * the reviewer registers a passkey from a link and signs in to the page with it; an admin
 * removes a reviewer or revokes one passkey, each recorded in the tenant's admin log.
 */
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from "@simplewebauthn/server";
import { StateError, VerificationError } from "../errors.ts";
import { sha256Hex } from "../encoding.ts";
import type { JsonValue } from "../log/canonical.ts";
import type { ReviewScope } from "./scope.ts";
import { issueReviewerSession } from "./session.ts";
import { CHALLENGE_TTL_MS, type AdminChange, type ReviewerRecord } from "./types.ts";
import { assertionOptions, fromBase64url, parseClientData, registrationOptions, reviewConfig, toBase64url, verifyAssertion, verifyRegistration } from "./webauthn.ts";

/** An enrollment link is good for this long, once. */
export const ENROLLMENT_TTL_MS = 24 * 3_600_000;

/** A reviewer as the API shows them: never the user handle. */
export interface ReviewerSummary {
  id: string;
  display_name: string;
  devices: string[];
  created_at: string;
  credentials: number;
}

/** A one-time enrollment link to hand to the reviewer. */
export interface EnrollmentLink {
  token: string;
  url: string;
  expires_at: string;
}

function summary(reviewer: ReviewerRecord, credentials: number): ReviewerSummary {
  return { id: reviewer.id, display_name: reviewer.display_name, devices: reviewer.devices, created_at: reviewer.created_at, credentials };
}

function newEnrollment(scope: ReviewScope, now: number): { tokenHash: string; expiresAt: number; link: EnrollmentLink } {
  const token = toBase64url(scope.deps.randomBytes(32));
  const expiresAt = now + ENROLLMENT_TTL_MS;
  // The fragment never reaches a server log; the page reads it and posts it.
  const url = `${reviewConfig(scope.env).origin}/review/enroll#${token}`;
  return { tokenHash: sha256Hex(token), expiresAt, link: { token, url, expires_at: new Date(expiresAt).toISOString() } };
}

/** Registers a reviewer with a random WebAuthn user handle and issues their first enrollment link. */
export async function registerReviewer(
  scope: ReviewScope,
  input: { id: string; display_name: string; devices: string[] },
): Promise<{ reviewer: ReviewerSummary; enrollment: EnrollmentLink }> {
  const { env, deps } = scope;
  const now = deps.now();
  const enrollment = newEnrollment(scope, now);
  const reviewer: ReviewerRecord = {
    id: input.id,
    display_name: input.display_name,
    devices: [...new Set(input.devices)],
    user_handle: toBase64url(deps.randomBytes(32)),
    created_at: new Date(now).toISOString(),
  };
  const added = await deps.reviewerRegistry(env, env.TENANT).addReviewer({ reviewer, enrollment: { tokenHash: enrollment.tokenHash, expiresAt: enrollment.expiresAt } });
  if (!added.ok) throw new StateError(added.code, `reviewer ${input.id} cannot be registered`);
  return { reviewer: summary(reviewer, 0), enrollment: enrollment.link };
}

/** Another one-time enrollment link for an existing reviewer (a lost or additional passkey). */
export async function issueEnrollment(scope: ReviewScope, reviewerId: string): Promise<EnrollmentLink> {
  const { env, deps } = scope;
  const enrollment = newEnrollment(scope, deps.now());
  const added = await deps.reviewerRegistry(env, env.TENANT).addEnrollment({ reviewer: reviewerId, tokenHash: enrollment.tokenHash, expiresAt: enrollment.expiresAt });
  if (!added.ok) throw new StateError(added.code, "no such reviewer");
  return enrollment.link;
}

/** Passkey creation options for an unused enrollment link, excluding the passkeys the reviewer already has. */
export async function enrollmentOptions(scope: ReviewScope, token: string): Promise<{ reviewer: ReviewerSummary; options: PublicKeyCredentialCreationOptionsJSON }> {
  const { env, deps } = scope;
  const config = reviewConfig(env);
  const now = deps.now();
  const registry = deps.reviewerRegistry(env, env.TENANT);
  const enrollment = await registry.enrollment(sha256Hex(token), now);
  if (!enrollment.ok) throw new VerificationError(enrollment.code, "the enrollment link is unknown, used or expired");
  const challenge = toBase64url(deps.randomBytes(32));
  await registry.issueChallenge({ challenge, purpose: "register", reviewer: enrollment.reviewer.id, enrollment: sha256Hex(token), expires_at: now + CHALLENGE_TTL_MS }, now);
  const options = await registrationOptions(config, {
    reviewerId: enrollment.reviewer.id,
    displayName: enrollment.reviewer.display_name,
    userHandle: fromBase64url(enrollment.reviewer.user_handle),
    challenge,
    exclude: enrollment.credentials,
  });
  return { reviewer: summary(enrollment.reviewer, enrollment.credentials.length), options };
}

/** Verifies a passkey registration made from an enrollment link and stores it, spending the link. */
export async function enrollPasskey(scope: ReviewScope, args: { token: string; response: RegistrationResponseJSON }): Promise<{ reviewer: ReviewerSummary; credential_id: string }> {
  const { env, deps } = scope;
  const config = reviewConfig(env);
  const registry = deps.reviewerRegistry(env, env.TENANT);
  const client = parseClientData(args.response.response.clientDataJSON);
  const taken = await registry.takeChallenge(client.challenge, deps.now());
  if (!taken.ok) throw new VerificationError(taken.code, "the challenge cannot be used");
  const { row } = taken;
  if (row.purpose !== "register" || row.enrollment !== sha256Hex(args.token) || !row.reviewer) throw new VerificationError("challenge_invalid", "the challenge is not for this enrollment");
  const credential = await verifyRegistration(args.response, config, row.challenge);
  const added = await registry.addCredential({ tokenHash: sha256Hex(args.token), reviewer: row.reviewer, credential, now: deps.now() });
  if (!added.ok) throw new StateError(added.code, "the passkey cannot be registered");
  return { reviewer: summary(added.reviewer, added.credentials), credential_id: credential.id };
}

/** A sign-in challenge for discoverable credentials (no reviewer named yet). */
export async function signInOptions(scope: ReviewScope): Promise<PublicKeyCredentialRequestOptionsJSON> {
  const { env, deps } = scope;
  const now = deps.now();
  const challenge = toBase64url(deps.randomBytes(32));
  await deps.reviewerRegistry(env, env.TENANT).issueChallenge({ challenge, purpose: "login", reviewer: null, enrollment: null, expires_at: now + CHALLENGE_TTL_MS }, now);
  return assertionOptions(reviewConfig(env), { challenge, allow: [] });
}

/** Verifies a sign-in assertion, moves the passkey's counter forward and signs a reviewer session. */
export async function signIn(
  scope: ReviewScope,
  response: AuthenticationResponseJSON,
): Promise<{ reviewer: ReviewerSummary; session: { token: string; expiresAt: number } }> {
  const { env, deps } = scope;
  const config = reviewConfig(env);
  const registry = deps.reviewerRegistry(env, env.TENANT);
  const client = parseClientData(response.response.clientDataJSON);
  const taken = await registry.takeChallenge(client.challenge, deps.now());
  if (!taken.ok) throw new VerificationError(taken.code, "the challenge cannot be used");
  if (taken.row.purpose !== "login") throw new VerificationError("challenge_invalid", "the challenge is not for a sign-in");
  const credential = await registry.credential(response.id);
  if (!credential) throw new VerificationError("webauthn_invalid", "unknown passkey");
  const { newCounter } = await verifyAssertion(response, config, taken.row.challenge, credential);
  const now = deps.now();
  const used = await registry.useCredential({ id: credential.id, reviewer: null, newCounter, now });
  if (!used.ok) throw new VerificationError(used.code === "not_found" ? "webauthn_invalid" : used.code, "the passkey cannot sign in");
  const session = await issueReviewerSession(scope, { id: used.reviewer.id, credential: credential.id }, now);
  return { reviewer: summary(used.reviewer, used.credentials), session };
}

/** A removal or revocation as the API shows it. */
export interface AdminChangeView {
  at: string;
  by: string;
  reason: string;
  /** Where the tenant's admin log has it. */
  log: { seq: number; hash: string } | null;
}

function changeView(change: AdminChange): AdminChangeView {
  return { at: new Date(change.at).toISOString(), by: change.by, reason: change.reason, log: change.log };
}

/** A reviewer with their passkeys, removal and revocations, for an admin. */
export async function reviewerDetail(
  scope: ReviewScope,
  id: string,
): Promise<{ reviewer: ReviewerSummary; removed: AdminChangeView | null; passkeys: { id: string; created_at: string; last_used_at: string | null; revoked: AdminChangeView | null }[] }> {
  const { env, deps } = scope;
  const detail = await deps.reviewerRegistry(env, env.TENANT).detail(id);
  if (!detail) throw new StateError("not_found", "no such reviewer");
  const usable = detail.removed ? 0 : detail.passkeys.filter((passkey) => !passkey.revoked).length;
  return {
    reviewer: summary(detail.reviewer, usable),
    removed: detail.removed ? changeView(detail.removed) : null,
    passkeys: detail.passkeys.map((passkey) => ({
      id: passkey.id,
      created_at: new Date(passkey.created_at).toISOString(),
      last_used_at: passkey.last_used_at === null ? null : new Date(passkey.last_used_at).toISOString(),
      revoked: passkey.revoked ? changeView(passkey.revoked) : null,
    })),
  };
}

/**
 * Records an admin's change in the tenant's admin log once: a change already recorded (a
 * repeated request) is not recorded again, and one whose recording failed is recorded by the
 * next request for it.
 */
async function recordOnce(
  scope: ReviewScope,
  change: AdminChange,
  entry: { kind: "removal" | "revocation"; id: string; type: "admin.reviewer_removed" | "admin.passkey_revoked"; data: { [key: string]: JsonValue } },
): Promise<AdminChange> {
  if (change.log) return change;
  const { env, deps } = scope;
  const log = await deps.bundleRegistry(env, env.TENANT).recordAdminAction({
    type: entry.type,
    data: { ...entry.data, by: change.by, reason: change.reason, at: new Date(change.at).toISOString() },
    now: deps.now(),
  });
  await deps.reviewerRegistry(env, env.TENANT).noteLogged({ kind: entry.kind, id: entry.id, log });
  return { ...change, log };
}

/**
 * Removes a reviewer (admin). In this order: the registry removes them — from then on none of
 * their passkeys signs in or gives a verdict and every session of theirs is refused at its next
 * request; the holds bar them — their outstanding verdict challenges are void and their
 * approvals of holds still pending stop counting (`review.approval_withdrawn` in the device
 * log); then the tenant's admin log records who and why. A repeated request finishes whatever
 * a failed one left undone and answers with the first removal.
 */
export async function removeReviewer(
  scope: ReviewScope,
  id: string,
  args: { reason: string; by: string },
): Promise<{ reviewer: string; removed: AdminChangeView; passkeys: string[]; voided_challenges: number; withdrawn_approvals: string[] }> {
  const { env, deps } = scope;
  const removed = await deps.reviewerRegistry(env, env.TENANT).removeReviewer({ reviewer: id, by: args.by, reason: args.reason, now: deps.now() });
  if (!removed.ok) throw new StateError(removed.code, "no such reviewer");
  const barred = await deps.reviewHolds(env, env.TENANT).barReviewer({ reviewer: id, reason: removed.removed.reason, by: removed.removed.by, now: deps.now() });
  const recorded = await recordOnce(scope, removed.removed, { kind: "removal", id, type: "admin.reviewer_removed", data: { reviewer: id, passkeys: removed.passkeys } });
  return { reviewer: id, removed: changeView(recorded), passkeys: removed.passkeys, voided_challenges: barred.voided, withdrawn_approvals: barred.withdrawn };
}

/**
 * Revokes one passkey of a reviewer (admin). In this order: the registry revokes it — from then
 * on it neither signs in nor gives a verdict, and a session signed in with it is refused at its
 * next request; the holds withdraw the approvals it gave of holds still pending
 * (`review.approval_withdrawn` in the device log, as for a removed reviewer) and refuse a verdict
 * of it still on its way; then the tenant's admin log records who and why, once. The reviewer's
 * other passkeys, and the approvals made with them, are untouched. A repeated request finishes
 * whatever a failed one left undone and answers with the first revocation.
 */
export async function revokePasskey(
  scope: ReviewScope,
  args: { reviewer: string; credential: string; reason: string; by: string },
): Promise<{ reviewer: string; credential: string; revoked: AdminChangeView; withdrawn_approvals: string[] }> {
  const { env, deps } = scope;
  const revoked = await deps.reviewerRegistry(env, env.TENANT).revokePasskey({ reviewer: args.reviewer, credential: args.credential, by: args.by, reason: args.reason, now: deps.now() });
  if (!revoked.ok) throw new StateError(revoked.code, "no such passkey of this reviewer");
  const withdrawn = await deps.reviewHolds(env, env.TENANT).withdrawCredential({
    reviewer: args.reviewer,
    credential: args.credential,
    reason: revoked.revoked.reason,
    by: revoked.revoked.by,
    now: deps.now(),
  });
  const recorded = await recordOnce(scope, revoked.revoked, {
    kind: "revocation",
    id: args.credential,
    type: "admin.passkey_revoked",
    data: { reviewer: args.reviewer, credential: args.credential },
  });
  return { reviewer: args.reviewer, credential: args.credential, revoked: changeView(recorded), withdrawn_approvals: withdrawn.withdrawn };
}
