import { base64url } from "jose";
import type { ServiceContext } from "../context.ts";
import type { Assurance } from "../domain.ts";
import { StateError, WardenError } from "../errors.ts";
import { verifyDpopProof } from "../tokens/dpop.ts";
import { signWardenJwt } from "../tokens/jwt.ts";
import { signingKey } from "../tokens/keys.ts";
import type { EarClaimsSet } from "./ear.ts";
import { ASSURANCE_OF, sessionEvidence } from "./evidence.ts";
import type { SessionEvidence } from "./schemas.ts";
import { tpmSelection, type ProofRequest } from "./tpm.ts";

/** 256 bits: well past the 128 a nonce needs to be unguessable. */
const NONCE_BYTES = 32;
const NONCE_TTL_SECONDS = 300;
export const SESSION_TTL_SECONDS = 900;

export interface IssuedNonce {
  nonce: string;
  expires_at: string;
  attestation?: { tpm: { pcr_bank: string; pcrs: number[] } };
}

/**
 * A single-use nonce for opening a session. An unknown device gets a nonce that was never
 * stored, shaped like any other (and with the TPM hint an ungrouped device of that id would
 * get), so this unauthenticated step cannot tell which device ids exist; the session step
 * refuses it.
 */
export async function issueNonce(ctx: ServiceContext, deviceId: string): Promise<IssuedNonce> {
  const { deps, env } = ctx;
  const now = deps.now();
  const nonce = base64url.encode(deps.randomBytes(NONCE_BYTES));
  const expiresAt = now + NONCE_TTL_SECONDS * 1000;
  const store = deps.deviceStore(env, env.TENANT, deviceId);
  const outcome = await store.issueNonce(nonce, expiresAt, now);
  if (!outcome.ok && outcome.code !== "not_found") throw new StateError(outcome.code, "no nonce for this device");
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
 * only while the nonce is live, and before it is consumed; refused evidence burns the nonce and is
 * logged once. The first valid proof consumes the nonce, so it opens one session only.
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
  // Evidence costs archive reads, vendor fetches and CPU: a nonce already used, burnt or expired gets none of it.
  if (evidence && !(await store.nonceLive(nonce, now))) throw new StateError("nonce_invalid", "the nonce is unknown, used or expired");
  const attested = evidence ? await sessionEvidence(ctx, store, device, nonce, evidence, now) : null;
  const assurance: Assurance = evidence && attested ? ASSURANCE_OF[evidence.type] : device.assurance;
  const sessionId = deps.newId();
  const opened = await store.openSession({
    nonce,
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
