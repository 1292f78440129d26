import { SignJWT } from "jose";
import type { JsonValue } from "../log/canonical.ts";
import type { SigningKey } from "../tokens/keys.ts";
import type { EvidenceType } from "../verifiers/index.ts";
import type { Appraised, AttestationClaims } from "./cvm.ts";

/**
 * Attestation results as EAT Attestation Results (draft-ietf-rats-ear-03, JSON serialisation):
 * what the session token's `att` claim holds, what the device log records, and what
 * `POST /v1/attestation/results` signs for relying parties other than Warden.
 *
 * One submod per appraised attester, labelled with the evidence type (`tpm`, `sev-snp`, `tdx`,
 * `azure-snp-vtpm`): Warden's labelling scheme (draft §3, `submods`). Each carries the AR4SI
 * trustworthiness vector Warden can vouch for (the table below), `ear_appraisal_policy_ids` =
 * the digest of the policy bundle whose reference values appraised it, and two private
 * extensions (draft §4.1; maps, as §4 requires): `warden_evidence` (type and SHA-256 of the
 * evidence as received: the raw evidence stays out of tokens and logs) and `warden_claims`
 * (the verified claims themselves).
 */

/** draft-ietf-rats-ear-03 §3: the profile an EAR claims-set names. */
export const EAR_PROFILE = "tag:ietf.org,2026:rats/ear#03";
/** The JOSE `typ` of a signed EAR: the EAT media type application/eat+jwt (RFC 9782) without its prefix. */
export const EAR_JWT_TYPE = "eat+jwt";
export const EAR_VERIFIER_ID = { developer: "https://warden.dev", build: "warden 0.1.0" } as const;

export type TrustTier = "none" | "affirming" | "warning" | "contraindicated";
export type VectorKey = "instance-identity" | "configuration" | "executables" | "file-system" | "hardware" | "runtime-opaque" | "storage-opaque" | "sourced-data";
export type TrustworthinessVector = Partial<Record<VectorKey, number>>;

export const VECTOR_KEYS: readonly VectorKey[] = ["instance-identity", "configuration", "executables", "file-system", "hardware", "runtime-opaque", "storage-opaque", "sourced-data"];

/** AR4SI values Warden asserts (draft-ietf-rats-ar4si §2.3). */
const AR4SI = {
  recognizedInstance: 2,
  approvedConfig: 2,
  approvedBoot: 3,
  genuineHardware: 2,
  encryptedMemory: 2,
} as const;

/**
 * What each evidence type lets Warden vouch for, one row per claim with its reason. A claim is
 * only made when verification and appraisal establish it; everything else stays "no claim"
 * (absent), which a relying party must treat as unknown, never as good.
 */
export const VECTOR_RULES: { readonly [T in EvidenceType]: readonly { key: VectorKey; value: number; when: "always" | "executables"; reason: string }[] } = {
  tpm: [
    { key: "instance-identity", value: AR4SI.recognizedInstance, when: "always", reason: "the AK was bound to an EK certificate chaining to a TPM vendor root, by credential activation" },
    { key: "hardware", value: AR4SI.genuineHardware, when: "always", reason: "the quote is by that AK: a genuine TPM signed it" },
    { key: "executables", value: AR4SI.approvedBoot, when: "executables", reason: "PCRs (or the replayed event log's boot manager and kernel) matched reference values: an approved boot chain, nothing said about run time" },
  ],
  "sev-snp": [
    { key: "instance-identity", value: AR4SI.recognizedInstance, when: "always", reason: "a chip-unique VCEK (or a CSP's VLEK) chaining to AMD's ARK signed the report" },
    { key: "hardware", value: AR4SI.genuineHardware, when: "always", reason: "AMD's chain and a REPORTED_TCB at or above the bundle's minimum" },
    { key: "configuration", value: AR4SI.approvedConfig, when: "always", reason: "guest policy without debug, an allowed VMPL and key type" },
    { key: "runtime-opaque", value: AR4SI.encryptedMemory, when: "always", reason: "an SEV-SNP guest without debug: memory encrypted and integrity-protected from the host" },
    { key: "executables", value: AR4SI.approvedBoot, when: "executables", reason: "MEASUREMENT is among the bundle's values" },
  ],
  tdx: [
    { key: "instance-identity", value: AR4SI.recognizedInstance, when: "always", reason: "a PCK certificate chaining to Intel's SGX root signed the quote (through the QE)" },
    { key: "hardware", value: AR4SI.genuineHardware, when: "always", reason: "TCB status accepted by the bundle under verified collateral" },
    { key: "configuration", value: AR4SI.approvedConfig, when: "always", reason: "TD attributes without debug, SEPT_VE_DISABLE set" },
    { key: "runtime-opaque", value: AR4SI.encryptedMemory, when: "always", reason: "a TDX TD without debug: memory encrypted and integrity-protected from the host" },
    { key: "executables", value: AR4SI.approvedBoot, when: "executables", reason: "MRTD is among the bundle's values" },
  ],
  "azure-snp-vtpm": [
    { key: "instance-identity", value: AR4SI.recognizedInstance, when: "always", reason: "the chip's VCEK signed the HCL report, which attests the vTPM key that signed the quote" },
    { key: "hardware", value: AR4SI.genuineHardware, when: "always", reason: "AMD's chain and a REPORTED_TCB at or above the bundle's minimum" },
    { key: "configuration", value: AR4SI.approvedConfig, when: "always", reason: "guest policy without debug, VMPL allowed" },
    { key: "runtime-opaque", value: AR4SI.encryptedMemory, when: "always", reason: "an SEV-SNP guest without debug" },
    { key: "executables", value: AR4SI.approvedBoot, when: "executables", reason: "MEASUREMENT or vTPM PCRs matched the bundle's values" },
  ],
};

/** AR4SI §2.3.3: the tier of a trustworthiness claim value. */
export function tierOf(value: number): TrustTier {
  const magnitude = Math.abs(value);
  if (magnitude <= 1) return "none";
  if (value >= 2 ? value <= 31 : value >= -32) return "affirming";
  if (value >= 32 ? value <= 95 : value >= -96) return "warning";
  return "contraindicated";
}

/** Tiers ordered from most to least trusted, as the draft's "no higher trust than" compares them. */
const TIER_RANK: Readonly<Record<TrustTier, number>> = { affirming: 0, none: 1, warning: 2, contraindicated: 3 };

function worst(tiers: Iterable<TrustTier>): TrustTier {
  let result: TrustTier = "affirming";
  for (const tier of tiers) if (TIER_RANK[tier] > TIER_RANK[result]) result = tier;
  return result;
}

/** The vector for appraised evidence of `type`. */
export function trustworthinessVector(type: EvidenceType, appraised: Pick<Appraised, "executablesAppraised">): TrustworthinessVector {
  const vector: TrustworthinessVector = {};
  for (const rule of VECTOR_RULES[type]) if (rule.when === "always" || appraised.executablesAppraised) vector[rule.key] = rule.value;
  return vector;
}

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export type EarClaimsSet = { [key: string]: JsonValue };

/**
 * The EAR claims-set for evidence of `type` that verified and passed appraisal: status
 * affirming (the worst tier of its vector), the bundle digest as appraisal policy id, the
 * evidence's type and digest, and, when given, the nonce the evidence answered (`eat_nonce`,
 * 8 to 64 bytes).
 */
export function earFor(args: { type: EvidenceType; appraised: Appraised; evidenceSha256: string; nonce?: Uint8Array; now: number }): EarClaimsSet {
  const vector = trustworthinessVector(args.type, args.appraised);
  const status = worst(Object.values(vector).map(tierOf));
  const nonce = args.nonce && args.nonce.length >= 8 && args.nonce.length <= 64 ? { eat_nonce: base64url(args.nonce) } : {};
  return {
    eat_profile: EAR_PROFILE,
    iat: Math.floor(args.now / 1000),
    ear_verifier_id: { ...EAR_VERIFIER_ID },
    ear_status: status,
    submods: {
      [args.type]: {
        ear_status: status,
        ear_trustworthiness_vector: vector,
        ear_appraisal_policy_ids: [`warden:bundle:${args.appraised.policy}`],
        ...nonce,
        warden_evidence: { type: args.type, sha256: args.evidenceSha256 },
        warden_claims: args.appraised.claims,
      },
    },
  };
}

/** The one submod of an EAR Warden issued (its appraisal of one attester). */
export function earAppraisal(ear: EarClaimsSet): { type: string; claims: AttestationClaims } | null {
  const submods = ear["submods"];
  if (typeof submods !== "object" || submods === null || Array.isArray(submods)) return null;
  const [entry] = Object.entries(submods);
  if (!entry) return null;
  const claims = (entry[1] as { warden_claims?: AttestationClaims } | null)?.warden_claims;
  return claims ? { type: entry[0], claims } : null;
}

/** Signs an EAR claims-set as a JWT (EdDSA, `typ` eat+jwt, `kid` in /.well-known/jwks.json), valid for `ttlSeconds`. */
export async function signEar(key: SigningKey, ear: EarClaimsSet, ttlSeconds: number): Promise<string> {
  const iat = ear["iat"] as number;
  return new SignJWT({ ...ear, exp: iat + ttlSeconds }).setProtectedHeader({ alg: "EdDSA", typ: EAR_JWT_TYPE, kid: key.kid }).setIssuer("warden").sign(key.privateKey);
}

// ---------------------------------------------------------------- validation

const BASE64URL = /^[A-Za-z0-9_-]*={0,2}$/;
const TIERS: readonly TrustTier[] = ["none", "affirming", "warning", "contraindicated"];

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isInt(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value);
}

/**
 * Checks a JSON EAR claims-set against the CDDL of draft-ietf-rats-ear-03 (§3, §3.1, and
 * AR4SI's types) and the rules its prose adds; returns every violation (empty: valid).
 *
 * - `eat_profile` is the EAR profile; `iat` (and `exp`) integers, never floats;
 * - `ear_verifier_id` is exactly `{developer: text, build: text}`;
 * - `ear_raw_evidence` is base64url; `eat_nonce` base64 of 8 to 64 bytes;
 * - `submods` holds at least one appraisal; each has a tier `ear_status`, a non-empty
 *   vector of known categories with integers in -128..127, a non-empty list of policy ids;
 * - a status is no more trusted than the worst claim of its vector, and the top-level status
 *   no more than the worst submod;
 * - every extension (an unknown member) is a map (draft §4).
 */
export function validateEar(ear: unknown): string[] {
  const problems: string[] = [];
  if (!isMap(ear)) return ["the claims-set is not a map"];
  const known = new Set(["eat_profile", "ear_status", "iat", "exp", "ear_verifier_id", "ear_raw_evidence", "submods", "eat_nonce"]);
  if (ear["eat_profile"] !== EAR_PROFILE) problems.push(`eat_profile must be ${EAR_PROFILE}`);
  if (!isInt(ear["iat"])) problems.push("iat must be an integer (no floating point)");
  if ("exp" in ear && !isInt(ear["exp"])) problems.push("exp must be an integer");
  const verifier = ear["ear_verifier_id"];
  if (!isMap(verifier) || typeof verifier["developer"] !== "string" || typeof verifier["build"] !== "string" || Object.keys(verifier).length !== 2) {
    problems.push("ear_verifier_id must be exactly {developer: text, build: text}");
  }
  if ("ear_raw_evidence" in ear && (typeof ear["ear_raw_evidence"] !== "string" || !BASE64URL.test(ear["ear_raw_evidence"]))) problems.push("ear_raw_evidence must be base64url");
  checkNonce(ear["eat_nonce"], "eat_nonce", problems);
  const submods = ear["submods"];
  const submodTiers: TrustTier[] = [];
  if (!isMap(submods) || Object.keys(submods).length === 0) problems.push("submods must hold at least one appraisal");
  else {
    for (const [label, appraisal] of Object.entries(submods)) {
      const tier = validateAppraisal(appraisal, `submods.${label}`, problems);
      if (tier) submodTiers.push(tier);
    }
  }
  if ("ear_status" in ear) {
    const status = ear["ear_status"];
    if (typeof status !== "string" || !TIERS.includes(status as TrustTier)) problems.push("ear_status must be a trustworthiness tier");
    else if (submodTiers.length > 0 && TIER_RANK[status as TrustTier] < TIER_RANK[worst(submodTiers)]) problems.push("ear_status is more trusted than the worst submod");
  }
  // RFC 7519 §4.1: the registered claims of the JWT an EAR is serialised in are not extensions.
  for (const name of ["iss", "sub", "jti"]) if (name in ear && typeof ear[name] !== "string") problems.push(`${name} must be text`);
  if ("nbf" in ear && !isInt(ear["nbf"])) problems.push("nbf must be an integer");
  if ("aud" in ear && typeof ear["aud"] !== "string" && !(Array.isArray(ear["aud"]) && ear["aud"].every((a) => typeof a === "string"))) problems.push("aud must be text or a list of text");
  for (const [key, value] of Object.entries(ear)) if (!known.has(key) && !JWT_REGISTERED.has(key) && !isMap(value)) problems.push(`extension ${key} must be a map`);
  return problems;
}

const JWT_REGISTERED: ReadonlySet<string> = new Set(["iss", "sub", "aud", "nbf", "jti"]);

function checkNonce(value: unknown, where: string, problems: string[]): void {
  if (value === undefined) return;
  // RFC 9711 §4.1: 8 to 64 bytes; as JWT, base64 text of 12 to 88 characters.
  if (typeof value !== "string" || !BASE64URL.test(value) || value.length < 11 || value.length > 88) problems.push(`${where} must be base64 of 8 to 64 bytes`);
}

function validateAppraisal(appraisal: unknown, where: string, problems: string[]): TrustTier | null {
  if (!isMap(appraisal)) {
    problems.push(`${where} is not a map`);
    return null;
  }
  const known = new Set(["eat_profile", "ear_status", "ear_trustworthiness_vector", "ear_appraisal_policy_ids", "eat_nonce"]);
  const status = appraisal["ear_status"];
  let tier: TrustTier | null = null;
  if (typeof status !== "string" || !TIERS.includes(status as TrustTier)) problems.push(`${where}.ear_status must be a trustworthiness tier`);
  else tier = status as TrustTier;
  if ("eat_profile" in appraisal && typeof appraisal["eat_profile"] !== "string") problems.push(`${where}.eat_profile must be a URI or OID`);
  const vector = appraisal["ear_trustworthiness_vector"];
  if (vector !== undefined) {
    if (!isMap(vector) || Object.keys(vector).length === 0) problems.push(`${where}.ear_trustworthiness_vector must be a non-empty map`);
    else {
      const tiers: TrustTier[] = [];
      for (const [key, value] of Object.entries(vector)) {
        if (!VECTOR_KEYS.includes(key as VectorKey)) problems.push(`${where}.ear_trustworthiness_vector has an unknown category ${key}`);
        if (!isInt(value) || value < -128 || value > 127) problems.push(`${where}.ear_trustworthiness_vector.${key} must be an integer in -128..127`);
        else tiers.push(tierOf(value));
      }
      if (tier && tiers.length > 0 && TIER_RANK[tier] < TIER_RANK[worst(tiers)]) problems.push(`${where}.ear_status is more trusted than its vector's worst claim`);
    }
  }
  const policies = appraisal["ear_appraisal_policy_ids"];
  if (policies !== undefined && (!Array.isArray(policies) || policies.length === 0 || policies.some((p) => typeof p !== "string"))) {
    problems.push(`${where}.ear_appraisal_policy_ids must be a non-empty list of text`);
  }
  checkNonce(appraisal["eat_nonce"], `${where}.eat_nonce`, problems);
  for (const [key, value] of Object.entries(appraisal)) if (!known.has(key) && !isMap(value)) problems.push(`${where}: extension ${key} must be a map`);
  return tier;
}
