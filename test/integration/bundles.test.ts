import { env } from "cloudflare:test";
import { base64url, exportJWK, generateKeyPair } from "jose";
import { describe, expect, it } from "vitest";
import { artifactKey } from "../../worker/policy/deployment.ts";
import { signBundle, type BundleSources, type BundleStatement } from "../../worker/policy/artifact.ts";
import { canaryShare } from "../../worker/policy/store.ts";
import type { LogEntry } from "../../worker/log/chain.ts";
import { BASE_URL, defaultSources, fileAction, nextVersion, publish, readyDevice, signedArtifact, testPublisherKey, uniqueId, workerFetch } from "../helpers.ts";

const write = fileAction("file.write", "/home/dev/workspace/a.ts");

/** The default bundle with workspace writes forbidden: a candidate that disagrees on `write`. */
const strictSources: BundleSources = {
  ...defaultSources,
  policies: `${defaultSources.policies}\n@id("freeze-writes")\nforbid (principal, action == Action::"file.write", resource);`,
};

async function admin(tenant: string, method: string, path: string, body?: unknown) {
  const response = await workerFetch({ tenant })(
    new Request(BASE_URL + path, {
      method,
      headers: { authorization: `Bearer ${env.ADMIN_TOKEN}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    }),
  );
  return { status: response.status, body: (await response.json()) as Record<string, unknown> & { code?: string } };
}

async function adminLog(tenant: string): Promise<LogEntry[]> {
  return (await admin(tenant, "GET", "/v1/bundles/log?limit=1000")).body["entries"] as LogEntry[];
}

/** Uploads `artifact` as version `version` and asks for its activation. */
async function activateRaw(tenant: string, version: number, artifact: Uint8Array | string) {
  await env.BUNDLES.put(artifactKey(tenant, version), artifact);
  return admin(tenant, "POST", "/v1/bundles/activate", { version });
}

async function signed(tenant: string, version: number, sources: BundleSources = defaultSources, meta: { expiresAt?: Date; createdAt?: Date; compiledFrom?: BundleSources } = {}) {
  return signedArtifact(sources, { tenant, version, ...meta });
}

/** An artifact taken apart: the JWS's parts, the statement it signs, and the body after the JWS line as text. */
function partsOf(artifact: Uint8Array): { header: string; payload: string; signature: string; statement: BundleStatement; body: string } {
  const text = new TextDecoder().decode(artifact);
  const jws = text.slice(0, text.indexOf("\n"));
  const [header, payload, signature] = jws.split(".") as [string, string, string];
  return { header, payload, signature, statement: JSON.parse(new TextDecoder().decode(base64url.decode(payload))) as BundleStatement, body: text.slice(jws.length + 1) };
}

const encode = (text: string) => new TextEncoder().encode(text);

/** Signs `statement` over `body` as a publisher would, with the body's size and SHA-256 made to match. */
async function resigned(statement: BundleStatement, body: string): Promise<Uint8Array> {
  const bytes = encode(body);
  const sha256 = [...new Uint8Array(await crypto.subtle.digest("SHA-256", bytes))].map((byte) => byte.toString(16).padStart(2, "0")).join("");
  return signBundle({ ...statement, body: { ...statement.body, bytes: bytes.length, sha256 } }, bytes, testPublisherKey);
}

describe("activation accepts only signed, current, valid artifacts", () => {
  // The signature covers the statement; the statement covers the body (policies.cedar, the action lines, the policy lines) by its SHA-256.
  it.each([
    ["the schema", (statement: BundleStatement) => ({ ...statement, schema: statement.schema.replace("File", "Fil") })],
    ["the manifest", (statement: BundleStatement) => ({ ...statement, manifest: { ...(statement.manifest as object), name: "defaulT" } })],
    ["the index", (statement: BundleStatement) => ({ ...statement, index: { ...statement.index, attributes: { principal: [], resource: [], context: null } } })],
    ["the body's hash", (statement: BundleStatement) => ({ ...statement, body: { ...statement.body, sha256: "0".repeat(64) } })],
  ])("a changed byte in the statement (%s) is refused: bundle_signature_invalid", async (_part, change) => {
    const tenant = uniqueId("tenant");
    const version = nextVersion();
    const parts = partsOf((await signed(tenant, version)).artifact);
    const forged = base64url.encode(JSON.stringify(change(parts.statement)));
    expect(forged).not.toBe(parts.payload);
    const { status, body } = await activateRaw(tenant, version, encode(`${parts.header}.${forged}.${parts.signature}\n${parts.body}`));
    expect(status).toBe(422);
    expect(body.code).toBe("bundle_signature_invalid");
  });

  it.each([
    ["policies.cedar", (body: string) => body.replace("dev", "deV")],
    ["an action's line", (body: string) => body.replace('"any":[', '"any":[0,')],
    ["a policy's line", (body: string) => body.replace('"Value":"/home/dev/workspace"', '"Value":"/"')],
    ["its end (one more line)", (body: string) => `${body}{}\n`],
  ])("a changed byte in the body (%s) is refused: bundle_signature_invalid", async (_part, change) => {
    const tenant = uniqueId("tenant");
    const version = nextVersion();
    const parts = partsOf((await signed(tenant, version)).artifact);
    const changed = change(parts.body);
    expect(changed).not.toBe(parts.body);
    const { status, body } = await activateRaw(tenant, version, encode(`${parts.header}.${parts.payload}.${parts.signature}\n${changed}`));
    expect(status).toBe(422);
    expect(body.code).toBe("bundle_signature_invalid");
  });

  it("a flipped signature byte is refused", async () => {
    const tenant = uniqueId("tenant");
    const version = nextVersion();
    const parts = partsOf((await signed(tenant, version)).artifact);
    const bytes = base64url.decode(parts.signature);
    bytes[0]! ^= 1;
    const { status, body } = await activateRaw(tenant, version, encode(`${parts.header}.${parts.payload}.${base64url.encode(bytes)}\n${parts.body}`));
    expect(status).toBe(422);
    expect(body.code).toBe("bundle_signature_invalid");
  });

  it("an artifact whose first line is not a compact JWS of a bundle statement is refused: bundle_malformed", async () => {
    const tenant = uniqueId("tenant");
    const version = nextVersion();
    const parts = partsOf((await signed(tenant, version)).artifact);
    const cases = [
      // No JWS line: the body alone.
      parts.body,
      // The payload detached (header..signature).
      `${parts.header}..${parts.signature}\n${parts.body}`,
      // Another typ.
      `${base64url.encode(JSON.stringify({ alg: "EdDSA", typ: "JWT", kid: "x" }))}.${parts.payload}.${parts.signature}\n${parts.body}`,
    ];
    for (const text of cases) {
      const { status, body } = await activateRaw(tenant, version, encode(text));
      expect(status).toBe(422);
      expect(body.code).toBe("bundle_malformed");
    }
  });

  it("a signature by an untrusted key is refused, and the refusal is recorded", async () => {
    const tenant = uniqueId("tenant");
    const stranger = await exportJWK((await generateKeyPair("EdDSA", { extractable: true })).privateKey);
    const { status, body } = await publish(defaultSources, { tenant, key: stranger });
    expect(status).toBe(422);
    expect(body.code).toBe("bundle_untrusted_key");
    expect((await adminLog(tenant)).map((entry) => [entry.type, entry.data["code"]])).toEqual([["bundle.refused", "bundle_untrusted_key"]]);
  });

  it("an expired artifact is refused", async () => {
    const tenant = uniqueId("tenant");
    const { status, body } = await publish(defaultSources, { tenant, createdAt: new Date(Date.now() - 2 * 86_400_000), expiresAt: new Date(Date.now() - 60_000) });
    expect(status).toBe(422);
    expect(body.code).toBe("bundle_expired");
  });

  it("parts mixed from two builds: the signed digest does not match the parts", async () => {
    const tenant = uniqueId("tenant");
    const version = nextVersion();
    const first = await signed(tenant, version);
    const second = partsOf((await signed(tenant, version, strictSources)).artifact);
    const { status, body } = await activateRaw(tenant, version, await resigned({ ...second.statement, digest: first.statement.digest }, second.body));
    expect(status).toBe(422);
    expect(body.code).toBe("bundle_digest_mismatch");
  });

  it("a signed index (attributes, history features), action line or policy line (a path, a @reason) that is not what the policies compile to is refused: bundle_invalid", async () => {
    const tenant = uniqueId("tenant");
    // The default bundle's index and lines beside strictSources' policies.cedar: a build that did not compile what it ships.
    const stale = await signed(tenant, nextVersion(), strictSources, { compiledFrom: defaultSources });
    expect((await activateRaw(tenant, stale.statement.version, stale.artifact)).body.code).toBe("bundle_invalid");

    // Each part re-signed after a change: the index, an action's line, a policy's line.
    const { statement, body } = partsOf((await signed(tenant, nextVersion())).artifact);
    const cases: [BundleStatement, string][] = [
      [{ ...statement, version: nextVersion(), index: { ...statement.index, attributes: { ...statement.index.attributes, context: null } } }, body],
      [{ ...statement, version: nextVersion() }, body.replace('"any":[', '"any":[0,')],
      [{ ...statement, version: nextVersion() }, body.replace('"Value":"/home/dev/workspace"', '"Value":"/"')],
      // The history features the policies read (the device's history spec is built from them), and a forbid's @reason.
      [{ ...statement, version: nextVersion(), index: { ...statement.index, history: [] } }, body],
      [{ ...statement, version: nextVersion() }, body.replace('"reason":"consent_required"', '"reason":"agent_unregistered"')],
    ];
    for (const [changed, changedBody] of cases) {
      expect(changedBody === body && changed.index === statement.index).toBe(false);
      const { status, body: problem } = await activateRaw(tenant, changed.version, await resigned(changed, changedBody));
      expect(status).toBe(422);
      expect(problem.code).toBe("bundle_invalid");
    }
    // Control: the same artifact re-signed unchanged activates.
    const control = { ...statement, version: nextVersion() };
    expect((await activateRaw(tenant, control.version, await resigned(control, body))).status).toBe(200);
  });

  it("an artifact for another tenant, or uploaded under another version, is refused", async () => {
    const tenant = uniqueId("tenant");
    const version = nextVersion();
    expect((await activateRaw(tenant, version, (await signed("someone-else", version)).artifact)).body.code).toBe("bundle_invalid");
    expect((await activateRaw(tenant, version + 1, (await signed(tenant, version)).artifact)).body.code).toBe("bundle_invalid");
  });

  it("policies that do not validate are refused and the previous bundle keeps deciding", async () => {
    const tenant = uniqueId("tenant");
    const good = await publish(defaultSources, { tenant });
    expect(good.status).toBe(200);
    const client = await readyDevice({ fetch: workerFetch({ tenant }) });
    // Signed with the default bundle's compiled part: `warden bundle build` would not sign these policies at all.
    const bad = await publish({ ...defaultSources, policies: `@id("typo") permit (principal, action, resource) when { resource.pathh == "/" };` }, { tenant, compiledFrom: defaultSources });
    expect(bad.status).toBe(422);
    expect(bad.body.code).toBe("bundle_invalid");
    const { body } = await client.decide(write);
    expect(body.decision).toBe("permit");
    expect(body.policy).toBe(good.statement.digest);
    expect((await admin(tenant, "GET", "/v1/bundles")).body).toMatchObject({ active: { version: good.statement.version } });
  });

  it("an artifact nobody uploaded is 404, recorded", async () => {
    const tenant = uniqueId("tenant");
    const { status } = await admin(tenant, "POST", "/v1/bundles/activate", { version: 42 });
    expect(status).toBe(404);
    expect((await adminLog(tenant)).at(-1)).toMatchObject({ type: "bundle.refused", data: { version: 42, code: "not_found" } });
  });
});

describe("versions only move forward", () => {
  it("a replayed older version is refused with 409; a rollback must say so and is recorded", async () => {
    const tenant = uniqueId("tenant");
    const v1 = await publish(defaultSources, { tenant });
    const v2 = await publish(strictSources, { tenant });
    expect([v1.status, v2.status]).toEqual([200, 200]);
    const replay = await admin(tenant, "POST", "/v1/bundles/activate", { version: v1.statement.version });
    expect(replay.status).toBe(409);
    expect(replay.body.code).toBe("bundle_version_conflict");
    const same = await admin(tenant, "POST", "/v1/bundles/activate", { version: v2.statement.version });
    expect(same.status).toBe(409);

    const rollback = await admin(tenant, "POST", "/v1/bundles/activate", { version: v1.statement.version, rollback: true, reason: "freeze broke CI" });
    expect(rollback.status).toBe(200);
    const client = await readyDevice({ fetch: workerFetch({ tenant }) });
    expect((await client.decide(write)).body.policy).toBe(v1.statement.digest);
    const log = await adminLog(tenant);
    expect(log.map((entry) => entry.type)).toEqual(["bundle.activated", "bundle.activated", "bundle.refused", "bundle.refused", "bundle.rolled_back"]);
    expect(log.at(-1)?.data).toMatchObject({ version: v1.statement.version, previous: { version: v2.statement.version }, reason: "freeze broke CI" });
  });

  it("a rollback goes only to a version that was active before", async () => {
    const tenant = uniqueId("tenant");
    const older = nextVersion();
    const active = await publish(defaultSources, { tenant });
    await env.BUNDLES.put(artifactKey(tenant, older), (await signed(tenant, older)).artifact);
    const rollback = await admin(tenant, "POST", "/v1/bundles/activate", { version: older, rollback: true });
    expect(rollback.status).toBe(409);
    expect(active.status).toBe(200);
  });
});

describe("canary and shadow", () => {
  it("canary shares are stable per device and near the requested share", () => {
    const ids = Array.from({ length: 4000 }, (_, i) => `device-${i}`);
    const inCanary = ids.filter((id) => canaryShare("t", id) < 10).length;
    expect(inCanary / ids.length).toBeGreaterThan(0.085);
    expect(inCanary / ids.length).toBeLessThan(0.115);
    expect(ids.slice(0, 50).map((id) => canaryShare("t", id))).toEqual(ids.slice(0, 50).map((id) => canaryShare("t", id)));
  });

  it("a canary decides for its share of devices, the same way on every call", async () => {
    const tenant = uniqueId("tenant");
    const stable = await publish(defaultSources, { tenant });
    const candidate = await publish(strictSources, { tenant, slot: "canary", percent: 50 });
    expect(candidate.status).toBe(200);
    const devices = await Promise.all(Array.from({ length: 12 }, () => readyDevice({ fetch: workerFetch({ tenant }) })));
    for (const device of devices) {
      const expected = canaryShare(tenant, device.deviceId) < 50 ? candidate.statement.digest : stable.statement.digest;
      for (let call = 0; call < 2; call += 1) {
        const { body } = await device.decide(write);
        expect(body.policy).toBe(expected);
        expect(body.decision).toBe(expected === candidate.statement.digest ? "deny" : "permit");
      }
    }
    const listed = await admin(tenant, "GET", "/v1/bundles");
    expect(listed.body).toMatchObject({
      active: { version: stable.statement.version, digest: stable.statement.digest },
      canary: { bundle: { version: candidate.statement.version, digest: candidate.statement.digest }, percent: 50, group: null },
      shadow: null,
    });
  });

  it("a group canary decides for the group's devices only, and every decision records its bundle", async () => {
    const tenant = uniqueId("tenant");
    const stable = await publish(defaultSources, { tenant });
    const candidate = await publish(strictSources, { tenant, slot: "canary", group: "platform" });
    const member = await readyDevice({ fetch: workerFetch({ tenant }), groups: ["platform"] });
    const other = await readyDevice({ fetch: workerFetch({ tenant }), groups: ["sales"] });
    expect((await member.decide(write)).body).toMatchObject({ decision: "deny", policy: candidate.statement.digest, reasons: ["freeze-writes"] });
    expect((await other.decide(write)).body).toMatchObject({ decision: "permit", policy: stable.statement.digest });
    const log = await member.request<{ entries: LogEntry[] }>("GET", `/v1/devices/${member.deviceId}/log`, undefined, { authorization: `Bearer ${env.AUDITOR_TOKEN}` });
    expect(log.body.entries.at(-1)?.data).toMatchObject({ policy: candidate.statement.digest, bundle: { version: candidate.statement.version, role: "canary" } });
  });

  it("a shadow bundle never changes an answer; its agreement is counted with examples of disagreement", async () => {
    const tenant = uniqueId("tenant");
    const stable = await publish(defaultSources, { tenant });
    const shadow = await publish(strictSources, { tenant, slot: "shadow" });
    const client = await readyDevice({ fetch: workerFetch({ tenant }) });
    for (let i = 0; i < 3; i += 1) expect((await client.decide(write)).body).toMatchObject({ decision: "permit", policy: stable.statement.digest });
    for (let i = 0; i < 2; i += 1) expect((await client.decide(fileAction("file.read", "/etc/shadow"))).body.decision).toBe("deny");
    // Agreement reaches the registry after each answer (never before it), so the report catches up.
    const shadowReport = () => admin(tenant, "GET", `/v1/bundles/${shadow.statement.version}/shadow-report`);
    await expect.poll(async () => (await shadowReport()).body, { timeout: 10_000 }).toMatchObject({ version: shadow.statement.version, agree: 2, disagree: 3 });
    const report = await shadowReport();
    expect((report.body["examples"] as unknown[])[0]).toMatchObject({
      device: client.deviceId,
      active: { decision: "permit", reasons: ["workspace-read-write"] },
      shadow: { decision: "deny", reason_code: "policy_forbid", reasons: ["freeze-writes"] },
    });
    expect((await admin(tenant, "DELETE", "/v1/bundles/shadow")).body).toMatchObject({ shadow: null });
  });

  it("a candidate must be above the active version", async () => {
    const tenant = uniqueId("tenant");
    const older = nextVersion();
    await publish(defaultSources, { tenant });
    await env.BUNDLES.put(artifactKey(tenant, older), (await signed(tenant, older, strictSources)).artifact);
    const { status, body } = await admin(tenant, "POST", "/v1/bundles/activate", { version: older, slot: "canary", percent: 10 });
    expect(status).toBe(409);
    expect(body.code).toBe("bundle_version_conflict");
  });

  it("activation requests are validated: a canary takes one of percent or group", async () => {
    const tenant = uniqueId("tenant");
    for (const body of [{ version: 1, slot: "canary" }, { version: 1, slot: "canary", percent: 5, group: "x" }, { version: 1, percent: 5 }, { version: 1, slot: "canary", percent: 0 }]) {
      const response = await admin(tenant, "POST", "/v1/bundles/activate", body);
      expect(response.status).toBe(400);
      expect(response.body.code).toBe("malformed_request");
    }
  });
});

describe("evaluation without the schema at request time", () => {
  it("action groups still hold through Action entities, and optional context attributes through has", async () => {
    const tenant = uniqueId("tenant");
    const grouped: BundleSources = {
      ...defaultSources,
      schema: defaultSources.schema.replace('action "file.read", "file.write", "file.delete" appliesTo {', 'action "file.mutate";\naction "file.write", "file.delete" in ["file.mutate"] appliesTo {\n  principal: Agent,\n  resource: File,\n  context: Request,\n};\naction "file.read" appliesTo {'),
      policies: `@id("srv-mutate") permit (principal, action in Action::"file.mutate", resource) when { resource.within.contains("/srv") };
@id("srv-read") permit (principal, action == Action::"file.read", resource) when { resource.within.contains("/srv") };
@id("hashed-inputs-only") forbid (principal, action in Action::"file.mutate", resource) unless { context has inputs_sha256 };`,
    };
    const published = await publish(grouped, { tenant });
    expect(published.status).toBe(200);
    const client = await readyDevice({ fetch: workerFetch({ tenant }) });
    const inputs = "a".repeat(64);
    const withInputs = (type: string) => ({ ...fileAction(type, "/srv/data/x"), action: { ...fileAction(type, "/srv/data/x").action, inputs_sha256: inputs } });
    expect((await client.decide(withInputs("file.write"))).body).toMatchObject({ decision: "permit", reasons: ["srv-mutate"] });
    expect((await client.decide(withInputs("file.delete"))).body).toMatchObject({ decision: "permit", reasons: ["srv-mutate"] });
    expect((await client.decide(fileAction("file.write", "/srv/data/x"))).body).toMatchObject({ decision: "deny", reasons: ["hashed-inputs-only"] });
    expect((await client.decide(fileAction("file.read", "/srv/data/x"))).body).toMatchObject({ decision: "permit", reasons: ["srv-read"] });
  });
});

describe("policies bound to a path are evaluated only for targets on it", () => {
  it("nested path-bound permits and forbids still combine as Cedar would over the whole set", async () => {
    const tenant = uniqueId("tenant");
    const nested: BundleSources = {
      ...defaultSources,
      policies: `@id("ws") permit (principal, action == Action::"file.write", resource) when { resource.within.contains("/ws") };
@id("ws-vendor-freeze") forbid (principal, action == Action::"file.write", resource) when { resource is File && resource.within.contains("/ws/vendor") && !context.sends_external };
@id("ws-other") permit (principal, action == Action::"file.write", resource) when { resource.within.contains("/other") };
@id("ws-broken") forbid (principal, action == Action::"file.write", resource) when { resource.within.contains("/ws/broken") && context.now * 1000000000 * 1000000000 > 0 };`,
    };
    expect((await publish(nested, { tenant })).status).toBe(200);
    const client = await readyDevice({ fetch: workerFetch({ tenant }) });
    const decide = async (path: string) => (await client.decide(fileAction("file.write", path))).body;
    expect(await decide("/ws/src/a.ts")).toMatchObject({ decision: "permit", reasons: ["ws"] });
    expect(await decide("/ws/vendor/lib.js")).toMatchObject({ decision: "deny", reason_code: "policy_forbid", reasons: ["ws-vendor-freeze"] });
    expect(await decide("/ws/broken/x")).toMatchObject({ decision: "deny", reason_code: "policy_evaluation_error", reasons: ["ws-broken"] });
    expect(await decide("/other/x")).toMatchObject({ decision: "permit", reasons: ["ws-other"] });
    expect(await decide("/elsewhere")).toMatchObject({ decision: "deny", reason_code: "no_applicable_permit" });
  });
});

