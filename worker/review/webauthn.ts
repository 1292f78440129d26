import { createHash } from "node:crypto";
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from "@simplewebauthn/server";
import { ConfigurationError, VerificationError } from "../errors.ts";
import { StrictJsonError, parseStrictJson } from "../json/strict.ts";
import { ByteReader, bytesEqual } from "../verifiers/reader.ts";

/** Where reviewers' passkeys are valid: one exact origin and its RP ID, from configuration. */
export interface ReviewConfig {
  origin: string;
  rpId: string;
  rpName: string;
}

/**
 * Reads `REVIEW_ORIGIN` and `REVIEW_RP_ID`. The origin must be exactly scheme://host[:port]
 * (https, or http on localhost) and the RP ID its host or a parent domain of it
 * (WebAuthn §5.1.4.1 step 8): a credential scoped elsewhere never verifies here.
 */
export function reviewConfig(env: Pick<Env, "REVIEW_ORIGIN" | "REVIEW_RP_ID">): ReviewConfig {
  const { REVIEW_ORIGIN: origin, REVIEW_RP_ID: rpId } = env;
  if (!origin || !rpId) throw new ConfigurationError("configuration_error", "REVIEW_ORIGIN and REVIEW_RP_ID must be set");
  let url: URL;
  try {
    url = new URL(origin);
  } catch (cause) {
    throw new ConfigurationError("configuration_error", "REVIEW_ORIGIN is not a URL", { cause });
  }
  const local = url.hostname === "localhost" || url.hostname === "127.0.0.1";
  if (url.origin !== origin || !(url.protocol === "https:" || (url.protocol === "http:" && local))) {
    throw new ConfigurationError("configuration_error", "REVIEW_ORIGIN must be an exact https origin (http only on localhost)");
  }
  if (url.hostname !== rpId && !url.hostname.endsWith(`.${rpId}`)) {
    throw new ConfigurationError("configuration_error", "REVIEW_RP_ID must be REVIEW_ORIGIN's host or a parent domain of it");
  }
  return { origin, rpId, rpName: "Warden review" };
}

/** Largest clientDataJSON accepted: real ones are a few hundred bytes. */
const MAX_CLIENT_DATA_BYTES = 2048;
const MAX_B64_FIELD = 8192;

/** The fields of CollectedClientData (WebAuthn §5.8.1) Warden looks at. */
export interface ClientData {
  type: string;
  challenge: string;
  origin: string;
  crossOrigin: boolean;
}

function base64urlBytes(value: unknown, field: string, max = MAX_B64_FIELD): Uint8Array {
  if (typeof value !== "string" || value.length === 0 || value.length > max || !/^[A-Za-z0-9_-]+$/.test(value)) {
    throw new VerificationError("webauthn_invalid", `${field} is not base64url`);
  }
  const binary = atob(value.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (value.length % 4)) % 4));
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}

/**
 * Parses clientDataJSON (size-capped, strict JSON, strict types); says nothing yet about
 * whether it is right. Strict because @simplewebauthn/server parses it again with
 * JSON.parse: two `challenge`s or `origin`s must not let this check read one and the
 * library the other.
 */
export function parseClientData(encoded: unknown): ClientData {
  const bytes = base64urlBytes(encoded, "clientDataJSON", Math.ceil((MAX_CLIENT_DATA_BYTES * 4) / 3) + 4);
  let parsed: unknown;
  try {
    parsed = parseStrictJson(bytes);
  } catch (cause) {
    if (!(cause instanceof StrictJsonError)) throw cause;
    throw new VerificationError("webauthn_invalid", `clientDataJSON is not strict JSON (${cause.code})`, { cause });
  }
  const { type, challenge, origin, crossOrigin } = (parsed ?? {}) as Record<string, unknown>;
  if (typeof type !== "string" || typeof challenge !== "string" || typeof origin !== "string" || (crossOrigin !== undefined && typeof crossOrigin !== "boolean")) {
    throw new VerificationError("webauthn_invalid", "clientDataJSON lacks type, challenge or origin");
  }
  return { type, challenge, origin, crossOrigin: crossOrigin === true };
}

/** The fixed prefix of authenticatorData (WebAuthn §6.1): RP ID hash, flags, signature counter. */
export interface AuthenticatorDataPrefix {
  rpIdHash: Uint8Array;
  userPresent: boolean;
  userVerified: boolean;
  signCount: number;
}

export function parseAuthenticatorData(encoded: unknown): AuthenticatorDataPrefix {
  const reader = new ByteReader(base64urlBytes(encoded, "authenticatorData"), "authenticatorData");
  try {
    const rpIdHash = reader.bytes(32, "rpIdHash");
    const flags = reader.u8("flags");
    const signCount = reader.u32be("signCount");
    return { rpIdHash, userPresent: (flags & 0x01) !== 0, userVerified: (flags & 0x04) !== 0, signCount };
  } catch (cause) {
    throw new VerificationError("webauthn_invalid", "authenticatorData is truncated", { cause });
  }
}

/**
 * The checks Warden reports with their own codes, before the library's full verification:
 * exact origin, ceremony type, no cross-origin iframe, user verification.
 */
export function appraiseClientData(client: ClientData, config: ReviewConfig, type: "webauthn.get" | "webauthn.create"): void {
  if (client.origin !== config.origin) throw new VerificationError("webauthn_origin_mismatch", `origin ${client.origin} is not ${config.origin}`);
  if (client.type !== type) throw new VerificationError("webauthn_invalid", `clientData type ${client.type} is not ${type}`);
  // A reviewer page framed by another site could show one thing and sign another.
  if (client.crossOrigin) throw new VerificationError("webauthn_origin_mismatch", "cross-origin ceremonies are refused");
}

export function registrationOptions(
  config: ReviewConfig,
  args: { reviewerId: string; displayName: string; userHandle: Uint8Array; challenge: string; exclude: string[] },
): Promise<PublicKeyCredentialCreationOptionsJSON> {
  return generateRegistrationOptions({
    rpName: config.rpName,
    rpID: config.rpId,
    userName: args.reviewerId,
    userDisplayName: args.displayName,
    userID: args.userHandle as Uint8Array<ArrayBuffer>,
    // A string would be taken as UTF-8 text; the challenge is base64url of the bytes to sign.
    challenge: fromBase64url(args.challenge),
    attestationType: "none",
    timeout: 120_000,
    excludeCredentials: args.exclude.map((id) => ({ id })),
    authenticatorSelection: { residentKey: "required", userVerification: "required" },
    // ES256 and EdDSA only: both verify with WebCrypto in workerd.
    supportedAlgorithmIDs: [-7, -8],
  });
}

export function assertionOptions(config: ReviewConfig, args: { challenge: string; allow: string[] }): Promise<PublicKeyCredentialRequestOptionsJSON> {
  return generateAuthenticationOptions({
    rpID: config.rpId,
    // A string would be taken as UTF-8 text; the challenge is base64url of the bytes to sign.
    challenge: fromBase64url(args.challenge),
    timeout: 120_000,
    userVerification: "required",
    allowCredentials: args.allow.map((id) => ({ id })),
  });
}

/** A credential as stored: id and COSE public key in base64url, counter as last seen. */
export interface StoredCredential {
  id: string;
  reviewer: string;
  publicKey: string;
  counter: number;
  transports: string[];
}

/** Verifies a registration (attestation `none` accepted; user verification required). */
export async function verifyRegistration(
  response: RegistrationResponseJSON,
  config: ReviewConfig,
  expectedChallenge: string,
): Promise<{ id: string; publicKey: string; counter: number; transports: string[] }> {
  appraiseClientData(parseClientData(response.response?.clientDataJSON), config, "webauthn.create");
  let result;
  try {
    result = await verifyRegistrationResponse({
      response,
      expectedChallenge,
      expectedOrigin: config.origin,
      expectedRPID: config.rpId,
      requireUserVerification: true,
      supportedAlgorithmIDs: [-7, -8],
    });
  } catch (cause) {
    throw new VerificationError("webauthn_invalid", `registration does not verify: ${String(cause)}`, { cause });
  }
  if (result.verified !== true || !result.registrationInfo) throw new VerificationError("webauthn_invalid", "registration does not verify");
  const { credential } = result.registrationInfo;
  return {
    id: credential.id,
    publicKey: toBase64url(credential.publicKey),
    counter: credential.counter,
    transports: credential.transports ?? [],
  };
}

/**
 * Verifies an assertion by `credential` over `expectedChallenge`. The counter is checked
 * here for a clear code and again, as a check-and-set, where it is stored.
 */
export async function verifyAssertion(
  response: AuthenticationResponseJSON,
  config: ReviewConfig,
  expectedChallenge: string,
  credential: StoredCredential,
): Promise<{ newCounter: number }> {
  const client = parseClientData(response.response?.clientDataJSON);
  appraiseClientData(client, config, "webauthn.get");
  const authData = parseAuthenticatorData(response.response?.authenticatorData);
  if (!bytesEqual(authData.rpIdHash, createHash("sha256").update(config.rpId).digest())) {
    throw new VerificationError("webauthn_origin_mismatch", "the assertion is scoped to another RP ID");
  }
  if (!authData.userVerified) throw new VerificationError("user_verification_required", "the authenticator did not verify the user");
  if (response.id !== credential.id || response.rawId !== credential.id) throw new VerificationError("webauthn_invalid", "the assertion is by another credential");
  // WebAuthn §6.1.1: a counter that does not move forward means a cloned authenticator (or a replay).
  if ((authData.signCount > 0 || credential.counter > 0) && authData.signCount <= credential.counter) {
    throw new VerificationError("counter_regression", `signature counter ${authData.signCount} is not above ${credential.counter}`);
  }
  let result;
  try {
    result = await verifyAuthenticationResponse({
      response,
      expectedChallenge,
      expectedOrigin: config.origin,
      expectedRPID: config.rpId,
      requireUserVerification: true,
      credential: { id: credential.id, publicKey: fromBase64url(credential.publicKey), counter: credential.counter },
    });
  } catch (cause) {
    throw new VerificationError("webauthn_invalid", `assertion does not verify: ${String(cause)}`, { cause });
  }
  if (result.verified !== true) throw new VerificationError("webauthn_invalid", "assertion does not verify");
  return { newCounter: result.authenticationInfo.newCounter };
}

export function toBase64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function fromBase64url(value: string): Uint8Array<ArrayBuffer> {
  const binary = atob(value.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (value.length % 4)) % 4));
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}
