import { describe, expect, it } from "vitest";
import { EvidenceError } from "../../../worker/verifiers/errors.ts";
import { concatBytes, fromHex, toHex } from "../../../worker/verifiers/reader.ts";
import { TPM_ALG, TPM_ST, TPMA_OBJECT } from "../../../worker/verifiers/tpm/constants.ts";
import { aesCfbEncrypt, checkEkPublic, kdfa, makeCredential } from "../../../worker/verifiers/tpm/credential.ts";
import { checkAkPublic, verifyTpmSignature } from "../../../worker/verifiers/tpm/keys.ts";
import { appraiseQuote, tpmReference } from "../../../worker/verifiers/tpm/appraise.ts";
import { QUOTE_CHECKS, pcrDigestOf, verifyQuote, type QuoteEvidence } from "../../../worker/verifiers/tpm/quote.ts";
import { objectName, parseAttest, parsePublic, parseSignature, marshalPcrSelection, tpm2b } from "../../../worker/verifiers/tpm/structures.ts";
import { fromBase64, flip } from "./pki.ts";
import { q1, swtpm, webauthnCases, type SwtpmQuote } from "./tpm-fixtures.ts";

async function code(promise: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof promise === "function" ? promise() : promise);
  } catch (error) {
    if (error instanceof EvidenceError) return error.code;
    throw error;
  }
  return "ok";
}

const nonce = fromHex(swtpm.nonce);
const selection = { hashAlg: TPM_ALG.SHA256, pcrs: swtpm.pcrs };
const ak = {
  rsa: parsePublic(fromBase64(swtpm.publics.ak_rsa)),
  ecc: parsePublic(fromBase64(swtpm.publics.ak_ecc)),
  rsapss: parsePublic(fromBase64(swtpm.publics.ak_rsapss)),
};

function evidence(q: SwtpmQuote, patch: { quote?: Uint8Array; signature?: Uint8Array; pcrs?: Record<string, string> } = {}): QuoteEvidence {
  const pcrs = patch.pcrs ?? q.pcrs;
  return {
    quote: patch.quote ?? fromBase64(q.quote),
    signature: patch.signature ?? fromBase64(q.signature),
    pcrs: new Map(Object.entries(pcrs).map(([k, v]) => [Number(k), fromHex(v)])),
  };
}

describe("TPM structures (real swtpm, Windows Hello and GCE vectors)", () => {
  it("parses the swtpm AKs: RSA/RSASSA, ECC P-256/ECDSA and RSA/RSAPSS, restricted signing keys", () => {
    expect(ak.rsa).toMatchObject({ type: "rsa", nameAlg: TPM_ALG.SHA256, objectAttributes: 0x00050072, keyBits: 2048, exponent: 65537, scheme: { scheme: TPM_ALG.RSASSA, hashAlg: TPM_ALG.SHA256 } });
    expect(ak.ecc).toMatchObject({ type: "ecc", curveId: 0x0003, scheme: { scheme: TPM_ALG.ECDSA, hashAlg: TPM_ALG.SHA256 }, kdf: null });
    expect(ak.rsapss).toMatchObject({ type: "rsa", scheme: { scheme: TPM_ALG.RSAPSS, hashAlg: TPM_ALG.SHA256 } });
    for (const key of Object.values(ak)) expect(() => checkAkPublic(key)).not.toThrow();
  });

  it("parses the swtpm EKs (TCG templates L-1 RSA-2048/AES-128-CFB and H-3 P-384/AES-256-CFB)", async () => {
    const rsa = parsePublic(fromBase64(swtpm.publics.ek_rsa));
    const ecc = parsePublic(fromBase64(swtpm.publics.ek_ecc));
    expect(rsa).toMatchObject({ type: "rsa", nameAlg: TPM_ALG.SHA256, symmetric: { algorithm: TPM_ALG.AES, keyBits: 128, mode: TPM_ALG.CFB }, scheme: null });
    expect(ecc).toMatchObject({ type: "ecc", nameAlg: TPM_ALG.SHA384, curveId: 0x0004, symmetric: { algorithm: TPM_ALG.AES, keyBits: 256, mode: TPM_ALG.CFB } });
    expect(() => checkEkPublic(rsa)).not.toThrow();
    expect(() => checkEkPublic(ecc)).not.toThrow();
    expect(await code(() => checkEkPublic(ak.rsa))).toBe("ek_attributes_invalid");
  });

  it("computes Names exactly as the TPM does (tpm2_readpublic -n)", async () => {
    for (const key of ["ek_rsa", "ek_ecc", "ak_rsa", "ak_ecc", "ak_rsapss"] as const) {
      expect(toHex(await objectName(parsePublic(fromBase64(swtpm.publics[key]))))).toBe(swtpm.names[key]);
    }
  });

  it.each(webauthnCases)("$name: certInfo is ATTEST_CERTIFY of nameAlg ‖ H(pubArea), signature parses", async (c) => {
    const attest = parseAttest(c.certInfo);
    const pub = parsePublic(c.pubArea);
    expect(attest.type).toBe(TPM_ST.ATTEST_CERTIFY);
    expect(attest.attested.kind).toBe("certify");
    if (attest.attested.kind !== "certify") return;
    expect(toHex(attest.attested.name)).toBe(toHex(await objectName(pub)));
    if (c.name.startsWith("w3")) expect(pub).toMatchObject({ type: "ecc", curveId: 0x0003 });
    else expect(pub.type).toBe("rsa");
  });

  it("parses the GCE vTPM quote (q1): SHA-1 bank 0–23, empty extraData, pcrDigest = SHA-1 of the values", async () => {
    const attest = parseAttest(fromBase64(q1.Quote.Quote));
    expect(attest.attested.kind).toBe("quote");
    if (attest.attested.kind !== "quote") return;
    expect(attest.extraData.length).toBe(0);
    expect(attest.attested.pcrSelect).toEqual([{ hashAlg: TPM_ALG.SHA1, pcrs: Array.from({ length: 24 }, (_, i) => i) }]);
    const values = [...q1.Log.PCRs].sort((a, b) => a.Index - b.Index).map((p) => fromBase64(p.Digest));
    expect(toHex(await pcrDigestOf(TPM_ALG.SHA1, values))).toBe(toHex(attest.attested.pcrDigest));
    expect(parseSignature(fromBase64(q1.Quote.Signature))).toMatchObject({ sigAlg: TPM_ALG.RSASSA, hashAlg: TPM_ALG.SHA1 });
  });

  const quoteBytes = fromBase64(swtpm.quotes.rsa.quote);
  const sigBytes = fromBase64(swtpm.quotes.rsa.signature);
  const pubBytes = fromBase64(swtpm.publics.ak_rsa);
  // Offsets in the swtpm quote: magic 0, type 4, qualifiedSigner size 6 (34 bytes), extraData size 42 (32 bytes), clockInfo 76.
  const malformed: [string, string, () => unknown][] = [
    ["TPMS_ATTEST truncated in the header", "evidence_truncated", () => parseAttest(quoteBytes.subarray(0, 5))],
    ["TPMS_ATTEST truncated in the PCR digest", "evidence_truncated", () => parseAttest(quoteBytes.subarray(0, quoteBytes.length - 1))],
    ["TPMS_ATTEST with trailing bytes", "evidence_trailing_data", () => parseAttest(concatBytes(quoteBytes, Uint8Array.of(0)))],
    ["a TPM2B size past the end (extraData = 0x0040)", "evidence_truncated", () => { const b = quoteBytes.slice(); b[42] = 0x00; b[43] = 0x40; return parseAttest(b.subarray(0, 80)); }],
    ["a TPM2B size past the end (qualifiedSigner = 0xffff)", "evidence_truncated", () => { const b = quoteBytes.slice(); b[6] = 0xff; b[7] = 0xff; return parseAttest(b); }],
    ["a TPM2B size above its maximum (extraData 65 bytes)", "malformed_evidence", () => parseAttest(concatBytes(quoteBytes.subarray(0, 42), tpm2b(new Uint8Array(65)), quoteBytes.subarray(76)))],
    ["an unknown attestation type", "unsupported_evidence", () => { const b = quoteBytes.slice(); b[5] = 0x99; return parseAttest(b); }],
    ["clockInfo.safe not 0 or 1", "malformed_evidence", () => { const b = quoteBytes.slice(); b[76 + 16] = 2; return parseAttest(b); }],
    ["TPMT_SIGNATURE truncated", "evidence_truncated", () => parseSignature(sigBytes.subarray(0, sigBytes.length - 10))],
    ["TPMT_SIGNATURE with trailing bytes", "evidence_trailing_data", () => parseSignature(concatBytes(sigBytes, Uint8Array.of(1)))],
    ["TPMT_SIGNATURE with an HMAC scheme", "unsupported_evidence", () => { const b = sigBytes.slice(); b[1] = 0x05; return parseSignature(b); }],
    ["TPMT_PUBLIC truncated", "evidence_truncated", () => parsePublic(pubBytes.subarray(0, 100))],
    ["TPMT_PUBLIC with trailing bytes", "evidence_trailing_data", () => parsePublic(concatBytes(pubBytes, Uint8Array.of(0)))],
    ["TPMT_PUBLIC with a reserved attribute bit", "reserved_nonzero", () => { const b = pubBytes.slice(); b[7] = (b[7] as number) | 0x01; return parsePublic(b); }],
    ["TPMT_PUBLIC of a symmetric key", "unsupported_evidence", () => { const b = pubBytes.slice(); b[1] = 0x25; return parsePublic(b); }],
    ["TPMT_PUBLIC whose modulus is shorter than keyBits", "malformed_evidence", () => parsePublic(concatBytes(pubBytes.subarray(0, pubBytes.length - 258), tpm2b(new Uint8Array(255).fill(0xff))))],
    ["TPMT_PUBLIC with a SHA-1 nameAlg parses (refused later)", "ok", () => { const b = pubBytes.slice(); b[3] = 0x04; return parsePublic(b); }],
  ];
  it.each(malformed)("%s → %s", async (_name, expected, parse) => {
    expect(await code(parse)).toBe(expected);
  });
});

describe("quote verification", () => {
  it.each(["rsa", "ecc", "rsapss"] as const)("accepts the swtpm %s AK's quote and runs every check", async (kind) => {
    const verified = await verifyQuote(evidence(swtpm.quotes[kind]), { ak: ak[kind], nonce, selection });
    expect(verified.checks).toEqual([...QUOTE_CHECKS]);
    expect(verified.pcrBank).toBe("sha256");
    expect(verified.pcrs.map((p) => p.index)).toEqual(swtpm.pcrs);
    expect(verified.resetCount).toBeGreaterThanOrEqual(0);
  });

  const q = swtpm.quotes.rsa;
  const quote = fromBase64(q.quote);
  const sig = fromBase64(q.signature);
  const certify = swtpm.certify;
  const otherValues = { ...q.pcrs, "3": "11".repeat(32) };
  const cases: [string, string, () => Promise<unknown>][] = [
    ["wrong nonce", "qualifying_data_mismatch", () => verifyQuote(evidence(q), { ak: ak.rsa, nonce: flip(nonce, 0), selection })],
    ["a quote over another PCR selection", "pcr_selection_mismatch", () => verifyQuote(evidence(q), { ak: ak.rsa, nonce, selection: { hashAlg: TPM_ALG.SHA256, pcrs: [0, 1, 2, 3, 4, 5, 6] } })],
    ["a quote over another bank", "pcr_selection_mismatch", () => verifyQuote(evidence(q), { ak: ak.rsa, nonce, selection: { hashAlg: TPM_ALG.SHA384, pcrs: swtpm.pcrs } })],
    ["PCR values that do not hash to pcrDigest", "pcr_digest_mismatch", () => verifyQuote(evidence(q, { pcrs: otherValues }), { ak: ak.rsa, nonce, selection })],
    ["a PCR value missing", "malformed_evidence", () => verifyQuote(evidence(q, { pcrs: Object.fromEntries(Object.entries(q.pcrs).slice(1)) }), { ak: ak.rsa, nonce, selection })],
    ["a flipped signature byte", "evidence_signature_invalid", () => verifyQuote(evidence(q, { signature: flip(sig, 40) }), { ak: ak.rsa, nonce, selection })],
    ["a flipped attest byte (extraData)", "evidence_signature_invalid", () => verifyQuote(evidence(q, { quote: flip(quote, 50) }), { ak: ak.rsa, nonce, selection })],
    ["a flipped attest byte (clock)", "evidence_signature_invalid", () => verifyQuote(evidence(q, { quote: flip(quote, 80) }), { ak: ak.rsa, nonce, selection })],
    ["a quote by another AK", "evidence_signature_invalid", () => verifyQuote(evidence(swtpm.quotes.rsapss), { ak: ak.rsa, nonce, selection })],
    ["an ECDSA quote checked against an RSA AK", "evidence_signature_invalid", () => verifyQuote(evidence(swtpm.quotes.ecc), { ak: ak.rsa, nonce, selection })],
    ["a certify structure presented as a quote", "attest_type_mismatch", () => verifyQuote({ quote: fromBase64(certify.attest), signature: fromBase64(certify.signature), pcrs: evidence(q).pcrs }, { ak: ak.rsa, nonce, selection })],
    ["truncated quote", "evidence_truncated", () => verifyQuote(evidence(q, { quote: quote.subarray(0, 60) }), { ak: ak.rsa, nonce, selection })],
    ["trailing bytes after the quote", "evidence_trailing_data", () => verifyQuote(evidence(q, { quote: concatBytes(quote, Uint8Array.of(0)) }), { ak: ak.rsa, nonce, selection })],
    ["an unrestricted signing key as AK", "ak_not_restricted", () => verifyQuote(evidence(q), { ak: parsePublic(fromBase64(swtpm.publics.unrestricted)), nonce, selection })],
    ["SHA-1 (GCE vTPM q1: RSASSA-SHA1 AK)", "unsupported_algorithm", () => verifyQuote({ quote: fromBase64(q1.Quote.Quote), signature: fromBase64(q1.Quote.Signature), pcrs: new Map(q1.Log.PCRs.map((p) => [p.Index, fromBase64(p.Digest)])) }, { ak: parsePublic(fromBase64(q1.AK.Public)), nonce: new Uint8Array(0), selection: { hashAlg: TPM_ALG.SHA1, pcrs: Array.from({ length: 24 }, (_, i) => i) } })],
    ["a SHA-1 PCR bank requirement", "unsupported_algorithm", () => verifyQuote(evidence(q), { ak: ak.rsa, nonce, selection: { hashAlg: TPM_ALG.SHA1, pcrs: swtpm.pcrs } })],
  ];
  it.each(cases)("%s → %s", async (_name, expected, run) => {
    expect(await code(run)).toBe(expected);
  });

  function withAttributes(bytes: Uint8Array, set: number, clear: number): Uint8Array {
    const b = bytes.slice();
    const view = new DataView(b.buffer, b.byteOffset);
    view.setUint32(4, ((view.getUint32(4) | set) & ~clear) >>> 0);
    return b;
  }
  const akBytes = fromBase64(swtpm.publics.ak_rsa);
  it.each([
    ["restricted clear", "ak_not_restricted", withAttributes(akBytes, 0, TPMA_OBJECT.restricted)],
    ["decrypt set", "ak_not_signing_only", withAttributes(akBytes, TPMA_OBJECT.decrypt, 0)],
    ["sign clear", "ak_not_signing_only", withAttributes(akBytes, 0, TPMA_OBJECT.sign)],
    ["fixedTPM clear", "ak_not_fixed", withAttributes(akBytes, 0, TPMA_OBJECT.fixedTPM)],
    ["fixedParent clear", "ak_not_fixed", withAttributes(akBytes, 0, TPMA_OBJECT.fixedParent)],
    ["sensitiveDataOrigin clear", "ak_not_tpm_generated", withAttributes(akBytes, 0, TPMA_OBJECT.sensitiveDataOrigin)],
    ["nameAlg SHA-1", "unsupported_algorithm", (() => { const b = akBytes.slice(); b[3] = 0x04; return b; })()],
    ["scheme hash SHA-1", "unsupported_algorithm", (() => { const b = akBytes.slice(); b[15] = 0x04; return b; })()],
  ] as const)("AK profile: %s → %s", async (_name, expected, bytes) => {
    expect(await code(() => checkAkPublic(parsePublic(bytes)))).toBe(expected);
  });

  it("refuses a signed structure without TPM_GENERATED_VALUE (attest_not_tpm_generated)", async () => {
    // A restricted TPM key never signs such bytes; a software key standing in for an AK shows the check exists.
    const keys = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])) as CryptoKeyPair;
    const jwk = (await crypto.subtle.exportKey("jwk", keys.publicKey)) as JsonWebKey;
    const x = fromBase64url(jwk.x as string);
    const y = fromBase64url(jwk.y as string);
    const pub = concatBytes(
      Uint8Array.of(0x00, 0x23, 0x00, 0x0b, 0x00, 0x05, 0x00, 0x72), // ECC, SHA-256, restricted|sign|fixedTPM|fixedParent|sensitiveDataOrigin|userWithAuth
      tpm2b(new Uint8Array(0)),
      Uint8Array.of(0x00, 0x10, 0x00, 0x18, 0x00, 0x0b, 0x00, 0x03, 0x00, 0x10), // sym NULL, ECDSA-SHA256, P-256, kdf NULL
      tpm2b(x),
      tpm2b(y),
    );
    const akPub = parsePublic(pub);
    const values = swtpm.pcrs.map(() => new Uint8Array(32));
    const attest = concatBytes(
      Uint8Array.of(0x00, 0x54, 0x43, 0x47, 0x80, 0x18), // magic without 0xff, type quote
      tpm2b(await objectName(akPub)),
      tpm2b(nonce),
      new Uint8Array(17),
      new Uint8Array(8),
      marshalPcrSelection(TPM_ALG.SHA256, swtpm.pcrs),
      tpm2b(await pcrDigestOf(TPM_ALG.SHA256, values)),
    );
    const p1363 = new Uint8Array(await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, keys.privateKey, attest));
    const signature = concatBytes(Uint8Array.of(0x00, 0x18, 0x00, 0x0b), tpm2b(p1363.subarray(0, 32)), tpm2b(p1363.subarray(32)));
    expect(await verifyTpmSignature(akPub, parseSignature(signature), attest)).toBe(true);
    const pcrs = new Map(swtpm.pcrs.map((p, i) => [p, values[i] as Uint8Array]));
    expect(await code(verifyQuote({ quote: attest, signature, pcrs }, { ak: akPub, nonce, selection }))).toBe("attest_not_tpm_generated");
  });
});

function fromBase64url(s: string): Uint8Array {
  return fromBase64(s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4));
}

describe("appraisal against the manifest's reference values", () => {
  const zeros = "00".repeat(32);
  it("affirms allowed values and reports unlisted PCRs without judging them", async () => {
    const verified = await verifyQuote(evidence(swtpm.quotes.rsa), { ak: ak.rsa, nonce, selection });
    const reference = tpmReference({ pcr_bank: "sha256", pcrs: swtpm.pcrs, reference: { "0": [zeros, "ab".repeat(32)], "7": [zeros.toUpperCase()] } });
    const appraisal = appraiseQuote(verified, reference);
    expect(appraisal).toMatchObject({ status: "affirming", appraised: [0, 7], reportedOnly: [1, 2, 3, 4, 5, 6], pcrDigest: verified.pcrDigest });
  });

  it("refuses a PCR value that is not allowed (pcr_value_not_allowed)", async () => {
    const verified = await verifyQuote(evidence(swtpm.quotes.rsa), { ak: ak.rsa, nonce, selection });
    const reference = tpmReference({ pcr_bank: "sha256", pcrs: swtpm.pcrs, reference: { "4": ["ab".repeat(32)] } });
    expect(await code(() => appraiseQuote(verified, reference))).toBe("pcr_value_not_allowed");
  });

  it.each([
    ["a SHA-1 bank", { pcr_bank: "sha1", pcrs: [0], reference: {} }],
    ["an empty selection", { pcr_bank: "sha256", pcrs: [], reference: {} }],
    ["a duplicate PCR", { pcr_bank: "sha256", pcrs: [0, 0], reference: {} }],
    ["PCR 24", { pcr_bank: "sha256", pcrs: [24], reference: {} }],
    ["a reference outside the selection", { pcr_bank: "sha256", pcrs: [0], reference: { "1": ["00".repeat(32)] } }],
    ["a value of the wrong size", { pcr_bank: "sha256", pcrs: [0], reference: { "0": ["00".repeat(48)] } }],
    ["an empty allowlist", { pcr_bank: "sha256", pcrs: [0], reference: { "0": [] } }],
  ])("refuses reference values with %s (invalid_reference_values)", async (_name, manifest) => {
    expect(await code(() => tpmReference(manifest))).toBe("invalid_reference_values");
  });
});

describe("credential protection primitives", () => {
  // workerd's node:crypto has no CFB ciphers ("Unknown or unsupported cipher: aes-128-cfb"), so the
  // reference is NIST SP 800-38A F.3.13 / F.3.17 (CFB128-AES128 / -AES256 encrypt) and, for partial
  // last blocks, CFB assembled from a different WebCrypto mode (E(X) = first block of AES-CBC(IV = X, 0¹²⁸)).
  const SP800_38A = {
    iv: "000102030405060708090a0b0c0d0e0f",
    plain: "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710",
    aes128: { key: "2b7e151628aed2a6abf7158809cf4f3c", cipher: "3b3fd92eb72dad20333449f8e83cfb4ac8a64537a0b3a93fcde3cdad9f1ce58b26751f67a3cbb140b1808cf187a4f4dfc04b05357c5d1c0eeac4c66f9ff7f2e6" },
    aes256: { key: "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4", cipher: "dc7e84bfda79164b7ecd8486985d386039ffed143b28b1c832113c6331e5407bdf10132415e54b92a13ed0a8267ae2f975a385741ab9cef82031623d55b1e471" },
  };
  it.each(["aes128", "aes256"] as const)("AES-CFB from WebCrypto AES-CTR matches NIST SP 800-38A CFB128 (%s)", async (v) => {
    const { key, cipher } = SP800_38A[v];
    expect(toHex(await aesCfbEncrypt(fromHex(key), fromHex(SP800_38A.iv), fromHex(SP800_38A.plain)))).toBe(cipher);
  });

  it("AES-CFB matches CFB built from AES-CBC for every length up to 50 bytes", async () => {
    const key = crypto.getRandomValues(new Uint8Array(16));
    const iv = crypto.getRandomValues(new Uint8Array(16));
    const cbc = await crypto.subtle.importKey("raw", key, "AES-CBC", false, ["encrypt"]);
    const block = async (x: Uint8Array) => new Uint8Array(await crypto.subtle.encrypt({ name: "AES-CBC", iv: x }, cbc, new Uint8Array(16))).subarray(0, 16);
    for (let n = 1; n <= 50; n++) {
      const plain = crypto.getRandomValues(new Uint8Array(n));
      const expected = new Uint8Array(n);
      let feedback = iv;
      for (let off = 0; off < n; off += 16) {
        const stream = await block(feedback);
        const c = plain.subarray(off, off + 16).map((b, i) => b ^ (stream[i] as number));
        expected.set(c, off);
        feedback = c;
      }
      expect(toHex(await aesCfbEncrypt(key, iv, plain))).toBe(toHex(expected));
    }
  });

  it("KDFa follows SP 800-108 counter mode (checked against HMAC computed step by step)", async () => {
    const key = fromHex("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
    const out = await kdfa(TPM_ALG.SHA256, key, "STORAGE", fromHex("aa"), fromHex("bb"), 384);
    const k = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    const label = new TextEncoder().encode("STORAGE\0");
    const block = async (i: number) => new Uint8Array(await crypto.subtle.sign("HMAC", k, concatBytes(Uint8Array.of(0, 0, 0, i), label, fromHex("aa"), fromHex("bb"), Uint8Array.of(0, 0, 1, 0x80))));
    expect(toHex(out)).toBe(toHex(concatBytes(await block(1), await block(2)).subarray(0, 48)));
  });

  it("MakeCredential marshals TPM2B_ID_OBJECT and TPM2B_ENCRYPTED_SECRET for RSA and ECC EKs", async () => {
    const name = fromHex(swtpm.names.ak_rsa);
    const rsa = await makeCredential(parsePublic(fromBase64(swtpm.publics.ek_rsa)), name, new Uint8Array(32).fill(7));
    // size ‖ (size ‖ HMAC-SHA256) ‖ AES-CFB(size ‖ 32-byte credential)
    expect(rsa.credentialBlob.length).toBe(2 + 2 + 32 + 34);
    expect(rsa.encryptedSecret.length).toBe(2 + 256);
    const ecc = await makeCredential(parsePublic(fromBase64(swtpm.publics.ek_ecc)), name, new Uint8Array(32).fill(7));
    expect(ecc.credentialBlob.length).toBe(2 + 2 + 48 + 34);
    expect(ecc.encryptedSecret.length).toBe(2 + 2 + 48 + 2 + 48);
    expect(await code(makeCredential(ak.rsa, name, new Uint8Array(32)))).toBe("ek_attributes_invalid");
  });
});
