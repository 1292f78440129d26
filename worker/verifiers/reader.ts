import { MalformedEvidenceError } from "./errors.ts";

/**
 * The one bounded byte reader every binary parser goes through (SEV-SNP
 * reports, TDX quotes, TPM structures, DER). Every read is bounds-checked
 * before it happens, returns a zero-copy `subarray` of the snapshot it was
 * given, and fails with a typed {@link MalformedEvidenceError}; nothing is
 * ever read past `data.length`, and nothing is silently truncated.
 *
 * Callers snapshot untrusted input once (copy it if the caller could still
 * mutate it) and never write into the views this reader hands out.
 */
export class ByteReader {
  /** The bytes being read. */
  readonly data: Uint8Array;
  /** Offset of the next unread byte. */
  pos: number;
  /** Names the structure in error messages ("SEV-SNP report", "TDX quote"). */
  readonly what: string;
  /** Offset of `data[0]` in the enclosing structure, for error messages only. */
  readonly base: number;

  constructor(data: Uint8Array, what = "evidence", base = 0) {
    this.data = data;
    this.pos = 0;
    this.what = what;
    this.base = base;
  }

  /** Bytes not yet read. */
  get remaining(): number {
    return this.data.length - this.pos;
  }

  private need(n: number, field: string): void {
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new MalformedEvidenceError("malformed_evidence", `${this.what}: invalid length ${n} for ${field}`);
    }
    if (n > this.remaining) {
      throw new MalformedEvidenceError(
        "evidence_truncated",
        `${this.what}: ${field} needs ${n} bytes at offset 0x${(this.base + this.pos).toString(16)}, ${this.remaining} left`,
      );
    }
  }

  /** The next `n` bytes, as a view into `data`. */
  bytes(n: number, field = "field"): Uint8Array {
    this.need(n, field);
    const out = this.data.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** A reader over the next `n` bytes; this reader moves past them. */
  sub(n: number, field = "field"): ByteReader {
    const start = this.pos;
    return new ByteReader(this.bytes(n, field), `${this.what}/${field}`, this.base + start);
  }

  /** Moves back to an earlier offset (for a second, differently typed look at a range already bounds-checked). */
  seek(pos: number): void {
    if (!Number.isSafeInteger(pos) || pos < 0 || pos > this.data.length) {
      throw new MalformedEvidenceError("malformed_evidence", `${this.what}: seek to ${pos} outside 0..${this.data.length}`);
    }
    this.pos = pos;
  }

  u8(field = "u8"): number {
    this.need(1, field);
    return this.data[this.pos++] as number;
  }

  u16le(field = "u16"): number {
    const b = this.bytes(2, field);
    return (b[0] as number) | ((b[1] as number) << 8);
  }

  u32le(field = "u32"): number {
    const b = this.bytes(4, field);
    return ((b[0] as number) | ((b[1] as number) << 8) | ((b[2] as number) << 16) | ((b[3] as number) << 24)) >>> 0;
  }

  u64le(field = "u64"): bigint {
    const lo = BigInt(this.u32le(field));
    const hi = BigInt(this.u32le(field));
    return (hi << 32n) | lo;
  }

  u16be(field = "u16"): number {
    const b = this.bytes(2, field);
    return ((b[0] as number) << 8) | (b[1] as number);
  }

  u32be(field = "u32"): number {
    const b = this.bytes(4, field);
    return (((b[0] as number) << 24) | ((b[1] as number) << 16) | ((b[2] as number) << 8) | (b[3] as number)) >>> 0;
  }

  u64be(field = "u64"): bigint {
    const hi = BigInt(this.u32be(field));
    const lo = BigInt(this.u32be(field));
    return (hi << 32n) | lo;
  }

  /** Consumes `n` bytes that the specification says must be zero (reserved / MBZ). */
  expectZero(n: number, field = "reserved"): void {
    const start = this.base + this.pos;
    const b = this.bytes(n, field);
    for (let i = 0; i < b.length; i++) {
      if (b[i] !== 0) {
        throw new MalformedEvidenceError(
          "reserved_nonzero",
          `${this.what}: ${field} at 0x${start.toString(16)}..0x${(start + n).toString(16)} must be zero (byte 0x${(start + i).toString(16)} is 0x${(b[i] as number).toString(16)})`,
        );
      }
    }
  }

  /** Asserts that every byte has been read: a structure with trailing data is malformed. */
  end(): void {
    if (this.remaining !== 0) {
      throw new MalformedEvidenceError(
        "evidence_trailing_data",
        `${this.what}: ${this.remaining} trailing bytes after offset 0x${(this.base + this.pos).toString(16)}`,
      );
    }
  }
}

/** Lower-case hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += (bytes[i] as number).toString(16).padStart(2, "0");
  return s;
}

const HEX_VALUE = (() => {
  const t = new Int8Array(128).fill(-1);
  for (let i = 0; i < 10; i++) t[0x30 + i] = i;
  for (let i = 0; i < 6; i++) t[0x41 + i] = t[0x61 + i] = 10 + i;
  return t;
})();

/** Bytes of a hex string (either case, even length, nothing else); throws `malformed_evidence` otherwise. */
export function fromHex(hex: string, what = "hex"): Uint8Array {
  if (hex.length % 2 !== 0) throw new MalformedEvidenceError("malformed_evidence", `${what}: not an even-length hex string`);
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) {
    const hi = HEX_VALUE[hex.charCodeAt(2 * i)] ?? -1;
    const lo = HEX_VALUE[hex.charCodeAt(2 * i + 1)] ?? -1;
    if (hi < 0 || lo < 0) throw new MalformedEvidenceError("malformed_evidence", `${what}: not an even-length hex string`);
    out[i] = (hi << 4) | lo;
  }
  return out;
}

/** True when every byte is zero. */
export function isAllZero(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}

/**
 * Equality of two public byte strings (measurements, names, keys, digests).
 * Not for secrets: it returns at the first difference.
 */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** `parts` concatenated into one new array. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** One capped copy of untrusted input: later mutation by the caller cannot change what was verified. */
export function snapshotBytes(bytes: Uint8Array, cap: number, what: string): Uint8Array {
  if (!(bytes instanceof Uint8Array)) throw new MalformedEvidenceError("malformed_evidence", `${what}: not bytes`);
  if (bytes.length > cap) throw new MalformedEvidenceError("malformed_evidence", `${what}: ${bytes.length} bytes, at most ${cap}`);
  return bytes.slice();
}
