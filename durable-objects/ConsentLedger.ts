import { DurableObject } from "cloudflare:workers";
import { GENESIS_PREV, nextEntry, type LogEntry } from "../worker/log/chain.ts";
import type { JsonValue } from "../worker/log/canonical.ts";
import type { Outcome } from "../worker/errors.ts";
import { activeConsent, type ConsentEvent, type ConsentRecord, type ConsentView, type DeviceSync } from "../worker/consent/types.ts";
import type { ActiveConsent } from "../worker/consent/scope.ts";
import type { DeviceLog } from "./DeviceLog.ts";

/** What the ledger reaches outside its storage: the devices it keeps in step, and the alarm's clock. */
export interface ConsentIo {
  deviceLog(tenant: string, device: string): DurableObjectStub<DeviceLog>;
  clock(): number;
}

/** The runtime's I/O: the `DEVICES` namespace and the real clock. */
export function consentIo(env: Env): ConsentIo {
  return { deviceLog: (tenant, device) => env.DEVICES.get(env.DEVICES.idFromName(`${tenant}/${device}`)), clock: () => Date.now() };
}

/** Failed pushes are retried this often. */
const RETRY_MS = 30_000;
/** A device attached but not registered by then never will be. */
const ATTACH_WINDOW_MS = 3_600_000;

/**
 * One per tenant (named `<tenant>`): consent records, their history as a hash chain, and which
 * devices each actor uses. Every change is serialised here, and every device of the actor is
 * kept in step with the actor's active consents (`DeviceLog.applyConsents`), so decisions read
 * a device's own copy and never this object. Failures only ever err on the side of less
 * consent: a revocation reaches every device (`DeviceLog.dropConsent`) before it is recorded
 * here, and is refused (`consent_sync_pending`) if one cannot be reached; a new consent is
 * recorded first and reaches devices after, the alarm retrying those that did not answer.
 */
export class ConsentLedger extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly io: ConsentIo;

  constructor(ctx: DurableObjectState, env: Env, io: ConsentIo = consentIo(env)) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.io = io;
    void ctx.blockConcurrencyWhile(async () => {
      this.sql.exec(`
        CREATE TABLE IF NOT EXISTS consents (id TEXT PRIMARY KEY, actor TEXT NOT NULL, record TEXT NOT NULL, expires_at INTEGER NOT NULL, revoked_at INTEGER);
        CREATE INDEX IF NOT EXISTS consents_actor ON consents (actor, expires_at);
        CREATE TABLE IF NOT EXISTS ledger (seq INTEGER PRIMARY KEY, consent TEXT NOT NULL, hash TEXT NOT NULL, entry TEXT NOT NULL);
        CREATE INDEX IF NOT EXISTS ledger_consent ON ledger (consent, seq);
        CREATE TABLE IF NOT EXISTS actors (actor TEXT PRIMARY KEY, version INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS actor_devices (actor TEXT NOT NULL, device TEXT NOT NULL, tenant TEXT NOT NULL, synced_version INTEGER NOT NULL, attached_at INTEGER NOT NULL, PRIMARY KEY (actor, device));
      `);
      const fresh = this.sql.exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'out_of_step'").toArray().length === 0;
      this.sql.exec("CREATE TABLE IF NOT EXISTS out_of_step (actor TEXT PRIMARY KEY)");
      // A ledger from before the table: the one time the whole of actor_devices is read for it.
      if (fresh) this.sql.exec("INSERT INTO out_of_step (actor) SELECT DISTINCT d.actor FROM actor_devices d JOIN actors a ON a.actor = d.actor WHERE d.synced_version < a.version");
      // Changed and then evicted before its push finished: the alarm finishes it.
      if (this.sql.exec("SELECT actor FROM out_of_step LIMIT 1").toArray().length > 0 && (await ctx.storage.getAlarm()) === null) await ctx.storage.setAlarm(this.io.clock() + RETRY_MS);
    });
  }

  /** Records a consent, then brings every device of its actor in step. */
  async give(args: { tenant: string; record: ConsentRecord; now: number }): Promise<{ ok: true; consent: ConsentView; devices: DeviceSync }> {
    return this.ctx.blockConcurrencyWhile(async () => {
      const { record } = args;
      this.ctx.storage.transactionSync(() => {
        this.sql.exec("INSERT INTO consents (id, actor, record, expires_at) VALUES (?, ?, ?, ?)", record.id, record.actor_id, JSON.stringify(record), Date.parse(record.expiry));
        this.bump(record.actor_id);
        this.appendLedger(record.id, "consent.given", { consent: record as unknown as JsonValue, by: record.recorded_by.id }, args.now);
      });
      const devices = await this.syncActor(record.actor_id, args.now);
      return { ok: true as const, consent: this.view(record.id, args.now)!, devices };
    });
  }

  /**
   * Revokes a consent. `actor`, when given, must be its actor (a person revokes only their own;
   * another's is not found). Every device of the actor drops it first; only then is the
   * revocation recorded, so once this answers no decision anywhere relies on it. Revoking a
   * revoked consent changes nothing and answers as the first time did.
   */
  async revoke(args: { id: string; actor: string | null; by: string; reason: string | null; now: number }): Promise<Outcome<{ consent: ConsentView; changed: boolean; devices: DeviceSync }, "not_found" | "consent_sync_pending">> {
    return this.ctx.blockConcurrencyWhile(async () => {
      const record = this.record(args.id);
      if (!record || (args.actor !== null && record.actor_id !== args.actor)) return { ok: false as const, code: "not_found" as const };
      if (record.revoked) return { ok: true as const, consent: this.view(args.id, args.now)!, changed: false, devices: { synced: this.devicesOf(record.actor_id).length, pending: 0 } };
      const devices = this.devicesOf(record.actor_id);
      const until = Date.parse(record.expiry);
      const dropped = await Promise.allSettled(devices.map(({ tenant, device }) => this.io.deviceLog(tenant, device).dropConsent({ id: record.id, until, now: args.now })));
      // A device that did not answer may still rely on it: nothing is recorded, and the caller repeats.
      if (dropped.some((result) => result.status === "rejected")) return { ok: false as const, code: "consent_sync_pending" as const };
      const revoked: ConsentRecord = { ...record, revoked: { at: new Date(args.now).toISOString(), by: args.by, reason: args.reason } };
      this.ctx.storage.transactionSync(() => {
        this.sql.exec("UPDATE consents SET record = ?, revoked_at = ? WHERE id = ?", JSON.stringify(revoked), args.now, record.id);
        this.bump(record.actor_id);
        this.appendLedger(record.id, "consent.revoked", { consent: record.id, by: args.by, reason: args.reason }, args.now);
      });
      const sync = await this.syncActor(record.actor_id, args.now);
      return { ok: true as const, consent: this.view(record.id, args.now)!, changed: true, devices: sync };
    });
  }

  /**
   * Notes that `device` is used by `actor` and hands it the actor's active consents. Registration
   * calls it before the device exists (so no consent given meanwhile can miss it) and again after;
   * until the device is registered the alarm keeps trying, for an hour.
   */
  async attachDevice(args: { tenant: string; actor: string; device: string; now: number }): Promise<{ ok: true; devices: DeviceSync }> {
    return this.ctx.blockConcurrencyWhile(async () => {
      this.sql.exec(
        "INSERT INTO actor_devices (actor, device, tenant, synced_version, attached_at) VALUES (?, ?, ?, -1, ?) ON CONFLICT (actor, device) DO NOTHING",
        args.actor,
        args.device,
        args.tenant,
        args.now,
      );
      if (this.sql.exec("SELECT actor FROM actors WHERE actor = ?", args.actor).toArray().length === 0) this.sql.exec("INSERT INTO actors (actor, version) VALUES (?, 0)", args.actor);
      this.markOutOfStep(args.actor);
      return { ok: true as const, devices: await this.syncActor(args.actor, args.now) };
    });
  }

  /** One consent with its history, or null. */
  consent(id: string, now: number): ConsentView | null {
    return this.view(id, now);
  }

  /** Consents, newest first: of one actor or all, and only those active at `now` if asked. */
  list(args: { actor: string | null; active: boolean; now: number; limit: number }): ConsentView[] {
    const where = [args.actor !== null ? "actor = ?" : null, args.active ? "revoked_at IS NULL AND expires_at > ?" : null].filter((clause) => clause !== null);
    const params = [...(args.actor !== null ? [args.actor] : []), ...(args.active ? [args.now] : [])];
    const rows = this.sql
      .exec<{ id: string }>(`SELECT id FROM consents ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY rowid DESC LIMIT ?`, ...params, args.limit)
      .toArray();
    return rows.map((row) => this.view(row.id, args.now)!);
  }

  /** Ledger entries with seq > `after`, as stored JSON text (the compliance package reads them). */
  readLedger(after: number, limit: number): string[] {
    return this.sql.exec<{ entry: string }>("SELECT entry FROM ledger WHERE seq > ? ORDER BY seq LIMIT ?", after, limit).toArray().map((row) => row.entry);
  }

  /** Brings every device behind its actor's version in step; retries while any stays behind. */
  override async alarm(): Promise<void> {
    await this.ctx.blockConcurrencyWhile(async () => {
      const now = this.io.clock();
      const behind = this.sql.exec<{ actor: string }>("SELECT actor FROM out_of_step").toArray();
      for (const { actor } of behind) await this.syncActor(actor, now);
    });
  }

  /** Pushes the actor's active consents to each of their devices not yet at the actor's version. */
  private async syncActor(actor: string, now: number): Promise<DeviceSync> {
    const version = this.sql.exec<{ version: number }>("SELECT version FROM actors WHERE actor = ?", actor).toArray()[0]?.version ?? 0;
    const consents = this.activeOf(actor, now);
    const devices = this.devicesOf(actor);
    let pending = 0;
    await Promise.all(
      devices.map(async ({ tenant, device, synced_version, attached_at }) => {
        if (synced_version >= version) return;
        try {
          const applied = await this.io.deviceLog(tenant, device).applyConsents({ actor, version, consents, now });
          // Registered to someone else, or never registered within the hour: it will never take them.
          if (!applied.ok && (applied.code === "forbidden" || now - attached_at > ATTACH_WINDOW_MS)) {
            this.sql.exec("DELETE FROM actor_devices WHERE actor = ? AND device = ?", actor, device);
            return;
          }
          if (!applied.ok) {
            pending += 1;
            return;
          }
          this.sql.exec("UPDATE actor_devices SET synced_version = max(synced_version, ?) WHERE actor = ? AND device = ?", version, actor, device);
        } catch (error) {
          pending += 1;
          console.warn(JSON.stringify({ event: "consent.sync_failed", actor, device, error: String(error) }));
        }
      }),
    );
    if (pending > 0) await this.ctx.storage.setAlarm(now + RETRY_MS);
    else this.sql.exec("DELETE FROM out_of_step WHERE actor = ?", actor);
    return { synced: devices.length - pending, pending };
  }

  private activeOf(actor: string, now: number): ActiveConsent[] {
    return this.sql
      .exec<{ record: string }>("SELECT record FROM consents WHERE actor = ? AND revoked_at IS NULL AND expires_at > ? ORDER BY id", actor, now)
      .toArray()
      .map((row) => activeConsent(JSON.parse(row.record) as ConsentRecord));
  }

  private devicesOf(actor: string): { tenant: string; device: string; synced_version: number; attached_at: number }[] {
    return this.sql
      .exec<{ tenant: string; device: string; synced_version: number; attached_at: number }>("SELECT tenant, device, synced_version, attached_at FROM actor_devices WHERE actor = ? ORDER BY device", actor)
      .toArray()
      .map((row) => ({ ...row }));
  }

  private bump(actor: string): void {
    this.sql.exec("INSERT INTO actors (actor, version) VALUES (?, 1) ON CONFLICT (actor) DO UPDATE SET version = version + 1", actor);
    this.markOutOfStep(actor);
  }

  /**
   * Notes, with the change that may put them behind, that the actor's devices are to be brought
   * in step; the push that finds every device there clears it. The alarm reads only these actors,
   * never every device of the tenant.
   */
  private markOutOfStep(actor: string): void {
    this.sql.exec("INSERT INTO out_of_step (actor) VALUES (?) ON CONFLICT (actor) DO NOTHING", actor);
  }

  private record(id: string): ConsentRecord | null {
    const row = this.sql.exec<{ record: string }>("SELECT record FROM consents WHERE id = ?", id).toArray()[0];
    return row ? (JSON.parse(row.record) as ConsentRecord) : null;
  }

  private view(id: string, now: number): ConsentView | null {
    const record = this.record(id);
    if (!record) return null;
    const history = this.sql
      .exec<{ entry: string }>("SELECT entry FROM ledger WHERE consent = ? ORDER BY seq", id)
      .toArray()
      .map((row) => {
        const entry = JSON.parse(row.entry) as LogEntry;
        return { seq: entry.seq, time: entry.time, type: entry.type as ConsentEvent["type"], by: String(entry.data["by"]), hash: entry.hash };
      });
    const status = record.revoked ? "revoked" : Date.parse(record.expiry) <= now ? "expired" : "active";
    return { ...record, status, history };
  }

  /** Must run inside the transaction that makes the change; the head is read there, so nothing can fork the chain. */
  private appendLedger(consent: string, type: ConsentEvent["type"], data: { [key: string]: JsonValue }, now: number): void {
    const head = this.sql.exec<{ seq: number; hash: string }>("SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1").toArray()[0] ?? { seq: 0, hash: GENESIS_PREV };
    const entry = nextEntry(head, "consent-ledger", type, data, now);
    this.sql.exec("INSERT INTO ledger (seq, consent, hash, entry) VALUES (?, ?, ?, ?)", entry.seq, consent, entry.hash, JSON.stringify(entry));
  }
}
