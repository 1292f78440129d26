import { createHash } from "node:crypto";
import { WardenError } from "./errors.ts";

/**
 * Byte encodings used at Warden's edges, in one place. Decoders are strict: text that is not
 * exactly an encoding of some bytes is refused, never repaired.
 */

const utf8 = new TextEncoder();

/** A string's UTF-8, from one encoder per isolate: what the decision path signs and verifies, on every request. */
export function utf8Bytes(text: string): Uint8Array {
  return utf8.encode(text);
}

/** Lower-case hex SHA-256 of bytes or of a string's UTF-8. Synchronous, so it also runs inside a storage transaction. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Bytes of lower- or upper-case hex; throws a TypeError when `hex` is not an even run of hex digits. */
export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw new WardenError("internal_error", "not hex");
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Bytes of standard, padded base64; null when `text` is not that. */
export function fromBase64(text: string): Uint8Array | null {
  if (!BASE64.test(text)) return null;
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

export function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i] as number);
  return btoa(binary);
}
