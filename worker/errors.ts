/**
 * Every failure Warden reports has one stable code from this closed union.
 * Adding a code does not compile until `problemFor` maps it (see `worker/problem.ts`).
 */
export type ErrorCode =
  // malformed input
  | "malformed_request"
  | "payload_too_large"
  | "unsupported_media_type"
  // authentication and authorisation
  | "unauthenticated"
  | "invalid_token"
  | "invalid_dpop_proof"
  | "replay_detected"
  | "token_scope_mismatch"
  | "token_policy_changed"
  | "forbidden"
  // state
  | "not_found"
  | "unknown_decision"
  | "already_exists"
  | "nonce_invalid"
  | "device_disabled"
  // attestation evidence (the verifier's own code travels as `evidence_code`)
  | "evidence_malformed"
  | "evidence_rejected"
  | "evidence_not_allowed"
  | "bootstrap_invalid"
  | "tpm_binding_conflict"
  | "tpm_not_enrolled"
  | "attestation_not_configured"
  // human review (passkeys, holds)
  | "challenge_invalid"
  | "webauthn_invalid"
  | "webauthn_origin_mismatch"
  | "user_verification_required"
  | "counter_regression"
  | "enrollment_invalid"
  | "self_approval"
  | "duplicate_approver"
  | "review_mismatch"
  | "review_record_changed"
  | "review_not_pending"
  | "review_at_last_tier"
  // configuration and internals
  // policy bundles
  | "bundle_malformed"
  | "bundle_untrusted_key"
  | "bundle_signature_invalid"
  | "bundle_digest_mismatch"
  | "bundle_expired"
  | "bundle_not_yet_valid"
  | "bundle_invalid"
  | "bundle_version_conflict"
  | "configuration_error"
  | "internal_error";

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
