import { base64url, calculateJwkThumbprint, importJWK, type JWK } from "jose";
import { ConfigurationError } from "../errors.ts";
import { parseStrictJson } from "../json/strict.ts";

/** The worker's token-signing key, with the public half as published in the JWKS. */
export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: JWK;
}

let cached: { source: string; key: Promise<SigningKey> } | undefined;

/**
 * Imports `SIGNING_KEY` (an Ed25519 private JWK) once per isolate and value.
 * The `kid` is the key's RFC 7638 thumbprint, so it changes whenever the key does.
 */
export function signingKey(source: string | undefined): Promise<SigningKey> {
  if (!source) return Promise.reject(new ConfigurationError("configuration_error", "SIGNING_KEY is not set"));
  if (cached?.source !== source) cached = { source, key: importSigningKey(source) };
  return cached.key;
}

async function importSigningKey(source: string): Promise<SigningKey> {
  let jwk: JWK;
  try {
    jwk = parseStrictJson(source) as JWK;
  } catch (cause) {
    throw new ConfigurationError("configuration_error", "SIGNING_KEY is not strict JSON", { cause });
  }
  if (jwk.kty !== "OKP" || jwk.crv !== "Ed25519" || typeof jwk.d !== "string" || typeof jwk.x !== "string") {
    throw new ConfigurationError("configuration_error", "SIGNING_KEY must be an Ed25519 private JWK");
  }
  const publicJwk: JWK = { kty: "OKP", crv: "Ed25519", x: jwk.x };
  const kid = await calculateJwkThumbprint(publicJwk);
  const privateKey = (await importJWK({ ...publicJwk, d: jwk.d }, "EdDSA")) as CryptoKey;
  const publicKey = (await importJWK(publicJwk, "EdDSA")) as CryptoKey;
  return { kid, privateKey, publicKey, publicJwk: { ...publicJwk, kid, alg: "EdDSA", use: "sig" } };
}

let nonceKeyCache: { source: string; key: Promise<CryptoKey> } | undefined;

/**
 * The HMAC key of server nonces (worker/attestation/nonces.ts), derived from `SIGNING_KEY`'s
 * private scalar with HKDF-SHA256 under its own label: a secret no one outside the worker holds
 * (unlike `LOG_HMAC_KEY`, which auditors get), and one fewer secret to deploy. It changes when
 * the signing key does; nonces live five minutes.
 */
export function nonceKey(source: string | undefined): Promise<CryptoKey> {
  if (!source) return Promise.reject(new ConfigurationError("configuration_error", "SIGNING_KEY is not set"));
  if (nonceKeyCache?.source !== source) nonceKeyCache = { source, key: deriveNonceKey(source) };
  return nonceKeyCache.key;
}

async function deriveNonceKey(source: string): Promise<CryptoKey> {
  const { d } = parseStrictJson(source) as JWK;
  if (typeof d !== "string") throw new ConfigurationError("configuration_error", "SIGNING_KEY must be an Ed25519 private JWK");
  const secret = await crypto.subtle.importKey("raw", base64url.decode(d), "HKDF", false, ["deriveKey"]);
  return crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: new TextEncoder().encode("warden session nonce v1") },
    secret,
    { name: "HMAC", hash: "SHA-256", length: 256 },
    false,
    ["sign"],
  );
}
