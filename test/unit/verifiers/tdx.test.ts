import { AsnConvert } from "@peculiar/asn1-schema";
import { CertificateList } from "@peculiar/asn1-x509";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { tdx } from "./fixtures.ts";
import { CA_USAGE, crl, flip, issue, LEAF_USAGE, x509, type Issued } from "./pki.ts";
import type { EvidenceErrorCode } from "../../../worker/verifiers/errors.ts";
import { concatBytes, toHex } from "../../../worker/verifiers/reader.ts";
import {
  appraiseTdx,
  collateralFromDcapQvl,
  collateralFromPcs,
  isDcapQvlCollateral,
  newestDcapQvlCollateral,
  parseTdxQuote,
  pinnedTdxTrust,
  SGX_EXTENSIONS_OID,
  tdxQuoteLength,
  topLevelMembers,
  verifyTdxQuote,
  type TdxCollateral,
  type TdxReferenceValues,
  type TdxTrust,
  type TdxVerifyOptions,
} from "../../../worker/verifiers/tdx/index.ts";
import { INTEL_SGX_ROOT_CA_B64 } from "../../../worker/verifiers/tdx/roots/root.ts";
import { parseCertificate, parseCertificatesPem } from "../../../worker/verifiers/x509/certificate.ts";
import { trustAnchor } from "../../../worker/verifiers/x509/path.ts";
import { codeOf } from "./codes.ts";

const T1_TIME = new Date("2025-07-01T00:00:00Z");
const T2_TIME = new Date("2026-03-01T00:00:00Z");
const T3_TIME = new Date("2023-07-01T01:00:00Z");
const T4_TIME = new Date("2025-11-01T00:00:00Z");


/** The quote itself, without what follows it in the fixture file (zero padding, or t3's appended text). */
const quoteOf = (file: Uint8Array) => file.subarray(0, tdxQuoteLength(file));

const t1Collateral = () => collateralFromDcapQvl(tdx.t1.collateralJson);
const t1IssuerChain = () => (JSON.parse(tdx.t1.collateralJson) as { tcb_info_issuer_chain: string }).tcb_info_issuer_chain;
const t3Collateral = (): TdxCollateral =>
  collateralFromPcs({
    tcbInfo: tdx.t3.tcbInfo,
    tcbInfoIssuerChain: tdx.t3.tcbInfoChain,
    qeIdentity: tdx.t3.qeIdentity,
    qeIdentityIssuerChain: tdx.t3.qeIdentityChain,
    pckCrl: tdx.t3.pckCrl,
    rootCaCrl: tdx.t3.rootCrl,
  });
const t4Collateral = (chain = t1IssuerChain()): TdxCollateral =>
  collateralFromPcs({ tcbInfo: tdx.t4.tcbInfo, tcbInfoIssuerChain: chain, qeIdentity: tdx.t4.qeIdentity, qeIdentityIssuerChain: chain });

/** Accepts any measurement; checks only TCB status, TD attributes and service TD. */
const permissive = (over: Partial<TdxReferenceValues> = {}): TdxReferenceValues => ({ mrTd: "any", reportData: "unchecked", ...over });

let trust: TdxTrust;
beforeAll(async () => {
  trust = await pinnedTdxTrust();
});

describe("TDX pinned root", () => {
  it("is the Intel SGX Root CA with the SHA-256 the MANIFEST gives, in both copies", async () => {
    const der = Uint8Array.from(atob(INTEL_SGX_ROOT_CA_B64), (c) => c.charCodeAt(0));
    const digest = toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", der)));
    expect(digest).toBe("44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3");
    expect(der).toEqual(tdx.rootDer);
    expect(trust.anchors[0]?.certificate.subjectText).toBe("CN=Intel SGX Root CA, O=Intel Corporation, L=Santa Clara, ST=CA, C=US");
  });
});

describe("TDX MANIFEST cases at their stated times", () => {
  it("t1 (v4, dcap-qvl collateral) → valid, UpToDate, no advisories", async () => {
    const v = await verifyTdxQuote({ quote: quoteOf(tdx.t1.quote) }, { now: T1_TIME, trustAnchors: trust, collateral: t1Collateral() });
    expect(v.tcb).toEqual({ status: "UpToDate", advisoryIds: [] });
    expect(v.qeTcb.status).toBe("UpToDate");
    expect(v.moduleTcb?.status).toBe("UpToDate");
    expect(v.pck.fmspc).toBe("B0C06F000000");
    expect(v.quote.qeReport.isvSvn).toBe(6);
    expect(toHex(v.quote.body.teeTcbSvn)).toMatch(/^06010300/);
    const claims = appraiseTdx(v, {
      mrTd: [toHex(v.quote.body.mrTd)],
      rtmr: [[toHex(v.quote.body.rtmrs[0])], [toHex(v.quote.body.rtmrs[1])], [toHex(v.quote.body.rtmrs[2])], [toHex(v.quote.body.rtmrs[3])]],
      mrConfigId: [toHex(v.quote.body.mrConfigId)],
      mrOwner: [toHex(v.quote.body.mrOwner)],
      reportData: v.quote.body.reportData.slice(),
    });
    expect(claims.tdAttributes).toBe("0000001000000000");
    expect(claims.debug).toBe(false);
    expect(claims.septVeDisable).toBe(true);
    expect(claims.tcbStatus).toBe("UpToDate");
  });

  it("t1 as the file comes (70 zero bytes after the quote) → evidence_trailing_data from the strict verifier", async () => {
    expect(tdx.t1.quote.length - tdxQuoteLength(tdx.t1.quote)).toBe(70);
    expect(await codeOf(() => verifyTdxQuote({ quote: tdx.t1.quote }, { now: T1_TIME, trustAnchors: trust, collateral: t1Collateral() }))).toBe("evidence_trailing_data");
  });

  it("t2 (v5, TD report 1.5) → all signatures valid, QE UpToDate, but no TCB level matches → tcb_level_not_found", async () => {
    const quote = parseTdxQuote(quoteOf(tdx.t2.quote));
    expect(quote.version).toBe(5);
    expect(quote.body.kind).toBe("td15");
    expect(toHex(quote.body.mrServiceTd!)).toBe("00".repeat(48));
    expect(toHex(quote.body.teeTcbSvn2!)).toMatch(/^0d0103/);
    expect(await codeOf(() => verifyTdxQuote({ quote: quoteOf(tdx.t2.quote) }, { now: T2_TIME, trustAnchors: trust, collateral: collateralFromDcapQvl(tdx.t2.collateralJson) }))).toBe(
      "tcb_level_not_found",
    );
  });

  it("t3 (go-tdx-guest, raw PCS responses) → all signatures, chains and CRLs valid, no TCB level matches → tcb_level_not_found", async () => {
    expect(new TextDecoder().decode(tdx.t3.quote.subarray(tdxQuoteLength(tdx.t3.quote)))).toBe("\nextra bytes(only for testing purpose)\n");
    expect(tdxQuoteLength(tdx.t3.quote)).toBe(4935);
    expect(await codeOf(() => verifyTdxQuote({ quote: quoteOf(tdx.t3.quote) }, { now: T3_TIME, trustAnchors: trust, collateral: t3Collateral() }))).toBe("tcb_level_not_found");
  });

  it("t3 also fails a strict appraisal on its TD attributes (SEPT_VE_DISABLE clear), were its TCB matched", () => {
    const body = parseTdxQuote(quoteOf(tdx.t3.quote)).body;
    expect(toHex(body.tdAttributes)).toBe("0000004000000000");
  });

  it("t4 (trustee, no CRLs, t1's TCB signing chain) → OutOfDate; rejected by default; revocation must be skipped explicitly", async () => {
    const options: TdxVerifyOptions = { now: T4_TIME, trustAnchors: trust, collateral: t4Collateral(), revocation: "unchecked" };
    const v = await verifyTdxQuote({ quote: quoteOf(tdx.t4.quote) }, options);
    expect(v.tcb).toEqual({ status: "OutOfDate", advisoryIds: [] });
    expect(v.platformTcb.status).toBe("OutOfDate");
    expect(v.moduleTcb?.status).toBe("UpToDate");
    expect(v.qeTcb.status).toBe("UpToDate");
    expect(v.pck.fmspc).toBe("00A06D080000");
    expect(v.pck.pceSvn).toBe(11);
    expect(await codeOf(() => appraiseTdx(v, permissive()))).toBe("tcb_status_not_allowed");
    expect(appraiseTdx(v, permissive({ acceptedTcbStatuses: [{ status: "OutOfDate", advisoryIds: [] }] })).tcbStatus).toBe("OutOfDate");
    // Without the explicit decision, missing CRLs are incomplete collateral.
    expect(await codeOf(() => verifyTdxQuote({ quote: quoteOf(tdx.t4.quote) }, { ...options, revocation: "require" }))).toBe("collateral_incomplete");
    // With t3's older TCB Signing certificate (expired 2025-05-21) the collateral does not verify at this time.
    expect(await codeOf(() => verifyTdxQuote({ quote: quoteOf(tdx.t4.quote) }, { ...options, collateral: t4Collateral(tdx.t3.tcbInfoChain) }))).toBe("certificate_expired");
  });
});

describe("TDX negative cases on real quotes", () => {
  const t1 = () => quoteOf(tdx.t1.quote).slice();
  const run = (quote: Uint8Array, over: Partial<TdxVerifyOptions> = {}) => codeOf(() => verifyTdxQuote({ quote }, { now: T1_TIME, trustAnchors: trust, collateral: t1Collateral(), ...over }));

  it("refuses truncation at every structure boundary and trailing data", async () => {
    const q = t1();
    for (const n of [0, 2, 47, 48, 631, 632, 636, 700, 764, 770, 1154, 1218, 1250, 1256, q.length - 100, q.length - 1]) {
      expect(await run(q.subarray(0, n)), `length ${n}`).toBe("evidence_truncated");
    }
    expect(await run(concatBytes(q, Uint8Array.of(0)))).toBe("evidence_trailing_data");
  });

  // Offsets in t1 (v4): header 0–47, TD report 48–631, sig-data length 632, quote signature 636, attestation key 700,
  // cert-data type 764 / size 766, QE report 770, QE report signature 1154, QE auth data length 1218 / data 1220, PCK chain type 1252 / size 1254 / PEM 1258.
  type FlipCase = [offset: number, field: string, code: EvidenceErrorCode, mask?: number];
  const flips: FlipCase[] = [
    [0, "version 4 → 5 (the TD report's first bytes read as a v5 body type)", "unsupported_evidence"],
    [0, "version 4 → 6", "unsupported_evidence", 0x02],
    [2, "attestation key type", "unsupported_evidence"],
    [4, "TEE type", "unsupported_evidence"],
    [8, "header reserved", "reserved_nonzero"],
    [12, "QE vendor id", "unsupported_evidence"],
    [28, "user data", "evidence_signature_invalid"],
    [48, "TEE_TCB_SVN", "evidence_signature_invalid"],
    [64, "MRSEAM", "evidence_signature_invalid"],
    [160, "SEAMATTRIBUTES", "evidence_signature_invalid"],
    [168, "TDATTRIBUTES", "evidence_signature_invalid"],
    [184, "MRTD", "evidence_signature_invalid"],
    [376, "RTMR0", "evidence_signature_invalid"],
    [568, "REPORTDATA", "evidence_signature_invalid"],
    [631, "last body byte", "evidence_signature_invalid"],
    [632, "signature data length + 1", "evidence_truncated"],
    [632, "signature data length - 4", "evidence_trailing_data", 0x04],
    [636, "quote signature r", "evidence_signature_invalid"],
    [699, "quote signature s", "evidence_signature_invalid"],
    [700, "attestation key", "qe_report_binding_mismatch"],
    [764, "certification data type", "unsupported_evidence"],
    [766, "certification data size", "evidence_truncated"],
    [770, "QE report CPUSVN", "evidence_signature_invalid"],
    [790, "QE report reserved", "reserved_nonzero"],
    [818, "QE report MRENCLAVE", "evidence_signature_invalid"],
    [1090, "QE report REPORTDATA", "evidence_signature_invalid"],
    [1154, "QE report signature", "evidence_signature_invalid"],
    [1218, "QE auth data length + 1 (the PCK data type is then misread)", "unsupported_evidence"],
    [1219, "QE auth data length + 4096", "evidence_truncated", 0x10],
    [1220, "QE auth data", "qe_report_binding_mismatch"],
    [1252, "PCK certification data type", "unsupported_evidence"],
    [1254, "PCK certification data size", "evidence_truncated"],
    [1258 + 30, "PCK leaf (PEM base64 text)", "malformed_certificate"],
  ];
  it.each(flips.map(([offset, field, code, mask]) => ({ offset, field, code, mask: mask ?? 0x01 })))("flip at $offset ($field) → $code", async ({ offset, code, mask }) => {
    expect(await run(flip(t1(), offset, mask))).toBe(code);
  });

  it("rejects a one-bit flip anywhere in the signed header and body, the signatures, the QE report and its auth data", async () => {
    const q = t1();
    for (let i = 0; i < 1252; i += 5) expect(await run(flip(q, i, 0x10)), `offset ${i}`).not.toBe("ok");
  });

  it("collateral: altered TCB Info text, altered signature, wrong document, stale and future windows, another platform's TCB Info", async () => {
    const c = t1Collateral();
    const text = c.tcbInfo.body.replace('"tcbStatus":"OutOfDate"', '"tcbStatus":"UpToDate"');
    expect(text).not.toBe(c.tcbInfo.body);
    expect(await run(t1(), { collateral: { ...c, tcbInfo: { ...c.tcbInfo, body: text } } })).toBe("collateral_signature_invalid");
    expect(await run(t1(), { collateral: { ...c, tcbInfo: { ...c.tcbInfo, signature: flip(c.tcbInfo.signature, 5) } } })).toBe("collateral_signature_invalid");
    expect(await run(t1(), { collateral: { ...c, qeIdentity: { ...c.qeIdentity, signature: flip(c.qeIdentity.signature, 40) } } })).toBe("collateral_signature_invalid");
    // A genuine, signed QE Identity where the TCB Info belongs: signature valid, shape refused.
    expect(await run(t1(), { collateral: { ...c, tcbInfo: c.qeIdentity } })).toBe("malformed_evidence");
    // Stale collateral: past nextUpdate (2025-07-19T10:16:03Z); and not yet issued.
    expect(await run(t1(), { collateralTime: new Date("2025-07-20T00:00:00Z") })).toBe("collateral_expired");
    expect(await run(t1(), { collateralTime: new Date("2025-06-01T00:00:00Z") })).toBe("collateral_not_yet_valid");
    // The verification time past the PCK CRL's nextUpdate (2025-07-19T10:00:35Z).
    expect(await run(t1(), { now: new Date("2025-07-25T00:00:00Z"), collateralTime: T1_TIME })).toBe("crl_expired");
    // t2's platform (FMSPC 90C06F000000) collateral for t1's quote.
    const t2c = collateralFromDcapQvl(tdx.t2.collateralJson);
    expect(await run(t1(), { now: T2_TIME, collateral: { tcbInfo: t2c.tcbInfo, qeIdentity: t2c.qeIdentity }, revocation: "unchecked" })).toBe("collateral_mismatch");
    // The PCK CRL swapped for the Root CA CRL: nothing covers the PCK leaf.
    expect(await run(t1(), { collateral: { ...c, pckCrl: c.rootCaCrl! } })).toBe("crl_missing");
  });

  it("refuses an empty anchor set and a foreign anchor", async () => {
    expect(await run(t1(), { trustAnchors: { anchors: [] } })).toBe("no_trust_anchors");
    // Said by the trust store's check (x509/trust.ts anchorsAt), before anything of the evidence is judged.
    await expect(verifyTdxQuote({ quote: t1() }, { now: T1_TIME, trustAnchors: { anchors: [] }, collateral: {} as TdxCollateral })).rejects.toThrow("no Intel trust anchors configured");
    const other = await issue({ name: "CN=Other Root", ca: { ca: true }, keyUsage: CA_USAGE });
    // The quote's own copy of the Intel root is then just a self-signed certificate that is not an anchor.
    expect(await run(t1(), { trustAnchors: { anchors: [await trustAnchor("other", parseCertificate(other.der))] } })).toBe("chain_untrusted");
  });

  it("PCS body parsing keeps the signed text exactly and refuses duplicate members", () => {
    const members = topLevelMembers(tdx.t3.tcbInfo);
    expect(members.get("tcbInfo")).toMatch(/^\{"id":"TDX".*\}$/s);
    expect(tdx.t3.tcbInfo).toContain(members.get("tcbInfo")!);
    expect(() => topLevelMembers('{"tcbInfo":{},"tcbInfo":{},"signature":"00"}')).toThrow(expect.objectContaining({ code: "malformed_evidence" }));
    expect(() => topLevelMembers('{"a":[1,{"b":"}"}],"c":true,"d":null,"e":-1.5e3}')).not.toThrow();
    expect(topLevelMembers('{"a":[1,{"b":"}\\""}],"c":true}').get("a")).toBe('[1,{"b":"}\\""}]');
  });

  it("pieces that do not read go to the candidate when choosing the newest (the verifier says why); input sniffing takes strict JSON with both documents only", () => {
    const held = tdx.t1.collateralJson;
    const broken = JSON.stringify({ ...(JSON.parse(held) as Record<string, string>), pck_crl: "00", tcb_info: "{" });
    expect(JSON.parse(newestDcapQvlCollateral(broken, held))).toMatchObject({ pck_crl: "00", tcb_info: "{" });
    expect(isDcapQvlCollateral(held)).toBe(true);
    expect(isDcapQvlCollateral("{")).toBe(false);
    expect(isDcapQvlCollateral('{"tcb_info":"{}"}')).toBe(false);
  });

  it("collateral that is not strict JSON is malformed, before any signature is checked (real t1 and t3 texts)", async () => {
    // t3's PCS TCB Info response with a second `id` inside the signed object.
    const t3Twice = tdx.t3.tcbInfo.replace('"id":"TDX"', '"id":"SGX","id":"TDX"');
    expect(t3Twice).not.toBe(tdx.t3.tcbInfo);
    expect(await codeOf(() => topLevelMembers(t3Twice))).toBe("malformed_evidence");
    expect(await codeOf(() => collateralFromPcs({ tcbInfo: t3Twice, tcbInfoIssuerChain: tdx.t3.tcbInfoChain, qeIdentity: tdx.t3.qeIdentity, qeIdentityIssuerChain: tdx.t3.qeIdentityChain }))).toBe(
      "malformed_evidence",
    );
    // t1's dcap-qvl collateral with a second `tcb_info`, a lone surrogate, or a number beyond 2^53.
    const t1 = tdx.t1.collateralJson.trim();
    const withMember = (member: string) => `{${member},${t1.slice(1)}`;
    for (const text of [withMember('"tcb_info":"{}"'), withMember('"note":"\\ud800"'), withMember('"note":9007199254740993')]) {
      expect(await codeOf(() => collateralFromDcapQvl(text))).toBe("malformed_evidence");
    }
    expect(await codeOf(() => collateralFromDcapQvl(withMember('"note":1')))).toBe("ok");
  });
});

/**
 * A quote re-built around generated keys: an Intel-like root, PCK Platform CA,
 * PCK leaf (carrying t1's real SGX extension), TCB Signing certificate,
 * attestation key, CRLs we sign. t1's header, TD report, QE report and TCB
 * Info / QE Identity texts are reused, re-signed.
 */
describe("TDX with generated hierarchies", () => {
  let root: Issued;
  let platformCa: Issued;
  let pck: Issued;
  let tcbSigner: Issued;
  let genTrust: TdxTrust;
  const real = () => parseTdxQuote(quoteOf(tdx.t1.quote));
  const day = 86400e3;
  const crlTimes = { thisUpdate: new Date(T1_TIME.getTime() - day), nextUpdate: new Date(T1_TIME.getTime() + 10 * day) };

  async function sign(key: CryptoKey, data: Uint8Array): Promise<Uint8Array> {
    return new Uint8Array(await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key, data));
  }
  const flipInPlace = (b: Uint8Array, i: number, mask: number) => b.set([(b[i] as number) ^ mask], i);
  const setBits = (b: Uint8Array, i: number, mask: number) => b.set([(b[i] as number) | mask], i);
  const u16 = (n: number) => Uint8Array.of(n & 0xff, n >> 8);
  const u32 = (n: number) => Uint8Array.of(n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, n >>> 24);

  async function buildQuote(o: { leaf?: Issued; chain?: Issued[]; bindingOverride?: Uint8Array; body?: (b: Uint8Array) => void } = {}): Promise<Uint8Array> {
    const q = real();
    const leaf = o.leaf ?? pck;
    const attKeys = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])) as CryptoKeyPair;
    const attKey = new Uint8Array((await crypto.subtle.exportKey("raw", attKeys.publicKey)) as ArrayBuffer).subarray(1);
    const qeReport = q.qeReport.raw.slice();
    const binding = o.bindingOverride ?? new Uint8Array(await crypto.subtle.digest("SHA-256", concatBytes(attKey, q.qeAuthData)));
    qeReport.set(new Uint8Array(64), 320);
    qeReport.set(binding, 320);
    const qeSig = await sign(leaf.keys.privateKey, qeReport);
    const pem = new TextEncoder().encode((o.chain ?? [leaf, platformCa, root]).map((c) => c.cert.toString("pem")).join("\n") + "\n");
    const signed = q.signed.slice();
    o.body?.(signed);
    const quoteSig = await sign(attKeys.privateKey, signed);
    const certData = concatBytes(qeReport, qeSig, u16(q.qeAuthData.length), q.qeAuthData, u16(5), u32(pem.length), pem);
    const sigData = concatBytes(quoteSig, attKey, u16(6), u32(certData.length), certData);
    return concatBytes(signed, u32(sigData.length), sigData);
  }

  async function collateral(o: { tcbInfoText?: string; pckCrlRevoked?: string[]; rootCrlRevoked?: string[]; signer?: Issued; chain?: Issued[] } = {}): Promise<TdxCollateral> {
    const c = t1Collateral();
    const signer = o.signer ?? tcbSigner;
    const chain = (o.chain ?? [signer, root]).map((x) => x.cert.toString("pem")).join("\n");
    const tcbText = o.tcbInfoText ?? c.tcbInfo.body;
    return {
      tcbInfo: { body: tcbText, signature: await sign(signer.keys.privateKey, new TextEncoder().encode(tcbText)), issuerChain: chain },
      qeIdentity: { body: c.qeIdentity.body, signature: await sign(signer.keys.privateKey, new TextEncoder().encode(c.qeIdentity.body)), issuerChain: chain },
      pckCrl: await crl(platformCa, { ...crlTimes, revoked: o.pckCrlRevoked ?? [] }),
      rootCaCrl: await crl(root, { ...crlTimes, revoked: o.rootCrlRevoked ?? [] }),
    };
  }

  const verify = async (quote: Uint8Array, c: TdxCollateral, t: TdxTrust = genTrust) => verifyTdxQuote({ quote }, { now: T1_TIME, trustAnchors: t, collateral: c });

  beforeAll(async () => {
    const [realLeaf, realPlatform, realRoot] = parseCertificatesPem(new TextDecoder().decode(real().pckChain).replace(/\0+$/, ""));
    const name = (c: { subject: Uint8Array } | undefined) => new x509.Name(c!.subject.slice());
    const sgxExt = realLeaf!.extensions.get(SGX_EXTENSIONS_OID)!.value.slice();
    root = await issue({ name: name(realRoot), keyLabel: "gen intel root", ca: { ca: true, pathLen: 1 }, keyUsage: CA_USAGE });
    platformCa = await issue({ name: name(realPlatform), issuer: root, keyLabel: "gen platform ca", ca: { ca: true, pathLen: 0 }, keyUsage: CA_USAGE });
    pck = await issue({
      name: name(realLeaf),
      issuer: platformCa,
      keyLabel: "gen pck",
      ca: { ca: false },
      keyUsage: LEAF_USAGE | x509.KeyUsageFlags.nonRepudiation,
      extensions: [new x509.Extension(SGX_EXTENSIONS_OID, false, sgxExt)],
    });
    tcbSigner = await issue({ name: "CN=Intel SGX TCB Signing, O=Intel Corporation, L=Santa Clara, ST=CA, C=US", issuer: root, keyLabel: "gen tcb signer", keyUsage: LEAF_USAGE });
    genTrust = { anchors: [await trustAnchor("generated Intel root", parseCertificate(root.der))] };
  });

  it("a re-signed quote verifies under the generated root, UpToDate (control)", async () => {
    const v = await verify(await buildQuote(), await collateral());
    expect(v.tcb.status).toBe("UpToDate");
    // …and not under the real Intel root, whose name the generated root copies.
    expect(await codeOf(async () => verify(await buildQuote(), await collateral(), trust))).toBe("chain_untrusted");
  });

  it("an Intel root outside its trust window leaves no anchor: no_trust_anchors", async () => {
    const retired = { anchors: [await trustAnchor("generated Intel root", parseCertificate(root.der), { group: "Intel", validFor: { end: new Date(T1_TIME.getTime() - 1000) } })] };
    expect(await codeOf(async () => verify(await buildQuote(), await collateral(), retired))).toBe("no_trust_anchors");
    await expect(verify(await buildQuote(), await collateral(), retired)).rejects.toThrow(`no Intel trust anchor valid at ${T1_TIME.toISOString()}`);
  });

  type Case = { name: string; build: () => Promise<{ quote: Uint8Array; collateral: TdxCollateral }>; code: EvidenceErrorCode };
  const cases: Case[] = [
    { name: "PCK revoked in the PCK CRL", build: async () => ({ quote: await buildQuote(), collateral: await collateral({ pckCrlRevoked: ["0abc", pck.cert.serialNumber] }) }), code: "certificate_revoked" },
    { name: "Platform CA revoked in the Root CA CRL", build: async () => ({ quote: await buildQuote(), collateral: await collateral({ rootCrlRevoked: [platformCa.cert.serialNumber] }) }), code: "certificate_revoked" },
    { name: "TCB Signing certificate revoked in the Root CA CRL", build: async () => ({ quote: await buildQuote(), collateral: await collateral({ rootCrlRevoked: [tcbSigner.cert.serialNumber] }) }), code: "certificate_revoked" },
    {
      name: "PCK CRL signed by another key",
      build: async () => ({ quote: await buildQuote(), collateral: { ...(await collateral()), pckCrl: await crl(platformCa, { ...crlTimes, signer: pck }) } }),
      code: "crl_signature_invalid",
    },
    {
      name: "fake root copying the root's subject, with its own Platform CA and PCK",
      build: async () => {
        const fakeRoot = await issue({ name: root.cert.subjectName, keyLabel: "fake intel root", ca: { ca: true, pathLen: 1 }, keyUsage: CA_USAGE });
        const fakeCa = await issue({ name: platformCa.cert.subjectName, issuer: fakeRoot, keyLabel: "fake platform ca", ca: { ca: true, pathLen: 0 }, keyUsage: CA_USAGE });
        const fakePck = await issue({ name: pck.cert.subjectName, issuer: fakeCa, keyLabel: "fake pck", keyUsage: LEAF_USAGE, extensions: [pck.cert.getExtension(SGX_EXTENSIONS_OID)!] });
        return { quote: await buildQuote({ leaf: fakePck, chain: [fakePck, fakeCa, fakeRoot] }), collateral: await collateral() };
      },
      code: "chain_untrusted",
    },
    {
      name: "TCB Info signed by a certificate outside the root",
      build: async () => {
        const stranger = await issue({ name: "CN=Intel SGX TCB Signing (not)", keyLabel: "stranger", ca: { ca: true }, keyUsage: CA_USAGE });
        return { quote: await buildQuote(), collateral: await collateral({ signer: stranger }) };
      },
      code: "chain_untrusted",
    },
    { name: "QE report that does not bind the attestation key", build: async () => ({ quote: await buildQuote({ bindingOverride: new Uint8Array(32).fill(1) }), collateral: await collateral() }), code: "qe_report_binding_mismatch" },
    {
      name: "PCK leaf without the SGX extension",
      build: async () => {
        const bare = await issue({ name: pck.cert.subjectName, issuer: platformCa, keyLabel: "gen pck", keyUsage: LEAF_USAGE });
        return { quote: await buildQuote({ leaf: bare, chain: [bare, platformCa, root] }), collateral: await collateral() };
      },
      code: "malformed_certificate",
    },
    {
      name: "TDX module signer differs from the TCB Info (MRSIGNERSEAM)",
      build: async () => ({ quote: await buildQuote({ body: (b) => flipInPlace(b, 48 + 16 + 48, 1) }), collateral: await collateral() }),
      code: "collateral_mismatch",
    },
    {
      name: "TEE_TCB_SVN module version without a TDX module identity",
      build: async () => ({ quote: await buildQuote({ body: (b) => (b[48 + 1] = 0x09) }), collateral: await collateral() }),
      code: "tcb_level_not_found",
    },
    {
      // Signed as it is, so only the reading decides: JSON.parse would take the last tcbStatus (UpToDate), others the first.
      name: "TCB Info signed with two tcbStatus members in a level (Revoked, then UpToDate)",
      build: async () => {
        const base = t1Collateral().tcbInfo.body;
        const at = base.indexOf('"tcbStatus":"UpToDate"', base.indexOf('"sgxtcbcomponents"'));
        const twice = `${base.slice(0, at)}"tcbStatus":"Revoked",${base.slice(at)}`;
        return { quote: await buildQuote(), collateral: await collateral({ tcbInfoText: twice }) };
      },
      code: "malformed_evidence",
    },
  ];
  it.each(cases)("$name → $code", async ({ build, code }) => {
    const { quote, collateral: c } = await build();
    expect(await codeOf(() => verify(quote, c))).toBe(code);
  });

  it("newest collateral of two: each piece by its own age, the held one on any sign of being newer, the candidate on a tie", async () => {
    const number = (n: number) => new x509.Extension("2.5.29.20", false, Uint8Array.of(0x02, 0x01, n));
    const at = (days: number) => new Date(T1_TIME.getTime() + days * day);
    const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, "Z");
    async function dcap(o: { tcbIssued: Date; evaluationDelta?: number; pckCrl?: Uint8Array; rootCaCrl?: Uint8Array }): Promise<string> {
      const c = t1Collateral();
      const tcbText = c.tcbInfo.body
        .replace(/"issueDate":"[^"]*"/, `"issueDate":"${iso(o.tcbIssued)}"`)
        .replace(/"tcbEvaluationDataNumber":(\d+)/, (_m, n: string) => `"tcbEvaluationDataNumber":${Number(n) + (o.evaluationDelta ?? 0)}`);
      const chain = [tcbSigner, root].map((x) => x.cert.toString("pem")).join("\n");
      return JSON.stringify({
        tcb_info: tcbText,
        tcb_info_signature: toHex(await sign(tcbSigner.keys.privateKey, new TextEncoder().encode(tcbText))),
        tcb_info_issuer_chain: chain,
        qe_identity: c.qeIdentity.body,
        qe_identity_signature: toHex(c.qeIdentity.signature),
        qe_identity_issuer_chain: chain,
        ...(o.pckCrl ? { pck_crl: toHex(o.pckCrl) } : {}),
        ...(o.rootCaCrl ? { root_ca_crl: toHex(o.rootCaCrl) } : {}),
      });
    }
    const pieces = (text: string) => JSON.parse(text) as Record<string, string>;
    const rootCrl = await crl(root, { thisUpdate: at(-1), nextUpdate: at(10), crlNumber: number(9) });
    const heldPck = await crl(platformCa, { thisUpdate: at(-1), nextUpdate: at(10), crlNumber: number(20) });
    const held = await dcap({ tcbIssued: at(-1), pckCrl: heldPck, rootCaCrl: rootCrl });

    // An older PCK CRL (thisUpdate, no cRLNumber), one as old with a lower cRLNumber, a later one with a lower cRLNumber, an earlier TCB Info of the same evaluation, one of an earlier evaluation: the held piece.
    for (const candidate of [
      await dcap({ tcbIssued: at(-1), pckCrl: await crl(platformCa, { thisUpdate: at(-20), nextUpdate: at(10), crlNumber: null }), rootCaCrl: rootCrl }),
      await dcap({ tcbIssued: at(-1), pckCrl: await crl(platformCa, { thisUpdate: at(-1), nextUpdate: at(10), crlNumber: number(19) }), rootCaCrl: rootCrl }),
      await dcap({ tcbIssued: at(-1), pckCrl: await crl(platformCa, { thisUpdate: at(0), nextUpdate: at(10), crlNumber: number(19) }), rootCaCrl: rootCrl }),
    ]) {
      expect(pieces(newestDcapQvlCollateral(candidate, held))["pck_crl"]).toBe(toHex(heldPck));
    }
    for (const candidate of [await dcap({ tcbIssued: at(-2), pckCrl: heldPck, rootCaCrl: rootCrl }), await dcap({ tcbIssued: at(0), evaluationDelta: -1, pckCrl: heldPck, rootCaCrl: rootCrl })]) {
      expect(pieces(newestDcapQvlCollateral(candidate, held))["tcb_info"]).toBe(pieces(held)["tcb_info"]);
    }
    // A CRL the candidate lacks is the held one.
    expect(pieces(newestDcapQvlCollateral(await dcap({ tcbIssued: at(-1) }), held))).toMatchObject({ pck_crl: toHex(heldPck), root_ca_crl: toHex(rootCrl) });
    // Newer, or as new: the candidate's, piece by piece.
    const newerPck = await crl(platformCa, { thisUpdate: at(0), nextUpdate: at(10), crlNumber: number(21) });
    const newer = await dcap({ tcbIssued: at(-2), pckCrl: newerPck, rootCaCrl: rootCrl });
    expect(pieces(newestDcapQvlCollateral(newer, held))).toMatchObject({ pck_crl: toHex(newerPck), tcb_info: pieces(held)["tcb_info"] });
    const tie = await dcap({ tcbIssued: at(-1), pckCrl: await crl(platformCa, { thisUpdate: at(-1), nextUpdate: at(10), crlNumber: number(20) }), rootCaCrl: rootCrl });
    expect(newestDcapQvlCollateral(tie, held)).toBe(JSON.stringify(pieces(tie)));
  });

  it("a session reads each CRL once: the route's choice of the newest collateral (twice, on a refresh) and the verifications share one parse of the same bytes", async () => {
    const dcapText = (c: TdxCollateral) =>
      JSON.stringify({
        tcb_info: c.tcbInfo.body,
        tcb_info_signature: toHex(c.tcbInfo.signature),
        tcb_info_issuer_chain: c.tcbInfo.issuerChain,
        qe_identity: c.qeIdentity.body,
        qe_identity_signature: toHex(c.qeIdentity.signature),
        qe_identity_issuer_chain: c.qeIdentity.issuerChain,
        pck_crl: toHex(c.pckCrl!),
        root_ca_crl: toHex(c.rootCaCrl!),
      });
    // Each collateral() signs two fresh CRLs (ECDSA signatures are randomised): bytes nothing earlier in this isolate parsed.
    const [held, offered, refreshed] = [dcapText(await collateral()), dcapText(await collateral()), dcapText(await collateral())];
    const quote = await buildQuote();
    // Observed where every CRL parse goes, asn1-x509's CertificateList decoding: no hook in the code under test.
    const parses = vi.spyOn(AsnConvert, "parse");
    try {
      // As worker/attestation/cvm.ts does: the request's collateral against the cached copy, verified; then, as when it
      // was stale, Intel PCS's against that text, verified again.
      let text = newestDcapQvlCollateral(offered, held);
      await verify(quote, collateralFromDcapQvl(text));
      text = newestDcapQvlCollateral(refreshed, text);
      expect((await verify(quote, collateralFromDcapQvl(text))).tcb.status).toBe("UpToDate");
      expect(parses.mock.calls.filter(([, type]) => type === CertificateList)).toHaveLength(6);
    } finally {
      parses.mockRestore();
    }
  });

  it("TCB Info and QE Identity only from the Intel SGX TCB Signing certificate, issued by the root itself, even with revocation unchecked (the CLI without CRLs)", async () => {
    // Anyone holding a platform's PCK key could otherwise sign every TCB level UpToDate, under an evaluation number no genuine collateral reaches.
    const forged = t1Collateral()
      .tcbInfo.body.replace(/"tcbStatus":"[A-Za-z]+"/g, '"tcbStatus":"UpToDate"')
      .replace(/"tcbEvaluationDataNumber":\d+/, '"tcbEvaluationDataNumber":999999');
    const unchecked = async (c: TdxCollateral) => verifyTdxQuote({ quote: await buildQuote() }, { now: T1_TIME, trustAnchors: genTrust, collateral: c, revocation: "unchecked" });
    expect(await codeOf(async () => unchecked(await collateral({ tcbInfoText: forged, signer: pck, chain: [pck, platformCa, root] })))).toBe("chain_untrusted");
    // A leaf straight under the root that is not the TCB Signing certificate: its name is refused.
    const otherLeaf = await issue({ name: "CN=Intel SGX PCK Certificate, O=Intel Corporation, L=Santa Clara, ST=CA, C=US", issuer: root, keyLabel: "gen other leaf", keyUsage: LEAF_USAGE });
    expect(await codeOf(async () => unchecked(await collateral({ tcbInfoText: forged, signer: otherLeaf })))).toBe("chain_untrusted");
    // The right name one CA down (under the PCK Platform CA): the path is one certificate too long.
    const nested = await issue({ name: tcbSigner.cert.subjectName, issuer: platformCa, keyLabel: "gen nested tcb signer", keyUsage: LEAF_USAGE });
    expect(await codeOf(async () => unchecked(await collateral({ tcbInfoText: forged, signer: nested, chain: [nested, platformCa, root] })))).toBe("path_length_exceeded");
    expect(await codeOf(async () => verify(await buildQuote(), await collateral({ tcbInfoText: forged, signer: nested, chain: [nested, platformCa, root] })))).toBe("path_length_exceeded");
    // The TCB Signing certificate itself, with or without the root after it: verified.
    expect((await unchecked(await collateral())).tcb.status).toBe("UpToDate");
    expect((await unchecked(await collateral({ chain: [tcbSigner] }))).tcb.status).toBe("UpToDate");
  });

  it("TCB status and advisories: only UpToDate passes unless allowlisted with its advisories; Revoked never", async () => {
    const base = t1Collateral().tcbInfo.body;
    // The first platform TCB level (the module identities come earlier in the text).
    const first = base.indexOf('"tcbStatus":"UpToDate"', base.indexOf('"sgxtcbcomponents"'));
    const retag = (status: string, advisories: string[]) =>
      base.slice(0, first) + `"tcbStatus":"${status}","advisoryIDs":${JSON.stringify(advisories)}` + base.slice(first + '"tcbStatus":"UpToDate"'.length);
    const quote = await buildQuote();
    const sw = await verify(quote, await collateral({ tcbInfoText: retag("SWHardeningNeeded", ["INTEL-SA-00615"]) }));
    expect(sw.tcb).toEqual({ status: "SWHardeningNeeded", advisoryIds: ["INTEL-SA-00615"] });
    expect(await codeOf(() => appraiseTdx(sw, permissive()))).toBe("tcb_status_not_allowed");
    expect(await codeOf(() => appraiseTdx(sw, permissive({ acceptedTcbStatuses: [{ status: "SWHardeningNeeded", advisoryIds: ["INTEL-SA-00001"] }] })))).toBe("tcb_status_not_allowed");
    expect(appraiseTdx(sw, permissive({ acceptedTcbStatuses: [{ status: "SWHardeningNeeded", advisoryIds: ["INTEL-SA-00615", "INTEL-SA-00001"] }] })).advisoryIds).toEqual(["INTEL-SA-00615"]);
    const revoked = await verify(quote, await collateral({ tcbInfoText: retag("Revoked", []) }));
    expect(revoked.tcb.status).toBe("Revoked");
    expect(await codeOf(() => appraiseTdx(revoked, permissive({ acceptedTcbStatuses: [{ status: "OutOfDate", advisoryIds: [] }] })))).toBe("tcb_status_not_allowed");
  });

  it("appraisal of TD attributes, service TD, REPORTDATA and measurements", async () => {
    const v = await verify(await buildQuote(), await collateral());
    const debug = await verify(await buildQuote({ body: (b) => setBits(b, 48 + 120, 0x01) }), await collateral());
    expect(await codeOf(() => appraiseTdx(debug, permissive()))).toBe("debug_not_allowed");
    expect(appraiseTdx(debug, permissive({ allowDebug: true })).debug).toBe(true);
    const noSept = await verify(await buildQuote({ body: (b) => flipInPlace(b, 48 + 120 + 3, 0x10) }), await collateral());
    expect(await codeOf(() => appraiseTdx(noSept, permissive()))).toBe("td_attributes_not_allowed");
    expect(await codeOf(() => appraiseTdx(noSept, permissive({ requireSeptVeDisable: false })))).toBe("ok");
    const other = "ab".repeat(48);
    const cases: [Partial<TdxReferenceValues>, EvidenceErrorCode | "ok"][] = [
      [{ mrTd: [other] }, "mrtd_not_allowed"],
      [{ mrTd: [] }, "mrtd_not_allowed"],
      [{ rtmr: [undefined, undefined, [other]] }, "rtmr_not_allowed"],
      [{ mrConfigId: [other] }, "mrconfigid_not_allowed"],
      [{ mrOwner: [other] }, "mrowner_not_allowed"],
      [{ mrOwnerConfig: [other] }, "mrowner_not_allowed"],
      [{ reportData: new Uint8Array(64).fill(3) }, "report_data_mismatch"],
      [{ reportData: v.quote.body.reportData.slice() }, "ok"],
      [{ mrTd: ["xyz"] }, "invalid_reference_values"],
    ];
    for (const [over, expected] of cases) expect(await codeOf(() => appraiseTdx(v, permissive(over))), JSON.stringify(over)).toBe(expected);
  });
});
