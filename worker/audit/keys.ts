import type { ServiceContext } from "../context.ts";
import { parseStrictJson } from "../json/strict.ts";
import { importLogPublicKey, importLogSigningKey, type LogPublicJwk } from "../log/keys.ts";

export type PublishedLogKey = LogPublicJwk & { status: "current" | "previous" | "retired" };

/** Seconds an isolate trusts its listing of the archive's keys (`LOG_KEYS_REFRESH_SECONDS`, default 300: the answer's own max-age). */
function refreshMs(env: Pick<Env, "LOG_KEYS_REFRESH_SECONDS">): number {
  const seconds = Number(env.LOG_KEYS_REFRESH_SECONDS ?? "300");
  return (Number.isFinite(seconds) && seconds >= 0 ? seconds : 300) * 1000;
}

/**
 * The keys the archive holds, as this isolate last listed them. The endpoint is public: a listing
 * and a read per retired key on every request would let anyone spend R2 operations at will. A key
 * is written to the archive when a log first signs with it, while it is configured and so
 * published from the configuration; the listing only has to know it once it is retired.
 */
let archived: { at: number; keys: Promise<PublishedLogKey[]> } | null = null;

async function listArchivedKeys(archive: R2Bucket): Promise<PublishedLogKey[]> {
  const keys: PublishedLogKey[] = [];
  let cursor: string | undefined;
  do {
    const listing = await archive.list({ prefix: "log-keys/", cursor });
    for (const object of listing.objects) {
      const stored = await archive.get(object.key);
      if (!stored) continue;
      try {
        // R2 can be written around Warden (wrangler r2 object put), so its objects are read strictly.
        const key = await importLogPublicKey(parseStrictJson(new Uint8Array(await stored.arrayBuffer())) as Record<string, unknown>);
        keys.push({ ...key.publicJwk, status: "retired" });
      } catch (error) {
        // Not a key Warden wrote: it is left out, and the listing is kept (a failed one would be repeated on every request).
        console.error(JSON.stringify({ event: "log_keys.unreadable", key: object.key, error: String(error) }));
      }
    }
    cursor = listing.truncated ? listing.cursor : undefined;
  } while (cursor);
  return keys;
}

/**
 * Every key that verifies log checkpoints, key rotations and export manifests: the configured
 * ones (the one that signs now, and during a rotation the one before it) and every key a log
 * ever used, which was written to the archive when first used and so stays published once
 * retired.
 */
export async function publishedLogKeys(ctx: ServiceContext): Promise<PublishedLogKey[]> {
  const { env, deps } = ctx;
  const keys = new Map<string, PublishedLogKey>();
  const configured: [string | undefined, "current" | "previous", string][] = [
    [env.LOG_SIGNING_KEY, "current", "LOG_SIGNING_KEY"],
    [env.LOG_SIGNING_KEY_PREVIOUS, "previous", "LOG_SIGNING_KEY_PREVIOUS"],
  ];
  for (const [source, status, name] of configured) {
    if (!source) continue;
    const key = await importLogSigningKey(source, name);
    if (!keys.has(key.kid)) keys.set(key.kid, { ...key.publicJwk, status });
  }
  const now = deps.now();
  // A listing stamped later than now (the clock went back) is listed again, not trusted for ever.
  if (!archived || now < archived.at || now - archived.at >= refreshMs(env)) {
    const listing = { at: now, keys: listArchivedKeys(env.ARCHIVE) };
    archived = listing;
    // A listing that failed is not kept: the next request lists again.
    listing.keys.catch(() => {
      if (archived === listing) archived = null;
    });
  }
  for (const key of await archived.keys) if (!keys.has(key.kid)) keys.set(key.kid, key);
  return [...keys.values()];
}
