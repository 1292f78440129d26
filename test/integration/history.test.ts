import { env, runInDurableObject } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import type { WardenClient } from "../../cli/client.ts";
import type { DeviceLog } from "../../durable-objects/DeviceLog.ts";
import type { HistoryState } from "../../worker/history/effects.ts";
import { Replayer } from "../../worker/history/replay.ts";
import type { JsonValue } from "../../worker/log/canonical.ts";
import type { LogEntry } from "../../worker/log/chain.ts";
import { AuditFailure, verifyExport } from "../../worker/log/export-verify.ts";
import { parseMacKey } from "../../worker/log/mac.ts";
import { publisherKeys, verifyBundleArtifact, type BundleSources } from "../../worker/policy/artifact.ts";
import { openBundle, type CompiledBundle } from "../../worker/policy/bundle.ts";
import { checkPrecompiled } from "../../worker/policy/compile.ts";
import { configure, deviceStub, publishedLogKeys, runAlarms } from "../audit-helpers.ts";
import { BASE_URL, action, activate, agent, defaultSources, fileAction, logOf, newClient, readyDevice, uniqueId, workerFetch } from "../helpers.ts";
import { admin, call, enrolledReviewer, giveVerdict, holdAsAdmin, holdsOfDevice, waitOn } from "../review-helpers.ts";

// History-aware policy end to end (docs/history.md): the example bundle's three rules decided by
// real devices, the device's own object keeping the features in its append transactions, the
// playbook acting on findings, and every export replayed offline against the signed artifacts.

type Fetch = (request: Request) => Promise<Response>;

const customers = fileAction("file.read", "/home/dev/workspace/data/customers/acme.csv");
const send = action("http.request", [{ kind: "url", value: "https://registry.npmjs.org/left-pad" }], { sends_external: true });
const deleteOne = (i: number) => fileAction("file.delete", `/home/dev/workspace/build/out-${i}.o`);
const denied = fileAction("file.write", "/home/dev/elsewhere/x");
const write = fileAction("file.write", "/home/dev/workspace/src/app.ts");

function as(token: string, fetch: Fetch) {
  return async (path: string): Promise<Response> => fetch(new Request(`${BASE_URL}${path}`, { headers: { authorization: `Bearer ${token}` } }));
}

async function exportOf(deviceId: string, fetch: Fetch): Promise<string[]> {
  const response = await as(env.AUDITOR_TOKEN, fetch)(`/v1/devices/${deviceId}/export`);
  expect(response.status).toBe(200);
  return new TextDecoder().decode(await response.arrayBuffer()).split("\n").filter((line) => line.length > 0);
}

/** Every bundle the log names, fetched as an auditor does, verified with the publisher keys and opened. */
async function bundlesNamed(entries: LogEntry[], fetch: Fetch): Promise<Map<string, CompiledBundle>> {
  const digests = new Set<string>();
  for (const entry of entries) {
    if (entry.type === "decision" && typeof entry.data["policy"] === "string") digests.add(entry.data["policy"]);
    if (entry.type === "history.adopted") digests.add(String(entry.data["bundle"]));
  }
  const keys = await publisherKeys(env.PUBLISHER_KEYS);
  const bundles = new Map<string, CompiledBundle>();
  for (const digest of digests) {
    const response = await as(env.AUDITOR_TOKEN, fetch)(`/v1/bundles/artifacts/${digest}`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/octet-stream");
    // Taken as activation takes it (cli/audit-replay.ts does the same): verified, checked against its sources, opened.
    const artifact = await verifyBundleArtifact(new Uint8Array(await response.arrayBuffer()), keys, Date.now());
    expect(artifact.statement.digest).toBe(digest);
    checkPrecompiled(artifact);
    bundles.set(digest, openBundle(artifact));
  }
  return bundles;
}

beforeAll(async () => {
  await activate();
});

const entriesOf = (lines: string[]) => lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line["kind"] === undefined) as unknown as LogEntry[];

/** Verifies the device's export with the replay hooked in; returns the replay and its history. */
async function replayed(deviceId: string, fetch: Fetch = workerFetch()) {
  const lines = await exportOf(deviceId, fetch);
  const replayer = new Replayer(await bundlesNamed(entriesOf(lines), fetch));
  const report = await verifyExport(lines, { keys: (await publishedLogKeys()).keys, macKeys: [parseMacKey(env.LOG_HMAC_KEY!)], onEntry: (entry) => replayer.push(entry) });
  expect(report.failure).toBeNull();
  return { report, replay: replayer.finish(), history: replayer.history, entries: entriesOf(lines) };
}

/** Feeds entries straight to a replay (no chain check): what the replay step alone says of them. */
function replayAlone(entries: LogEntry[], bundles: Map<string, CompiledBundle>): AuditFailure | null {
  const replayer = new Replayer(bundles);
  try {
    for (const entry of entries) replayer.push(entry);
    replayer.finish();
    return null;
  } catch (error) {
    if (error instanceof AuditFailure) return error;
    throw error;
  }
}

describe("the example bundle's history rules, decided by a device", () => {
  it("exfil-after-customer-data: a send after a customer-data read is held for tier2, naming the rule, with the value recorded", async () => {
    const device = await readyDevice();
    expect((await device.decide(customers)).body.decision).toBe("permit");
    const held = await device.decide(send);
    expect(held.body).toMatchObject({ decision: "review", reason_code: "policy_review", review: { tier: "tier2" } });
    expect(held.body.reasons).toContain("exfil-after-customer-data");
    const entry = (await logOf(device)).find((logged) => logged.data["decision_id"] === held.body.decision_id)!;
    expect(entry.data["history"]).toMatchObject({ values: { customer_data_read_30m: true, deletes_60s: 0 } });
    // A device that read nothing of the kind sends without a hold from this rule.
    const other = await readyDevice();
    expect((await other.decide(send)).body.reasons).not.toContain("exfil-after-customer-data");
  });

  it("delete-burst: after 21 permitted deletions in a minute, the next is held for tier1", async () => {
    const device = await readyDevice();
    for (let i = 0; i < 21; i += 1) expect((await device.decide(deleteOne(i))).body.decision).toBe("permit");
    const held = await device.decide(deleteOne(21));
    expect(held.body).toMatchObject({ decision: "review", reasons: ["delete-burst"], review: { tier: "tier1" } });
    // Other actions are not held by it.
    expect((await device.decide(write)).body.decision).toBe("permit");
  });

  it("probe-burst: the tenth denial within a minute raises a high finding, logged right after it", async () => {
    const device = await readyDevice();
    const answers = [];
    for (let i = 0; i < 10; i += 1) answers.push(await device.decide(denied));
    expect(answers.every((answer) => answer.body.decision === "deny")).toBe(true);
    const log = await logOf(device);
    const tenth = answers[9]!.body.log!.seq;
    const finding = log.find((entry) => entry.type === "finding")!;
    expect(finding.seq).toBe(tenth + 1);
    expect(finding.data).toEqual({
      finding_id: `finding:${tenth}:probe-burst`,
      rule: "probe-burst",
      severity: "high",
      tier: "tier2",
      title: expect.stringContaining("Ten denials"),
      features: { denials_60s: 10 },
      trigger_seq: tenth,
      trigger_type: "decision",
      bundle: expect.stringMatching(/^sha256:/),
      playbook: null,
    });
    // Within its cooldown the rule raises nothing more.
    await device.decide(denied);
    expect((await logOf(device)).filter((entry) => entry.type === "finding")).toHaveLength(1);
  });
});

describe("replay", () => {
  let device: WardenClient;
  beforeAll(async () => {
    device = await readyDevice();
    await device.decide(customers);
    await device.decide(send);
    await device.decideBatch([deleteOne(1), denied, write, action("command.exec", [{ kind: "command", value: "cat data/customers/b.csv | wc -l", cwd: "/home/dev/workspace" }])]);
    for (let i = 0; i < 10; i += 1) await device.decide(denied);
    // A command line whose token the example bundle's privacy section tokenises before it is logged.
    await device.decide(action("command.exec", [{ kind: "command", value: "git push --token=s3cr3t-value origin", cwd: "/home/dev/workspace" }]));
  });

  it("recomputes every decision, history value and finding of an export from the signed artifacts", async () => {
    const { replay } = await replayed(device.deviceId);
    expect(replay.replayed).toBe(16);
    expect(replay.raised).toBe(1);
    expect(replay.adoptions).toBe(1);
    // The masked command was judged on a value the log does not hold: counted, not decided again on its marker.
    expect(replay.skipped).toEqual({ masked: 1 });
    expect(replay.missing).toEqual([]);
  });

  it("on its own, fails naming the seq when a recorded value, a verdict or a finding disagrees", async () => {
    const entries = entriesOf(await exportOf(device.deviceId, workerFetch()));
    const bundles = await bundlesNamed(entries, workerFetch());
    expect(replayAlone(entries, bundles)).toBeNull();
    const heldSend = entries.find((entry) => entry.type === "decision" && (entry.data["reasons"] as string[]).includes("exfil-after-customer-data"))!;
    const edit = (seq: number, change: (data: LogEntry["data"]) => LogEntry["data"]) => entries.map((entry) => (entry.seq === seq ? { ...entry, data: change(structuredClone(entry.data)) } : entry));

    const value = replayAlone(edit(heldSend.seq, (data) => ({ ...data, history: { ...(data["history"] as object), values: { customer_data_read_30m: false, deletes_60s: 0 } } })), bundles);
    expect([value?.code, value?.seq]).toEqual(["history_mismatch", heldSend.seq]);

    const verdict = replayAlone(edit(heldSend.seq, (data) => ({ ...data, decision: "permit", reason_code: "policy_permit", reasons: ["package-registry"], tier: null })), bundles);
    expect([verdict?.code, verdict?.seq]).toEqual(["replay_mismatch", heldSend.seq]);

    const finding = entries.find((entry) => entry.type === "finding")!;
    const dropped = replayAlone(entries.filter((entry) => entry.seq !== finding.seq), bundles);
    expect([dropped?.code, dropped?.seq]).toEqual(["finding_mismatch", finding.seq + 1]);
    const forged = replayAlone(edit(finding.seq, (data) => ({ ...data, severity: "low" })), bundles);
    expect([forged?.code, forged?.seq]).toEqual(["finding_mismatch", finding.seq]);
  });

  it("says what it could not replay: decisions under a bundle not given, and the digests missing", async () => {
    const entries = entriesOf(await exportOf(device.deviceId, workerFetch()));
    const replayer = new Replayer(new Map());
    for (const entry of entries) replayer.push(entry);
    const report = replayer.finish();
    expect(report.replayed).toBe(0);
    expect(report.skipped).toEqual({ artifact_not_given: 17 });
    expect(report.missing).toHaveLength(1);
  });

  it("serves artifacts to auditors and admins only, by a digest some activation named", async () => {
    const digest = (await logOf(device)).find((entry) => entry.type === "decision")!.data["policy"] as string;
    expect((await as(env.ADMIN_TOKEN, workerFetch())(`/v1/bundles/artifacts/${digest}`)).status).toBe(200);
    const unknown = await as(env.AUDITOR_TOKEN, workerFetch())(`/v1/bundles/artifacts/sha256:${"0".repeat(64)}`);
    expect([unknown.status, ((await unknown.json()) as { code: string }).code]).toEqual([404, "not_found"]);
    const malformed = await as(env.AUDITOR_TOKEN, workerFetch())(`/v1/bundles/artifacts/md5:abc`);
    expect(malformed.status).toBe(400);
    const asDevice = await device.authorized<{ code: string }>("GET", `/v1/bundles/artifacts/${digest}`);
    expect([asDevice.status, asDevice.body.code]).toEqual([403, "person_required"]);
  });
});

describe("concurrent decisions of one device", () => {
  it("50 at once leave the object's history equal to a recomputation from its log", async () => {
    const device = await readyDevice();
    const requests = Array.from({ length: 50 }, (_, i) => [deleteOne(i), customers, denied, send, write][i % 5]!);
    const answers = await Promise.all(requests.map((request) => device.decide(request)));
    expect(answers.every((answer) => answer.status === 200 && answer.body.log !== null)).toBe(true);
    const { replay, history } = await replayed(device.deviceId);
    const contended = answers.filter((answer) => answer.body.reason_code === "history_contended").length;
    expect(replay.replayed + (replay.skipped.fail_closed ?? 0)).toBe(50);
    expect(replay.skipped.fail_closed ?? 0).toBe(contended);
    // What the object stored, row by row, is what the log recomputes to.
    const stored = await runInDurableObject(deviceStub(device.deviceId), (_instance: DeviceLog, state) => {
      const rows = state.storage.sql.exec<{ name: string; value: string }>("SELECT name, value FROM history_state").toArray();
      const meta = JSON.parse(rows.find((row) => row.name === "meta")!.value) as Omit<HistoryState, "features">;
      const features = Object.fromEntries(rows.filter((row) => row.name.startsWith("feature:")).map((row) => [row.name.slice(8), JSON.parse(row.value)]));
      return { ...meta, features };
    });
    expect(stored).toEqual(history);
    expect((history!.features["deletes_60s"] as { times: number[] }).times).toHaveLength(answers.filter((answer, i) => i % 5 === 0 && answer.body.decision === "permit").length);
  });
});

describe("this isolate's copy of a device's history", () => {
  it("spares a device's next decisions the history read, and a copy the log moved past is decided again on the log's", async () => {
    let reads = 0;
    const counting = workerFetch({
      deps: {
        deviceStore: (bindings, tenant, id) => {
          const stub = bindings.DEVICES.get(bindings.DEVICES.idFromName(`${tenant}/${id}`));
          return new Proxy(stub, { get: (target, name) => (name === "readHistory" && (reads += 1), Reflect.get(target, name)) });
        },
      },
    });
    const device = await readyDevice({ fetch: counting });
    expect((await device.decide(write)).body.decision).toBe("permit");
    expect(reads).toBe(1);
    expect((await device.decide(deleteOne(1))).body.decision).toBe("permit");
    expect((await device.decide(write)).body.decision).toBe("permit");
    expect(reads).toBe(1);

    // Another isolate logs a customer-data read for the device: this isolate's copy does not know it.
    const reader = await readyDevice();
    await reader.decide(customers);
    const read = (await logOf(reader)).find((entry) => entry.type === "decision")!;
    const moved = await runInDurableObject(deviceStub(device.deviceId), (instance: DeviceLog) => instance.append("decision", read.data as { [key: string]: JsonValue }, Date.now()));
    expect(moved.ok).toBe(true);
    // Decided first on the stale copy (no hold), the object refuses that history and the send is decided again on the log's.
    const held = await device.decide(send);
    expect(held.body).toMatchObject({ decision: "review", review: { tier: "tier2" } });
    expect(held.body.reasons).toContain("exfil-after-customer-data");
    expect(reads).toBe(1);
  });
});

describe("the playbook", () => {
  const playbookBundle = (playbook: Record<string, unknown>): BundleSources => ({
    ...defaultSources,
    manifest: { ...(defaultSources.manifest as Record<string, unknown>), playbook } as BundleSources["manifest"],
  });

  async function tenantWith(playbook: Record<string, unknown>): Promise<{ fetch: Fetch; digest: string; tenant: string }> {
    const tenant = uniqueId("playbook");
    const digest = await activate(playbookBundle(playbook), tenant);
    return { fetch: workerFetch({ tenant }), digest, tenant };
  }

  async function adminLog(fetch: Fetch): Promise<{ type: string; data: Record<string, unknown> }[]> {
    const response = await as(env.ADMIN_TOKEN, fetch)("/v1/bundles/log?limit=1000");
    return ((await response.json()) as { entries: { type: string; data: Record<string, unknown> }[] }).entries;
  }

  it("quarantine: a finding quarantines the device in the same transaction; the next decision denies device_quarantined", async () => {
    const { fetch, digest } = await tenantWith({ findings: [{ rule: "probe-burst", action: "quarantine" }] });
    const device = await readyDevice({ fetch });
    // The tenth denial of a batch raises the finding; the decisions after it in the same batch are already the quarantine's.
    const batch = await device.decideBatch([...Array.from({ length: 10 }, () => denied), write]);
    expect(batch.body.decisions.at(-1)).toMatchObject({ decision: "deny", reason_code: "device_quarantined" });
    const next = await device.decide(write);
    expect(next.body).toMatchObject({ decision: "deny", reason_code: "device_quarantined" });
    expect(next.body.token).toBeUndefined();

    const log = await logOf(device);
    const finding = log.find((entry) => entry.type === "finding")!;
    expect(finding.data).toMatchObject({ rule: "probe-burst", playbook: "quarantine" });
    expect(log.find((entry) => entry.seq === finding.seq + 1)).toMatchObject({ type: "device.quarantined", data: { by: `playbook:${digest}`, reason: finding.data["finding_id"], changed: true } });
    const standing = await (await as(env.ADMIN_TOKEN, fetch)(`/v1/devices/${device.deviceId}`)).json();
    expect(standing).toMatchObject({ status: "quarantined", history: [{ type: "device.quarantined", by: `playbook:${digest}`, reason: finding.data["finding_id"] }] });
    // Recorded in the admin log right after the commit.
    await expect.poll(async () => (await adminLog(fetch)).find((entry) => entry.type === "admin.device_quarantined")?.data, { timeout: 5000 }).toMatchObject({
      device: device.deviceId,
      by: `playbook:${digest}`,
      reason: finding.data["finding_id"],
      device_log: { seq: finding.seq + 1 },
    });
    const { replay } = await replayed(device.deviceId, fetch);
    expect(replay.raised).toBe(2);
    expect(replay.skipped.device_quarantined).toBe(2);
  });

  describe("quarantine ends the device's review holds, as an admin's does", () => {
    const heldAction = () => action("file.delete", [{ kind: "path", value: `/home/dev/workspace/.git/objects/${uniqueId("obj")}` }]);
    async function held(device: WardenClient): Promise<string> {
      const decided = await device.decide(heldAction());
      expect(decided.body.decision).toBe("review");
      return (decided.body.review as unknown as { id: string }).id;
    }
    const release = (fetch: Fetch, device: WardenClient) => call(fetch, "POST", `/v1/devices/${device.deviceId}/release`, { reason: "looked into it" }, admin);
    const denials = async (device: WardenClient) => {
      for (let i = 0; i < 10; i += 1) await device.decide(denied);
    };

    it("pending and approved-but-unreleased holds are cancelled; nothing approves them, and after the release nothing hands out a token", async () => {
      const { fetch, digest } = await tenantWith({ findings: [{ rule: "probe-burst", action: "quarantine" }] });
      const device = await readyDevice({ fetch });
      const reviewer = await enrolledReviewer(fetch, uniqueId("rev"));
      const approved = await held(device);
      const pending = await held(device);
      expect((await giveVerdict(fetch, reviewer, approved, "approve")).body.status).toBe("approved");

      await denials(device);
      expect((await call<{ status: string }>(fetch, "GET", `/v1/devices/${device.deviceId}`, undefined, admin)).body.status).toBe("quarantined");
      // Ended right after the quarantine's commit, by the device's object.
      await expect.poll(async () => [(await holdAsAdmin(fetch, approved)).status, (await holdAsAdmin(fetch, pending)).status], { timeout: 5000 }).toEqual(["cancelled", "cancelled"]);
      expect(await holdAsAdmin(fetch, approved)).toMatchObject({ decision: "deny", released: false });
      const late = await giveVerdict(fetch, reviewer, pending, "approve");
      expect(late.status).toBe(409);
      expect(late.body).toMatchObject({ code: "review_not_pending" });

      expect((await release(fetch, device)).status).toBe(200);
      await device.openSession();
      for (const id of [approved, pending]) {
        const read = await waitOn(device, id);
        expect(read.body).toMatchObject({ status: "cancelled", decision: "deny" });
        expect(read.body.token).toBeUndefined();
      }
      // In the device log like an admin's cancellation, naming the playbook and its finding.
      const log = await logOf(device);
      const finding = log.find((entry) => entry.type === "finding")!;
      const cancelled = log.filter((entry) => entry.type === "review.cancelled");
      expect(cancelled.map((entry) => [entry.data["review_id"], entry.data["previous"]])).toEqual([
        [approved, "approved"],
        [pending, "pending"],
      ]);
      for (const entry of cancelled) expect(entry.data).toMatchObject({ outcome: "deny", by: `playbook:${digest}`, reason: finding.data["finding_id"] });
      const { report } = await replayed(device.deviceId, fetch);
      expect(report.failure).toBeNull();
    });

    it.each([
      ["the holds reached at the commit", false],
      // The quarantine's fence is not there yet when the batch would ask for the hold: only the batch itself keeps it from being made.
      ["the holds unreachable from the device at the commit, the cancellation landing later by the alarm", true],
    ])("a decision held earlier in the batch that quarantines gets no hold (%s): it denies device_quarantined", async (_when, cancellationLate) => {
      const { fetch, tenant } = await tenantWith({ findings: [{ rule: "probe-burst", action: "quarantine" }] });
      const device = await readyDevice({ fetch });
      const stub = deviceStub(device.deviceId, tenant);
      if (cancellationLate) {
        await configure(stub, {
          io: {
            holds: () => {
              throw new Error("holds unavailable");
            },
          },
        });
      }
      const batch = await device.decideBatch([heldAction(), ...Array.from({ length: 10 }, () => denied)]);
      expect(batch.body.decisions[0]).toMatchObject({ decision: "deny", reason_code: "device_quarantined" });
      expect(batch.body.decisions[0]!.review).toBeUndefined();
      if (cancellationLate) await configure(stub, { io: { holds: undefined } });
      // Once the quarantine's cancellation has run (after the commit, not awaited by the answer), a hold the batch made would be ended, no longer pending.
      // When it failed at the commit, the alarm delivers it; a run may join the commit's delivery still under way, so it runs until nothing is owed.
      await expect
        .poll(
          async () => {
            if (cancellationLate) await runAlarms(stub, 1);
            return runInDurableObject(stub, (_log: DeviceLog, state) => state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM hold_cancellations").one().n);
          },
          { timeout: 5000 },
        )
        .toBe(0);
      // Logged as the review it was decided; no hold was made for it, in any status: one made and then cancelled would not be pending either.
      expect((await logOf(device)).find((entry) => entry.type === "decision")?.data).toMatchObject({ decision: "review" });
      expect(await holdsOfDevice(tenant, device.deviceId)).toEqual([]);
    });

    it("the holds object unreachable at the commit: the alarm ends the holds made by the quarantine, and none made after the release", async () => {
      const clock = { now: Date.now() };
      const { tenant, digest } = await tenantWith({ findings: [{ rule: "probe-burst", action: "quarantine" }] });
      const fetch = workerFetch({ tenant, deps: { now: () => clock.now } });
      const device = await newClient({ fetch, now: () => clock.now });
      const stub = deviceStub(device.deviceId, tenant);
      // Checkpoints an hour apart (and retention daily): the alarm comes back sooner only for what is owed.
      await configure(stub, { tuning: { checkpointSeconds: 3600 } });
      expect((await device.register(env.ADMIN_TOKEN)).status).toBe(201);
      await device.openSession();
      const reviewer = await enrolledReviewer(fetch, uniqueId("rev"));
      const approved = await held(device);
      expect((await giveVerdict(fetch, reviewer, approved, "approve")).body.status).toBe("approved");
      await configure(stub, {
        io: {
          holds: () => {
            throw new Error("holds unavailable");
          },
        },
      });

      clock.now += 1000;
      await denials(device);
      expect((await call<{ status: string }>(fetch, "GET", `/v1/devices/${device.deviceId}`, undefined, admin)).body.status).toBe("quarantined");
      expect((await holdAsAdmin(fetch, approved)).status).toBe("approved");
      // Owed, with the alarm set to come back for it.
      expect(await runInDurableObject(stub, (_log: DeviceLog, state) => state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM hold_cancellations").one().n)).toBe(1);
      const alarm = await runInDurableObject(stub, (_log: DeviceLog, state) => state.storage.getAlarm());
      expect(alarm).not.toBeNull();
      expect(alarm! - Date.now()).toBeLessThanOrEqual(30_000);

      // Released before the retry landed; a hold made after the release is not the quarantine's.
      clock.now += 1000;
      expect((await release(fetch, device)).status).toBe(200);
      await device.openSession();
      const after = await held(device);

      await configure(stub, { io: { holds: undefined } });
      await runAlarms(stub, 1);
      expect(await holdAsAdmin(fetch, approved)).toMatchObject({ status: "cancelled", decision: "deny" });
      expect((await holdAsAdmin(fetch, after)).status).toBe("pending");
      expect((await waitOn(device, approved)).body.token).toBeUndefined();
      expect(await runInDurableObject(stub, (_log: DeviceLog, state) => state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM hold_cancellations").one().n)).toBe(0);
      expect((await logOf(device)).filter((entry) => entry.type === "review.cancelled").map((entry) => [entry.data["review_id"], entry.data["by"]])).toEqual([[approved, `playbook:${digest}`]]);
    });
  });

  it("review_all: every later permit-worthy action is held at the named tier until an admin releases the device", async () => {
    const { fetch } = await tenantWith({ findings: [{ rule: "probe-burst", action: "review_all", tier: "tier2" }] });
    const device = await readyDevice({ fetch });
    for (let i = 0; i < 10; i += 1) await device.decide(denied);
    const held = await device.decide(write);
    expect(held.body).toMatchObject({ decision: "review", reason_code: "playbook_review", reasons: ["playbook:probe-burst"], review: { tier: "tier2" } });
    expect(held.body.token).toBeUndefined();
    // A denial stays a denial.
    expect((await device.decide(fileAction("file.read", "/etc/shadow"))).body).toMatchObject({ decision: "deny", reason_code: "policy_forbid" });
    const log = await logOf(device);
    const hold = log.find((entry) => entry.type === "playbook.review_all")!;
    expect(hold.data).toMatchObject({ rule: "probe-burst", tier: "tier2", finding_id: expect.stringMatching(/^finding:\d+:probe-burst$/) });

    const released = await fetch(new Request(`${BASE_URL}/v1/devices/${device.deviceId}/release`, { method: "POST", headers: { authorization: `Bearer ${env.ADMIN_TOKEN}`, "content-type": "application/json" }, body: JSON.stringify({ reason: "reviewed the denials: a misconfigured agent" }) }));
    expect(released.status).toBe(200);
    expect(await released.json()).toMatchObject({ changed: true });
    expect((await logOf(device)).at(-1)).toMatchObject({ type: "playbook.cleared", data: { finding_id: hold.data["finding_id"], by: "bootstrap-token:admin", reason: "reviewed the denials: a misconfigured agent" } });
    expect((await device.decide(write)).body).toMatchObject({ decision: "permit", token: expect.any(String) });
    await expect.poll(async () => (await adminLog(fetch)).some((entry) => entry.type === "admin.device_review_all"), { timeout: 5000 }).toBe(true);
    const { replay } = await replayed(device.deviceId, fetch);
    expect(replay.replayed).toBe(13);
  });

  const refusedEvidence = async (device: WardenClient) => {
    const nonce = await device.nonce();
    // The example bundle has no SEV-SNP reference values: the evidence is refused (and logged) before any parsing.
    return device.requestSession(nonce.nonce, { type: "sev-snp", report: "AAAA", certs: { endorsement_key: "AAAA" } });
  };

  it("an attestation failure quarantines the device when the playbook says so", async () => {
    const { fetch, digest } = await tenantWith({ attestation_failure: { action: "quarantine", severity: "critical", tier: "tier2" } });
    const device = await readyDevice({ fetch });
    expect((await refusedEvidence(device)).status).toBe(409);
    const log = await logOf(device);
    const failed = log.find((entry) => entry.type === "attestation.failed")!;
    expect(log.slice(log.indexOf(failed) + 1).map((entry) => [entry.type, entry.data["rule"] ?? entry.data["by"]])).toEqual([
      ["finding", "attestation-failure"],
      ["device.quarantined", `playbook:${digest}`],
    ]);
    expect((await device.decide(write)).body).toMatchObject({ decision: "deny", reason_code: "device_quarantined" });
  });

  it("an attestation failure quarantines nothing when the playbook does not say so", async () => {
    const device = await readyDevice();
    expect((await refusedEvidence(device)).status).toBe(409);
    expect((await logOf(device)).map((entry) => entry.type)).not.toContain("device.quarantined");
    expect((await device.decide(write)).body.decision).toBe("permit");
  });

  it("bundle activation refuses malformed history declarations with their own codes, and the previous bundle stays", async () => {
    const tenant = uniqueId("refused");
    await activate(defaultSources, tenant);
    const manifest = defaultSources.manifest as Record<string, unknown>;
    const cases: [Record<string, unknown>, string, string?][] = [
      [{ ...manifest, history: { ...(manifest["history"] as object), deletes_60s: { kind: "rate", filter: {} } } }, "bundle_history_invalid"],
      [{ ...manifest, detections: { "probe-burst": { title: "x", severity: "high", tier: "tier2", when: [{ feature: "nope", op: ">=", value: 1 }] } } }, "bundle_detection_invalid"],
      [{ ...manifest, playbook: { findings: [{ rule: "nope", action: "quarantine" }] } }, "bundle_playbook_invalid"],
      [manifest, "bundle_history_schema_mismatch", defaultSources.schema.replace("  denials_60s: Long,\n", "")],
    ];
    const { publish } = await import("../helpers.ts");
    for (const [changed, code, schema] of cases) {
      // Signed as a build that skipped the checks would sign it (`warden bundle build` refuses these): the index and lines of valid sources beside them.
      const published = await publish({ ...defaultSources, manifest: changed as BundleSources["manifest"], ...(schema ? { schema } : {}) }, { tenant, compiledFrom: defaultSources });
      expect([published.status, published.body.code]).toEqual([422, code]);
    }
    const device = await readyDevice({ fetch: workerFetch({ tenant }) });
    expect((await device.decide(write)).body.decision).toBe("permit");
  });
});

describe("decision requests without history", () => {
  it("a bundle whose policies read no feature decides without a read, and the object still keeps its history", async () => {
    const tenant = uniqueId("plain");
    await activate({ ...defaultSources, policies: '@id("permit-all")\npermit (principal, action, resource);\n' }, tenant);
    const device = await readyDevice({ fetch: workerFetch({ tenant }) });
    for (let i = 0; i < 10; i += 1) await device.decide({ agent, action: { type: "file.read", targets: [{ kind: "path", value: "/x" }] } });
    const log = await logOf(device);
    expect(log.filter((entry) => entry.type === "decision").every((entry) => (entry.data["history"] as { values: object }).values && Object.keys((entry.data["history"] as { values: object }).values).length === 0)).toBe(true);
    expect(log.filter((entry) => entry.type === "history.adopted")).toHaveLength(1);
  });
});
