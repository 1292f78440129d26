import { env, SELF } from "cloudflare:test";
import { CompactSign, base64url, calculateJwkThumbprint, importJWK, type JWK } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import type { WardenClient } from "../../cli/client.ts";
import { artifactKey, deploymentKey } from "../../worker/policy/deployment.ts";
import { BUNDLE_JWS_TYPE } from "../../worker/policy/artifact.ts";
import { canonicalJson, type JsonValue } from "../../worker/log/canonical.ts";
import { parseStrictJson } from "../../worker/json/strict.ts";
import { BASE_URL, activate, agent, defaultSources, fileAction, nextVersion, publish, readyDevice, signedArtifact, testPublisherKey, uniqueId, workerFetch } from "../helpers.ts";
import { call, enrolledReviewer } from "../review-helpers.ts";

/**
 * Strict JSON at every boundary the worker has, through the worker itself: each case
 * is a text JSON.parse reads one way (and another reader another way), refused with
 * the boundary's stable code; each has a control that the same request without the
 * ambiguity is accepted, so the refusal is about the ambiguity and nothing else.
 */

const encoder = new TextEncoder();
const utf8 = (text: string) => encoder.encode(text);
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
};

interface Problem {
  code: string;
}

let client: WardenClient;

beforeAll(async () => {
  await activate();
  client = await readyDevice();
});

/** POST /v1/decisions with `body` sent exactly as given, authenticated as `client`. */
async function rawDecision(body: string | Uint8Array, options: { dpop?: string } = {}) {
  const token = client.sessionToken!;
  const dpop = options.dpop ?? (await client.proof("POST", "/v1/decisions", { accessToken: token }));
  const response = await SELF.fetch(
    new Request(`${BASE_URL}/v1/decisions`, { method: "POST", headers: { authorization: `DPoP ${token}`, dpop, "content-type": "application/json" }, body }),
  );
  return { status: response.status, body: (await response.json()) as Problem & { decision?: string } };
}

const agentJson = JSON.stringify(agent);
const shadowRead = '{"type":"file.read","targets":[{"kind":"path","value":"/etc/shadow"}]}';
const workspaceWrite = '{"type":"file.write","targets":[{"kind":"path","value":"/home/dev/workspace/x.ts"}]}';

describe("request bodies: refused as 400 malformed_json before any schema runs", () => {
  it("controls: the workspace write alone is permitted, the shadow read alone denied", async () => {
    expect((await rawDecision(`{"agent":${agentJson},"action":${workspaceWrite}}`)).body.decision).toBe("permit");
    expect((await rawDecision(`{"agent":${agentJson},"action":${shadowRead}}`)).body.decision).toBe("deny");
  });

  it("two `action` members, reading /etc/shadow first and writing the workspace last", async () => {
    const { status, body } = await rawDecision(`{"agent":${agentJson},"action":${shadowRead},"action":${workspaceWrite}}`);
    expect(status).toBe(400);
    expect(body.code).toBe("malformed_json");
    // The body says the code and its title: nothing of the input, nor the reader's offsets.
    expect(JSON.stringify(body)).not.toContain("shadow");
  });

  it("a target with two `value` members", async () => {
    const body = `{"agent":${agentJson},"action":{"type":"file.write","targets":[{"kind":"path","value":"/etc/shadow","value":"/home/dev/workspace/x.ts"}]}}`;
    expect((await rawDecision(body)).body).toMatchObject({ code: "malformed_json" });
  });

  it("a name spelt with an escape is the same name: `action` and `\\u0061ction`", async () => {
    const body = `{"agent":${agentJson},"action":${shadowRead},"\\u0061ction":${workspaceWrite}}`;
    expect((await rawDecision(body)).body).toMatchObject({ code: "malformed_json" });
  });

  const pathBody = (value: string) => `{"agent":${agentJson},"action":{"type":"file.write","targets":[{"kind":"path","value":"${value}"}]}}`;
  const bytesBody = (inside: Uint8Array) => {
    const [before, after] = pathBody("@@").split("@@") as [string, string];
    return concat(utf8(before), inside, utf8(after));
  };

  it.each([
    ["an escaped lone surrogate in a string", pathBody("/home/dev/workspace/\\ud800.ts"), "lone_surrogate"],
    // A raw surrogate can only reach HTTP as its UTF-8-style encoding (ED A0 80), which UTF-8 forbids.
    ["a raw lone surrogate (its three-byte encoding) in a string", bytesBody(Uint8Array.of(0x2f, 0xed, 0xa0, 0x80)), "invalid_utf8"],
    ["invalid UTF-8 in a string (C3 28)", bytesBody(concat(utf8("/home/dev/workspace/"), Uint8Array.of(0xc3, 0x28))), "invalid_utf8"],
    ["an overlong '/' (C0 AF) in a string", bytesBody(Uint8Array.of(0xc0, 0xaf)), "invalid_utf8"],
    ["a byte order mark", concat(Uint8Array.of(0xef, 0xbb, 0xbf), utf8(pathBody("/home/dev/workspace/x.ts"))), "bom"],
    ["an integer 2^53+1 in the context", `{"agent":${agentJson},"action":${workspaceWrite},"context":{"ticket":9007199254740993}}`, "unsafe_integer"],
    ["a trailing comma", `{"agent":${agentJson},"action":${workspaceWrite},}`, "syntax"],
    ["a second document after the first", `{"agent":${agentJson},"action":${workspaceWrite}} {}`, "trailing_data"],
    ["a body cut short", `{"agent":${agentJson},"action":`, "unexpected_end"],
  ] as [string, string | Uint8Array, string][])("%s", async (_name, body, jsonCode) => {
    const { status, body: problem } = await rawDecision(body);
    expect(status).toBe(400);
    expect(problem.code).toBe("malformed_json");
    // Each flaw is the reader's own refusal, not a schema's.
    expect(() => parseStrictJson(body)).toThrowError(expect.objectContaining({ code: jsonCode }));
  });

  it("controls: the same bodies without the flaw are permitted (a real pair of escapes, a safe integer)", async () => {
    expect((await rawDecision(pathBody("/home/dev/workspace/\\ud83d\\ude00.ts"))).body.decision).toBe("permit");
    expect((await rawDecision(`{"agent":${agentJson},"action":${workspaceWrite},"context":{"ticket":9007199254740991}}`)).body.decision).toBe("permit");
  });

  it("every /v1 route reads its body strictly: an admin registration with two `id`s", async () => {
    const response = await SELF.fetch(`${BASE_URL}/v1/devices`, {
      method: "POST",
      headers: { authorization: `Bearer ${env.ADMIN_TOKEN}`, "content-type": "application/json" },
      body: `{"id":"${uniqueId()}","id":"${uniqueId()}","os":"linux","public_key":${JSON.stringify(client.key.publicJwk)}}`,
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as Problem).code).toBe("malformed_json");
  });
});

/** A compact JWS over exactly these payload bytes, with `header` as its protected header. */
async function signCompact(payload: string, header: Record<string, unknown>, key: CryptoKey): Promise<string> {
  return new CompactSign(utf8(payload)).setProtectedHeader(header as { alg: string }).sign(key);
}

describe("DPoP proofs: refused as 401 invalid_dpop_proof", () => {
  async function proofWith(payload: string): Promise<string> {
    return signCompact(payload, { typ: "dpop+jwt", alg: "EdDSA", jwk: client.key.publicJwk }, client.key.privateKey);
  }
  const claims = async () => ({
    jti: crypto.randomUUID(),
    iat: Math.floor(Date.now() / 1000),
    ath: base64url.encode(new Uint8Array(await crypto.subtle.digest("SHA-256", utf8(client.sessionToken!)))),
  });
  const body = `{"agent":${agentJson},"action":${workspaceWrite}}`;

  it("control: a hand-built proof with one htu is accepted", async () => {
    const { jti, iat, ath } = await claims();
    const proof = await proofWith(`{"htm":"POST","htu":"${BASE_URL}/v1/decisions","jti":"${jti}","iat":${iat},"ath":"${ath}"}`);
    expect((await rawDecision(body, { dpop: proof })).body.decision).toBe("permit");
  });

  it("a proof whose payload has two htu claims (another site's first, this one's last)", async () => {
    const { jti, iat, ath } = await claims();
    const proof = await proofWith(`{"htm":"POST","htu":"https://evil.example/v1/decisions","htu":"${BASE_URL}/v1/decisions","jti":"${jti}","iat":${iat},"ath":"${ath}"}`);
    const { status, body: problem } = await rawDecision(body, { dpop: proof });
    expect(status).toBe(401);
    expect(problem.code).toBe("invalid_dpop_proof");

  });

  it("a proof whose header has two jwk members", async () => {
    const { jti, iat, ath } = await claims();
    const payload = `{"htm":"POST","htu":"${BASE_URL}/v1/decisions","jti":"${jti}","iat":${iat},"ath":"${ath}"}`;
    const jwk = JSON.stringify(client.key.publicJwk);
    const header = `{"typ":"dpop+jwt","alg":"EdDSA","jwk":${jwk},"jwk":${jwk}}`;
    const input = `${base64url.encode(header)}.${base64url.encode(payload)}`;
    const signature = new Uint8Array(await crypto.subtle.sign("Ed25519", client.key.privateKey, utf8(input)));
    const { status, body: problem } = await rawDecision(body, { dpop: `${input}.${base64url.encode(signature)}` });
    expect(status).toBe(401);
    expect(problem.code).toBe("invalid_dpop_proof");
  });
});

describe("Warden's own tokens: a duplicate claim signed with the signing key is refused as 401 invalid_token", () => {
  let signing: { key: CryptoKey; kid: string };
  beforeAll(async () => {
    const jwk = JSON.parse(env.SIGNING_KEY) as JWK;
    signing = { key: (await importJWK(jwk, "EdDSA")) as CryptoKey, kid: await calculateJwkThumbprint({ kty: jwk.kty, crv: jwk.crv, x: jwk.x }) };
  });

  /** The token re-signed over `payload` with its own header, by the worker's signing key. */
  function resign(token: string, payload: (text: string) => string): Promise<string> {
    const [header, body] = token.split(".") as [string, string];
    const decodedHeader = JSON.parse(new TextDecoder().decode(base64url.decode(header))) as Record<string, unknown>;
    expect(decodedHeader["kid"]).toBe(signing.kid);
    return signCompact(payload(new TextDecoder().decode(base64url.decode(body))), decodedHeader, signing.key);
  }
  const first = (member: string) => (text: string) => `{${member},${text.slice(1)}`;

  it("a session token with a second `sub` (another device's first); control: re-signed as it was, it works", async () => {
    const real = client.sessionToken!;
    const decideWith = (token: string) => client.authorized<Problem & { decision?: string }>("POST", "/v1/decisions", fileAction("file.write", "/home/dev/workspace/x.ts"), token);
    expect((await decideWith(await resign(real, (text) => text))).body.decision).toBe("permit");
    const forged = await resign(real, first('"sub":"someone-else"'));
    const { status, body } = await decideWith(forged);
    expect(status).toBe(401);
    expect(body.code).toBe("invalid_token");
  });

  it("an action token with a second `scope` (reading /etc/shadow first); control: re-signed as it was, it redeems", async () => {
    const request = fileAction("file.write", "/home/dev/workspace/x.ts");
    const permit = await client.decide<{ decision: string; token?: string }>(request);
    expect(permit.body.decision).toBe("permit");
    const token = permit.body.token!;
    const forged = await resign(token, first('"scope":{"action":"file.read","targets":[{"kind":"path","value":"/etc/shadow"}]}'));
    const refused = await client.redeem(forged, request.action);
    expect(refused.status).toBe(401);
    expect((refused.body as Problem).code).toBe("invalid_token");
    // The refusal spent nothing: the token, re-signed unchanged, still redeems once.
    expect((await client.redeem(await resign(token, (text) => text), request.action)).status).toBe(200);
  });
});

describe("bundle artifacts: a signed statement or policy line a strict reader would read otherwise is refused", () => {
  async function activateArtifact(tenant: string, version: number, artifact: Uint8Array) {
    await env.BUNDLES.put(artifactKey(tenant, version), artifact);
    const response = await workerFetch({ tenant })(
      new Request(`${BASE_URL}/v1/bundles/activate`, {
        method: "POST",
        headers: { authorization: `Bearer ${env.ADMIN_TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({ version, slot: "active", rollback: false }),
      }),
    );
    return { status: response.status, body: (await response.json()) as Problem };
  }

  /** A correctly built artifact's statement (canonical JSON text) and body (policies.cedar, then the action and policy lines). */
  async function built(tenant: string, version: number) {
    const { statement, artifact } = await signedArtifact(defaultSources, { tenant, version });
    const text = new TextDecoder().decode(artifact);
    return { statement, text: canonicalJson(statement as JsonValue), body: text.slice(text.indexOf("\n") + 1) };
  }

  /** An artifact whose JWS signs exactly `statementText`, over `body`. */
  async function artifactOver(statementText: string, body: Uint8Array): Promise<Uint8Array> {
    const { kty, crv, x } = testPublisherKey;
    const kid = await calculateJwkThumbprint({ kty, crv, x } as JWK);
    const key = (await importJWK({ ...testPublisherKey, alg: "EdDSA" }, "EdDSA")) as CryptoKey;
    return concat(utf8(`${await signCompact(statementText, { alg: "EdDSA", typ: BUNDLE_JWS_TYPE, kid }, key)}\n`), body);
  }

  const sha256 = async (bytes: Uint8Array) => [...new Uint8Array(await crypto.subtle.digest("SHA-256", bytes))].map((byte) => byte.toString(16).padStart(2, "0")).join("");

  it("two `index` members (an index with no attributes first, the compiled one last): 422 bundle_malformed; control: the statement alone activates", async () => {
    const tenant = uniqueId("tenant");
    const control = nextVersion();
    const parts = await built(tenant, control);
    expect((await activateArtifact(tenant, control, await artifactOver(parts.text, utf8(parts.body)))).status).toBe(200);

    const version = nextVersion();
    const again = await built(tenant, version);
    const forged = JSON.stringify({ ...again.statement.index, attributes: { principal: [], resource: [], context: [] } });
    const { status, body } = await activateArtifact(tenant, version, await artifactOver(`{"index":${forged},${again.text.slice(1)}`, utf8(again.body)));
    expect(status).toBe(422);
    expect(body.code).toBe("bundle_malformed");
  });

  it("policies.cedar whose bytes are not UTF-8 (an encoded surrogate in a comment), size and hash signed: 422 bundle_malformed", async () => {
    const tenant = uniqueId("tenant");
    const version = nextVersion();
    const parts = await built(tenant, version);
    const policies = parts.body.slice(0, parts.statement.body.policies_bytes);
    const comment = concat(utf8("\n// "), new Uint8Array([0xed, 0xbf, 0xbf]), utf8("\n"));
    const body = concat(utf8(policies), comment, utf8(parts.body.slice(policies.length)));
    const statement = { ...parts.statement, body: { bytes: body.length, sha256: await sha256(body), policies_bytes: utf8(policies).length + comment.length } };
    const { status, body: problem } = await activateArtifact(tenant, version, await artifactOver(canonicalJson(statement as JsonValue), body));
    expect(status).toBe(422);
    expect(problem.code).toBe("bundle_malformed");
  });

  it("a policy's line with a second `effect` (permit first), size and hash signed: 422 bundle_invalid, never read by an isolate", async () => {
    const tenant = uniqueId("tenant");
    const version = nextVersion();
    const parts = await built(tenant, version);
    const lines = parts.body.split("\n");
    const at = lines.findIndex((line) => line.includes('"id":"secrets-never"'));
    lines[at] = `{"effect":"permit",${lines[at]!.slice(1)}`;
    const body = utf8(lines.join("\n"));
    const statement = { ...parts.statement, body: { ...parts.statement.body, bytes: body.length, sha256: await sha256(body) } };
    const { status, body: problem } = await activateArtifact(tenant, version, await artifactOver(canonicalJson(statement as JsonValue), body));
    expect(status).toBe(422);
    expect(problem.code).toBe("bundle_invalid");
  });
});

describe("the deployment pointer in R2: one with a duplicate member decides nothing (deny, bundle_invalid)", () => {
  it("a pointer edited around the registry to name no active bundle first; control: the pointer as written decides", async () => {
    const tenant = uniqueId("tenant");
    expect((await publish(defaultSources, { tenant })).status).toBe(200);
    const fetch = workerFetch({ tenant });
    const device = await readyDevice({ fetch });
    const write = fileAction("file.write", "/home/dev/workspace/x.ts");
    expect((await device.decide(write)).body).toMatchObject({ decision: "permit" });
    const pointer = (await (await env.BUNDLES.get(deploymentKey(tenant)))!.text()).trim();
    await env.BUNDLES.put(deploymentKey(tenant), `{"active":null,${pointer.slice(1)}`);
    expect((await device.decide(write)).body).toMatchObject({ decision: "deny", reason_code: "bundle_invalid" });
  });
});

describe("WebAuthn clientDataJSON: a second member of a name is refused as 401 webauthn_invalid", () => {
  const fetch = (request: Request) => SELF.fetch(request);

  it("a sign-in whose clientDataJSON has two challenges (a stale one first, the issued one last); control: the same assertion without it signs in", async () => {
    const reviewer = await enrolledReviewer(fetch, uniqueId("reviewer"));
    const signIn = async (rewrite?: (json: string) => string) => {
      const options = await call<{ options: { challenge: string } }>(fetch, "POST", "/v1/reviewers/login/options", {});
      const response = await reviewer.authenticator.assert(options.body.options, rewrite ? { clientDataText: rewrite } : {});
      return call(fetch, "POST", "/v1/reviewers/login", { response });
    };
    const twice = (json: string) => `{"challenge":"${base64url.encode(crypto.getRandomValues(new Uint8Array(32)))}",${json.slice(1)}`;
    const refused = await signIn(twice);
    expect(refused.status).toBe(401);
    expect(refused.body.code).toBe("webauthn_invalid");
    expect((await signIn()).status).toBe(200);
  });
});
