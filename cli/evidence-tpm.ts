/**
 * `warden evidence verify --type tpm | tpm-ek`: the same TPM verifiers the worker runs, on
 * files, offline. This module takes file contents (the command reads the files) and returns
 * the result; `valid` decides the exit code (0 valid, 2 rejected).
 *
 * | type | option | formats |
 * |---|---|---|
 * | tpm-ek | --evidence | the EK certificate, DER or PEM |
 * | tpm-ek | --certs | intermediates, DER or PEM (several PEM blocks per file allowed); the pinned vendor intermediates are always candidates |
 * | tpm | --evidence | TPMS_ATTEST (`tpm2_quote -m`), binary, hex or base64; or the session-evidence JSON `{ "quote", "signature", "pcrs" }` of POST /v1/sessions |
 * | tpm | --signature | TPMT_SIGNATURE (`tpm2_quote -s`), binary, hex or base64 (not with the JSON form) |
 * | tpm | --ak | the AK's TPMT_PUBLIC, or the TPM2B_PUBLIC `tpm2_readpublic -f tss` writes |
 * | tpm | --pcrs | the PCR values: `tpm2_quote -o … -F values` (concatenated in selection order), or JSON `{ "0": "<hex>", … }` |
 * | tpm | --nonce | the qualifying data the quote must carry, hex (or the session nonce, base64url) |
 * | tpm | --selection / --manifest | the required selection (`sha256:0,1,7`), or a bundle manifest whose `attestation.tpm` gives it and the reference values to appraise against |
 *
 * Trust anchors are the vendor roots pinned in worker/verifiers/tpm/roots.
 */
import { StrictJsonError, parseStrictJson } from "../worker/json/strict.ts";
import { EvidenceError } from "../worker/verifiers/errors.ts";
import { asText } from "./evidence.ts";
import { fromHex } from "../worker/verifiers/reader.ts";
import { parseCertificate, pemBlocks, type Certificate } from "../worker/verifiers/x509/certificate.ts";
import { TPM_HASH } from "../worker/verifiers/tpm/constants.ts";
import {
  appraiseQuote,
  pinnedTpmTrust,
  tpmReference,
  verifyEkCertificate,
  verifyQuote,
  parsePublic,
  type TpmManifestReference,
  type TpmTrust,
} from "../worker/verifiers/tpm/index.ts";

/** File contents: bytes, or text already decoded. */
export type TpmInput = Uint8Array | string;

export interface TpmEkArgs {
  evidence: TpmInput;
  certs?: readonly TpmInput[];
  now: Date;
  /** Defaults to the pinned vendor roots. */
  trust?: TpmTrust;
}

export interface TpmEkResult {
  valid: boolean;
  code?: string;
  message?: string;
  /** Vendor of the root the chain ends at. */
  vendor?: string;
  /** Subjects from the EK's issuer to the root. */
  chain?: string[];
  issuer?: string;
  tpm?: { manufacturer: string; manufacturer_name: string | null; model: string; version: string };
}

export interface TpmQuoteArgs {
  evidence: TpmInput;
  signature?: TpmInput;
  ak: TpmInput;
  pcrs?: TpmInput;
  nonce: string;
  /** `sha256:0,1,7`; or give `manifest`. */
  selection?: string;
  /** A bundle manifest (JSON) with `attestation.tpm`: selection and reference values. */
  manifest?: TpmInput;
}

export interface TpmQuoteResult {
  valid: boolean;
  code?: string;
  message?: string;
  pcr_bank?: string;
  pcrs?: Record<string, string>;
  pcr_digest?: string;
  firmware_version?: string;
  clock?: string;
  reset_count?: number;
  restart_count?: number;
  /** Present when a manifest gave reference values. */
  appraisal?: { status: string; appraised: number[]; reported_only: number[] };
}

function malformed(message: string): never {
  throw new EvidenceError("malformed_evidence", message);
}

/** Binary input, or text holding hex or base64 of it. */
function binary(input: TpmInput, what: string): Uint8Array {
  const text = asText(input);
  if (text === undefined) return input as Uint8Array;
  const compact = text.replace(/\s+/g, "");
  if (/^[0-9a-fA-F]*$/.test(compact) && compact.length % 2 === 0) return fromHex(compact);
  if (/^[A-Za-z0-9+/]+={0,2}$/.test(compact) && compact.length % 4 === 0) return Uint8Array.from(atob(compact), (c) => c.charCodeAt(0));
  return malformed(`${what}: text that is neither hex nor base64`);
}

function certificates(input: TpmInput, what: string): Certificate[] {
  const text = asText(input);
  if (text !== undefined && text.includes("-----BEGIN CERTIFICATE-----")) return pemBlocks(text).map((der, i) => parseCertificate(der, `${what}[${i}]`));
  return [parseCertificate(binary(input, what), what)];
}

function rejected(error: unknown): { valid: false; code: string; message: string } {
  if (error instanceof EvidenceError) return { valid: false, code: error.code, message: error.message };
  throw error;
}

/** Checks an EK certificate against the TPM trust store at `now` (the worker's enrollment check). */
export async function verifyTpmEk(args: TpmEkArgs): Promise<TpmEkResult> {
  // A caller's mistake, not a property of the evidence: the command line refuses a bad --now as usage.
  if (!(args.now instanceof Date) || Number.isNaN(args.now.getTime())) throw new RangeError("now is not a valid time");
  try {
    const [ek, ...extra] = certificates(args.evidence, "EK certificate");
    if (!ek) return malformed("no EK certificate");
    const intermediates = [...extra, ...(args.certs ?? []).flatMap((c, i) => certificates(c, `certs[${i}]`))];
    const result = await verifyEkCertificate(ek.der, { now: args.now, trust: args.trust ?? (await pinnedTpmTrust()), intermediates });
    return {
      valid: true,
      vendor: result.vendor,
      chain: [...result.chain],
      issuer: result.issuer,
      ...(result.tpm
        ? { tpm: { manufacturer: result.tpm.manufacturer, manufacturer_name: result.tpm.manufacturerName ?? null, model: result.tpm.model, version: result.tpm.version } }
        : {}),
    };
  } catch (error) {
    return rejected(error);
  }
}

/** A JSON input read strictly, from its bytes when it has them (so invalid UTF-8 and a BOM are refused too). */
function parseJson(input: TpmInput, what: string): unknown {
  try {
    return parseStrictJson(input);
  } catch (error) {
    if (!(error instanceof StrictJsonError)) throw error;
    return malformed(`${what} is not strict JSON (${error.code})`);
  }
}

function pcrMap(values: Record<string, unknown>): Map<number, Uint8Array> {
  return new Map(
    Object.entries(values).map(([k, v]) => {
      if (!/^(0|[1-9]\d?)$/.test(k) || typeof v !== "string") return malformed(`PCR ${k}: expected an index and a hex value`);
      return [Number(k), fromHex(v, `PCR ${k}`)] as const;
    }),
  );
}

function selectionOf(text: string): TpmManifestReference {
  const m = /^(sha256|sha384):(\d{1,2}(?:,\d{1,2})*)$/.exec(text.trim());
  if (!m) return malformed(`--selection must look like sha256:0,1,7, not ${JSON.stringify(text)}`);
  return { pcr_bank: m[1] as string, pcrs: (m[2] as string).split(",").map(Number), reference: {} };
}

function manifestReference(input: TpmInput): TpmManifestReference {
  const json = parseJson(input, "--manifest") as { attestation?: { tpm?: TpmManifestReference } };
  const tpm = json.attestation?.tpm;
  if (!tpm) return malformed("--manifest has no attestation.tpm");
  return { pcr_bank: tpm.pcr_bank, pcrs: tpm.pcrs, reference: tpm.reference ?? {} };
}

/** A TPMT_PUBLIC, or a TPM2B_PUBLIC whose size field matches the rest (tpm2-tools' "tss" format). */
function akPublic(input: TpmInput): Uint8Array {
  const bytes = binary(input, "--ak");
  if (bytes.length > 2 && ((bytes[0] as number) << 8 | (bytes[1] as number)) === bytes.length - 2) return bytes.subarray(2);
  return bytes;
}

/** Verifies a quote against an AK, a nonce and a selection, and appraises it when reference values are given. */
export async function verifyTpmQuote(args: TpmQuoteArgs): Promise<TpmQuoteResult> {
  try {
    const reference = tpmReference(args.manifest ? manifestReference(args.manifest) : args.selection ? selectionOf(args.selection) : malformed("give --selection or --manifest"));
    const size = (TPM_HASH[reference.selection.hashAlg] as { size: number }).size;
    const ordered = [...reference.selection.pcrs].sort((a, b) => a - b);
    let quote: Uint8Array;
    let signature: Uint8Array;
    let pcrs: Map<number, Uint8Array>;
    const text = asText(args.evidence)?.trim();
    if (text?.startsWith("{")) {
      // The session-evidence JSON a shim sends to POST /v1/sessions.
      const json = parseJson(args.evidence, "--evidence") as { quote?: unknown; signature?: unknown; pcrs?: unknown };
      if (typeof json.quote !== "string" || typeof json.signature !== "string" || typeof json.pcrs !== "object" || json.pcrs === null) {
        return malformed("evidence JSON needs quote, signature and pcrs");
      }
      quote = binary(json.quote, "quote");
      signature = binary(json.signature, "signature");
      pcrs = pcrMap(json.pcrs as Record<string, unknown>);
    } else {
      quote = binary(args.evidence, "--evidence");
      if (args.signature === undefined) return malformed("--signature is required with a binary quote");
      signature = binary(args.signature, "--signature");
      if (args.pcrs === undefined) return malformed("--pcrs is required with a binary quote");
      const pcrText = asText(args.pcrs)?.trim();
      if (pcrText?.startsWith("{")) {
        pcrs = pcrMap(parseJson(args.pcrs, "--pcrs") as Record<string, unknown>);
      } else {
        const values = args.pcrs instanceof Uint8Array ? args.pcrs : binary(args.pcrs, "--pcrs");
        if (values.length !== ordered.length * size) return malformed(`--pcrs holds ${values.length} bytes, not ${ordered.length} values of ${size}`);
        pcrs = new Map(ordered.map((pcr, i) => [pcr, values.subarray(i * size, (i + 1) * size)]));
      }
    }
    const nonce = /^[0-9a-fA-F]*$/.test(args.nonce) && args.nonce.length % 2 === 0
      ? fromHex(args.nonce)
      : Uint8Array.from(atob(args.nonce.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((args.nonce.length + 3) % 4)), (c) => c.charCodeAt(0));
    const verified = await verifyQuote({ quote, signature, pcrs }, { ak: parsePublic(akPublic(args.ak), "--ak"), nonce, selection: reference.selection });
    const base: TpmQuoteResult = {
      valid: true,
      pcr_bank: verified.pcrBank,
      pcrs: Object.fromEntries(verified.pcrs.map((p) => [String(p.index), p.value])),
      pcr_digest: verified.pcrDigest,
      firmware_version: verified.firmwareVersion.toString(16).padStart(16, "0"),
      clock: verified.clock.toString(),
      reset_count: verified.resetCount,
      restart_count: verified.restartCount,
    };
    if (reference.allowed.size === 0) return base;
    try {
      const appraisal = appraiseQuote(verified, reference);
      return { ...base, appraisal: { status: appraisal.status, appraised: [...appraisal.appraised], reported_only: [...appraisal.reportedOnly] } };
    } catch (error) {
      return { ...base, ...rejected(error) };
    }
  } catch (error) {
    return rejected(error);
  }
}

// ---------------------------------------------------------------- command line

/** Help of `warden evidence verify --type tpm | tpm-ek`: usage and the formats each option reads. */
export const TPM_EVIDENCE_HELP = [
  "warden evidence verify --type tpm-ek --evidence <EK certificate> [--certs <intermediates>]... [--now <RFC 3339>]",
  "warden evidence verify --type tpm --evidence <quote> [--signature <file>] --ak <file> [--pcrs <file>] --nonce <hex>",
  "                       (--selection sha256:0,1,7 | --manifest <bundle manifest.json>)",
  "",
  "Checks TPM evidence offline with the worker's own verifiers and the vendor roots pinned in",
  "worker/verifiers/tpm/roots. Formats:",
  "  tpm-ek --evidence   the EK certificate, DER or PEM",
  "  tpm-ek --certs      intermediates, DER or PEM (several PEM blocks per file allowed); the pinned",
  "                      vendor intermediates are always candidates",
  "  tpm --evidence      TPMS_ATTEST (tpm2_quote -m), binary, hex or base64; or the session evidence",
  "                      JSON { \"quote\", \"signature\", \"pcrs\" } of POST /v1/sessions",
  "  tpm --signature     TPMT_SIGNATURE (tpm2_quote -s), binary, hex or base64 (not with the JSON form)",
  "  tpm --ak            the AK's TPMT_PUBLIC, or the TPM2B_PUBLIC tpm2_readpublic -f tss writes",
  "  tpm --pcrs          tpm2_quote -o … -F values (concatenated in selection order), or JSON { \"0\": \"<hex>\", … }",
  "  tpm --nonce         the qualifying data the quote must carry, hex (or the session nonce, base64url)",
  "  tpm --selection     the required selection (sha256:0,1,7); or --manifest, whose attestation.tpm gives",
  "                      it and the reference values to appraise against",
].join("\n");

/** `warden evidence verify` for the TPM types, on the named files: the result the command prints. */
export async function tpmEvidenceResult(
  values: { type: "tpm" | "tpm-ek"; evidence: string; certs?: string[]; now: Date; signature?: string; ak?: string; pcrs?: string; nonce?: string; selection?: string; manifest?: string },
  readFile: (path: string) => Promise<Uint8Array>,
): Promise<{ type: "tpm" | "tpm-ek" } & (TpmEkResult | TpmQuoteResult)> {
  const read = (path: string | undefined) => (path === undefined ? undefined : readFile(path));
  if (values.type === "tpm-ek") {
    const certs = await Promise.all((values.certs ?? []).map((p) => readFile(p)));
    return { type: values.type, ...(await verifyTpmEk({ evidence: await readFile(values.evidence), certs, now: values.now })) };
  }
  if (!values.ak) throw new Error("--ak is required with --type tpm");
  if (values.nonce === undefined) throw new Error("--nonce is required with --type tpm");
  const args: TpmQuoteArgs = { evidence: await readFile(values.evidence), ak: (await read(values.ak)) as Uint8Array, nonce: values.nonce };
  if (values.signature) args.signature = (await read(values.signature)) as Uint8Array;
  if (values.pcrs) args.pcrs = (await read(values.pcrs)) as Uint8Array;
  if (values.selection) args.selection = values.selection;
  if (values.manifest) args.manifest = (await read(values.manifest)) as Uint8Array;
  return { type: values.type, ...(await verifyTpmQuote(args)) };
}
