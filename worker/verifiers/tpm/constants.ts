/**
 * TPM 2.0 constants (TCG TPM 2.0 Library Part 2, "Structures"), only those the
 * parsers and verifiers meet. Values are the wire values, big-endian on the wire.
 */

/** TPM_ALG_ID (Part 2 §6.3). */
export const TPM_ALG = {
  RSA: 0x0001,
  SHA1: 0x0004,
  HMAC: 0x0005,
  AES: 0x0006,
  MGF1: 0x0007,
  KEYEDHASH: 0x0008,
  XOR: 0x000a,
  SHA256: 0x000b,
  SHA384: 0x000c,
  SHA512: 0x000d,
  NULL: 0x0010,
  SM3_256: 0x0012,
  SM4: 0x0013,
  RSASSA: 0x0014,
  RSAES: 0x0015,
  RSAPSS: 0x0016,
  OAEP: 0x0017,
  ECDSA: 0x0018,
  ECDH: 0x0019,
  ECDAA: 0x001a,
  SM2: 0x001b,
  ECSCHNORR: 0x001c,
  ECMQV: 0x001d,
  KDF1_SP800_56A: 0x0020,
  KDF2: 0x0021,
  KDF1_SP800_108: 0x0022,
  ECC: 0x0023,
  SYMCIPHER: 0x0025,
  CAMELLIA: 0x0026,
  CTR: 0x0040,
  OFB: 0x0041,
  CBC: 0x0042,
  CFB: 0x0043,
  ECB: 0x0044,
} as const;

/** TPM_ST structure tags of attestation structures (Part 2 §6.9). */
export const TPM_ST = {
  ATTEST_NV: 0x8014,
  ATTEST_COMMAND_AUDIT: 0x8015,
  ATTEST_SESSION_AUDIT: 0x8016,
  ATTEST_CERTIFY: 0x8017,
  ATTEST_QUOTE: 0x8018,
  ATTEST_TIME: 0x8019,
  ATTEST_CREATION: 0x801a,
  ATTEST_NV_DIGEST: 0x801c,
} as const;

/** TPM_GENERATED_VALUE (Part 2 §6.2): "\xffTCG", the first field of anything a TPM signs itself. */
export const TPM_GENERATED_VALUE = 0xff544347;

/** TPM_ECC_CURVE (Part 2 §6.4). */
export const TPM_ECC = { NIST_P256: 0x0003, NIST_P384: 0x0004, NIST_P521: 0x0005 } as const;

/** TPMA_OBJECT bits (Part 2 §8.3). */
export const TPMA_OBJECT = {
  fixedTPM: 1 << 1,
  stClear: 1 << 2,
  fixedParent: 1 << 4,
  sensitiveDataOrigin: 1 << 5,
  userWithAuth: 1 << 6,
  adminWithPolicy: 1 << 7,
  noDA: 1 << 10,
  encryptedDuplication: 1 << 11,
  restricted: 1 << 16,
  decrypt: 1 << 17,
  sign: 1 << 18,
  x509sign: 1 << 19,
} as const;

/** TPMA_OBJECT bits Part 2 §8.3.2 reserves: 0, 3, 8, 9, 12–15, 20–31. */
export const TPMA_OBJECT_RESERVED = (1 << 0) | (1 << 3) | (1 << 8) | (1 << 9) | (0xf << 12) | (0xfff00000 | 0);

/** The endorsement hierarchy's handle (TPM_RH_ENDORSEMENT, Part 2 §7.4). */
export const TPM_RH_ENDORSEMENT = 0x4000000b;

export type TpmHashName = "SHA-1" | "SHA-256" | "SHA-384" | "SHA-512";

/** Hash algorithms a TPM structure may name, with their WebCrypto names and digest sizes. */
export const TPM_HASH: Readonly<Record<number, { readonly name: TpmHashName; readonly size: number; readonly label: string }>> = {
  [TPM_ALG.SHA1]: { name: "SHA-1", size: 20, label: "sha1" },
  [TPM_ALG.SHA256]: { name: "SHA-256", size: 32, label: "sha256" },
  [TPM_ALG.SHA384]: { name: "SHA-384", size: 48, label: "sha384" },
  [TPM_ALG.SHA512]: { name: "SHA-512", size: 64, label: "sha512" },
};

/** Hashes Warden accepts for names, signatures and PCR banks: SHA-1 is refused everywhere (STYLE §8). */
export const ALLOWED_HASHES: ReadonlySet<number> = new Set([TPM_ALG.SHA256, TPM_ALG.SHA384, TPM_ALG.SHA512]);

/** PCR bank labels as the bundle manifest names them. */
export const PCR_BANK: Readonly<Record<string, number>> = { sha256: TPM_ALG.SHA256, sha384: TPM_ALG.SHA384 };

/** Curves with their WebCrypto names and coordinate sizes. */
export const TPM_CURVE: Readonly<Record<number, { readonly name: "P-256" | "P-384" | "P-521"; readonly size: number }>> = {
  [TPM_ECC.NIST_P256]: { name: "P-256", size: 32 },
  [TPM_ECC.NIST_P384]: { name: "P-384", size: 48 },
  [TPM_ECC.NIST_P521]: { name: "P-521", size: 66 },
};

/** sizeof(TPMU_HA): the largest digest a TPM2B_DIGEST / TPM2B_DATA may carry. */
export const MAX_DIGEST_BYTES = 64;
/** Largest RSA modulus accepted (4096 bits). */
export const MAX_RSA_BYTES = 512;

/** A readable name of an algorithm id, for messages. */
export function algName(id: number): string {
  for (const [name, value] of Object.entries(TPM_ALG)) if (value === id) return name;
  return `0x${id.toString(16).padStart(4, "0")}`;
}
