import { createHash } from "node:crypto";
import type { ServiceContext } from "../context.ts";
import { ConfigurationError, MalformedInputError } from "../errors.ts";
import { canonicalJson, type JsonValue } from "../log/canonical.ts";
import type { LogEntry } from "../log/chain.ts";
import { tenantOrigin } from "../log/checkpoint.ts";
import { PACKAGE_FORMAT, type PackageManifest, type PackageRecord } from "../log/export.ts";
import { importLogSigningKey, noteSignerFor, type LogKey } from "../log/keys.ts";
import { signNote } from "../log/note.ts";
import { jsonLinesBody, type JsonLinesDownload } from "./stream.ts";

/**
 * The compliance package: the tenant's bundle deployment and its admin-log records in the
 * window, the agent registry (every agent with its approved builds, and the changes in the
 * window), the consent ledger's entries in the window, one record per device (registration,
 * assurance history, latest signed checkpoint), and a manifest signed by the log key over the
 * SHA-256 of every line before it (docs/audit-export.md).
 */
export async function compliancePackage(ctx: ServiceContext, range: { from?: string | undefined; to?: string | undefined }): Promise<JsonLinesDownload> {
  const { env } = ctx;
  const now = ctx.deps.now();
  const from = range.from ? new Date(range.from).toISOString() : new Date(0).toISOString();
  const to = range.to ? new Date(range.to).toISOString() : new Date(now).toISOString();
  if (from > to) throw new MalformedInputError("malformed_request", "`from` is after `to`");
  if (!env.LOG_SIGNING_KEY) throw new ConfigurationError("configuration_error", "LOG_SIGNING_KEY is not set");
  const key = await importLogSigningKey(env.LOG_SIGNING_KEY).catch((cause: unknown) => {
    throw new ConfigurationError("configuration_error", "LOG_SIGNING_KEY is not an Ed25519 private JWK", { cause });
  });
  const body = jsonLinesBody(packageLines(ctx, key, { from, to, now }), (error) => console.error(JSON.stringify({ event: "package.failed", error: String(error) })));
  return { body, filename: `warden-${env.TENANT}-package.jsonl` };
}

/** Every line of the package, the signed manifest last. */
async function* packageLines(ctx: ServiceContext, key: LogKey, window: { from: string; to: string; now: number }): AsyncGenerator<string, void, undefined> {
  const digest = createHash("sha256");
  const records = packageRecords(ctx, window);
  let counts = { bundle_log: 0, devices: 0 };
  for await (const next of records) {
    const line = JSON.stringify(next.record);
    digest.update(`${line}\n`);
    counts = next.counts;
    yield line;
  }
  const { env } = ctx;
  const origin = tenantOrigin(env.LOG_ORIGIN, env.TENANT);
  const manifest: PackageManifest = {
    format: PACKAGE_FORMAT,
    origin,
    tenant: env.TENANT,
    range: { from: window.from, to: window.to },
    counts,
    sha256: digest.digest("hex"),
    not_included: ["reviews"],
    key: key.kid,
    generated_at: new Date(window.now).toISOString(),
  };
  const record: PackageRecord = { kind: "manifest", note: await signNote(`${canonicalJson(manifest as unknown as JsonValue)}\n`, [noteSignerFor(key, origin)]) };
  yield JSON.stringify(record);
}

/** The package's lines before its manifest, with the running counts. */
async function* packageRecords(
  ctx: ServiceContext,
  window: { from: string; to: string; now: number },
): AsyncGenerator<{ record: PackageRecord; counts: { bundle_log: number; devices: number } }, void, undefined> {
  const { env, deps } = ctx;
  const tenant = env.TENANT;
  const counts = { bundle_log: 0, devices: 0 };
  const header: PackageRecord = { kind: "package", format: PACKAGE_FORMAT, origin: tenantOrigin(env.LOG_ORIGIN, tenant), tenant, from: window.from, to: window.to };
  yield { record: header, counts };
  const registry = deps.bundleRegistry(env, tenant);
  yield { record: { kind: "bundle.deployment", deployment: (await registry.deployment()) as unknown as JsonValue }, counts };
  for (let after = 0; ; ) {
    const page = await registry.readLog(after, 500);
    for (const text of page) {
      const entry = JSON.parse(text) as LogEntry;
      after = entry.seq;
      if (entry.time < window.from || entry.time > window.to) continue;
      counts.bundle_log += 1;
      yield { record: { kind: "bundle.log", entry: entry as unknown as JsonValue }, counts };
    }
    if (page.length < 500) break;
  }
  const agents = deps.agentRegistry(env, tenant);
  const [listed, changes] = await Promise.all([agents.list(), agents.history()]);
  yield {
    record: {
      kind: "agent.registry",
      version: listed.version,
      agents: listed.agents as unknown as JsonValue[],
      history: changes.filter((change) => change.time >= window.from && change.time <= window.to) as unknown as JsonValue[],
    },
    counts,
  };
  const ledger = deps.consentLedger(env, tenant);
  for (let after = 0; ; ) {
    const page = await ledger.readLedger(after, 500);
    for (const text of page) {
      const entry = JSON.parse(text) as LogEntry;
      after = entry.seq;
      if (entry.time < window.from || entry.time > window.to) continue;
      yield { record: { kind: "consent.log", entry: entry as unknown as JsonValue }, counts };
    }
    if (page.length < 500) break;
  }
  let cursor: string | undefined;
  do {
    const listing = await env.ARCHIVE.list({ prefix: `${tenant}/devices/`, delimiter: "/", cursor });
    for (const prefix of listing.delimitedPrefixes) {
      const id = prefix.slice(`${tenant}/devices/`.length, -1);
      const record = await deps.deviceStore(env, tenant, id).complianceRecord(window.now);
      if (!record || record.device.registeredAt > window.to) continue;
      counts.devices += 1;
      yield {
        record: {
          kind: "device",
          device: record.device as unknown as JsonValue,
          assurance_history: record.assuranceHistory.filter((change) => change.time <= window.to),
          checkpoint: record.checkpoint?.note ?? null,
        },
        counts,
      };
    }
    cursor = listing.truncated ? listing.cursor : undefined;
  } while (cursor);
}
