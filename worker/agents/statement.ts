/**
 * Signed statements that approve one build of an agent: the SHA-256 of the artifact and of its
 * SBOM, for one agent id, signed as a compact JWS in the format of bundle artifacts (EdDSA over
 * the RFC 8785 JSON of the statement, `kid` the key's RFC 7638 thumbprint) by a key in the
 * tenant's `ARTIFACT_KEYS`. Produced by `warden agent sign`; verified when an agent is
 * registered and again whenever the worker loads the registry, so a key taken out of
 * `ARTIFACT_KEYS` stops approving what it signed. Pure: Node and workerd run it alike.
 */
import { CompactSign, calculateJwkThumbprint, compactVerify, errors as joseErrors, importJWK, type JWK } from "jose";
import { z } from "zod";
import { WardenError } from "../errors.ts";
import { parseStrictJson } from "../json/strict.ts";
import { canonicalJson, type JsonValue } from "../log/canonical.ts";
import type { PublisherKeys } from "../policy/artifact.ts";
import { JwsShapeError, strictJwsParts } from "../tokens/jws.ts";

/** An agent id as the registry keys it (what `agent.id` of a decision names). */
export const AGENT_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

const Sha256Hex = z.string().regex(/^[0-9a-f]{64}$/);

/** What an artifact key signs: this build (and its SBOM) is an approved build of this agent. */
export const ArtifactStatementSchema = z.strictObject({
  format: z.literal("warden.agent-artifact.v1"),
  agent: z.string().regex(AGENT_ID),
  artifact_sha256: Sha256Hex,
  sbom_sha256: Sha256Hex,
  signed_at: z.iso.datetime(),
});
export type ArtifactStatement = z.infer<typeof ArtifactStatementSchema>;

/** JWS `typ` of an artifact statement, so neither a bundle nor any other JWS can pass for one. */
export const ARTIFACT_JWS_TYPE = "warden-agent-artifact+jws";

/** Why a statement is refused; each is its own problem code at `POST /v1/agents`. */
export type ArtifactRefusal = "artifact_malformed" | "artifact_untrusted_key" | "artifact_signature_invalid";

/** A statement Warden will not count as an approval. */
export class ArtifactError extends WardenError {
  declare readonly code: ArtifactRefusal;

  constructor(code: ArtifactRefusal, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** Signs `statement` with an Ed25519 private JWK; `kid` is the key's RFC 7638 thumbprint. */
export async function signArtifactStatement(statement: ArtifactStatement, privateJwk: JWK): Promise<string> {
  const { kty, crv, x } = privateJwk;
  if (kty !== "OKP" || crv !== "Ed25519" || typeof privateJwk.d !== "string") throw new WardenError("configuration_error", "artifact keys are Ed25519 private JWKs");
  const kid = await calculateJwkThumbprint({ kty, crv, x });
  const key = await importJWK({ ...privateJwk, alg: "EdDSA" }, "EdDSA");
  return new CompactSign(new TextEncoder().encode(canonicalJson(ArtifactStatementSchema.parse(statement) as JsonValue)))
    .setProtectedHeader({ alg: "EdDSA", typ: ARTIFACT_JWS_TYPE, kid })
    .sign(key);
}

/** A statement that verified, with the thumbprint of the key that signed it. */
export interface VerifiedArtifact {
  statement: ArtifactStatement;
  key: string;
}

/**
 * Verifies a statement for agent `agent` against the trusted keys and returns what exactly the
 * signed bytes say. Refuses a statement that is not a strict compact JWS, any algorithm but
 * EdDSA, another `typ`, a key not in `trusted`, a signature that does not verify, and a
 * statement about another agent.
 */
export async function verifyArtifactStatement(jws: string, trusted: PublisherKeys, agent: string): Promise<VerifiedArtifact> {
  let header;
  try {
    ({ header } = strictJwsParts(jws));
  } catch (cause) {
    if (!(cause instanceof JwsShapeError)) throw cause;
    throw new ArtifactError("artifact_malformed", `the statement is not a compact JWS of strict JSON (${cause.code})`, { cause });
  }
  if (header["alg"] !== "EdDSA" || header["typ"] !== ARTIFACT_JWS_TYPE) throw new ArtifactError("artifact_malformed", `the statement must be an EdDSA ${ARTIFACT_JWS_TYPE}`);
  const kid = header["kid"];
  const key = typeof kid === "string" ? trusted.get(kid) : undefined;
  if (typeof kid !== "string" || !key) throw new ArtifactError("artifact_untrusted_key", "the statement is signed by a key ARTIFACT_KEYS does not hold");
  let payload: Uint8Array;
  try {
    ({ payload } = await compactVerify(jws, key, { algorithms: ["EdDSA"] }));
  } catch (cause) {
    const why = cause instanceof joseErrors.JOSEError ? cause.code : "unparseable";
    throw new ArtifactError("artifact_signature_invalid", `the statement's signature does not verify (${why})`, { cause });
  }
  const parsed = ArtifactStatementSchema.safeParse(parseStrictJson(payload));
  if (!parsed.success) throw new ArtifactError("artifact_malformed", "the signed payload is not a warden.agent-artifact.v1 statement");
  // A build approved for one agent is not thereby approved for another that reports the same bytes.
  if (parsed.data.agent !== agent) throw new ArtifactError("artifact_malformed", `the statement approves a build of ${parsed.data.agent}, not of ${agent}`);
  return { statement: parsed.data, key: kid };
}
