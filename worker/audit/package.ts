import { createHash } from "node:crypto";
import type { ServiceContext } from "../context.ts";
import { ConfigurationError, MalformedInputError } from "../errors.ts";
import { canonicalJson, type JsonValue } from "../log/canonical.ts";
import type { LogEntry } from "../log/chain.ts";
import { parseCheckpointText, tenantOrigin } from "../log/checkpoint.ts";
import { complianceMapping, type EvidenceKind } from "../log/compliance.ts";
import { PACKAGE_EVIDENCE, PACKAGE_FORMAT, type PackageCounts, type PackageManifest, type PackageRecord } from "../log/export.ts";
import { importLogSigningKey, noteSignerFor, type LogKey } from "../log/keys.ts";
import { parseNote, signNote } from "../log/note.ts";
import { artifactKey } from "../policy/deployment.ts";
import { jsonLinesBody, type JsonLinesDownload } from "./stream.ts";

/**
 * The compliance package (docs/audit-export.md): the tenant's bundle deployment, its admin-log
 * records in the window, the signed artifact and policy text of every bundle ever deployed, one
 * record per device (registration, assurance history, latest signed and witnessed checkpoint)
 * followed by its attestation appraisals, review verdicts (passkey assertions included),
 * quarantines and revocations proven into that checkpoint, the agent registry and the consent ledger's entries in the window, a mapping of frameworks' controls to the package's files, and a
 * manifest signed by the log key over the SHA-256 of every line before it.
 */

/**
 * Evidence this deployment does not keep, listed as absent in every package (and in the mapping
 * of each control that rests on it). SIEM event counts: the feed keeps events only for
 * EVENT_RETENTION_DAYS after delivery, so a window's counts are the receiving SIEM's.
 */
export const ABSENT_EVIDENCE: readonly EvidenceKind[] = ["siem_event_counts"];

/** Bundle admin-log entries that put a bundle in a slot: each names a version whose artifact the package carries. */
const DEPLOYING = new Set(["bundle.activated", "bundle.canary", "bundle.shadow", "bundle.rolled_back"]);
const PAGE = 200;

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

/** Files the records put in the package, by the kind of evidence they are. */
class FileIndex {
  readonly byKind = new Map<EvidenceKind, string[]>();
  add(kind: EvidenceKind, file: string): void {
    const files = this.byKind.get(kind) ?? [];
    if (!files.includes(file)) files.push(file);
    this.byKind.set(kind, files);
  }
}

/** Every line of the package, the signed manifest last. */
async function* packageLines(ctx: ServiceContext, key: LogKey, window: { from: string; to: string; now: number }): AsyncGenerator<string, void, undefined> {
  const digest = createHash("sha256");
  const counts: PackageCounts = { bundle_log: 0, bundle_artifacts: 0, consent_log: 0, devices: 0, attestations: 0, reviews: 0, quarantines: 0, revocations: 0 };
  const files = new FileIndex();
  const emit = (record: PackageRecord): string => {
    const line = JSON.stringify(record);
    digest.update(`${line}\n`);
    return line;
  };
  for await (const record of packageRecords(ctx, window, counts, files)) yield emit(record);
  yield emit({ kind: "mapping", file: "mapping.json", mapping: complianceMapping(files.byKind, ABSENT_EVIDENCE) as unknown as JsonValue });
  const { env } = ctx;
  const origin = tenantOrigin(env.LOG_ORIGIN, env.TENANT);
  const manifest: PackageManifest = {
    format: PACKAGE_FORMAT,
    origin,
    tenant: env.TENANT,
    range: { from: window.from, to: window.to },
    counts,
    sha256: digest.digest("hex"),
    absent: [...ABSENT_EVIDENCE],
    key: key.kid,
    generated_at: new Date(window.now).toISOString(),
  };
  const record: PackageRecord = { kind: "manifest", note: await signNote(`${canonicalJson(manifest as unknown as JsonValue)}\n`, [noteSignerFor(key, origin)]) };
  yield JSON.stringify(record);
}

/** The package's records before the mapping and manifest, counting as they go. */
async function* packageRecords(
  ctx: ServiceContext,
  window: { from: string; to: string; now: number },
  counts: PackageCounts,
  files: FileIndex,
): AsyncGenerator<PackageRecord, void, undefined> {
  const { env, deps } = ctx;
  const tenant = env.TENANT;
  yield { kind: "package", format: PACKAGE_FORMAT, origin: tenantOrigin(env.LOG_ORIGIN, tenant), tenant, from: window.from, to: window.to };
  const registry = deps.bundleRegistry(env, tenant);
  files.add("policy_bundles", "bundles/deployment.json");
  yield { kind: "bundle.deployment", file: "bundles/deployment.json", deployment: (await registry.deployment()) as unknown as JsonValue };

  // Every bundle deployed up to `to` (also before the window: it may have decided in it), and the log records in the window.
  const deployed = new Map<number, string>();
  for (let after = 0; ; ) {
    const page = await registry.readLog(after, 500);
    for (const text of page) {
      const entry = JSON.parse(text) as LogEntry;
      after = entry.seq;
      if (entry.time > window.to) continue;
      const { version, digest } = entry.data as { version?: unknown; digest?: unknown };
      if (DEPLOYING.has(entry.type) && typeof version === "number" && typeof digest === "string") deployed.set(version, digest);
      if (entry.time < window.from) continue;
      counts.bundle_log += 1;
      files.add("bundle_admin_log", "bundles/admin-log.jsonl");
      yield { kind: "bundle.log", file: "bundles/admin-log.jsonl", entry: entry as unknown as JsonValue };
    }
    if (page.length < 500) break;
  }
  for (const [version, digest] of [...deployed].sort(([a], [b]) => a - b)) {
    const object = await env.BUNDLES.get(artifactKey(tenant, version));
    const file = `bundles/${version}.jws`;
    counts.bundle_artifacts += 1;
    files.add("policy_bundles", file);
    // A missing artifact is carried as null: the verifier reports it rather than the package leaving it out.
    yield { kind: "bundle.artifact", file, version, digest, artifact: object ? await object.text() : null };
  }

  const agents = deps.agentRegistry(env, tenant);
  const [listed, changes] = await Promise.all([agents.list(), agents.history()]);
  files.add("agent_registry", "agents/registry.json");
  yield {
    kind: "agent.registry",
    file: "agents/registry.json",
    version: listed.version,
    agents: listed.agents as unknown as JsonValue[],
    history: changes.filter((change) => change.time >= window.from && change.time <= window.to) as unknown as JsonValue[],
  };
  const ledger = deps.consentLedger(env, tenant);
  for (let after = 0; ; ) {
    const page = await ledger.readLedger(after, 500);
    for (const text of page) {
      const entry = JSON.parse(text) as LogEntry;
      after = entry.seq;
      if (entry.time < window.from || entry.time > window.to) continue;
      counts.consent_log += 1;
      files.add("consents", "consents/ledger.jsonl");
      yield { kind: "consent.log", file: "consents/ledger.jsonl", entry: entry as unknown as JsonValue };
    }
    if (page.length < 500) break;
  }

  let cursor: string | undefined;
  do {
    const listing = await env.ARCHIVE.list({ prefix: `${tenant}/devices/`, delimiter: "/", cursor });
    for (const prefix of listing.delimitedPrefixes) {
      const id = prefix.slice(`${tenant}/devices/`.length, -1);
      const store = deps.deviceStore(env, tenant, id);
      const record = await store.complianceRecord(window.now);
      if (!record || record.device.registeredAt > window.to) continue;
      counts.devices += 1;
      const deviceFile = `devices/${id}/device.json`;
      files.add("devices", deviceFile);
      if (record.checkpoint) files.add("checkpoints", deviceFile);
      yield {
        kind: "device",
        file: deviceFile,
        device: record.device as unknown as JsonValue,
        assurance_history: record.assuranceHistory.filter((change) => change.time <= window.to),
        checkpoint: record.checkpoint?.note ?? null,
      };
      if (!record.checkpoint) continue;
      const size = parseCheckpointText(parseNote(record.checkpoint.note).text).size;
      for (let after: number | null = 0; after !== null; ) {
        const page: Awaited<ReturnType<typeof store.complianceEvidence>> = await store.complianceEvidence({ size, after, limit: PAGE, from: window.from, to: window.to });
        for (const part of page.parts) {
          const { mac: _mac, mac_key: _macKey, ...entry } = JSON.parse(part.entry) as LogEntry;
          const { file: name, evidence } = PACKAGE_EVIDENCE[part.kind];
          const file = `devices/${id}/${name}.jsonl`;
          counts[name] += 1;
          files.add(evidence, file);
          yield { kind: part.kind, file, device: id, entry: entry as unknown as JsonValue, proof: { leaf_index: entry.seq - 1, tree_size: size, hashes: part.proof } };
        }
        after = page.next;
      }
    }
    cursor = listing.truncated ? listing.cursor : undefined;
  } while (cursor);
}
