import { env, runDurableObjectAlarm, runInDurableObject, SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import type { DeviceLog } from "../../durable-objects/DeviceLog.ts";
import { verifyChain, type LogEntry } from "../../worker/log/chain.ts";
import { parseCheckpointText } from "../../worker/log/checkpoint.ts";
import { importLogSigningKey, logKeyIdOf, noteVerifierFor } from "../../worker/log/keys.ts";
import { GENESIS_MAC, entryMac, parseMacKey } from "../../worker/log/mac.ts";
import { EMPTY_FRONTIER, extendFrontier, frontierRoot } from "../../worker/log/merkle.ts";
import { parseNote, verifyNote } from "../../worker/log/note.ts";
import { parseRotationText } from "../../worker/log/rotation.ts";
import { activate, BASE_URL, readyDevice, withLoggedEvents, workerFetch } from "../helpers.ts";
import { appendMany, archivedRetiredKey, auditorGet, configure, freshLogSigningKey, liveEntries, publishedLogKeys, registeredDevice } from "../audit-helpers.ts";
import { faulty } from "../review-helpers.ts";

const ORIGIN_PREFIX = "warden.example.com/log";

interface CheckpointBody {
  origin: string;
  device: string;
  size: number;
  root: string;
  head: string;
  time: string;
  key: string;
  note: string;
}

async function checkpointOf(id: string): Promise<CheckpointBody> {
  const response = await auditorGet(`/v1/devices/${id}/checkpoint`);
  expect(response.status).toBe(200);
  return (await response.json()) as CheckpointBody;
}

beforeAll(async () => {
  await activate();
});

describe("signed checkpoints", () => {
  it("sign the committed head in C2SP form: tlog-checkpoint body, signed-note signature by the published key", async () => {
    const { id, stub } = await registeredDevice();
    await appendMany(stub, 6);
    const checkpoint = await checkpointOf(id);
    const entries = await liveEntries(stub);
    expect(checkpoint.origin).toBe(`${ORIGIN_PREFIX}/${env.TENANT}/${id}`);
    expect(checkpoint.size).toBe(7);
    expect(checkpoint.head).toBe(entries.at(-1)!.hash);
    expect(checkpoint.root).toBe(frontierRoot(extendFrontier(EMPTY_FRONTIER, entries.map((entry) => entry.hash))).toString("hex"));

    const note = parseNote(checkpoint.note);
    const lines = note.text.split("\n");
    expect(lines.slice(0, 3)).toEqual([checkpoint.origin, "7", Buffer.from(checkpoint.root, "hex").toString("base64")]);
    expect(parseCheckpointText(note.text)).toMatchObject({ size: 7, head: checkpoint.head });
    // The signature line names the origin as key name (tlog-checkpoint §Signatures).
    expect(note.signatures.map((signature) => signature.name)).toEqual([checkpoint.origin]);

    const { jwks, keys } = await publishedLogKeys();
    expect(jwks.keys.find((key) => key.kid === checkpoint.key)?.status).toBe("current");
    const verified = await verifyNote(note, keys.map((key) => noteVerifierFor(key, checkpoint.origin)));
    expect(verified.map((verifier) => verifier.id)).toEqual([checkpoint.key]);
  });

  it("are readable by the device itself, as a bare note with Accept: text/plain, and invisible to other devices", async () => {
    const device = await readyDevice();
    const other = await readyDevice();
    const own = await device.authorized("GET", `/v1/devices/${device.deviceId}/checkpoint`);
    expect(own.status).toBe(200);
    const text = await auditorGet(`/v1/devices/${device.deviceId}/checkpoint`, { accept: "text/plain" });
    expect(text.headers.get("content-type")).toMatch(/^text\/plain/);
    expect(await text.text()).toMatch(/^warden\.example\.com\/log\/.+\n\d+\n.+\nhead [0-9a-f]{64}\ntime .+\n\n\u2014 /);
    expect((await other.authorized("GET", `/v1/devices/${device.deviceId}/checkpoint`)).status).toBe(404);
    expect((await auditorGet(`/v1/devices/no-such-device/checkpoint`)).status).toBe(404);
  });

  it("are signed at most every N entries: the alarm leaves fewer unsigned, and signs once N are", async () => {
    const { id, stub } = await registeredDevice();
    await configure(stub, { tuning: { checkpointEntries: 5, checkpointSeconds: 3600 } });
    const first = await checkpointOf(id); // the first checkpoint is signed on demand
    expect(first.size).toBe(1);
    await appendMany(stub, 4);
    await runDurableObjectAlarm(stub);
    expect((await checkpointOf(id)).size).toBe(1);
    await appendMany(stub, 1);
    await runDurableObjectAlarm(stub);
    expect((await checkpointOf(id)).size).toBe(6);
  });

  it("are signed at most every T seconds: an old unsigned entry is signed even below N", async () => {
    const { id, stub } = await registeredDevice();
    await configure(stub, { tuning: { checkpointEntries: 1000, checkpointSeconds: 60 } });
    expect((await checkpointOf(id)).size).toBe(1);
    const start = Date.now();
    await appendMany(stub, 2, { now: start });
    await configure(stub, { io: { now: () => start + 30_000 } });
    await runDurableObjectAlarm(stub);
    expect((await checkpointOf(id)).size).toBe(1);
    await configure(stub, { io: { now: () => start + 61_000 } });
    await runInAlarmOrNow(stub);
    expect((await checkpointOf(id)).size).toBe(3);
  });
});

/** The alarm may already have fired on its own; either way the object has had its alarm run by now. */
async function runInAlarmOrNow(stub: DurableObjectStub<DeviceLog>) {
  if (!(await runDurableObjectAlarm(stub))) {
    await runInDurableObject(stub, (instance: DeviceLog) => instance.alarm());
  }
}

describe("entries", () => {
  it("name the log key and carry a chained HMAC that verifies with LOG_HMAC_KEY", async () => {
    const { stub } = await registeredDevice();
    await appendMany(stub, 5);
    const entries = await liveEntries(stub);
    const kid = logKeyIdOf(env.LOG_SIGNING_KEY);
    const macKey = parseMacKey(env.LOG_HMAC_KEY!);
    let previous = GENESIS_MAC;
    for (const entry of entries) {
      expect(entry.key).toBe(kid);
      expect(entry.mac_key).toBe(macKey.id);
      expect(entry.mac).toBe(entryMac(macKey, previous, entry.hash));
      previous = entry.mac!;
    }
  });

  it("many concurrent appends to one device leave no gap, no duplicate, and an unbroken hash and HMAC chain", async () => {
    const { id, stub } = await registeredDevice();
    const results = await appendMany(stub, 300, { concurrent: true });
    const seqs = results.map((result) => (result.ok ? result.log.seq : -1)).sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: 300 }, (_, index) => index + 2));
    const entries = await liveEntries(stub);
    expect(entries.map((entry) => entry.seq)).toEqual(Array.from({ length: 301 }, (_, index) => index + 1));
    expect(verifyChain(entries, id)).toBeNull();
    const macKey = parseMacKey(env.LOG_HMAC_KEY!);
    let previous = GENESIS_MAC;
    for (const entry of entries) {
      expect(entry.mac).toBe(entryMac(macKey, previous, entry.hash));
      previous = entry.mac!;
    }
    const checkpoint = await checkpointOf(id);
    expect(checkpoint.head).toBe(entries.find((entry) => entry.seq === checkpoint.size)!.hash);
  });
});

describe("log key rotation", () => {
  it("is a log entry signed by the old and the new key; later entries and checkpoints use the new key; both stay published", async () => {
    const { id, stub } = await registeredDevice();
    await appendMany(stub, 2);
    const before = await checkpointOf(id);
    const oldKid = logKeyIdOf(env.LOG_SIGNING_KEY)!;
    const newSource = await freshLogSigningKey();
    const newKey = await importLogSigningKey(newSource);
    await configure(stub, { io: { keys: () => ({ current: newSource, previous: env.LOG_SIGNING_KEY }) } });
    await appendMany(stub, 1); // still names the old key: the rotation entry comes from the alarm
    await runInAlarmOrNow(stub);
    await appendMany(stub, 1);

    const entries = await liveEntries(stub);
    const rotation = entries.find((entry) => entry.type === "log.key_rotated") as LogEntry;
    expect(rotation.seq).toBe(5);
    expect(entries.filter((entry) => entry.seq < 5).every((entry) => entry.key === oldKid)).toBe(true);
    expect(entries.filter((entry) => entry.seq >= 5).every((entry) => entry.key === newKey.kid)).toBe(true);
    expect(rotation.data).toMatchObject({ from: oldKid, to: newKey.kid });

    const origin = `${ORIGIN_PREFIX}/${env.TENANT}/${id}`;
    const statement = parseNote(rotation.data["statement"] as string);
    expect(parseRotationText(statement.text)).toMatchObject({ origin, from: oldKid, to: newKey.kid });
    // As the deployment publishes them during the rotation: the new key current, the old one previous.
    const { keys } = await publishedLogKeys({ current: newSource, previous: env.LOG_SIGNING_KEY! });
    const oldKey = keys.find((key) => key.kid === oldKid)!;
    const published = keys.find((key) => key.kid === newKey.kid)!;
    expect(published).toBeDefined();
    const signers = await verifyNote(statement, [noteVerifierFor(oldKey, origin), noteVerifierFor(published, origin)]);
    expect(signers.map((signer) => signer.id)).toEqual([oldKid, newKey.kid]);

    const after = await checkpointOf(id);
    expect(after.key).toBe(newKey.kid);
    expect(after.size).toBeGreaterThanOrEqual(5);
    // The checkpoint from before the rotation still verifies with the retired key.
    await expect(verifyNote(parseNote(before.note), [noteVerifierFor(oldKey, origin)])).resolves.toHaveLength(1);
  });

  it("never goes back to a key the log retired: the rotation is refused (configuration_error, logged) and entries and checkpoints stay under the key in use", async () => {
    const { id, stub } = await registeredDevice();
    await appendMany(stub, 2);
    const first = env.LOG_SIGNING_KEY!;
    const second = await freshLogSigningKey();
    const secondKid = (await importLogSigningKey(second)).kid;
    await configure(stub, { io: { keys: () => ({ current: second, previous: first }) } });
    await runInAlarmOrNow(stub);
    await configure(stub, { io: { keys: () => ({ current: first, previous: second }) }, tuning: { checkpointEntries: 1 } });
    const { events } = await withLoggedEvents(async () => {
      await appendMany(stub, 1);
      await runInAlarmOrNow(stub);
    });
    const failures = events.filter((line) => line["event"] === "audit.rotation_failed");
    expect(failures.length).toBeGreaterThan(0);
    expect(failures[0]!["error"]).toContain(`cannot rotate to ${logKeyIdOf(first)}: this log retired that key`);
    const entries = await liveEntries(stub);
    expect(entries.filter((entry) => entry.type === "log.key_rotated")).toHaveLength(1);
    expect(entries.at(-1)!.key).toBe(secondKid);
    const checkpoint = await checkpointOf(id);
    expect({ key: checkpoint.key, size: checkpoint.size }).toEqual({ key: secondKid, size: entries.at(-1)!.seq });
  });

  it("without the previous key configured, does not happen: entries keep naming the old key and nothing new is signed", async () => {
    const { id, stub } = await registeredDevice();
    const before = await checkpointOf(id);
    const newSource = await freshLogSigningKey();
    await configure(stub, { io: { keys: () => ({ current: newSource, previous: undefined }) }, tuning: { checkpointEntries: 1 } });
    await appendMany(stub, 2);
    await runInAlarmOrNow(stub);
    const entries = await liveEntries(stub);
    expect(entries.every((entry) => entry.key === logKeyIdOf(env.LOG_SIGNING_KEY))).toBe(true);
    expect(entries.some((entry) => entry.type === "log.key_rotated")).toBe(false);
    expect((await checkpointOf(id)).size).toBe(before.size);
  });
});

describe("log keys endpoint", () => {
  it("publishes the current key with its status, unauthenticated", async () => {
    const response = await fetchWellKnown();
    expect(response.status).toBe(200);
    const { keys } = (await response.json()) as { keys: { kid: string; status: string; kty: string; crv: string }[] };
    expect(keys.find((key) => key.kid === logKeyIdOf(env.LOG_SIGNING_KEY))).toMatchObject({ status: "current", kty: "OKP", crv: "Ed25519" });
  });

  it("lists the archive's keys at most once per LOG_KEYS_REFRESH_SECONDS in an isolate: a public request cannot make it list R2 at will", async () => {
    let now = Date.now();
    const fetch = workerFetch({ env: { LOG_KEYS_REFRESH_SECONDS: "60" }, deps: { now: () => now } });
    const kids = async () => {
      const response = await fetch(new Request(`${BASE_URL}/.well-known/warden-log-keys.json`));
      expect(response.status).toBe(200);
      return ((await response.json()) as { keys: { kid: string; status: string }[] }).keys;
    };
    await kids();
    // A log signed with a key no longer configured: the archive has it and its rotation, this isolate's listing does not yet.
    const retired = await archivedRetiredKey();
    now += 59_000;
    expect((await kids()).map((key) => key.kid)).not.toContain(retired.kid);
    now += 1_000;
    expect((await kids()).find((key) => key.kid === retired.kid)).toMatchObject({ status: "retired" });
    // The configured key is read from the configuration on every request.
    expect((await kids()).find((key) => key.kid === logKeyIdOf(env.LOG_SIGNING_KEY))).toMatchObject({ status: "current" });
  });

  it("does not keep a listing that failed: the next request lists the archive again", async () => {
    // The real bucket, except that its first listing fails as an R2 outage would.
    const archive = faulty(() => env.ARCHIVE, "list", "before");
    // An hour past any listing another test left in this isolate, so this one's first request lists.
    const later = Date.now() + 3_600_000;
    const fetch = workerFetch({ env: { ARCHIVE: archive.stub(), LOG_KEYS_REFRESH_SECONDS: "300" }, deps: { now: () => later } });
    const get = () => fetch(new Request(`${BASE_URL}/.well-known/warden-log-keys.json`));
    expect((await get()).status).toBe(500);
    expect(archive.failures).toBe(1);
    const second = await get();
    expect(second.status).toBe(200);
    expect(((await second.json()) as { keys: { kid: string }[] }).keys.map((key) => key.kid)).toContain(logKeyIdOf(env.LOG_SIGNING_KEY));
  });

  it("lists again when the clock went back past its listing's stamp, instead of keeping that listing until the clock catches up", async () => {
    // Two hours past any listing another test left in this isolate, so the first request lists.
    let now = Date.now() + 7_200_000;
    const fetch = workerFetch({ env: { LOG_KEYS_REFRESH_SECONDS: "300" }, deps: { now: () => now } });
    const kids = async () => ((await (await fetch(new Request(`${BASE_URL}/.well-known/warden-log-keys.json`))).json()) as { keys: { kid: string }[] }).keys.map((key) => key.kid);
    await kids();
    const retired = await archivedRetiredKey();
    now -= 60_000;
    expect(await kids()).toContain(retired.kid);
  });

  it("leaves out an object of the key prefix that is not a key, and serves the rest", async () => {
    const retired = await archivedRetiredKey();
    await env.ARCHIVE.put("log-keys/written-around-warden.json", '{"kty":"OKP","kty":"RSA"}');
    // Vouched for, but its key object is not strict JSON (a member twice): read strictly, it is left out too.
    const lax = await archivedRetiredKey();
    await env.ARCHIVE.put(`log-keys/${lax.kid}.json`, `{"kty":"RSA",${JSON.stringify(lax.publicJwk).slice(1)}`);
    const response = await fetchWellKnown();
    expect(response.status).toBe(200);
    const { keys } = (await response.json()) as { keys: { kid: string; status: string }[] };
    expect(keys.map((key) => [key.kid, key.status])).toEqual(expect.arrayContaining([[retired.kid, "retired"], [logKeyIdOf(env.LOG_SIGNING_KEY), "current"]]));
    expect(keys.map((key) => key.kid)).not.toContain("written-around-warden");
    expect(keys.map((key) => key.kid)).not.toContain(lax.kid);
  });
});

function fetchWellKnown(): Promise<Response> {
  return SELF.fetch(`${BASE_URL}/.well-known/warden-log-keys.json`);
}
