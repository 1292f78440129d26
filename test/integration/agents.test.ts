import { env } from "cloudflare:test";
import { generateKeyPairSync } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import type { JWK } from "jose";
import { signArtifactStatement, type ArtifactStatement } from "../../worker/agents/statement.ts";
import { asPerson, caller } from "../access-helpers.ts";
import { BASE_URL, activate, defaultSources, fileAction, readyDevice, uniqueId, workerFetch } from "../helpers.ts";

// The agent registry (docs/agents.md) through the example bundle: unregistered agents are
// denied (`agent_unregistered`), a reported build must be one an artifact key approved
// (`artifact_unapproved`), a high-risk agent's writes are held. A tenant of this file's own.
const tenant = uniqueId("agents");
const fetch = workerFetch({ tenant });
const artifactKey = JSON.parse(Reflect.get(env, "TEST_ARTIFACT_KEY") as string) as JWK;
const write = (id: string, extra: { artifact_sha256?: string; version?: string } = {}) => ({
  ...fileAction("file.write", "/home/dev/workspace/src/app.ts"),
  agent: { id, version: extra.version ?? "1.0.0", ...(extra.artifact_sha256 ? { artifact_sha256: extra.artifact_sha256 } : {}) },
});

const call = caller(fetch);

const admin = { authorization: `Bearer ${env.ADMIN_TOKEN}` };
const digest = (byte: string) => byte.repeat(64);

function statementFor(agent: string, artifact: string, key: JWK = artifactKey, extra: Partial<ArtifactStatement> = {}): Promise<string> {
  return signArtifactStatement({ format: "warden.agent-artifact.v1", agent, artifact_sha256: artifact, sbom_sha256: digest("5"), signed_at: new Date().toISOString(), ...extra }, key);
}

function registration(id: string, extra: Record<string, unknown> = {}) {
  return { id, name: `Agent ${id}`, owner: "platform@example.com", risk: "medium", description: "writes code", actions: ["file.write"], approvals: ["security-review"], ...extra };
}

beforeAll(async () => {
  await activate(defaultSources, tenant);
});

describe("registering an agent", () => {
  it("records who registered it, in the registry's history and the admin log", async () => {
    const id = uniqueId("builder");
    const registered = await call("POST", "/v1/agents", await asPerson({ email: "admin@example.com" }), registration(id, { artifacts: [{ statement: await statementFor(id, digest("a")) }] }));
    expect(registered.status).toBe(201);
    expect(registered.body["agent"]).toMatchObject({ id, revision: 1, risk: "medium", registered_by: "admin@example.com", artifacts: [{ artifact_sha256: digest("a"), sbom_sha256: digest("5") }] });
    const changed = await call("POST", "/v1/agents", admin, registration(id, { risk: "high" }));
    expect(changed.status).toBe(200);
    expect(changed.body["agent"]).toMatchObject({ revision: 2, risk: "high", registered_by: "admin@example.com", updated_by: "bootstrap-token:admin", artifacts: [] });
    const listed = await call("GET", "/v1/agents", { authorization: `Bearer ${env.AUDITOR_TOKEN}` });
    expect((listed.body["history"] as { agent: string; type: string; by: string }[]).filter((change) => change.agent === id).map((change) => [change.type, change.by])).toEqual([
      ["agent.registered", "admin@example.com"],
      ["agent.updated", "bootstrap-token:admin"],
    ]);
    const log = (await call("GET", "/v1/bundles/log?limit=1000", admin)).body["entries"] as { type: string; data: Record<string, unknown> }[];
    expect(log.filter((entry) => entry.data["agent"] === id).map((entry) => [entry.type, entry.data["by"]])).toEqual([
      ["admin.agent_registered", "admin@example.com"],
      ["admin.agent_updated", "bootstrap-token:admin"],
    ]);
  });

  it.each([
    ["signed by a key ARTIFACT_KEYS does not hold", async (id: string) => statementFor(id, digest("b"), generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" }) as JWK), "artifact_untrusted_key"],
    ["about another agent", async () => statementFor("someone-else", digest("b")), "artifact_malformed"],
    ["whose signature does not verify", async (id: string) => `${(await statementFor(id, digest("b"))).slice(0, -4)}AAAA`, "artifact_signature_invalid"],
    ["that is not a JWS", async () => "not-a-statement", "artifact_malformed"],
  ])("refuses a statement %s", async (_name, make, code) => {
    const id = uniqueId("refused");
    const refused = await call("POST", "/v1/agents", admin, registration(id, { artifacts: [{ statement: await make(id) }] }));
    expect(refused).toMatchObject({ status: 422, body: { code } });
    expect((await call("GET", `/v1/agents/${id}`, admin)).status).toBe(404);
  });

  it("is for admins; auditors read; a device session is no person", async () => {
    expect(await call("POST", "/v1/agents", { authorization: `Bearer ${env.AUDITOR_TOKEN}` }, registration(uniqueId("x")))).toMatchObject({ status: 403, body: { code: "forbidden" } });
    expect(await call("POST", "/v1/agents", await asPerson({ email: "dev@example.com" }), registration(uniqueId("x")))).toMatchObject({ status: 403, body: { code: "forbidden" } });
    const device = await readyDevice({ fetch });
    expect((await device.authorized<{ code: string }>("GET", "/v1/agents")).body.code).toBe("person_required");
  });
});

describe("decisions under the example bundle", () => {
  it("an unregistered agent is denied: agent_unregistered", async () => {
    const device = await readyDevice({ fetch });
    expect((await device.decide(write(uniqueId("stranger")))).body).toMatchObject({ decision: "deny", reason_code: "agent_unregistered", reasons: ["agent-unregistered"] });
  });

  it("a build an artifact key approved acts as the agent; another digest is artifact_unapproved; reporting none leaves it to the rest of policy", async () => {
    const id = uniqueId("builder");
    expect((await call("POST", "/v1/agents", admin, registration(id, { artifacts: [{ statement: await statementFor(id, digest("c")) }] }))).status).toBe(201);
    const device = await readyDevice({ fetch });
    expect((await device.decide(write(id, { artifact_sha256: digest("c") }))).body).toMatchObject({ decision: "permit", reasons: ["workspace-read-write"] });
    expect((await device.decide(write(id, { artifact_sha256: digest("d") }))).body).toMatchObject({ decision: "deny", reason_code: "artifact_unapproved", reasons: ["artifact-unapproved"] });
    expect((await device.decide(write(id))).body).toMatchObject({ decision: "permit" });
  });

  it("a build approved by a key taken out of ARTIFACT_KEYS is no longer approved", async () => {
    const id = uniqueId("builder");
    expect((await call("POST", "/v1/agents", admin, registration(id, { artifacts: [{ statement: await statementFor(id, digest("e")) }] }))).status).toBe(201);
    const rotated = generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" }) as JWK;
    const { d: _private, ...rotatedPublic } = rotated;
    const afterRotation = workerFetch({ tenant, env: { ARTIFACT_KEYS: JSON.stringify({ keys: [rotatedPublic] }) } });
    const device = await readyDevice({ fetch: afterRotation });
    expect((await device.decide(write(id, { artifact_sha256: digest("e") }))).body).toMatchObject({ decision: "deny", reason_code: "artifact_unapproved" });
  });

  it("a high-risk agent's write is held for review; its read is not", async () => {
    const id = uniqueId("risky");
    expect((await call("POST", "/v1/agents", admin, registration(id, { risk: "high" }))).status).toBe(201);
    const device = await readyDevice({ fetch });
    expect((await device.decide(write(id))).body).toMatchObject({ decision: "review", reasons: ["high-risk-writes-review"], review: { tier: "tier1" } });
    expect((await device.decide({ ...fileAction("file.read", "/home/dev/workspace/src/app.ts"), agent: { id, version: "1" } })).body.decision).toBe("permit");
  });
});

describe("a change of the registry", () => {
  it("applies to every decision within AGENT_REFRESH_SECONDS of the admin's answer", async () => {
    const own = uniqueId("refresh");
    await activate(defaultSources, own);
    let now = Date.now();
    const via = workerFetch({ tenant: own, env: { AGENT_REFRESH_SECONDS: "5" }, deps: { now: () => now } });
    const id = uniqueId("leaving");
    expect((await call("POST", "/v1/agents", admin, registration(id), via)).status).toBe(201);
    const device = await readyDevice({ fetch: via, now: () => now });
    expect((await device.decide(write(id))).body.decision).toBe("permit");
    expect((await call("DELETE", `/v1/agents/${id}`, admin, undefined, via)).status).toBe(200);
    now += 4_999;
    expect((await device.decide(write(id))).body.decision).toBe("permit");
    now += 1;
    expect((await device.decide(write(id))).body).toMatchObject({ decision: "deny", reason_code: "agent_unregistered" });
    expect(await call("DELETE", `/v1/agents/${id}`, admin, undefined, via)).toMatchObject({ status: 404, body: { code: "not_found" } });
  });
});

describe("the compliance package", () => {
  it("holds the registry with its approved builds and the changes in the window", async () => {
    const id = uniqueId("audited");
    await call("POST", "/v1/agents", admin, registration(id, { artifacts: [{ statement: await statementFor(id, digest("f")) }] }));
    const response = await fetch(new Request(`${BASE_URL}/v1/audit/package`, { headers: { authorization: `Bearer ${env.AUDITOR_TOKEN}` } }));
    const records = (await response.text()).split("\n").filter((line) => line.length > 0).map((line) => JSON.parse(line) as { kind: string } & Record<string, unknown>);
    const registry = records.find((record) => record.kind === "agent.registry") as unknown as { agents: { id: string; artifacts: { artifact_sha256: string; statement: string }[] }[]; history: { agent: string }[] };
    expect(registry.agents.find((agent) => agent.id === id)?.artifacts.map((artifact) => artifact.artifact_sha256)).toEqual([digest("f")]);
    expect(registry.agents.map((agent) => agent.id)).toEqual(expect.arrayContaining(["claude-code", "codex", "warden-shim"]));
    expect(registry.history.some((change) => change.agent === id)).toBe(true);
  });
});
