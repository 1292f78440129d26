// In Node the CLI reads the same .wasm the worker bundles and instantiates it once. The
// package exports only its JS, so the .wasm is found beside the resolved `web` entry: this
// holds from cli/ under tsx and from the compiled chunks in dist/cli/ alike.
import { readFileSync } from "node:fs";
import { initSync } from "../worker/policy/cedar.ts";

initSync({ module: readFileSync(new URL("cedar_wasm_bg.wasm", import.meta.resolve("@cedar-policy/cedar-wasm/web"))) });
