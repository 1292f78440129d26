#!/usr/bin/env node
// `npm test`: type-check, then every test inside workerd (vitest + @cloudflare/vitest-pool-workers).
// Anything the tests need beyond npm packages is installed from here, so a clean clone passes.
import { spawnSync } from "node:child_process";

function run(command, args) {
  const result = spawnSync(command, args, { stdio: "inherit", env: { ...process.env, WRANGLER_SEND_METRICS: "false" } });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

run("npx", ["tsc", "--noEmit", "-p", "."]);
run("npx", ["vitest", "run", ...process.argv.slice(2)]);
