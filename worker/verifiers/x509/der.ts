import { MalformedEvidenceError } from "../errors.ts";
import { ByteReader } from "../reader.ts";

/** Universal and context tags (the whole identifier octet) this parser meets. */
export const Tag = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  ENUMERATED: 0x0a,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** Context-specific, constructed `[n]` (EXPLICIT tagging). */
export function contextTag(n: number): number {
  return 0xa0 | n;
}

/** One DER TLV: its identifier octet, its contents, and the whole encoding. */
export interface DerNode {
  readonly tag: number;
  /** The contents octets (a view). */
  readonly value: Uint8Array;
  /** Identifier, length and contents (a view): what a signature covers. */
  readonly raw: Uint8Array;
}

function malformed(what: string, message: string): never {
  throw new MalformedEvidenceError("malformed_evidence", `${what}: ${message}`);
}

/**
 * Reads one DER element. Strict X.690 DER: low-tag-number form only, definite
 * lengths in their shortest form, never longer than what is left.
 */
export function readNode(r: ByteReader): DerNode {
  const start = r.pos;
  const tag = r.u8("DER tag");
  if ((tag & 0x1f) === 0x1f) malformed(r.what, "high-tag-number form is not used in X.509");
  const first = r.u8("DER length");
  let length: number;
  if (first < 0x80) {
    length = first;
  } else {
    const n = first & 0x7f;
    // 0x80 is BER's indefinite length, never DER; four octets cover any object here.
    if (n === 0 || n > 4) malformed(r.what, `unsupported DER length form 0x${first.toString(16)}`);
    length = 0;
    for (let i = 0; i < n; i++) {
      const b = r.u8("DER length");
      if (i === 0 && b === 0) malformed(r.what, "non-minimal DER length");
      length = length * 256 + b;
    }
    if (length < 0x80) malformed(r.what, "non-minimal DER length");
  }
  const value = r.bytes(length, "DER contents");
  return { tag, value, raw: r.data.subarray(start, r.pos) };
}

/** Nesting deeper than any X.509 structure: bounds the recursion of {@link strictDer}. */
const MAX_DEPTH = 24;

/**
 * The strict DER gate: `bytes` is exactly one DER element and so is every
 * element nested inside it, down to the primitive leaves (X.690 §10: definite
 * shortest lengths, primitive encodings of strings, no trailing bytes at any
 * level). It runs before any other ASN.1 decoder sees the bytes, because
 * asn1js (under @peculiar/asn1-x509) accepts BER — non-minimal lengths,
 * indefinite lengths, constructed strings, bytes after the end — and two
 * decoders that disagree about where a field ends are a signature bypass
 * waiting to happen. Returns the root node; every node is a view into `bytes`.
 */
export function strictDer(bytes: Uint8Array, what = "DER"): DerNode {
  const root = parseNode(bytes, what);
  const walk = (node: DerNode, depth: number): void => {
    if ((node.tag & 0x20) === 0) return;
    if (depth > MAX_DEPTH) malformed(what, "DER nesting too deep");
    // Universal constructed tags other than SEQUENCE/SET are BER's segmented strings, never DER (X.690 §10.2).
    if ((node.tag & 0xc0) === 0 && node.tag !== Tag.SEQUENCE && node.tag !== Tag.SET) malformed(what, `constructed encoding of tag 0x${node.tag.toString(16)}`);
    for (const child of childrenOf(node, what)) walk(child, depth + 1);
  };
  walk(root, 0);
  return root;
}

/** Parses `bytes` as exactly one DER element (no trailing bytes). */
export function parseNode(bytes: Uint8Array, what = "DER"): DerNode {
  const r = new ByteReader(bytes, what);
  const node = readNode(r);
  r.end();
  return node;
}

/** Asserts the identifier octet of `node`. */
export function expectTag(node: DerNode, tag: number, what: string): DerNode {
  if (node.tag !== tag) malformed(what, `expected tag 0x${tag.toString(16)}, found 0x${node.tag.toString(16)}`);
  return node;
}

/** The elements inside a constructed node, all of them (so no trailing bytes go unseen). */
export function childrenOf(node: DerNode, what: string): DerNode[] {
  if ((node.tag & 0x20) === 0) malformed(what, "expected a constructed element");
  const r = new ByteReader(node.value, what);
  const out: DerNode[] = [];
  while (r.remaining > 0) out.push(readNode(r));
  return out;
}

/** A cursor over the children of a SEQUENCE, for reading fields in order, with OPTIONAL ones. */
export class DerSequence {
  private readonly items: DerNode[];
  private index = 0;
  readonly what: string;

  constructor(node: DerNode, what: string, tag: number = Tag.SEQUENCE) {
    expectTag(node, tag, what);
    this.items = childrenOf(node, what);
    this.what = what;
  }

  /** The next element, which must carry `tag`. */
  next(tag: number, field: string): DerNode {
    const node = this.items[this.index];
    if (!node) malformed(this.what, `missing ${field}`);
    this.index++;
    return expectTag(node, tag, `${this.what}.${field}`);
  }

  /** The next element if it carries `tag`, else nothing (OPTIONAL / DEFAULT fields). */
  optional(tag: number): DerNode | undefined {
    const node = this.items[this.index];
    if (node && node.tag === tag) {
      this.index++;
      return node;
    }
    return undefined;
  }

  /** Asserts that every element was consumed. */
  end(): void {
    if (this.index !== this.items.length) malformed(this.what, `${this.items.length - this.index} unexpected trailing elements`);
  }
}

/** Contents of a DER INTEGER, checked for minimal encoding. */
export function integerBytes(node: DerNode, what: string): Uint8Array {
  expectTag(node, Tag.INTEGER, what);
  const v = node.value;
  if (v.length === 0) malformed(what, "empty INTEGER");
  if (v.length > 1 && ((v[0] === 0x00 && (v[1] as number) < 0x80) || (v[0] === 0xff && (v[1] as number) >= 0x80))) {
    malformed(what, "non-minimal INTEGER");
  }
  return v;
}

/** A non-negative INTEGER that fits in 31 bits (versions, path lengths, SVNs). */
export function smallUint(node: DerNode, what: string): number {
  const v = integerBytes(node, what);
  if (((v[0] as number) & 0x80) !== 0) malformed(what, "negative INTEGER");
  const digits = v[0] === 0 ? v.subarray(1) : v;
  if (digits.length > 4 || (digits.length === 4 && ((digits[0] as number) & 0x80) !== 0)) malformed(what, "INTEGER too large");
  let n = 0;
  for (const b of digits) n = n * 256 + b;
  return n;
}

/** A DER BOOLEAN (DER allows only 0x00 and 0xFF). */
export function booleanValue(node: DerNode, what: string): boolean {
  expectTag(node, Tag.BOOLEAN, what);
  if (node.value.length !== 1 || (node.value[0] !== 0x00 && node.value[0] !== 0xff)) malformed(what, "invalid DER BOOLEAN");
  return node.value[0] === 0xff;
}

/** Dotted form of a DER OBJECT IDENTIFIER. */
export function oidValue(node: DerNode, what: string): string {
  expectTag(node, Tag.OID, what);
  const v = node.value;
  if (v.length === 0 || ((v[v.length - 1] as number) & 0x80) !== 0) malformed(what, "invalid OBJECT IDENTIFIER");
  const arcs: number[] = [];
  let acc = 0;
  let fresh = true;
  for (const b of v) {
    if (fresh && b === 0x80) malformed(what, "non-minimal OBJECT IDENTIFIER arc");
    acc = acc * 128 + (b & 0x7f);
    if (acc > Number.MAX_SAFE_INTEGER / 128) malformed(what, "OBJECT IDENTIFIER arc too large");
    fresh = (b & 0x80) === 0;
    if (fresh) {
      arcs.push(acc);
      acc = 0;
    }
  }
  const first = arcs[0] as number;
  const head = first < 40 ? [0, first] : first < 80 ? [1, first - 40] : [2, first - 80];
  return [...head, ...arcs.slice(1)].join(".");
}

/** A BIT STRING's bits and the count of unused bits in its last octet. */
export function bitString(node: DerNode, what: string): { bytes: Uint8Array; unusedBits: number } {
  expectTag(node, Tag.BIT_STRING, what);
  const v = node.value;
  if (v.length === 0) malformed(what, "empty BIT STRING");
  const unusedBits = v[0] as number;
  if (unusedBits > 7 || (v.length === 1 && unusedBits !== 0)) malformed(what, "invalid BIT STRING");
  const bytes = v.subarray(1);
  // DER: unused bits are zero.
  if (unusedBits > 0 && (((bytes[bytes.length - 1] as number) & ((1 << unusedBits) - 1)) !== 0)) malformed(what, "non-zero unused bits");
  return { bytes, unusedBits };
}

/** A BIT STRING whose length is a whole number of octets (keys, signatures). */
export function octetAlignedBits(node: DerNode, what: string): Uint8Array {
  const { bytes, unusedBits } = bitString(node, what);
  if (unusedBits !== 0) malformed(what, "BIT STRING is not octet aligned");
  return bytes;
}

/** UTCTime or GeneralizedTime in the RFC 5280 §4.1.2.5 profile (seconds, "Z"). */
export function timeValue(node: DerNode, what: string): Date {
  const v = node.value;
  let year: number;
  let at: number;
  const digit = (i: number): number => {
    const d = (v[i] as number) - 0x30;
    if (!(d >= 0 && d <= 9)) malformed(what, "invalid time");
    return d;
  };
  const two = (i: number) => digit(i) * 10 + digit(i + 1);
  if (node.tag === Tag.UTC_TIME) {
    if (v.length !== 13 || v[12] !== 0x5a) malformed(what, "UTCTime is not YYMMDDHHMMSSZ");
    const yy = two(0);
    year = yy < 50 ? 2000 + yy : 1900 + yy;
    at = 2;
  } else if (node.tag === Tag.GENERALIZED_TIME) {
    if (v.length !== 15 || v[14] !== 0x5a) malformed(what, "GeneralizedTime is not YYYYMMDDHHMMSSZ");
    year = two(0) * 100 + two(2);
    at = 4;
  } else {
    malformed(what, `expected a time, found tag 0x${node.tag.toString(16)}`);
  }
  const month = two(at);
  const day = two(at + 2);
  const hour = two(at + 4);
  const minute = two(at + 6);
  const second = two(at + 8);
  const d = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
  // Date.UTC rolls 31 February over into March; a real time does not.
  if (d.getUTCFullYear() !== year || d.getUTCMonth() !== month - 1 || d.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) {
    malformed(what, "invalid calendar time");
  }
  return d;
}

/** The characters of an IA5String (7-bit ASCII). */
export function ia5String(node: DerNode, what: string): string {
  expectTag(node, Tag.IA5_STRING, what);
  for (const b of node.value) if (b > 0x7f) malformed(what, "non-ASCII IA5String");
  return String.fromCharCode(...node.value);
}

/** Contents of an OCTET STRING. */
export function octetString(node: DerNode, what: string): Uint8Array {
  return expectTag(node, Tag.OCTET_STRING, what).value;
}

/** A definite-length DER header for `length` content octets under `tag` (for re-encoding an SPKI). */
export function derHeader(tag: number, length: number): Uint8Array {
  if (length < 0x80) return Uint8Array.of(tag, length);
  const octets: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) octets.unshift(n & 0xff);
  return Uint8Array.of(tag, 0x80 | octets.length, ...octets);
}
