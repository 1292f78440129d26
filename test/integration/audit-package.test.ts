import { env, SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { verifyPackage } from "../../worker/log/export-verify.ts";
import { parseNote } from "../../worker/log/note.ts";
import { auditorGet, configure, publishedLogKeys, registeredDevice, runAlarms } from "../audit-helpers.ts";
import { activate, BASE_URL, readyDevice } from "../helpers.ts";

async function packageLines(query = ""): Promise<string[]> {
  const response = await auditorGet(`/v1/audit/package${query}`);
  expect(response.status).toBe(200);
  return new TextDecoder().decode(await response.arrayBuffer()).split("\n").filter((line) => line.length > 0);
}

let ids: string[];

beforeAll(async () => {
  await activate();
  ids = [];
  for (let n = 0; n < 2; n += 1) {
    const { id, stub } = await registeredDevice();
    await configure(stub, { tuning: { checkpointEntries: 1 } });
    await runAlarms(stub, 2); // signs the first checkpoint and lists the device in the archive
    ids.push(id);
  }
});

describe("compliance package", () => {
  it("holds the bundle deployment and activation records, every device with its assurance history and checkpoint, signed", async () => {
    const lines = await packageLines();
    const records = lines.map((line) => JSON.parse(line) as { kind: string; [key: string]: unknown });
    expect(records[0]).toMatchObject({ kind: "package", tenant: env.TENANT, origin: `warden.example.com/log/${env.TENANT}` });
    expect(records.find((record) => record.kind === "bundle.deployment")?.["deployment"]).toMatchObject({ active: expect.any(Object) });
    expect(records.some((record) => record.kind === "bundle.log" && (record["entry"] as { type: string }).type === "bundle.activated")).toBe(true);
    for (const id of ids) {
      const device = records.find((record) => record.kind === "device" && (record["device"] as { id: string }).id === id);
      expect(device).toBeDefined();
      expect(device!["assurance_history"]).toEqual([{ seq: 1, time: expect.any(String), assurance: "software" }]);
      expect(device!["checkpoint"]).toMatch(new RegExp(`^warden\\.example\\.com/log/${env.TENANT}/${id}\\n1\\n`));
    }
    const manifest = JSON.parse(parseNote((records.at(-1) as unknown as { note: string }).note).text) as { not_included: string[] };
    expect(manifest.not_included).toEqual(["reviews"]);

    const report = await verifyPackage(lines, { keys: (await publishedLogKeys()).keys });
    expect(report.failure).toBeNull();
    expect(report.devices).toBeGreaterThanOrEqual(2);
    expect(report.checkpoints).toBe(report.devices);
  });

  it("filters bundle records and devices by the window", async () => {
    const lines = await packageLines("?from=2000-01-01T00:00:00Z&to=2000-01-02T00:00:00Z");
    const kinds = lines.map((line) => (JSON.parse(line) as { kind: string }).kind);
    // The registry is the tenant's state as it stands, like its deployment; its changes are filtered.
    expect(kinds).toEqual(["package", "bundle.deployment", "agent.registry", "manifest"]);
    expect((await verifyPackage(lines, { keys: (await publishedLogKeys()).keys })).ok).toBe(true);
  });

  it("detects a removed or edited record, and a missing manifest", async () => {
    const lines = await packageLines();
    const { keys } = await publishedLogKeys();
    const deviceLine = lines.findIndex((line) => line.startsWith('{"kind":"device"'));
    const removed = await verifyPackage(lines.filter((_, index) => index !== deviceLine), { keys });
    expect(removed.failure).toMatchObject({ code: "manifest_mismatch" });
    const edited = [...lines];
    edited[deviceLine] = edited[deviceLine]!.replace('"assurance":"software"', '"assurance":"tpm"');
    expect((await verifyPackage(edited, { keys })).failure).toMatchObject({ code: "manifest_mismatch" });
    expect((await verifyPackage(lines.slice(0, -1), { keys })).failure).toMatchObject({ code: "truncated" });
  });

  it("reads every line strictly: a duplicate member is duplicate_key, a non-object line malformed_line", async () => {
    const lines = await packageLines();
    const { keys } = await publishedLogKeys();
    const deviceLine = lines.findIndex((line) => line.startsWith('{"kind":"device"'));
    const twice = [...lines];
    twice[deviceLine] = twice[deviceLine]!.replace('"assurance":"software"', '"assurance":"tpm","assurance":"software"');
    expect((await verifyPackage(twice, { keys })).failure).toMatchObject({ code: "duplicate_key", message: expect.stringMatching(new RegExp(`^line ${deviceLine + 1} `)) });
    const scalar = [...lines];
    scalar[deviceLine] = "null";
    expect((await verifyPackage(scalar, { keys })).failure).toMatchObject({ code: "malformed_line" });
    // As bytes, as the CLI reads them: verified untouched.
    expect((await verifyPackage(lines.map((line) => new TextEncoder().encode(line)), { keys })).ok).toBe(true);
  });

  it("is for auditors only", async () => {
    const admin = await SELF.fetch(new Request(`${BASE_URL}/v1/audit/package`, { headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` } }));
    expect(admin.status).toBe(403);
    const device = await readyDevice();
    expect((await device.authorized("GET", "/v1/audit/package")).status).toBe(403);
  });
});
