import { createRoute, z } from "@hono/zod-openapi";
import { deviceInReach, requireRole } from "../auth.ts";
import { ConfigurationError, MalformedInputError, WardenError } from "../errors.ts";
import { DeviceIdSchema, bearerSecurity, deviceSecurity, problems, router } from "../openapi.ts";
import { createHash } from "node:crypto";
import { parseStrictJson } from "../json/strict.ts";
import { canonicalJson, type JsonValue } from "../log/canonical.ts";
import { logOrigin, tenantOrigin } from "../log/checkpoint.ts";
import {
  EXPORT_FORMAT,
  PACKAGE_FORMAT,
  manifestHash,
  type ExportManifest,
  type ExportRecord,
  type PackageManifest,
  type PackageRecord,
} from "../log/export.ts";
import { importLogPublicKey, importLogSigningKey, noteSignerFor, type LogPublicJwk } from "../log/keys.ts";
import { signNote } from "../log/note.ts";
import type { AppEnv } from "../context.ts";
import { MerkleAccumulator, type Frontier } from "../log/merkle.ts";
import type { LogEntry } from "../log/chain.ts";
import type { DeviceLog } from "../../durable-objects/DeviceLog.ts";
import type { ExportSlice } from "../../durable-objects/log-archive.ts";

/**
 * The audit trail over HTTP: a device log's latest signed checkpoint, the log
 * keys that verify it, and streamed exports an auditor verifies offline with
 * `warden audit verify` (format: docs/audit-export.md).
 */

const CheckpointSchema = z
  .object({
    origin: z.string(),
    device: z.string(),
    size: z.int(),
    root: z.string().openapi({ description: "RFC 6962 Merkle root over the entry hashes (hex)" }),
    head: z.string().openapi({ description: "Hash of entry `size`" }),
    time: z.string(),
    key: z.string().openapi({ description: "RFC 7638 thumbprint of the log key that signed it" }),
    note: z.string().openapi({ description: "The checkpoint as a C2SP signed note (tlog-checkpoint body)" }),
  })
  .openapi("Checkpoint");

const LogKeySchema = z.object({
  kty: z.string(),
  crv: z.string(),
  x: z.string(),
  kid: z.string(),
  alg: z.string(),
  use: z.string(),
  status: z.enum(["current", "previous", "retired"]),
});
const LogKeysSchema = z.object({ keys: z.array(LogKeySchema) }).openapi("LogKeys");

/** Entries read from the Durable Object per call when an export streams the unarchived tail. */
const TAIL_PAGE = 500;

export const audit = router();

audit.openapi(
  createRoute({
    method: "get",
    path: "/.well-known/warden-log-keys.json",
    summary: "Public keys that verify log checkpoints, key rotations and export manifests, current and retired",
    responses: { 200: { description: "JWK Set; `status` says which key signs now", content: { "application/json": { schema: LogKeysSchema } } } },
  }),
  async (c) => {
    const keys = new Map<string, LogPublicJwk & { status: "current" | "previous" | "retired" }>();
    const configured: [string | undefined, "current" | "previous", string][] = [
      [c.env.LOG_SIGNING_KEY, "current", "LOG_SIGNING_KEY"],
      [c.env.LOG_SIGNING_KEY_PREVIOUS, "previous", "LOG_SIGNING_KEY_PREVIOUS"],
    ];
    for (const [source, status, name] of configured) {
      if (!source) continue;
      const key = await importLogSigningKey(source, name);
      if (!keys.has(key.kid)) keys.set(key.kid, { ...key.publicJwk, status });
    }
    // Every key a log ever used was written to the archive when first used; retired ones stay published from there.
    let cursor: string | undefined;
    do {
      const listing = await c.env.ARCHIVE.list({ prefix: "log-keys/", cursor });
      for (const object of listing.objects) {
        const kid = object.key.slice("log-keys/".length, -".json".length);
        if (keys.has(kid)) continue;
        const stored = await c.env.ARCHIVE.get(object.key);
        if (!stored) continue;
        // R2 can be written around Warden (wrangler r2 object put), so its objects are read strictly.
        const key = await importLogPublicKey(parseStrictJson(new Uint8Array(await stored.arrayBuffer())) as Record<string, unknown>);
        keys.set(key.kid, { ...key.publicJwk, status: "retired" });
      }
      cursor = listing.truncated ? listing.cursor : undefined;
    } while (cursor);
    c.header("cache-control", "public, max-age=300");
    return c.json({ keys: [...keys.values()] }, 200);
  },
);

audit.use("/v1/devices/:id/checkpoint", requireRole("admin", "auditor", "device"));
audit.openapi(
  createRoute({
    method: "get",
    path: "/v1/devices/{id}/checkpoint",
    summary: "The latest signed checkpoint of a device's log",
    description:
      "The device's Durable Object signs checkpoints after appends, at most every LOG_CHECKPOINT_ENTRIES entries or LOG_CHECKPOINT_SECONDS seconds; if one is due (or none exists yet) this request signs it first. With `Accept: text/plain` the answer is the bare signed note.",
    security: [...bearerSecurity, ...deviceSecurity],
    request: { params: z.object({ id: DeviceIdSchema }) },
    responses: {
      200: {
        description: "The latest checkpoint",
        content: { "application/json": { schema: CheckpointSchema }, "text/plain": { schema: z.string() } },
      },
      ...problems(401, 403, 404),
    },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const store = await deviceInReach(c, id);
    const { exists, checkpoint } = await store.checkpoint(c.var.deps.now());
    if (!exists) throw new WardenError("not_found", "no such device");
    if (!checkpoint) throw new WardenError("not_found", "the log has no checkpoint (is LOG_SIGNING_KEY set?)");
    if (prefersText(c.req.header("accept"))) return c.text(checkpoint.note, 200, { "content-type": "text/plain; charset=utf-8" });
    return c.json({ ...checkpoint, device: id }, 200);
  },
);

function prefersText(accept: string | undefined): boolean {
  if (!accept) return false;
  const text = accept.indexOf("text/plain");
  const json = accept.indexOf("application/json");
  return text >= 0 && (json < 0 || text < json);
}

audit.use("/v1/devices/:id/export", requireRole("admin", "auditor"));
audit.openapi(
  createRoute({
    method: "get",
    path: "/v1/devices/{id}/export",
    summary: "Stream a device's log: archived segments, the live tail and a signed export manifest (admin, auditor)",
    description:
      "JSON Lines (docs/audit-export.md): a header, each archived segment's manifest followed by its entries, the unarchived entries, and last a manifest signed by the log key (a C2SP signed note). Verify with `warden audit verify`. The body streams; a failure midway ends it without the manifest, which the verifier reports as truncated.",
    security: bearerSecurity,
    request: {
      params: z.object({ id: DeviceIdSchema }),
      query: z.object({
        from: z.coerce.number().int().min(1).default(1).openapi({ description: "First seq (default 1)" }),
        to: z.coerce.number().int().min(1).optional().openapi({ description: "Last seq (default: the head when the export starts)" }),
      }),
    },
    responses: {
      200: { description: "The export, streamed", content: { "application/x-ndjson": { schema: z.string() } } },
      ...problems(400, 401, 403, 404),
    },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const query = c.req.valid("query");
    // Without a log key no manifest can be signed; refuse before streaming rather than end short.
    if (!c.env.LOG_SIGNING_KEY) throw new ConfigurationError("configuration_error", "LOG_SIGNING_KEY is not set");
    const store = await deviceInReach(c, id);
    const start = await store.exportStart();
    if (!start.exists) throw new WardenError("not_found", "no such device");
    const to = Math.min(query.to ?? start.head.seq, start.head.seq);
    if (query.from > to) throw new MalformedInputError("malformed_request", `the range ${query.from}..${to} holds no entries (head ${start.head.seq})`);
    const tenant = c.env.TENANT;
    const records = exportRecords({
      store,
      archive: c.env.ARCHIVE,
      tenant,
      device: id,
      origin: logOrigin(c.env.LOG_ORIGIN, tenant, id),
      from: query.from,
      to,
      head: start.head,
      checkpoint: start.checkpoint?.note ?? null,
      now: c.var.deps.now(),
    });
    const encoder = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const next = await records.next();
          if (next.done) controller.close();
          else controller.enqueue(typeof next.value === "string" ? encoder.encode(`${next.value}\n`) : next.value);
        } catch (error) {
          console.error(JSON.stringify({ event: "export.failed", device: id, error: String(error) }));
          controller.error(error);
        }
      },
      async cancel() {
        await records.return(undefined);
      },
    });
    const response = c.body(body, 200, {
      "content-type": "application/x-ndjson; charset=utf-8",
      "content-disposition": `attachment; filename="${id}-${query.from}-${to}.jsonl"`,
      "cache-control": "no-store",
    });
    // @hono/zod-openapi types responses only for JSON and text/plain; x-ndjson falls through to `never`.
    return response as never;
  },
);

audit.use("/v1/audit/package", requireRole("auditor"));
audit.openapi(
  createRoute({
    method: "get",
    path: "/v1/audit/package",
    summary: "Compliance package: bundle deployment and activation records, device registry with assurance history, every device's latest checkpoint (auditor)",
    description:
      "JSON Lines (docs/audit-export.md): a header, the tenant's bundle deployment, its admin-log records (activations, rollbacks, refusals) in the window, one record per device (registration, assurance history up to `to`, latest signed checkpoint), and a manifest signed by the log key over the SHA-256 of every line before it. Review and consent records are named in `not_included` until this deployment holds them. Devices are listed from the archive (a device appears after its Durable Object's first alarm).",
    security: bearerSecurity,
    request: {
      query: z.object({
        from: z.iso.datetime().optional().openapi({ description: "Start of the window (RFC 3339); default: the beginning" }),
        to: z.iso.datetime().optional().openapi({ description: "End of the window (RFC 3339); default: now" }),
      }),
    },
    responses: {
      200: { description: "The package, streamed", content: { "application/x-ndjson": { schema: z.string() } } },
      ...problems(400, 401, 403),
    },
  }),
  async (c) => {
    const query = c.req.valid("query");
    const now = c.var.deps.now();
    const from = query.from ? new Date(query.from).toISOString() : new Date(0).toISOString();
    const to = query.to ? new Date(query.to).toISOString() : new Date(now).toISOString();
    if (from > to) throw new MalformedInputError("malformed_request", "`from` is after `to`");
    if (!c.env.LOG_SIGNING_KEY) throw new ConfigurationError("configuration_error", "LOG_SIGNING_KEY is not set");
    const key = await importLogSigningKey(c.env.LOG_SIGNING_KEY).catch((cause: unknown) => {
      throw new ConfigurationError("configuration_error", "LOG_SIGNING_KEY is not an Ed25519 private JWK", { cause });
    });
    const records = packageRecords(c.env, c.var.deps, { from, to, now });
    const encoder = new TextEncoder();
    const digest = createHash("sha256");
    let counts = { bundle_log: 0, devices: 0 };
    const origin = tenantOrigin(c.env.LOG_ORIGIN, c.env.TENANT);
    let done = false;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          if (done) return controller.close();
          const next = await records.next();
          if (!next.done) {
            const line = `${JSON.stringify(next.value.record)}\n`;
            digest.update(line);
            counts = next.value.counts;
            controller.enqueue(encoder.encode(line));
            return;
          }
          const manifest: PackageManifest = {
            format: PACKAGE_FORMAT,
            origin,
            tenant: c.env.TENANT,
            range: { from, to },
            counts,
            sha256: digest.digest("hex"),
            not_included: ["reviews", "consents"],
            key: key.kid,
            generated_at: new Date(now).toISOString(),
          };
          const note = await signNote(`${canonicalJson(manifest as unknown as JsonValue)}\n`, [noteSignerFor(key, origin)]);
          const record: PackageRecord = { kind: "manifest", note };
          controller.enqueue(encoder.encode(`${JSON.stringify(record)}\n`));
          done = true;
        } catch (error) {
          console.error(JSON.stringify({ event: "package.failed", error: String(error) }));
          controller.error(error);
        }
      },
      async cancel() {
        await records.return(undefined);
      },
    });
    const response = c.body(body, 200, {
      "content-type": "application/x-ndjson; charset=utf-8",
      "content-disposition": `attachment; filename="warden-${c.env.TENANT}-package.jsonl"`,
      "cache-control": "no-store",
    });
    // @hono/zod-openapi types responses only for JSON and text/plain; x-ndjson falls through to `never`.
    return response as never;
  },
);

/** The package's lines before its manifest, with the running counts. */
async function* packageRecords(
  env: Env,
  deps: AppEnv["Variables"]["deps"],
  window: { from: string; to: string; now: number },
): AsyncGenerator<{ record: PackageRecord; counts: { bundle_log: number; devices: number } }, void, undefined> {
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

export interface ExportParams {
  store: DurableObjectStub<DeviceLog>;
  archive: R2Bucket;
  tenant: string;
  device: string;
  origin: string;
  from: number;
  to: number;
  head: { seq: number; hash: string };
  checkpoint: string | null;
  now: number;
}

/**
 * The export, produced a piece at a time: a string is one or more lines
 * (newline added by the caller), bytes are passed through as they are. Nothing
 * holds more than one segment's read buffer or one page of the tail, and a
 * whole segment is piped from R2 without being decoded (the CPU limit applies
 * to the whole streamed response). Each step asks the Durable Object where the
 * next entry is *now*, so an archival that runs meanwhile moves the cursor to
 * R2 rather than skipping or repeating entries.
 */
export async function* exportRecords(params: ExportParams): AsyncGenerator<string | Uint8Array, void, undefined> {
  const { store, archive, from, to } = params;
  let cursor = from;
  let start: string | null = null;
  let end: string | null = null;
  const segments: ExportManifest["segments"] = [];

  // The compact range after from - 1 goes in the header; when that entry is archived it is
  // rebuilt from its segment, whose reading then simply continues.
  let tree: Frontier | null = await store.exportTree(from - 1);
  let pending: PendingSegment | null = null;
  if (tree === null) {
    const slice = await store.exportSlice(from, TAIL_PAGE);
    if (slice.kind !== "segment") throw new Error(`entry ${from - 1} is archived but entry ${from} is not in a segment`);
    if (slice.manifest.first === from) {
      tree = slice.treeBefore;
    } else {
      const reader = await segmentLines(archive, slice.key);
      const accumulator = new MerkleAccumulator(slice.treeBefore);
      let line: string | null = null;
      for (let seq = slice.manifest.first; ; seq += 1) {
        const next = await reader.next();
        if (next.done) throw new Error(`${slice.key} ends before entry ${from}`);
        if (seq === from) {
          line = next.value;
          break;
        }
        accumulator.push(Buffer.from((parseStrictJson(next.value) as unknown as LogEntry).hash, "hex"));
      }
      tree = accumulator.frontier();
      pending = { slice, reader, line };
    }
  }
  const header: ExportRecord = {
    kind: "export",
    format: EXPORT_FORMAT,
    origin: params.origin,
    tenant: params.tenant,
    device: params.device,
    from,
    to,
    tree,
    checkpoint: params.checkpoint,
  };
  yield JSON.stringify(header);

  while (cursor <= to) {
    let segment = pending;
    pending = null;
    if (!segment) {
      const slice = await store.exportSlice(cursor, TAIL_PAGE);
      if (slice.kind === "end") break;
      if (slice.kind === "entries") {
        // Rows come back consecutive from `cursor`; only the ends are parsed, to check that and to keep the heads.
        const lines = slice.entries.slice(0, to - cursor + 1);
        const first = JSON.parse(lines[0] as string) as LogEntry;
        const last = JSON.parse(lines[lines.length - 1] as string) as LogEntry;
        if (first.seq !== cursor || last.seq !== cursor + lines.length - 1) throw new Error(`the log returned ${first.seq}..${last.seq} for ${cursor}`);
        start ??= first.prev;
        end = last.hash;
        cursor += lines.length;
        yield lines.join("\n");
        continue;
      }
      segment = { slice, reader: null, line: null };
    }
    const { manifest, key } = segment.slice;
    const partial = cursor > manifest.first || to < manifest.last;
    const record: ExportRecord = { kind: "segment", manifest, partial };
    yield JSON.stringify(record);
    segments.push({ first: manifest.first, last: manifest.last, manifest: manifestHash(manifest) });
    if (!partial && !segment.reader) {
      // Whole segment: its object is exactly its entry lines, each with its newline.
      const object = await archive.get(key);
      if (!object) throw new Error(`archived segment ${key} is missing`);
      for await (const chunk of object.body) yield chunk;
      start ??= manifest.prev_hash;
      end = manifest.last_hash;
      cursor = manifest.last + 1;
      continue;
    }
    const reader = segment.reader ?? (await segmentLines(archive, key));
    try {
      // Lines are entries first..last in order: a line's seq is its position.
      let seq = segment.reader ? cursor : manifest.first;
      let line = segment.line;
      let lastLine: string | null = null;
      for (; seq <= Math.min(manifest.last, to); seq += 1) {
        if (line === null) {
          const next = await reader.next();
          if (next.done) throw new Error(`segment ${key} ends before entry ${seq}`);
          line = next.value;
        }
        if (seq >= cursor) {
          if (start === null) start = (parseStrictJson(line) as unknown as LogEntry).prev;
          yield line;
          lastLine = line;
        }
        line = null;
      }
      if (lastLine !== null) {
        const last = parseStrictJson(lastLine) as unknown as LogEntry;
        if (last.seq !== seq - 1) throw new Error(`segment ${key} is out of order at ${last.seq}`);
        end = last.hash;
        cursor = seq;
      }
    } finally {
      await reader.return(undefined);
    }
  }
  if (cursor !== to + 1 || start === null || end === null) throw new Error(`the export stopped at entry ${cursor}, short of ${to}`);
  const note = await store.signExportManifest({
    tenant: params.tenant,
    device: params.device,
    range: { from, to },
    count: to - from + 1,
    heads: { start, end, head: params.head },
    tree,
    segments,
    checkpoint: params.checkpoint,
    generated_at: new Date(params.now).toISOString(),
  });
  const manifestRecord: ExportRecord = { kind: "manifest", note };
  yield JSON.stringify(manifestRecord);
}

interface PendingSegment {
  slice: Extract<ExportSlice, { kind: "segment" }>;
  /** A reader already positioned (the header rebuilt the tree from the segment's start), with its current line. */
  reader: AsyncGenerator<string, void, undefined> | null;
  line: string | null;
}

async function segmentLines(archive: R2Bucket, key: string): Promise<AsyncGenerator<string, void, undefined>> {
  const object = await archive.get(key);
  if (!object) throw new Error(`archived segment ${key} is missing`);
  return lines(object.body);
}

/** Lines of a UTF-8 byte stream, without their newlines, buffering at most one partial line. */
async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string, void, undefined> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let newline = buffer.indexOf("\n");
      while (newline >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        if (line.length > 0) yield line;
        newline = buffer.indexOf("\n");
      }
    }
    if (buffer.length > 0) yield buffer;
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}
