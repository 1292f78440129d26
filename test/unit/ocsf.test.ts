import { env } from "cloudflare:test";
import { decodeJwt } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import doc from "../../docs/events.md?raw";
import type { WardenClient } from "../../cli/client.ts";
import { WardenError } from "../../worker/errors.ts";
import { ENTRY_MAPPINGS, OCSF_VERSION, ocsfEventOf, urlWithoutSecrets, type EntryOrigin, type MappedEntry, type OcsfEvent } from "../../worker/events/ocsf.ts";
import type { JsonValue } from "../../worker/log/canonical.ts";
import { GENESIS_PREV, nextEntry, type LogEntry } from "../../worker/log/chain.ts";
import { BASE_URL, action, defaultSources, fileAction, logOf, nextVersion, publish, readyDevice, uniqueId, workerFetch } from "../helpers.ts";
import { expectValidOcsf } from "../ocsf.ts";
import { ocsfCaptionErrors, ocsfSchemaErrors } from "../ocsf-schemas.ts";
import { enrolledReviewer, giveVerdict, holdsStub, waitOn, type Reviewer } from "../review-helpers.ts";

// Every log entry type becomes a valid OCSF 1.8.0 event of its class, or is listed as not an
// event: first with real entries from logs driven through the worker, then from the shapes the
// code appends for what this branch cannot produce yet; the no-secrets rule; the validator shown
// to bite on each schema concern; and a walk of the code for every appended type.

const MINUTE = 60_000;
const PRODUCT = "0.1.0";

/** What no event may carry: each is planted in a request below, and is in the log. */
const SECRETS = {
  header: "tok_SECRET_header_9f2c",
  query: "SECRET_query_4471",
  fragment: "frag_SECRET_77",
  context: "sk-live-SECRET-context-31",
  urlQuery: "SECRET_url_token_12",
  password: "hunter2SECRET",
};
const CURL_LINE = `curl -s -H "Authorization: Bearer ${SECRETS.header}" "https://api.example.com/v1/items?access_token=${SECRETS.query}#${SECRETS.fragment}"`;

function originOf(tenant: string, log: "device" | "admin"): EntryOrigin {
  return { tenant, log, productVersion: PRODUCT };
}

function eventOf(entry: MappedEntry, origin: EntryOrigin): OcsfEvent {
  const event = ocsfEventOf(entry, origin);
  if (!event) throw new Error(`no event for ${entry.type}`);
  return event;
}

/** A member of a nested event object, for reading expectations. */
function at(value: unknown, ...path: (string | number)[]): unknown {
  return path.reduce<unknown>((node, key) => (node !== null && typeof node === "object" ? (node as Record<string | number, unknown>)[key] : undefined), value);
}

// ── A tenant's logs, driven through the worker ─────────────────────────────────────────────

interface World {
  tenant: string;
  device: WardenClient;
  reviewer: Reviewer;
  deviceLog: LogEntry[];
  adminLog: LogEntry[];
  digest: string;
  ids: { permit: string; forbid: string; curl: string; url: string; quarantined: string; approved: string };
}

const clock = { now: Date.now() };
const tenant = uniqueId("ocsf");
const fetch = workerFetch({ tenant, deps: { now: () => clock.now } });
const write = fileAction("file.write", "/home/dev/workspace/src/app.ts");

async function asAdmin<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const headers: Record<string, string> = { authorization: `Bearer ${env.ADMIN_TOKEN}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(new Request(`${BASE_URL}${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) }));
  return { status: response.status, body: (await response.json()) as T };
}

async function decided(device: WardenClient, request: Parameters<WardenClient["decide"]>[0]) {
  const answer = await device.decide(request);
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  return answer.body;
}

/** A delete in .git: held for review at tier1 (4 h), then tier2 (1 h), by the default bundle. */
function heldAction() {
  return action("file.delete", [{ kind: "path", value: `/home/dev/workspace/.git/objects/${uniqueId("obj")}` }]);
}

async function adminEntries(): Promise<LogEntry[]> {
  return (await asAdmin<{ entries: LogEntry[] }>("GET", "/v1/bundles/log?limit=1000")).body.entries;
}

/** The device log once it holds `counts` entries of each type (review evidence reaches it through the outbox). */
async function deviceLogWith(device: WardenClient, counts: { [type: string]: number }): Promise<LogEntry[]> {
  for (let attempt = 0; ; attempt += 1) {
    const entries = await logOf(device);
    const complete = Object.entries(counts).every(([type, n]) => entries.filter((entry) => entry.type === type).length >= n);
    if (complete || attempt === 50) return entries;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

let world: World;

/**
 * The example bundle without its `privacy` section: the secrets below must reach the log for
 * these tests to show the mapping keeps them out of events on its own, masked or not (docs/privacy.md).
 */
const { privacy: _masking, ...unmaskedManifest } = defaultSources.manifest as { [key: string]: JsonValue };
const exampleSources = { ...defaultSources, manifest: unmaskedManifest };

beforeAll(async () => {
  const createdAt = new Date(clock.now);
  const expiresAt = new Date(clock.now + 30 * 86_400_000);
  const first = nextVersion();
  const activated = await publish(exampleSources, { tenant, version: first, createdAt, expiresAt });
  expect(activated.status, JSON.stringify(activated.body)).toBe(200);
  const reviewer = await enrolledReviewer(fetch, uniqueId("rev"));
  const device = await readyDevice({ fetch, now: () => clock.now });

  // A permit, redeemed and completed; a forbid; a command line and a URL carrying secrets; a target refused.
  const permit = await decided(device, write);
  expect(permit.decision).toBe("permit");
  expect((await device.redeem(permit.token!, write.action)).status).toBe(200);
  const completed = await device.recordOutcome({
    decision_id: permit.decision_id,
    decision_seq: permit.log!.seq,
    tool: { name: "Write" },
    succeeded: true,
    exit_status: null,
    result_hash: null,
    files: [{ path: "/home/dev/workspace/src/app.ts", file_hash: null }],
    duration_ms: 12,
    human_reviewed: false,
  });
  expect(completed.status).toBe(201);
  const forbid = await decided(device, fileAction("file.read", "/home/dev/.ssh/id_ed25519"));
  const curl = await decided(device, { ...action("command.exec", [{ kind: "command", value: CURL_LINE }]), context: { api_key: SECRETS.context } });
  const url = await decided(device, action("http.request", [{ kind: "url", value: `https://api.example.com/data?token=${SECRETS.urlQuery}` }, { kind: "url", value: `https://user:${SECRETS.password}@api.example.com/` }]));
  await decided(device, fileAction("file.read", "relative/path.txt"));

  // Quarantine (its next decision denies) and release, before any hold: a quarantine cancels the device's pending holds.
  expect((await asAdmin("POST", `/v1/devices/${device.deviceId}/quarantine`, { reason: "EDR alert 4711" })).status).toBe(200);
  const quarantined = await decided(device, write);
  expect(quarantined.reason_code).toBe("device_quarantined");
  expect((await asAdmin("POST", `/v1/devices/${device.deviceId}/release`, { reason: "EDR alert closed" })).status).toBe(200);

  // Four holds: approved (and released), rejected, escalated by the reviewer, and one left to its SLA.
  const holds = [];
  for (let i = 0; i < 4; i += 1) holds.push((await decided(device, heldAction())).review as unknown as { id: string });
  const [approved, rejected, escalated] = holds as [{ id: string }, { id: string }, { id: string }, { id: string }];
  expect((await giveVerdict(fetch, reviewer, approved.id, "approve")).status).toBe(200);
  const released = await waitOn(device, approved.id);
  expect(released.body.token).toBeDefined();
  expect((await giveVerdict(fetch, reviewer, rejected.id, "reject")).status).toBe(200);
  expect((await giveVerdict(fetch, reviewer, escalated.id, "escalate")).status).toBe(200);

  // A token refused because the bundle changed under it; a token revoked by an admin.
  const stale = await decided(device, write);
  // A bundle's digest covers its sources: the new one must differ from the one that permitted.
  const second = await publish({ ...exampleSources, policies: `${defaultSources.policies}\n// second bundle\n` }, { tenant });
  expect(second.status).toBe(200);
  expect((await device.redeem(stale.token!, write.action)).status).toBe(409);
  const revocable = await decided(device, write);
  const revoked = await asAdmin("POST", "/v1/actions/revoke", { device: device.deviceId, jti: decodeJwt(revocable.token!).jti, reason: "token leaked in a CI log" });
  expect(revoked.status).toBe(200);

  // Every session revoked.
  expect((await asAdmin("POST", `/v1/devices/${device.deviceId}/sessions/revoke`, { reason: "rotate after incident" })).status).toBe(200);

  // Canary and shadow slots filled and cleared; a rollback to the first bundle; a refused activation.
  expect((await publish(exampleSources, { tenant, slot: "canary", percent: 10 })).status).toBe(200);
  expect((await asAdmin("DELETE", "/v1/bundles/canary")).status).toBe(200);
  expect((await publish(exampleSources, { tenant, slot: "shadow" })).status).toBe(200);
  expect((await asAdmin("DELETE", "/v1/bundles/shadow")).status).toBe(200);
  expect((await publish(exampleSources, { tenant, version: first, createdAt, expiresAt, rollback: true })).status).toBe(200);
  expect((await publish(exampleSources, { tenant, version: first, createdAt, expiresAt })).status).toBe(409);

  // TPM: a bootstrap token issued, enrollments refused (unknown token; an EK certificate that does not parse), evidence refused.
  const bootstrap = await device.tpmBootstrap(env.ADMIN_TOKEN);
  expect(bootstrap.status).toBe(201);
  const junk = new Uint8Array([1, 2, 3, 4]);
  expect((await device.tpmEnroll({ bootstrapToken: "not-a-bootstrap-token-of-this-device", ekCertificate: junk, ekPublic: junk, akPublic: junk })).status).toBe(401);
  expect((await device.tpmEnroll({ bootstrapToken: bootstrap.body.bootstrap_token, ekCertificate: junk, ekPublic: junk, akPublic: junk })).status).toBe(400);
  await expect(device.openSession({ evidence: async () => ({ type: "tpm", quote: "AAAA", signature: "AAAA", pcrs: {} }) })).rejects.toThrow();

  // Deadlines: the held-for-SLA hold escalates and the reviewer-escalated one expires; then the first expires too.
  clock.now += 241 * MINUTE;
  await holdsStub(tenant).tick(clock.now);
  clock.now += 61 * MINUTE;
  await holdsStub(tenant).tick(clock.now);

  const deviceLog = await deviceLogWith(device, { "review.approved": 1, "review.rejected": 1, "review.escalated": 2, "review.expired": 2, "review.released": 1 });
  world = {
    tenant,
    device,
    reviewer,
    deviceLog,
    adminLog: await adminEntries(),
    digest: permit.policy!,
    ids: {
      permit: permit.decision_id,
      forbid: forbid.decision_id,
      curl: curl.decision_id,
      url: url.decision_id,
      quarantined: quarantined.decision_id,
      approved: approved.id,
    },
  };
}, 180_000);

function decisionEntry(id: string): LogEntry {
  const entry = world.deviceLog.find((candidate) => candidate.type === "decision" && candidate.data["decision_id"] === id);
  if (!entry) throw new Error(`no decision ${id}`);
  return entry;
}

function onlyEntry(type: string, log: LogEntry[] = world.deviceLog, where: (entry: LogEntry) => boolean = () => true): LogEntry {
  const entry = log.find((candidate) => candidate.type === type && where(candidate));
  if (!entry) throw new Error(`no ${type} entry`);
  return entry;
}

const device = () => originOf(world.tenant, "device");
const adminLog = () => originOf(world.tenant, "admin");

/** Types the scenario above produces for real, in the device log and the admin log. */
const REAL_DEVICE_TYPES = [
  "device.registered",
  "session.opened",
  "decision",
  "action.redeemed",
  "action.completed",
  "action.refused",
  "action.revoked",
  "review.approved",
  "review.rejected",
  "review.escalated",
  "review.expired",
  "review.released",
  "device.quarantined",
  "device.released",
  "session.revoked",
  "tpm.bootstrap_issued",
  "tpm.enrollment_refused",
  "attestation.failed",
  // The default bundle declares history features: the log takes them before its first decision.
  "history.adopted",
];
const REAL_ADMIN_TYPES = [
  "bundle.activated",
  "bundle.canary",
  "bundle.canary_cleared",
  "bundle.shadow",
  "bundle.shadow_cleared",
  "bundle.rolled_back",
  "bundle.refused",
  "admin.action_token_revoked",
  "admin.device_quarantined",
  "admin.device_released",
  "admin.sessions_revoked",
];

describe("events from logs driven through the worker", () => {
  it("the scenario produced every entry type it is meant to", () => {
    expect([...new Set(world.deviceLog.map((entry) => entry.type))].sort()).toEqual([...REAL_DEVICE_TYPES].sort());
    expect([...new Set(world.adminLog.map((entry) => entry.type))].sort()).toEqual([...REAL_ADMIN_TYPES].sort());
  });

  it("every entry maps to an event that validates against its class's schema, or to null as its row says", () => {
    for (const [entries, origin] of [
      [world.deviceLog, device()],
      [world.adminLog, adminLog()],
    ] as const) {
      for (const entry of entries) {
        const mapping = ENTRY_MAPPINGS[entry.type];
        expect(mapping, entry.type).toBeDefined();
        const event = ocsfEventOf(entry, origin);
        if (mapping!.class_uid === null) {
          expect(event, entry.type).toBeNull();
          continue;
        }
        expect(event?.class_uid, entry.type).toBe(mapping!.class_uid);
        expectValidOcsf(event);
      }
    }
  });

  it("names the entry: uid = hash, sequence = seq, log_name, event_code, time in ms, and the chain position under unmapped", () => {
    const entry = decisionEntry(world.ids.permit);
    const event = eventOf(entry, device());
    expect(event.metadata).toMatchObject({
      uid: entry.hash,
      sequence: entry.seq,
      log_name: `device:${world.tenant}/${world.device.deviceId}`,
      event_code: "decision",
      version: OCSF_VERSION,
      product: { name: "Warden", vendor_name: "Warden", version: PRODUCT },
      correlation_uid: world.ids.permit,
      tenant_uid: world.tenant,
      original_time: entry.time,
    });
    expect(event["time"]).toBe(Date.parse(entry.time));
    expect(Number.isInteger(event["time"])).toBe(true);
    expect(event["unmapped"]).toEqual({ warden_log: { origin: `device:${world.tenant}/${world.device.deviceId}`, seq: entry.seq, hash: entry.hash, prev: entry.prev } });

    const activation = onlyEntry("bundle.activated", world.adminLog);
    expect(eventOf(activation, adminLog()).metadata).toMatchObject({ uid: activation.hash, sequence: activation.seq, log_name: `admin:${world.tenant}`, event_code: "bundle.activated" });
  });

  it("is the same event every time an entry is mapped, and another entry has another uid", () => {
    const entry = decisionEntry(world.ids.permit);
    expect(ocsfEventOf(structuredClone(entry), device())).toEqual(ocsfEventOf(entry, device()));
    const uids = world.deviceLog.map((candidate) => ocsfEventOf(candidate, device())?.metadata.uid).filter((uid) => uid !== undefined);
    expect(new Set(uids).size).toBe(uids.length);
  });

  it("a permit: the agent, its version, the bundle, one authorization per reason, the canonical target", () => {
    const entry = decisionEntry(world.ids.permit);
    const event = eventOf(entry, device());
    expect(event).toMatchObject({
      class_uid: 6003,
      activity_id: 3,
      action_id: 1,
      disposition_id: 1,
      status_id: 1,
      status_code: "policy_permit",
      severity_id: 1,
      actor: { app_uid: "claude-code", app_name: "claude-code", session: { uid: entry.data["session"] } },
      api: { operation: "file.write", request: { uid: world.ids.permit, data: { agent: { version: "2.1.0" } } } },
      policy: { uid: world.digest, is_applied: true, type: "active" },
      resources: [{ type: "file", uid: "/home/dev/workspace/src/app.ts", role_id: 1 }],
      src_endpoint: { uid: world.device.deviceId },
      device: { uid: world.device.deviceId },
    });
    const reasons = entry.data["reasons"] as string[];
    expect(reasons.length).toBeGreaterThan(0);
    expect(at(event, "actor", "authorizations")).toEqual(reasons.map((id) => ({ decision: "permit", policy: { uid: id, name: id, version: world.digest } })));
    expect(event.metadata).toMatchObject({ profiles: ["host", "security_control"] });
  });

  it("a forbid denies as Unauthorized, a quarantined device's decision as Access Revoked: both decisions Warden made", () => {
    expect(eventOf(decisionEntry(world.ids.forbid), device())).toMatchObject({ activity_id: 2, action_id: 2, disposition_id: 26, status_id: 1, status_code: "policy_forbid" });
    expect(eventOf(decisionEntry(world.ids.quarantined), device())).toMatchObject({ action_id: 2, disposition_id: 24, disposition: "Access Revoked", status_id: 1, status_code: "device_quarantined" });
  });

  it("a review is held: action Review, disposition Delayed, the tier in the response", () => {
    const entry = world.deviceLog.find((candidate) => candidate.type === "decision" && candidate.data["decision"] === "review")!;
    expect(eventOf(entry, device())).toMatchObject({ activity_id: 4, action_id: 99, action: "Review", disposition_id: 14, api: { response: { data: { decision: "review", review: { tier: "tier1" } } } } });
  });

  it("a fail-closed denial is a Failure with disposition Error and its reason code", async () => {
    const bare = uniqueId("ocsf-nobundle");
    const other = await readyDevice({ fetch: workerFetch({ tenant: bare }) });
    const answer = await decided(other, write);
    expect(answer.reason_code).toBe("no_active_bundle");
    const entry = (await logOf(other)).find((candidate) => candidate.type === "decision")!;
    const event = eventOf(entry, originOf(bare, "device"));
    expectValidOcsf(event);
    expect(event).toMatchObject({ action_id: 2, disposition_id: 27, disposition: "Error", status_id: 2, status: "Failure", status_code: "no_active_bundle" });
    expect(event["policy"]).toBeUndefined();
  });

  it("a verdict names the reviewer, the held decision and the approval chain; no passkey material", () => {
    const entry = onlyEntry("review.approved");
    const event = eventOf(entry, device());
    expect(event).toMatchObject({
      activity_id: 3,
      action_id: 1,
      disposition_id: 8,
      actor: { user: { uid: world.reviewer.id, type_id: 1 }, authorizations: [{ decision: "approve" }] },
      api: { operation: "review.approve", request: { uid: world.ids.approved }, response: { data: { review: { tier: "tier1", approvals: 1, approvers_required: 1, outcome: "approved" } } } },
      resources: [{ type: "warden.held_action", uid: entry.data["decision_id"] }],
    });
    expect(event.metadata).toMatchObject({ correlation_uid: entry.data["decision_id"] });
    const serialized = JSON.stringify(event);
    const assertion = entry.data["assertion"] as Record<string, string>;
    for (const material of [entry.data["credential_id"], entry.data["credential_public_key"], entry.data["challenge"], assertion["signature"], assertion["clientDataJSON"], assertion["authenticatorData"]]) {
      expect(typeof material).toBe("string");
      expect(serialized).not.toContain(material as string);
    }
    expect(eventOf(onlyEntry("review.rejected"), device())).toMatchObject({ action_id: 2, disposition_id: 25 });
    expect(eventOf(onlyEntry("review.escalated", world.deviceLog, (e) => e.data["by"] !== "sla"), device())).toMatchObject({ action_id: 99, action: "Escalate", disposition_id: 14 });
    const bySla = onlyEntry("review.escalated", world.deviceLog, (e) => e.data["by"] === "sla");
    expect(eventOf(bySla, device())).toMatchObject({ actor: { app_uid: "warden", invoked_by: "review SLA" }, message: "review escalated by its SLA" });
    // Policy's climb (the identical action asked at a higher tier) is entered as the SLA's is, with `by: "policy"` and no `missed`.
    const { missed: _missed, ...climb } = bySla.data;
    expect(eventOf({ ...bySla, data: { ...climb, by: "policy", asked_by: "d-asking" } }, device())).toMatchObject({
      actor: { app_uid: "warden", invoked_by: "review policy" },
      message: "review escalated by policy: the identical action was asked at a higher tier",
    });
    expect(eventOf(onlyEntry("review.expired"), device())).toMatchObject({ action_id: 2, disposition_id: 2, api: { response: { data: { review: { outcome: "deny", rule: "on_timeout" } } } } });
  });

  it("a release is an action token issued, with the approvers", () => {
    const entry = onlyEntry("review.released");
    expect(eventOf(entry, device())).toMatchObject({
      class_uid: 3004,
      activity_id: 1,
      entity: { type: "Token", uid: entry.data["token_jti"], data: { kind: "action_token", approved_by: [world.reviewer.id] } },
    });
  });

  it("quarantine and release are Remediation Activity, the order's entry hash its command_uid, the admin its actor", () => {
    const entry = onlyEntry("device.quarantined");
    expect(eventOf(entry, device())).toMatchObject({
      class_uid: 7001,
      activity_id: 1,
      command_uid: entry.hash,
      countermeasures: [{ d3f_tactic: { name: "Isolate" } }],
      actor: { user: { uid: "bootstrap-token:admin", type_id: 2 } },
      message: "device quarantined: EDR alert 4711",
      metadata: { profiles: ["host"] },
    });
    expect(eventOf(onlyEntry("device.released"), device())).toMatchObject({ activity_id: 3, countermeasures: [{ d3f_tactic: { name: "Restore" } }] });
  });

  it("revocations disable a Token entity with the admin's reason", () => {
    expect(eventOf(onlyEntry("session.revoked"), device())).toMatchObject({ class_uid: 3004, activity_id: 9, comment: "rotate after incident", entity: { type: "Token", data: { kind: "session", all: true } } });
    const revoked = onlyEntry("action.revoked");
    expect(eventOf(revoked, device())).toMatchObject({ activity_id: 9, comment: "token leaked in a CI log", entity: { type: "Token", uid: revoked.data["token_jti"] } });
  });

  it("the admin log's twins of device orders are not events: the device log's entry is", () => {
    for (const type of ["admin.device_quarantined", "admin.device_released", "admin.sessions_revoked", "admin.action_token_revoked"]) {
      expect(ocsfEventOf(onlyEntry(type, world.adminLog), adminLog()), type).toBeNull();
    }
  });

  it("sessions and refused evidence are Device Config State Change, with their outcome and assurance", () => {
    expect(eventOf(onlyEntry("session.opened"), device())).toMatchObject({ class_uid: 5019, status_id: 1, security_level_id: 0, unmapped: { warden_attestation: { assurance: "software" } } });
    expect(eventOf(onlyEntry("attestation.failed"), device())).toMatchObject({ class_uid: 5019, status_id: 2, status_code: "tpm_not_enrolled", device: { is_trusted: false } });
  });

  it("bundle activations, rollbacks and refusals are Entity Management of a Policy", () => {
    const activation = onlyEntry("bundle.activated", world.adminLog);
    expect(eventOf(activation, adminLog())).toMatchObject({ activity_id: 10, entity: { type_id: 5, uid: activation.data["digest"], policy: { uid: activation.data["digest"], is_applied: true } } });
    expect(eventOf(onlyEntry("bundle.shadow", world.adminLog), adminLog())).toMatchObject({ entity: { policy: { is_applied: false } } });
    expect(eventOf(onlyEntry("bundle.refused", world.adminLog), adminLog())).toMatchObject({ status_id: 2, status_code: "bundle_version_conflict" });
    expect(eventOf(onlyEntry("bundle.canary_cleared", world.adminLog), adminLog())).toMatchObject({ activity_id: 11 });
  });
});

// ── No secrets, no raw inputs ──────────────────────────────────────────────────────────────

describe("what never leaves the log", () => {
  it("a command line with a bearer header and a context with a key: neither appears, the program does", () => {
    const entry = decisionEntry(world.ids.curl);
    const logged = JSON.stringify(entry);
    // The secrets were there to leak: in the context, the submitted target and the canonical line.
    for (const secret of [SECRETS.header, SECRETS.query, SECRETS.context]) expect(logged).toContain(secret);
    const serialized = JSON.stringify(eventOf(entry, device()));
    for (const secret of [SECRETS.header, SECRETS.query, SECRETS.fragment, SECRETS.context, "Authorization", "Bearer", "access_token", CURL_LINE]) {
      expect(serialized, secret).not.toContain(secret);
    }
    const resources = at(eventOf(entry, device()), "resources") as Record<string, unknown>[];
    expect(resources[0]).toMatchObject({ type: "command", name: "curl", data: { shell: "bash", programs: ["curl"] } });
    // The URL the command line implies, without its query and fragment.
    expect(resources).toContainEqual(expect.objectContaining({ type: "url", uid: "https://api.example.com/v1/items", data: expect.objectContaining({ derived_from: 0 }) }));
  });

  it("the decision entry records the programs the analysis found, which is all an event says of a command", () => {
    expect(at(decisionEntry(world.ids.curl), "data", "action", "commands")).toEqual([{ from: 0, programs: ["curl"], flags: [], opaque: false }]);
  });

  it("URL targets lose their query; a URL with credentials is named only as refused", () => {
    const entry = decisionEntry(world.ids.url);
    const serialized = JSON.stringify(eventOf(entry, device()));
    expect(JSON.stringify(entry)).toContain(SECRETS.password);
    for (const secret of [SECRETS.urlQuery, SECRETS.password, "user:"]) expect(serialized, secret).not.toContain(secret);
    expect(at(eventOf(entry, device()), "resources")).toEqual([
      { type: "url", uid: "https://api.example.com/data", role_id: 1, role: "Target" },
      { type: "url", name: "rejected: url_credentials", data: { rejected: "url_credentials" }, role_id: 1, role: "Target" },
    ]);
  });

  it("urlWithoutSecrets drops userinfo, query and fragment and refuses what does not parse", () => {
    expect(urlWithoutSecrets("https://u:p@example.com:8443/a/b?x=1#f")).toBe("https://example.com:8443/a/b");
    expect(urlWithoutSecrets("http://example.com/")).toBe("http://example.com/");
    expect(urlWithoutSecrets("not a url")).toBeNull();
  });

  it("an outcome's file paths (the agent's own strings) stay in the log; the event counts them", () => {
    const entry = onlyEntry("action.completed");
    const event = eventOf(entry, device());
    expect(JSON.stringify(event)).not.toContain("/home/dev/workspace/src/app.ts");
    expect(event).toMatchObject({ activity_id: 99, activity_name: "Complete", api: { response: { data: { files: 1, tool: "Write", succeeded: true } } } });
  });

  it("no event of the whole scenario carries a planted secret or a raw context", () => {
    const everything = JSON.stringify([...world.deviceLog.map((entry) => ocsfEventOf(entry, device())), ...world.adminLog.map((entry) => ocsfEventOf(entry, adminLog()))]);
    for (const secret of Object.values(SECRETS)) expect(everything, secret).not.toContain(secret);
    expect(everything).not.toContain('"context"');
    expect(everything).not.toContain('"submitted"');
  });
});

// ── Entries this branch cannot produce yet, from the shapes the code appends ───────────────

type Data = { [key: string]: JsonValue };

/** Entries chained as a log would chain them (real hashes and links). */
function chained(deviceId: string, items: [string, Data][], start = Date.parse("2026-12-01T10:00:00.000Z")): LogEntry[] {
  let head = { seq: 0, hash: GENESIS_PREV };
  return items.map(([type, data], index) => {
    const entry = nextEntry(head, deviceId, type, data, start + index * 1000);
    head = { seq: entry.seq, hash: entry.hash };
    return entry;
  });
}

const TPM_CLAIMS: Data = {
  type: "tpm",
  status: "affirming",
  pcr_bank: "sha256",
  pcr_digest: "ab".repeat(32),
  pcrs_appraised: [0, 7],
  ek_issuer: "CN=Example TPM CA",
  ek_vendor: "infineon",
  ak_name: "000b" + "cd".repeat(32),
  firmware_version: "7.85",
  reset_count: 3,
  restart_count: 0,
  clock: "123456",
};
const SNP_CLAIMS: Data = { type: "sev-snp", product: "Milan", signing_key: "vcek", report_version: 2, vmpl: 0, debug: true, policy: "0x30000", guest_svn: 1, measurement: "ef".repeat(48), host_data: "00".repeat(32), id_key_digest: "00".repeat(48), author_key_digest: "00".repeat(48), reported_tcb: { bootloader: 3, tee: 0, snp: 8, microcode: 115 }, chip_id: "aa".repeat(64) };
const TDX_CLAIMS: Data = { type: "tdx", quote_version: 4, td_report: "00", tcb_status: "OutOfDate", advisory_ids: ["INTEL-SA-00837"], fmspc: "00A06D080000", tcb_evaluation_data_number: 17, td_attributes: "0000001000000000", mr_seam: "11".repeat(48), mr_td: "22".repeat(48), mr_config_id: "00".repeat(48), mr_owner: "00".repeat(48), mr_owner_config: "00".repeat(48), rtmr: ["33".repeat(48)] };

/** One entry per shape, each labelled; what each should come to is asserted below. */
const SHAPES: [string, string, Data][] = [
  ["tpm session", "session.opened", { session_id: "sess-1", assurance: "tpm", expires_in: 900, attestation: TPM_CLAIMS }],
  ["snp session with debug", "session.opened", { session_id: "sess-2", assurance: "sev-snp", expires_in: 900, attestation: SNP_CLAIMS }],
  ["tdx session out of date", "session.opened", { session_id: "sess-3", assurance: "tdx", expires_in: 900, attestation: TDX_CLAIMS }],
  ["appraisal failure", "attestation.failed", { type: "tpm", code: "pcr_value_not_allowed", family: "appraisal", detail: "PCR 7 is not a reference value" }],
  ["verification failure", "attestation.failed", { type: "sev-snp", code: "chain_untrusted", family: "verification", detail: "no path to a pinned ARK" }],
  ["malformed evidence", "attestation.failed", { type: "tdx", code: "evidence_truncated", family: "malformed", detail: "quote ends at byte 40" }],
  ["configuration failure", "attestation.failed", { type: "tpm", code: "no_trust_anchors", family: "configuration", detail: "no anchors" }],
  ["enrollment started", "tpm.enrollment_started", { ek_name: "000b01", ak_name: "000b02", ek_certificate_sha256: "ab".repeat(32), ek_issuer: "CN=x", vendor: "infineon", tpm: null, rebind: false }],
  ["enrolled", "tpm.enrolled", { ek_name: "000b01", ak_name: "000b02", vendor: "infineon", ek_issuer: "CN=x" }],
  ["rebound", "tpm.rebound", { ek_name: "000b03", ak_name: "000b04", vendor: "stm", ek_issuer: "CN=y", previous: { ek_name: "000b01", ak_name: "000b02" } }],
  ["activation failed", "tpm.activation_failed", { code: "credential_activation_failed", ek_name: "000b01", ak_name: "000b02" }],
  ["binding conflict", "tpm.enrollment_refused", { code: "tpm_binding_conflict", ek_name: "000b03", ak_name: "000b04", bound_ek_name: "000b01", bound_ak_name: "000b02" }],
  // An entry that lost its agent (appended by hand, or from before agents were required) still maps to a valid event.
  ["decision naming no agent", "decision", { decision_id: "dec-bare", decision: "permit" }],
  ["policy evaluation error", "decision", { decision_id: "dec-err", decision: "deny", reason_code: "policy_evaluation_error", reasons: ["broken-policy"], policy: "d".repeat(64), bundle: { version: 7, role: "canary" }, tier: null, session: "sess-1", agent: { id: "codex", version: "1.0.0", artifact_sha256: null }, action: { type: "mcp.call", targets: [{ kind: "tool", value: "mcp__github__create_issue" }], derived: [], commands: [], submitted: [{ kind: "tool", value: "mcp__github__create_issue" }], inputs_sha256: null, sends_external: true }, context: null, token_jti: null }],
  ["finding", "finding", { finding_id: "fnd-1", rule: "probe-burst", severity: "high", tier: "tier2", title: "10 denials in 60 s", features: { denials_60s: 10, first_seen_host: true, last_host: "evil.example" }, trigger_seq: 41 }],
  ["cancelled hold", "review.cancelled", { review_id: "rv-1", decision_id: "dec-1", action_hash: "ab".repeat(32), reason: "device quarantined", by: "playbook:sha256:abc", outcome: "deny", evidence_id: "rv-1#3" }],
  ["created hold", "review.created", { review_id: "rv-2", decision_id: "dec-2", action_hash: "ab".repeat(32), tier: "tier1", deadline: "2026-12-01T14:00:00.000Z", evidence_id: "rv-2#1" }],
  ["approval withdrawn", "review.approval_withdrawn", { review_id: "rv-3", decision_id: "dec-3", action_hash: "ab".repeat(32), reviewer: "bob", approvals: 1, approvers_required: 2, by: "admin@example.com", reason: "left the company", evidence_id: "rv-3#2" }],
  ["consent given (the ledger's log: no event)", "consent.given", { consent: { id: "cns-1", actor: "dev@example.com" }, by: "dev@example.com" }],
  ["consent revoked (the ledger's log: no event)", "consent.revoked", { consent: "cns-1", by: "dpo@example.com", reason: "withdrawn" }],
  ["ticket", "review.ticket", { review_id: "rv-2", decision_id: "dec-2", system: "jira", key: "SEC-42", evidence_id: "rv-2#2" }],
  ["playbook hold", "playbook.review_all", { finding_id: "finding:13:probe-burst", rule: "probe-burst", tier: "tier2", by: "playbook:sha256:abc" }],
  ["playbook hold ended", "playbook.cleared", { finding_id: "finding:13:probe-burst", rule: "probe-burst", by: "admin@example.com", reason: "reviewed the denials" }],
  ["legal hold set", "device.legal_hold_set", { by: "admin@example.com", reason: "litigation 2026-4", changed: true }],
  ["legal hold lifted", "device.legal_hold_lifted", { by: "admin@example.com", reason: "settled", changed: true }],
  ["retention expired", "retention.expired", { segments: [{ first: 1, last: 10 }], vault_values: 3, retained_from: 11 }],
  ["key rotated", "log.key_rotated", { from: "kid-1", to: "kid-2", from_key: {}, to_key: {}, statement: "signed note" }],
];
const ADMIN_SHAPES: [string, string, Data][] = [
  ["reviewer removed", "admin.reviewer_removed", { reviewer: "bob", by: "admin", reason: "left the company" }],
  ["passkey revoked", "admin.passkey_revoked", { reviewer: "bob", credential: "Y3JlZC1pZC1ib2I", by: "admin", reason: "lost laptop" }],
  ["agent registered", "admin.agent_registered", { agent: "claude-code", revision: 1, risk: "medium", owner: "platform@example.com", artifacts: [], registry_version: 3, by: "admin@example.com" }],
  ["agent updated", "admin.agent_updated", { agent: "claude-code", revision: 2, risk: "high", owner: "platform@example.com", artifacts: ["ab".repeat(32)], registry_version: 4, by: "admin@example.com" }],
  ["playbook hold (admin log twin)", "admin.device_review_all", { device: "dev-1", by: "playbook:sha256:abc", reason: "finding:13:probe-burst", tier: "tier2", jti: null, device_log: { seq: 14, hash: "ab".repeat(32) } }],
  ["vault read", "admin.vault_read", { ref: "dev-1~AAAAAAAAAAAAAAAAAAAAAAAA", device: "dev-1", kid: "vault-1", by: "dpo@example.com", via: "access", reason: "DSAR 17" }],
  ["tenant legal hold set", "admin.legal_hold_set", { by: "admin@example.com", reason: "litigation", changed: true }],
  ["tenant legal hold lifted", "admin.legal_hold_lifted", { by: "admin@example.com", reason: "settled", changed: false }],
  ["device legal hold (admin log twin)", "admin.device_legal_hold_set", { device: "dev-1", by: "admin@example.com", reason: "litigation", device_log: { seq: 3, hash: "ab".repeat(32) } }],
  ["device legal hold lifted (admin log twin)", "admin.device_legal_hold_lifted", { device: "dev-1", by: "admin@example.com", reason: "settled", device_log: { seq: 4, hash: "ab".repeat(32) } }],
  ["agent removed", "admin.agent_removed", { agent: "claude-code", revision: 2, registry_version: 5, by: "admin@example.com" }],
];

describe("events from the shapes the code appends", () => {
  const shapes = chained("dev-shapes", SHAPES.map(([, type, data]) => [type, data]));
  const admins = chained("bundle-registry", ADMIN_SHAPES.map(([, type, data]) => [type, data]));
  const shaped = (label: string) => {
    const index = SHAPES.findIndex(([name]) => name === label);
    return ocsfEventOf(shapes[index]!, originOf("t-shapes", "device"));
  };

  it("every shape maps to a valid event of its row's class, or to null as its row says", () => {
    for (const [entries, origin] of [
      [shapes, originOf("t-shapes", "device")],
      [admins, originOf("t-shapes", "admin")],
    ] as const) {
      for (const entry of entries) {
        const event = ocsfEventOf(entry, origin);
        expect(event?.class_uid ?? null, entry.type).toBe(ENTRY_MAPPINGS[entry.type]!.class_uid);
        if (event) expectValidOcsf(event);
      }
    }
  });

  it("every row of the table is exercised, by a real entry or a shape", () => {
    const exercised = new Set([...REAL_DEVICE_TYPES, ...REAL_ADMIN_TYPES, ...SHAPES.map(([, type]) => type), ...ADMIN_SHAPES.map(([, type]) => type)]);
    expect(Object.keys(ENTRY_MAPPINGS).filter((type) => !exercised.has(type))).toEqual([]);
  });

  it("an attested session is Secure and trusted, At Risk when the claims say so, with only the listed claims", () => {
    expect(shaped("tpm session")).toMatchObject({ security_level_id: 1, device: { is_trusted: true }, actor: { session: { uid: "sess-1" } }, unmapped: { warden_attestation: { assurance: "tpm", evidence: { type: "tpm", pcr_digest: "ab".repeat(32) } } } });
    expect(JSON.stringify(shaped("tpm session"))).not.toContain("ak_name");
    expect(shaped("snp session with debug")).toMatchObject({ security_level_id: 2, security_level: "At Risk" });
    expect(JSON.stringify(shaped("snp session with debug"))).not.toContain("chip_id");
    expect(shaped("tdx session out of date")).toMatchObject({ security_level_id: 2 });
  });

  it("refused evidence: At Risk for verification and appraisal, Unknown when nothing was learnt", () => {
    expect(shaped("appraisal failure")).toMatchObject({ status_id: 2, status_code: "pcr_value_not_allowed", security_level_id: 2, security_states: [{ state_id: 2 }], severity_id: 4 });
    expect(shaped("verification failure")).toMatchObject({ security_level_id: 2, severity_id: 4 });
    expect(shaped("malformed evidence")).toMatchObject({ security_level_id: 0, severity_id: 3 });
    expect(shaped("configuration failure")).toMatchObject({ security_level_id: 0 });
  });

  it("TPM enrollment outcomes are Enroll, failures with their code", () => {
    expect(shaped("enrolled")).toMatchObject({ class_uid: 3004, activity_id: 6, status_id: 1, entity: { type: "Device", data: { vendor: "infineon" } } });
    expect(shaped("rebound")).toMatchObject({ activity_id: 6, severity_id: 3, entity: { data: { previous: { ek_name: "000b01" } } } });
    expect(shaped("activation failed")).toMatchObject({ status_id: 2, status_code: "credential_activation_failed" });
    expect(shaped("binding conflict")).toMatchObject({ status_id: 2, status_code: "tpm_binding_conflict" });
    expect(shaped("enrollment started")).toBeNull();
  });

  it("a fail-closed evaluation error names the failing policies; Other actions carry their verb", () => {
    expect(shaped("policy evaluation error")).toMatchObject({ activity_id: 99, activity_name: "mcp.call", type_name: "API Activity: Other", status_id: 2, disposition_id: 27, policy: { type: "canary", version: "7" }, actor: { authorizations: [{ decision: "deny", policy: { uid: "broken-policy" } }] }, resources: [{ type: "tool", uid: "mcp__github__create_issue" }] });
  });

  it("a finding is a Detection Finding with its rule, severity and numeric features only", () => {
    const event = shaped("finding");
    expect(event).toMatchObject({ class_uid: 2004, severity_id: 4, status_id: 1, is_alert: true, finding_info: { uid: "fnd-1", title: "10 denials in 60 s", analytic: { type_id: 1, name: "probe-burst" } }, evidences: [{ data: { trigger_seq: 41, features: { denials_60s: 10, first_seen_host: true } } }], unmapped: { warden_finding: { tier: "tier2" } } });
    expect(JSON.stringify(event)).not.toContain("evil.example");
  });

  it("holds cancelled, created and ticketed are API Activity on the held decision", () => {
    expect(shaped("cancelled hold")).toMatchObject({ action_id: 2, disposition_id: 24, actor: { app_uid: "playbook:sha256:abc" }, metadata: { correlation_uid: "dec-1" } });
    expect(shaped("created hold")).toMatchObject({ activity_id: 1, action_id: 99, disposition_id: 14, api: { response: { data: { review: { tier: "tier1" } } } } });
    expect(shaped("ticket")).toMatchObject({ api: { operation: "review.ticket", response: { data: { review: { ticket: { system: "jira", key: "SEC-42" } } } } } });
    expect(shaped("key rotated")).toBeNull();
  });

  it("reviewer removal and passkey revocation come from the admin log; the credential id stays there", () => {
    const origin = originOf("t-shapes", "admin");
    expect(ocsfEventOf(admins[0]!, origin)).toMatchObject({ class_uid: 3004, activity_id: 4, entity: { type: "User", uid: "bob" }, comment: "left the company" });
    const revoked = ocsfEventOf(admins[1]!, origin);
    expect(revoked).toMatchObject({ activity_id: 9, entity: { type: "Passkey" } });
    expect(JSON.stringify(revoked)).not.toContain("Y3JlZC1pZC1ib2I");
  });

  it("an entry without a readable time is refused, not given a made-up one (internal_error)", () => {
    const [entry] = chained("dev-x", [["device.released", { by: "admin", reason: "r", changed: true }]]);
    let thrown: unknown;
    try {
      ocsfEventOf({ ...entry!, time: "yesterday" }, originOf("t", "device"));
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(WardenError);
    expect((thrown as WardenError).code).toBe("internal_error");
  });

  it("an unknown type is not an event", () => {
    const [unknown] = chained("dev-x", [["something.new", {}]]);
    expect(ocsfEventOf(unknown!, originOf("t", "device"))).toBeNull();
  });
});

// ── The validator bites ─────────────────────────────────────────────────────────────────────

const EXAMPLES = import.meta.glob<{ [key: string]: unknown }>("../fixtures/ocsf/1.8.0/examples/*.json", { eager: true, import: "default" });

describe("the schemas reject what OCSF refuses", () => {
  const valid = () => structuredClone(eventOf(decisionEntry(world.ids.permit), device())) as Record<string, unknown> & { metadata: Record<string, unknown> };
  const located = (event: unknown, location: string) => ocsfSchemaErrors(event).filter((error) => error.instanceLocation === location);

  it("accepts the reference examples (the positive control)", () => {
    expect(Object.keys(EXAMPLES).length).toBe(11);
    for (const example of Object.values(EXAMPLES)) expect(ocsfSchemaErrors(example)).toEqual([]);
  });

  it("a type_uid that is not class_uid * 100 + activity_id", () => {
    const event = valid();
    event["type_uid"] = 600301;
    expect(located(event, "#/type_uid").map((error) => error.keyword)).toContain("const");
  });

  it("a profile's attribute without its profile (device needs host)", () => {
    const event = valid();
    event.metadata["profiles"] = ["security_control"];
    expect(located(event, "#/metadata/profiles").map((error) => error.keyword)).toContain("contains");
  });

  it("a required attribute missing (api.operation)", () => {
    const event = valid();
    delete (event["api"] as Record<string, unknown>)["operation"];
    expect(located(event, "#/api").map((error) => error.keyword)).toContain("required");
  });

  it("an at-least-one constraint unmet (src_endpoint with no identifier)", () => {
    const event = valid();
    event["src_endpoint"] = {};
    expect(located(event, "#/src_endpoint").map((error) => error.keyword)).toContain("anyOf");
  });

  it("an attribute the class does not have", () => {
    const event = valid();
    event["warden_extra"] = 1;
    expect(ocsfSchemaErrors(event).map((error) => error.keyword)).toContain("additionalProperties");
  });

  it("an enum value OCSF does not define, and a time that is not epoch milliseconds", () => {
    const event = valid();
    event["severity_id"] = 7;
    event["time"] = "2026-12-01T10:00:00Z";
    expect(located(event, "#/severity_id").map((error) => error.keyword)).toContain("enum");
    expect(located(event, "#/time").map((error) => error.keyword)).toContain("type");
  });

  it("a caption that does not match its id (the schemas do not check these; test/ocsf.ts does)", () => {
    const event = valid();
    event["activity_name"] = "Create";
    expect(ocsfSchemaErrors(event)).toEqual([]);
    expect(ocsfCaptionErrors(event)).toEqual(["activity_name Create is not Update"]);
  });

  it("a class with no schema here", () => {
    expect(ocsfSchemaErrors({ class_uid: 1001 }).map((error) => error.keyword)).toEqual(["class_uid"]);
  });
});

// ── Every type the code appends has a row ──────────────────────────────────────────────────

const SOURCES = import.meta.glob<string>(["../../worker/**/*.ts", "../../durable-objects/**/*.ts"], { eager: true, import: "default", query: "?raw" });

/** Calls that append an entry, and which argument is its type (a number: by position; "type": the `type` member of the first). */
/** Where each appending call takes the entry type: an argument, or the `type` member of an object argument. */
const TYPE_ARGUMENT: { readonly [callee: string]: number | { member: number } } = {
  appendInTransaction: 1,
  appendWith: 1,
  appendLog: 0,
  append: 0,
  nextEntry: 2,
  enqueueEvidence: 1,
  changeStanding: 1,
  recordAdmin: 1,
  recordAdminAction: { member: 0 },
  recordOnce: { member: 2 },
  appendLedger: 1,
  queueAdmin: 0,
};
/** Names that carry a type from a call site above, which the walk reads instead. */
const PASS_THROUGH = new Set(["type", "row.type", "args.type", "entry.type", "record.type"]);
/** The types a union declares, read from the source that declares it. */
function unionOf(file: string, declaration: RegExp): string[] {
  const match = declaration.exec(SOURCES[file] ?? "");
  if (!match) throw new Error(`${file} no longer declares ${String(declaration)}`);
  return [...match[1]!.matchAll(/"([^"]+)"/g)].map((literal) => literal[1]!);
}
/** Names whose types a declaration lists: the entries the history machinery raises (`follow.type`) are its FollowEntry union. */
const INDIRECT: { readonly [name: string]: readonly string[] } = {
  "follow.type": unionOf("../../worker/history/effects.ts", /interface FollowEntry \{[^}]*?type: ([^;]+);/),
};
/** Template types, with every value they take (a new template fails the walk until listed here). */
const TEMPLATES: { readonly [template: string]: readonly string[] } = {
  "`bundle.${args.slot}_cleared`": ["bundle.canary_cleared", "bundle.shadow_cleared"],
  '`bundle.${args.slot === "active" ? "activated" : args.slot}`': ["bundle.activated", "bundle.canary", "bundle.shadow"],
};

/** Index after the string, template or bracketed span that starts at `start`. */
function skip(source: string, start: number): number {
  const open = source[start]!;
  if (open === '"' || open === "'") {
    let i = start + 1;
    while (i < source.length && source[i] !== open) i += source[i] === "\\" ? 2 : 1;
    return i + 1;
  }
  if (open === "`") {
    let i = start + 1;
    while (i < source.length && source[i] !== "`") {
      if (source[i] === "\\") i += 2;
      else if (source[i] === "$" && source[i + 1] === "{") i = skip(source, i + 1);
      else i += 1;
    }
    return i + 1;
  }
  const close = ({ "(": ")", "[": "]", "{": "}" } as const)[open as "(" | "[" | "{"];
  let i = start + 1;
  while (i < source.length && source[i] !== close) i = /["'`([{]/.test(source[i]!) ? skip(source, i) : i + 1;
  return i + 1;
}

/** The top-level pieces of `text` split at `separator` (strings, templates and brackets kept whole). */
function splitTop(text: string, separator: string): string[] {
  const parts: string[] = [];
  let from = 0;
  for (let i = 0; i < text.length; ) {
    if (/["'`([{]/.test(text[i]!)) i = skip(text, i);
    else if (text[i] === separator) {
      parts.push(text.slice(from, i).trim());
      from = i += 1;
    } else i += 1;
  }
  parts.push(text.slice(from).trim());
  return parts;
}

/** The types an expression in a type position can take; `unknown` collects what the walk cannot read. */
function typesOf(expression: string, unknown: string[]): string[] {
  const text = expression.trim();
  if (/^"[^"\\]*"$|^'[^'\\]*'$/.test(text)) return [text.slice(1, -1)];
  if (text.startsWith("`") && skip(text, 0) === text.length) {
    const values = TEMPLATES[text];
    if (values) return [...values];
    unknown.push(text);
    return [];
  }
  const [condition, branches] = splitTop(text, "?");
  if (condition !== undefined && branches !== undefined) return splitTop(branches, ":").flatMap((branch) => typesOf(branch, unknown));
  if (PASS_THROUGH.has(text)) return [];
  if (Object.hasOwn(INDIRECT, text)) return [...INDIRECT[text]!];
  unknown.push(text);
  return [];
}

/** Every entry type `source` appends, and the expressions in a type position it cannot read. */
function appendedTypes(source: string): { types: string[]; unknown: string[] } {
  const types: string[] = [];
  const unknown: string[] = [];
  let passesType = false;
  for (const match of source.matchAll(/\b([A-Za-z]+)\s*\(/g)) {
    const callee = match[1]!;
    if (!Object.hasOwn(TYPE_ARGUMENT, callee)) continue;
    const position = TYPE_ARGUMENT[callee]!;
    const open = match.index + match[0].length - 1;
    const end = skip(source, open);
    // A declaration (`name(args): Type` or `name(args) {`) declares a type parameter; it appends nothing.
    if (/^\s*[:{]/.test(source.slice(end, end + 20))) continue;
    const args = splitTop(source.slice(open + 1, end - 1), ",");
    if (typeof position === "object") {
      const member = splitTop((args[position.member] ?? "").trim().replace(/^\{|\}$/g, ""), ",").find((part) => part === "type" || part.startsWith("type:"));
      if (member !== undefined) types.push(...typesOf(member === "type" ? "type" : member.slice(5), unknown));
      continue;
    }
    const argument = args[position];
    if (argument === "type") passesType = true;
    if (argument !== undefined) types.push(...typesOf(argument, unknown));
  }
  // A type computed before the call (`const type = …; appendLog(type, …)`), where a call passes `type` on.
  if (passesType) for (const match of source.matchAll(/\bconst type\s*=\s*([^;]+);/g)) types.push(...typesOf(match[1]!, unknown));
  return { types, unknown };
}

describe("the entry types in the code", () => {
  // Comments name calls too ("the append (another decision …)"); only code appends.
  const found = Object.entries(SOURCES).map(([file, source]) => ({ file, ...appendedTypes(source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "")) }));
  const types = new Set(found.flatMap((item) => item.types));

  it("the walk reads every type position, and finds the types it should", () => {
    expect(Object.keys(SOURCES).length).toBeGreaterThan(50);
    expect(found.filter((item) => item.unknown.length > 0).map((item) => `${item.file}: ${item.unknown.join(" | ")}`)).toEqual([]);
    for (const type of ["device.registered", "decision", "session.revoked", "tpm.rebound", "tpm.enrolled", "attestation.failed", "review.released", "review.expired", "log.key_rotated", "bundle.rolled_back", "bundle.canary", "bundle.shadow_cleared", "admin.action_token_revoked"]) {
      expect(types, type).toContain(type);
    }
  });

  it("every appended type has a row: an OCSF class, or why it is not an event", () => {
    expect([...types].filter((type) => !Object.hasOwn(ENTRY_MAPPINGS, type)).sort()).toEqual([]);
  });

  it("the walk bites: a new type, a type it cannot read, a declaration ignored", () => {
    expect(appendedTypes('this.appendInTransaction(device.id, "brand.new", {}, now);')).toEqual({ types: ["brand.new"], unknown: [] });
    expect(appendedTypes("this.appendLog(kindOfThing, {}, now);")).toEqual({ types: [], unknown: ["kindOfThing"] });
    expect(appendedTypes("this.appendLog(`x.${y}`, {}, now);")).toEqual({ types: [], unknown: ["`x.${y}`"] });
    expect(appendedTypes("private appendLog(type: string, data: Data, now: number): Head {")).toEqual({ types: [], unknown: [] });
    expect(appendedTypes('const type = flag ? "x.one" : `x.${kind}`; this.appendLog(type, {}, now);')).toEqual({ types: ["x.one"], unknown: ["`x.${kind}`"] });
    expect(appendedTypes('const type = "x.unrelated"; other(type);')).toEqual({ types: [], unknown: [] });
    expect(appendedTypes('recordAdminAction({ type: "admin.new_order", data, now })')).toEqual({ types: ["admin.new_order"], unknown: [] });
  });
});

// ── docs/events.md ─────────────────────────────────────────────────────────────────────────

describe("docs/events.md", () => {
  // Rows of its mapping table: `| \`type\` | class uid or — | …`.
  const rows = new Map(
    doc
      .split("\n")
      .map((line) => /^\| `([a-z_.]+)` \| (\d{4}|—) /.exec(line))
      .filter((match): match is RegExpExecArray => match !== null)
      .map((match) => [match[1]!, match[2] === "—" ? null : Number(match[2])]),
  );

  it("has a row for every entry type, with its class", () => {
    for (const [type, mapping] of Object.entries(ENTRY_MAPPINGS)) expect({ type, class_uid: rows.get(type) }).toEqual({ type, class_uid: mapping.class_uid });
    expect([...rows.keys()].filter((type) => !Object.hasOwn(ENTRY_MAPPINGS, type))).toEqual([]);
  });
});
