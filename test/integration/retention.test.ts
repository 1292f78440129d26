import { env, runDurableObjectAlarm, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { DeviceLog } from "../../durable-objects/DeviceLog.ts";
import type { LogEntry } from "../../worker/log/chain.ts";
import type { JsonValue } from "../../worker/log/canonical.ts";
import { verifyExport } from "../../worker/log/export-verify.ts";
import { verifyReceipt } from "../../worker/log/receipt.ts";
import { parseWitnessVkey, verifyCosignatures, type WitnessConfig } from "../../worker/log/witness.ts";
import type { AuditIoChange } from "../worker.ts";
import { segmentKeys } from "../../worker/log/export.ts";
import { parseMacKey } from "../../worker/log/mac.ts";
import { privacyKeys } from "../../worker/privacy/keys.ts";
import { DAY_MS } from "../../worker/privacy/retention.ts";
import { vaultMasker, vaultPrefix } from "../../worker/privacy/vault.ts";
import { appendMany, auditorGet, configure, deviceStub, liveEntries, publishedLogKeys, registeredDevice, runAlarms, withMethod } from "../audit-helpers.ts";
import { BASE_URL, newClient, uniqueId, withLoggedEvents, workerFetch, type Fetch } from "../helpers.ts";

// Retention and legal holds (docs/privacy.md): the device's alarm, run with a clock the test
// moves past each retention, deletes archived segments and vault values — never what a legal
// hold covers, never an entry that is not archived.

type Stub = DurableObjectStub<DeviceLog>;

/** Seals by count only (10 entries a segment, a checkpoint every 5): age never makes one due unless retention does. */
const TUNING = { checkpointEntries: 5, checkpointSeconds: 10_000_000, segmentEntries: 10, segmentMinutes: 10_000_000, retrySeconds: 30 };
const EIGHT_YEARS = 8 * 366 * DAY_MS;
const admin = { authorization: `Bearer ${env.ADMIN_TOKEN}` };

async function alarm(stub: Stub, times = 6): Promise<void> {
  await runDurableObjectAlarm(stub);
  await runAlarms(stub, times);
}

async function call(fetch: Fetch, method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<{ status: number; body: Record<string, unknown> & { code?: string } }> {
  const init: RequestInit = { method, headers: { ...headers, ...(body === undefined ? {} : { "content-type": "application/json" }) } };
  if (body !== undefined) init.body = JSON.stringify(body);
  const response = await fetch(new Request(`${BASE_URL}${path}`, init));
  return { status: response.status, body: (await response.json()) as Record<string, unknown> & { code?: string } };
}

/** Stores `count` values in the vault for a device, as masking does. */
async function vaultValues(tenant: string, device: string, count: number): Promise<void> {
  const masker = vaultMasker({ bucket: env.VAULT, randomBytes: (n) => crypto.getRandomValues(new Uint8Array(n)), now: () => Date.now() }, await privacyKeys(env.VAULT_KEYS, tenant), tenant, device);
  for (let index = 0; index < count; index += 1) await masker.tokenise(`secret-${index}`);
}

async function archiveKeys(tenant: string, id: string): Promise<string[]> {
  return (await env.ARCHIVE.list({ prefix: `${tenant}/devices/${id}/segments/` })).objects.map((object) => object.key);
}

async function vaultKeys(tenant: string, id: string): Promise<string[]> {
  return (await env.VAULT.list({ prefix: vaultPrefix(tenant, id) })).objects.map((object) => object.key);
}

/** A device of the default tenant with segments 1-10 and 11-20 sealed, 21-25 live, and three vault values. */
async function archivedDevice(): Promise<{ id: string; stub: Stub; keys: string[] }> {
  const device = await registeredDevice();
  await configure(device.stub, { tuning: TUNING });
  await appendMany(device.stub, 24);
  await alarm(device.stub);
  await vaultValues(env.TENANT, device.id, 3);
  const keys = await archiveKeys(env.TENANT, device.id);
  expect(keys).toHaveLength(4);
  return { ...device, keys };
}

describe("retention", () => {
  it("deletes archived segments and vault values past retention, never under the device's legal hold, and the export still verifies from the cut", async () => {
    const { id, stub, keys } = await archivedDevice();
    expect((await liveEntries(stub))[0]?.seq).toBe(21);

    const set = await call(SELF.fetch.bind(SELF), "POST", `/v1/devices/${id}/legal-hold`, admin, { reason: "litigation 2026-4" });
    expect(set.body).toMatchObject({ changed: true, log: { seq: expect.any(Number) } });
    const device = await call(SELF.fetch.bind(SELF), "GET", `/v1/devices/${id}`, admin);
    expect(device.body).toMatchObject({ legal_hold: { by: "bootstrap-token:admin", reason: "litigation 2026-4" }, retention: { retained_from: 1 } });

    // Eight years on, under the hold: nothing goes (operational retention archives the live entries: archiving is not deleting).
    await configure(stub, { io: { now: () => Date.now() + EIGHT_YEARS } });
    await alarm(stub);
    expect(await archiveKeys(env.TENANT, id)).toEqual(expect.arrayContaining(keys));
    expect(await vaultKeys(env.TENANT, id)).toHaveLength(3);

    const lifted = await call(SELF.fetch.bind(SELF), "POST", `/v1/devices/${id}/legal-hold/lift`, admin, { reason: "settled" });
    expect(lifted.body).toMatchObject({ changed: true });
    expect((await call(SELF.fetch.bind(SELF), "POST", `/v1/devices/${id}/legal-hold/lift`, admin, { reason: "again" })).body).toMatchObject({ changed: false });
    await alarm(stub);
    const remaining = await archiveKeys(env.TENANT, id);
    expect(remaining.filter((key) => keys.includes(key))).toEqual([]);
    expect(await vaultKeys(env.TENANT, id)).toEqual([]);
    const { retention } = (await call(SELF.fetch.bind(SELF), "GET", `/v1/devices/${id}`, admin)).body as { retention: { retained_from: number } };
    expect(retention.retained_from).toBe(21);

    // Exports: from before the cut refused; from the cut on, the chain verifies offline.
    const refused = await auditorGet(`/v1/devices/${id}/export`);
    expect(((await refused.json()) as { code: string }).code).toBe("log_range_expired");
    const exported = await auditorGet(`/v1/devices/${id}/export?from=21`);
    expect(exported.status).toBe(200);
    const lines = (await exported.text()).trimEnd().split("\n");
    const report = await verifyExport(lines, { keys: (await publishedLogKeys()).keys, macKeys: [parseMacKey(env.LOG_HMAC_KEY!)] });
    expect(report.failure).toBeNull();
    expect(report).toMatchObject({ ok: true, range: { from: 21 } });
    // Every entry from the cut on is there, archived or live: none was deleted unarchived. The hold's changes and the deletion are logged.
    const entries = lines.map((line) => JSON.parse(line) as LogEntry & { kind?: string }).filter((line) => line.kind === undefined);
    expect(entries.map((entry) => entry.seq)).toEqual(Array.from({ length: entries.length }, (_, index) => 21 + index));
    expect(entries.length).toBe(report.range!.to - 20);
    expect(entries.map((entry) => entry.type)).toEqual(expect.arrayContaining(["device.legal_hold_set", "device.legal_hold_lifted", "retention.expired"]));
    const expired = entries.find((entry) => entry.type === "retention.expired") as LogEntry;
    expect(expired.data).toMatchObject({ segments: [{ first: 1, last: 10 }, { first: 11, last: 20 }], vault_values: 3, retained_from: 21 });

    // The admin log has each change's twin.
    const adminLog = await call(SELF.fetch.bind(SELF), "GET", "/v1/bundles/log?limit=1000", admin);
    const twins = (adminLog.body["entries"] as LogEntry[]).filter((entry) => entry.data["device"] === id).map((entry) => entry.type);
    expect(twins).toEqual(["admin.device_legal_hold_set", "admin.device_legal_hold_lifted", "admin.device_legal_hold_lifted"]);
  });

  it("keeps what is younger than its retention, and deletes each kind at its own age", async () => {
    const { id, stub, keys } = await archivedDevice();
    // A day past vault retention (90 days), years before audit retention: only the vault goes.
    await configure(stub, { io: { now: () => Date.now() + 91 * DAY_MS } });
    await alarm(stub);
    expect(await vaultKeys(env.TENANT, id)).toEqual([]);
    expect(await archiveKeys(env.TENANT, id)).toEqual(expect.arrayContaining(keys));
  });

  it("moves operational entries out of the object by operational_days, and never deletes one that is not archived", async () => {
    const unsigned = await registeredDevice();
    await configure(unsigned.stub, { tuning: { ...TUNING, checkpointEntries: 1000, segmentEntries: 1000 } });
    await appendMany(unsigned.stub, 6);
    // No log key: nothing can be signed, so nothing is archived, and nothing is pruned however old.
    await configure(unsigned.stub, { io: { now: () => Date.now() + EIGHT_YEARS, keys: () => ({ current: undefined, previous: undefined }) } });
    await alarm(unsigned.stub);
    expect((await liveEntries(unsigned.stub)).length).toBeGreaterThanOrEqual(7);
    expect(await archiveKeys(env.TENANT, unsigned.id)).toEqual([]);

    const signed = await registeredDevice();
    await configure(signed.stub, { tuning: { ...TUNING, checkpointEntries: 1000, segmentEntries: 1000 } });
    await appendMany(signed.stub, 6);
    await alarm(signed.stub);
    expect((await liveEntries(signed.stub)).length).toBe(7);
    // 91 days on, operational retention (90) makes the whole signed log due: sealed to R2, pruned from the object.
    await configure(signed.stub, { io: { now: () => Date.now() + 91 * DAY_MS } });
    await alarm(signed.stub);
    expect((await archiveKeys(env.TENANT, signed.id)).length).toBe(2);
    expect((await liveEntries(signed.stub)).every((entry) => entry.seq > 7)).toBe(true);
  });

  it("a tenant legal hold suspends every device's deletions until it is lifted; both are in the admin log", async () => {
    const tenant = uniqueId("hold");
    const fetch = workerFetch({ tenant });
    const client = await newClient({ fetch });
    expect((await client.register(env.ADMIN_TOKEN)).status).toBe(201);
    const stub = deviceStub(client.deviceId, tenant);
    await configure(stub, { tuning: TUNING });
    await appendMany(stub, 24);
    await alarm(stub);
    await vaultValues(tenant, client.deviceId, 2);
    const keys = await archiveKeys(tenant, client.deviceId);
    expect(keys).toHaveLength(4);

    expect((await call(fetch, "POST", "/v1/legal-hold", admin, { reason: "regulator inquiry" })).body).toMatchObject({ changed: true, hold: { reason: "regulator inquiry" } });
    expect((await call(fetch, "GET", "/v1/legal-hold", { authorization: `Bearer ${env.AUDITOR_TOKEN}` })).body).toMatchObject({ hold: { by: "bootstrap-token:admin" } });
    await configure(stub, { io: { now: () => Date.now() + EIGHT_YEARS } });
    await alarm(stub);
    expect(await archiveKeys(tenant, client.deviceId)).toEqual(expect.arrayContaining(keys));
    expect(await vaultKeys(tenant, client.deviceId)).toHaveLength(2);

    expect((await call(fetch, "POST", "/v1/legal-hold/lift", admin, { reason: "closed" })).body).toMatchObject({ changed: true, hold: null });
    await alarm(stub);
    expect((await archiveKeys(tenant, client.deviceId)).filter((key) => keys.includes(key))).toEqual([]);
    expect(await vaultKeys(tenant, client.deviceId)).toEqual([]);
    const adminLog = await call(fetch, "GET", "/v1/bundles/log?limit=1000", admin);
    expect((adminLog.body["entries"] as LogEntry[]).map((entry) => [entry.type, entry.data["reason"]])).toEqual([
      ["admin.legal_hold_set", "regulator inquiry"],
      ["admin.legal_hold_lifted", "closed"],
    ]);
  });

  describe("a legal hold set while a sweep awaits R2", () => {
    /** Sets the device's hold through its object (as the route does) while the sweep's read is pending; its entry's seq. */
    function holdOnce(id: string): { set: () => Promise<void>; seq: () => number | null } {
      let seq: number | null = null;
      return {
        set: async () => {
          if (seq !== null) return;
          const result = await deviceStub(id).legalHold({ on: true, by: "admin", reason: "litigation", now: Date.now() });
          if (!result.ok) throw new Error(`hold refused: ${result.code}`);
          seq = result.log.seq;
        },
        seq: () => seq,
      };
    }

    async function entriesAfter(stub: Stub, seq: number): Promise<LogEntry[]> {
      return (await liveEntries(stub)).filter((entry) => entry.seq > seq);
    }

    it("while the tenant's hold is read: nothing is deleted, nothing logged as deleted", async () => {
      const { id, stub, keys } = await archivedDevice();
      const hold = holdOnce(id);
      await configure(stub, {
        io: {
          now: () => Date.now() + EIGHT_YEARS,
          tenantHeld: async () => {
            await hold.set();
            return false;
          },
        },
      });
      await runAlarms(stub, 1);
      expect(hold.seq()).toEqual(expect.any(Number));
      expect(await archiveKeys(env.TENANT, id)).toEqual(expect.arrayContaining(keys));
      expect(await vaultKeys(env.TENANT, id)).toHaveLength(3);
      expect((await entriesAfter(stub, hold.seq()!)).map((entry) => entry.type)).not.toContain("retention.expired");
      expect((await stub.standing())?.retainedFrom).toBe(1);
    });

    it("while a segment's age is read: the deletion already issued is logged, none after it is issued", async () => {
      const { id, stub, keys } = await archivedDevice();
      const hold = holdOnce(id);
      let heads = 0;
      const archive = withMethod(env.ARCHIVE, "head", async (key: string) => {
        heads += 1;
        // The first segment's head answers; the hold lands while the second's is awaited.
        if (heads === 2) await hold.set();
        return env.ARCHIVE.head(key);
      });
      await configure(stub, { io: { now: () => Date.now() + EIGHT_YEARS, archive } });
      await runAlarms(stub, 1);
      expect(hold.seq()).toEqual(expect.any(Number));
      const remaining = await archiveKeys(env.TENANT, id);
      const [first, second] = [segmentKeys(env.TENANT, id, 1, 10), segmentKeys(env.TENANT, id, 11, 20)];
      expect(keys).toEqual(expect.arrayContaining([first.entries, second.entries]));
      expect(remaining).not.toContain(first.entries);
      expect(remaining).toEqual(expect.arrayContaining([second.entries, second.manifest]));
      expect(await vaultKeys(env.TENANT, id)).toHaveLength(3);
      const expired = (await entriesAfter(stub, hold.seq()!)).filter((entry) => entry.type === "retention.expired");
      expect(expired.map((entry) => entry.data)).toEqual([expect.objectContaining({ segments: [{ first: 1, last: 10 }], vault_values: 0, retained_from: 11 })]);
      expect((await stub.standing())?.retainedFrom).toBe(11);
    });

    it("a sweep that fails part-way records the deletions R2 confirmed, and the next one goes on from there", async () => {
      const { stub } = await archivedDevice();
      let deletes = 0;
      const archive = withMethod(env.ARCHIVE, "delete", async (keys: string[]) => {
        deletes += 1;
        if (deletes === 2) throw new Error("R2 unavailable");
        return env.ARCHIVE.delete(keys);
      });
      await configure(stub, { io: { now: () => Date.now() + EIGHT_YEARS, archive } });
      await runAlarms(stub, 1);
      expect((await stub.standing())?.retainedFrom).toBe(11);
      const logged = () => liveEntries(stub).then((entries) => entries.filter((entry) => entry.type === "retention.expired").map((entry) => entry.data["segments"]));
      expect(await logged()).toEqual([[{ first: 1, last: 10 }]]);
      await configure(stub, { io: { archive: env.ARCHIVE } });
      await runAlarms(stub, 1);
      expect((await stub.standing())?.retainedFrom).toBe(21);
      expect(await logged()).toEqual([[{ first: 1, last: 10 }], [{ first: 11, last: 20 }]]);
    });

    it("while the vault is listed: no vault value is deleted", async () => {
      const { id, stub } = await archivedDevice();
      const hold = holdOnce(id);
      const vault = withMethod(env.VAULT, "list", async (options: R2ListOptions) => {
        await hold.set();
        return env.VAULT.list(options);
      });
      // Past vault retention only: the sweep goes straight to the vault.
      await configure(stub, { io: { now: () => Date.now() + 91 * DAY_MS, vault } });
      await runAlarms(stub, 1);
      expect(hold.seq()).toEqual(expect.any(Number));
      expect(await vaultKeys(env.TENANT, id)).toHaveLength(3);
      expect((await entriesAfter(stub, hold.seq()!)).map((entry) => entry.type)).not.toContain("retention.expired");
    });
  });

  describe("proofs about what retention kept", () => {
    const witnessKey = parseWitnessVkey(Reflect.get(env, "TEST_WITNESS_VKEY") as string);
    const witnessed: WitnessConfig[] = [{ key: witnessKey, url: "https://witness.warden.test" }];
    const WINDOW = { from: "1970-01-01T00:00:00Z", to: "9999-01-01T00:00:00Z" };

    /**
     * Entries 1-25 with a decision at 2 and one at 22 naming the session opened at 3,
     * quarantines (package evidence) at 4 and 23;
     * segments 1-10 and 11-20 sealed, signed up to 25. `expire` then moves the clock eight years
     * on: retention deletes both segments and cuts at 21, inside the first block of 256 leaves.
     */
    async function sealedDevice(io: AuditIoChange["io"] = {}) {
      const { id, stub } = await registeredDevice();
      await configure(stub, { tuning: TUNING, io });
      const append = async (type: string, data: Record<string, JsonValue>) => {
        const appended = await stub.append(type, data, Date.now());
        if (!appended.ok) throw new Error(appended.code);
        return appended.log.seq;
      };
      const oldDecision = uniqueId("old-decision");
      expect(await append("decision", { decision_id: oldDecision, decision: "allow" })).toBe(2);
      const session = uniqueId("session");
      expect(await append("session.opened", { session_id: session })).toBe(3);
      expect(await append("device.quarantined", { by: "admin", reason: "deleted evidence", changed: true })).toBe(4);
      await appendMany(stub, 17);
      const decision = uniqueId("kept-decision");
      expect(await append("decision", { decision_id: decision, decision: "allow", session })).toBe(22);
      expect(await append("device.quarantined", { by: "admin", reason: "probe", changed: true })).toBe(23);
      await appendMany(stub, 2);
      // Alarms may have fired on their own between the appends (a busy machine) and signed a checkpoint short
      // of the head; whatever they signed, this run signs the head.
      await configure(stub, { tuning: { checkpointEntries: 1 } });
      await alarm(stub);
      await configure(stub, { tuning: TUNING });
      expect((await stub.checkpoint(Date.now())).checkpoint?.size).toBe(25);
      expect((await liveEntries(stub))[0]?.seq).toBe(21);
      const expire = async () => {
        await configure(stub, { io: { now: () => Date.now() + EIGHT_YEARS } });
        await alarm(stub);
        expect((await stub.standing())?.retainedFrom).toBe(21);
      };
      return { id, stub, oldDecision, decision, expire };
    }

    function receipt(id: string, decision: string, seq: number): Promise<Response> {
      return auditorGet(`/v1/decisions/${decision}/receipt?seq=${seq}&device=${id}`);
    }

    it("a receipt for a kept decision verifies offline", async () => {
      const { id, decision, expire } = await sealedDevice();
      await expire();
      const response = await receipt(id, decision, 22);
      expect(response.status, await response.clone().text()).toBe(200);
      expect(await verifyReceipt(await response.text(), { keys: (await publishedLogKeys()).keys })).toMatchObject({ ok: true, seq: 22 });
    });

    it("a receipt for a deleted decision is refused log_range_expired; a kept one leaves out its deleted session", async () => {
      const { id, oldDecision, decision, expire } = await sealedDevice();
      const keys = (await publishedLogKeys()).keys;
      const before = await receipt(id, decision, 22);
      expect((await verifyReceipt(await before.text(), { keys })).related).toEqual([{ seq: 3, type: "session.opened" }]);
      await expire();
      const refused = await receipt(id, oldDecision, 2);
      expect(refused.status).toBe(410);
      expect(await refused.json()).toMatchObject({ code: "log_range_expired" });
      const after = await receipt(id, decision, 22);
      expect(after.status, await after.clone().text()).toBe(200);
      expect(await verifyReceipt(await after.text(), { keys })).toMatchObject({ ok: true, seq: 22, related: [] });
    });

    it("compliance evidence for a kept entry: the same inclusion proof as before retention", async () => {
      const { stub, expire } = await sealedDevice();
      const page = () => stub.complianceEvidence({ size: 25, after: 20, limit: 10, ...WINDOW });
      const before = await page();
      expect(before.parts.map((part) => (JSON.parse(part.entry) as LogEntry).seq)).toEqual([23]);
      await expire();
      expect(await page()).toEqual(before);
    });

    it("the package's evidence pages from the start leave out what retention deleted", async () => {
      const { stub, expire } = await sealedDevice();
      // The package pages from after: 0.
      const page = () => stub.complianceEvidence({ size: 25, after: 0, limit: 10, ...WINDOW });
      const before = await page();
      expect(before.parts.map((part) => (JSON.parse(part.entry) as LogEntry).seq)).toEqual([4, 23]);
      await expire();
      expect(await page()).toEqual({ parts: [before.parts[1]], next: null });
    });

    it("a witness that last cosigned before the cut is not asked again: the consistency proof from its size needs a deleted leaf (log_range_expired)", async () => {
      const { stub } = await registeredDevice();
      let asked = 0;
      const witnessFetch = (request: Request) => {
        asked += 1;
        return env.WITNESS!.fetch(request);
      };
      await configure(stub, { tuning: { ...TUNING, checkpointEntries: 1000 }, io: { witnesses: () => witnessed, witnessFetch } });
      await appendMany(stub, 4);
      const first = (await stub.checkpoint(Date.now())).checkpoint!;
      expect(first.size).toBe(5);
      expect(await verifyCosignatures(first.note, [witnessKey])).toHaveLength(1);
      // The witness out of the configuration while 6-25 are appended and sealed, and retention cuts at 21.
      await configure(stub, { tuning: TUNING, io: { witnesses: () => [] } });
      await appendMany(stub, 20);
      await alarm(stub);
      expect((await liveEntries(stub))[0]?.seq).toBe(21);
      await configure(stub, { io: { now: () => Date.now() + EIGHT_YEARS } });
      await alarm(stub);
      expect((await stub.standing())?.retainedFrom).toBe(21);

      // Back: a proof from 5 needs leaf 5 itself, which no node of the compact range over 1-20 (1-16, 17-20) stands for.
      asked = 0;
      await configure(stub, { io: { witnesses: () => witnessed } });
      const { result: checkpoint, events } = await withLoggedEvents(async () => (await stub.checkpoint(Date.now())).checkpoint!);
      expect(checkpoint.size).toBeGreaterThanOrEqual(25);
      expect(await verifyCosignatures(checkpoint.note, [witnessKey])).toEqual([]);
      expect(asked).toBe(0);
      // The object runs in this isolate: its failure, logged where readers' cosigning failures are, names the code and the leaf.
      expect(events).toContainEqual(expect.objectContaining({ event: "audit.witness_failed", error: expect.stringContaining("log_range_expired: entry 5 ") }));
    });

    it("the witness cosigns the checkpoints after retention, and a witnessed export from the cut verifies", async () => {
      const { id, stub, expire } = await sealedDevice({ witnesses: () => witnessed });
      const cosigned = async () => {
        const checkpoint = (await stub.checkpoint(Date.now())).checkpoint!;
        return { size: checkpoint.size, witnesses: (await verifyCosignatures(checkpoint.note, [witnessKey])).length };
      };
      expect(await cosigned()).toEqual({ size: 25, witnesses: 1 });
      await expire();
      await appendMany(stub, 6);
      await configure(stub, { io: { now: () => Date.now() + EIGHT_YEARS + 60_000 } });
      await alarm(stub, 3);
      const after = await cosigned();
      expect(after.size).toBeGreaterThan(31);
      expect(after.witnesses).toBe(1);
      const exported = await auditorGet(`/v1/devices/${id}/export?from=21`);
      expect(exported.status).toBe(200);
      const report = await verifyExport((await exported.text()).trimEnd().split("\n"), { keys: (await publishedLogKeys()).keys, witnesses: [witnessKey] });
      expect(report.failure).toBeNull();
      expect(report).toMatchObject({ ok: true, range: { from: 21 } });
    });
  });

  it("refuses legal-hold orders without a reason, from others than admins, and for unknown devices", async () => {
    const { id } = await registeredDevice();
    const fetch = SELF.fetch.bind(SELF);
    expect((await call(fetch, "POST", `/v1/devices/${id}/legal-hold`, admin, {})).body.code).toBe("malformed_request");
    expect((await call(fetch, "POST", `/v1/devices/${id}/legal-hold`, admin, { reason: " " })).body.code).toBe("malformed_request");
    expect((await call(fetch, "POST", `/v1/devices/${id}/legal-hold`, { authorization: `Bearer ${env.AUDITOR_TOKEN}` }, { reason: "x" })).body.code).toBe("forbidden");
    expect((await call(fetch, "POST", "/v1/legal-hold", { authorization: `Bearer ${env.PRIVACY_OFFICER_TOKEN}` }, { reason: "x" })).body.code).toBe("forbidden");
    expect((await call(fetch, "POST", `/v1/devices/${uniqueId("ghost")}/legal-hold`, admin, { reason: "x" })).body.code).toBe("not_found");
    expect((await call(fetch, "POST", "/v1/legal-hold", {}, { reason: "x" })).body.code).toBe("unauthenticated");
  });
});
