/**
 * Interpreters and shells: inline code, scripts read, code strings parsed again; eval, source, trap, cd and declarations.
 * Each handler is referenced from one row of programs.ts, whose comment says what it stops.
 */
import type { Invocation } from "../invocation.ts";
import { literal, type ParseContext, type Word } from "../model.ts";
import type { OptionSpec, ParsedArgs } from "../options.ts";
import { all, assignmentFlags, CONFIG, plain } from "../rows.ts";
import { firstOperand, joined, nested, operandWords, shellGrammar, spawnCode, text, wrap, wrapCode } from "./common.ts";


const NODE: OptionSpec = {
  values: {
    ...all({ marker: "code", flags: ["inline_code"] }, "-e", "--eval", "-p", "--print"),
    ...all({ target: ["read"], flags: ["config_overrides"] }, "-r", "--require", "--import", "--loader", "--experimental-loader", "--env-file", "--env-file-if-exists", "--experimental-config-file"),
    ...all({ marker: "run" }, "--run"),
    ...plain("--input-type", "--conditions", "-C", "--stack-size", "--max-old-space-size", "--inspect-port", "--title", "--redirect-warnings", "--test-reporter", "--test-reporter-destination", "--test-name-pattern", "--test-concurrency", "--disable-warning", "--watch-path", "--diagnostic-dir", "--report-dir", "--secure-heap", "--openssl-config", "--icu-data-dir", "--experimental-policy", "--unhandled-rejections", "--heapsnapshot-signal", "--cpu-prof-dir", "--heap-prof-dir"),
  },
  switches: { ...all({ marker: "check" }, "-c", "--check", "-v", "--version", "-h", "--help", "--test", "-i", "--interactive"), ...plain("--watch", "--cpu-prof", "--heap-prof", "--enable-source-maps", "--trace-warnings", "--no-warnings", "--experimental-strip-types", "--expose-gc") },
  // Optional values, only ever attached (`--inspect=9229`): the word after a bare one is the script.
  attached: plain("--inspect", "--inspect-brk", "--inspect-wait"),
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
  values: { ...all({ marker: "code", flags: ["inline_code"] }, "-e", "-E"), ...all({ flags: ["config_overrides"] }, "-M", "-m", "-I") },
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
  // julia: -t and -p take counts, -L runs a file first, -J loads a system image.
  values: { ...all({ marker: "code", flags: ["inline_code"] }, "-e", "--eval", "-E", "--expression"), ...all({ flags: ["config_overrides"] }, "-l", "-r", "--require", "-I", "-pa", "-pz"), ...all({ flags: ["config_overrides"], target: ["read"] }, "-L", "--load", "-J", "--sysimage"), ...plain("-t", "--threads", "-p", "--procs", "-O", "--optimize", "-C", "--cpu-target") },
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
  anyDash: true,
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
    for (const flag of assignmentFlags(match[1] ?? "")) invocation.flag(flag);
  }
}

export function cmdSet(invocation: Invocation): void {
  const body = joined(invocation.args).text.replace(/^\/[ap]\s+/i, "").replace(/^"/, "");
  const match = /^([^=\s]+)=/.exec(body);
  if (match !== null) for (const flag of assignmentFlags(match[1] ?? "")) invocation.flag(flag);
}
