import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { byteLines, verifyExport, type VerifyOptions } from "../../worker/log/export-verify.ts";
import type { DeviceLog } from "../../durable-objects/DeviceLog.ts";
import { canonicalJson, type JsonValue } from "../../worker/log/canonical.ts";
import { entryHash, type LogEntry } from "../../worker/log/chain.ts";
import { checkpointText, parseCheckpointText } from "../../worker/log/checkpoint.ts";
import { importLogSigningKey, noteSignerFor, type LogKey } from "../../worker/log/keys.ts";
import { parseMacKey } from "../../worker/log/mac.ts";
import { parseNote, signNote } from "../../worker/log/note.ts";
import { appendMany, auditorGet, configure, freshLogSigningKey, liveEntries, publishedLogKeys, registeredDevice, runAlarms } from "../audit-helpers.ts";
import { activate, fileAction, readyDevice } from "../helpers.ts";
import { exportRecords } from "../../worker/log/export-stream.ts";
import type { ExportManifest, ExportManifestBody, ExportRotation } from "../../worker/log/export.ts";
import { EMPTY_FRONTIER } from "../../worker/log/merkle.ts";
import { rotationText } from "../../worker/log/rotation.ts";

type Stub = DurableObjectStub<DeviceLog>;

const SMALL = { checkpointEntries: 5, checkpointSeconds: 3600, segmentEntries: 10, segmentMinutes: 600, retrySeconds: 30 };

async function alarm(stub: Stub, times = 8): Promise<void> {
  await runDurableObjectAlarm(stub);
  await runAlarms(stub, times);
}

async function exportLines(id: string, query = ""): Promise<string[]> {
  const response = await auditorGet(`/v1/devices/${id}/export${query}`);
  expect(response.status).toBe(200);
  return new TextDecoder().decode(await response.arrayBuffer()).split("\n").filter((line) => line.length > 0);
}

let options: VerifyOptions;

async function verifierOptions(extra: Partial<VerifyOptions> = {}): Promise<VerifyOptions> {
  return { ...options, ...extra, keys: (await publishedLogKeys()).keys };
}

/**
 * A device whose log has two sealed segments (1-10, 11-20), a checkpoint at 26,
 * and four unsigned entries after it (27-30).
 */
async function archivedDevice(): Promise<{ id: string; stub: Stub }> {
  const device = await registeredDevice();
  // No alarm falls due while appending, so the one run below signs exactly 26 and seals 1-20.
  await configure(device.stub, { tuning: { ...SMALL, checkpointEntries: 1000 } });
  await appendMany(device.stub, 25);
  await configure(device.stub, { tuning: SMALL });
  await alarm(device.stub);
  await configure(device.stub, { tuning: { ...SMALL, checkpointEntries: 1000 } });
  await appendMany(device.stub, 4);
  return device;
}

beforeAll(async () => {
  options = { keys: [], macKeys: [parseMacKey(env.LOG_HMAC_KEY!)] };
});

describe("export", () => {
  it("streams segments, their manifests, the live tail and a signed manifest that verifies offline", async () => {
    const { id } = await archivedDevice();
    const response = await auditorGet(`/v1/devices/${id}/export`);
    expect(response.headers.get("content-type")).toMatch(/^application\/x-ndjson/);
    expect(response.body).toBeInstanceOf(ReadableStream);
    const lines = new TextDecoder().decode(await response.arrayBuffer()).trimEnd().split("\n");
    const kinds = lines.map((line) => (JSON.parse(line) as { kind?: string }).kind ?? "entry");
    expect(kinds[0]).toBe("export");
    expect(kinds.filter((kind) => kind === "segment")).toHaveLength(2);
    expect(kinds.filter((kind) => kind === "entry")).toHaveLength(30);
    expect(kinds.at(-1)).toBe("manifest");

    const report = await verifyExport(lines, await verifierOptions());
    expect(report.failure).toBeNull();
    expect(report).toMatchObject({ ok: true, entries: 30, segments: 2, range: { from: 1, to: 30 }, hmac: { checked: 30, unchecked: 0 } });
    expect(report.checkpoint).toMatchObject({ size: 26, compared: true });

    const manifest = JSON.parse(parseNote((JSON.parse(lines.at(-1)!) as { note: string }).note).text) as Record<string, unknown>;
    expect(manifest).toMatchObject({ tenant: env.TENANT, device: id, range: { from: 1, to: 30 }, count: 30 });
    expect(manifest["checkpoint"]).toMatch(/\n26\n/);
    expect(manifest["generated_at"]).toEqual(expect.any(String));
  });

  it.each([
    ["from inside a segment", "?from=5&to=23", 5, 23],
    ["from a segment boundary into the tail", "?from=11&to=30", 11, 30],
    ["only the live tail", "?from=22", 22, 30],
    ["inside one segment", "?from=12&to=18", 12, 18],
  ])("verifies a range %s", async (_name, query, from, to) => {
    const { id } = await archivedDevice();
    const report = await verifyExport(await exportLines(id, query), await verifierOptions());
    expect(report.failure).toBeNull();
    expect(report).toMatchObject({ ok: true, entries: to - from + 1, range: { from, to } });
  });

  it("keeps streaming correctly when segments are archived while the export is being read", async () => {
    const { id, stub } = await registeredDevice();
    // No alarm may run while the 700 are appended, however long that takes on a loaded machine:
    // one run now reschedules under this tuning, and events (irrelevant here) stay off.
    await configure(stub, { tuning: { ...SMALL, checkpointEntries: 1000 }, io: { events: null } });
    await runAlarms(stub, 1);
    await appendMany(stub, 700);
    const start = await stub.exportStart();
    // The route's generator, driven by hand so the archival lands between two of its steps.
    const records = exportRecords({
      store: stub,
      archive: env.ARCHIVE,
      tenant: env.TENANT,
      device: id,
      origin: `warden.example.com/log/${env.TENANT}/${id}`,
      from: 1,
      to: start.head.seq,
      head: start.head,
      checkpoint: start.checkpoint?.note ?? null,
      now: Date.now(),
    });
    const decoder = new TextDecoder();
    let text = "";
    let archived = false;
    for await (const piece of records) {
      text += typeof piece === "string" ? `${piece}\n` : decoder.decode(piece, { stream: true });
      if (!archived && text.split("\n").length > 400) {
        // The first tail page (500 entries) is out: sign and archive behind and ahead of the cursor.
        await configure(stub, { tuning: { ...SMALL, checkpointEntries: 5, segmentEntries: 100 } });
        await alarm(stub, 10);
        archived = true;
      }
    }
    const lines = text.trimEnd().split("\n");
    const report = await verifyExport(lines, await verifierOptions());
    expect(report.failure).toBeNull();
    expect(report.entries).toBe(701);
    // Entries 501-700 came from segments sealed after the export began.
    expect(report.segments).toBe(2);
  });

  it("verifies across a log key rotation, with the new key learnt from the published set", async () => {
    const { id, stub } = await archivedDevice();
    const newSource = await freshLogSigningKey();
    await configure(stub, { io: { keys: () => ({ current: newSource, previous: env.LOG_SIGNING_KEY }) } });
    await appendMany(stub, 1);
    await alarm(stub);
    await appendMany(stub, 2);
    const lines = await exportLines(id);
    // The set a deployment publishes during the rotation: the new key current, the old one previous.
    const rotating = { ...options, keys: (await publishedLogKeys({ current: newSource, previous: env.LOG_SIGNING_KEY! })).keys };
    const report = await verifyExport(lines, rotating);
    expect(report.failure).toBeNull();
    expect(report).toMatchObject({ ok: true, rotations: 1, entries: 34 });
    expect(report.manifestKey).toBe((await importLogSigningKey(newSource)).kid);

    // A rotation statement signed by the new key alone does not pass, even re-linked.
    const rotationSeq = (JSON.parse(lines.find((line) => line.includes('"log.key_rotated"'))!) as LogEntry).seq;
    const newKey = await importLogSigningKey(newSource);
    const rotation = JSON.parse(lines[entryIndex(lines, rotationSeq)]!) as LogEntry;
    const statement = parseNote(rotation.data["statement"] as string);
    const forged = await signNote(statement.text, [noteSignerFor(newKey, (JSON.parse(lines[0]!) as { origin: string }).origin)]);
    const tampered = rewrite(lines, rotationSeq, (entry) => {
      const body = { ...entry, data: { ...entry.data, statement: forged } };
      return { ...body, hash: entryHash(body) };
    });
    const failure = (await verifyExport(tampered, rotating)).failure;
    expect(failure).toMatchObject({ code: "rotation_invalid", seq: rotationSeq });
    expect(failure!.message).toContain("does not verify");
  });

  it("is for admins and auditors only; unknown devices and empty ranges are refused", async () => {
    const device = await readyDevice();
    expect((await device.authorized("GET", `/v1/devices/${device.deviceId}/export`)).status).toBe(403);
    expect((await auditorGet(`/v1/devices/no-such-device/export`)).status).toBe(404);
    const empty = await auditorGet(`/v1/devices/${device.deviceId}/export?from=50`);
    expect(empty.status).toBe(400);
    expect(((await empty.json()) as { code: string }).code).toBe("malformed_request");
  });
});

/** Line index helpers over an export. */
function entryIndex(lines: string[], seq: number): number {
  return lines.findIndex((line) => (JSON.parse(line) as { seq?: number }).seq === seq);
}

function rewrite(lines: string[], seq: number, change: (entry: LogEntry) => LogEntry): string[] {
  const copy = [...lines];
  const index = entryIndex(copy, seq);
  copy[index] = JSON.stringify(change(JSON.parse(copy[index]!) as LogEntry));
  return copy;
}

describe("warden audit verify detects tampering, each with its own message", () => {
  let lines: string[];
  let id: string;
  let stub: Stub;

  beforeAll(async () => {
    ({ id, stub } = await archivedDevice());
    lines = await exportLines(id);
  });

  async function failureOf(tampered: string[], extra: Partial<VerifyOptions> = {}) {
    const report = await verifyExport(tampered, await verifierOptions(extra));
    expect(report.ok).toBe(false);
    return report.failure!;
  }

  it("an edited field", async () => {
    const failure = await failureOf(rewrite(lines, 14, (entry) => ({ ...entry, data: { ...entry.data, index: 999 } })));
    expect(failure).toMatchObject({ code: "entry_edited", seq: 14 });
    expect(failure.message).toMatch(/seq 14: the entry's contents do not match its hash/);
  });

  it("a deleted entry", async () => {
    const failure = await failureOf(lines.filter((_, index) => index !== entryIndex(lines, 28)));
    expect(failure).toMatchObject({ code: "entry_missing", seq: 28 });
    expect(failure.message).toMatch(/seq 28 is missing/);
  });

  it("swapped entries", async () => {
    const copy = [...lines];
    const a = entryIndex(copy, 23);
    [copy[a], copy[a + 1]] = [copy[a + 1]!, copy[a]!];
    const failure = await failureOf(copy);
    expect(failure).toMatchObject({ code: "entries_reordered", seq: 23 });
    expect(failure.message).toMatch(/swapped/);
  });

  it("a truncated tail", async () => {
    const failure = await failureOf(lines.slice(0, entryIndex(lines, 27)));
    expect(failure).toMatchObject({ code: "truncated", seq: 27 });
    expect(failure.message).toMatch(/ends after seq 26.*truncated/);
  });

  it("a swapped segment", async () => {
    const first = lines.findIndex((line) => line.includes('"kind":"segment"'));
    const second = lines.findIndex((line, index) => index > first && line.includes('"kind":"segment"'));
    const tail = entryIndex(lines, 21);
    const swapped = [...lines.slice(0, first), ...lines.slice(second, tail), ...lines.slice(first, second), ...lines.slice(tail)];
    const failure = await failureOf(swapped);
    expect(failure).toMatchObject({ code: "segment_chain_broken", seq: 1 });
    expect(failure.message).toMatch(/segment 11-20 arrives where seq 1 was expected/);
  });

  it("a checkpoint older than one the auditor holds (rollback)", async () => {
    await configure(stub, { tuning: SMALL });
    await appendMany(stub, 10);
    const held = ((await (await auditorGet(`/v1/devices/${id}/checkpoint`)).json()) as { note: string; size: number });
    expect(held.size).toBeGreaterThan(30);
    const failure = await failureOf(lines, { held: held.note });
    expect(failure).toMatchObject({ code: "checkpoint_rollback", seq: 27 });
    expect(failure.message).toMatch(new RegExp(`size 26.*older than the checkpoint you hold \\(size ${held.size}`));
  });

  it("a re-signed entry with an unknown key", async () => {
    const attacker = await importLogSigningKey(await freshLogSigningKey());
    // Rewrite entry 28 (after the checkpoint), relink everything after it, and re-sign the manifest.
    const copy = [...lines];
    let prev: string | null = null;
    for (let seq = 28; seq <= 30; seq += 1) {
      const index = entryIndex(copy, seq);
      const entry = JSON.parse(copy[index]!) as LogEntry;
      const body: LogEntry = { ...entry, prev: prev ?? entry.prev, key: attacker.kid, data: seq === 28 ? { index: "rewritten" } : entry.data };
      const rewritten: LogEntry = { ...body, hash: entryHash(body) };
      prev = rewritten.hash;
      copy[index] = JSON.stringify(rewritten);
    }
    const manifestLine = JSON.parse(copy.at(-1)!) as { note: string };
    const manifest = JSON.parse(parseNote(manifestLine.note).text) as { heads: { end: string }; key: string; origin: string };
    manifest.heads.end = prev!;
    manifest.key = attacker.kid;
    copy[copy.length - 1] = JSON.stringify({
      kind: "manifest",
      note: await signNote(`${canonicalJson(manifest as unknown as JsonValue)}\n`, [noteSignerFor(attacker, manifest.origin)]),
    });
    const failure = await failureOf(copy);
    expect(failure).toMatchObject({ code: "unknown_key", seq: 28 });
    expect(failure.message).toMatch(/seq 28 names log key .* not among the trusted keys/);
  });

  it("passes untouched, also against an earlier checkpoint the auditor kept", async () => {
    const earlier = lines[0] && ((JSON.parse(lines[0]) as { checkpoint: string }).checkpoint);
    const later = await exportLines(id);
    const report = await verifyExport(later, await verifierOptions({ held: earlier }));
    expect(report.failure).toBeNull();
    expect(report.held).toMatchObject({ size: 26, compared: true });
  });

  it("an HMAC that does not match when the entry was rewritten by someone holding only the signing key", async () => {
    const copy = rewrite(lines, 29, (entry) => {
      const body = { ...entry, data: { index: "forged" } };
      return { ...body, hash: entryHash(body) };
    });
    // Relink 30 to the forged 29 so only the HMAC can tell.
    const forged = JSON.parse(copy[entryIndex(copy, 29)]!) as LogEntry;
    const relinked = rewrite(copy, 30, (entry) => {
      const body = { ...entry, prev: forged.hash };
      return { ...body, hash: entryHash(body) };
    });
    const failure = await failureOf(relinked);
    expect(failure).toMatchObject({ code: "hmac_mismatch", seq: 29 });
  });

  it("a checkpoint the log signed for another history (fork)", async () => {
    const real = await importLogSigningKey(env.LOG_SIGNING_KEY);
    const header = JSON.parse(lines[0]!) as { origin: string; checkpoint: string };
    const genuine = parseCheckpointText(parseNote(header.checkpoint).text);
    const fork = await signNote(checkpointText({ ...genuine, size: 15, root: "ab".repeat(32), head: "cd".repeat(32) }), [noteSignerFor(real, header.origin)]);
    const failure = await failureOf(lines, { held: fork });
    expect(failure).toMatchObject({ code: "held_checkpoint_mismatch", seq: 15 });
  });
});

describe("warden audit verify reads every line strictly", () => {
  let lines: string[];
  let id: string;

  beforeAll(async () => {
    ({ id } = await archivedDevice());
    lines = await exportLines(id);
  });

  async function failureOf(tampered: (string | Uint8Array)[], extra: Partial<VerifyOptions> = {}) {
    const report = await verifyExport(tampered, await verifierOptions(extra));
    expect(report.ok).toBe(false);
    return report.failure!;
  }

  it('a decision edited to `"decision":"permit","decision":"deny"` (the hash JSON.parse recomputes still matches)', async () => {
    await activate();
    const device = await readyDevice();
    expect((await device.decide(fileAction("file.read", "/etc/shadow"))).body).toMatchObject({ decision: "deny" });
    const exported = await exportLines(device.deviceId);
    expect((await verifyExport(exported, await verifierOptions())).failure).toBeNull();
    const index = exported.findIndex((line) => line.includes('"decision":"deny"'));
    expect(index).toBeGreaterThan(0);
    const seq = (JSON.parse(exported[index]!) as LogEntry).seq;
    const edited = [...exported];
    edited[index] = edited[index]!.replace('"decision":"deny"', '"decision":"permit","decision":"deny"');
    const failure = await failureOf(edited);
    expect(failure).toMatchObject({ code: "duplicate_key", seq: null });
    expect(failure.message).toMatch(new RegExp(`^line ${index + 1} has two members of the same name`));
    // The same entry still hashes as it did, so only the strict reading tells.
    expect(entryHash(JSON.parse(edited[index]!) as LogEntry)).toBe((JSON.parse(exported[index]!) as LogEntry).hash);
    expect(seq).toBeGreaterThan(0);
  });

  it("a duplicate in the header, and one deep inside an entry's data", async () => {
    const header = [`{"kind":"export","kind":"export",${lines[0]!.slice(1)}`, ...lines.slice(1)];
    expect(await failureOf(header)).toMatchObject({ code: "duplicate_key", message: expect.stringMatching(/^line 1 /) });
    const index = entryIndex(lines, 27);
    const deep = [...lines];
    deep[index] = deep[index]!.replace('"data":{', '"data":{"index":0,');
    expect(await failureOf(deep)).toMatchObject({ code: "duplicate_key", message: expect.stringMatching(new RegExp(`^line ${index + 1} `)) });
  });

  it("a lone surrogate, an unsafe integer and invalid UTF-8 inside a line are malformed lines; a line cut inside a character is truncation", async () => {
    const index = entryIndex(lines, 27);
    const withData = (data: string) => {
      const copy: (string | Uint8Array)[] = [...lines];
      copy[index] = lines[index]!.replace('"data":{', `"data":{${data},`);
      return copy;
    };
    expect(await failureOf(withData('"note":"\\ud800"'))).toMatchObject({ code: "malformed_line", message: expect.stringContaining("lone_surrogate") });
    expect(await failureOf(withData('"note":9007199254740993'))).toMatchObject({ code: "malformed_line", message: expect.stringContaining("unsafe_integer") });
    const bytes = [...lines].map((line) => new TextEncoder().encode(line)) as (string | Uint8Array)[];
    const bad = new TextEncoder().encode(lines[index]!);
    bytes[index] = Uint8Array.from([...bad.subarray(0, 10), 0xc3, 0x28, ...bad.subarray(10)]);
    expect(await failureOf(bytes)).toMatchObject({ code: "malformed_line" });
    // The export cut inside a two-byte character of its last line.
    const cut = [...lines.slice(0, index).map((line) => new TextEncoder().encode(line)), Uint8Array.from([...new TextEncoder().encode(lines[index]!.slice(0, 40)), 0xc3])];
    expect(await failureOf(cut)).toMatchObject({ code: "truncated", seq: 27 });
    // The untouched export, as bytes: verified.
    expect((await verifyExport(lines.map((line) => new TextEncoder().encode(line)), await verifierOptions())).failure).toBeNull();
  });

  it("byteLines splits on LF (dropping a CR before it) across chunk boundaries, keeping a last line without LF", async () => {
    const text = '{"a":1}\r\n{"b":"é"}\n\n{"c":3}';
    const bytes = new TextEncoder().encode(text);
    async function* chunks(size: number) {
      for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
    }
    for (const size of [1, 2, 5, bytes.length]) {
      const out: string[] = [];
      for await (const line of byteLines(chunks(size))) out.push(new TextDecoder().decode(line));
      expect(out).toEqual(['{"a":1}', '{"b":"é"}', "", '{"c":3}']);
    }
  });
});

describe("warden audit verify fails when it cannot check the HMACs it was asked to (--hmac-key)", () => {
  let lines: string[];

  beforeAll(async () => {
    const { id } = await archivedDevice();
    // The live tail only (21-30): no segment digests cover the lines, so nothing else notices a stripped mac.
    lines = await exportLines(id, "?from=21");
  });

  const stripped = (line: string) => {
    const value = JSON.parse(line) as Record<string, unknown>;
    if (value["kind"] !== undefined) return line;
    const { mac: _mac, mac_key: _key, ...rest } = value;
    return JSON.stringify(rest);
  };

  it("control: the tail verifies with its HMACs checked (all but the first, whose predecessor is not exported)", async () => {
    const report = await verifyExport(lines, await verifierOptions());
    expect(report.failure).toBeNull();
    expect(report.hmac).toMatchObject({ checked: 9, unchecked: 1 });
  });

  it("every mac removed: hmac_missing at the first entry; without --hmac-key it verifies, HMACs unchecked", async () => {
    const failure = (await verifyExport(lines.map(stripped), await verifierOptions())).failure;
    expect(failure).toMatchObject({ code: "hmac_missing", seq: 21 });
    expect(failure!.message).toMatch(/seq 21 has no HMAC/);
    const without = await verifyExport(lines.map(stripped), await verifierOptions({ macKeys: [] }));
    expect(without.failure).toBeNull();
    expect(without.hmac).toMatchObject({ checked: 0, unchecked: 0 });
  });

  it("one mac removed in the middle: hmac_missing naming that seq", async () => {
    const failure = (await verifyExport(rewrite(lines, 25, ({ mac: _mac, mac_key: _key, ...entry }) => entry as LogEntry), await verifierOptions())).failure;
    expect(failure).toMatchObject({ code: "hmac_missing", seq: 25 });
  });

  it("an unknown mac_key: hmac_key_unknown naming the seq", async () => {
    const failure = (await verifyExport(rewrite(lines, 28, (entry) => ({ ...entry, mac_key: "0123456789abcdef" })), await verifierOptions())).failure;
    expect(failure).toMatchObject({ code: "hmac_key_unknown", seq: 28 });
    expect(failure!.message).toMatch(/seq 28: its HMAC is by key 0123456789abcdef/);
    // A mac without any mac_key is by an unknown key too.
    const keyless = (await verifyExport(rewrite(lines, 22, ({ mac_key: _key, ...entry }) => entry as LogEntry), await verifierOptions())).failure;
    expect(keyless).toMatchObject({ code: "hmac_key_unknown", seq: 22 });
  });
});

describe("an incremental export, from the entry after a checkpoint (keep the last checkpoint, export from the next entry)", () => {
  let lines: string[];
  let header: { origin: string; checkpoint: string };

  beforeAll(async () => {
    const { id } = await archivedDevice();
    // The export's checkpoint is at 26, the size just before the range: nothing in the range reaches it.
    lines = await exportLines(id, "?from=27");
    header = JSON.parse(lines[0]!) as { origin: string; checkpoint: string };
  });

  /** A checkpoint at 26 signed by the log's own key, its root or head replaced. */
  async function signedAt26(change: { root?: string; head?: string }): Promise<string> {
    const genuine = parseCheckpointText(parseNote(header.checkpoint).text);
    expect(genuine.size).toBe(26);
    return signNote(checkpointText({ ...genuine, ...change }), [noteSignerFor(await importLogSigningKey(env.LOG_SIGNING_KEY), header.origin)]);
  }

  it("verifies, its checkpoint at from - 1 compared (root with the header's tree, head with entry 27's prev), and against that checkpoint held", async () => {
    const report = await verifyExport(lines, await verifierOptions());
    expect(report.failure).toBeNull();
    expect(report).toMatchObject({ ok: true, entries: 4, range: { from: 27, to: 30 } });
    expect(report.checkpoint).toMatchObject({ size: 26, compared: true });
    expect(report.warnings.join("\n")).not.toMatch(/outside the exported range/);

    const held = await verifyExport(lines, await verifierOptions({ held: header.checkpoint }));
    expect(held.failure).toBeNull();
    expect(held.held).toMatchObject({ size: 26, compared: true });
  });

  it("a held checkpoint at from - 1 whose head is not entry 27's prev is a fork", async () => {
    const failure = (await verifyExport(lines, await verifierOptions({ held: await signedAt26({ head: "cd".repeat(32) }) }))).failure;
    expect(failure).toMatchObject({ code: "held_checkpoint_mismatch", seq: 26 });
  });

  it("a held checkpoint at from - 1 whose root is not the header's tree is a fork", async () => {
    const failure = (await verifyExport(lines, await verifierOptions({ held: await signedAt26({ root: "ab".repeat(32) }) }))).failure;
    expect(failure).toMatchObject({ code: "held_checkpoint_mismatch", seq: 26 });
  });

  it("an export's checkpoint at from - 1 naming another head does not match", async () => {
    const forged = [JSON.stringify({ ...header, checkpoint: await signedAt26({ head: "cd".repeat(32) }) }), ...lines.slice(1)];
    const failure = (await verifyExport(forged, await verifierOptions())).failure;
    expect(failure).toMatchObject({ code: "checkpoint_mismatch", seq: 26 });
  });

  it("a first entry relinked to another predecessor does not match the checkpoint at from - 1", async () => {
    // Entry 27 re-hashed over another prev, 28 relinked to it: the chain inside the export holds, only the checkpoint can tell.
    const moved = rewrite(lines, 27, (entry) => {
      const body = { ...entry, prev: "ef".repeat(32) };
      return { ...body, hash: entryHash(body) };
    });
    const first = JSON.parse(moved[entryIndex(moved, 27)]!) as LogEntry;
    const relinked = rewrite(moved, 28, (entry) => {
      const body = { ...entry, prev: first.hash };
      return { ...body, hash: entryHash(body) };
    });
    const failure = (await verifyExport(relinked, await verifierOptions())).failure;
    expect(failure).toMatchObject({ code: "checkpoint_mismatch", seq: 26 });
  });
});

describe("an export of a range that ends before a log key rotation", () => {
  let id: string;
  let keyA: string;
  let keyB: string;
  let keyC: string;
  let sourceB: string;
  let sourceC: string;

  /**
   * The verifier's options with the key set as the deployment publishes it now, C alone
   * configured: A and B are published as retired, each vouched for by the statement of its
   * rotation the log wrote to the archive.
   */
  async function deployedOptions(): Promise<VerifyOptions> {
    return { ...options, keys: (await publishedLogKeys({ current: sourceC })).keys };
  }
  /** The manifest of an export. */
  function manifestOf(lines: string[]): ExportManifest {
    return JSON.parse(parseNote((JSON.parse(lines.at(-1)!) as { note: string }).note).text) as ExportManifest;
  }
  /** The export with its manifest replaced by `manifest` signed by `signer`. */
  async function resigned(lines: string[], manifest: ExportManifest, signer: Awaited<ReturnType<typeof importLogSigningKey>>): Promise<string[]> {
    const note = await signNote(`${canonicalJson(manifest as unknown as JsonValue)}\n`, [noteSignerFor(signer, manifest.origin)]);
    return [...lines.slice(0, -1), JSON.stringify({ kind: "manifest", note })];
  }

  beforeAll(async () => {
    // Segments 1-10 and 11-20, a checkpoint at 26, 27-30 unsigned; then A → B at 32 and B → C at 35.
    const device = await archivedDevice();
    id = device.id;
    sourceB = await freshLogSigningKey();
    sourceC = await freshLogSigningKey();
    keyA = (await importLogSigningKey(env.LOG_SIGNING_KEY)).kid;
    keyB = (await importLogSigningKey(sourceB)).kid;
    keyC = (await importLogSigningKey(sourceC)).kid;
    await configure(device.stub, { io: { keys: () => ({ current: sourceB, previous: env.LOG_SIGNING_KEY }) } });
    await appendMany(device.stub, 1);
    await alarm(device.stub);
    await appendMany(device.stub, 2);
    // Key A is no longer configured after the second rotation: the log can no longer sign with it.
    await configure(device.stub, { io: { keys: () => ({ current: sourceC, previous: sourceB }) } });
    await alarm(device.stub);
    await appendMany(device.stub, 1);
    await configure(device.stub, { io: { keys: () => ({ current: sourceC, previous: undefined }) } });
    const rotations = (await exportLines(id)).filter((line) => line.includes('"log.key_rotated"')).map((line) => JSON.parse(line) as LogEntry);
    expect(rotations.map((entry) => [entry.seq, entry.data["from"], entry.data["to"]])).toEqual([
      [32, keyA, keyB],
      [35, keyB, keyC],
    ]);
  });

  it.each([
    ["archived, before both rotations", "?from=1&to=20", 2],
    ["live, before both rotations", "?from=22&to=30", 2],
    ["up to the entry before the first rotation", "?from=27&to=31", 2],
    ["between the two rotations", "?from=30&to=33", 1],
    ["ending at the last rotation", "?from=30&to=35", 0],
  ])("verifies a range %s: the manifest, signed by the key the log names now, carries the rotations after it", async (_name, query, carried) => {
    const lines = await exportLines(id, query);
    const report = await verifyExport(lines, await deployedOptions());
    expect(report.failure).toBeNull();
    expect(report).toMatchObject({ ok: true, manifestKey: keyC, manifestRotations: carried });
    expect(manifestOf(lines).rotations.map((rotation) => rotation.seq)).toEqual([32, 35].slice(2 - carried));
  });

  it("a manifest re-signed by a trusted key the log's rotations do not lead to fails, however its rotations are changed", async () => {
    const lines = await exportLines(id, "?from=1&to=20");
    const attacker = await importLogSigningKey(await freshLogSigningKey());
    // The attacker's key is trusted (as any key written into the archive's log-keys/ prefix was, before a rotation had to vouch for it).
    const withAttacker = async () => ({ ...(await deployedOptions()), keys: [...(await publishedLogKeys({ current: sourceC })).keys, attacker] });
    const genuine = manifestOf(lines);

    const kept = await resigned(lines, { ...genuine, key: attacker.kid }, attacker);
    expect((await verifyExport(kept, await withAttacker())).failure).toMatchObject({ code: "manifest_mismatch" });
    expect((await verifyExport(kept, await withAttacker())).failure!.message).toMatch(new RegExp(`signed by ${attacker.kid}, but the log names ${keyC} after the 2 rotation`));

    const dropped = await resigned(lines, { ...genuine, rotations: [], key: attacker.kid }, attacker);
    expect((await verifyExport(dropped, await withAttacker())).failure).toMatchObject({ code: "manifest_mismatch" });
    expect((await verifyExport(dropped, await withAttacker())).failure!.message).toMatch(new RegExp(`signed by ${attacker.kid}, but the log names ${keyA}$`));

    // A rotation C → attacker signed by the attacker alone does not link it.
    const statement = await signNote(rotationText({ origin: genuine.origin, from: keyC, to: attacker.kid, time: new Date().toISOString() }), [noteSignerFor(attacker, genuine.origin)]);
    const extended = await resigned(lines, { ...genuine, rotations: [...genuine.rotations, { seq: 36, statement }], key: attacker.kid }, attacker);
    expect((await verifyExport(extended, await withAttacker())).failure).toMatchObject({ code: "rotation_invalid", seq: 36 });
  });

  it("the genuine manifest with its rotations removed, reordered or placed inside the range fails", async () => {
    const lines = await exportLines(id, "?from=1&to=20");
    const genuine = manifestOf(lines);
    const [first, second] = genuine.rotations as [ExportRotation, ExportRotation];
    const options = await deployedOptions();
    // Only the log's keys could re-sign these; the test signs with C, the key the log names now.
    const keyNow = await importLogSigningKey(sourceC);
    const cases: [ExportRotation[], string, number | null][] = [
      [[], "manifest_mismatch", null],
      [[second], "rotation_invalid", 35],
      [[second, first], "rotation_invalid", 35],
      [[{ ...first, seq: 20 }, second], "rotation_invalid", 20],
    ];
    for (const [rotations, code, seq] of cases) {
      const failure = (await verifyExport(await resigned(lines, { ...genuine, rotations }, keyNow), options)).failure;
      expect(failure).toMatchObject({ code, seq });
    }
  });

  it("a manifest whose rotations are not a list of {seq, statement} is manifest_invalid; a statement that is not a rotation of this log by two trusted keys is rotation_invalid at its seq", async () => {
    const lines = await exportLines(id, "?from=1&to=20");
    const genuine = manifestOf(lines);
    const [first] = genuine.rotations as [ExportRotation, ExportRotation];
    const options = await deployedOptions();
    const keyNow = await importLogSigningKey(sourceC);
    const [a, b] = [await importLogSigningKey(env.LOG_SIGNING_KEY), await importLogSigningKey(sourceB)];
    const untrusted = await importLogSigningKey(await freshLogSigningKey());
    const statement = (from: LogKey, to: LogKey, signers: LogKey[], origin = genuine.origin) =>
      signNote(rotationText({ origin, from: from.kid, to: to.kid, time: new Date().toISOString() }), signers.map((key) => noteSignerFor(key, origin)));
    const cases: [string, unknown, "manifest_invalid" | "rotation_invalid", number | null][] = [
      ["an object", { 0: first }, "manifest_invalid", null],
      ["a string", "rotations", "manifest_invalid", null],
      ["a number in the list", [32], "manifest_invalid", null],
      ["null in the list", [null], "manifest_invalid", null],
      ["a seq that is a string", [{ ...first, seq: "32" }], "manifest_invalid", null],
      ["a seq that is not an integer", [{ ...first, seq: 32.5 }], "manifest_invalid", null],
      ["no statement", [{ seq: 32 }], "manifest_invalid", null],
      ["a statement that is not text", [{ seq: 32, statement: { note: first.statement } }], "manifest_invalid", null],
      ["a statement that is not a signed note", [{ seq: 32, statement: "from A to B" }], "rotation_invalid", 32],
      ["a signed note that is not a rotation (the export's checkpoint)", [{ seq: 32, statement: genuine.checkpoint }], "rotation_invalid", 32],
      ["A → B signed by A alone", [{ seq: 32, statement: await statement(a, b, [a]) }], "rotation_invalid", 32],
      ["A → B signed by both under another log's origin", [{ seq: 32, statement: await statement(a, b, [a, b], `${genuine.origin}-other`) }], "rotation_invalid", 32],
      ["A → a key the auditor does not trust, signed by both", [{ seq: 32, statement: await statement(a, untrusted, [a, untrusted]) }], "rotation_invalid", 32],
    ];
    for (const [name, rotations, code, seq] of cases) {
      const failure = (await verifyExport(await resigned(lines, { ...genuine, rotations } as unknown as ExportManifest, keyNow), options)).failure;
      expect(failure, name).toMatchObject({ code, seq });
    }
  });
});

describe("an export manifest over a key table that disagrees with the log's entries", () => {
  it("is refused storage_error when the entry where a key took over is not its rotation (moved, past the head, retyped, naming another key, without its statement), and the export ends without a manifest", async () => {
    const { id, stub } = await registeredDevice();
    await configure(stub, { tuning: { ...SMALL, checkpointEntries: 1000, segmentEntries: 1000 } });
    await appendMany(stub, 2);
    const sourceB = await freshLogSigningKey();
    await configure(stub, { io: { keys: () => ({ current: sourceB, previous: env.LOG_SIGNING_KEY }) } });
    await runAlarms(stub, 1);
    await appendMany(stub, 2);
    const [keyA, keyB] = [(await importLogSigningKey(env.LOG_SIGNING_KEY)).kid, (await importLogSigningKey(sourceB)).kid];
    const entries = await liveEntries(stub);
    const rotation = entries.find((entry) => entry.type === "log.key_rotated")!;
    expect(rotation.data["to"]).toBe(keyB);
    const head = entries.at(-1)!;

    // What the export stream asks the log to sign for entries 1-2, before the rotation.
    const body: ExportManifestBody = {
      tenant: env.TENANT,
      device: id,
      range: { from: 1, to: 2 },
      count: 2,
      heads: { start: "0".repeat(64), end: entries[1]!.hash, head: { seq: head.seq, hash: head.hash } },
      tree: EMPTY_FRONTIER,
      segments: [],
      checkpoint: null,
      generated_at: new Date().toISOString(),
    };
    const sign = () => runInDurableObject(stub, (instance: DeviceLog) => instance.signExportManifest(body));
    const sql = (query: string, ...bindings: (string | number)[]) => runInDurableObject(stub, (_instance: DeviceLog, state) => void state.storage.sql.exec(query, ...bindings));
    const stored = JSON.stringify(rotation);
    const storeRotation = (change: (entry: LogEntry) => LogEntry) => sql("UPDATE log SET entry = ? WHERE seq = ?", JSON.stringify(change(rotation)), rotation.seq);
    // Control: intact, the manifest carries the rotation's statement.
    expect((JSON.parse(parseNote(await sign()).text) as ExportManifest).rotations).toEqual([{ seq: rotation.seq, statement: rotation.data["statement"] }]);

    const cases: [string, () => Promise<void>, () => Promise<void>][] = [
      ["the key's row points at the entry after its rotation", () => sql("UPDATE log_keys SET first_seq = ? WHERE kid = ?", rotation.seq + 1, keyB), () => sql("UPDATE log_keys SET first_seq = ? WHERE kid = ?", rotation.seq, keyB)],
      ["the key's row points past the head", () => sql("UPDATE log_keys SET first_seq = ? WHERE kid = ?", head.seq + 10, keyB), () => sql("UPDATE log_keys SET first_seq = ? WHERE kid = ?", rotation.seq, keyB)],
      ["the rotation entry is of another type", () => storeRotation((entry) => ({ ...entry, type: "log.key_named" })), () => sql("UPDATE log SET entry = ? WHERE seq = ?", stored, rotation.seq)],
      ["the rotation entry names another key", () => storeRotation((entry) => ({ ...entry, data: { ...entry.data, to: keyA } })), () => sql("UPDATE log SET entry = ? WHERE seq = ?", stored, rotation.seq)],
      ["the rotation entry has no statement", () => storeRotation(({ data: { statement: _statement, ...data }, ...entry }) => ({ ...entry, data })), () => sql("UPDATE log SET entry = ? WHERE seq = ?", stored, rotation.seq)],
    ];
    for (const [name, corrupt, restore] of cases) {
      await corrupt();
      await expect(sign(), name).rejects.toMatchObject({ code: "storage_error" });
      await restore();
    }
    expect((JSON.parse(parseNote(await sign()).text) as ExportManifest).rotations).toHaveLength(1);

    // Over the wire the export has already begun when its manifest is signed: the body fails instead of ending, so no manifest vouches for it.
    await cases[0]![1]();
    const response = await auditorGet(`/v1/devices/${id}/export?from=1&to=2`);
    expect(response.status).toBe(200);
    await expect(response.text()).rejects.toThrow();
  });
});
