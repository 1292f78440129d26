/**
 * SEV-SNP material generated at test time, for the unit tests and the workerd integration tests
 * (test/cvm-helpers.ts) alike: AMD-like CAs carrying the real ones' names with keys of the test's
 * own, the KDS extensions of a V[CL]EK, and reports re-signed under such keys. It imports no
 * binding (no "cloudflare:test"), so a unit test can use it without the integration setup.
 */
import { KdsOid } from "../../../worker/verifiers/sev-snp/index.ts";
import { parseCertificatesPem } from "../../../worker/verifiers/x509/certificate.ts";
import { amdRoots } from "./fixtures.ts";
import { CA_USAGE, issue, x509, type Issued } from "./pki.ts";

/** A DER INTEGER extension: KDS writes each SPL as one (two bytes from 0x80, to stay positive). */
const intExt = (oid: string, v: number) => new x509.Extension(oid, false, v < 0x80 ? Uint8Array.of(2, 1, v) : Uint8Array.of(2, 2, 0, v));
/** A DER IA5String extension (the product name, the CSP id). */
const ia5 = (oid: string, s: string) => new x509.Extension(oid, false, Uint8Array.of(0x16, s.length, ...new TextEncoder().encode(s)));

/**
 * The KDS extensions of a VCEK (hwID) or VLEK (CSP id) for `tcb` (REPORTED_TCB's 8 bytes).
 * Turin lays the TCB out otherwise (FMC first, no SPL 4–7), and its VCEK says so.
 */
export function kdsExtensions(tcb: Uint8Array, id: { hwid: Uint8Array } | { cspId: string }, product = "Milan-B0"): x509.Extension[] {
  const spls =
    product === "Turin"
      ? [intExt(KdsOid.fmcSpl, tcb[0]!), intExt(KdsOid.blSpl, tcb[1]!), intExt(KdsOid.teeSpl, tcb[2]!), intExt(KdsOid.snpSpl, tcb[3]!), intExt(KdsOid.ucodeSpl, tcb[7]!)]
      : [
          intExt(KdsOid.blSpl, tcb[0]!),
          intExt(KdsOid.teeSpl, tcb[1]!),
          intExt(KdsOid.spl4, tcb[2]!),
          intExt(KdsOid.spl5, tcb[3]!),
          intExt(KdsOid.spl6, tcb[4]!),
          intExt(KdsOid.spl7, tcb[5]!),
          intExt(KdsOid.snpSpl, tcb[6]!),
          intExt(KdsOid.ucodeSpl, tcb[7]!),
        ];
  return [
    intExt(KdsOid.structVersion, 0),
    ia5(KdsOid.productName, product),
    ...spls,
    "hwid" in id ? new x509.Extension(KdsOid.hwid, false, id.hwid.slice()) : ia5(KdsOid.cspId, id.cspId),
  ];
}

/**
 * `base` (a real report) with REPORT_DATA (0x50..0x8F) replaced when `reportData` is given and
 * `edit` applied, re-signed by `key` (ECDSA P-384 / SHA-384, r and s little-endian).
 */
export async function resignSnp(
  base: Uint8Array,
  key: CryptoKeyPair,
  o: { reportData?: Uint8Array; edit?: (r: Uint8Array, v: DataView) => void } = {},
): Promise<Uint8Array> {
  const r = base.slice();
  if (o.reportData) r.set(o.reportData, 0x50);
  o.edit?.(r, new DataView(r.buffer, r.byteOffset, r.byteLength));
  const sig = new Uint8Array(await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-384" }, key.privateKey, r.subarray(0, 0x2a0)));
  r.fill(0, 0x2a0);
  for (let j = 0; j < 48; j++) {
    r[0x2a0 + j] = sig[47 - j]!;
    r[0x2e8 + j] = sig[95 - j]!;
  }
  return r;
}

/** The edit that makes a report a VLEK's: SIGNING_KEY = 1 (bits 2–4 of 0x48) and no CHIP_ID. */
export function vlekReport(r: Uint8Array, v: DataView): void {
  v.setUint32(0x48, 1 << 2, true);
  r.fill(0, 0x1a0, 0x1e0);
}

/** Certificates as one PEM text, leaf first, as `snpTrustFromChains` takes a chain. */
export const pem = (...certs: Issued[]): string => certs.map((c) => c.cert.toString("pem")).join("\n");

/** A cRLNumber extension (RFC 5280 §5.2.3) of `n` (below 0x80). */
export const crlNumber = (n: number): x509.Extension => new x509.Extension("2.5.29.20", false, Uint8Array.of(0x02, 0x01, n));

const ROOTS = {
  Milan: { vcek: amdRoots.milan, vlek: amdRoots.milanVlek },
  Genoa: { vcek: amdRoots.genoa, vlek: amdRoots.genoaVlek },
  Turin: { vcek: amdRoots.turin, vlek: amdRoots.turinVlek },
} as const;

/**
 * An RSA-PSS ARK and, under it, ASK and ASVK of `product`, each carrying the real one's subject
 * name byte for byte (the verifier finds its pinned intermediates by name), with keys labelled
 * `${label} ark|ask|asvk` (so one label, one set of keys).
 */
export async function amdLikeCas(label: string, product: keyof typeof ROOTS = "Milan"): Promise<{ ark: Issued; ask: Issued; asvk: Issued }> {
  const [realAsk, realArk] = parseCertificatesPem(ROOTS[product].vcek);
  const [realAsvk] = parseCertificatesPem(ROOTS[product].vlek);
  const name = (c: { subject: Uint8Array } | undefined) => new x509.Name(c!.subject.slice());
  const ark = await issue({ name: name(realArk), alg: "RSA-PSS", keyLabel: `${label} ark`, ca: { ca: true }, keyUsage: CA_USAGE });
  const ask = await issue({ name: name(realAsk), issuer: ark, alg: "RSA-PSS", keyLabel: `${label} ask`, ca: { ca: true, pathLen: 0 }, keyUsage: CA_USAGE });
  const asvk = await issue({ name: name(realAsvk), issuer: ark, alg: "RSA-PSS", keyLabel: `${label} asvk`, ca: { ca: true, pathLen: 0 }, keyUsage: CA_USAGE });
  return { ark, ask, asvk };
}
