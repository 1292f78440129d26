import { fromHex } from "../encoding.ts";
import { WardenError } from "../errors.ts";
import { parseStrictJson } from "../json/strict.ts";
import type { LogEntry } from "./chain.ts";
import { EXPORT_FORMAT, manifestHash, type ExportManifest, type ExportManifestBody, type ExportRecord, type ExportSlice } from "./export.ts";
import { MerkleAccumulator, type Frontier } from "./merkle.ts";

/** Entries read from the Durable Object per call when an export streams the unarchived tail. */
const TAIL_PAGE = 500;

/** What an export reads from a device's log: its Durable Object's export methods. */
export interface ExportSource {
  exportTree(size: number): Promise<Frontier | null>;
  exportSlice(cursor: number, limit: number): Promise<ExportSlice>;
  signExportManifest(manifest: ExportManifestBody): Promise<string>;
}

export interface ExportParams {
  store: ExportSource;
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
    if (slice.kind !== "segment") throw new WardenError("storage_error", `entry ${from - 1} is archived but entry ${from} is not in a segment`);
    if (slice.manifest.first === from) {
      tree = slice.treeBefore;
    } else {
      const reader = await segmentLines(archive, slice.key);
      const accumulator = new MerkleAccumulator(slice.treeBefore);
      let line: string | null = null;
      for (let seq = slice.manifest.first; ; seq += 1) {
        const next = await reader.next();
        if (next.done) throw new WardenError("storage_error", `${slice.key} ends before entry ${from}`);
        if (seq === from) {
          line = next.value;
          break;
        }
        accumulator.push(fromHex((parseStrictJson(next.value) as unknown as LogEntry).hash));
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
        if (first.seq !== cursor || last.seq !== cursor + lines.length - 1) throw new WardenError("storage_error", `the log returned ${first.seq}..${last.seq} for ${cursor}`);
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
      if (!object) throw new WardenError("storage_error", `archived segment ${key} is missing`);
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
          if (next.done) throw new WardenError("storage_error", `segment ${key} ends before entry ${seq}`);
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
        if (last.seq !== seq - 1) throw new WardenError("storage_error", `segment ${key} is out of order at ${last.seq}`);
        end = last.hash;
        cursor = seq;
      }
    } finally {
      await reader.return(undefined);
    }
  }
  if (cursor !== to + 1 || start === null || end === null) throw new WardenError("storage_error", `the export stopped at entry ${cursor}, short of ${to}`);
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
  if (!object) throw new WardenError("storage_error", `archived segment ${key} is missing`);
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
