import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { ErrorCode } from "./errors.ts";

interface ProblemShape {
  status: ContentfulStatusCode;
  title: string;
}

/**
 * The one place an error code becomes an HTTP status. The switch is exhaustive:
 * a code added to `ErrorCode` without a case here fails to compile.
 */
export function problemFor(code: ErrorCode): ProblemShape {
  switch (code) {
    case "malformed_request":
      return { status: 400, title: "The request is malformed" };
    case "malformed_json":
      return { status: 400, title: "The body is not strict JSON" };
    case "payload_too_large":
      return { status: 413, title: "The request body is too large" };
    case "unsupported_media_type":
      return { status: 415, title: "The request body must be application/json" };
    case "unauthenticated":
      return { status: 401, title: "Authentication is required" };
    case "invalid_token":
      return { status: 401, title: "The token is not valid" };
    case "invalid_dpop_proof":
      return { status: 401, title: "The DPoP proof is not valid" };
    case "replay_detected":
      return { status: 401, title: "The proof or token was already used" };
    case "token_scope_mismatch":
      return { status: 403, title: "The token does not permit this action" };
    case "token_policy_changed":
      return { status: 409, title: "The policy that permitted this action is no longer the device's policy" };
    case "forbidden":
      return { status: 403, title: "The caller may not do this" };
    case "access_token_invalid":
      return { status: 401, title: "The Access token is not valid" };
    case "access_token_expired":
      return { status: 401, title: "The Access token has expired" };
    case "access_audience_mismatch":
      return { status: 401, title: "The Access token is for another application" };
    case "access_issuer_mismatch":
      return { status: 401, title: "The Access token is from another issuer" };
    case "access_key_unknown":
      return { status: 401, title: "The Access token is signed by an unknown key" };
    case "access_unavailable":
      return { status: 503, title: "Cloudflare Access's keys cannot be fetched; retry" };
    case "person_required":
      return { status: 403, title: "This route is for people, not devices" };
    case "consent_expiry_invalid":
      return { status: 422, title: "The consent's expiry is past or beyond the bundle's maximum" };
    case "consent_sync_pending":
      return { status: 503, title: "The consent change has not reached every device of the actor yet; retry" };
    case "artifact_malformed":
      return { status: 422, title: "The artifact statement is not a signed warden agent artifact for this agent" };
    case "artifact_untrusted_key":
      return { status: 422, title: "The artifact statement is not signed by a trusted artifact key" };
    case "artifact_signature_invalid":
      return { status: 422, title: "The artifact statement's signature does not verify" };
    case "not_found":
      return { status: 404, title: "Not found" };
    case "unknown_decision":
      return { status: 404, title: "The device has no such decision" };
    case "cursor_expired":
      return { status: 410, title: "The events after this cursor are no longer kept" };
    case "unknown_session":
      return { status: 404, title: "The device has no such live session" };
    case "already_exists":
      return { status: 409, title: "It already exists" };
    case "nonce_invalid":
      return { status: 401, title: "The nonce is unknown, used or expired" };
    case "evidence_malformed":
      return { status: 400, title: "The attestation evidence does not parse" };
    case "evidence_rejected":
      return { status: 401, title: "The attestation evidence does not verify" };
    case "evidence_not_allowed":
      return { status: 403, title: "The attested state is not allowed by the reference values" };
    case "bootstrap_invalid":
      return { status: 401, title: "The bootstrap token is unknown, used or expired" };
    case "tpm_binding_conflict":
      return { status: 409, title: "The device is bound to another TPM" };
    case "tpm_not_enrolled":
      return { status: 409, title: "The device has no TPM enrollment for this" };
    case "attestation_not_configured":
      return { status: 409, title: "The device's policy bundle has no reference values for this kind of evidence" };
    case "device_quarantined":
      return { status: 403, title: "The device is quarantined" };
    case "session_revoked":
      return { status: 401, title: "The session was revoked" };
    case "token_revoked":
      return { status: 401, title: "The action token was revoked" };
    case "device_disabled":
      return { status: 403, title: "The device is disabled" };
    case "challenge_invalid":
      return { status: 401, title: "The WebAuthn challenge is unknown or expired" };
    case "webauthn_invalid":
      return { status: 401, title: "The WebAuthn response does not verify" };
    case "webauthn_origin_mismatch":
      return { status: 401, title: "The WebAuthn response is for another origin or RP ID" };
    case "user_verification_required":
      return { status: 401, title: "The authenticator did not verify the user" };
    case "counter_regression":
      return { status: 401, title: "The authenticator's signature counter went backwards" };
    case "enrollment_invalid":
      return { status: 401, title: "The enrollment token is unknown, used or expired" };
    case "reviewer_removed":
      return { status: 403, title: "The reviewer was removed" };
    case "passkey_revoked":
      return { status: 401, title: "The passkey was revoked" };
    case "self_approval":
      return { status: 403, title: "A reviewer may not approve a request they raised" };
    case "duplicate_approver":
      return { status: 409, title: "This reviewer already approved the hold" };
    case "review_mismatch":
      return { status: 403, title: "The assertion was made for another review" };
    case "review_record_changed":
      return { status: 409, title: "The held action changed since it was shown" };
    case "review_not_pending":
      return { status: 409, title: "The hold is no longer pending" };
    case "review_at_last_tier":
      return { status: 409, title: "The hold is at its last tier" };
    case "review_evidence_pending":
      return { status: 503, title: "The hold's evidence is not in the device log yet; retry" };
    case "bundle_malformed":
      return { status: 422, title: "The bundle artifact is not a signed warden bundle" };
    case "bundle_untrusted_key":
      return { status: 422, title: "The bundle is not signed by a trusted publisher key" };
    case "bundle_signature_invalid":
      return { status: 422, title: "The bundle signature does not verify" };
    case "bundle_digest_mismatch":
      return { status: 422, title: "The bundle digest does not match its parts" };
    case "bundle_expired":
      return { status: 422, title: "The bundle has expired" };
    case "bundle_not_yet_valid":
      return { status: 422, title: "The bundle is not valid yet" };
    case "bundle_invalid":
      return { status: 422, title: "The bundle's policies, schema or manifest are invalid" };
    case "bundle_history_invalid":
      return { status: 422, title: "A history feature the manifest declares is malformed" };
    case "bundle_history_schema_mismatch":
      return { status: 422, title: "The schema's context.history does not match the declared history features" };
    case "bundle_detection_invalid":
      return { status: 422, title: "A detection rule the manifest declares is malformed" };
    case "bundle_playbook_invalid":
      return { status: 422, title: "The manifest's playbook is malformed" };
    case "bundle_privacy_invalid":
      return { status: 422, title: "The manifest's privacy section is malformed" };
    case "vault_key_unknown":
      return { status: 500, title: "The vault value's key is not configured" };
    case "vault_integrity_failed":
      return { status: 500, title: "The vault value does not authenticate" };
    case "log_range_expired":
      return { status: 410, title: "Entries in this range are past their retention and deleted" };
    case "bundle_version_conflict":
      return { status: 409, title: "The bundle version does not move forward" };
    case "configuration_error":
      return { status: 500, title: "Warden is misconfigured" };
    case "storage_error":
      return { status: 500, title: "Warden's stored state is not what it should be" };
    case "internal_error":
      return { status: 500, title: "Internal error" };
  }
}

/** Body of an `application/problem+json` response (RFC 9457). */
export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  code: ErrorCode;
  /** For `malformed_request`: the fields of the request's schema that are at fault. */
  errors?: { path: string; message: string }[];
  /** The verifier's stable code when evidence was refused (worker/verifiers/errors.ts). */
  evidence_code?: string;
}

export const PROBLEM_TYPE_BASE = "https://warden.dev/problems/";

/**
 * The problem+json response for `code`: its status and stable title, and nothing from inside
 * Warden. What went wrong in detail is for the worker's log (app.ts), never the wire: verifier
 * offsets, storage keys and configuration values would tell a caller how to probe.
 */
export function problemResponse(code: ErrorCode, extra: { errors?: ProblemBody["errors"]; headers?: HeadersInit; evidenceCode?: string } = {}): Response {
  const { status, title } = problemFor(code);
  const body: ProblemBody = { type: PROBLEM_TYPE_BASE + code, title, status, code };
  if (extra.errors !== undefined) body.errors = extra.errors;
  if (extra.evidenceCode !== undefined) body.evidence_code = extra.evidenceCode;
  const headers = new Headers(extra.headers);
  headers.set("content-type", "application/problem+json");
  return new Response(JSON.stringify(body), { status, headers });
}
