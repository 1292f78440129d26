import { WardenError } from "../../errors.ts";
import { MalformedEvidenceError } from "../errors.ts";
import { ByteReader, concatBytes } from "../reader.ts";
import {
  MAX_DIGEST_BYTES,
  MAX_RSA_BYTES,
  TPMA_OBJECT_RESERVED,
  TPM_ALG,
  TPM_CURVE,
  TPM_HASH,
  TPM_ST,
  algName,
} from "./constants.ts";

/**
 * Parsers of the TPM 2.0 structures Warden verifies (TCG TPM 2.0 Library Part 2):
 * TPMT_PUBLIC, TPMS_ATTEST and TPMT_SIGNATURE. Pure and structural: every read
 * goes through the bounded reader, sizes are checked against the structure's
 * own limits, and nothing may follow the structure. Whether an algorithm is
 * acceptable, or a signature verifies, is the verifiers' business.
 */

function unsupported(what: string, message: string): never {
  throw new MalformedEvidenceError("unsupported_evidence", `${what}: ${message}`);
}

function malformed(what: string, message: string): never {
  throw new MalformedEvidenceError("malformed_evidence", `${what}: ${message}`);
}

/**
 * A TPM2B: a big-endian u16 size, then that many bytes. A size past the end of
 * the input is `evidence_truncated` (the reader's bound); one above the type's
 * own maximum is `malformed_evidence`.
 */
export function readTpm2b(r: ByteReader, field: string, max: number): Uint8Array {
  const size = r.u16be(`${field}.size`);
  const start = r.pos;
  const data = r.bytes(size, field);
  if (size > max) {
    r.seek(start);
    malformed(r.what, `${field}: size ${size} exceeds its maximum ${max}`);
  }
  return data;
}

function readHashAlg(r: ByteReader, field: string, allowNull = false): number {
  const alg = r.u16be(field);
  if (allowNull && alg === TPM_ALG.NULL) return alg;
  if (!TPM_HASH[alg]) unsupported(r.what, `${field}: hash algorithm ${algName(alg)} is not supported`);
  return alg;
}

// ---------------------------------------------------------------------------
// TPMT_PUBLIC (Part 2 §12.2.4)

/** TPMT_SYM_DEF_OBJECT (Part 2 §11.1.7); null when the algorithm is TPM_ALG_NULL. */
export interface SymDefObject {
  readonly algorithm: number;
  readonly keyBits: number;
  readonly mode: number;
}

/** A signing, decryption or key-exchange scheme with its hash, or null for TPM_ALG_NULL. */
export interface Scheme {
  readonly scheme: number;
  /** The scheme's hash; null for schemes without one (RSAES). */
  readonly hashAlg: number | null;
}

interface PublicCommon {
  /** The TPMT_PUBLIC bytes exactly as received: what the Name hashes. */
  readonly raw: Uint8Array;
  readonly nameAlg: number;
  readonly objectAttributes: number;
  readonly authPolicy: Uint8Array;
  readonly symmetric: SymDefObject | null;
  readonly scheme: Scheme | null;
}

export interface RsaPublic extends PublicCommon {
  readonly type: "rsa";
  readonly keyBits: number;
  /** The public exponent; the wire's 0 means the default 2^16 + 1. */
  readonly exponent: number;
  readonly modulus: Uint8Array;
}

export interface EccPublic extends PublicCommon {
  readonly type: "ecc";
  readonly curveId: number;
  readonly kdf: Scheme | null;
  readonly x: Uint8Array;
  readonly y: Uint8Array;
}

/** A parsed TPMT_PUBLIC of an asymmetric key. */
export type TpmPublic = RsaPublic | EccPublic;

function readSymDefObject(r: ByteReader): SymDefObject | null {
  const algorithm = r.u16be("symmetric.algorithm");
  if (algorithm === TPM_ALG.NULL) return null;
  if (algorithm !== TPM_ALG.AES && algorithm !== TPM_ALG.SM4 && algorithm !== TPM_ALG.CAMELLIA) {
    unsupported(r.what, `symmetric algorithm ${algName(algorithm)} is not supported`);
  }
  const keyBits = r.u16be("symmetric.keyBits");
  const mode = r.u16be("symmetric.mode");
  return { algorithm, keyBits, mode };
}

function readRsaScheme(r: ByteReader): Scheme | null {
  const scheme = r.u16be("scheme.scheme");
  switch (scheme) {
    case TPM_ALG.NULL:
      return null;
    case TPM_ALG.RSAES:
      return { scheme, hashAlg: null };
    case TPM_ALG.RSASSA:
    case TPM_ALG.RSAPSS:
    case TPM_ALG.OAEP:
      return { scheme, hashAlg: readHashAlg(r, "scheme.hashAlg") };
    default:
      return unsupported(r.what, `RSA scheme ${algName(scheme)} is not supported`);
  }
}

function readEccScheme(r: ByteReader): Scheme | null {
  const scheme = r.u16be("scheme.scheme");
  switch (scheme) {
    case TPM_ALG.NULL:
      return null;
    case TPM_ALG.ECDSA:
    case TPM_ALG.ECDH:
    case TPM_ALG.SM2:
    case TPM_ALG.ECSCHNORR:
    case TPM_ALG.ECMQV:
      return { scheme, hashAlg: readHashAlg(r, "scheme.hashAlg") };
    case TPM_ALG.ECDAA: {
      // TPMS_SCHEME_ECDAA carries a commit count after the hash (Part 2 §11.2.3.2).
      const hashAlg = readHashAlg(r, "scheme.hashAlg");
      r.u16be("scheme.count");
      return { scheme, hashAlg };
    }
    default:
      return unsupported(r.what, `ECC scheme ${algName(scheme)} is not supported`);
  }
}

function readKdf(r: ByteReader): Scheme | null {
  const scheme = r.u16be("kdf.scheme");
  if (scheme === TPM_ALG.NULL) return null;
  if (scheme !== TPM_ALG.MGF1 && scheme !== TPM_ALG.KDF1_SP800_56A && scheme !== TPM_ALG.KDF2 && scheme !== TPM_ALG.KDF1_SP800_108) {
    unsupported(r.what, `KDF ${algName(scheme)} is not supported`);
  }
  return { scheme, hashAlg: readHashAlg(r, "kdf.hashAlg") };
}

/**
 * Parses a TPMT_PUBLIC of an RSA or ECC key. `unique` must be a complete key
 * (a created object, not a template): the modulus exactly `keyBits / 8` bytes,
 * the point's coordinates exactly the curve's size.
 */
export function parsePublic(bytes: Uint8Array, what = "TPMT_PUBLIC"): TpmPublic {
  const r = new ByteReader(bytes, what);
  const type = r.u16be("type");
  const nameAlg = readHashAlg(r, "nameAlg");
  const objectAttributes = r.u32be("objectAttributes");
  if ((objectAttributes & TPMA_OBJECT_RESERVED) !== 0) {
    throw new MalformedEvidenceError("reserved_nonzero", `${what}: reserved objectAttributes bits set (0x${objectAttributes.toString(16)})`);
  }
  const authPolicy = readTpm2b(r, "authPolicy", MAX_DIGEST_BYTES);
  const common = { raw: bytes, nameAlg, objectAttributes, authPolicy };
  if (type === TPM_ALG.RSA) {
    const symmetric = readSymDefObject(r);
    const scheme = readRsaScheme(r);
    const keyBits = r.u16be("keyBits");
    const exponent = r.u32be("exponent");
    const modulus = readTpm2b(r, "unique.rsa", MAX_RSA_BYTES);
    r.end();
    if (keyBits === 0 || keyBits % 8 !== 0 || modulus.length !== keyBits / 8) {
      malformed(what, `RSA modulus of ${modulus.length} bytes for keyBits ${keyBits}`);
    }
    if (((modulus[0] as number) & 0x80) === 0) malformed(what, `RSA modulus is shorter than keyBits ${keyBits}`);
    return { ...common, type: "rsa", symmetric, scheme, keyBits, exponent: exponent === 0 ? 65537 : exponent, modulus };
  }
  if (type === TPM_ALG.ECC) {
    const symmetric = readSymDefObject(r);
    const scheme = readEccScheme(r);
    const curveId = r.u16be("curveID");
    const kdf = readKdf(r);
    const curve = TPM_CURVE[curveId];
    if (!curve) unsupported(what, `ECC curve 0x${curveId.toString(16)} is not supported`);
    const x = readTpm2b(r, "unique.ecc.x", curve.size);
    const y = readTpm2b(r, "unique.ecc.y", curve.size);
    r.end();
    if (x.length !== curve.size || y.length !== curve.size) malformed(what, `${curve.name} point coordinates of ${x.length} and ${y.length} bytes`);
    return { ...common, type: "ecc", symmetric, scheme, curveId, kdf, x, y };
  }
  return unsupported(what, `public area type ${algName(type)} is not an asymmetric key`);
}

/**
 * The Name of an object (Part 1 §16): nameAlg as a big-endian u16, then the
 * nameAlg digest of the TPMT_PUBLIC bytes exactly as received. Warden computes
 * it itself; a Name the client states is never trusted.
 */
export async function objectName(pub: Pick<TpmPublic, "raw" | "nameAlg">): Promise<Uint8Array> {
  const hash = TPM_HASH[pub.nameAlg];
  if (!hash) unsupported("TPMT_PUBLIC", `nameAlg ${algName(pub.nameAlg)} is not supported`);
  const digest = new Uint8Array(await crypto.subtle.digest(hash.name, pub.raw as Uint8Array<ArrayBuffer>));
  return concatBytes(Uint8Array.of(pub.nameAlg >> 8, pub.nameAlg & 0xff), digest);
}

// ---------------------------------------------------------------------------
// TPMS_ATTEST (Part 2 §10.12.12)

/** TPMS_PCR_SELECTION: one bank and the PCR indices selected in it, ascending. */
export interface PcrSelection {
  readonly hashAlg: number;
  readonly pcrs: readonly number[];
}

export interface ClockInfo {
  readonly clock: bigint;
  readonly resetCount: number;
  readonly restartCount: number;
  readonly safe: boolean;
}

export type Attested =
  | { readonly kind: "quote"; readonly pcrSelect: readonly PcrSelection[]; readonly pcrDigest: Uint8Array }
  | { readonly kind: "certify"; readonly name: Uint8Array; readonly qualifiedName: Uint8Array }
  | { readonly kind: "creation"; readonly objectName: Uint8Array; readonly creationHash: Uint8Array };

export interface TpmAttest {
  /** The TPMS_ATTEST bytes exactly as received: what the signature covers. */
  readonly raw: Uint8Array;
  readonly magic: number;
  readonly type: number;
  readonly qualifiedSigner: Uint8Array;
  readonly extraData: Uint8Array;
  readonly clockInfo: ClockInfo;
  readonly firmwareVersion: bigint;
  readonly attested: Attested;
}

/** TPM2B_NAME: a handle (4 bytes) or nameAlg ‖ digest. */
const MAX_NAME_BYTES = 2 + MAX_DIGEST_BYTES;
/** Banks in one TPML_PCR_SELECTION: a TPM has at most a handful (HASH_COUNT). */
const MAX_PCR_BANKS = 8;
/** PCR_SELECT_MAX of any real TPM: 24 PCRs in 3 octets; 8 octets leaves room for 64. */
const MAX_SIZEOF_SELECT = 8;

/** TPML_PCR_SELECTION (Part 2 §10.9.7). */
export function readPcrSelection(r: ByteReader): PcrSelection[] {
  const count = r.u32be("pcrSelect.count");
  if (count > MAX_PCR_BANKS) malformed(r.what, `pcrSelect.count ${count} exceeds ${MAX_PCR_BANKS}`);
  const out: PcrSelection[] = [];
  for (let i = 0; i < count; i++) {
    const hashAlg = readHashAlg(r, `pcrSelect[${i}].hash`);
    const size = r.u8(`pcrSelect[${i}].sizeofSelect`);
    if (size > MAX_SIZEOF_SELECT) malformed(r.what, `pcrSelect[${i}].sizeofSelect ${size} exceeds ${MAX_SIZEOF_SELECT}`);
    const bitmap = r.bytes(size, `pcrSelect[${i}].pcrSelect`);
    const pcrs: number[] = [];
    // Part 2 §10.6.2: bit n of octet k selects PCR 8k + n, so ascending order is the TPM's digest order.
    for (let k = 0; k < bitmap.length; k++) {
      for (let n = 0; n < 8; n++) if (((bitmap[k] as number) >> n) & 1) pcrs.push(8 * k + n);
    }
    out.push({ hashAlg, pcrs });
  }
  return out;
}

/** Parses a TPMS_ATTEST of type quote, certify or creation; the magic is returned, not judged. */
export function parseAttest(bytes: Uint8Array, what = "TPMS_ATTEST"): TpmAttest {
  const r = new ByteReader(bytes, what);
  const magic = r.u32be("magic");
  const type = r.u16be("type");
  const qualifiedSigner = readTpm2b(r, "qualifiedSigner", MAX_NAME_BYTES);
  const extraData = readTpm2b(r, "extraData", MAX_DIGEST_BYTES);
  const clock = r.u64be("clockInfo.clock");
  const resetCount = r.u32be("clockInfo.resetCount");
  const restartCount = r.u32be("clockInfo.restartCount");
  const safeByte = r.u8("clockInfo.safe");
  if (safeByte > 1) malformed(what, `clockInfo.safe is ${safeByte}, not a TPMI_YES_NO`);
  const firmwareVersion = r.u64be("firmwareVersion");
  let attested: Attested;
  switch (type) {
    case TPM_ST.ATTEST_QUOTE: {
      const pcrSelect = readPcrSelection(r);
      const pcrDigest = readTpm2b(r, "quote.pcrDigest", MAX_DIGEST_BYTES);
      attested = { kind: "quote", pcrSelect, pcrDigest };
      break;
    }
    case TPM_ST.ATTEST_CERTIFY: {
      const name = readTpm2b(r, "certify.name", MAX_NAME_BYTES);
      const qualifiedName = readTpm2b(r, "certify.qualifiedName", MAX_NAME_BYTES);
      attested = { kind: "certify", name, qualifiedName };
      break;
    }
    case TPM_ST.ATTEST_CREATION: {
      const objectName = readTpm2b(r, "creation.objectName", MAX_NAME_BYTES);
      const creationHash = readTpm2b(r, "creation.creationHash", MAX_DIGEST_BYTES);
      attested = { kind: "creation", objectName, creationHash };
      break;
    }
    default:
      return unsupported(what, `attestation type 0x${type.toString(16)} is not supported`);
  }
  r.end();
  return {
    raw: bytes,
    magic,
    type,
    qualifiedSigner,
    extraData,
    clockInfo: { clock, resetCount, restartCount, safe: safeByte === 1 },
    firmwareVersion,
    attested,
  };
}

// ---------------------------------------------------------------------------
// TPMT_SIGNATURE (Part 2 §11.3.4)

export type TpmSignature =
  | { readonly sigAlg: typeof TPM_ALG.RSASSA | typeof TPM_ALG.RSAPSS; readonly hashAlg: number; readonly signature: Uint8Array }
  | { readonly sigAlg: typeof TPM_ALG.ECDSA; readonly hashAlg: number; readonly r: Uint8Array; readonly s: Uint8Array };

/** Parses a TPMT_SIGNATURE made with RSASSA, RSAPSS or ECDSA; other schemes are unsupported. */
export function parseSignature(bytes: Uint8Array, what = "TPMT_SIGNATURE"): TpmSignature {
  const r = new ByteReader(bytes, what);
  const sigAlg = r.u16be("sigAlg");
  let out: TpmSignature;
  switch (sigAlg) {
    case TPM_ALG.RSASSA:
    case TPM_ALG.RSAPSS: {
      const hashAlg = readHashAlg(r, "hash");
      const signature = readTpm2b(r, "sig", MAX_RSA_BYTES);
      out = { sigAlg, hashAlg, signature };
      break;
    }
    case TPM_ALG.ECDSA: {
      const hashAlg = readHashAlg(r, "hash");
      const sr = readTpm2b(r, "signatureR", 66);
      const ss = readTpm2b(r, "signatureS", 66);
      out = { sigAlg, hashAlg, r: sr, s: ss };
      break;
    }
    default:
      return unsupported(what, `signature scheme ${algName(sigAlg)} is not supported`);
  }
  r.end();
  return out;
}

// ---------------------------------------------------------------------------
// Marshalling (for MakeCredential's outputs)

/** A TPM2B of `data`. */
export function tpm2b(data: Uint8Array): Uint8Array {
  if (data.length > 0xffff) throw new WardenError("internal_error", "TPM2B payload too large");
  return concatBytes(Uint8Array.of(data.length >> 8, data.length & 0xff), data);
}

/** The TPML_PCR_SELECTION of one bank selecting `pcrs` (3 octets, PCR_SELECT_MAX of a 24-PCR TPM). */
export function marshalPcrSelection(hashAlg: number, pcrs: readonly number[]): Uint8Array {
  const size = Math.max(3, Math.ceil((Math.max(-1, ...pcrs) + 1) / 8));
  const bitmap = new Uint8Array(size);
  for (const pcr of pcrs) bitmap[pcr >> 3] = (bitmap[pcr >> 3] as number) | (1 << (pcr & 7));
  return concatBytes(Uint8Array.of(0, 0, 0, 1, hashAlg >> 8, hashAlg & 0xff, size), bitmap);
}
