/**
 * The verdict flows: a challenge for one reviewer's verdict on a hold as shown, and the
 * verdict itself, given with a passkey assertion over that challenge.
 */
import type { AuthenticationResponseJSON, PublicKeyCredentialRequestOptionsJSON } from "@simplewebauthn/server";
import { StateError, VerificationError } from "../errors.ts";
import type { ChallengeStatement, Verdict } from "./record.ts";
import type { ReviewScope } from "./scope.ts";
import type { HoldState, RegisteredRequester } from "./types.ts";
import { assertionOptions, parseClientData, reviewConfig, toBase64url, verifyAssertion } from "./webauthn.ts";

/**
 * The WebAuthn request options for `verdict` on hold `id`, committing to the hold exactly as
 * the page showed it (`shownSha256`), for the signed-in reviewer's passkeys only.
 */
export async function verdictOptions(
  scope: ReviewScope,
  signedIn: { id: string; credential?: string },
  args: { id: string; verdict: Verdict; shownSha256: string },
): Promise<{ statement: ChallengeStatement; options: PublicKeyCredentialRequestOptionsJSON; hold: HoldState }> {
  const { env, deps } = scope;
  const config = reviewConfig(env);
  const registry = deps.reviewerRegistry(env, env.TENANT);
  const standing = await registry.standing({ reviewer: signedIn.id, credential: signedIn.credential });
  if (!standing.ok) throw new VerificationError(standing.code, "the reviewer session does not stand");
  const { reviewer } = standing;
  const holds = deps.reviewHolds(env, env.TENANT);
  const prepared = await holds.prepareVerdict({
    id: args.id,
    reviewer,
    verdict: args.verdict,
    shownSha256: args.shownSha256,
    nonce: toBase64url(deps.randomBytes(16)),
    now: deps.now(),
    ...(await registeredRequester(scope, holds, args.id)),
  });
  if (!prepared.ok) throw new StateError(prepared.code, `no ${args.verdict} challenge for this hold`);
  const options = await assertionOptions(config, { challenge: prepared.challenge, allow: await registry.credentialIds(reviewer.id) });
  return { statement: prepared.statement, options, hold: prepared.hold };
}

/**
 * For a hold that did not keep whom its requesting device is registered to (one made before holds kept it, or of a
 * device registered without a user), whom the device's registration names, read now from the device's object as a
 * decision reads it there (`recordDecisions`' `user`); nothing for a hold that kept it. A registration that cannot be
 * read gives null: the holds then refuse an approval or escalation, and a rejection still goes through.
 */
async function registeredRequester(scope: ReviewScope, holds: ReturnType<ReviewScope["deps"]["reviewHolds"]>, id: string): Promise<{ registered?: RegisteredRequester }> {
  const { env, deps } = scope;
  const requester = await holds.requesterToRead(id);
  if (requester === null) return {};
  try {
    const device = await deps.deviceStore(env, requester.tenant, requester.device).device();
    return { registered: device ? { user: device.user ?? null } : null };
  } catch (error) {
    console.error(JSON.stringify({ event: "review.requester_unreadable", review: id, device: requester.device, error: String(error) }));
    return { registered: null };
  }
}

/**
 * Applies a verdict given with a passkey assertion. Order across the objects:
 *
 * 1. the holds spend the challenge (a response that fails any later check has used it up);
 *    for a hold that did not keep its requester's user, the device's registration is read;
 * 2. the assertion is verified against the credential the registry holds;
 * 3. the registry moves the credential's counter forward (check-and-set), refusing a removed
 *    reviewer or a revoked passkey;
 * 4. the holds apply the verdict, at most once per challenge, re-checking the hold.
 *
 * A failure between 3 and 4 leaves a counter moved and no verdict: the reviewer signs again
 * (the old assertion is a replay twice over). Applying first and counting second would let a
 * cloned authenticator's approval stand before its stale counter was noticed.
 */
export async function giveVerdict(scope: ReviewScope, args: { id: string; response: AuthenticationResponseJSON }): Promise<HoldState> {
  const { env, deps } = scope;
  const config = reviewConfig(env);
  const { response } = args;
  const holds = deps.reviewHolds(env, env.TENANT);
  const registry = deps.reviewerRegistry(env, env.TENANT);
  const client = parseClientData(response.response.clientDataJSON);

  const taken = await holds.takeChallenge(client.challenge, deps.now());
  if (!taken.ok) throw new VerificationError(taken.code, "the challenge cannot be used");
  const { row } = taken;
  if (row.review_id !== args.id) throw new VerificationError("review_mismatch", "the assertion was made for another review");
  const requester = await registeredRequester(scope, holds, row.review_id);
  const credential = await registry.credential(response.id);
  if (!credential || credential.reviewer !== row.reviewer) throw new VerificationError("webauthn_invalid", "the passkey is not the signed-in reviewer's");
  const { newCounter } = await verifyAssertion(response, config, row.challenge, credential);

  const used = await registry.useCredential({ id: credential.id, reviewer: row.reviewer, newCounter, now: deps.now() });
  if (!used.ok) throw new VerificationError(used.code === "not_found" ? "webauthn_invalid" : used.code, "the passkey cannot give this verdict");
  const committed = await holds.commitVerdict({
    challenge: row.challenge,
    reviewer: used.reviewer,
    evidence: {
      credential_id: credential.id,
      credential_public_key: credential.publicKey,
      assertion: {
        id: response.id,
        clientDataJSON: response.response.clientDataJSON,
        authenticatorData: response.response.authenticatorData,
        signature: response.response.signature,
        userHandle: response.response.userHandle ?? null,
      },
    },
    now: deps.now(),
    ...requester,
  });
  if (!committed.ok) throw new StateError(committed.code, `the ${row.statement.verdict} cannot be applied`);
  if (!committed.logged) console.warn(JSON.stringify({ event: "review.evidence_deferred", review: args.id }));
  return committed.hold;
}
