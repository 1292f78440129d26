#!/usr/bin/env node
// The `warden` command: runs the compiled CLI in dist/ (`npm run build`; `npm ci` builds it through `prepare`).
let cli;
try {
  cli = await import("../dist/cli/main.js");
} catch (error) {
  if (error?.code !== "ERR_MODULE_NOT_FOUND" || !String(error.message).includes("dist/cli/main.js")) throw error;
  process.stderr.write("warden: the CLI is not built (dist/cli/main.js is missing): run `npm run build`\n");
  // 2, not 1: an agent hook reads 1 as "let the action through"; a missing CLI must block.
  process.exit(2);
}
// exitCode rather than process.exit(): let stdout drain when it is a pipe.
process.exitCode = await cli.main(process.argv.slice(2));
