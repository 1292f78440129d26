import { AsnConvert } from "@peculiar/asn1-schema";
import { CertificateList } from "@peculiar/asn1-x509";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { amdRoots, snp } from "./fixtures.ts";
import { CA_USAGE, crl, flip, issue, NOW, x509, type Issued } from "./pki.ts";
import { expectedReportData } from "../../../worker/verifiers/appraisal.ts";
import type { EvidenceErrorCode } from "../../../worker/verifiers/errors.ts";
import { toHex } from "../../../worker/verifiers/reader.ts";
import {
  appraiseSnp,
  endorsementInfo,
  MAX_KDS_CRL_BYTES,
  newestKdsCrl,
  parseAzureHclReport,
  parseSnpReport,
  pinnedSnpTrust,
  REPORT_SIZE,
  snpTrustFromChains,
  verifyHclBinding,
  verifyKdsCrl,
  verifySnpReport,
  type SnpEvidence,
  type SnpProduct,
  type SnpReferenceValues,
  type SnpTrust,
} from "../../../worker/verifiers/sev-snp/index.ts";
import { parseCertificate, parseCertificatesPem, pemBlocks } from "../../../worker/verifiers/x509/certificate.ts";
import { trustAnchorsFromPem, validatePath } from "../../../worker/verifiers/x509/path.ts";
import { anchorsAt } from "../../../worker/verifiers/x509/trust.ts";
import { SnpManifestSchema, snpReference } from "../../../worker/policy/cvm-reference.ts";

import pinMilan from "../../../worker/verifiers/sev-snp/roots/ask_ark_milan.pem?raw";
import pinMilanVlek from "../../../worker/verifiers/sev-snp/roots/ask_ark_milan_vlek.pem?raw";
import pinGenoa from "../../../worker/verifiers/sev-snp/roots/ask_ark_genoa.pem?raw";
import pinGenoaVlek from "../../../worker/verifiers/sev-snp/roots/ask_ark_genoa_vlek.pem?raw";
import pinTurin from "../../../worker/verifiers/sev-snp/roots/ask_ark_turin_vcek.pem?raw";
import pinTurinVlek from "../../../worker/verifiers/sev-snp/roots/ask_ark_turin_vlek.pem?raw";
import { codeOf } from "./codes.ts";
import { amdLikeCas, crlNumber, kdsExtensions, pem, resignSnp, vlekReport } from "./snp-gen.ts";

const TODAY = new Date("2026-11-22T00:00:00Z");
// The real reports below verify with revocation explicitly "unchecked": no genuine AMD KDS CRL is
// among the fixtures (AMD signs them with the ARK, and a CRL is current for days, not for the
// years a fixture is used). Revocation is tested under generated hierarchies further down.
const S3_TIME = new Date("2025-06-01T00:00:00Z");


let trust: SnpTrust;
beforeAll(async () => {
  trust = await pinnedSnpTrust();
});

/** Accepts every measurement, host data and key digest; checks only policy, VMPL, key type, TCB minimum. */
const permissive = (over: Partial<SnpReferenceValues> = {}): SnpReferenceValues => ({
  measurements: "any",
  minimumTcb: { Milan: { bootloader: 0, tee: 0, snp: 0, microcode: 0 }, Genoa: { bootloader: 0, tee: 0, snp: 0, microcode: 0 }, Turin: { fmc: 0, bootloader: 0, tee: 0, snp: 0, microcode: 0 } },
  reportData: "unchecked",
  ...over,
});

function azureReport(): { hcl: Uint8Array; report: Uint8Array; vcek: Uint8Array } {
  const json = JSON.parse(snp.s4.evidenceJson) as { report: number[]; vcek: string };
  const hcl = Uint8Array.from(json.report);
  const [vcek] = pemBlocks(json.vcek);
  return { hcl, report: parseAzureHclReport(hcl).snpReport, vcek: vcek as Uint8Array };
}

/** The same trust without the pinned intermediates of these purposes (the verifier then takes the evidence's own, by name). */
function withoutPinned(t: SnpTrust, purposes: readonly string[]): SnpTrust {
  return { anchors: t.anchors, intermediates: (t.intermediates ?? []).filter((e) => !purposes.includes(e.purpose ?? "")) };
}

describe("SEV-SNP pinned AMD roots", () => {
  it("loads Milan, Genoa and Turin with ASK and ASVK each, each with its validity window", () => {
    expect(trust.anchors.map((a) => a.group).sort()).toEqual(["Genoa", "Milan", "Turin"]);
    for (const ark of trust.anchors) {
      expect(ark.certificate.subjectText).toContain(`CN=ARK-${ark.group}`);
      expect(ark.validFor).toEqual({ start: ark.certificate.notBefore, end: ark.certificate.notAfter });
      const of = (purpose: string) => (trust.intermediates ?? []).filter((e) => e.group === ark.group && e.purpose === purpose).map((e) => e.certificate.subjectText);
      expect(of("vcek")).toEqual([expect.stringContaining(`CN=SEV-${ark.group}`)]);
      expect(of("vlek")).toEqual([expect.stringContaining(`CN=SEV-VLEK-${ark.group}`)]);
    }
  });

  it("are the fixture files byte for byte", async () => {
    const { PINNED_KDS_CHAINS } = await import("../../../worker/verifiers/sev-snp/trust.ts");
    const byName: Record<string, string> = {
      "Milan/vcek": amdRoots.milan,
      "Milan/vlek": amdRoots.milanVlek,
      "Genoa/vcek": amdRoots.genoa,
      "Genoa/vlek": amdRoots.genoaVlek,
      "Turin/vcek": amdRoots.turin,
      "Turin/vlek": amdRoots.turinVlek,
    };
    for (const c of PINNED_KDS_CHAINS) expect(c.pem, `${c.product}/${c.kind}`).toBe(byName[`${c.product}/${c.kind}`]);
    // …and the .pem copies kept beside the module (roots/PROVENANCE.md).
    const beside = [pinMilan, pinMilanVlek, pinGenoa, pinGenoaVlek, pinTurin, pinTurinVlek];
    expect(beside).toEqual(PINNED_KDS_CHAINS.map((c) => c.pem));
  });
});

describe("SEV-SNP MANIFEST cases at their stated times", () => {
  it("s1 (Milan v2, debug policy): verifies; default appraisal rejects debug_not_allowed; accepted only when debug is allowed", async () => {
    const verified = await verifySnpReport({ report: snp.s1.report, endorsementKey: snp.s1.vcek }, { now: TODAY, trustAnchors: trust, revocation: "unchecked" });
    expect(verified.product).toBe("Milan");
    expect(verified.signingKey).toBe("vcek");
    expect(verified.report.version).toBe(2);
    expect(verified.report.policy.raw).toBe(0xb0000n);
    expect(verified.report.policy.debug).toBe(true);
    expect(verified.reportedTcb).toEqual({ bootloader: 2, tee: 0, snp: 5, microcode: 68 });
    expect(toHex(verified.report.reportData)).toBe("0102030405" + "00".repeat(59));
    expect(toHex(verified.report.chipId)).toMatch(/^3ac3fe21.*6b5d$/);
    expect(await codeOf(() => appraiseSnp(verified, permissive()))).toBe("debug_not_allowed");
    expect(appraiseSnp(verified, permissive({ allowDebug: true })).debug).toBe(true);
    // Upstream's own test time.
    await verifySnpReport({ report: snp.s1.report, endorsementKey: snp.s1.vcek }, { now: new Date("2022-09-24T01:00:00Z"), trustAnchors: trust, revocation: "unchecked" });
  });

  it("s2 (Milan v2): valid, and appraised against its own reference values", async () => {
    const verified = await verifySnpReport({ report: snp.s2.report, endorsementKey: snp.s2.vcek }, { now: TODAY, trustAnchors: trust, revocation: "unchecked" });
    expect(verified.reportedTcb).toEqual({ bootloader: 3, tee: 0, snp: 8, microcode: 115 });
    expect(verified.report.policy.raw).toBe(0x30000n);
    expect(verified.report.vmpl).toBe(0);
    const measurement = toHex(verified.report.measurement);
    const claims = appraiseSnp(verified, {
      measurements: [measurement],
      hostData: [toHex(verified.report.hostData)],
      idKeyDigests: [toHex(verified.report.idKeyDigest)],
      authorKeyDigests: [toHex(verified.report.authorKeyDigest)],
      minimumTcb: { Milan: { bootloader: 3, tee: 0, snp: 8, microcode: 115 } },
      reportData: verified.report.reportData.slice(),
    });
    expect(claims.reportData).toMatch(/^d447b55d.*ebfd$/);
    expect(claims.measurement).toBe(measurement);
    expect(claims.debug).toBe(false);
    // The KDS chain shipped with the case is the pinned one.
    expect(snp.s2.chainPem).toBe(amdRoots.milan);
  });

  it("s3 (Milan v3, AWS VLEK at VMPL 1) at 2025-06-01: verifies through the ASVK; rejected by default (VLEK, VMPL 1)", async () => {
    const verified = await verifySnpReport({ report: snp.s3.report, endorsementKey: snp.s3.vlek }, { now: S3_TIME, trustAnchors: trust, revocation: "unchecked" });
    expect(verified.signingKey).toBe("vlek");
    expect(verified.endorsement.cspId).toBe("CN=cc-us-east-2.amazonaws.com");
    expect(verified.chain.path[1]?.subjectText).toContain("CN=SEV-VLEK-Milan");
    expect(verified.report.cpuid).toEqual({ family: 0x19, model: 0x01, stepping: 1 });
    expect(verified.reportedTcb).toEqual({ bootloader: 4, tee: 0, snp: 24, microcode: 217 });
    expect(verified.report.vmpl).toBe(1);
    // VLEK evidence where only VCEK is configured.
    expect(await codeOf(() => appraiseSnp(verified, permissive()))).toBe("signing_key_not_allowed");
    // VLEK allowed, but VMPL 0 required.
    expect(await codeOf(() => appraiseSnp(verified, permissive({ signingKeys: ["vcek", "vlek"] })))).toBe("vmpl_not_allowed");
    const claims = appraiseSnp(verified, permissive({ signingKeys: ["vlek"], allowedVmpls: [1] }));
    expect(claims.cspId).toBe("CN=cc-us-east-2.amazonaws.com");
    expect(claims.chipId).toBeUndefined();
  });

  it("s3 after the VLEK expired (today) → certificate_expired", async () => {
    expect(await codeOf(() => verifySnpReport({ report: snp.s3.report, endorsementKey: snp.s3.vlek }, { now: TODAY, trustAnchors: trust, revocation: "unchecked" }))).toBe("certificate_expired");
  });

  it("s3 with only the VCEK chain (ASK) trusted → rejected", async () => {
    const vcekOnly = await snpTrustFromChains([{ product: "Milan", kind: "vcek", pem: amdRoots.milan }]);
    const certs = pemBlocks(snp.s3.chainPem);
    // Even when the evidence brings the ASK, ARK and ASVK itself, the pinned ASK is the only intermediate for Milan VCEKs, and no ASVK is pinned.
    expect(await codeOf(() => verifySnpReport({ report: snp.s3.report, endorsementKey: snp.s3.vlek }, { now: S3_TIME, trustAnchors: vcekOnly, revocation: "unchecked" }))).toBe("chain_incomplete");
    const askOnlyFromEvidence = withoutPinned(vcekOnly, ["vcek"]);
    const [ask] = certs;
    expect(
      await codeOf(() => verifySnpReport({ report: snp.s3.report, endorsementKey: snp.s3.vlek, certificates: [ask as Uint8Array] }, { now: S3_TIME, trustAnchors: askOnlyFromEvidence, revocation: "unchecked" })),
    ).toBe("chain_incomplete");
    // With the evidence's own ASVK and no pinned ASVK, the chain holds (the ARK is still the pinned one).
    const verified = await verifySnpReport({ report: snp.s3.report, endorsementKey: snp.s3.vlek, certificates: certs }, { now: S3_TIME, trustAnchors: askOnlyFromEvidence, revocation: "unchecked" });
    expect(verified.chain.path[1]?.subjectText).toContain("CN=SEV-VLEK-Milan");
  });

  it("s4 (Azure Genoa v3 HCL report): the SNP report verifies, and REPORT_DATA commits to the HCL runtime data", async () => {
    const { hcl, report, vcek } = azureReport();
    expect(vcek).toEqual(pemBlocks(snp.s4.vcekPem)[0]);
    const verified = await verifySnpReport({ report, endorsementKey: vcek }, { now: TODAY, trustAnchors: trust, revocation: "unchecked" });
    expect(verified.product).toBe("Genoa");
    expect(verified.report.version).toBe(3);
    expect(verified.report.vmpl).toBe(0);
    expect(verified.report.policy.raw).toBe(0x3001fn);
    expect(verified.reportedTcb).toEqual({ bootloader: 10, tee: 0, snp: 23, microcode: 84 });
    expect(verified.report.cpuid?.family).toBe(0x19);
    await verifyHclBinding(parseAzureHclReport(hcl), verified.report.reportData);
    appraiseSnp(verified, permissive());
    // A runtime-data byte changed ("HCLAkPub" → "ICLAkPub", still JSON): the binding fails.
    const tampered = flip(hcl, 0x4c0 + 20 + 17);
    expect(await codeOf(() => verifyHclBinding(parseAzureHclReport(tampered), verified.report.reportData))).toBe("runtime_data_mismatch");
  });

  it("s4: runtime data that is not strict JSON (a second `kid` in the AK's JWK) is malformed before any binding", async () => {
    const { hcl } = azureReport();
    const runtime = new TextDecoder().decode(hcl.subarray(0x4c0 + 20, 0x4c0 + 20 + 1200));
    const at = runtime.indexOf('"key_ops":["sign"]');
    expect(at).toBeGreaterThan(0);
    const twoKids = hcl.slice();
    // The same length, so every size field still agrees: only the JSON is wrong.
    twoKids.set(new TextEncoder().encode('"kid":"HCLAkPub12"'), 0x4c0 + 20 + at);
    expect(await codeOf(() => parseAzureHclReport(twoKids))).toBe("malformed_evidence");
    expect(await codeOf(() => parseAzureHclReport(hcl))).toBe("ok");
  });

  it("s5 (Turin VCEK, chain only): chain valid; 8-byte hwID and the FMC SPL are read", async () => {
    const vcek = parseCertificate(snp.s5.vcek);
    const ark = trust.anchors.find((a) => a.group === "Turin");
    const ask = trust.intermediates?.find((e) => e.group === "Turin" && e.purpose === "vcek");
    const path = await validatePath(vcek, { now: TODAY, anchors: [ark!], intermediates: [ask!.certificate], profile: "sev-snp" });
    expect(path.path).toHaveLength(2);
    const info = endorsementInfo(vcek);
    expect(info.product).toBe("Turin");
    expect(info.kind).toBe("vcek");
    expect(toHex(info.hwid!)).toBe("1e550a8ee5cf9f4d");
    expect(info.tcb[0]).toBe(0); // FMC SPL
    expect(info.tcb[7]).toBe(9); // microcode SPL
    expect(snp.s5.chainPem).toBe(amdRoots.turin);
  });
});

describe("SEV-SNP negative cases on real reports", () => {
  const s2 = (): SnpEvidence => ({ report: snp.s2.report, endorsementKey: snp.s2.vcek });

  it("refuses truncation and trailing data", async () => {
    const short = snp.s2.report.subarray(0, REPORT_SIZE - 1);
    const long = new Uint8Array(REPORT_SIZE + 1);
    long.set(snp.s2.report);
    expect(await codeOf(() => verifySnpReport({ ...s2(), report: short }, { now: TODAY, trustAnchors: trust, revocation: "unchecked" }))).toBe("evidence_truncated");
    expect(await codeOf(() => verifySnpReport({ ...s2(), report: long }, { now: TODAY, trustAnchors: trust, revocation: "unchecked" }))).toBe("evidence_trailing_data");
    expect(await codeOf(() => verifySnpReport({ ...s2(), report: new Uint8Array(0) }, { now: TODAY, trustAnchors: trust, revocation: "unchecked" }))).toBe("evidence_truncated");
  });

  // Representative offsets: each field of the signed region and of the signature, with the code a one-bit flip must give.
  type FlipCase = [offset: number, field: string, code: EvidenceErrorCode, mask?: number];
  const flips: FlipCase[] = [
    [0x000, "VERSION 2 → 6", "unsupported_evidence", 0x04],
    [0x000, "VERSION 2 → 3 (then CPUID 0 is not Milan, but the signature fails first)", "evidence_signature_invalid", 0x01],
    [0x003, "VERSION high byte", "unsupported_evidence"],
    [0x004, "GUEST_SVN", "evidence_signature_invalid"],
    [0x008, "POLICY.ABI_MINOR", "evidence_signature_invalid"],
    [0x00a, "POLICY bit 17 (must be one)", "reserved_nonzero", 0x02],
    [0x00b, "POLICY bit 24", "evidence_signature_invalid"],
    [0x00f, "POLICY reserved high bits", "reserved_nonzero"],
    [0x010, "FAMILY_ID", "evidence_signature_invalid"],
    [0x020, "IMAGE_ID", "evidence_signature_invalid"],
    [0x030, "VMPL", "evidence_signature_invalid"],
    [0x030, "VMPL out of range", "malformed_evidence", 0x04],
    [0x034, "SIGNATURE_ALGO", "unsupported_evidence"],
    [0x038, "CURRENT_TCB", "evidence_signature_invalid"],
    [0x040, "PLATFORM_INFO", "evidence_signature_invalid"],
    [0x048, "AUTHOR_KEY_EN", "evidence_signature_invalid"],
    [0x048, "SIGNING_KEY 0 → 1 (VLEK)", "evidence_signature_invalid", 0x04],
    [0x048, "SIGNING_KEY 0 → 2 (reserved)", "unsupported_evidence", 0x08],
    [0x04b, "signer info reserved", "reserved_nonzero"],
    [0x04c, "reserved 0x4C", "reserved_nonzero"],
    [0x050, "REPORT_DATA", "evidence_signature_invalid"],
    [0x08f, "REPORT_DATA last byte", "evidence_signature_invalid"],
    [0x090, "MEASUREMENT", "evidence_signature_invalid"],
    [0x0c0, "HOST_DATA", "evidence_signature_invalid"],
    [0x0e0, "ID_KEY_DIGEST", "evidence_signature_invalid"],
    [0x110, "AUTHOR_KEY_DIGEST", "evidence_signature_invalid"],
    [0x140, "REPORT_ID", "evidence_signature_invalid"],
    [0x160, "REPORT_ID_MA", "evidence_signature_invalid"],
    [0x180, "REPORTED_TCB", "evidence_signature_invalid"],
    [0x188, "reserved 0x188 (v2)", "reserved_nonzero"],
    [0x1a0, "CHIP_ID", "evidence_signature_invalid"],
    [0x1e0, "COMMITTED_TCB", "evidence_signature_invalid"],
    [0x1e8, "CURRENT_BUILD", "evidence_signature_invalid"],
    [0x1eb, "reserved 0x1EB", "reserved_nonzero"],
    [0x1ec, "COMMITTED_BUILD", "evidence_signature_invalid"],
    [0x1ef, "reserved 0x1EF", "reserved_nonzero"],
    [0x1f0, "LAUNCH_TCB", "evidence_signature_invalid"],
    [0x1f8, "reserved 0x1F8 (v2)", "reserved_nonzero"],
    [0x29f, "last signed byte", "reserved_nonzero"],
    [0x2a0, "SIGNATURE.R low byte", "evidence_signature_invalid"],
    [0x2cf, "SIGNATURE.R high byte", "evidence_signature_invalid"],
    [0x2d0, "SIGNATURE.R zero padding", "evidence_signature_invalid"],
    [0x2e8, "SIGNATURE.S", "evidence_signature_invalid"],
    [0x330, "signature reserved tail", "reserved_nonzero"],
    [0x49f, "last byte", "reserved_nonzero"],
  ];
  it.each(flips.map(([offset, field, code, mask]) => ({ at: `0x${offset.toString(16)}`, offset, field, code, mask: mask ?? 0x01 })))("flip at $at ($field) → $code", async ({ offset, code, mask }) => {
    const report = flip(snp.s2.report, offset, mask);
    expect(await codeOf(() => verifySnpReport({ ...s2(), report }, { now: TODAY, trustAnchors: trust, revocation: "unchecked" }))).toBe(code);
  });

  it("rejects a one-bit flip anywhere in the 0x4A0 bytes", async () => {
    for (let i = 0; i < REPORT_SIZE; i += 3) {
      const code = await codeOf(() => verifySnpReport({ ...s2(), report: flip(snp.s2.report, i, 0x10) }, { now: TODAY, trustAnchors: trust, revocation: "unchecked" }));
      expect(code, `offset 0x${i.toString(16)}`).not.toBe("ok");
    }
  });

  it("rejects another chip's VCEK (valid chain, wrong key)", async () => {
    expect(await codeOf(() => verifySnpReport({ report: snp.s2.report, endorsementKey: snp.s1.vcek }, { now: TODAY, trustAnchors: trust, revocation: "unchecked" }))).toBe("evidence_signature_invalid");
  });

  it("rejects a VCEK byte flip (certificate signature)", async () => {
    const tbsOffset = 100;
    expect(await codeOf(() => verifySnpReport({ ...s2(), endorsementKey: flip(snp.s2.vcek, tbsOffset) }, { now: TODAY, trustAnchors: trust, revocation: "unchecked" }))).not.toBe("ok");
  });

  it("rejects before and after the VCEK validity window", async () => {
    expect(await codeOf(() => verifySnpReport(s2(), { now: new Date("2023-04-01T00:00:00Z"), trustAnchors: trust, revocation: "unchecked" }))).toBe("certificate_not_yet_valid");
    expect(await codeOf(() => verifySnpReport(s2(), { now: new Date("2030-04-04T00:00:00Z"), trustAnchors: trust, revocation: "unchecked" }))).toBe("certificate_expired");
  });

  it("refuses an empty trust-anchor set and a product without anchors", async () => {
    expect(await codeOf(() => verifySnpReport(s2(), { now: TODAY, trustAnchors: { anchors: [] }, revocation: "unchecked" }))).toBe("no_trust_anchors");
    const genoaOnly: SnpTrust = { anchors: trust.anchors.filter((a) => a.group === "Genoa"), intermediates: trust.intermediates?.filter((e) => e.group === "Genoa") ?? [] };
    expect(await codeOf(() => verifySnpReport(s2(), { now: TODAY, trustAnchors: genoaOnly, revocation: "unchecked" }))).toBe("no_trust_anchors");
    // Said by the trust store's check (x509/trust.ts anchorsAt), naming the product and the time.
    await expect(verifySnpReport(s2(), { now: TODAY, trustAnchors: genoaOnly, revocation: "unchecked" })).rejects.toThrow(`no AMD trust anchor for Milan valid at ${TODAY.toISOString()}`);
  });

  it("appraisal: measurement, host data, key digests, report data and TCB minimum", async () => {
    const verified = await verifySnpReport(s2(), { now: TODAY, trustAnchors: trust, revocation: "unchecked" });
    const other48 = "ab".repeat(48);
    const cases: [Partial<SnpReferenceValues>, EvidenceErrorCode | "ok"][] = [
      [{ measurements: [other48] }, "measurement_not_allowed"],
      [{ measurements: [] }, "measurement_not_allowed"],
      [{ measurements: [toHex(verified.report.measurement).toUpperCase()] }, "ok"],
      [{ hostData: ["cd".repeat(32)] }, "host_data_not_allowed"],
      [{ idKeyDigests: [other48] }, "id_key_not_allowed"],
      [{ authorKeyDigests: [other48] }, "author_key_not_allowed"],
      [{ reportData: new Uint8Array(64) }, "report_data_mismatch"],
      [{ reportData: new Uint8Array(32) }, "invalid_reference_values"],
      [{ measurements: ["abc"] }, "invalid_reference_values"],
      [{ minimumTcb: { Milan: { bootloader: 3, tee: 0, snp: 9, microcode: 115 } } }, "tcb_below_minimum"],
      [{ minimumTcb: { Milan: { bootloader: 3, tee: 0, snp: 8, microcode: 116 } } }, "tcb_below_minimum"],
      [{ minimumTcb: { Milan: { bootloader: 3, tee: 0, snp: 8, microcode: 115 } } }, "ok"],
      [{ minimumTcb: { Genoa: { bootloader: 0, tee: 0, snp: 0, microcode: 0 } } }, "product_not_allowed"],
      [{ allowedVmpls: [1, 2] }, "vmpl_not_allowed"],
      [{ signingKeys: ["vlek"] }, "signing_key_not_allowed"],
    ];
    for (const [over, expected] of cases) expect(await codeOf(() => appraiseSnp(verified, permissive(over))), JSON.stringify(over)).toBe(expected);
  });

  it("binds REPORT_DATA = SHA-512(nonce ‖ JWK thumbprint)", async () => {
    const nonce = new Uint8Array(32).fill(7);
    const jkt = new Uint8Array(32).fill(9);
    const expected = await expectedReportData(nonce, jkt);
    expect(expected).toHaveLength(64);
    const manual = new Uint8Array(await crypto.subtle.digest("SHA-512", new Uint8Array([...nonce, ...jkt])));
    expect(expected).toEqual(manual);
    await expect(expectedReportData(new Uint8Array(8), jkt)).rejects.toMatchObject({ code: "invalid_reference_values" });
  });
});

/**
 * A generated AMD-like hierarchy (RSA-PSS SHA-384 ARK and ASK, P-384 VCEK
 * with KDS extensions) and reports re-signed by the generated VCEK: exercises
 * every binding check, and forged chains, with keys we control.
 */
describe("SEV-SNP with generated hierarchies", () => {
  let ark: Issued;
  let ask: Issued;
  let asvk: Issued;
  let genTrust: SnpTrust;
  /** A current CRL of the generated ARK revoking nothing: what AMD KDS serves, so the chains are checked for revocation as the worker checks them. */
  let arkCrl: Uint8Array;
  const current = () => ({ collateral: { crls: [arkCrl] } });
  async function endorsementKey(issuer: Issued, exts: x509.Extension[], name = "CN=SEV-VCEK, O=Advanced Micro Devices"): Promise<Issued> {
    return issue({ name, issuer, alg: "P-384", keyLabel: "gen vcek", extensions: exts });
  }

  beforeAll(async () => {
    // The generated ARK, ASK and ASVK carry the real ones' subject names, byte for byte.
    ({ ark, ask, asvk } = await amdLikeCas("gen"));
    const [realAsk] = parseCertificatesPem(amdRoots.milan);
    expect(parseCertificate(ask.der).subject).toEqual(realAsk!.subject);
    genTrust = await snpTrustFromChains([
      { product: "Milan", kind: "vcek", pem: pem(ask, ark) },
      { product: "Milan", kind: "vlek", pem: pem(asvk, ark) },
    ]);
    arkCrl = await crl(ark);
  });

  const s2Tcb = () => parseSnpReport(snp.s2.report).reportedTcb.slice();
  const s2Chip = () => parseSnpReport(snp.s2.report).chipId.slice();

  it("trust windows: a rotated ARK beside the old one; an ARK retired early; a pinned ASK outside its window is not replaced by the evidence's", async () => {
    const vcek = await endorsementKey(ask, kdsExtensions(s2Tcb(), { hwid: s2Chip() }));
    const report = await resignSnp(snp.s2.report, vcek.keys);
    const evidence = { report, endorsementKey: vcek.der, certificates: [ask.der] };
    // Rotation: a second Milan ARK and its ASK may sit beside the first; the VCEK's own chain is found.
    const ark2 = await issue({ name: ark.cert.subjectName, alg: "RSA-PSS", keyLabel: "gen ark 2", ca: { ca: true }, keyUsage: CA_USAGE });
    const ask2 = await issue({ name: ask.cert.subjectName, issuer: ark2, alg: "RSA-PSS", keyLabel: "gen ask 2", ca: { ca: true, pathLen: 0 }, keyUsage: CA_USAGE });
    const rotated = await snpTrustFromChains([{ product: "Milan", kind: "vcek", pem: pem(ask2, ark2) }, { product: "Milan", kind: "vcek", pem: pem(ask, ark) }]);
    expect(rotated.anchors).toHaveLength(2);
    expect((await verifySnpReport(evidence, { now: NOW, trustAnchors: rotated, ...current() })).chain.anchor.certificate.der).toEqual(parseCertificate(ark.der).der);
    // AMD retires the ARK (and so its chain) before the certificate says: no Milan anchor is left at NOW.
    const retired = await snpTrustFromChains([{ product: "Milan", kind: "vcek", pem: pem(ask, ark), validFor: { end: new Date(NOW.getTime() - 86_400_000) } }]);
    expect(await codeOf(() => verifySnpReport(evidence, { now: NOW, trustAnchors: retired, ...current() }))).toBe("no_trust_anchors");
    // Only the pinned ASK is outside its window: the evidence's own copy must not stand in for it.
    const askRetired: SnpTrust = { anchors: genTrust.anchors, intermediates: (genTrust.intermediates ?? []).map((e) => (e.purpose === "vcek" ? { ...e, validFor: { start: e.validFor.start, end: new Date(NOW.getTime() - 1000) } } : e)) };
    expect(await codeOf(() => verifySnpReport(evidence, { now: NOW, trustAnchors: askRetired, ...current() }))).toBe("certificate_expired");
    const askNotYet: SnpTrust = { anchors: genTrust.anchors, intermediates: (genTrust.intermediates ?? []).map((e) => (e.purpose === "vcek" ? { ...e, validFor: { start: new Date(NOW.getTime() + 1000), end: e.validFor.end } } : e)) };
    expect(await codeOf(() => verifySnpReport(evidence, { now: NOW, trustAnchors: askNotYet, ...current() }))).toBe("certificate_not_yet_valid");
  });

  it("accepts a re-signed report under the generated chain (the P1363 conversion and every binding hold)", async () => {
    const vcek = await endorsementKey(ask, kdsExtensions(s2Tcb(), { hwid: s2Chip() }));
    const report = await resignSnp(snp.s2.report, vcek.keys);
    const v = await verifySnpReport({ report, endorsementKey: vcek.der }, { now: NOW, trustAnchors: genTrust, ...current() });
    expect(v.product).toBe("Milan");
    // The real AMD roots do not trust it.
    expect(await codeOf(() => verifySnpReport({ report, endorsementKey: vcek.der }, { now: NOW, trustAnchors: trust, ...current() }))).toBe("certificate_signature_invalid");
  });

  it("a guest whose policy allows a migration agent (POLICY.MIGRATE_MA) is refused unless the reference values allow one", async () => {
    const vcek = await endorsementKey(ask, kdsExtensions(s2Tcb(), { hwid: s2Chip() }));
    const report = await resignSnp(snp.s2.report, vcek.keys, { edit: (_r, v) => v.setUint32(0x08, v.getUint32(0x08, true) | (1 << 18), true) });
    const verified = await verifySnpReport({ report, endorsementKey: vcek.der }, { now: NOW, trustAnchors: genTrust, ...current() });
    expect(verified.report.policy.migrateMa).toBe(true);
    expect(await codeOf(() => appraiseSnp(verified, permissive()))).toBe("migration_agent_not_allowed");
    expect(appraiseSnp(verified, permissive({ allowMigrationAgent: true })).policy).toBe("0000000000070000");
    // What the route appraises with: a bundle's section, where the switch is off unless named.
    const binding = verified.report.reportData.slice();
    const section = { measurements: "any", minimum_tcb: { Milan: { bootloader: 0, tee: 0, snp: 0, microcode: 0 } } };
    expect(await codeOf(() => appraiseSnp(verified, snpReference(SnpManifestSchema.parse(section), binding)))).toBe("migration_agent_not_allowed");
    expect(appraiseSnp(verified, snpReference(SnpManifestSchema.parse({ ...section, allow_migration_agent: true }), binding)).policy).toBe("0000000000070000");
    // The same report without the bit passes the default.
    const plain = await verifySnpReport({ report: await resignSnp(snp.s2.report, vcek.keys), endorsementKey: vcek.der }, { now: NOW, trustAnchors: genTrust, ...current() });
    expect(appraiseSnp(plain, snpReference(SnpManifestSchema.parse(section), plain.report.reportData.slice())).policy).toBe("0000000000030000");
  });

  it("a Turin minimum TCB that names no FMC SPL is refused as reference values, not read as FMC 0", async () => {
    // A Turin hierarchy (the real names), and s2 re-signed as a Turin VCEK's report: Turin TCB layout, 8-byte hwID.
    const { ark: turinArk, ask: turinAsk } = await amdLikeCas("gen turin", "Turin");
    const turinTrust = await snpTrustFromChains([{ product: "Turin", kind: "vcek", pem: pem(turinAsk, turinArk) }]);
    const turinCrl = { collateral: { crls: [await crl(turinArk)] } };
    const tcb = Uint8Array.of(1, 4, 0, 9, 0, 0, 0, 0x45); // FMC 1, bootloader 4, TEE 0, SNP 9, microcode 0x45
    const hwid = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
    const vcek = await issue({
      name: "CN=SEV-VCEK, O=Advanced Micro Devices",
      issuer: turinAsk,
      alg: "P-384",
      keyLabel: "gen turin vcek",
      extensions: kdsExtensions(tcb, { hwid }, "Turin"),
    });
    const report = await resignSnp(snp.s2.report, vcek.keys, { edit: (r) => {
      r.set(tcb, 0x180);
      r.fill(0, 0x1a0, 0x1e0);
      r.set(hwid, 0x1a0);
    } });
    const verified = await verifySnpReport({ report, endorsementKey: vcek.der }, { now: NOW, trustAnchors: turinTrust, ...turinCrl });
    expect(verified.product).toBe("Turin");
    expect(verified.reportedTcb).toEqual({ fmc: 1, bootloader: 4, tee: 0, snp: 9, microcode: 0x45 });
    const rest = { bootloader: 4, tee: 0, snp: 9, microcode: 0x45 };
    expect(await codeOf(() => appraiseSnp(verified, permissive({ minimumTcb: { Turin: rest } })))).toBe("invalid_reference_values");
    expect(await codeOf(() => appraiseSnp(verified, permissive({ minimumTcb: { Turin: { ...rest, fmc: 2 } } })))).toBe("tcb_below_minimum");
    expect(appraiseSnp(verified, permissive({ minimumTcb: { Turin: { ...rest, fmc: 1 } } })).reportedTcb.fmc).toBe(1);
  });

  type GenCase = { name: string; build: () => Promise<{ evidence: SnpEvidence; trust?: SnpTrust }>; code: EvidenceErrorCode | "ok" };
  const cases: GenCase[] = [
    {
      name: "VCEK TCB extensions differ from REPORTED_TCB",
      build: async () => {
        const tcb = s2Tcb();
        tcb[6] = (tcb[6] as number) + 1;
        const vcek = await endorsementKey(ask, kdsExtensions(tcb, { hwid: s2Chip() }));
        return { evidence: { report: await resignSnp(snp.s2.report, vcek.keys), endorsementKey: vcek.der } };
      },
      code: "tcb_mismatch",
    },
    {
      name: "VCEK hwID differs from CHIP_ID",
      build: async () => {
        const vcek = await endorsementKey(ask, kdsExtensions(s2Tcb(), { hwid: new Uint8Array(64).fill(0x5a) }));
        return { evidence: { report: await resignSnp(snp.s2.report, vcek.keys), endorsementKey: vcek.der } };
      },
      code: "chip_id_mismatch",
    },
    {
      name: "CHIP_ID masked (all zero) with a VCEK",
      build: async () => {
        const vcek = await endorsementKey(ask, kdsExtensions(s2Tcb(), { hwid: s2Chip() }));
        return { evidence: { report: await resignSnp(snp.s2.report, vcek.keys, { edit: (r) => r.fill(0, 0x1a0, 0x1e0) }), endorsementKey: vcek.der } };
      },
      code: "chip_id_mismatch",
    },
    {
      name: "report says VLEK, certificate is a VCEK",
      build: async () => {
        const vcek = await endorsementKey(ask, kdsExtensions(s2Tcb(), { hwid: s2Chip() }));
        return { evidence: { report: await resignSnp(snp.s2.report, vcek.keys, { edit: (_r, v) => v.setUint32(0x48, 1 << 2, true) }), endorsementKey: vcek.der } };
      },
      code: "endorsement_key_mismatch",
    },
    {
      name: "VLEK certificate issued by the ASK instead of the ASVK (the pinned ASVK has another name)",
      build: async () => {
        const vlek = await endorsementKey(ask, kdsExtensions(s2Tcb(), { cspId: "CN=cloud.example" }), "CN=SEV-VLEK, O=Advanced Micro Devices");
        return { evidence: { report: await resignSnp(snp.s2.report, vlek.keys, { edit: vlekReport }), endorsementKey: vlek.der } };
      },
      code: "chain_incomplete",
    },
    {
      name: "VLEK under the ASK, with the ASK supplied by the evidence and no ASVK pinned",
      build: async () => {
        const vlek = await endorsementKey(ask, kdsExtensions(s2Tcb(), { cspId: "CN=cloud.example" }), "CN=SEV-VLEK, O=Advanced Micro Devices");
        const noPinned: SnpTrust = withoutPinned(genTrust, ["vcek", "vlek"]);
        return {
          evidence: { report: await resignSnp(snp.s2.report, vlek.keys, { edit: vlekReport }), endorsementKey: vlek.der, certificates: [ask.der] },
          trust: noPinned,
        };
      },
      code: "chain_untrusted",
    },
    {
      name: "VLEK under the ASVK is accepted (control)",
      build: async () => {
        const vlek = await endorsementKey(asvk, kdsExtensions(s2Tcb(), { cspId: "CN=cloud.example" }), "CN=SEV-VLEK, O=Advanced Micro Devices");
        return { evidence: { report: await resignSnp(snp.s2.report, vlek.keys, { edit: vlekReport }), endorsementKey: vlek.der } };
      },
      code: "ok",
    },
    {
      name: "v3 report whose CPUID says Genoa, certificate says Milan",
      build: async () => {
        const vcek = await endorsementKey(ask, kdsExtensions(s2Tcb(), { hwid: s2Chip() }));
        return {
          evidence: {
            report: await resignSnp(snp.s2.report, vcek.keys, { edit: (r, v) => {
              v.setUint32(0, 3, true);
              r[0x188] = 0x19;
              r[0x189] = 0x11;
              r[0x18a] = 0x01;
            } }),
            endorsementKey: vcek.der,
          },
        };
      },
      code: "product_mismatch",
    },
    {
      name: "fake ARK copying ARK-Milan's subject, fake ASK, evidence-supplied chain (no pinned ASK)",
      build: async () => {
        const fakeArk = await issue({ name: ark.cert.subjectName, alg: "RSA-PSS", keyLabel: "fake ark", ca: { ca: true }, keyUsage: CA_USAGE });
        const fakeAsk = await issue({ name: ask.cert.subjectName, issuer: fakeArk, alg: "RSA-PSS", keyLabel: "fake ask", ca: { ca: true, pathLen: 0 }, keyUsage: CA_USAGE });
        const vcek = await endorsementKey(fakeAsk, kdsExtensions(s2Tcb(), { hwid: s2Chip() }));
        const noPinnedAsk: SnpTrust = withoutPinned(genTrust, ["vcek"]);
        return { evidence: { report: await resignSnp(snp.s2.report, vcek.keys), endorsementKey: vcek.der, certificates: [fakeAsk.der, fakeArk.der] }, trust: noPinnedAsk };
      },
      code: "chain_untrusted",
    },
    {
      name: "fake ASK copying SEV-Milan's subject while the ASK is pinned",
      build: async () => {
        const fakeAsk = await issue({ name: ask.cert.subjectName, issuer: ark, issuerName: ark.cert.subjectName, alg: "RSA-PSS", keyLabel: "fake ask", ca: { ca: true, pathLen: 0 }, keyUsage: CA_USAGE });
        const vcek = await endorsementKey(fakeAsk, kdsExtensions(s2Tcb(), { hwid: s2Chip() }));
        return { evidence: { report: await resignSnp(snp.s2.report, vcek.keys), endorsementKey: vcek.der, certificates: [fakeAsk.der] } };
      },
      code: "certificate_signature_invalid",
    },
    {
      name: "VCEK signed directly by the ARK",
      build: async () => {
        const vcek = await endorsementKey(ark, kdsExtensions(s2Tcb(), { hwid: s2Chip() }));
        return { evidence: { report: await resignSnp(snp.s2.report, vcek.keys), endorsementKey: vcek.der } };
      },
      code: "chain_untrusted",
    },
    {
      name: "VCEK revoked by a CRL of the ASK",
      build: async () => {
        const vcek = await endorsementKey(ask, kdsExtensions(s2Tcb(), { hwid: s2Chip() }));
        const { crl } = await import("./pki.ts");
        return { evidence: { report: await resignSnp(snp.s2.report, vcek.keys), endorsementKey: vcek.der, crls: [await crl(ask, { revoked: [vcek.cert.serialNumber] })] } as SnpEvidence & { crls: Uint8Array[] } };
      },
      code: "certificate_revoked",
    },
    {
      name: "VCEK with a P-256 key",
      build: async () => {
        const vcek = await issue({ name: "CN=SEV-VCEK", issuer: ask, alg: "P-256", extensions: kdsExtensions(s2Tcb(), { hwid: s2Chip() }) });
        return { evidence: { report: snp.s2.report, endorsementKey: vcek.der } };
      },
      code: "unsupported_algorithm",
    },
    {
      name: "certificate without KDS extensions",
      build: async () => {
        const vcek = await issue({ name: "CN=SEV-VCEK", issuer: ask, alg: "P-384" });
        return { evidence: { report: snp.s2.report, endorsementKey: vcek.der } };
      },
      code: "malformed_certificate",
    },
  ];
  it.each(cases)("$name → $code", async ({ build, code }) => {
    const { evidence, trust: t } = await build();
    const crls = (evidence as { crls?: Uint8Array[] }).crls;
    expect(await codeOf(() => verifySnpReport(evidence, { now: NOW, trustAnchors: t ?? genTrust, collateral: { crls: [arkCrl, ...(crls ?? [])] } }))).toBe(code);
  });

  describe("revocation: a CRL of the ARK covering the ASK / ASVK (AMD KDS /vcek|vlek/v1/{product}/crl)", () => {
    const DAY = 86_400_000;
    const at = (days: number) => new Date(NOW.getTime() + days * DAY);
    const vcekEvidence = async (): Promise<SnpEvidence> => {
      const vcek = await endorsementKey(ask, kdsExtensions(s2Tcb(), { hwid: s2Chip() }));
      return { report: await resignSnp(snp.s2.report, vcek.keys), endorsementKey: vcek.der };
    };
    const vlekEvidence = async (): Promise<SnpEvidence> => {
      const vlek = await endorsementKey(asvk, kdsExtensions(s2Tcb(), { cspId: "CN=cloud.example" }), "CN=SEV-VLEK, O=Advanced Micro Devices");
      return { report: await resignSnp(snp.s2.report, vlek.keys, { edit: vlekReport }), endorsementKey: vlek.der };
    };
    const run = async (evidence: SnpEvidence, crls: Uint8Array[] | undefined, revocation?: "require" | "unchecked") =>
      codeOf(() => verifySnpReport(evidence, { now: NOW, trustAnchors: genTrust, ...(crls ? { collateral: { crls } } : {}), ...(revocation ? { revocation } : {}) }));

    type RevocationCase = [what: string, expected: EvidenceErrorCode | "ok", crls: () => Promise<Uint8Array[]>];
    const revocationCases: RevocationCase[] = [
      ["no CRL at all (required by default)", "crl_missing", async () => []],
      ["a current CRL of the ARK revoking nothing", "ok", async () => [await crl(ark, { thisUpdate: at(-1), nextUpdate: at(6) })]],
      ["the ARK's CRL lists the ASK", "certificate_revoked", async () => [await crl(ark, { revoked: [ask.cert.serialNumber] })]],
      ["the ARK's CRL lists the ASVK only (not this chain's)", "ok", async () => [await crl(ark, { revoked: [asvk.cert.serialNumber] })]],
      ["the ARK's CRL is past its nextUpdate", "crl_expired", async () => [await crl(ark, { thisUpdate: at(-10), nextUpdate: at(-1) })]],
      ["the ARK's CRL is not yet issued", "crl_not_yet_valid", async () => [await crl(ark, { thisUpdate: at(1), nextUpdate: at(8) })]],
      ["the ARK's CRL has no nextUpdate", "crl_expired", async () => [await crl(ark, { nextUpdate: null })]],
      [
        "a CRL naming the ARK, signed by another key",
        "crl_signature_invalid",
        async () => [await crl(await issue({ name: ark.cert.subjectName, alg: "RSA-PSS", keyLabel: "other ark key", ca: { ca: true }, keyUsage: CA_USAGE }))],
      ],
      ["only a CRL of the ASK (it covers the VCEK, not the ASK)", "crl_missing", async () => [await crl(ask)]],
    ];
    it.each(revocationCases)("VCEK chain, %s → %s", async (_what, expected, crls) => {
      expect(await run(await vcekEvidence(), await crls())).toBe(expected);
    });

    it("without any CRL, revocation explicitly unchecked verifies", async () => {
      expect(await run(await vcekEvidence(), undefined, "unchecked")).toBe("ok");
      expect(await run(await vcekEvidence(), undefined)).toBe("crl_missing");
    });

    it("VLEK chain: the ASVK must be covered, and is revoked by the ARK's CRL listing it", async () => {
      const evidence = await vlekEvidence();
      expect(await run(evidence, [])).toBe("crl_missing");
      expect(await run(evidence, [arkCrl])).toBe("ok");
      expect(await run(evidence, [await crl(ark, { revoked: [asvk.cert.serialNumber] })])).toBe("certificate_revoked");
      expect(await run(evidence, [await crl(ark, { revoked: [ask.cert.serialNumber] })])).toBe("ok");
    });

    it("a supplied CRL is checked even when revocation is unchecked", async () => {
      expect(await run(await vcekEvidence(), [await crl(ark, { revoked: [ask.cert.serialNumber] })], "unchecked")).toBe("certificate_revoked");
    });
  });

  describe("AMD KDS CRLs: verifyKdsCrl and newestKdsCrl", () => {
    const DAY = 86_400_000;
    const at = (days: number) => new Date(NOW.getTime() + days * DAY);
    /** The route's ARKs: the product's, trusted at the evidence time (anchorsAt, as worker/attestation/cvm.ts). */
    const arks = (trust: SnpTrust = genTrust, product: SnpProduct = "Milan") => anchorsAt(trust, NOW, { vendor: "AMD", group: product });

    it("a CRL of the product's ARK verifies (window left to the caller: a stale one too); its bytes are a copy", async () => {
      const der = await crl(ark, { thisUpdate: at(-10), nextUpdate: at(-1) });
      const verified = await verifyKdsCrl(der, arks());
      expect(verified?.crl.thisUpdate).toEqual(at(-10));
      der.fill(0);
      expect(verified?.der[0]).toBe(0x30);
    });

    it("refuses what is not the ARK's: another key under its name, bytes that do not parse, more than the cap", async () => {
      const impostor = await issue({ name: ark.cert.subjectName, alg: "RSA-PSS", keyLabel: "other ark key", ca: { ca: true }, keyUsage: CA_USAGE });
      expect(await codeOf(async () => verifyKdsCrl(await crl(impostor), arks()))).toBe("crl_signature_invalid");
      expect(await codeOf(async () => verifyKdsCrl(flip(await crl(ark), 40), arks()))).not.toBe("ok");
      expect(await codeOf(async () => verifyKdsCrl(Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x01), arks()))).toBe("malformed_certificate");
      expect(await codeOf(async () => verifyKdsCrl(new Uint8Array(MAX_KDS_CRL_BYTES + 1), arks()))).toBe("malformed_evidence");
    });

    it("the ARKs a CRL is verified against: the product's, trusted now; none configured, none for the product, none valid now → no_trust_anchors, not \"no candidate\"", async () => {
      expect(arks().map((a) => a.group)).toEqual(["Milan"]);
      const retired = await snpTrustFromChains([{ product: "Milan", kind: "vcek", pem: pem(ask, ark), validFor: { end: at(-1) } }]);
      expect(await codeOf(() => arks(retired))).toBe("no_trust_anchors");
      expect(await codeOf(() => arks({ anchors: [] }))).toBe("no_trust_anchors");
      expect(await codeOf(() => arks(genTrust, "Turin"))).toBe("no_trust_anchors");
      expect(() => arks(retired)).toThrow(`no AMD trust anchor for Milan valid at ${NOW.toISOString()}`);
    });

    it("a CRL of another issuer (the ASK, another product's ARK) is not a candidate: null", async () => {
      expect(await verifyKdsCrl(await crl(ask), arks())).toBeNull();
      const { ark: genoaArk, ask: genoaIssued } = await amdLikeCas("gen genoa", "Genoa");
      const both = await snpTrustFromChains([
        { product: "Milan", kind: "vcek", pem: pem(ask, ark) },
        { product: "Genoa", kind: "vcek", pem: pem(genoaIssued, genoaArk) },
      ]);
      expect(await verifyKdsCrl(await crl(ark), arks(both, "Genoa"))).toBeNull();
      const genoaCrl = await crl(genoaArk);
      expect((await verifyKdsCrl(genoaCrl, arks(both, "Genoa")))?.der).toEqual(genoaCrl);
    });

    it("a request reads each CRL once: the route's choice (verifyKdsCrl) and the verifier share one parse of the same bytes", async () => {
      const vcek = await endorsementKey(ask, kdsExtensions(s2Tcb(), { hwid: s2Chip() }));
      const evidence = { report: await resignSnp(snp.s2.report, vcek.keys), endorsementKey: vcek.der };
      // Fresh bytes (RSA-PSS and ECDSA signatures are randomised), so nothing earlier in this isolate parsed them.
      const ofArk = await crl(ark, { thisUpdate: at(-1), nextUpdate: at(6) });
      const ofAsk = await crl(ask);
      // Observed where every CRL parse goes, asn1-x509's CertificateList decoding: no hook in the code under test.
      const parses = vi.spyOn(AsnConvert, "parse");
      try {
        // As worker/attestation/cvm.ts does: each CRL of the request checked against the ARK, then the evidence verified with them.
        const chosen = await verifyKdsCrl(ofArk, arks());
        expect(await verifyKdsCrl(ofAsk, arks())).toBeNull();
        await verifySnpReport(evidence, { now: NOW, trustAnchors: genTrust, collateral: { crls: [chosen!.der, ofAsk] } });
        expect(parses.mock.calls.filter(([, type]) => type === CertificateList)).toHaveLength(2);
      } finally {
        parses.mockRestore();
      }
    });

    it("newest by thisUpdate or cRLNumber; the earlier in the list on a tie or when they disagree", async () => {
      const v = async (o: Parameters<typeof crl>[1]) => (await verifyKdsCrl(await crl(ark, o), arks()))!;
      const old = await v({ thisUpdate: at(-5), nextUpdate: at(5), crlNumber: crlNumber(3) });
      const newerTime = await v({ thisUpdate: at(-1), nextUpdate: at(5), crlNumber: crlNumber(3) });
      const newerNumber = await v({ thisUpdate: at(-5), nextUpdate: at(5), crlNumber: crlNumber(4) });
      const tie = await v({ thisUpdate: at(-5), nextUpdate: at(5), crlNumber: crlNumber(3) });
      const laterButLower = await v({ thisUpdate: at(-1), nextUpdate: at(5), crlNumber: crlNumber(2) });
      const unnumbered = await v({ thisUpdate: at(-1), nextUpdate: at(5), crlNumber: null });
      expect(newestKdsCrl([old, newerTime])).toBe(newerTime);
      expect(newestKdsCrl([newerTime, old])).toBe(newerTime);
      expect(newestKdsCrl([old, newerNumber])).toBe(newerNumber);
      expect(newestKdsCrl([old, tie])).toBe(old);
      expect(newestKdsCrl([old, laterButLower])).toBe(old);
      expect(newestKdsCrl([laterButLower, old])).toBe(laterButLower);
      expect(newestKdsCrl([old, unnumbered])).toBe(unnumbered);
      expect(newestKdsCrl([null, undefined, old])).toBe(old);
      expect(newestKdsCrl([])).toBeUndefined();
    });
  });

  it("the generated hierarchy is what the real one looks like (RSA-PSS ARK/ASK, P-384 VCEK)", async () => {
    const [realAsk, realArk] = parseCertificatesPem(amdRoots.milan);
    expect(realArk?.signatureAlgorithm).toEqual({ kind: "rsa-pss", hash: "SHA-384", saltLength: 48 });
    expect(parseCertificate(ask.der).signatureAlgorithm).toEqual(realAsk?.signatureAlgorithm);
    const anchors = await trustAnchorsFromPem(amdRoots.milan, "ARK-Milan");
    expect(anchors).toHaveLength(1);
    expect(anchors[0]?.certificate.subject).toEqual(realArk?.subject);
  });
});
