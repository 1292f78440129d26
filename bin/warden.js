#!/usr/bin/env node
// The `warden` command: runs cli/main.ts through tsx, so the CLI ships as TypeScript source.
import { tsImport } from "tsx/esm/api";

const { main } = await tsImport("../cli/main.ts", import.meta.url);
// exitCode rather than process.exit(): let stdout drain when it is a pipe.
process.exitCode = await main(process.argv.slice(2));
