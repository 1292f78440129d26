import { base64url } from "jose";

/**
 * Server nonces that cost no storage until they are used. A nonce is 32 bytes, base64url: its
 * expiry (6 bytes, ms since the epoch, big-endian), 10 random bytes, and the first 16 bytes of
 * HMAC-SHA256 over a label, the tenant, the device id and those 16 bytes (worker/tokens/keys.ts
 * `nonceKey`). Handing one out writes nothing, so asking for nonces (which anyone may do for
 * any device id) cannot push out the one a device is about to use; the session that uses a
 * nonce spends it in the device's object until it expires (durable-objects/DeviceLog.ts).
 *
 * 32 bytes because a TPM signs the nonce's bytes as TPM2_Quote's qualifyingData, a TPM2B_DATA
 * no longer than a TPMT_HA of the TPM's largest hash: 34 bytes on a TPM with SHA-256 banks only.
 */

/** Who a nonce is for: a nonce opens a session of this device of this tenant and no other. */
export interface NonceScope {
  tenant: string;
  device: string;
}

/** A nonce this worker minted, checked unexpired: what the device's object spends, until `expiresAt`. */
export interface LiveNonce {
  value: string;
  expiresAt: number;
}

const EXPIRY_BYTES = 6;
const RANDOM_BYTES = 10;
const TAG_BYTES = 16;
export const NONCE_BYTES = EXPIRY_BYTES + RANDOM_BYTES + TAG_BYTES;
const LABEL = "warden session nonce v1";

/** A nonce for `scope` that expires at `expiresAt`, its random part from `randomBytes`. */
export async function mintNonce(key: CryptoKey, scope: NonceScope, expiresAt: number, randomBytes: (length: number) => Uint8Array): Promise<string> {
  const random = randomBytes(RANDOM_BYTES);
  if (random.length !== RANDOM_BYTES) throw new RangeError(`a nonce takes ${RANDOM_BYTES} random bytes`);
  if (!Number.isSafeInteger(expiresAt) || expiresAt < 0 || expiresAt >= 2 ** (8 * EXPIRY_BYTES)) throw new RangeError("a nonce's expiry is a time in ms that fits 6 bytes");
  const nonce = new Uint8Array(NONCE_BYTES);
  new DataView(nonce.buffer).setUint16(0, Math.floor(expiresAt / 2 ** 32));
  new DataView(nonce.buffer).setUint32(2, expiresAt % 2 ** 32);
  nonce.set(random, EXPIRY_BYTES);
  nonce.set(await tag(key, scope, nonce.subarray(0, EXPIRY_BYTES + RANDOM_BYTES)), EXPIRY_BYTES + RANDOM_BYTES);
  return base64url.encode(nonce);
}

/**
 * When `nonce` expires, if it is one this worker minted for `scope` and it has not expired at
 * `now`; otherwise null. Only the canonical encoding is read (no padding, no stray bits in the
 * last character), so a nonce has one spelling, the one the device's object spends.
 */
export async function nonceExpiry(key: CryptoKey, scope: NonceScope, nonce: string, now: number): Promise<number | null> {
  let bytes: Uint8Array;
  try {
    bytes = base64url.decode(nonce);
  } catch {
    return null;
  }
  if (bytes.length !== NONCE_BYTES || base64url.encode(bytes) !== nonce) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const expiresAt = view.getUint16(0) * 2 ** 32 + view.getUint32(2);
  const expected = await tag(key, scope, bytes.subarray(0, EXPIRY_BYTES + RANDOM_BYTES));
  if (!crypto.subtle.timingSafeEqual(expected, bytes.subarray(EXPIRY_BYTES + RANDOM_BYTES))) return null;
  return expiresAt > now ? expiresAt : null;
}

async function tag(key: CryptoKey, scope: NonceScope, body: Uint8Array): Promise<Uint8Array> {
  // Length-prefixed, so no tenant and device id pair can be read as another.
  const encoder = new TextEncoder();
  const parts = [LABEL, scope.tenant, scope.device].map((part) => encoder.encode(part));
  const message = new Uint8Array(parts.reduce((size, part) => size + 4 + part.length, 0) + body.length);
  let at = 0;
  for (const part of parts) {
    new DataView(message.buffer).setUint32(at, part.length);
    message.set(part, at + 4);
    at += 4 + part.length;
  }
  message.set(body, at);
  return new Uint8Array(await crypto.subtle.sign("HMAC", key, message)).subarray(0, TAG_BYTES);
}
