import type { JsonValue } from "../worker/log/canonical.ts";
import type { AppendedEntry, DeviceRecord, SingleUse } from "../worker/domain.ts";
import type { Refused } from "../worker/errors.ts";
import type { LiveNonce } from "../worker/attestation/nonces.ts";

/**
 * A device's TPM enrollment state, kept in its DeviceLog (SQLite, same
 * transactions as the log): one-time bootstrap tokens issued by an admin, the
 * pending credential-activation challenge, and the active EK/AK binding.
 * Documented in durable-objects/SCHEMA.md. Every check-and-set runs inside the
 * DeviceLog's `transactionSync`, and every outcome is logged in that same
 * transaction, so no refusal goes unrecorded and no binding changes unlogged.
 */

/** The TPM a device is bound to once it proved (ActivateCredential) that its AK lives beside its EK. */
export interface TpmBinding {
  /** Names (hex, nameAlg ‖ digest) computed by Warden from the public areas. */
  ekName: string;
  akName: string;
  /** The AK's TPMT_PUBLIC (base64): quotes are verified with it. */
  akPublic: string;
  /** SHA-256 (hex) of the EK certificate's DER. */
  ekCertificateSha256: string;
  ekIssuer: string;
  /** Vendor of the trust anchor the EK certificate chained to. */
  vendor: string;
  /** What the EK certificate's subjectAltName says about the TPM, when it has one. */
  tpm: { manufacturer: string; model: string; version: string } | null;
  enrolledAt: string;
}

export type TpmRefusalCode = "not_found" | "device_disabled" | "replay_detected" | "nonce_invalid" | "bootstrap_invalid" | "tpm_binding_conflict" | "tpm_not_enrolled" | "evidence_rejected";
/** A refusal may name the entry that logged it. */
export type TpmOutcome<T> = ({ ok: true } & T) | (Refused<TpmRefusalCode> & { log?: AppendedEntry });

/** At most this many outstanding bootstrap tokens per device (an admin re-issuing replaces the oldest). */
const MAX_BOOTSTRAP_TOKENS = 4;

export interface TpmStoreAccess {
  sql: SqlStorage;
  /** DeviceLog's transaction (restores the cached log head on rollback). */
  transaction<T>(body: () => T): T;
  /** Appends a log entry for the device; must run inside `transaction`. */
  appendInTransaction(device: string, type: string, data: { [key: string]: JsonValue }, now: number): AppendedEntry;
  /** Marks a DPoP proof or a server nonce spent; false when it already was. Inside `transaction`. */
  spend(value: SingleUse, kind: "dpop" | "nonce", now: number): boolean;
  readDevice(): DeviceRecord | null;
}

export class TpmEnrollment {
  constructor(private readonly store: TpmStoreAccess) {}

  migrate(): void {
    this.store.sql.exec(`
      CREATE TABLE IF NOT EXISTS tpm_bootstrap (
        token_hash TEXT PRIMARY KEY,
        rebind INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS tpm_pending (
        singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
        record TEXT NOT NULL,
        secret_hash TEXT NOT NULL,
        rebind INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS tpm_binding (
        singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
        record TEXT NOT NULL
      );
    `);
  }

  binding(): TpmBinding | null {
    const row = this.store.sql.exec<{ record: string }>("SELECT record FROM tpm_binding WHERE singleton = 1").toArray()[0];
    return row ? (JSON.parse(row.record) as TpmBinding) : null;
  }

  private activeDevice(): TpmOutcome<{ device: DeviceRecord }> {
    const device = this.store.readDevice();
    if (!device) return { ok: false, code: "not_found" };
    if (device.status !== "active") return { ok: false, code: "device_disabled" };
    return { ok: true, device };
  }

  /** Stores a bootstrap token's hash (never the token) until `expiresAt`, and logs its issue. */
  issueBootstrap(args: { tokenHash: string; rebind: boolean; expiresAt: number; by: string; now: number }): TpmOutcome<{ log: AppendedEntry }> {
    return this.store.transaction(() => {
      const active = this.activeDevice();
      if (!active.ok) return active;
      const { sql } = this.store;
      sql.exec("DELETE FROM tpm_bootstrap WHERE expires_at <= ?", args.now);
      sql.exec("INSERT INTO tpm_bootstrap (token_hash, rebind, expires_at) VALUES (?, ?, ?)", args.tokenHash, args.rebind ? 1 : 0, args.expiresAt);
      sql.exec("DELETE FROM tpm_bootstrap WHERE token_hash NOT IN (SELECT token_hash FROM tpm_bootstrap ORDER BY expires_at DESC LIMIT ?)", MAX_BOOTSTRAP_TOKENS);
      const log = this.store.appendInTransaction(active.device.id, "tpm.bootstrap_issued", { rebind: args.rebind, expires_at: new Date(args.expiresAt).toISOString(), by: args.by }, args.now);
      return { ok: true, log } as const;
    });
  }

  /**
   * Whether a bootstrap token is usable, without spending it, and the current
   * binding: the route checks both before doing any cryptography for the caller.
   */
  checkBootstrap(tokenHash: string, now: number): TpmOutcome<{ rebind: boolean; binding: TpmBinding | null }> {
    const active = this.activeDevice();
    if (!active.ok) return active;
    const row = this.store.sql
      .exec<{ rebind: number }>("SELECT rebind FROM tpm_bootstrap WHERE token_hash = ? AND expires_at > ?", tokenHash, now)
      .toArray()[0];
    if (!row) return { ok: false, code: "bootstrap_invalid" };
    return { ok: true, rebind: row.rebind === 1, binding: this.binding() };
  }

  /**
   * Starts an enrollment whose EK chain, AK profile and MakeCredential the route
   * has done: spends the DPoP proof and the bootstrap token and stores the
   * pending challenge (the SHA-256 of the credential, never the credential).
   * Another EK or AK than the bound ones is refused and logged unless the token
   * was issued for a rebind; the token then stays unspent.
   */
  beginEnrollment(args: {
    tokenHash: string;
    proof: SingleUse;
    now: number;
    pending: Omit<TpmBinding, "enrolledAt">;
    secretHash: string;
    expiresAt: number;
  }): TpmOutcome<{ log: AppendedEntry }> {
    return this.store.transaction(() => {
      const active = this.activeDevice();
      if (!active.ok) return active;
      const { sql } = this.store;
      const token = sql
        .exec<{ rebind: number }>("SELECT rebind FROM tpm_bootstrap WHERE token_hash = ? AND expires_at > ?", args.tokenHash, args.now)
        .toArray()[0];
      if (!token) return { ok: false, code: "bootstrap_invalid" } as const;
      const rebind = token.rebind === 1;
      const bound = this.binding();
      const names = { ek_name: args.pending.ekName, ak_name: args.pending.akName };
      if (bound && !rebind && (bound.ekName !== args.pending.ekName || bound.akName !== args.pending.akName)) {
        const log = this.store.appendInTransaction(
          active.device.id,
          "tpm.enrollment_refused",
          { code: "tpm_binding_conflict", ...names, bound_ek_name: bound.ekName, bound_ak_name: bound.akName },
          args.now,
        );
        return { ok: false, code: "tpm_binding_conflict", log } as const;
      }
      if (!this.store.spend(args.proof, "dpop", args.now)) return { ok: false, code: "replay_detected" } as const;
      sql.exec("DELETE FROM tpm_bootstrap WHERE token_hash = ?", args.tokenHash);
      sql.exec(
        "INSERT INTO tpm_pending (singleton, record, secret_hash, rebind, expires_at) VALUES (1, ?, ?, ?, ?) ON CONFLICT (singleton) DO UPDATE SET record = excluded.record, secret_hash = excluded.secret_hash, rebind = excluded.rebind, expires_at = excluded.expires_at",
        JSON.stringify(args.pending),
        args.secretHash,
        rebind ? 1 : 0,
        args.expiresAt,
      );
      const log = this.store.appendInTransaction(
        active.device.id,
        "tpm.enrollment_started",
        {
          ...names,
          ek_certificate_sha256: args.pending.ekCertificateSha256,
          ek_issuer: args.pending.ekIssuer,
          vendor: args.pending.vendor,
          tpm: args.pending.tpm,
          rebind,
        },
        args.now,
      );
      return { ok: true, log } as const;
    });
  }

  /**
   * Completes an enrollment with the credential the device's TPM recovered:
   * one attempt per challenge (a wrong credential discards it), logged either way.
   */
  completeEnrollment(args: { secretHash: string; proof: SingleUse; now: number }): TpmOutcome<{ binding: TpmBinding; log: AppendedEntry }> {
    return this.store.transaction(() => {
      const active = this.activeDevice();
      if (!active.ok) return active;
      const { sql } = this.store;
      if (!this.store.spend(args.proof, "dpop", args.now)) return { ok: false, code: "replay_detected" } as const;
      const row = sql
        .exec<{ record: string; secret_hash: string; rebind: number }>("SELECT record, secret_hash, rebind FROM tpm_pending WHERE singleton = 1 AND expires_at > ?", args.now)
        .toArray()[0];
      sql.exec("DELETE FROM tpm_pending WHERE singleton = 1");
      if (!row) return { ok: false, code: "tpm_not_enrolled" } as const;
      const pending = JSON.parse(row.record) as Omit<TpmBinding, "enrolledAt">;
      const names = { ek_name: pending.ekName, ak_name: pending.akName };
      // Both sides are SHA-256 digests of 32 random bytes: comparing them leaks nothing about the credential.
      if (row.secret_hash !== args.secretHash) {
        const log = this.store.appendInTransaction(active.device.id, "tpm.activation_failed", { code: "credential_activation_failed", ...names }, args.now);
        return { ok: false, code: "evidence_rejected", log } as const;
      }
      const previous = this.binding();
      const binding: TpmBinding = { ...pending, enrolledAt: new Date(args.now).toISOString() };
      sql.exec(
        "INSERT INTO tpm_binding (singleton, record) VALUES (1, ?) ON CONFLICT (singleton) DO UPDATE SET record = excluded.record",
        JSON.stringify(binding),
      );
      const data: { [key: string]: JsonValue } = { ...names, vendor: binding.vendor, ek_issuer: binding.ekIssuer };
      if (previous && (previous.ekName !== binding.ekName || previous.akName !== binding.akName)) {
        data["previous"] = { ek_name: previous.ekName, ak_name: previous.akName };
      }
      const log = this.store.appendInTransaction(active.device.id, row.rebind === 1 ? "tpm.rebound" : "tpm.enrolled", data, args.now);
      return { ok: true, binding, log } as const;
    });
  }

  /**
   * Records refused evidence: the nonce it answered is spent (a failed attempt cannot be
   * retried with it) and the failure is logged with its code — once per nonce: a proof replayed
   * with a nonce already spent logs nothing (`nonce_invalid`).
   */
  refuseEvidence(args: { nonce: LiveNonce; now: number; data: { [key: string]: JsonValue } }): TpmOutcome<{ log: AppendedEntry }> {
    return this.store.transaction(() => {
      const device = this.store.readDevice();
      if (!device) return { ok: false, code: "not_found" } as const;
      if (!this.store.spend({ jti: args.nonce.value, expiresAt: args.nonce.expiresAt }, "nonce", args.now)) return { ok: false, code: "nonce_invalid" } as const;
      const log = this.store.appendInTransaction(device.id, "attestation.failed", args.data, args.now);
      return { ok: true, log } as const;
    });
  }

  /**
   * Logs a refused enrollment request (chain, AK profile, bootstrap), spending the request's
   * proof with it: the same proof replayed logs nothing more (`replay_detected`).
   */
  logRefusal(args: { now: number; proof: SingleUse; data: { [key: string]: JsonValue } }): TpmOutcome<{ log: AppendedEntry }> {
    return this.store.transaction(() => {
      const device = this.store.readDevice();
      if (!device) return { ok: false, code: "not_found" } as const;
      if (!this.store.spend(args.proof, "dpop", args.now)) return { ok: false, code: "replay_detected" } as const;
      return { ok: true, log: this.store.appendInTransaction(device.id, "tpm.enrollment_refused", args.data, args.now) } as const;
    });
  }
}
