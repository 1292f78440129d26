import { env, SELF } from "cloudflare:test";
import defaultPolicies from "../policy-bundles/default/policies.cedar?raw";
import defaultSchema from "../policy-bundles/default/schema.cedarschema?raw";
import defaultManifest from "../policy-bundles/default/manifest.json";
import { WardenClient, generateDeviceKey, type DeviceAlg } from "../cli/client.ts";
import { bundleDocument, type BundleSources } from "../worker/policy/artifact.ts";
import { activeBundleKey } from "../worker/policy/store.ts";

export const BASE_URL = "https://warden.test";

export const defaultSources: BundleSources = { policies: defaultPolicies, schema: defaultSchema, manifest: defaultManifest };

/** Makes `sources` the tenant's active bundle, as `npm start` and publishing do. */
export async function activate(sources: BundleSources = defaultSources): Promise<string> {
  const document = bundleDocument(sources);
  await env.BUNDLES.put(activeBundleKey(env.TENANT), JSON.stringify(document));
  return document.digest;
}

export async function deactivate(): Promise<void> {
  await env.BUNDLES.delete(activeBundleKey(env.TENANT));
}

let counter = 0;
/** A fresh device id per call, so tests never share a device's Durable Object by accident. */
export function deviceId(prefix = "dev"): string {
  counter += 1;
  return `${prefix}-${counter}-${crypto.randomUUID().slice(0, 8)}`;
}

/** A client talking to the worker under test through SELF. */
export async function newClient(options: { id?: string; alg?: DeviceAlg; fetch?: (request: Request) => Promise<Response> } = {}): Promise<WardenClient> {
  return new WardenClient({
    url: BASE_URL,
    deviceId: options.id ?? deviceId(),
    key: await generateDeviceKey(options.alg ?? "EdDSA"),
    fetch: options.fetch ?? ((request) => SELF.fetch(request)),
  });
}

/** A registered device with an open session. */
export async function readyDevice(options: { alg?: DeviceAlg; os?: "linux" | "macos" | "windows" } = {}): Promise<WardenClient> {
  const client = await newClient(options);
  const registered = await client.register(env.ADMIN_TOKEN, options.os ?? "linux");
  if (registered.status !== 201) throw new Error(`registration failed: ${JSON.stringify(registered.body)}`);
  await client.openSession();
  return client;
}

export const agent = { id: "claude-code", version: "2.1.0" };

export function fileAction(type: string, ...paths: string[]) {
  return { agent, action: { type, targets: paths.map((value) => ({ kind: "path" as const, value })) } };
}
