#!/usr/bin/env node
// `npm test`: install what the tests need beyond npm packages (a software TPM, chromium),
// type-check, check the module graph (scripts/check-imports.mjs), build the CLI if the sources
// changed, run every test inside workerd (vitest +
// @cloudflare/vitest-pool-workers), then the Node suites against `wrangler dev` — the reviewer
// page in headless Chromium, the agent hooks through the compiled CLI — closing with one
// "N passed, N failed" line. Any suite's failure fails the run.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const env = { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: process.env.CLOUDFLARE_CF_FETCH_ENABLED ?? "false" };

function run(command, args) {
  const result = spawnSync(command, args, { cwd: root, stdio: "inherit", env });
  return result.status ?? 1;
}

/**
 * The run's verdict from each suite's exit status and JSON report: a suite that exited non-zero
 * counts at least one failure even when its report counts none (a crash in a hook, an error
 * outside any test), and a suite that left no report counts as one failure, never as nothing —
 * so the closing line and the exit status always agree.
 */
export function verdict(suites) {
  const reports = suites.map(({ status, report = { numPassedTests: 0, numFailedTests: 1, numPendingTests: 0 } }) =>
    status !== 0 && report.numFailedTests === 0 ? { ...report, numFailedTests: 1 } : report,
  );
  const sum = (key) => reports.reduce((total, part) => total + part[key], 0);
  const [passed, failed, pending] = [sum("numPassedTests"), sum("numFailedTests"), sum("numPendingTests")];
  return { passed, failed, pending, exitCode: failed === 0 ? 0 : 1, line: `${passed} passed, ${failed} failed${pending ? `, ${pending} skipped` : ""}` };
}

async function main() {
  for (const [command, args] of [
    ["sh", ["scripts/install-test-deps.sh"]],
    ["npx", ["tsc", "--noEmit", "-p", "."]],
    [process.execPath, ["scripts/check-imports.mjs"]],
    [process.execPath, ["scripts/build.mjs", "--if-stale"]],
  ]) {
    const status = run(command, args);
    if (status !== 0) process.exit(status);
  }

  const out = mkdtempSync(join(tmpdir(), "warden-test-"));
  const named = process.argv.length > 2;
  // The workers suite takes the arguments (test files); the Node suites run only when none are named.
  const suites = [
    { name: "workers", args: process.argv.slice(2) },
    ...(named
      ? []
      : [
          { name: "browser", args: ["--config", "vitest.browser.config.mts"] },
          { name: "node", args: ["--config", "vitest.node.config.mts"] },
        ]),
  ];
  const results = [];
  for (const suite of suites) {
    const file = join(out, `${suite.name}.json`);
    const status = run("npx", ["vitest", "run", "--reporter=default", "--reporter=json", `--outputFile.json=${file}`, ...suite.args]);
    results.push({ status, report: existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : undefined });
  }
  const result = verdict(results);
  console.log(`\n${result.line}`);
  rmSync(out, { recursive: true, force: true });
  process.exit(result.exitCode);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
