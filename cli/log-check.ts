import type { LogCheckpoint, LogPage } from "./client.ts";
import { entryHash, type LogEntry } from "../worker/log/chain.ts";
import { HookFailure } from "./hooks/protocol.ts";
import { connect, refused, withSession, type Connection } from "./hooks/session.ts";
import type { HookState, LogPosition } from "./hooks/state.ts";

/**
 * `warden shim log-check`: does the device's log at Warden still hold what this endpoint saw
 * appended? The hooks keep the last position Warden returned (seq and hash, from decisions,
 * redemptions and outcomes) and the last checkpoint size and root; this compares them with
 * the live log and the latest signed checkpoint through the device's own routes.
 *
 * It detects: a log shorter than a position once returned (deletion of the tail, a restore
 * from an older snapshot, a reset device), a different entry at that position (a rewrite or
 * a fork), an entry whose hash does not cover its fields, and a checkpoint smaller than one
 * seen before, or of the same size with another root. It cannot detect a change to entries
 * the endpoint never saw, nor compare hashes of entries already archived (the device may not
 * read the archive; only their count is attested, by the signed checkpoint): for those an
 * auditor verifies a full export (`warden audit verify`). It trusts Warden's answers to be
 * Warden's (TLS); the checkpoint's signature is verified by `warden audit verify`, not here.
 */

export type LogCheckStatus = "consistent" | "rolled_back" | "rewritten";

/** What `warden shim log-check` prints. */
export interface LogCheckReport {
  status: LogCheckStatus;
  /** What was compared: the entry itself (still live), or only the signed checkpoint's size (archived). */
  checked: "entry" | "checkpoint";
  kept: LogPosition;
  head: LogPosition;
  checkpoint: { size: number; root: string } | null;
  detail: string;
}

/** Compares the kept position and checkpoint with Warden's live log and latest checkpoint; moves them forward when consistent. */
export async function checkLog(options: Connection, state: HookState): Promise<LogCheckReport> {
  const kept = state.logPosition();
  if (!kept) throw new HookFailure("configuration_error", `no log position kept in ${state.dir} yet: it is written by warden hook calls`);
  const client = await connect(options, state);
  const page = await withSession(client, state, () => client.readLog<LogPage>(kept.seq - 1, 1));
  if (page.status !== 200) throw refused("log", page);
  const head = page.body.head;
  const checkpointAnswer = await withSession(client, state, () => client.checkpoint<LogCheckpoint>());
  const checkpoint = checkpointAnswer.status === 200 ? { size: checkpointAnswer.body.size, root: checkpointAnswer.body.root } : null;
  if (checkpointAnswer.status !== 200 && checkpointAnswer.status !== 404) throw refused("checkpoint", checkpointAnswer);
  const report = (status: LogCheckStatus, checked: LogCheckReport["checked"], detail: string): LogCheckReport => ({ status, checked, kept, head, checkpoint, detail });

  const seen = state.lastCheckpoint();
  if (checkpoint && seen && (checkpoint.size < seen.size || (checkpoint.size === seen.size && checkpoint.root !== seen.root))) {
    return report(checkpoint.size < seen.size ? "rolled_back" : "rewritten", "checkpoint", `the signed checkpoint (size ${checkpoint.size}) does not extend the one seen before (size ${seen.size})`);
  }
  if (head.seq < kept.seq) return report("rolled_back", "entry", `the log ends at seq ${head.seq}, before seq ${kept.seq} that Warden returned to this device`);

  const entry = page.body.entries[0] as LogEntry | undefined;
  let result: LogCheckReport;
  if (entry && entry.seq === kept.seq) {
    if (entry.hash !== kept.hash) return report("rewritten", "entry", `seq ${kept.seq} now has hash ${entry.hash}, not ${kept.hash}`);
    if (entryHash(entry) !== entry.hash) return report("rewritten", "entry", `seq ${kept.seq} no longer hashes to its hash: its fields were changed`);
    result = report("consistent", "entry", `seq ${kept.seq} is unchanged and the log has grown to seq ${head.seq}`);
  } else {
    // The entry was archived and pruned: the device can no longer read it, only count it.
    if (!checkpoint || checkpoint.size < kept.seq) return report("rolled_back", "checkpoint", `seq ${kept.seq} is neither live nor covered by a signed checkpoint (size ${checkpoint?.size ?? 0})`);
    result = report("consistent", "checkpoint", `seq ${kept.seq} is archived; the signed checkpoint covers ${checkpoint.size} entries (compare hashes with an auditor's export)`);
  }
  // What this check saw becomes what the next one compares with.
  state.noteLogPosition(head);
  if (checkpoint) state.noteCheckpoint(checkpoint);
  return result;
}
