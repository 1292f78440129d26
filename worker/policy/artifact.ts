import { WardenError } from "../errors.ts";
import { createHash } from "node:crypto";
import { FlattenedSign, calculateJwkThumbprint, errors as joseErrors, flattenedVerify, importJWK, type JWK } from "jose";
import { z } from "zod";
import { StrictJsonError, parseStrictJson } from "../json/strict.ts";
import { canonicalJson, type JsonValue } from "../log/canonical.ts";
import { JwsShapeError, strictJwsHeader } from "../tokens/jws.ts";

// Signed bundle artifacts: built by the CLI, verified by the worker. Kept apart from
// the Cedar compiler (compile.ts) so Node tools can use it without loading cedar-wasm.

/** The parts a bundle is made of, as authored in `policy-bundles/<name>/`. */
export interface BundleSources {
  policies: string;
  schema: string;
  manifest: JsonValue;
}

/** Largest `policies.cedar` an artifact may carry, and largest artifact, in bytes. */
const MAX_POLICY_BYTES = 4 * 1024 * 1024;
const MAX_ARTIFACT_BYTES = 32 * 1024 * 1024;

/**
 * What a publisher signs besides the parts: the metadata the worker enforces (tenant,
 * monotonic version, validity window), the digest that names the sources, and the
 * precompiled index (worker/policy/bundle.ts `BundleIndex`) an isolate decides from.
 * `policies_bytes` is where `policies.cedar` ends and the compiled policies begin in the
 * payload after this statement (docs/bundles.md › The artifact).
 */
export const BundleStatementSchema = z.strictObject({
  format: z.literal("warden.bundle.v2"),
  name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/),
  tenant: z.string().min(1).max(64),
  version: z.int().min(1).max(Number.MAX_SAFE_INTEGER),
  created_at: z.iso.datetime(),
  expires_at: z.iso.datetime(),
  digest: z.string().regex(/^sha256:[0-9a-f]{64}$/),
  schema: z.string().max(1024 * 1024),
  manifest: z.json(),
  policies_bytes: z.int().min(0).max(MAX_POLICY_BYTES),
  // Its shape is checked where it is read (bundle.ts `readIndex`): one pass instead of two over what can be a large object.
  index: z.record(z.string(), z.unknown()),
});
export type BundleStatement = z.infer<typeof BundleStatementSchema>;

/** JWS `typ` of a bundle artifact, so no other JWS Warden handles can pass for one. */
export const BUNDLE_JWS_TYPE = "warden-bundle+jws";

/** Why an artifact is refused; each becomes its own problem code at the admin API. */
export type ArtifactRefusal = "bundle_malformed" | "bundle_untrusted_key" | "bundle_signature_invalid" | "bundle_digest_mismatch" | "bundle_expired" | "bundle_not_yet_valid" | "bundle_invalid";

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
  index: JsonValue,
): BundleStatement {
  return {
    format: "warden.bundle.v2",
    name: meta.name,
    tenant: meta.tenant,
    version: meta.version,
    created_at: meta.createdAt.toISOString(),
    expires_at: meta.expiresAt.toISOString(),
    digest: bundleDigest(sources),
    schema: sources.schema,
    manifest: sources.manifest as BundleStatement["manifest"],
    policies_bytes: new TextEncoder().encode(sources.policies).length,
    index: index as BundleStatement["index"],
  };
}

/**
 * The bytes a publisher signs: the statement's canonical JSON on one line, then
 * `policies.cedar` as authored, then the policies in Cedar's JSON form, one canonical line each
 * in index order (worker/policy/compile.ts `compileSources`).
 */
export function bundlePayload(statement: BundleStatement, policies: string, compiledLines: string): Uint8Array {
  return new TextEncoder().encode(`${canonicalJson(statement as JsonValue)}\n${policies}${compiledLines}`);
}

/**
 * Signs a payload as an artifact: a JWS (RFC 7515, EdDSA, `kid` the RFC 7638 thumbprint of
 * the key) whose payload is unencoded and detached (RFC 7797: `b64: false`), written as
 * `<protected header>..<signature>` on the first line with the payload's bytes after it. The
 * signature covers every byte an isolate reads, and no isolate decodes megabytes of base64 or
 * parses JSON it does not need.
 */
export async function signBundle(payload: Uint8Array, privateJwk: JWK): Promise<Uint8Array> {
  const { kty, crv, x } = privateJwk;
  if (kty !== "OKP" || crv !== "Ed25519" || typeof privateJwk.d !== "string") throw new WardenError("configuration_error", "publisher keys are Ed25519 private JWKs");
  const kid = await calculateJwkThumbprint({ kty, crv, x });
  const key = await importJWK({ ...privateJwk, alg: "EdDSA" }, "EdDSA");
  const jws = await new FlattenedSign(payload).setProtectedHeader({ alg: "EdDSA", typ: BUNDLE_JWS_TYPE, kid, b64: false, crit: ["b64"] }).sign(key);
  const line = new TextEncoder().encode(`${jws.protected}..${jws.signature}\n`);
  const artifact = new Uint8Array(line.length + payload.length);
  artifact.set(line);
  artifact.set(payload, line.length);
  return artifact;
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

/** A verified artifact: its statement, its sources and its compiled policies, all from the signed bytes. */
export interface VerifiedArtifact {
  statement: BundleStatement;
  sources: BundleSources;
  /** One canonical JSON line per policy, in index order. */
  compiled: Uint8Array;
}

const NEWLINE = 0x0a;

/** The artifact's first line, `<protected header>..<signature>`, and the payload after it. */
function splitArtifact(artifact: Uint8Array): { header: string; signature: string; payload: Uint8Array } {
  if (artifact.length > MAX_ARTIFACT_BYTES) throw new BundleError("bundle_malformed", `the artifact is over ${MAX_ARTIFACT_BYTES} bytes`);
  // The first line is base64url and dots: short, and ASCII by construction.
  const end = artifact.subarray(0, 4096).indexOf(NEWLINE);
  if (end === -1) throw new BundleError("bundle_malformed", "the artifact does not start with a JWS line");
  const parts = new TextDecoder().decode(artifact.subarray(0, end)).split(".");
  if (parts.length !== 3 || parts[1] !== "") throw new BundleError("bundle_malformed", "the first line is not a JWS with a detached payload");
  return { header: parts[0] as string, signature: parts[2] as string, payload: artifact.subarray(end + 1) };
}

/**
 * Where an artifact goes, read without verifying anything: for the CLI, which uploads it to
 * `<tenant>/bundles/artifacts/<version>.jws`. The worker verifies it before trusting any of it.
 */
export function unverifiedStatement(artifact: Uint8Array): { tenant: unknown; version: unknown } {
  const { payload } = splitArtifact(artifact);
  const end = payload.indexOf(NEWLINE);
  const statement = parseStrictJson(payload.subarray(0, end === -1 ? payload.length : end));
  if (typeof statement !== "object" || statement === null || Array.isArray(statement)) throw new BundleError("bundle_malformed", "the artifact carries no statement");
  return { tenant: statement["tenant"], version: statement["version"] };
}

/**
 * Verifies an artifact and returns its statement and parts, read from exactly the bytes the
 * signature covers. Refuses unknown keys, any algorithm but EdDSA, a header that is not the
 * detached, unencoded form, a digest that does not match the sources, and a statement
 * outside its validity window at `now`. Does not compile: that the precompiled part matches
 * the sources is checked at activation (worker/policy/compile.ts `checkPrecompiled`).
 */
export async function verifyBundleArtifact(artifact: Uint8Array, trusted: PublisherKeys, now: number): Promise<VerifiedArtifact> {
  if (trusted.size === 0) throw new BundleError("bundle_untrusted_key", "no publisher key is configured");
  const { header: encodedHeader, signature, payload } = splitArtifact(artifact);
  let header;
  try {
    header = strictJwsHeader(encodedHeader);
  } catch (error) {
    if (!(error instanceof JwsShapeError)) throw error;
    throw new BundleError("bundle_malformed", `the artifact header is not strict JSON (${error.code})`);
  }
  const crit = header["crit"];
  if (header["alg"] !== "EdDSA" || header["typ"] !== BUNDLE_JWS_TYPE || header["b64"] !== false || !Array.isArray(crit) || crit.length !== 1 || crit[0] !== "b64") {
    throw new BundleError("bundle_malformed", "the artifact must be an EdDSA warden-bundle+jws with an unencoded payload");
  }
  const kid = header["kid"];
  const key = typeof kid === "string" ? trusted.get(kid) : undefined;
  if (!key) throw new BundleError("bundle_untrusted_key", "the artifact is signed by a key that is not trusted");
  try {
    await flattenedVerify({ protected: encodedHeader, payload, signature }, key, { algorithms: ["EdDSA"] });
  } catch (cause) {
    const why = cause instanceof joseErrors.JOSEError ? cause.code : "unparseable";
    throw new BundleError("bundle_signature_invalid", `the artifact signature does not verify (${why})`);
  }
  const end = payload.indexOf(NEWLINE);
  if (end === -1) throw new BundleError("bundle_malformed", "the payload has no line break after its statement");
  let statement: BundleStatement;
  try {
    statement = BundleStatementSchema.parse(parseStrictJson(payload.subarray(0, end)));
  } catch (error) {
    if (!(error instanceof StrictJsonError) && !(error instanceof z.ZodError)) throw error;
    throw new BundleError("bundle_malformed", "the signed statement is not a warden.bundle.v2 statement");
  }
  const body = payload.subarray(end + 1);
  if (statement.policies_bytes > body.length) throw new BundleError("bundle_malformed", "the payload ends inside policies.cedar");
  let policies: string;
  try {
    policies = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(body.subarray(0, statement.policies_bytes));
  } catch {
    throw new BundleError("bundle_malformed", "policies.cedar is not UTF-8");
  }
  const sources: BundleSources = { policies, schema: statement.schema, manifest: statement.manifest as JsonValue };
  if (bundleDigest(sources) !== statement.digest) throw new BundleError("bundle_digest_mismatch", "the digest does not match the parts");
  if (Date.parse(statement.expires_at) <= now) throw new BundleError("bundle_expired", `the artifact expired at ${statement.expires_at}`);
  if (Date.parse(statement.created_at) > now + 5 * 60_000) throw new BundleError("bundle_not_yet_valid", `the artifact is created in the future (${statement.created_at})`);
  return { statement, sources, compiled: body.subarray(statement.policies_bytes) };
}
