import { env, runInDurableObject } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import type { WardenClient } from "../../cli/client.ts";
import { ConsentLedger, consentIo, type ConsentIo } from "../../durable-objects/ConsentLedger.ts";
import type { DeviceLog } from "../../durable-objects/DeviceLog.ts";
import { asPerson, caller } from "../access-helpers.ts";
import { activate, defaultSources, fileAction, logOf, publish, readyDevice, uniqueId, workerFetch } from "../helpers.ts";

// Consent as a policy input (docs/consent.md), through the example bundle: reads under
// /home/dev/Documents need a covering consent of the device's user (`documents-need-consent`).
// A tenant of this file's own; each test its own person, so their consents do not meet.
const tenant = uniqueId("consent");
let now = Date.now();
const fetch = workerFetch({ tenant, deps: { now: () => now } });
const notes = "/home/dev/Documents/notes/plan.md";
const taxes = "/home/dev/Documents/taxes/2025.pdf";

const call = caller(fetch);

const admin = { authorization: `Bearer ${env.ADMIN_TOKEN}` };
const person = (email: string) => asPerson({ email, now });
const hours = (n: number) => new Date(now + n * 3_600_000).toISOString();
const consentTo = (scope: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ scope, purpose: "summarise my notes", expiry: hours(24), consent_version: "2026-01", ...extra });

/** A device of `user`, registered and in session, deciding through this file's clock. */
async function deviceOf(user: string): Promise<WardenClient> {
  return readyDevice({ fetch, user, now: () => now });
}

async function give(user: string, scope: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<string> {
  const given = await call("POST", "/v1/consents", await person(user), consentTo(scope, extra));
  expect(given.status).toBe(201);
  return (given.body["consent"] as { id: string }).id;
}

beforeAll(async () => {
  await activate(defaultSources, tenant);
});

describe("a consent", () => {
  it("given by the actor covers their device's reads of what it names, and each decision that relied on it logs its id", async () => {
    const user = `${uniqueId("ana")}@example.com`;
    const device = await deviceOf(user);
    expect((await device.decide(fileAction("file.read", notes))).body).toMatchObject({ decision: "deny", reason_code: "consent_required", reasons: ["documents-need-consent"] });

    const given = await call("POST", "/v1/consents", await person(user), consentTo({ paths: ["/home/dev/Documents/notes/**"], actions: ["file.read"] }));
    expect(given.status).toBe(201);
    const consent = given.body["consent"] as Record<string, unknown> & { id: string; history: { type: string; by: string }[] };
    expect(consent).toMatchObject({
      actor_id: user,
      method: "sso-consent",
      consent_version: "2026-01",
      recorded_by: { id: user, via: "access", on_behalf: false },
      revoked: null,
      status: "active",
    });
    expect(consent.history.map((event) => [event.type, event.by])).toEqual([["consent.given", user]]);
    expect(given.body["devices"]).toEqual({ synced: 1, pending: 0 });

    expect((await device.decide(fileAction("file.read", notes))).body).toMatchObject({ decision: "permit", reasons: ["documents-read-with-consent"] });
    const entry = (await logOf(device)).at(-1)!;
    expect(entry.data).toMatchObject({ decision: "permit", consents: [consent.id] });
    // A decision that read no consent names none.
    await device.decide(fileAction("file.read", "/home/dev/workspace/README.md"));
    expect((await logOf(device)).at(-1)!.data["consents"]).toBeUndefined();
  });

  it("covers nothing once expired (the clock is the worker's)", async () => {
    const user = `${uniqueId("ben")}@example.com`;
    const device = await deviceOf(user);
    await give(user, { paths: ["/home/dev/Documents/**"] }, { expiry: hours(0.1) });
    expect((await device.decide(fileAction("file.read", notes))).body.decision).toBe("permit");
    now += 7 * 60_000;
    try {
      expect((await device.decide(fileAction("file.read", notes))).body).toMatchObject({ decision: "deny", reason_code: "consent_required" });
      const listed = await call("GET", "/v1/consents", await person(user));
      expect((listed.body["consents"] as { status: string }[])[0]!.status).toBe("expired");
      expect(((await call("GET", "/v1/consents?active=true", await person(user))).body["consents"] as unknown[]).length).toBe(0);
    } finally {
      now = Date.now();
    }
  });

  it("revoked in the middle of a session: the very next decision of the same session no longer has it", async () => {
    const user = `${uniqueId("cai")}@example.com`;
    const device = await deviceOf(user);
    const id = await give(user, { paths: ["/home/dev/Documents/**"] });
    // This isolate now knows the device's consents; the revocation must still be seen.
    expect((await device.decide(fileAction("file.read", notes))).body.decision).toBe("permit");
    const revoked = await call("POST", `/v1/consents/${id}/revoke`, await person(user), { reason: "changed my mind" });
    expect(revoked.status).toBe(200);
    expect(revoked.body).toMatchObject({ changed: true, consent: { status: "revoked", revoked: { by: user, reason: "changed my mind" } } });
    expect((revoked.body["consent"] as { history: { type: string }[] }).history.map((event) => event.type)).toEqual(["consent.given", "consent.revoked"]);
    expect((await device.decide(fileAction("file.read", notes))).body).toMatchObject({ decision: "deny", reason_code: "consent_required" });
    const again = await call("POST", `/v1/consents/${id}/revoke`, await person(user), {});
    expect(again.body["changed"]).toBe(false);
  });

  it("that covers one target of two does not cover the action", async () => {
    const user = `${uniqueId("dan")}@example.com`;
    const device = await deviceOf(user);
    await give(user, { paths: ["/home/dev/Documents/notes/**"] });
    expect((await device.decide(fileAction("file.read", notes))).body.decision).toBe("permit");
    expect((await device.decide(fileAction("file.read", notes, taxes))).body).toMatchObject({ decision: "deny", reason_code: "consent_required" });
  });

  it("of another person, or for another agent, covers nothing here", async () => {
    const user = `${uniqueId("eva")}@example.com`;
    const device = await deviceOf(user);
    await give(`${uniqueId("other")}@example.com`, { paths: ["/home/dev/Documents/**"] });
    await give(user, { paths: ["/home/dev/Documents/**"], agents: ["codex"] });
    expect((await device.decide(fileAction("file.read", notes))).body).toMatchObject({ decision: "deny", reason_code: "consent_required" });
  });

  it("given before the device was registered reaches it at registration", async () => {
    const user = `${uniqueId("fay")}@example.com`;
    await give(user, { paths: ["/home/dev/Documents/**"] });
    const device = await deviceOf(user);
    expect((await device.decide(fileAction("file.read", notes))).body.decision).toBe("permit");
    expect((await logOf(device))[0]!.data).toMatchObject({ user });
  });
});

describe("recording consent", () => {
  it("an admin records one on the actor's behalf, saying how it was given; it is recorded as such", async () => {
    const user = `${uniqueId("gus")}@example.com`;
    const device = await deviceOf(user);
    expect(await call("POST", "/v1/consents", admin, consentTo({ paths: ["/home/dev/Documents/**"] }, { actor_id: user }))).toMatchObject({ status: 400, body: { code: "malformed_request" } });
    const byToken = await call("POST", "/v1/consents", admin, consentTo({ paths: ["/home/dev/Documents/**"] }, { actor_id: user.toUpperCase(), method: "ui" }));
    expect(byToken).toMatchObject({ status: 201, body: { consent: { actor_id: user, method: "ui", recorded_by: { id: "bootstrap-token:admin", via: "bootstrap-token", on_behalf: true } } } });
    const byPerson = await call("POST", "/v1/consents", await person("admin@example.com"), consentTo({ hosts: ["docs.example.com"] }, { actor_id: user, method: "cli" }));
    expect(byPerson.body).toMatchObject({ consent: { recorded_by: { id: "admin@example.com", via: "access", on_behalf: true } } });
    expect((await device.decide(fileAction("file.read", notes))).body.decision).toBe("permit");
  });

  it("a person records consent only for themselves; a bootstrap token only for an actor_id", async () => {
    const user = `${uniqueId("hal")}@example.com`;
    expect(await call("POST", "/v1/consents", await person(user), consentTo({ paths: ["/home/dev/Documents/**"] }, { actor_id: "someone@example.com" }))).toMatchObject({ status: 403, body: { code: "forbidden" } });
    expect(await call("POST", "/v1/consents", admin, consentTo({ paths: ["/home/dev/Documents/**"] }, { method: "ui" }))).toMatchObject({ status: 403, body: { code: "forbidden" } });
    expect(await call("POST", "/v1/consents", { authorization: `Bearer ${env.AUDITOR_TOKEN}` }, consentTo({ paths: ["/home/dev/Documents/**"] }, { actor_id: user, method: "ui" }))).toMatchObject({ status: 403, body: { code: "forbidden" } });
  });

  it.each([
    ["an expiry in the past", { expiry: new Date(Date.now() - 60_000).toISOString() }, 422, "consent_expiry_invalid"],
    ["an expiry beyond the bundle's consent.max_days (30)", { expiry: new Date(Date.now() + 31 * 86_400_000).toISOString() }, 422, "consent_expiry_invalid"],
    ["a scope restricting nothing", { scope: {} }, 400, "malformed_request"],
    ["a path that is not canonical", { scope: { paths: ["/home/dev/../etc"] } }, 400, "malformed_request"],
    ["a method not in the list", { method: "email" }, 400, "malformed_request"],
    ["no expiry", { expiry: undefined }, 400, "malformed_request"],
  ])("%s is refused", async (_name, change, status, code) => {
    const body: Record<string, unknown> = { ...consentTo({ paths: ["/home/dev/Documents/**"] }), ...change };
    if (body["expiry"] === undefined) delete body["expiry"];
    expect(await call("POST", "/v1/consents", await person(`${uniqueId("ivy")}@example.com`), body)).toMatchObject({ status, body: { code } });
  });
});

describe("reading and revoking", () => {
  it("a person sees their own consents with their history; admins, auditors and privacy officers see anyone's", async () => {
    const user = `${uniqueId("joe")}@example.com`;
    const stranger = `${uniqueId("kim")}@example.com`;
    const id = await give(user, { paths: ["/home/dev/Documents/**"] });
    await give(stranger, { paths: ["/home/dev/Documents/**"] });
    const own = await call("GET", "/v1/consents", await person(user));
    expect((own.body["consents"] as { id: string; actor_id: string }[]).map((consent) => [consent.id, consent.actor_id])).toEqual([[id, user]]);
    expect(await call("GET", `/v1/consents?actor=${encodeURIComponent(stranger)}`, await person(user))).toMatchObject({ status: 403, body: { code: "forbidden" } });
    expect(await call("GET", `/v1/consents/${id}`, await person(stranger))).toMatchObject({ status: 404, body: { code: "not_found" } });
    for (const reader of [{ authorization: `Bearer ${env.AUDITOR_TOKEN}` }, { authorization: `Bearer ${env.PRIVACY_OFFICER_TOKEN}` }, await person("dpo@example.com")]) {
      const seen = await call("GET", `/v1/consents?actor=${encodeURIComponent(user)}`, reader);
      expect((seen.body["consents"] as { id: string }[]).map((consent) => consent.id)).toEqual([id]);
      expect((await call("GET", `/v1/consents/${id}`, reader)).body).toMatchObject({ id, actor_id: user, status: "active" });
    }
  });

  it("another person cannot revoke it (not found); an admin can, recorded as the admin", async () => {
    const user = `${uniqueId("lea")}@example.com`;
    const device = await deviceOf(user);
    const id = await give(user, { paths: ["/home/dev/Documents/**"] });
    expect(await call("POST", `/v1/consents/${id}/revoke`, await person(`${uniqueId("max")}@example.com`), {})).toMatchObject({ status: 404, body: { code: "not_found" } });
    expect((await device.decide(fileAction("file.read", notes))).body.decision).toBe("permit");
    const revoked = await call("POST", `/v1/consents/${id}/revoke`, await person("admin@example.com"), { reason: "employee left" });
    expect(revoked.body).toMatchObject({ changed: true, consent: { revoked: { by: "admin@example.com", reason: "employee left" } } });
    expect((await device.decide(fileAction("file.read", notes))).body.decision).toBe("deny");
  });

  it("a device's session cannot read consents", async () => {
    const device = await deviceOf(`${uniqueId("ned")}@example.com`);
    expect((await device.authorized<{ code: string }>("GET", "/v1/consents")).body.code).toBe("person_required");
  });
});

// ── the ledger's order of work when a device does not answer ─────────────────

function ledgerStub(): DurableObjectStub<ConsentLedger> {
  return env.CONSENTS.get(env.CONSENTS.idFromName(tenant));
}

/** Runs `call` on a ledger over the tenant's real storage with other I/O (the seam durable-objects/SCHEMA.md documents). */
function withLedger<T>(io: Partial<ConsentIo>, call: (ledger: ConsentLedger) => Promise<T>): Promise<T> {
  return runInDurableObject(ledgerStub(), (_running: ConsentLedger, state) => call(new ConsentLedger(state, env, { ...consentIo(env), ...io })));
}

/** Device stubs whose `method` fails (never reaching the device) while `failing()` is true. */
function unreachable(method: keyof DeviceLog, failing: () => boolean): ConsentIo["deviceLog"] {
  return (name, device) => {
    const stub = env.DEVICES.get(env.DEVICES.idFromName(`${name}/${device}`));
    return new Proxy(stub, {
      get(target, property) {
        if (property === method && failing()) return () => Promise.reject(new Error(`injected: ${String(method)} did not reach the device`));
        return Reflect.get(target, property);
      },
    }) as DurableObjectStub<DeviceLog>;
  };
}

/** A consent to everything under Documents, as an admin records it on the actor's behalf: what the ledger's own methods take. */
function recordedByAdmin(user: string) {
  return {
    id: crypto.randomUUID(),
    actor_id: user,
    scope: { paths: ["/home/dev/Documents/**"] },
    purpose: "p",
    expiry: hours(24),
    method: "ui" as const,
    consent_timestamp: new Date().toISOString(),
    consent_version: "1",
    recorded_by: { id: "admin@example.com", via: "access", on_behalf: true },
    revoked: null,
  };
}

describe("when a device of the actor does not answer", () => {
  it("a revocation is refused (consent_sync_pending) and nothing is recorded; the devices it reached already deny", async () => {
    const user = `${uniqueId("ola")}@example.com`;
    const reached = await deviceOf(user);
    const missed = await deviceOf(user);
    const id = await give(user, { paths: ["/home/dev/Documents/**"] });
    const revoked = await withLedger({ deviceLog: (name, device) => unreachable("dropConsent", () => device === missed.deviceId)(name, device) }, (ledger) =>
      ledger.revoke({ id, actor: null, by: "admin@example.com", reason: null, now: Date.now() }),
    );
    expect(revoked).toEqual({ ok: false, code: "consent_sync_pending" });
    expect((await call("GET", `/v1/consents/${id}`, admin)).body).toMatchObject({ status: "active", revoked: null });
    expect((await reached.decide(fileAction("file.read", notes))).body).toMatchObject({ decision: "deny", reason_code: "consent_required" });
    expect((await missed.decide(fileAction("file.read", notes))).body.decision).toBe("permit");
    // Repeated once the device answers: recorded, and every device denies.
    expect((await call("POST", `/v1/consents/${id}/revoke`, admin, {})).body).toMatchObject({ changed: true });
    expect((await missed.decide(fileAction("file.read", notes))).body.decision).toBe("deny");
  });

  it("a new consent is recorded, and the alarm brings the device in step", async () => {
    const user = `${uniqueId("pia")}@example.com`;
    const device = await deviceOf(user);
    let down = true;
    const io = { deviceLog: unreachable("applyConsents", () => down) };
    const record = recordedByAdmin(user);
    const given = await withLedger(io, (ledger) => ledger.give({ tenant, record, now: Date.now() }));
    expect(given.devices).toEqual({ synced: 0, pending: 1 });
    expect(await runInDurableObject(ledgerStub(), (_running: ConsentLedger, state) => state.storage.getAlarm())).not.toBeNull();
    // Evicted as if between the commit and setting the alarm: the next start sets it again.
    await runInDurableObject(ledgerStub(), (_running: ConsentLedger, state) => state.storage.deleteAlarm());
    await runInDurableObject(ledgerStub(), (_running: ConsentLedger, state) => state.abort("test restart")).catch(() => undefined);
    expect(await runInDurableObject(ledgerStub(), (_running: ConsentLedger, state) => state.storage.getAlarm())).not.toBeNull();
    expect((await device.decide(fileAction("file.read", notes))).body.decision).toBe("deny");
    down = false;
    await withLedger(io, (ledger) => ledger.alarm());
    expect((await device.decide(fileAction("file.read", notes))).body).toMatchObject({ decision: "permit" });
  });
});

describe("a ledger from before it noted which actors are out of step", () => {
  it("notes, at its first start, every actor with a device behind, and its alarm brings them in step", async () => {
    const user = `${uniqueId("uma")}@example.com`;
    const device = await deviceOf(user);
    const record = recordedByAdmin(user);
    const given = await withLedger({ deviceLog: unreachable("applyConsents", () => true) }, (ledger) => ledger.give({ tenant, record, now: Date.now() }));
    expect(given.devices).toEqual({ synced: 0, pending: 1 });
    // As the ledger was before the table: a device behind its actor, and nothing saying so, nor an alarm.
    await runInDurableObject(ledgerStub(), async (_running: ConsentLedger, state) => {
      state.storage.sql.exec("DROP TABLE out_of_step");
      await state.storage.deleteAlarm();
    });
    await runInDurableObject(ledgerStub(), (_running: ConsentLedger, state) => state.abort("test restart")).catch(() => undefined);
    expect(await runInDurableObject(ledgerStub(), (_running: ConsentLedger, state) => state.storage.getAlarm())).not.toBeNull();
    expect((await device.decide(fileAction("file.read", notes))).body.decision).toBe("deny");
    await withLedger({}, (ledger) => ledger.alarm());
    expect((await device.decide(fileAction("file.read", notes))).body).toMatchObject({ decision: "permit" });
  });
});

describe("a shadow bundle beside consents", () => {
  it("counts each logged decision's comparison once, though a stale copy of the consents had it decided twice", async () => {
    // A tenant of its own, with the example bundle active and again as the shadow: every comparison agrees.
    const shadowTenant = uniqueId("consent-shadow");
    const via = workerFetch({ tenant: shadowTenant, deps: { now: () => now } });
    await activate(defaultSources, shadowTenant);
    const shadow = await publish(defaultSources, { tenant: shadowTenant, slot: "shadow" });
    expect(shadow.status).toBe(200);
    const user = `${uniqueId("ren")}@example.com`;
    const device = await readyDevice({ fetch: via, user, now: () => now });
    expect((await device.decide(fileAction("file.read", notes))).body).toMatchObject({ decision: "deny", reason_code: "consent_required" });
    // Given and revoked through the ledger, which moves the device's copy on: this isolate still holds the copy it read at the
    // first decision, so each next decision is made, found stale at the commit, and made again. That it permits, then denies, shows it was.
    const given = await call("POST", "/v1/consents", await person(user), consentTo({ paths: ["/home/dev/Documents/**"] }), via);
    expect(given.status).toBe(201);
    expect((await device.decide(fileAction("file.read", notes))).body).toMatchObject({ decision: "permit" });
    const id = (given.body["consent"] as { id: string }).id;
    expect((await call("POST", `/v1/consents/${id}/revoke`, await person(user), {}, via)).status).toBe(200);
    expect((await device.decide(fileAction("file.read", notes))).body).toMatchObject({ decision: "deny", reason_code: "consent_required" });
    expect((await logOf(device)).filter((entry) => entry.type === "decision")).toHaveLength(3);

    // Comparisons reach the registry in one batch per isolate, about a second after the batch's first.
    const report = async () => (await call("GET", `/v1/bundles/${shadow.statement.version}/shadow-report`, admin, undefined, via)).body as { agree: number; disagree: number };
    let counted = await report();
    for (let waited = 0; counted.agree + counted.disagree < 3 && waited < 5000; waited += 100) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      counted = await report();
    }
    // And no later batch brings the attempts that were made again.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(await report()).toMatchObject({ agree: 3, disagree: 0 });
  });
});
