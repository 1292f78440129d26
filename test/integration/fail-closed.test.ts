import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { runtimeDeps, type Deps } from "../../worker/context.ts";
import { activeBundleKey } from "../../worker/policy/store.ts";
import { bundleDocument } from "../../worker/policy/artifact.ts";
import { activate, defaultSources, fileAction, readyDevice, uniqueId, workerFetch } from "../helpers.ts";
import type { LogEntry } from "../../worker/log/chain.ts";

/** A device on a tenant of the test's own, so its bundle can be anything. */
async function deviceOnOwnTenant(deps?: Partial<Deps>) {
  const tenant = uniqueId("tenant");
  const client = await readyDevice({ fetch: workerFetch({ tenant, ...(deps ? { deps } : {}) }) });
  return { tenant, client };
}

async function lastEntry(tenant: string, deviceId: string): Promise<LogEntry> {
  const response = await workerFetch({ tenant })(
    new Request(`https://warden.test/v1/devices/${deviceId}/log?limit=1000`, { headers: { authorization: `Bearer ${env.AUDITOR_TOKEN}` } }),
  );
  const { entries } = (await response.json()) as { entries: LogEntry[] };
  return entries.at(-1)!;
}

describe("every failure on the decision path decides deny, with its own reason code, and is logged", () => {
  it("a schema-valid forbid that errors at evaluation does not let a permit through", async () => {
    const { tenant, client } = await deviceOnOwnTenant();
    const permitted = await client.decide(fileAction("file.write", "/home/dev/workspace/a"));
    // Without a bundle yet this tenant denies; activate one whose forbid overflows a Long.
    expect(permitted.body.reason_code).toBe("no_active_bundle");
    await activate(
      {
        ...defaultSources,
        policies: `${defaultSources.policies}
@id("broken-forbid")
forbid (principal, action, resource) when { context.now * 9223372036854775807 > 0 };`,
      },
      tenant,
    );
    const { body } = await client.decide(fileAction("file.write", "/home/dev/workspace/a"));
    expect(body.decision).toBe("deny");
    expect(body.reason_code).toBe("policy_evaluation_error");
    expect(body.reasons).toEqual(["broken-forbid"]);
    expect(body.token).toBeUndefined();
    expect((await lastEntry(tenant, client.deviceId)).data).toMatchObject({ decision: "deny", reason_code: "policy_evaluation_error" });
  });

  it("no active bundle", async () => {
    const { tenant, client } = await deviceOnOwnTenant();
    const { status, body } = await client.decide(fileAction("file.write", "/home/dev/workspace/a"));
    expect(status).toBe(200);
    expect(body).toMatchObject({ decision: "deny", reason_code: "no_active_bundle", policy: null });
    expect(body.log?.seq).toBeGreaterThan(0);
    const health = await workerFetch({ tenant })(new Request("https://warden.test/healthz"));
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({ status: "degraded", bundle: { active: false, problem: "no_active_bundle" } });
  });

  const unusable: [string, (tenant: string) => Promise<void>][] = [
    ["not JSON", (tenant) => env.BUNDLES.put(activeBundleKey(tenant), "{not json").then(() => undefined)],
    [
      "a digest that does not match its parts",
      (tenant) =>
        env.BUNDLES.put(activeBundleKey(tenant), JSON.stringify({ ...bundleDocument(defaultSources), policies: `${defaultSources.policies}\n@id("x") permit (principal, action, resource);` })).then(() => undefined),
    ],
    ["policies that do not validate against the schema", (tenant) => activate({ ...defaultSources, policies: `@id("typo") permit (principal, action, resource) when { resource.pathh == "/" };` }, tenant).then(() => undefined)],
    ["a policy without an @id", (tenant) => activate({ ...defaultSources, policies: `permit (principal, action, resource);` }, tenant).then(() => undefined)],
    ["a review tier the manifest does not define", (tenant) => activate({ ...defaultSources, policies: `@id("r") @review("tier9") forbid (principal, action, resource);` }, tenant).then(() => undefined)],
    ["@review on a permit", (tenant) => activate({ ...defaultSources, policies: `@id("r") @review("tier1") permit (principal, action, resource);` }, tenant).then(() => undefined)],
    ["a manifest that does not match its schema", (tenant) => activate({ ...defaultSources, manifest: { name: "Bad Name!" } }, tenant).then(() => undefined)],
  ];
  it.each(unusable)("an active bundle that is %s", async (_, install) => {
    const { tenant, client } = await deviceOnOwnTenant();
    await install(tenant);
    const { body } = await client.decide(fileAction("file.write", "/home/dev/workspace/a"));
    expect(body).toMatchObject({ decision: "deny", reason_code: "bundle_invalid", policy: null });
    expect(body.log?.seq).toBeGreaterThan(0);
  });

  it("a log append that throws: deny without a token, and no log position claimed", async () => {
    const tenant = uniqueId("tenant");
    await activate(defaultSources, tenant);
    const brokenStore: Deps["deviceStore"] = (environment, tenantName, id) => {
      const real = runtimeDeps.deviceStore(environment, tenantName, id);
      return new Proxy(real, {
        get(target, property, receiver) {
          if (property === "recordDecisions") return () => Promise.reject(new Error("storage unavailable"));
          return Reflect.get(target, property, receiver) as unknown;
        },
      });
    };
    const client = await readyDevice({ fetch: workerFetch({ tenant, deps: { deviceStore: brokenStore } }) });
    const { status, body } = await client.decide(fileAction("file.write", "/home/dev/workspace/a"));
    expect(status).toBe(200);
    expect(body).toMatchObject({ decision: "deny", reason_code: "log_append_failed", log: null });
    expect(body.token).toBeUndefined();
  });

  it("an unexpected exception while issuing the action token", async () => {
    const tenant = uniqueId("tenant");
    await activate(defaultSources, tenant);
    let ids = 0;
    const failingIds: Partial<Deps> = {
      newId: () => {
        ids += 1;
        // Session id, then decision id, then the token's jti: the third throws.
        if (ids === 3) throw new Error("entropy source failed");
        return crypto.randomUUID();
      },
    };
    const client = await readyDevice({ fetch: workerFetch({ tenant, deps: failingIds }) });
    const { body } = await client.decide(fileAction("file.write", "/home/dev/workspace/a"));
    expect(body).toMatchObject({ decision: "deny", reason_code: "internal_error" });
    expect(body.token).toBeUndefined();
    expect((await lastEntry(tenant, client.deviceId)).data).toMatchObject({ decision: "deny", reason_code: "internal_error" });
  });
});
