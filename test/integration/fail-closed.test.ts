import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { runtimeDeps, type Deps } from "../../worker/context.ts";
import { artifactKey, deploymentKey } from "../../worker/policy/deployment.ts";
import { activate, defaultSources, fileAction, publish, readyDevice, uniqueId, workerFetch } from "../helpers.ts";
import type { LogEntry } from "../../worker/log/chain.ts";

/** A device on a tenant of the test's own, so its bundle can be anything. */
async function deviceOnOwnTenant(deps?: Partial<Deps>) {
  const tenant = uniqueId("tenant");
  const client = await readyDevice({ fetch: workerFetch({ tenant, ...(deps ? { deps } : {}) }) });
  return { tenant, client };
}

/** The real device objects, except that `method` fails as an unreachable object would. */
function storeFailing(method: string): Deps["deviceStore"] {
  return (environment, tenantName, id) =>
    new Proxy(runtimeDeps.deviceStore(environment, tenantName, id), {
      get(target, property, receiver) {
        if (property === method) return () => Promise.reject(new Error("storage unavailable"));
        return Reflect.get(target, property, receiver) as unknown;
      },
    });
}

/** A workspace write decided for a fresh device of a fresh tenant while its object's `method` fails. */
async function decideWhileFailing(method: string) {
  const tenant = uniqueId("tenant");
  await activate(defaultSources, tenant);
  const client = await readyDevice({ fetch: workerFetch({ tenant, deps: { deviceStore: storeFailing(method) } }) });
  return { tenant, client, ...(await client.decide(fileAction("file.write", "/home/dev/workspace/a"))) };
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
forbid (principal, action, resource) when { context.now * 1000000000 * 1000000000 > 0 };`,
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

  it("a deployment pointer that is not JSON", async () => {
    const { tenant, client } = await deviceOnOwnTenant();
    await env.BUNDLES.put(deploymentKey(tenant), "{not json");
    const { body } = await client.decide(fileAction("file.write", "/home/dev/workspace/a"));
    expect(body).toMatchObject({ decision: "deny", reason_code: "bundle_invalid", policy: null });
    expect(body.log?.seq).toBeGreaterThan(0);
  });

  it("an artifact altered in R2 after activation no longer verifies", async () => {
    const { tenant, client } = await deviceOnOwnTenant();
    const { statement } = await publish(defaultSources, { tenant });
    const key = artifactKey(tenant, statement.version);
    const artifact = await (await env.BUNDLES.get(key))!.text();
    // A permit-everything policy slipped into policies.cedar, the signed statement untouched.
    await env.BUNDLES.put(key, artifact.replace("// Example policy", '@id("x") permit (principal, action, resource);\n//'));
    const { body } = await client.decide(fileAction("file.write", "/home/dev/workspace/a"));
    expect(body).toMatchObject({ decision: "deny", reason_code: "bundle_invalid", policy: null });
  });

  it("an active bundle past its expiry decides nothing", async () => {
    const tenant = uniqueId("tenant");
    const start = Date.now();
    await publish(defaultSources, { tenant, createdAt: new Date(start), expiresAt: new Date(start + 3_600_000) });
    let now = start;
    const client = await readyDevice({ fetch: workerFetch({ tenant, deps: { now: () => now } }), now: () => now });
    expect((await client.decide(fileAction("file.write", "/home/dev/workspace/a"))).body.decision).toBe("permit");
    now = start + 2 * 3_600_000;
    await client.openSession();
    const { body } = await client.decide(fileAction("file.write", "/home/dev/workspace/a"));
    expect(body).toMatchObject({ decision: "deny", reason_code: "bundle_invalid", policy: null });
  });

  it("a log append that throws: deny without a token, and no log position claimed", async () => {
    const { status, body } = await decideWhileFailing("recordDecisions");
    expect(status).toBe(200);
    expect(body).toMatchObject({ decision: "deny", reason_code: "log_append_failed", log: null });
    expect(body.token).toBeUndefined();
  });

  it("a history read that throws: deny internal_error, logged, without a token", async () => {
    const { tenant, client, status, body } = await decideWhileFailing("readHistory");
    expect(status).toBe(200);
    expect(body).toMatchObject({ decision: "deny", reason_code: "internal_error" });
    expect(body.token).toBeUndefined();
    expect(body.log?.seq).toBeGreaterThan(0);
    expect((await lastEntry(tenant, client.deviceId)).data).toMatchObject({ decision: "deny", reason_code: "internal_error" });
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
