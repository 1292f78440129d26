import { describe, expect, it } from "vitest";
import { verifyEventLog } from "../../cli/evidence-eventlog.ts";
import { eventLogCases } from "./verifiers/eventlog-fixtures.ts";

// `warden evidence verify --type tpm-eventlog` on the real logs (cli/evidence-eventlog.ts).

const text = (value: unknown) => JSON.stringify(value);

describe("warden evidence verify --type tpm-eventlog", () => {
  for (const c of eventLogCases) {
    it(`${c.name}: every bank and PCR given matches, and the facts are printed`, async () => {
      const result = await verifyEventLog({ evidence: c.log, pcrs: text(c.pcrs) });
      expect(result).toMatchObject({ valid: true, format: c.format, facts: { secure_boot: c.secureBoot, separators: c.separators } });
      expect(result.compared!.map((b) => b.bank).sort()).toEqual(Object.keys(c.pcrs).sort());
    });
  }

  it("takes the log as base64 text too, and exits with the verifier's code when a PCR differs", async () => {
    const c = eventLogCases[1]!;
    const b64 = btoa(String.fromCharCode(...c.log));
    expect(await verifyEventLog({ evidence: b64, pcrs: text({ sha256: c.pcrs.sha256 }) })).toMatchObject({ valid: true });
    const wrong = { sha256: { ...c.pcrs.sha256, "7": "00".repeat(32) } };
    expect(await verifyEventLog({ evidence: c.log, pcrs: text(wrong) })).toMatchObject({ valid: false, code: "event_log_replay_mismatch" });
  });

  it("refuses PCR files it cannot read strictly, and logs that do not parse", async () => {
    const c = eventLogCases[2]!;
    expect(await verifyEventLog({ evidence: c.log, pcrs: '{"sha256": {"0": "00"}, "sha256": {}}' })).toMatchObject({ valid: false, code: "malformed_evidence" });
    expect(await verifyEventLog({ evidence: c.log, pcrs: text({ md5: { "0": "00" } }) })).toMatchObject({ valid: false, code: "malformed_evidence" });
    expect(await verifyEventLog({ evidence: c.log, pcrs: text({ sha256: {} }) })).toMatchObject({ valid: false, code: "malformed_evidence" });
    expect(await verifyEventLog({ evidence: c.log.subarray(0, 64), pcrs: text(c.pcrs) })).toMatchObject({ valid: false, code: "evidence_truncated" });
  });
});
