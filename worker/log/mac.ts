import { createHash, createHmac } from "node:crypto";

/**
 * Chained HMAC over a device log: `mac(n) = HMAC-SHA256(K, mac(n-1) || hash(n))`
 * with `mac(0)` = 32 zero bytes, hex encoded, beside each entry as `mac`
 * (with `mac_key`, the key's id). The key is a secret (`LOG_HMAC_KEY`,
 * base64url of at least 32 random bytes) shared with whoever verifies.
 * Synchronous (node:crypto) because it is computed inside the append
 * transaction, right after the entry hash.
 */

export const GENESIS_MAC = "0".repeat(64);
const MIN_KEY_BYTES = 32;

export interface MacKey {
  /** First 16 hex digits of SHA-256("warden-log-hmac-key\n" || key): names the key, reveals nothing of it. */
  id: string;
  key: Uint8Array;
}

export class MacKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

const parsed = new Map<string, MacKey>();

/** Parses a base64url HMAC key (the `LOG_HMAC_KEY` secret, or an auditor's key file). */
export function parseMacKey(source: string): MacKey {
  const trimmed = source.trim();
  const cached = parsed.get(trimmed);
  if (cached) return cached;
  if (!/^[A-Za-z0-9_-]+={0,2}$/.test(trimmed)) throw new MacKeyError("an HMAC key is base64url");
  const key = new Uint8Array(Buffer.from(trimmed.replace(/=+$/, ""), "base64url"));
  if (key.length < MIN_KEY_BYTES) throw new MacKeyError(`an HMAC key has at least ${MIN_KEY_BYTES} bytes`);
  const id = createHash("sha256").update("warden-log-hmac-key\n").update(key).digest("hex").slice(0, 16);
  const macKey = { id, key };
  parsed.set(trimmed, macKey);
  return macKey;
}

/** The MAC of the entry whose hash is `hash`, chained to the previous entry's `prevMac`. */
export function entryMac(key: MacKey, prevMac: string, hash: string): string {
  // One update of 64 bytes: the two 32-byte values, decoded from hex together.
  return createHmac("sha256", key.key).update(Buffer.from(prevMac + hash, "hex")).digest("hex");
}
