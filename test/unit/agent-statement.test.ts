import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { CompactSign, importJWK, type JWK } from "jose";
import { ArtifactError, ARTIFACT_JWS_TYPE, signArtifactStatement, verifyArtifactStatement, type ArtifactStatement } from "../../worker/agents/statement.ts";
import { directoryOf, standingOf } from "../../worker/agents/store.ts";
import { publisherKeys } from "../../worker/policy/artifact.ts";
import { calculateJwkThumbprint } from "jose";

// Signed statements approving an agent build (docs/agents.md), made with keys generated here.
function keyPair() {
  const privateJwk = generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" }) as JWK;
  const { d: _private, ...publicJwk } = privateJwk;
  return { privateJwk, set: JSON.stringify({ keys: [publicJwk] }) };
}
const trustedKey = keyPair();
const statement: ArtifactStatement = { format: "warden.agent-artifact.v1", agent: "claude-code", artifact_sha256: "a".repeat(64), sbom_sha256: "b".repeat(64), signed_at: "2026-11-22T12:00:00.000Z" };

async function refusal(jws: string, agent = "claude-code"): Promise<string> {
  try {
    await verifyArtifactStatement(jws, await publisherKeys(trustedKey.set), agent);
    return "verified";
  } catch (error) {
    if (error instanceof ArtifactError) return error.code;
    throw error;
  }
}

/** A JWS made by hand, so a test can sign what `signArtifactStatement` never would. */
async function rawJws(header: Record<string, unknown>, payload: unknown): Promise<string> {
  const key = await importJWK({ ...trustedKey.privateJwk, alg: "EdDSA" }, "EdDSA");
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload))).setProtectedHeader(header as { alg: string }).sign(key);
}

describe("agent artifact statements", () => {
  it("verify under the key that signed them, and say exactly what was signed", async () => {
    const jws = await signArtifactStatement(statement, trustedKey.privateJwk);
    const verified = await verifyArtifactStatement(jws, await publisherKeys(trustedKey.set), "claude-code");
    expect(verified.statement).toEqual(statement);
    expect(verified.key).toBe(await calculateJwkThumbprint({ kty: "OKP", crv: "Ed25519", x: trustedKey.privateJwk.x! }));
  });

  it("are refused, each with its code", async () => {
    const kid = await calculateJwkThumbprint({ kty: "OKP", crv: "Ed25519", x: trustedKey.privateJwk.x! });
    const signed = await signArtifactStatement(statement, trustedKey.privateJwk);
    expect(await refusal(await signArtifactStatement(statement, keyPair().privateJwk))).toBe("artifact_untrusted_key");
    expect(await refusal(signed, "codex")).toBe("artifact_malformed");
    expect(await refusal(`${signed.slice(0, -6)}AAAAAA`)).toBe("artifact_signature_invalid");
    expect(await refusal(await rawJws({ alg: "EdDSA", typ: "warden-bundle+jws", kid }, statement))).toBe("artifact_malformed");
    expect(await refusal(await rawJws({ alg: "EdDSA", typ: ARTIFACT_JWS_TYPE }, statement))).toBe("artifact_untrusted_key");
    expect(await refusal(await rawJws({ alg: "EdDSA", typ: ARTIFACT_JWS_TYPE, kid }, { ...statement, format: "warden.agent-artifact.v2" }))).toBe("artifact_malformed");
    expect(await refusal(await rawJws({ alg: "EdDSA", typ: ARTIFACT_JWS_TYPE, kid }, { ...statement, extra: true }))).toBe("artifact_malformed");
    const duplicated = (await rawJws({ alg: "EdDSA", typ: ARTIFACT_JWS_TYPE, kid }, statement)).split(".");
    duplicated[0] = btoa(`{"alg":"EdDSA","alg":"none","typ":"${ARTIFACT_JWS_TYPE}","kid":"${kid}"}`).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
    expect(await refusal(duplicated.join("."))).toBe("artifact_malformed");
  });

  it("a directory counts only the builds whose statements verify under today's keys", async () => {
    const record = { id: "claude-code", owner: "o", risk: "low" as const, versions: ["2.1.0"], artifacts: [{ statement: await signArtifactStatement(statement, trustedKey.privateJwk) }] };
    const today = await directoryOf(1, [record], await publisherKeys(trustedKey.set));
    expect(standingOf(today, { id: "claude-code", version: "2.1.0", artifact_sha256: "a".repeat(64) })).toEqual({ registered: true, risk: "low", owner: "o", artifactApproved: true, versionAllowed: true });
    expect(standingOf(today, { id: "claude-code", version: "2.0.0" }).versionAllowed).toBe(false);
    const rotated = await directoryOf(2, [record], await publisherKeys(keyPair().set));
    expect(standingOf(rotated, { id: "claude-code", version: "2.1.0", artifact_sha256: "a".repeat(64) }).artifactApproved).toBe(false);
    expect(standingOf(rotated, { id: "codex", version: "1" })).toEqual({ registered: false, risk: "", owner: "", artifactApproved: false, versionAllowed: false });
  });
});
