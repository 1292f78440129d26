import { env } from "cloudflare:test";
import { base64url, exportJWK, generateKeyPair } from "jose";
import { describe, expect, it } from "vitest";
import { artifactKey } from "../../worker/policy/deployment.ts";
import { signBundle, type BundleSources } from "../../worker/policy/artifact.ts";
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

/** An artifact's lines as text: the JWS line, the statement, and what follows (policies.cedar, then one JSON line per policy). */
function partsOf(artifact: Uint8Array): { jws: string; statement: Record<string, unknown>; body: string } {
  const text = new TextDecoder().decode(artifact);
  const [jws, statement] = text.split("\n", 2) as [string, string];
  return { jws, statement: JSON.parse(statement) as Record<string, unknown>, body: text.slice(jws.length + statement.length + 2) };
}

const encode = (text: string) => new TextEncoder().encode(text);

describe("activation accepts only signed, current, valid artifacts", () => {
  // Every byte after the first line is signed: the statement (metadata, schema, manifest, index), policies.cedar and the compiled policies.
  it.each([
    ["the schema", (parts: ReturnType<typeof partsOf>) => ({ ...parts, statement: { ...parts.statement, schema: (parts.statement["schema"] as string).replace("File", "Fil") } })],
    ["the manifest", (parts: ReturnType<typeof partsOf>) => ({ ...parts, statement: { ...parts.statement, manifest: { ...(parts.statement["manifest"] as object), name: "defaulT" } } })],
    ["the index", (parts: ReturnType<typeof partsOf>) => ({ ...parts, statement: { ...parts.statement, index: { ...(parts.statement["index"] as object), attributes: { principal: [], resource: [], context: null } } } })],
    ["policies.cedar", (parts: ReturnType<typeof partsOf>) => ({ ...parts, body: parts.body.replace("dev", "deV") })],
    ["the compiled policies", (parts: ReturnType<typeof partsOf>) => ({ ...parts, body: parts.body.replace('"Value":"/home/dev/workspace"', '"Value":"/"') })],
  ])("a changed byte in %s is refused: bundle_signature_invalid", async (_part, change) => {
    const tenant = uniqueId("tenant");
    const version = nextVersion();
    const { artifact } = await signed(tenant, version);
    const original = partsOf(artifact);
    const changed = change(original);
    const text = `${changed.jws}\n${JSON.stringify(changed.statement)}\n${changed.body}`;
    expect(text).not.toBe(`${original.jws}\n${JSON.stringify(original.statement)}\n${original.body}`);
    const { status, body } = await activateRaw(tenant, version, encode(text));
    expect(status).toBe(422);
    expect(body.code).toBe("bundle_signature_invalid");
  });

  it("a flipped signature byte is refused", async () => {
    const tenant = uniqueId("tenant");
    const version = nextVersion();
    const { artifact } = await signed(tenant, version);
    const { jws } = partsOf(artifact);
    const [header, , signature] = jws.split(".");
    const bytes = base64url.decode(signature!);
    bytes[0]! ^= 1;
    const flipped = new Uint8Array(artifact);
    flipped.set(encode(`${header}..${base64url.encode(bytes)}`));
    const { status, body } = await activateRaw(tenant, version, flipped);
    expect(status).toBe(422);
    expect(body.code).toBe("bundle_signature_invalid");
  });

  it("an artifact that is not a detached, unencoded JWS over its payload is refused: bundle_malformed", async () => {
    const tenant = uniqueId("tenant");
    const version = nextVersion();
    const { artifact } = await signed(tenant, version);
    const { jws } = partsOf(artifact);
    const [header, , signature] = jws.split(".");
    const payload = artifact.subarray(jws.length + 1);
    const cases = [
      // The payload inside the first line, base64url-encoded, as a compact JWS would carry it.
      `${header}.${base64url.encode(payload)}.${signature}`,
      // No first line at all.
      new TextDecoder().decode(payload),
      // A header without b64: false (the signature cannot be over the raw payload then).
      `${base64url.encode(JSON.stringify({ alg: "EdDSA", typ: "warden-bundle+jws", kid: "x" }))}..${signature}\n${new TextDecoder().decode(payload)}`,
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
    const second = await signed(tenant, version, strictSources);
    const { body: strictBody } = partsOf(second.artifact);
    const mixed = { ...second.statement, digest: first.statement.digest };
    const payload = encode(`${JSON.stringify(mixed)}\n${strictBody}`);
    const { status, body } = await activateRaw(tenant, version, await signBundle(payload, testPublisherKey));
    expect(status).toBe(422);
    expect(body.code).toBe("bundle_digest_mismatch");
  });

  it("a signed index or policy JSON that is not what the policies compile to is refused: bundle_invalid", async () => {
    const tenant = uniqueId("tenant");
    // The default bundle's index and policy JSON beside strictSources' policies.cedar: a build that did not compile what it ships.
    const stale = await signed(tenant, nextVersion(), strictSources, { compiledFrom: defaultSources });
    expect((await activateRaw(tenant, stale.statement.version, stale.artifact)).body.code).toBe("bundle_invalid");

    // Each part re-signed after a change: the index, then one policy's JSON.
    const { statement, body } = partsOf((await signed(tenant, nextVersion())).artifact);
    const policies = body.slice(0, statement["policies_bytes"] as number);
    const lines = body.slice(policies.length);
    const index = statement["index"] as { policies: { id: string; effect: string }[] };
    const reindexed = { ...statement, version: nextVersion(), index: { ...index, policies: index.policies.map((policy) => (policy.id === "secrets-never" ? { ...policy, effect: "permit" } : policy)) } };
    const relined = { ...statement, version: nextVersion() };
    const cases: [Record<string, unknown>, string][] = [
      [reindexed, lines],
      [relined, lines.replace('"Value":"/home/dev/workspace"', '"Value":"/"')],
    ];
    for (const [changed, compiledLines] of cases) {
      const artifact = await signBundle(encode(`${JSON.stringify(changed)}\n${policies}${compiledLines}`), testPublisherKey);
      const { status, body: problem } = await activateRaw(tenant, changed["version"] as number, artifact);
      expect(status).toBe(422);
      expect(problem.code).toBe("bundle_invalid");
    }
    // Control: the same artifact unchanged activates.
    const control = await signed(tenant, nextVersion());
    expect((await activateRaw(tenant, control.statement.version, control.artifact)).status).toBe(200);
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
    // Comparisons reach the registry in one batch per isolate, about a second after the first.
    let report = await admin(tenant, "GET", `/v1/bundles/${shadow.statement.version}/shadow-report`);
    for (let waited = 0; (report.body["agree"] as number) + (report.body["disagree"] as number) < 5 && waited < 5000; waited += 100) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      report = await admin(tenant, "GET", `/v1/bundles/${shadow.statement.version}/shadow-report`);
    }
    expect(report.body).toMatchObject({ version: shadow.statement.version, agree: 2, disagree: 3 });
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

