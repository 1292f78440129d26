import { WardenError } from "../errors.ts";
import { createHash } from "node:crypto";
import { CompactSign, calculateJwkThumbprint, compactVerify, errors as joseErrors, importJWK, type JWK } from "jose";
import { z } from "zod";
import { StrictJsonError, parseStrictJson } from "../json/strict.ts";
import { canonicalJson, type JsonValue } from "../log/canonical.ts";
import { JwsShapeError, strictJwsParts, type StrictJwsParts } from "../tokens/jws.ts";

// Signed bundle artifacts: built by the CLI, verified by the worker. Kept apart from
// the Cedar compiler (compile.ts) so Node tools can use it without loading cedar-wasm.

/** The parts a bundle is made of, as authored in `policy-bundles/<name>/`. */
export interface BundleSources {
  policies: string;
  schema: string;
  manifest: JsonValue;
}

/** Largest `policies.cedar` an artifact may carry, largest body and largest first line, in bytes. */
const MAX_POLICY_BYTES = 4 * 1024 * 1024;
const MAX_BODY_BYTES = 32 * 1024 * 1024;
const MAX_JWS_BYTES = 2 * 1024 * 1024;

/** Cedar entity JSON as the index carries it for action groups; read by Cedar, which refuses anything else. */
const EntitySchema = z.strictObject({
  uid: z.strictObject({ type: z.string(), id: z.string() }),
  attrs: z.strictObject({}),
  parents: z.array(z.strictObject({ type: z.string(), id: z.string() })),
});

/**
 * The index an artifact signs in its statement: how many policies it carries, the attributes
 * they read (`context: null` when a policy reads `context` whole), the history features they
 * read (from which, with the manifest, an isolate rebuilds the history spec), and each action of the schema
 * with its resource types and its action-group entities. Which policies can apply to each action
 * is one line of the body per action, read when a decision first needs that action
 * (worker/policy/bundle.ts `openBundle`).
 */
export const BundleIndexSchema = z.strictObject({
  policies: z.int().min(0).max(1_000_000),
  attributes: z.strictObject({ principal: z.array(z.string()), resource: z.array(z.string()), context: z.array(z.string()).nullable() }),
  /** The history features the policies read as `context.history.<name>`; null when one reads `context.history` whole (worker/history/declarations.ts `historyReads`). */
  history: z.array(z.string()).nullable(),
  actions: z.array(z.strictObject({ name: z.string(), resources: z.array(z.string()), entities: z.array(EntitySchema) })),
});
export type BundleIndex = z.infer<typeof BundleIndexSchema>;

/**
 * What a publisher signs: the metadata the worker enforces (tenant, monotonic version, validity
 * window), the digest that names the sources, the schema and manifest, the index, and the body
 * that follows the JWS line by its size and SHA-256: `policies.cedar` (`policies_bytes`), then
 * one canonical JSON line per action of the index, then one per policy in Cedar's JSON form
 * (docs/bundles.md › The artifact).
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
  index: BundleIndexSchema,
  body: z.strictObject({
    bytes: z.int().min(0).max(MAX_BODY_BYTES),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    policies_bytes: z.int().min(0).max(MAX_POLICY_BYTES),
  }),
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

/** The parts of an artifact after its JWS line, as compiled (worker/policy/compile.ts `compileSources`). */
export interface CompiledParts {
  index: BundleIndex;
  /** One canonical JSON line per action of the index, then one per policy, each ending in a newline. */
  lines: string;
}

/** The statement of `sources` compiled into `compiled`, and the body it names by size and SHA-256. */
export function bundleStatement(
  sources: BundleSources,
  meta: { name: string; tenant: string; version: number; createdAt: Date; expiresAt: Date },
  compiled: CompiledParts,
): { statement: BundleStatement; body: Uint8Array } {
  const encoder = new TextEncoder();
  const policies = encoder.encode(sources.policies);
  const lines = encoder.encode(compiled.lines);
  const body = new Uint8Array(policies.length + lines.length);
  body.set(policies);
  body.set(lines, policies.length);
  const statement: BundleStatement = {
    format: "warden.bundle.v2",
    name: meta.name,
    tenant: meta.tenant,
    version: meta.version,
    created_at: meta.createdAt.toISOString(),
    expires_at: meta.expiresAt.toISOString(),
    digest: bundleDigest(sources),
    schema: sources.schema,
    manifest: sources.manifest as BundleStatement["manifest"],
    index: compiled.index,
    body: { bytes: body.length, sha256: createHash("sha256").update(body).digest("hex"), policies_bytes: policies.length },
  };
  return { statement, body };
}

/**
 * Signs an artifact: a compact JWS (RFC 7515, EdDSA, `typ` warden-bundle+jws, `kid` the RFC 7638
 * thumbprint of the key) over the statement's canonical JSON, on the first line, and the body
 * after it. The signature covers the statement, the statement covers the body by its SHA-256: an
 * isolate verifies a small signature and hashes the body once, and never decodes megabytes of
 * base64 or parses JSON it does not need.
 */
export async function signBundle(statement: BundleStatement, body: Uint8Array, privateJwk: JWK): Promise<Uint8Array> {
  const { kty, crv, x } = privateJwk;
  if (kty !== "OKP" || crv !== "Ed25519" || typeof privateJwk.d !== "string") throw new WardenError("configuration_error", "publisher keys are Ed25519 private JWKs");
  const kid = await calculateJwkThumbprint({ kty, crv, x });
  const key = await importJWK({ ...privateJwk, alg: "EdDSA" }, "EdDSA");
  const jws = await new CompactSign(new TextEncoder().encode(canonicalJson(statement as JsonValue))).setProtectedHeader({ alg: "EdDSA", typ: BUNDLE_JWS_TYPE, kid }).sign(key);
  const line = new TextEncoder().encode(`${jws}\n`);
  const artifact = new Uint8Array(line.length + body.length);
  artifact.set(line);
  artifact.set(body, line.length);
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

/** An artifact read: its statement, and its body checked against the size and SHA-256 the statement names. */
export interface ArtifactParts {
  statement: BundleStatement;
  /** Everything after the JWS line: `policies.cedar`, then the action lines, then the policy lines. */
  body: Uint8Array;
}

/** Parts whose statement a trusted publisher key signed (`verifyBundleArtifact`): from exactly the signed (and hashed) bytes. */
export type VerifiedArtifact = ArtifactParts;

const NEWLINE = 0x0a;

/** The artifact's JWS line and the body after it. */
function splitArtifact(artifact: Uint8Array): { jws: string; body: Uint8Array } {
  // The first line is base64url and dots: ASCII by construction, and bounded.
  const end = artifact.subarray(0, MAX_JWS_BYTES).indexOf(NEWLINE);
  if (end === -1) throw new BundleError("bundle_malformed", "the artifact does not start with a JWS line");
  return { jws: new TextDecoder().decode(artifact.subarray(0, end)), body: artifact.subarray(end + 1) };
}

/**
 * Where an artifact goes, read without verifying anything: for the CLI, which uploads it to
 * `<tenant>/bundles/artifacts/<version>.jws`. The worker verifies it before trusting any of it.
 */
export function unverifiedStatement(artifact: Uint8Array): { tenant: unknown; version: unknown } {
  const { payload } = strictJwsParts(splitArtifact(artifact).jws);
  return { tenant: payload["tenant"], version: payload["version"] };
}

/** The statement `payload` gives (strictly read), and `body` checked to be the one it names. */
function readStatement(payload: () => unknown, body: Uint8Array): BundleStatement {
  let statement: BundleStatement;
  try {
    statement = BundleStatementSchema.parse(payload());
  } catch (error) {
    if (!(error instanceof StrictJsonError) && !(error instanceof z.ZodError)) throw error;
    throw new BundleError("bundle_malformed", "the signed statement is not a warden.bundle.v2 statement");
  }
  if (body.length !== statement.body.bytes || createHash("sha256").update(body).digest("hex") !== statement.body.sha256) {
    throw new BundleError("bundle_signature_invalid", "the body is not the one the signed statement names");
  }
  if (statement.body.policies_bytes > body.length) throw new BundleError("bundle_malformed", "the body ends inside policies.cedar");
  return statement;
}

/**
 * An artifact's statement and body as `verifyBundleArtifact` reads them, but without checking
 * the signature: the body must still be the one the statement names. For readers that look at
 * an artifact before (or without) the publisher keys: which bundle it is, when it was created,
 * whether its digest is that of its sources (worker/log/package-verify.ts, `warden audit verify
 * --replay`, `GET /v1/bundles/artifacts/{digest}`). Nothing it returns is trusted until
 * `verifyBundleArtifact` verified the same bytes. Throws `BundleError` (`bundle_malformed`,
 * `bundle_signature_invalid` for a body that is not the named one).
 */
export function unverifiedArtifact(artifact: Uint8Array): ArtifactParts {
  const { jws, body } = splitArtifact(artifact);
  let payload: StrictJwsParts["payload"];
  try {
    ({ payload } = strictJwsParts(jws));
  } catch (error) {
    if (!(error instanceof JwsShapeError)) throw error;
    throw new BundleError("bundle_malformed", `the artifact's first line is not a compact JWS of strict JSON (${error.code})`);
  }
  return { statement: readStatement(() => payload, body), body };
}

/**
 * Verifies an artifact and returns its statement and body, from exactly the bytes the
 * signature and the signed hash cover. Refuses unknown keys, any algorithm but EdDSA, a body
 * that is not the one the statement names, and a statement outside its validity window at
 * `now`. Nothing here compiles or decodes the policies: activation checks that the body and
 * index are what the sources compile to (worker/policy/compile.ts `checkPrecompiled`), and an
 * isolate reads the lines it needs when it needs them.
 */
export async function verifyBundleArtifact(artifact: Uint8Array, trusted: PublisherKeys, now: number): Promise<VerifiedArtifact> {
  if (trusted.size === 0) throw new BundleError("bundle_untrusted_key", "no publisher key is configured");
  const { jws, body } = splitArtifact(artifact);
  let header;
  try {
    // Header and payload strictly parsed before jose reads them: two `alg`s or two `digest`s are refused, not resolved.
    ({ header } = strictJwsParts(jws));
  } catch (error) {
    if (!(error instanceof JwsShapeError)) throw error;
    throw new BundleError("bundle_malformed", `the artifact's first line is not a compact JWS of strict JSON (${error.code})`);
  }
  if (header["alg"] !== "EdDSA" || header["typ"] !== BUNDLE_JWS_TYPE) throw new BundleError("bundle_malformed", "the artifact must be an EdDSA warden-bundle+jws");
  const kid = header["kid"];
  const key = typeof kid === "string" ? trusted.get(kid) : undefined;
  if (!key) throw new BundleError("bundle_untrusted_key", "the artifact is signed by a key that is not trusted");
  let payload: Uint8Array;
  try {
    ({ payload } = await compactVerify(jws, key, { algorithms: ["EdDSA"] }));
  } catch (cause) {
    const why = cause instanceof joseErrors.JOSEError ? cause.code : "unparseable";
    throw new BundleError("bundle_signature_invalid", `the artifact signature does not verify (${why})`);
  }
  const statement = readStatement(() => parseStrictJson(payload), body);
  if (Date.parse(statement.expires_at) <= now) throw new BundleError("bundle_expired", `the artifact expired at ${statement.expires_at}`);
  if (Date.parse(statement.created_at) > now + 5 * 60_000) throw new BundleError("bundle_not_yet_valid", `the artifact is created in the future (${statement.created_at})`);
  return { statement, body };
}

/**
 * The sources a verified artifact carries, checked against its digest: `policies.cedar` must be
 * UTF-8 and the digest the one of these sources. Activation's business (with the compilation
 * that follows); an isolate never reads `policies.cedar`.
 */
export function artifactSources(artifact: ArtifactParts): BundleSources {
  const { statement, body } = artifact;
  let policies: string;
  try {
    policies = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(body.subarray(0, statement.body.policies_bytes));
  } catch {
    throw new BundleError("bundle_malformed", "policies.cedar is not UTF-8");
  }
  const sources: BundleSources = { policies, schema: statement.schema, manifest: statement.manifest as JsonValue };
  if (bundleDigest(sources) !== statement.digest) throw new BundleError("bundle_digest_mismatch", "the digest does not match the parts");
  return sources;
}
