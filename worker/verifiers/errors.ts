/**
 * Error codes of the evidence verifiers (TPM, SEV-SNP, TDX) and of the shared
 * certificate-path validator. A closed union, grouped in four families; the
 * integration maps each family onto the project's `ErrorCode` (see
 * `worker/errors.ts`) through {@link evidenceErrorFamily}, whose table does
 * not compile until a new code is placed in a family.
 */
export type MalformedEvidenceCode =
  /** Fewer bytes than the structure needs. */
  | "evidence_truncated"
  /** Bytes left over after the structure ends. */
  | "evidence_trailing_data"
  /** A reserved ("must be zero") range or bit is not zero. */
  | "reserved_nonzero"
  /** Anything else that does not parse: bad DER, bad JSON, bad PEM, wrong lengths. */
  | "malformed_evidence"
  /** A structure version, type or algorithm outside the allowlist. */
  | "unsupported_evidence"
  /** A certificate or CRL that does not parse as strict DER X.509. */
  | "malformed_certificate";

export type VerificationFailureCode =
  // certificate paths (RFC 5280 §6)
  | "chain_incomplete"
  | "chain_untrusted"
  | "certificate_signature_invalid"
  | "certificate_expired"
  | "certificate_not_yet_valid"
  | "certificate_not_ca"
  | "path_length_exceeded"
  | "key_usage_invalid"
  | "unknown_critical_extension"
  | "unsupported_algorithm"
  | "certificate_revoked"
  | "crl_signature_invalid"
  | "crl_expired"
  | "crl_not_yet_valid"
  | "crl_missing"
  /** A certificate or CRL that breaks a rule of its family's profile (worker/verifiers/x509/profile.ts). */
  | "certificate_profile_invalid"
  /** Path building gave up: more candidate paths than the search bound allows (a pathological certificate pool). */
  | "path_search_exhausted"
  // evidence signatures and bindings
  | "evidence_signature_invalid"
  | "endorsement_key_mismatch"
  | "tcb_mismatch"
  | "chip_id_mismatch"
  | "product_mismatch"
  /** A wrapper's data (e.g. Azure's HCL runtime claims) that the signed report does not commit to. */
  | "runtime_data_mismatch"
  // collateral (TDX TCB Info, QE Identity)
  | "collateral_signature_invalid"
  | "collateral_expired"
  | "collateral_not_yet_valid"
  | "collateral_mismatch"
  | "collateral_incomplete"
  | "qe_report_binding_mismatch"
  | "qe_identity_mismatch"
  | "tcb_level_not_found"
  // TPM 2.0 (worker/verifiers/tpm/)
  | "attest_not_tpm_generated"
  | "attest_type_mismatch"
  | "qualifying_data_mismatch"
  | "pcr_selection_mismatch"
  | "pcr_digest_mismatch"
  | "ak_not_restricted"
  | "ak_not_signing_only"
  | "ak_not_fixed"
  | "ak_not_tpm_generated"
  | "ek_attributes_invalid"
  | "ek_profile_invalid"
  | "credential_activation_failed"
  // TCG event logs (worker/verifiers/tpm/eventlog*.ts)
  /** Replaying the log does not give the PCR values the quote attests. */
  | "event_log_replay_mismatch"
  /** An event whose digest is defined as the hash of its data carries data that does not hash to it. */
  | "event_log_digest_mismatch"
  /** An event type that is unknown, reserved, or not extended while it carries a measurement. */
  | "event_log_event_not_allowed"
  // Azure confidential VMs (worker/verifiers/sev-snp/azure-vtpm.ts)
  /** The vTPM attestation key is missing from, or unusable in, the HCL runtime data. */
  | "vtpm_key_invalid";

export type AppraisalFailureCode =
  | "debug_not_allowed"
  /** SEV-SNP: the guest policy lets a migration agent (POLICY.MIGRATE_MA) export the guest's memory, and the reference values do not allow it. */
  | "migration_agent_not_allowed"
  | "vmpl_not_allowed"
  | "signing_key_not_allowed"
  | "measurement_not_allowed"
  | "host_data_not_allowed"
  | "id_key_not_allowed"
  | "author_key_not_allowed"
  | "tcb_below_minimum"
  | "tcb_status_not_allowed"
  | "report_data_mismatch"
  | "td_attributes_not_allowed"
  | "mrtd_not_allowed"
  | "rtmr_not_allowed"
  | "mrconfigid_not_allowed"
  | "mrowner_not_allowed"
  | "product_not_allowed"
  | "pcr_value_not_allowed"
  /** The bundle requires a TPM event log and none was sent. */
  | "event_log_missing"
  /** The event log shows Secure Boot off while the bundle requires it. */
  | "secure_boot_not_enabled"
  /** A fact of the event log (PK, KEK, db, dbx, boot manager, kernel) is not among the bundle's values. */
  | "event_log_value_not_allowed";

export type ConfigurationFailureCode =
  /** An empty trust-anchor set: never a pass. */
  | "no_trust_anchors"
  /** Reference values or options that cannot be used as given. */
  | "invalid_reference_values";

/** Every code an evidence verifier raises. */
export type EvidenceErrorCode = MalformedEvidenceCode | VerificationFailureCode | AppraisalFailureCode | ConfigurationFailureCode;

export type EvidenceErrorFamily = "malformed" | "verification" | "appraisal" | "configuration";

const FAMILY: { readonly [C in EvidenceErrorCode]: EvidenceErrorFamily } = {
  evidence_truncated: "malformed",
  evidence_trailing_data: "malformed",
  reserved_nonzero: "malformed",
  malformed_evidence: "malformed",
  unsupported_evidence: "malformed",
  malformed_certificate: "malformed",
  chain_incomplete: "verification",
  chain_untrusted: "verification",
  certificate_signature_invalid: "verification",
  certificate_expired: "verification",
  certificate_not_yet_valid: "verification",
  certificate_not_ca: "verification",
  path_length_exceeded: "verification",
  key_usage_invalid: "verification",
  unknown_critical_extension: "verification",
  unsupported_algorithm: "verification",
  certificate_revoked: "verification",
  crl_signature_invalid: "verification",
  crl_expired: "verification",
  crl_not_yet_valid: "verification",
  crl_missing: "verification",
  certificate_profile_invalid: "verification",
  path_search_exhausted: "verification",
  evidence_signature_invalid: "verification",
  endorsement_key_mismatch: "verification",
  tcb_mismatch: "verification",
  chip_id_mismatch: "verification",
  product_mismatch: "verification",
  runtime_data_mismatch: "verification",
  collateral_signature_invalid: "verification",
  collateral_expired: "verification",
  collateral_not_yet_valid: "verification",
  collateral_mismatch: "verification",
  collateral_incomplete: "verification",
  qe_report_binding_mismatch: "verification",
  qe_identity_mismatch: "verification",
  tcb_level_not_found: "verification",
  attest_not_tpm_generated: "verification",
  attest_type_mismatch: "verification",
  qualifying_data_mismatch: "verification",
  pcr_selection_mismatch: "verification",
  pcr_digest_mismatch: "verification",
  ak_not_restricted: "verification",
  ak_not_signing_only: "verification",
  ak_not_fixed: "verification",
  ak_not_tpm_generated: "verification",
  ek_attributes_invalid: "verification",
  ek_profile_invalid: "verification",
  credential_activation_failed: "verification",
  event_log_replay_mismatch: "verification",
  event_log_digest_mismatch: "verification",
  event_log_event_not_allowed: "verification",
  vtpm_key_invalid: "verification",
  debug_not_allowed: "appraisal",
  migration_agent_not_allowed: "appraisal",
  vmpl_not_allowed: "appraisal",
  signing_key_not_allowed: "appraisal",
  measurement_not_allowed: "appraisal",
  host_data_not_allowed: "appraisal",
  id_key_not_allowed: "appraisal",
  author_key_not_allowed: "appraisal",
  tcb_below_minimum: "appraisal",
  tcb_status_not_allowed: "appraisal",
  report_data_mismatch: "appraisal",
  td_attributes_not_allowed: "appraisal",
  mrtd_not_allowed: "appraisal",
  rtmr_not_allowed: "appraisal",
  mrconfigid_not_allowed: "appraisal",
  mrowner_not_allowed: "appraisal",
  product_not_allowed: "appraisal",
  pcr_value_not_allowed: "appraisal",
  event_log_missing: "appraisal",
  secure_boot_not_enabled: "appraisal",
  event_log_value_not_allowed: "appraisal",
  no_trust_anchors: "configuration",
  invalid_reference_values: "configuration",
};

/** The family of a code: what the integration maps onto an HTTP problem. */
export function evidenceErrorFamily(code: EvidenceErrorCode): EvidenceErrorFamily {
  return FAMILY[code];
}

/**
 * Base of every error a verifier raises on purpose. Tests assert `code`; the
 * message (and `detail`) is for logs and may name offsets, fields and values.
 */
export class EvidenceError extends Error {
  readonly code: EvidenceErrorCode;

  constructor(code: EvidenceErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }

  get family(): EvidenceErrorFamily {
    return FAMILY[this.code];
  }
}

/** Input that does not have the shape, size or version a verifier accepts. */
export class MalformedEvidenceError extends EvidenceError {
  declare readonly code: MalformedEvidenceCode;
  constructor(code: MalformedEvidenceCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** Evidence, a certificate path or collateral that does not verify. */
export class EvidenceVerificationError extends EvidenceError {
  declare readonly code: VerificationFailureCode;
  constructor(code: VerificationFailureCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** Authentic evidence whose claims the reference values do not accept. */
export class AppraisalError extends EvidenceError {
  declare readonly code: AppraisalFailureCode;
  constructor(code: AppraisalFailureCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** The verifier was called without usable trust anchors or reference values. */
export class EvidenceConfigurationError extends EvidenceError {
  declare readonly code: ConfigurationFailureCode;
  constructor(code: ConfigurationFailureCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/**
 * What `read` answers, or undefined when it refuses its input with an {@link EvidenceError}: for
 * a caller that only asks whether something reads (a cached copy, a candidate to compare, input
 * to sniff) and leaves saying why to the verifier that reads it for real. Any other error is a
 * fault of ours, not of the input, and surfaces.
 */
export function readable<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch (error) {
    if (error instanceof EvidenceError) return undefined;
    throw error;
  }
}
