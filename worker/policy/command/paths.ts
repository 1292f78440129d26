/**
 * From an argument to a target: absolute paths in the device's own syntax and
 * URLs, or the reason an argument cannot become one. Nothing here canonicalises;
 * the caller runs `canonicalizePath` / `canonicalizeUrl` on what comes out.
 */
import type { ParseContext, Word } from "./model.ts";
import type { UnresolvedReason } from "./types.ts";

export type Resolved = { value: string } | { unresolved: UnresolvedReason; raw: string };

export interface PathOptions {
  /** PowerShell provider paths expand `~` themselves. */
  tildeIsHome?: boolean;
  /** PowerShell `-Path` also treats `[` … `]` as a wildcard. */
  brackets?: boolean;
}

// Standard streams and the null device are not files a policy protects.
const POSIX_STREAMS = new Set(["/dev/null", "/dev/stdin", "/dev/stdout", "/dev/stderr"]);
// cmd.exe and every Win32 program open the NUL device from any directory, with
// or without a colon or an extension-looking suffix.
const WINDOWS_NULL = /^nul(?::|\.[^\\/]*)?$/i;

/** Whether a file argument names nothing a policy protects: `-` (stdin/stdout), null devices, standard streams. */
function isNullTarget(text: string, ctx: ParseContext): boolean {
  if (text === "-" || text === "") return true;
  if (POSIX_STREAMS.has(text) && (ctx.os !== "windows" || isPosixShell(ctx))) return true;
  return ctx.os === "windows" && WINDOWS_NULL.test(text);
}

function isPosixShell(ctx: ParseContext): boolean {
  return ctx.shell === "bash" || ctx.shell === "sh" || ctx.shell === "zsh";
}

/** Resolves a file argument against the environment; null when it names no target. */
export function resolvePath(word: Word, ctx: ParseContext, options: PathOptions = {}): Resolved | null {
  if (word.unknown !== null) return { unresolved: word.unknown, raw: word.text };
  const text = word.text;
  if (isNullTarget(text, ctx)) return null;
  if (ctx.os === "windows" && (/[*?]/.test(text) || (options.brackets === true && /\[.*\]/.test(text)))) {
    // Windows programs expand wildcards themselves (there is no shell globbing).
    return { unresolved: "glob", raw: text };
  }
  if (text.startsWith("~")) {
    const home = ctx.home;
    if (options.tildeIsHome === true && /^~(?:$|[\\/])/.test(text)) {
      return home === null ? { unresolved: "home_unknown", raw: text } : { value: join(home, text.slice(2), ctx) };
    }
    return { unresolved: "tilde", raw: text };
  }
  return ctx.os === "windows" ? resolveWindows(text, ctx) : resolvePosix(text, ctx);
}

function resolvePosix(text: string, ctx: ParseContext): Resolved {
  if (text.startsWith("/")) return { value: text };
  if (ctx.cwd === null) return { unresolved: "relative_without_cwd", raw: text };
  return { value: join(ctx.cwd, text, ctx) };
}

function resolveWindows(text: string, ctx: ParseContext): Resolved {
  if (/^[A-Za-z]:[\\/]/.test(text) || /^[\\/]{2}[^\\/]/.test(text)) return { value: text };
  if (/^[A-Za-z]:/.test(text)) return { unresolved: "drive_relative", raw: text };
  if (isPosixShell(ctx) && text.startsWith("/")) {
    // Git Bash (MSYS) maps `/c/x` to `C:\x`, WSL `/mnt/c/x`; every other
    // absolute path goes through a mount table the line does not show.
    const drive = /^(?:\/mnt)?\/([A-Za-z])(?:\/(.*))?$/.exec(text);
    if (drive !== null) return { value: `${(drive[1] ?? "").toUpperCase()}:\\${(drive[2] ?? "").replace(/\//g, "\\")}` };
    return { unresolved: "posix_path_on_windows", raw: text };
  }
  if (ctx.cwd === null) return { unresolved: "relative_without_cwd", raw: text };
  if (text.startsWith("\\") || text.startsWith("/")) {
    // Rooted: the current drive (or share) of the working directory.
    const root = /^(?:[A-Za-z]:|[\\/]{2}[^\\/]+[\\/][^\\/]+)/.exec(ctx.cwd);
    if (root === null) return { unresolved: "relative_without_cwd", raw: text };
    return { value: root[0] + text };
  }
  return { value: join(ctx.cwd, text, ctx) };
}

/** `base` joined with a relative `rest` in the device's separator. */
function join(base: string, rest: string, ctx: ParseContext): string {
  if (rest === "" || rest === ".") return base;
  const separator = ctx.os === "windows" ? "\\" : "/";
  const trimmed = base.endsWith("/") || base.endsWith("\\") ? base.slice(0, -1) : base;
  return `${trimmed}${separator}${rest}`;
}

/** Whether an absolute directory in device syntax (for `cwd` and `home`). */
export function isAbsoluteDirectory(text: string, os: ParseContext["os"]): boolean {
  if (os === "windows") return /^[A-Za-z]:[\\/]/.test(text) || /^[\\/]{2}[^\\/?.][^\\/]*[\\/][^\\/]/.test(text);
  return text.startsWith("/");
}

const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;
// A host name or address as curl and wget accept it without a scheme.
const BARE_HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?::[0-9]+)?(?:[/?#].*)?$/;
// curl's URL globbing: `{a,b}` sets and `[1-9]` ranges (not IPv6 brackets).
const CURL_GLOB = /\{[^}]*\}|\[[^\]]*-[^\]]*\]/;

/**
 * A URL argument: as written when it has a scheme, `http://` prefixed when it is
 * a bare host (curl, wget and Invoke-WebRequest default to http).
 */
export function resolveUrl(word: Word, options: { curlGlob?: boolean } = {}): Resolved | null {
  if (word.unknown !== null) return { unresolved: word.unknown === "home_unknown" ? "expansion" : word.unknown, raw: word.text };
  const text = word.text;
  if (text === "") return null;
  if (options.curlGlob === true && CURL_GLOB.test(text)) return { unresolved: "glob", raw: text };
  if (SCHEME.test(text)) return { value: text };
  if (BARE_HOST.test(text) && /[.:]|^localhost/i.test(text)) return { value: `http://${text}` };
  return { unresolved: "not_a_url", raw: text };
}

/** `ssh://host:port/` for an ssh destination `[user@]host` or `ssh://[user@]host[:port]`. */
export function sshUrl(destination: string, port: string | null): Resolved {
  let host = destination;
  let explicitPort = port;
  const uri = /^ssh:\/\/(?:[^@/]*@)?(\[[^\]]+\]|[^:/]+)(?::([0-9]+))?\/?$/i.exec(destination);
  if (uri !== null) {
    host = uri[1] ?? "";
    explicitPort = uri[2] ?? explicitPort;
  } else {
    const at = destination.lastIndexOf("@");
    host = at < 0 ? destination : destination.slice(at + 1);
  }
  if (host === "" || /[\s/\\@]/.test(host) || host.startsWith("-")) return { unresolved: "not_a_url", raw: destination };
  if (host.includes(":") && !host.startsWith("[")) host = `[${host}]`;
  return { value: `ssh://${host}:${explicitPort ?? "22"}/` };
}

/** scp / rsync operand: `[user@]host:path` is remote (the host), anything else local. */
export function splitRemote(text: string, ctx: ParseContext): { remote: string } | { local: string } {
  if (/^(?:scp|sftp|rsync):\/\//i.test(text)) return { remote: text };
  const colon = text.indexOf(":");
  const slash = text.indexOf("/");
  if (colon <= 0 || (slash >= 0 && slash < colon)) return { local: text };
  // `C:\x` on windows is a drive, not a host named C.
  if (ctx.os === "windows" && colon === 1) return { local: text };
  return { remote: text.slice(0, colon) };
}

/** The remote host of an scp-like remote for `ssh://` (`git@github.com:org/repo` → `ssh://github.com/org/repo`). */
export function scpLikeUrl(text: string): Resolved {
  const match = /^(?:[^@/:]+@)?(\[[^\]]+\]|[^:/@]+):(.*)$/.exec(text);
  if (match === null) return { unresolved: "not_a_url", raw: text };
  const path = (match[2] ?? "").replace(/^\/+/, "");
  return { value: `ssh://${match[1] ?? ""}/${path}` };
}
