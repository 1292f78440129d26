import { beforeAll, describe, expect, it } from "vitest";
import type { EvidenceErrorCode } from "../../../worker/verifiers/errors.ts";
import { tpmTrustFrom } from "../../../worker/verifiers/tpm/trust.ts";
import { parseCertificate, parseCrl, type Certificate } from "../../../worker/verifiers/x509/certificate.ts";
import { trustAnchor, validatePath, type PathOptions, type TrustAnchor } from "../../../worker/verifiers/x509/path.ts";
import { PROFILE_RULES, type PathProfile } from "../../../worker/verifiers/x509/profile.ts";
import { lazyEntry, trustedAt, windowOf, within } from "../../../worker/verifiers/x509/trust.ts";
import { codeOf } from "./codes.ts";
import { CA_USAGE, crl, issue, keyPair, LEAF_USAGE, NOW, x509, type Issued } from "./pki.ts";

// Issue 19: path building that holds up with a real vendor store (backtracking, key rollover, anchor constraints,
// per-family profile rules, certificate-precision time, bounded search). Every hierarchy is generated here.

const DAY = 86_400_000;
const YEAR = 365 * DAY;
const p = (i: Issued): Certificate => parseCertificate(i.der);
const at = (d: number) => new Date(NOW.getTime() + d);
const ext = (oid: string, critical: boolean, bytes: number[]) => new x509.Extension(oid, critical, Uint8Array.from(bytes));

/** DER values of the extensions the tables use. */
const VALUE = {
  // permittedSubtrees [0] { GeneralSubtree { dNSName "example.com" } }
  nameConstraints: [0x30, 0x11, 0xa0, 0x0f, 0x30, 0x0d, 0x82, 0x0b, ...new TextEncoder().encode("example.com")],
  // requireExplicitPolicy [0] 0
  policyConstraints: [0x30, 0x03, 0x80, 0x01, 0x00],
  inhibitAnyPolicy: [0x02, 0x01, 0x00],
  // { { anyPolicy } }
  certificatePolicies: [0x30, 0x08, 0x30, 0x06, 0x06, 0x04, 0x55, 0x1d, 0x20, 0x00],
  // { tcg-kp-EKCertificate }
  extKeyUsage: [0x30, 0x07, 0x06, 0x05, 0x67, 0x81, 0x05, 0x08, 0x01],
  privateOid: [0x05, 0x00],
};

let root: Issued;
let anchors: TrustAnchor[];

beforeAll(async () => {
  root = await issue({ name: "CN=Building Root, O=Warden Tests", alg: "P-384", ca: { ca: true }, keyUsage: CA_USAGE });
  anchors = [await trustAnchor("Building Root", p(root))];
});

describe("backtracking: two same-subject intermediates, only the second leads to a valid path", () => {
  // Both intermediates carry the same name and key (a CA re-certified, or cross-signed): the leaf's signature verifies
  // under either, so only validating the complete path tells them apart.
  const pair = async (tag: string, first: Partial<Parameters<typeof issue>[0]>, second: Partial<Parameters<typeof issue>[0]> = {}) => {
    const name = `CN=Twin CA ${tag}, O=Warden Tests`;
    const a = await issue({ name, issuer: root, keyLabel: `twin ${tag}`, ca: { ca: true, pathLen: 0 }, keyUsage: CA_USAGE, ...first });
    const b = await issue({ name, issuer: root, keyLabel: `twin ${tag}`, ca: { ca: true, pathLen: 0 }, keyUsage: CA_USAGE, ...second });
    const leaf = await issue({ name: `CN=Twin Leaf ${tag}`, issuer: b, keyUsage: LEAF_USAGE });
    return { a, b, leaf };
  };

  it.each([
    ["the first one expired", { notAfter: at(-DAY) }],
    ["the first one not yet valid", { notBefore: at(DAY) }],
    ["the first one without keyCertSign", { keyUsage: x509.KeyUsageFlags.cRLSign }],
    ["the first one not a CA", { ca: { ca: false } }],
    ["the first one with an unknown critical extension", { extensions: [ext("1.3.6.1.4.1.55555.7", true, VALUE.privateOid)] }],
  ])("%s: the second is tried and the path validates", async (_name, first) => {
    const { a, b, leaf } = await pair(_name, first);
    const v = await validatePath(p(leaf), { now: NOW, anchors, intermediates: [p(a), p(b)] });
    expect(v.path[1]?.der).toEqual(p(b).der);
  });

  it("the first one revoked by the root's CRL: the second is tried", async () => {
    const { a, b, leaf } = await pair("revoked", { serial: "0a01" }, { serial: "0a02" });
    const crls = [parseCrl(await crl(root, { revoked: ["0a01"] }))];
    const v = await validatePath(p(leaf), { now: NOW, anchors, intermediates: [p(a), p(b)], crls });
    expect(v.path[1]?.serialHex).toBe("0a02");
  });

  it("the first one issued by an untrusted root (a cross-certificate into another hierarchy): the second is tried", async () => {
    const other = await issue({ name: "CN=Other Root", keyLabel: "other root", ca: { ca: true }, keyUsage: CA_USAGE });
    const name = "CN=Cross CA, O=Warden Tests";
    const a = await issue({ name, issuer: other, keyLabel: "cross", ca: { ca: true }, keyUsage: CA_USAGE });
    const b = await issue({ name, issuer: root, keyLabel: "cross", ca: { ca: true }, keyUsage: CA_USAGE });
    const leaf = await issue({ name: "CN=Cross Leaf", issuer: b, keyUsage: LEAF_USAGE });
    const v = await validatePath(p(leaf), { now: NOW, anchors, intermediates: [p(a), p(other), p(b)] });
    expect(v.path[1]?.der).toEqual(p(b).der);
    // Without the second, the first branch's reason is what is reported.
    expect(await codeOf(() => validatePath(p(leaf), { now: NOW, anchors, intermediates: [p(a), p(other)] }))).toBe("chain_untrusted");
  });

  it("a same-named candidate whose key type cannot verify the signature (RSA for an ECDSA signature) is skipped, not fatal", async () => {
    const name = "CN=Mixed CA, O=Warden Tests";
    const rsa = await issue({ name, issuer: root, alg: "RSA", keyLabel: "mixed rsa", ca: { ca: true }, keyUsage: CA_USAGE });
    const ec = await issue({ name, issuer: root, alg: "P-256", keyLabel: "mixed ec", ca: { ca: true }, keyUsage: CA_USAGE });
    // No authorityKeyIdentifier on the leaf, so the candidates are tried in the order given: the RSA one first.
    const leaf = await issue({ name: "CN=Mixed Leaf", issuer: ec, keyUsage: LEAF_USAGE, keyIds: false });
    expect((await validatePath(p(leaf), { now: NOW, anchors, intermediates: [p(rsa), p(ec)] })).path[1]?.der).toEqual(p(ec).der);
    // With only the RSA one, the algorithm mismatch is what is reported.
    expect(await codeOf(() => validatePath(p(leaf), { now: NOW, anchors, intermediates: [p(rsa)] }))).toBe("unsupported_algorithm");
  });

  it("when no candidate validates, the first complete path's failure is reported", async () => {
    const { a, b, leaf } = await pair("both bad", { notAfter: at(-DAY) }, { notAfter: at(-2 * DAY) });
    expect(await codeOf(() => validatePath(p(leaf), { now: NOW, anchors, intermediates: [p(a), p(b)] }))).toBe("certificate_expired");
  });

  it("candidates whose subjectKeyIdentifier matches the authorityKeyIdentifier are tried first", async () => {
    const name = "CN=Keyed CA, O=Warden Tests";
    const wrongKey = await issue({ name, issuer: root, keyLabel: "keyed wrong", ca: { ca: true }, keyUsage: CA_USAGE });
    const right = await issue({ name, issuer: root, keyLabel: "keyed right", ca: { ca: true }, keyUsage: CA_USAGE });
    const leaf = await issue({ name: "CN=Keyed Leaf", issuer: right, keyUsage: LEAF_USAGE });
    // One candidate allowed: only the AKI/SKI match makes the right one the first tried (after the anchor with the wrong name is skipped).
    const v = await validatePath(p(leaf), { now: NOW, anchors, intermediates: [p(wrongKey), p(right)], maxCandidates: 2 });
    expect(v.path[1]?.der).toEqual(p(right).der);
  });
});

describe("self-issued intermediates (key rollover, RFC 5280 §6.1.4 (l))", () => {
  it("old key signs new key under the same name; pathLen 0 at the old CA does not count the rollover certificate", async () => {
    const old = await issue({ name: "CN=Rolling CA, O=Warden Tests", keyLabel: "rolling old", ca: { ca: true, pathLen: 0 }, keyUsage: CA_USAGE });
    // NewWithOld: subject = issuer = the CA's name, the new key, signed by the old key.
    const newWithOld = await issue({ name: "CN=Rolling CA, O=Warden Tests", issuer: old, keyLabel: "rolling new", ca: { ca: true, pathLen: 0 }, keyUsage: CA_USAGE });
    const leaf = await issue({ name: "CN=Rolled Leaf", issuer: newWithOld, keyUsage: LEAF_USAGE });
    expect(p(newWithOld).selfIssued).toBe(true);
    const oldAnchor = [await trustAnchor("rolling old", p(old))];
    const v = await validatePath(p(leaf), { now: NOW, anchors: oldAnchor, intermediates: [p(newWithOld)] });
    expect(v.path).toHaveLength(2);
    // A non-self-issued intermediate in the same place does count: pathLen 0 refuses it.
    const other = await issue({ name: "CN=Not Rolling", issuer: old, keyLabel: "rolling new", ca: { ca: true }, keyUsage: CA_USAGE });
    const leaf2 = await issue({ name: "CN=Rolled Leaf 2", issuer: other, keyUsage: LEAF_USAGE });
    expect(await codeOf(() => validatePath(p(leaf2), { now: NOW, anchors: oldAnchor, intermediates: [p(other)] }))).toBe("path_length_exceeded");
  });

  it("a rollover certificate is still a CA certificate: without cA it is refused", async () => {
    const old = await issue({ name: "CN=Rolling CA 2", keyLabel: "rolling2 old", ca: { ca: true }, keyUsage: CA_USAGE });
    const newWithOld = await issue({ name: "CN=Rolling CA 2", issuer: old, keyLabel: "rolling2 new", ca: { ca: false }, keyUsage: CA_USAGE, extensions: [] });
    const leaf = await issue({ name: "CN=Rolled Leaf 3", issuer: newWithOld, keyUsage: LEAF_USAGE });
    const code = await codeOf(async () => validatePath(p(leaf), { now: NOW, anchors: [await trustAnchor("r2", p(old))], intermediates: [p(newWithOld)] }));
    // keyCertSign without cA breaks the profile before cA is looked at; either way the path is refused.
    expect(["certificate_not_ca", "certificate_profile_invalid"]).toContain(code);
  });

  it("a self-signed intermediate that is not an anchor ends its branch as chain_untrusted", async () => {
    const stranger = await issue({ name: "CN=Stranger Root", keyLabel: "stranger", ca: { ca: true }, keyUsage: CA_USAGE });
    const leaf = await issue({ name: "CN=Stranger Leaf", issuer: stranger, keyUsage: LEAF_USAGE });
    expect(await codeOf(() => validatePath(p(leaf), { now: NOW, anchors, intermediates: [p(stranger)] }))).toBe("chain_untrusted");
  });
});

describe("trust anchor extensions (RFC 5937): enforced, or the anchor refused at load", () => {
  type Row = [name: string, extensions: x509.Extension[], expected: EvidenceErrorCode | "ok", options?: Parameters<typeof issue>[0] extends infer O ? Partial<O> : never];
  const rows: Row[] = [
    ["critical nameConstraints", [ext("2.5.29.30", true, VALUE.nameConstraints)], "unknown_critical_extension"],
    ["non-critical nameConstraints (not implemented, so never ignored)", [ext("2.5.29.30", false, VALUE.nameConstraints)], "certificate_profile_invalid"],
    ["critical policyConstraints", [ext("2.5.29.36", true, VALUE.policyConstraints)], "unknown_critical_extension"],
    ["critical inhibitAnyPolicy", [ext("2.5.29.54", true, VALUE.inhibitAnyPolicy)], "unknown_critical_extension"],
    ["critical certificatePolicies (no family listed)", [ext("2.5.29.32", true, VALUE.certificatePolicies)], "unknown_critical_extension"],
    ["critical extendedKeyUsage", [ext("2.5.29.37", true, VALUE.extKeyUsage)], "unknown_critical_extension"],
    ["a private critical extension", [ext("1.3.6.1.4.1.55555.9", true, VALUE.privateOid)], "unknown_critical_extension"],
    ["non-critical certificatePolicies and extendedKeyUsage (not used)", [ext("2.5.29.32", false, VALUE.certificatePolicies), ext("2.5.29.37", false, VALUE.extKeyUsage)], "ok"],
    ["a critical authorityKeyIdentifier", [], "certificate_profile_invalid", { keyIds: false, extensions: [] }],
    ["basicConstraints cA false", [], "certificate_not_ca", { ca: { ca: false } }],
    ["basicConstraints not critical", [new x509.BasicConstraintsExtension(true, undefined, false)], "certificate_profile_invalid", { ca: undefined }],
    ["keyUsage without keyCertSign", [], "key_usage_invalid", { keyUsage: x509.KeyUsageFlags.cRLSign }],
    ["no keyUsage (RFC 5280 §6.1.4 (n))", [], "ok", { keyUsage: undefined }],
  ];

  it.each(rows)("anchor with %s → %s", async (name, extensions, expected, options = {}) => {
    const keys = await keyPair("P-256", `anchor ${name}`);
    const extra = name === "a critical authorityKeyIdentifier" ? [await x509.AuthorityKeyIdentifierExtension.create(keys.publicKey, true), await x509.SubjectKeyIdentifierExtension.create(keys.publicKey)] : [];
    const cert = await issue({ name: `CN=Anchor ${name}`, keyLabel: `anchor ${name}`, ca: { ca: true }, keyUsage: CA_USAGE, ...options, extensions: [...extensions, ...extra] });
    expect(await codeOf(() => trustAnchor(name, p(cert)))).toBe(expected);
  });

  it("a family lists what it accepts: TPM anchors may mark certificatePolicies critical", async () => {
    const cert = await issue({ name: "CN=TPM Anchor With Policies", ca: { ca: true }, keyUsage: CA_USAGE, extensions: [ext("2.5.29.32", true, VALUE.certificatePolicies)] });
    const trust = await tpmTrustFrom([{ vendor: "policies", roots: [cert.cert.toString("pem")] }]);
    expect(trust.anchors).toHaveLength(1);
  });

  it("an anchor that is not self-issued is a pinned name and key (no self-signature to check)", async () => {
    const ca = await issue({ name: "CN=Issued Anchor", issuer: root, keyLabel: "issued anchor", ca: { ca: true }, keyUsage: CA_USAGE });
    const leaf = await issue({ name: "CN=Under Issued Anchor", issuer: ca, keyUsage: LEAF_USAGE });
    const v = await validatePath(p(leaf), { now: NOW, anchors: [await trustAnchor("issued", p(ca))] });
    expect(v.anchor.name).toBe("issued");
    expect(v.path).toHaveLength(1);
  });

  it("name constraints on an intermediate are refused too (critical: not understood; non-critical: profile)", async () => {
    for (const [critical, expected] of [[true, "unknown_critical_extension"], [false, "certificate_profile_invalid"]] as const) {
      const int = await issue({ name: `CN=Constrained ${critical}`, issuer: root, ca: { ca: true }, keyUsage: CA_USAGE, extensions: [ext("2.5.29.30", critical, VALUE.nameConstraints)] });
      const leaf = await issue({ name: `CN=Constrained Leaf ${critical}`, issuer: int, keyUsage: LEAF_USAGE });
      expect(await codeOf(() => validatePath(p(leaf), { now: NOW, anchors, intermediates: [p(int)] }))).toBe(expected);
    }
  });
});

describe("per-family profile rules (x509/profile.ts), driven from the table", () => {
  const PROFILES: readonly PathProfile[] = ["rfc5280", "tpm", "sev-snp", "tdx"];

  /** A path that breaks exactly one rule, for each rule of the table. */
  const breaking: Record<string, () => Promise<{ leaf: Certificate; options: Omit<PathOptions, "profile"> }>> = {
    "keyCertSign-needs-cA": async () => {
      const int = await issue({ name: "CN=P1 Int", issuer: root, ca: { ca: true }, keyUsage: CA_USAGE });
      const leaf = await issue({ name: "CN=P1 Leaf", issuer: int, keyUsage: LEAF_USAGE | x509.KeyUsageFlags.keyCertSign });
      return { leaf: p(leaf), options: { now: NOW, anchors, intermediates: [p(int)] } };
    },
    "key-identifiers-non-critical": async () => {
      const int = await issue({ name: "CN=P2 Int", issuer: root, ca: { ca: true }, keyUsage: CA_USAGE });
      const keys = await keyPair("P-256", "CN=P2 Leaf");
      const leaf = await issue({ name: "CN=P2 Leaf", issuer: int, keyUsage: LEAF_USAGE, keyIds: false, extensions: [await x509.AuthorityKeyIdentifierExtension.create(int.keys.publicKey, true), await x509.SubjectKeyIdentifierExtension.create(keys.publicKey)] });
      return { leaf: p(leaf), options: { now: NOW, anchors, intermediates: [p(int)] } };
    },
    "ca-basicConstraints-critical": async () => {
      const int = await issue({ name: "CN=P3 Int", issuer: root, keyUsage: CA_USAGE, extensions: [new x509.BasicConstraintsExtension(true, undefined, false)] });
      const leaf = await issue({ name: "CN=P3 Leaf", issuer: int, keyUsage: LEAF_USAGE });
      return { leaf: p(leaf), options: { now: NOW, anchors, intermediates: [p(int)] } };
    },
    "no-name-constraints": async () => {
      const int = await issue({ name: "CN=P4 Int", issuer: root, ca: { ca: true }, keyUsage: CA_USAGE, extensions: [ext("2.5.29.30", false, VALUE.nameConstraints)] });
      const leaf = await issue({ name: "CN=P4 Leaf", issuer: int, keyUsage: LEAF_USAGE });
      return { leaf: p(leaf), options: { now: NOW, anchors, intermediates: [p(int)] } };
    },
    "authorityKeyIdentifier-required": async () => {
      const int = await issue({ name: "CN=P5 Int", issuer: root, ca: { ca: true }, keyUsage: CA_USAGE });
      const keys = await keyPair("P-256", "CN=P5 Leaf");
      const leaf = await issue({ name: "CN=P5 Leaf", issuer: int, keyUsage: LEAF_USAGE, keyIds: false, extensions: [await x509.SubjectKeyIdentifierExtension.create(keys.publicKey)] });
      return { leaf: p(leaf), options: { now: NOW, anchors, intermediates: [p(int)] } };
    },
    "ca-subjectKeyIdentifier-required": async () => {
      const int = await issue({ name: "CN=P6 Int", issuer: root, ca: { ca: true }, keyUsage: CA_USAGE, keyIds: false, extensions: [await x509.AuthorityKeyIdentifierExtension.create(root.keys.publicKey)] });
      const leaf = await issue({ name: "CN=P6 Leaf", issuer: int, keyUsage: LEAF_USAGE, keyIds: false, extensions: [await x509.AuthorityKeyIdentifierExtension.create(int.keys.publicKey)] });
      return { leaf: p(leaf), options: { now: NOW, anchors, intermediates: [p(int)] } };
    },
    "ca-keyUsage-required": async () => {
      const int = await issue({ name: "CN=P7 Int", issuer: root, ca: { ca: true } });
      const leaf = await issue({ name: "CN=P7 Leaf", issuer: int, keyUsage: LEAF_USAGE });
      return { leaf: p(leaf), options: { now: NOW, anchors, intermediates: [p(int)] } };
    },
  };

  it("every row of the table has a breaking case here", () => {
    expect(Object.keys(breaking).sort()).toEqual(PROFILE_RULES.map((r) => r.id).sort());
  });

  const cases = PROFILE_RULES.flatMap((rule) => PROFILES.map((profile) => ({ rule: rule.id, profile, expected: rule.profiles.includes(profile) ? rule.code : ("ok" as const) })));
  it.each(cases)("$rule under $profile → $expected", async ({ rule, profile, expected }) => {
    const { leaf, options } = await (breaking[rule] as () => ReturnType<(typeof breaking)[string]>)();
    expect(await codeOf(() => validatePath(leaf, { ...options, profile }))).toBe(expected);
  });

  it("CA without keyUsage per family: accepted by rfc5280 and TPM, refused by SEV-SNP and TDX (anchor too)", async () => {
    const bare = await issue({ name: "CN=Bare Root", keyLabel: "bare root", ca: { ca: true } });
    const leaf = await issue({ name: "CN=Bare Leaf", issuer: bare, keyUsage: LEAF_USAGE });
    const bareAnchor = [await trustAnchor("bare", p(bare))];
    const results = Object.fromEntries(
      await Promise.all((["rfc5280", "tpm", "sev-snp", "tdx"] as const).map(async (profile) => [profile, await codeOf(() => validatePath(p(leaf), { now: NOW, anchors: bareAnchor, profile }))])),
    );
    expect(results).toEqual({ rfc5280: "ok", tpm: "ok", "sev-snp": "key_usage_invalid", tdx: "key_usage_invalid" });
  });

  it("CRL rows: cRLNumber missing (required by rfc5280 and TDX, not SEV-SNP) and cRLNumber critical (refused everywhere)", async () => {
    const int = await issue({ name: "CN=CRL Int", issuer: root, ca: { ca: true }, keyUsage: CA_USAGE });
    const leaf = await issue({ name: "CN=CRL Leaf", issuer: int, keyUsage: LEAF_USAGE });
    const run = async (list: Uint8Array, profile: PathProfile) => codeOf(() => validatePath(p(leaf), { now: NOW, anchors, intermediates: [p(int)], crls: [parseCrl(list)], profile }));
    const noNumber = await crl(int, { crlNumber: null });
    const critical = await crl(int, { crlNumber: ext("2.5.29.20", true, [0x02, 0x01, 0x07]) });
    expect([await run(noNumber, "rfc5280"), await run(noNumber, "tdx"), await run(noNumber, "sev-snp"), await run(noNumber, "tpm")]).toEqual([
      "certificate_profile_invalid",
      "certificate_profile_invalid",
      "ok",
      "ok",
    ]);
    for (const profile of ["rfc5280", "tpm", "sev-snp", "tdx"] as const) expect(await run(critical, profile)).toBe("certificate_profile_invalid");
  });
});

describe("time at the certificates' own precision (whole seconds)", () => {
  it("notAfter 00:00:00 still covers 00:00:00.999; 00:00:01 is past it; notBefore is exact to the second", async () => {
    const int = await issue({ name: "CN=Time Int", issuer: root, ca: { ca: true }, keyUsage: CA_USAGE });
    const edge = await issue({ name: "CN=Edge", issuer: int, keyUsage: LEAF_USAGE, notBefore: at(-DAY), notAfter: NOW });
    const run = (now: Date) => codeOf(() => validatePath(p(edge), { now, anchors, intermediates: [p(int)] }));
    expect(await run(at(999))).toBe("ok");
    expect(await run(at(1000))).toBe("certificate_expired");
    expect(await run(at(-DAY))).toBe("ok");
    expect(await run(at(-DAY - 1))).toBe("certificate_not_yet_valid");
  });

  it("CRL windows compare the same way", async () => {
    const int = await issue({ name: "CN=Time CRL Int", issuer: root, ca: { ca: true }, keyUsage: CA_USAGE });
    const leaf = await issue({ name: "CN=Time CRL Leaf", issuer: int, keyUsage: LEAF_USAGE });
    const list = parseCrl(await crl(int, { thisUpdate: at(-DAY), nextUpdate: NOW }));
    const run = (now: Date) => codeOf(() => validatePath(p(leaf), { now, anchors, intermediates: [p(int)], crls: [list] }));
    expect(await run(at(999))).toBe("ok");
    expect(await run(at(1000))).toBe("crl_expired");
  });
});

describe("bounded search", () => {
  it("a 100-certificate chain is refused at the depth bound, quickly", async () => {
    const chain: Issued[] = [];
    let issuer = root;
    for (let i = 0; i < 100; i++) {
      issuer = await issue({ name: `CN=Deep ${i}`, issuer, keyLabel: "deep", alg: "P-256", ca: { ca: true }, keyUsage: CA_USAGE });
      chain.push(issuer);
    }
    const leaf = await issue({ name: "CN=Deep Leaf", issuer, keyUsage: LEAF_USAGE });
    const intermediates = chain.map(p).reverse();
    const started = performance.now();
    expect(await codeOf(() => validatePath(p(leaf), { now: NOW, anchors, intermediates }))).toBe("path_length_exceeded");
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it("a pool built to make the search explode (six same-named CAs per level, every path failing) is refused by the candidate bound", async () => {
    // Level 1 CAs are all expired, so every complete path fails and a naive backtracking search would try 6^4 paths.
    const levels: Issued[][] = [];
    let above: Issued[] = [root];
    for (let level = 1; level <= 4; level++) {
      const row: Issued[] = [];
      for (let i = 0; i < 6; i++) {
        row.push(await issue({ name: `CN=Maze ${level}`, issuer: above[i % above.length], keyLabel: `maze ${level}`, ca: { ca: true }, keyUsage: CA_USAGE, ...(level === 1 ? { notAfter: at(-DAY) } : {}) }));
      }
      levels.push(row);
      above = row;
    }
    const leaf = await issue({ name: "CN=Maze Leaf", issuer: above[0], keyUsage: LEAF_USAGE });
    const started = performance.now();
    expect(await codeOf(() => validatePath(p(leaf), { now: NOW, anchors, intermediates: levels.flat().map(p) }))).toBe("path_search_exhausted");
    expect(performance.now() - started).toBeLessThan(2000);
  });
});

describe("trust material windows (x509/trust.ts)", () => {
  it("a window may only narrow the certificate's", () => {
    const cert = p(root);
    expect(windowOf(cert)).toEqual({ start: cert.notBefore, end: cert.notAfter });
    expect(windowOf(cert, { end: NOW }).end).toEqual(NOW);
    expect(() => windowOf(cert, { end: new Date(cert.notAfter.getTime() + 1000) })).toThrow(expect.objectContaining({ code: "invalid_reference_values" }));
    expect(() => windowOf(cert, { start: NOW, end: at(-1000) })).toThrow(expect.objectContaining({ code: "invalid_reference_values" }));
    expect(within({ start: NOW, end: NOW }, at(999))).toBe(true);
  });

  it("a lazy entry reads name and window without parsing the certificate, and parses it once when read", async () => {
    const int = await issue({ name: "CN=Lazy Int", issuer: root, ca: { ca: true }, keyUsage: CA_USAGE });
    const entry = lazyEntry("lazy", "vendor", int.der);
    expect(entry.subjectKey).toBe(p(int).subjectKey);
    expect(entry.validFor).toEqual({ start: p(int).notBefore, end: p(int).notAfter });
    expect(entry.certificate).toBe(entry.certificate);
    // A certificate whose outer signatureAlgorithm differs from the TBS one: the peek does not look, the parse refuses it on first read.
    const der = int.der.slice();
    const tbs = p(int).tbs;
    const outerAlgAt = tbs.byteOffset - int.der.byteOffset + tbs.length;
    der[outerAlgAt + 4 + 7] = (der[outerAlgAt + 4 + 7] as number) ^ 0x01;
    const broken = lazyEntry("broken", "vendor", der);
    expect(broken.subjectKey).toBe(entry.subjectKey);
    expect(await codeOf(() => broken.certificate)).toBe("malformed_certificate");
  });

  it("rotation: two roots with one name, the old one's window ended by the vendor; filtering picks the new one before path building", async () => {
    const name = "CN=Rotating Root, O=Warden Tests";
    const oldRoot = await issue({ name, keyLabel: "rotating old", ca: { ca: true }, keyUsage: CA_USAGE, notBefore: at(-5 * YEAR), notAfter: at(5 * YEAR) });
    const newRoot = await issue({ name, keyLabel: "rotating new", ca: { ca: true }, keyUsage: CA_USAGE, notBefore: at(-YEAR), notAfter: at(10 * YEAR) });
    const material = {
      anchors: [await trustAnchor("old", p(oldRoot), { group: "vendor", validFor: { end: at(-DAY) } }), await trustAnchor("new", p(newRoot), { group: "vendor" })],
    };
    expect(trustedAt(material, NOW).anchors.map((a) => a.name)).toEqual(["new"]);
    expect(trustedAt(material, at(-2 * DAY)).anchors.map((a) => a.name)).toEqual(["old", "new"]);
    // A leaf of the retired key: the retired root is not a candidate at NOW, so its path cannot be built.
    const oldLeaf = await issue({ name: "CN=Old Key Leaf", issuer: oldRoot, keyUsage: LEAF_USAGE });
    expect(await codeOf(() => validatePath(p(oldLeaf), { now: NOW, anchors: trustedAt(material, NOW).anchors }))).toBe("certificate_signature_invalid");
    // Given the unfiltered anchors anyway, the validator still holds the anchor to its window.
    expect(await codeOf(() => validatePath(p(oldLeaf), { now: NOW, anchors: material.anchors }))).toBe("certificate_expired");
    const newLeaf = await issue({ name: "CN=New Key Leaf", issuer: newRoot, keyUsage: LEAF_USAGE });
    expect((await validatePath(p(newLeaf), { now: NOW, anchors: trustedAt(material, NOW).anchors })).anchor.name).toBe("new");
  });
});
