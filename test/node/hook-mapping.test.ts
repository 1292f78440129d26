import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { CLAUDE_SEARCH_PROVIDER, claudeBashShell, claudeCode } from "../../cli/hooks/claude-code.ts";
import { codex, codexCommand, codexShells, interceptedPatch, patchFiles, plainWords } from "../../cli/hooks/codex.ts";
import { globDirectory, planCall, type AgentMapping, type MapContext, type PlannedAction } from "../../cli/hooks/mapping.ts";
import { HookFailure, parseHookInput } from "../../cli/hooks/protocol.ts";
import { canonicalJson } from "../../worker/log/canonical.ts";
import { analyzeCommand } from "../../worker/policy/command/index.ts";

/** The mapping tables, row by row: every row has a case here, and a known tool with a missing field is refused. */

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
const context: MapContext = { cwd: "/home/dev/workspace", home: "/home/dev", platform: "linux", env: { SHELL: "/bin/bash" }, analyse: analyzeCommand };

type Case = [tool: string, input: Record<string, unknown>, expected: PlannedAction[]];

const claudeCases: Case[] = [
  ["Bash", { command: "git status" }, [{ action: { type: "command.exec", targets: [{ kind: "command", value: "git status", cwd: "/home/dev/workspace", home: "/home/dev", shell: "bash" }] }, files: [] }]],
  ["PowerShell", { command: "Get-ChildItem" }, [{ action: { type: "command.exec", targets: [{ kind: "command", value: "Get-ChildItem", cwd: "/home/dev/workspace", home: "/home/dev", shell: "powershell" }] }, files: [] }]],
  ["Read", { file_path: "src/a.ts" }, [{ action: { type: "file.read", targets: [{ kind: "path", value: "/home/dev/workspace/src/a.ts" }] }, files: [] }]],
  ["Monitor", { description: "Watch the build", timeout_ms: 60000, command: "npm run build -- --watch" }, [{ action: { type: "command.exec", targets: [{ kind: "command", value: "npm run build -- --watch", cwd: "/home/dev/workspace", home: "/home/dev", shell: "bash" }] }, files: [] }]],
  ["Glob", { pattern: "../../etc/**/*.conf" }, [{ action: { type: "file.read", targets: [{ kind: "path", value: "/home/etc" }] }, files: [] }]],
  ["Grep", { pattern: "TODO" }, [{ action: { type: "file.read", targets: [{ kind: "path", value: "/home/dev/workspace" }] }, files: [] }]],
  ["Write", { file_path: "/home/dev/workspace/a", content: "hi\n" }, [{ action: { type: "file.write", targets: [{ kind: "path", value: "/home/dev/workspace/a" }], inputs_sha256: sha256("hi\n") }, files: ["/home/dev/workspace/a"] }]],
  [
    "Edit",
    { file_path: "/w/a", old_string: "x", new_string: "y" },
    [{ action: { type: "file.write", targets: [{ kind: "path", value: "/w/a" }], inputs_sha256: sha256(canonicalJson([{ old_string: "x", new_string: "y", replace_all: false }])) }, files: ["/w/a"] }],
  ],
  [
    "MultiEdit",
    { file_path: "/w/a", edits: [{ old_string: "x", new_string: "y" }, { new_string: "b", old_string: "a", replace_all: true }] },
    [
      {
        action: {
          type: "file.write",
          targets: [{ kind: "path", value: "/w/a" }],
          inputs_sha256: sha256(canonicalJson([{ old_string: "x", new_string: "y", replace_all: false }, { old_string: "a", new_string: "b", replace_all: true }])),
        },
        files: ["/w/a"],
      },
    ],
  ],
  [
    "NotebookEdit",
    { notebook_path: "/w/n.ipynb", new_source: "1+1", cell_id: "c1" },
    [{ action: { type: "file.write", targets: [{ kind: "path", value: "/w/n.ipynb" }], inputs_sha256: sha256(canonicalJson({ cell_id: "c1", cell_type: null, edit_mode: "replace", new_source: "1+1" })) }, files: ["/w/n.ipynb"] }],
  ],
  [
    "WebFetch",
    { url: "https://example.com/x", prompt: "summarise" },
    [{ action: { type: "http.request", targets: [{ kind: "url", value: "https://example.com/x" }], inputs_sha256: sha256('{"prompt":"summarise","url":"https://example.com/x"}'), sends_external: true }, files: [] }],
  ],
  [
    "WebSearch",
    { query: "cedar policy", allowed_domains: ["cedarpolicy.com"] },
    [{ action: { type: "http.request", targets: [{ kind: "url", value: CLAUDE_SEARCH_PROVIDER }], inputs_sha256: sha256('{"allowed_domains":["cedarpolicy.com"],"query":"cedar policy"}'), sends_external: true }, files: [] }],
  ],
];

const codexCases: Case[] = [
  ["Bash", { command: "bash -lc 'ls -la'" }, [{ action: { type: "command.exec", targets: [{ kind: "command", value: "ls -la", cwd: "/home/dev/workspace", home: "/home/dev", shell: "bash" }] }, files: [] }]],
  [
    "apply_patch",
    { command: "*** Begin Patch\n*** Add File: a.ts\n+x\n*** End Patch" },
    [{ action: { type: "file.write", targets: [{ kind: "path", value: "/home/dev/workspace/a.ts" }], inputs_sha256: sha256("*** Begin Patch\n*** Add File: a.ts\n+x\n*** End Patch") }, files: ["/home/dev/workspace/a.ts"] }],
  ],
  ["Read", { file_path: "/etc/hosts" }, [{ action: { type: "file.read", targets: [{ kind: "path", value: "/etc/hosts" }] }, files: [] }]],
  ["view_image", { path: "shots/ui.png" }, [{ action: { type: "file.read", targets: [{ kind: "path", value: "/home/dev/workspace/shots/ui.png" }] }, files: [] }]],
];

function rows(mapping: AgentMapping, cases: Case[]) {
  describe(`${mapping.agent}: one case per row`, () => {
    it("covers every row of the table, and docs/hooks.md shows each", () => {
      expect(cases.map(([tool]) => tool).sort()).toEqual(Object.keys(mapping.tools).sort());
      for (const rule of [...Object.values(mapping.tools), mapping.mcp, mapping.other]) expect(rule.why.length).toBeGreaterThan(20);
      const doc = readFileSync(new URL("../../docs/hooks.md", import.meta.url), "utf8");
      const section = doc.slice(doc.indexOf(mapping.agent === "codex" ? "## Codex: the mapping" : "## Claude Code: the mapping"));
      for (const tool of Object.keys(mapping.tools)) expect(section).toContain(`| \`${tool}\` |`);
    });
    for (const [tool, input, expected] of cases) {
      it(tool, () => expect(planCall(mapping, { name: tool, input }, context)).toEqual(expected));
      it(`${tool} without its fields is an unknown shape`, () => {
        expect(() => planCall(mapping, { name: tool, input: {} }, context)).toThrow(expect.objectContaining({ code: "unknown_tool_shape" }));
      });
    }
    it("an MCP tool is mcp.call bound to its arguments; any other tool is agent.tool", () => {
      const args = { b: 1, a: [true] };
      expect(planCall(mapping, { name: "mcp__github__create_issue", input: args }, context)).toEqual([
        { action: { type: "mcp.call", targets: [{ kind: "tool", value: "mcp__github__create_issue" }], inputs_sha256: sha256('{"a":[true],"b":1}') }, files: [] },
      ]);
      expect(planCall(mapping, { name: "SomeFutureTool", input: {} }, context)).toEqual([{ action: { type: "agent.tool", targets: [{ kind: "tool", value: "SomeFutureTool" }], inputs_sha256: sha256("{}") }, files: [] }]);
      // Not an MCP name: the catch-all, not mcp.call.
      expect(planCall(mapping, { name: "mcp__half", input: {} }, context)[0]!.action.type).toBe("agent.tool");
    });
  });
}

rows(claudeCode, claudeCases);
rows(codex, codexCases);

describe("the directory a glob reaches", () => {
  const cases: [pattern: string, root: string, expected: string][] = [
    ["**/*.ts", "/w", "/w"],
    ["src/**/*.ts", "/w", "/w/src"],
    ["/etc/**/*.conf", "/w", "/etc"],
    ["../../etc/*", "/w/a", "/etc"],
    ["src/lib/index.ts", "/w", "/w/src/lib"],
    ["/*", "/w", "/"],
  ];
  for (const [pattern, root, expected] of cases) it(`${pattern} under ${root}`, () => expect(globDirectory(pattern, root)).toBe(expected));
});

describe("Claude Code paths it reads otherwise than as written", () => {
  // Claude Code trims a path and expands `~` before it opens anything, and hands Glob's and Grep's `path` to the
  // hook as the model wrote it (2.1.332): `~` would be judged a directory named `~` in the workspace.
  const refused: [tool: string, input: Record<string, unknown>][] = [
    ["Grep", { pattern: "PRIVATE KEY", path: "~" }],
    ["Glob", { pattern: "*", path: "~/.ssh" }],
    ["Grep", { pattern: "x", path: " /home/dev/.ssh" }],
    ["Glob", { pattern: "*", path: "/home/dev/.ssh\n" }],
    ["Glob", { pattern: "~/.ssh/*" }],
    ["Read", { file_path: "~/.aws/credentials" }],
    ["Write", { file_path: "/home/dev/workspace/a ", content: "x" }],
    ["Edit", { file_path: "~/.bashrc", old_string: "a", new_string: "b" }],
    ["NotebookEdit", { notebook_path: "~/n.ipynb", new_source: "x" }],
  ];
  for (const [tool, input] of refused) {
    it(`refuses ${tool} ${JSON.stringify(input)}`, () => expect(() => planCall(claudeCode, { name: tool, input }, context)).toThrow(expect.objectContaining({ code: "unknown_tool_shape" })));
  }

  it("reads a ~ that is not at the start, or inside a name, as written", () => {
    expect(planCall(claudeCode, { name: "Grep", input: { pattern: "x", path: "/home/dev/workspace/a~b" } }, context)[0]!.action.targets).toEqual([{ kind: "path", value: "/home/dev/workspace/a~b" }]);
  });
});

describe("Claude Code's Monitor", () => {
  it("a WebSocket is an http.request to its URL, sending data off the device, bound to the URL and its protocols", () => {
    expect(planCall(claudeCode, { name: "Monitor", input: { description: "Feed", ws: { url: "wss://feed.example/events", protocols: ["v1"] } } }, context)).toEqual([
      { action: { type: "http.request", targets: [{ kind: "url", value: "wss://feed.example/events" }], inputs_sha256: sha256('{"protocols":["v1"],"url":"wss://feed.example/events"}'), sends_external: true }, files: [] },
    ]);
  });

  it("runs in the background, as a Bash call asked to does: its outcome has no exit status", () => {
    expect(claudeCode.reportsAtStart!({ name: "Monitor", input: { command: "tail -f log" } })).toBe(true);
    expect(claudeCode.reportsAtStart!({ name: "Bash", input: { command: "sleep 9", run_in_background: true } })).toBe(true);
    expect(claudeCode.reportsAtStart!({ name: "Bash", input: { command: "ls" } })).toBe(false);
  });

  it("keeps Claude Code's own prompt for leaving the sandbox on the shell tools only: WebSearch's allowed_domains filters results", () => {
    expect(claudeCode.keepsOwnPrompt!({ name: "Bash", input: { command: "npm test", dangerouslyDisableSandbox: true } })).toBe(true);
    expect(claudeCode.keepsOwnPrompt!({ name: "Monitor", input: { command: "curl x", allowed_domains: ["x.example"] } })).toBe(true);
    expect(claudeCode.keepsOwnPrompt!({ name: "Bash", input: { command: "npm test", dangerouslyDisableSandbox: false } })).toBe(false);
    expect(claudeCode.keepsOwnPrompt!({ name: "WebSearch", input: { query: "warden", allowed_domains: ["docs.example"] } })).toBe(false);
  });
  for (const input of [{ command: "ls", ws: { url: "wss://a.example/" } }, { ws: "wss://a.example/" }, { ws: { url: "" } }]) {
    it(`refuses ${JSON.stringify(input)}`, () => expect(() => planCall(claudeCode, { name: "Monitor", input }, context)).toThrow(expect.objectContaining({ code: "unknown_tool_shape" })));
  }
});

describe("Claude Code calls for another machine", () => {
  for (const tool of ["Bash", "Read", "Write", "Edit", "Glob", "Grep", "PowerShell"]) {
    it(`refuses ${tool} with _host: it would run there, judged here`, () => {
      expect(() => planCall(claudeCode, { name: tool, input: { command: "rm -rf build", file_path: "/home/dev/workspace/a", content: "", old_string: "a", new_string: "b", pattern: "*", _host: "prod-box" } }, context)).toThrow(
        expect.objectContaining({ code: "unknown_tool_shape", message: expect.stringContaining("_host") }),
      );
    });
  }
});

describe("Claude Code's Bash shell, found as Claude Code finds it", () => {
  // Shells as files: executables named as Claude Code looks for them, in directories of their own.
  const shells = mkdtempSync(join(tmpdir(), "warden-shells-"));
  const shell = (path: string, mode = 0o755) => {
    mkdirSync(dirname(join(shells, path)), { recursive: true });
    writeFileSync(join(shells, path), "#!/bin/sh\n", { mode });
    return join(shells, path);
  };
  const zshOnPath = dirname(shell("path-only/zsh"));
  const rbash = shell("restricted/rbash");
  const customZsh = shell("custom/zsh");
  const notExecutable = shell("plain/zsh", 0o644);
  const bash5Sh = shell("bash-5/bin/sh");
  const cases: [name: string, env: Record<string, string>, platform: NodeJS.Platform, expected: string][] = [
    ["CLAUDE_CODE_SHELL first", { CLAUDE_CODE_SHELL: customZsh, SHELL: "/bin/bash" }, "linux", "zsh"],
    ["a path that merely contains bash (rbash)", { CLAUDE_CODE_SHELL: rbash, SHELL: "/bin/sh", PATH: zshOnPath }, "linux", "bash"],
    ["a named shell not executable is passed over", { CLAUDE_CODE_SHELL: notExecutable, SHELL: "/bin/bash" }, "linux", "bash"],
    ["fish is no candidate", { CLAUDE_CODE_SHELL: "/usr/bin/fish", SHELL: "/bin/bash" }, "linux", "bash"],
    // What the hook used to miss: zsh only on PATH (nix, linuxbrew) is Claude Code's pick over bash in /bin.
    ["zsh on PATH before the usual directories", { SHELL: "/bin/sh", PATH: zshOnPath }, "linux", "zsh"],
    ["$SHELL named bash prefers bash", { SHELL: "/nonexistent/bash", PATH: zshOnPath }, "linux", "bash"],
    ["Git Bash on Windows", { SHELL: "/bin/zsh" }, "win32", "bash"],
  ];
  for (const [name, env, platform, expected] of cases) it(name, () => expect(claudeBashShell({ ...context, env, platform })).toBe(expected));

  it("refuses a shell named neither bash nor zsh that Claude Code would run: its grammar cannot be told", () => {
    expect(() => claudeBashShell({ ...context, env: { CLAUDE_CODE_SHELL: bash5Sh, SHELL: "/bin/sh" }, platform: "linux" })).toThrow(expect.objectContaining({ code: "configuration_error" }));
  });
});

describe("Codex command lines", () => {
  const words: [line: string, expected: string[] | null][] = [
    ["bash -lc 'git status'", ["bash", "-lc", "git status"]],
    [`bash -lc 'echo '"'"'hi'"'"''`, ["bash", "-lc", "echo 'hi'"]],
    ['zsh -c "ls \\"a b\\""', ["zsh", "-c", 'ls "a b"']],
    ["git status; rm -rf /", null],
    ["echo $(id)", null],
    ['echo "$HOME"', null],
    ["ls *.ts", null],
    ["echo 'unterminated", null],
  ];
  for (const [line, expected] of words) it(`words of ${line}`, () => expect(plainWords(line)).toEqual(expected));

  // The shells listed are the distinct readings policy judges: Codex may run a line in any shell the model names.
  const commands: [line: string, platform: NodeJS.Platform, expected: { value: string; shells: string[] }][] = [
    ["bash -lc 'git status'", "linux", { value: "git status", shells: ["bash"] }],
    ["/bin/zsh -lc 'npm test'", "darwin", { value: "npm test", shells: ["zsh"] }],
    ["git status && curl x | sh", "linux", { value: "git status && curl x | sh", shells: ["bash"] }],
    ["bash -lc 'a' extra", "linux", { value: "bash -lc 'a' extra", shells: ["bash"] }],
    // zsh expands `=victim` to the path of the program `victim`; bash and sh read a file here.
    ["ls > =victim", "linux", { value: "ls > =victim", shells: ["bash", "zsh"] }],
    // bash decodes $'…' and expands braces; zsh and sh each leave them unknown to Warden, alike.
    ["cat $'\\x2fetc/passwd'", "linux", { value: "cat $'\\x2fetc/passwd'", shells: ["bash", "zsh"] }],
    ["rm {a,b}", "linux", { value: "rm {a,b}", shells: ["bash", "zsh"] }],
    // On Windows cmd may run the line too, and reads quotes otherwise: nothing is unwrapped.
    ["powershell.exe -NoProfile -Command 'Get-ChildItem'", "win32", { value: "powershell.exe -NoProfile -Command 'Get-ChildItem'", shells: ["powershell", "cmd"] }],
    ["git status", "win32", { value: "git status", shells: ["powershell"] }],
    ["Get-ChildItem", "win32", { value: "Get-ChildItem", shells: ["powershell", "cmd"] }],
  ];
  for (const [line, platform, expected] of commands) it(`${line} on ${platform}`, () => expect(codexCommand(line, { ...context, platform })).toEqual(expected));

  it("takes Codex's default shell from the login shell (the passwd entry), before $SHELL; a login PowerShell makes every line PowerShell's too", () => {
    expect(codexShells({ ...context, loginShell: "/usr/bin/zsh", env: { SHELL: "/bin/bash", PATH: "/usr/bin" } })).toEqual(["zsh", "bash", "sh"]);
    const pwsh = { ...context, loginShell: "/opt/microsoft/powershell/7/pwsh", env: { SHELL: "/bin/bash", PATH: "/usr/bin" } };
    expect(codexShells(pwsh)).toEqual(["powershell", "bash", "zsh", "sh"]);
    expect(codexCommand("bash -lc 'git status'", pwsh).value).toBe("bash -lc 'git status'");
  });

  it("a line no shell's analysis reads (a control character) is one reading: Warden refuses it once, for its reason", () => {
    expect(codexCommand("ls \u0007", context)).toEqual({ value: "ls \u0007", shells: ["bash"] });
  });

  it("names PowerShell by pwsh too, with or without .exe", () => {
    expect(codexCommand("pwsh.exe -Command Get-Item", context)).toEqual({ value: "Get-Item", shells: ["powershell"] });
  });

  it("judges every shell's reading when the analysis is not loaded (no two are known to agree)", () => {
    const { analyse: _, ...withoutAnalysis } = context;
    expect(codexCommand("git status", withoutAnalysis)).toEqual({ value: "git status", shells: ["bash", "zsh", "sh"] });
  });

  it("names every shell Codex may run a line in, its default first, PowerShell where one is installed", () => {
    expect(codexShells({ ...context, env: { SHELL: "/usr/bin/zsh", PATH: "/usr/bin:/bin" } })).toEqual(["zsh", "bash", "sh"]);
    expect(codexShells({ ...context, platform: "win32", env: {} })).toEqual(["powershell", "cmd", "bash", "sh", "zsh"]);
    const bin = mkdtempSync(join(tmpdir(), "warden-pwsh-"));
    writeFileSync(join(bin, "pwsh"), "");
    const withPwsh = { ...context, env: { SHELL: "/bin/bash", PATH: `/usr/bin${delimiter}${bin}` } };
    expect(codexShells(withPwsh)).toEqual(["bash", "zsh", "sh", "powershell"]);
    // PowerShell reads `\"` inside double quotes as a backslash and a closing quote: no POSIX unwrapping then.
    expect(codexCommand('bash -lc "echo \\"x\\""', withPwsh).value).toBe('bash -lc "echo \\"x\\""');
  });
});

describe("apply_patch files", () => {
  it("adds, updates, moves and deletes", () => {
    const patch = [
      "*** Begin Patch",
      "*** Add File: new.ts",
      "+x",
      "*** Update File: /abs/old.ts",
      "*** Move to: moved.ts",
      "@@",
      "-a",
      "+b",
      "*** Update File: kept.ts",
      "@@",
      " c",
      "*** End of File",
      "*** Delete File: gone.ts",
      "*** End Patch",
    ].join("\n");
    expect(patchFiles(patch, "/w")).toEqual({ written: ["/w/new.ts", "/w/moved.ts", "/w/kept.ts"], deleted: ["/abs/old.ts", "/w/gone.ts"] });
  });

  // Codex trims a hunk's header line and takes everything after the marker as the path (codex-rs/apply-patch parser.rs).
  it("reads headers as Codex does: indented after an added file's lines, the path's own blanks", () => {
    const patch = [
      "*** Begin Patch",
      "*** Add File: notes.txt",
      "+x",
      "  *** Delete File: /home/dev/.ssh/authorized_keys",
      "\t*** Update File:  spaced.ts",
      "*** Move to: moved.ts",
      "@@",
      "-a",
      "+b",
      "*** End Patch",
    ].join("\r\n");
    expect(patchFiles(patch, "/w")).toEqual({ written: ["/w/notes.txt", "/w/moved.ts"], deleted: ["/home/dev/.ssh/authorized_keys", "/w/ spaced.ts"] });
  });

  const broken: [name: string, patch: string][] = [
    ["no envelope", "*** Add File: a\n+x"],
    // Rust trims U+0085 and not U+FEFF; JavaScript the other way round.
    ["a header behind U+0085", "*** Begin Patch\n*** Add File: a\n+x\n\u0085*** Delete File: b\n*** End Patch"],
    ["a path ending in U+FEFF", "*** Begin Patch\n*** Add File: a\ufeff\n+x\n*** End Patch"],
    ["no end", "*** Begin Patch\n*** Add File: a\n+x"],
    ["an unknown header", "*** Begin Patch\n*** Chmod File: a\n*** End Patch"],
    ["a move without an update", "*** Begin Patch\n*** Move to: b\n*** End Patch"],
    // Codex 0.171 trims a move line (test/node/codex-patches.test.ts); earlier releases read it as it stands.
    ["a move with trailing blanks", "*** Begin Patch\n*** Update File: a\n*** Move to: .env  \n@@\n-x\n+y\n*** End Patch"],
    ["an indented move", "*** Begin Patch\n*** Update File: a\n  *** Move to: b\n@@\n-x\n+y\n*** End Patch"],
    ["no file", "*** Begin Patch\n*** End Patch"],
  ];
  for (const [name, patch] of broken) {
    it(`refuses ${name}`, () => expect(() => patchFiles(patch, "/w")).toThrow(expect.objectContaining({ code: "unknown_tool_shape" })));
  }
});

// Codex applies these shell calls itself (codex-rs/apply-patch invocation.rs): the shell never runs them.
describe("Codex shell calls that are patches", () => {
  const patch = "*** Begin Patch\n*** Delete File: b\n*** End Patch";
  const quoted = (text: string) => `'${text.replaceAll("'", `'"'"'`)}'`;
  const at = { cwd: "/w", platform: "linux" as const, env: { SHELL: "/bin/bash" } };
  const read: [line: string, expected: { patch: string; cwd: string }][] = [
    [`apply_patch ${quoted(patch)}`, { patch, cwd: "/w" }],
    [`applypatch ${quoted(patch.replaceAll("\n", "\r\n"))}`, { patch, cwd: "/w" }],
    [`bash -lc ${quoted(`apply_patch <<'EOF'\n${patch}\nEOF\n`)}`, { patch, cwd: "/w" }],
    [`/bin/zsh -c ${quoted(`cd sub && apply_patch <<"PATCH"\n${patch}\nPATCH`)}`, { patch, cwd: "/w/sub" }],
    // Codex names the shell by its file stem: Debian's /bin/sh.distrib is sh.
    [`/bin/sh.distrib -c ${quoted(`apply_patch <<'EOF'\n${patch}\nEOF`)}`, { patch, cwd: "/w" }],
    [`powershell.exe -NoProfile -Command ${quoted(`apply_patch <<"EOF"\n${patch}\nEOF`)}`, { patch, cwd: "/w" }],
    [`cmd /C ${quoted(`apply_patch <<'EOF'\n${patch}\nEOF`)}`, { patch, cwd: "/w" }],
    // A line Codex runs with the user's shell is itself the script.
    [`apply_patch <<'EOF'\n${patch}\nEOF`, { patch, cwd: "/w" }],
  ];
  for (const [line, expected] of read) it(`reads ${JSON.stringify(line.slice(0, 40))}`, () => expect(interceptedPatch(line, at)).toEqual(expected));

  it("plans the patch's files, not a command", () => {
    const planned = planCall(codex, { name: "Bash", input: { command: `bash -lc ${quoted(`apply_patch <<'EOF'\n${patch}\nEOF`)}` } }, context);
    expect(planned).toEqual([{ action: { type: "file.delete", targets: [{ kind: "path", value: "/home/dev/workspace/b" }], inputs_sha256: sha256(patch) }, files: ["/home/dev/workspace/b"] }]);
  });

  // Not the shape Codex writes, or one a shell reads otherwise: a command, whose apply_patch the analysis marks opaque.
  const commands = [
    // Unquoted, a shell that runs the line expands `$(…)` in the body.
    `bash -lc ${quoted(`apply_patch <<EOF\n${patch}\n+$(id)\nEOF`)}`,
    // The body ends at the first delimiter line: what follows it is a command.
    `bash -lc ${quoted(`apply_patch <<'EOF'\n*** Begin Patch\n*** Add File: a\n+x\nEOF\necho PWNED\n*** End Patch\nEOF`)}`,
    `bash -lc ${quoted(`apply_patch  <<'EOF'\n${patch}\nEOF`)}`,
    `bash -lc ${quoted(`cd "a b" && apply_patch <<'EOF'\n${patch}\nEOF`)}`,
    `bash -lc ${quoted(`\\\napply_patch <<'EOF'\n${patch}\nEOF`)}`,
    `apply_patch ${quoted(patch)} extra`,
    "printf %s \"$P\" | apply_patch",
    // On Linux a backslash is part of a file name: `a\bash` is not bash.
    `a\\bash -lc ${quoted(`apply_patch <<'EOF'\n${patch}\nEOF`)}`,
    "grep -r apply_patch src",
    "bash -lc 'ls'",
    // Codex's parser ends the body at a line that begins with the delimiter; its query takes no number for `cd`.
    `bash -lc ${quoted(`apply_patch <<'EOF'\n*** Begin Patch\n*** Add File: a\n+x\nEOFX\n*** End Patch\nEOF`)}`,
    `bash -lc ${quoted(`cd 123 && apply_patch <<'EOF'\n${patch}\nEOF`)}`,
  ];
  for (const line of commands) it(`leaves ${JSON.stringify(line.slice(0, 50))} a command`, () => expect(interceptedPatch(line, at)).toBeNull());

  it("reads a raw line as Codex's only under a shell Codex reads scripts of", () => {
    const line = `apply_patch <<'EOF'\n${patch}\nEOF`;
    expect(interceptedPatch(line, { ...at, env: { SHELL: "/usr/bin/zsh" } })).toEqual({ patch, cwd: "/w" });
    expect(interceptedPatch(line, { ...at, env: { SHELL: "/usr/bin/fish" } })).toBeNull();
    expect(interceptedPatch(line, { ...at, env: {} })).toBeNull();
  });

  // Some Codex versions expand a leading `~` in a patch's paths and in `workdir`, others do not.
  it("refuses a path, a workdir or an image under ~", () => {
    for (const header of ["*** Add File: ~/.bashrc\n+x", "*** Update File: a\n*** Move to: ~/b\n@@\n-a\n+b", "*** Delete File: ~"]) {
      expect(() => patchFiles(`*** Begin Patch\n${header}\n*** End Patch`, "/w")).toThrow(expect.objectContaining({ code: "unknown_tool_shape" }));
    }
    expect(() => planCall(codex, { name: "Bash", input: { command: "ls", workdir: "~/x" } }, context)).toThrow(expect.objectContaining({ code: "unknown_tool_shape" }));
    expect(() => planCall(codex, { name: "view_image", input: { path: "~/Pictures/id.png" } }, context)).toThrow(expect.objectContaining({ code: "unknown_tool_shape" }));
  });
});

describe("hook input", () => {
  const valid = { hook_event_name: "PreToolUse", cwd: "/w", tool_name: "Read", tool_input: { file_path: "/w/a" }, tool_use_id: "t1", session_id: "s", permission_mode: "default", extra: 1 };
  it("keeps the fields the hooks use and the context to log", () => {
    expect(parseHookInput(JSON.stringify(valid))).toMatchObject({ event: "PreToolUse", cwd: "/w", toolName: "Read", toolUseId: "t1", context: { session_id: "s", permission_mode: "default" } });
    expect(parseHookInput(JSON.stringify({ ...valid, cwd: "C:\\project" })).cwd).toBe("C:\\project");
  });
  const bad: [name: string, value: unknown, code: string][] = [
    ["not JSON", "{", "malformed_input"],
    ["an array", [], "malformed_input"],
    ["no event", { ...valid, hook_event_name: undefined }, "malformed_input"],
    ["another event", { ...valid, hook_event_name: "SessionStart" }, "unsupported_event"],
    ["a relative cwd", { ...valid, cwd: "w" }, "malformed_input"],
    ["no tool name", { ...valid, tool_name: "" }, "malformed_input"],
    ["tool input not an object", { ...valid, tool_input: "ls" }, "malformed_input"],
    ["an empty tool_use_id", { ...valid, tool_use_id: "" }, "malformed_input"],
  ];
  for (const [name, value, code] of bad) {
    it(`refuses ${name} (${code})`, () => {
      const text = typeof value === "string" ? value : JSON.stringify(value);
      expect(() => parseHookInput(text)).toThrow(HookFailure);
      expect(() => parseHookInput(text)).toThrow(expect.objectContaining({ code }));
    });
  }
});
