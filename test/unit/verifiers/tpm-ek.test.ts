import { describe, expect, it } from "vitest";
import { EvidenceError } from "../../../worker/verifiers/errors.ts";
import { bytesEqual, concatBytes, toHex } from "../../../worker/verifiers/reader.ts";
import { parseCertificate, parseCertificatesPem } from "../../../worker/verifiers/x509/certificate.ts";
import { childrenOf, parseNode } from "../../../worker/verifiers/x509/der.ts";
import { validatePath } from "../../../worker/verifiers/x509/path.ts";
import { checkEkMatchesCertificate, parseTpmSubjectAltName, verifyEkCertificate } from "../../../worker/verifiers/tpm/ek.ts";
import { parsePublic } from "../../../worker/verifiers/tpm/structures.ts";
import { mergeTpmTrust, pinnedTpmTrust, tpmTrustFrom } from "../../../worker/verifiers/tpm/trust.ts";
import { CA_USAGE, NOW, fromBase64, issue, keyPair, signingAlgorithm, x509 } from "./pki.ts";
import { der, pem, pemDer, swtpm, webauthnCases } from "./tpm-fixtures.ts";

async function code(run: () => unknown): Promise<string> {
  try {
    await run();
  } catch (error) {
    if (error instanceof EvidenceError) return error.code;
    throw error;
  }
  return "ok";
}

/** "Today" in the fixtures' MANIFEST: every vendor chain is valid then. */
const TODAY = new Date("2026-11-22T00:00:00Z");
/** When the swtpm vectors (and their local CA) were made: the CA is not valid before. */
const SWTPM_NOW = new Date(Date.parse(swtpm.generated_at) + 60_000);
const localCaTrust = () => tpmTrustFrom([{ vendor: "swtpm local CA (tests)", roots: [pem.swtpmRoot], intermediates: [pem.swtpmIntermediate] }]);

describe("real vendor EK certificates chain to their vendor roots", () => {
  const cases: { name: string; ek: Uint8Array; vendor: string; manufacturer: string; chain: string[]; sent?: Uint8Array[] }[] = [
    { name: "ek1 Infineon SLB 9670", ek: der.ek1, vendor: "Infineon", manufacturer: "Infineon", chain: ["Infineon OPTIGA(TM) RSA Manufacturing CA 007", "Infineon OPTIGA(TM) RSA Root CA"] },
    { name: "ek1 Infineon, intermediate sent by the device", ek: der.ek1, vendor: "Infineon", manufacturer: "Infineon", chain: ["Infineon OPTIGA(TM) RSA Manufacturing CA 007", "Infineon OPTIGA(TM) RSA Root CA"], sent: [der.ek1Mfg] },
    // The vendor bundle makes "STM TPM EK Root CA" (GlobalSign's cross-certificate) an anchor itself, so the path ends there.
    { name: "ek2 STMicro ST33 via STM TPM EK Root CA", ek: pemDer(pem.ek2Pem), vendor: "STMicroelectronics", manufacturer: "STMicroelectronics", chain: ["STM TPM EK Intermediate CA 06", "STM TPM EK Root CA"] },
    { name: "ek3 Nuvoton NPCT75x (multi-valued RDN issuer)", ek: pemDer(pem.ek3Pem), vendor: "Nuvoton", manufacturer: "Nuvoton", chain: ["Nuvoton TPM Root CA 2111"] },
    { name: "ek4 GCE vTPM uca RSA", ek: pemDer(pem.ucaRsaEnc), vendor: "Google", manufacturer: "Google", chain: ["tpm_ek_v1_cloud_host-signer", "tpm_ek_v1_cloud_host_root-signer"] },
    { name: "ek4 GCE vTPM uca ECC", ek: pemDer(pem.ucaEccEnc), vendor: "Google", manufacturer: "Google", chain: ["tpm_ek_v1_cloud_host-signer", "tpm_ek_v1_cloud_host_root-signer"] },
    { name: "ek4 GCE vTPM pca RSA (no SAN, subject names the instance)", ek: pemDer(pem.pcaRsaEnc), vendor: "Google", manufacturer: "", chain: ["EK/AK CA Intermediate", "EK/AK CA Root"] },
    { name: "ek4 GCE vTPM pca ECC", ek: pemDer(pem.pcaEccEnc), vendor: "Google", manufacturer: "", chain: ["EK/AK CA Intermediate", "EK/AK CA Root"] },
  ];
  it.each(cases)("$name", async (c) => {
    const result = await verifyEkCertificate(c.ek, { now: TODAY, trust: await pinnedTpmTrust(), intermediates: (c.sent ?? []).map((d) => parseCertificate(d)) });
    expect(result.vendor).toBe(c.vendor);
    expect(result.tpm?.manufacturerName ?? "").toBe(c.manufacturer);
    expect(result.chain.length).toBe(c.chain.length);
    c.chain.forEach((subject, i) => expect(result.chain[i]).toContain(subject));
  });

  it("ek3: the Nuvoton issuer is one RDN whose SET is not in DER order — accepted, names compare as encoded", async () => {
    const ek = parseCertificate(pemDer(pem.ek3Pem));
    const [rdn, ...more] = childrenOf(parseNode(ek.issuer), "issuer");
    expect(more.length).toBe(0);
    const atvs = childrenOf(rdn!, "RDN").map((n) => n.raw);
    expect(atvs.length).toBe(3);
    // X.690 §11.6: DER sorts SET OF elements by their encodings; this SET is CN, O, C as issued.
    const sorted = [...atvs].sort((a, b) => compareBytes(a, b));
    expect(atvs.every((a, i) => bytesEqual(a, sorted[i]!))).toBe(false);
    // The issuer bytes are exactly the root's subject bytes, so path building matches them as encoded.
    expect(toHex(ek.issuer)).toBe(toHex(parseCertificate(der.ek3Root).subject));
    expect((await verifyEkCertificate(pemDer(pem.ek3Pem), { now: TODAY, trust: await pinnedTpmTrust() })).vendor).toBe("Nuvoton");
  });

  it.each([
    ["uca RSA signing key", pem.ucaRsaSign],
    ["uca ECC signing key", pem.ucaEccSign],
    ["pca RSA signing key", pem.pcaRsaSign],
    ["pca ECC signing key", pem.pcaEccSign],
  ])("ek4 GCE %s certificate is not an EK certificate (key_usage_invalid)", async (_name, text) => {
    expect(await code(async () => verifyEkCertificate(pemDer(text), { now: TODAY, trust: await pinnedTpmTrust() }))).toBe("key_usage_invalid");
  });

  it("refuses vendor EKs outside their validity (ek1 after 2030-12-22)", async () => {
    expect(await code(async () => verifyEkCertificate(der.ek1, { now: new Date("2031-01-01T00:00:00Z"), trust: await pinnedTpmTrust() }))).toBe("certificate_expired");
  });
});

describe("Microsoft TPM Root CA 2014 anchors the Windows Hello AIK chains (w1–w3)", () => {
  it.each(webauthnCases)("$name: AIK ← Microsoft intermediate ← root, its critical TPM SAN understood", async (c) => {
    const [aik, ...rest] = c.x5c.map((d, i) => parseCertificate(d, `x5c[${i}]`));
    const san = aik!.extensions.get("2.5.29.17");
    expect(san?.critical).toBe(true);
    const info = parseTpmSubjectAltName(san!.value);
    expect(info.manufacturer).toMatch(/^id:[0-9A-F]{8}$/);
    const trust = await pinnedTpmTrust();
    const path = await validatePath(aik!, { now: c.now, anchors: trust.anchors, intermediates: rest, leafCriticalExtensions: ["2.5.29.17"], pathCriticalExtensions: ["2.5.29.32"] });
    expect(path.anchor.group).toBe("Microsoft");
    // Without the SAN marked as understood, critical-extension checking refuses it.
    expect(await code(() => validatePath(aik!, { now: c.now, anchors: trust.anchors, intermediates: rest, pathCriticalExtensions: ["2.5.29.32"] }))).toBe("unknown_critical_extension");
    // An AIK certificate is not an EK certificate (its extKeyUsage is tcg-kp-AIKCertificate).
    expect(await code(() => verifyEkCertificate(c.x5c[0]!, { now: c.now, trust, intermediates: rest }))).toBe("ek_profile_invalid");
  });
});

describe("swtpm EK certificates (local CA) and negative chains", () => {
  const ekRsa = fromBase64(swtpm.ek_certificates.rsa);
  const ekEcc = fromBase64(swtpm.ek_certificates.ecc);

  it("chain to the swtpm local CA when (and only when) a test trusts it", async () => {
    const trust = mergeTpmTrust(await pinnedTpmTrust(), await localCaTrust());
    for (const ek of [ekRsa, ekEcc]) {
      const result = await verifyEkCertificate(ek, { now: SWTPM_NOW, trust });
      expect(result.vendor).toBe("swtpm local CA (tests)");
      expect(result.tpm).toMatchObject({ manufacturer: "id:00001014", model: "swtpm" });
      expect(result.chain).toEqual(["CN=swtpm-localca", "CN=swtpm-localca-rootca"]);
    }
  });

  it("an EK chaining to an untrusted root: chain_untrusted (whole chain sent) / chain_incomplete", async () => {
    const trust = await pinnedTpmTrust();
    const sent = parseCertificatesPem(pem.swtpmIntermediate + pem.swtpmRoot);
    expect(await code(() => verifyEkCertificate(ekRsa, { now: SWTPM_NOW, trust, intermediates: sent }))).toBe("chain_untrusted");
    expect(await code(() => verifyEkCertificate(ekRsa, { now: SWTPM_NOW, trust, intermediates: sent.slice(0, 1) }))).toBe("chain_incomplete");
  });

  it("an empty trust store is an error, never a pass", async () => {
    expect(await code(() => verifyEkCertificate(ekRsa, { now: SWTPM_NOW, trust: { anchors: [], intermediates: [] } }))).toBe("no_trust_anchors");
  });

  it("the EK public area must be the certified key (endorsement_key_mismatch)", async () => {
    const rsaCert = parseCertificate(ekRsa);
    const eccCert = parseCertificate(ekEcc);
    await checkEkMatchesCertificate(parsePublic(fromBase64(swtpm.publics.ek_rsa)), rsaCert);
    await checkEkMatchesCertificate(parsePublic(fromBase64(swtpm.publics.ek_ecc)), eccCert);
    expect(await code(() => checkEkMatchesCertificate(parsePublic(fromBase64(swtpm.publics.ek_ecc)), rsaCert))).toBe("endorsement_key_mismatch");
    expect(await code(() => checkEkMatchesCertificate(parsePublic(fromBase64(swtpm.publics.ak_rsa)), rsaCert))).toBe("endorsement_key_mismatch");
  });
});

// --- EK hierarchies generated at test time (root → intermediate → EK with a TCG subjectAltName)

function tlv(tag: number, ...parts: Uint8Array[]): Uint8Array {
  const body = concatBytes(...parts);
  const len = body.length < 0x80 ? Uint8Array.of(body.length) : body.length < 0x100 ? Uint8Array.of(0x81, body.length) : Uint8Array.of(0x82, body.length >> 8, body.length & 0xff);
  return concatBytes(Uint8Array.of(tag), len, body);
}
const utf8 = (s: string) => tlv(0x0c, new TextEncoder().encode(s));
const oid = (hex: string) => tlv(0x06, Uint8Array.from(hex.match(/../g)!.map((h) => parseInt(h, 16))));
const TCG = { manufacturer: oid("6781050201"), model: oid("6781050202"), version: oid("6781050203"), ekCert: oid("6781050801") };
function tcgSan(attrs = { manufacturer: "id:57415244", model: "WardenTPM", version: "id:00010002" }): Uint8Array {
  const atv = (o: Uint8Array, v: string) => tlv(0x31, tlv(0x30, o, utf8(v)));
  return tlv(0x30, tlv(0xa4, tlv(0x30, atv(TCG.manufacturer, attrs.manufacturer), atv(TCG.model, attrs.model), atv(TCG.version, attrs.version))));
}
const dnsSan = () => tlv(0x30, tlv(0x82, new TextEncoder().encode("tpm.example")));
function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return (a[i] as number) - (b[i] as number);
  return a.length - b.length;
}

const YEAR = 365 * 24 * 3600 * 1000;
async function ekHierarchy(o: { intermediateNotAfter?: Date; san?: Uint8Array | null; sanCritical?: boolean; eku?: Uint8Array | null; extra?: x509.Extension[]; subject?: string; tag: string }) {
  const root = await issue({ name: `CN=TPM Test Root ${o.tag}, O=Warden Tests`, alg: "P-384", ca: { ca: true }, keyUsage: CA_USAGE });
  const intermediate = await issue({
    name: `CN=TPM Test Mfg CA ${o.tag}, O=Warden Tests`,
    issuer: root,
    alg: "P-256",
    ca: { ca: true, pathLen: 0 },
    keyUsage: CA_USAGE,
    notBefore: new Date(NOW.getTime() - 4 * YEAR),
    notAfter: o.intermediateNotAfter ?? new Date(NOW.getTime() + 4 * YEAR),
  });
  const keys = await keyPair("RSA", "ek");
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyEncipherment, true),
    ...(o.san === null ? [] : [new x509.Extension("2.5.29.17", o.sanCritical ?? true, o.san ?? tcgSan())]),
    ...(o.eku === null ? [] : [new x509.Extension("2.5.29.37", false, o.eku ?? tlv(0x30, TCG.ekCert))]),
    // TCG EK Credential Profile: the EK names its issuer's key (the TPM profile requires authorityKeyIdentifier).
    await x509.AuthorityKeyIdentifierExtension.create(intermediate.keys.publicKey),
    ...(o.extra ?? []),
  ];
  const ek = await x509.X509CertificateGenerator.create({
    serialNumber: "0a0b",
    subject: o.subject ?? "",
    issuer: intermediate.cert.subject,
    notBefore: new Date(NOW.getTime() - 2 * YEAR),
    notAfter: new Date(NOW.getTime() + 10 * YEAR),
    signingAlgorithm: signingAlgorithm("P-256"),
    publicKey: keys.publicKey,
    signingKey: intermediate.keys.privateKey,
    extensions,
  });
  const trust = await tpmTrustFrom([{ vendor: `generated ${o.tag}`, roots: [root.cert.toString("pem")] }]);
  return { ek: new Uint8Array(ek.rawData), intermediates: [parseCertificate(intermediate.der)], trust };
}

describe("EK profile and path checks on generated hierarchies", () => {
  it("accepts a well-formed EK certificate (control)", async () => {
    const h = await ekHierarchy({ tag: "ok" });
    const result = await verifyEkCertificate(h.ek, { now: NOW, trust: h.trust, intermediates: h.intermediates });
    expect(result.tpm).toMatchObject({ manufacturer: "id:57415244", model: "WardenTPM", version: "id:00010002" });
  });

  it.each([
    ["an expired intermediate", { tag: "expired", intermediateNotAfter: new Date(NOW.getTime() - 24 * 3600 * 1000) }, "certificate_expired"],
    ["a critical SAN without the TPM attributes", { tag: "dns", san: dnsSan() }, "ek_profile_invalid"],
    ["a SAN lacking tpmVersion", { tag: "nover", san: tlv(0x30, tlv(0xa4, tlv(0x30, tlv(0x31, tlv(0x30, TCG.manufacturer, utf8("id:57415244"))), tlv(0x31, tlv(0x30, TCG.model, utf8("m")))))) }, "ek_profile_invalid"],
    ["an empty subject without a SAN", { tag: "nosan", san: null }, "ek_profile_invalid"],
    ["an empty subject with a non-critical SAN", { tag: "noncrit", sanCritical: false }, "ek_profile_invalid"],
    ["an extKeyUsage without tcg-kp-EKCertificate", { tag: "eku", eku: tlv(0x30, oid("2b06010505070302")) }, "ek_profile_invalid"],
    ["another critical extension the verifier does not process", { tag: "crit", extra: [new x509.Extension("1.3.6.1.4.1.99999.1", true, tlv(0x05))] }, "unknown_critical_extension"],
  ] as const)("refuses %s (%s)", async (_name, options, expected) => {
    const h = await ekHierarchy(options as Parameters<typeof ekHierarchy>[0]);
    expect(await code(() => verifyEkCertificate(h.ek, { now: NOW, trust: h.trust, intermediates: h.intermediates }))).toBe(expected);
  });

  it("refuses an EK whose issuer signature does not verify (another intermediate's key)", async () => {
    const a = await ekHierarchy({ tag: "sig-a" });
    const b = await ekHierarchy({ tag: "sig-b" });
    // b's EK names b's intermediate as issuer; offering a's intermediate under b's name is a forgery.
    const forged = await issue({ name: b.intermediates[0]!.subjectText, issuer: undefined, alg: "P-256", ca: { ca: true }, keyUsage: CA_USAGE, keyLabel: "other" });
    expect(await code(() => verifyEkCertificate(b.ek, { now: NOW, trust: b.trust, intermediates: [parseCertificate(forged.der)] }))).toBe("certificate_signature_invalid");
    expect(await code(() => verifyEkCertificate(a.ek, { now: NOW, trust: b.trust, intermediates: a.intermediates }))).toBe("chain_incomplete");
  });
});
