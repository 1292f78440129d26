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

type SigningJwk = JWK & { kty: "OKP"; crv: "Ed25519"; d: string; x: string };

/** What is made from `SIGNING_KEY`, once per isolate and value of the secret. */
function fromSigningKey<T>(make: (jwk: SigningJwk) => Promise<T>): (source: string | undefined) => Promise<T> {
  let cached: { source: string; made: Promise<T> } | undefined;
  return (source) => {
    if (!source) return Promise.reject(new ConfigurationError("configuration_error", "SIGNING_KEY is not set"));
    if (cached?.source !== source) cached = { source, made: Promise.resolve().then(() => make(signingJwk(source))) };
    return cached.made;
  };
}

function signingJwk(source: string): SigningJwk {
  let jwk: JWK;
  try {
    jwk = parseStrictJson(source) as JWK;
  } catch (cause) {
    throw new ConfigurationError("configuration_error", "SIGNING_KEY is not strict JSON", { cause });
  }
  if (jwk.kty !== "OKP" || jwk.crv !== "Ed25519" || typeof jwk.d !== "string" || typeof jwk.x !== "string") {
    throw new ConfigurationError("configuration_error", "SIGNING_KEY must be an Ed25519 private JWK");
  }
  return jwk as SigningJwk;
}

/**
 * `SIGNING_KEY` (an Ed25519 private JWK) imported. The `kid` is the key's RFC 7638 thumbprint,
 * so it changes whenever the key does.
 */
export const signingKey = fromSigningKey(async (jwk): Promise<SigningKey> => {
  const publicJwk: JWK = { kty: "OKP", crv: "Ed25519", x: jwk.x };
  const kid = await calculateJwkThumbprint(publicJwk);
  const privateKey = (await importJWK({ ...publicJwk, d: jwk.d }, "EdDSA")) as CryptoKey;
  const publicKey = (await importJWK(publicJwk, "EdDSA")) as CryptoKey;
  return { kid, privateKey, publicKey, publicJwk: { ...publicJwk, kid, alg: "EdDSA", use: "sig" } };
});

/**
 * The HMAC key of server nonces (worker/attestation/nonces.ts), derived from `SIGNING_KEY`'s
 * private scalar with HKDF-SHA256 under its own label: a secret no one outside the worker holds
 * (unlike `LOG_HMAC_KEY`, which auditors get), and one fewer secret to deploy. It changes when
 * the signing key does; nonces live five minutes.
 */
export const nonceKey = fromSigningKey(async (jwk): Promise<CryptoKey> => {
  const secret = await crypto.subtle.importKey("raw", base64url.decode(jwk.d), "HKDF", false, ["deriveKey"]);
  return crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: new TextEncoder().encode("warden session nonce v1") },
    secret,
    { name: "HMAC", hash: "SHA-256", length: 256 },
    false,
    ["sign"],
  );
});
