import { DurableObject } from "cloudflare:workers";
import type { Refused } from "../worker/errors.ts";
import { registryKey, type AgentRecord, type AgentRegistration, type RegistrySnapshot } from "../worker/agents/types.ts";

/** What the registry reaches outside its storage: the bucket isolates read the registry from. */
export interface AgentRegistryIo {
  bucket: R2Bucket;
}

/** A change of the registry, as its history keeps it. */
export interface AgentChange {
  seq: number;
  time: string;
  type: "agent.registered" | "agent.updated" | "agent.removed";
  agent: string;
  revision: number;
  by: string;
}

/**
 * One per tenant (named `<tenant>`): the agent registry. Every change is serialised here,
 * written to R2 as a whole snapshot (what isolates read, see worker/agents/store.ts) and only
 * then committed with its history row, so no isolate reads a registry this object does not hold.
 * The decision path never calls this object.
 */
export class AgentRegistry extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly io: AgentRegistryIo;

  constructor(ctx: DurableObjectState, env: Env, io: AgentRegistryIo = { bucket: env.BUNDLES }) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.io = io;
    void ctx.blockConcurrencyWhile(async () => {
      this.sql.exec(`
        CREATE TABLE IF NOT EXISTS agents (id TEXT PRIMARY KEY, record TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS history (seq INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL, type TEXT NOT NULL, agent TEXT NOT NULL, revision INTEGER NOT NULL, by TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS meta (singleton INTEGER PRIMARY KEY CHECK (singleton = 1), version INTEGER NOT NULL);
      `);
    });
  }

  /** Registers an agent, or replaces its registration (the revision counts up; who first registered it stays). */
  async register(args: { tenant: string; registration: AgentRegistration; by: string; now: number }): Promise<{ ok: true; record: AgentRecord; version: number; created: boolean }> {
    return this.ctx.blockConcurrencyWhile(async () => {
      const before = this.record(args.registration.id);
      const time = new Date(args.now).toISOString();
      const record: AgentRecord = {
        ...args.registration,
        revision: (before?.revision ?? 0) + 1,
        registered_at: before?.registered_at ?? time,
        registered_by: before?.registered_by ?? args.by,
        updated_at: time,
        updated_by: args.by,
      };
      const agents = new Map(this.records().map((agent) => [agent.id, agent]));
      agents.set(record.id, record);
      const version = await this.publish(args.tenant, [...agents.values()]);
      this.ctx.storage.transactionSync(() => {
        this.sql.exec("INSERT INTO agents (id, record) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET record = excluded.record", record.id, JSON.stringify(record));
        this.note(version, before ? "agent.updated" : "agent.registered", record.id, record.revision, args.by, time);
      });
      return { ok: true as const, record, version, created: !before };
    });
  }

  /** Takes an agent out of the registry: from then on it decides as unregistered. */
  async remove(args: { tenant: string; id: string; by: string; now: number }): Promise<{ ok: true; version: number; revision: number } | Refused<"not_found">> {
    return this.ctx.blockConcurrencyWhile(async () => {
      const before = this.record(args.id);
      if (!before) return { ok: false as const, code: "not_found" as const };
      const version = await this.publish(args.tenant, this.records().filter((agent) => agent.id !== args.id));
      this.ctx.storage.transactionSync(() => {
        this.sql.exec("DELETE FROM agents WHERE id = ?", args.id);
        this.note(version, "agent.removed", args.id, before.revision, args.by, new Date(args.now).toISOString());
      });
      return { ok: true as const, version, revision: before.revision };
    });
  }

  /** One registered agent. */
  agent(id: string): AgentRecord | null {
    return this.record(id);
  }

  /** Every registered agent, by id, and the registry's version. */
  list(): { version: number; agents: AgentRecord[] } {
    return { version: this.version(), agents: this.records() };
  }

  /** Every registration, change and removal, oldest first. */
  history(): AgentChange[] {
    return this.sql.exec<{ seq: number; time: string; type: AgentChange["type"]; agent: string; revision: number; by: string }>("SELECT seq, time, type, agent, revision, by FROM history ORDER BY seq").toArray().map((row) => ({ ...row }));
  }

  private record(id: string): AgentRecord | null {
    const row = this.sql.exec<{ record: string }>("SELECT record FROM agents WHERE id = ?", id).toArray()[0];
    return row ? (JSON.parse(row.record) as AgentRecord) : null;
  }

  private records(): AgentRecord[] {
    return this.sql.exec<{ record: string }>("SELECT record FROM agents ORDER BY id").toArray().map((row) => JSON.parse(row.record) as AgentRecord);
  }

  private version(): number {
    return this.sql.exec<{ version: number }>("SELECT version FROM meta").toArray()[0]?.version ?? 0;
  }

  /** Writes the next snapshot to R2 and returns its version; storage is changed by the caller only after. */
  private async publish(tenant: string, agents: AgentRecord[]): Promise<number> {
    const version = this.version() + 1;
    const snapshot: RegistrySnapshot = { format: "warden.agent-registry.v1", version, agents: agents.sort((a, b) => (a.id < b.id ? -1 : 1)) };
    await this.io.bucket.put(registryKey(tenant), JSON.stringify(snapshot), { httpMetadata: { contentType: "application/json" } });
    return version;
  }

  private note(version: number, type: AgentChange["type"], agent: string, revision: number, by: string, time: string): void {
    this.sql.exec("INSERT INTO meta (singleton, version) VALUES (1, ?) ON CONFLICT (singleton) DO UPDATE SET version = excluded.version", version);
    this.sql.exec("INSERT INTO history (time, type, agent, revision, by) VALUES (?, ?, ?, ?, ?)", time, type, agent, revision, by);
  }
}
