import { describe, expect, it } from "vitest";
import { snp, tdx } from "./fixtures.ts";
import { evidenceVerify } from "../../../cli/evidence.ts";
import { toHex } from "../../../worker/verifiers/reader.ts";
import { parseCertificatesPem } from "../../../worker/verifiers/x509/certificate.ts";
import { CA_USAGE, crl, issue, x509 } from "./pki.ts";

const TODAY = new Date("2026-11-22T00:00:00Z");
const t1Chain = () => (JSON.parse(tdx.t1.collateralJson) as { tcb_info_issuer_chain: string }).tcb_info_issuer_chain;

describe("evidenceVerify: every MANIFEST case in the format its files come in", () => {
  it("s1: binary report + DER VCEK → rejected, debug_not_allowed (measurements still shown)", async () => {
    const r = await evidenceVerify({ type: "sev-snp", evidence: snp.s1.report, certs: snp.s1.vcek, now: TODAY });
    expect(r).toMatchObject({ valid: false, code: "debug_not_allowed" });
    expect(r.measurements?.report_data).toBe("0102030405" + "00".repeat(59));
    expect(r.measurements?.reported_tcb).toBe("bootloader=2,tee=0,snp=5,microcode=68");
    expect((await evidenceVerify({ type: "sev-snp", evidence: snp.s1.report, certs: snp.s1.vcek, now: TODAY, allowDebug: true })).valid).toBe(true);
  });

  it("s2: hex report text + DER VCEK + PEM cert_chain → valid", async () => {
    const r = await evidenceVerify({ type: "sev-snp", evidence: snp.s2.reportHex, certs: [snp.s2.vcek, snp.s2.chainPem], now: TODAY });
    expect(r.valid).toBe(true);
    expect(r.code).toBeUndefined();
    expect(r.measurements?.product).toBe("Milan");
    expect(r.measurements?.report_data).toMatch(/^d447b55d.*ebfd$/);
    // No CRL given: verified without revocation, and said so.
    expect(r.warnings).toContain("revocation not checked: no AMD KDS CRL was supplied (--collateral)");
  });

  it("s2 with --collateral: the ASK must be covered by a CRL of the ARK — one copying ARK-Milan's name under another key, or one of another issuer, is refused", async () => {
    const [, realArk] = parseCertificatesPem(snp.s2.chainPem);
    const fakeArk = await issue({ name: new x509.Name(realArk!.subject.slice()), alg: "RSA-PSS", keyLabel: "cli fake ark", ca: { ca: true }, keyUsage: CA_USAGE });
    const other = await issue({ name: "CN=Some Other CA", alg: "P-256", keyLabel: "cli other ca", ca: { ca: true }, keyUsage: CA_USAGE });
    const base = { type: "sev-snp" as const, evidence: snp.s2.reportHex, certs: [snp.s2.vcek], now: TODAY };
    const forged = { thisUpdate: new Date(TODAY.getTime() - 86_400_000), nextUpdate: new Date(TODAY.getTime() + 86_400_000) };
    expect(await evidenceVerify({ ...base, collateral: [await crl(fakeArk, forged)] })).toMatchObject({ valid: false, code: "crl_signature_invalid" });
    expect(await evidenceVerify({ ...base, collateral: [await crl(other, forged)] })).toMatchObject({ valid: false, code: "crl_missing" });
  });

  it("s3: VLEK at VMPL 1, 2025-06-01 → rejected vmpl_not_allowed; valid when VMPL 1 is accepted; certificate_expired today", async () => {
    const args = { type: "sev-snp" as const, evidence: snp.s3.report, certs: [snp.s3.vlek, snp.s3.chainPem], now: new Date("2025-06-01T00:00:00Z") };
    expect(await evidenceVerify(args)).toMatchObject({ valid: false, code: "vmpl_not_allowed" });
    const ok = await evidenceVerify({ ...args, vmpls: [1] });
    expect(ok.valid).toBe(true);
    expect(ok.measurements?.signing_key).toBe("vlek");
    expect(ok.measurements?.csp_id).toBe("CN=cc-us-east-2.amazonaws.com");
    expect(await evidenceVerify({ ...args, now: TODAY })).toMatchObject({ valid: false, code: "certificate_expired" });
  });

  it("s4: Azure JSON evidence (VCEK inside) → valid; also with the VCEK PEM given", async () => {
    const r = await evidenceVerify({ type: "sev-snp", evidence: snp.s4.evidenceJson, now: TODAY });
    expect(r).toMatchObject({ valid: true });
    expect(r.measurements?.product).toBe("Genoa");
    expect((await evidenceVerify({ type: "sev-snp", evidence: new TextEncoder().encode(snp.s4.evidenceJson), certs: snp.s4.vcekPem, now: TODAY })).valid).toBe(true);
  });

  it("s4: Azure JSON evidence that is not strict JSON (a second `report`, a BOM) → malformed_evidence", async () => {
    const json = snp.s4.evidenceJson.trim();
    expect(await evidenceVerify({ type: "sev-snp", evidence: `{"report":[0],${json.slice(1)}`, now: TODAY })).toMatchObject({ valid: false, code: "malformed_evidence" });
    const bom = new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode(json)]);
    expect(await evidenceVerify({ type: "sev-snp", evidence: bom, now: TODAY })).toMatchObject({ valid: false, code: "malformed_evidence" });
  });

  it("sev-snp without a VCEK → malformed_evidence", async () => {
    expect(await evidenceVerify({ type: "sev-snp", evidence: snp.s2.report, now: TODAY })).toMatchObject({ valid: false, code: "malformed_evidence" });
  });

  it("t1: binary quote (70 padding bytes) + dcap-qvl collateral → valid, UpToDate", async () => {
    const r = await evidenceVerify({ type: "tdx", evidence: tdx.t1.quote, collateral: tdx.t1.collateralJson, now: new Date("2025-07-01T00:00:00Z") });
    expect(r).toMatchObject({ valid: true, tcb_status: "UpToDate", advisory_ids: [] });
    expect(r.warnings).toEqual(["ignored 70 zero padding bytes after the quote"]);
    expect(r.measurements?.td_attributes).toBe("0000001000000000");
    expect(r.measurements?.tee_tcb_svn).toMatch(/^06010300/);
    // The same quote as hex text.
    const hex = await evidenceVerify({ type: "tdx", evidence: toHex(tdx.t1.quote), collateral: tdx.t1.collateralJson, now: new Date("2025-07-01T00:00:00Z") });
    expect(hex).toMatchObject({ valid: true, tcb_status: "UpToDate" });
  });

  it("t2: v5 quote + dcap-qvl collateral → rejected, tcb_level_not_found", async () => {
    expect(await evidenceVerify({ type: "tdx", evidence: tdx.t2.quote, collateral: tdx.t2.collateralJson, now: new Date("2026-03-01T00:00:00Z") })).toMatchObject({
      valid: false,
      code: "tcb_level_not_found",
    });
  });

  it("t3: quote with appended text + raw PCS responses, DER CRLs and issuer chain → rejected, tcb_level_not_found", async () => {
    const r = await evidenceVerify({
      type: "tdx",
      evidence: tdx.t3.quote,
      collateral: [tdx.t3.tcbInfo, tdx.t3.qeIdentity, tdx.t3.pckCrl, tdx.t3.rootCrl],
      certs: tdx.t3.tcbInfoChain,
      now: new Date("2023-07-01T01:00:00Z"),
    });
    expect(r).toMatchObject({ valid: false, code: "tcb_level_not_found" });
    expect(r.warnings).toEqual(["ignored 39 bytes after the quote"]);
  });

  it("t4: raw PCS responses without CRLs, t1's issuer chain → rejected as OutOfDate (revocation not checked, said so); valid when OutOfDate is accepted", async () => {
    const args = { type: "tdx" as const, evidence: tdx.t4.quote, collateral: [tdx.t4.tcbInfo, tdx.t4.qeIdentity], certs: t1Chain(), now: new Date("2025-11-01T00:00:00Z") };
    const r = await evidenceVerify(args);
    expect(r).toMatchObject({ valid: false, code: "tcb_status_not_allowed", tcb_status: "OutOfDate", advisory_ids: [] });
    expect(r.warnings).toContain("revocation not checked: no PCK CRL or Root CA CRL was supplied");
    expect(await evidenceVerify({ ...args, acceptedTcbStatuses: [{ status: "OutOfDate", advisoryIds: [] }] })).toMatchObject({ valid: true, tcb_status: "OutOfDate" });
  });

  it("tdx without collateral → rejected with a code; an invalid time is the caller's error, not a rejection", async () => {
    expect(await evidenceVerify({ type: "tdx", evidence: tdx.t1.quote, now: TODAY })).toMatchObject({ valid: false, code: "malformed_evidence" });
    await expect(evidenceVerify({ type: "tdx", evidence: tdx.t1.quote, now: new Date("nope") })).rejects.toThrow(RangeError);
  });
});
