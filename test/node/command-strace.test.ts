/**
 * The command tables against the programs themselves: every option each program's `--help` lists
 * (alone, as its shortest unique prefix, and with a path as its value) is run under strace in a
 * sandbox of its own, and whatever the run read, wrote, deleted, executed or connected to must be
 * in what Warden's analysis of the same line says (test/node/command-strace.ts has the rules).
 * A line the analysis refuses, or marks opaque or unresolved, claims nothing and is counted apart.
 *
 * Needs strace and unshare (scripts/install-test-deps.sh) and runs as a user allowed to make a
 * network namespace (root in CI), so that no line reaches anything.
 */
import { describe, expect, it } from "vitest";
import { check, linesFor, PROGRAMS } from "./command-strace.ts";
import { traceLine, type Access } from "./strace.ts";

const CONCURRENCY = 4;

describe("the command tables against strace of the programs", () => {
  it("the harness sees a read, a write, a delete, a program run and a connection", async () => {
    const traced = await traceLine("cat ~/.ssh/id_rsa > ~/out; rm ~/.aws/creds.json; curl -s http://127.0.0.1:9/ || true");
    const seen = traced.accesses.map((access) => (access.kind === "exec" ? `exec ${access.argv0}` : access.kind === "connect" ? `connect ${access.address}:${access.port}` : access.kind === "rename" ? "rename" : `${access.kind} ${access.path.slice(traced.home.length)}`));
    expect(seen).toEqual(expect.arrayContaining(["read /.ssh/id_rsa", "write /out", "delete /.aws/creds.json", "exec cat", "exec rm", "exec curl", "connect 127.0.0.1:9"]));
  });

  it("a line whose analysis leaves out what runs is caught", async () => {
    // `ls -lt DIR` when -t was taken for an option with a value: the analysis listed the working directory only.
    const result = await check("ls -lt ~/.ssh");
    expect(result.unjudged).toEqual([]);
    const wrong = await check("ls -lt ~/.ssh", (line) => line.replace("~/.ssh", "~/proj"));
    expect(wrong.unjudged?.map((access) => access.kind === "read" && access.path.endsWith("/.ssh"))).toContain(true);
  });

  // Each rule of the judge that lets an access pass is narrow: a run is held to an analysis of another line that misses it.
  it.each([
    ["cat ~/.ssh/id_rsa", "mkdir -p ~/.ssh; cat", (access: Access) => access.kind === "read" && access.path.endsWith("/.ssh/id_rsa")],
    ["mv ~/.ssh/id_rsa ~/.ssh/x", "touch ~/.ssh/x; mv", (access: Access) => access.kind === "rename"],
    ["touch -c -d 2000-01-01 ~/.ssh/id_rsa", "cat ~/.ssh/id_rsa; touch", (access: Access) => access.kind === "write" && access.syscall === "utimensat"],
    ["stat ~/.ssh/id_rsa", "stat", (access: Access) => access.kind === "read" && access.metadata === true && access.path.endsWith("/.ssh/id_rsa")],
    ["ls", "ls ~/.ssh", (access: Access) => access.kind === "read" && access.listing === true && access.path.endsWith("/proj")],
    ["echo x > ~/.ssh/evil; rm ~/.ssh/evil", "echo x > ~/.ssh/config; rm", (access: Access) => access.kind === "write" && access.path.endsWith("/.ssh/evil")],
    ["mv ~/.ssh/id_rsa ~/.ssh/x", "mv ~/.ssh/id_rsa", (access: Access) => access.kind === "rename"],
    ["cat ~/.ssh/id_rsa", "cat > ~/.ssh/id_rsa", (access: Access) => access.kind === "read" && access.path.endsWith("/.ssh/id_rsa")],
    ["ls ~/.ssh", "ls ~/.ssh/id_rsa", (access: Access) => access.kind === "read" && access.listing === true],
    ["ln -s ../.ssh/id_rsa l; cat l", "cat l", (access: Access) => access.kind === "read" && access.syscall === "openat" && access.metadata !== true && access.path.endsWith("/.ssh/id_rsa")],
  ] as const)("a run of `%s` held to the analysis of `%s` is caught", async (line, other, caught) => {
    const result = await check(line, () => other);
    expect(result.unjudged?.some(caught)).toBe(true);
  });

  for (const program of PROGRAMS) {
    it(`${program.line.replace("{o}", "OPTION")}: each option${program.options === undefined ? " of --help" : ""}, run, is in the analysis`, { timeout: 300_000 }, async () => {
      const lines = linesFor(program);
      expect(lines.length).toBeGreaterThanOrEqual(program.options?.length ?? 5);
      const failures: string[] = [];
      let claimed = 0;
      let next = 0;
      const worker = async () => {
        while (next < lines.length) {
          const line = lines[next++] as string;
          const result = await check(line);
          if (program.unresolved === true) {
            if (result.unjudged !== null) failures.push(`${line}\n    claimed, but the files it works on come from a list`);
            continue;
          }
          if (result.unjudged === null) continue;
          claimed++;
          if (result.unjudged.length > 0) failures.push(`${line}\n    ${result.unjudged.map((access) => JSON.stringify(access)).join("\n    ")}`);
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      expect(failures).toEqual([]);
      // Most lines of a --help sweep must be claims the run can contradict, or it proves nothing. A
      // chosen line may be one the analysis must not claim (names read from a list, numbered
      // backups): claimed, the run would contradict it.
      if (program.options === undefined) expect(claimed).toBeGreaterThan(lines.length * (program.share ?? 0.5));
    });
  }
});
