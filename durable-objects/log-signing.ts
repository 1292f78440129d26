import { WardenError } from "../worker/errors.ts";
import { parseStrictJson } from "../worker/json/strict.ts";
import { canonicalJson, type JsonValue } from "../worker/log/canonical.ts";
import type { LogEntry } from "../worker/log/chain.ts";
import { checkpointText, logOrigin, parseCheckpointText, type StoredCheckpoint } from "../worker/log/checkpoint.ts";
import { EXPORT_FORMAT, type ExportManifest, type ExportManifestBody, type ExportRotation } from "../worker/log/export.ts";
import { importLogSigningKey, logKeyIdOf, noteSignerFor, type LogKey } from "../worker/log/keys.ts";
import { GENESIS_MAC, entryMac, parseMacKey } from "../worker/log/mac.ts";
import { EMPTY_FRONTIER, extendFrontier, frontierRoot, type Frontier } from "../worker/log/merkle.ts";
import { parseNote, signNote } from "../worker/log/note.ts";
import { rotationText } from "../worker/log/rotation.ts";
import type { AuditIo, LogAccess } from "./log-io.ts";
import { putCreateOnly, putUnlessPresent } from "../worker/r2.ts";
import { STORED_LEVEL, type LogTree } from "./log-tree.ts";

/**
 * The signing side of a device log: which log key entries name, the chained HMAC, key
 * rotation, and signed checkpoints (C2SP signed notes over an RFC 6962 root).
 *
 * A checkpoint is computed from rows read synchronously, so it names a head that was
 * committed; it is signed afterwards (WebCrypto is async) and stored only if it is newer than
 * the latest stored one. Signing and rotating never interleave.
 */

export type CheckpointRow = {
  size: number;
  time: number;
  root: string;
  head: string;
  kid: string;
  frontier: string;
  note: string;
};

export class LogSigning {
  /** Thumbprint of the log key entries name now; null until a key is configured. */
  private keyKid: string | null = null;
  /** `mac` of the head entry; null when it has none. */
  private lastMac: string | null = null;
  /** Size of the latest stored checkpoint. */
  private signedSize = 0;
  private lock: Promise<unknown> = Promise.resolve();
  private readonly published = new Set<string>();

  constructor(
    private readonly log: LogAccess,
    private readonly io: AuditIo,
    /** The compact range every checkpoint extends when none is stored yet: the end of the archive. */
    private readonly archivedTree: () => Frontier | null,
    /** The `mac` of the last archived entry, for a log whose entries were all archived. */
    private readonly archivedMac: () => string | null,
    /** Keeps the interior nodes each checkpoint completes, for proofs. */
    private readonly tree: LogTree,
  ) {}

  migrate(): void {
    this.log.sql.exec(`
      CREATE TABLE IF NOT EXISTS log_keys (
        kid TEXT PRIMARY KEY,
        jwk TEXT NOT NULL,
        first_seq INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS checkpoints (
        size INTEGER PRIMARY KEY,
        time INTEGER NOT NULL,
        root TEXT NOT NULL,
        head TEXT NOT NULL,
        kid TEXT NOT NULL,
        frontier TEXT NOT NULL,
        note TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS log_key_rotations (
        to_kid TEXT NOT NULL,
        from_kid TEXT NOT NULL,
        statement TEXT NOT NULL,
        PRIMARY KEY (from_kid, to_kid)
      );
    `);
  }

  /** Re-reads the in-memory state from storage: at start, and after a rolled-back transaction. */
  reload(): void {
    const { sql } = this.log;
    this.keyKid = sql.exec<{ kid: string }>("SELECT kid FROM log_keys ORDER BY first_seq DESC LIMIT 1").toArray()[0]?.kid ?? null;
    this.signedSize = this.latestCheckpointRow()?.size ?? 0;
    const last = sql.exec<{ entry: string }>("SELECT entry FROM log ORDER BY seq DESC LIMIT 1").toArray()[0];
    this.lastMac = last ? ((JSON.parse(last.entry) as LogEntry).mac ?? null) : this.archivedMac();
  }

  /** Entries with seq ≤ this are covered by a stored checkpoint. */
  get checkpointSize(): number {
    return this.signedSize;
  }

  latestCheckpointRow(): CheckpointRow | null {
    return this.log.sql.exec<CheckpointRow>("SELECT * FROM checkpoints ORDER BY size DESC LIMIT 1").toArray()[0] ?? null;
  }

  // ---- inside the append transaction ---------------------------------------------------------

  /**
   * The key the next entry names. The first entry after a key is configured records it; a
   * different configured key is not named until the rotation entry (signed by both) is appended.
   */
  entryKey(seq: number): string | undefined {
    if (this.keyKid !== null) return this.keyKid;
    const source = this.io.keys().current;
    if (!source) return undefined;
    const kid = logKeyIdOf(source);
    // A configured key that cannot be read is refused rather than silently not named.
    if (!kid) throw new WardenError("configuration_error", "LOG_SIGNING_KEY is not an Ed25519 JWK");
    this.log.sql.exec("INSERT INTO log_keys (kid, jwk, first_seq) VALUES (?, ?, ?)", kid, JSON.stringify(publicOf(source)), seq);
    this.keyKid = kid;
    return kid;
  }

  /** The entry with its chained HMAC, when an HMAC key is configured. */
  withMac(entry: LogEntry): LogEntry {
    const source = this.io.macKey();
    if (!source) {
      this.lastMac = null;
      return entry;
    }
    const key = parseMacKey(source);
    const mac = entryMac(key, this.lastMac ?? GENESIS_MAC, entry.hash);
    this.lastMac = mac;
    return { ...entry, mac, mac_key: key.id };
  }

  /** True when the configured key is not the one entries name: the alarm must rotate. */
  rotationPending(): boolean {
    const current = logKeyIdOf(this.io.keys().current);
    return this.keyKid !== null && current !== null && current !== this.keyKid;
  }

  /** Runs `work` after every earlier locked work: signing and rotating never interleave. */
  private locked<T>(work: () => Promise<T>): Promise<T> {
    const result = this.lock.then(work, work);
    this.lock = result.catch(() => undefined);
    return result;
  }

  // ---- keys -----------------------------------------------------------------------------------

  private async signingKeys(): Promise<{ current: LogKey; previous: LogKey | null }> {
    const { current, previous } = this.io.keys();
    if (!current) throw new WardenError("configuration_error", "LOG_SIGNING_KEY is not set");
    return {
      current: await importLogSigningKey(current),
      previous: previous ? await importLogSigningKey(previous, "LOG_SIGNING_KEY_PREVIOUS") : null,
    };
  }

  /** The configured key the log names now. */
  private async namedKey(): Promise<LogKey> {
    const keys = await this.signingKeys();
    const kid = this.keyKid ?? keys.current.kid;
    const key = [keys.current, keys.previous].find((candidate) => candidate?.kid === kid);
    if (!key) throw new WardenError("configuration_error", `the log names key ${kid}, which is not configured`);
    return key;
  }

  private origin(): string {
    const device = this.log.device();
    if (!device) throw new WardenError("internal_error", "a device log without its device signs nothing");
    return logOrigin(this.log.originPrefix, device.tenant, device.id);
  }

  /**
   * Writes a key's public JWK to the archive (create-only), so it stays published after it is
   * retired. Best effort: a failure is retried with the next signature and never undoes what
   * was signed.
   */
  private async publish(key: LogKey): Promise<void> {
    if (this.published.has(key.kid)) return;
    try {
      const body = JSON.stringify({ kty: "OKP", crv: "Ed25519", x: key.publicJwk.x, kid: key.kid, alg: "EdDSA", use: "sig" });
      await putCreateOnly(this.io.archive, `log-keys/${key.kid}.json`, body, { contentType: "application/json" });
      this.published.add(key.kid);
    } catch (error) {
      console.error(JSON.stringify({ event: "audit.publish_key_failed", kid: key.kid, error: String(error) }));
    }
  }

  /**
   * Writes each rotation statement this log signed and the archive does not have yet to
   * `log-keys/rotations/<from>/<to>.note`: the published key set lists a retired key only when
   * such a statement, signed by it and by a key still trusted, vouches for it. One statement per
   * pair of keys is enough, so the first device to rotate writes it and an object already there
   * counts as written (the key set checks what it reads). Best effort like `publish`: a failure
   * is retried with the next signature and never undoes the rotation.
   */
  private async publishRotations(): Promise<void> {
    const pending = this.log.sql.exec<{ to_kid: string; from_kid: string; statement: string }>("SELECT to_kid, from_kid, statement FROM log_key_rotations").toArray();
    for (const row of pending) {
      try {
        await putUnlessPresent(this.io.archive, `log-keys/rotations/${row.from_kid}/${row.to_kid}.note`, row.statement, { contentType: "text/plain; charset=utf-8" });
        this.log.sql.exec("DELETE FROM log_key_rotations WHERE to_kid = ? AND from_kid = ?", row.to_kid, row.from_kid);
      } catch (error) {
        console.error(JSON.stringify({ event: "audit.publish_rotation_failed", from: row.from_kid, to: row.to_kid, error: String(error) }));
      }
    }
  }

  /**
   * Rotation: the new key is named from the rotation entry on. The entry carries a note over
   * `{origin, from, to, time}` signed by the old key and the new one, so a verifier who trusts
   * the old key learns the new one from the log itself, and one who holds both sees they agreed.
   */
  rotate(now: number): Promise<boolean> {
    return this.locked(async () => {
      const keys = await this.signingKeys();
      const old = this.keyKid;
      if (old === null || old === keys.current.kid) return false;
      if (keys.previous?.kid !== old) throw new WardenError("configuration_error", `cannot rotate from ${old}: LOG_SIGNING_KEY_PREVIOUS is not that key`);
      // A key names one stretch of the log: going back to a retired key would make its entries ambiguous (and log_keys keys by kid).
      const retired = this.log.sql.exec<{ first_seq: number }>("SELECT first_seq FROM log_keys WHERE kid = ?", keys.current.kid).toArray()[0];
      if (retired) throw new WardenError("configuration_error", `cannot rotate to ${keys.current.kid}: this log retired that key (it named entries from ${retired.first_seq}); configure a new LOG_SIGNING_KEY`);
      const origin = this.origin();
      const statement = await signNote(rotationText({ origin, from: old, to: keys.current.kid, time: new Date(now).toISOString() }), [
        noteSignerFor(keys.previous, origin),
        noteSignerFor(keys.current, origin),
      ]);
      const next = keys.current;
      this.log.appendWith(
        () => {
          if (this.keyKid !== old) throw new WardenError("internal_error", "the log key changed during rotation");
          this.log.sql.exec("INSERT INTO log_keys (kid, jwk, first_seq) VALUES (?, ?, ?)", next.kid, JSON.stringify(next.publicJwk), this.log.head().seq + 1);
          // Kept until the archive has it (publishRotations), so a failed write is retried after a restart too.
          this.log.sql.exec("INSERT OR REPLACE INTO log_key_rotations (to_kid, from_kid, statement) VALUES (?, ?, ?)", next.kid, old, statement);
          this.keyKid = next.kid;
        },
        "log.key_rotated",
        { from: old, to: next.kid, from_key: jsonOf(keys.previous.publicJwk), to_key: jsonOf(next.publicJwk), statement },
        now,
      );
      await this.publish(keys.previous);
      await this.publish(next);
      await this.publishRotations();
      return true;
    });
  }

  // ---- checkpoints ----------------------------------------------------------------------------

  /**
   * Signs a checkpoint of the current head if one is due (or `atLeast` is not yet covered, or
   * there is none yet); returns the latest. `oldestUnsigned` is the time of the first entry no
   * checkpoint covers.
   */
  async checkpointIfDue(now: number, oldestUnsigned: number | null, atLeast = 0): Promise<StoredCheckpoint | null> {
    const unsigned = this.log.head().seq - this.signedSize;
    const { tuning } = this.io;
    const due =
      unsigned > 0 &&
      (unsigned >= tuning.checkpointEntries ||
        this.signedSize < atLeast ||
        this.signedSize === 0 ||
        (oldestUnsigned !== null && oldestUnsigned + tuning.checkpointSeconds * 1000 <= now));
    if (due && this.log.device() && this.io.keys().current) await this.signCheckpoint(now);
    return this.latestCheckpoint();
  }

  latestCheckpoint(): StoredCheckpoint | null {
    const row = this.latestCheckpointRow();
    if (!row) return null;
    const parsed = parseCheckpointText(parseNote(row.note).text);
    return { ...parsed, key: row.kid, note: row.note };
  }

  /** The compact range after entry `size`, built from the latest checkpoint at or below it (else `base`) and the rows here. */
  frontierAt(size: number, base: Frontier): Frontier {
    const checkpoint = this.latestCheckpointRow();
    let start = base;
    if (checkpoint && checkpoint.size <= size && checkpoint.size > start.size) start = JSON.parse(checkpoint.frontier) as Frontier;
    if (start.size > size) throw new WardenError("internal_error", `entry ${size} is archived; take the tree from its segment`);
    const hashes = this.log.sql.exec<{ hash: string }>("SELECT hash FROM log WHERE seq > ? AND seq <= ? ORDER BY seq", start.size, size).toArray();
    if (hashes.length !== size - start.size) throw new WardenError("storage_error", `entries ${start.size + 1}..${size} are not all present`);
    return extendFrontier(start, hashes.map((row) => row.hash));
  }

  private signCheckpoint(now: number): Promise<void> {
    return this.locked(async () => {
      const key = await this.namedKey();
      // Synchronous from here to the signature: the head, the key it names and the rows are one committed state.
      const head = this.log.head();
      if (head.seq <= this.signedSize) return;
      const base = this.latestCheckpointRow();
      const start: Frontier = base ? (JSON.parse(base.frontier) as Frontier) : (this.archivedTree() ?? EMPTY_FRONTIER);
      const hashes = this.log.sql
        .exec<{ seq: number; hash: string }>("SELECT seq, hash FROM log WHERE seq > ? AND seq <= ? ORDER BY seq", start.size, head.seq)
        .toArray();
      if (hashes.length !== head.seq - start.size || (hashes[0] && hashes[0].seq !== start.size + 1)) {
        throw new WardenError("storage_error", `entries ${start.size + 1}..${head.seq} are not all present to extend the tree`);
      }
      const nodes: { level: number; index: number; hash: string }[] = [];
      const frontier = extendFrontier(
        start,
        hashes.map((row) => row.hash),
        (level, index, hash) => level >= STORED_LEVEL && nodes.push({ level, index, hash: hash.toString("hex") }),
      );
      const origin = this.origin();
      const checkpoint = { origin, size: head.seq, root: frontierRoot(frontier).toString("hex"), head: head.hash, time: new Date(now).toISOString() };
      const note = await signNote(checkpointText(checkpoint), [noteSignerFor(key, origin)]);
      this.log.storage.transactionSync(() => {
        // Another signer may have stored a newer one meanwhile; checkpoints only move forward.
        const latest = this.log.sql.exec<{ size: number | null }>("SELECT MAX(size) AS size FROM checkpoints").one().size ?? 0;
        if (latest >= checkpoint.size) return;
        this.log.sql.exec(
          "INSERT INTO checkpoints (size, time, root, head, kid, frontier, note) VALUES (?, ?, ?, ?, ?, ?, ?)",
          checkpoint.size,
          now,
          checkpoint.root,
          checkpoint.head,
          key.kid,
          JSON.stringify(frontier),
          note,
        );
        this.tree.store(nodes);
        this.signedSize = checkpoint.size;
      });
      await this.publish(key);
      await this.publishRotations();
    });
  }

  /**
   * Signs an export's manifest with the key the log names now (the object, not the route, holds
   * log keys): the manifest is the log's statement, as it is now, about the range. When the range
   * ends before a rotation, the key entry `to` names is not the signer, so the manifest carries
   * the statement of every rotation after `to` (each signed by the key it retires and the one it
   * names): a verifier follows them from the key it saw last to the signer. Locked, so no rotation
   * lands between reading the key and reading the rotations.
   */
  signExportManifest(manifest: ExportManifestBody): Promise<string> {
    return this.locked(async () => {
      const key = await this.namedKey();
      const origin = this.origin();
      const rotations = await this.rotationsAfter(manifest.range.to);
      const full: ExportManifest = { format: EXPORT_FORMAT, origin, ...manifest, rotations, key: key.kid };
      return signNote(`${canonicalJson(full as unknown as JsonValue)}\n`, [noteSignerFor(key, origin)]);
    });
  }

  /** The rotations whose entry comes after `seq`, oldest first, from their entries (here or archived). */
  private async rotationsAfter(seq: number): Promise<ExportRotation[]> {
    const rows = this.log.sql.exec<{ kid: string; first_seq: number }>("SELECT kid, first_seq FROM log_keys ORDER BY first_seq").toArray();
    const rotations: ExportRotation[] = [];
    // The first key was named by the first entry after it was configured; every later one by its rotation entry.
    for (const row of rows.slice(1)) {
      if (row.first_seq <= seq) continue;
      const text = await this.tree.entryText(row.first_seq);
      const entry = text === null ? null : (JSON.parse(text) as LogEntry);
      const statement = entry?.data["statement"];
      if (entry?.type !== "log.key_rotated" || entry.data["to"] !== row.kid || typeof statement !== "string") {
        throw new WardenError("storage_error", `entry ${row.first_seq}, where key ${row.kid} took over, is not its rotation`);
      }
      rotations.push({ seq: row.first_seq, statement });
    }
    return rotations;
  }
}

/** The public half of the configured LOG_SIGNING_KEY (configuration, so read strictly like any input). */
function publicOf(source: string): { [key: string]: JsonValue } {
  const { x } = parseStrictJson(source) as { x: string };
  return { kty: "OKP", crv: "Ed25519", x };
}

function jsonOf(value: object): { [key: string]: JsonValue } {
  return JSON.parse(JSON.stringify(value)) as { [key: string]: JsonValue };
}
