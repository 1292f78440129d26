import { base64url, calculateJwkThumbprint, importJWK, type JWK } from "jose";
import { VerificationError } from "../errors.ts";
import { utf8Bytes } from "../encoding.ts";
import type { SingleUse } from "../domain.ts";
import { JwsShapeError, strictJwsParts } from "./jws.ts";

/** Device key algorithms Warden accepts, for registration and DPoP alike. */
export const DEVICE_KEY_ALGORITHMS = ["EdDSA", "ES256"] as const;
export type DeviceKeyAlgorithm = (typeof DEVICE_KEY_ALGORITHMS)[number];

/** How far a proof's `iat` may lie in the past, and ahead of our clock (RFC 9449 §11.1). */
const PROOF_MAX_AGE_SECONDS = 60;
const PROOF_MAX_SKEW_SECONDS = 5;
const MAX_JTI_LENGTH = 128;
/** A proof is a compact JWS with one small public key in its header; anything longer is not one (and is not parsed). */
const MAX_DPOP_PROOF_LENGTH = 4096;

/** The public part of a device key, reduced to the members its thumbprint covers. */
export function devicePublicJwk(jwk: JWK): { jwk: JWK; alg: DeviceKeyAlgorithm } {
  if ("d" in jwk || "p" in jwk || "k" in jwk) throw new VerificationError("invalid_dpop_proof", "a private or symmetric key was sent");
  if (jwk.kty === "OKP" && jwk.crv === "Ed25519" && typeof jwk.x === "string") {
    return { jwk: { kty: "OKP", crv: "Ed25519", x: jwk.x }, alg: "EdDSA" };
  }
  if (jwk.kty === "EC" && jwk.crv === "P-256" && typeof jwk.x === "string" && typeof jwk.y === "string") {
    return { jwk: { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y }, alg: "ES256" };
  }
  throw new VerificationError("invalid_dpop_proof", "device keys must be Ed25519 or P-256");
}

/**
 * Device keys by their public members: a device signs every request with the same key, so its
 * thumbprint is computed and the key imported once per isolate, not per proof.
 */
const deviceKeys = new Map<string, Promise<{ jkt: string; key: CryptoKey }>>();
const MAX_DEVICE_KEYS = 1024;

function deviceKey(jwk: JWK, alg: DeviceKeyAlgorithm): Promise<{ jkt: string; key: CryptoKey }> {
  const id = `${alg} ${jwk.x} ${jwk.y ?? ""}`;
  let entry = deviceKeys.get(id);
  if (!entry) {
    if (deviceKeys.size >= MAX_DEVICE_KEYS) deviceKeys.clear();
    entry = Promise.all([calculateJwkThumbprint(jwk), importJWK(jwk, alg) as Promise<CryptoKey>]).then(([jkt, key]) => ({ jkt, key }));
    deviceKeys.set(id, entry);
    entry.catch(() => deviceKeys.delete(id));
  }
  return entry;
}

export interface DpopExpectations {
  method: string;
  /** The request URL; compared to `htu` without query and fragment (RFC 9449 §4.3 item 9). */
  url: string;
  now: number;
  /** Thumbprint the proof's key must have (the token's `cnf.jkt`). */
  jkt: string;
  /** Access token the proof must be bound to through `ath`. */
  accessToken?: string;
  /** Server nonce the proof must carry in `nonce`. */
  nonce?: string;
}

/** A verified proof: its key thumbprint and the single-use value to spend. */
export interface VerifiedProof {
  jkt: string;
  proof: SingleUse;
}

/** WebCrypto parameters of each device key algorithm's JWS signature (RFC 7518 §3.4: ES256 is r‖s, as WebCrypto takes it). */
const VERIFY_PARAMS: Record<DeviceKeyAlgorithm, Parameters<SubtleCrypto["verify"]>[0]> = { EdDSA: { name: "Ed25519" }, ES256: { name: "ECDSA", hash: "SHA-256" } };
/** A 64-byte signature (Ed25519, and P-256 as r‖s) in base64url without padding. */
const SIGNATURE = /^[A-Za-z0-9_-]{86}$/;

/**
 * `ath` of each access token seen (RFC 9449 §4.2: base64url SHA-256 of the token): a session
 * token is presented with every proof for its lifetime, so it is hashed once per isolate.
 */
const athOf = new Map<string, Promise<string>>();
const MAX_ATH = 4096;

function accessTokenHash(token: string): Promise<string> {
  let hash = athOf.get(token);
  if (!hash) {
    if (athOf.size >= MAX_ATH) athOf.clear();
    hash = crypto.subtle.digest("SHA-256", utf8Bytes(token)).then((digest) => base64url.encode(new Uint8Array(digest)));
    athOf.set(token, hash);
  }
  return hash;
}

/**
 * Verifies a DPoP proof (RFC 9449 §4.3) except for `jti` replay, which the caller
 * settles by spending `proof` in the device's Durable Object.
 *
 * The JWS is verified here with WebCrypto directly rather than through jose's `jwtVerify`:
 * the header and payload are already read strictly (they must be, before anything trusts
 * them), the key is imported once per device, and jose would decode and parse both parts again
 * and re-check the key on every request — more than the one signature verification a proof
 * needs, on every decision. What jose would check beyond that is checked below: no `crit`
 * (RFC 7515 §4.1.11: no extension is understood here), `exp` and `nbf` when present.
 */
export async function verifyDpopProof(proof: string | undefined, expect: DpopExpectations): Promise<VerifiedProof> {
  if (!proof) throw new VerificationError("invalid_dpop_proof", "the DPoP header is missing");
  if (proof.length > MAX_DPOP_PROOF_LENGTH) throw new VerificationError("invalid_dpop_proof", `the DPoP header is longer than ${MAX_DPOP_PROOF_LENGTH} characters`);
  let header;
  let payload;
  try {
    // Header and payload strictly parsed before anything reads them: two `htu`s or two `jwk`s are refused, not resolved.
    ({ header, payload } = strictJwsParts(proof));
  } catch (cause) {
    if (!(cause instanceof JwsShapeError)) throw cause;
    throw new VerificationError("invalid_dpop_proof", `the DPoP proof is not a strict JWS (${cause.code})`, { cause });
  }
  if (header.typ !== "dpop+jwt") throw new VerificationError("invalid_dpop_proof", "typ must be dpop+jwt");
  if (!DEVICE_KEY_ALGORITHMS.includes(header.alg as DeviceKeyAlgorithm)) {
    throw new VerificationError("invalid_dpop_proof", "alg is not allowed");
  }
  if (header.crit !== undefined) throw new VerificationError("invalid_dpop_proof", "crit names extensions this verifier does not understand");
  if (!header.jwk || typeof header.jwk !== "object") throw new VerificationError("invalid_dpop_proof", "jwk header is missing");
  const { jwk, alg } = devicePublicJwk(header.jwk as JWK);
  if (alg !== header.alg) throw new VerificationError("invalid_dpop_proof", "alg does not match the key");
  let imported;
  try {
    imported = await deviceKey(jwk, alg);
  } catch (cause) {
    throw new VerificationError("invalid_dpop_proof", "the jwk header is not a usable key", { cause });
  }
  const { jkt, key } = imported;
  // Compared before the signature is checked: a proof by any other key is refused without work.
  if (jkt !== expect.jkt) throw new VerificationError("invalid_dpop_proof", "the proof is signed by another key");

  const signatureAt = proof.lastIndexOf(".");
  const signature = proof.slice(signatureAt + 1);
  if (!SIGNATURE.test(signature)) throw new VerificationError("invalid_dpop_proof", "the signature is not 64 bytes of base64url");
  let valid = false;
  try {
    valid = await crypto.subtle.verify(VERIFY_PARAMS[alg], key, base64url.decode(signature), utf8Bytes(proof.slice(0, signatureAt)));
  } catch (cause) {
    throw new VerificationError("invalid_dpop_proof", "the DPoP proof does not verify: the signature cannot be checked", { cause });
  }
  if (!valid) throw new VerificationError("invalid_dpop_proof", "the DPoP proof does not verify: signature");

  const { jti, htm, htu, iat, ath, nonce, exp, nbf } = payload;
  const nowSeconds = Math.floor(expect.now / 1000);
  if (exp !== undefined && (typeof exp !== "number" || exp <= nowSeconds)) throw new VerificationError("invalid_dpop_proof", "exp has passed");
  if (nbf !== undefined && (typeof nbf !== "number" || nbf > nowSeconds)) throw new VerificationError("invalid_dpop_proof", "nbf is in the future");
  if (typeof jti !== "string" || jti.length === 0 || jti.length > MAX_JTI_LENGTH) throw new VerificationError("invalid_dpop_proof", "jti is missing or too long");
  if (htm !== expect.method) throw new VerificationError("invalid_dpop_proof", "htm does not match the request method");
  if (typeof htu !== "string" || !sameTarget(htu, expect.url)) throw new VerificationError("invalid_dpop_proof", "htu does not match the request URL");
  if (typeof iat !== "number" || !Number.isInteger(iat)) throw new VerificationError("invalid_dpop_proof", "iat is missing");
  if (iat < nowSeconds - PROOF_MAX_AGE_SECONDS || iat > nowSeconds + PROOF_MAX_SKEW_SECONDS) {
    throw new VerificationError("invalid_dpop_proof", "iat is outside the acceptance window");
  }
  if (expect.accessToken !== undefined && ath !== (await accessTokenHash(expect.accessToken))) throw new VerificationError("invalid_dpop_proof", "ath does not match the access token");
  if (expect.nonce !== undefined && nonce !== expect.nonce) throw new VerificationError("invalid_dpop_proof", "nonce does not match");

  // Kept until it can no longer pass the iat window, so a replay inside the window is always caught.
  return { jkt, proof: { jti, expiresAt: (iat + PROOF_MAX_AGE_SECONDS + PROOF_MAX_SKEW_SECONDS + 1) * 1000 } };
}

function sameTarget(htu: string, requestUrl: string): boolean {
  try {
    const claimed = new URL(htu);
    const actual = new URL(requestUrl);
    return claimed.protocol === actual.protocol && claimed.host === actual.host && claimed.pathname === actual.pathname;
  } catch {
    return false;
  }
}
