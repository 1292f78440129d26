import { spawnSync } from "node:child_process";
import { mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { TestProject } from "vitest/node";
import { startWarden } from "../wrangler-dev.ts";
import { HOOK_GROUP, hookTestBundle } from "./bundle.ts";

/** What every Node test file gets through `inject("warden")`. */
export interface NodeSuiteContext {
  /** The reviewer origin (REVIEW_ORIGIN, what a passkey is bound to). */
  url: string;
  /** The same server by address, for the CLI and other Node clients. */
  api: string;
  adminToken: string;
  /** wrangler dev's local state directory (`warden bundle publish --persist-to`). */
  persist: string;
  auditorToken: string;
  /** The publisher keys the server trusts (a JWK Set), for verifying artifacts offline. */
  publisherKeys: string;
  /** A temporary project directory the canary bundle permits (fixtures' /home/dev/workspace is replaced by it). */
  workspace: string;
}

declare module "vitest" {
  export interface ProvidedContext {
    warden: NodeSuiteContext;
  }
}

const root = fileURLToPath(new URL("../..", import.meta.url));

/**
 * Vitest globalSetup for test/node: the CLI compiled to dist/ (the suite runs that, never the
 * sources), then one `wrangler dev` for every file, with the example bundle active and the
 * hook tests' bundle as the canary of group "hooks".
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const built = spawnSync(process.execPath, [join(root, "scripts/build.mjs"), "--if-stale"], { cwd: root, stdio: "inherit" });
  if (built.status !== 0) throw new Error("building the CLI failed");
  const workspace = realpathSync(mkdtempSync(join(tmpdir(), "warden-workspace-")));
  const warden = await startWarden({ canary: { sources: hookTestBundle(workspace), group: HOOK_GROUP } });
  project.provide("warden", { url: warden.url, api: warden.api, adminToken: warden.adminToken, auditorToken: warden.auditorToken, persist: warden.persist, publisherKeys: warden.publisherKeys, workspace });
  return async () => {
    await warden.stop();
    rmSync(workspace, { recursive: true, force: true });
  };
}
