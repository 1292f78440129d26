import { env, runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { WardenClient } from "../../cli/client.ts";
import type { JsonValue } from "../../worker/log/canonical.ts";
import type { LogEntry } from "../../worker/log/chain.ts";
import type { OcsfEvent } from "../../worker/events/ocsf.ts";
import { MAX_TOKENISED_PER_REQUEST } from "../../worker/privacy/service.ts";
import { CONSENT_ATTEMPTS } from "../../worker/decisions/service.ts";
import type { DeviceLog } from "../../durable-objects/DeviceLog.ts";
import { vaultKey, vaultPrefix } from "../../worker/privacy/vault.ts";
import { asPerson } from "../access-helpers.ts";
import { configure, deviceStub, runAlarms, withMethod } from "../audit-helpers.ts";
import { admin, call as reviewCall, faulty } from "../review-helpers.ts";
import { BASE_URL, activate, agent, defaultSources, eventually, fileAction, logOf, publish, readyDevice, uniqueId, workerFetch, type Fetch } from "../helpers.ts";

// Masking and the vault (docs/privacy.md): a tenant of this file's own whose bundle hashes,
// tokenises and drops, so no other test's log changes.

const EMAIL = "ana.secret@example.com";
const TOKEN = "tok_live_9f8e7d6c5b4a39281706";
const ARG_TOKEN = "ghp_ARGUMENTSECRET0123456789";
const QUERY_TOKEN = "QUERYSECRET42";
const USER_SECRET = "hunter2pass";
const RAW = [EMAIL, TOKEN, ARG_TOKEN, QUERY_TOKEN, USER_SECRET];

const privacy = {
  context: { keys: { email: "hash", token: "tokenise", note: "drop" } },
  command_args: [{ pattern: "--token[= ](?<value>\\S+)", treatment: "tokenise" }],
  url: { query: "hash", userinfo: "drop" },
};
const manifest = { ...(defaultSources.manifest as Record<string, unknown>), privacy };
const permitAll = { ...defaultSources, manifest, policies: '@id("permit-all")\npermit (principal, action, resource);\n' };

const tenant = uniqueId("privacy");
const fetch = workerFetch({ tenant });

function request(extra: Record<string, unknown> = {}) {
  return {
    agent,
    action: {
      type: "command.exec",
      targets: [
        { kind: "command" as const, value: `git push --token ${ARG_TOKEN} origin main` },
        { kind: "url" as const, value: `https://api.example.com/v1/items?access_token=${QUERY_TOKEN}&page=2` },
        // Credentials in a URL are refused (url_credentials): the decision denies, and is logged masked all the same.
        { kind: "url" as const, value: `https://bob:${USER_SECRET}@api.example.com/v1/items` },
      ],
    },
    context: { email: EMAIL, token: TOKEN, note: "drop me", ticket: "T-1" },
    ...extra,
  };
}

async function call(fetcher: Fetch, method: string, path: string, headers: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> & { code?: string } }> {
  const response = await fetcher(new Request(`${BASE_URL}${path}`, { method, headers }));
  return { status: response.status, body: (await response.json()) as Record<string, unknown> & { code?: string } };
}

const asOfficer = { authorization: `Bearer ${env.PRIVACY_OFFICER_TOKEN}` };

function expectNoRaw(text: string): void {
  for (const raw of RAW) expect(text).not.toContain(raw);
}

async function deviceWithDecision(): Promise<{ device: WardenClient; decision: LogEntry }> {
  const device = await readyDevice({ fetch });
  const answer = await device.decide(request());
  expect(answer.status).toBe(200);
  // A command with URL targets denies (target_kind_mismatch): every decision is logged, masked, all the same.
  expect(answer.body).toMatchObject({ decision: "deny", log: { seq: expect.any(Number) } });
  const decision = (await logOf(device)).find((entry) => entry.type === "decision");
  return { device, decision: decision as LogEntry };
}

function contextOf(entry: LogEntry): Record<string, { hmac?: string; vault?: string; kid?: string } | string> {
  return (entry.data as { context: Record<string, { hmac?: string; vault?: string; kid?: string } | string> }).context;
}

describe("masking", () => {
  it("logs hashes and vault references in place of the raw values: in the log, its archive, its export and its OCSF events", async () => {
    await activate(permitAll, tenant);
    const { device, decision } = await deviceWithDecision();
    const context = contextOf(decision);
    expect(context["email"]).toEqual({ hmac: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/), kid: "vault-1" });
    expect(context["token"]).toEqual({ vault: expect.stringMatching(new RegExp(`^${device.deviceId}~[A-Za-z0-9_-]{24}$`)), kid: "vault-1" });
    expect(context).not.toHaveProperty("note");
    expect(context["ticket"]).toBe("T-1");
    const action = decision.data["action"] as { targets: { value: string }[]; submitted: { value: string }[] };
    expect(action.submitted[0]!.value).toMatch(/^git push --token \[vault:vault-1:[^\]]+\] origin main$/);
    expect(action.submitted[1]!.value).toMatch(/^https:\/\/api\.example\.com\/v1\/items\?\[hmac:vault-1:[A-Za-z0-9_-]{43}\]$/);
    expect(action.submitted[2]!.value).toBe("https://[masked]@api.example.com/v1/items");
    expect(action.targets[1]!.value).toMatch(/^https:\/\/api\.example\.com\/v1\/items\?\[hmac:vault-1:/);
    expectNoRaw(JSON.stringify(await logOf(device)));

    // Equal values correlate: the same e-mail hashes alike in the next decision.
    await device.decide(request());
    const decisions = (await logOf(device)).filter((entry) => entry.type === "decision");
    expect(contextOf(decisions[1]!)["email"]).toEqual(context["email"]);
    expect(contextOf(decisions[1]!)["token"]).not.toEqual(context["token"]);

    // The archive: sealed segments hold the entries as logged.
    const stub = deviceStub(device.deviceId, tenant);
    await configure(stub, { tuning: { checkpointEntries: 1, segmentEntries: 2, segmentMinutes: 0 } });
    await runDurableObjectAlarm(stub);
    await runAlarms(stub, 4);
    const listing = await env.ARCHIVE.list({ prefix: `${tenant}/devices/${device.deviceId}/segments/` });
    expect(listing.objects.length).toBeGreaterThan(0);
    for (const object of listing.objects) expectNoRaw(await (await env.ARCHIVE.get(object.key))!.text());

    // The export: every entry, archived and live, as the auditor receives it.
    const exported = await fetch(new Request(`${BASE_URL}/v1/devices/${device.deviceId}/export`, { headers: { authorization: `Bearer ${env.AUDITOR_TOKEN}` } }));
    expect(exported.status).toBe(200);
    const exportText = await exported.text();
    expect(exportText).toContain(decision.hash);
    expectNoRaw(exportText);

    // The receipt of the decision.
    const receipt = await fetch(new Request(`${BASE_URL}/v1/decisions/${String(decision.data["decision_id"])}/receipt?seq=${decision.seq}&device=${device.deviceId}`, { headers: { authorization: `Bearer ${env.AUDITOR_TOKEN}` } }));
    expect(receipt.status).toBe(200);
    const receiptText = await receipt.text();
    expect(receiptText).toContain(decision.hash);
    expectNoRaw(receiptText);

    // The OCSF events of the device's entries (the suite's audit validates each against its class).
    const events = await eventually(async () => {
      const page = await call(fetch, "GET", "/v1/events?limit=1000", { authorization: `Bearer ${env.AUDITOR_TOKEN}` });
      const list = (page.body["events"] as { event: OcsfEvent }[]).map((item) => item.event);
      return list.filter((event) => event.metadata.uid === decision.hash).length > 0 ? list : null;
    });
    expectNoRaw(JSON.stringify(events));
  });

  it(`stores at most ${MAX_TOKENISED_PER_REQUEST} values of a request in the vault, each once; past the bound a value is dropped`, async () => {
    await activate(permitAll, tenant);
    const device = await readyDevice({ fetch });
    const secrets = Array.from({ length: MAX_TOKENISED_PER_REQUEST + 8 }, (_, index) => `secret-${index}`);
    const line = `git push ${secrets.map((secret) => `--token ${secret}`).join(" ")} --token ${secrets[0]} origin main`;
    const answer = await device.decide({ agent, action: { type: "command.exec", targets: [{ kind: "command", value: line }] } });
    expect(answer.body.decision).toBe("permit");
    const entry = (await logOf(device)).find((logged) => logged.data["decision_id"] === answer.body.decision_id)!;
    const { submitted } = entry.data["action"] as { submitted: { value: string }[] };
    const logged = submitted[0]!.value;
    const refs = Array.from(logged.matchAll(/\[vault:vault-1:([^\]]+)\]/g), (match) => match[1]);
    // The first 32 distinct values are stored, the repeated first one under its first reference; the other 8 are dropped.
    expect(refs).toHaveLength(MAX_TOKENISED_PER_REQUEST + 1);
    expect(new Set(refs).size).toBe(MAX_TOKENISED_PER_REQUEST);
    expect(refs.at(-1)).toBe(refs[0]);
    expect(logged.match(/\[masked\]/g)).toHaveLength(8);
    expect(logged).not.toContain("secret-");
  });

  it("a request decided again because its history moved stores its tokenised value once, under the reference the log holds", async () => {
    // The example bundle reads history; with this file's privacy section it also tokenises `context.token`.
    const historyTenant = uniqueId("privacy-history");
    await activate({ ...defaultSources, manifest }, historyTenant);
    let records = 0;
    const counting = workerFetch({
      tenant: historyTenant,
      deps: {
        deviceStore: (bindings, name, id) => {
          const stub = bindings.DEVICES.get(bindings.DEVICES.idFromName(`${name}/${id}`));
          return new Proxy(stub, { get: (target, property) => (property === "recordDecisions" && (records += 1), Reflect.get(target, property)) });
        },
      },
    });
    const device = await readyDevice({ fetch: counting });
    const write = fileAction("file.write", "/home/dev/workspace/src/app.ts");
    expect((await device.decide(write)).body.decision).toBe("permit");
    // A customer-data read logged for the device by another isolate: this isolate's copy of its history is now behind the log.
    const reader = await readyDevice({ fetch: counting });
    await reader.decide(fileAction("file.read", "/home/dev/workspace/data/customers/acme.csv"));
    const read = (await logOf(reader)).find((logged) => logged.type === "decision")!;
    expect((await deviceStub(device.deviceId, historyTenant).append("decision", read.data as { [key: string]: JsonValue }, Date.now())).ok).toBe(true);
    records = 0;
    const answer = await device.decide({ ...write, context: { token: TOKEN } });
    expect(answer.body.decision).toBe("permit");
    expect(records).toBe(2);
    const entry = (await logOf(device)).find((logged) => logged.data["decision_id"] === answer.body.decision_id)!;
    const ref = (contextOf(entry)["token"] as { vault: string }).vault;
    const stored = await env.VAULT.list({ prefix: vaultPrefix(historyTenant, device.deviceId) });
    expect(stored.objects.map((object) => object.key)).toEqual([vaultKey(historyTenant, ref)]);
  });

  /** The keys of what the vault holds for `device`. */
  async function storedFor(device: WardenClient): Promise<string[]> {
    return (await env.VAULT.list({ prefix: vaultPrefix(tenant, device.deviceId) })).objects.map((object) => object.key);
  }

  it("a request whose append the device's object refuses (a revoked session) leaves nothing in the vault", async () => {
    await activate(permitAll, tenant);
    const device = await readyDevice({ fetch });
    // A first decision, with nothing to tokenise, has this isolate keep the session as verified.
    expect((await device.decide(fileAction("file.read", "/home/dev/workspace/README.md"))).body.decision).toBe("permit");
    expect((await reviewCall(fetch, "POST", `/v1/devices/${device.deviceId}/sessions/revoke`, { reason: "laptop reported stolen" }, admin)).status).toBe(200);
    const refused = await device.decide(request());
    expect([refused.status, (refused.body as { code?: string }).code]).toEqual([401, "session_revoked"]);
    expect(await storedFor(device)).toEqual([]);
  });

  it("masking that fails part-way deletes what it had stored; the decision denies unlogged", async () => {
    await activate(permitAll, tenant);
    let puts = 0;
    const secondPutFails = withMethod(env.VAULT, "put", (...args: Parameters<R2Bucket["put"]>) => ((puts += 1) === 2 ? Promise.reject(new Error("injected: the vault refused a write")) : env.VAULT.put(...args)));
    const device = await readyDevice({ fetch: workerFetch({ tenant, env: { VAULT: secondPutFails } }) });
    const answer = await device.decide(request());
    expect(answer.body).toMatchObject({ decision: "deny", reason_code: "log_append_failed", log: null });
    expect(puts).toBe(2);
    expect(await storedFor(device)).toEqual([]);
  });

  it("keeps what it stored when the append's answer is lost: the entry committed names it", async () => {
    await activate(permitAll, tenant);
    const lost = faulty(() => deviceStub(deviceId, tenant), "recordDecisions", "after");
    let deviceId = "";
    const device = await readyDevice({ fetch: workerFetch({ tenant, deps: { deviceStore: (_bindings, _tenant, id) => (id === deviceId ? lost.stub() : deviceStub(id, tenant)) } }) });
    deviceId = device.deviceId;
    const answer = await device.decide(request());
    expect(answer.body).toMatchObject({ decision: "deny", reason_code: "log_append_failed", log: null });
    expect(lost.failures).toBe(1);
    const entry = (await logOf(device)).find((logged) => logged.type === "decision")!;
    const ref = (contextOf(entry)["token"] as { vault: string }).vault;
    expect(await storedFor(device)).toContain(vaultKey(tenant, ref));
  });

  describe("a request whose consents changed before every attempt's append (the last denies unlogged)", () => {
    /**
     * A tenant of its own under the example bundle (it reads consents) with this file's privacy section, and a device of a
     * person. While `changing`, an admin records a consent for them just before each of the device's appends, through the
     * ledger, which moves the device's copy on: every attempt is decided on a copy its append finds stale. The app's VAULT
     * is the real bucket counting its writes and deletes, its delete replaced by `vault.delete` when given.
     */
    async function consentsChangingAtEveryAppend(vault: { delete?: (keys: string | string[]) => Promise<void> } = {}) {
      const consentTenant = uniqueId("privacy-consent");
      await activate({ ...defaultSources, manifest }, consentTenant);
      const user = `${uniqueId("una")}@example.com`;
      const plain = workerFetch({ tenant: consentTenant });
      const counts = { appends: 0, puts: 0, deletes: 0 };
      const state = { changing: false };
      const counting = withMethod(
        withMethod(env.VAULT, "put", (...args: Parameters<R2Bucket["put"]>) => ((counts.puts += 1), env.VAULT.put(...args))),
        "delete",
        (keys: string | string[]) => ((counts.deletes += 1), (vault.delete ?? ((doomed: string | string[]) => env.VAULT.delete(doomed)))(keys)),
      );
      const via = workerFetch({
        tenant: consentTenant,
        env: { VAULT: counting },
        deps: {
          deviceStore: (bindings, name, id) => {
            const stub = bindings.DEVICES.get(bindings.DEVICES.idFromName(`${name}/${id}`));
            const recordDecisions = async (args: Parameters<DeviceLog["recordDecisions"]>[0]) => {
              if (state.changing) {
                counts.appends += 1;
                const given = await reviewCall(
                  plain,
                  "POST",
                  "/v1/consents",
                  { actor_id: user, method: "cli", scope: { paths: [`/home/dev/Documents/n${counts.appends}/**`], actions: ["file.read"] }, purpose: "summarise my notes", expiry: new Date(Date.now() + 86_400_000).toISOString(), consent_version: "2026-01" },
                  admin,
                );
                expect(given.status).toBe(201);
              }
              return stub.recordDecisions(args);
            };
            return new Proxy(stub, { get: (target, property) => (property === "recordDecisions" ? recordDecisions : Reflect.get(target, property)) });
          },
        },
      });
      const device = await readyDevice({ fetch: via, user });
      const stored = async () => (await env.VAULT.list({ prefix: vaultPrefix(consentTenant, device.deviceId) })).objects.map((object) => object.key);
      const write = { ...fileAction("file.write", "/home/dev/workspace/src/app.ts"), context: { token: TOKEN } };
      // A decision logged first, with the same value under a reference of its own.
      const first = await device.decide(write);
      expect(first.body).toMatchObject({ decision: "permit", log: { seq: expect.any(Number) } });
      const entry = (await logOf(device)).find((logged) => logged.data["decision_id"] === first.body.decision_id)!;
      const loggedRef = (contextOf(entry)["token"] as { vault: string }).vault;
      const loggedKey = vaultKey(consentTenant, loggedRef);
      expect(await stored()).toEqual([loggedKey]);
      const before = { ...counts };

      state.changing = true;
      const answer = await device.decide(write);
      state.changing = false;
      expect(counts.appends).toBe(CONSENT_ATTEMPTS);
      // Tokenised once for all its attempts, and logged by none of them: it denies, without a token.
      expect(counts.puts - before.puts).toBe(1);
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({ decision: "deny", reason_code: "log_append_failed", log: null });
      expect(answer.body.token).toBeUndefined();
      expect((await logOf(device)).filter((logged) => logged.type === "decision").map((logged) => logged.data["decision_id"])).toEqual([first.body.decision_id]);
      return { device, counts: { deletes: counts.deletes - before.deletes }, stored, loggedRef, loggedKey, plain, write };
    }

    it("the last attempt's clean-up deletes the values it tokenised from the vault; the logged decision's stays, and reads back", async () => {
      const { counts, stored, loggedRef, loggedKey, plain } = await consentsChangingAtEveryAppend();
      expect(counts.deletes).toBe(1);
      expect(await stored()).toEqual([loggedKey]);
      const read = await call(plain, "GET", `/v1/vault/${loggedRef}?reason=audit`, asOfficer);
      expect(read.body).toMatchObject({ value: TOKEN });
    });

    it("a vault delete that fails leaves the value to retention: the answer is the same denial, the logged decision's value stays, and the device decides on", async () => {
      const { device, counts, stored, loggedKey, write } = await consentsChangingAtEveryAppend({ delete: () => Promise.reject(new Error("injected: the vault refused a delete")) });
      expect(counts.deletes).toBe(1);
      const kept = await stored();
      expect(kept).toHaveLength(2);
      expect(kept).toContain(loggedKey);
      const next = await device.decide(write);
      expect(next.body).toMatchObject({ decision: "permit", log: { seq: expect.any(Number) } });
    });
  });

  it("with no VAULT_KEYS a bundle that tokenises logs nothing raw: the decision denies unlogged", async () => {
    const keyless = workerFetch({ tenant, env: { VAULT_KEYS: undefined } as Partial<Env> });
    const device = await readyDevice({ fetch: keyless });
    const answer = await device.decide(request());
    expect(answer.body).toMatchObject({ decision: "deny", reason_code: "log_append_failed", log: null });
    expect((await logOf(device)).filter((entry) => entry.type === "decision")).toEqual([]);
  });

  it("a manifest whose privacy section is malformed is refused with bundle_privacy_invalid", async () => {
    for (const bad of [
      { context: { keys: { email: "encrypt" } } },
      { command_args: [{ pattern: "(unclosed", treatment: "drop" }] },
      { command_args: [{ pattern: "x*", treatment: "drop" }] },
      { command_args: [{ pattern: "--t (?<secret>\\S+)", treatment: "drop" }] },
      { url: { query: "hash", fragment: "drop" } },
    ]) {
      const published = await publish({ ...permitAll, manifest: { ...(defaultSources.manifest as Record<string, unknown>), privacy: bad } }, { tenant: uniqueId("privacy-bad") });
      expect({ bad, code: published.body.code }).toEqual({ bad, code: "bundle_privacy_invalid" });
    }
  });
});

describe("the vault", () => {
  it("returns a tokenised value to a privacy officer only, and logs who read which and why", async () => {
    await activate(permitAll, tenant);
    const { device, decision } = await deviceWithDecision();
    const ref = (contextOf(decision)["token"] as { vault: string }).vault;
    const argRef = /\[vault:vault-1:([^\]]+)\]/.exec((decision.data["action"] as { submitted: { value: string }[] }).submitted[0]!.value)![1]!;

    for (const [headers, code] of [
      [{ authorization: `Bearer ${env.ADMIN_TOKEN}` }, "forbidden"],
      [{ authorization: `Bearer ${env.AUDITOR_TOKEN}` }, "forbidden"],
      [await asPerson({ email: "admin@example.com" }), "forbidden"],
      [{}, "unauthenticated"],
    ] as const) {
      expect((await call(fetch, "GET", `/v1/vault/${ref}?reason=curious`, headers)).body.code).toBe(code);
    }
    const asDevice = await device.authorized<{ code: string }>("GET", `/v1/vault/${ref}?reason=mine`);
    expect(asDevice.body.code).toBe("person_required");

    expect((await call(fetch, "GET", `/v1/vault/${ref}`, asOfficer)).body.code).toBe("malformed_request");
    expect((await call(fetch, "GET", `/v1/vault/not-a-ref?reason=x`, asOfficer)).body.code).toBe("malformed_request");
    expect((await call(fetch, "GET", `/v1/vault/${device.deviceId}~AAAAAAAAAAAAAAAAAAAAAAAA?reason=x`, asOfficer)).body.code).toBe("not_found");

    const read = await call(fetch, "GET", `/v1/vault/${ref}?reason=${encodeURIComponent("DSAR 2026-17")}`, asOfficer);
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ ref, value: TOKEN, kid: "vault-1" });
    const byHeader = await call(fetch, "GET", `/v1/vault/${argRef}`, { ...(await asPerson({ email: "dpo@example.com" })), "warden-reason": "incident 88" });
    expect(byHeader.body).toMatchObject({ value: ARG_TOKEN });

    const adminLog = await call(fetch, "GET", "/v1/bundles/log?limit=1000", { authorization: `Bearer ${env.AUDITOR_TOKEN}` });
    const reads = (adminLog.body["entries"] as LogEntry[]).filter((entry) => entry.type === "admin.vault_read");
    expect(reads.map((entry) => entry.data)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ ref, device: device.deviceId, by: "bootstrap-token:privacy-officer", reason: "DSAR 2026-17", kid: "vault-1" }),
        expect.objectContaining({ ref: argRef, by: "dpo@example.com", reason: "incident 88" }),
      ]),
    );
    // A refused read is not logged; the log never holds the value.
    expect(reads).toHaveLength(2);
    expectNoRaw(JSON.stringify(reads));
  });

  it("reads a value sealed under a rotated-out key while new values use the new one; without the old key, vault_key_unknown", async () => {
    await activate(permitAll, tenant);
    const { decision } = await deviceWithDecision();
    const oldRef = (contextOf(decision)["token"] as { vault: string }).vault;
    const old = JSON.parse(env.VAULT_KEYS!) as { keys: object[] };
    const fresh = { kty: "oct", kid: "vault-2", k: btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32)))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "") };
    const rotated = workerFetch({ tenant, env: { VAULT_KEYS: JSON.stringify({ keys: [fresh, ...old.keys] }) } });
    expect((await call(rotated, "GET", `/v1/vault/${oldRef}?reason=rotation`, asOfficer)).body).toMatchObject({ value: TOKEN, kid: "vault-1" });

    const device = await readyDevice({ fetch: rotated });
    await device.decide(request());
    const next = (await logOf(device)).find((entry) => entry.type === "decision")!;
    const newRef = (contextOf(next)["token"] as { vault: string; kid: string });
    expect(newRef.kid).toBe("vault-2");
    expect((contextOf(next)["email"] as { kid: string }).kid).toBe("vault-2");
    expect((await call(rotated, "GET", `/v1/vault/${newRef.vault}?reason=rotation`, asOfficer)).body).toMatchObject({ value: TOKEN, kid: "vault-2" });

    const onlyNew = workerFetch({ tenant, env: { VAULT_KEYS: JSON.stringify({ keys: [fresh] }) } });
    expect((await call(onlyNew, "GET", `/v1/vault/${oldRef}?reason=rotation`, asOfficer)).body.code).toBe("vault_key_unknown");
  });

  it("fails closed on a tampered, truncated, foreign or moved object", async () => {
    await activate(permitAll, tenant);
    const { device, decision } = await deviceWithDecision();
    const ref = (contextOf(decision)["token"] as { vault: string }).vault;
    const key = vaultKey(tenant, ref)!;
    const original = await (await env.VAULT.get(key))!.text();
    const stored = JSON.parse(original) as { ciphertext: string };
    const flip = (text: string) => `${text.slice(0, 4)}${text[4] === "A" ? "B" : "A"}${text.slice(5)}`;
    const cases: [string, string][] = [
      ["ciphertext byte changed", JSON.stringify({ ...stored, ciphertext: flip(stored.ciphertext) })],
      ["ciphertext truncated", JSON.stringify({ ...stored, ciphertext: stored.ciphertext.slice(0, -4) })],
      ["not JSON", "garbage"],
      ["unknown field", JSON.stringify({ ...stored, extra: 1 })],
    ];
    for (const [what, body] of cases) {
      await env.VAULT.put(key, body);
      expect({ what, code: (await call(fetch, "GET", `/v1/vault/${ref}?reason=x`, asOfficer)).body.code }).toEqual({ what, code: "vault_integrity_failed" });
    }
    // The intact object under another reference of the same device: the reference is bound in.
    const other = `${device.deviceId}~${"B".repeat(24)}`;
    await env.VAULT.put(vaultKey(tenant, other)!, original);
    expect((await call(fetch, "GET", `/v1/vault/${other}?reason=x`, asOfficer)).body.code).toBe("vault_integrity_failed");
    await env.VAULT.put(key, original);
    expect((await call(fetch, "GET", `/v1/vault/${ref}?reason=x`, asOfficer)).body).toMatchObject({ value: TOKEN });
  });
});

