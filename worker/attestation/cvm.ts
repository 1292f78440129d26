import { base64url } from "jose";
import type { ServiceContext } from "../context.ts";
import type { DeviceRecord } from "../domain.ts";
import { fromBase64 } from "../encoding.ts";
import type { JsonValue } from "../log/canonical.ts";
import { azureVtpmReference, snpReference, tdxReference, type SnpManifest, type TdxManifest } from "../policy/cvm-reference.ts";
import { expectedQualifyingData, expectedReportData } from "../verifiers/appraisal.ts";
import { EvidenceError, EvidenceVerificationError, MalformedEvidenceError, readable } from "../verifiers/errors.ts";
import { verifierFor } from "../verifiers/index.ts";
import { fromHex } from "../verifiers/reader.ts";
import {
  endorsementInfo,
  newestKdsCrl,
  parseAzureVtpmEvidence,
  parseSnpReport,
  REPORT_SIZE,
  verifyKdsCrl,
  type AzureVtpmClaims,
  type KdsCrl,
  type SnpTrust,
} from "../verifiers/sev-snp/index.ts";
import { collateralFromDcapQvl, newestDcapQvlCollateral, parseTdxQuote, pckInfo, type VerifiedTdxQuote } from "../verifiers/tdx/index.ts";
import { parseCertificateCached, parseCertificatesPem } from "../verifiers/x509/certificate.ts";
import { checkCrlWindow } from "../verifiers/x509/path.ts";
import { anchorsAt } from "../verifiers/x509/trust.ts";
import { SnpCrls, SnpEndorsements, TdxCollateral, anchorTag, collateralSources } from "./collateral.ts";
import { requireReferenceValues } from "./reference.ts";
import type { AzureSnpVtpmSessionEvidence, SnpSessionEvidence, TdxSessionEvidence } from "./schemas.ts";

/**
 * SEV-SNP, TDX and Azure CVM evidence: verified with the registry against the trust anchors
 * from deps (the pinned roots by default), appraised against a bundle's reference values, and
 * bound to what the caller expects (`Binding`): for a session, REPORT_DATA = SHA-512(nonce ‖
 * jkt) or, for an Azure vTPM quote, extraData = SHA-256(nonce ‖ jkt) (worker/verifiers/README.md);
 * for a relying party's result (worker/attestation/results.ts), the nonce it chose.
 */

export type AttestationClaims = { [key: string]: JsonValue };

/** Claims of appraised evidence, the bundle that appraised them, and whether its reference values constrained what ran. */
export interface Appraised {
  claims: AttestationClaims;
  /** Digest of the bundle whose reference values were used. */
  policy: string;
  /** True when the reference values named the code that runs (measurements, PCRs), not "any". */
  executablesAppraised: boolean;
}

/** What the evidence must carry to answer the caller: REPORT_DATA (64 bytes) or a quote's extraData. */
export type Binding = Uint8Array;

/** Who the evidence is appraised for: a device (its bundle) or, with null, the tenant's active bundle. */
export type Appraiser = DeviceRecord | null;

/** A session's REPORT_DATA: SHA-512(nonce ‖ jkt). */
export function sessionReportData(device: DeviceRecord, nonce: string): Promise<Uint8Array> {
  return expectedReportData(base64url.decode(nonce), base64url.decode(device.jkt));
}

/** A session's vTPM quote extraData: SHA-256(nonce ‖ jkt). */
export function sessionQualifyingData(device: DeviceRecord, nonce: string): Promise<Uint8Array> {
  return expectedQualifyingData(base64url.decode(nonce), base64url.decode(device.jkt));
}

/** Evidence bytes: base64 that does not decode exactly is malformed evidence, not an internal error. */
export function evidenceBytes(text: string, what: string): Uint8Array {
  const bytes = fromBase64(text);
  if (bytes === null) throw new MalformedEvidenceError("malformed_evidence", `${what} is not valid base64`);
  return bytes;
}

function reportBytes(text: string): Uint8Array {
  // Hex when it is hex of at least a whole report; base64 of a report is shorter than that.
  if (/^[0-9a-fA-F]*$/.test(text) && text.length >= 2 * REPORT_SIZE && text.length % 2 === 0) return fromHex(text, "report");
  return evidenceBytes(text, "report");
}

/**
 * The AMD KDS CRL SEV-SNP evidence is verified with, for the product and key type of its
 * V[CL]EK: revocation of the ASK (VCEK chain) or ASVK (VLEK chain) is not the client's to opt
 * out of. Candidates are the request's CRLs (each one naming the product's ARK must verify to
 * it, else the evidence is refused) and the verified cached copy; the newest wins
 * (`newestKdsCrl`: thisUpdate, cRLNumber, the cached copy unless plainly older). Only when that
 * is not current is AMD KDS asked, and its CRL competes the same way. The winner must be
 * current (thisUpdate ≤ now ≤ nextUpdate), else `crl_expired` / `crl_not_yet_valid`; none at
 * all is `crl_missing`. A winner newer than the cached copy replaces it (conditionally: see
 * `SnpCrls.remember`), before the evidence is verified: a CRL is verified on its own, and the
 * one that refuses a revoked chain is what must stay cached for the next request.
 *
 * So a client that omits its CRL, or replays one from before its ASK was revoked, is appraised
 * with the newest CRL Warden has seen. What remains is CRL semantics: until the cache or a
 * request brings a CRL listing the revocation, an older CRL inside its own validity is still
 * current (KDS is not asked while one is).
 *
 * Answers the CRLs to verify with: the winner, and the request's CRLs of other issuers (a CRL
 * of no ARK of this product is no candidate here, and the path validator applies it where it
 * names an issuer of the chain, as before).
 */
async function currentSnpCrls(ctx: ServiceContext, trustAnchors: SnpTrust, anchors: string, endorsementKey: Uint8Array, offered: readonly Uint8Array[], now: number): Promise<Uint8Array[]> {
  const { product, kind } = endorsementInfo(parseCertificateCached(endorsementKey, "V[CL]EK certificate"));
  const at = new Date(now);
  // No ARK for the product is the store's fault, not the device's: said as such, and KDS is not asked for a CRL nothing could verify.
  const arks = anchorsAt(trustAnchors, at, { vendor: "AMD", group: product });
  const crls = new SnpCrls(collateralSources(ctx), anchors, product, kind);
  // A cached copy or a download that does not verify is no candidate; anything but an evidence error is a fault of ours, and surfaces.
  const unlessRefused = (check: Promise<KdsCrl | null>): Promise<KdsCrl | null> =>
    check.catch((error: unknown) => {
      if (error instanceof EvidenceError && error.family !== "configuration") return null;
      throw error;
    });
  const candidates: KdsCrl[] = [];
  const others: Uint8Array[] = [];
  for (const [i, der] of offered.entries()) {
    const verified = await verifyKdsCrl(der, arks, `collateral.crls[${i}]`);
    if (verified) candidates.push(verified);
    else others.push(der);
  }
  const read = await crls.cached();
  // A cached copy that no longer verifies is no candidate (and is written over by the next winner).
  const held = read ? await unlessRefused(verifyKdsCrl(read.der, arks, "cached AMD KDS CRL")) : null;
  const current = (c: KdsCrl): boolean => {
    try {
      checkCrlWindow(c.crl, at);
      return true;
    } catch {
      return false;
    }
  };
  // The held copy first: a candidate replaces it only when plainly newer.
  let best = newestKdsCrl([held, ...candidates]);
  if (!best || !current(best)) {
    const fetched = await crls.fromKds();
    // What KDS sent is verified like any candidate; a CRL that does not verify is as good as none.
    const fresh = fetched ? await unlessRefused(verifyKdsCrl(fetched, arks, "AMD KDS CRL")) : null;
    best = newestKdsCrl([best, fresh]);
  }
  if (!best) throw new EvidenceVerificationError("crl_missing", `no CRL of ARK-${product} for the ${kind.toUpperCase()} chain in the request, the cache or AMD KDS`);
  checkCrlWindow(best.crl, at);
  if (best !== held) await crls.remember(best, now, read);
  return [best.der, ...others];
}

/** SEV-SNP: verify (chain to the pinned ARK, a current AMD KDS CRL), appraise against `attestation.sev_snp`, cache the endorsement key. */
export async function snpEvidence(ctx: ServiceContext, appraiser: Appraiser, evidence: SnpSessionEvidence, reportData: Binding, now: number): Promise<Appraised> {
  const reference = await requireReferenceValues(ctx, appraiser, "sev_snp", now);
  const manifest = reference.values as SnpManifest;
  const report = reportBytes(evidence.report);
  const parsed = parseSnpReport(report);
  const verifier = verifierFor("sev-snp");
  const trustAnchors = await (ctx.deps.snpTrust?.() ?? verifier.pinnedTrust());
  const anchors = anchorTag(trustAnchors.anchors.map((a) => a.certificate.spki));
  const endorsements = new SnpEndorsements(collateralSources(ctx), anchors);
  const offered = evidence.certs?.endorsement_key;
  const endorsementKey = await endorsements.find(parsed, offered === undefined ? undefined : evidenceBytes(offered, "certs.endorsement_key"));
  if (!endorsementKey) throw new MalformedEvidenceError("malformed_evidence", "no VCEK/VLEK certificate in the request, the cache or AMD KDS");
  const offeredCrls = (evidence.collateral?.crls ?? []).map((der, i) => evidenceBytes(der, `collateral.crls[${i}]`));
  const crls = await currentSnpCrls(ctx, trustAnchors, anchors, endorsementKey.der, offeredCrls, now);
  const verified = await verifier.verify(
    { report, endorsementKey: endorsementKey.der, certificates: (evidence.certs?.chain ?? []).map((der, i) => evidenceBytes(der, `certs.chain[${i}]`)) },
    { now: new Date(now), trustAnchors, collateral: { crls }, revocation: "require" },
  );
  // Verified: the endorsement key chains to the trust anchors and matches this chip and TCB.
  if (endorsementKey.fresh && verified.signingKey === "vcek") await endorsements.remember(parsed, endorsementKey.der, verified.product, now);
  const claims = verifier.appraise(verified, snpReference(manifest, reportData));
  return {
    policy: reference.policy,
    executablesAppraised: manifest.measurements !== "any",
    claims: {
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
    },
  };
}

/**
 * Azure confidential VM: the HCL report's SNP half verified to the pinned AMD roots with a
 * current AMD KDS CRL (as for SEV-SNP: an Azure-shaped wrapper must not be a way around
 * revocation), the vTPM quote by the AK the report attests, its extraData the binding;
 * appraised against `attestation.sev_snp` (report) and its `vtpm_pcrs` (quote).
 */
export async function azureEvidence(ctx: ServiceContext, appraiser: Appraiser, evidence: AzureSnpVtpmSessionEvidence, qualifyingData: Binding, now: number): Promise<Appraised> {
  const reference = await requireReferenceValues(ctx, appraiser, "sev_snp", now);
  const manifest = reference.values as SnpManifest;
  const parsed = parseAzureVtpmEvidence(evidence.evidence);
  const verifier = verifierFor("azure-snp-vtpm");
  const trustAnchors = await (ctx.deps.snpTrust?.() ?? verifier.pinnedTrust());
  const anchors = anchorTag(trustAnchors.anchors.map((a) => a.certificate.spki));
  const offeredCrls = (evidence.collateral?.crls ?? []).map((der, i) => evidenceBytes(der, `collateral.crls[${i}]`));
  const crls = await currentSnpCrls(ctx, trustAnchors, anchors, parsed.vcek, offeredCrls, now);
  const verified = await verifier.verify(parsed, { now: new Date(now), trustAnchors, collateral: { crls }, nonce: qualifyingData, revocation: "require" });
  return {
    policy: reference.policy,
    executablesAppraised: manifest.measurements !== "any" || Object.keys(manifest.vtpm_pcrs).length > 0,
    claims: azureClaims(verifier.appraise(verified, azureVtpmReference(manifest))),
  };
}

/** The claims of appraised Azure evidence, as the session token and the device log carry them. */
export function azureClaims(claims: AzureVtpmClaims): AttestationClaims {
  const snp = claims.snp;
  return {
    type: "azure-snp-vtpm",
    product: snp.product,
    signing_key: snp.signingKey,
    report_version: snp.reportVersion,
    vmpl: snp.vmpl,
    debug: snp.debug,
    policy: snp.policy,
    guest_svn: snp.guestSvn,
    measurement: snp.measurement,
    host_data: snp.hostData,
    reported_tcb: { ...snp.reportedTcb },
    ...(snp.chipId ? { chip_id: snp.chipId } : {}),
    vtpm: {
      ak: claims.akThumbprint,
      pcr_bank: "sha256",
      pcr_digest: claims.pcrDigest,
      pcrs: Object.fromEntries(claims.pcrs.map((p) => [String(p.index), p.value])),
      pcrs_appraised: [...claims.pcrsAppraised],
    },
    vm_configuration: (claims.vmConfiguration ?? null) as JsonValue,
  };
}

/** TDX: collateral from the request (a candidate, never older piece by piece than the cache's), else the verified cache by FMSPC, else Intel PCS when configured. */
export async function tdxEvidence(ctx: ServiceContext, appraiser: Appraiser, evidence: TdxSessionEvidence, reportData: Binding, now: number): Promise<Appraised> {
  const reference = await requireReferenceValues(ctx, appraiser, "tdx", now);
  const manifest = reference.values as TdxManifest;
  const quote = evidenceBytes(evidence.quote, "quote");
  const fmspc = quoteFmspc(quote);
  const verifier = verifierFor("tdx");
  const trustAnchors = await (ctx.deps.tdxTrust?.() ?? verifier.pinnedTrust());
  const collateral = new TdxCollateral(collateralSources(ctx), anchorTag(trustAnchors.anchors.map((a) => a.certificate.spki)), fmspc);
  const cached = await collateral.cached();
  // Only collateral that verified is written there, so a copy that does not read (a damaged object, another version's
  // form) holds nothing verified: neither compared with nor used, only written over by collateral that verifies.
  // Refusing the request's collateral for it would blame the device and refuse every quote of the FMSPC, while it
  // guards no more than a deleted copy does.
  const held = cached && readable(() => collateralFromDcapQvl(cached.text)) ? cached.text : undefined;
  if (cached && held === undefined) console.error(JSON.stringify({ event: "attestation.collateral_cache_unreadable", fmspc }));
  const attempt = (text: string) => verifier.verify({ quote }, { now: new Date(now), trustAnchors, collateral: collateralFromDcapQvl(text) });

  // The request's collateral is a candidate: each piece older than the verified cached copy's (a
  // PCK CRL from before a revocation, an earlier TCB evaluation) is replaced by the cached one, so
  // revocation and TCB recovery are not something the attested party can opt out of by replaying
  // older genuine collateral. The result is verified once, as a whole; a refusal is a refusal.
  const offered = evidence.collateral ? JSON.stringify(evidence.collateral) : undefined;
  let text = offered !== undefined && held !== undefined ? newestDcapQvlCollateral(offered, held) : (offered ?? held);
  let verified: VerifiedTdxQuote;
  if (text === undefined) {
    text = await collateral.fromPcs();
    if (!text) throw new MalformedEvidenceError("malformed_evidence", `no TDX collateral for FMSPC ${fmspc} in the request, the cache or Intel PCS`);
    verified = await attempt(text);
  } else {
    try {
      verified = await attempt(text);
    } catch (error) {
      // Stale collateral is refreshed from Intel PCS when that is configured, else refused.
      const stale = error instanceof EvidenceError && ["collateral_expired", "crl_expired"].includes(error.code);
      const fresh = stale ? await collateral.fromPcs() : undefined;
      if (!fresh) throw error;
      text = newestDcapQvlCollateral(fresh, text);
      verified = await attempt(text);
    }
  }
  // Verified to the trust anchors and current, and no piece older than the cache's: keep it for requests without collateral.
  if (text !== cached?.text) await collateral.remember(text, verified, now, cached);
  const claims = verifier.appraise(verified, tdxReference(manifest, reportData));
  return {
    policy: reference.policy,
    executablesAppraised: manifest.mrtd !== "any",
    claims: {
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
    },
  };
}

function quoteFmspc(quote: Uint8Array): string {
  const parsed = parseTdxQuote(quote);
  const [leaf] = parseCertificatesPem(new TextDecoder().decode(parsed.pckChain).replace(/\0+$/, ""));
  if (!leaf) throw new MalformedEvidenceError("malformed_evidence", "the quote carries no PCK certificate");
  return pckInfo(leaf).fmspc;
}
