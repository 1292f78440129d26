// cedar-wasm's `web` build: the same bindings in workerd and in Node. Each runtime
// instantiates the module once before first use (worker/policy/cedar-workerd.ts in
// the worker, cli/cedar-node.ts in the CLI).
export {
  checkParseSchema,
  initSync,
  policySetTextToParts,
  policyToJson,
  preparsePolicySet,
  preparseSchema,
  schemaToJson,
  statefulIsAuthorized,
  validate,
} from "@cedar-policy/cedar-wasm/web";
export type { AuthorizationAnswer, CedarValueJson, Context, DetailedError, EntityJson, PolicyJson, StatefulAuthorizationCall } from "@cedar-policy/cedar-wasm/web";
