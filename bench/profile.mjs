#!/usr/bin/env node
// Investigation aid: CPU profile of the worker isolate serving decisions vs appends (see bench/profile.ts).
import { register } from "tsx/esm/api";

register();
const { runProfile } = await import("./profile.ts");
await runProfile(Number(process.argv[2] ?? "1000"));
