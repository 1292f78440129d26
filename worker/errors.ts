/**
 * Every failure Warden reports has one stable code from this closed list. Adding a code does
 * not compile until `problemFor` maps it (worker/problem.ts), and does not pass the tests until
 * docs/errors.md describes it (test/unit/errors.test.ts).
 */
export const ERROR_CODES = [
  // malformed input
  "malformed_request",
  "malformed_json",
  "payload_too_large",
  "unsupported_media_type",
  // authentication and authorisation
  "unauthenticated",
  "invalid_token",
  "invalid_dpop_proof",
  "replay_detected",
  "token_scope_mismatch",
  "token_policy_changed",
  "forbidden",
  // people through Cloudflare Access (worker/people/access.ts)
  "access_token_invalid",
  "access_token_expired",
  "access_audience_mismatch",
  "access_issuer_mismatch",
  "access_key_unknown",
  "access_unavailable",
  "person_required",
  // state
  "not_found",
  "unknown_decision",
  "unknown_session",
  "cursor_expired",
  "already_exists",
  "nonce_invalid",
  "device_disabled",
  "device_quarantined",
  "session_revoked",
  "token_revoked",
  // attestation evidence (the verifier's own code travels as `evidence_code`)
  "evidence_malformed",
  "evidence_rejected",
  "evidence_not_allowed",
  "bootstrap_invalid",
  "tpm_binding_conflict",
  "tpm_not_enrolled",
  "attestation_not_configured",
  // human review (passkeys, holds)
  "challenge_invalid",
  "webauthn_invalid",
  "webauthn_origin_mismatch",
  "user_verification_required",
  "counter_regression",
  "enrollment_invalid",
  "reviewer_removed",
  "passkey_revoked",
  "self_approval",
  "duplicate_approver",
  "review_mismatch",
  "review_record_changed",
  "review_not_pending",
  "review_at_last_tier",
  "review_evidence_pending",
  // consent and the agent registry
  "consent_expiry_invalid",
  "consent_sync_pending",
  // privacy: the vault and retention (worker/privacy/)
  "vault_key_unknown",
  "vault_integrity_failed",
  "log_range_expired",
  "artifact_malformed",
  "artifact_untrusted_key",
  "artifact_signature_invalid",
  // policy bundles
  "bundle_malformed",
  "bundle_untrusted_key",
  "bundle_signature_invalid",
  "bundle_digest_mismatch",
  "bundle_expired",
  "bundle_not_yet_valid",
  "bundle_invalid",
  "bundle_history_invalid",
  "bundle_history_schema_mismatch",
  "bundle_detection_invalid",
  "bundle_playbook_invalid",
  "bundle_privacy_invalid",
  "bundle_version_conflict",
  // configuration and internals
  "configuration_error",
  "storage_error",
  "internal_error",
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * An expected refusal, returned as a value rather than thrown: an exception that crosses a
 * Durable Object's RPC boundary loses its class, and with it its code.
 */
export type Refused<C extends ErrorCode> = { ok: false; code: C };

/** What a Durable Object method returns: its result, or a refusal whose code is one of `C`. */
export type Outcome<T, C extends ErrorCode> = ({ ok: true } & T) | Refused<C>;

/**
 * Base of every error Warden raises on purpose. `name` follows the subclass,
 * `code` is what tests and clients rely on; the message is for logs only.
 */
export class WardenError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Input that does not have the shape or size Warden accepts. */
export class MalformedInputError extends WardenError {}

/** A credential, proof or piece of evidence that does not verify. */
export class VerificationError extends WardenError {}

/** A request that is well formed and authentic but not allowed in the current state. */
export class StateError extends WardenError {}

/**
 * Evidence a verifier refused. `code` is the HTTP-level family; `evidenceCode`
 * is the verifier's stable code (worker/verifiers/errors.ts), sent as `evidence_code`.
 */
export class EvidenceRefusal extends WardenError {
  readonly evidenceCode: string;

  constructor(code: ErrorCode, evidenceCode: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.evidenceCode = evidenceCode;
  }
}

/** Warden itself is misconfigured; the caller cannot fix it. */
export class ConfigurationError extends WardenError {}
