import { z } from "@hono/zod-openapi";

/** Standard base64 of at most `max` characters (exact decoding is checked where the bytes are used). */
export const base64 = (max: number) => z.string().max(max).regex(/^[A-Za-z0-9+/]*={0,2}$/, "standard base64");

/** A TPM quote answering the session nonce (POST /v1/sessions `evidence`). */
export const TpmEvidenceSchema = z
  .strictObject({
    type: z.literal("tpm"),
    quote: base64(2048).openapi({ description: "TPMS_ATTEST from TPM2_Quote (qualifyingData = the nonce's bytes), base64" }),
    signature: base64(1024).openapi({ description: "TPMT_SIGNATURE by the enrolled AK, base64" }),
    pcrs: z
      .record(z.string().regex(/^(0|[1-9]\d?)$/), z.string().regex(/^[0-9a-fA-F]{64}$|^[0-9a-fA-F]{96}$/))
      .openapi({ description: "The selected PCRs' values, hex, by index" }),
    event_log: base64(1_000_000)
      .optional()
      .openapi({ description: "The TCG PC Client event log (binary_bios_measurements, crypto-agile or SHA-1 format), base64: replayed against the quoted PCRs; required when the bundle has attestation.tpm.event_log" }),
  })
  .openapi("TpmEvidence");

/**
 * AMD KDS CRLs a request may offer. Revocation is never optional: the worker verifies SEV-SNP
 * evidence only with a current CRL of the product's ARK, the newest of these, its verified
 * cached copy and (when neither is current) AMD KDS's.
 */
const SnpCrlsSchema = z
  .strictObject({ crls: z.array(base64(350_000)).max(4).default([]) })
  .optional()
  .openapi({
    description:
      "AMD KDS CRLs (DER, base64: GET /vcek/v1/{product}/crl or /vlek/v1/{product}/crl), candidates only. Each one naming the product's ARK must be signed by it; the newest of these, the copy Warden verified and cached, and — when neither is current — the one AMD KDS serves is used, and it must be current (thisUpdate ≤ now ≤ nextUpdate). Without a current CRL the evidence is refused (evidence_rejected: crl_missing, crl_expired); an older CRL than the cached one changes nothing.",
  });

export const SnpEvidenceSchema = z
  .strictObject({
    type: z.literal("sev-snp"),
    report: z.string().max(8192).regex(/^[A-Za-z0-9+/]*={0,2}$|^[0-9a-fA-F]*$/).openapi({ description: "ATTESTATION_REPORT (0x4A0 bytes), base64 or hex" }),
    certs: z
      .strictObject({
        endorsement_key: base64(16_384).optional().openapi({ description: "VCEK or VLEK certificate, DER, base64 (else the cached one for this chip and TCB, else AMD KDS's for a report of version 3 or later)" }),
        chain: z.array(base64(16_384)).max(4).default([]).openapi({ description: "ASK/ASVK/ARK, DER, base64 (the pinned ones are used for known products)" }),
      })
      .optional(),
    collateral: SnpCrlsSchema,
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

export const AzureSnpVtpmEvidenceSchema = z
  .strictObject({
    type: z.literal("azure-snp-vtpm"),
    evidence: z
      .record(z.string(), z.unknown())
      .openapi({
        description:
          "The az-snp-vtpm attester's JSON, either shape: {report: [HCL report bytes], quote: {signature, message, pcrs} as byte arrays, vcek: PEM} or {version: 1|2, hcl_report: base64url, tpm_quote: {signature, message, pcrs} as hex, vcek: base64url DER}. The quote's extraData is SHA-256(nonce ‖ jkt).",
      }),
    collateral: SnpCrlsSchema,
  })
  .openapi("AzureSnpVtpmEvidence");

/** The evidence POST /v1/sessions accepts: one member per `EvidenceType` (worker/verifiers/index.ts). */
export const SessionEvidenceSchema = z.discriminatedUnion("type", [TpmEvidenceSchema, SnpEvidenceSchema, TdxEvidenceSchema, AzureSnpVtpmEvidenceSchema]);
export type SessionEvidence = z.infer<typeof SessionEvidenceSchema>;
export type TpmSessionEvidence = z.infer<typeof TpmEvidenceSchema>;
export type SnpSessionEvidence = z.infer<typeof SnpEvidenceSchema>;
export type TdxSessionEvidence = z.infer<typeof TdxEvidenceSchema>;
export type AzureSnpVtpmSessionEvidence = z.infer<typeof AzureSnpVtpmEvidenceSchema>;
