import { StrictJsonError, parseStrictJson } from "../../json/strict.ts";
import { normaliseAllowlist } from "../appraisal.ts";
import { AppraisalError, EvidenceConfigurationError, EvidenceVerificationError, MalformedEvidenceError } from "../errors.ts";
import { bytesEqual, toHex } from "../reader.ts";
import { TPM_ALG, TPM_GENERATED_VALUE, TPM_ST } from "../tpm/constants.ts";
import { b64url } from "../tpm/keys.ts";
import { pcrDigestOf } from "../tpm/quote.ts";
import { parseAttest } from "../tpm/structures.ts";
import { pemBlocks } from "../x509/certificate.ts";
import { appraiseSnp, type SnpClaims, type SnpReferenceValues } from "./appraise.ts";
import { parseAzureHclReport, verifyHclBinding } from "./azure.ts";
import type { SnpTrust } from "./trust.ts";
import { verifySnpReport, type SnpCollateral, type VerifiedSnpReport } from "./verify.ts";

/**
 * Azure confidential VMs on SEV-SNP: the HCL report (an SNP report whose REPORT_DATA commits
 * to runtime data carrying the vTPM's attestation key) and a quote by that vTPM key. Verified
 * end to end (the order of the confidential-containers `az-snp-vtpm` verifier, every step a
 * typed failure):
 *
 * 1. the SNP report inside the HCL report: signature by the VCEK, VCEK ← ASK ← ARK (the
 *    SEV-SNP verifier, verify.ts);
 * 2. REPORT_DATA[0:32] = SHA-256(runtime data), REPORT_DATA[32:64] = 0 (azure.ts);
 * 3. the vTPM AK is the runtime data's `HCLAkPub` JWK (RSA, 2048–4096 bits);
 * 4. the quote (TPMS_ATTEST) is signed by that AK (RSASSA-PKCS1-v1_5, SHA-256);
 * 5. it is a TPM-generated quote of one SHA-256 bank, its extraData is the expected nonce,
 *    and the PCR values hash to its pcrDigest.
 *
 * Appraisal then holds the SNP claims to the SEV-SNP reference values and the vTPM PCRs to
 * theirs.
 */

/** Evidence in the JSON shapes of the `az-snp-vtpm` attester: v0 (`report`, `quote`, `vcek`) or v1/v2 (`version`, `hcl_report`, `tpm_quote`, `vcek`). */
export interface AzureVtpmEvidence {
  readonly version: 0 | 1 | 2;
  readonly hclReport: Uint8Array;
  /** TPMS_ATTEST bytes. */
  readonly quoteMessage: Uint8Array;
  /** The raw RSASSA signature over `quoteMessage`. */
  readonly quoteSignature: Uint8Array;
  /** SHA-256 PCR values in the quote's selection order. */
  readonly pcrs: readonly Uint8Array[];
  /** The VCEK (DER). */
  readonly vcek: Uint8Array;
}

/** Larger evidence is refused before parsing: a real one is some 40 KB of JSON. */
export const MAX_AZURE_EVIDENCE_BYTES = 256 * 1024;

function malformed(message: string): never {
  throw new MalformedEvidenceError("malformed_evidence", `Azure vTPM evidence: ${message}`);
}

function byteArray(value: unknown, what: string, max: number): Uint8Array {
  if (!Array.isArray(value) || value.length > max) return malformed(`${what} is not a byte array`);
  const out = new Uint8Array(value.length);
  for (let i = 0; i < value.length; i++) {
    const b = value[i] as unknown;
    if (typeof b !== "number" || !Number.isInteger(b) || b < 0 || b > 255) return malformed(`${what}[${i}] is not a byte`);
    out[i] = b;
  }
  return out;
}

function hexBytes(value: unknown, what: string, max: number): Uint8Array {
  if (typeof value !== "string" || value.length > 2 * max || !/^(?:[0-9a-fA-F]{2})*$/.test(value)) return malformed(`${what} is not hex`);
  const out = new Uint8Array(value.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(value.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** base64url as serde's `Base64<UrlSafe>` writes it (padding allowed); anything else is refused, not repaired. */
function base64urlBytes(value: unknown, what: string, max: number): Uint8Array {
  if (typeof value !== "string" || value.length > (4 * max) / 3 + 4 || !/^[A-Za-z0-9_-]*={0,2}$/.test(value)) return malformed(`${what} is not base64url`);
  const plain = value.replace(/=+$/, "").replace(/-/g, "+").replace(/_/g, "/");
  if (plain.length % 4 === 1) return malformed(`${what} is not base64url`);
  const binary = atob(plain + "===".slice((plain.length + 3) % 4));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Exactly these members: an extra one would be ignored by one reader and read by another. */
function onlyMembers(value: Record<string, unknown>, names: readonly string[], what: string): void {
  for (const key of Object.keys(value)) if (!names.includes(key)) malformed(`${what} has an unknown member ${JSON.stringify(key)}`);
  for (const name of names) if (!(name in value)) malformed(`${what} lacks ${name}`);
}

const MAX_HCL_BYTES = 8 * 1024;
const MAX_QUOTE_BYTES = 1024;
const MAX_SIGNATURE_BYTES = 512;
const MAX_PCRS = 24;

/**
 * Reads the evidence from its JSON text or bytes (strictly) or from a value already read
 * strictly (a request body). Both attester shapes; nothing else.
 */
export function parseAzureVtpmEvidence(input: Uint8Array | string | unknown): AzureVtpmEvidence {
  let json: unknown = input;
  if (typeof input === "string" || input instanceof Uint8Array) {
    const size = typeof input === "string" ? input.length : input.length;
    if (size > MAX_AZURE_EVIDENCE_BYTES) malformed(`more than ${MAX_AZURE_EVIDENCE_BYTES} bytes`);
    try {
      json = parseStrictJson(input);
    } catch (error) {
      if (!(error instanceof StrictJsonError)) throw error;
      malformed(`not strict JSON (${error.code})`);
    }
  }
  if (!isObject(json)) return malformed("not a JSON object");
  if ("version" in json) {
    const version = json["version"];
    if (version !== 1 && version !== 2) throw new MalformedEvidenceError("unsupported_evidence", `Azure vTPM evidence: version ${String(version)}`);
    onlyMembers(json, ["version", "tpm_quote", "hcl_report", "vcek"], "the evidence");
    const quote = json["tpm_quote"];
    if (!isObject(quote)) return malformed("tpm_quote is not an object");
    onlyMembers(quote, ["signature", "message", "pcrs"], "tpm_quote");
    const pcrs = quote["pcrs"];
    if (!Array.isArray(pcrs) || pcrs.length > MAX_PCRS) return malformed("tpm_quote.pcrs is not a list of PCR values");
    return {
      version,
      hclReport: base64urlBytes(json["hcl_report"], "hcl_report", MAX_HCL_BYTES),
      quoteMessage: hexBytes(quote["message"], "tpm_quote.message", MAX_QUOTE_BYTES),
      quoteSignature: hexBytes(quote["signature"], "tpm_quote.signature", MAX_SIGNATURE_BYTES),
      pcrs: pcrs.map((pcr, i) => hexBytes(pcr, `tpm_quote.pcrs[${i}]`, 32)),
      vcek: base64urlBytes(json["vcek"], "vcek", 16 * 1024),
    };
  }
  onlyMembers(json, ["report", "quote", "vcek"], "the evidence");
  const quote = json["quote"];
  if (!isObject(quote)) return malformed("quote is not an object");
  onlyMembers(quote, ["signature", "message", "pcrs"], "quote");
  const pcrs = quote["pcrs"];
  if (!Array.isArray(pcrs) || pcrs.length > MAX_PCRS) return malformed("quote.pcrs is not a list of PCR values");
  const vcekPem = json["vcek"];
  if (typeof vcekPem !== "string") return malformed("vcek is not a PEM certificate");
  const [vcek, ...more] = pemBlocks(vcekPem);
  if (!vcek || more.length > 0) return malformed("vcek is not exactly one PEM certificate");
  return {
    version: 0,
    hclReport: byteArray(json["report"], "report", MAX_HCL_BYTES),
    quoteMessage: byteArray(quote["message"], "quote.message", MAX_QUOTE_BYTES),
    quoteSignature: byteArray(quote["signature"], "quote.signature", MAX_SIGNATURE_BYTES),
    pcrs: pcrs.map((pcr, i) => byteArray(pcr, `quote.pcrs[${i}]`, 32)),
    vcek,
  };
}

export interface AzureVtpmVerifyOptions {
  readonly now: Date;
  readonly trustAnchors: SnpTrust;
  readonly collateral?: SnpCollateral;
  /** As for `verifySnpReport`: "require" (default) needs a current CRL of the ARK covering the ASK in `collateral`. */
  readonly revocation?: "require" | "unchecked";
  /** The quote's extraData must be exactly this (a session's binding, a relying party's nonce). */
  readonly nonce: Uint8Array;
  /** ASK/ARK candidates (DER) for a product whose ASK is not pinned; the ARK is always the trust anchors'. */
  readonly chain?: readonly Uint8Array[];
}

export interface VerifiedAzureVtpm {
  readonly type: "azure-snp-vtpm";
  readonly snp: VerifiedSnpReport;
  /** The HCL runtime claims, read strictly (VM configuration, user data). */
  readonly runtimeClaims: Record<string, unknown>;
  /** RFC 7638 thumbprint (base64url) of the vTPM AK the quote verified with. */
  readonly akThumbprint: string;
  /** SHA-256 PCRs the quote covers, values lower-case hex. */
  readonly pcrs: readonly { readonly index: number; readonly value: string }[];
  readonly pcrDigest: string;
  readonly extraData: string;
}

/** RSA bounds of the AK: below 2048 bits is refused as weak, above 4096 as outside what a vTPM makes. */
const MIN_AK_BYTES = 256;
const MAX_AK_BYTES = 512;

/** The vTPM AK from the runtime claims' `keys`: the one JWK with kid `HCLAkPub`, RSA with e = 65537. */
async function vtpmAk(runtime: Record<string, unknown>): Promise<{ key: CryptoKey; thumbprint: string }> {
  const keys = runtime["keys"];
  const fail = (why: string): never => {
    throw new EvidenceVerificationError("vtpm_key_invalid", `Azure vTPM evidence: the runtime data's HCLAkPub ${why}`);
  };
  if (!Array.isArray(keys)) return fail("is missing (no keys array)");
  const matching = keys.filter((k): k is Record<string, unknown> => isObject(k) && k["kid"] === "HCLAkPub");
  if (matching.length !== 1) return fail(matching.length === 0 ? "is missing" : "appears twice");
  const jwk = matching[0] as Record<string, unknown>;
  const n = jwk["n"];
  const e = jwk["e"];
  if (jwk["kty"] !== "RSA" || typeof n !== "string" || typeof e !== "string") return fail("is not an RSA JWK");
  if (e !== "AQAB") return fail("has an exponent other than 65537");
  let modulus: Uint8Array;
  try {
    modulus = base64urlBytes(n, "n", MAX_AK_BYTES + 1);
  } catch {
    return fail("has a modulus that is not base64url");
  }
  if (modulus.length < MIN_AK_BYTES || modulus.length > MAX_AK_BYTES || modulus[0] === 0) return fail(`has a ${modulus.length * 8}-bit modulus`);
  let key: CryptoKey;
  try {
    // A fresh JWK: the attester's own `key_ops` (["sign"]) would forbid the verify usage.
    key = await crypto.subtle.importKey("jwk", { kty: "RSA", n, e }, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, false, ["verify"]);
  } catch (cause) {
    throw new EvidenceVerificationError("vtpm_key_invalid", "Azure vTPM evidence: HCLAkPub does not import as an RSA key", { cause });
  }
  const canonical = new TextEncoder().encode(`{"e":"${e}","kty":"RSA","n":"${n}"}`);
  const thumbprint = b64url(new Uint8Array(await crypto.subtle.digest("SHA-256", canonical)));
  return { key, thumbprint };
}

/** Verifies Azure SEV-SNP vTPM evidence (see the module comment for the steps). */
export async function verifyAzureVtpm(evidence: AzureVtpmEvidence, options: AzureVtpmVerifyOptions): Promise<VerifiedAzureVtpm> {
  // Snapshot the caller's bytes once.
  const hclBytes = evidence.hclReport.slice();
  const message = evidence.quoteMessage.slice();
  const signature = evidence.quoteSignature.slice();
  const values = evidence.pcrs.map((pcr) => pcr.slice());
  const nonce = options.nonce.slice();

  const hcl = parseAzureHclReport(hclBytes);
  const snp = await verifySnpReport(
    { report: hcl.snpReport, endorsementKey: evidence.vcek, certificates: options.chain ?? [] },
    {
      now: options.now,
      trustAnchors: options.trustAnchors,
      ...(options.collateral ? { collateral: options.collateral } : {}),
      ...(options.revocation ? { revocation: options.revocation } : {}),
    },
  );
  await verifyHclBinding(hcl, snp.report.reportData);
  // The runtime data was read strictly by parseAzureHclReport; an object is all it can be used as.
  const runtime = parseStrictJson(hcl.runtimeData);
  if (!isObject(runtime)) throw new EvidenceVerificationError("vtpm_key_invalid", "Azure vTPM evidence: the runtime data is not a JSON object");
  const ak = await vtpmAk(runtime);

  // Authenticity before any field of the quote is read: a flipped byte anywhere fails here.
  if (!(await crypto.subtle.verify({ name: "RSASSA-PKCS1-v1_5" }, ak.key, signature as Uint8Array<ArrayBuffer>, message as Uint8Array<ArrayBuffer>))) {
    throw new EvidenceVerificationError("evidence_signature_invalid", "Azure vTPM evidence: the quote is not signed by the HCL report's vTPM AK");
  }
  const attest = parseAttest(message, "Azure vTPM quote");
  if (attest.magic !== TPM_GENERATED_VALUE) throw new EvidenceVerificationError("attest_not_tpm_generated", "Azure vTPM evidence: the quote's magic is not TPM_GENERATED_VALUE");
  if (attest.type !== TPM_ST.ATTEST_QUOTE || attest.attested.kind !== "quote") throw new EvidenceVerificationError("attest_type_mismatch", "Azure vTPM evidence: not a quote");
  if (!bytesEqual(attest.extraData, nonce)) throw new EvidenceVerificationError("qualifying_data_mismatch", "Azure vTPM evidence: the quote's extraData is not the expected nonce");
  const [bank, ...others] = attest.attested.pcrSelect;
  if (!bank || others.length > 0 || bank.hashAlg !== TPM_ALG.SHA256) {
    throw new EvidenceVerificationError("pcr_selection_mismatch", "Azure vTPM evidence: the quote must select exactly one SHA-256 bank");
  }
  if (values.length !== bank.pcrs.length || values.some((v) => v.length !== 32)) {
    throw new MalformedEvidenceError("malformed_evidence", `Azure vTPM evidence: ${values.length} PCR values for a selection of ${bank.pcrs.length}`);
  }
  // Part 3 §18.4.1: pcrDigest is the signing hash (SHA-256 here) over the values in selection order.
  if (!bytesEqual(await pcrDigestOf(TPM_ALG.SHA256, values), attest.attested.pcrDigest)) {
    throw new EvidenceVerificationError("pcr_digest_mismatch", "Azure vTPM evidence: the PCR values do not hash to the quote's pcrDigest");
  }
  return {
    type: "azure-snp-vtpm",
    snp,
    runtimeClaims: runtime,
    akThumbprint: ak.thumbprint,
    pcrs: bank.pcrs.map((index, i) => ({ index, value: toHex(values[i] as Uint8Array) })),
    pcrDigest: toHex(attest.attested.pcrDigest),
    extraData: toHex(attest.extraData),
  };
}

/** Reference values: the SEV-SNP ones for the report (its REPORT_DATA is the HCL binding, checked by verify) and vTPM PCRs. */
export interface AzureVtpmReference {
  readonly snp: Omit<SnpReferenceValues, "reportData">;
  /** Allowed lower-case hex values per vTPM PCR (SHA-256); PCRs not listed are reported only. */
  readonly pcrs: ReadonlyMap<number, readonly string[]>;
}

export interface AzureVtpmClaims {
  readonly snp: SnpClaims;
  readonly pcrs: readonly { readonly index: number; readonly value: string }[];
  readonly pcrsAppraised: readonly number[];
  readonly pcrDigest: string;
  readonly akThumbprint: string;
  /** `vm-configuration` of the runtime claims (secure-boot, tpm-enabled, console-enabled…), as attested by REPORT_DATA. */
  readonly vmConfiguration: Record<string, unknown> | null;
}

/** Normalises vTPM PCR reference values: index 0..23, 32-byte hex, at least one value each. */
export function azurePcrReference(reference: Readonly<Record<string, readonly string[]>>): ReadonlyMap<number, readonly string[]> {
  const out = new Map<number, readonly string[]>();
  for (const [key, values] of Object.entries(reference)) {
    const index = /^(0|[1-9]\d?)$/.test(key) ? Number(key) : NaN;
    if (!(index >= 0 && index <= 23)) throw new EvidenceConfigurationError("invalid_reference_values", `vtpm PCR ${key} is not 0..23`);
    const list = normaliseAllowlist(values, 32, `vtpm PCR ${key}`);
    if (list === "any" || list.length === 0) throw new EvidenceConfigurationError("invalid_reference_values", `vtpm PCR ${key} allows nothing`);
    out.set(index, list);
  }
  return out;
}

/** Appraises verified Azure evidence: the SNP report, then each vTPM PCR with reference values. */
export function appraiseAzureVtpm(verified: VerifiedAzureVtpm, reference: AzureVtpmReference): AzureVtpmClaims {
  // REPORT_DATA is the HCL runtime binding, already checked: there is no session value for it to equal.
  const snp = appraiseSnp(verified.snp, { ...reference.snp, reportData: "unchecked" });
  const appraised: number[] = [];
  for (const { index, value } of verified.pcrs) {
    const allowed = reference.pcrs.get(index);
    if (!allowed) continue;
    if (!allowed.includes(value)) throw new AppraisalError("pcr_value_not_allowed", `vTPM PCR ${index} = ${value} is not an allowed reference value`);
    appraised.push(index);
  }
  for (const index of reference.pcrs.keys()) {
    if (!verified.pcrs.some((p) => p.index === index)) throw new AppraisalError("pcr_value_not_allowed", `vTPM PCR ${index} has reference values but is not in the quote`);
  }
  const configuration = verified.runtimeClaims["vm-configuration"];
  return {
    snp,
    pcrs: verified.pcrs,
    pcrsAppraised: appraised,
    pcrDigest: verified.pcrDigest,
    akThumbprint: verified.akThumbprint,
    vmConfiguration: isObject(configuration) ? configuration : null,
  };
}
