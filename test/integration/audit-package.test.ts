import { env, SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { canonicalJson, type JsonValue } from "../../worker/log/canonical.ts";
import type { LogEntry } from "../../worker/log/chain.ts";
import { verifyReviewAssertion } from "../../worker/log/review-evidence.ts";
import { importLogSigningKey, noteSignerFor } from "../../worker/log/keys.ts";
import { parseNote, signNote } from "../../worker/log/note.ts";
import { verifyPackage, type PackageOptions } from "../../worker/log/package-verify.ts";
import type { ComplianceMapping } from "../../worker/log/compliance.ts";
import { publisherKeys } from "../../worker/policy/artifact.ts";
import { asPerson } from "../access-helpers.ts";
import { auditorGet, configure, deviceStub, publishedLogKeys, registeredDevice, runAlarms } from "../audit-helpers.ts";
import { action, activate, BASE_URL, readyDevice, uniqueId, workerFetch } from "../helpers.ts";
import { enrolledReviewer, giveVerdict } from "../review-helpers.ts";

async function packageLines(query = ""): Promise<string[]> {
  const response = await auditorGet(`/v1/audit/package${query}`);
  expect(response.status).toBe(200);
  return new TextDecoder().decode(await response.arrayBuffer()).split("\n").filter((line) => line.length > 0);
}

type Record = { kind: string; file?: string; [key: string]: unknown };
const records = (lines: string[]) => lines.map((line) => JSON.parse(line) as Record);

let ids: string[];
let reviewed: string;
let options: PackageOptions;

beforeAll(async () => {
  await activate();
  await activate();
  ids = [];
  for (let n = 0; n < 2; n += 1) {
    const { id, stub } = await registeredDevice();
    await configure(stub, { tuning: { checkpointEntries: 1 } });
    await runAlarms(stub, 2); // signs the first checkpoint and lists the device in the archive
    ids.push(id);
  }
  // A device with a refused attestation and a held action a reviewer approved with a passkey, all through the API.
  const client = await readyDevice();
  reviewed = client.deviceId;
  const nonce = await client.nonce();
  expect((await client.requestSession(nonce.nonce, { type: "sev-snp", report: "AAAA" })).status).toBe(409);
  await client.openSession();
  const decided = await client.decide(action("file.delete", [{ kind: "path", value: `/home/dev/workspace/.git/objects/${uniqueId("obj")}` }]));
  expect(decided.body.decision).toBe("review");
  const reviewer = await enrolledReviewer(workerFetch(), uniqueId("auditor-pkg-reviewer"));
  const verdict = await giveVerdict(workerFetch(), reviewer, (decided.body.review as unknown as { id: string }).id, "approve");
  expect(verdict.status, JSON.stringify(verdict.body)).toBe(200);
  // An admin quarantines and releases another device and revokes its sessions (a quarantine would
  // also end this one's approved hold); a person gives a consent.
  const admin = async (path: string, body: unknown) =>
    (await SELF.fetch(new Request(`${BASE_URL}${path}`, { method: "POST", headers: { authorization: `Bearer ${env.ADMIN_TOKEN}`, "content-type": "application/json" }, body: JSON.stringify(body) }))).status;
  expect(await admin(`/v1/devices/${ids[0]}/quarantine`, { reason: "EDR alert" })).toBe(200);
  expect(await admin(`/v1/devices/${ids[0]}/release`, { reason: "EDR alert closed" })).toBe(200);
  expect(await admin(`/v1/devices/${ids[0]}/sessions/revoke`, { reason: "rotate after incident" })).toBe(200);
  const consent = await SELF.fetch(
    new Request(`${BASE_URL}/v1/consents`, {
      method: "POST",
      headers: { ...(await asPerson({ email: "pkg-user@example.com" })), "content-type": "application/json" },
      body: JSON.stringify({ scope: { paths: ["/home/dev/Documents/**"], actions: ["file.read"] }, purpose: "audit package test", expiry: new Date(Date.now() + 86_400_000).toISOString(), consent_version: "2026-01" }),
    }),
  );
  expect(consent.status, await consent.clone().text()).toBe(201);
  const stub = deviceStub(reviewed);
  await configure(stub, { tuning: { checkpointEntries: 1 } });
  await runAlarms(stub, 2);
  options = { keys: (await publishedLogKeys()).keys, publisherKeys: await publisherKeys(env.PUBLISHER_KEYS) };
});

describe("compliance package", () => {
  it("holds the deployment, admin log, every deployed bundle's signed artifact, devices with proven evidence, the mapping and a signed manifest", async () => {
    const lines = await packageLines();
    const all = records(lines);
    expect(all[0]).toMatchObject({ kind: "package", format: "warden.compliance-package.v2", tenant: env.TENANT, origin: `warden.example.com/log/${env.TENANT}` });
    expect(all.find((record) => record.kind === "bundle.deployment")).toMatchObject({ file: "bundles/deployment.json", deployment: { active: expect.any(Object) } });
    expect(all.some((record) => record.kind === "bundle.log" && (record["entry"] as { type: string }).type === "bundle.activated")).toBe(true);
    const artifacts = all.filter((record) => record.kind === "bundle.artifact");
    expect(artifacts.length).toBeGreaterThanOrEqual(2);
    expect(artifacts[0]!.file).toMatch(/^bundles\/\d+\.jws$/);
    for (const id of ids) {
      const device = all.find((record) => record.kind === "device" && (record["device"] as { id: string }).id === id);
      expect(device).toMatchObject({ file: `devices/${id}/device.json`, assurance_history: [{ seq: 1, time: expect.any(String), assurance: "software" }] });
      // The first device has the quarantine, release and revocation after its registration.
      expect(device!["checkpoint"]).toMatch(new RegExp(`^warden\\.example\\.com/log/${env.TENANT}/${id}\\n${id === ids[0] ? 4 : 1}\\n`));
    }
    const evidence = all.filter((record) => record["device"] === reviewed && ["review", "attestation", "quarantine", "revocation"].includes(record.kind));
    expect(evidence.map((record) => [record.kind, (record["entry"] as { type: string }).type])).toEqual([
      ["attestation", "attestation.failed"],
      ["review", "review.approved"],
    ]);
    const standing = all.filter((record) => record["device"] === ids[0] && ["quarantine", "revocation"].includes(record.kind));
    expect(standing.map((record) => [record.kind, (record["entry"] as { type: string }).type])).toEqual([
      ["quarantine", "device.quarantined"],
      ["quarantine", "device.released"],
      ["revocation", "session.revoked"],
    ]);
    expect(standing[0]).toMatchObject({ file: `devices/${ids[0]}/quarantines.jsonl`, entry: { data: { by: "bootstrap-token:admin", reason: "EDR alert" } } });
    expect(standing[2]).toMatchObject({ file: `devices/${ids[0]}/revocations.jsonl` });
    expect(all.find((record) => record.kind === "agent.registry")).toMatchObject({ file: "agents/registry.json", agents: expect.any(Array) });
    expect(all.filter((record) => record.kind === "consent.log").map((record) => (record["entry"] as LogEntry).type)).toContain("consent.given");
    expect(evidence[1]).toMatchObject({ file: `devices/${reviewed}/reviews.jsonl`, entry: { data: { verdict: "approve", assertion: { clientDataJSON: expect.any(String), signature: expect.any(String) } } } });

    const mapping = all.at(-2) as Record & { mapping: ComplianceMapping };
    expect(mapping.kind).toBe("mapping");
    const soc2 = mapping.mapping.frameworks.find((f) => f.framework === "SOC 2")!;
    const cc8 = soc2.controls.find((c) => c.id === "CC8")!;
    expect(cc8.files).toEqual(expect.arrayContaining(["bundles/admin-log.jsonl", artifacts[0]!.file, `devices/${reviewed}/reviews.jsonl`]));
    expect(soc2.controls.find((c) => c.id === "CC6")!.absent).toEqual([]);
    expect(soc2.controls.find((c) => c.id === "CC6")!.files).toEqual(expect.arrayContaining(["agents/registry.json"]));
    expect(mapping.mapping.frameworks.map((f) => f.framework)).toEqual(["SOC 2", "ISO/IEC 27001:2022 Annex A", "EU AI Act", "NIST AI RMF"]);

    const manifest = JSON.parse(parseNote((all.at(-1) as unknown as { note: string }).note).text) as { absent: string[]; counts: { reviews: number } };
    expect(manifest.absent).toEqual(["siem_event_counts"]);

    const report = await verifyPackage(lines, options);
    expect(report.failure).toBeNull();
    expect(report.counts.devices).toBeGreaterThanOrEqual(3);
    expect(report.checkpoints).toBe(report.counts.devices);
    expect(report.counts.reviews).toBe(manifest.counts.reviews);
    expect(report.counts).toMatchObject({ quarantines: 2, revocations: 1, consent_log: expect.any(Number) });
    expect(report.counts.consent_log).toBeGreaterThanOrEqual(1);
    expect(report.signedBundles).toBe(report.counts.bundle_artifacts);
    expect(report.passkeyVerdicts).toBeGreaterThanOrEqual(1);
    expect(report.reviewOrigins).toEqual([env.REVIEW_ORIGIN]);
    expect(report.absent).toEqual(manifest.absent);
  });

  it("filters bundle records and devices by the window, and still carries the bundles deployed before it", async () => {
    const lines = await packageLines("?from=2000-01-01T00:00:00Z&to=2000-01-02T00:00:00Z");
    const kinds = records(lines).map((record) => record.kind);
    // The registry is the tenant's state as it stands, like its deployment; its changes are filtered.
    expect(kinds).toEqual(["package", "bundle.deployment", "agent.registry", "mapping", "manifest"]);
    expect((await verifyPackage(lines, options)).ok).toBe(true);
  });

  it("fails on a removed review, a swapped bundle, a missing bundle, and a mapping that is not the records'", async () => {
    const lines = await packageLines();
    const reviewLine = lines.findIndex((line) => line.startsWith('{"kind":"review"'));
    expect((await verifyPackage(lines.filter((_, index) => index !== reviewLine), options)).failure).toMatchObject({ code: "manifest_mismatch" });

    // Another validly signed artifact in the place of one version's: the digests give it away.
    const artifactLines = lines.map((line, index) => [line, index] as const).filter(([line]) => line.startsWith('{"kind":"bundle.artifact"'));
    const [first, second] = artifactLines.map(([line, index]) => ({ index, record: JSON.parse(line) as { artifact: string } }));
    const swapped = [...lines];
    swapped[first!.index] = JSON.stringify({ ...first!.record, artifact: second!.record.artifact });
    expect((await verifyPackage(swapped, options)).failure).toMatchObject({ code: "bundle_mismatch" });
    const missing = [...lines];
    missing[first!.index] = JSON.stringify({ ...first!.record, artifact: null });
    expect((await verifyPackage(missing, options)).failure).toMatchObject({ code: "bundle_missing" });

    // A package re-signed by the log key itself, with a mapping that claims more than the records hold.
    const mappingLine = lines.length - 2;
    const mapping = JSON.parse(lines[mappingLine]!) as { mapping: ComplianceMapping };
    mapping.mapping.frameworks[0]!.controls[0]!.files.push("devices/nobody/reviews.jsonl");
    expect((await verifyPackage(await resigned([...lines.slice(0, mappingLine), JSON.stringify(mapping)], lines.at(-1)!), options)).failure).toMatchObject({ code: "mapping_mismatch" });
    // The passkey check itself, on the real verdict: it holds, and not for a verdict, statement or signature changed after the fact.
    const verdict = (JSON.parse(lines[reviewLine]!) as { entry: LogEntry }).entry.data as { [key: string]: unknown };
    expect(await verifyReviewAssertion(verdict)).toEqual({ origin: env.REVIEW_ORIGIN, reviewer: verdict["reviewer"] });
    const refusal = (data: { [key: string]: unknown }) => verifyReviewAssertion(data).then(() => "ok", (error: unknown) => (error as Error).constructor.name);
    expect(await refusal({ ...verdict, verdict: "reject" })).toBe("ReviewEvidenceError");
    expect(await refusal({ ...verdict, statement: { ...(verdict["statement"] as object), verdict: "reject" } })).toBe("ReviewEvidenceError");
    const assertion = verdict["assertion"] as { signature: string };
    const sig = Buffer.from(assertion.signature, "base64url");
    sig[sig.length - 1]! ^= 1;
    expect(await refusal({ ...verdict, assertion: { ...assertion, signature: sig.toString("base64url") } })).toBe("ReviewEvidenceError");
    // And one whose proof of a review does not lead to its device's checkpoint.
    const review = JSON.parse(lines[reviewLine]!) as { proof: { hashes: string[] } };
    review.proof.hashes = review.proof.hashes.length ? review.proof.hashes.map(() => "00".repeat(32)) : ["00".repeat(32)];
    const bent = [...lines.slice(0, -1)];
    bent[reviewLine] = JSON.stringify(review);
    expect((await verifyPackage(await resigned(bent, lines.at(-1)!), options)).failure).toMatchObject({ code: "evidence_invalid" });
  });

  it("fails on a quarantine filed as a revocation, and on an edited consent ledger entry, even re-signed by the log key", async () => {
    const lines = await packageLines();
    const quarantineLine = lines.findIndex((line) => line.startsWith('{"kind":"quarantine"'));
    const relabelled = [...lines.slice(0, -1)];
    const record = JSON.parse(relabelled[quarantineLine]!) as { kind: string; file: string };
    relabelled[quarantineLine] = JSON.stringify({ ...record, kind: "revocation", file: record.file.replace("quarantines", "revocations") });
    expect((await verifyPackage(await resigned(relabelled, lines.at(-1)!), options)).failure).toMatchObject({ code: "evidence_invalid" });
    const consentLine = lines.findIndex((line) => line.startsWith('{"kind":"consent.log"'));
    const edited = [...lines.slice(0, -1)];
    edited[consentLine] = edited[consentLine]!.replace('"purpose":"audit package test"', '"purpose":"anything at all"');
    expect(edited[consentLine]).not.toBe(lines[consentLine]);
    expect((await verifyPackage(await resigned(edited, lines.at(-1)!), options)).failure).toMatchObject({ code: "evidence_invalid" });
  });

  it("detects an edited record and a missing manifest; reads every line strictly", async () => {
    const lines = await packageLines();
    const deviceLine = lines.findIndex((line) => line.startsWith('{"kind":"device"'));
    const edited = [...lines];
    edited[deviceLine] = edited[deviceLine]!.replace('"assurance":"software"', '"assurance":"tpm"');
    expect((await verifyPackage(edited, options)).failure).toMatchObject({ code: "manifest_mismatch" });
    expect((await verifyPackage(lines.slice(0, -1), options)).failure).toMatchObject({ code: "truncated" });
    const twice = [...lines];
    twice[deviceLine] = twice[deviceLine]!.replace('"assurance":"software"', '"assurance":"tpm","assurance":"software"');
    expect((await verifyPackage(twice, options)).failure).toMatchObject({ code: "duplicate_key", message: expect.stringMatching(new RegExp(`^line ${deviceLine + 1} `)) });
    const scalar = [...lines];
    scalar[deviceLine] = "null";
    expect((await verifyPackage(scalar, options)).failure).toMatchObject({ code: "malformed_line" });
    // As bytes, as the CLI reads them: verified untouched.
    expect((await verifyPackage(lines.map((line) => new TextEncoder().encode(line)), options)).ok).toBe(true);
  });

  it("without publisher keys checks artifact digests only, and says so", async () => {
    const report = await verifyPackage(await packageLines(), { keys: options.keys });
    expect(report.ok).toBe(true);
    expect(report.signedBundles).toBe(0);
    expect(report.warnings).toEqual([expect.stringContaining("--publisher-keys")]);
  });

  it("is for auditors only", async () => {
    const admin = await SELF.fetch(new Request(`${BASE_URL}/v1/audit/package`, { headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` } }));
    expect(admin.status).toBe(403);
    const device = await readyDevice();
    expect((await device.authorized("GET", "/v1/audit/package")).status).toBe(403);
  });
});

/** `lines` (without their manifest) with a new manifest signed by the log key over them, as an operator holding the key could make. */
async function resigned(lines: string[], manifestLine: string): Promise<string[]> {
  const key = await importLogSigningKey(env.LOG_SIGNING_KEY);
  const manifest = JSON.parse(parseNote((JSON.parse(manifestLine) as { note: string }).note).text) as { [key: string]: JsonValue };
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(lines.map((line) => `${line}\n`).join(""))));
  manifest["sha256"] = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
  const origin = manifest["origin"] as string;
  const note = await signNote(`${canonicalJson(manifest)}\n`, [noteSignerFor(key, origin)]);
  return [...lines, JSON.stringify({ kind: "manifest", note })];
}
