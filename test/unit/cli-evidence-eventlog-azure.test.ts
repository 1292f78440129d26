import { describe, expect, it } from "vitest";
import { verifyAzureEvidence } from "../../cli/evidence-azure.ts";
import { verifyEventLog } from "../../cli/evidence-eventlog.ts";
import { eventLogCases } from "./verifiers/eventlog-fixtures.ts";
import { amdRoots, snp } from "./verifiers/fixtures.ts";
import { CA_USAGE, crl, issue, x509 } from "./verifiers/pki.ts";
import { parseCertificatesPem } from "../../worker/verifiers/x509/certificate.ts";

// `warden evidence verify --type tpm-eventlog` on the real logs (cli/evidence-eventlog.ts) and
// `--type azure-snp-vtpm` on the real Azure CVM evidence (cli/evidence-azure.ts).

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

describe("warden evidence verify --type azure-snp-vtpm", () => {
  const NONCE = "0218488bae25d2509232bf676f1a66a30d7372add909109b36016ef136f2938ca05475f8b46094de6b64270ea35d950f";
  const now = new Date("2026-11-22T00:00:00Z");

  it("verifies the real Azure evidence with its nonce, prints the SNP claims and the vTPM PCRs", async () => {
    const result = await verifyAzureEvidence({ evidence: snp.s4.evidenceJson, nonce: NONCE, now });
    expect(result).toMatchObject({ valid: true, measurements: { product: "Genoa", vmpl: "0" }, vtpm: { pcr_bank: "sha256", extra_data: NONCE, pcrs: { "0": "afd689d0bb1c5f36f023fbaf574135f555a28a10c1f6b938d2a25e70c7783338" } } });
    // No AMD KDS CRL among the fixtures: revocation is not checked offline without --collateral, and that is said.
    expect(result.warnings).toEqual(["revocation not checked: no AMD KDS CRL was supplied (--collateral)"]);
  });

  it("without --nonce reports the quote's extraData and says it was not checked; a wrong one is refused", async () => {
    const unchecked = await verifyAzureEvidence({ evidence: new TextEncoder().encode(snp.s4.evidenceJson), now });
    expect(unchecked).toMatchObject({ valid: true, vtpm: { extra_data: NONCE }, warnings: [expect.stringContaining("extraData is reported, not checked"), expect.stringContaining("revocation not checked")] });
    expect(await verifyAzureEvidence({ evidence: snp.s4.evidenceJson, nonce: "00".repeat(48), now })).toMatchObject({ valid: false, code: "qualifying_data_mismatch" });
    expect(await verifyAzureEvidence({ evidence: snp.s4.evidenceJson, nonce: NONCE, now: new Date("2033-01-01T00:00:00Z") })).toMatchObject({ valid: false, code: "certificate_expired" });
    expect(await verifyAzureEvidence({ evidence: "{}", now })).toMatchObject({ valid: false, code: "malformed_evidence" });
  });

  it("with --collateral the ASK must be covered by a CRL of ARK-Genoa: one copying its name under another key is refused", async () => {
    const [, realArk] = parseCertificatesPem(amdRoots.genoa);
    const fakeArk = await issue({ name: new x509.Name(realArk!.subject.slice()), alg: "RSA-PSS", keyLabel: "cli fake genoa ark", ca: { ca: true }, keyUsage: CA_USAGE });
    const window = { thisUpdate: new Date(now.getTime() - 86_400_000), nextUpdate: new Date(now.getTime() + 86_400_000) };
    expect(await verifyAzureEvidence({ evidence: snp.s4.evidenceJson, nonce: NONCE, now, collateral: [await crl(fakeArk, window)] })).toMatchObject({ valid: false, code: "crl_signature_invalid" });
  });

  it("takes the VCEK from --certs when given (the same one here)", async () => {
    expect(await verifyAzureEvidence({ evidence: snp.s4.evidenceJson, certs: [snp.s4.vcekPem], nonce: NONCE, now })).toMatchObject({ valid: true });
  });
});
