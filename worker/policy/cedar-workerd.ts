// In workerd the .wasm is imported by path (the package does not export it) and the
// bundler hands over the compiled module, so instantiation is synchronous.
import { initSync } from "./cedar.ts";
// @ts-expect-error -- the package types the .wasm as its exports; the Workers bundler hands over the compiled module.
import cedarModule from "../../node_modules/@cedar-policy/cedar-wasm/web/cedar_wasm_bg.wasm";

initSync({ module: cedarModule as WebAssembly.Module });
