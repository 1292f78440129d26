import { env } from "cloudflare:test";
import { generateKeyPairSync } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import type { JWK } from "jose";
import { ACCESS_KEYS_MAX_AGE_MS, ACCESS_KEYS_REFETCH_MS } from "../../worker/people/access.ts";
import { accessKey, accessTeam, accessToken, asPerson, caller } from "../access-helpers.ts";
import { activate, defaultSources, readyDevice, uniqueId, workerFetch } from "../helpers.ts";

// People through Cloudflare Access (docs/people.md): real RS256 tokens signed by the test team's
// key, verified against the key set test/setup/access-issuer.ts serves. A tenant of this file's
// own, so its admin log holds only these tests' orders.
const tenant = uniqueId("people");
const fetch = workerFetch({ tenant });

const call = caller(fetch);

async function adminLog(): Promise<{ type: string; data: Record<string, unknown> }[]> {
  const answer = await call("GET", "/v1/bundles/log?limit=1000", { authorization: `Bearer ${env.ADMIN_TOKEN}` });
  return answer.body["entries"] as { type: string; data: Record<string, unknown> }[];
}

beforeAll(async () => {
  await activate(defaultSources, tenant);
});

describe("a person signed in through Cloudflare Access", () => {
  it("gets the roles ACCESS_ROLES maps to their e-mail or groups, and every admin action records them", async () => {
    const admin = await asPerson({ email: "Admin@Example.com" });
    expect((await call("GET", "/v1/bundles", admin)).status).toBe(200);
    const device = await readyDevice({ fetch });
    const quarantined = await call("POST", `/v1/devices/${device.deviceId}/quarantine`, admin, { reason: "EDR alert" });
    expect(quarantined.status).toBe(200);
    const byGroup = await asPerson({ email: "lead@example.com", groups: ["warden-admins"] });
    expect((await call("POST", `/v1/devices/${device.deviceId}/release`, byGroup, { reason: "cleared" })).status).toBe(200);
    const orders = (await adminLog()).filter((entry) => entry.data["device"] === device.deviceId);
    expect(orders.map((entry) => [entry.type, entry.data["by"]])).toEqual([
      ["admin.device_quarantined", "admin@example.com"],
      ["admin.device_released", "lead@example.com"],
    ]);
    const standing = await call("GET", `/v1/devices/${device.deviceId}`, admin);
    expect((standing.body["history"] as { by: string }[]).map((change) => change.by)).toEqual(["admin@example.com", "lead@example.com"]);
  });

  it("without a mapped role is an actor only: admin routes are forbidden", async () => {
    const person = await asPerson({ email: "dev@example.com", groups: ["engineering"] });
    expect(await call("GET", "/v1/bundles", person)).toMatchObject({ status: 403, body: { code: "forbidden" } });
    expect((await call("GET", "/v1/consents", person)).status).toBe(200);
  });

  it("auditors, privacy officers and reviewers get their own routes", async () => {
    expect((await call("GET", "/v1/bundles/log", await asPerson({ email: "auditor@example.com" }))).status).toBe(200);
    expect(await call("POST", "/v1/bundles/activate", await asPerson({ email: "auditor@example.com" }), { version: 1 })).toMatchObject({ status: 403, body: { code: "forbidden" } });
    expect((await call("GET", "/v1/consents?actor=someone%40example.com", await asPerson({ email: "dpo@example.com" }))).status).toBe(200);
    // A reviewer through Access acts as the reviewer whose id is their e-mail.
    expect((await call("GET", "/v1/reviews", await asPerson({ email: "rev@example.com", groups: ["warden-reviewers"] }))).status).toBe(200);
    expect(await call("GET", "/v1/reviews", await asPerson({ email: "dev@example.com" }))).toMatchObject({ status: 403, body: { code: "forbidden" } });
  });

  it("a device's registration names who registered it, and its user", async () => {
    const device = await readyDevice({ fetch });
    const log = await call("GET", `/v1/devices/${device.deviceId}/log`, await asPerson({ email: "admin@example.com" }));
    expect((log.body["entries"] as { type: string; data: Record<string, unknown> }[])[0]).toMatchObject({ type: "device.registered", data: { by: "bootstrap-token:admin", user: null } });
  });
});

describe("refused Access tokens, each with its code", () => {
  const refused = async (headers: Record<string, string>) => call("GET", "/v1/bundles", headers);

  it("another application's audience", async () => {
    expect(await refused(await asPerson({ email: "admin@example.com", claims: { aud: ["0123456789abcdef0123456789abcdef"] } }))).toMatchObject({ status: 401, body: { code: "access_audience_mismatch" } });
  });

  it("an expired token", async () => {
    const past = Date.now() - 7200_000;
    expect(await refused(await asPerson({ email: "admin@example.com", now: past }))).toMatchObject({ status: 401, body: { code: "access_token_expired" } });
  });

  it("another team as issuer", async () => {
    expect(await refused(await asPerson({ email: "admin@example.com", claims: { iss: "https://evil.cloudflareaccess.com" } }))).toMatchObject({ status: 401, body: { code: "access_issuer_mismatch" } });
  });

  it("a key the team does not publish, even after fetching its keys again", async () => {
    const stranger = { ...generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "jwk" }), kid: "stranger" } as JWK & { kid: string };
    expect(await refused(await asPerson({ email: "admin@example.com", key: stranger }))).toMatchObject({ status: 401, body: { code: "access_key_unknown" } });
    // Signed by an unknown key under the team's own kid: the signature does not verify.
    expect(await refused(await asPerson({ email: "admin@example.com", key: { ...stranger, kid: accessKey.kid } }))).toMatchObject({ status: 401, body: { code: "access_token_invalid" } });
  });

  it("a token that is not a person's application token, or not RS256", async () => {
    expect(await refused(await asPerson({ claims: { email: undefined, common_name: "svc.access" } }))).toMatchObject({ status: 401, body: { code: "access_token_invalid" } });
    expect(await refused(await asPerson({ email: "admin@example.com", claims: { type: "org" } }))).toMatchObject({ status: 401, body: { code: "access_token_invalid" } });
    expect(await refused({ "cf-access-jwt-assertion": "not.a-token" })).toMatchObject({ status: 401, body: { code: "access_token_invalid" } });
    const token = await accessToken({ email: "admin@example.com" });
    const [, payload, signature] = token.split(".");
    const header = btoa(JSON.stringify({ alg: "HS256", kid: accessKey.kid })).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
    const hs256 = `${header}.${payload}.${signature}`;
    expect(await refused({ "cf-access-jwt-assertion": hs256 })).toMatchObject({ status: 401, body: { code: "access_token_invalid" } });
  });

  it("a device's session on a route for people", async () => {
    const device = await readyDevice({ fetch });
    const answer = await device.authorized<{ code: string }>("GET", "/v1/bundles");
    expect({ status: answer.status, code: answer.body.code }).toEqual({ status: 403, code: "person_required" });
    expect((await device.authorized<{ code: string }>("GET", "/v1/consents")).body.code).toBe("person_required");
  });

  it("the team's key set cannot be fetched: access_unavailable, and a later request verifies again", async () => {
    const team = accessTeam(uniqueId("unavailable"));
    const via = workerFetch({ tenant, env: { ACCESS_TEAM_DOMAIN: team.domain } });
    const admin = async () => call("GET", "/v1/bundles", await asPerson({ email: "admin@example.com", claims: { iss: team.domain } }), undefined, via);
    await team.fail(503);
    expect(await admin()).toMatchObject({ status: 503, body: { code: "access_unavailable" } });
    await team.fail(null);
    expect((await admin()).status).toBe(200);
  });
});

describe("the team's keys", () => {
  it("are fetched once and kept; a key added by the team is fetched when a token names it, at most once per cool-down", async () => {
    const team = accessTeam(uniqueId("rotation"));
    let now = Date.now();
    const via = workerFetch({ tenant, env: { ACCESS_TEAM_DOMAIN: team.domain }, deps: { now: () => now } });
    const admin = async (key?: JWK & { kid: string }) => call("GET", "/v1/bundles", await asPerson({ email: "admin@example.com", now, claims: { iss: team.domain }, ...(key ? { key } : {}) }), undefined, via);
    expect((await admin()).status).toBe(200);
    expect((await admin()).status).toBe(200);
    expect(await team.fetches()).toBe(1);

    const rotated = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const newKey = { ...rotated.privateKey.export({ format: "jwk" }), kid: "warden-test-access-2" } as JWK & { kid: string };
    await team.publish([{ ...rotated.publicKey.export({ format: "jwk" }), kid: newKey.kid, alg: "RS256", use: "sig" }]);
    // Within the cool-down of the last fetch, an unknown kid does not fetch again.
    expect(await admin(newKey)).toMatchObject({ status: 401, body: { code: "access_key_unknown" } });
    expect(await team.fetches()).toBe(1);
    now += ACCESS_KEYS_REFETCH_MS;
    expect((await admin(newKey)).status).toBe(200);
    expect(await team.fetches()).toBe(2);
    // A copy older than its lifetime is fetched again, whatever the token names.
    now += ACCESS_KEYS_MAX_AGE_MS;
    expect((await admin()).status).toBe(200);
    expect(await team.fetches()).toBe(3);
  });
});

describe("configuration", () => {
  const configured = (overrides: Partial<Env>) => workerFetch({ tenant, env: overrides });

  it.each([
    ["ACCESS_ROLES that is not strict JSON", { ACCESS_ROLES: "{admin: []}" }],
    ["ACCESS_ROLES naming a role Warden does not have", { ACCESS_ROLES: JSON.stringify({ root: { emails: ["a@example.com"] } }) }],
    ["ACCESS_ROLES with a member that is no e-mail", { ACCESS_ROLES: JSON.stringify({ admin: { emails: ["not-an-email"] } }) }],
    ["ACCESS_AUD missing", { ACCESS_AUD: "" }],
    ["a team domain over http", { ACCESS_TEAM_DOMAIN: "http://warden-test.cloudflareaccess.com" }],
    ["a team domain with a path", { ACCESS_TEAM_DOMAIN: "https://warden-test.cloudflareaccess.com/x" }],
    ["a team domain inside the network", { ACCESS_TEAM_DOMAIN: "https://10.0.0.7" }],
  ])("%s refuses every person: configuration_error", async (_name, overrides) => {
    expect(await call("GET", "/v1/bundles", await asPerson({ email: "admin@example.com" }), undefined, configured(overrides))).toMatchObject({ status: 500, body: { code: "configuration_error" } });
  });

  it("without ACCESS_TEAM_DOMAIN an Access header is no credential", async () => {
    expect(await call("GET", "/v1/bundles", await asPerson({ email: "admin@example.com" }), undefined, configured({ ACCESS_TEAM_DOMAIN: "" }))).toMatchObject({ status: 401, body: { code: "unauthenticated" } });
  });
});

describe("bootstrap tokens", () => {
  it("act for one role each and are recorded as bootstrap-token:<role>", async () => {
    const device = await readyDevice({ fetch });
    expect((await call("POST", `/v1/devices/${device.deviceId}/quarantine`, { authorization: `Bearer ${env.ADMIN_TOKEN}` }, { reason: "first setup" })).status).toBe(200);
    const order = (await adminLog()).find((entry) => entry.data["device"] === device.deviceId);
    expect(order?.data["by"]).toBe("bootstrap-token:admin");
    const officer = { authorization: `Bearer ${env.PRIVACY_OFFICER_TOKEN}` };
    expect((await call("GET", "/v1/consents", officer)).status).toBe(200);
    expect(await call("GET", "/v1/bundles", officer)).toMatchObject({ status: 403, body: { code: "forbidden" } });
  });

  it("a bundle activation names who activated it", async () => {
    const entries = await adminLog();
    expect(entries.find((entry) => entry.type === "bundle.activated")?.data["by"]).toBe("bootstrap-token:admin");
  });
});
