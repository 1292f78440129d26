/**
 * The verdict flows: a challenge for one reviewer's verdict on a hold as shown, and the
 * verdict itself, given with a passkey assertion over that challenge.
 */
import type { AuthenticationResponseJSON, PublicKeyCredentialRequestOptionsJSON } from "@simplewebauthn/server";
import { StateError, VerificationError } from "../errors.ts";
import type { ChallengeStatement, Verdict } from "./record.ts";
import type { ReviewScope } from "./scope.ts";
import type { HoldState } from "./types.ts";
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
  const prepared = await deps.reviewHolds(env, env.TENANT).prepareVerdict({
    id: args.id,
    reviewer,
    verdict: args.verdict,
    shownSha256: args.shownSha256,
    nonce: toBase64url(deps.randomBytes(16)),
    now: deps.now(),
  });
  if (!prepared.ok) throw new StateError(prepared.code, `no ${args.verdict} challenge for this hold`);
  const options = await assertionOptions(config, { challenge: prepared.challenge, allow: await registry.credentialIds(reviewer.id) });
  return { statement: prepared.statement, options, hold: prepared.hold };
}

/**
 * Applies a verdict given with a passkey assertion. Order across the two objects:
 *
 * 1. the holds spend the challenge (a response that fails any later check has used it up);
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
  });
  if (!committed.ok) throw new StateError(committed.code, `the ${row.statement.verdict} cannot be applied`);
  if (!committed.logged) console.warn(JSON.stringify({ event: "review.evidence_deferred", review: args.id }));
  return committed.hold;
}
