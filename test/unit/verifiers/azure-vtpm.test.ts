import { describe, expect, it } from "vitest";
import { fromHex, toHex } from "../../../worker/verifiers/reader.ts";
import {
  appraiseAzureVtpm,
  azurePcrReference,
  parseAzureVtpmEvidence,
  pinnedSnpTrust,
  verifyAzureVtpm,
  type AzureVtpmEvidence,
  type AzureVtpmReference,
} from "../../../worker/verifiers/sev-snp/index.ts";
import { pemBlocks } from "../../../worker/verifiers/x509/certificate.ts";
import { codeOf } from "./codes.ts";
import { snp } from "./fixtures.ts";

// s4 of sev-snp/MANIFEST.md: a real Azure confidential VM on Genoa (confidential-containers/trustee
// test data). The quote's extraData is the trustee test's report_data; its vTPM PCR 0 is the one
// trustee's `test_evaluate_genoa` expects.

const NOW = new Date("2026-11-22T00:00:00Z");
const NONCE = fromHex("0218488bae25d2509232bf676f1a66a30d7372add909109b36016ef136f2938ca05475f8b46094de6b64270ea35d950f");
const PCR0 = "afd689d0bb1c5f36f023fbaf574135f555a28a10c1f6b938d2a25e70c7783338";
const RUNTIME_DATA = 0x4c0 + 20;

const v0 = () => JSON.parse(snp.s4.evidenceJson) as { report: number[]; quote: { message: number[]; signature: number[]; pcrs: number[][] }; vcek: string };
const base64url = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

/** The same evidence in the versioned shape (serde Base64<UrlSafe> and hex, as the v1 attester writes it). */
function v1(version = 1): Record<string, unknown> {
  const e = v0();
  return {
    version,
    hcl_report: base64url(Uint8Array.from(e.report)),
    tpm_quote: { signature: toHex(Uint8Array.from(e.quote.signature)), message: toHex(Uint8Array.from(e.quote.message)), pcrs: e.quote.pcrs.map((p) => toHex(Uint8Array.from(p))) },
    vcek: base64url(pemBlocks(e.vcek)[0]!),
  };
}

async function verify(evidence: AzureVtpmEvidence, nonce = NONCE) {
  // Real evidence and no genuine AMD KDS CRL among the fixtures: revocation explicitly unchecked (tested with generated chains in sev-snp.test.ts).
  return verifyAzureVtpm(evidence, { now: NOW, trustAnchors: await pinnedSnpTrust(), revocation: "unchecked", nonce });
}

const zero = { bootloader: 0, tee: 0, snp: 0, microcode: 0 };
const reference = (pcrs: Record<string, string[]> = {}): AzureVtpmReference => ({ snp: { measurements: "any", minimumTcb: { Genoa: zero } }, pcrs: azurePcrReference(pcrs) });

describe("Azure SEV-SNP vTPM evidence (s4, a real Azure CVM on Genoa)", () => {
  it("verifies end to end: SNP report → VCEK → ASK → ARK, REPORT_DATA = SHA-256(runtime data), the quote by HCLAkPub, the nonce, the PCR digest", async () => {
    const verified = await verify(parseAzureVtpmEvidence(snp.s4.evidenceJson));
    expect(verified.snp.product).toBe("Genoa");
    expect(verified.extraData).toBe(toHex(NONCE));
    expect(verified.pcrs).toHaveLength(24);
    expect(verified.pcrs[0]).toEqual({ index: 0, value: PCR0 });
    expect(verified.akThumbprint).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const claims = appraiseAzureVtpm(verified, reference({ "0": [PCR0] }));
    expect(claims.pcrsAppraised).toEqual([0]);
    expect(claims.snp).toMatchObject({ product: "Genoa", vmpl: 0, debug: false });
    expect(claims.vmConfiguration).toMatchObject({ "secure-boot": true, "tpm-enabled": true });
  });

  it("takes both attester shapes: v0 (byte arrays, PEM) and v1/v2 (base64url, hex, DER)", async () => {
    for (const shape of [v1(1), v1(2)]) {
      const parsed = parseAzureVtpmEvidence(JSON.stringify(shape));
      expect((await verify(parsed)).pcrs[0]?.value).toBe(PCR0);
    }
    expect(parseAzureVtpmEvidence(v0()).version).toBe(0);
  });

  it("a changed runtime-data byte (still JSON) breaks the REPORT_DATA binding", async () => {
    const e = v0();
    const runtime = new TextDecoder().decode(Uint8Array.from(e.report.slice(RUNTIME_DATA, RUNTIME_DATA + 1300)));
    const at = RUNTIME_DATA + runtime.indexOf("390CBCF5");
    e.report[at] = "4".charCodeAt(0);
    expect(await codeOf(async () => verify(parseAzureVtpmEvidence(e)))).toBe("runtime_data_mismatch");
  });

  it("a quote signed by another key is refused (evidence_signature_invalid)", async () => {
    const e = v0();
    const other = (await crypto.subtle.generateKey({ name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" }, false, ["sign", "verify"])) as CryptoKeyPair;
    e.quote.signature = [...new Uint8Array(await crypto.subtle.sign("RSASSA-PKCS1-v1_5", other.privateKey, Uint8Array.from(e.quote.message)))];
    expect(await codeOf(async () => verify(parseAzureVtpmEvidence(e)))).toBe("evidence_signature_invalid");
    // A flipped byte of the signed message too: authenticity first, whatever field it lands in.
    const flipped = v0();
    flipped.quote.message[50]! ^= 1;
    expect(await codeOf(async () => verify(parseAzureVtpmEvidence(flipped)))).toBe("evidence_signature_invalid");
  });

  it("a wrong nonce is qualifying_data_mismatch", async () => {
    const wrong = NONCE.slice();
    wrong[0]! ^= 1;
    expect(await codeOf(async () => verify(parseAzureVtpmEvidence(v0()), wrong))).toBe("qualifying_data_mismatch");
  });

  it("a PCR value that is not the one quoted is pcr_digest_mismatch; a missing one is malformed", async () => {
    const changed = v0();
    changed.quote.pcrs[3]![0]! ^= 1;
    expect(await codeOf(async () => verify(parseAzureVtpmEvidence(changed)))).toBe("pcr_digest_mismatch");
    const fewer = v0();
    fewer.quote.pcrs.pop();
    expect(await codeOf(async () => verify(parseAzureVtpmEvidence(fewer)))).toBe("malformed_evidence");
  });

  it("outside the VCEK's validity the chain fails first", async () => {
    const evidence = parseAzureVtpmEvidence(v0());
    expect(await codeOf(async () => verifyAzureVtpm(evidence, { now: new Date("2033-01-01T00:00:00Z"), trustAnchors: await pinnedSnpTrust(), revocation: "unchecked", nonce: NONCE }))).toBe("certificate_expired");
  });

  it("appraisal: vTPM PCRs against their values, the SNP report against the SEV-SNP ones", async () => {
    const verified = await verify(parseAzureVtpmEvidence(v0()));
    expect(await codeOf(() => appraiseAzureVtpm(verified, reference({ "0": ["00".repeat(32)] })))).toBe("pcr_value_not_allowed");
    expect(await codeOf(() => appraiseAzureVtpm(verified, { ...reference(), snp: { measurements: ["00".repeat(48)], minimumTcb: { Genoa: zero } } }))).toBe("measurement_not_allowed");
    expect(await codeOf(() => appraiseAzureVtpm(verified, { ...reference(), snp: { measurements: "any", minimumTcb: { Milan: zero } } }))).toBe("product_not_allowed");
    expect(await codeOf(() => azurePcrReference({ "24": [PCR0] }))).toBe("invalid_reference_values");
    expect(await codeOf(() => azurePcrReference({ "0": ["abcd"] }))).toBe("invalid_reference_values");
  });

  it("reads the JSON strictly and refuses shapes it does not know", async () => {
    const twice = snp.s4.evidenceJson.replace('"vcek":', '"vcek":"x","vcek":');
    expect(await codeOf(() => parseAzureVtpmEvidence(twice))).toBe("malformed_evidence");
    expect(await codeOf(() => parseAzureVtpmEvidence({ ...v0(), extra: 1 }))).toBe("malformed_evidence");
    expect(await codeOf(() => parseAzureVtpmEvidence(v1(3)))).toBe("unsupported_evidence");
    expect(await codeOf(() => parseAzureVtpmEvidence({ ...v0(), report: [256] }))).toBe("malformed_evidence");
    expect(await codeOf(() => parseAzureVtpmEvidence({ ...v1(), hcl_report: "not base64url!" }))).toBe("malformed_evidence");
    const cut = v0();
    cut.report = cut.report.slice(0, 1000);
    expect(await codeOf(async () => verify(parseAzureVtpmEvidence(cut)))).toBe("evidence_truncated");
  });
});
