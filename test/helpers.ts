import { createExecutionContext, env, SELF } from "cloudflare:test";
import { vi } from "vitest";
import defaultPolicies from "../policy-bundles/default/policies.cedar?raw";
import defaultSchema from "../policy-bundles/default/schema.cedarschema?raw";
import defaultManifest from "../policy-bundles/default/manifest.json";
import exampleAgents from "../policy-bundles/default/agents.json";
import { WardenClient, generateDeviceKey, type DecisionTarget, type DeviceAlg } from "../cli/client.ts";
import { createApp } from "../worker/app.ts";
import { runtimeDeps, type Deps } from "../worker/context.ts";
import type { JWK } from "jose";
import type { LogEntry } from "../worker/log/chain.ts";
import { bundleStatement, signBundle, type BundleSources, type BundleStatement } from "../worker/policy/artifact.ts";
import { compileSources } from "../worker/policy/compile.ts";
import { artifactKey } from "../worker/policy/deployment.ts";

export const BASE_URL = "https://warden.test";

export const defaultSources: BundleSources = { policies: defaultPolicies, schema: defaultSchema, manifest: defaultManifest };

export type Fetch = (request: Request) => Promise<Response>;

/** The private key of the publisher `PUBLISHER_KEYS` trusts in this run (vitest.config.mts). */
export const testPublisherKey = JSON.parse(Reflect.get(env, "TEST_PUBLISHER_KEY") as string) as JWK;

let lastVersion = 0;
/** Increasing across every test file of the run, as publishers' versions are. */
export function nextVersion(): number {
  lastVersion = Math.max(lastVersion + 1, Date.now() * 1000);
  return lastVersion;
}

export interface ArtifactMeta {
  tenant: string;
  version: number;
  createdAt?: Date;
  expiresAt?: Date;
  key?: JWK;
  /**
   * Sources whose compiled index and policy JSON the artifact carries instead of its own: to
   * sign what `warden bundle build` would refuse (policies that do not validate, a compiled part
   * that is not the sources').
   */
  compiledFrom?: BundleSources;
}

/** Compiles and signs `sources` as `warden bundle build` does: the artifact's bytes and its statement. */
export async function signedArtifact(sources: BundleSources, meta: ArtifactMeta): Promise<{ statement: BundleStatement; artifact: Uint8Array }> {
  const createdAt = meta.createdAt ?? new Date();
  const compiled = compileSources(meta.compiledFrom ?? sources);
  const { statement, body } = bundleStatement(
    sources,
    { name: "test", tenant: meta.tenant, version: meta.version, createdAt, expiresAt: meta.expiresAt ?? new Date(createdAt.getTime() + 30 * 86_400_000) },
    compiled,
  );
  return { statement, artifact: await signBundle(statement, body, meta.key ?? testPublisherKey) };
}

export interface PublishOptions extends Partial<ArtifactMeta> {
  slot?: "active" | "canary" | "shadow";
  percent?: number;
  group?: string;
  rollback?: boolean;
}

/** Tenants whose example agents this test file registered. */
const agentsRegistered = new Set<string>();

/**
 * Registers the agents the example bundle is tested with (policy-bundles/default/agents.json) in
 * `tenant`, as `npm start` does: a tenant running the example bundle has them, and the bundle
 * denies every other agent (`agent_unregistered`). Fixture setup, straight into the tenant's
 * registry: no admin acted, so the admin log the tests read holds only what they did.
 */
export async function registerExampleAgents(tenant: string = env.TENANT): Promise<void> {
  if (agentsRegistered.has(tenant)) return;
  const registry = env.AGENTS.get(env.AGENTS.idFromName(tenant));
  for (const agent of exampleAgents.agents) {
    await registry.register({ tenant, registration: { ...agent, risk: agent.risk as "low" | "medium" | "high", artifacts: [] }, by: "test-setup", now: Date.now() });
  }
  agentsRegistered.add(tenant);
}

/**
 * Signs `sources` as an artifact, uploads it to R2 and asks the admin API to activate it, as
 * `warden bundle publish` does, with the example agents registered in the tenant.
 */
export async function publish(sources: BundleSources = defaultSources, options: PublishOptions = {}) {
  const tenant = options.tenant ?? env.TENANT;
  await registerExampleAgents(tenant);
  const version = options.version ?? nextVersion();
  const { statement, artifact } = await signedArtifact(sources, { ...options, tenant, version });
  await env.BUNDLES.put(artifactKey(tenant, version), artifact);
  const body: Record<string, unknown> = { version, slot: options.slot ?? "active", rollback: options.rollback ?? false };
  if (options.percent !== undefined) body["percent"] = options.percent;
  if (options.group !== undefined) body["group"] = options.group;
  const response = await workerFetch({ tenant })(
    new Request(`${BASE_URL}/v1/bundles/activate`, {
      method: "POST",
      headers: { authorization: `Bearer ${env.ADMIN_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    }),
  );
  return { status: response.status, body: (await response.json()) as Record<string, unknown> & { code?: string }, statement };
}

/** Makes `sources` the tenant's active bundle; returns its digest. */
export async function activate(sources: BundleSources = defaultSources, tenant = env.TENANT): Promise<string> {
  const published = await publish(sources, { tenant });
  if (published.status !== 200) throw new Error(`activation failed: ${JSON.stringify(published.body)}`);
  return published.statement.digest;
}

let counter = 0;
/** A fresh id per call, so tests never share a device or tenant by accident. */
export function uniqueId(prefix = "dev"): string {
  counter += 1;
  return `${prefix}-${counter}-${crypto.randomUUID().slice(0, 8)}`;
}

/**
 * The worker under test as a fetch function: SELF for the default tenant, or the app
 * built with injected dependencies and served for a tenant of the test's own, so a
 * test can change that tenant's bundle without touching anyone else's.
 */
export function workerFetch(options: { tenant?: string; deps?: Partial<Deps>; env?: Partial<Env> } = {}): Fetch {
  if (!options.tenant && !options.deps && !options.env) return (request) => SELF.fetch(request);
  const app = createApp({ ...runtimeDeps, ...options.deps });
  const tenantEnv = { ...env, ...options.env, TENANT: options.tenant ?? env.TENANT };
  return async (request) => app.fetch(request, tenantEnv, createExecutionContext());
}

/** A client talking to the worker under test. */
export async function newClient(options: { id?: string; alg?: DeviceAlg; fetch?: Fetch; now?: () => number } = {}): Promise<WardenClient> {
  return new WardenClient({
    url: BASE_URL,
    deviceId: options.id ?? uniqueId(),
    key: await generateDeviceKey(options.alg ?? "EdDSA"),
    fetch: options.fetch ?? workerFetch(),
    ...(options.now ? { now: options.now } : {}),
  });
}

/** A registered device with an open session. */
export async function readyDevice(
  options: { alg?: DeviceAlg; os?: "linux" | "macos" | "windows"; groups?: string[]; user?: string; fetch?: Fetch; now?: () => number } = {},
): Promise<WardenClient> {
  const client = await newClient(options);
  const registered = await client.register(env.ADMIN_TOKEN, options.os ?? "linux", options.groups, options.user);
  if (registered.status !== 201) throw new Error(`registration failed: ${JSON.stringify(registered.body)}`);
  await client.openSession();
  return client;
}

export const agent = { id: "claude-code", version: "2.1.0" };

export function action(type: string, targets: DecisionTarget[], extra: { sends_external?: boolean } = {}) {
  return { agent, action: { type, targets, ...extra } };
}

export function fileAction(type: string, ...paths: string[]) {
  return action(
    type,
    paths.map((value) => ({ kind: "path" as const, value })),
  );
}

/** The device's whole live log, read as an admin. */
export async function logOf(client: WardenClient): Promise<LogEntry[]> {
  const { body } = await client.request<{ entries: LogEntry[] }>("GET", `/v1/devices/${client.deviceId}/log?limit=1000`, undefined, { authorization: `Bearer ${env.ADMIN_TOKEN}` });
  return body.entries;
}

/** Polls `probe` until it returns a value, for at most `ms`: for what happens after a commit by design (event forwards, deliveries). */
export async function eventually<T>(probe: () => Promise<T | null>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Runs `body` with `console.error` captured and answers what it returned beside the structured
 * events (one JSON object per line) logged meanwhile: the worker and its objects run in the
 * tests' isolate, so what an operator would read in the logs can be asserted.
 */
export async function withLoggedEvents<T>(body: () => Promise<T>): Promise<{ result: T; events: Record<string, unknown>[] }> {
  const logged = vi.spyOn(console, "error").mockImplementation(() => undefined);
  try {
    const result = await body();
    const events = logged.mock.calls.flatMap(([line]) => (typeof line === "string" && line.startsWith("{") ? [JSON.parse(line) as Record<string, unknown>] : []));
    return { result, events };
  } finally {
    logged.mockRestore();
  }
}
