/**
 * The command analysis held to what programs do: lines built from each program's own `--help`
 * (every option it lists, alone, as the unique prefix getopt completes, and with a path as its
 * value) are run under strace (test/node/strace.ts) and every file the run touched in its home
 * directory, every program it executed and every address it connected to must be among what the
 * analysis of the same line says it does.
 */
import { spawnSync } from "node:child_process";
import { posix } from "node:path";
import { analyzeCommand, type CommandAnalysis } from "../../worker/policy/command/index.ts";
import { traceLine, type Access, type Traced } from "./strace.ts";

/**
 * The programs, each with the line its options are tried in (`{o}` is the option; operands name
 * files of the sandbox's FIXTURE and a destination that is not there yet) and how to list its
 * options.
 */
export interface ProgramLines {
  program: string;
  line: string;
  /** The arguments that make the program print its options (`--help`). */
  help?: readonly string[];
  /** Instead of its help's options, these (what follows an option the line already has: `sed -i{o}`). */
  options?: readonly string[];
  /** Lines whose files come from a list (`tar -T list`): the analysis must not claim to know them. */
  unresolved?: true;
  /**
   * The share of a --help sweep's lines the analysis must claim (default a half): fewer for
   * wrappers, whose unknown options make the line opaque, and cpio, whose names come from stdin.
   */
  share?: number;
}

export const PROGRAMS: readonly ProgramLines[] = [
  { program: "ls", line: "ls {o} ~/.ssh ~/.aws" },
  { program: "cat", line: "cat {o} ~/.aws/creds.json ~/.ssh/id_rsa" },
  { program: "head", line: "head {o} ~/.aws/creds.json ~/.ssh/id_rsa" },
  { program: "tail", line: "tail {o} ~/.aws/creds.json ~/.ssh/id_rsa" },
  { program: "grep", line: "grep {o} secret ~/.aws/creds.json ~/.ssh/id_rsa" },
  { program: "wc", line: "wc {o} ~/.aws/creds.json ~/.ssh/id_rsa" },
  { program: "sort", line: "sort {o} ~/.aws/creds.json ~/.ssh/id_rsa" },
  { program: "uniq", line: "uniq {o} ~/.aws/creds.json ~/.ssh/id_rsa" },
  { program: "nl", line: "nl {o} ~/.aws/creds.json ~/.ssh/id_rsa" },
  { program: "tac", line: "tac {o} ~/.aws/creds.json ~/.ssh/id_rsa" },
  { program: "od", line: "od {o} ~/.aws/creds.json ~/.ssh/id_rsa" },
  { program: "base64", line: "base64 {o} ~/.aws/creds.json ~/.ssh/id_rsa" },
  { program: "sha256sum", line: "sha256sum {o} ~/.aws/creds.json ~/.ssh/id_rsa" },
  { program: "cut", line: "cut {o} -c1 ~/.aws/creds.json ~/.ssh/id_rsa" },
  { program: "paste", line: "paste {o} ~/.aws/creds.json ~/.ssh/id_rsa" },
  { program: "diff", line: "diff {o} ~/.aws/creds.json ~/.ssh/id_rsa" },
  { program: "cmp", line: "cmp {o} ~/.aws/creds.json ~/.ssh/id_rsa" },
  { program: "comm", line: "comm {o} ~/.aws/creds.json ~/.ssh/id_rsa" },
  { program: "stat", line: "stat {o} ~/.aws/creds.json ~/.ssh/id_rsa" },
  { program: "du", line: "du {o} ~/.aws ~/.ssh" },
  { program: "cp", line: "cp {o} ~/.aws/creds.json ~/.ssh/id_rsa ~/proj/sub" },
  { program: "mv", line: "mv {o} ~/.aws/creds.json ~/.ssh/id_rsa ~/proj/sub" },
  { program: "ln", line: "ln {o} ~/.aws/creds.json ~/.ssh/id_rsa ~/proj/sub" },
  { program: "rm", line: "rm {o} ~/.aws/creds.json ~/.ssh/id_rsa" },
  { program: "touch", line: "touch {o} ~/.aws/creds.json ~/.ssh/id_rsa" },
  { program: "chmod", line: "chmod {o} 600 ~/.aws/creds.json ~/.ssh/id_rsa" },
  { program: "mkdir", line: "mkdir {o} ~/.aws/new ~/.ssh/new" },
  { program: "truncate", line: "truncate {o} -s 0 ~/.aws/creds.json ~/.ssh/id_rsa" },
  { program: "tee", line: "tee {o} ~/.aws/creds.json ~/.ssh/id_rsa" },
  { program: "shred", line: "shred {o} ~/.aws/creds.json ~/.ssh/id_rsa" },
  { program: "xxd", line: "xxd {o} ~/.ssh/id_rsa ~/proj/out" },
  { program: "tar", line: "tar {o} -cf ~/proj/out.tar ~/.ssh ~/.aws" },
  { program: "rsync", line: "rsync {o} ~/.ssh/id_rsa ~/.aws/creds.json ~/proj/sub/" },
  { program: "jq", line: "jq {o} . ~/.aws/creds.json ~/.ssh/id_rsa" },
  { program: "sed", line: "sed {o} -e p ~/.aws/creds.json ~/.ssh/id_rsa" },
  { program: "file", line: "file {o} ~/.aws/creds.json ~/.ssh/id_rsa" },
  { program: "readlink", line: "readlink {o} ~/.aws/creds.json ~/.ssh/id_rsa" },
  { program: "realpath", line: "realpath {o} ~/.aws/creds.json ~/.ssh/id_rsa" },
  { program: "tree", line: "tree {o} ~/.ssh ~/.aws" },
  { program: "zip", line: "zip {o} ~/proj/out.zip ~/.ssh/id_rsa ~/.aws/creds.json", help: ["-h2"] },
  { program: "gzip", line: "gzip {o} ~/.aws/creds.json ~/.ssh/id_rsa" },
  { program: "xz", line: "xz {o} ~/.aws/creds.json ~/.ssh/id_rsa", help: ["--long-help"] },
  { program: "bzip2", line: "bzip2 {o} ~/.aws/creds.json ~/.ssh/id_rsa" },
  { program: "zstd", line: "zstd {o} ~/.aws/creds.json ~/.ssh/id_rsa", help: ["-H"] },
  { program: "chown", line: "chown {o} root ~/.aws/creds.json ~/.ssh/id_rsa" },
  { program: "chgrp", line: "chgrp {o} root ~/.aws/creds.json ~/.ssh/id_rsa" },
  { program: "iconv", line: "iconv {o} -f utf-8 -t ascii ~/.aws/creds.json ~/.ssh/id_rsa" },
  { program: "expand", line: "expand {o} ~/.aws/creds.json ~/.ssh/id_rsa" },
  { program: "fold", line: "fold {o} ~/.aws/creds.json ~/.ssh/id_rsa" },
  { program: "fmt", line: "fmt {o} ~/.aws/creds.json ~/.ssh/id_rsa" },
  { program: "pr", line: "pr {o} ~/.aws/creds.json ~/.ssh/id_rsa" },
  { program: "strings", line: "strings {o} ~/.aws/creds.json ~/.ssh/id_rsa" },
  { program: "md5sum", line: "md5sum {o} ~/.aws/creds.json ~/.ssh/id_rsa" },
  { program: "less", line: "less {o} ~/.aws/creds.json ~/.ssh/id_rsa" },
  { program: "rmdir", line: "rmdir {o} ~/proj/sub ~/.ssh" },
  { program: "mkfifo", line: "mkfifo {o} ~/.aws/fifo ~/.ssh/fifo" },
  { program: "fallocate", line: "fallocate {o} -l 10 ~/.aws/creds.json" },
  { program: "column", line: "column {o} ~/.aws/creds.json ~/.ssh/id_rsa" },
  { program: "setfacl", line: "setfacl {o} -m u:root:r ~/.aws/creds.json ~/.ssh/id_rsa" },
  { program: "hexdump", line: "hexdump {o} ~/.aws/creds.json ~/.ssh/id_rsa" },
  { program: "diff3", line: "diff3 {o} ~/.aws/creds.json ~/.ssh/id_rsa ~/proj/src.txt" },
  { program: "sdiff", line: "sdiff {o} ~/.aws/creds.json ~/.ssh/id_rsa" },
  { program: "wget", line: "wget {o} http://127.0.0.1:9/ http://127.0.0.2:9/" },
  // Names as written, from the working directory: sed's backup name is built from them.
  { program: "sed", line: "sed -i{o} -e p src.txt", options: [".bak", "'bak-*'", "'../*'", "'.*'", "'*.orig'", "'sub/*'", "'.orig' -i'~'", "'~' -i'.*'"] },
  { program: "sed", line: "sed -i{o} -e p sub/a.txt", options: [".bak", "'../*'", "'.*'", "'*.orig'"] },
  { program: "cp", line: "cp {o} ~/proj/src.txt ~/proj/notes.txt", options: ["-b", "--backup", "--backup=numbered", "--backup=t", "--backup=simple", "--backup=never", "--backup=none", "-S .old -b", "--backup=simple --suffix=.orig", "-b ~/proj/sub/a.txt ~/proj"] },
  { program: "mv", line: "mv {o} ~/proj/src.txt ~/proj/notes.txt", options: ["-b", "--backup=numbered", "--backup=simple -S .old", "-b ~/proj/sub/a.txt ~/proj"] },
  { program: "ln", line: "ln {o} ~/proj/src.txt ~/proj/notes.txt", options: ["-sb", "-s --backup=numbered", "-f --backup=simple", "-s -b -S .x"] },
  { program: "install", line: "install {o} ~/proj/src.txt ~/proj/notes.txt", options: ["-b", "--backup=numbered", "-S .old -b", "-d ~/proj/new", "-D"] },
  { program: "gzip", line: "gzip {o}", options: ["~/proj/src.txt", "-d ~/proj/src.txt", "-S .x ~/proj/src.txt", "-S .a -S .b ~/proj/src.txt", "-r ~/proj/sub", "-k ~/proj/src.txt"] },
  { program: "zip", line: "zip {o}", options: ["~/proj/arch ~/proj/src.txt", "- ~/proj/src.txt", "-s 1m ~/proj/arch ~/proj/src.txt", "~/proj/dir.d ~/proj/src.txt"] },
  { program: "rsync", line: "rsync {o} ~/proj/src.txt ~/proj/sub/", options: ["-b --backup-dir=../../.ssh", "--backup-dir=bk -b", "--temp-dir=../tmpd", "--partial-dir=.p", "--link-dest=../../.ssh", "--copy-dest=../../.aws", "--compare-dest=$HOME/.ssh"] },
  { program: "sha256sum", line: "sha256sum {o}", options: ["-c ~/proj/sums.txt", "--check ~/proj/sums.txt", "-c < ~/proj/sums.txt"], unresolved: true },
  { program: "wc", line: "wc {o}", options: ["--files0-from=$HOME/proj/list0", "--files0-from ~/proj/list0", "-l --files0-from ~/proj/list0"], unresolved: true },
  { program: "du", line: "du {o}", options: ["--files0-from=$HOME/proj/list0", "-a --files0-from ~/proj/list0"], unresolved: true },
  { program: "sort", line: "sort {o}", options: ["--files0-from=$HOME/proj/list0", "-o ~/proj/out --files0-from ~/proj/list0"], unresolved: true },
  { program: "tar", line: "tar {o} -cf ~/proj/o.tar", options: ["-T ~/proj/list.txt", "--files-from=$HOME/proj/list.txt", "-czT ~/proj/list.txt"], unresolved: true },
  { program: "rsync", line: "rsync {o} ~/proj ~/proj/sub/", options: ["--files-from=$HOME/proj/list.txt", "-r --files-from ~/proj/list.txt"], unresolved: true },
  { program: "zip", line: "cat ~/proj/list.txt | zip {o} ~/proj/o.zip", options: ["-@", "-q@", "-@q", "--names-stdin"], unresolved: true },
  { program: "mktemp", line: "mktemp {o}", options: ["-p ~/.ssh", "-d -p ~/.ssh", "~/.ssh/kXXXXXX", "-d ~/.ssh/kXXXXXX", "-u ~/.ssh/kXXXXXX", "--tmpdir=$HOME/.ssh kXXXXXX", "kXXXXXX", "-p ~/.ssh -t kXXXXXX"] },
  {
    program: "find",
    line: "find ~/.ssh {o}",
    options: ["-fprint ~/proj/out", "-fprint0 ~/proj/out", "-fprintf ~/proj/out %p", "-fls ~/proj/out", "-delete", "-exec cat {} ';'", "-exec cat {} +", "-execdir cat {} ';'", "-newer ~/.aws/creds.json", "-anewer ~/.aws/creds.json", "-samefile ~/.aws/creds.json", "-name id_rsa -delete", "-type f -print", "-maxdepth 1 -ls"],
  },
  { program: "find", line: "find {o}", options: ["-files0-from ~/proj/list0", "-L ~/.ssh", "-H ~/.ssh -print", "-P ~/.ssh -delete", "-D stat ~/.ssh"] },
  { program: "dd", line: "dd {o}", options: ['if="$HOME/.ssh/id_rsa" of="$HOME/proj/out"', 'if="$HOME/.ssh/id_rsa"', 'of="$HOME/.ssh/id_rsa" if="$HOME/proj/src.txt" conv=notrunc'] },
  { program: "script", line: "script {o}", options: ["-q -c true ~/proj/log", "-qc true ~/.bashrc", "-q -c true -O ~/proj/log"] },
  // Wrappers: each option, then the program they run.
  { program: "timeout", line: "timeout {o} 5 cat ~/.ssh/id_rsa" },
  { program: "nice", line: "nice {o} cat ~/.ssh/id_rsa" },
  { program: "ionice", line: "ionice {o} cat ~/.ssh/id_rsa", share: 0.4 },
  { program: "stdbuf", line: "stdbuf {o} -o0 cat ~/.ssh/id_rsa" },
  { program: "env", line: "env {o} cat ~/.ssh/id_rsa", share: 0.4 },
  { program: "setsid", line: "setsid {o} cat ~/.ssh/id_rsa" },
  { program: "taskset", line: "taskset {o} 1 cat ~/.ssh/id_rsa" },
  { program: "flock", line: "flock {o} ~/proj/lock cat ~/.ssh/id_rsa" },
  { program: "xargs", line: "xargs {o} cat ~/.ssh/id_rsa", share: 0.4 },
  { program: "patch", line: "patch {o} ~/proj/src.txt ~/proj/notes.txt" },
  { program: "cpio", line: "cpio {o} -o -F ~/proj/o.cpio", share: 0.2 },
  { program: "unzip", line: "unzip {o} ~/proj/a.zip", help: ["-h"] },
  { program: "curl", line: "curl {o} http://127.0.0.1:9/ http://127.0.0.2:9/", help: ["--help", "all"] },
];

export interface HelpOption {
  /** As listed: `-a`, `--all`. */
  name: string;
  /** `=ARG`, `<arg>` or `ARG` after it: the option takes a value. */
  value: "none" | "required" | "optional";
}

/** The options a GNU-style `--help` lists, each spelling once. */
export function helpOptions(program: string, args: readonly string[] = ["--help"]): HelpOption[] {
  // Some print it on stderr and exit non-zero (xxd, bzip2).
  const run = spawnSync(program, [...args], { encoding: "utf8", env: { PATH: process.env.PATH ?? "", LANG: "C" }, stdio: ["ignore", "pipe", "pipe"] });
  const text = `${run.stdout}\n${run.stderr}`;
  const found = new Map<string, HelpOption>();
  for (const line of text.split("\n")) {
    if (!/^\s*-/.test(line)) continue;
    const head = line.trim().split(/\s{2,}|\t/)[0] ?? "";
    for (const match of head.matchAll(/(?<=^|[\s,])(--?[A-Za-z0-9][\w-]*)(\[=[^\]\s]*\]|=[^\s,]+|\s<[^>]+>|\s[A-Z][A-Z_]*\b)?/g)) {
      const name = match[1] as string;
      const suffix = match[2] ?? "";
      const value = suffix.startsWith("[") ? "optional" : suffix === "" ? "none" : "required";
      if (!found.has(name)) found.set(name, { name, value });
    }
  }
  return [...found.values()];
}

/** The shortest prefix of a long option that no other long option of the program begins with. */
function uniquePrefix(name: string, all: readonly string[]): string | null {
  for (let length = 3; length < name.length; length++) {
    const prefix = name.slice(0, length);
    if (all.every((other) => other === name || !other.startsWith(prefix))) return prefix;
  }
  return null;
}

/** The lines one program's options are tried in. */
export function linesFor(entry: ProgramLines): string[] {
  if (entry.options !== undefined) return entry.options.map((option) => entry.line.replace("{o}", option));
  const options = helpOptions(entry.program, entry.help);
  const longs = options.map((option) => option.name).filter((name) => name.startsWith("--"));
  const lines = new Set<string>();
  const put = (option: string) => lines.add(entry.line.replace("{o}", option));
  for (const option of options) {
    if (option.name === "--help" || option.name === "--version" || option.name === "-h" || option.name === "-V") continue;
    put(option.name);
    if (option.name.startsWith("--")) {
      const prefix = uniquePrefix(option.name, longs);
      if (prefix !== null) put(prefix);
      if (option.value !== "none") put(`${option.name}="$HOME/proj/src.txt"`);
    } else if (option.value !== "none") put(`${option.name} ~/proj/src.txt`);
  }
  return [...lines];
}

const HELPER_DIRS = ["/usr/lib/", "/usr/libexec/", "/lib/"];
/**
 * The helpers a program runs by itself, whose name the line does not choose: part of the program,
 * as git's are (the analysis lists a program the line names: `tar -I prog`, `--strip-program`).
 */
const HELPERS: Readonly<Record<string, readonly string[]>> = {
  tar: ["sh", "gzip", "bzip2", "xz", "lzma", "lzip", "lzop", "zstd", "compress"],
  zip: ["sh", "unzip"],
  diff: ["pr"],
  install: ["strip"],
  diff3: ["diff"],
  sdiff: ["diff"],
};
const SHELLS = new Set(["sh", "dash", "bash"]);

function within(path: string, dir: string): boolean {
  const base = dir.length > 1 ? dir.replace(/\/+$/, "") : dir;
  return path === base || path.startsWith(`${base}/`);
}

/**
 * What the run of `ran` did that the analysis of `line` does not say, or null when the analysis claims nothing
 * exact (refused, opaque, or a target it could not resolve): such a line is not permitted as
 * a plain action anyway.
 */
export function unjudged(line: string, traced: Traced, ran: string = line): Access[] | null {
  const result = analyzeCommand(line, { os: "linux", shell: "bash", cwd: traced.cwd, home: traced.home });
  if (!result.ok) return null;
  const analysis: CommandAnalysis = result.value;
  if (analysis.commands.some((command) => command.opaque) || analysis.targets.some((target) => !("value" in target))) return null;
  // As the decision path does, paths are taken in canonical form (`proj/../x` is `x`).
  const paths = analysis.targets.flatMap((target) => ("value" in target && target.kind === "path" ? [{ action: target.action, value: posix.normalize(target.value) }] : []));
  const hosts = new Set(
    analysis.targets.flatMap((target) => {
      if (!("value" in target) || target.kind !== "url") return [];
      try {
        return [new URL(target.value).hostname.replace(/^\[|\]$/g, "")];
      } catch {
        return [];
      }
    }),
  );
  const programs = new Set(analysis.commands.flatMap((command) => [command.program, ...command.wrappers, ...(HELPERS[command.program] ?? [])].map((name) => posix.basename(name))));
  // A program that runs one the line names may do it through `sh -c` (`tar -I prog`, `split --filter`).
  if (analysis.commands.some((command) => command.flags.includes("spawns"))) for (const shell of SHELLS) programs.add(shell);
  const out: Access[] = [];
  // Names the run gave a judged file or a file of its own making, which stand for that file:
  // filled in as the trace is read, in order.
  const aliases: Array<{ action: string; value: string }> = [];
  const created = new Set<string>();
  const readBefore = new Set<string>();
  const renamedAway: Array<Extract<Access, { kind: "rename" }>> = [];
  const judgedAs = (access: { kind: "read" | "write" | "delete"; path: string; syscall: string; listing?: true; metadata?: true }): boolean =>
    // What the run made itself it may read, change and remove. Every process may look at the
    // directory it starts in, or hold it open to come back to (find); listing it is a read.
    created.has(access.path) ||
    (access.kind === "read" && access.listing !== true && access.path === traced.cwd) ||
    [...paths, ...aliases].some((target) => {
      const { kind, path } = access;
      if (within(path, target.value)) {
        if (target.action === "file.read" && kind === "read") return true;
        // Below what it writes or deletes, a program may list and look (`rm -r`, `cp -r` onto a tree), not read.
        if (kind === "read") return access.listing === true || access.metadata === true;
        // Setting back the times of a file it has just read (`tar --atime-preserve`, `file -p`) is not a write.
        if (access.syscall === "utimensat" && target.action === "file.read") return readBefore.has(path);
        if (kind === "delete") return target.action === "file.delete" || target.action === "file.write";
        return target.action === "file.write";
      }
      // Directories on the way to a target: looked at to reach it (not listed), or made for it (`mkdir -p`).
      return within(target.value, path) && ((kind === "read" && access.listing !== true) || (access.syscall.startsWith("mkdir") && target.action === "file.write"));
    });
  // A file the run makes beside a judged one and renames onto it (sed -i's copy, zip's and curl's
  // temporary files, ln -f's new link), or removes again (sed -i's copy when the backup cannot be
  // made): part of that judged write, from the start.
  // Only names of the program's making count: one the line spells is the line's own action.
  const made = new Set<string>();
  for (const access of traced.accesses) {
    if (access.kind === "write" && access.created === true && !ran.includes(posix.basename(access.path))) made.add(access.path);
    if (access.kind === "rename" && made.has(access.from) && posix.dirname(access.from) === posix.dirname(access.to) && judgedAs({ kind: "write", path: access.to, syscall: "rename" })) aliases.push({ action: "file.write", value: access.from });
    if (access.kind === "delete" && made.has(access.path) && paths.some((target) => target.action === "file.write" && posix.dirname(target.value) === posix.dirname(access.path))) aliases.push({ action: "file.write", value: access.path });
  }
  // The first program run is the bash the line is given to.
  let first = true;
  for (const access of traced.accesses) {
    if (access.kind === "exec") {
      if (first) {
        first = false;
        continue;
      }
      if (HELPER_DIRS.some((dir) => access.path.startsWith(dir))) continue;
      if (!programs.has(posix.basename(access.path)) && !programs.has(posix.basename(access.argv0))) out.push(access);
      continue;
    }
    if (access.kind === "connect") {
      if (!hosts.has(access.address)) out.push(access);
      continue;
    }
    if (access.kind === "rename") {
      const sameDirectory = posix.dirname(access.from) === posix.dirname(access.to);
      const toJudged = !within(access.to, traced.home) || judgedAs({ kind: "write", path: access.to, syscall: "rename" });
      if (sameDirectory && made.has(access.from) && toJudged) continue;
      const fromDeleted = !within(access.from, traced.home) || [...paths, ...aliases].some((target) => target.action === "file.delete" && within(access.from, target.value));
      // A file it deletes, first renamed beside itself without replacing anything (shred -u): still
      // that file, provided the run deletes it under the new name (or moves it on the same way).
      if (sameDirectory && access.noReplace && fromDeleted) {
        aliases.push({ action: "file.delete", value: access.to });
        renamedAway.push(access);
        continue;
      }
      if (!(fromDeleted || judgedAs({ kind: "delete", path: access.from, syscall: "rename" })) || !toJudged) out.push(access);
      continue;
    }
    if (!within(access.path, traced.home)) continue;
    if (!judgedAs(access)) out.push(access);
    if (access.kind === "write" && access.created === true) created.add(access.path);
    if (access.kind === "read" && access.metadata !== true && access.listing !== true) readBefore.add(access.path);
  }
  const gone = new Set(traced.accesses.flatMap((access) => (access.kind === "delete" ? [access.path] : access.kind === "rename" ? [access.from] : [])));
  for (const rename of renamedAway) if (!gone.has(rename.to)) out.push(rename);
  return out;
}

/** Runs `line` and holds the run to the analysis of the line (or, to show a wrong analysis is caught, of `analysedAs(line)`). */
export async function check(line: string, analysedAs: (line: string) => string = (same) => same): Promise<{ line: string; unjudged: Access[] | null; timedOut: boolean }> {
  const traced = await traceLine(line);
  return { line, unjudged: unjudged(analysedAs(line), traced, line), timedOut: traced.timedOut };
}
