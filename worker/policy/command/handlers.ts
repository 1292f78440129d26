/**
 * Rows of the program table for programs whose arguments are a language of
 * their own: subcommands (git, npm, pip), expressions (find), scripts (sed,
 * awk), bundled options (tar), code strings (shells, interpreters), wrappers.
 * Each handler is referenced from exactly one row of programs.ts, where the
 * comment says what it stops.
 */
import type { Invocation } from "./invocation.ts";
import { literal, type ParseContext, type Word } from "./model.ts";
import type { Effect, OptionSpec, ParsedArgs } from "./options.ts";
import { isNullTarget, resolvePath, scpLikeUrl, splitRemote, sshUrl } from "./paths.ts";
import { all, applyOperands, assignmentFlags, CONFIG, D, NONE, plain, R, SPAWN_PROGRAM, U, W, type ProgramRow } from "./rows.ts";
import { commandLineToArgv } from "./argv.ts";
import type { CommandFlag, Shell } from "./types.ts";

// ---------------------------------------------------------------------------
// helpers

function text(word: Word | undefined): string | null {
  return word !== undefined && word.unknown === null ? word.text : null;
}

function operandWords(parsed: ParsedArgs): Word[] {
  return parsed.operands.map((operand) => operand.word);
}

function nested(invocation: Invocation, shell: Shell): ParseContext {
  return { ...invocation.ctx, shell, depth: invocation.ctx.depth + 1 };
}

/** This program only wraps `words`: they are listed in its place. */
function wrap(invocation: Invocation, words: Word[], flags: readonly CommandFlag[] = []): void {
  if (words.length > 0) invocation.then({ kind: "argv", words, ctx: invocation.ctx }, true, flags);
}

/** This program only runs `code` in `shell`: its commands are listed in its place. */
function wrapCode(invocation: Invocation, code: Word, shell: Shell, flags: readonly CommandFlag[] = []): void {
  invocation.then({ kind: "code", code, ctx: nested(invocation, shell) }, true, flags);
}

/** This program (listed) also runs `code` through sh. */
function spawnCode(invocation: Invocation, code: Word, shell: Shell = "sh"): void {
  invocation.flag("spawns");
  invocation.then({ kind: "code", code, ctx: nested(invocation, shell) }, false);
}

/** A registry package's command: `create-app@latest` runs the bin `create-app`. */
function packageCommand(words: Word[]): Word[] {
  const [first, ...rest] = words;
  if (first === undefined || first.unknown !== null) return words;
  return [{ ...first, text: first.text.replace(/(?<=.)@[^/@]*$/, "") }, ...rest];
}

/** This program (listed) also runs the program `words`. */
function spawnArgv(invocation: Invocation, words: Word[], extra: Word[] = []): void {
  invocation.flag("spawns");
  if (words.length === 0) return;
  invocation.then({ kind: "argv", words, ctx: invocation.ctx, extra }, false);
}

/** Words joined by spaces, the way `sh -c "$*"` sees them (unknown when any part is). */
function joined(words: readonly Word[]): Word {
  const unknown = words.find((word) => word.unknown !== null)?.unknown ?? null;
  return { text: words.map((word) => word.text).join(" "), unknown };
}

/** The POSIX-family grammar a shell program reads, or null for shells Warden does not parse. */
function shellGrammar(program: string, ctx: ParseContext): Shell | null {
  if (program === "bash" || program === "rbash") return "bash";
  if (program === "zsh") return "zsh";
  if (["sh", "dash", "ash", "ksh", "mksh", "yash"].includes(program)) return ctx.os === "windows" ? "bash" : "sh";
  return null;
}

/** The first operand a subcommand-style program names, skipping options. */
function firstOperand(parsed: ParsedArgs): { word: Word; index: number } | undefined {
  return parsed.operands[0];
}

// ---------------------------------------------------------------------------
// text processors

// awk: program text first unless -f; every awk program is code (system(),
// `print | "cmd"`, `"cmd" | getline`, output redirection).
const AWK: OptionSpec = {
  values: { ...all({ marker: "program", target: ["read"], opaque: true }, "-f", "--file"), ...plain("-F", "--field-separator", "-v", "--assign", "-W"), ...all(R, "-i", "--include", "-E", "--exec") },
};
export function awk(invocation: Invocation): void {
  const parsed = invocation.options(AWK);
  const words = operandWords(parsed);
  const files = parsed.markers.has("program") ? words : words.slice(1);
  if (!parsed.markers.has("program")) invocation.flag("inline_code");
  for (const word of files) {
    // `var=value` operands are assignments, not files (POSIX awk).
    if (word.unknown === null && /^[A-Za-z_][A-Za-z0-9_]*=/.test(word.text)) continue;
    invocation.target("read", word);
  }
}

const SED: OptionSpec = {
  values: {
    ...all({ marker: "script" }, "-e", "--expression"),
    ...all({ marker: "script-file", target: ["read"] }, "-f", "--file"),
    ...plain("-l", "--line-length"),
  },
  attached: all({ marker: "in-place" }, "-i", "--in-place"),
  switches: all({ marker: "in-place" }, "-I"),
};
export function sed(invocation: Invocation): void {
  const parsed = invocation.options(SED);
  const words = operandWords(parsed);
  const scripts: Word[] = parsed.options.filter((option) => option.name === "-e" || option.name === "--expression").flatMap((option) => (option.value === null ? [] : [option.value]));
  let files = words;
  if (!parsed.markers.has("script") && !parsed.markers.has("script-file")) {
    const script = words[0];
    if (script !== undefined) scripts.push(script);
    files = words.slice(1);
  }
  // A script file may hold `e` and `w` commands the policy cannot see.
  if (parsed.markers.has("script-file")) invocation.opaque();
  for (const script of scripts) sedScript(invocation, script);
  for (const word of files) {
    invocation.target("read", word);
    if (parsed.markers.has("in-place")) invocation.target("write", word);
  }
}

/**
 * Reads a sed script far enough to find the commands that reach outside the
 * stream: `e` (execute), `s///e`, `w`/`W` and `s///w` (write a file), `r`/`R`
 * (read a file). A script it cannot follow makes the command opaque.
 */
function sedScript(invocation: Invocation, script: Word): void {
  if (script.unknown !== null) {
    invocation.opaque();
    return;
  }
  const s = script.text;
  let i = 0;
  const skipBlank = (): void => {
    while (i < s.length && /[ \t]/.test(s.charAt(i))) i += 1;
  };
  const restOfLine = (): string => {
    const end = s.indexOf("\n", i);
    const value = (end < 0 ? s.slice(i) : s.slice(i, end)).trim();
    i = end < 0 ? s.length : end + 1;
    return value;
  };
  const skipDelimited = (delimiter: string): boolean => {
    while (i < s.length) {
      const c = s.charAt(i);
      if (c === "\\") {
        i += 2;
        continue;
      }
      i += 1;
      if (c === delimiter) return true;
    }
    return false;
  };
  const fileCommand = (letter: string, name: string): void => {
    if (name === "") return;
    const word = literal(name);
    if (letter === "w" || letter === "W") invocation.target("write", word);
    else invocation.target("read", word);
  };
  while (i < s.length) {
    skipBlank();
    const c = s.charAt(i);
    if (c === "" || c === ";" || c === "\n" || c === "{" || c === "}" || c === "!") {
      i += 1;
      continue;
    }
    // Addresses: numbers, `$`, `/re/`, `\cREc`, `first~step`, ranges.
    if (/[0-9$,~+]/.test(c)) {
      i += 1;
      continue;
    }
    if (c === "/" || c === "\\") {
      const delimiter = c === "\\" ? s.charAt(i + 1) : "/";
      i += c === "\\" ? 2 : 1;
      if (!skipDelimited(delimiter)) return invocation.opaque();
      while (/[IM]/.test(s.charAt(i))) i += 1;
      continue;
    }
    i += 1;
    switch (c) {
      case "s":
      case "y": {
        const delimiter = s.charAt(i);
        if (delimiter === "" || delimiter === "\n" || delimiter === "\\") return invocation.opaque();
        i += 1;
        if (!skipDelimited(delimiter) || !skipDelimited(delimiter)) return invocation.opaque();
        if (c === "y") break;
        while (i < s.length && /[gpiImMe0-9]/.test(s.charAt(i))) {
          if (s.charAt(i) === "e") invocation.flag("inline_code");
          i += 1;
        }
        if (s.charAt(i) === "w") {
          i += 1;
          fileCommand("w", restOfLine());
        }
        break;
      }
      case "e":
        invocation.flag("inline_code");
        restOfLine();
        break;
      case "w":
      case "W":
      case "r":
      case "R":
        fileCommand(c, restOfLine());
        break;
      case "a":
      case "i":
      case "c":
        restOfLine();
        break;
      case ":":
      case "b":
      case "t":
      case "T": {
        // Labels run to `;` or the end of the line.
        while (i < s.length && s.charAt(i) !== ";" && s.charAt(i) !== "\n") i += 1;
        break;
      }
      case "q":
      case "Q":
      case "l":
      case "L":
        while (i < s.length && /[ 0-9]/.test(s.charAt(i))) i += 1;
        break;
      default:
        if (!/[=dDgGhHnNpPxzF]/.test(c)) return invocation.opaque();
    }
  }
}

// find: start paths until the first expression word; actions run programs,
// delete or write (findutils manual §3).
const FIND_VALUE_TESTS = new Set([
  "-name", "-iname", "-path", "-ipath", "-wholename", "-iwholename", "-regex", "-iregex", "-lname", "-ilname", "-type", "-xtype", "-maxdepth", "-mindepth", "-mtime", "-mmin", "-atime", "-amin", "-ctime", "-cmin", "-size", "-perm", "-user", "-group", "-uid", "-gid", "-links", "-inum", "-used", "-printf", "-regextype", "-fstype", "-context", "-samefile", "-newer", "-anewer", "-cnewer", "-newermt", "-newerct", "-newerat", "-newermm",
]);
export function find(invocation: Invocation): void {
  const args = invocation.args;
  let i = 0;
  // Leading -H -L -P -D x -Ox options.
  while (i < args.length && /^-(?:[HLP]|D|O[0-9]?)$/.test(args[i]?.text ?? "")) i += args[i]?.text === "-D" ? 2 : 1;
  const starts: Word[] = [];
  while (i < args.length) {
    const word = args[i] as Word;
    if (word.unknown === null && (word.text.startsWith("-") || word.text === "(" || word.text === "!" || word.text === ",")) break;
    starts.push(word);
    i += 1;
  }
  const startsOrCwd = (role: "read" | "delete"): void => {
    if (starts.length === 0) invocation.workingDirectory(`file.${role}`);
    for (const start of starts) invocation.target(role, start);
  };
  startsOrCwd("read");
  while (i < args.length) {
    const word = args[i] as Word;
    const name = word.text;
    i += 1;
    if (word.unknown !== null) {
      // An expression word that is not literal may be any action.
      invocation.opaque();
      continue;
    }
    if (name === "-exec" || name === "-execdir" || name === "-ok" || name === "-okdir") {
      const command: Word[] = [];
      while (i < args.length && args[i]?.text !== ";" && args[i]?.text !== "+") {
        const part = args[i] as Word;
        // `{}` is each file found: a placeholder the policy cannot resolve.
        command.push(part.unknown === null && part.text.includes("{}") ? { text: part.text, unknown: "placeholder" } : part);
        i += 1;
      }
      i += 1;
      spawnArgv(invocation, command);
    } else if (name === "-delete") {
      startsOrCwd("delete");
    } else if (name === "-fprint" || name === "-fprint0" || name === "-fls") {
      const file = args[i];
      if (file !== undefined) invocation.target("write", file);
      i += 1;
    } else if (name === "-fprintf") {
      const file = args[i];
      if (file !== undefined) invocation.target("write", file);
      i += 2;
    } else if (name === "-files0-from") {
      const file = args[i];
      if (file !== undefined) invocation.target("read", file);
      invocation.pending({ action: "file.read", kind: "path", unresolved: "stdin", raw: file?.text ?? "" });
      i += 1;
    } else if (FIND_VALUE_TESTS.has(name)) {
      i += 1;
    }
  }
}

// xargs: the command (default echo) gets more operands from stdin.
const XARGS: OptionSpec = {
  values: {
    ...all({ target: ["read"], marker: "arg-file" }, "-a", "--arg-file"),
    ...all({ marker: "replace" }, "-I"),
    ...plain("-n", "--max-args", "-L", "--max-lines", "-P", "--max-procs", "-d", "--delimiter", "-E", "-s", "--max-chars", "--process-slot-var"),
  },
  attached: all({ marker: "replace" }, "-i", "--replace"),
  switches: plain("-0", "--null", "-r", "--no-run-if-empty", "-t", "--verbose", "-p", "--interactive", "-x", "--exit", "-o", "--open-tty", "--show-limits"),
  permute: false,
  unknown: "opaque",
};
export function xargs(invocation: Invocation): void {
  const parsed = invocation.options(XARGS, invocation.args, true);
  const command = operandWords(parsed);
  const replace = parsed.options.find((option) => option.name === "-I" || option.name === "-i" || option.name === "--replace");
  const token = replace === undefined ? null : (replace.value?.text ?? "{}");
  const stdin: Word = { text: "{}", unknown: "stdin" };
  if (command.length === 0) {
    // xargs alone runs echo.
    return;
  }
  if (token !== null) {
    const words = command.map((word) => (word.unknown === null && word.text.includes(token) ? { text: word.text, unknown: "stdin" as const } : word));
    wrap(invocation, words);
    return;
  }
  invocation.then({ kind: "argv", words: command, ctx: invocation.ctx, extra: [stdin] }, true);
}

// GNU parallel: the command runs once per input (`:::` lists, `::::` files, or stdin); `{}` is each.
export function parallel(invocation: Invocation): void {
  const args = invocation.args;
  const separator = args.findIndex((word) => /^:{3,4}\+?$/.test(word.text));
  const before = separator < 0 ? [...args] : args.slice(0, separator);
  let i = 0;
  while (i < before.length && before[i]?.text.startsWith("-") === true) i += /^-(?:j|S|a|-jobs|-sshlogin|-arg-file|-joblog|-results|-tmpdir|-delay|-timeout|-retries|-colsep|-basefile|-workdir)$/.test(before[i]?.text ?? "") ? 2 : 1;
  const command = before.slice(i);
  if (command.length === 0) {
    invocation.opaque();
    return;
  }
  // One `:::` list of literal words: those are the inputs. Anything else is unknown here.
  const sources = separator < 0 ? [] : args.slice(separator);
  const single = sources[0]?.text === ":::" && !sources.slice(1).some((word) => /^:{3,4}\+?$/.test(word.text));
  const inputs: Word[] = single ? sources.slice(1) : [{ text: "{}", unknown: separator < 0 ? "stdin" : "placeholder" }];
  const placeholders = command.some((word) => /\{[^}]*\}/.test(word.text));
  const words = command.map((word) => (word.unknown === null && /\{[^}]*\}/.test(word.text) ? { text: word.text, unknown: "placeholder" as const } : word));
  // A single word with blanks is a shell command line (`parallel 'gzip {}'`).
  if (words.length === 1 && (words[0] as Word).unknown === null && /\s/.test((words[0] as Word).text)) {
    wrapCode(invocation, words[0] as Word, "sh");
    return;
  }
  invocation.then({ kind: "argv", words, ctx: invocation.ctx, extra: placeholders ? [] : inputs }, true);
}

export function pager(invocation: Invocation, row: ProgramRow): void {
  const parsed = invocation.options(row.options ?? {});
  for (const word of operandWords(parsed)) {
    if (word.unknown === null && word.text.startsWith("+")) {
      // `less '+!cmd'`, `less '+|cmd'`: the initial command runs a shell command.
      if (/[!|]/.test(word.text)) invocation.flag("inline_code");
      continue;
    }
    invocation.target("read", word);
  }
}

export function open(invocation: Invocation): void {
  invocation.flag("spawns");
  const parsed = invocation.options({ values: { ...all(SPAWN_PROGRAM, "-a"), ...plain("-b", "--args") } });
  for (const word of operandWords(parsed)) invocation.target(word.unknown === null && /^[a-z][a-z0-9+.-]*:/i.test(word.text) ? "url" : "read", word);
}

// ---------------------------------------------------------------------------
// files

export function patch(invocation: Invocation, row: ProgramRow): void {
  const parsed = invocation.options(row.options ?? {});
  const words = operandWords(parsed);
  // `patch FILE PATCHFILE`; without FILE the patch names the files, under the directory.
  if (words[0] !== undefined) invocation.target("write", words[0]);
  else invocation.workingDirectory("file.write");
  if (words[1] !== undefined) invocation.target("read", words[1]);
}

export function dd(invocation: Invocation): void {
  for (const word of invocation.args) {
    if (word.unknown !== null) {
      // `dd $x` may be `of=/dev/sda`.
      invocation.opaque();
      continue;
    }
    const match = /^(if|of)=(.*)$/s.exec(word.text);
    if (match === null) continue;
    invocation.target(match[1] === "if" ? "read" : "write", literal(match[2] ?? ""));
  }
}

const TAR_VALUES: Record<string, Effect> = {
  ...all({ marker: "archive" }, "-f", "--file"),
  ...all({ chdir: true }, "-C", "--directory"),
  ...all({ marker: "files-from", target: ["read"] }, "-T", "--files-from"),
  ...all(R, "-X", "--exclude-from", "-g", "--listed-incremental", "--newer-mtime-than"),
  ...all(SPAWN_PROGRAM, "-I", "--use-compress-program", "--rsh-command", "--rmt-command"),
  ...all({ spawn: "shell" }, "--to-command", "-F", "--info-script", "--new-volume-script"),
  ...plain("-b", "--blocking-factor", "-H", "--format", "-K", "--starting-file", "-L", "--tape-length", "-N", "--newer", "--after-date", "--exclude", "--owner", "--group", "--mode", "--mtime", "--strip-components", "--transform", "--xform", "--checkpoint", "--label", "-V", "--suffix", "--backup", "--occurrence", "--record-size", "--sort", "--warning", "--quoting-style", "--anchored", "--wildcards"),
};
const TAR_MODES: Readonly<Record<string, "create" | "extract" | "list">> = {
  "-c": "create", "--create": "create", "-r": "create", "--append": "create", "-u": "create", "--update": "create", "-A": "create", "--catenate": "create", "--concatenate": "create",
  "-x": "extract", "--extract": "extract", "--get": "extract",
  "-t": "list", "--list": "list", "-d": "list", "--diff": "list", "--compare": "list", "--delete": "create", "--test-label": "list",
};
export function tar(invocation: Invocation): void {
  let args = [...invocation.args];
  // Old-style bundled letters: `tar xzf a.tgz` is `tar -x -z -f a.tgz`.
  const first = args[0];
  if (first !== undefined && first.unknown === null && /^[A-Za-z]+$/.test(first.text)) {
    const letters = first.text.split("");
    const expanded: Word[] = [];
    let next = 1;
    for (const letter of letters) {
      expanded.push(literal(`-${letter}`));
      if (TAR_VALUES[`-${letter}`] !== undefined && args[next] !== undefined) {
        expanded.push(args[next] as Word);
        next += 1;
      }
    }
    args = [...expanded, ...args.slice(next)];
  }
  const spec: OptionSpec = {
    values: TAR_VALUES,
    switches: {
      ...Object.fromEntries(Object.keys(TAR_MODES).map((name) => [name, { marker: `mode:${TAR_MODES[name] ?? ""}` }])),
      ...all({ marker: "stdout" }, "-O", "--to-stdout"),
      ...all({ marker: "remove" }, "--remove-files"),
      ...all({ marker: "force-local" }, "--force-local"),
    },
    attached: { "--checkpoint-action": {} },
  };
  const original = invocation.ctx;
  const parsed = invocation.options(spec, args);
  for (const option of parsed.options) {
    // --checkpoint-action=exec=CMD runs CMD through sh.
    if (option.name === "--checkpoint-action" && option.value !== null && option.value.text.startsWith("exec=")) {
      spawnCode(invocation, { text: option.value.text.slice(5), unknown: option.value.unknown });
    }
  }
  const mode = parsed.markers.has("mode:extract") ? "extract" : parsed.markers.has("mode:create") ? "create" : parsed.markers.has("mode:list") ? "list" : null;
  if (mode === null) invocation.opaque();
  for (const option of parsed.options) {
    if (option.name !== "-f" && option.name !== "--file") continue;
    const archive = option.value;
    if (archive === null) continue;
    // `host:path` archives go through rsh/ssh unless --force-local.
    if (archive.unknown === null && !parsed.markers.has("force-local") && "remote" in splitRemote(archive.text, original)) {
      invocation.target("remote", archive, original);
      continue;
    }
    invocation.target(mode === "create" ? "write" : "read", archive, original);
  }
  const members = operandWords(parsed);
  if (mode === "create") {
    for (const member of members) {
      invocation.target("read", member);
      if (parsed.markers.has("remove")) invocation.target("delete", member);
    }
  } else if (mode === "extract" && !parsed.markers.has("stdout")) {
    // Extraction writes where -C pointed (or the working directory).
    invocation.workingDirectory("file.write");
  }
}

export function zip(invocation: Invocation, row: ProgramRow): void {
  const parsed = invocation.options(row.options ?? {});
  const words = operandWords(parsed);
  if (words[0] !== undefined) invocation.target("write", words[0]);
  for (const word of words.slice(1)) invocation.target("read", word);
  if (parsed.markers.has("move")) for (const word of words.slice(1)) invocation.target("delete", word);
}

const UNZIP: OptionSpec = { values: { ...all({ marker: "exdir", target: ["write"] }, "-d"), ...plain("-x", "-P", "-O", "-I") }, switches: all({ marker: "no-write" }, "-l", "-t", "-p", "-c", "-v", "-z", "-Z") };
export function unzip(invocation: Invocation): void {
  const parsed = invocation.options(UNZIP);
  const words = operandWords(parsed);
  if (words[0] !== undefined) invocation.target("read", words[0]);
  if (!parsed.markers.has("exdir") && !parsed.markers.has("no-write")) invocation.workingDirectory("file.write");
}

// ---------------------------------------------------------------------------
// network

const CURL: OptionSpec = {
  values: {
    ...all(W, "-o", "--output", "-D", "--dump-header", "-c", "--cookie-jar", "--trace", "--trace-ascii", "--stderr", "--libcurl", "--etag-save", "--hsts", "--alt-svc"),
    ...all({ target: ["write"], marker: "output-dir" }, "--output-dir"),
    ...all(R, "-T", "--upload-file", "--cacert", "--capath", "-E", "--cert", "--key", "--netrc-file", "--etag-compare", "--crlfile", "--pinnedpubkey", "--proxy-cacert", "--proxy-cert", "--proxy-key"),
    ...all(U, "--url", "-x", "--proxy", "--preproxy", "--doh-url"),
    ...all({ target: ["read"], opaque: true }, "-K", "--config"),
    ...all({ marker: "data" }, "-d", "--data", "--data-ascii", "--data-binary", "--data-urlencode", "-F", "--form", "--json", "-b", "--cookie", "-w", "--write-out"),
    ...all(CONFIG, "--resolve", "--connect-to"),
    ...plain("--data-raw", "--form-string", "-H", "--header", "-A", "--user-agent", "-e", "--referer", "-X", "--request", "-u", "--user", "-m", "--max-time", "--connect-timeout", "--retry", "--retry-delay", "--retry-max-time", "-r", "--range", "-C", "--continue-at", "-Y", "--speed-limit", "-y", "--speed-time", "-z", "--time-cond", "--max-filesize", "--limit-rate", "--max-redirs", "--oauth2-bearer", "--url-query", "--interface", "--local-port", "--dns-servers", "--ciphers", "--tls-max", "--proxy-user", "-U", "--noproxy", "--expect100-timeout", "--happy-eyeballs-timeout-ms", "-Q", "--quote", "--mail-from", "--mail-rcpt", "--aws-sigv4", "--variable", "--expand-url", "--create-file-mode", "--parallel-max", "--keepalive-time"),
  },
  switches: { ...all({ marker: "remote-name" }, "-O", "--remote-name", "--remote-name-all", "-J", "--remote-header-name"), ...all({ marker: "globoff" }, "-g", "--globoff") },
};
export function curl(invocation: Invocation): void {
  const parsed = invocation.options(CURL);
  curlData(invocation, parsed);
  for (const word of operandWords(parsed)) invocation.target("url", word);
  if (parsed.markers.has("remote-name") && !parsed.markers.has("output-dir")) invocation.workingDirectory("file.write");
}

/** `-d @file`, `-F name=@file` / `<file`, `-b file`, `--json @file`: files read and sent; `-w %output{f}` writes. */
function curlData(invocation: Invocation, parsed: ParsedArgs): void {
  for (const option of parsed.options) {
    const value = option.value;
    if (value === null) continue;
    if (value.unknown !== null && option.effect?.marker === "data") {
      invocation.pending({ action: "file.read", kind: "path", unresolved: "expansion", raw: value.text });
      continue;
    }
    const v = value.text;
    let file: string | null = null;
    switch (option.name) {
      case "-d":
      case "--data":
      case "--data-ascii":
      case "--data-binary":
      case "--json":
        if (v.startsWith("@")) file = v.slice(1);
        break;
      case "--data-urlencode": {
        const at = /^[^=]*@(.*)$/s.exec(v);
        if (at !== null && !v.slice(0, v.indexOf("@")).includes("=")) file = at[1] ?? null;
        break;
      }
      case "-F":
      case "--form": {
        const form = /^[^=]*=[@<]([^;]*)/.exec(v);
        if (form !== null) file = form[1] ?? null;
        break;
      }
      case "-b":
      case "--cookie":
        if (!v.includes("=")) file = v;
        break;
      case "-w":
      case "--write-out": {
        for (const match of v.matchAll(/%output\{(>>)?([^}]*)\}/g)) invocation.target("write", literal(match[2] ?? ""));
        if (v.startsWith("@")) file = v.slice(1);
        break;
      }
    }
    if (file !== null && file !== "-") invocation.target("read", literal(file));
  }
}

const WGET: OptionSpec = {
  values: {
    ...all({ target: ["write"], marker: "output" }, "-O", "--output-document"),
    ...all(W, "-o", "--output-file", "-a", "--append-output", "--save-cookies", "--warc-file", "--rejected-log"),
    ...all({ target: ["write"], marker: "prefix" }, "-P", "--directory-prefix"),
    ...all(R, "--post-file", "--body-file", "--load-cookies", "--ca-certificate", "--certificate", "--private-key", "--ca-directory", "--crl-file"),
    ...all({ target: ["read"], marker: "input-file" }, "-i", "--input-file"),
    ...all({ target: ["read"], opaque: true }, "--config"),
    ...all(CONFIG, "-e", "--execute"),
    ...all(U, "-B", "--base"),
    ...plain("-t", "--tries", "-T", "--timeout", "-w", "--wait", "--waitretry", "-Q", "--quota", "-U", "--user-agent", "--header", "--post-data", "--body-data", "--method", "--user", "--password", "--http-user", "--http-password", "-l", "--level", "-A", "--accept", "-R", "--reject", "-D", "--domains", "--exclude-domains", "-I", "--include-directories", "-X", "--exclude-directories", "--limit-rate", "--referer", "--bind-address", "--restrict-file-names", "-nv", "--progress", "--cut-dirs", "--default-page", "--max-redirect"),
  },
};
export function wget(invocation: Invocation): void {
  const parsed = invocation.options(WGET);
  const urls = operandWords(parsed);
  for (const word of urls) invocation.target("url", word);
  if (parsed.markers.has("input-file")) invocation.pending({ action: "http.request", kind: "url", unresolved: "stdin", raw: "(input file)" });
  // Without -O the download lands under -P or the working directory.
  if (!parsed.markers.has("output") && !parsed.markers.has("prefix")) invocation.workingDirectory("file.write");
}

export function httpie(invocation: Invocation, row: ProgramRow): void {
  const parsed = invocation.options(row.options ?? {});
  const words = operandWords(parsed);
  // `http [METHOD] URL [items]`: the URL is the first operand that is not a method.
  const url = words.find((word) => !/^[A-Z]+$/.test(word.text));
  if (url !== undefined) invocation.target("url", url);
  for (const word of words) {
    const file = /^[^=@:]+(?:=@|@|:=@)(.+)$/.exec(word.text);
    if (word.unknown === null && file !== null) invocation.target("read", literal(file[1] ?? ""));
  }
}

// ssh -o keys that make the local side run a command.
const SSH_COMMAND_KEYS = /^(?:proxycommand|localcommand|knownhostscommand|permitlocalcommand|remotecommand)$/i;
const SSH: OptionSpec = {
  values: {
    ...all(R, "-i", "-F", "-S"),
    ...all(W, "-E"),
    ...all({ marker: "option" }, "-o"),
    ...all({ marker: "port" }, "-p"),
    ...all({ marker: "jump" }, "-J"),
    ...plain("-b", "-c", "-D", "-e", "-I", "-L", "-l", "-m", "-O", "-Q", "-R", "-W", "-w", "-B", "-P"),
  },
  permute: false,
};
export function ssh(invocation: Invocation): void {
  const parsed = invocation.options(SSH, invocation.args, true);
  sshOptions(invocation, parsed);
  const port = parsed.options.find((option) => option.name === "-p")?.value?.text ?? null;
  const destination = firstOperand(parsed);
  if (destination !== undefined) {
    if (destination.word.unknown !== null) invocation.pending({ action: "http.request", kind: "url", unresolved: "expansion", raw: destination.word.text });
    else invocation.pending({ action: "http.request", kind: "url", ...sshUrl(destination.word.text, port) });
  }
}

/** -F configs and -o command keys run local commands; -J hosts are reached too. */
function sshOptions(invocation: Invocation, parsed: ParsedArgs): void {
  for (const option of parsed.options) {
    const value = option.value;
    if (option.name === "-F") invocation.flag("config_overrides");
    if (value === null) continue;
    if (option.name === "-o") {
      if (value.unknown !== null) {
        invocation.opaque();
        continue;
      }
      const match = /^([A-Za-z]+)\s*[= ]\s*(.*)$/s.exec(value.text);
      if (match === null) continue;
      invocation.flag("config_overrides");
      if (SSH_COMMAND_KEYS.test(match[1] ?? "") && !/^(?:yes|no|none)$/i.test(match[2] ?? "")) spawnCode(invocation, literal(match[2] ?? ""));
      if (/^proxyjump$/i.test(match[1] ?? "")) for (const host of (match[2] ?? "").split(",")) invocation.pending({ action: "http.request", kind: "url", ...sshUrl(host, null) });
    } else if (option.name === "-J") {
      for (const host of value.text.split(",")) invocation.pending({ action: "http.request", kind: "url", ...sshUrl(host, null) });
    }
  }
}

const SCP: OptionSpec = {
  values: { ...all(R, "-i", "-F"), ...all({ marker: "option" }, "-o"), ...all({ marker: "jump" }, "-J"), ...all(SPAWN_PROGRAM, "-S", "-D"), ...all(R, "-b"), ...plain("-P", "-c", "-l", "-X", "-B", "-s", "-R") },
};
export function scp(invocation: Invocation): void {
  const parsed = invocation.options(SCP);
  sshOptions(invocation, parsed);
  const port = parsed.options.find((option) => option.name === "-P")?.value?.text ?? null;
  const words = operandWords(parsed);
  if (invocation.program === "sftp") {
    const destination = words[0];
    if (destination !== undefined) remote(invocation, destination, "read", port);
    return;
  }
  words.forEach((word, index) => remote(invocation, word, index === words.length - 1 && words.length > 1 ? "write" : "read", port));
}

function remote(invocation: Invocation, word: Word, local: "read" | "write" | "delete", port: string | null): void {
  if (word.unknown !== null) {
    invocation.target(local, word);
    return;
  }
  const side = splitRemote(word.text, invocation.ctx);
  if ("remote" in side) {
    const rsyncUrl = /^(?:scp|sftp|rsync):\/\/(?:[^@/]*@)?([^/:]+)(?::([0-9]+))?/i.exec(side.remote);
    if (rsyncUrl !== null) invocation.pending({ action: "http.request", kind: "url", ...sshUrl(rsyncUrl[1] ?? "", rsyncUrl[2] ?? port) });
    else invocation.pending({ action: "http.request", kind: "url", ...sshUrl(side.remote, port) });
  } else {
    invocation.target(local, word);
  }
}

const RSYNC: OptionSpec = {
  values: {
    ...all({ spawn: "shell" }, "-e", "--rsh"),
    ...all(R, "--files-from", "--exclude-from", "--include-from", "--password-file", "--filter-file", "--read-batch"),
    ...all(W, "--log-file", "--write-batch", "--only-write-batch", "--backup-dir", "--temp-dir", "-T", "--partial-dir"),
    ...all({ marker: "rsync-path" }, "--rsync-path"),
    ...plain("--exclude", "--include", "-f", "--filter", "--port", "--bwlimit", "--chmod", "--chown", "--usermap", "--groupmap", "--timeout", "--contimeout", "--max-size", "--min-size", "--max-delete", "--modify-window", "--compare-dest", "--copy-dest", "--link-dest", "--suffix", "--info", "--debug", "--out-format", "--log-file-format", "--skip-compress", "--compress-choice", "--checksum-choice", "-B", "--block-size", "--iconv", "--sockopts", "-M", "--remote-option"),
  },
  switches: {
    ...all({ marker: "delete" }, "--delete", "--delete-before", "--delete-during", "--delete-delay", "--delete-after", "--delete-excluded", "--del"),
    ...all({ marker: "remove-source" }, "--remove-source-files"),
  },
};
export function rsync(invocation: Invocation): void {
  const parsed = invocation.options(RSYNC);
  const words = operandWords(parsed);
  const port = parsed.options.find((option) => option.name === "--port")?.value?.text ?? null;
  words.forEach((word, index) => {
    const destination = index === words.length - 1 && words.length > 1;
    remote(invocation, word, destination ? "write" : "read", port);
    if (destination && parsed.markers.has("delete")) remote(invocation, word, "delete", port);
    if (!destination && parsed.markers.has("remove-source")) remote(invocation, word, "delete", port);
  });
}

const NETCAT: OptionSpec = {
  values: {
    ...all(SPAWN_PROGRAM, "-e", "--exec"),
    ...all({ spawn: "shell" }, "-c", "--sh-exec", "--lua-exec"),
    ...all(W, "-o", "--output", "-x-hexdump"),
    ...plain("-p", "-s", "-w", "-i", "-q", "-x", "-X", "-W", "-T", "-I", "-O", "-b", "--proxy", "--proxy-type", "--source-port", "--wait"),
  },
  switches: { ...all({ marker: "udp" }, "-u", "--udp"), ...all({ marker: "listen" }, "-l", "--listen") },
};
export function netcat(invocation: Invocation): void {
  const parsed = invocation.options(invocation.program === "telnet" ? { values: plain("-l", "-n", "-b", "-e") } : NETCAT);
  const [host, port] = operandWords(parsed);
  if (host === undefined || parsed.markers.has("listen")) return;
  const scheme = invocation.program === "telnet" ? "telnet" : parsed.markers.has("udp") ? "udp" : "tcp";
  const portText = port === undefined ? (invocation.program === "telnet" ? "23" : null) : text(port);
  if (host.unknown !== null || portText === null || !/^[0-9]+$/.test(portText)) {
    invocation.pending({ action: "http.request", kind: "url", unresolved: host.unknown !== null ? "expansion" : "not_a_url", raw: host.text });
    return;
  }
  const name = host.text.includes(":") ? `[${host.text}]` : host.text;
  invocation.pending({ action: "http.request", kind: "url", value: `${scheme}://${name}:${portText}/` });
}

export function socat(invocation: Invocation): void {
  const parsed = invocation.options({ values: plain("-d", "-D", "-L", "-W", "-b", "-T", "-t", "-lf") });
  for (const word of operandWords(parsed)) {
    if (word.unknown !== null) {
      invocation.opaque();
      continue;
    }
    const [type = "", ...rest] = word.text.split(":");
    const kind = type.toUpperCase().split(",")[0] ?? "";
    const address = rest.join(":").split(",")[0] ?? "";
    if (/^(?:TCP|TCP4|TCP6|TCP-CONNECT|OPENSSL|OPENSSL-CONNECT|SSL|UDP|UDP4|UDP6|UDP-CONNECT|UDP-SENDTO|SCTP-CONNECT|SOCKS4|SOCKS4A|SOCKS5|PROXY)$/.test(kind)) {
      const scheme = kind.startsWith("UDP") ? "udp" : "tcp";
      invocation.pending({ action: "http.request", kind: "url", value: `${scheme}://${address}/` });
    } else if (kind === "EXEC") {
      spawnArgv(invocation, address.split(/\s+/).filter((part) => part !== "").map(literal));
    } else if (kind === "SYSTEM") {
      spawnCode(invocation, literal(rest.join(":")));
    } else if (/^(?:OPEN|FILE|GOPEN|CREATE|CREAT|PIPE)$/.test(kind)) {
      invocation.target("read", literal(address));
      if (kind !== "OPEN") invocation.target("write", literal(address));
    } else if (!/^(?:-|STDIO|STDIN|STDOUT|STDERR|TCP-LISTEN|TCP4-LISTEN|TCP6-LISTEN|UDP-LISTEN|UDP-RECV|UNIX-LISTEN|OPENSSL-LISTEN)$/.test(kind)) {
      invocation.opaque();
    }
  }
}

// ---------------------------------------------------------------------------
// version control and packages

const GIT_GLOBAL: OptionSpec = {
  values: {
    ...all({ chdir: true, flags: ["config_overrides"] }, "-C"),
    ...all({ marker: "config", flags: ["config_overrides"] }, "-c"),
    ...all(CONFIG, "--config-env", "--git-dir", "--work-tree", "--namespace", "--super-prefix", "--exec-path", "--attr-source"),
    ...plain("--list-cmds"),
  },
  attached: all(CONFIG, "--exec-path"),
  permute: false,
};

/** Subcommands git itself ships; anything else may be an alias or a git-<name> program on PATH. */
const GIT_SUBCOMMANDS = new Set([
  "add", "am", "annotate", "apply", "archive", "bisect", "blame", "branch", "bundle", "cat-file", "check-attr", "check-ignore", "check-mailmap", "check-ref-format", "checkout", "checkout-index", "cherry", "cherry-pick", "citool", "clean", "clone", "commit", "commit-graph", "commit-tree", "config", "count-objects", "describe", "diff", "diff-files", "diff-index", "diff-tree", "difftool", "fetch", "fetch-pack", "filter-branch", "for-each-ref", "format-patch", "fsck", "gc", "grep", "hash-object", "help", "init", "interpret-trailers", "log", "ls-files", "ls-remote", "ls-tree", "maintenance", "merge", "merge-base", "merge-file", "merge-tree", "mergetool", "mktag", "mktree", "mv", "name-rev", "notes", "prune", "pull", "push", "range-diff", "read-tree", "rebase", "reflog", "remote", "repack", "replace", "request-pull", "rerere", "reset", "restore", "rev-list", "rev-parse", "revert", "rm", "send-email", "shortlog", "show", "show-branch", "show-ref", "sparse-checkout", "stash", "status", "stripspace", "submodule", "switch", "symbolic-ref", "tag", "update-index", "update-ref", "var", "verify-commit", "verify-pack", "verify-tag", "version", "whatchanged", "worktree", "write-tree", "lfs",
]);

// Config keys whose value is a command git runs (git-config(1)): setting one
// from the line turns git into that command.
const GIT_CODE_KEYS = /^(?:core\.(?:pager|sshcommand|editor|fsmonitor|askpass|gitproxy)|sequence\.editor|diff\.external|gpg(?:\.[a-z0-9]+)?\.program|pager\..+|diff\..+\.(?:command|textconv)|merge\..+\.driver|filter\..+\.(?:clean|smudge|process)|uploadpack\.packobjectshook|remote\..+\.(?:uploadpack|receivepack))$/i;
// Keys that change which code or remote git uses without being a command
// themselves: aliases, hooks, credential helpers, transports, URL rewrites, includes.
const GIT_RISKY_KEYS = /^(?:alias\..+|credential(?:\..+)?\.helper|core\.(?:hookspath|worktree)|protocol\..+\.allow|url\..+\.(?:insteadof|pushinsteadof)|include\.path|includeif\..+|https?\.proxy|remote\..+\.(?:proxy|vcs|url|pushurl)|init\.templatedir|safe\.directory)$/i;

function gitKeyIsRisky(key: string): boolean {
  return GIT_CODE_KEYS.test(key) || GIT_RISKY_KEYS.test(key);
}

export function git(invocation: Invocation): void {
  const original = invocation.ctx;
  const global = invocation.options(GIT_GLOBAL, invocation.args, true);
  const configs = new Map<string, Word>();
  for (const option of global.options) {
    if (option.name !== "-c" || option.value === null) continue;
    if (option.value.unknown !== null) {
      invocation.opaque();
      continue;
    }
    const eq = option.value.text.indexOf("=");
    const key = (eq < 0 ? option.value.text : option.value.text.slice(0, eq)).toLowerCase();
    configs.set(key, literal(eq < 0 ? "true" : option.value.text.slice(eq + 1)));
  }
  const first = firstOperand(global);
  if (first === undefined) return;
  if (first.word.unknown !== null) {
    invocation.opaque();
    return;
  }
  const subcommand = first.word.text;
  invocation.setSubcommand(subcommand);
  const rest = invocation.args.slice(first.index + 1);

  for (const [key, value] of configs) {
    // `core.pager=…`, `alias.x=!…`, `credential.helper=!…`: the value is a shell command git runs.
    if (GIT_CODE_KEYS.test(key)) spawnCode(invocation, value);
    else if (value.text.startsWith("!") && (key === `alias.${subcommand.toLowerCase()}` || /^credential(?:\..+)?\.helper$/.test(key))) spawnCode(invocation, literal(value.text.slice(1)));
  }
  if (!GIT_SUBCOMMANDS.has(subcommand)) {
    // An alias (from config the line does not show) or a git-<name> program.
    invocation.flag("config_overrides");
    return;
  }
  gitSubcommand(invocation, subcommand, rest, original);
}

const GIT_REMOTE_OPTIONS: OptionSpec = {
  values: {
    ...all({ flags: ["config_overrides"], spawn: "shell" }, "-u", "--upload-pack", "--receive-pack", "--exec"),
    ...all({ marker: "config", flags: ["config_overrides"] }, "-c", "--config"),
    ...all({ target: ["read"], flags: ["config_overrides"] }, "--template", "--reference", "--reference-if-able"),
    ...all({ marker: "separate" }, "--separate-git-dir"),
    ...plain("-b", "--branch", "-o", "--origin", "--depth", "--shallow-since", "--shallow-exclude", "-j", "--jobs", "--filter", "--server-option", "--bundle-uri", "-t", "--track", "-m", "--master", "--push-option", "--recurse-submodules-default", "--negotiation-tip", "--refmap", "--deepen", "--name", "--ref-format", "--sort", "--upload-pack-option", "-X", "--strategy-option", "-s", "--strategy", "--gpg-sign", "-S", "--signed", "--force-with-lease", "--rebase"),
  },
};

function gitSubcommand(invocation: Invocation, subcommand: string, rest: readonly Word[], original: ParseContext): void {
  switch (subcommand) {
    case "clone": {
      const parsed = invocation.options(GIT_REMOTE_OPTIONS, rest);
      const [repository, directory] = operandWords(parsed);
      if (repository !== undefined) gitRemote(invocation, repository, original);
      if (directory !== undefined) invocation.target("write", directory);
      else invocation.workingDirectory("file.write");
      return;
    }
    case "fetch":
    case "pull":
    case "push":
    case "ls-remote":
    case "archive-remote": {
      const parsed = invocation.options(GIT_REMOTE_OPTIONS, rest);
      const repository = operandWords(parsed)[0];
      // A remote name resolves through config the line does not show; see docs/commands.md.
      if (repository !== undefined && looksLikeRemoteUrl(repository)) gitRemote(invocation, repository, original);
      return;
    }
    case "remote": {
      const parsed = invocation.options({ values: plain("-t", "-m", "--mirror") }, rest);
      const words = operandWords(parsed);
      const action = text(words[0]);
      if (action === "add" && words[2] !== undefined) gitRemote(invocation, words[2], original);
      if ((action === "set-url" || action === "set-url--add") && words[2] !== undefined) gitRemote(invocation, words[words.length - 1] as Word, original);
      return;
    }
    case "submodule": {
      const parsed = invocation.options({ values: plain("-b", "--branch", "--name", "--reference", "--depth", "-j", "--jobs") }, rest, true);
      const words = operandWords(parsed);
      const action = text(words[0]);
      if (action === "add" && words[1] !== undefined) {
        gitRemote(invocation, words[1], original);
        if (words[2] !== undefined) invocation.target("write", words[2]);
      } else if (action === "foreach") {
        // `git submodule foreach 'cmd'` runs cmd in every submodule through sh.
        const code = words.slice(1).filter((word) => word.text !== "--recursive");
        if (code.length > 0) spawnCode(invocation, joined(code));
      }
      return;
    }
    case "config": {
      const parsed = invocation.options({ values: { ...all({ target: ["write"], marker: "file" }, "-f", "--file"), ...plain("--type", "--default", "--comment", "--blob", "--value") }, switches: all({ marker: "write" }, "--add", "--replace-all", "--unset", "--unset-all", "--rename-section", "--remove-section", "--edit", "-e") }, rest);
      const words = operandWords(parsed);
      const action = text(words[0]);
      const key = action === "set" ? text(words[1]) : action === "unset" ? text(words[1]) : action;
      const writes = parsed.markers.has("write") || action === "set" || action === "unset" || (words.length >= 2 && action !== "get" && action !== "list");
      if (writes && (key === null || gitKeyIsRisky(key))) invocation.flag("config_overrides");
      return;
    }
    case "rebase":
      invocation.options({ values: { ...all({ spawn: "shell" }, "-x", "--exec"), ...plain("--onto", "-s", "--strategy", "-X", "--strategy-option", "-S", "--gpg-sign", "-C", "--whitespace") } }, rest);
      return;
    case "bisect": {
      const words = [...rest];
      if (text(words[0]) === "run" && words.length > 1) spawnArgv(invocation, words.slice(1));
      return;
    }
    case "filter-branch":
      invocation.options({ values: all({ spawn: "shell" }, "--env-filter", "--tree-filter", "--index-filter", "--parent-filter", "--msg-filter", "--commit-filter", "--tag-name-filter") }, rest);
      return;
    case "diff":
    case "log":
    case "show":
    case "format-patch":
    case "difftool":
    case "mergetool":
    case "grep": {
      invocation.options(
        {
          values: { ...all(W, "--output", "-o", "--output-directory"), ...all({ spawn: "program" }, "-O", "--open-files-in-pager", "--extcmd", "-x", "-t", "--tool"), ...plain("-n", "--max-count", "--since", "--until", "--author", "--grep", "--format", "--pretty", "-U", "--unified", "--stat", "-L", "-S", "-G", "--date", "-e", "-m", "--diff-filter", "--abbrev", "--encoding", "--notes") },
          switches: all({ flags: ["spawns"] }, "--ext-diff", "--textconv", "--gui", "-g"),
        },
        rest,
      );
      if (subcommand === "difftool" || subcommand === "mergetool") invocation.flag("spawns");
      return;
    }
    case "clean": {
      const parsed = invocation.options({ values: plain("-e", "--exclude"), switches: all({ marker: "dry" }, "-n", "--dry-run") }, rest);
      if (parsed.markers.has("dry")) return;
      const paths = operandWords(parsed);
      if (paths.length === 0) invocation.workingDirectory("file.delete");
      for (const path of paths) invocation.target("delete", path);
      return;
    }
    case "rm": {
      const parsed = invocation.options({ values: plain("--pathspec-from-file"), switches: all({ marker: "cached" }, "--cached", "-n", "--dry-run") }, rest);
      if (!parsed.markers.has("cached")) for (const path of operandWords(parsed)) invocation.target("delete", path);
      return;
    }
    case "mv": {
      const words = operandWords(invocation.options({ values: plain() }, rest));
      words.forEach((word, index) => {
        if (index === words.length - 1 && words.length > 1) invocation.target("write", word);
        else {
          invocation.target("read", word);
          invocation.target("delete", word);
        }
      });
      return;
    }
    case "archive": {
      const parsed = invocation.options({ values: { ...all(W, "-o", "--output"), ...all({ marker: "remote" }, "--remote"), ...all({ spawn: "shell", flags: ["config_overrides"] }, "--exec"), ...plain("--format", "--prefix", "--add-file", "--add-virtual-file", "--mtime") } }, rest);
      const remoteOption = parsed.options.find((option) => option.name === "--remote");
      if (remoteOption?.value !== undefined && remoteOption.value !== null) gitRemote(invocation, remoteOption.value, original);
      return;
    }
    case "apply":
    case "am": {
      const parsed = invocation.options({ values: plain("-p", "-C", "--whitespace", "--exclude", "--include", "--directory") }, rest);
      for (const patchFile of operandWords(parsed)) invocation.target("read", patchFile);
      invocation.workingDirectory("file.write");
      return;
    }
    default:
      return;
  }
}

function looksLikeRemoteUrl(word: Word): boolean {
  if (word.unknown !== null) return true;
  const t = word.text;
  return t.includes("://") || t.includes("::") || /^[^/]*:/.test(t) || t.startsWith("/") || t.startsWith(".") || t.startsWith("~") || /^[A-Za-z]:[\\/]/.test(t);
}

/**
 * A git remote (git-clone(1) GIT URLS): URLs as written; scp-like `host:path`
 * as ssh; `ext::` runs a command (remote_code, opaque); other `transport::`
 * run git-remote-<transport>; local paths and file:// are reads.
 */
function gitRemote(invocation: Invocation, word: Word, at: ParseContext): void {
  if (word.unknown !== null) {
    invocation.pending({ action: "http.request", kind: "url", unresolved: "expansion", raw: word.text });
    return;
  }
  const t = word.text;
  const helper = /^([A-Za-z][A-Za-z0-9+.-]*)::(.*)$/s.exec(t);
  if (helper !== null) {
    if ((helper[1] ?? "").toLowerCase() === "ext") {
      invocation.flag("remote_code");
      invocation.opaque();
    } else {
      invocation.flag("spawns");
      invocation.pending({ action: "http.request", kind: "url", unresolved: "not_a_url", raw: t });
    }
    return;
  }
  const file = /^file:\/\/(.*)$/i.exec(t);
  if (file !== null) {
    invocation.target("read", literal(file[1] ?? ""), at);
    return;
  }
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(t)) {
    invocation.pending({ action: "http.request", kind: "url", value: t });
    return;
  }
  // scp-like only when there is no slash before the first colon (git-clone(1)).
  if ("remote" in splitRemote(t, at)) {
    invocation.pending({ action: "http.request", kind: "url", ...scpLikeUrl(t) });
    return;
  }
  invocation.target("read", word, at);
}

/** Programs with subcommands and nothing else the table needs to know. */
export function subcommandOnly(invocation: Invocation): void {
  invocation.setSubcommand(invocation.args.find((arg) => arg.unknown === null && !arg.text.startsWith("-"))?.text ?? "");
}

// Build tools and CLIs with subcommands: global options skipped; -C/--directory
// and -f/--file change which project runs; the project itself runs code.
const TOOL_GLOBALS: OptionSpec = {
  values: {
    ...all({ chdir: true }, "-C", "--directory", "--manifest-path-dir", "--cwd", "--prefix-dir"),
    ...all(R, "-f", "--file", "--makefile", "--manifest-path", "--kubeconfig", "--config-file"),
    ...all(CONFIG, "--config", "--context", "--host", "-H", "--namespace-config"),
    ...plain("-n", "--namespace", "-j", "--jobs", "-o", "--output", "-l", "--selector", "--log-level", "-L", "--profile", "--region", "--project", "-p", "--package", "-Z", "--target", "--features", "--color", "-e", "--env", "-v", "--verbose-level", "-t", "--tag", "-k", "--keyword", "-m", "--marker", "-x-unused"),
  },
  permute: false,
};
export function tool(invocation: Invocation): void {
  const parsed = invocation.options(TOOL_GLOBALS, invocation.args, true);
  const first = firstOperand(parsed);
  invocation.setSubcommand(first?.word.unknown === null ? first.word.text : "");
  if (invocation.program === "deno") {
    const rest = first === undefined ? [] : invocation.args.slice(first.index + 1);
    if (first?.word.text === "eval") invocation.flag("inline_code");
    if (first?.word.text === "run" || first?.word.text === "x") {
      const script = operandWords(invocation.options({ values: plain("--allow-read", "--allow-write", "--allow-net", "--allow-env", "--allow-run", "--config", "-c", "--import-map", "--location", "--seed", "--v8-flags") }, rest, true))[0];
      if (script !== undefined && /^(?:https?|jsr|npm):/.test(script.text)) {
        invocation.flag("remote_code");
        invocation.target("url", script);
      } else if (script !== undefined) invocation.target("read", script);
    }
  }
  if (invocation.program === "go" && first?.word.text === "run") {
    const rest = first === undefined ? [] : invocation.args.slice(first.index + 1);
    // `go run pkg@version` fetches and runs a module.
    if (rest.some((word) => /@/.test(word.text) && !word.text.startsWith("-"))) invocation.flag("remote_code");
  }
  if (invocation.program === "cargo" && first?.word.text === "install" && invocation.args.some((word) => word.text === "--git")) invocation.flag("remote_code");
}

const NPM_GLOBAL: OptionSpec = {
  values: {
    ...all({ chdir: true }, "-C", "--dir", "--prefix", "--cwd"),
    ...all({ target: ["read"], flags: ["config_overrides"] }, "--userconfig", "--globalconfig", "--npmrc"),
    ...all(CONFIG, "--script-shell", "--node-options", "--shell", "--git", "--init-module", "--userconfig-ignore"),
    ...all({ target: ["url"], flags: ["config_overrides"] }, "--registry"),
    ...all({ marker: "package" }, "-p", "--package"),
    ...all({ spawn: "shell" }, "-c", "--call"),
    ...plain("-w", "--workspace", "--filter", "-F", "--loglevel", "--tag", "--access", "--otp", "--omit", "--include", "--install-strategy", "--cache", "--reporter", "--network-timeout", "--mutex", "--modules-folder", "--scope", "--before"),
  },
  switches: { "--": {} },
};
// Package specs that are not registry names fetch code from elsewhere (npm-install(1) forms).
const NPM_REMOTE_SPEC = /^(?:https?:\/\/|git(?:\+[a-z]+)?:\/\/|git\+|github:|gitlab:|bitbucket:|gist:|ssh:\/\/|file:)|^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+(?:#.*)?$|\.(?:tgz|tar\.gz|tar)$/i;

export function npm(invocation: Invocation): void {
  if (invocation.program === "bun") {
    // `bun -e CODE` / `bun -p CODE` evaluate code.
    const eval_ = invocation.options({ values: all({ marker: "code", flags: ["inline_code"] }, "-e", "--eval", "-p", "--print"), permute: false }, invocation.args, true);
    if (eval_.markers.has("code")) return;
  }
  const parsed = invocation.options(NPM_GLOBAL, invocation.args, true);
  const first = firstOperand(parsed);
  if (first === undefined) return;
  if (first.word.unknown !== null) {
    invocation.opaque();
    return;
  }
  const subcommand = first.word.text;
  invocation.setSubcommand(subcommand);
  const rest = invocation.args.slice(first.index + 1);
  const manager = invocation.program;
  const install = ["install", "i", "add", "ci", "update", "up", "upgrade", "isntall", "in", "ins", "inst", "insta", "instal", "isnt", "isnta", "isntal", "link", "ln"].includes(subcommand);
  const runsRemote = (subcommand === "exec" || subcommand === "x") && manager === "npm";
  if (install) {
    const specs = operandWords(invocation.options(NPM_GLOBAL, rest));
    const list = manager === "yarn" && text(specs[0]) === "global" ? specs.slice(1) : specs;
    for (const spec of list) npmSpec(invocation, spec);
    return;
  }
  if (runsRemote || ["dlx", "create", "init"].includes(subcommand) || (subcommand === "x" && manager === "bun")) {
    // `npm init x` runs create-x from the registry; `npm init` alone only writes package.json.
    if ((subcommand === "init" || subcommand === "create") && rest.filter((word) => !word.text.startsWith("-")).length === 0) return;
    invocation.flag("remote_code");
    const command = operandWords(invocation.options(NPM_GLOBAL, rest, true));
    if (command.length > 0 && subcommand !== "init" && subcommand !== "create") spawnArgv(invocation, packageCommand(command));
    return;
  }
  if (subcommand === "config" || subcommand === "set") {
    const words = operandWords(invocation.options(NPM_GLOBAL, rest));
    if (subcommand === "set" || ["set", "edit", "delete", "rm"].includes(text(words[0]) ?? "")) invocation.flag("config_overrides");
    return;
  }
  if (manager === "bun" && subcommand === "run") {
    const script = rest.find((word) => !word.text.startsWith("-"));
    if (script !== undefined && /\.[cm]?[jt]sx?$/.test(script.text)) invocation.target("read", script);
  }
}

function npmSpec(invocation: Invocation, spec: Word): void {
  if (spec.unknown !== null) {
    invocation.flag("remote_code");
    invocation.pending({ action: "http.request", kind: "url", unresolved: "expansion", raw: spec.text });
    return;
  }
  const t = spec.text.replace(/^[^@/]+@(?=(?:https?|git|github|file):)/, "");
  if (!NPM_REMOTE_SPEC.test(t)) return;
  if (/^file:/i.test(t) || /\.(?:tgz|tar\.gz|tar)$/i.test(t) && !/^[a-z+]+:\/\//i.test(t)) {
    invocation.target("read", literal(t.replace(/^file:/i, "")));
    return;
  }
  invocation.flag("remote_code");
  const github = /^(?:github:)?([A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+)(?:#.*)?$/.exec(t);
  if (github !== null && !t.includes("://")) {
    invocation.pending({ action: "http.request", kind: "url", value: `https://github.com/${github[1] ?? ""}` });
    return;
  }
  const url = t.replace(/^git\+/, "");
  if (/^[a-z]+:\/\//i.test(url)) invocation.pending({ action: "http.request", kind: "url", value: url });
  else invocation.pending({ action: "http.request", kind: "url", unresolved: "not_a_url", raw: t });
}

export function npx(invocation: Invocation): void {
  invocation.flag("remote_code");
  const parsed = invocation.options(NPM_GLOBAL, invocation.args, true);
  const command = operandWords(parsed);
  invocation.setSubcommand(text(command[0]) ?? "");
  for (const option of parsed.options) if (option.name === "-p" || option.name === "--package") if (option.value !== null) npmSpec(invocation, option.value);
  if (command.length > 0) spawnArgv(invocation, packageCommand(command));
}

const PIP_OPTIONS: OptionSpec = {
  values: {
    ...all({ target: ["read"] }, "-r", "--requirement", "-c", "--constraint", "--cert", "--client-cert", "--build-constraint"),
    ...all(U, "-i", "--index-url", "--extra-index-url", "--proxy", "--default-index", "--index"),
    ...all({ marker: "find-links" }, "-f", "--find-links"),
    ...all({ marker: "editable" }, "-e", "--editable"),
    ...all({ target: ["write"] }, "-t", "--target", "--prefix", "--root", "--src", "-d", "--dest", "--log", "--report", "-o", "--output-file"),
    ...all({ chdir: true }, "--directory", "--project"),
    ...all(CONFIG, "--config-settings", "-C", "--global-option", "--build-option", "--trusted-host", "--python"),
    ...plain("--platform", "--python-version", "--implementation", "--abi", "--upgrade-strategy", "--progress-bar", "--root-user-action", "--only-binary", "--no-binary", "--timeout", "--retries", "--exists-action", "--extra", "--group", "--with", "-p", "--package"),
  },
};
export function pip(invocation: Invocation): void {
  let args = [...invocation.args];
  const program = invocation.program;
  // `uv pip install`, `uv tool run`, `pipx run`: the real subcommand is one further in.
  if (program === "uv" && (text(args[0]) === "pip" || text(args[0]) === "tool")) args = args.slice(1);
  const parsed = invocation.options(PIP_OPTIONS, args);
  const words = operandWords(parsed);
  const subcommand = text(words[0]) ?? "";
  invocation.setSubcommand(subcommand);
  for (const option of parsed.options) {
    if (option.value === null) continue;
    if (option.name === "-f" || option.name === "--find-links") (/:\/\//.test(option.value.text) ? invocation.target("url", option.value) : invocation.target("read", option.value));
    if (option.name === "-e" || option.name === "--editable") pipSpec(invocation, option.value);
  }
  if (["install", "add", "download", "wheel", "sync-spec"].includes(subcommand)) for (const spec of words.slice(1)) pipSpec(invocation, spec);
  if (subcommand === "run" && (program === "pipx" || program === "uv")) {
    invocation.flag("remote_code");
    if (words[1] !== undefined) spawnArgv(invocation, packageCommand(words.slice(1)));
  }
  if (subcommand === "config" && ["set", "unset", "edit"].includes(text(words[1]) ?? "")) invocation.flag("config_overrides");
}

function pipSpec(invocation: Invocation, spec: Word): void {
  if (spec.unknown !== null) {
    invocation.flag("remote_code");
    invocation.pending({ action: "http.request", kind: "url", unresolved: "expansion", raw: spec.text });
    return;
  }
  const t = spec.text;
  // `name @ URL` (PEP 508 direct references) and VCS specs (`git+https://…`).
  const direct = /(?:^|@\s*)((?:git|hg|svn|bzr)\+[a-z]+:\/\/\S+|https?:\/\/\S+|file:\/\/\S+)/i.exec(t);
  if (direct !== null) {
    const url = (direct[1] ?? "").replace(/^(?:git|hg|svn|bzr)\+/i, "");
    if (/^file:\/\//i.test(url)) invocation.target("read", literal(url.slice(7)));
    else {
      invocation.flag("remote_code");
      invocation.pending({ action: "http.request", kind: "url", value: url });
    }
    return;
  }
  // A local project or archive: building it runs its setup code.
  if (t.startsWith(".") || t.startsWith("/") || t.startsWith("~") || /^[A-Za-z]:[\\/]/.test(t) || /\.(?:whl|tar\.gz|zip)$/i.test(t)) invocation.target("read", spec);
}

// ---------------------------------------------------------------------------
// interpreters

const NODE: OptionSpec = {
  values: {
    ...all({ marker: "code", flags: ["inline_code"] }, "-e", "--eval", "-p", "--print"),
    ...all({ target: ["read"], flags: ["config_overrides"] }, "-r", "--require", "--import", "--loader", "--experimental-loader", "--env-file", "--env-file-if-exists", "--experimental-config-file"),
    ...all({ marker: "run" }, "--run"),
    ...plain("--input-type", "--conditions", "-C", "--stack-size", "--max-old-space-size", "--inspect-port", "--title", "--redirect-warnings", "--test-reporter", "--test-reporter-destination", "--test-name-pattern", "--test-concurrency", "--disable-warning", "--watch-path", "--diagnostic-dir", "--report-dir", "--secure-heap", "--openssl-config", "--icu-data-dir", "--experimental-policy", "--unhandled-rejections", "--heapsnapshot-signal", "--cpu-prof-dir", "--heap-prof-dir"),
  },
  switches: all({ marker: "check" }, "-c", "--check", "-v", "--version", "-h", "--help", "--test", "-i", "--interactive"),
  permute: false,
};
export function node(invocation: Invocation): void {
  interpreterWith(invocation, NODE, ["-"]);
}

const PYTHON: OptionSpec = {
  values: {
    ...all({ marker: "code", flags: ["inline_code"] }, "-c"),
    ...all({ marker: "module" }, "-m"),
    ...plain("-W", "-X", "--check-hash-based-pycs"),
  },
  switches: all({ marker: "check" }, "-V", "--version", "-h", "--help"),
  permute: false,
};
export function python(invocation: Invocation): void {
  const parsed = invocation.options(PYTHON, invocation.args, true);
  const module = parsed.options.find((option) => option.name === "-m");
  if (module !== undefined) {
    const name = text(module.value ?? undefined);
    invocation.setSubcommand(name ?? "");
    const rest = invocation.args.slice((module.valueIndex ?? module.index) + 1);
    // `python -m pip install …` is pip.
    if (name === "pip" || name === "pipx") wrap(invocation, [literal("pip"), ...rest]);
    else if (name === null) invocation.opaque();
    return;
  }
  interpreterRest(invocation, parsed, ["-"]);
}

const PERL: OptionSpec = {
  values: { ...all({ marker: "code", flags: ["inline_code"] }, "-e", "-E"), ...all({ flags: ["config_overrides"] }, "-M", "-m", "-I"), ...all({ chdir: true }, "-x-dir") },
  attached: { "-i": { marker: "in-place" } },
  switches: all({ marker: "check" }, "-v", "-V", "-c"),
  permute: false,
};
export function perl(invocation: Invocation): void {
  codeWithFiles(invocation, PERL);
}

const RUBY: OptionSpec = {
  values: { ...all({ marker: "code", flags: ["inline_code"] }, "-e"), ...all({ flags: ["config_overrides"] }, "-r", "-I", "--require"), ...all({ chdir: true }, "-C") },
  attached: { "-i": { marker: "in-place" } },
  switches: all({ marker: "check" }, "-v", "--version", "-c", "-h", "--help"),
  permute: false,
};
export function ruby(invocation: Invocation): void {
  codeWithFiles(invocation, RUBY);
}

const PHP: OptionSpec = {
  values: {
    ...all({ marker: "code", flags: ["inline_code"] }, "-r", "-B", "-R", "-F", "-E"),
    ...all({ marker: "script", target: ["read"] }, "-f"),
    ...all({ target: ["read"], flags: ["config_overrides"] }, "-c", "-z"),
    ...all({ flags: ["config_overrides"] }, "-d"),
    ...all({ marker: "server", target: ["url"] }, "-S"),
    ...all({ chdir: true }, "-t"),
  },
  switches: all({ marker: "check" }, "-v", "-l", "-m", "-i", "-h"),
  permute: false,
};
export function php(invocation: Invocation): void {
  const parsed = invocation.options(PHP, invocation.args, true);
  if (parsed.markers.has("script") || parsed.markers.has("server")) return;
  interpreterRest(invocation, parsed, []);
}

// Generic `-e CODE` interpreters: osascript, lua, Rscript, julia, elixir …
const GENERIC_INTERPRETER: OptionSpec = {
  values: { ...all({ marker: "code", flags: ["inline_code"] }, "-e", "--eval", "-E", "--expression", "-x-code"), ...all({ flags: ["config_overrides"] }, "-l", "-r", "--require", "-I", "-pa", "-pz") },
  switches: all({ marker: "check" }, "-v", "--version", "-h", "--help"),
  permute: false,
};
export function interpreter(invocation: Invocation): void {
  interpreterWith(invocation, GENERIC_INTERPRETER, ["-"]);
}

function interpreterWith(invocation: Invocation, spec: OptionSpec, stdin: readonly string[]): void {
  const parsed = invocation.options(spec, invocation.args, true);
  if (parsed.markers.has("run")) {
    invocation.setSubcommand("run");
    return;
  }
  interpreterRest(invocation, parsed, stdin);
}

/** After the options: inline code, a script file (read; later operands are its arguments) or stdin. */
function interpreterRest(invocation: Invocation, parsed: ParsedArgs, stdin: readonly string[]): void {
  if (parsed.markers.has("code") || parsed.markers.has("check")) return;
  const script = firstOperand(parsed);
  if (script === undefined || (script.word.unknown === null && stdin.includes(script.word.text))) {
    // No script: the program reads code from stdin (`curl … | python3`, a heredoc).
    invocation.flag("inline_code");
    return;
  }
  invocation.target("read", script.word);
}

/** perl/ruby: with -e the operands are data files (rewritten under -i); otherwise the first is the script. */
function codeWithFiles(invocation: Invocation, spec: OptionSpec): void {
  const parsed = invocation.options(spec, invocation.args, true);
  if (parsed.markers.has("check")) return;
  if (parsed.markers.has("code")) {
    // perl -ne / -pe keep parsing options after the code (`perl -pi -e … file`).
    const files = operandWords(invocation.options(spec, operandWords(parsed)));
    for (const file of files) {
      invocation.target("read", file);
      if (parsed.markers.has("in-place")) invocation.target("write", file);
    }
    return;
  }
  interpreterRest(invocation, parsed, ["-"]);
}

// Shells: `-c STRING` is parsed again; no operand (or -s) reads code from stdin.
const SHELL: OptionSpec = {
  values: { ...all({ target: ["read"], flags: ["config_overrides"] }, "--rcfile", "--init-file"), ...all({ marker: "option" }, "-o", "+o", "-O", "+O") },
  switches: { ...all({ marker: "command" }, "-c"), ...all({ marker: "stdin" }, "-s", "-i"), ...all({ marker: "check" }, "--version", "--help", "-n") },
  permute: false,
};
export function shell(invocation: Invocation): void {
  const args = invocation.args;
  // `sh -euxc 'cmd'` and `bash -lc` put -c in a cluster.
  const parsed = invocation.options({ ...SHELL, switches: { ...SHELL.switches, ...Object.fromEntries("abefhkmnptuvxBCEHPTl".split("").map((c) => [`-${c}`, {}])) } }, args, true);
  const operands = operandWords(parsed);
  const grammar = shellGrammar(invocation.program, invocation.ctx);
  if (parsed.markers.has("command")) {
    const code = operands[0];
    if (code === undefined) return;
    if (grammar === null) {
      // fish, csh: a grammar Warden does not parse.
      invocation.flag("inline_code");
      invocation.opaque();
      return;
    }
    wrapCode(invocation, code, grammar);
    return;
  }
  if (parsed.markers.has("check")) return;
  const script = operands[0];
  if (script === undefined || parsed.markers.has("stdin") || script.text === "-") {
    invocation.flag("inline_code");
    return;
  }
  invocation.target("read", script);
}

const WSL: OptionSpec = {
  values: { ...all({ marker: "user" }, "-u", "--user"), ...plain("-d", "--distribution", "--cd", "--shell-type"), ...all({ marker: "exec" }, "-e", "--exec") },
  switches: all({ marker: "manage" }, "-l", "--list", "--install", "--update", "--shutdown", "--status", "--set-default", "-s", "--set-version", "--import", "--export", "--unregister", "--mount", "--unmount", "--help", "--version", "-v"),
  permute: false,
};
export function wsl(invocation: Invocation): void {
  const parsed = invocation.options(WSL, invocation.args, true);
  if (parsed.markers.has("manage")) return;
  if (parsed.options.some((option) => option.effect?.marker === "user" && option.value?.text === "root")) invocation.flag("elevated");
  // Inside the distribution: bash, Windows drives under /mnt, and a working directory and home this line does not give.
  const linux: ParseContext = { os: "windows", shell: "bash", cwd: null, otherCwds: [], home: null, depth: invocation.ctx.depth + 1 };
  const exec = parsed.options.find((option) => option.effect?.marker === "exec");
  const operands = operandWords(parsed).filter((word, index) => !(index === 0 && word.text === "--"));
  if (exec?.value !== undefined && exec.value !== null) {
    invocation.then({ kind: "argv", words: [exec.value, ...operands], ctx: linux }, true);
    return;
  }
  if (operands.length === 0) {
    invocation.flag("inline_code");
    return;
  }
  invocation.then({ kind: "code", code: joined(operands), ctx: linux }, true);
}

export function busybox(invocation: Invocation): void {
  const applet = invocation.args[0];
  if (applet === undefined || applet.text.startsWith("-")) return;
  wrap(invocation, [...invocation.args]);
}

// cmd.exe: /c and /k run the rest of the line as cmd code; no /c reads stdin.
export function cmdExe(invocation: Invocation): void {
  const args = invocation.args;
  // Git Bash users write `//c` so that MSYS does not turn `/c` into `C:\`.
  const index = args.findIndex((word) => /^\/{1,2}[ck](?:$|\S)/i.test(word.text));
  const delayed = args.slice(0, index < 0 ? args.length : index).some((word) => /^\/v(?::on)?$/i.test(word.text));
  if (index < 0) {
    invocation.flag("inline_code");
    return;
  }
  const first = args[index] as Word;
  const switchLength = first.text.startsWith("//") ? 3 : 2;
  const inline = first.text.length > switchLength ? [literal(first.text.slice(switchLength))] : [];
  const body = [...inline, ...args.slice(index + 1)];
  if (body.length === 0) return;
  // cmd /c strips one pair of quotes around the whole rest (cmd /? rule 2).
  let code = joined(body);
  if (body.length === 1 && code.unknown === null) code = literal(code.text);
  invocation.then({ kind: "code", code, ctx: { ...nested(invocation, "cmd"), delayedExpansion: delayed } as ParseContext }, true);
}

// powershell.exe / pwsh: -Command and -EncodedCommand are PowerShell code; -File a script.
const POWERSHELL_EXE: OptionSpec = {
  syntax: "windows",
  values: {
    ...all({ marker: "command" }, "-command", "-c"),
    ...all({ marker: "encoded" }, "-encodedcommand", "-e", "-ec", "-enc"),
    ...all({ marker: "file", target: ["read"] }, "-file", "-f"),
    ...all({ chdir: true }, "-workingdirectory", "-wd"),
    ...all({ marker: "args" }, "-commandwithargs", "-cwa"),
    ...all(CONFIG, "-executionpolicy", "-ex", "-ep", "-configurationname", "-settingsfile", "-psconsolefile"),
    ...plain("-windowstyle", "-w", "-inputformat", "-if", "-outputformat", "-of", "-version", "-v", "-custompipename", "-configurationfile", "-encodedarguments", "-ea"),
  },
  switches: plain("-noprofile", "-nop", "-noninteractive", "-noni", "-nologo", "-noexit", "-sta", "-mta", "-login", "-l", "-interactive", "-i", "-help", "-?"),
  permute: false,
};
export function powershellExe(invocation: Invocation): void {
  const parsed = invocation.options(POWERSHELL_EXE, invocation.args, true);
  const encoded = parsed.options.find((option) => option.effect?.marker === "encoded");
  if (encoded !== undefined) {
    const decoded = encoded.value === null ? null : decodeEncodedCommand(encoded.value);
    if (decoded === null) {
      invocation.flag("inline_code");
      invocation.opaque();
      return;
    }
    wrapCode(invocation, literal(decoded), "powershell");
    return;
  }
  if (parsed.markers.has("file")) return;
  const command = parsed.options.find((option) => option.effect?.marker === "command" || option.effect?.marker === "args");
  const operands = operandWords(parsed);
  // powershell.exe reads operands as -Command; pwsh 7 reads the first as -File.
  if (command === undefined && invocation.program === "pwsh" && operands[0] !== undefined) {
    invocation.target("read", operands[0]);
    return;
  }
  const words = command === undefined ? operands : [...(command.value === null ? [] : [command.value]), ...operands];
  if (words.length === 0 || (words.length === 1 && words[0]?.text === "-")) {
    invocation.flag("inline_code");
    return;
  }
  wrapCode(invocation, joined(words), "powershell");
}

/** `-EncodedCommand`: base64 of UTF-16LE. Null when it is not exactly that. */
export function decodeEncodedCommand(word: Word): string | null {
  if (word.unknown !== null) return null;
  const b64 = word.text;
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) return null;
  let binary: string;
  try {
    binary = atob(b64);
  } catch {
    return null;
  }
  if (binary.length % 2 !== 0) return null;
  let out = "";
  for (let i = 0; i < binary.length; i += 2) out += String.fromCharCode(binary.charCodeAt(i) | (binary.charCodeAt(i + 1) << 8));
  // Lone surrogates, NUL and other controls would reach the grammar unscreened.
  if (/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(out) || /[\u0000-\u0008\u000B-\u001F\u007F]/.test(out.replace(/\r\n/g, "\n"))) return null;
  return out.replace(/\r\n/g, "\n");
}

// ---------------------------------------------------------------------------
// evaluation

export function evalBuiltin(invocation: Invocation): void {
  if (invocation.args.length === 0) return;
  const code = joined(invocation.args);
  if (code.unknown !== null) {
    invocation.flag("inline_code");
    invocation.opaque();
    return;
  }
  wrapCode(invocation, code, invocation.ctx.shell);
}

export function sourceBuiltin(invocation: Invocation): void {
  const file = invocation.args[0];
  if (file !== undefined) invocation.target("read", file);
}

export function trap(invocation: Invocation): void {
  const action = invocation.args[0];
  if (action === undefined || action.text.startsWith("-") || invocation.args.length < 2) return;
  if (action.unknown !== null) {
    invocation.flag("inline_code");
    invocation.opaque();
    return;
  }
  // The trap's command runs later, in this shell.
  spawnCode(invocation, action, invocation.ctx.shell);
}

export function cd(invocation: Invocation): void {
  const operands = invocation.args.filter((word) => word.unknown !== null || !/^-[LPe@]+$|^\/d$/i.test(word.text));
  const dir = operands[0];
  if (invocation.program === "popd") return;
  if (dir === undefined) {
    invocation.changesDirectory(invocation.ctx.shell === "cmd" ? null : invocation.ctx.home === null ? null : literal(invocation.ctx.home));
    return;
  }
  invocation.changesDirectory(dir.unknown !== null || dir.text === "-" ? null : dir);
}

export function declare(invocation: Invocation): void {
  for (const word of invocation.args) {
    if (word.unknown !== null && !/^[A-Za-z_][A-Za-z0-9_]*=/.test(word.text)) continue;
    const match = /^([A-Za-z_][A-Za-z0-9_]*)(?:\+)?=/.exec(word.text);
    if (match === null) continue;
    // An alias definition changes what a later word of the shell runs.
    if (invocation.program === "alias") invocation.flag("config_overrides");
    for (const flag of assignmentFlags(match[1] ?? "", word)) invocation.flag(flag);
  }
}

export function cmdSet(invocation: Invocation): void {
  const body = joined(invocation.args).text.replace(/^\/[ap]\s+/i, "").replace(/^"/, "");
  const match = /^([^=\s]+)=/.exec(body);
  if (match !== null) for (const flag of assignmentFlags(match[1] ?? "", literal(body))) invocation.flag(flag);
}

// ---------------------------------------------------------------------------
// wrappers

const SUDO: OptionSpec = {
  values: { ...plain("-u", "--user", "-g", "--group", "-C", "--close-from", "-h", "--host", "-p", "--prompt", "-r", "--role", "-t", "--type", "-T", "--command-timeout", "-U", "--other-user"), ...all({ chdir: true }, "-D", "--chdir") },
  switches: { ...all({ marker: "shell" }, "-s", "--shell", "-i", "--login"), ...all({ marker: "edit" }, "-e", "--edit"), ...all({ marker: "no-command" }, "-l", "--list", "-v", "--validate", "-k", "-K", "--remove-timestamp", "--reset-timestamp", "-V", "--version", "-h", "--help"), ...plain("-E", "--preserve-env", "-H", "--set-home", "-n", "--non-interactive", "-S", "--stdin", "-b", "--background", "-A", "--askpass", "-P", "--preserve-groups", "-B", "--bell", "-N", "--no-update") },
  attached: { "--preserve-env": {} },
  permute: false,
  unknown: "opaque",
};
export function sudo(invocation: Invocation): void {
  invocation.flag("elevated");
  const parsed = invocation.options(SUDO, invocation.args, true);
  const command = operandWords(parsed);
  if (invocation.program === "sudoedit" || parsed.markers.has("edit")) {
    for (const file of command) invocation.target("write", file);
    return;
  }
  if (parsed.markers.has("no-command")) return;
  if (command.length === 0) {
    // `sudo -s` / `sudo -i` with no command: a root shell reading stdin.
    if (parsed.markers.has("shell")) invocation.flag("inline_code");
    return;
  }
  wrap(invocation, command, ["elevated"]);
}

const SU: OptionSpec = {
  values: { ...all({ marker: "command" }, "-c", "--command", "--session-command"), ...plain("-s", "--shell", "-g", "--group", "-G", "--supp-group", "-w", "--whitelist-environment", "-u", "--user") },
  switches: plain("-", "-l", "--login", "-m", "-p", "--preserve-environment", "-P", "--pty", "-f"),
  permute: true,
  unknown: "opaque",
};
export function su(invocation: Invocation): void {
  invocation.flag("elevated");
  const parsed = invocation.options(SU);
  const command = parsed.options.find((option) => option.effect?.marker === "command");
  if (command?.value !== null && command?.value !== undefined) {
    wrapCode(invocation, command.value, invocation.ctx.os === "windows" ? "bash" : "sh", ["elevated"]);
    return;
  }
  // runuser -u USER -- cmd args
  const operands = operandWords(parsed);
  if (invocation.program === "runuser" && parsed.options.some((option) => option.name === "-u" || option.name === "--user") && operands.length > 0) {
    wrap(invocation, operands, ["elevated"]);
    return;
  }
  invocation.flag("inline_code");
}

export function env(invocation: Invocation): void {
  const args = invocation.args;
  let i = 0;
  let ctx = invocation.ctx;
  const words: Word[] = [];
  for (; i < args.length; i += 1) {
    const word = args[i] as Word;
    const t = word.text;
    if (word.unknown !== null && !/^[A-Za-z_][A-Za-z0-9_]*=/.test(t)) break;
    if (t === "--" || t === "-") {
      i += 1;
      break;
    }
    if (/^-[iv0]+$/.test(t) || t === "--ignore-environment" || t === "--null" || t === "--debug") continue;
    if (t === "-u" || t === "--unset" || t === "-a" || t === "--argv0") {
      i += 1;
      continue;
    }
    if (t.startsWith("--unset=")) continue;
    if (t === "-C" || t === "--chdir" || t.startsWith("--chdir=") || (t.startsWith("-C") && t.length > 2)) {
      const dir = t === "-C" || t === "--chdir" ? args[(i += 1)] : literal(t.startsWith("--chdir=") ? t.slice(8) : t.slice(2));
      if (dir !== undefined) {
        const resolved = resolvePath(dir, ctx);
        ctx = { ...ctx, cwd: resolved !== null && "value" in resolved ? resolved.value : null };
      }
      continue;
    }
    if (t === "-S" || t === "--split-string" || t.startsWith("-S") || t.startsWith("--split-string=")) {
      const body = t === "-S" || t === "--split-string" ? args[(i += 1)] : literal(t.startsWith("-S") ? t.slice(2) : t.slice(15));
      // `env -S` has its own quoting and `${VAR}` syntax; plain words only.
      if (body === undefined || body.unknown !== null || /["'\\$#]/.test(body.text)) {
        invocation.opaque();
        return;
      }
      words.push(...body.text.split(/\s+/).filter((part) => part !== "").map(literal));
      continue;
    }
    if (t.startsWith("-")) {
      invocation.opaque();
      return;
    }
    const assignment = /^([A-Za-z_][A-Za-z0-9_]*)=/.exec(t);
    if (assignment !== null) {
      for (const flag of assignmentFlags(assignment[1] ?? "", word)) invocation.flag(flag);
      continue;
    }
    break;
  }
  const command = [...words, ...args.slice(i)];
  if (command.length === 0) return;
  invocation.ctx = ctx;
  // The command inherits env's flags (a config override set by NAME=value).
  wrap(invocation, command);
}

// Wrappers whose own options are few and never change what they run.
const SIMPLE_WRAPPER_VALUES: Readonly<Record<string, readonly string[]>> = {
  exec: ["-a"],
  command: [],
  builtin: [],
  time: ["-f", "--format", "-o", "--output"],
  taskset: ["-p", "--pid"],
  numactl: ["-C", "-N", "-m", "-p", "-i", "--physcpubind", "--cpunodebind", "--membind", "--preferred", "--interleave"],
  chrt: [],
  prlimit: ["-p", "--pid"],
  strace: ["-e", "-o", "-p", "-s", "-u", "-E", "-P", "-a", "-b", "-I", "-O", "-S", "-X"],
  ltrace: ["-e", "-o", "-p", "-s", "-u", "-a", "-n", "-l"],
  valgrind: [],
  "systemd-run": ["-u", "--unit", "-p", "--property", "--description", "--slice", "-E", "--setenv", "--uid", "--gid", "--working-directory"],
  faketime: ["-f"],
};
export function simpleWrapper(invocation: Invocation): void {
  const program = invocation.program;
  const values = SIMPLE_WRAPPER_VALUES[program] ?? [];
  const parsed = invocation.options({ values: Object.fromEntries(values.map((name) => [name, name === "-o" || name === "--output" ? W : NONE])), permute: false }, invocation.args, true);
  // `command -v x` / `command -V x` only look x up.
  if ((program === "command" || program === "builtin") && parsed.options.some((option) => option.name === "-v" || option.name === "-V")) return;
  if (program === "systemd-run" || program === "firejail") invocation.flag("elevated");
  const command = operandWords(parsed);
  if (program === "time" && command.length === 0) return;
  wrap(invocation, command);
}

export function watch(invocation: Invocation): void {
  const parsed = invocation.options({ values: plain("-n", "--interval", "-d", "--differences", "-q", "--equexit", "--chgexit"), switches: all({ marker: "exec" }, "-x", "--exec"), permute: false }, invocation.args, true);
  const command = operandWords(parsed);
  if (command.length === 0) return;
  // watch runs `sh -c "<operands joined>"` unless -x.
  if (parsed.markers.has("exec")) wrap(invocation, command);
  else wrapCode(invocation, joined(command), "sh");
}

export function script(invocation: Invocation): void {
  const parsed = invocation.options({ values: { ...all({ marker: "command" }, "-c", "--command"), ...all(W, "-O", "--log-out", "-I", "--log-in", "-B", "--log-io", "-T", "--log-timing", "-t", "--timing") } });
  const operands = operandWords(parsed);
  // macOS: `script [-aq] file command …`; util-linux: `script [-c cmd] [file]`.
  if (operands[0] !== undefined) invocation.target("write", operands[0]);
  else invocation.target("write", literal("typescript"));
  const command = parsed.options.find((option) => option.effect?.marker === "command");
  if (command?.value !== undefined && command.value !== null) spawnCode(invocation, command.value);
  else if (invocation.ctx.os === "macos" && operands.length > 1) spawnArgv(invocation, operands.slice(1));
  else invocation.flag("inline_code");
}

export function flock(invocation: Invocation): void {
  const parsed = invocation.options({ values: { ...all({ marker: "command" }, "-c", "--command"), ...plain("-w", "--timeout", "-E", "--conflict-exit-code") }, permute: false }, invocation.args, true);
  const operands = operandWords(parsed);
  const lock = operands[0];
  if (lock !== undefined && !/^[0-9]+$/.test(lock.text)) invocation.target("write", lock);
  const command = parsed.options.find((option) => option.effect?.marker === "command");
  if (command?.value !== undefined && command.value !== null) wrapCode(invocation, command.value, "sh");
  else if (operands.length > 1) {
    const rest = operands.slice(1);
    const second = rest[0];
    // `flock file -c 'cmd'` puts -c after the file.
    if (second?.text === "-c" && rest[1] !== undefined) wrapCode(invocation, rest[1], "sh");
    else wrap(invocation, rest);
  }
}

export function crypto(invocation: Invocation): void {
  const parsed = invocation.options({
    values: {
      ...all(R, "-in", "-inkey", "-CAfile", "-cert", "-key", "-signkey", "-config", "-i", "--keyring", "--secret-keyring", "-keystore", "-file"),
      // ssh-keygen -f: the key it reads, or the one it writes.
      ...all({ target: ["read", "write"] }, "-f"),
      ...all(W, "-out", "-o", "--output", "-keyout"),
      ...all({ spawn: "program" }, "--exec-path", "-pass-cmd"),
      ...plain("-passin", "-passout", "-subj", "-days", "-newkey", "-t", "-b", "-C", "-N", "-m", "-r", "--recipient", "-u", "--local-user", "-alias", "-storepass", "-keypass", "-dname", "-keyalg", "-keysize", "-validity", "-digest", "-md", "-cipher", "-p"),
    },
    syntax: invocation.program === "openssl" || invocation.program === "keytool" ? "single-dash" : "gnu",
  });
  const operands = operandWords(parsed);
  invocation.setSubcommand(text(operands[0]) ?? "");
  const files = invocation.program === "openssl" || invocation.program === "keytool" ? operands.slice(1) : operands;
  for (const file of files) {
    if (invocation.program === "ssh-copy-id") invocation.pending({ action: "http.request", kind: "url", ...sshUrl(file.text, null) });
    else invocation.target("read", file);
  }
}

// ---------------------------------------------------------------------------
// Windows programs

export function certutil(invocation: Invocation): void {
  const args = invocation.args;
  const verb = args.find((word) => /^[-/]/.test(word.text) && !/^[-/](?:f|split|v|gmt|seconds|silent|user|enterprise|config|p|t)$/i.test(word.text));
  const name = verb?.text.slice(1).toLowerCase() ?? "";
  invocation.setSubcommand(name);
  const operands = args.filter((word) => !/^[-/]/.test(word.text));
  if (name === "urlcache" || name === "verifyctl") {
    const [url, file] = operands;
    if (url !== undefined) invocation.target("url", url);
    if (file !== undefined) invocation.target("write", file);
    if (file === undefined && url !== undefined) invocation.workingDirectory("file.write");
  } else if (["decode", "encode", "decodehex", "encodehex"].includes(name)) {
    const [input, output] = operands;
    if (input !== undefined) invocation.target("read", input);
    if (output !== undefined) invocation.target("write", output);
  } else {
    for (const operand of operands) invocation.target("read", operand);
  }
}

export function bitsadmin(invocation: Invocation): void {
  const args = invocation.args;
  invocation.setSubcommand(args[0]?.text.replace(/^\//, "").toLowerCase() ?? "");
  for (let i = 0; i < args.length; i += 1) {
    const word = args[i] as Word;
    if (/^\/setnotifycmdline$/i.test(word.text)) {
      invocation.flag("spawns");
      invocation.opaque();
    }
    if (word.unknown === null && /^[a-z]+:\/\//i.test(word.text)) {
      invocation.target("url", word);
      const local = args[i + 1];
      if (local !== undefined) invocation.target("write", local);
    }
  }
}

export function robocopy(invocation: Invocation): void {
  const parsed = invocation.options({ syntax: "windows", values: {}, switches: { ...all({ marker: "move" }, "/mov", "/move"), ...all({ marker: "purge" }, "/mir", "/purge") } });
  const [source, destination] = operandWords(parsed);
  if (source !== undefined) {
    invocation.target("read", source);
    if (parsed.markers.has("move")) invocation.target("delete", source);
  }
  if (destination !== undefined) {
    invocation.target("write", destination);
    if (parsed.markers.has("purge")) invocation.target("delete", destination);
  }
}

export function runas(invocation: Invocation): void {
  invocation.flag("elevated");
  const operands = invocation.args.filter((word) => word.unknown !== null || !word.text.startsWith("/"));
  const command = operands[0];
  if (command === undefined) return;
  if (command.unknown !== null) {
    invocation.opaque();
    return;
  }
  wrap(invocation, commandLineToArgv(command.text).map(literal), ["elevated"]);
}

export function cmdCopy(invocation: Invocation, row: ProgramRow): void {
  const parsed = invocation.options(row.options ?? {});
  const words = operandWords(parsed);
  const move = invocation.program === "move";
  // `copy a+b c` concatenates sources; `copy a` copies into the current directory.
  // `copy a+b c` concatenates: every `+` part is a source.
  const sources = (words.length > 1 ? words.slice(0, -1) : words).flatMap((word) => (word.unknown === null ? word.text.split("+").filter((part) => part !== "").map(literal) : [word]));
  for (const source of sources) {
    invocation.target("read", source);
    if (move) invocation.target("delete", source);
  }
  const destination = words.length > 1 ? words[words.length - 1] : undefined;
  if (destination !== undefined) invocation.target("write", destination);
  else invocation.workingDirectory("file.write");
}

export function cmdRename(invocation: Invocation): void {
  const [from, to] = invocation.args;
  if (from === undefined) return;
  invocation.target("read", from);
  invocation.target("delete", from);
  if (to === undefined) return;
  // The new name is in the old file's directory.
  const dir = from.unknown === null ? from.text.replace(/[^\\/]*$/, "") : "";
  invocation.target("write", to.unknown === null ? literal(dir + to.text) : to);
}

/** `start https://…`, `Start-Process report.pdf`: a URL or document opened by its default program. */
function openDocument(invocation: Invocation, file: Word): boolean {
  if (file.unknown !== null) return false;
  if (/^[a-z][a-z0-9+.-]*:/i.test(file.text) && !/^[a-z]:[\\/]/i.test(file.text)) {
    invocation.flag("spawns");
    invocation.target("url", file);
    return true;
  }
  return false;
}

export function cmdStart(invocation: Invocation): void {
  const args = [...invocation.args];
  let i = 0;
  // A first quoted word is the window title (the grammar keeps quotes for start).
  if (args[0]?.text.startsWith("\"") === true) i = 1;
  while (i < args.length && /^\//.test(args[i]?.text ?? "")) {
    if (/^\/d$/i.test(args[i]?.text ?? "")) i += 1;
    i += 1;
  }
  const command = args.slice(i).map((word) => (word.text.startsWith("\"") && word.text.endsWith("\"") && word.text.length >= 2 ? { ...word, text: word.text.slice(1, -1) } : word));
  if (command.length === 0) {
    invocation.flag("inline_code");
    return;
  }
  if (command[0] !== undefined && openDocument(invocation, command[0])) return;
  wrap(invocation, command);
}

export function cmdCall(invocation: Invocation): void {
  const target = invocation.args[0];
  if (target === undefined) return;
  // `call :label` jumps within a batch file the line does not show.
  if (target.text.startsWith(":")) {
    invocation.opaque();
    return;
  }
  wrap(invocation, [...invocation.args]);
}

export function cmdControl(invocation: Invocation): void {
  // for /f and if bodies are parsed by the cmd grammar itself; what reaches the
  // table here is a form the grammar could not split.
  invocation.opaque();
}

// ---------------------------------------------------------------------------
// PowerShell cmdlets

interface CmdletSpec {
  /** Parameters by name (lowercase, with dash) and the effect of their value. */
  params: Record<string, Effect>;
  /** Switch parameters (no value). */
  switches?: Record<string, Effect>;
  /** Positional parameters in position order. */
  positions: readonly string[];
  /** Parameters whose value accepts wildcards. */
  wildcards?: readonly string[];
  /** No path given: the cmdlet works on the current location. */
  cwd?: boolean;
  /** No path given: the paths come from the pipeline (`… | Remove-Item`). */
  pipeline?: boolean;
}

function cmdletRow(names: readonly string[], spec: CmdletSpec, extra?: (invocation: Invocation, bound: Map<string, Word[]>) => void): ProgramRow {
  return {
    names,
    shells: ["powershell"],
    run: (invocation) => {
      const bound = bindCmdlet(invocation, spec);
      extra?.(invocation, bound);
    },
  };
}

// about_CommonParameters: every cmdlet takes these, each with a value.
const COMMON_PARAMETERS = plain("-erroraction", "-ea", "-warningaction", "-wa", "-informationaction", "-infa", "-errorvariable", "-ev", "-warningvariable", "-wv", "-informationvariable", "-iv", "-outvariable", "-ov", "-outbuffer", "-ob", "-pipelinevariable", "-pv", "-progressaction", "-proga");

/** PowerShell parameter binding: named first, then positional in order (about_Parameters). */
function bindCmdlet(invocation: Invocation, spec: CmdletSpec): Map<string, Word[]> {
  const parsed = invocation.options({ syntax: "powershell", values: { ...COMMON_PARAMETERS, ...Object.fromEntries(Object.keys(spec.params).map((name) => [name, {}])) }, switches: spec.switches ?? {} });
  const bound = new Map<string, Word[]>();
  for (const option of parsed.options) {
    if (option.value === null) continue;
    const list = bound.get(option.name) ?? [];
    list.push(...expandItems(option.value));
    bound.set(option.name, list);
  }
  const positions = spec.positions.filter((name) => !bound.has(name));
  parsed.operands.forEach((operand, index) => {
    const name = positions[index] ?? positions[positions.length - 1];
    if (name === undefined) return;
    const list = bound.get(name) ?? [];
    list.push(...expandItems(operand.word));
    bound.set(name, list);
  });
  for (const [name, values] of bound) {
    const effect = spec.params[name];
    if (effect === undefined) continue;
    const wildcard = spec.wildcards?.includes(name) === true;
    for (const value of values) {
      if (wildcard && value.unknown === null && /[*?[]/.test(value.text)) {
        for (const role of effect.target ?? []) if (role === "read" || role === "write" || role === "delete") invocation.pending({ action: `file.${role}`, kind: "path", unresolved: "glob", raw: value.text });
        for (const flag of effect.flags ?? []) invocation.flag(flag);
        continue;
      }
      invocation.effect(effect, value);
    }
  }
  const first = spec.positions[0];
  if (first !== undefined && !bound.has(first) && !bound.has("-literalpath")) {
    if (spec.cwd === true) invocation.workingDirectory("file.read");
    else if (spec.pipeline === true) {
      // `… | Remove-Item`: the paths arrive on the pipeline.
      for (const role of spec.params[first]?.target ?? []) if (role === "read" || role === "write" || role === "delete") invocation.pending({ action: `file.${role}`, kind: "path", unresolved: "stdin", raw: "(pipeline)" });
    }
  }
  return bound;
}

/** A comma list `a,b` binds as several values. */
function expandItems(word: Word): Word[] {
  return word.items === undefined ? [word] : word.items.map((item) => ({ text: item, unknown: word.unknown }));
}

const PATH_READ: CmdletSpec = { pipeline: true, params: { "-path": R, "-literalpath": R, "-filter": NONE, "-include": NONE, "-exclude": NONE, "-encoding": NONE, "-tail": NONE, "-totalcount": NONE, "-head": NONE, "-first": NONE, "-last": NONE, "-readcount": NONE, "-delimiter": NONE, "-stream": NONE, "-credential": NONE, "-depth": NONE }, switches: {}, positions: ["-path"], wildcards: ["-path"] };

export const POWERSHELL_ROWS: readonly ProgramRow[] = [
  // Get-Content / Get-Item / Test-Path / Import-Csv: -Path (wildcards) and -LiteralPath are read.
  cmdletRow(["get-content", "get-item", "get-itemproperty", "test-path", "resolve-path", "import-csv", "import-clixml", "get-filehash", "get-acl", "format-hex", "import-module", "import-powershelldatafile", "get-authenticodesignature"], PATH_READ),
  // Get-ChildItem lists -Path, or the current location.
  cmdletRow(["get-childitem"], { ...PATH_READ, positions: ["-path", "-filter"], cwd: true }),
  // Select-String: the pattern first, then -Path.
  cmdletRow(["select-string"], { params: { ...PATH_READ.params, "-pattern": NONE, "-context": NONE }, positions: ["-pattern", "-path"], wildcards: ["-path"] }),
  // Set-Content / Add-Content / Out-File / Export-Csv / Tee-Object write -Path (or -FilePath).
  cmdletRow(["set-content", "add-content", "clear-content", "export-csv", "export-clixml", "set-acl", "set-itemproperty", "new-itemproperty", "clear-item"], { params: { "-path": W, "-literalpath": W, "-value": NONE, "-encoding": NONE, "-name": NONE, "-inputobject": NONE, "-delimiter": NONE, "-stream": W, "-aclobject": NONE }, positions: ["-path", "-value"], wildcards: ["-path"], pipeline: true }),
  cmdletRow(["out-file", "tee-object", "start-transcript"], { params: { "-filepath": W, "-literalpath": W, "-path": W, "-encoding": NONE, "-inputobject": NONE, "-width": NONE, "-variable": NONE }, positions: ["-filepath"] }),
  // New-Item writes -Path (joined with -Name); a link's -Target / -Value is exposed through it.
  cmdletRow(["new-item", "mkdir"], { params: { "-path": W, "-name": NONE, "-itemtype": NONE, "-type": NONE, "-value": NONE, "-target": R }, positions: ["-path"] }, (invocation, bound) => {
    const paths = bound.get("-path") ?? [];
    const name = bound.get("-name")?.[0];
    if (name !== undefined) {
      if (paths.length === 0) invocation.target("write", name);
      else for (const path of paths) invocation.target("write", path.unknown === null && name.unknown === null ? literal(`${path.text}\\${name.text}`) : { text: `${path.text}\\${name.text}`, unknown: "expansion" });
    }
    const type = bound.get("-itemtype")?.[0] ?? bound.get("-type")?.[0];
    if (type !== undefined && /link|junction/i.test(type.text)) for (const value of bound.get("-value") ?? []) invocation.target("read", value);
  }),
  // Copy-Item / Move-Item: -Path read (moved: deleted), -Destination written; -ToSession/-FromSession are remote.
  cmdletRow(["copy-item"], { params: { "-path": R, "-literalpath": R, "-destination": W, "-filter": NONE, "-include": NONE, "-exclude": NONE, "-tosession": CONFIG, "-fromsession": CONFIG, "-credential": NONE }, positions: ["-path", "-destination"], wildcards: ["-path"], pipeline: true }),
  cmdletRow(["move-item"], { params: { "-path": { target: ["read", "delete"] }, "-literalpath": { target: ["read", "delete"] }, "-destination": W, "-filter": NONE, "-include": NONE, "-exclude": NONE, "-credential": NONE }, positions: ["-path", "-destination"], wildcards: ["-path"], pipeline: true }),
  cmdletRow(["rename-item"], { params: { "-path": { target: ["read", "delete"] }, "-literalpath": { target: ["read", "delete"] }, "-newname": NONE, "-credential": NONE }, positions: ["-path", "-newname"] }, (invocation, bound) => {
    const from = bound.get("-path")?.[0] ?? bound.get("-literalpath")?.[0];
    const to = bound.get("-newname")?.[0];
    if (from === undefined || to === undefined) return;
    const dir = from.unknown === null ? from.text.replace(/[^\\/]*$/, "") : "";
    invocation.target("write", to.unknown === null && from.unknown === null ? literal(dir + to.text) : { text: to.text, unknown: "expansion" });
  }),
  // Remove-Item deletes -Path (wildcards) and -LiteralPath.
  cmdletRow(["remove-item", "remove-itemproperty"], { params: { "-path": D, "-literalpath": D, "-filter": NONE, "-include": NONE, "-exclude": NONE, "-stream": NONE, "-credential": NONE, "-name": NONE }, positions: ["-path"], wildcards: ["-path"], pipeline: true }),
  // Expand-Archive writes into -DestinationPath (or the current location); Compress-Archive writes the archive.
  cmdletRow(["expand-archive"], { params: { "-path": R, "-literalpath": R, "-destinationpath": W }, positions: ["-path", "-destinationpath"] }, (invocation, bound) => {
    if (!bound.has("-destinationpath")) invocation.workingDirectory("file.write");
  }),
  cmdletRow(["compress-archive"], { params: { "-path": R, "-literalpath": R, "-destinationpath": W, "-compressionlevel": NONE }, positions: ["-path", "-destinationpath"], wildcards: ["-path"] }),
  // Invoke-WebRequest / Invoke-RestMethod: -Uri (and any argument that parses as a URL, since
  // parameter names may be abbreviated: -Ur, -U); -OutFile written, -InFile read and sent.
  cmdletRow(["invoke-webrequest", "invoke-restmethod"], {
    params: { "-uri": U, "-outfile": W, "-infile": R, "-proxy": U, "-body": NONE, "-method": NONE, "-headers": NONE, "-contenttype": NONE, "-useragent": NONE, "-timeoutsec": NONE, "-credential": NONE, "-certificate": NONE, "-certificatethumbprint": NONE, "-sessionvariable": NONE, "-websession": NONE, "-maximumredirection": NONE, "-transferencoding": NONE, "-form": NONE, "-token": NONE, "-authentication": NONE, "-customMethod": NONE, "-maximumretrycount": NONE, "-retryintervalsec": NONE, "-statuscodevariable": NONE, "-responseheaderstvariable": NONE },
    switches: {},
    positions: ["-uri"],
  }, (invocation) => {
    for (const word of invocation.args) if (word.unknown === null && /^[a-z][a-z0-9+.-]*:\/\//i.test(word.text)) invocation.target("url", word);
    // Through the curl/wget alias under PowerShell 7 this is curl.exe: read its options too.
    const written = invocation.written.toLowerCase();
    if (written === "curl") curl(invocation);
    if (written === "wget") wget(invocation);
  }),
  cmdletRow(["start-bitstransfer"], { params: { "-source": U, "-destination": W, "-credential": NONE, "-displayname": NONE, "-transfertype": NONE }, positions: ["-source", "-destination"] }),
  // Invoke-Expression runs a string as PowerShell: a literal is parsed again, anything else is opaque.
  cmdletRow(["invoke-expression"], { params: { "-command": NONE }, positions: ["-command"] }, (invocation, bound) => {
    const command = bound.get("-command")?.[0];
    if (command === undefined) {
      // `… | iex`: the code arrives on the pipeline.
      invocation.flag("inline_code");
      invocation.opaque();
      return;
    }
    if (command.unknown !== null) {
      invocation.flag("inline_code");
      invocation.opaque();
      return;
    }
    wrapCode(invocation, command, "powershell");
  }),
  // Invoke-Command / Start-Job: script blocks are parsed by the grammar; -FilePath is read.
  cmdletRow(["invoke-command", "start-job", "start-threadjob"], { params: { "-scriptblock": NONE, "-filepath": R, "-computername": NONE, "-argumentlist": NONE, "-session": NONE, "-credential": NONE, "-hostname": NONE, "-jobname": NONE, "-initializationscript": NONE }, positions: ["-scriptblock", "-argumentlist"] }, (invocation, bound) => {
    if ((bound.get("-scriptblock") ?? []).some((word) => !word.text.startsWith("{"))) invocation.opaque();
    if (bound.has("-computername") || bound.has("-hostname") || bound.has("-session")) invocation.flag("spawns");
  }),
  // ForEach-Object / Where-Object run their script blocks (listed by the grammar); -MemberName calls a method.
  cmdletRow(["foreach-object", "where-object"], { params: { "-process": NONE, "-begin": NONE, "-end": NONE, "-filterscript": NONE, "-membername": NONE, "-argumentlist": NONE, "-property": NONE, "-value": NONE }, positions: ["-process", "-value"] }, (invocation, bound) => {
    const process = [...(bound.get("-process") ?? []), ...(bound.get("-filterscript") ?? []), ...(bound.get("-membername") ?? [])];
    // `% Invoke` / `% { … }`: a member name invokes a method the policy cannot see.
    if (invocation.program === "foreach-object" && process.some((word) => !word.text.startsWith("{"))) invocation.opaque();
  }),
  // Start-Process: -FilePath and -ArgumentList run as a command; -Verb RunAs elevates;
  // -Redirect* write or read files.
  cmdletRow(["start-process"], {
    params: { "-filepath": NONE, "-argumentlist": NONE, "-verb": NONE, "-workingdirectory": { chdir: true }, "-redirectstandardoutput": W, "-redirectstandarderror": W, "-redirectstandardinput": R, "-credential": { flags: ["elevated"] }, "-windowstyle": NONE, "-environment": CONFIG },
    switches: {},
    positions: ["-filepath", "-argumentlist"],
  }, (invocation, bound) => {
    const file = bound.get("-filepath")?.[0];
    const verb = bound.get("-verb")?.[0];
    const elevated = verb !== undefined && (verb.unknown !== null || /^runas(?:user)?$/i.test(verb.text));
    if (elevated) invocation.flag("elevated");
    if (file === undefined) return;
    if (openDocument(invocation, file)) return;
    const argumentList = bound.get("-argumentlist") ?? [];
    // One string is a command line the program splits; several are its arguments.
    const args = argumentList.length === 1 && argumentList[0]?.unknown === null ? commandLineToArgv(argumentList[0].text).map(literal) : argumentList;
    wrap(invocation, [file, ...args], elevated ? ["elevated"] : []);
  }),
  // Invoke-Item opens a file with its default program.
  cmdletRow(["invoke-item"], { params: { "-path": R, "-literalpath": R }, positions: ["-path"], wildcards: ["-path"] }, (invocation) => invocation.flag("spawns")),
  // Add-Type compiles and loads code given inline (-TypeDefinition, -MemberDefinition) or from files.
  cmdletRow(["add-type"], { params: { "-typedefinition": { flags: ["inline_code"] }, "-memberdefinition": { flags: ["inline_code"] }, "-path": R, "-literalpath": R, "-assemblyname": NONE, "-name": NONE, "-namespace": NONE, "-language": NONE, "-referencedassemblies": NONE, "-outputassembly": W }, positions: ["-typedefinition"] }),
  // Set-Location / Push-Location: later relative paths may resolve against the new location.
  cmdletRow(["set-location", "push-location"], { params: { "-path": NONE, "-literalpath": NONE, "-stackname": NONE }, positions: ["-path"] }, (invocation, bound) => {
    const dir = bound.get("-path")?.[0] ?? bound.get("-literalpath")?.[0];
    invocation.changesDirectory(dir === undefined ? (invocation.ctx.home === null ? null : literal(invocation.ctx.home)) : dir.unknown !== null || dir.text === "-" || dir.text === "+" ? null : dir);
  }),
  // Set-Alias / New-Alias / Set-Item Env: change what later names run.
  cmdletRow(["set-alias", "new-alias", "set-variable", "new-variable"], { params: { "-name": NONE, "-value": NONE, "-scope": NONE, "-option": NONE }, positions: ["-name", "-value"] }, (invocation) => {
    if (invocation.program.endsWith("alias")) invocation.flag("config_overrides");
  }),
  cmdletRow(["set-item"], { params: { "-path": NONE, "-value": NONE }, positions: ["-path", "-value"] }, (invocation, bound) => {
    for (const path of bound.get("-path") ?? []) {
      const variable = /^env:(.*)$/i.exec(path.text);
      if (variable !== null) for (const flag of assignmentFlags(variable[1] ?? "", path)) invocation.flag(flag);
      else if (/^(?:alias|function|variable):/i.test(path.text) || path.unknown !== null) invocation.flag("config_overrides");
      else invocation.target("write", path);
    }
  }),
  // Set-ExecutionPolicy / Set-PSRepository change what later scripts may load.
  { names: ["set-executionpolicy", "register-psrepository", "set-psrepository", "install-module", "install-package", "install-script", "update-module", "save-module"], shells: ["powershell"], flags: ["config_overrides"] },
  // Harmless output and formatting cmdlets.
  { names: ["write-output", "write-host", "write-error", "write-warning", "write-verbose", "out-host", "out-null", "out-string", "format-table", "format-list", "select-object", "sort-object", "measure-object", "group-object", "get-location", "pop-location", "get-date", "get-process", "get-command", "get-help", "get-member", "clear-host", "get-history", "convertto-json", "convertfrom-json", "get-host", "get-variable", "get-alias"], shells: ["powershell"] },
  // Invoke-History re-runs a command from history the line does not show.
  { names: ["invoke-history"], shells: ["powershell"], opaque: true },
];
