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
  { program: "sed", line: "sed -i{o} -e p ~/.aws/creds.json ~/.ssh/id_rsa", options: [".bak", "'bak-*'", "'../*'", "'../proj/*.orig'"] },
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

export interface Unjudged {
  line: string;
  access: Access;
}

const HELPER_DIRS = ["/usr/lib/", "/usr/libexec/", "/lib/"];
/** Programs that always run another, whatever the line says: part of the program, like git's helpers. */
const ALWAYS_RUNS: Readonly<Record<string, readonly string[]>> = { diff3: ["diff"], sdiff: ["diff"] };
const SHELLS = new Set(["sh", "dash", "bash"]);

function within(path: string, dir: string): boolean {
  const base = dir.length > 1 ? dir.replace(/\/+$/, "") : dir;
  return path === base || path.startsWith(`${base}/`);
}

/**
 * What the run did that the analysis does not say, or null when the analysis claims nothing
 * exact (refused, opaque, or a target it could not resolve): such a line is not permitted as
 * a plain action anyway.
 */
export function unjudged(line: string, traced: Traced): Access[] | null {
  const result = analyzeCommand(line, { os: "linux", shell: "bash", cwd: traced.cwd, home: traced.home });
  if (!result.ok) return null;
  const analysis: CommandAnalysis = result.value;
  if (analysis.commands.some((command) => command.opaque) || analysis.targets.some((target) => !("value" in target))) return null;
  const paths = analysis.targets.flatMap((target) => ("value" in target && target.kind === "path" ? [{ action: target.action, value: target.value }] : []));
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
  const programs = new Set(analysis.commands.flatMap((command) => [command.program, ...command.wrappers, ...(ALWAYS_RUNS[command.program] ?? [])].map((name) => posix.basename(name))));
  // A program that spawns another may do it through `sh -c` (tar's compressors, zip -T's unzip).
  if (analysis.commands.some((command) => command.flags.includes("spawns"))) for (const shell of SHELLS) programs.add(shell);
  const out: Access[] = [];
  // Names a judged file was moved to without replacing anything there (`shred -u` renames the
  // file it wipes through shorter and shorter names before it unlinks it): the same file.
  const movedTo: Array<{ action: string; value: string }> = [];
  const judgedAs = (kind: "read" | "write" | "delete", path: string, syscall: string): boolean =>
    [...paths, ...movedTo].some((target) => {
      if (within(path, target.value)) {
        // Setting back the times of what it read (`tar --atime-preserve`, `file -p`) is not a write.
        if (kind === "read" || syscall === "utimensat") return true;
        if (kind === "delete") return target.action === "file.delete" || target.action === "file.write";
        return target.action === "file.write";
      }
      // Directories on the way to a target: opened to reach it, or made for it (`mkdir -p`).
      return within(target.value, path) && (kind === "read" || (syscall.startsWith("mkdir") && target.action === "file.write"));
    });
  // A file written under a new name next to a judged one and renamed onto it (curl's cookie jar,
  // sed -i), or removed again by the run (sed -i when the backup could not be made).
  for (const access of traced.accesses) {
    if (access.kind === "rename" && posix.dirname(access.from) === posix.dirname(access.to) && judgedAs("write", access.to, "rename")) movedTo.push({ action: "file.write", value: access.from });
  }
  const removed = new Set(traced.accesses.flatMap((access) => (access.kind === "delete" ? [access.path] : [])));
  for (const access of traced.accesses) {
    if (access.kind === "write" && removed.has(access.path) && paths.some((target) => target.action === "file.write" && posix.dirname(target.value) === posix.dirname(access.path))) movedTo.push({ action: "file.write", value: access.path });
  }
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
      const fromJudged = !within(access.from, traced.home) || judgedAs("delete", access.from, "rename");
      if (fromJudged && access.noReplace && posix.dirname(access.from) === posix.dirname(access.to)) {
        movedTo.push({ action: "file.delete", value: access.to });
        continue;
      }
      if (!fromJudged || (within(access.to, traced.home) && !judgedAs("write", access.to, "rename"))) out.push(access);
      continue;
    }
    if (!within(access.path, traced.home)) continue;
    if (!judgedAs(access.kind, access.path, access.syscall)) out.push(access);
  }
  return out;
}

/** Runs `line` and holds the run to the analysis of the line (or, to show a wrong analysis is caught, of `analysedAs(line)`). */
export async function check(line: string, analysedAs: (line: string) => string = (same) => same): Promise<{ line: string; unjudged: Access[] | null; timedOut: boolean }> {
  const traced = await traceLine(line);
  return { line, unjudged: unjudged(analysedAs(line), traced), timedOut: traced.timedOut };
}
