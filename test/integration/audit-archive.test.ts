import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { DeviceLog } from "../../durable-objects/DeviceLog.ts";
import { verifyChain, type LogEntry } from "../../worker/log/chain.ts";
import { sha256Hex } from "../../worker/encoding.ts";
import { GENESIS_SEGMENT, manifestHash, segmentKeys, type SegmentManifest } from "../../worker/log/export.ts";
import { GENESIS_MAC, entryMac, parseMacKey } from "../../worker/log/mac.ts";
import { appendMany, configure, deviceStub, liveEntries, registeredDevice, restart, runAlarms } from "../audit-helpers.ts";

type Stub = DurableObjectStub<DeviceLog>;

/** Small segments and eager checkpoints, so a test seals several segments from a few dozen entries. */
const SMALL = { checkpointEntries: 5, checkpointSeconds: 3600, segmentEntries: 10, segmentMinutes: 600, retrySeconds: 30 };

/** Runs the object's alarm now and a few more times (one segment per run). */
async function alarm(stub: Stub, times = 8): Promise<void> {
  await runDurableObjectAlarm(stub);
  await runAlarms(stub, times);
}

/** Every archived segment of a device, from R2: manifests in order, and the entries of each. */
async function archived(id: string): Promise<{ manifests: SegmentManifest[]; entries: LogEntry[] }> {
  const listing = await env.ARCHIVE.list({ prefix: `${env.TENANT}/devices/${id}/segments/` });
  const manifests: SegmentManifest[] = [];
  const entries: LogEntry[] = [];
  for (const object of listing.objects.filter((o) => o.key.endsWith(".manifest.json"))) {
    const manifest = (await (await env.ARCHIVE.get(object.key))!.json()) as SegmentManifest;
    manifests.push(manifest);
    const body = await (await env.ARCHIVE.get(segmentKeys(env.TENANT, id, manifest.first, manifest.last).entries))!.text();
    expect(sha256Hex(body)).toBe(manifest.sha256);
    entries.push(...body.trimEnd().split("\n").map((line) => JSON.parse(line) as LogEntry));
  }
  return { manifests, entries };
}

/** Archived and live entries together must be exactly 1..head, once each, one unbroken chain. */
async function expectWholeLog(id: string, stub: Stub, head: number): Promise<void> {
  const { manifests, entries: archivedEntries } = await archived(id);
  const live = await liveEntries(stub);
  const all = [...archivedEntries, ...live];
  expect(all.map((entry) => entry.seq)).toEqual(Array.from({ length: head }, (_, index) => index + 1));
  expect(verifyChain(all, id)).toBeNull();
  let previous = GENESIS_SEGMENT;
  manifests.forEach((manifest, index) => {
    expect(manifest.index).toBe(index + 1);
    expect(manifest.previous).toBe(previous);
    previous = manifestHash(manifest);
  });
  const macKey = parseMacKey(env.LOG_HMAC_KEY!);
  let mac = GENESIS_MAC;
  for (const entry of all) {
    expect(entry.mac).toBe(entryMac(macKey, mac, entry.hash));
    mac = entry.mac!;
  }
}

/** The archive bucket with some operations replaced. */
function faultyBucket(overrides: Partial<Pick<R2Bucket, "put" | "get">>): R2Bucket {
  const real = env.ARCHIVE;
  return {
    put: overrides.put ?? ((key, value, options) => real.put(key, value, options)),
    get: overrides.get ?? ((key, options) => real.get(key, options)),
    head: (key) => real.head(key),
    list: (options) => real.list(options),
    delete: (keys) => real.delete(keys),
  } as R2Bucket;
}

describe("archival to R2", () => {
  it("seals signed entries into create-only segments chained by their manifests, then prunes them", async () => {
    const { id, stub } = await registeredDevice();
    await configure(stub, { tuning: SMALL });
    await appendMany(stub, 25);
    await alarm(stub);
    const { manifests } = await archived(id);
    expect(manifests.map((manifest) => [manifest.first, manifest.last])).toEqual([
      [1, 10],
      [11, 20],
    ]);
    expect(manifests[0]!.prev_hash).toBe("0".repeat(64));
    expect(manifests[1]!.checkpoint).toMatch(/\n\n\u2014 /);
    expect((await liveEntries(stub)).map((entry) => entry.seq)).toEqual([21, 22, 23, 24, 25, 26]);
    await expectWholeLog(id, stub, 26);
    const keys = segmentKeys(env.TENANT, id, 1, 10);
    expect(keys.entries).toBe(`${env.TENANT}/devices/${id}/segments/000000000001-000000000010.jsonl`);
  });

  it("seals by age: entries older than the segment age go out even below the segment size", async () => {
    const { id, stub } = await registeredDevice();
    const start = Date.now();
    await configure(stub, { tuning: { ...SMALL, segmentEntries: 1000, segmentMinutes: 1, checkpointSeconds: 1 } });
    await appendMany(stub, 3, { now: start });
    await configure(stub, { io: { now: () => start + 2 * 60_000 } });
    await alarm(stub);
    expect((await archived(id)).manifests.map((manifest) => [manifest.first, manifest.last])).toEqual([[1, 4]]);
    expect(await liveEntries(stub)).toEqual([]);
    await expectWholeLog(id, stub, 4);
  });

  it("never archives past the latest checkpoint", async () => {
    const { id, stub } = await registeredDevice();
    await configure(stub, { tuning: { ...SMALL, checkpointEntries: 1000 }, io: { keys: () => ({ current: undefined, previous: undefined }) } });
    await appendMany(stub, 25);
    await alarm(stub);
    expect((await archived(id)).manifests).toEqual([]);
    expect(await liveEntries(stub)).toHaveLength(26);
  });

  it("a put that throws loses nothing; the retry seals the segment once", async () => {
    const { id, stub } = await registeredDevice();
    let attempts = 0;
    const failing = faultyBucket({
      put: async () => {
        attempts += 1;
        throw new Error("injected: R2 unavailable");
      },
    });
    await configure(stub, { tuning: SMALL, io: { archive: failing } });
    await appendMany(stub, 12);
    await alarm(stub);
    expect(attempts).toBeGreaterThan(0);
    expect(await liveEntries(stub)).toHaveLength(13);
    expect((await archived(id)).manifests).toEqual([]);
    // The failure scheduled a retry rather than giving up.
    expect(await runInDurableObject(stub, (_instance: DeviceLog, state) => state.storage.getAlarm())).not.toBeNull();

    await configure(stub, { io: { archive: env.ARCHIVE } });
    await alarm(stub);
    expect((await archived(id)).manifests.map((manifest) => manifest.last)).toEqual([10]);
    await expectWholeLog(id, stub, 13);
  });

  it("a partial upload is refused by its SHA-256 and retried; no partial object is ever stored", async () => {
    const { id, stub } = await registeredDevice();
    const truncating = faultyBucket({
      put: (key, value, options) => env.ARCHIVE.put(key, typeof value === "string" ? value.slice(0, value.length / 2) : value, options),
    });
    await configure(stub, { tuning: SMALL, io: { archive: truncating } });
    await appendMany(stub, 10);
    await alarm(stub);
    expect(await env.ARCHIVE.head(segmentKeys(env.TENANT, id, 1, 10).entries)).toBeNull();
    expect(await liveEntries(stub)).toHaveLength(11);
    await configure(stub, { io: { archive: env.ARCHIVE } });
    await alarm(stub);
    await expectWholeLog(id, stub, 11);
    expect((await archived(id)).manifests).toHaveLength(1);
  });

  it("a restart between the put and the prune: the retry finds its own objects, verifies them and prunes once", async () => {
    const { id, stub } = await registeredDevice();
    const created = new Set<string>();
    // The writes succeed; the object then dies before it can read them back and prune.
    const crashing = faultyBucket({
      put: async (key, value, options) => {
        const result = await env.ARCHIVE.put(key, value, options);
        if (result && key.includes("/segments/")) created.add(key);
        return result;
      },
      get: async () => {
        throw new Error("injected: the object died here");
      },
    });
    await configure(stub, { tuning: SMALL, io: { archive: crashing } });
    await appendMany(stub, 10);
    await alarm(stub);
    expect([...created].sort()).toEqual([segmentKeys(env.TENANT, id, 1, 10).entries, segmentKeys(env.TENANT, id, 1, 10).manifest].sort());
    expect(await env.ARCHIVE.head(segmentKeys(env.TENANT, id, 1, 10).manifest)).not.toBeNull();
    expect(await liveEntries(stub)).toHaveLength(11);

    await restart(stub);
    const fresh = deviceStub(id);
    await configure(fresh, { tuning: SMALL, io: { archive: env.ARCHIVE } });
    await alarm(fresh);
    expect(await liveEntries(fresh)).toHaveLength(1);
    expect((await archived(id)).manifests).toHaveLength(1);
    await expectWholeLog(id, fresh, 11);
  });

  it("an alarm that runs twice, even at once, seals and prunes each segment once", async () => {
    const { id, stub } = await registeredDevice();
    await configure(stub, { tuning: SMALL });
    await appendMany(stub, 29);
    await runInDurableObject(stub, (instance: DeviceLog) => Promise.all([instance.alarm(), instance.alarm()]));
    await runInDurableObject(stub, (instance: DeviceLog) => Promise.all([instance.alarm(), instance.alarm()]));
    await alarm(stub);
    await alarm(stub);
    expect((await archived(id)).manifests.map((manifest) => [manifest.first, manifest.last])).toEqual([
      [1, 10],
      [11, 20],
      [21, 30],
    ]);
    expect(await liveEntries(stub)).toEqual([]);
    await expectWholeLog(id, stub, 30);
  });

  it("never overwrites an existing object: a conflicting one stops archival and the entries stay", async () => {
    const { id, stub } = await registeredDevice();
    const keys = segmentKeys(env.TENANT, id, 1, 10);
    await env.ARCHIVE.put(keys.entries, "someone else's bytes\n");
    await configure(stub, { tuning: SMALL });
    await appendMany(stub, 10);
    await alarm(stub);
    expect(await (await env.ARCHIVE.get(keys.entries))!.text()).toBe("someone else's bytes\n");
    expect(await liveEntries(stub)).toHaveLength(11);
  });

  it("after every entry is archived and the object restarts, the chain and the HMAC continue from the last segment", async () => {
    const { id, stub } = await registeredDevice();
    await configure(stub, { tuning: SMALL });
    await appendMany(stub, 9);
    await alarm(stub);
    expect(await liveEntries(stub)).toEqual([]);
    await restart(stub);
    const fresh = deviceStub(id);
    const appended = await fresh.append("test.event", { after: "restart" }, Date.now());
    expect(appended.ok && appended.log.seq).toBe(11);
    await expectWholeLog(id, fresh, 11);
  });
});
