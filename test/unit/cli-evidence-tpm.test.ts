import { describe, expect, it } from "vitest";
import { tpmEvidenceResult, verifyTpmEk, verifyTpmQuote } from "../../cli/evidence-tpm.ts";
import { fromBase64 } from "./verifiers/pki.ts";
import { der, pem, q1, swtpm } from "./verifiers/tpm-fixtures.ts";

// `warden evidence verify --type tpm | tpm-ek` on the fixtures (cli/evidence-tpm.ts).

const now = new Date("2026-11-22T00:00:00Z");

describe("warden evidence verify --type tpm-ek", () => {
  it("accepts real vendor EKs (DER and PEM) and names vendor and chain", async () => {
    expect(await verifyTpmEk({ evidence: der.ek1, now })).toMatchObject({
      valid: true,
      vendor: "Infineon",
      chain: ["C=DE, O=Infineon Technologies AG, OU=OPTIGA(TM) TPM2.0, CN=Infineon OPTIGA(TM) RSA Manufacturing CA 007", "C=DE, O=Infineon Technologies AG, OU=OPTIGA(TM) Devices, CN=Infineon OPTIGA(TM) RSA Root CA"],
      tpm: { manufacturer: "id:49465800", manufacturer_name: "Infineon", model: "SLB 9670 TPM2.0", version: "id:0728" },
    });
    expect(await verifyTpmEk({ evidence: pem.ek3Pem, now })).toMatchObject({ valid: true, vendor: "Nuvoton" });
    expect(await verifyTpmEk({ evidence: pem.ek2Pem, certs: [der.ek2Int], now })).toMatchObject({ valid: true, vendor: "STMicroelectronics" });
  });

  it("rejects with the verifier's code", async () => {
    expect(await verifyTpmEk({ evidence: der.ek1, now: new Date("2031-01-01T00:00:00Z") })).toMatchObject({ valid: false, code: "certificate_expired" });
    expect(await verifyTpmEk({ evidence: fromBase64(swtpm.ek_certificates.rsa), certs: [pem.swtpmIntermediate], now })).toMatchObject({ valid: false, code: "chain_incomplete" });
    expect(await verifyTpmEk({ evidence: pem.ucaRsaSign, now })).toMatchObject({ valid: false, code: "key_usage_invalid" });
    expect(await verifyTpmEk({ evidence: "not a certificate", now })).toMatchObject({ valid: false, code: "malformed_evidence" });
  });
});

describe("warden evidence verify --type tpm", () => {
  const q = swtpm.quotes.rsa;
  const pcrsBinary = Uint8Array.from(swtpm.pcrs.flatMap((p) => [...Uint8Array.from((q.pcrs[String(p)] as string).match(/../g)!.map((h) => parseInt(h, 16)))]));
  // tpm2_readpublic -f tss writes a TPM2B_PUBLIC: accepted as well as the bare TPMT_PUBLIC.
  const akTpmt = fromBase64(swtpm.publics.ak_rsa);
  const akTss = Uint8Array.from([akTpmt.length >> 8, akTpmt.length & 0xff, ...akTpmt]);
  const base = { ak: akTss, nonce: swtpm.nonce, selection: "sha256:0,1,2,3,4,5,6,7" };

  it("verifies tpm2_quote's files (-m, -s, -o -F values)", async () => {
    const result = await verifyTpmQuote({ ...base, evidence: fromBase64(q.quote), signature: fromBase64(q.signature), pcrs: pcrsBinary });
    expect(result).toMatchObject({ valid: true, pcr_bank: "sha256", pcrs: q.pcrs });
    expect(result.pcr_digest).toMatch(/^[0-9a-f]{64}$/);
  });

  it("verifies the session-evidence JSON and appraises against a manifest", async () => {
    const evidence = JSON.stringify({ type: "tpm", ...q });
    const manifest = JSON.stringify({ name: "x", attestation: { tpm: { pcr_bank: "sha256", pcrs: swtpm.pcrs, reference: { "0": ["00".repeat(32)] } } } });
    expect(await verifyTpmQuote({ evidence, ak: base.ak, nonce: base.nonce, manifest })).toMatchObject({ valid: true, appraisal: { status: "affirming", appraised: [0] } });
    const strict = JSON.stringify({ attestation: { tpm: { pcr_bank: "sha256", pcrs: swtpm.pcrs, reference: { "0": ["11".repeat(32)] } } } });
    expect(await verifyTpmQuote({ evidence, ak: base.ak, nonce: base.nonce, manifest: strict })).toMatchObject({ valid: false, code: "pcr_value_not_allowed" });
  });

  it("session-evidence JSON, PCR JSON or a manifest that is not strict JSON → malformed_evidence", async () => {
    const evidence = JSON.stringify(q);
    // A second `quote` first: JSON.parse would verify the last one.
    const twoQuotes = `{"quote":${JSON.stringify(swtpm.quotes.ecc.quote)},${evidence.slice(1)}`;
    expect(await verifyTpmQuote({ ...base, evidence })).toMatchObject({ valid: true });
    expect(await verifyTpmQuote({ ...base, evidence: twoQuotes })).toMatchObject({ valid: false, code: "malformed_evidence" });
    const bom = new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode(evidence)]);
    expect(await verifyTpmQuote({ ...base, evidence: bom })).toMatchObject({ valid: false, code: "malformed_evidence" });
    const pcrJson = JSON.stringify(q.pcrs);
    const signature = fromBase64(q.signature);
    expect(await verifyTpmQuote({ ...base, evidence: fromBase64(q.quote), signature, pcrs: pcrJson })).toMatchObject({ valid: true });
    expect(await verifyTpmQuote({ ...base, evidence: fromBase64(q.quote), signature, pcrs: `{"0":"${"00".repeat(32)}",${pcrJson.slice(1)}` })).toMatchObject({ valid: false, code: "malformed_evidence" });
    const manifest = `{"attestation":{"tpm":{"pcr_bank":"sha256","pcrs":[0],"pcrs":${JSON.stringify(swtpm.pcrs)}}}}`;
    expect(await verifyTpmQuote({ evidence, ak: base.ak, nonce: base.nonce, manifest })).toMatchObject({ valid: false, code: "malformed_evidence" });
  });

  it("rejects with the verifier's code", async () => {
    const evidence = JSON.stringify(q);
    expect(await verifyTpmQuote({ ...base, evidence, nonce: "00".repeat(32) })).toMatchObject({ valid: false, code: "qualifying_data_mismatch" });
    expect(await verifyTpmQuote({ ...base, evidence, selection: "sha256:0,1" })).toMatchObject({ valid: false, code: "pcr_selection_mismatch" });
    expect(await verifyTpmQuote({ ...base, evidence: fromBase64(q.quote).subarray(0, 30), signature: fromBase64(q.signature), pcrs: pcrsBinary })).toMatchObject({ valid: false, code: "evidence_truncated" });
    const sha1 = { quote: q1.Quote.Quote, signature: q1.Quote.Signature, pcrs: Object.fromEntries(q1.Log.PCRs.map((p) => [String(p.Index), [...atob(p.Digest)].map((c) => c.charCodeAt(0).toString(16).padStart(2, "0")).join("")])) };
    expect(await verifyTpmQuote({ evidence: JSON.stringify(sha1), ak: q1.AK.Public, nonce: "", selection: "sha256:0" })).toMatchObject({ valid: false, code: "unsupported_algorithm" });
  });

  it("reads the named files and answers valid, or rejected with the verifier's code", async () => {
    const files: Record<string, Uint8Array> = {
      "ek.der": der.ek1,
      "evidence.json": new TextEncoder().encode(JSON.stringify(q)),
      "ak.pub": akTss,
    };
    const readFile = async (path: string) => files[path]!;
    expect(await tpmEvidenceResult({ type: "tpm-ek", evidence: "ek.der", now: new Date("2026-11-22T00:00:00Z") }, readFile)).toMatchObject({ type: "tpm-ek", valid: true, vendor: "Infineon" });
    expect(await tpmEvidenceResult({ type: "tpm-ek", evidence: "ek.der", now: new Date("2031-01-01T00:00:00Z") }, readFile)).toMatchObject({ valid: false, code: "certificate_expired" });
    expect(await tpmEvidenceResult({ type: "tpm", evidence: "evidence.json", ak: "ak.pub", nonce: swtpm.nonce, selection: base.selection, now: new Date() }, readFile)).toMatchObject({ valid: true });
    expect(await tpmEvidenceResult({ type: "tpm", evidence: "evidence.json", ak: "ak.pub", nonce: "ff", selection: base.selection, now: new Date() }, readFile)).toMatchObject({
      valid: false,
      code: "qualifying_data_mismatch",
    });
  });
});
