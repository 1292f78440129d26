import { beforeAll, describe, expect, it } from "vitest";
import { CA_USAGE, crl, flip, hierarchy, issue, LEAF_USAGE, NOW, x509, type Issued } from "./pki.ts";
import type { EvidenceErrorCode } from "../../../worker/verifiers/errors.ts";
import { parseCertificate, parseCrl, type Certificate } from "../../../worker/verifiers/x509/certificate.ts";
import { trustAnchor, validatePath, type PathOptions, type TrustAnchor } from "../../../worker/verifiers/x509/path.ts";
import { codeOf } from "./codes.ts";

const YEAR = 365 * 24 * 3600 * 1000;
const UNKNOWN_CRITICAL = "1.3.6.1.4.1.55555.1";

let h: { root: Issued; intermediate: Issued; leaf: Issued };
let anchors: TrustAnchor[];
const p = (i: Issued): Certificate => parseCertificate(i.der);

beforeAll(async () => {
  h = await hierarchy();
  anchors = [await trustAnchor("Test Root", p(h.root))];
});

describe("certificate-path validation with generated hierarchies", () => {
  it("accepts root → intermediate → leaf at the injected time", async () => {
    const v = await validatePath(p(h.leaf), { now: NOW, anchors, intermediates: [p(h.intermediate)] });
    expect(v.path.map((c) => c.subjectText)).toEqual(["CN=Test Leaf, O=Warden Tests", "CN=Test Intermediate, O=Warden Tests"]);
    expect(v.anchor.name).toBe("Test Root");
  });

  it("ignores a copy of the anchor and unrelated certificates among the intermediates", async () => {
    const other = await issue({ name: "CN=Unrelated", ca: { ca: true }, keyUsage: CA_USAGE });
    const v = await validatePath(p(h.leaf), { now: NOW, anchors, intermediates: [p(other), p(h.root), p(h.intermediate)] });
    expect(v.path).toHaveLength(2);
  });

  it("accepts an RSA-PSS SHA-384 hierarchy (AMD's scheme) and an RSA PKCS#1 one", async () => {
    for (const alg of ["RSA-PSS", "RSA"] as const) {
      const hh = await hierarchy({ rootAlg: alg, intAlg: alg, leafAlg: "P-384", tag: ` ${alg}` });
      const v = await validatePath(p(hh.leaf), { now: NOW, anchors: [await trustAnchor(alg, p(hh.root))], intermediates: [p(hh.intermediate)] });
      expect(v.path).toHaveLength(2);
    }
  });

  type Case = [name: string, build: () => Promise<{ leaf: Certificate; options: PathOptions }>, expected: EvidenceErrorCode | "ok"];
  const base = (leaf: Issued, intermediates: Issued[], extra: Partial<PathOptions> = {}) => ({
    leaf: p(leaf),
    options: { now: NOW, anchors, intermediates: intermediates.map(p), ...extra },
  });
  const at = (d: number) => new Date(NOW.getTime() + d);

  const cases: Case[] = [
    ["empty anchor set", async () => base(h.leaf, [h.intermediate], { anchors: [] }), "no_trust_anchors"],
    ["invalid time", async () => base(h.leaf, [h.intermediate], { now: new Date(Number.NaN) }), "invalid_reference_values"],
    ["missing intermediate", async () => base(h.leaf, []), "chain_incomplete"],
    ["expired leaf", async () => base(await issue({ name: "CN=Old Leaf", issuer: h.intermediate, notAfter: at(-1000), keyUsage: LEAF_USAGE }), [h.intermediate]), "certificate_expired"],
    ["not-yet-valid leaf", async () => base(await issue({ name: "CN=Future Leaf", issuer: h.intermediate, notBefore: at(1000), keyUsage: LEAF_USAGE }), [h.intermediate]), "certificate_not_yet_valid"],
    [
      "expired intermediate",
      async () => {
        const int = await issue({ name: "CN=Old Int", issuer: h.root, notAfter: at(-1000), ca: { ca: true }, keyUsage: CA_USAGE });
        return base(await issue({ name: "CN=L1", issuer: int, keyUsage: LEAF_USAGE }), [int]);
      },
      "certificate_expired",
    ],
    [
      "expired anchor",
      async () => {
        const root = await issue({ name: "CN=Old Root", notBefore: at(-3 * YEAR), notAfter: at(-YEAR), ca: { ca: true }, keyUsage: CA_USAGE });
        const leaf = await issue({ name: "CN=L2", issuer: root, keyUsage: LEAF_USAGE });
        return { leaf: p(leaf), options: { now: NOW, anchors: [await trustAnchor("old", p(root))] } };
      },
      "certificate_expired",
    ],
    [
      "validity boundary: exactly notAfter is still valid",
      async () => base(await issue({ name: "CN=Edge Leaf", issuer: h.intermediate, notAfter: NOW, keyUsage: LEAF_USAGE }), [h.intermediate]),
      "ok",
    ],
    [
      "intermediate with cA false",
      async () => {
        const int = await issue({ name: "CN=Not CA", issuer: h.root, ca: { ca: false }, keyUsage: CA_USAGE });
        return base(await issue({ name: "CN=L3", issuer: int, keyUsage: LEAF_USAGE }), [int]);
      },
      "certificate_not_ca",
    ],
    [
      "intermediate without basicConstraints",
      async () => {
        const int = await issue({ name: "CN=No BC", issuer: h.root, keyUsage: CA_USAGE });
        return base(await issue({ name: "CN=L4", issuer: int, keyUsage: LEAF_USAGE }), [int]);
      },
      "certificate_not_ca",
    ],
    [
      "pathLen 0 exceeded by a second intermediate",
      async () => {
        const int2 = await issue({ name: "CN=Int2", issuer: h.intermediate, ca: { ca: true }, keyUsage: CA_USAGE });
        return base(await issue({ name: "CN=L5", issuer: int2, keyUsage: LEAF_USAGE }), [h.intermediate, int2]);
      },
      "path_length_exceeded",
    ],
    [
      "anchor pathLen 0 with an intermediate below it",
      async () => {
        const root = await issue({ name: "CN=Tight Root", ca: { ca: true, pathLen: 0 }, keyUsage: CA_USAGE });
        const int = await issue({ name: "CN=Tight Int", issuer: root, ca: { ca: true }, keyUsage: CA_USAGE });
        const leaf = await issue({ name: "CN=L6", issuer: int, keyUsage: LEAF_USAGE });
        return { leaf: p(leaf), options: { now: NOW, anchors: [await trustAnchor("tight", p(root))], intermediates: [p(int)] } };
      },
      "path_length_exceeded",
    ],
    [
      "intermediate keyUsage without keyCertSign",
      async () => {
        const int = await issue({ name: "CN=Bad KU", issuer: h.root, ca: { ca: true }, keyUsage: x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.cRLSign });
        return base(await issue({ name: "CN=L7", issuer: int, keyUsage: LEAF_USAGE }), [int]);
      },
      "key_usage_invalid",
    ],
    [
      // RFC 5280 §6.1.4 (n) checks keyCertSign only when keyUsage is present; the SEV-SNP and TDX profiles require it (x509-building.test.ts).
      "intermediate without keyUsage (rfc5280 profile)",
      async () => {
        const int = await issue({ name: "CN=No KU", issuer: h.root, ca: { ca: true } });
        return base(await issue({ name: "CN=L8", issuer: int, keyUsage: LEAF_USAGE }), [int]);
      },
      "ok",
    ],
    [
      "unknown critical extension on the leaf",
      async () => base(await issue({ name: "CN=Crit Leaf", issuer: h.intermediate, keyUsage: LEAF_USAGE, extensions: [new x509.Extension(UNKNOWN_CRITICAL, true, new Uint8Array([5, 0]))] }), [h.intermediate]),
      "unknown_critical_extension",
    ],
    [
      "unknown critical extension on the leaf that the caller handles",
      async () =>
        base(await issue({ name: "CN=Crit Leaf 2", issuer: h.intermediate, keyUsage: LEAF_USAGE, extensions: [new x509.Extension(UNKNOWN_CRITICAL, true, new Uint8Array([5, 0]))] }), [h.intermediate], {
          leafCriticalExtensions: [UNKNOWN_CRITICAL],
        }),
      "ok",
    ],
    [
      "unknown critical extension on an intermediate (the leaf's allowance does not extend to it)",
      async () => {
        const int = await issue({ name: "CN=Crit Int", issuer: h.root, ca: { ca: true }, keyUsage: CA_USAGE, extensions: [new x509.Extension(UNKNOWN_CRITICAL, true, new Uint8Array([5, 0]))] });
        const leaf = await issue({ name: "CN=L9", issuer: int, keyUsage: LEAF_USAGE });
        return base(leaf, [int], { leafCriticalExtensions: [UNKNOWN_CRITICAL] });
      },
      "unknown_critical_extension",
    ],
    [
      "unknown non-critical extension is ignored",
      async () => base(await issue({ name: "CN=NonCrit", issuer: h.intermediate, keyUsage: LEAF_USAGE, extensions: [new x509.Extension(UNKNOWN_CRITICAL, false, new Uint8Array([5, 0]))] }), [h.intermediate]),
      "ok",
    ],
    [
      "fake root that copies the real root's subject, with its own intermediate",
      async () => {
        const fakeRoot = await issue({ name: h.root.cert.subject, keyLabel: "fake root", alg: "P-384", ca: { ca: true }, keyUsage: CA_USAGE });
        const fakeInt = await issue({ name: h.intermediate.cert.subject, keyLabel: "fake int", issuer: fakeRoot, ca: { ca: true, pathLen: 0 }, keyUsage: CA_USAGE });
        const leaf = await issue({ name: "CN=Forged Leaf", issuer: fakeInt, keyUsage: LEAF_USAGE });
        return base(leaf, [fakeInt, fakeRoot]);
      },
      "chain_untrusted",
    ],
    [
      "fake root copying the subject, next to the real intermediate",
      async () => {
        const fakeRoot = await issue({ name: h.root.cert.subject, keyLabel: "fake root", alg: "P-384", ca: { ca: true }, keyUsage: CA_USAGE });
        const fakeInt = await issue({ name: h.intermediate.cert.subject, keyLabel: "fake int", issuer: fakeRoot, ca: { ca: true, pathLen: 0 }, keyUsage: CA_USAGE });
        const leaf = await issue({ name: "CN=Forged Leaf 2", issuer: fakeInt, keyUsage: LEAF_USAGE });
        return base(leaf, [h.intermediate, fakeInt, fakeRoot]);
      },
      "chain_untrusted",
    ],
    [
      "intermediate signed by another key under the real root's name",
      async () => {
        const forger = await issue({ name: "CN=Forger", keyLabel: "forger", alg: "P-384", ca: { ca: true }, keyUsage: CA_USAGE });
        const int = await issue({ name: "CN=Forged Int", issuer: forger, issuerName: h.root.cert.subject, ca: { ca: true }, keyUsage: CA_USAGE });
        return base(await issue({ name: "CN=L10", issuer: int, keyUsage: LEAF_USAGE }), [int]);
      },
      "certificate_signature_invalid",
    ],
    ["SHA-1 signature", async () => base(await issue({ name: "CN=SHA1 Leaf", issuer: h.intermediate, signingHash: "SHA-1", keyUsage: LEAF_USAGE }), [h.intermediate]), "unsupported_algorithm"],
    ["required leaf keyUsage missing", async () => base(await issue({ name: "CN=No KU Leaf", issuer: h.intermediate }), [h.intermediate], { leafKeyUsage: ["digitalSignature"] }), "key_usage_invalid"],
    ["required leaf keyUsage present", async () => base(h.leaf, [h.intermediate], { leafKeyUsage: ["digitalSignature"] }), "ok"],
    // Revocation
    ["CRL lists the leaf's serial", async () => base(h.leaf, [h.intermediate], { crls: [parseCrl(await crl(h.intermediate, { revoked: ["77", h.leaf.cert.serialNumber] }))] }), "certificate_revoked"],
    ["root CRL lists the intermediate", async () => base(h.leaf, [h.intermediate], { crls: [parseCrl(await crl(h.root, { revoked: [h.intermediate.cert.serialNumber] }))] }), "certificate_revoked"],
    ["CRL without the leaf", async () => base(h.leaf, [h.intermediate], { crls: [parseCrl(await crl(h.intermediate, { revoked: ["77"] })), parseCrl(await crl(h.root))], requireCrls: true }), "ok"],
    ["CRL signed by another key", async () => base(h.leaf, [h.intermediate], { crls: [parseCrl(await crl(h.intermediate, { signer: h.leaf }))] }), "crl_signature_invalid"],
    ["CRL past nextUpdate", async () => base(h.leaf, [h.intermediate], { crls: [parseCrl(await crl(h.intermediate, { thisUpdate: at(-60 * 86400e3), nextUpdate: at(-86400e3) }))] }), "crl_expired"],
    ["CRL without nextUpdate", async () => base(h.leaf, [h.intermediate], { crls: [parseCrl(await crl(h.intermediate, { nextUpdate: null }))] }), "crl_expired"],
    ["CRL issued in the future", async () => base(h.leaf, [h.intermediate], { crls: [parseCrl(await crl(h.intermediate, { thisUpdate: at(86400e3) }))] }), "crl_not_yet_valid"],
    ["CRLs required but none supplied", async () => base(h.leaf, [h.intermediate], { requireCrls: true }), "crl_missing"],
    ["CRLs required, root CRL missing", async () => base(h.leaf, [h.intermediate], { requireCrls: true, crls: [parseCrl(await crl(h.intermediate))] }), "crl_missing"],
    // "anchor" (SEV-SNP): only the certificate the anchor issued needs its CRL, the leaf none.
    ["the anchor's CRL required and supplied, none for the leaf", async () => base(h.leaf, [h.intermediate], { requireCrls: "anchor", crls: [parseCrl(await crl(h.root))] }), "ok"],
    ["the anchor's CRL required, none supplied", async () => base(h.leaf, [h.intermediate], { requireCrls: "anchor" }), "crl_missing"],
    ["the anchor's CRL required, only the intermediate's supplied", async () => base(h.leaf, [h.intermediate], { requireCrls: "anchor", crls: [parseCrl(await crl(h.intermediate))] }), "crl_missing"],
    ["the anchor's CRL required, the anchor's listing the intermediate", async () => base(h.leaf, [h.intermediate], { requireCrls: "anchor", crls: [parseCrl(await crl(h.root, { revoked: [h.intermediate.cert.serialNumber] }))] }), "certificate_revoked"],
    [
      "CRL from an issuer whose keyUsage lacks cRLSign",
      async () => {
        const int = await issue({ name: "CN=No CRL Sign", issuer: h.root, ca: { ca: true }, keyUsage: x509.KeyUsageFlags.keyCertSign });
        const leaf = await issue({ name: "CN=L11", issuer: int, keyUsage: LEAF_USAGE });
        return base(leaf, [int], { crls: [parseCrl(await crl(int))] });
      },
      "key_usage_invalid",
    ],
  ];

  it.each(cases.map(([name, build, expected]) => ({ name, build, expected })))("$name → $expected", async ({ build, expected }) => {
    const { leaf, options } = await build();
    expect(await codeOf(() => validatePath(leaf, options))).toBe(expected);
  });

  it("rejects every single-byte flip in the leaf's TBS, signature or algorithm", async () => {
    const der = h.leaf.der;
    const leaf = parseCertificate(der);
    const tbsStart = leaf.tbs.byteOffset - der.byteOffset;
    const seen = new Set<string>();
    // Every 7th byte across the whole certificate keeps the table small and still hits every field.
    for (let i = tbsStart; i < der.length; i += 7) {
      const code = await codeOf(async () => validatePath(parseCertificate(flip(der, i)), { now: NOW, anchors, intermediates: [p(h.intermediate)] }));
      expect(code, `offset ${i}`).not.toBe("ok");
      seen.add(code);
    }
    expect(seen).toContain("certificate_signature_invalid");
  });

  it("refuses trailing data and truncation in a certificate", () => {
    const der = h.leaf.der;
    const trailing = new Uint8Array(der.length + 1);
    trailing.set(der);
    expect(() => parseCertificate(trailing)).toThrow(expect.objectContaining({ code: "malformed_certificate" }));
    expect(() => parseCertificate(der.subarray(0, der.length - 1))).toThrow(expect.objectContaining({ code: "malformed_certificate" }));
  });

  it("refuses a self-signed anchor whose signature does not verify", async () => {
    const der = h.root.der;
    const sig = der.length - 10;
    await expect(trustAnchor("broken", parseCertificate(flip(der, sig)))).rejects.toMatchObject({ code: "certificate_signature_invalid" });
  });
});
