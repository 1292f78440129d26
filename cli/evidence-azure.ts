/**
 * `warden evidence verify --type azure-snp-vtpm`: Azure confidential VM evidence (the
 * az-snp-vtpm attester's JSON, either shape) verified offline with the worker's verifier
 * (worker/verifiers/sev-snp/azure-vtpm.ts) against the pinned AMD roots, then a baseline
 * appraisal of its SNP report (debug refused, VMPL 0).
 *
 * | option | format |
 * |---|---|
 * | --evidence | `{report, quote, vcek}` (v0) or `{version, hcl_report, tpm_quote, vcek}` (v1/v2) |
 * | --certs | another VCEK (DER/PEM) to use instead of the evidence's, or ASK/ARK candidates |
 * | --nonce | the quote's expected extraData, hex; without it the nonce is reported, not checked |
 * | --collateral | AMD KDS CRLs (DER, PEM or hex); with one, the ASK must be covered by it; without, revocation is not checked (a warning) |
 * | --now | verification time (RFC 3339) |
 */
import { EvidenceError } from "../worker/verifiers/errors.ts";
import { fromHex, toHex } from "../worker/verifiers/reader.ts";
import { KdsOid } from "../worker/verifiers/sev-snp/endorsement.ts";
import { appraiseAzureVtpm, parseAzureVtpmEvidence, pinnedSnpTrust, verifyAzureVtpm } from "../worker/verifiers/sev-snp/index.ts";
import { parseAttest } from "../worker/verifiers/tpm/structures.ts";
import { parseCertificate, pemBlocks } from "../worker/verifiers/x509/certificate.ts";
import { asText, crlBytes, type EvidenceInput } from "./evidence.ts";

export interface AzureVerifyResult {
  valid: boolean;
  code?: string;
  message?: string;
  /** The SNP report's claims (hex), once it verified. */
  measurements?: Record<string, string>;
  vtpm?: { ak: string; pcr_bank: "sha256"; pcr_digest: string; extra_data: string; pcrs: Record<string, string> };
  vm_configuration?: Record<string, unknown> | null;
  warnings?: string[];
}

function certificates(inputs: readonly EvidenceInput[]): Uint8Array[] {
  return inputs.flatMap((input) => {
    const text = asText(input);
    return text !== undefined && text.includes("-----BEGIN CERTIFICATE-----") ? pemBlocks(text) : [typeof input === "string" ? new TextEncoder().encode(input) : input];
  });
}

/** Verifies Azure vTPM evidence; rejections come back as `{ valid: false, code }`. */
export async function verifyAzureEvidence(args: {
  evidence: EvidenceInput;
  certs?: readonly EvidenceInput[];
  collateral?: readonly EvidenceInput[];
  nonce?: string;
  now: Date;
}): Promise<AzureVerifyResult> {
  const warnings: string[] = [];
  if (!(args.now instanceof Date) || Number.isNaN(args.now.getTime())) return { valid: false, code: "invalid_reference_values", message: "--now is not a valid time" };
  try {
    let evidence = parseAzureVtpmEvidence(args.evidence);
    const given = certificates(args.certs ?? []).map((der) => parseCertificate(der));
    const vcek = given.find((c) => c.extensions.has(KdsOid.productName));
    if (vcek) evidence = { ...evidence, vcek: vcek.der };
    let nonce: Uint8Array;
    if (args.nonce !== undefined) nonce = fromHex(args.nonce, "--nonce");
    else {
      nonce = parseAttest(evidence.quoteMessage, "Azure vTPM quote").extraData;
      warnings.push("no --nonce: the quote's extraData is reported, not checked");
    }
    // As for sev-snp: without a CRL, verified explicitly without revocation and said so (the worker always requires one).
    const crls = (args.collateral ?? []).flatMap(crlBytes);
    if (crls.length === 0) warnings.push("revocation not checked: no AMD KDS CRL was supplied (--collateral)");
    const verified = await verifyAzureVtpm(evidence, {
      now: args.now,
      trustAnchors: await pinnedSnpTrust(),
      revocation: crls.length > 0 ? "require" : "unchecked",
      ...(crls.length > 0 ? { collateral: { crls } } : {}),
      nonce,
      chain: given.filter((c) => c !== vcek).map((c) => c.der),
    });
    const base = {
      vtpm: { ak: verified.akThumbprint, pcr_bank: "sha256" as const, pcr_digest: verified.pcrDigest, extra_data: verified.extraData, pcrs: Object.fromEntries(verified.pcrs.map((p) => [String(p.index), p.value])) },
      ...(warnings.length ? { warnings } : {}),
    };
    const zero = { bootloader: 0, tee: 0, snp: 0, microcode: 0 };
    try {
      const claims = appraiseAzureVtpm(verified, { snp: { measurements: "any", minimumTcb: { Milan: zero, Genoa: zero, Turin: { ...zero, fmc: 0 } } }, pcrs: new Map() });
      const s = claims.snp;
      const measurements = {
        product: s.product,
        report_version: String(s.reportVersion),
        vmpl: String(s.vmpl),
        policy: s.policy,
        measurement: s.measurement,
        host_data: s.hostData,
        report_data: s.reportData,
        reported_tcb: Object.entries(s.reportedTcb).map(([k, v]) => `${k}=${v}`).join(","),
        ...(s.chipId ? { chip_id: s.chipId } : {}),
      };
      return { valid: true, measurements, ...base, vm_configuration: claims.vmConfiguration };
    } catch (error) {
      if (!(error instanceof EvidenceError)) throw error;
      return { valid: false, code: error.code, message: error.message, ...base, measurements: { measurement: toHex(verified.snp.report.measurement) } };
    }
  } catch (error) {
    if (error instanceof EvidenceError) return { valid: false, code: error.code, message: error.message, ...(warnings.length ? { warnings } : {}) };
    throw error;
  }
}

/** Help of `warden evidence verify --type azure-snp-vtpm`. */
export const AZURE_EVIDENCE_HELP = [
  "warden evidence verify --type azure-snp-vtpm --evidence <az-snp-vtpm JSON> [--certs <VCEK or ASK/ARK>]... [--collateral <AMD KDS CRL>]... [--nonce <hex>] [--now <RFC 3339>]",
  "",
  "Azure confidential VM evidence: the SNP report in the HCL report to the pinned AMD roots,",
  "REPORT_DATA = SHA-256(runtime data), the vTPM quote by the runtime data's HCLAkPub, its",
  "extraData (--nonce) and PCR digest. Prints SNP claims and vTPM PCRs; exits 0 when valid.",
  "With --collateral (AMD KDS CRLs, DER or PEM) the ASK must be covered by a current CRL of",
  "the ARK; without, revocation is not checked, and a warning says so.",
].join("\n");
