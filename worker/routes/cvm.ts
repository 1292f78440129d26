import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { base64url } from "jose";
import type { AppEnv } from "../context.ts";
import { fromBase64 as decodeBase64, sha256Hex } from "../evidence.ts";
import type { JsonValue } from "../log/canonical.ts";
import { snpReference, tdxReference, type SnpManifest, type TdxManifest } from "../policy/cvm-reference.ts";
import { bundleFor, loadDeployment } from "../policy/store.ts";
import { expectedReportData } from "../verifiers/appraisal.ts";
import { EvidenceConfigurationError, EvidenceError, MalformedEvidenceError } from "../verifiers/errors.ts";
import { verifierFor } from "../verifiers/index.ts";
import { concatBytes, fromHex, toHex } from "../verifiers/reader.ts";
import { decodeTcb, parseSnpReport, productFromCpuid, REPORT_SIZE, type SnpEvidence } from "../verifiers/sev-snp/index.ts";
import { collateralFromDcapQvl, collateralFromPcs, parseTdxQuote, pckInfo, type VerifiedTdxQuote } from "../verifiers/tdx/index.ts";
import { parseCertificatesPem } from "../verifiers/x509/certificate.ts";
import type { DeviceRecord } from "../../durable-objects/DeviceLog.ts";

/**
 * SEV-SNP and TDX evidence on POST /v1/sessions (issue 5). The evidence
 * answers the session nonce through REPORT_DATA = SHA-512(nonce ‖ jkt)
 * (worker/verifiers/README.md); it is verified with the registry against the
 * trust anchors from deps (the pinned roots by default) and appraised against
 * the active bundle's `attestation.sev_snp` / `attestation.tdx`.
 *
 * Collateral (TDX TCB Info / QE Identity / CRLs; the SNP VCEK or VLEK and AMD
 * CRLs) sent by the client is only a candidate: it is used for verification,
 * and once verification passed it is cached in R2 (BUNDLES, under
 * `attestation-collateral/`) by FMSPC (TDX) and by chip id and TCB (SNP VCEK).
 * Without collateral in the request the cache is used, so verification works
 * offline; Intel PCS / AMD KDS are asked only when `INTEL_PCS_URL` /
 * `AMD_KDS_URL` are set (off by default).
 */

const base64 = (max: number) => z.string().max(max).regex(/^[A-Za-z0-9+/]*={0,2}$/, "standard base64");

export const SnpEvidenceSchema = z
  .strictObject({
    type: z.literal("sev-snp"),
    report: z.string().max(8192).regex(/^[A-Za-z0-9+/]*={0,2}$|^[0-9a-fA-F]*$/).openapi({ description: "ATTESTATION_REPORT (0x4A0 bytes), base64 or hex" }),
    certs: z
      .strictObject({
        endorsement_key: base64(16_384).optional().openapi({ description: "VCEK or VLEK certificate, DER, base64 (else the cached one for this chip and TCB)" }),
        chain: z.array(base64(16_384)).max(4).default([]).openapi({ description: "ASK/ASVK/ARK, DER, base64 (the pinned ones are used for known products)" }),
      })
      .optional(),
    collateral: z.strictObject({ crls: z.array(base64(350_000)).max(4).default([]) }).optional().openapi({ description: "AMD KDS CRLs, DER, base64" }),
  })
  .openapi("SevSnpEvidence");

export const TdxEvidenceSchema = z
  .strictObject({
    type: z.literal("tdx"),
    quote: base64(90_000).openapi({ description: "TDX quote v4 or v5, base64" }),
    collateral: z
      .record(z.string(), z.string().max(1_500_000))
      .optional()
      .openapi({ description: "dcap-qvl QuoteCollateralV3 JSON (tcb_info, tcb_info_signature, …, pck_crl, root_ca_crl); a candidate, verified to the pinned root" }),
  })
  .openapi("TdxEvidence");

export type SnpSessionEvidence = z.infer<typeof SnpEvidenceSchema>;
export type TdxSessionEvidence = z.infer<typeof TdxEvidenceSchema>;
type Claims = { [key: string]: JsonValue };

const PREFIX = "attestation-collateral";
// Keyed also by the trust anchors it verified under (a digest of their public keys), so that anchors injected in tests never share entries with the pinned ones.
const snpKey = (anchors: string, chipId: Uint8Array, tcb: Uint8Array) => `${PREFIX}/${anchors}/sev-snp/vcek/${toHex(chipId)}/${toHex(tcb)}.der`;
const tdxKey = (anchors: string, fmspc: string) => `${PREFIX}/${anchors}/tdx/fmspc/${fmspc.toLowerCase()}.json`;

async function anchorTag(spkis: readonly Uint8Array[]): Promise<string> {
  return (await sha256Hex(concatBytes(...spkis))).slice(0, 16);
}

async function manifestFor(c: Context<AppEnv>, device: DeviceRecord, now: number) {
  const chosen = bundleFor(await loadDeployment(c.env, c.env.TENANT, now), { tenant: device.tenant, id: device.id, groups: device.groups }, now);
  return chosen.ok ? chosen.bundle.manifest.attestation : undefined;
}

async function binding(device: DeviceRecord, nonce: string): Promise<Uint8Array> {
  return expectedReportData(base64url.decode(nonce), base64url.decode(device.jkt));
}

/** Base64 that does not decode (e.g. a length of 4n+1) is malformed evidence, not an internal error. */
function fromBase64(text: string): Uint8Array {
  try {
    return decodeBase64(text);
  } catch (error) {
    throw new MalformedEvidenceError("malformed_evidence", "evidence is not valid base64", { cause: error });
  }
}

function reportBytes(text: string): Uint8Array {
  // Hex when it is hex of at least a whole report; base64 of a report is shorter than that.
  if (/^[0-9a-fA-F]*$/.test(text) && text.length >= 2 * REPORT_SIZE && text.length % 2 === 0) return fromHex(text, "report");
  return fromBase64(text);
}

function envUrl(c: Context<AppEnv>, name: "AMD_KDS_URL" | "INTEL_PCS_URL"): string | undefined {
  const value = (c.env as unknown as Record<string, unknown>)[name];
  return typeof value === "string" && /^https:\/\//.test(value) ? value.replace(/\/+$/, "") : undefined;
}

/** SEV-SNP: verify (chain to the pinned ARK), appraise against `attestation.sev_snp`, cache the endorsement key. */
export async function snpSessionEvidence(c: Context<AppEnv>, device: DeviceRecord, nonce: string, evidence: SnpSessionEvidence, now: number): Promise<Claims> {
  const manifest = (await manifestFor(c, device, now))?.sev_snp as SnpManifest | undefined;
  if (!manifest) throw new EvidenceConfigurationError("invalid_reference_values", "the device's bundle has no attestation.sev_snp reference values");
  const report = reportBytes(evidence.report);
  const parsed = parseSnpReport(report);
  const verifier = verifierFor("sev-snp");
  const trustAnchors = await (c.var.deps.snpTrust?.() ?? verifier.pinnedTrust());
  const key = snpKey(await anchorTag(trustAnchors.anchors.map((a) => a.certificate.spki)), parsed.chipId, parsed.reportedTcb);
  let endorsementKey = evidence.certs?.endorsement_key ? fromBase64(evidence.certs.endorsement_key) : undefined;
  // Cache only what came from outside (the request or AMD KDS) once it verified.
  let store = endorsementKey !== undefined;
  if (!endorsementKey) {
    const cached = await c.env.BUNDLES.get(key);
    if (cached) endorsementKey = new Uint8Array(await cached.arrayBuffer());
  }
  if (!endorsementKey) {
    endorsementKey = await fetchVcek(c, parsed);
    store = endorsementKey !== undefined;
  }
  if (!endorsementKey) throw new MalformedEvidenceError("malformed_evidence", "no VCEK/VLEK certificate in the request, the cache or AMD KDS");
  const snpEvidence: SnpEvidence = { report, endorsementKey, certificates: (evidence.certs?.chain ?? []).map((der) => fromBase64(der)) };
  const crls = (evidence.collateral?.crls ?? []).map((der) => fromBase64(der));
  const verified = await verifier.verify(snpEvidence, {
    now: new Date(now),
    trustAnchors,
    collateral: crls.length ? { crls } : undefined,
  });
  // Verified: the endorsement key chains to the pinned roots and matches this chip and TCB.
  if (store && verified.signingKey === "vcek") {
    await c.env.BUNDLES.put(key, endorsementKey, { customMetadata: { product: verified.product, verified_at: new Date(now).toISOString() } });
  }
  const claims = verifier.appraise(verified, snpReference(manifest, await binding(device, nonce)));
  return {
    type: "sev-snp",
    product: claims.product,
    signing_key: claims.signingKey,
    report_version: claims.reportVersion,
    vmpl: claims.vmpl,
    debug: claims.debug,
    policy: claims.policy,
    guest_svn: claims.guestSvn,
    measurement: claims.measurement,
    host_data: claims.hostData,
    id_key_digest: claims.idKeyDigest,
    author_key_digest: claims.authorKeyDigest,
    reported_tcb: { ...claims.reportedTcb },
    ...(claims.chipId ? { chip_id: claims.chipId } : {}),
    ...(claims.cspId !== undefined ? { csp_id: claims.cspId } : {}),
  };
}

/** AMD KDS VCEK by product, chip id and TCB: only when AMD_KDS_URL is set and the product is known from the report (v3+). */
async function fetchVcek(c: Context<AppEnv>, report: ReturnType<typeof parseSnpReport>): Promise<Uint8Array | undefined> {
  const base = envUrl(c, "AMD_KDS_URL");
  if (!base || !report.cpuid) return undefined;
  const product = productFromCpuid(report.cpuid.family, report.cpuid.model);
  if (!product) return undefined;
  const tcb = decodeTcb(product, report.reportedTcb);
  const hwid = product === "Turin" ? toHex(report.chipId.subarray(0, 8)) : toHex(report.chipId);
  const query = new URLSearchParams({ blSPL: String(tcb.bootloader), teeSPL: String(tcb.tee), snpSPL: String(tcb.snp), ucodeSPL: String(tcb.microcode), ...(tcb.fmc !== undefined ? { fmcSPL: String(tcb.fmc) } : {}) });
  try {
    const response = await fetch(`${base}/vcek/v1/${product}/${hwid}?${query}`);
    return response.ok ? new Uint8Array(await response.arrayBuffer()) : undefined;
  } catch {
    return undefined;
  }
}

/** TDX: collateral from the request (a candidate), else the R2 cache by FMSPC, else Intel PCS when configured. */
export async function tdxSessionEvidence(c: Context<AppEnv>, device: DeviceRecord, nonce: string, evidence: TdxSessionEvidence, now: number): Promise<Claims> {
  const manifest = (await manifestFor(c, device, now))?.tdx as TdxManifest | undefined;
  if (!manifest) throw new EvidenceConfigurationError("invalid_reference_values", "the device's bundle has no attestation.tdx reference values");
  const quote = fromBase64(evidence.quote);
  const fmspc = quoteFmspc(quote);
  const verifier = verifierFor("tdx");
  const trustAnchors = await (c.var.deps.tdxTrust?.() ?? verifier.pinnedTrust());
  const key = tdxKey(await anchorTag(trustAnchors.anchors.map((a) => a.certificate.spki)), fmspc);
  const cachedObject = await c.env.BUNDLES.get(key);
  const cachedText = cachedObject ? await cachedObject.text() : undefined;
  const cachedNumber = Number(cachedObject?.customMetadata?.["tcb_evaluation_data_number"] ?? -1);
  const attempt = (text: string) => verifier.verify({ quote }, { now: new Date(now), trustAnchors, collateral: collateralFromDcapQvl(text) });

  let verified: VerifiedTdxQuote;
  let store: string | undefined;
  if (evidence.collateral) {
    const text = JSON.stringify(evidence.collateral);
    verified = await attempt(text);
    if (verified.tcbInfo.tcbEvaluationDataNumber >= cachedNumber) store = text;
    else if (cachedText) {
      // A candidate older than the verified cached collateral cannot roll the TCB evaluation back.
      try {
        verified = await attempt(cachedText);
      } catch (error) {
        if (!(error instanceof EvidenceError) || error.family !== "verification") throw error;
      }
    }
  } else if (cachedText) {
    try {
      verified = await attempt(cachedText);
    } catch (error) {
      // Stale cached collateral is refreshed from Intel PCS when that is configured, else refused.
      const stale = error instanceof EvidenceError && ["collateral_expired", "crl_expired"].includes(error.code);
      const fresh = stale ? await fetchPcsCollateral(c, fmspc) : undefined;
      if (!fresh) throw error;
      verified = await attempt(fresh);
      store = fresh;
    }
  } else {
    const fresh = await fetchPcsCollateral(c, fmspc);
    if (!fresh) throw new MalformedEvidenceError("malformed_evidence", `no TDX collateral for FMSPC ${fmspc} in the request, the cache or Intel PCS`);
    verified = await attempt(fresh);
    store = fresh;
  }
  // Verified to the trust anchors and current: keep it for requests without collateral.
  if (store !== undefined) {
    await c.env.BUNDLES.put(key, store, {
      customMetadata: {
        fmspc,
        tcb_evaluation_data_number: String(verified.tcbInfo.tcbEvaluationDataNumber),
        next_update: verified.tcbInfo.nextUpdate,
        verified_at: new Date(now).toISOString(),
      },
    });
  }
  const claims = verifier.appraise(verified, tdxReference(manifest, await binding(device, nonce)));
  return {
    type: "tdx",
    quote_version: claims.quoteVersion,
    td_report: claims.tdReport,
    tcb_status: claims.tcbStatus,
    advisory_ids: [...claims.advisoryIds],
    fmspc: claims.fmspc,
    tcb_evaluation_data_number: verified.tcbInfo.tcbEvaluationDataNumber,
    td_attributes: claims.tdAttributes,
    mr_seam: claims.mrSeam,
    mr_td: claims.mrTd,
    mr_config_id: claims.mrConfigId,
    mr_owner: claims.mrOwner,
    mr_owner_config: claims.mrOwnerConfig,
    rtmr: [...claims.rtmr],
  };
}

function quoteFmspc(quote: Uint8Array): string {
  const parsed = parseTdxQuote(quote);
  const [leaf] = parseCertificatesPem(new TextDecoder().decode(parsed.pckChain).replace(/\0+$/, ""));
  if (!leaf) throw new MalformedEvidenceError("malformed_evidence", "the quote carries no PCK certificate");
  return pckInfo(leaf).fmspc;
}

/** Intel PCS v4 TDX collateral for an FMSPC, only when INTEL_PCS_URL is set; stored in dcap-qvl form. */
async function fetchPcsCollateral(c: Context<AppEnv>, fmspc: string): Promise<string | undefined> {
  const base = envUrl(c, "INTEL_PCS_URL");
  if (!base) return undefined;
  try {
    const [tcb, qe, pckCrl, rootCrl] = await Promise.all([
      fetch(`${base}/tdx/certification/v4/tcb?fmspc=${fmspc}`),
      fetch(`${base}/tdx/certification/v4/qe/identity`),
      fetch(`${base}/sgx/certification/v4/pckcrl?ca=platform&encoding=der`),
      fetch(`${base}/sgx/certification/v4/rootcacrl`),
    ]);
    if (!tcb.ok || !qe.ok || !pckCrl.ok || !rootCrl.ok) return undefined;
    const chainOf = (r: Response, header: string) => decodeURIComponent(r.headers.get(header) ?? "");
    const tcbText = await tcb.text();
    const qeText = await qe.text();
    const responses = {
      tcbInfo: tcbText,
      tcbInfoIssuerChain: chainOf(tcb, "TCB-Info-Issuer-Chain"),
      qeIdentity: qeText,
      qeIdentityIssuerChain: chainOf(qe, "SGX-Enclave-Identity-Issuer-Chain"),
      pckCrl: new Uint8Array(await pckCrl.arrayBuffer()),
      rootCaCrl: new Uint8Array(await rootCrl.arrayBuffer()),
    };
    const collateral = collateralFromPcs(responses);
    const text = JSON.stringify({
      tcb_info: collateral.tcbInfo.body,
      tcb_info_signature: toHex(collateral.tcbInfo.signature),
      tcb_info_issuer_chain: collateral.tcbInfo.issuerChain,
      qe_identity: collateral.qeIdentity.body,
      qe_identity_signature: toHex(collateral.qeIdentity.signature),
      qe_identity_issuer_chain: collateral.qeIdentity.issuerChain,
      pck_crl: toHex(responses.pckCrl),
      root_ca_crl: toHex(responses.rootCaCrl),
    });
    return text;
  } catch {
    // Unreachable or unusable: the caller reports missing collateral.
    return undefined;
  }
}
