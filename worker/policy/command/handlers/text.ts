/**
 * Text processors whose arguments are a language: awk and sed scripts, find expressions, xargs and parallel command templates, pagers.
 * Each handler is referenced from one row of programs.ts, whose comment says what it stops.
 */
import type { Invocation } from "../invocation.ts";
import { literal, type Word } from "../model.ts";
import type { Effect, OptionSpec } from "../options.ts";
import { all, plain, R, SPAWN_PROGRAM, W, type ProgramRow } from "../rows.ts";
import { lastMarked, operandWords, spawnArgv, text, wrap, wrapCode } from "./common.ts";


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
// BSD sed (macOS): -i takes the backup suffix as a word of its own (`sed -i '' s/a/b/ f`), and -l
// (line-buffered) is a switch.
const BSD_SED: OptionSpec = {
  // BSD sed's -i and -I (the files edited as one) both take the backup's extension, '' for none.
  values: { ...all({ marker: "script" }, "-e", "--expression"), ...all({ marker: "script-file", target: ["read"] }, "-f", "--file"), ...all({ marker: "in-place" }, "-i", "-I") },
};
export function sed(invocation: Invocation): void {
  const parsed = invocation.options(invocation.ctx.os === "macos" && invocation.program === "sed" ? BSD_SED : SED);
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
  // The last -i given is the one sed uses.
  const suffix = lastMarked(parsed, "in-place")?.value ?? null;
  for (const word of files) {
    invocation.target("read", word);
    if (parsed.markers.has("in-place")) invocation.target("write", word);
    if (suffix !== null && suffix.text !== "") sedBackup(invocation, word, suffix);
  }
}

/**
 * `sed -i SUFFIX` keeps the file as it was under a second name, a path from the working
 * directory: GNU sed replaces each `*` of the suffix with the file's name as the line gives it,
 * directories included (`-i'.*' git/hooks/x` writes `.git/hooks/x`), or appends the suffix; BSD
 * sed appends it.
 */
function sedBackup(invocation: Invocation, file: Word, suffix: Word): void {
  if (file.unknown !== null || suffix.unknown !== null) {
    if (suffix.unknown !== null) invocation.pending({ action: "file.write", kind: "path", unresolved: "expansion", raw: `${file.text}${suffix.text}` });
    return;
  }
  const gnuStars = invocation.ctx.os !== "macos" && suffix.text.includes("*");
  invocation.target("write", literal(gnuStars ? suffix.text.replaceAll("*", file.text) : `${file.text}${suffix.text}`));
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
// -newer FILE and kin (-newerXY with Y one of a, B, c, m; -newerXt takes a date), -samefile FILE.
const FIND_REFERENCE_TESTS = /^-(?:newer|anewer|cnewer|samefile|newer[aBcm][aBcm])$/;
export function find(invocation: Invocation): void {
  const args = invocation.args;
  let i = 0;
  // Leading -H -L -P -D x -Ox options (and BSD's -E -X -d -s -x, and -f PATH, a start path). -L
  // (or -follow among the expressions) walks through every symbolic link below the start paths;
  // -H and -P do not.
  let followsLinks = false;
  const starts: Word[] = [];
  while (i < args.length && /^-(?:[HLPEXdsx]*f?|D|O[0-9]?)$/.test(args[i]?.text ?? "") && args[i]?.text !== "-") {
    const option = args[i]?.text ?? "";
    // The last of -H, -L and -P counts, clustered or not (`-sL`).
    const last = option.replace(/[^HLP]/g, "").slice(-1);
    if (last !== "") followsLinks = last === "L";
    // BSD's -f PATH (also last in a cluster, `-sf PATH`) names a start path.
    const startPath = /^-[HLPEXdsx]*f$/.test(option);
    if (startPath && args[i + 1] !== undefined) starts.push(args[i + 1] as Word);
    i += option === "-D" || startPath ? 2 : 1;
  }
  while (i < args.length) {
    const word = args[i] as Word;
    if (word.unknown === null && (word.text.startsWith("-") || word.text === "(" || word.text === "!" || word.text === ",")) break;
    starts.push(word);
    i += 1;
  }
  followsLinks ||= args.slice(i).some((word) => word.unknown === null && word.text === "-follow");
  const startsOrCwd = (role: "read" | "delete"): void => {
    if (starts.length === 0) invocation.workingDirectory(`file.${role}`, { followsLinksBelow: followsLinks });
    for (const start of starts) invocation.target(role, start, undefined, { followsLinksBelow: followsLinks });
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
    } else if (FIND_REFERENCE_TESTS.test(name)) {
      // The file whose times (or identity) the test compares with is looked at.
      const file = args[i];
      if (file !== undefined) invocation.target("read", file);
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
    ...plain("-n", "--max-args", "-L", "-P", "--max-procs", "-d", "--delimiter", "-E", "-s", "--max-chars", "--process-slot-var"),
  },
  // --max-lines and --eof (-l, -e) take their value attached only: `xargs --max-lines cat` runs cat.
  attached: { ...all({ marker: "replace" }, "-i", "--replace"), ...plain("-l", "--max-lines", "-e", "--eof") },
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
// GNU parallel's options before the command: an option it does not list may take a value, which
// would then be read as the program (`parallel -n 1 rm …` runs rm, not `1`), so it is opaque.
const PARALLEL: OptionSpec = {
  values: {
    ...all(R, "-a", "--arg-file", "--basefile", "--bf", "--sshloginfile", "--slf"),
    ...all(W, "--joblog", "--results", "--res"),
    ...all(SPAWN_PROGRAM, "--ssh"),
    ...plain("-j", "--jobs", "-P", "--max-procs", "-S", "--sshlogin", "--tmpdir", "--delay", "--timeout", "--retries", "-C", "--colsep", "--workdir", "--wd", "-n", "--max-args", "-N", "--max-replace-args", "-L", "--max-lines", "-s", "--max-chars", "-E", "-d", "--delimiter", "-I", "--halt", "--halt-on-error", "--header", "--env", "--nice", "--memfree", "--load", "--termseq", "--rpl", "--tagstring", "--block", "--block-size", "--recstart", "--recend", "--group-by", "--id", "--limit", "--return", "--trc", "--transferfile", "--tf"),
  },
  switches: plain("-k", "--keep-order", "-q", "--quote", "-X", "--xargs", "-m", "-u", "--ungroup", "--line-buffer", "--lb", "--dry-run", "--dryrun", "--shuf", "--plus", "--tag", "-t", "--verbose", "-v", "-0", "--null", "-r", "--no-run-if-empty", "--pipe", "--pipepart", "--round-robin", "--bar", "--eta", "--progress", "--will-cite", "--group", "--keep-order", "--files", "--cat", "--fifo", "--no-notice", "--silent", "--nonall", "--onall", "--transfer", "--cleanup", "--ungroup"),
  unknown: "opaque",
  permute: false,
};

export function parallel(invocation: Invocation): void {
  const args = invocation.args;
  const separator = args.findIndex((word) => /^:{3,4}\+?$/.test(word.text));
  const before = separator < 0 ? [...args] : args.slice(0, separator);
  const command = operandWords(invocation.options(PARALLEL, before, true));
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
  const words = operandWords(parsed);
  invocation.setSubcommand(text(words[0]) ?? "");
  for (const word of words) {
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

/**
 * vim and its kin: `-c`, `--cmd` and `+cmd` run Ex commands (`+!curl …|sh`), `-S`, `-u`, `-U` and
 * (outside Ex mode) `-s` read a file of commands, `-w`/`-W` write one. In Ex mode (`ex`, `-e`, `-E`)
 * `-s` only silences. Files are read and written.
 */
const VIM_SCRIPT: Effect = { flags: ["inline_code"], target: ["read"] };
const VIM_EX: OptionSpec = {
  values: {
    ...all({ flags: ["inline_code"] }, "-c", "--cmd", "--remote-expr", "--remote-send"),
    ...all(VIM_SCRIPT, "-S", "-u", "-U"),
    ...all(W, "-w", "-W"),
    ...all({ target: ["read", "write"] }, "-i"),
    ...plain("-T", "-t", "-q", "--servername", "--listen"),
  },
};
const VIM: OptionSpec = { values: { ...VIM_EX.values, ...all(VIM_SCRIPT, "-s") } };
export function vim(invocation: Invocation): void {
  const exMode = invocation.program === "ex" || invocation.args.some((word) => word.unknown === null && /^-[a-zA-Z]*[eE]/.test(word.text) && !word.text.startsWith("--"));
  const parsed = invocation.options(exMode ? VIM_EX : VIM);
  const words = operandWords(parsed);
  invocation.setSubcommand(text(words[0]) ?? "");
  for (const word of words) {
    if (word.unknown === null && word.text.startsWith("+")) {
      if (!/^\+[0-9]*$/.test(word.text)) invocation.flag("inline_code");
      continue;
    }
    invocation.target("read", word);
    invocation.target("write", word);
  }
}

// jq: the filter first unless -f gave it; the files after it are read. yq's -i rewrites them.
const JQ: OptionSpec = {
  values: { ...all({ marker: "pattern", target: ["read"] }, "-f", "--from-file"), ...plain("--indent", "-L") },
  switches: { ...plain("-s", "--slurp", "-r", "--raw-output", "-n", "--null-input", "-c", "--compact-output", "-e", "--exit-status", "-j", "--join-output", "-a", "--ascii-output", "-S", "--sort-keys", "--tab", "--args", "--jsonargs", "--seq", "--stream", "-C", "-M"), ...all({ marker: "in-place" }, "-i", "--inplace") },
};
/** Options followed by two words: a name, and a value or (--rawfile, --slurpfile) a file that is read. */
const JQ_PAIRS: Readonly<Record<string, boolean>> = { "--arg": false, "--argjson": false, "--rawfile": true, "--slurpfile": true };

export function jq(invocation: Invocation): void {
  const args: Word[] = [];
  for (let i = 0; i < invocation.args.length; i += 1) {
    const word = invocation.args[i] as Word;
    const readsFile = word.unknown === null ? JQ_PAIRS[word.text] : undefined;
    if (readsFile === undefined) {
      args.push(word);
      continue;
    }
    const file = invocation.args[i + 2];
    if (readsFile && file !== undefined) invocation.target("read", file);
    i += 2;
  }
  const parsed = invocation.options(JQ, args);
  const words = operandWords(parsed);
  const files = parsed.markers.has("pattern") ? words : words.slice(1);
  for (const file of files) {
    invocation.target("read", file);
    if (invocation.program === "yq" && parsed.markers.has("in-place")) invocation.target("write", file);
  }
}

/** Other editors: their files are read and written; with VS Code's -g (--goto) a file is named `file:line[:column]`. */
export function editor(invocation: Invocation, row: ProgramRow): void {
  const parsed = invocation.options(row.options ?? {});
  const words = operandWords(parsed);
  invocation.setSubcommand(text(words[0]) ?? "");
  for (const word of words) {
    const file = parsed.markers.has("goto") && word.unknown === null ? literal(word.text.replace(/(?::[0-9]+){1,2}$/, "")) : word;
    invocation.target("read", file);
    invocation.target("write", file);
  }
}
