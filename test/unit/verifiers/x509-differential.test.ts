import * as pkijs from "pkijs";
import { beforeAll, describe, expect, it } from "vitest";
import type { EvidenceErrorCode } from "../../../worker/verifiers/errors.ts";
import { concatBytes } from "../../../worker/verifiers/reader.ts";
import { TPM_STORE } from "../../../worker/verifiers/tpm/roots/store.ts";
import { parseTdxQuote, tdxQuoteLength } from "../../../worker/verifiers/tdx/quote.ts";
import { parseCertificate, parseCrl, pemBlocks } from "../../../worker/verifiers/x509/certificate.ts";
import { parseNode } from "../../../worker/verifiers/x509/der.ts";
import { trustAnchor, validatePath, type PathOptions } from "../../../worker/verifiers/x509/path.ts";
import { codeOf } from "./codes.ts";
import { amdRoots, snp, tdx } from "./fixtures.ts";
import { CA_USAGE, crl, flip, fromBase64, hierarchy, issue, LEAF_USAGE, NOW, x509, type Issued } from "./pki.ts";
import { der as tpmDer, pem as tpmPem, pemDer, webauthnCases } from "./tpm-fixtures.ts";
import ek5b64 from "../../fixtures/attestation/tpm/ek5-nuvoton-npct6xx-root-1110/ek.der.b64?raw";

const ek5 = () => fromBase64(ek5b64);

// Differential test: the same chains through Warden's validator (worker/verifiers/x509/path.ts) and through pkijs's
// CertificateChainValidationEngine, the field's full RFC 5280 validator. Every real fixture chain, and generated
// hierarchies with each defect. Where the two disagree on purpose, the row names its entry in DIFFERENCES (the same table
// is in worker/verifiers/README.md); any other disagreement fails the test.

/**
 * Every deliberate difference, with its reason. Observed with pkijs 3.4 in workerd.
 */
export const DIFFERENCES = {
  "unknown-critical": "Warden refuses a certificate with a critical extension it does not process (RFC 5280 §4.2: MUST reject); pkijs does not look at criticality.",
  "critical-policies": "Warden does no policy processing, so a critical certificatePolicies is refused unless the family opts in (TPM: anyPolicy semantics); pkijs processes policies with anyPolicy and accepts.",
  "path-length": "Warden enforces pathLenConstraint (§6.1.4 (m)); pkijs 3.4 accepted a second CA under a pathLen 0 CA.",
  "sha1": "Warden's signature allowlist has no SHA-1 (STYLE §8: chosen-prefix collisions); pkijs verifies SHA-1 signatures.",
  "keyCertSign-leaf": "Warden's profile refuses a non-CA asserting keyCertSign (§4.2.1.3); pkijs only checks CAs.",
  "name-constraints": "Warden does not implement name constraints and refuses any certificate carrying them (no attestation family issues them); pkijs evaluates them (a DNS constraint does not touch a subject without DNS names).",
  backtracking: "Warden's path building backtracks to the second same-named candidate when the first one's path fails (RFC 4158); pkijs reports the first path's failure.",
  "second-precision": "Warden compares validity at the certificates' own precision (notAfter 00:00:00 covers 00:00:00.500); pkijs compares milliseconds.",
  "ber-length": "Warden's strict DER gate refuses a non-minimal length that asn1js (under pkijs) accepts; the signed TBS bytes are the same, so pkijs validates it.",
  "anchor-self-signature": "Warden checks a self-signed anchor's own signature when loading it; pkijs trusts trustedCerts as given.",
} as const;
type Difference = keyof typeof DIFFERENCES;

interface Chain {
  readonly leaf: Uint8Array;
  readonly intermediates: readonly Uint8Array[];
  readonly anchors: readonly Uint8Array[];
  readonly crls?: readonly Uint8Array[];
  readonly now: Date;
  /** Warden options of the family (critical extensions its verifier handles); profile rfc5280 unless given. */
  readonly warden?: Partial<PathOptions>;
}

async function pkijsVerdict(c: Chain): Promise<boolean> {
  const engine = new pkijs.CertificateChainValidationEngine({
    trustedCerts: c.anchors.map((d) => pkijs.Certificate.fromBER(d)),
    // pkijs validates the last certificate of `certs`.
    certs: [...c.intermediates.map((d) => pkijs.Certificate.fromBER(d)), pkijs.Certificate.fromBER(c.leaf)],
    crls: (c.crls ?? []).map((d) => pkijs.CertificateRevocationList.fromBER(d)),
    checkDate: c.now,
  });
  // Warden applies a supplied CRL to the certificates its issuer signed and requires CRLs only when asked (requireCrls).
  const result = await engine.verify({ passedWhenNotRevValues: !c.warden?.requireCrls });
  return result.result;
}

async function wardenVerdict(c: Chain): Promise<EvidenceErrorCode | "ok"> {
  return codeOf(async () => {
    const anchors = await Promise.all(c.anchors.map((d, i) => trustAnchor(`anchor ${i}`, parseCertificate(d), { criticalExtensions: c.warden?.pathCriticalExtensions ?? [] })));
    return validatePath(parseCertificate(c.leaf), {
      now: c.now,
      anchors,
      intermediates: c.intermediates.map((d) => parseCertificate(d)),
      crls: (c.crls ?? []).map((d) => parseCrl(d)),
      ...c.warden,
    });
  });
}

interface Row {
  readonly name: string;
  readonly chain: () => Promise<Chain>;
  readonly warden: EvidenceErrorCode | "ok";
  readonly pkijs: boolean;
  readonly difference?: Difference;
}

const TODAY = new Date("2026-11-22T00:00:00Z");
const TPM_LEAF = { leafCriticalExtensions: ["2.5.29.17", "2.5.29.37"], pathCriticalExtensions: ["2.5.29.32"], profile: "tpm" as const };
const storeDer = (name: string) => fromBase64((TPM_STORE.find((e) => e.name === name) ?? { der: "" }).der);
const pemChain = (text: string) => pemBlocks(text);
/** The PCK chain a quote file carries (files may pad the quote; see tdxQuoteLength). */
const pckChainOf = (file: Uint8Array) => parseTdxQuote(file.subarray(0, tdxQuoteLength(file))).pckChain;

/** Real vendor chains: every one is valid in both validators. */
const FIXTURES: Row[] = [
  { name: "TPM ek1 Infineon SLB 9670", chain: async () => ({ leaf: tpmDer.ek1, intermediates: [tpmDer.ek1Mfg], anchors: [storeDer("Infineon OPTIGA(TM) RSA Root CA")], now: TODAY, warden: TPM_LEAF }), warden: "ok", pkijs: true },
  { name: "TPM ek2 STMicro via the GlobalSign cross-certificate", chain: async () => ({ leaf: pemDer(tpmPem.ek2Pem), intermediates: [tpmDer.ek2Int, tpmDer.ek2Cross], anchors: [storeDer("GlobalSign Trusted Platform Module Root CA")], now: TODAY, warden: TPM_LEAF }), warden: "ok", pkijs: true },
  { name: "TPM ek3 Nuvoton NPCT75x (root 2111, unsorted multi-valued RDN)", chain: async () => ({ leaf: pemDer(tpmPem.ek3Pem), intermediates: [], anchors: [tpmDer.ek3Root], now: TODAY, warden: TPM_LEAF }), warden: "ok", pkijs: true },
  { name: "TPM ek5 Nuvoton NPCT6xx (root 1110)", chain: async () => ({ leaf: ek5(), intermediates: [], anchors: [storeDer("Nuvoton TPM Root CA 1110")], now: TODAY, warden: TPM_LEAF }), warden: "ok", pkijs: true },
  ...(["ucaRsaEnc", "ucaEccEnc"] as const).map((k) => ({ name: `TPM ek4 GCE ${k}`, chain: async () => ({ leaf: pemDer(tpmPem[k]), intermediates: [tpmDer.gceInt3], anchors: [storeDer("google-tpm-ek-root-1")], now: TODAY, warden: TPM_LEAF }), warden: "ok" as const, pkijs: true })),
  ...(["pcaRsaEnc", "pcaEccEnc"] as const).map((k) => ({ name: `TPM ek4 GCE ${k}`, chain: async () => ({ leaf: pemDer(tpmPem[k]), intermediates: [tpmDer.gcpIntV3], anchors: [storeDer("google-gcp-ek-ak-ca-root")], now: TODAY, warden: TPM_LEAF }), warden: "ok" as const, pkijs: true })),
  ...webauthnCases.map((c) => ({ name: `TPM ${c.name} AIK chain`, chain: async () => ({ leaf: c.x5c[0]!, intermediates: c.x5c.slice(1), anchors: [storeDer("Microsoft TPM Root Certificate Authority 2014")], now: c.now, warden: TPM_LEAF }), warden: "ok" as const, pkijs: true })),
  {
    name: "AMD Milan VCEK ← ASK ← ARK (RSA-PSS)",
    chain: async () => {
      const [ask, ark] = pemChain(amdRoots.milan);
      return { leaf: snp.s2.vcek, intermediates: [ask!], anchors: [ark!], now: TODAY, warden: { profile: "sev-snp" } };
    },
    warden: "ok",
    pkijs: true,
  },
  {
    name: "AMD Milan VLEK ← ASVK ← ARK",
    chain: async () => {
      const [asvk, ark] = pemChain(amdRoots.milanVlek);
      return { leaf: snp.s3.vlek, intermediates: [asvk!], anchors: [ark!], now: new Date("2025-06-01T00:00:00Z"), warden: { profile: "sev-snp" } };
    },
    warden: "ok",
    pkijs: true,
  },
  {
    name: "AMD Genoa VCEK ← ASK ← ARK",
    chain: async () => {
      const [ask, ark] = pemChain(amdRoots.genoa);
      return { leaf: pemChain(snp.s4.vcekPem)[0]!, intermediates: [ask!], anchors: [ark!], now: TODAY, warden: { profile: "sev-snp" } };
    },
    warden: "ok",
    pkijs: true,
  },
  {
    name: "AMD Turin VCEK ← ASK ← ARK",
    chain: async () => {
      const [ask, ark] = pemChain(amdRoots.turin);
      return { leaf: snp.s5.vcek, intermediates: [ask!], anchors: [ark!], now: TODAY, warden: { profile: "sev-snp" } };
    },
    warden: "ok",
    pkijs: true,
  },
  {
    name: "Intel t1 PCK ← PCK Platform CA ← SGX Root CA",
    chain: async () => {
      const [leaf, platform] = pemChain(new TextDecoder().decode(pckChainOf(tdx.t1.quote)).replace(/\0+$/, ""));
      return { leaf: leaf!, intermediates: [platform!], anchors: [tdx.rootDer], now: new Date("2025-07-01T00:00:00Z"), warden: { profile: "tdx", leafCriticalExtensions: [] } };
    },
    warden: "ok",
    pkijs: true,
  },
  {
    name: "Intel t3 PCK chain with the PCK and Root CA CRLs (both required)",
    chain: async () => {
      const [leaf, platform] = pemChain(new TextDecoder().decode(pckChainOf(tdx.t3.quote)).replace(/\0+$/, ""));
      return { leaf: leaf!, intermediates: [platform!], anchors: [tdx.rootDer], crls: [tdx.t3.pckCrl, tdx.t3.rootCrl], now: new Date("2023-07-01T01:00:00Z"), warden: { profile: "tdx", requireCrls: true } };
    },
    warden: "ok",
    pkijs: true,
  },
  {
    name: "Intel t3 TCB Signing ← SGX Root CA, Root CA CRL",
    chain: async () => {
      const [signer] = pemChain(tdx.t3.tcbInfoChain);
      return { leaf: signer!, intermediates: [], anchors: [tdx.rootDer], crls: [tdx.t3.rootCrl], now: new Date("2023-07-01T01:00:00Z"), warden: { profile: "tdx", requireCrls: true } };
    },
    warden: "ok",
    pkijs: true,
  },
];


let h: { root: Issued; intermediate: Issued; leaf: Issued };
const at = (d: number) => new Date(NOW.getTime() + d);
const DAY = 86_400_000;
const gen = (leaf: Issued | Uint8Array, intermediates: Issued[], extra: Partial<Chain> = {}): Chain => ({
  leaf: leaf instanceof Uint8Array ? leaf : leaf.der,
  intermediates: intermediates.map((i) => i.der),
  anchors: [h.root.der],
  now: NOW,
  ...extra,
});
const POLICIES = Uint8Array.from([0x30, 0x08, 0x30, 0x06, 0x06, 0x04, 0x55, 0x1d, 0x20, 0x00]);
const NAME_CONSTRAINTS = Uint8Array.from([0x30, 0x11, 0xa0, 0x0f, 0x30, 0x0d, 0x82, 0x0b, ...new TextEncoder().encode("example.com")]);

/** Generated hierarchies, one defect each. */
const GENERATED: Row[] = [
  { name: "valid root → intermediate → leaf", chain: async () => gen(h.leaf, [h.intermediate]), warden: "ok", pkijs: true },
  { name: "expired leaf", chain: async () => gen(await issue({ name: "CN=D Expired", issuer: h.intermediate, notAfter: at(-1000), keyUsage: LEAF_USAGE }), [h.intermediate]), warden: "certificate_expired", pkijs: false },
  { name: "leaf not yet valid", chain: async () => gen(await issue({ name: "CN=D Future", issuer: h.intermediate, notBefore: at(1000), keyUsage: LEAF_USAGE }), [h.intermediate]), warden: "certificate_not_yet_valid", pkijs: false },
  {
    name: "expired anchor",
    chain: async () => {
      const old = await issue({ name: "CN=D Old Root", ca: { ca: true }, keyUsage: CA_USAGE, notBefore: at(-3 * 365 * DAY), notAfter: at(-DAY) });
      return { ...gen(await issue({ name: "CN=D Old Leaf", issuer: old, keyUsage: LEAF_USAGE }), []), anchors: [old.der] };
    },
    warden: "certificate_expired",
    pkijs: false,
  },
  {
    name: "wrong issuer (signed by another key under the root's name)",
    chain: async () => {
      const forger = await issue({ name: "CN=D Forger", keyLabel: "d forger", alg: "P-384", ca: { ca: true }, keyUsage: CA_USAGE });
      const forged = await issue({ name: "CN=D Forged", issuer: forger, issuerName: h.root.cert.subject, ca: { ca: true }, keyUsage: CA_USAGE });
      return gen(await issue({ name: "CN=D Forged Leaf", issuer: forged, keyUsage: LEAF_USAGE }), [forged]);
    },
    warden: "certificate_signature_invalid",
    pkijs: false,
  },
  { name: "bad signature (one bit of the leaf's signature)", chain: async () => gen(flip(h.leaf.der, h.leaf.der.length - 5), [h.intermediate]), warden: "certificate_signature_invalid", pkijs: false },
  { name: "missing intermediate", chain: async () => gen(h.leaf, []), warden: "chain_incomplete", pkijs: false },
  { name: "untrusted root", chain: async () => ({ ...gen(h.leaf, [h.intermediate]), anchors: [(await issue({ name: "CN=D Stranger", keyLabel: "d stranger", ca: { ca: true }, keyUsage: CA_USAGE })).der] }), warden: "chain_incomplete", pkijs: false },
  {
    name: "intermediate without the CA flag",
    chain: async () => {
      const int = await issue({ name: "CN=D Not CA", issuer: h.root, ca: { ca: false }, keyUsage: CA_USAGE });
      return gen(await issue({ name: "CN=D L1", issuer: int, keyUsage: LEAF_USAGE }), [int]);
    },
    warden: "certificate_not_ca",
    pkijs: false,
  },
  {
    name: "intermediate without basicConstraints",
    chain: async () => {
      const int = await issue({ name: "CN=D No BC", issuer: h.root, keyUsage: x509.KeyUsageFlags.cRLSign });
      return gen(await issue({ name: "CN=D L2", issuer: int, keyUsage: LEAF_USAGE }), [int]);
    },
    warden: "certificate_not_ca",
    pkijs: false,
  },
  {
    name: "pathLen 0 exceeded by a second intermediate",
    chain: async () => {
      const int2 = await issue({ name: "CN=D Int2", issuer: h.intermediate, ca: { ca: true }, keyUsage: CA_USAGE });
      return gen(await issue({ name: "CN=D L3", issuer: int2, keyUsage: LEAF_USAGE }), [h.intermediate, int2]);
    },
    warden: "path_length_exceeded",
    pkijs: true,
    difference: "path-length",
  },
  {
    name: "intermediate keyUsage without keyCertSign",
    chain: async () => {
      const int = await issue({ name: "CN=D Bad KU", issuer: h.root, ca: { ca: true }, keyUsage: x509.KeyUsageFlags.cRLSign });
      return gen(await issue({ name: "CN=D L4", issuer: int, keyUsage: LEAF_USAGE }), [int]);
    },
    warden: "key_usage_invalid",
    pkijs: false,
  },
  {
    name: "intermediate without keyUsage (RFC 5280 §6.1.4 (n))",
    chain: async () => {
      const int = await issue({ name: "CN=D No KU", issuer: h.root, ca: { ca: true } });
      return gen(await issue({ name: "CN=D L5", issuer: int, keyUsage: LEAF_USAGE }), [int]);
    },
    warden: "ok",
    pkijs: true,
  },
  {
    name: "unknown critical extension on the leaf",
    chain: async () => gen(await issue({ name: "CN=D Crit Leaf", issuer: h.intermediate, keyUsage: LEAF_USAGE, extensions: [new x509.Extension("1.3.6.1.4.1.55555.1", true, Uint8Array.of(5, 0))] }), [h.intermediate]),
    warden: "unknown_critical_extension",
    pkijs: true,
    difference: "unknown-critical",
  },
  {
    name: "unknown critical extension on an intermediate",
    chain: async () => {
      const int = await issue({ name: "CN=D Crit Int", issuer: h.root, ca: { ca: true }, keyUsage: CA_USAGE, extensions: [new x509.Extension("1.3.6.1.4.1.55555.1", true, Uint8Array.of(5, 0))] });
      return gen(await issue({ name: "CN=D L6", issuer: int, keyUsage: LEAF_USAGE }), [int]);
    },
    warden: "unknown_critical_extension",
    pkijs: true,
    difference: "unknown-critical",
  },
  {
    name: "critical certificatePolicies (anyPolicy), no family listing it",
    chain: async () => {
      const int = await issue({ name: "CN=D Policies", issuer: h.root, ca: { ca: true }, keyUsage: CA_USAGE, extensions: [new x509.Extension("2.5.29.32", true, POLICIES)] });
      return gen(await issue({ name: "CN=D L7", issuer: int, keyUsage: LEAF_USAGE }), [int]);
    },
    warden: "unknown_critical_extension",
    pkijs: true,
    difference: "critical-policies",
  },
  {
    name: "critical certificatePolicies (anyPolicy), TPM family",
    chain: async () => {
      const int = await issue({ name: "CN=D Policies TPM", issuer: h.root, ca: { ca: true }, keyUsage: CA_USAGE, extensions: [new x509.Extension("2.5.29.32", true, POLICIES)] });
      return gen(await issue({ name: "CN=D L8", issuer: int, keyUsage: LEAF_USAGE }), [int], { warden: { pathCriticalExtensions: ["2.5.29.32"] } });
    },
    warden: "ok",
    pkijs: true,
  },
  { name: "leaf revoked by its issuer's CRL", chain: async () => gen(h.leaf, [h.intermediate], { crls: [await crl(h.intermediate, { revoked: [h.leaf.cert.serialNumber] }), await crl(h.root)] }), warden: "certificate_revoked", pkijs: false },
  { name: "intermediate revoked by the root's CRL", chain: async () => gen(h.leaf, [h.intermediate], { crls: [await crl(h.intermediate), await crl(h.root, { revoked: [h.intermediate.cert.serialNumber] })] }), warden: "certificate_revoked", pkijs: false },
  { name: "CRLs that revoke nothing", chain: async () => gen(h.leaf, [h.intermediate], { crls: [await crl(h.intermediate, { revoked: ["77"] }), await crl(h.root)] }), warden: "ok", pkijs: true },
  {
    name: "expired CRL",
    chain: async () => gen(h.leaf, [h.intermediate], { crls: [await crl(h.intermediate, { thisUpdate: at(-60 * DAY), nextUpdate: at(-DAY) }), await crl(h.root)], warden: { requireCrls: true } }),
    warden: "crl_expired",
    pkijs: false,
  },
  { name: "CRLs required, the root's missing", chain: async () => gen(h.leaf, [h.intermediate], { crls: [await crl(h.intermediate)], warden: { requireCrls: true } }), warden: "crl_missing", pkijs: false },
  { name: "SHA-1 signature", chain: async () => gen(await issue({ name: "CN=D SHA1", issuer: h.intermediate, signingHash: "SHA-1", keyUsage: LEAF_USAGE }), [h.intermediate]), warden: "unsupported_algorithm", pkijs: true, difference: "sha1" },
  {
    name: "leaf asserting keyCertSign without cA",
    chain: async () => gen(await issue({ name: "CN=D KCS Leaf", issuer: h.intermediate, keyUsage: LEAF_USAGE | x509.KeyUsageFlags.keyCertSign }), [h.intermediate]),
    warden: "certificate_profile_invalid",
    pkijs: true,
    difference: "keyCertSign-leaf",
  },
  {
    name: "intermediate with a DNS name constraint",
    chain: async () => {
      const int = await issue({ name: "CN=D NC", issuer: h.root, ca: { ca: true }, keyUsage: CA_USAGE, extensions: [new x509.Extension("2.5.29.30", true, NAME_CONSTRAINTS)] });
      return gen(await issue({ name: "CN=D L9", issuer: int, keyUsage: LEAF_USAGE }), [int]);
    },
    warden: "unknown_critical_extension",
    pkijs: true,
    difference: "name-constraints",
  },
  {
    name: "key rollover: old key signs new key, pathLen 0 at the old CA",
    chain: async () => {
      const old = await issue({ name: "CN=D Rolling", keyLabel: "d rolling old", ca: { ca: true, pathLen: 0 }, keyUsage: CA_USAGE });
      const nwo = await issue({ name: "CN=D Rolling", issuer: old, keyLabel: "d rolling new", ca: { ca: true, pathLen: 0 }, keyUsage: CA_USAGE });
      return { ...gen(await issue({ name: "CN=D Rolled", issuer: nwo, keyUsage: LEAF_USAGE }), [nwo]), anchors: [old.der] };
    },
    warden: "ok",
    pkijs: true,
  },
  {
    name: "two same-named intermediates, the first expired",
    chain: async () => {
      const a = await issue({ name: "CN=D Twin", issuer: h.root, keyLabel: "d twin", ca: { ca: true }, keyUsage: CA_USAGE, notAfter: at(-DAY) });
      const b = await issue({ name: "CN=D Twin", issuer: h.root, keyLabel: "d twin", ca: { ca: true }, keyUsage: CA_USAGE });
      return gen(await issue({ name: "CN=D Twin Leaf", issuer: b, keyUsage: LEAF_USAGE }), [a, b]);
    },
    warden: "ok",
    pkijs: false,
    difference: "backtracking",
  },
  { name: "half a second past notAfter", chain: async () => gen(await issue({ name: "CN=D Edge", issuer: h.intermediate, notAfter: NOW, keyUsage: LEAF_USAGE }), [h.intermediate], { now: at(500) }), warden: "ok", pkijs: false, difference: "second-precision" },
  {
    name: "leaf re-encoded with a non-minimal outer length (same signed bytes)",
    chain: async () => {
      const node = parseNode(h.leaf.der);
      const len = node.value.length;
      return gen(concatBytes(Uint8Array.of(0x30, 0x83, 0x00, len >> 8, len & 0xff), node.value), [h.intermediate]);
    },
    warden: "malformed_certificate",
    pkijs: true,
    difference: "ber-length",
  },
  {
    name: "self-signed anchor whose own signature is broken",
    chain: async () => ({ ...gen(h.leaf, [h.intermediate]), anchors: [flip(h.root.der, h.root.der.length - 5)] }),
    warden: "certificate_signature_invalid",
    pkijs: true,
    difference: "anchor-self-signature",
  },
];

beforeAll(async () => {
  h = await hierarchy({ tag: " differential" });
});

describe("Warden's validator and pkijs agree, except where DIFFERENCES says why", () => {
  it.each([...FIXTURES.map((r) => ({ ...r, name: `fixture: ${r.name}` })), ...GENERATED])("$name → Warden $warden, pkijs $pkijs", async (row) => {
    const chain = await row.chain();
    const [warden, theirs] = [await wardenVerdict(chain), await pkijsVerdict(chain).catch(() => false)];
    expect(warden).toBe(row.warden);
    expect(theirs).toBe(row.pkijs);
    // A disagreement is allowed only with a documented reason, and a documented reason only for a disagreement.
    expect(row.difference !== undefined).toBe((warden === "ok") !== theirs);
  });

  it("every documented difference is exercised", () => {
    const used = new Set(GENERATED.map((r) => r.difference).filter((d) => d !== undefined));
    expect([...used].sort()).toEqual(Object.keys(DIFFERENCES).sort());
  });
});
