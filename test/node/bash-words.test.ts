/**
 * Warden's reading of bash arguments against bash itself, the shell that will run the line: for
 * every argument Warden reads as known, the words must be the ones bash passes, in bash's order.
 * A parser that reads a word otherwise than bash lets policy judge one action while another runs
 * (unbash read `{x},/etc}` as one literal word; bash passes `x}` and `/etc`). Arguments are
 * hand-picked and drawn by seeded generators, so every run checks the same ones; no generated
 * text can run anything (no substitution, operator or unquoted blank is ever drawn).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { plainWords } from "../../cli/hooks/codex.ts";
import { analyzeCommand } from "../../worker/policy/command/index.ts";
import { pick, random } from "../seeded.ts";

// An empty working directory (globs match nothing and stay as written) and a home that both sides use.
const cwd = mkdtempSync(join(tmpdir(), "warden-bash-words-"));
const HOME = "/home/dev";
afterAll(() => rmSync(cwd, { recursive: true, force: true }));

type Shell = "bash" | "sh" | "zsh";

/**
 * The words `shell` (dash for sh) passes for each argument, from one run; null for a line the
 * shell refused to parse (zsh: `a}`), which runs nothing. Every word is printed as `W` and the
 * word, then NUL (no argument can hold a NUL), and every argument ends with `E` and NUL; a first
 * word of its own tells no words (bash drops an empty word braces made) from one empty word.
 */
function shellWords(shell: Shell, args: readonly string[]): (string[] | null)[] {
  const lines = args.map((arg) => `printf 'W%s\\0' - ${arg}\nprintf 'E\\0'`);
  // zsh refuses a command whose glob matches nothing; the words then are the glob's, as bash passes them.
  const script = (shell === "zsh" ? ["setopt no_nomatch", ...lines] : lines).join("\n");
  const [program, options] = shell === "bash" ? ["bash", ["--norc", "--noprofile"]] : shell === "sh" ? ["dash", []] : ["zsh", ["-f"]];
  const out = execFileSync(program, options, { input: script, encoding: "utf8", cwd, env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME, LC_ALL: "C.UTF-8" }, stdio: ["pipe", "pipe", "ignore"] });
  const words: string[][] = [[]];
  for (const item of out.split("\0").slice(0, -1)) {
    if (item === "E") words.push([]);
    else (words.at(-1) as string[]).push(item.slice(1));
  }
  // One record per argument, each opened by its own first word unless the shell ran nothing: nothing ran together.
  expect(words.length).toBe(args.length + 1);
  return words.slice(0, args.length).map((each) => {
    if (each.length === 0 && shell === "zsh") return null;
    expect(each[0]).toBe("-");
    return each.slice(1);
  });
}

/** Checks every argument Warden reads as known for `shell` against it; answers how many it read and how many of those were several words. */
function againstShell(shell: Shell, args: readonly string[]): { read: number; several: number } {
  const expected = shellWords(shell, args);
  let read = 0;
  let several = 0;
  args.forEach((arg, index) => {
    const analysis = analyzeCommand(`cat ${arg}`, { os: "linux", shell, cwd, home: HOME });
    const words = expected[index];
    if (!analysis.ok || words === null) return;
    const commands = analysis.value.commands;
    const [command] = commands;
    if (commands.length !== 1 || command === undefined || command.program !== "cat" || command.opaque || command.unknownArgs.length > 0 || command.redirections.length > 0) return;
    read += 1;
    if (command.args.length > 1) several += 1;
    expect(command.args, arg).toEqual(words);
  });
  return { read, several };
}

describe("bash brace expansion, against bash", () => {
  const CHOSEN = [
    "a{,.bak}", "/{etc,usr}", "src/{a,b/{c,d}}", "{src,docs}/{a,b}", "f{08..10}", "{1..10..3}", "{5..1..2}", "{-2..2}",
    "{a..e}", "{E..A}", "{a..k..3}", "{1..010}", "{-01..1}", "{a}", "{}", "{,}", "x{,}y", "{a,b}c}", "{a,{b}}", "{a{b,c}}",
    "{a..B}", "{1..a}", "{1..3..0}", "{1..3..-1}", "a{b,c}d{e,f}", "{a,b,}", "{{a,b},c}", "-{r,f}", "{a,b}{1..2}", "{x..x}",
    "{x},/etc}", "{\"a,b\"}", "\\{a,b}", "{a\\,b,c}", "'{'a,b}", "~/{a,b}", "$HOME/{a,b}", "${HOME}{a,b}",
    // A `{` after an escaped blank, and a quoted part beside `..`: bash's readings, found by review.
    "x\\ {}/,a}/../y", "x{','..c}", "x{}','..c}", "a{}'/,'..c/}/../y", "x\\ {a,b}",
    // A backslash-newline between them is gone before bash reads braces.
    "y{a,b}\\\n{}/../x,/../T}", "\\ \\\n{},a}",
  ];
  const PLAIN = ["a", "b", "x/", "0", "1", "-", ".", "=", "@", "%", "+", ":", "z9"];
  const SEQUENCES = ["1..3", "3..1", "a..c", "C..A", "08..11", "1..10..3", "-2..2", "1..a", "01..-1", "a..", "..3", "1..3..0", "x..y..2"];
  const STRAY = ["{", "}", ",", "..", "{}", "}{", "\\,", "\\{", "'}'", "\",\"", "\\ ", "','", "'..'"];

  /** Brace syntax, mostly well formed: plain text, brace lists (nested, with empty alternatives), sequences, stray or quoted braces, commas and dots. */
  function drawn(count: number): string[] {
    const next = random(11);
    const piece = (depth: number): string => {
      const roll = next();
      if (roll < 0.3 || depth > 2) return pick(next, PLAIN);
      if (roll < 0.75) return `{${Array.from({ length: Math.floor(next() * 4) }, () => (next() < 0.2 ? "" : piece(depth + 1))).join(",")}}`;
      if (roll < 0.9) return `{${pick(next, SEQUENCES)}}`;
      return pick(next, STRAY);
    };
    return Array.from({ length: count }, () => Array.from({ length: 1 + Math.floor(next() * 4) }, () => piece(0)).join(""));
  }

  it("every argument Warden reads as known is the words bash passes, in bash's order", () => {
    const args = [...CHOSEN, ...drawn(3000)].filter((arg) => arg.includes("{"));
    const { read, several } = againstShell("bash", args);
    // Not a vacuous pass: most arguments are read, and many of them expand.
    expect(read).toBeGreaterThan(args.length / 2);
    expect(several).toBeGreaterThan(args.length / 5);
  });
});

describe("quoting, escapes and expansions, against bash, dash and zsh", () => {
  const CHOSEN = [
    "a\\ b", "'a b'", "\"a b\"", "a'b'c", "\"a\\\"b\"", "\"a\\b\"", "\"\\\\\"", "\"\\$HOME\"", "'$HOME'", "$'a\\nb'", "$'\\x41\\101\\u0041'",
    "$'\\''", "$'\\x2fetc'", "$'\\057etc'", "$\"a\"", "~", "~/x", "x~", "a=~/x", "~+", "#x", "a#b", "\\#x", "$HOME", "${HOME}x", "\"$HOME\"",
    "''", "\"\"", "a''", "$'\\c@'", "$'\\e'", "\\\na", "$'\\xZZ'", "$'\\400'", "$'\\U0001F600'",
    // Read otherwise by the parser once: braced hex, a quoted tilde prefix, an escaped blank ending the line.
    "$'\\x{2f}etc'", "$'\\x2f'etc", "~\"/x\"", "~\\/x", "~\"$HOME\"", "a=~\"/x\"", "a\\ ",
  ];
  const UNQUOTED = ["a", "/", ".", "-", "=", ":", "~", "#", "%", "@", "+", ",", "0", "{", "}", "*", "?", "[a]"];
  const ESCAPED = ["\\a", "\\ ", "\\'", "\\\"", "\\$", "\\\\", "\\{", "\\*", "\\#", "\\~", "\\\n"];
  const SINGLE = ["a", " ", "$", "\\", "\"", "{", ",", "*", "#", "~", "\\n"];
  const DOUBLE = ["a", " ", "\\\"", "\\\\", "\\$", "\\a", "'", "{", ",", "*", "#", "~", "$HOME", "${HOME}", "$x", "\\\n"];
  const ANSI_C = ["a", " ", "\\n", "\\t", "\\x41", "\\x2f", "\\101", "\\0", "\\u00e9", "\\\\", "\\'", "\"", "$", "{", "\\a", "\\x", "\\u", "\\E", "\\cA"];
  const EXPANSIONS = ["$HOME", "${HOME}", "$x", "${x}"];

  /** Words made of unquoted characters, escapes, quoted strings of three kinds, locale strings and parameter expansions. */
  function drawn(count: number): string[] {
    const next = random(12);
    const some = (items: readonly string[]) => Array.from({ length: Math.floor(next() * 4) }, () => pick(next, items)).join("");
    const piece = (): string => {
      const roll = next();
      if (roll < 0.3) return pick(next, UNQUOTED);
      if (roll < 0.45) return pick(next, ESCAPED);
      if (roll < 0.6) return `'${some(SINGLE).replaceAll("'", "")}'`;
      if (roll < 0.75) return `"${some(DOUBLE)}"`;
      if (roll < 0.9) return `$'${some(ANSI_C)}'`;
      if (roll < 0.95) return `$"${some(["a", " ", "b"])}"`;
      return pick(next, EXPANSIONS);
    };
    // A comment (`#` starting the word) would run on past a quoted newline into the lines after it.
    return Array.from({ length: count }, () => Array.from({ length: 1 + Math.floor(next() * 4) }, piece).join("")).filter((arg) => !(arg.startsWith("#") && arg.includes("\n")));
  }

  it("every argument Warden reads as known is the words bash passes", () => {
    const args = [...CHOSEN, ...drawn(3000)];
    const { read } = againstShell("bash", args);
    expect(read).toBeGreaterThan(args.length / 2);
  });

  // sh is dash on Debian and Ubuntu (0.5.12 here): no ANSI-C or locale strings, no brace expansion.
  it("as sh, every argument Warden reads as known is the words dash passes", () => {
    // To dash, `$'\''` opens a quote that never ends, which would run on into the lines after it.
    const args = [...CHOSEN, ...drawn(3000), "$'/../.ssh/id_rsa'", "a{b,c}"].filter((arg) => !(arg.includes("$'") && arg.includes("\\'")));
    const { read } = againstShell("sh", args);
    // Fewer than for bash: a third of the drawn words hold ANSI-C or locale strings, unknown under sh.
    expect(read).toBeGreaterThan(args.length / 3);
  });

  // zsh (the macOS default): no locale strings; ANSI-C escapes, brace expansion and a tilde prefix
  // with a quoted character its own way, each left unknown; a word ending in `}` a parse error.
  it("as zsh, every argument Warden reads as known is the words zsh passes", () => {
    const args = [...CHOSEN, ...drawn(3000), "$\"/../.ssh/id_rsa\"", "a{b,c}", "~\"/x\"", "~\"#\""];
    const { read } = againstShell("zsh", args);
    expect(read).toBeGreaterThan(args.length / 3);
  });
});

// The Codex hook unwraps `bash -lc '<script>'` itself (cli/hooks/codex.ts `plainWords`): a second
// reader of POSIX words, which must give bash's words or give up (null: the line is sent whole).
describe("the Codex hook's plain words, against bash", () => {
  const PIECES = ["a", "-lc", "/etc/x", "'a b'", "'\\'", "'\"'", "\"a b\"", "\"\\\"\"", "\"\\\\\"", "\"\\a\"", "\"\\\n\"", "\"a\nb\"", "\\ ", "\\a", "\\\\", "\\'", "''", "\"\"", "\t", " "];

  it("every line it reads as words is the words bash passes", () => {
    const next = random(13);
    const lines = Array.from({ length: 3000 }, () => Array.from({ length: 1 + Math.floor(next() * 6) }, () => pick(next, PIECES)).join(""));
    const read = lines.filter((line) => plainWords(line) !== null);
    const expected = shellWords("bash", read);
    read.forEach((line, index) => expect(plainWords(line), line).toEqual(expected[index]));
    expect(read.length).toBeGreaterThan(lines.length / 2);
  });
});
