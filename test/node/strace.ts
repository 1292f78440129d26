/**
 * Runs one command line under strace in a sandbox of its own and reads back what its processes
 * did: the files they opened for reading or writing, deleted, created or changed, the programs
 * they executed and the IPv4/IPv6 addresses they connected to. test/node/command-strace.test.ts
 * holds the command analysis to it.
 *
 * Each run gets a new home directory with the same files in it (`FIXTURE`), starts in its
 * project directory, has no network (`unshare -n`: a connect() is still attempted, and traced,
 * but reaches nothing) and is killed after a few seconds.
 */
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, posix } from "node:path";

/** Files every sandbox starts with, relative to its home directory. */
export const FIXTURE: Readonly<Record<string, string>> = {
  ".ssh/id_rsa": "-----BEGIN OPENSSH PRIVATE KEY-----\nsecret\n-----END OPENSSH PRIVATE KEY-----\n",
  ".ssh/config": "Host *\n",
  ".aws/creds.json": '{"key": "secret"}\n',
  ".bashrc": "echo hi\n",
  "proj/src.txt": "one\ntwo\nsecret\n",
  "proj/notes.txt": "two\nthree\n",
  "proj/sub/a.txt": "a\n",
  // Lists that name a file outside the project: checksums (`sha256sum -c`), names one per line
  // (`tar -T`, `zip -@`) and NUL-separated (`du --files0-from`).
  "proj/sums.txt": `${"0".repeat(64)}  ../.ssh/id_rsa\n`,
  "proj/list.txt": "../.ssh/id_rsa\n",
  "proj/list0": "../.ssh/id_rsa\0",
};

export type Access =
  /**
   * `listing`: a directory's entries read (getdents64); `metadata`: only its status, its access or
   * its link read (stat, access, readlink), or the file opened without reading it yet (O_PATH, a
   * directory opened); `created`: opened with O_CREAT, or a link made.
   */
  | { kind: "read" | "write" | "delete"; path: string; syscall: string; listing?: true; metadata?: true; created?: true }
  /** `noReplace`: the call would not have replaced a file already at `to` (renameat2's RENAME_NOREPLACE). */
  | { kind: "rename"; from: string; to: string; noReplace: boolean }
  | { kind: "exec"; path: string; argv0: string }
  | { kind: "connect"; address: string; port: number };

export interface Traced {
  home: string;
  cwd: string;
  accesses: Access[];
  /** The run did not finish in time and was killed (what it did until then is in `accesses`). */
  timedOut: boolean;
}

const SYSCALLS = [
  "execve", "execveat", "open", "openat", "openat2", "creat", "unlink", "unlinkat", "rmdir", "rename", "renameat", "renameat2",
  "mkdir", "mkdirat", "mknod", "mknodat", "truncate", "chmod", "fchmodat", "chown", "lchown", "fchownat", "symlink", "symlinkat",
  "link", "linkat", "utimensat", "utimes", "setxattr", "lsetxattr", "removexattr", "lremovexattr", "connect", "chdir", "fchdir",
  "clone", "clone3", "fork", "vfork",
  // Changes made through a descriptor, and what only reads a file's status.
  "fchmod", "fchown", "ftruncate", "fsetxattr", "fremovexattr",
  "getdents64", "stat", "lstat", "newfstatat", "statx", "access", "faccessat", "faccessat2", "readlink", "readlinkat", "getxattr", "lgetxattr", "listxattr", "llistxattr",
].join(",");

export async function makeSandbox(): Promise<{ root: string; home: string; cwd: string }> {
  const root = await mkdtemp(join(tmpdir(), "warden-strace-"));
  const home = join(root, "home", "dev");
  for (const [name, text] of Object.entries(FIXTURE)) {
    const file = join(home, name);
    await mkdir(posix.dirname(file), { recursive: true });
    await writeFile(file, text);
  }
  return { root, home, cwd: join(home, "proj") };
}

/** Runs `line` with bash under strace in a new sandbox and reads what it did. */
export async function traceLine(line: string, timeoutMs = 5_000): Promise<Traced> {
  const { root, home, cwd } = await makeSandbox();
  const log = join(root, "trace.txt");
  let timedOut = false;
  await new Promise<void>((resolve) => {
    const child = execFile(
      "unshare",
      ["-n", "--", "strace", "-f", "-qq", "-y", "-s", "8192", "-e", `trace=${SYSCALLS}`, "-o", log, "--", "/bin/bash", "--norc", "-c", line],
      // --norc: bash reads ~/.bashrc even with -c when its input is a socket (as under sshd), which
      // Node's pipes are.
      { cwd, env: { PATH: "/usr/local/bin:/usr/bin:/bin", HOME: home, LANG: "C.UTF-8", TERM: "dumb" }, timeout: timeoutMs, killSignal: "SIGKILL" },
      (error) => {
        if (error && child.killed) timedOut = true;
        resolve();
      },
    );
    child.stdin?.end();
  });
  const text = await readFile(log, "utf8").catch(() => "");
  const accesses = readTrace(text, cwd);
  await rm(root, { recursive: true, force: true });
  return { home, cwd, accesses, timedOut };
}

/** Joins strace's `<unfinished ...>` and `<... resumed>` halves so each call is one line. */
function calls(text: string): Array<{ pid: number; call: string }> {
  const pending = new Map<number, string>();
  const out: Array<{ pid: number; call: string }> = [];
  for (const raw of text.split("\n")) {
    const match = /^(\d+)\s+(.*)$/.exec(raw);
    if (match === null) continue;
    const pid = Number(match[1]);
    let call = match[2] as string;
    if (call.startsWith("---") || call.startsWith("+++")) continue;
    const resumed = /^<\.\.\. \w+ resumed>(.*)$/.exec(call);
    if (resumed !== null) {
      call = (pending.get(pid) ?? "") + (resumed[1] as string);
      pending.delete(pid);
    }
    if (call.endsWith("<unfinished ...>")) {
      pending.set(pid, call.slice(0, -"<unfinished ...>".length));
      continue;
    }
    out.push({ pid, call });
  }
  return out;
}

/** The strings of a call's argument list, in order (strace prints them C-escaped). */
function strings(args: string): string[] {
  const out: string[] = [];
  for (const match of args.matchAll(/"((?:[^"\\]|\\.)*)"/g)) out.push(unescapeC(match[1] as string));
  return out;
}

function unescapeC(text: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c !== "\\") {
      bytes.push(...Buffer.from(c, "utf8"));
      continue;
    }
    const next = text[++i] as string;
    if (/[0-7]/.test(next)) {
      let digits = next;
      while (digits.length < 3 && /[0-7]/.test(text[i + 1] ?? "")) digits += text[++i];
      bytes.push(parseInt(digits, 8));
    } else if (next === "x") {
      bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(({ n: 10, t: 9, r: 13, v: 11, f: 12 } as Record<string, number>)[next] ?? next.charCodeAt(0));
  }
  return Buffer.from(bytes).toString("utf8");
}

/** A file descriptor as `strace -y` prints it (`AT_FDCWD</dir>`, `3</dir/file>`, its path C-escaped). */
function dirOf(arg: string, cwd: string): string | null {
  const match = /^(?:AT_FDCWD|\d+)<(.*)>$/.exec(arg.trim());
  if (match) return unescapeC(match[1] as string);
  return arg.trim() === "AT_FDCWD" ? cwd : null;
}

function resolveIn(dir: string, path: string): string {
  return posix.normalize(path.startsWith("/") ? path : posix.join(dir, path));
}

/** Splits a call's top-level arguments at commas outside quotes, brackets and braces. */
function splitArgs(args: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < args.length; i++) {
    const c = args[i];
    if (quoted) {
      if (c === "\\") i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === "[" || c === "{" || c === "(" || c === "<") depth++;
    else if (c === "]" || c === "}" || c === ")" || c === ">") depth--;
    else if (c === "," && depth === 0) {
      out.push(args.slice(start, i).trim());
      start = i + 1;
    }
  }
  out.push(args.slice(start).trim());
  return out;
}

/** Reads a trace into accesses. Calls that failed because a path was not there are not actions. */
export function readTrace(text: string, startCwd: string): Access[] {
  const cwds = new Map<number, string>();
  const accesses: Access[] = [];
  for (const { pid, call } of calls(text)) {
    const match = /^(\w+)\((.*)\)\s+=\s+(-?\d+|\?)(?:<([^>]*)>)?(?:\s+(\w+))?/.exec(call);
    if (match === null) continue;
    const [, name, argText, result, opened, errno] = match as unknown as [string, string, string, string, string | undefined, string | undefined];
    const cwd = cwds.get(pid) ?? startCwd;
    if (!cwds.has(pid)) cwds.set(pid, cwd);
    if (["clone", "clone3", "fork", "vfork"].includes(name) && /^\d+$/.test(result)) {
      cwds.set(Number(result), cwd);
      continue;
    }
    if (result.startsWith("-") && (errno === "ENOENT" || errno === "ENOTDIR" || errno === "ENAMETOOLONG")) continue;
    const args = splitArgs(argText);
    const path = (index: number, dirIndex?: number): string => {
      const value = strings(args[index] ?? "")[0] ?? "";
      const dir = dirIndex === undefined ? cwd : (dirOf(args[dirIndex] ?? "", cwd) ?? cwd);
      return resolveIn(dir, value);
    };
    const add = (kind: "read" | "write" | "delete", value: string, marks: { listing?: true; metadata?: true; created?: true } = {}) => accesses.push({ kind, path: value, syscall: name, ...marks });
    const behind = (index: number) => dirOf(args[index] ?? "", cwd);
    switch (name) {
      case "chdir":
        if (result === "0") cwds.set(pid, path(0));
        break;
      case "fchdir":
        if (result === "0") cwds.set(pid, dirOf(args[0] ?? "", cwd) ?? cwd);
        break;
      case "execve":
      case "execveat": {
        const at = name === "execveat" ? 1 : 0;
        const argv = strings(args[at + 1] ?? "");
        accesses.push({ kind: "exec", path: name === "execveat" ? path(1, 0) : path(0), argv0: argv[0] ?? "" });
        break;
      }
      case "open":
      case "openat":
      case "openat2":
      case "creat": {
        const target = name === "open" || name === "creat" ? path(0) : path(1, 0);
        const flags = name === "creat" ? "O_WRONLY|O_CREAT|O_TRUNC" : (args[name === "open" ? 1 : 2] ?? "");
        const writes = /O_WRONLY|O_RDWR|O_CREAT|O_TRUNC|O_APPEND/.test(flags);
        const marks = {
          ...(/O_PATH|O_DIRECTORY/.test(flags) && !writes ? { metadata: true as const } : {}),
          ...(/O_CREAT/.test(flags) ? { created: true as const } : {}),
        };
        add(writes ? "write" : "read", target, marks);
        // What was opened, its links followed (`-y` prints it): a link the run made leads elsewhere.
        const real = opened === undefined ? null : unescapeC(opened);
        if (real !== null && real.startsWith("/") && real !== target) add(writes ? "write" : "read", real, marks);
        break;
      }
      case "stat":
      case "lstat":
      case "access":
      case "readlink":
      case "getxattr":
      case "lgetxattr":
      case "listxattr":
      case "llistxattr":
        add("read", path(0), { metadata: true });
        break;
      case "newfstatat":
      case "statx":
      case "faccessat":
      case "faccessat2":
      case "readlinkat": {
        // newfstatat(fd, "", …, AT_EMPTY_PATH) is the file behind fd.
        const empty = (strings(args[1] ?? "")[0] ?? "") === "";
        const target = empty ? behind(0) : path(1, 0);
        if (target !== null) add("read", target, { metadata: true });
        break;
      }
      case "getdents64": {
        const target = behind(0);
        if (target !== null) add("read", target, { listing: true });
        break;
      }
      case "fchmod":
      case "fchown":
      case "ftruncate":
      case "fsetxattr":
      case "fremovexattr": {
        const target = behind(0);
        if (target !== null) add("write", target);
        break;
      }
      case "unlink":
      case "rmdir":
        add("delete", path(0));
        break;
      case "unlinkat":
        add("delete", path(1, 0));
        break;
      case "rename":
        accesses.push({ kind: "rename", from: path(0), to: path(1), noReplace: false });
        break;
      case "renameat":
      case "renameat2":
        accesses.push({ kind: "rename", from: path(1, 0), to: path(3, 2), noReplace: /RENAME_NOREPLACE/.test(args[4] ?? "") });
        break;
      case "mkdir":
      case "mknod":
      case "truncate":
      case "chmod":
      case "chown":
      case "lchown":
      case "utimes":
      case "setxattr":
      case "lsetxattr":
      case "removexattr":
      case "lremovexattr":
        add("write", path(0));
        break;
      case "mkdirat":
      case "mknodat":
      case "fchmodat":
      case "fchownat":
        add("write", path(1, 0));
        break;
      case "utimensat":
        // utimensat(fd, NULL, …) changes the file behind fd.
        if (args[1] === "NULL") {
          const target = behind(0);
          if (target !== null) add("write", target);
        } else add("write", path(1, 0));
        break;
      case "symlink":
        add("write", path(1), { created: true });
        break;
      case "symlinkat":
        add("write", path(2, 1), { created: true });
        break;
      case "link":
        add("read", path(0));
        add("write", path(1), { created: true });
        break;
      case "linkat":
        add("read", path(1, 0));
        add("write", path(3, 2), { created: true });
        break;
      case "connect": {
        const inet = /sa_family=AF_INET6?, sin6?_port=htons\((\d+)\),.*?(?:inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6, "([^"]+)"\))/.exec(argText);
        if (inet) accesses.push({ kind: "connect", port: Number(inet[1]), address: (inet[2] ?? inet[3]) as string });
        break;
      }
    }
  }
  return accesses;
}
