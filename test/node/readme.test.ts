/**
 * The README's walkthroughs, copy-pasted as a user would: every ```sh block marked
 * `<!-- walkthrough -->`, in order, in one bash session, in a scratch copy of the repository
 * where `npm start -- --port <free port>` runs — the real scripts/dev.mjs on a non-default port,
 * with its own .dev.vars, development publisher key and local state. The only edit is the port
 * in the URL. A command's expected exit status is the `exit N` its comment names (0 otherwise).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import { freePort } from "../free-port.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), "warden-readme-"));
const copy = join(scratch, "warden");
const home = join(scratch, "home");
let port: number;
let server: ChildProcess | undefined;
let serverOutput = "";

/** The walkthrough blocks of a README, as one list of commands (continuation lines joined). */
export function walkthroughCommands(readme: string): string[] {
  const blocks = [...readme.matchAll(/<!-- walkthrough -->\n```sh\n([\s\S]*?)```/g)].map((match) => match[1]!);
  const commands: string[] = [];
  for (const block of blocks) {
    let pending = "";
    for (const line of block.split("\n")) {
      if (pending === "" && (line.trim() === "" || line.trimStart().startsWith("#"))) continue;
      pending += line;
      if (pending.endsWith("\\")) pending += "\n";
      else {
        commands.push(pending);
        pending = "";
      }
    }
  }
  return commands;
}

/** The exit status a command's comment promises (`# deny, exit 10`), else 0. */
function expectedStatus(command: string): number {
  const comment = /\s#\s[^'"]*$/.exec(command.split("\n").at(-1)!)?.[0] ?? "";
  return Number(/\bexit (\d+)\b/.exec(comment)?.[1] ?? 0);
}

beforeAll(async () => {
  // The tracked files as they are in this tree, and the compiled CLI (copied: the walkthrough
  // writes its artifact under dist/); dependencies by link.
  const files = spawnSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: root, encoding: "utf8" }).stdout.split("\0").filter(Boolean);
  for (const file of files) {
    mkdirSync(dirname(join(copy, file)), { recursive: true });
    cpSync(join(root, file), join(copy, file));
  }
  symlinkSync(join(root, "node_modules"), join(copy, "node_modules"));
  cpSync(join(root, "dist"), join(copy, "dist"), { recursive: true });
  mkdirSync(home);

  port = await freePort();
  server = spawn(process.execPath, ["scripts/dev.mjs", "--port", String(port), "--inspector-port", String(await freePort()), "--show-interactive-dev-session=false"], {
    cwd: copy,
    env: { ...process.env, CI: "true", NO_COLOR: "1", HOME: home },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  server.stdout?.on("data", (chunk) => (serverOutput += chunk));
  server.stderr?.on("data", (chunk) => (serverOutput += chunk));
  for (let waited = 0; !serverOutput.includes("Warden is ready at"); waited += 250) {
    if (server.exitCode !== null) throw new Error(`npm start exited with ${server.exitCode}:\n${serverOutput}`);
    if (waited > 120_000) throw new Error(`npm start was not ready within 120 s:\n${serverOutput}`);
    await sleep(250);
  }
}, 150_000);

afterAll(async () => {
  if (server?.pid && server.exitCode === null) {
    process.kill(-server.pid, "SIGTERM");
    await Promise.race([new Promise((resolve) => server!.once("exit", resolve)), sleep(5000)]);
  }
  rmSync(scratch, { recursive: true, force: true });
});

it("npm start on a non-default port says where it is, with the links on that port", () => {
  expect(serverOutput).toContain(`Warden is ready at http://localhost:${port}`);
  expect(serverOutput).toContain(`reviewer page http://localhost:${port}/review`);
});

it("runs every README walkthrough command with the exit status it promises", () => {
  const readme = readFileSync(join(copy, "README.md"), "utf8").replaceAll("localhost:8787", `localhost:${port}`);
  const commands = walkthroughCommands(readme);
  expect(commands.length).toBeGreaterThan(15);
  const script = ["set -u", "set -o pipefail"];
  commands.forEach((command, index) => {
    const expected = expectedStatus(command);
    script.push(
      `echo ${JSON.stringify(`+ [${index + 1}] ${command.split("\n")[0]}`)} >&2`,
      command,
      `status=$?; if [ "$status" -ne ${expected} ]; then echo ${JSON.stringify(`README walkthrough command ${index + 1} exited `)}"$status"${JSON.stringify(`, expected ${expected}: ${command.split("\n")[0]}`)} >&2; exit 1; fi`,
    );
  });
  const run = spawnSync("bash", ["-c", script.join("\n")], {
    cwd: copy,
    encoding: "utf8",
    env: { ...process.env, HOME: home, NO_COLOR: "1", WRANGLER_SEND_METRICS: "false" },
    timeout: 240_000,
  });
  expect(run.status, `${run.stdout}\n${run.stderr}\n--- npm start ---\n${serverOutput}`).toBe(0);
  // What the walkthroughs show happened.
  expect(run.stdout).toContain('"decision": "review"');
  expect(run.stdout).toContain(`http://localhost:${port}/review/enroll#`);
  expect(run.stdout).toMatch(/VERIFIED/);
}, 300_000);
