import { base64url } from "jose";
import { z } from "zod";
import { ConfigurationError } from "../errors.ts";
import { parseStrictJson } from "../json/strict.ts";

/**
 * The tenant's privacy keys, from the `VAULT_KEYS` secret: a JWK Set of symmetric (`oct`) keys
 * of at least 32 random bytes, each with a `kid`. The first key is the one values are hashed and
 * encrypted under now; the others are kept so values stored under them can still be read
 * (rotation: put a new key first, keep the old ones until nothing under them is retained).
 *
 * Keys are never used as they are: HKDF-SHA-256 derives, per tenant and per purpose, an AES-GCM
 * key for the vault, an HMAC key for hashing logged values and an HMAC key for review holds'
 * action hashes (worker/review/record.ts `actionHash`), so one secret serving two tenants, or
 * several purposes, never puts the same key to two uses.
 */

const OctKeySchema = z.object({
  kty: z.literal("oct"),
  kid: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/),
  k: z.string().regex(/^[A-Za-z0-9_-]{43,}$/, "at least 32 bytes, base64url"),
});
const KeySetSchema = z.object({ keys: z.array(OctKeySchema).min(1).max(16) });

export type PrivacyPurpose = "vault" | "hash" | "action";

/** The derived keys of one secret key. */
export interface PrivacyKey {
  kid: string;
  vault: CryptoKey;
  hash: CryptoKey;
  /** HMAC-SHA-256 key of a held action's identity (`action_hash`): what joins an identical action to its pending hold. */
  action: CryptoKey;
}

export interface PrivacyKeys {
  /** The key new values are hashed and encrypted under. */
  current: PrivacyKey;
  /** Every key, by kid, for reading. */
  byKid: ReadonlyMap<string, PrivacyKey>;
}

const SALT = new TextEncoder().encode("warden.privacy.v1");

async function derive(secret: Uint8Array, tenant: string, kid: string): Promise<PrivacyKey> {
  const material = await crypto.subtle.importKey("raw", secret, "HKDF", false, ["deriveKey"]);
  const info = (purpose: PrivacyPurpose) => new TextEncoder().encode(`${purpose}\n${tenant}`);
  const hmac = (purpose: PrivacyPurpose) =>
    crypto.subtle.deriveKey({ name: "HKDF", hash: "SHA-256", salt: SALT, info: info(purpose) }, material, { name: "HMAC", hash: "SHA-256", length: 256 }, false, ["sign"]);
  const [vault, hash, action] = await Promise.all([
    crypto.subtle.deriveKey({ name: "HKDF", hash: "SHA-256", salt: SALT, info: info("vault") }, material, { name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]),
    hmac("hash"),
    hmac("action"),
  ]);
  return { kid, vault, hash, action };
}

/** Keys by (secret text, tenant): derived once per isolate. */
let cached: { source: string; tenant: string; keys: Promise<PrivacyKeys> } | undefined;

/**
 * The tenant's keys from `VAULT_KEYS`. Unset or malformed is `configuration_error`: a bundle that
 * hashes or tokenises cannot log its decisions without them (they deny, `log_append_failed`).
 */
export function privacyKeys(source: string | undefined, tenant: string): Promise<PrivacyKeys> {
  if (!source) return Promise.reject(new ConfigurationError("configuration_error", "VAULT_KEYS is not set"));
  if (cached && cached.source === source && cached.tenant === tenant) return cached.keys;
  const keys = (async () => {
    let set: z.infer<typeof KeySetSchema>;
    try {
      set = KeySetSchema.parse(parseStrictJson(source));
    } catch (cause) {
      throw new ConfigurationError("configuration_error", "VAULT_KEYS is not a JWK Set of oct keys with kids", { cause });
    }
    if (new Set(set.keys.map((key) => key.kid)).size !== set.keys.length) throw new ConfigurationError("configuration_error", "VAULT_KEYS names a kid twice");
    const derived = await Promise.all(set.keys.map((key) => derive(base64url.decode(key.k), tenant, key.kid)));
    return { current: derived[0] as PrivacyKey, byKid: new Map(derived.map((key) => [key.kid, key])) };
  })();
  cached = { source, tenant, keys };
  // A failure is not remembered: the next request reads the secret again.
  keys.catch(() => {
    if (cached?.keys === keys) cached = undefined;
  });
  return keys;
}
