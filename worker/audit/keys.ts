import type { ServiceContext } from "../context.ts";
import { parseStrictJson } from "../json/strict.ts";
import { importLogPublicKey, importLogSigningKey, type LogKey, type LogPublicJwk } from "../log/keys.ts";
import { MAX_NOTE_BYTES } from "../log/note.ts";
import { verifyRotationStatement } from "../log/rotation.ts";

export type PublishedLogKey = LogPublicJwk & { status: "current" | "previous" | "retired" };

/** `log-keys/<kid>.json`: a key's public JWK, written create-only when a log first signs with it. */
const KEY_OBJECT = /^log-keys\/([A-Za-z0-9_-]{43})\.json$/;
/** `log-keys/rotations/<from>/<to>.note`: the statement of a rotation between two keys, signed by both. */
const ROTATION_OBJECT = /^log-keys\/rotations\/([A-Za-z0-9_-]{43})\/([A-Za-z0-9_-]{43})\.note$/;
/** No public JWK is larger; a bigger object under the key prefix is not read. */
const MAX_KEY_BYTES = 4096;
/** Statements checked per listing at most (each costs two reads and two signature checks): the archive, not the request, sets how many there are. */
const MAX_ROTATION_CHECKS = 1000;

/** Seconds an isolate trusts its listing of the archive's keys (`LOG_KEYS_REFRESH_SECONDS`, default 300: the answer's own max-age). */
function refreshMs(env: Pick<Env, "LOG_KEYS_REFRESH_SECONDS">): number {
  const seconds = Number(env.LOG_KEYS_REFRESH_SECONDS ?? "300");
  return (Number.isFinite(seconds) && seconds >= 0 ? seconds : 300) * 1000;
}

/**
 * The retired keys the archive vouches for, as this isolate last listed them, and the configured
 * keys that listing started from. The endpoint is public: a listing and reads on every request
 * would let anyone spend R2 operations at will. A key is written to the archive when a log first
 * signs with it, while it is configured and so published from the configuration; the listing
 * only has to know it once it is retired.
 */
let archived: { at: number; trusted: string; keys: Promise<PublishedLogKey[]> } | null = null;

interface ArchiveListing {
  /** Kids with a key object, and its size. */
  keys: Map<string, number>;
  /** For each key a rotation led to, the keys rotated from, with the statement's size. */
  rotationsTo: Map<string, Map<string, number>>;
}

async function listArchive(archive: R2Bucket): Promise<ArchiveListing> {
  const listing: ArchiveListing = { keys: new Map(), rotationsTo: new Map() };
  let cursor: string | undefined;
  do {
    const page = await archive.list({ prefix: "log-keys/", cursor });
    for (const object of page.objects) {
      const key = KEY_OBJECT.exec(object.key);
      const rotation = ROTATION_OBJECT.exec(object.key);
      if (key) listing.keys.set(key[1]!, object.size);
      else if (rotation) {
        const [, from, to] = rotation as unknown as [string, string, string];
        const froms = listing.rotationsTo.get(to) ?? new Map<string, number>();
        froms.set(from, object.size);
        listing.rotationsTo.set(to, froms);
      } else unreadable(object.key, "not a key or a rotation statement by its name");
    }
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return listing;
}

/** Not something Warden wrote: it is left out, and the listing is kept (a failed one would be repeated on every request). */
function unreadable(key: string, error: unknown): void {
  console.error(JSON.stringify({ event: "log_keys.unreadable", key, error: String(error) }));
}

/**
 * An object's bytes, at most `limit`: the listing's size is checked first, and the read itself is
 * bounded too, since the object can be replaced between the listing and the read.
 */
async function readBytes(archive: R2Bucket, key: string, size: number, limit: number): Promise<Uint8Array | null> {
  if (size > limit) {
    unreadable(key, `larger than ${limit} bytes`);
    return null;
  }
  const stored = await archive.get(key, { range: { offset: 0, length: limit + 1 } });
  if (!stored) return null;
  const bytes = new Uint8Array(await stored.arrayBuffer());
  if (bytes.length > limit) {
    unreadable(key, `larger than ${limit} bytes`);
    return null;
  }
  return bytes;
}

/** The public key archived under `kid`, read strictly (R2 can be written around Warden: wrangler r2 object put); null when it is not one. */
async function readKey(archive: R2Bucket, kid: string, size: number): Promise<LogKey | null> {
  const name = `log-keys/${kid}.json`;
  const bytes = await readBytes(archive, name, size, MAX_KEY_BYTES);
  if (!bytes) return null;
  try {
    const key = await importLogPublicKey(parseStrictJson(bytes) as Record<string, unknown>);
    if (key.kid !== kid) throw new Error(`it holds key ${key.kid}`);
    return key;
  } catch (error) {
    unreadable(name, error);
    return null;
  }
}

/**
 * The archived keys some trusted key vouches for: K is published when the archive holds K's
 * public key and the statement of a rotation from K to a key T, signed by K and by T, where T is
 * configured or itself vouched for. Walked back from the configured keys, each key taken once
 * (so a circle of rotations ends) and each statement checked at most once, at most
 * MAX_ROTATION_CHECKS in all. A key written to the archive with no such statement (by anyone who
 * can write the bucket, which holds no signing key) is not published.
 */
async function vouchedKeys(archive: R2Bucket, configured: LogKey[]): Promise<PublishedLogKey[]> {
  const listing = await listArchive(archive);
  const trusted = new Map(configured.map((key) => [key.kid, key]));
  const read = new Map<string, Promise<LogKey | null>>();
  const vouched: PublishedLogKey[] = [];
  const queue = [...trusted.keys()];
  let checks = 0;
  while (queue.length > 0) {
    const to = queue.shift()!;
    const toKey = trusted.get(to)!;
    for (const [from, size] of listing.rotationsTo.get(to) ?? []) {
      const keySize = listing.keys.get(from);
      if (trusted.has(from) || keySize === undefined) continue;
      if (checks === MAX_ROTATION_CHECKS) {
        console.error(JSON.stringify({ event: "log_keys.check_limit", checked: checks }));
        return vouched;
      }
      checks += 1;
      let pending = read.get(from);
      if (!pending) read.set(from, (pending = readKey(archive, from, keySize)));
      const fromKey = await pending;
      if (!fromKey) continue;
      const name = `log-keys/rotations/${from}/${to}.note`;
      const bytes = await readBytes(archive, name, size, MAX_NOTE_BYTES);
      if (!bytes) continue;
      try {
        await verifyRotationStatement(new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes), fromKey, toKey);
      } catch (error) {
        unreadable(name, error);
        continue;
      }
      trusted.set(from, fromKey);
      vouched.push({ ...fromKey.publicJwk, status: "retired" });
      queue.push(from);
    }
  }
  return vouched;
}

/**
 * Every key that verifies log checkpoints, key rotations and export manifests: the configured
 * ones (the one that signs now, and during a rotation the one before it) and every retired key
 * a trusted one vouches for, through the rotation statement both signed, which a log writes to
 * the archive when it rotates (with the key, so it stays published once retired).
 */
export async function publishedLogKeys(ctx: ServiceContext): Promise<PublishedLogKey[]> {
  const { env, deps } = ctx;
  const keys = new Map<string, PublishedLogKey>();
  const trusted: LogKey[] = [];
  const configured: [string | undefined, "current" | "previous", string][] = [
    [env.LOG_SIGNING_KEY, "current", "LOG_SIGNING_KEY"],
    [env.LOG_SIGNING_KEY_PREVIOUS, "previous", "LOG_SIGNING_KEY_PREVIOUS"],
  ];
  for (const [source, status, name] of configured) {
    if (!source) continue;
    const key = await importLogSigningKey(source, name);
    if (keys.has(key.kid)) continue;
    keys.set(key.kid, { ...key.publicJwk, status });
    trusted.push(key);
  }
  const now = deps.now();
  const from = trusted.map((key) => key.kid).join(" ");
  // A listing stamped later than now (the clock went back) is listed again, not trusted for ever;
  // so is one walked from other configured keys.
  if (!archived || archived.trusted !== from || now < archived.at || now - archived.at >= refreshMs(env)) {
    const listing = { at: now, trusted: from, keys: vouchedKeys(env.ARCHIVE, trusted) };
    archived = listing;
    // A listing that failed is not kept: the next request lists again.
    listing.keys.catch(() => {
      if (archived === listing) archived = null;
    });
  }
  for (const key of await archived.keys) if (!keys.has(key.kid)) keys.set(key.kid, key);
  return [...keys.values()];
}
