import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import type { DeviceLog } from "../../durable-objects/DeviceLog.ts";
import { canonicalJson, type JsonValue } from "../../worker/log/canonical.ts";
import { entryHash, type LogEntry } from "../../worker/log/chain.ts";
import { checkpointText, parseCheckpointText } from "../../worker/log/checkpoint.ts";
import { verifyExport } from "../../worker/log/export-verify.ts";
import type { ExportManifest } from "../../worker/log/export.ts";
import { importLogSigningKey, noteSignerFor } from "../../worker/log/keys.ts";
import { EMPTY_FRONTIER, extendFrontier, frontierRoot } from "../../worker/log/merkle.ts";
import { parseNote, signNote } from "../../worker/log/note.ts";
import { verifyReceipt, type Receipt } from "../../worker/log/receipt.ts";
import { formatAddCheckpoint, parseWitnessVkey, verifyCosignatures, witnessVkey, type WitnessConfig } from "../../worker/log/witness.ts";
import { appendMany, auditorGet, configure, publishedLogKeys, registeredDevice, runAlarms } from "../audit-helpers.ts";
import { activate, fileAction, readyDevice } from "../helpers.ts";
import { deviceStub } from "../audit-helpers.ts";

// Witness cosigning (C2SP tlog-witness) against the project's own witness worker, run by the
// test pool as a second worker with its own Durable Object (vitest.config.mts), and decision
// receipts (inclusion proofs to the witnessed checkpoint), verified offline.

type Stub = DurableObjectStub<DeviceLog>;

const witnessFetcher = () => (env as unknown as { WITNESS: Fetcher }).WITNESS;
const witnessKey = parseWitnessVkey(Reflect.get(env, "TEST_WITNESS_VKEY") as string);
const witnessed: WitnessConfig[] = [{ key: witnessKey, url: "https://witness.warden.test" }];

async function witnessedDevice(tuning: Record<string, number> = {}): Promise<{ id: string; stub: Stub }> {
  const device = await registeredDevice();
  await configure(device.stub, { io: { witnesses: () => witnessed }, tuning: { checkpointEntries: 1, checkpointSeconds: 3600, ...tuning } });
  return device;
}

async function checkpointOf(id: string): Promise<string> {
  const response = await auditorGet(`/v1/devices/${id}/checkpoint`, { accept: "text/plain" });
  expect(response.status).toBe(200);
  return response.text();
}

async function exportLines(id: string): Promise<string[]> {
  const response = await auditorGet(`/v1/devices/${id}/export`);
  expect(response.status).toBe(200);
  return (await response.text()).split("\n").filter((line) => line.length > 0);
}

function submit(body: string): Promise<Response> {
  return witnessFetcher().fetch(new Request("https://witness.warden.test/add-checkpoint", { method: "POST", body }));
}

/** A checkpoint of `origin` the log key signs (what an operator holding the key can make). */
async function logSigned(origin: string, size: number, root: string): Promise<string> {
  const key = await importLogSigningKey(env.LOG_SIGNING_KEY);
  return signNote(checkpointText({ origin, size, root, head: "ab".repeat(32), time: new Date().toISOString() }), [noteSignerFor(key, origin)]);
}

/**
 * The operator's rewrite: an export of another history (entry 2's data changed, every later
 * hash recomputed), with a new checkpoint and manifest signed by the log key. Nothing but a
 * witness (or a checkpoint kept from before) tells it from the real one.
 */
async function forgedExport(lines: string[]): Promise<string[]> {
  const key = await importLogSigningKey(env.LOG_SIGNING_KEY);
  const header = JSON.parse(lines[0]!) as { origin: string; checkpoint: string };
  const entries = lines.slice(1, -1).map((line) => JSON.parse(line) as LogEntry & { kind?: string });
  let prev = "0".repeat(64);
  const forged: LogEntry[] = [];
  for (const entry of entries) {
    const { hash: _hash, mac: _mac, mac_key: _macKey, ...body } = entry;
    const data = entry.seq === 2 ? { ...entry.data, index: 999 } : entry.data;
    const next = { ...body, data, prev };
    const rehashed = { ...next, hash: entryHash(next) } as LogEntry;
    forged.push(rehashed);
    prev = rehashed.hash;
  }
  const size = parseCheckpointText(parseNote(header.checkpoint).text).size;
  const root = frontierRoot(extendFrontier(EMPTY_FRONTIER, forged.slice(0, size).map((e) => e.hash))).toString("hex");
  const checkpoint = await signNote(checkpointText({ origin: header.origin, size, root, head: forged[size - 1]!.hash, time: new Date().toISOString() }), [noteSignerFor(key, header.origin)]);
  const manifest = JSON.parse(parseNote((JSON.parse(lines.at(-1)!) as { note: string }).note).text) as ExportManifest;
  const newManifest = { ...manifest, checkpoint, heads: { ...manifest.heads, end: forged.at(-1)!.hash, head: { seq: manifest.heads.head.seq, hash: forged.at(-1)!.hash } } };
  const note = await signNote(`${canonicalJson(newManifest as unknown as JsonValue)}\n`, [noteSignerFor(key, header.origin)]);
  return [JSON.stringify({ ...JSON.parse(lines[0]!), checkpoint }), ...forged.map((e) => JSON.stringify(e)), JSON.stringify({ kind: "manifest", note })];
}

beforeAll(async () => {
  await activate();
});

describe("witness cosigning (the project's witness worker, C2SP tlog-witness)", () => {
  it("publishes each checkpoint with the witness's cosignature, following the log's growth by consistency proofs", async () => {
    const { id, stub } = await witnessedDevice();
    await appendMany(stub, 3);
    await runAlarms(stub, 2);
    const first = await checkpointOf(id);
    expect(parseNote(first).signatures).toHaveLength(2);
    expect((await verifyCosignatures(first, [witnessKey])).map((c) => c.witness.name)).toEqual([witnessKey.name]);
    // Past 256 entries the proof uses the interior nodes the log keeps.
    await appendMany(stub, 300);
    await runAlarms(stub, 2);
    const second = await checkpointOf(id);
    expect(parseCheckpointText(parseNote(second).text).size).toBe(304);
    expect(await verifyCosignatures(second, [witnessKey])).toHaveLength(1);
  });

  it("a witness that failed is asked again only retrySeconds later, however often the checkpoint is read; one that answers again cosigns", async () => {
    const { stub } = await witnessedDevice({ retrySeconds: 30 });
    let down = true;
    let calls = 0;
    await configure(stub, {
      io: {
        witnessFetch: (request) => {
          calls += 1;
          return down ? Promise.resolve(new Response("unavailable", { status: 503 })) : witnessFetcher().fetch(request);
        },
      },
    });
    const now = Date.now();
    for (let read = 0; read < 5; read += 1) await stub.checkpoint(now + read * 1000);
    expect(calls).toBe(1);
    down = false;
    await stub.checkpoint(now + 29_999);
    expect(calls).toBe(1);
    const { checkpoint } = await stub.checkpoint(now + 30_000);
    expect(calls).toBe(2);
    expect(await verifyCosignatures(checkpoint!.note, [witnessKey])).toHaveLength(1);
  });

  it("a witness failure stamped later than now (the clock went back) does not hold the witness off", async () => {
    const { stub } = await witnessedDevice({ retrySeconds: 30 });
    let calls = 0;
    await configure(stub, {
      io: {
        witnessFetch: () => {
          calls += 1;
          return Promise.resolve(new Response("unavailable", { status: 503 }));
        },
      },
    });
    const now = Date.now();
    await stub.checkpoint(now);
    expect(calls).toBe(1);
    // Read a minute before the failure it noted: waiting out retrySeconds from a future stamp could take for ever.
    await stub.checkpoint(now - 60_000);
    expect(calls).toBe(2);
  });

  it("the witness refuses an inconsistent checkpoint: another root at the size it cosigned (409), a tree that does not extend it (422)", async () => {
    const { id, stub } = await witnessedDevice();
    await appendMany(stub, 4);
    await runAlarms(stub, 2);
    const genuine = parseCheckpointText(parseNote(await checkpointOf(id)).text);
    const forkSameSize = await logSigned(genuine.origin, genuine.size, "11".repeat(32));
    const same = await submit(formatAddCheckpoint({ oldSize: genuine.size, proof: [], checkpoint: forkSameSize }));
    expect(same.status).toBe(409);
    expect(same.headers.get("content-type")).toBe("text/x.tlog.size");
    expect(await same.text()).toBe(`${genuine.size}\n`);
    const forkLarger = await logSigned(genuine.origin, genuine.size + 3, "22".repeat(32));
    const larger = await submit(formatAddCheckpoint({ oldSize: genuine.size, proof: [new Uint8Array(32)], checkpoint: forkLarger }));
    expect(larger.status).toBe(422);
    // The witness names the size it last cosigned when asked from another one.
    expect((await submit(formatAddCheckpoint({ oldSize: 0, proof: [], checkpoint: forkLarger }))).status).toBe(409);
    // The genuine log still grows under the witness afterwards.
    await appendMany(stub, 2);
    await runAlarms(stub, 2);
    expect(await verifyCosignatures(await checkpointOf(id), [witnessKey])).toHaveLength(1);
  });

  it("answers tlog-witness's other refusals: unknown origin 404, a key it does not trust 403, a malformed body 400", async () => {
    const key = await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"]);
    const raw = new Uint8Array((await crypto.subtle.exportKey("raw", (key as CryptoKeyPair).publicKey)) as ArrayBuffer);
    const origin = "warden.example.com/log/default/nobody";
    const otherKey = { name: origin, keyId: 0, sign: async (m: Uint8Array) => new Uint8Array(await crypto.subtle.sign("Ed25519", (key as CryptoKeyPair).privateKey, m)) };
    const { ed25519KeyId } = await import("../../worker/log/note.ts");
    otherKey.keyId = ed25519KeyId(origin, raw);
    const untrusted = await signNote(checkpointText({ origin, size: 1, root: "00".repeat(32), head: "00".repeat(32), time: new Date().toISOString() }), [otherKey]);
    expect((await submit(formatAddCheckpoint({ oldSize: 0, proof: [], checkpoint: untrusted }))).status).toBe(403);
    const elsewhere = await logSigned("other.example/log/x", 1, "00".repeat(32));
    expect((await submit(formatAddCheckpoint({ oldSize: 0, proof: [], checkpoint: elsewhere }))).status).toBe(404);
    expect((await submit("old x\n\nnot a note")).status).toBe(400);
    expect((await submit(formatAddCheckpoint({ oldSize: 5, proof: [], checkpoint: await logSigned(origin, 1, "00".repeat(32)) }))).status).toBe(400);
    // Its identity: name and vkey, which the test configuration computed the same way.
    expect(await (await witnessFetcher().fetch("https://witness.warden.test/")).text()).toBe(`${witnessKey.name}\n${witnessVkey(witnessKey.name, witnessKey.publicKey)}\n`);
  });
});

describe("warden audit verify with a witness policy", () => {
  it("a witnessed export meets the policy; a split view (the operator's rewrite, re-signed with the log key) does not, and a kept checkpoint exposes it", async () => {
    const { id, stub } = await witnessedDevice();
    await appendMany(stub, 5);
    await runAlarms(stub, 2);
    const lines = await exportLines(id);
    const { keys } = await publishedLogKeys();
    const genuine = await verifyExport(lines, { keys, witnesses: [witnessKey] });
    expect(genuine.failure).toBeNull();
    expect(genuine.witnesses).toEqual([witnessKey.name]);

    const forged = await forgedExport(lines);
    // Signed by the trusted log key throughout: without a witness policy the rewrite verifies.
    expect((await verifyExport(forged, { keys })).failure).toBeNull();
    expect((await verifyExport(forged, { keys, witnesses: [witnessKey] })).failure).toMatchObject({ code: "witness_policy_unmet" });
    // The witness would not cosign it either: it already cosigned another root at that size.
    const forgedCheckpoint = (JSON.parse(forged[0]!) as { checkpoint: string }).checkpoint;
    const size = parseCheckpointText(parseNote(forgedCheckpoint).text).size;
    expect((await submit(formatAddCheckpoint({ oldSize: size, proof: [], checkpoint: forgedCheckpoint }))).status).toBe(409);
    // An auditor who kept the witnessed checkpoint sees the fork without any witness key.
    const held = (JSON.parse(lines[0]!) as { checkpoint: string }).checkpoint;
    expect((await verifyExport(forged, { keys, held })).failure).toMatchObject({ code: "held_checkpoint_mismatch" });
  });

  it("fewer cosignatures than the policy needs fails, a quorum that is met passes", async () => {
    const { id, stub } = await witnessedDevice();
    await appendMany(stub, 2);
    await runAlarms(stub, 2);
    const lines = await exportLines(id);
    const { keys } = await publishedLogKeys();
    const pair = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"])) as CryptoKeyPair;
    const absent = parseWitnessVkey(witnessVkey("witness.elsewhere.test/w2", new Uint8Array((await crypto.subtle.exportKey("raw", pair.publicKey)) as ArrayBuffer)));
    expect((await verifyExport(lines, { keys, witnesses: [witnessKey, absent] })).failure).toMatchObject({ code: "witness_policy_unmet" });
    expect((await verifyExport(lines, { keys, witnesses: [witnessKey, absent], witnessQuorum: 1 })).failure).toBeNull();
    // An unwitnessed log cannot meet any policy.
    const plain = await registeredDevice();
    await configure(plain.stub, { tuning: { checkpointEntries: 1 } });
    await runAlarms(plain.stub, 2);
    expect((await verifyExport(await exportLines(plain.id), { keys, witnesses: [witnessKey] })).failure).toMatchObject({ code: "witness_policy_unmet" });
  });
});

describe("decision receipts", () => {
  async function decided() {
    const client = await readyDevice();
    const stub = deviceStub(client.deviceId);
    await configure(stub, { io: { witnesses: () => witnessed }, tuning: { checkpointEntries: 1000, checkpointSeconds: 3600 } });
    const decision = (await client.decide(fileAction("file.read", "/home/dev/project/README.md"))).body as { decision: string; decision_id: string; log: { seq: number } };
    return { client, stub, decision };
  }

  it("a device's receipt: the decision, its session, inclusion proofs to a freshly signed, witnessed checkpoint; verifies offline", async () => {
    const { client, stub, decision } = await decided();
    // The review evidence of a hold reaches the log through the same append the outbox uses.
    await stub.append("review.approved", { decision_id: decision.decision_id, review_id: "r-1", verdict: "approve" }, Date.now());
    const response = await client.authorized<Receipt>("GET", `/v1/decisions/${decision.decision_id}/receipt?seq=${decision.log.seq}`);
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    const receipt = response.body;
    expect(receipt.entry).toMatchObject({ seq: decision.log.seq, type: "decision", data: { decision_id: decision.decision_id } });
    expect(receipt.entry).not.toHaveProperty("mac");
    expect(receipt.related.map((r) => r.entry.type)).toEqual(["session.opened", "review.approved"]);
    const report = await verifyReceipt(JSON.stringify(receipt), { keys: (await publishedLogKeys()).keys, witnesses: [witnessKey] });
    expect(report).toMatchObject({ ok: true, decision: decision.decision, seq: decision.log.seq, witnesses: [witnessKey.name] });
    expect(report.checkpoint!.size).toBeGreaterThanOrEqual(decision.log.seq + 1);
  });

  it("fails on any changed byte of the receipt", async () => {
    const { client, decision } = await decided();
    const response = await auditorGet(`/v1/decisions/${decision.decision_id}/receipt?seq=${decision.log.seq}&device=${client.deviceId}`);
    expect(response.status).toBe(200);
    const bytes = new Uint8Array(await response.arrayBuffer());
    const options = { keys: (await publishedLogKeys()).keys, witnesses: [witnessKey] };
    expect((await verifyReceipt(bytes, options)).ok).toBe(true);
    const survivors: number[] = [];
    for (let at = 0; at < bytes.length; at += 1) {
      const changed = bytes.slice();
      changed[at]! ^= 0x01;
      if ((await verifyReceipt(changed, options)).ok) survivors.push(at);
    }
    expect(survivors.map((at) => new TextDecoder().decode(bytes.subarray(Math.max(0, at - 20), at + 20)))).toEqual([]);
  });

  it("proves decisions already archived to R2 from the segment's bytes", async () => {
    const { client, stub, decision } = await decided();
    await configure(stub, { tuning: { checkpointEntries: 1, segmentEntries: 2, segmentMinutes: 0 } });
    await runAlarms(stub, 8);
    expect((await stub.readLog(0, 10)).entries.map((text) => (JSON.parse(text) as LogEntry).seq)).not.toContain(decision.log.seq);
    const response = await auditorGet(`/v1/decisions/${decision.decision_id}/receipt?seq=${decision.log.seq}&device=${client.deviceId}`);
    expect(response.status, await response.clone().text()).toBe(200);
    expect((await verifyReceipt(await response.text(), { keys: (await publishedLogKeys()).keys })).ok).toBe(true);
  });

  it("refuses what is not a decision of the device, and reaches only the device's own log", async () => {
    const { client, decision } = await decided();
    expect((await auditorGet(`/v1/decisions/${decision.decision_id}/receipt?seq=1&device=${client.deviceId}`)).status).toBe(404);
    const wrong = await auditorGet(`/v1/decisions/other-id/receipt?seq=${decision.log.seq}&device=${client.deviceId}`);
    expect(await wrong.json()).toMatchObject({ code: "unknown_decision" });
    expect((await auditorGet(`/v1/decisions/${decision.decision_id}/receipt?seq=${decision.log.seq}`)).status).toBe(400);
    const other = await readyDevice();
    expect((await other.authorized("GET", `/v1/decisions/${decision.decision_id}/receipt?seq=${decision.log.seq}&device=${client.deviceId}`)).status).toBe(404);
  });
});
