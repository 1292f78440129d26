import { WardenError } from "../errors.ts";
import { createHash } from "node:crypto";
import { CompactSign, calculateJwkThumbprint, compactVerify, errors as joseErrors, importJWK, type JWK } from "jose";
import { z } from "zod";
import { parseStrictJson } from "../json/strict.ts";
import { canonicalJson, type JsonValue } from "../log/canonical.ts";
import { JwsShapeError, strictJwsParts } from "../tokens/jws.ts";

// Signed bundle artifacts: built by the CLI, verified by the worker. Kept apart from
// the Cedar compiler (bundle.ts) so Node tools can use it without loading cedar-wasm.

/** The parts a bundle is made of, as authored in `policy-bundles/<name>/`. */
export interface BundleSources {
  policies: string;
  schema: string;
  manifest: JsonValue;
}

/**
 * What a publisher signs: every part, the digest that binds them together, and the
 * metadata the worker enforces (tenant, monotonic version, validity window).
 */
export const BundleStatementSchema = z.strictObject({
  format: z.literal("warden.bundle.v1"),
  name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/),
  tenant: z.string().min(1).max(64),
  version: z.int().min(1).max(Number.MAX_SAFE_INTEGER),
  created_at: z.iso.datetime(),
  expires_at: z.iso.datetime(),
  digest: z.string().regex(/^sha256:[0-9a-f]{64}$/),
  policies: z.string().max(4 * 1024 * 1024),
  schema: z.string().max(1024 * 1024),
  manifest: z.json(),
});
export type BundleStatement = z.infer<typeof BundleStatementSchema>;

/** JWS `typ` of a bundle artifact, so no other JWS Warden handles can pass for one. */
export const BUNDLE_JWS_TYPE = "warden-bundle+jws";

/** Why an artifact is refused; each becomes its own problem code at the admin API. */
export type ArtifactRefusal =
  | "bundle_malformed"
  | "bundle_untrusted_key"
  | "bundle_signature_invalid"
  | "bundle_digest_mismatch"
  | "bundle_expired"
  | "bundle_not_yet_valid"
  | "bundle_invalid"
  // History declarations (worker/history/declarations.ts), each refused with its own code.
  | "bundle_history_invalid"
  | "bundle_history_schema_mismatch"
  | "bundle_detection_invalid"
  | "bundle_playbook_invalid"
  // The privacy section (worker/privacy/policy.ts).
  | "bundle_privacy_invalid";

export class BundleError extends Error {
  constructor(
    readonly code: ArtifactRefusal,
    message: string,
    readonly details: string[] = [],
  ) {
    super(message);
    this.name = "BundleError";
  }
}

/** SHA-256 over the canonical JSON of all parts together, so parts of different builds cannot be mixed. */
export function bundleDigest(sources: BundleSources): string {
  const canonical = canonicalJson({ policies: sources.policies, schema: sources.schema, manifest: sources.manifest });
  return `sha256:${createHash("sha256").update(canonical).digest("hex")}`;
}

export function bundleStatement(
  sources: BundleSources,
  meta: { name: string; tenant: string; version: number; createdAt: Date; expiresAt: Date },
): BundleStatement {
  return {
    format: "warden.bundle.v1",
    name: meta.name,
    tenant: meta.tenant,
    version: meta.version,
    created_at: meta.createdAt.toISOString(),
    expires_at: meta.expiresAt.toISOString(),
    digest: bundleDigest(sources),
    policies: sources.policies,
    schema: sources.schema,
    manifest: sources.manifest as BundleStatement["manifest"],
  };
}

/** Signs the statement's canonical JSON as a compact JWS (EdDSA); `kid` is the key's RFC 7638 thumbprint. */
export async function signBundle(statement: BundleStatement, privateJwk: JWK): Promise<string> {
  const { kty, crv, x } = privateJwk;
  if (kty !== "OKP" || crv !== "Ed25519" || typeof privateJwk.d !== "string") throw new WardenError("configuration_error", "publisher keys are Ed25519 private JWKs");
  const kid = await calculateJwkThumbprint({ kty, crv, x });
  const key = await importJWK({ ...privateJwk, alg: "EdDSA" }, "EdDSA");
  return new CompactSign(new TextEncoder().encode(canonicalJson(statement as JsonValue)))
    .setProtectedHeader({ alg: "EdDSA", typ: BUNDLE_JWS_TYPE, kid })
    .sign(key);
}

/** Publisher public keys by thumbprint; several may be trusted at once during a rotation. */
export type PublisherKeys = ReadonlyMap<string, CryptoKey>;

/**
 * Parses `PUBLISHER_KEYS` (a JWK Set of Ed25519 public keys). Each key is indexed by
 * the thumbprint Warden computes, never by a `kid` the set claims.
 */
export async function publisherKeys(jwks: string | undefined): Promise<PublisherKeys> {
  const keys = new Map<string, CryptoKey>();
  if (!jwks) return keys;
  const parsed = z.object({ keys: z.array(z.object({ kty: z.literal("OKP"), crv: z.literal("Ed25519"), x: z.string() })) }).parse(parseStrictJson(jwks));
  for (const { kty, crv, x } of parsed.keys) {
    const jwk = { kty, crv, x };
    keys.set(await calculateJwkThumbprint(jwk), (await importJWK(jwk, "EdDSA")) as CryptoKey);
  }
  return keys;
}

/**
 * Verifies an artifact and returns the statement parsed from exactly the bytes the
 * signature covers. Refuses unknown keys, any algorithm but EdDSA, a digest that does
 * not match the parts, and a statement outside its validity window at `now`.
 */
export async function verifyBundleArtifact(artifact: string, trusted: PublisherKeys, now: number): Promise<BundleStatement> {
  if (trusted.size === 0) throw new BundleError("bundle_untrusted_key", "no publisher key is configured");
  let header;
  try {
    ({ header } = strictJwsParts(artifact));
  } catch (error) {
    if (!(error instanceof JwsShapeError)) throw error;
    throw new BundleError("bundle_malformed", `the artifact is not a compact JWS of strict JSON (${error.code})`);
  }
  if (header.alg !== "EdDSA" || header.typ !== BUNDLE_JWS_TYPE) throw new BundleError("bundle_malformed", "the artifact must be an EdDSA warden-bundle+jws");
  const key = typeof header.kid === "string" ? trusted.get(header.kid) : undefined;
  if (!key) throw new BundleError("bundle_untrusted_key", "the artifact is signed by a key that is not trusted");
  let payload: Uint8Array;
  try {
    ({ payload } = await compactVerify(artifact, key, { algorithms: ["EdDSA"] }));
  } catch (cause) {
    const why = cause instanceof joseErrors.JOSEError ? cause.code : "unparseable";
    throw new BundleError("bundle_signature_invalid", `the artifact signature does not verify (${why})`);
  }
  let statement: BundleStatement;
  try {
    statement = BundleStatementSchema.parse(parseStrictJson(payload));
  } catch {
    throw new BundleError("bundle_malformed", "the signed statement is not a warden.bundle.v1 statement");
  }
  if (bundleDigest({ policies: statement.policies, schema: statement.schema, manifest: statement.manifest as JsonValue }) !== statement.digest) {
    throw new BundleError("bundle_digest_mismatch", "the digest does not match the parts");
  }
  if (Date.parse(statement.expires_at) <= now) throw new BundleError("bundle_expired", `the artifact expired at ${statement.expires_at}`);
  if (Date.parse(statement.created_at) > now + 5 * 60_000) throw new BundleError("bundle_not_yet_valid", `the artifact is created in the future (${statement.created_at})`);
  return statement;
}
