import { EvidenceVerificationError } from "../errors.ts";
import { concatBytes } from "../reader.ts";
import { ALLOWED_HASHES, TPMA_OBJECT, TPM_ALG, TPM_CURVE, TPM_HASH, algName } from "./constants.ts";
import { checkKeyAllowed, publicJwk } from "./keys.ts";
import { tpm2b, type TpmPublic } from "./structures.ts";
import { WardenError } from "../../errors.ts";

/**
 * TPM2_MakeCredential done by the verifier (TPM 2.0 Part 1 §24 "Credential
 * Protection", Part 3 §12.6, Part 1 Annex B.10 / C.6 for the seed): a
 * credential only the TPM holding the EK can recover, and only while the
 * object with `objectName` (the AK) is loaded in that same TPM — the TPM
 * checks the outer HMAC over the AK's Name in TPM2_ActivateCredential.
 *
 * All cryptography is WebCrypto: RSA-OAEP and ECDH for the seed, HMAC for
 * KDFa / KDFe and the integrity HMAC, and AES for the CFB encryption (see
 * {@link aesCfbEncrypt} for how CFB is built from WebCrypto's AES-CTR).
 */

/** The two TPM2_ActivateCredential inputs, each marshalled with its TPM2B size field. */
export interface CredentialChallenge {
  /** TPM2B_ID_OBJECT: integrityHMAC (TPM2B_DIGEST) ‖ encIdentity. */
  readonly credentialBlob: Uint8Array;
  /** TPM2B_ENCRYPTED_SECRET: the seed, RSA-OAEP encrypted to the EK or an ephemeral ECC point. */
  readonly encryptedSecret: Uint8Array;
}

type Buf = Uint8Array<ArrayBuffer>;

function u32be(n: number): Uint8Array {
  return Uint8Array.of((n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

/** A label as the KDFs take it: the text and its terminating NUL (Part 1 §11.4.10.4). */
function label(text: string): Uint8Array {
  return concatBytes(new TextEncoder().encode(text), Uint8Array.of(0));
}

async function hmac(hashName: string, key: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
  const k = await crypto.subtle.importKey("raw", key as Buf, { name: "HMAC", hash: hashName }, false, ["sign"]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", k, data as Buf));
}

/**
 * KDFa (Part 1 §11.4.10.2): SP 800-108 counter-mode KDF with HMAC-`hashAlg`.
 * K(i) = HMAC(key, [i]₃₂ ‖ label ‖ 00 ‖ contextU ‖ contextV ‖ [bits]₃₂), concatenated and cut to `bits`.
 */
export async function kdfa(hashAlg: number, key: Uint8Array, labelText: string, contextU: Uint8Array, contextV: Uint8Array, bits: number): Promise<Uint8Array> {
  const hash = TPM_HASH[hashAlg];
  if (!hash) throw new EvidenceVerificationError("unsupported_algorithm", `KDFa hash ${algName(hashAlg)}`);
  const bytes = Math.ceil(bits / 8);
  const blocks: Uint8Array[] = [];
  for (let i = 1, have = 0; have < bytes; i++, have += hash.size) {
    blocks.push(await hmac(hash.name, key, concatBytes(u32be(i), label(labelText), contextU, contextV, u32be(bits))));
  }
  return concatBytes(...blocks).subarray(0, bytes);
}

/**
 * KDFe (Part 1 §11.4.10.3): the SP 800-56A concatenation KDF with `hashAlg`.
 * K(i) = H([i]₃₂ ‖ Z ‖ label ‖ 00 ‖ partyUInfo ‖ partyVInfo).
 */
export async function kdfe(hashAlg: number, z: Uint8Array, labelText: string, partyU: Uint8Array, partyV: Uint8Array, bits: number): Promise<Uint8Array> {
  const hash = TPM_HASH[hashAlg];
  if (!hash) throw new EvidenceVerificationError("unsupported_algorithm", `KDFe hash ${algName(hashAlg)}`);
  const bytes = Math.ceil(bits / 8);
  const blocks: Uint8Array[] = [];
  for (let i = 1, have = 0; have < bytes; i++, have += hash.size) {
    blocks.push(new Uint8Array(await crypto.subtle.digest(hash.name, concatBytes(u32be(i), z, label(labelText), partyU, partyV) as Buf)));
  }
  return concatBytes(...blocks).subarray(0, bytes);
}

/**
 * AES in full-block CFB mode (CFB-128, NIST SP 800-38A §6.3), IV given, as TPMs
 * use it (Part 1 §11.4.6.3): C₁ = P₁ ⊕ E(IV), Cᵢ = Pᵢ ⊕ E(Cᵢ₋₁); the last block
 * may be partial.
 *
 * WebCrypto has neither CFB nor a raw block operation, but AES-CTR over one
 * block with counter block X is exactly X's keystream E(X) XORed into the data:
 * AES-CTR(key, counter = Cᵢ₋₁, Pᵢ) = Pᵢ ⊕ E(Cᵢ₋₁) = Cᵢ. One CTR call per 16-byte
 * block therefore is CFB, with no counter increment ever taking place (so
 * `length` is irrelevant; 128 is the whole block). The credential is at most
 * 66 bytes: five calls.
 */
export async function aesCfbEncrypt(key: Uint8Array, iv: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array> {
  if (iv.length !== 16) throw new WardenError("internal_error", "AES-CFB needs a 16-byte IV");
  const k = await crypto.subtle.importKey("raw", key as Buf, { name: "AES-CTR" }, false, ["encrypt"]);
  const out = new Uint8Array(plaintext.length);
  let feedback: Uint8Array = iv;
  for (let off = 0; off < plaintext.length; off += 16) {
    const block = plaintext.subarray(off, Math.min(off + 16, plaintext.length));
    const c = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-CTR", counter: feedback.slice() as Buf, length: 128 }, k, block.slice() as Buf));
    out.set(c, off);
    feedback = c;
  }
  return out;
}

/**
 * The EK public-area checks credential protection relies on (TCG EK Credential
 * Profile §2.2.1 templates): a restricted decryption (storage) key, not a
 * signing key, bound to this TPM, with an AES-CFB symmetric definition (the
 * inner wrapping MakeCredential uses) and an allowed nameAlg and key.
 */
export function checkEkPublic(ek: TpmPublic): void {
  const a = ek.objectAttributes;
  if ((a & TPMA_OBJECT.restricted) === 0 || (a & TPMA_OBJECT.decrypt) === 0 || (a & TPMA_OBJECT.sign) !== 0) {
    throw new EvidenceVerificationError("ek_attributes_invalid", "the EK must be a restricted decryption key that cannot sign");
  }
  if ((a & TPMA_OBJECT.fixedTPM) === 0 || (a & TPMA_OBJECT.fixedParent) === 0) {
    throw new EvidenceVerificationError("ek_attributes_invalid", "the EK must have fixedTPM and fixedParent set");
  }
  const sym = ek.symmetric;
  if (!sym || sym.algorithm !== TPM_ALG.AES || sym.mode !== TPM_ALG.CFB || (sym.keyBits !== 128 && sym.keyBits !== 256)) {
    throw new EvidenceVerificationError("unsupported_algorithm", "the EK's symmetric definition must be AES-128 or AES-256 in CFB mode");
  }
  checkKeyAllowed(ek, "EK");
  if (!ALLOWED_HASHES.has(ek.nameAlg)) throw new EvidenceVerificationError("unsupported_algorithm", "EK nameAlg not allowed");
}

/**
 * The seed and its encryption to the EK (Part 1 Annex B.10.4 for RSA,
 * C.6.4 for ECC). RSA: a random seed of the nameAlg's digest size, RSA-OAEP
 * with the nameAlg and label "IDENTITY\0". ECC: an ephemeral key on the EK's
 * curve; the seed is KDFe(nameAlg, Z, "IDENTITY", ephemeral x, EK x) and the
 * ephemeral point is the encrypted secret.
 */
async function seedFor(ek: TpmPublic, random: (n: number) => Uint8Array): Promise<{ seed: Uint8Array; encryptedSecret: Uint8Array }> {
  const hash = TPM_HASH[ek.nameAlg] as { name: string; size: number };
  if (ek.type === "rsa") {
    const seed = random(hash.size);
    const key = await crypto.subtle.importKey("jwk", publicJwk(ek), { name: "RSA-OAEP", hash: hash.name }, false, ["encrypt"]);
    const encrypted = new Uint8Array(await crypto.subtle.encrypt({ name: "RSA-OAEP", label: label("IDENTITY") as Buf }, key, seed as Buf));
    return { seed, encryptedSecret: encrypted };
  }
  const curve = TPM_CURVE[ek.curveId] as { name: string; size: number };
  const ekKey = await crypto.subtle.importKey("jwk", publicJwk(ek), { name: "ECDH", namedCurve: curve.name }, false, []);
  const ephemeral = (await crypto.subtle.generateKey({ name: "ECDH", namedCurve: curve.name }, true, ["deriveBits"])) as CryptoKeyPair;
  // workers-types spells the ECDH `public` member `$public`; the runtime (like every WebCrypto) reads `public`.
  const ecdh = { name: "ECDH", public: ekKey } as unknown as SubtleCryptoDeriveKeyAlgorithm;
  const z = new Uint8Array(await crypto.subtle.deriveBits(ecdh, ephemeral.privateKey, curve.size * 8));
  const point = new Uint8Array((await crypto.subtle.exportKey("raw", ephemeral.publicKey)) as ArrayBuffer);
  const x = point.subarray(1, 1 + curve.size);
  const y = point.subarray(1 + curve.size);
  const seed = await kdfe(ek.nameAlg, z, "IDENTITY", x, ek.x, hash.size * 8);
  // TPMS_ECC_POINT: TPM2B x ‖ TPM2B y.
  return { seed, encryptedSecret: concatBytes(tpm2b(x), tpm2b(y)) };
}

/**
 * MakeCredential: protects `credential` (≤ the EK nameAlg's digest size, a
 * TPM2B_DIGEST) for the TPM holding `ek`, bound to the object named
 * `objectName`. symKey = KDFa(nameAlg, seed, "STORAGE", name, "", keyBits);
 * encIdentity = AES-CFB(symKey, IV 0, TPM2B(credential)); HMACkey =
 * KDFa(nameAlg, seed, "INTEGRITY", "", "", digest bits); outerHMAC =
 * HMAC(HMACkey, encIdentity ‖ name).
 */
export async function makeCredential(
  ek: TpmPublic,
  objectName: Uint8Array,
  credential: Uint8Array,
  random: (n: number) => Uint8Array = (n) => crypto.getRandomValues(new Uint8Array(n)),
): Promise<CredentialChallenge> {
  checkEkPublic(ek);
  const hash = TPM_HASH[ek.nameAlg] as { name: string; size: number };
  if (credential.length === 0 || credential.length > hash.size) throw new WardenError("internal_error", `the credential must be 1..${hash.size} bytes`);
  const sym = ek.symmetric as { keyBits: number };
  const { seed, encryptedSecret } = await seedFor(ek, random);
  const symKey = await kdfa(ek.nameAlg, seed, "STORAGE", objectName, new Uint8Array(0), sym.keyBits);
  const encIdentity = await aesCfbEncrypt(symKey, new Uint8Array(16), tpm2b(credential));
  const hmacKey = await kdfa(ek.nameAlg, seed, "INTEGRITY", new Uint8Array(0), new Uint8Array(0), hash.size * 8);
  const outerHmac = await hmac(hash.name, hmacKey, concatBytes(encIdentity, objectName));
  return {
    credentialBlob: tpm2b(concatBytes(tpm2b(outerHmac), encIdentity)),
    encryptedSecret: tpm2b(encryptedSecret),
  };
}
