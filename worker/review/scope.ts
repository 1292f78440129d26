import type { Deps } from "../context.ts";

/**
 * What a review flow runs with: the worker's bindings and its injected dependencies (time,
 * randomness, ids, Durable Object stubs). Routes pass `{ env: c.env, deps: c.var.deps }`;
 * the flows never see HTTP.
 */
export interface ReviewScope {
  env: Env;
  deps: Deps;
}
