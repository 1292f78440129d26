#!/usr/bin/env node
// `npm test`: install what the tests need beyond npm packages (a software TPM, chromium),
// type-check, check the module graph (scripts/check-imports.mjs), run every test inside workerd (vitest + @cloudflare/vitest-pool-workers), then
// the reviewer page in headless Chromium, closing with one "N passed, N failed" line.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const env = { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: process.env.CLOUDFLARE_CF_FETCH_ENABLED ?? "false" };

function run(command, args) {
  const result = spawnSync(command, args, { cwd: root, stdio: "inherit", env });
  return result.status ?? 1;
}

for (const [command, args] of [
  ["sh", ["scripts/install-test-deps.sh"]],
  ["npx", ["tsc", "--noEmit", "-p", "."]],
  ["node", ["scripts/check-imports.mjs"]],
]) {
  const status = run(command, args);
  if (status !== 0) process.exit(status || browserStatus);
}

const out = mkdtempSync(join(tmpdir(), "warden-test-"));
const report = join(out, "vitest.json");
const named = process.argv.length > 2;
const status = run("npx", ["vitest", "run", "--reporter=default", "--reporter=json", `--outputFile.json=${report}`, ...process.argv.slice(2)]);
// The reviewer page in headless Chromium runs in Node against wrangler dev (test/browser/); not when test files are named.
const browserReport = join(out, "browser.json");
const browserStatus = named ? 0 : run("npx", ["vitest", "run", "--config", "vitest.browser.config.mts", "--reporter=default", "--reporter=json", `--outputFile.json=${browserReport}`]);
try {
  const reports = [report, ...(named ? [] : [browserReport])].map((file) => JSON.parse(readFileSync(file, "utf8")));
  const sum = (key) => reports.reduce((total, part) => total + part[key], 0);
  const [numPassedTests, numFailedTests, numPendingTests] = [sum("numPassedTests"), sum("numFailedTests"), sum("numPendingTests")];
  console.log(`\n${numPassedTests} passed, ${numFailedTests} failed${numPendingTests ? `, ${numPendingTests} skipped` : ""}`);
} catch {
  console.log("\n0 passed, 1 failed");
}
rmSync(out, { recursive: true, force: true });
process.exit(status);
