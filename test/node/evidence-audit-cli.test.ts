import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { HOOK_GROUP } from "./bundle.ts";
import { Device, fixture, warden } from "./cli.ts";

// The compiled CLI (dist/) on this commands: event-log replay and Azure CVM evidence
// offline from the fixtures, and a decision receipt and compliance package fetched from
// `wrangler dev` and verified offline.

const ctx = inject("warden");
const fixtures = join(process.cwd(), "test/fixtures/attestation");
const dir = mkdtempSync(join(tmpdir(), "warden-evidence-cli-"));

describe("warden evidence verify --type tpm-eventlog | azure-snp-vtpm", () => {
  it("replays the RHEL 8 log against its PCRs (exit 0, facts printed) and refuses a PCR it does not give (exit 2)", async () => {
    const log = join(fixtures, "tpm/e1-gce-rhel8-shim-grub-eventlog/rhel8-uefi.bin");
    const pcrs = join(fixtures, "tpm/e1-gce-rhel8-shim-grub-eventlog/pcrs.json");
    const ok = await warden(["evidence", "verify", "--type", "tpm-eventlog", "--evidence", log, "--pcrs", pcrs, "--json"]);
    expect(ok.status, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ type: "tpm-eventlog", valid: true, format: "crypto-agile", facts: { secure_boot: true } });
    const wrong = JSON.parse(readFileSync(pcrs, "utf8")) as { sha256: Record<string, string> };
    wrong.sha256["4"] = "00".repeat(32);
    writeFileSync(join(dir, "wrong.json"), JSON.stringify(wrong));
    const refused = await warden(["evidence", "verify", "--type", "tpm-eventlog", "--evidence", log, "--pcrs", join(dir, "wrong.json"), "--json"]);
    expect(refused.status).toBe(2);
    expect(JSON.parse(refused.stdout)).toMatchObject({ valid: false, code: "event_log_replay_mismatch" });
  });

  it("verifies the Azure CVM evidence with its nonce (exit 0) and refuses another nonce (exit 2)", async () => {
    const evidence = join(fixtures, "sev-snp/s4-azure-genoa-v3-hcl/evidence-genoa.json");
    const nonce = "0218488bae25d2509232bf676f1a66a30d7372add909109b36016ef136f2938ca05475f8b46094de6b64270ea35d950f";
    const ok = await warden(["evidence", "verify", "--type", "azure-snp-vtpm", "--evidence", evidence, "--nonce", nonce, "--now", "2026-11-22T00:00:00Z", "--json"]);
    expect(ok.status, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ valid: true, measurements: { product: "Genoa" }, vtpm: { extra_data: nonce } });
    const other = await warden(["evidence", "verify", "--type", "azure-snp-vtpm", "--evidence", evidence, "--nonce", "00".repeat(48), "--now", "2026-11-22T00:00:00Z", "--json"]);
    expect(other.status).toBe(2);
    expect(JSON.parse(other.stdout)).toMatchObject({ valid: false, code: "qualifying_data_mismatch" });
  });
});

describe("warden audit verify-receipt and verify-package against wrangler dev", () => {
  let device: Device;
  const auditor = { authorization: `Bearer ${ctx.auditorToken}` };
  const keys = () => `${ctx.api}/.well-known/warden-log-keys.json`;

  beforeAll(async () => {
    device = await Device.register(ctx, { group: HOOK_GROUP, prefix: "receipt" });
    expect((await device.hook("claude-code", fixture("claude-code", "pre-read", ctx.workspace))).status).toBe(0);
  });

  it("a decision's receipt verifies (exit 0); one changed byte fails it (exit 2)", async () => {
    const decision = (await device.log()).find((entry) => entry.type === "decision")!;
    const response = await fetch(`${ctx.api}/v1/decisions/${String(decision.data["decision_id"])}/receipt?seq=${decision.seq}&device=${device.id}`, { headers: auditor });
    expect(response.status, await response.clone().text()).toBe(200);
    const bytes = new Uint8Array(await response.arrayBuffer());
    writeFileSync(join(dir, "receipt.json"), bytes);
    const ok = await warden(["audit", "verify-receipt", join(dir, "receipt.json"), "--keys", keys()]);
    expect(ok.status, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^VERIFIED receipt of decision /);
    const changed = bytes.slice();
    changed[changed.length - 40]! ^= 1;
    writeFileSync(join(dir, "changed.json"), changed);
    const failed = await warden(["audit", "verify-receipt", join(dir, "changed.json"), "--keys", keys()]);
    expect(failed.status).toBe(2);
    expect(failed.stdout).toMatch(/^FAILED: /);
  });

  it("the compliance package verifies (exit 0) and lists what the deployment does not keep", async () => {
    const response = await fetch(`${ctx.api}/v1/audit/package`, { headers: auditor });
    expect(response.status).toBe(200);
    writeFileSync(join(dir, "package.jsonl"), new Uint8Array(await response.arrayBuffer()));
    const run = await warden(["audit", "verify-package", join(dir, "package.jsonl"), "--keys", keys()]);
    expect(run.status, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toContain("absent: siem_event_counts");
  });
});
