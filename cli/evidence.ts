/**
 * `warden evidence verify`: the verification behind the command, with input
 * sniffing for the formats evidence and collateral come in. Argument parsing
 * and file reading live in the command module; this takes file contents.
 *
 * The formats read are listed in `CVM_EVIDENCE_HELP` (what `--help` prints). Trust anchors
 * are always the roots pinned in the repository.
 */
import {
  appraiseSnp,
  parseAzureHclReport,
  pinnedSnpTrust,
  REPORT_SIZE,
  snpClaims,
  verifyHclBinding,
  verifySnpReport,
  type SnpClaims,
} from "../worker/verifiers/sev-snp/index.ts";
import {
  appraiseTdx,
  collateralFromDcapQvl,
  collateralFromPcs,
  isDcapQvlCollateral,
  pinnedTdxTrust,
  tdxClaims,
  tdxQuoteLength,
  verifyTdxQuote,
  type TcbStatus,
  type TdxClaims,
  type TdxCollateral,
} from "../worker/verifiers/tdx/index.ts";
import { StrictJsonError, parseStrictJson } from "../worker/json/strict.ts";
import { EvidenceError } from "../worker/verifiers/errors.ts";
import { fromHex, isAllZero } from "../worker/verifiers/reader.ts";
import { parseCertificate, parseCrl, pemBlocks, type Certificate } from "../worker/verifiers/x509/certificate.ts";
import { KdsOid } from "../worker/verifiers/sev-snp/endorsement.ts";

/** Help of `warden evidence verify --type sev-snp | tdx`: usage and the formats each option reads. */
export const CVM_EVIDENCE_HELP = [
  "warden evidence verify --type sev-snp | tdx --evidence <file> [--certs <file>]... [--collateral <file>]... [--now <RFC 3339>] [--allow-debug] [--allow-migration-agent]",
  "",
  "Checks an AMD SEV-SNP report or an Intel TDX quote offline against the AMD and Intel roots pinned",
  "in the repository. --now is optional (default: now); collateral carries its own validity, so",
  "checking an old fixture needs a time inside it. Formats:",
  "  sev-snp --evidence    raw 0x4A0-byte ATTESTATION_REPORT; the same as hex text (whitespace ignored);",
  "                        Azure CVM attester JSON (report = HCL report as a byte array, vcek = PEM);",
  "                        a binary Azure HCL report (\"HCLA\")",
  "  sev-snp --certs       the VCEK/VLEK as DER or PEM; KDS cert_chain PEM (ASK/ASVK, ARK); repeatable",
  "  sev-snp --collateral  AMD KDS CRLs (DER or PEM)",
  "  tdx --evidence        raw quote v4/v5 (bytes after the quote are a warning and ignored); the same as",
  "                        hex or base64 text",
  "  tdx --collateral      dcap-qvl QuoteCollateralV3 JSON; or raw Intel PCS v4 responses: the TCB Info",
  "                        body ({\"tcbInfo\":…}), the QE Identity body ({\"enclaveIdentity\":…}), CRLs",
  "                        (DER, PEM or hex; the Root CA's told apart from the PCK CA's by its issuer)",
  "  tdx --certs           the TCB Info / QE Identity issuer chain (PEM), for raw PCS responses",
].join("\n");

/** File contents: bytes, or text already decoded. */
export type EvidenceInput = Uint8Array | string;

export interface EvidenceVerifyArgs {
  type: "sev-snp" | "tdx";
  evidence: EvidenceInput;
  /** SEV-SNP: the VCEK/VLEK and optionally its chain. TDX: the TCB Info / QE Identity issuer chain for raw PCS responses. */
  certs?: EvidenceInput | readonly EvidenceInput[];
  /** TDX: dcap-qvl collateral JSON, or the raw PCS responses and CRLs. SEV-SNP: KDS CRLs. */
  collateral?: EvidenceInput | readonly EvidenceInput[];
  /** The verification time (`--now`). */
  now: Date;
  /** SEV-SNP: VMPLs accepted (default [0]). */
  vmpls?: readonly number[];
  /** Accept debug guests / TDs (default false). */
  allowDebug?: boolean;
  /** SEV-SNP: accept guests whose policy allows a migration agent, POLICY.MIGRATE_MA (default false). */
  allowMigrationAgent?: boolean;
  /** TDX: non-UpToDate TCB statuses accepted, each with the advisories accepted with it. */
  acceptedTcbStatuses?: readonly { status: Exclude<TcbStatus, "UpToDate" | "Revoked">; advisoryIds: readonly string[] }[];
}

export interface EvidenceVerifyResult {
  valid: boolean;
  /** The error code of the rejection (stable; see worker/verifiers/errors.ts). */
  code?: string;
  message?: string;
  /** TDX: the merged TCB status. */
  tcb_status?: string;
  advisory_ids?: string[];
  /** Verified measurements and identities (hex), present once the evidence verified, even when appraisal rejects it. */
  measurements?: Record<string, string>;
  /** Things the caller should know that did not decide the result (ignored padding, revocation not checked). */
  warnings?: string[];
}

const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/** The text of an input when it is text (UTF-8 without NULs or control bytes other than whitespace), else undefined. */
export function asText(input: EvidenceInput): string | undefined {
  if (typeof input === "string") return input;
  for (const b of input) if (b === 0 || (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d)) return undefined;
  try {
    return decoder.decode(input);
  } catch {
    return undefined;
  }
}

function asBytes(input: EvidenceInput): Uint8Array {
  return typeof input === "string" ? new TextEncoder().encode(input) : input;
}

function list(input: EvidenceInput | readonly EvidenceInput[] | undefined): EvidenceInput[] {
  if (input === undefined) return [];
  return Array.isArray(input) ? [...(input as readonly EvidenceInput[])] : [input as EvidenceInput];
}

function fail(message: string): never {
  throw new EvidenceError("malformed_evidence", message);
}

/** Binary from text that is hex or base64 (whitespace ignored). */
function decodeTextBinary(text: string): Uint8Array | undefined {
  const compact = text.replace(/\s+/g, "");
  if (/^[0-9a-fA-F]+$/.test(compact) && compact.length % 2 === 0) return fromHex(compact);
  if (/^[A-Za-z0-9+/]+={0,2}$/.test(compact) && compact.length % 4 === 0) {
    const bin = atob(compact);
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  }
  return undefined;
}

/** Certificates from DER or PEM inputs. */
function certificatesOf(inputs: EvidenceInput[]): Certificate[] {
  const out: Certificate[] = [];
  for (const input of inputs) {
    const text = asText(input);
    if (text !== undefined && text.includes("-----BEGIN CERTIFICATE-----")) {
      for (const der of pemBlocks(text)) out.push(parseCertificate(der));
    } else {
      out.push(parseCertificate(asBytes(input)));
    }
  }
  return out;
}

/** CRLs from DER, PEM or hex inputs. */
export function crlBytes(input: EvidenceInput): Uint8Array[] {
  const text = asText(input);
  if (text !== undefined) {
    if (text.includes("-----BEGIN X509 CRL-----")) return pemBlocks(text, "X509 CRL");
    const bin = decodeTextBinary(text);
    if (bin) return [bin];
    fail("collateral: unrecognised text");
  }
  return [asBytes(input)];
}

// ---------------------------------------------------------------- SEV-SNP

interface SnpInputs {
  report: Uint8Array;
  endorsementKey: Uint8Array | undefined;
  hcl: ReturnType<typeof parseAzureHclReport> | undefined;
}

function snpEvidenceOf(input: EvidenceInput): SnpInputs {
  const text = asText(input);
  if (text !== undefined) {
    const trimmed = text.trim();
    if (trimmed.startsWith("{")) {
      // Azure CVM attester JSON: { report: [bytes of the HCL report], vcek: PEM, quote: vTPM quote }.
      let json: unknown;
      try {
        // From the input's own bytes when it has them: invalid UTF-8 and a BOM are refused, not decoded away.
        json = parseStrictJson(input);
      } catch (error) {
        if (!(error instanceof StrictJsonError)) throw error;
        fail(`SEV-SNP evidence: not strict JSON (${error.code})`);
      }
      const j = json as { report?: unknown; vcek?: unknown };
      if (!Array.isArray(j.report) || !j.report.every((b) => Number.isInteger(b) && b >= 0 && b <= 255)) fail("SEV-SNP evidence JSON: `report` is not a byte array");
      const hclBytes = Uint8Array.from(j.report as number[]);
      const hcl = parseAzureHclReport(hclBytes);
      const vcek = typeof j.vcek === "string" ? pemBlocks(j.vcek)[0] : undefined;
      return { report: hcl.snpReport, endorsementKey: vcek, hcl };
    }
    const bin = decodeTextBinary(trimmed);
    if (!bin) fail("SEV-SNP evidence: text that is neither hex nor JSON");
    return snpBinary(bin);
  }
  return snpBinary(asBytes(input));
}

function snpBinary(bytes: Uint8Array): SnpInputs {
  // "HCLA": an Azure HCL report wrapping the SNP report.
  if (bytes.length > REPORT_SIZE && bytes[0] === 0x48 && bytes[1] === 0x43 && bytes[2] === 0x4c && bytes[3] === 0x41) {
    const hcl = parseAzureHclReport(bytes);
    return { report: hcl.snpReport, endorsementKey: undefined, hcl };
  }
  return { report: bytes, endorsementKey: undefined, hcl: undefined };
}

function snpMeasurements(c: SnpClaims): Record<string, string> {
  return {
    product: c.product,
    signing_key: c.signingKey,
    report_version: String(c.reportVersion),
    vmpl: String(c.vmpl),
    policy: c.policy,
    measurement: c.measurement,
    host_data: c.hostData,
    id_key_digest: c.idKeyDigest,
    author_key_digest: c.authorKeyDigest,
    report_data: c.reportData,
    family_id: c.familyId,
    image_id: c.imageId,
    reported_tcb: Object.entries(c.reportedTcb)
      .map(([k, v]) => `${k}=${v}`)
      .join(","),
    ...(c.chipId ? { chip_id: c.chipId } : {}),
    ...(c.cspId ? { csp_id: c.cspId } : {}),
  };
}

async function verifySnp(args: EvidenceVerifyArgs, warnings: string[]): Promise<EvidenceVerifyResult> {
  const inputs = snpEvidenceOf(args.evidence);
  const certs = certificatesOf(list(args.certs));
  // The endorsement key is the certificate with the KDS product-name extension; the rest are chain candidates.
  const fromArgs = certs.find((c) => c.extensions.has(KdsOid.productName));
  const endorsement = fromArgs?.der ?? inputs.endorsementKey;
  if (!endorsement) fail("SEV-SNP: no VCEK or VLEK certificate (give it with --certs)");
  const others = certs.filter((c) => c !== fromArgs).map((c) => c.der);
  const crls = list(args.collateral).flatMap(crlBytes);
  // As for TDX: without any CRL the tool still verifies, explicitly without revocation, and says so;
  // with CRLs, one of the ARK must cover the ASK/ASVK (the worker always requires it).
  const revocation = crls.length > 0 ? "require" : "unchecked";
  if (revocation === "unchecked") warnings.push("revocation not checked: no AMD KDS CRL was supplied (--collateral)");
  const verified = await verifySnpReport(
    { report: inputs.report, endorsementKey: endorsement, certificates: others },
    { now: args.now, trustAnchors: await pinnedSnpTrust(), revocation, ...(crls.length > 0 ? { collateral: { crls } } : {}) },
  );
  if (inputs.hcl) await verifyHclBinding(inputs.hcl, verified.report.reportData);
  const measurements = snpMeasurements(snpClaims(verified));
  try {
    appraiseSnp(verified, {
      measurements: "any",
      minimumTcb: { Milan: zeroTcb, Genoa: zeroTcb, Turin: { ...zeroTcb, fmc: 0 } },
      allowedVmpls: args.vmpls ?? [0],
      allowDebug: args.allowDebug ?? false,
      allowMigrationAgent: args.allowMigrationAgent ?? false,
      signingKeys: ["vcek", "vlek"],
      reportData: "unchecked",
    });
  } catch (error) {
    return { ...rejection(error), measurements, ...(warnings.length ? { warnings } : {}) };
  }
  return { valid: true, measurements, ...(warnings.length ? { warnings } : {}) };
}

const zeroTcb = { bootloader: 0, tee: 0, snp: 0, microcode: 0 };

// ---------------------------------------------------------------- TDX

function tdxQuoteOf(input: EvidenceInput, warnings: string[]): Uint8Array {
  let bytes: Uint8Array;
  const text = asText(input);
  if (text !== undefined) {
    const bin = decodeTextBinary(text.trim());
    if (!bin) fail("TDX evidence: text that is neither hex nor base64");
    bytes = bin;
  } else {
    bytes = asBytes(input);
  }
  const length = tdxQuoteLength(bytes);
  if (length < bytes.length) {
    const rest = bytes.subarray(length);
    warnings.push(`ignored ${rest.length} ${isAllZero(rest) ? "zero padding bytes" : "bytes"} after the quote`);
  }
  return bytes.subarray(0, length);
}

function tdxCollateralOf(args: EvidenceVerifyArgs): TdxCollateral {
  const items = list(args.collateral);
  let tcbInfo: string | undefined;
  let qeIdentity: string | undefined;
  const crls: Uint8Array[] = [];
  let chain: string | undefined = list(args.certs)
    .map(asText)
    .filter((t): t is string => t !== undefined)
    .join("\n");
  for (const item of items) {
    const text = asText(item);
    if (text !== undefined && isDcapQvlCollateral(text)) {
      if (items.length > 1) fail("TDX collateral: dcap-qvl collateral JSON stands alone");
      return collateralFromDcapQvl(text);
    }
    const trimmed = text?.trim();
    if (trimmed?.startsWith("{")) {
      if (trimmed.includes('"tcbInfo"')) tcbInfo = trimmed;
      else if (trimmed.includes('"enclaveIdentity"')) qeIdentity = trimmed;
      else fail("TDX collateral: JSON that is neither dcap-qvl collateral nor a PCS TCB Info / QE Identity response");
      continue;
    }
    if (trimmed?.includes("-----BEGIN CERTIFICATE-----")) {
      chain = `${chain ?? ""}\n${trimmed}`;
      continue;
    }
    crls.push(...crlBytes(item));
  }
  if (!tcbInfo || !qeIdentity) fail("TDX collateral: a TCB Info and a QE Identity are needed (dcap-qvl JSON, or both PCS responses)");
  if (!chain?.includes("-----BEGIN CERTIFICATE-----")) fail("TDX collateral: the TCB Info issuer chain (PEM) is needed with raw PCS responses");
  let pckCrl: Uint8Array | undefined;
  let rootCaCrl: Uint8Array | undefined;
  for (const der of crls) {
    const crl = parseCrl(der);
    if (crl.issuerText.includes("CN=Intel SGX Root CA")) rootCaCrl = der;
    else pckCrl = der;
  }
  return collateralFromPcs({
    tcbInfo,
    tcbInfoIssuerChain: chain,
    qeIdentity,
    qeIdentityIssuerChain: chain,
    ...(pckCrl ? { pckCrl } : {}),
    ...(rootCaCrl ? { rootCaCrl } : {}),
  });
}

function tdxMeasurements(c: TdxClaims): Record<string, string> {
  return {
    quote_version: String(c.quoteVersion),
    td_report: c.tdReport,
    fmspc: c.fmspc,
    tee_tcb_svn: c.teeTcbSvn,
    mr_seam: c.mrSeam,
    td_attributes: c.tdAttributes,
    xfam: c.xfam,
    mr_td: c.mrTd,
    mr_config_id: c.mrConfigId,
    mr_owner: c.mrOwner,
    mr_owner_config: c.mrOwnerConfig,
    rtmr0: c.rtmr[0],
    rtmr1: c.rtmr[1],
    rtmr2: c.rtmr[2],
    rtmr3: c.rtmr[3],
    report_data: c.reportData,
    ...(c.mrServiceTd ? { mr_service_td: c.mrServiceTd } : {}),
  };
}

async function verifyTdx(args: EvidenceVerifyArgs, warnings: string[]): Promise<EvidenceVerifyResult> {
  const quote = tdxQuoteOf(args.evidence, warnings);
  const collateral = tdxCollateralOf(args);
  // Without any CRL the tool still verifies, explicitly without revocation, and says so; with CRLs both are required.
  const revocation = collateral.pckCrl || collateral.rootCaCrl ? "require" : "unchecked";
  if (revocation === "unchecked") warnings.push("revocation not checked: no PCK CRL or Root CA CRL was supplied");
  const verified = await verifyTdxQuote({ quote }, { now: args.now, trustAnchors: await pinnedTdxTrust(), collateral, revocation });
  const claims = tdxClaims(verified);
  const base = {
    tcb_status: verified.tcb.status,
    advisory_ids: [...verified.tcb.advisoryIds],
    measurements: tdxMeasurements(claims),
    ...(warnings.length ? { warnings } : {}),
  };
  try {
    appraiseTdx(verified, {
      mrTd: "any",
      reportData: "unchecked",
      allowDebug: args.allowDebug ?? false,
      ...(args.acceptedTcbStatuses ? { acceptedTcbStatuses: args.acceptedTcbStatuses } : {}),
    });
  } catch (error) {
    return { ...rejection(error), ...base };
  }
  return { valid: true, ...base };
}

// ---------------------------------------------------------------- entry

function rejection(error: unknown): EvidenceVerifyResult {
  if (error instanceof EvidenceError) return { valid: false, code: error.code, message: error.message };
  throw error;
}

/**
 * Verifies SEV-SNP or TDX evidence offline against the pinned vendor roots at
 * `now`, then applies a baseline appraisal (no reference measurements: debug
 * refused, SEV-SNP VMPL 0, TDX UpToDate only unless statuses are accepted,
 * TDX SEPT_VE_DISABLE required). Rejections come back as `{ valid: false,
 * code }`; only programming errors throw.
 */
export async function evidenceVerify(args: EvidenceVerifyArgs): Promise<EvidenceVerifyResult> {
  const warnings: string[] = [];
  // A caller's mistake, not a property of the evidence: the command line refuses a bad --now as usage.
  if (!(args.now instanceof Date) || Number.isNaN(args.now.getTime())) throw new RangeError("now is not a valid time");
  try {
    return args.type === "sev-snp" ? await verifySnp(args, warnings) : await verifyTdx(args, warnings);
  } catch (error) {
    return { ...rejection(error), ...(warnings.length ? { warnings } : {}) };
  }
}
