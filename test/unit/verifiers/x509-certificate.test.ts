import { AsnConvert } from "@peculiar/asn1-schema";
import { Certificate as AsnCertificate } from "@peculiar/asn1-x509";
import { beforeAll, describe, expect, it } from "vitest";
import { concatBytes, toHex } from "../../../worker/verifiers/reader.ts";
import { certificateSignedBy, nameKey, nameText, parseCertificate, parseCrl, parseCrlCached } from "../../../worker/verifiers/x509/certificate.ts";
import { parseNode, strictDer, timeValue } from "../../../worker/verifiers/x509/der.ts";
import { trustAnchor, validatePath } from "../../../worker/verifiers/x509/path.ts";
import { codeOf } from "./codes.ts";
import { CA_USAGE, crl, hierarchy, issue, LEAF_USAGE, NOW, x509, type Issued } from "./pki.ts";

// worker/verifiers/x509/certificate.ts: the strict DER gate first, then @peculiar/asn1-x509.

let h: { root: Issued; intermediate: Issued; leaf: Issued };
beforeAll(async () => {
  h = await hierarchy({ tag: " parse" });
});

/** The same element with its length in long form, one octet longer than needed: BER, never DER. */
function nonMinimalOuterLength(der: Uint8Array): Uint8Array {
  const node = parseNode(der);
  const len = node.value.length;
  const octets: number[] = [];
  for (let n = len; n > 0; n = Math.floor(n / 256)) octets.unshift(n & 0xff);
  return concatBytes(Uint8Array.of(der[0] as number, 0x80 | (octets.length + 1), 0x00, ...octets), node.value);
}

describe("the strict DER gate runs before asn1-x509", () => {
  it("asn1js (under asn1-x509) accepts a non-minimal length; the gate refuses it", () => {
    const ber = nonMinimalOuterLength(h.leaf.der);
    // The signed TBS bytes are untouched, so only a strict reader can tell this is not the certificate that was issued.
    expect(() => AsnConvert.parse(ber, AsnCertificate)).not.toThrow();
    expect(toHex(new Uint8Array(AsnConvert.parse(ber, AsnCertificate).signatureValue))).toBe(toHex(new Uint8Array(AsnConvert.parse(h.leaf.der, AsnCertificate).signatureValue)));
    expect(() => parseCertificate(ber)).toThrow(expect.objectContaining({ code: "malformed_certificate" }));
  });

  it("asn1js ignores bytes after the certificate; the gate refuses them", () => {
    const trailing = concatBytes(h.leaf.der, Uint8Array.of(0x00));
    expect(() => AsnConvert.parse(trailing, AsnCertificate)).not.toThrow();
    expect(() => parseCertificate(trailing)).toThrow(expect.objectContaining({ code: "malformed_certificate" }));
  });

  it.each([
    ["indefinite length", Uint8Array.of(0x30, 0x80, 0x02, 0x01, 0x01, 0x00, 0x00), "malformed_evidence"],
    ["non-minimal length nested one level down", Uint8Array.of(0x30, 0x04, 0x04, 0x81, 0x01, 0x00), "malformed_evidence"],
    ["a constructed OCTET STRING (BER segments)", Uint8Array.of(0x30, 0x05, 0x24, 0x03, 0x04, 0x01, 0x00), "malformed_evidence"],
    ["a child running past its parent", Uint8Array.of(0x30, 0x03, 0x02, 0x05, 0x01), "evidence_truncated"],
  ])("refuses %s", async (_name, bytes, code) => {
    expect(await codeOf(() => strictDer(bytes))).toBe(code);
  });

  it("refuses a GeneralizedTime with fractional seconds (RFC 5280 §4.1.2.5.2), which DER itself allows", () => {
    const frac = Uint8Array.from([0x18, 0x11, ...new TextEncoder().encode("20350101000000.5Z")]);
    expect(() => strictDer(frac)).not.toThrow();
    expect(() => timeValue(parseNode(frac), "notAfter")).toThrow(expect.objectContaining({ code: "malformed_evidence" }));
    const whole = Uint8Array.from([0x18, 0x0f, ...new TextEncoder().encode("20350101000000Z")]);
    expect(timeValue(parseNode(whole), "notAfter").toISOString()).toBe("2035-01-01T00:00:00.000Z");
  });
});

describe("fields decoded by asn1-x509", () => {
  it("reads basicConstraints, keyUsage, key identifiers and extendedKeyUsage", async () => {
    const leaf = await issue({
      name: "CN=Fields, O=Warden Tests",
      issuer: h.intermediate,
      keyUsage: LEAF_USAGE | x509.KeyUsageFlags.keyAgreement,
      extensions: [new x509.ExtendedKeyUsageExtension(["2.23.133.8.1", "1.3.6.1.5.5.7.3.2"])],
    });
    const c = parseCertificate(leaf.der);
    expect(c.keyUsage).toBe((1 << 0) | (1 << 4));
    expect(c.extKeyUsage).toEqual(["2.23.133.8.1", "1.3.6.1.5.5.7.3.2"]);
    expect(c.authorityKeyId && toHex(c.authorityKeyId)).toBe(toHex(parseCertificate(h.intermediate.der).subjectKeyId!));
    expect(c.selfIssued).toBe(false);
    const int = parseCertificate(h.intermediate.der);
    expect(int.basicConstraints).toEqual({ ca: true, pathLen: 0 });
    expect(parseCertificate(h.root.der).selfIssued).toBe(true);
  });

  it("refuses an empty extendedKeyUsage (RFC 5280 §4.2.1.12: SIZE (1..MAX))", async () => {
    const leaf = await issue({ name: "CN=Empty EKU", issuer: h.intermediate, keyUsage: LEAF_USAGE, extensions: [new x509.Extension("2.5.29.37", false, Uint8Array.of(0x30, 0x00))] });
    expect(() => parseCertificate(leaf.der)).toThrow(expect.objectContaining({ code: "malformed_certificate" }));
  });

  it("refuses an extension value that is BER inside its OCTET STRING", async () => {
    // basicConstraints { cA TRUE } with a non-minimal inner length.
    const leaf = await issue({ name: "CN=BER BC", issuer: h.intermediate, keyUsage: LEAF_USAGE, extensions: [new x509.Extension("2.5.29.19", true, Uint8Array.of(0x30, 0x81, 0x03, 0x01, 0x01, 0xff))] });
    expect(() => parseCertificate(leaf.der)).toThrow(expect.objectContaining({ code: "malformed_certificate" }));
  });

  it("reads a CRL's number and revoked serials", async () => {
    const list = parseCrl(await crl(h.intermediate, { revoked: ["0abc"] }));
    expect(list.revoked.has("0abc")).toBe(true);
    expect(list.crlNumber).toBeDefined();
  });

  it("parseCrlCached reads the same bytes once, from a private copy; bytes that do not parse are never kept, so each caller refuses them under its own label", async () => {
    const der = await crl(h.intermediate);
    const first = parseCrlCached(der, "PCK CRL");
    expect(parseCrlCached(der.slice(), "Root CA CRL")).toBe(first);
    der.fill(0);
    expect(first.der[0]).toBe(0x30);
    const broken = Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x01);
    for (const what of ["Root CA CRL", "cached AMD KDS CRL"]) {
      expect(() => parseCrlCached(broken, what)).toThrow(expect.objectContaining({ code: "malformed_certificate", message: expect.stringMatching(new RegExp(`^${what}: `)) }));
    }
  });
});

describe("names in messages", () => {
  it("prints an empty subject as <empty subject>, never as a blank", async () => {
    const leaf = await issue({ name: "", issuer: h.intermediate, keyUsage: LEAF_USAGE, keyLabel: "empty-subject" });
    const c = parseCertificate(leaf.der);
    expect(c.subjectText).toBe("<empty subject>");
    expect(nameText(Uint8Array.of(0x30, 0x00))).toBe("<empty name>");
    // And so in the messages of the path validator.
    const expired = await issue({ name: "", issuer: h.intermediate, keyUsage: LEAF_USAGE, keyLabel: "empty-subject", notAfter: new Date(NOW.getTime() - 1000) });
    const anchors = [await trustAnchor("root", parseCertificate(h.root.der))];
    await expect(validatePath(parseCertificate(expired.der), { now: NOW, anchors, intermediates: [parseCertificate(h.intermediate.der)] })).rejects.toThrow(/^<empty subject>: expired/);
  });
});

describe("curves and algorithms", () => {
  it("verifies a P-521 / ECDSA-SHA-512 hierarchy in workerd (24 TPM vendor CAs use it)", async () => {
    const root = await issue({ name: "CN=P-521 Root", alg: "P-521", ca: { ca: true }, keyUsage: CA_USAGE });
    const leaf = await issue({ name: "CN=P-521 Leaf", issuer: root, alg: "P-384", keyUsage: LEAF_USAGE });
    const rootCert = parseCertificate(root.der);
    expect(rootCert.key).toEqual({ kind: "ec", curve: "P-521" });
    expect(rootCert.signatureAlgorithm).toEqual({ kind: "ecdsa", hash: "SHA-512" });
    expect(await certificateSignedBy(parseCertificate(leaf.der), rootCert)).toBe(true);
    expect(await codeOf(async () => validatePath(parseCertificate(leaf.der), { now: NOW, anchors: [await trustAnchor("p521", rootCert)] }))).toBe("ok");
  });
});

describe("Name comparison (RFC 5280 §7.1)", () => {
  const tlv = (tag: number, body: Uint8Array) => concatBytes(Uint8Array.of(tag, body.length), body);
  const atv = (oid: number[], tag: number, text: string | Uint8Array) => tlv(0x30, concatBytes(tlv(0x06, Uint8Array.from(oid)), tlv(tag, typeof text === "string" ? new TextEncoder().encode(text) : text)));
  const CN = [0x55, 0x04, 0x03];
  const O = [0x55, 0x04, 0x0a];
  const name = (...rdns: Uint8Array[][]) => tlv(0x30, concatBytes(...rdns.map((atvs) => tlv(0x31, concatBytes(...atvs)))));

  it("matches across string types, case and insignificant spaces; not across values or attribute types", () => {
    const printable = name([atv(O, 0x13, "STMicroelectronics NV")], [atv(CN, 0x13, "STM TPM ECC Root CA 01")]);
    const utf8 = name([atv(O, 0x0c, "STMicroelectronics NV")], [atv(CN, 0x0c, "STM TPM ECC Root CA 01")]);
    const folded = name([atv(O, 0x0c, " stmicroelectronics   nv ")], [atv(CN, 0x0c, "stm tpm ecc root ca 01")]);
    const bmp = name([atv(O, 0x1e, Uint8Array.from([..."STMicroelectronics NV"].flatMap((c) => [0, c.charCodeAt(0)])))], [atv(CN, 0x13, "STM TPM ECC Root CA 01")]);
    expect(nameKey(utf8)).toBe(nameKey(printable));
    expect(nameKey(folded)).toBe(nameKey(printable));
    expect(nameKey(bmp)).toBe(nameKey(printable));
    expect(nameKey(name([atv(O, 0x13, "STMicroelectronics NV")], [atv(CN, 0x13, "STM TPM ECC Root CA 02")]))).not.toBe(nameKey(printable));
    expect(nameKey(name([atv(CN, 0x13, "STMicroelectronics NV")], [atv(CN, 0x13, "STM TPM ECC Root CA 01")]))).not.toBe(nameKey(printable));
    // RDN order matters; attribute order inside one multi-valued RDN does not (a SET).
    expect(nameKey(name([atv(CN, 0x13, "STM TPM ECC Root CA 01")], [atv(O, 0x13, "STMicroelectronics NV")]))).not.toBe(nameKey(printable));
    expect(nameKey(name([atv(CN, 0x13, "a"), atv(O, 0x13, "b")]))).toBe(nameKey(name([atv(O, 0x13, "b"), atv(CN, 0x13, "a")])));
    // A value that is not a directory string is compared by its encoding.
    expect(nameKey(name([atv(CN, 0x04, "x")]))).not.toBe(nameKey(name([atv(CN, 0x13, "x")])));
  });
});
