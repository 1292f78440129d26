import { WardenError } from "../worker/errors.ts";
import { consistencyProof } from "../worker/log/merkle.ts";
import { formatAddCheckpoint, verifyCosignatures, withSignatureLines, type WitnessConfig } from "../worker/log/witness.ts";
import type { AuditIo, LogAccess } from "./log-io.ts";
import type { CheckpointRow, LogSigning } from "./log-signing.ts";
import type { LogTree } from "./log-tree.ts";

/**
 * Witness cosigning of a device log's checkpoints (C2SP tlog-witness, worker/log/witness.ts):
 * each configured witness is sent the latest checkpoint with a consistency proof from the size
 * it last cosigned, and its cosignature line is added to the stored checkpoint, so every reader
 * (the checkpoint route, exports, receipts) gets the checkpoint with its cosignatures. A witness
 * refuses a checkpoint that does not extend what it saw: an operator who rewrites the log
 * cannot also obtain a witnessed checkpoint of the rewrite.
 */
export class LogWitnessing {
  /** When each witness (by verifier key) last failed, in this object's life. */
  private readonly failedAt = new Map<string, number>();

  constructor(
    private readonly log: LogAccess,
    private readonly io: AuditIo,
    private readonly signing: LogSigning,
    private readonly tree: LogTree,
  ) {}

  migrate(): void {
    this.log.sql.exec(`
      CREATE TABLE IF NOT EXISTS witness_state (
        vkey TEXT PRIMARY KEY,
        size INTEGER NOT NULL
      );
    `);
  }

  private sizeFor(witness: WitnessConfig): number {
    return this.log.sql.exec<{ size: number }>("SELECT size FROM witness_state WHERE vkey = ?", witness.key.vkey).toArray()[0]?.size ?? 0;
  }

  private setSize(witness: WitnessConfig, size: number): void {
    this.log.sql.exec("INSERT INTO witness_state (vkey, size) VALUES (?, ?) ON CONFLICT (vkey) DO UPDATE SET size = excluded.size", witness.key.vkey, size);
  }

  /** True when some configured witness has not cosigned the latest checkpoint. */
  pending(): boolean {
    const latest = this.signing.latestCheckpointRow();
    if (!latest) return false;
    try {
      return this.io.witnesses().some((witness) => this.sizeFor(witness) < latest.size);
    } catch {
      // Unusable WITNESSES: pending, so that `cosign` runs and reports the configuration error where failures are logged.
      return true;
    }
  }

  /**
   * Asks every witness that has not cosigned the latest checkpoint to; one witness's failure does
   * not stop the others. A witness that failed is asked again only `retrySeconds` later: reads
   * of a checkpoint or a receipt cosign too, and would otherwise each call a witness that is down.
   */
  async cosign(now: number): Promise<void> {
    const latest = this.signing.latestCheckpointRow();
    if (!latest) return;
    const failures: string[] = [];
    for (const witness of this.io.witnesses()) {
      if (this.sizeFor(witness) >= latest.size) continue;
      const failedAt = this.failedAt.get(witness.key.vkey);
      if (failedAt !== undefined && now >= failedAt && now - failedAt < this.io.tuning.retrySeconds * 1000) {
        failures.push(`${witness.key.name}: failed at ${new Date(failedAt).toISOString()}, asked again after ${this.io.tuning.retrySeconds} s`);
        continue;
      }
      try {
        await this.submit(witness, latest);
        this.failedAt.delete(witness.key.vkey);
      } catch (error) {
        this.failedAt.set(witness.key.vkey, now);
        // With its code: a witness that last cosigned before the retention cut (log_range_expired) can never be brought forward, unlike one that is down.
        failures.push(`${witness.key.name}: ${error instanceof WardenError ? `${error.code}: ${error.message}` : String(error)}`);
      }
    }
    if (failures.length > 0) throw new WardenError("storage_error", `witnesses did not cosign checkpoint ${latest.size}: ${failures.join("; ")}`);
  }

  private async submit(witness: WitnessConfig, checkpoint: CheckpointRow): Promise<void> {
    let old = this.sizeFor(witness);
    // Two attempts: a witness that answers 409 says which size it last cosigned, and is asked again from there.
    for (let attempt = 0; attempt < 2; attempt += 1) {
      if (old > checkpoint.size) throw new WardenError("storage_error", `the witness cosigned size ${old}, beyond this log's ${checkpoint.size}: the log was rolled back`);
      const proof = await consistencyProof(this.tree.source(checkpoint.size), old, checkpoint.size);
      const response = await this.io.witnessFetch(
        new Request(`${witness.url}/add-checkpoint`, {
          method: "POST",
          headers: { "content-type": "text/plain; charset=utf-8" },
          body: formatAddCheckpoint({ oldSize: old, proof, checkpoint: checkpoint.note }),
        }),
      );
      const body = await response.text();
      if (response.status === 409 && /^(0|[1-9]\d{0,15})\n$/.test(body)) {
        const size = Number(body.trim());
        if (size === old) throw new WardenError("storage_error", `the witness refused checkpoint ${checkpoint.size} at its own size ${size} (another root)`);
        old = size;
        this.setSize(witness, Math.min(size, checkpoint.size));
        continue;
      }
      if (response.status !== 200) throw new WardenError("storage_error", `the witness answered ${response.status}: ${body.slice(0, 200)}`);
      await this.addCosignature(witness, checkpoint.size, body);
      return;
    }
    throw new WardenError("storage_error", "the witness kept refusing the old size");
  }

  /** Adds a witness's cosignature line to the stored checkpoint, once it verifies over that checkpoint. */
  private async addCosignature(witness: WitnessConfig, size: number, lines: string): Promise<void> {
    const row = this.log.sql.exec<{ note: string }>("SELECT note FROM checkpoints WHERE size = ?", size).toArray()[0];
    if (!row) return;
    // Checked before it is stored: whatever answered in the witness's name cannot put garbage in the log's checkpoint.
    const found = await verifyCosignatures(withSignatureLines(row.note, lines), [witness.key]);
    if (found.length !== 1) throw new WardenError("storage_error", "the witness's answer holds no cosignature by its key");
    this.log.storage.transactionSync(() => {
      const current = this.log.sql.exec<{ note: string }>("SELECT note FROM checkpoints WHERE size = ?", size).toArray()[0];
      if (!current) return;
      // Another witness may have added its line meanwhile: ours goes after what is stored now.
      this.log.sql.exec("UPDATE checkpoints SET note = ? WHERE size = ?", withSignatureLines(current.note, lines), size);
      this.setSize(witness, size);
    });
  }
}
