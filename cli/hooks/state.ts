import { createHash, randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { parseStrictJson } from "../../worker/json/strict.ts";
import { HookFailure } from "./protocol.ts";

/**
 * What a hook keeps between invocations, per Warden URL and device, under the user's config
 * directory: the session token (so a call costs no new nonce and session), the decisions
 * waiting for their PostToolUse, and the last log position Warden returned (for
 * `warden shim log-check`). Every file is 0600 in a 0700 directory, written to a temporary
 * name and renamed, so a reader never sees half a file: agents run hooks for parallel tool
 * calls concurrently.
 */

/** The user's config directory for Warden: XDG on Linux, Application Support on macOS, %APPDATA% on Windows. */
export function configDir(env: Record<string, string | undefined> = process.env, platform: NodeJS.Platform = process.platform): string {
  if (platform === "win32") return join(env["APPDATA"] ?? join(homedir(), "AppData", "Roaming"), "warden");
  if (platform === "darwin") return join(homedir(), "Library", "Application Support", "warden");
  return join(env["XDG_CONFIG_HOME"] || join(homedir(), ".config"), "warden");
}

/** A saved session token and when it expires. */
export interface SessionRecord {
  token: string;
  /** ms since the epoch */
  expiresAt: number;
}

/** A position in the device's log: an entry's seq and hash. */
export interface LogPosition {
  seq: number;
  hash: string;
}

/** A decided tool call waiting for its PostToolUse. */
export interface PendingCall {
  tool: string;
  startedAt: number;
  humanReviewed: boolean;
  reviewId?: string;
  /** One entry per decision the call needed, with the files its action writes or deletes. */
  decisions: { id: string; seq: number; type: string; files: string[] }[];
}

/** Pending calls older than this are dropped: the agent never reported them (cancelled, crashed). */
const PENDING_TTL_MS = 24 * 3600_000;

/** The state files of one device at one Warden. */
export class HookState {
  readonly dir: string;

  /** The state of one device at one Warden, under `root` (the config directory unless overridden). */
  constructor(root: string, url: string, device: string) {
    const id = createHash("sha256").update(`${url}\n${device}`).digest("hex").slice(0, 24);
    this.dir = join(root, "state", id);
    try {
      mkdirSync(join(this.dir, "pending"), { recursive: true, mode: 0o700 });
    } catch (error) {
      throw new HookFailure("state_unavailable", `cannot create ${this.dir}: ${(error as Error).message}`, { cause: error });
    }
  }

  private read<T>(name: string): T | null {
    let text: string;
    try {
      text = readFileSync(join(this.dir, name), "utf8");
    } catch {
      return null;
    }
    try {
      return parseStrictJson(text) as T;
    } catch {
      // A damaged state file is forgotten, not trusted: the worst case is a new session.
      return null;
    }
  }

  private write(name: string, value: unknown): void {
    const path = join(this.dir, name);
    const temporary = join(this.dir, `.${randomBytes(8).toString("hex")}.tmp`);
    try {
      writeFileSync(temporary, JSON.stringify(value) + "\n", { mode: 0o600, flag: "wx" });
      chmodSync(temporary, 0o600);
      renameSync(temporary, path);
    } catch (error) {
      rmSync(temporary, { force: true });
      throw new HookFailure("state_unavailable", `cannot write ${path}: ${(error as Error).message}`, { cause: error });
    }
  }

  /** The saved session if it stays valid for `marginMs` more, else null. */
  session(now: number, marginMs: number): SessionRecord | null {
    const record = this.read<SessionRecord>("session.json");
    if (!record || typeof record.token !== "string" || typeof record.expiresAt !== "number") return null;
    return record.expiresAt - now > marginMs ? record : null;
  }

  saveSession(record: SessionRecord): void {
    this.write("session.json", record);
  }

  forgetSession(): void {
    rmSync(join(this.dir, "session.json"), { force: true });
  }

  /** The latest log position Warden returned to this device's hooks. */
  logPosition(): LogPosition | null {
    const record = this.read<LogPosition>("log.json");
    return record && Number.isInteger(record.seq) && typeof record.hash === "string" ? record : null;
  }

  /**
   * Keeps the highest position seen. Two concurrent hooks may both read before either writes;
   * the loser's position is older, never wrong, so log-check then checks an earlier entry.
   */
  noteLogPosition(position: LogPosition | null | undefined): void {
    if (!position) return;
    const kept = this.logPosition();
    if (kept && kept.seq >= position.seq) return;
    this.write("log.json", { seq: position.seq, hash: position.hash });
  }

  /** The latest signed checkpoint `warden shim log-check` saw: size and root. */
  lastCheckpoint(): { size: number; root: string } | null {
    const record = this.read<{ size: number; root: string }>("checkpoint.json");
    return record && Number.isInteger(record.size) && typeof record.root === "string" ? record : null;
  }

  noteCheckpoint(checkpoint: { size: number; root: string }): void {
    this.write("checkpoint.json", { size: checkpoint.size, root: checkpoint.root });
  }

  private pendingName(toolUseId: string): string {
    return join("pending", `${createHash("sha256").update(toolUseId).digest("hex").slice(0, 32)}.json`);
  }

  savePending(toolUseId: string, call: PendingCall): void {
    this.write(this.pendingName(toolUseId), call);
  }

  /** The pending call for `toolUseId`, removed as it is read: one outcome per decision. */
  takePending(toolUseId: string): PendingCall | null {
    const call = this.read<PendingCall>(this.pendingName(toolUseId));
    if (call) rmSync(join(this.dir, this.pendingName(toolUseId)), { force: true });
    return call && Array.isArray(call.decisions) ? call : null;
  }

  /** Drops pending calls no PostToolUse came for within a day. */
  prunePending(now: number): void {
    const dir = join(this.dir, "pending");
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      try {
        if (now - statSync(path).mtimeMs > PENDING_TTL_MS) unlinkSync(path);
      } catch {
        // Another hook removed it first.
      }
    }
  }
}
