import type { ServiceContext } from "../context.ts";
import { ConfigurationError, MalformedInputError, WardenError } from "../errors.ts";
import { logOrigin, type StoredCheckpoint } from "../log/checkpoint.ts";
import type { AppendedEntry } from "../domain.ts";
import { exportRecords, type ExportSource } from "../log/export-stream.ts";
import { jsonLinesBody, type JsonLinesDownload } from "./stream.ts";

/** A device log as its Durable Object offers it to an export. */
export interface ExportableLog extends ExportSource {
  exportStart(): Promise<{ exists: boolean; head: AppendedEntry; checkpoint: StoredCheckpoint | null; retainedFrom?: number }>;
}

/**
 * Streams a device's log from `from` to `to` (default: the head when the export starts):
 * archived segments, the live tail, and a manifest signed by the log key (docs/audit-export.md).
 */
export async function exportDeviceLog(ctx: ServiceContext, log: ExportableLog, device: string, range: { from: number; to?: number | undefined }): Promise<JsonLinesDownload> {
  const { env } = ctx;
  // Without a log key no manifest can be signed; refuse before streaming rather than end short.
  if (!env.LOG_SIGNING_KEY) throw new ConfigurationError("configuration_error", "LOG_SIGNING_KEY is not set");
  const start = await log.exportStart();
  if (!start.exists) throw new WardenError("not_found", "no such device");
  // Entries before retainedFrom were deleted with their segments at the end of their retention (docs/privacy.md).
  if (range.from < (start.retainedFrom ?? 1)) throw new WardenError("log_range_expired", `entries before ${start.retainedFrom} are past their retention`);
  const to = Math.min(range.to ?? start.head.seq, start.head.seq);
  if (range.from > to) throw new MalformedInputError("malformed_request", `the range ${range.from}..${to} holds no entries (head ${start.head.seq})`);
  const records = exportRecords({
    store: log,
    archive: env.ARCHIVE,
    tenant: env.TENANT,
    device,
    origin: logOrigin(env.LOG_ORIGIN, env.TENANT, device),
    from: range.from,
    to,
    head: start.head,
    checkpoint: start.checkpoint?.note ?? null,
    now: ctx.deps.now(),
  });
  const body = jsonLinesBody(records, (error) => console.error(JSON.stringify({ event: "export.failed", device, error: String(error) })));
  return { body, filename: `${device}-${range.from}-${to}.jsonl` };
}
