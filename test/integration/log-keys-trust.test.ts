import { env, runInDurableObject } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import type { DeviceLog } from "../../durable-objects/DeviceLog.ts";
import { canonicalJson, type JsonValue } from "../../worker/log/canonical.ts";
import { entryHash, type LogEntry } from "../../worker/log/chain.ts";
import { checkpointText } from "../../worker/log/checkpoint.ts";
import { verifyExport } from "../../worker/log/export-verify.ts";
import type { ExportManifest } from "../../worker/log/export.ts";
import { importLogSigningKey, logKeyIdOf, noteSignerFor, type LogKey } from "../../worker/log/keys.ts";
import { EMPTY_FRONTIER, extendFrontier, frontierRoot } from "../../worker/log/merkle.ts";
import { ed25519KeyId, MAX_NOTE_BYTES, parseNote, signNote } from "../../worker/log/note.ts";
import { rotationText } from "../../worker/log/rotation.ts";
import { activate, BASE_URL, withLoggedEvents, workerFetch } from "../helpers.ts";
import { appendMany, archivedRetiredKey, auditorGet, configure, deviceStub, freshLogSigningKey, liveEntries, publishedLogKeys, registeredDevice, restart, runAlarms, withMethod } from "../audit-helpers.ts";

/**
 * The retired keys `/.well-known/warden-log-keys.json` publishes are those a trusted key vouches
 * for, through the rotation statement both signed: a key written into the archive by anyone who
 * can write the bucket (and holds no signing key) is not published, and a log forged with it
 * does not verify against the published set.
 */

type Stub = DurableObjectStub<DeviceLog>;

const TUNING = { checkpointEntries: 1000, checkpointSeconds: 3600, segmentEntries: 1000, segmentMinutes: 600, retrySeconds: 30 };

beforeAll(async () => {
  await activate();
});

async function exportLines(id: string): Promise<string[]> {
  const response = await auditorGet(`/v1/devices/${id}/export`);
  expect(response.status).toBe(200);
  return (await response.text()).split("\n").filter((line) => line.length > 0);
}

/** Rotates the object's log key to `next` (the one it names now configured as previous) and lets its alarm do it. */
async function rotate(stub: Stub, previous: string, next: string): Promise<void> {
  await configure(stub, { io: { keys: () => ({ current: next, previous }) } });
  await runAlarms(stub, 1);
  await appendMany(stub, 1);
}

/** What an attacker with write access to the archive (no signing key, no HMAC key) makes of an export: every entry naming their key, hashes recomputed, checkpoint and manifest signed with it. */
async function forgeExport(lines: string[], evil: LogKey): Promise<string[]> {
  const header = JSON.parse(lines[0]!) as { origin: string };
  const entries = lines.slice(1, -1).map((line) => JSON.parse(line) as LogEntry);
  let prev = "0".repeat(64);
  const forged = entries.map((entry) => {
    const { hash: _hash, mac: _mac, mac_key: _macKey, ...body } = entry;
    const next = { ...body, prev, key: evil.kid, data: entry.seq === 1 ? { ...entry.data, user: "someone-else" } : entry.data };
    const rewritten = { ...next, hash: entryHash(next) } as LogEntry;
    prev = rewritten.hash;
    return rewritten;
  });
  const head = forged.at(-1)!;
  const root = frontierRoot(extendFrontier(EMPTY_FRONTIER, forged.map((entry) => entry.hash))).toString("hex");
  const checkpoint = await signNote(checkpointText({ origin: header.origin, size: forged.length, root, head: head.hash, time: new Date().toISOString() }), [noteSignerFor(evil, header.origin)]);
  const manifest = JSON.parse(parseNote((JSON.parse(lines.at(-1)!) as { note: string }).note).text) as ExportManifest;
  const forgedManifest = { ...manifest, checkpoint, key: evil.kid, heads: { start: "0".repeat(64), end: head.hash, head: { seq: forged.length, hash: head.hash } } };
  const note = await signNote(`${canonicalJson(forgedManifest as unknown as JsonValue)}\n`, [noteSignerFor(evil, header.origin)]);
  return [JSON.stringify({ ...header, checkpoint }), ...forged.map((entry) => JSON.stringify(entry)), JSON.stringify({ kind: "manifest", note })];
}

describe("retired log keys", () => {
  it("a key written into log-keys/ with no rotation statement is not published, and an export forged with it does not verify (P5)", async () => {
    const { id, stub } = await registeredDevice();
    await configure(stub, { tuning: TUNING });
    await appendMany(stub, 4);
    await stub.checkpoint(Date.now());
    const lines = await exportLines(id);
    const evil = await importLogSigningKey(await freshLogSigningKey());
    await env.ARCHIVE.put(`log-keys/${evil.kid}.json`, JSON.stringify(evil.publicJwk));

    const { keys } = await publishedLogKeys({ current: env.LOG_SIGNING_KEY! });
    expect(keys.map((key) => key.kid)).not.toContain(evil.kid);
    // The genuine export verifies against that set; the forgery does not.
    expect((await verifyExport(lines, { keys })).failure).toBeNull();
    const report = await verifyExport(await forgeExport(lines, evil), { keys });
    expect(report.ok).toBe(false);
    // Its checkpoint, the first thing checked, is signed by a key the set does not have.
    expect(report.failure).toMatchObject({ code: "checkpoint_invalid" });
  });

  it("after a rotation, the old key is published once it is no longer configured, through the statement the rotation wrote, and old exports verify", async () => {
    const { id, stub } = await registeredDevice();
    await configure(stub, { tuning: TUNING });
    await appendMany(stub, 3);
    await stub.checkpoint(Date.now());
    const before = await exportLines(id);
    const oldKid = logKeyIdOf(env.LOG_SIGNING_KEY)!;
    const newSource = await freshLogSigningKey();
    const newKid = logKeyIdOf(newSource)!;
    await rotate(stub, env.LOG_SIGNING_KEY!, newSource);
    expect((await liveEntries(stub)).filter((entry) => entry.type === "log.key_rotated")).toHaveLength(1);

    const statement = await env.ARCHIVE.get(`log-keys/rotations/${oldKid}/${newKid}.note`);
    expect(statement).not.toBeNull();
    // LOG_SIGNING_KEY_PREVIOUS removed: the old key is published as retired, vouched for by the new one.
    const { jwks, keys } = await publishedLogKeys({ current: newSource });
    expect(jwks.keys.find((key) => key.kid === oldKid)?.status).toBe("retired");
    expect(jwks.keys.find((key) => key.kid === newKid)?.status).toBe("current");
    expect((await verifyExport(before, { keys })).failure).toBeNull();
    const after = await verifyExport(await exportLines(id), { keys });
    expect(after.failure).toBeNull();
    expect(after).toMatchObject({ ok: true, rotations: 1 });
  });

  it("a statement signed by an attacker's key does not vouch for it, whether it carries a trusted key's name and ID without its signature or no second signature at all", async () => {
    const trusted = await importLogSigningKey(env.LOG_SIGNING_KEY!);
    const origin = "warden.example.com/log/test/forged";
    const claimed = await importLogSigningKey(await freshLogSigningKey());
    const alone = await importLogSigningKey(await freshLogSigningKey());
    for (const evil of [claimed, alone]) await env.ARCHIVE.put(`log-keys/${evil.kid}.json`, JSON.stringify(evil.publicJwk));
    const text = (evil: LogKey) => rotationText({ origin, from: evil.kid, to: trusted.kid, time: new Date().toISOString() });
    // The second line names the trusted key (its name and key ID) but carries the attacker's signature.
    const posing = { ...noteSignerFor(claimed, origin), keyId: ed25519KeyId(origin, trusted.publicRaw) };
    await env.ARCHIVE.put(`log-keys/rotations/${claimed.kid}/${trusted.kid}.note`, await signNote(text(claimed), [noteSignerFor(claimed, origin), posing]));
    await env.ARCHIVE.put(`log-keys/rotations/${alone.kid}/${trusted.kid}.note`, await signNote(text(alone), [noteSignerFor(alone, origin)]));
    // A key vouched for properly, in the same listing: the walk did run.
    const genuine = await archivedRetiredKey();

    const kids = (await publishedLogKeys({ current: env.LOG_SIGNING_KEY! })).keys.map((key) => key.kid);
    expect(kids).toContain(genuine.kid);
    expect(kids).not.toContain(claimed.kid);
    expect(kids).not.toContain(alone.kid);
  });

  it("follows a chain of rotations back from the configured key: A→B→C with only C configured publishes A and B, and the log verifies across both", async () => {
    const { id, stub } = await registeredDevice();
    await configure(stub, { tuning: TUNING });
    await appendMany(stub, 2);
    const a = env.LOG_SIGNING_KEY!;
    const b = await freshLogSigningKey();
    const c = await freshLogSigningKey();
    await rotate(stub, a, b);
    await rotate(stub, b, c);

    const { jwks, keys } = await publishedLogKeys({ current: c });
    const status = (source: string) => jwks.keys.find((key) => key.kid === logKeyIdOf(source))?.status;
    expect([status(a), status(b), status(c)]).toEqual(["retired", "retired", "current"]);
    const report = await verifyExport(await exportLines(id), { keys });
    expect(report.failure).toBeNull();
    expect(report).toMatchObject({ ok: true, rotations: 2 });
  });

  it("a circle of rotation statements ends: each key is taken once", async () => {
    // X→Y and Y→X, both signed by both, and Y→the configured key.
    const x = await importLogSigningKey(await freshLogSigningKey());
    const y = await archivedRetiredKey();
    const origin = "warden.example.com/log/test/circle";
    await env.ARCHIVE.put(`log-keys/${x.kid}.json`, JSON.stringify(x.publicJwk));
    for (const [from, to] of [
      [x, y],
      [y, x],
    ] as const) {
      const statement = await signNote(rotationText({ origin, from: from.kid, to: to.kid, time: new Date().toISOString() }), [noteSignerFor(from, origin), noteSignerFor(to, origin)]);
      await env.ARCHIVE.put(`log-keys/rotations/${from.kid}/${to.kid}.note`, statement);
    }
    // The real bucket, counting what is read from it.
    const reads: string[] = [];
    const archive = withMethod(env.ARCHIVE, "get", (...args: Parameters<R2Bucket["get"]>) => {
      reads.push(args[0]);
      return env.ARCHIVE.get(...args);
    });
    const fetch = workerFetch({ env: { ARCHIVE: archive, LOG_KEYS_REFRESH_SECONDS: "0" } });
    const response = await fetch(new Request(`${BASE_URL}/.well-known/warden-log-keys.json`));
    expect(response.status).toBe(200);
    const { keys } = (await response.json()) as { keys: { kid: string; status: string }[] };
    expect(keys.filter((key) => key.kid === x.kid || key.kid === y.kid).map((key) => key.status)).toEqual(["retired", "retired"]);
    // Each statement of the circle was read once at most: X is not taken again from Y→X.
    const circle = [`${y.kid}/`, `${x.kid}/`].flatMap((from) => reads.filter((read) => read.startsWith(`log-keys/rotations/${from}`)));
    expect(circle.length).toBe(new Set(circle).size);
    expect(reads.filter((read) => read === `log-keys/rotations/${y.kid}/${x.kid}.note`)).toHaveLength(0);
  });

  it("a rotation whose statement the archive refused writes it with a later signature, after a restart too", async () => {
    const { id, stub } = await registeredDevice();
    let refusals = 0;
    // The real bucket, except that it refuses to write rotation statements until told otherwise.
    let refuse = true;
    const archive = withMethod(env.ARCHIVE, "put", (key: string, ...rest: unknown[]) => {
      if (refuse && key.startsWith("log-keys/rotations/")) {
        refusals += 1;
        return Promise.reject(new Error("injected: R2 is unavailable"));
      }
      return (env.ARCHIVE.put as (...args: unknown[]) => Promise<R2Object | null>)(key, ...rest);
    });
    await configure(stub, { tuning: TUNING, io: { archive } });
    const newSource = await freshLogSigningKey();
    const name = `log-keys/rotations/${logKeyIdOf(env.LOG_SIGNING_KEY)}/${logKeyIdOf(newSource)}.note`;
    await rotate(stub, env.LOG_SIGNING_KEY!, newSource);
    expect(refusals).toBeGreaterThan(0);
    expect(await env.ARCHIVE.head(name)).toBeNull();
    // The rotation stands: the log names the new key.
    expect((await liveEntries(stub)).at(-1)!.key).toBe(logKeyIdOf(newSource));

    refuse = false;
    await restart(stub);
    const fresh = deviceStub(id);
    // The next signature: a checkpoint falls due at the next entry.
    await configure(fresh, { tuning: { checkpointEntries: 1 } });
    await appendMany(fresh, 1);
    await runAlarms(fresh, 1);
    expect(await env.ARCHIVE.head(name)).not.toBeNull();
    expect((await publishedLogKeys({ current: newSource })).keys.map((key) => key.kid)).toContain(logKeyIdOf(env.LOG_SIGNING_KEY));
  });

  it("each rotation's statement waits in log_key_rotations until the archive has it: two refused in a row are both kept with their keys, then written as signed and their rows removed", async () => {
    // Two rows never share a key here: a log names each key once (log_keys is keyed by kid), so the table's (from, to) key is not what this pins.
    const { stub } = await registeredDevice();
    let refuse = true;
    const archive = withMethod(env.ARCHIVE, "put", (key: string, ...rest: unknown[]) => {
      if (refuse && key.startsWith("log-keys/rotations/")) return Promise.reject(new Error("injected: R2 is unavailable"));
      return (env.ARCHIVE.put as (...args: unknown[]) => Promise<R2Object | null>)(key, ...rest);
    });
    await configure(stub, { tuning: TUNING, io: { archive } });
    const a = env.LOG_SIGNING_KEY!;
    const b = await freshLogSigningKey();
    const c = await freshLogSigningKey();
    await rotate(stub, a, b);
    await rotate(stub, b, c);
    const pending = () =>
      runInDurableObject(stub, (_instance: DeviceLog, state) =>
        state.storage.sql.exec<{ from_kid: string; to_kid: string; statement: string }>("SELECT from_kid, to_kid, statement FROM log_key_rotations ORDER BY rowid").toArray(),
      );
    // The rows hold what the rotation entries carry, each under its pair of keys.
    const rotations = (await liveEntries(stub)).filter((entry) => entry.type === "log.key_rotated").map((entry) => ({ from_kid: entry.data["from"], to_kid: entry.data["to"], statement: entry.data["statement"] }));
    expect(rotations.map((row) => [row.from_kid, row.to_kid])).toEqual([
      [logKeyIdOf(a), logKeyIdOf(b)],
      [logKeyIdOf(b), logKeyIdOf(c)],
    ]);
    expect(await pending()).toEqual(rotations);
    for (const row of rotations) expect(await env.ARCHIVE.head(`log-keys/rotations/${String(row.from_kid)}/${String(row.to_kid)}.note`)).toBeNull();

    // The next signature writes both, as signed, and only then lets the rows go.
    refuse = false;
    await configure(stub, { tuning: { checkpointEntries: 1 } });
    await appendMany(stub, 1);
    await runAlarms(stub, 1);
    expect(await pending()).toEqual([]);
    for (const row of rotations) expect(await (await env.ARCHIVE.get(`log-keys/rotations/${String(row.from_kid)}/${String(row.to_kid)}.note`))?.text()).toBe(row.statement);
    const kids = (await publishedLogKeys({ current: c })).keys.map((key) => key.kid);
    expect(kids).toEqual(expect.arrayContaining([logKeyIdOf(a), logKeyIdOf(b)]));
  });
});

/** The name of the statement of a rotation from `from` to `to` in the archive. */
function statementName(from: LogKey, to: LogKey): string {
  return `log-keys/rotations/${from.kid}/${to.kid}.note`;
}

/** The statement of a rotation from `from` to `to`, signed by both, as a log writes it. */
function rotationStatement(from: LogKey, to: LogKey, origin = "warden.example.com/log/test/listing"): Promise<string> {
  return signNote(rotationText({ origin, from: from.kid, to: to.kid, time: new Date().toISOString() }), [noteSignerFor(from, origin), noteSignerFor(to, origin)]);
}

/**
 * The published key set of a deployment configured with `current` alone, listed now from
 * `archive` (default the real bucket): the kids published, every read of the archive (its key
 * and the bytes asked for), and the events the listing logged — it runs in this isolate, so its
 * console is the test's.
 */
async function listing(current: string, archive: R2Bucket = env.ARCHIVE): Promise<{ kids: string[]; reads: { key: string; length: number | undefined }[]; events: Record<string, unknown>[] }> {
  const reads: { key: string; length: number | undefined }[] = [];
  const counted = withMethod(archive, "get", (key: string, options?: R2GetOptions) => {
    const range = options?.range;
    reads.push({ key, length: range !== undefined && "length" in range ? range.length : undefined });
    return archive.get(key, options);
  });
  const { result: kids, events } = await withLoggedEvents(async () => {
    const fetch = workerFetch({ env: { ARCHIVE: counted, LOG_SIGNING_KEY: current, LOG_SIGNING_KEY_PREVIOUS: undefined, LOG_KEYS_REFRESH_SECONDS: "0" } });
    const response = await fetch(new Request(`${BASE_URL}/.well-known/warden-log-keys.json`));
    expect(response.status).toBe(200);
    const { keys } = (await response.json()) as { keys: { kid: string }[] };
    return keys.map((key) => key.kid);
  });
  return { kids, reads, events };
}

/** A fresh key configured as the deployment's only one, so that only the test's statements lead to it. */
async function freshTrustedKey(): Promise<{ source: string; key: LogKey }> {
  const source = await freshLogSigningKey();
  return { source, key: await importLogSigningKey(source) };
}

const unreadable = (key: string) => expect.objectContaining({ event: "log_keys.unreadable", key });

describe("what the log-key listing refuses (left out, logged as log_keys.unreadable with the object's name)", () => {
  it("a key over 4096 bytes or a statement over 64 KiB, as listed, is left out without being read", async () => {
    const trusted = await freshTrustedKey();
    // A JWK padded with whitespace is still the key, and its statement is genuine: only its size refuses it.
    const bigKey = await importLogSigningKey(await freshLogSigningKey());
    await env.ARCHIVE.put(`log-keys/${bigKey.kid}.json`, JSON.stringify(bigKey.publicJwk) + " ".repeat(4096));
    await env.ARCHIVE.put(statementName(bigKey, trusted.key), await rotationStatement(bigKey, trusted.key));
    const bigStatement = await importLogSigningKey(await freshLogSigningKey());
    await env.ARCHIVE.put(`log-keys/${bigStatement.kid}.json`, JSON.stringify(bigStatement.publicJwk));
    await env.ARCHIVE.put(statementName(bigStatement, trusted.key), (await rotationStatement(bigStatement, trusted.key)) + " ".repeat(MAX_NOTE_BYTES));
    // The walk ran: a key vouched for properly, in the same listing, is published.
    const genuine = await archivedRetiredKey(trusted.source);

    const { kids, reads, events } = await listing(trusted.source);
    expect(kids).toContain(genuine.kid);
    expect(kids).not.toContain(bigKey.kid);
    expect(kids).not.toContain(bigStatement.kid);
    // Refused by the listed size: neither object costs a read.
    const read = reads.map((entry) => entry.key);
    expect(read).not.toContain(`log-keys/${bigKey.kid}.json`);
    expect(read).not.toContain(statementName(bigStatement, trusted.key));
    expect(events).toEqual(expect.arrayContaining([unreadable(`log-keys/${bigKey.kid}.json`), unreadable(statementName(bigStatement, trusted.key))]));
  });

  it("a key listed small and replaced by a larger object before it is read is refused by the read's own bound (at most 4097 bytes asked for)", async () => {
    const trusted = await freshTrustedKey();
    const replaced = await importLogSigningKey(await freshLogSigningKey());
    const name = `log-keys/${replaced.kid}.json`;
    await env.ARCHIVE.put(name, JSON.stringify(replaced.publicJwk));
    await env.ARCHIVE.put(statementName(replaced, trusted.key), await rotationStatement(replaced, trusted.key));
    // The real bucket, except that once the page listing the key is read, the key is replaced by itself padded past 4096 bytes:
    // its first 4097 bytes are still the key (JSON allows the whitespace), so only the length read refuses it.
    const archive = withMethod(env.ARCHIVE, "list", async (options?: R2ListOptions) => {
      const page = await env.ARCHIVE.list(options);
      if (page.objects.some((object) => object.key === name && object.size <= 4096)) await env.ARCHIVE.put(name, JSON.stringify(replaced.publicJwk) + " ".repeat(8192));
      return page;
    });

    const { kids, reads, events } = await listing(trusted.source, archive);
    expect(kids).not.toContain(replaced.kid);
    expect(reads.filter((entry) => entry.key === name)).toEqual([{ key: name, length: 4097 }]);
    expect(events).toContainEqual(unreadable(name));
  });

  it("a key object holding another key, or whose kid is not its thumbprint, is left out although a genuine statement vouches for the key it holds", async () => {
    const trusted = await freshTrustedKey();
    // Under A's name, B's key; the statement at A's path is B's, signed by B and the trusted key.
    const named = await importLogSigningKey(await freshLogSigningKey());
    const held = await importLogSigningKey(await freshLogSigningKey());
    await env.ARCHIVE.put(`log-keys/${named.kid}.json`, JSON.stringify(held.publicJwk));
    await env.ARCHIVE.put(statementName(named, trusted.key), await rotationStatement(held, trusted.key));
    // Under C's own name, C's key carrying another kid.
    const relabelled = await importLogSigningKey(await freshLogSigningKey());
    await env.ARCHIVE.put(`log-keys/${relabelled.kid}.json`, JSON.stringify({ ...relabelled.publicJwk, kid: named.kid }));
    await env.ARCHIVE.put(statementName(relabelled, trusted.key), await rotationStatement(relabelled, trusted.key));

    const { kids, events } = await listing(trusted.source);
    expect(kids).not.toContain(held.kid);
    expect(kids).not.toContain(named.kid);
    expect(kids).not.toContain(relabelled.kid);
    expect(events).toEqual(expect.arrayContaining([unreadable(`log-keys/${named.kid}.json`), unreadable(`log-keys/${relabelled.kid}.json`)]));
  });

  it("a statement that is not UTF-8, or starts with a byte order mark, vouches for nothing although its text verifies once decoded leniently", async () => {
    const trusted = await freshTrustedKey();
    // Signed over an origin with U+FFFD; stored with 0xFF in its place, which a lenient decoder turns back into U+FFFD.
    const invalid = await importLogSigningKey(await freshLogSigningKey());
    const note = new TextEncoder().encode(await rotationStatement(invalid, trusted.key, "warden.example.com/log/test/\ufffd"));
    const at = note.findIndex((byte, index) => byte === 0xef && note[index + 1] === 0xbf && note[index + 2] === 0xbd);
    const bytes = Uint8Array.from([...note.subarray(0, at), 0xff, ...note.subarray(at + 3)]);
    await env.ARCHIVE.put(`log-keys/${invalid.kid}.json`, JSON.stringify(invalid.publicJwk));
    await env.ARCHIVE.put(statementName(invalid, trusted.key), bytes);
    // A BOM before a genuine statement: a decoder that strips it would read the statement.
    const bom = await importLogSigningKey(await freshLogSigningKey());
    await env.ARCHIVE.put(`log-keys/${bom.kid}.json`, JSON.stringify(bom.publicJwk));
    await env.ARCHIVE.put(statementName(bom, trusted.key), Uint8Array.from([0xef, 0xbb, 0xbf, ...new TextEncoder().encode(await rotationStatement(bom, trusted.key))]));

    const { kids, events } = await listing(trusted.source);
    expect(kids).not.toContain(invalid.kid);
    expect(kids).not.toContain(bom.kid);
    expect(events).toEqual(expect.arrayContaining([unreadable(statementName(invalid, trusted.key)), unreadable(statementName(bom, trusted.key))]));
  });

  it("checks at most 1000 statements per listing (log_keys.check_limit), keeping the keys vouched for before the limit", async () => {
    const trusted = await freshTrustedKey();
    // Statements are checked in the listing's order, by the name of the key they retire: 1000 unreadable ones named "M…" sit between a genuine key named before them and one named after.
    const named = async (wanted: (first: string) => boolean): Promise<LogKey> => {
      for (;;) {
        const key = await importLogSigningKey(await freshLogSigningKey());
        if (wanted(key.kid[0]!)) return key;
      }
    };
    const early = await named((first) => first < "M");
    const late = await named((first) => first > "M");
    for (const key of [early, late]) {
      await env.ARCHIVE.put(`log-keys/${key.kid}.json`, JSON.stringify(key.publicJwk));
      await env.ARCHIVE.put(statementName(key, trusted.key), await rotationStatement(key, trusted.key));
    }
    const filler = Array.from({ length: 1000 }, (_, index) => `M${String(index).padStart(42, "0")}`);
    for (let start = 0; start < filler.length; start += 100) {
      await Promise.all(
        filler.slice(start, start + 100).flatMap((kid) => [env.ARCHIVE.put(`log-keys/${kid}.json`, "{}"), env.ARCHIVE.put(`log-keys/rotations/${kid}/${trusted.key.kid}.note`, "not a statement\n")]),
      );
    }

    const { kids, events } = await listing(trusted.source);
    expect(kids).toContain(early.kid);
    expect(kids).not.toContain(late.kid);
    expect(events).toContainEqual({ event: "log_keys.check_limit", checked: 1000 });
  });
});
