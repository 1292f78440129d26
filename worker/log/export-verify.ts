import { createHash, type Hash } from "node:crypto";
import { fromHex } from "../encoding.ts";
import { WardenError } from "../errors.ts";
import { StrictJsonError, parseStrictJson } from "../json/strict.ts";
import { canonicalJson, type JsonValue } from "./canonical.ts";
import { GENESIS_PREV, entryHash, type LogEntry } from "./chain.ts";
import { parseCheckpointText, type Checkpoint } from "./checkpoint.ts";
import {
  EXPORT_FORMAT,
  GENESIS_SEGMENT,
  SEGMENT_FORMAT,
  manifestHash,
  type ExportHeader,
  type ExportManifest,
  type SegmentManifest,
} from "./export.ts";
import { noteVerifierFor, type LogKey } from "./keys.ts";
import { GENESIS_MAC, entryMac, type MacKey } from "./mac.ts";
import { MerkleAccumulator, isFrontier } from "./merkle.ts";
import { NoteError, parseNote, verifyNote, type NoteVerifier } from "./note.ts";
import { parseRotationText, verifyRotationStatement } from "./rotation.ts";
import { verifyCosignatures, type WitnessKey } from "./witness.ts";

/**
 * Offline verification of a Warden log export (docs/audit-export.md), one line
 * at a time, holding only running state: the next expected seq and link, a
 * Merkle compact range, the current segment's digest and the HMAC chain. No file or
 * network I/O (cli/audit.ts does that); it runs in Node and in workerd, where nodejs_compat
 * provides the incremental SHA-256 of node:crypto that hashes a segment as it streams.
 *
 * It stops at the first problem and names it with a code of its own and the
 * first bad seq. Every line is read with the strict JSON reader: an edit that
 * adds `"decision":"permit"` before `"decision":"deny"` keeps the hash that
 * JSON.parse recomputes, so it must be refused as a text, not resolved.
 */

export type AuditProblem =
  | "malformed_line"
  | "duplicate_key"
  | "missing_header"
  | "entry_edited"
  | "entry_missing"
  | "entries_reordered"
  | "chain_broken"
  | "wrong_device"
  | "hmac_mismatch"
  | "hmac_missing"
  | "hmac_key_unknown"
  | "unknown_key"
  | "key_change_without_rotation"
  | "rotation_invalid"
  | "segment_chain_broken"
  | "segment_mismatch"
  | "checkpoint_invalid"
  | "checkpoint_mismatch"
  | "checkpoint_rollback"
  | "held_checkpoint_invalid"
  | "held_checkpoint_mismatch"
  | "manifest_invalid"
  | "manifest_mismatch"
  | "truncated"
  | "trailing_data"
  | "witness_policy_unmet"

  // Raised by a replay hooked in through `onEntry` (worker/history/replay.ts).
  | "replay_mismatch"
  | "history_mismatch"
  | "finding_mismatch";

export class AuditFailure extends Error {
  constructor(
    readonly code: AuditProblem,
    readonly seq: number | null,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export interface VerifyOptions {
  /** Trusted log public keys (from `--keys`). An empty set verifies nothing and is refused. */
  keys: LogKey[];
  /**
   * HMAC keys (from `--hmac-key`). Given any, every entry must carry a `mac` by one of
   * them: an entry without one fails `hmac_missing`, one by another key `hmac_key_unknown`.
   */
  macKeys?: MacKey[];
  /** A checkpoint the auditor kept from before (signed note text). */
  held?: string;
  /**
   * Witness policy: the export's checkpoint must carry cosignatures (C2SP tlog-cosignature) by
   * at least `witnessQuorum` of these witnesses (default: all of them).
   */
  witnesses?: WitnessKey[];
  witnessQuorum?: number;
  /**
   * Called with each entry once it verified (hash, link, key, HMAC), in order: a replay
   * (worker/history/replay.ts) recomputes decisions from the entries before them and throws an
   * `AuditFailure` naming the seq when one disagrees.
   */
  onEntry?: (entry: LogEntry) => void;
  /** Called every `progressEvery` entries with the count so far and the count expected. */
  onProgress?: (entries: number, expected: number) => void;
  progressEvery?: number;
}

export interface CheckpointReport {
  size: number;
  time: string;
  key: string;
  /**
   * Whether its root and head were compared with the export (false when its size is outside
   * from - 1..to). At from - 1 the root is the header's tree and the head the first entry's prev.
   */
  compared: boolean;
}

export interface VerifyReport {
  ok: boolean;
  origin: string | null;
  device: string | null;
  range: { from: number; to: number } | null;
  entries: number;
  segments: number;
  rotations: number;
  hmac: { checked: number; unchecked: number; keys: string[] };
  checkpoint: CheckpointReport | null;
  held: CheckpointReport | null;
  manifestKey: string | null;
  /** Rotations after the range, carried by the manifest, that lead from the key entry `to` names to the manifest's signer. */
  manifestRotations: number;
  /** Witnesses whose cosignatures of the export's checkpoint verified. */
  witnesses: string[];
  warnings: string[];
  failure: { code: AuditProblem; seq: number | null; message: string } | null;
}


interface OpenSegment {
  manifest: SegmentManifest;
  partial: boolean;
  digest: Hash | null;
  seen: number;
}

const HEX64 = /^[0-9a-f]{64}$/;

function canonical(value: unknown): string {
  return canonicalJson(value as JsonValue);
}

/** Why a complete line that is not strict JSON fails; two members of one name have their own code. */
export function strictFailure(error: StrictJsonError, line: number): { code: "duplicate_key" | "malformed_line"; message: string } {
  if (error.code === "duplicate_key") {
    return { code: "duplicate_key", message: `line ${line} has two members of the same name (offset ${error.offset}): readers differ on which one counts, so it verifies nothing` };
  }
  return { code: "malformed_line", message: `line ${line} is not strict JSON (${error.code} at offset ${error.offset})` };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** An entry line, checked for shape only (snapshot of untrusted input, never mutated). */
function parseEntry(value: Record<string, unknown>, line: number): LogEntry {
  const { seq, time, prev, device, type, data, hash, key, mac, mac_key } = value;
  const ok =
    typeof seq === "number" &&
    Number.isSafeInteger(seq) &&
    seq >= 1 &&
    typeof time === "string" &&
    typeof prev === "string" &&
    HEX64.test(prev) &&
    typeof device === "string" &&
    typeof type === "string" &&
    isRecord(data) &&
    typeof hash === "string" &&
    HEX64.test(hash) &&
    (key === undefined || typeof key === "string") &&
    (mac === undefined || (typeof mac === "string" && HEX64.test(mac))) &&
    (mac_key === undefined || typeof mac_key === "string");
  if (!ok) throw new AuditFailure("malformed_line", typeof seq === "number" ? seq : null, `line ${line} is not a log entry`);
  return value as unknown as LogEntry;
}

export class ExportVerifier {
  private readonly trusted: Map<string, LogKey>;
  private readonly macKeys: Map<string, MacKey>;
  private line = 0;
  private header: ExportHeader | null = null;
  private verifiers: NoteVerifier[] = [];
  private tree: MerkleAccumulator | null = null;
  private expectedSeq = 0;
  private lastHash: string | null = null;
  private lastKey: string | null = null;
  private lastMac: string | null = null;
  /** A forward jump in seq, held one line to tell a deleted entry from two swapped ones. */
  private jumped: LogEntry | null = null;
  private segment: OpenSegment | null = null;
  private lastSegment: SegmentManifest | null = null;
  /** A segment just completed, whose tree is compared once the entry that completed it is in the tree. */
  private pendingTreeCheck: SegmentManifest | null = null;
  private readonly segmentsSeen: ExportManifest["segments"] = [];
  private exportCheckpoint: (Checkpoint & { key: string; note: string }) | null = null;
  private heldCheckpoint: (Checkpoint & { key: string }) | null = null;
  private firstPrev: string | null = null;
  private manifestSeen = false;
  /** A line that ended inside a value, held to tell a cut-off last line from garbage inside. */
  private brokenLine: { line: number; code: StrictJsonError["code"] } | null = null;
  private readonly report: VerifyReport = {
    ok: false,
    origin: null,
    device: null,
    range: null,
    entries: 0,
    segments: 0,
    rotations: 0,
    hmac: { checked: 0, unchecked: 0, keys: [] },
    checkpoint: null,
    held: null,
    manifestKey: null,
    manifestRotations: 0,
    witnesses: [],
    warnings: [],
    failure: null,
  };

  constructor(private readonly options: VerifyOptions) {
    // An empty trust set would make every signature check vacuous.
    if (options.keys.length === 0) throw new WardenError("configuration_error", "no trusted log keys: pass the JWK Set of /.well-known/warden-log-keys.json");
    this.trusted = new Map(options.keys.map((key) => [key.kid, key]));
    this.macKeys = new Map((options.macKeys ?? []).map((key) => [key.id, key]));
    this.report.hmac.keys = [...this.macKeys.keys()];
  }

  /** The header, which every line after the first is read against. */
  private get opened(): ExportHeader {
    if (this.header === null) throw new AuditFailure("missing_header", null, "the export does not start with its header");
    return this.header;
  }

  /**
   * Feeds one line of the export (without its newline): its bytes as read (UTF-8 is then
   * checked too), or its text. Throws AuditFailure at the first problem.
   */
  async push(text: string | Uint8Array): Promise<void> {
    this.line += 1;
    if (text.length === 0) return;
    if (this.brokenLine !== null) throw new AuditFailure("malformed_line", null, `line ${this.brokenLine.line} is not JSON (${this.brokenLine.code})`);
    if (this.manifestSeen) throw new AuditFailure("trailing_data", null, `line ${this.line} follows the signed manifest`);
    let value: unknown;
    try {
      value = parseStrictJson(text);
    } catch (error) {
      if (!(error instanceof StrictJsonError)) throw error;
      // Ending inside a value (or inside a UTF-8 sequence) is what a file cut mid-line looks like: unless another line follows, finish() reports truncation.
      if (error.code === "unexpected_end" || error.code === "invalid_utf8") {
        this.brokenLine = { line: this.line, code: error.code };
        return;
      }
      const { code, message } = strictFailure(error, this.line);
      throw new AuditFailure(code, null, message);
    }
    if (!isRecord(value)) throw new AuditFailure("malformed_line", null, `line ${this.line} is not a JSON object`);
    if (this.header === null) {
      if (value["kind"] !== "export") throw new AuditFailure("missing_header", null, "the export does not start with its header");
      await this.onHeader(value);
      return;
    }
    if (value["kind"] === undefined) {
      await this.onEntry(parseEntry(value, this.line), text);
      return;
    }
    this.settleJump(null);
    if (value["kind"] === "segment") this.onSegment(value);
    else if (value["kind"] === "manifest") await this.onManifest(value);
    else throw new AuditFailure("malformed_line", null, `line ${this.line} has an unknown kind`);
  }

  /** Ends the export: everything promised must have arrived. Returns the report (ok or the first failure). */
  finish(): VerifyReport {
    if (this.brokenLine !== null && this.header) {
      throw new AuditFailure("truncated", this.expectedSeq, `the export ends in the middle of line ${this.brokenLine.line}, after seq ${this.expectedSeq - 1} (truncated)`);
    }
    this.settleJump(null);
    const header = this.header;
    if (!header) throw new AuditFailure("missing_header", null, "the export is empty");
    if (!this.manifestSeen) {
      const last = this.expectedSeq - 1;
      if (last < header.to) {
        throw new AuditFailure("truncated", last + 1, `the export ends after seq ${last}; its header promised ${header.to} and no signed manifest follows (truncated)`);
      }
      throw new AuditFailure("truncated", null, "the signed export manifest is missing (truncated)");
    }
    this.report.ok = true;
    return this.report;
  }

  /** The report with a failure recorded, for callers that caught an AuditFailure. */
  failed(failure: AuditFailure): VerifyReport {
    this.report.ok = false;
    this.report.failure = { code: failure.code, seq: failure.seq, message: failure.message };
    return this.report;
  }

  private async onHeader(value: Record<string, unknown>): Promise<void> {
    const { format, origin, tenant, device, from, to, tree, checkpoint } = value;
    if (
      format !== EXPORT_FORMAT ||
      typeof origin !== "string" ||
      typeof tenant !== "string" ||
      typeof device !== "string" ||
      typeof from !== "number" ||
      !Number.isSafeInteger(from) ||
      from < 1 ||
      typeof to !== "number" ||
      !Number.isSafeInteger(to) ||
      to < from ||
      !isFrontier(tree) ||
      tree.size !== from - 1 ||
      (checkpoint !== null && typeof checkpoint !== "string")
    ) {
      throw new AuditFailure("missing_header", null, `the header is not a ${EXPORT_FORMAT} header`);
    }
    this.header = { kind: "export", format: EXPORT_FORMAT, origin, tenant, device, from, to, tree, checkpoint };
    Object.assign(this.report, { origin, device, range: { from, to } });
    this.verifiers = [...this.trusted.values()].map((key) => noteVerifierFor(key, origin));
    this.tree = new MerkleAccumulator(tree);
    this.expectedSeq = from;
    if (from === 1) this.lastHash = GENESIS_PREV;
    if (from === 1) this.lastMac = GENESIS_MAC;

    if (checkpoint !== null) {
      const verified = await this.openCheckpoint(checkpoint, "checkpoint_invalid", "the export's checkpoint");
      this.exportCheckpoint = { ...verified, note: checkpoint };
      this.report.checkpoint = { size: verified.size, time: verified.time, key: verified.key, compared: false };
    } else {
      this.report.warnings.push("the export carries no checkpoint (the log had not signed one)");
    }
    await this.checkWitnessPolicy(checkpoint);
    if (this.options.held !== undefined) {
      const held = await this.openCheckpoint(this.options.held, "held_checkpoint_invalid", "the held checkpoint");
      this.heldCheckpoint = held;
      this.report.held = { size: held.size, time: held.time, key: held.key, compared: false };
      const latest = this.exportCheckpoint;
      // A log only grows: an export whose newest checkpoint is smaller than one signed earlier was rolled back.
      if (!latest || latest.size < held.size) {
        throw new AuditFailure(
          "checkpoint_rollback",
          (latest?.size ?? 0) + 1,
          `the export's latest checkpoint (size ${latest?.size ?? 0}${latest ? `, ${latest.time}` : ""}) is older than the checkpoint you hold (size ${held.size}, ${held.time}): the log was rolled back or the export is stale`,
        );
      }
      if (held.size > to || held.size < from - 1) this.report.warnings.push(`the held checkpoint (size ${held.size}) is outside the exported range ${from}..${to}; consistency with it was not checked`);
    }
    // Checkpoints at from - 1 are compared against the starting compact range right away.
    this.compareCheckpoints();
  }

  /** With a witness policy, the export's checkpoint must be cosigned by enough of its witnesses. */
  private async checkWitnessPolicy(note: string | null): Promise<void> {
    const witnesses = this.options.witnesses ?? [];
    if (witnesses.length === 0 && this.options.witnessQuorum === undefined) return;
    const quorum = this.options.witnessQuorum ?? witnesses.length;
    if (note === null) throw new AuditFailure("witness_policy_unmet", null, "the export carries no checkpoint for witnesses to have cosigned");
    let found;
    try {
      found = await verifyCosignatures(note, witnesses);
    } catch (error) {
      throw new AuditFailure("witness_policy_unmet", null, `a witness cosignature of the export's checkpoint does not verify (${(error as Error).message})`);
    }
    this.report.witnesses = found.map((f) => f.witness.name);
    if (found.length < quorum) {
      throw new AuditFailure("witness_policy_unmet", null, `the export's checkpoint carries ${found.length} of the ${quorum} witness cosignatures the policy needs: no witness vouches that this history is the one everyone was shown`);
    }
  }

  private async openCheckpoint(note: string, code: "checkpoint_invalid" | "held_checkpoint_invalid", what: string): Promise<Checkpoint & { key: string }> {
    let checkpoint: Checkpoint;
    let signers: NoteVerifier[];
    try {
      const parsed = parseNote(note);
      checkpoint = parseCheckpointText(parsed.text);
      if (checkpoint.origin !== this.header?.origin) throw new AuditFailure(code, null, `${what} is for another log (${checkpoint.origin})`);
      signers = await verifyNote(parsed, this.verifiers);
    } catch (error) {
      if (error instanceof AuditFailure) throw error;
      const reason = error instanceof NoteError && error.code === "note_unverified" ? "is not signed by any trusted key" : `does not verify (${(error as Error).message})`;
      throw new AuditFailure(code, null, `${what} ${reason}`);
    }
    return { ...checkpoint, key: (signers[0] as NoteVerifier).id };
  }

  private async onEntry(entry: LogEntry, text: string | Uint8Array): Promise<void> {
    const header = this.opened;
    if (this.jumped) {
      this.settleJump(entry);
    }
    if (entry.seq !== this.expectedSeq) {
      if (entry.seq < this.expectedSeq) {
        throw new AuditFailure("entries_reordered", entry.seq, `seq ${entry.seq} appears after seq ${this.expectedSeq - 1}: entries were reordered or repeated`);
      }
      this.jumped = entry;
      return;
    }
    if (entry.device !== header.device) throw new AuditFailure("wrong_device", entry.seq, `seq ${entry.seq} belongs to device ${entry.device}, not ${header.device}`);
    if (entryHash(entry) !== entry.hash) throw new AuditFailure("entry_edited", entry.seq, `seq ${entry.seq}: the entry's contents do not match its hash (it was edited)`);
    if (this.lastHash !== null && entry.prev !== this.lastHash) {
      throw new AuditFailure("chain_broken", entry.seq, `seq ${entry.seq} does not link to seq ${entry.seq - 1}: an earlier entry was rewritten or replaced`);
    }
    if (this.lastHash === null) this.compareStartHead(entry.prev);
    this.firstPrev ??= entry.prev;
    this.checkKey(entry);
    await this.checkRotation(entry);
    this.checkMac(entry);
    this.inSegment(entry, text);

    this.lastHash = entry.hash;
    this.expectedSeq = entry.seq + 1;
    (this.tree as MerkleAccumulator).push(fromHex(entry.hash));
    this.report.entries += 1;
    this.compareCheckpoints();
    this.options.onEntry?.(entry);
    const every = this.options.progressEvery ?? 10_000;
    if (this.options.onProgress && this.report.entries % every === 0) this.options.onProgress(this.report.entries, header.to - header.from + 1);
  }

  /** A forward jump is a deletion unless the missing seq turns up right after it (a swap). */
  private settleJump(next: LogEntry | null): void {
    const jumped = this.jumped;
    if (!jumped) return;
    const missing = this.expectedSeq;
    if (next && next.seq === missing) {
      throw new AuditFailure("entries_reordered", missing, `seq ${missing} comes after seq ${jumped.seq}: entries were swapped`);
    }
    throw new AuditFailure("entry_missing", missing, `seq ${missing} is missing: the export jumps from seq ${missing - 1} to seq ${jumped.seq} (an entry was deleted)`);
  }

  private checkKey(entry: LogEntry): void {
    if (entry.key === undefined) {
      if (this.lastKey !== null) throw new AuditFailure("key_change_without_rotation", entry.seq, `seq ${entry.seq} names no log key after entries that did`);
      return;
    }
    if (!this.trusted.has(entry.key)) {
      throw new AuditFailure("unknown_key", entry.seq, `seq ${entry.seq} names log key ${entry.key}, which is not among the trusted keys (re-signed?)`);
    }
    if (this.lastKey !== null && entry.key !== this.lastKey && entry.type !== "log.key_rotated") {
      throw new AuditFailure("key_change_without_rotation", entry.seq, `seq ${entry.seq} changes the log key from ${this.lastKey} to ${entry.key} without a rotation entry`);
    }
  }

  /** A rotation entry must carry a statement signed by the key it retires and the key it names. */
  private async checkRotation(entry: LogEntry): Promise<void> {
    if (entry.type !== "log.key_rotated") {
      this.lastKey = entry.key ?? this.lastKey;
      return;
    }
    const { from, to, statement } = entry.data as { from?: unknown; to?: unknown; statement?: unknown };
    const fail = (why: string) => new AuditFailure("rotation_invalid", entry.seq, `seq ${entry.seq}: the key rotation ${why}`);
    if (typeof from !== "string" || typeof to !== "string" || typeof statement !== "string") throw fail("is malformed");
    if (to !== entry.key) throw fail(`names ${to} but the entry names ${String(entry.key)}`);
    if (this.lastKey !== null && from !== this.lastKey) throw fail(`retires ${from}, but the log named ${this.lastKey}`);
    await this.checkRotationStatement(statement, from, to, "the entry", fail);
    this.lastKey = to;
    this.report.rotations += 1;
  }

  /** A rotation statement of this log from `from` to `to`, signed by both keys, each trusted. */
  private async checkRotationStatement(statement: string, from: string, to: string, what: string, fail: (why: string) => AuditFailure): Promise<void> {
    const oldKey = this.trusted.get(from);
    const newKey = this.trusted.get(to);
    if (!oldKey || !newKey) throw fail("involves a key that is not among the trusted keys");
    const origin = this.opened.origin;
    try {
      // The keys were looked up by from and to, so a statement of another pair does not verify.
      const rotation = await verifyRotationStatement(statement, oldKey, newKey);
      if (rotation.origin !== origin) throw fail(`statement does not match ${what}: it is of another log`);
    } catch (error) {
      if (error instanceof AuditFailure) throw error;
      throw fail(`statement does not verify (${(error as Error).message})`);
    }
  }

  /**
   * The key that signs the manifest must be the one the log named at `to`, or be reached from it
   * by the rotations after `to` the manifest carries, each signed by the key it retires and the
   * one it names: a key merely published (trusted) signs no manifest unless the log's keys lead to it.
   */
  private async checkManifestKey(manifest: ExportManifest, signer: string): Promise<void> {
    const header = this.opened;
    const rotations: unknown = manifest.rotations ?? [];
    if (!Array.isArray(rotations)) throw new AuditFailure("manifest_invalid", null, "the export manifest's rotations are not a list");
    let key = this.lastKey;
    let after = header.to;
    for (const item of rotations as unknown[]) {
      if (!isRecord(item) || typeof item["seq"] !== "number" || !Number.isSafeInteger(item["seq"]) || typeof item["statement"] !== "string") {
        throw new AuditFailure("manifest_invalid", null, "the export manifest lists a rotation that is not {seq, statement}");
      }
      const seq = item["seq"];
      const statement = item["statement"];
      const fail = (why: string) => new AuditFailure("rotation_invalid", seq, `the manifest's key rotation at seq ${seq} ${why}`);
      if (seq <= after) throw fail(`is not after ${after === header.to ? `the range (to ${header.to})` : `the rotation before it (seq ${after})`}`);
      let rotation;
      try {
        rotation = parseRotationText(parseNote(statement).text);
      } catch (error) {
        throw fail(`statement does not verify (${(error as Error).message})`);
      }
      if (key !== null && rotation.from !== key) throw fail(`retires ${rotation.from}, but the log named ${key}`);
      await this.checkRotationStatement(statement, rotation.from, rotation.to, "this log", fail);
      key = rotation.to;
      after = seq;
    }
    this.report.manifestRotations = rotations.length;
    if (key !== null && signer !== key) {
      const how = rotations.length === 0 ? "" : ` after the ${rotations.length} rotation(s) the manifest carries`;
      throw new AuditFailure("manifest_mismatch", null, `the signed manifest disagrees with the export: it is signed by ${signer}, but the log names ${key}${how}`);
    }
  }

  private checkMac(entry: LogEntry): void {
    // Asked to check HMACs (--hmac-key), an entry that cannot be checked fails: stripping every mac must not verify.
    const asked = this.macKeys.size > 0;
    if (entry.mac === undefined) {
      if (asked) throw new AuditFailure("hmac_missing", entry.seq, `seq ${entry.seq} has no HMAC, and --hmac-key asks for every entry's to be checked`);
      this.lastMac = null;
      return;
    }
    const key = entry.mac_key === undefined ? undefined : this.macKeys.get(entry.mac_key);
    if (asked && !key) {
      throw new AuditFailure("hmac_key_unknown", entry.seq, `seq ${entry.seq}: its HMAC is by key ${String(entry.mac_key)}, which is none of the --hmac-key keys`);
    }
    if (!key || this.lastMac === null) {
      this.report.hmac.unchecked += 1;
      if (key) this.report.warnings.push(`the HMAC of seq ${entry.seq} was not checked (the entry before it is not in the export)`);
    } else {
      if (entryMac(key, this.lastMac, entry.hash) !== entry.mac) {
        throw new AuditFailure("hmac_mismatch", entry.seq, `seq ${entry.seq}: the HMAC does not match (the entry or one before it was altered by someone without the HMAC key)`);
      }
      this.report.hmac.checked += 1;
    }
    this.lastMac = entry.mac;
  }

  private onSegment(value: Record<string, unknown>): void {
    const header = this.opened;
    const manifest = value["manifest"] as SegmentManifest;
    const partial = value["partial"] === true;
    const seq = this.expectedSeq;
    if (!isRecord(manifest) || manifest.format !== SEGMENT_FORMAT || !isFrontier(manifest.tree)) {
      throw new AuditFailure("malformed_line", null, `line ${this.line} is not a segment manifest`);
    }
    if (this.segment) this.closeSegment(true);
    const name = `segment ${manifest.first}-${manifest.last}`;
    if (manifest.device !== header.device || manifest.origin !== header.origin || manifest.tenant !== header.tenant) {
      throw new AuditFailure("segment_chain_broken", seq, `${name} belongs to another log`);
    }
    const previous = this.lastSegment;
    if (previous) {
      if (manifest.previous !== manifestHash(previous) || manifest.index !== previous.index + 1 || manifest.first !== previous.last + 1) {
        throw new AuditFailure("segment_chain_broken", seq, `${name} does not follow segment ${previous.first}-${previous.last} (segments swapped or replaced)`);
      }
    } else if (manifest.index === 1 && manifest.previous !== GENESIS_SEGMENT) {
      throw new AuditFailure("segment_chain_broken", seq, `${name} is the first segment but names a predecessor`);
    }
    // An archival during the export can make a segment start before the cursor (its first entries came from the live tail).
    if (manifest.first > seq || manifest.last < seq) {
      throw new AuditFailure("segment_chain_broken", seq, `${name} arrives where seq ${seq} was expected (segments swapped or replaced)`);
    }
    this.segment = { manifest, partial, digest: partial ? null : createHash("sha256"), seen: 0 };
    this.lastSegment = manifest;
    this.segmentsSeen.push({ first: manifest.first, last: manifest.last, manifest: manifestHash(manifest) });
    this.report.segments += 1;
  }

  private inSegment(entry: LogEntry, text: string | Uint8Array): void {
    const segment = this.segment;
    if (!segment) return;
    const { manifest } = segment;
    if (entry.seq > manifest.last) {
      this.closeSegment(false);
      return;
    }
    const name = `segment ${manifest.first}-${manifest.last}`;
    if (entry.seq === manifest.first && entry.prev !== manifest.prev_hash) throw new AuditFailure("segment_mismatch", entry.seq, `${name}: its manifest's prev_hash is not the chain's`);
    segment.digest?.update(text);
    segment.digest?.update("\n");
    segment.seen += 1;
    if (entry.seq === manifest.last) {
      if (entry.hash !== manifest.last_hash) throw new AuditFailure("segment_mismatch", entry.seq, `${name}: its manifest's last_hash is not the chain's`);
      if ((entry.mac ?? null) !== manifest.last_mac) throw new AuditFailure("segment_mismatch", entry.seq, `${name}: its manifest's last_mac is not the entry's`);
      if (segment.digest && segment.digest.digest("hex") !== manifest.sha256) throw new AuditFailure("segment_mismatch", entry.seq, `${name}: the entries do not match the manifest's SHA-256`);
      this.segment = { ...segment, digest: null };
      // Compared once the tree has taken this entry (compareCheckpoints).
      this.pendingTreeCheck = manifest;
    }
  }

  private closeSegment(atNewSegment: boolean): void {
    const segment = this.segment;
    this.segment = null;
    if (!segment) return;
    const { manifest } = segment;
    const last = this.expectedSeq - 1;
    if (last < Math.min(manifest.last, this.opened.to) && atNewSegment) {
      throw new AuditFailure("segment_mismatch", last + 1, `segment ${manifest.first}-${manifest.last} ends early, after seq ${last}`);
    }
  }

  /** Compares the running tree and head with every checkpoint whose size was just reached. */
  private compareCheckpoints(): void {
    const tree = this.tree as MerkleAccumulator;
    const size = tree.size;
    if (this.pendingTreeCheck && this.pendingTreeCheck.last === size) {
      const manifest = this.pendingTreeCheck;
      this.pendingTreeCheck = null;
      const frontier = tree.frontier();
      if (canonical(frontier) !== canonical(manifest.tree)) {
        throw new AuditFailure("segment_mismatch", size, `segment ${manifest.first}-${manifest.last}: its manifest's Merkle tree is not the log's`);
      }
    }
    // Null only before the first entry of an export from > 1: the hash of entry from - 1 is not in
    // the export, so a checkpoint at that size has its root compared now and its head compared
    // with the first entry's prev when it arrives (compareStartHead).
    const head = this.lastHash;
    for (const [checkpoint, what] of [
      [this.exportCheckpoint, "the export's checkpoint"],
      [this.heldCheckpoint, "the held checkpoint"],
    ] as const) {
      // A checkpoint is signed by the key its last entry names (a rotation entry names the new key).
      if (checkpoint && checkpoint.size === size && this.lastKey !== null && checkpoint.key !== this.lastKey && size >= this.opened.from) {
        throw new AuditFailure(
          what === "the held checkpoint" ? "held_checkpoint_invalid" : "checkpoint_invalid",
          size,
          `${what} at size ${size} is signed by ${checkpoint.key}, but entry ${size} names ${this.lastKey}`,
        );
      }
    }
    const root = tree.root().toString("hex");
    const exportCheckpoint = this.exportCheckpoint;
    if (exportCheckpoint && exportCheckpoint.size === size && this.report.checkpoint) {
      if (root !== exportCheckpoint.root || (size > 0 && head !== null && head !== exportCheckpoint.head)) throw this.checkpointMismatch("export", size);
      if (head !== null) this.report.checkpoint.compared = true;
    }
    const held = this.heldCheckpoint;
    if (held && held.size === size && this.report.held) {
      if (root !== held.root || (size > 0 && head !== null && head !== held.head)) throw this.checkpointMismatch("held", size);
      if (head !== null) this.report.held.compared = true;
    }
  }

  /**
   * A checkpoint at from - 1 names the hash of the entry before the export: the first entry's
   * prev must be it (its root was compared with the header's tree already). The manifest's
   * heads.start is then held to the same prev.
   */
  private compareStartHead(prev: string): void {
    const size = this.opened.from - 1;
    const exportCheckpoint = this.exportCheckpoint;
    if (exportCheckpoint && exportCheckpoint.size === size && this.report.checkpoint) {
      if (prev !== exportCheckpoint.head) throw this.checkpointMismatch("export", size);
      this.report.checkpoint.compared = true;
    }
    const held = this.heldCheckpoint;
    if (held && held.size === size && this.report.held) {
      if (prev !== held.head) throw this.checkpointMismatch("held", size);
      this.report.held.compared = true;
    }
  }

  private checkpointMismatch(which: "export" | "held", size: number): AuditFailure {
    if (which === "export") return new AuditFailure("checkpoint_mismatch", size, `the entries up to seq ${size} do not match the export's signed checkpoint (root or head differs)`);
    return new AuditFailure(
      "held_checkpoint_mismatch",
      size,
      `the export is inconsistent with the checkpoint you hold at size ${size}: the log was rewritten after that checkpoint was signed (fork)`,
    );
  }

  private async onManifest(value: Record<string, unknown>): Promise<void> {
    const header = this.opened;
    if (this.segment) this.closeSegment(false);
    const note = value["note"];
    const last = this.expectedSeq - 1;
    if (typeof note !== "string") throw new AuditFailure("manifest_invalid", null, "the export manifest is not a signed note");
    let manifest: ExportManifest;
    let signer: NoteVerifier;
    try {
      const parsed = parseNote(note);
      manifest = parseStrictJson(parsed.text) as unknown as ExportManifest;
      if (`${canonicalJson(manifest as unknown as JsonValue)}\n` !== parsed.text) throw new AuditFailure("manifest_invalid", null, "the export manifest's text is not canonical JSON");
      signer = (await verifyNote(parsed, this.verifiers))[0] as NoteVerifier;
    } catch (error) {
      if (error instanceof AuditFailure) throw error;
      const reason = error instanceof NoteError && error.code === "note_unverified" ? "is not signed by any trusted key" : `does not verify (${(error as Error).message})`;
      throw new AuditFailure("manifest_invalid", null, `the export manifest ${reason}`);
    }
    this.report.manifestKey = signer.id;
    const mismatch = (what: string, seq: number | null = null) => new AuditFailure("manifest_mismatch", seq, `the signed manifest disagrees with the export: ${what}`);
    if (manifest.format !== EXPORT_FORMAT || manifest.origin !== header.origin || manifest.tenant !== header.tenant || manifest.device !== header.device) {
      throw mismatch("it is for another log");
    }
    if (manifest.range?.from !== header.from || manifest.range?.to !== header.to) throw mismatch("the range differs from the header");
    if (last < manifest.range.to) {
      throw new AuditFailure("truncated", last + 1, `the export ends after seq ${last} but its signed manifest covers up to ${manifest.range.to} (truncated)`);
    }
    if (manifest.count !== this.report.entries) throw mismatch(`it counts ${manifest.count} entries, the export has ${this.report.entries}`);
    if (manifest.heads?.start !== this.firstPrev || manifest.heads?.end !== this.lastHash) throw mismatch("the heads differ from the entries", header.from);
    if (canonical(manifest.tree) !== canonical(header.tree)) throw mismatch("the starting Merkle tree differs from the header", header.from);
    if (manifest.checkpoint !== header.checkpoint) throw mismatch("the checkpoint differs from the header's");
    if (canonical(manifest.segments) !== canonical(this.segmentsSeen)) throw mismatch("the segments differ from the ones in the export");
    if (manifest.key !== signer.id) throw mismatch(`it says key ${manifest.key} signed it, but ${signer.id} did`);
    await this.checkManifestKey(manifest, signer.id);
    const checkpoint = this.exportCheckpoint;
    if (checkpoint && !this.report.checkpoint?.compared) {
      if (checkpoint.size > manifest.heads.head.seq) throw mismatch(`its checkpoint (size ${checkpoint.size}) is beyond the log's head ${manifest.heads.head.seq}`);
      this.report.warnings.push(`the export's checkpoint (size ${checkpoint.size}) is outside the exported range; its root was not compared`);
    }
    this.manifestSeen = true;
  }
}

/**
 * The lines of a byte stream, as bytes, without their LF (and a CR before it). Holds at
 * most one partial line; UTF-8 is left for the strict reader to check.
 */
export async function* byteLines(input: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array, void, undefined> {
  let pending: Uint8Array = new Uint8Array(0);
  const line = (bytes: Uint8Array) => (bytes.at(-1) === 0x0d ? bytes.subarray(0, -1) : bytes);
  for await (const chunk of input) {
    let data = chunk;
    if (pending.length > 0) {
      data = new Uint8Array(pending.length + chunk.length);
      data.set(pending);
      data.set(chunk, pending.length);
    }
    let start = 0;
    for (let newline = data.indexOf(0x0a); newline >= 0; newline = data.indexOf(0x0a, start)) {
      yield line(data.subarray(start, newline));
      start = newline + 1;
    }
    pending = data.slice(start);
  }
  if (pending.length > 0) yield line(pending);
}

/**
 * Verifies a whole export from its lines. Never throws for a bad export: the
 * report says what failed and where.
 */
export async function verifyExport(lines: AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array>, options: VerifyOptions): Promise<VerifyReport> {
  const verifier = new ExportVerifier(options);
  try {
    for await (const line of lines) await verifier.push(line);
    return verifier.finish();
  } catch (error) {
    if (error instanceof AuditFailure) return verifier.failed(error);
    throw error;
  }
}
