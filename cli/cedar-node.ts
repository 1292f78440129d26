// In Node the CLI reads the same .wasm the worker bundles (by path: the package does
// not export it) and instantiates it once.
import { readFileSync } from "node:fs";
import { initSync } from "../worker/policy/cedar.ts";

initSync({ module: readFileSync(new URL("../node_modules/@cedar-policy/cedar-wasm/web/cedar_wasm_bg.wasm", import.meta.url)) });
