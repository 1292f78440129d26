import { describe, expect, it } from "vitest";
import { snp, tdx } from "./fixtures.ts";
import { EVIDENCE_TYPES, evidenceErrorFamily, verifierFor, verifiers, verifyAndAppraise, type EvidenceErrorCode } from "../../../worker/verifiers/index.ts";
import { collateralFromDcapQvl, tdxQuoteLength } from "../../../worker/verifiers/tdx/index.ts";
import { toHex } from "../../../worker/verifiers/reader.ts";
import { EvidenceError, MalformedEvidenceError, readable } from "../../../worker/verifiers/errors.ts";

describe("verifier registry", () => {
  it("has exactly one verifier per evidence type, keyed by its type", () => {
    expect(Object.keys(verifiers).sort()).toEqual([...EVIDENCE_TYPES].sort());
    for (const type of EVIDENCE_TYPES) expect(verifierFor(type).type).toBe(type);
  });

  it("sev-snp through the registry: verify then appraise", async () => {
    const v = verifierFor("sev-snp");
    const trustAnchors = await v.pinnedTrust();
    const now = new Date("2026-11-22T00:00:00Z");
    // Revocation is required unless unchecked is said; the real s2 has no genuine AMD KDS CRL among the fixtures.
    await expect(v.verify({ report: snp.s2.report, endorsementKey: snp.s2.vcek }, { now, trustAnchors, collateral: undefined })).rejects.toMatchObject({ code: "crl_missing" });
    const verified = await v.verify({ report: snp.s2.report, endorsementKey: snp.s2.vcek }, { now, trustAnchors, collateral: undefined, revocation: "unchecked" });
    const claims = v.appraise(verified, {
      measurements: [toHex(verified.report.measurement)],
      minimumTcb: { Milan: { bootloader: 3, tee: 0, snp: 8, microcode: 115 } },
      reportData: verified.report.reportData.slice(),
    });
    expect(claims.type).toBe("sev-snp");
    await expect(v.verify({ report: snp.s2.report, endorsementKey: snp.s2.vcek }, { now, trustAnchors: { anchors: [] }, collateral: undefined })).rejects.toMatchObject({
      code: "no_trust_anchors",
    });
  });

  it("tdx through verifyAndAppraise", async () => {
    const trustAnchors = await verifierFor("tdx").pinnedTrust();
    const quote = tdx.t1.quote.subarray(0, tdxQuoteLength(tdx.t1.quote));
    const claims = await verifyAndAppraise(
      "tdx",
      { quote },
      { now: new Date("2025-07-01T00:00:00Z"), trustAnchors, collateral: collateralFromDcapQvl(tdx.t1.collateralJson) },
      { mrTd: "any", reportData: "unchecked" },
    );
    expect(claims).toMatchObject({ type: "tdx", tcbStatus: "UpToDate" });
  });

  it("every error code belongs to a family, and errors carry code, family and name", () => {
    const e = new EvidenceError("tcb_mismatch", "x");
    expect(e).toMatchObject({ code: "tcb_mismatch", family: "verification", name: "EvidenceError" });
    const sample: EvidenceErrorCode[] = ["evidence_truncated", "certificate_revoked", "debug_not_allowed", "no_trust_anchors"];
    expect(sample.map(evidenceErrorFamily)).toEqual(["malformed", "verification", "appraisal", "configuration"]);
  });

  it("readable: what a read answers; undefined when the input is refused; any other error, a fault of ours, surfaces", () => {
    expect(readable(() => 1)).toBe(1);
    expect(readable(() => collateralFromDcapQvl("{"))).toBeUndefined();
    expect(
      readable(() => {
        throw new MalformedEvidenceError("malformed_certificate", "x");
      }),
    ).toBeUndefined();
    expect(() =>
      readable(() => {
        throw new TypeError("a bug, not bad input");
      }),
    ).toThrow(TypeError);
  });
});
