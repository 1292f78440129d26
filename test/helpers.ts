import { createExecutionContext, env, SELF } from "cloudflare:test";
import defaultPolicies from "../policy-bundles/default/policies.cedar?raw";
import defaultSchema from "../policy-bundles/default/schema.cedarschema?raw";
import defaultManifest from "../policy-bundles/default/manifest.json";
import { WardenClient, generateDeviceKey, type DeviceAlg } from "../cli/client.ts";
import { createApp } from "../worker/app.ts";
import { runtimeDeps, type Deps } from "../worker/context.ts";
import { bundleDocument, type BundleSources } from "../worker/policy/artifact.ts";
import { activeBundleKey } from "../worker/policy/store.ts";

export const BASE_URL = "https://warden.test";

export const defaultSources: BundleSources = { policies: defaultPolicies, schema: defaultSchema, manifest: defaultManifest };

type Fetch = (request: Request) => Promise<Response>;

/** Makes `sources` the tenant's active bundle, as `npm start` and publishing do. */
export async function activate(sources: BundleSources = defaultSources, tenant = env.TENANT): Promise<string> {
  const document = bundleDocument(sources);
  await env.BUNDLES.put(activeBundleKey(tenant), JSON.stringify(document));
  return document.digest;
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
export function workerFetch(options: { tenant?: string; deps?: Partial<Deps> } = {}): Fetch {
  if (!options.tenant && !options.deps) return (request) => SELF.fetch(request);
  const app = createApp({ ...runtimeDeps, ...options.deps });
  const tenantEnv = { ...env, TENANT: options.tenant ?? env.TENANT };
  return async (request) => app.fetch(request, tenantEnv, createExecutionContext());
}

/** A client talking to the worker under test. */
export async function newClient(options: { id?: string; alg?: DeviceAlg; fetch?: Fetch } = {}): Promise<WardenClient> {
  return new WardenClient({
    url: BASE_URL,
    deviceId: options.id ?? uniqueId(),
    key: await generateDeviceKey(options.alg ?? "EdDSA"),
    fetch: options.fetch ?? workerFetch(),
  });
}

/** A registered device with an open session. */
export async function readyDevice(options: { alg?: DeviceAlg; os?: "linux" | "macos" | "windows"; fetch?: Fetch } = {}): Promise<WardenClient> {
  const client = await newClient(options);
  const registered = await client.register(env.ADMIN_TOKEN, options.os ?? "linux");
  if (registered.status !== 201) throw new Error(`registration failed: ${JSON.stringify(registered.body)}`);
  await client.openSession();
  return client;
}

export const agent = { id: "claude-code", version: "2.1.0" };

export function action(type: string, targets: { kind: "path" | "url" | "command"; value: string }[], extra: { sends_external?: boolean } = {}) {
  return { agent, action: { type, targets, ...extra } };
}

export function fileAction(type: string, ...paths: string[]) {
  return action(
    type,
    paths.map((value) => ({ kind: "path" as const, value })),
  );
}
