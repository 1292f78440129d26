import type { ServiceContext } from "../context.ts";
import { parseStrictJson } from "../json/strict.ts";
import { importLogPublicKey, importLogSigningKey, type LogPublicJwk } from "../log/keys.ts";

export type PublishedLogKey = LogPublicJwk & { status: "current" | "previous" | "retired" };

/**
 * Every key that verifies log checkpoints, key rotations and export manifests: the configured
 * ones (the one that signs now, and during a rotation the one before it) and every key a log
 * ever used, which was written to the archive when first used and so stays published once
 * retired.
 */
export async function publishedLogKeys(ctx: ServiceContext): Promise<PublishedLogKey[]> {
  const { env } = ctx;
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
  let cursor: string | undefined;
  do {
    const listing = await env.ARCHIVE.list({ prefix: "log-keys/", cursor });
    for (const object of listing.objects) {
      const kid = object.key.slice("log-keys/".length, -".json".length);
      if (keys.has(kid)) continue;
      const stored = await env.ARCHIVE.get(object.key);
      if (!stored) continue;
      // R2 can be written around Warden (wrangler r2 object put), so its objects are read strictly.
      const key = await importLogPublicKey(parseStrictJson(new Uint8Array(await stored.arrayBuffer())) as Record<string, unknown>);
      keys.set(key.kid, { ...key.publicJwk, status: "retired" });
    }
    cursor = listing.truncated ? listing.cursor : undefined;
  } while (cursor);
  return [...keys.values()];
}
