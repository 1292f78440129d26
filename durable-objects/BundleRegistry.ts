import { DurableObject } from "cloudflare:workers";
import { GENESIS_PREV, nextEntry } from "../worker/log/chain.ts";
import type { JsonValue } from "../worker/log/canonical.ts";
import type { Refused } from "../worker/errors.ts";
import { EventOutbox, type EventsIo } from "./event-outbox.ts";
import { eventsIoFrom } from "./log-io.ts";
import { knownName } from "./object-name.ts";
import { WARDEN_VERSION } from "../worker/version.ts";
import { tenantHoldKey } from "../worker/privacy/retention.ts";
import { deploymentKey, type BundleRef, type Deployment, type Slot } from "../worker/policy/deployment.ts";


/** A refusal says why in `detail`, which the route logs (never sends). */
export type RegistryRefusal = Refused<"bundle_version_conflict" | "not_found"> & { detail: string };

/** A decision reduced to what shadow evaluation compares. */
export interface DecisionSummary {
  decision: string;
  reason_code: string;
  reasons: string[];
}

export interface ShadowReport {
  version: number;
  agree: number;
  disagree: number;
  examples: { time: string; device: string; decision_id: string; active: DecisionSummary; shadow: DecisionSummary }[];
}

/** The tenant's legal hold as the registry records it. */
export interface TenantLegalHold {
  since: string;
  by: string;
  reason: string;
  /** The admin-log entry that set it. */
  seq: number;
}

const MAX_SHADOW_EXAMPLES = 20;
/** Delay before a failed forward of admin-log events is tried again. */
const EVENT_RETRY_MS = 30_000;
const EMPTY: Deployment = { generation: 0, active: null, canary: null, shadow: null };

/**
 * One per tenant: the deployment (active, canary and shadow bundles), the admin log of
 * every activation, rollback and refusal (hash-chained like a device log), and shadow
 * agreement counts. Activation is serialised here; the worker has already verified the
 * artifact's signature and compiled it before asking.
 */
export class BundleRegistry extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private head = { seq: 0, hash: GENESIS_PREV };
  /** Admin-log entries owed to the tenant's event feed (durable-objects/event-outbox.ts). */
  private readonly events: EventOutbox;
  /** The tenant this registry is named for, kept once seen: events name it. */
  private tenant: string | null = null;
  private alarmAt: number | null = null;

  constructor(ctx: DurableObjectState, env: Env, events: EventsIo = eventsIoFrom(env)) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.events = new EventOutbox(this.sql, () => events, () => (this.tenant ? { tenant: this.tenant, productVersion: WARDEN_VERSION } : null), "admin");
    void ctx.blockConcurrencyWhile(async () => {
      this.sql.exec(`
        CREATE TABLE IF NOT EXISTS deployment (singleton INTEGER PRIMARY KEY CHECK (singleton = 1), state TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS activated (version INTEGER PRIMARY KEY, digest TEXT NOT NULL, ref TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS admin_log (seq INTEGER PRIMARY KEY, hash TEXT NOT NULL, entry TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS shadow_counts (version INTEGER PRIMARY KEY, agree INTEGER NOT NULL, disagree INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS shadow_examples (id INTEGER PRIMARY KEY AUTOINCREMENT, version INTEGER NOT NULL, example TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS artifacts (digest TEXT PRIMARY KEY, ref TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS legal_hold (singleton INTEGER PRIMARY KEY CHECK (singleton = 1), since TEXT NOT NULL, by TEXT NOT NULL, reason TEXT NOT NULL, seq INTEGER NOT NULL);
      `);
      const last = this.sql.exec<{ seq: number; hash: string }>("SELECT seq, hash FROM admin_log ORDER BY seq DESC LIMIT 1").toArray()[0];
      if (last) this.head = { seq: last.seq, hash: last.hash };
      this.events.migrate();
      this.tenant = knownName(ctx);
      this.alarmAt = await ctx.storage.getAlarm();
      if (this.events.pending() && this.alarmAt === null) this.ensureAlarm(Date.now() + EVENT_RETRY_MS);
    });
  }

  deployment(): Deployment {
    const row = this.sql.exec<{ state: string }>("SELECT state FROM deployment").toArray()[0];
    return row ? (JSON.parse(row.state) as Deployment) : EMPTY;
  }

  /**
   * Puts `ref` in `slot`. Versions only move up: the active slot takes a version above
   * the active one, or, with `rollback`, one that was active before; candidates must be
   * above the active version. The R2 pointer is written before the change commits, so
   * isolates never read a deployment the registry does not hold.
   */
  async activate(args: {
    tenant: string;
    ref: BundleRef;
    slot: Slot;
    percent?: number | undefined;
    group?: string | undefined;
    rollback: boolean;
    reason?: string | undefined;
    /** Who activates: the person, as every admin-log entry names them. */
    by: string;
    now: number;
  }): Promise<{ ok: true; deployment: Deployment; log: { seq: number; hash: string } } | RegistryRefusal> {
    return this.ctx.blockConcurrencyWhile(async () => {
      const current = this.deployment();
      const refusal = this.checkVersion(current, args.ref, args.slot, args.rollback);
      if (refusal) {
        this.appendLog("bundle.refused", { version: args.ref.version, digest: args.ref.digest, slot: args.slot, code: refusal.code, detail: refusal.detail, by: args.by }, args.now);
        return this.committed(refusal, args.now);
      }
      const next: Deployment = { ...current, generation: current.generation + 1 };
      if (args.slot === "active") {
        next.active = args.ref;
        // A candidate at or below the new active version has nothing left to test.
        if (next.canary && next.canary.bundle.version <= args.ref.version) next.canary = null;
        if (next.shadow && next.shadow.version <= args.ref.version) next.shadow = null;
      } else if (args.slot === "canary") {
        next.canary = { bundle: args.ref, percent: args.percent ?? null, group: args.group ?? null };
      } else {
        next.shadow = args.ref;
      }
      await this.env.BUNDLES.put(deploymentKey(args.tenant), JSON.stringify(next));
      const type = args.rollback ? "bundle.rolled_back" : `bundle.${args.slot === "active" ? "activated" : args.slot}`;
      const log = this.ctx.storage.transactionSync(() => {
        this.sql.exec("INSERT INTO deployment (singleton, state) VALUES (1, ?) ON CONFLICT (singleton) DO UPDATE SET state = excluded.state", JSON.stringify(next));
        if (args.slot === "active") {
          this.sql.exec("INSERT INTO activated (version, digest, ref) VALUES (?, ?, ?) ON CONFLICT (version) DO NOTHING", args.ref.version, args.ref.digest, JSON.stringify(args.ref));
        }
        // Every artifact that ever decided (or shadowed) stays findable by the digest logs name it by.
        this.sql.exec("INSERT INTO artifacts (digest, ref) VALUES (?, ?) ON CONFLICT (digest) DO NOTHING", args.ref.digest, JSON.stringify(args.ref));
        return this.appendLog(
          type,
          {
            version: args.ref.version,
            digest: args.ref.digest,
            name: args.ref.name,
            slot: args.slot,
            percent: args.percent ?? null,
            group: args.group ?? null,
            previous: current.active ? { version: current.active.version, digest: current.active.digest } : null,
            reason: args.reason ?? null,
            by: args.by,
          },
          args.now,
        );
      });
      return this.committed({ ok: true as const, deployment: next, log }, args.now);
    });
  }

  /** Ends a canary or shadow evaluation. */
  async clear(args: { tenant: string; slot: "canary" | "shadow"; by: string; now: number }): Promise<{ ok: true; deployment: Deployment } | RegistryRefusal> {
    return this.ctx.blockConcurrencyWhile(async () => {
      const current = this.deployment();
      if (!current[args.slot]) return { ok: false as const, code: "not_found" as const, detail: `no ${args.slot} bundle` };
      const next: Deployment = { ...current, generation: current.generation + 1, [args.slot]: null };
      await this.env.BUNDLES.put(deploymentKey(args.tenant), JSON.stringify(next));
      this.ctx.storage.transactionSync(() => {
        this.sql.exec("UPDATE deployment SET state = ?", JSON.stringify(next));
        this.appendLog(`bundle.${args.slot}_cleared`, { previous: args.slot === "canary" ? current.canary!.bundle.version : current.shadow!.version, by: args.by }, args.now);
      });
      return this.committed({ ok: true as const, deployment: next }, args.now);
    });
  }

  /** Records an artifact refused before it reached the registry (signature, expiry, validation). */
  recordRefusal(args: { version: number | null; code: string; detail: string; by: string; now: number }): { seq: number; hash: string } {
    return this.committed(
      this.ctx.storage.transactionSync(() => this.appendLog("bundle.refused", { version: args.version, code: args.code, detail: args.detail, by: args.by }, args.now)),
      args.now,
    );
  }

  /**
   * Records an administrative action that is not about bundles (a quarantine, a revocation, a
   * reviewer removed) in the tenant's admin log, with who did it and why: the one hash-chained
   * record of what admins did to the tenant.
   */
  recordAdminAction(args: { type: `admin.${string}`; data: { [key: string]: JsonValue }; now: number }): { seq: number; hash: string } {
    return this.committed(
      this.ctx.storage.transactionSync(() => this.appendLog(args.type, args.data, args.now)),
      args.now,
    );
  }

  /** The tenant's legal hold, or null. */
  legalHold(): TenantLegalHold | null {
    const row = this.sql.exec<{ since: string; by: string; reason: string; seq: number }>("SELECT since, by, reason, seq FROM legal_hold").toArray()[0];
    return row ? { since: row.since, by: row.by, reason: row.reason, seq: row.seq } : null;
  }

  /**
   * Sets (`on`) or lifts the tenant's legal hold: while it holds, no device's alarm deletes an
   * archived segment or a vault value (docs/privacy.md). The alarms read the hold from its R2
   * marker beside the deployment pointer, so the marker is written before a hold is recorded and
   * deleted only after a lift is: whatever fails in between leaves deletion suspended, never a
   * recorded hold that does not hold. Logged (`admin.legal_hold_set` / `admin.legal_hold_lifted`).
   */
  async setLegalHold(args: { tenant: string; on: boolean; by: string; reason: string; now: number }): Promise<{ changed: boolean; log: { seq: number; hash: string }; hold: TenantLegalHold | null }> {
    return this.ctx.blockConcurrencyWhile(async () => {
      const key = tenantHoldKey(args.tenant);
      const current = this.legalHold();
      if (args.on) await this.env.BUNDLES.put(key, JSON.stringify({ since: current?.since ?? new Date(args.now).toISOString(), by: current?.by ?? args.by }), { httpMetadata: { contentType: "application/json" } });
      const changed = args.on ? current === null : current !== null;
      const log = this.committed(
        this.ctx.storage.transactionSync(() => {
          const entry = this.appendLog(args.on ? "admin.legal_hold_set" : "admin.legal_hold_lifted", { by: args.by, reason: args.reason, changed }, args.now);
          if (args.on && changed) this.sql.exec("INSERT INTO legal_hold (singleton, since, by, reason, seq) VALUES (1, ?, ?, ?, ?)", new Date(args.now).toISOString(), args.by, args.reason, entry.seq);
          if (!args.on) this.sql.exec("DELETE FROM legal_hold");
          return entry;
        }),
        args.now,
      );
      if (!args.on) await this.env.BUNDLES.delete(key);
      return { changed, log, hold: this.legalHold() };
    });
  }

  /**
   * The artifact a log names by `digest`: any bundle activated in any slot (a registry that
   * predates this record also finds the ones it activated and the current candidates).
   */
  artifact(digest: string): BundleRef | null {
    const row =
      this.sql.exec<{ ref: string }>("SELECT ref FROM artifacts WHERE digest = ?", digest).toArray()[0] ??
      this.sql.exec<{ ref: string }>("SELECT ref FROM activated WHERE digest = ? ORDER BY version DESC LIMIT 1", digest).toArray()[0];
    if (row) return JSON.parse(row.ref) as BundleRef;
    const { canary, shadow } = this.deployment();
    return [canary?.bundle, shadow].find((ref) => ref?.digest === digest) ?? null;
  }

  /** Adds a batch of shadow comparisons (one isolate's, worker/decisions/service.ts); keeps the first few disagreements as examples. */
  recordShadow(args: { version: number; agree: number; disagree: number; examples: ShadowReport["examples"] }): void {
    this.ctx.storage.transactionSync(() => {
      this.sql.exec(
        "INSERT INTO shadow_counts (version, agree, disagree) VALUES (?, ?, ?) ON CONFLICT (version) DO UPDATE SET agree = agree + excluded.agree, disagree = disagree + excluded.disagree",
        args.version,
        args.agree,
        args.disagree,
      );
      const kept = this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM shadow_examples WHERE version = ?", args.version).one().n;
      for (const example of args.examples.slice(0, Math.max(0, MAX_SHADOW_EXAMPLES - kept))) {
        this.sql.exec("INSERT INTO shadow_examples (version, example) VALUES (?, ?)", args.version, JSON.stringify(example));
      }
    });
  }

  shadowReport(version: number): ShadowReport {
    const counts = this.sql.exec<{ agree: number; disagree: number }>("SELECT agree, disagree FROM shadow_counts WHERE version = ?", version).toArray()[0];
    const examples = this.sql
      .exec<{ example: string }>("SELECT example FROM shadow_examples WHERE version = ? ORDER BY id", version)
      .toArray()
      .map((row) => JSON.parse(row.example) as ShadowReport["examples"][number]);
    return { version, agree: counts?.agree ?? 0, disagree: counts?.disagree ?? 0, examples };
  }

  /** Admin log entries with seq > `after`, as stored JSON text. */
  readLog(after: number, limit: number): string[] {
    return this.sql.exec<{ entry: string }>("SELECT entry FROM admin_log WHERE seq > ? ORDER BY seq LIMIT ?", after, limit).toArray().map((row) => row.entry);
  }

  private checkVersion(current: Deployment, ref: BundleRef, slot: Slot, rollback: boolean): RegistryRefusal | null {
    const active = current.active;
    const conflict = (detail: string): RegistryRefusal => ({ ok: false, code: "bundle_version_conflict", detail });
    if (slot !== "active") {
      if (rollback) return conflict("only the active slot rolls back");
      if (active && ref.version <= active.version) return conflict(`a ${slot} must be above active version ${active.version}`);
      return null;
    }
    if (!rollback) {
      if (active && ref.version <= active.version) return conflict(`version ${ref.version} is not above active version ${active.version}; roll back explicitly`);
      return null;
    }
    if (!active || ref.version >= active.version) return conflict("a rollback goes to a version below the active one");
    const earlier = this.sql.exec<{ digest: string }>("SELECT digest FROM activated WHERE version = ?", ref.version).toArray()[0];
    if (!earlier) return conflict(`version ${ref.version} was never active`);
    if (earlier.digest !== ref.digest) return conflict(`version ${ref.version} now has another digest than when it was active`);
    return null;
  }

  override async alarm(): Promise<void> {
    this.alarmAt = null;
    try {
      while (await this.events.forward());
    } catch (error) {
      console.error(JSON.stringify({ event: "events.forward_failed", log: "admin", error: String(error) }));
      this.ensureAlarm(Date.now() + EVENT_RETRY_MS);
    }
  }

  /** After a committed append: its event goes now, and an alarm written with the commit's answer stands behind it. */
  private committed<T>(result: T, now: number): T {
    if (this.events.pending()) {
      this.events.kick();
      this.ensureAlarm(now + EVENT_RETRY_MS);
    }
    return result;
  }

  private ensureAlarm(at: number): void {
    if (this.alarmAt !== null && this.alarmAt <= at) return;
    this.alarmAt = at;
    this.ctx.storage.setAlarm(at).catch((error: unknown) => console.error(JSON.stringify({ event: "events.set_alarm_failed", log: "admin", error: String(error) })));
  }

  private appendLog(type: string, data: { [key: string]: JsonValue }, now: number): { seq: number; hash: string } {
    const entry = nextEntry(this.head, "bundle-registry", type, data, now);
    const text = JSON.stringify(entry);
    this.sql.exec("INSERT INTO admin_log (seq, hash, entry) VALUES (?, ?, ?)", entry.seq, entry.hash, text);
    this.events.note(entry.seq, text);
    this.head = { seq: entry.seq, hash: entry.hash };
    return this.head;
  }
}
