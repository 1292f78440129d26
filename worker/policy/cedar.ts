// cedar-wasm's `web` build, instantiated synchronously from the module the bundler
// compiled; the .wasm is imported by path because the package does not export it.
import { initSync } from "@cedar-policy/cedar-wasm/web";
// @ts-expect-error -- the package types the .wasm as its exports; the Workers bundler hands over the compiled module.
import cedarModule from "../../node_modules/@cedar-policy/cedar-wasm/web/cedar_wasm_bg.wasm";

initSync({ module: cedarModule });

export {
  checkParseSchema,
  policySetTextToParts,
  policyToJson,
  preparsePolicySet,
  preparseSchema,
  schemaToJson,
  statefulIsAuthorized,
  validate,
} from "@cedar-policy/cedar-wasm/web";
export type { AuthorizationAnswer, Context, DetailedError, EntityJson, PolicyJson } from "@cedar-policy/cedar-wasm/web";
