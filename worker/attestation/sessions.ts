import type { ServiceContext } from "../context.ts";
import type { Assurance } from "../domain.ts";
import { StateError, WardenError } from "../errors.ts";
import { verifyDpopProof } from "../tokens/dpop.ts";
import { signWardenJwt } from "../tokens/jwt.ts";
import { nonceKey, signingKey } from "../tokens/keys.ts";
import type { EarClaimsSet } from "./ear.ts";
import { ASSURANCE_OF, sessionEvidence } from "./evidence.ts";
import { mintNonce, nonceExpiry, type LiveNonce } from "./nonces.ts";
import type { SessionEvidence } from "./schemas.ts";
import { tpmSelection, type ProofRequest } from "./tpm.ts";

const NONCE_TTL_SECONDS = 300;
export const SESSION_TTL_SECONDS = 900;

export interface IssuedNonce {
  nonce: string;
  expires_at: string;
  attestation?: { tpm: { pcr_bank: string; pcrs: number[] } };
}

/**
 * A single-use nonce for opening a session: minted, not stored (worker/attestation/nonces.ts).
 * Every device id gets one alike, registered, disabled or unknown (and with the TPM hint an
 * ungrouped device of that id would get), so this unauthenticated step cannot tell which
 * device ids exist or what state they are in; the session step refuses what it must.
 */
export async function issueNonce(ctx: ServiceContext, deviceId: string): Promise<IssuedNonce> {
  const { deps, env } = ctx;
  const now = deps.now();
  const expiresAt = now + NONCE_TTL_SECONDS * 1000;
  const nonce = await mintNonce(await nonceKey(env.SIGNING_KEY), { tenant: env.TENANT, device: deviceId }, expiresAt, deps.randomBytes);
  const store = deps.deviceStore(env, env.TENANT, deviceId);
  let tpm = null;
  try {
    const device = await store.device();
    tpm = await tpmSelection(ctx, { tenant: env.TENANT, id: deviceId, groups: device?.groups ?? [] }, now);
  } catch (error) {
    // A hint only: the nonce stands without it, and the session step checks the selection itself.
    console.warn(JSON.stringify({ event: "nonce.hint_failed", error: String(error) }));
  }
  return { nonce, expires_at: new Date(expiresAt).toISOString(), ...(tpm ? { attestation: { tpm } } : {}) };
}

export interface OpenedSession {
  session_token: string;
  token_type: "DPoP";
  expires_in: number;
  assurance: Assurance;
  /** The EAR claims-set of the verified evidence (also the token's `att` claim). */
  attestation?: EarClaimsSet;
}

/**
 * Opens a session with a DPoP proof by the registered key over the nonce. Evidence is verified
 * only while the nonce is live (minted for this device, unexpired, unspent), and before it is
 * spent; refused evidence spends the nonce and is logged once. The first valid proof spends the
 * nonce, so it opens one session only.
 */
export async function openSession(
  ctx: ServiceContext,
  request: ProofRequest,
  body: { device_id: string; nonce: string; evidence?: SessionEvidence | undefined },
): Promise<OpenedSession> {
  const { deps, env } = ctx;
  const { device_id, nonce, evidence } = body;
  const now = deps.now();
  const store = deps.deviceStore(env, env.TENANT, device_id);
  const device = await store.device();
  if (!device) throw new WardenError("not_found", "no such device");
  const { proof } = await verifyDpopProof(request.dpop, { method: request.method, url: request.url, now, jkt: device.jkt, nonce });
  const nonceExpiresAt = await nonceExpiry(await nonceKey(env.SIGNING_KEY), { tenant: env.TENANT, device: device_id }, nonce, now);
  if (nonceExpiresAt === null) throw new StateError("nonce_invalid", "the nonce is not one Warden issued for this device, or it expired");
  const issued: LiveNonce = { value: nonce, expiresAt: nonceExpiresAt };
  // Evidence costs archive reads, vendor fetches and CPU: a nonce already used or burnt gets none of it.
  if (evidence && (await store.nonceSpent(nonce))) throw new StateError("nonce_invalid", "the nonce was used");
  const attested = evidence ? await sessionEvidence(ctx, store, device, issued, evidence, now) : null;
  const assurance: Assurance = evidence && attested ? ASSURANCE_OF[evidence.type] : device.assurance;
  const sessionId = deps.newId();
  const opened = await store.openSession({
    nonce: issued,
    proof,
    now,
    session: {
      id: sessionId,
      expiresAt: now + SESSION_TTL_SECONDS * 1000,
      data: { session_id: sessionId, assurance, expires_in: SESSION_TTL_SECONDS, ...(attested ? { attestation: attested } : {}) },
    },
  });
  if (!opened.ok) throw new StateError(opened.code, "the session cannot be opened");
  const { token } = await signWardenJwt(
    await signingKey(env.SIGNING_KEY),
    "warden-session+jwt",
    {
      sub: device.id,
      tnt: device.tenant,
      jti: sessionId,
      cnf: { jkt: device.jkt },
      os: device.os,
      ...(device.shell ? { sh: device.shell } : {}),
      grp: device.groups,
      assurance,
      ...(attested ? { att: attested } : {}),
    },
    { now, ttlSeconds: SESSION_TTL_SECONDS },
  );
  return { session_token: token, token_type: "DPoP", expires_in: SESSION_TTL_SECONDS, assurance, ...(attested ? { attestation: attested } : {}) };
}
