/**
 * SEV-SNP material generated at test time for the workerd integration tests: AMD-like
 * hierarchies (an RSA-PSS ARK, ASK and ASVK carrying the real ones' names byte for byte, with
 * keys of the test's own), V[CL]EKs with the KDS extensions, reports re-signed under them, and
 * the ARK's CRLs as AMD KDS serves them. Real reports carry AMD's signature and cannot carry our
 * nonce, nor can a CRL be made for AMD's ARK: so what must verify is re-signed here, and the
 * trust anchors are injected through `deps.snpTrust`, and the CRLs served by the local AMD KDS
 * (test/setup/amd-kds.ts) or sent in the request.
 */
import { env } from "cloudflare:test";
import { anchorTag } from "../worker/attestation/collateral.ts";
import { toBase64 } from "../worker/encoding.ts";
import { parseSnpReport, snpTrustFromChains, type SnpTrust } from "../worker/verifiers/sev-snp/index.ts";
import { uniqueId } from "./helpers.ts";
import { AMD_KDS_HOST } from "./setup/amd-kds.ts";
import { CA_USAGE, NOW, crl, issue, type Issued } from "./unit/verifiers/pki.ts";
import { amdLikeCas, crlNumber, kdsExtensions, pem } from "./unit/verifiers/snp-gen.ts";

/** Standard base64 of bytes, as the API's evidence members take them. */
export const b64 = toBase64;

const DAY = 86_400_000;

/** An ARK's CRL as KDS serves it: by default issued a day before `at`, current for a week, revoking nothing. */
export interface ArkCrlOptions {
  thisUpdate?: Date;
  nextUpdate?: Date;
  revoked?: Issued[];
  /** A cRLNumber; none by default (AMD's specification says nothing of one), so ordering is by thisUpdate. */
  number?: number;
  /** Sign with another key under the ARK's name (a forgery). */
  forged?: boolean;
}

export interface SnpHierarchy {
  ark: Issued;
  ask: Issued;
  asvk: Issued;
  trust: SnpTrust;
  /** Test-time trust for `deps.snpTrust`. */
  snpTrust: () => Promise<SnpTrust>;
  /** The anchors' tag in R2 keys: attestation-collateral/<tag>/… (worker/attestation/collateral.ts). */
  tag: string;
  /** A CRL of this ARK. */
  crl: (o?: ArkCrlOptions) => Promise<Uint8Array>;
  /** A VCEK for `report`'s chip and TCB, under the ASK. */
  vcek: (report: Uint8Array) => Promise<Issued>;
  /** A VLEK for `report`'s TCB, under the ASVK. */
  vlek: (report: Uint8Array) => Promise<Issued>;
}

/**
 * A Milan or Genoa hierarchy of keys made for `label` (each label its own keys, so its R2 cache
 * entries are its own), valid at `at` (the CRLs' default times are relative to it).
 */
export async function snpHierarchy(label: string, product: "Milan" | "Genoa" = "Milan", at: Date = NOW): Promise<SnpHierarchy> {
  const { ark, ask, asvk } = await amdLikeCas(label, product);
  const trust = await snpTrustFromChains([
    { product, kind: "vcek", pem: pem(ask, ark) },
    { product, kind: "vlek", pem: pem(asvk, ark) },
  ]);
  // The worker's own function: a key it does not compute would let a planted copy miss its entry and a test pass anyway.
  const tag = anchorTag(trust.anchors.map((anchor) => anchor.certificate.spki));
  const productName = product === "Milan" ? "Milan-B0" : "Genoa";
  return {
    ark,
    ask,
    asvk,
    trust,
    snpTrust: async () => trust,
    tag,
    crl: async (o = {}) => {
      const signer = o.forged ? await issue({ name: ark.cert.subjectName, alg: "RSA-PSS", keyLabel: `${label} forged ark`, ca: { ca: true }, keyUsage: CA_USAGE }) : ark;
      return crl(ark, {
        thisUpdate: o.thisUpdate ?? new Date(at.getTime() - DAY),
        nextUpdate: o.nextUpdate ?? new Date(at.getTime() + 7 * DAY),
        revoked: (o.revoked ?? []).map((c) => c.cert.serialNumber),
        crlNumber: o.number === undefined ? null : crlNumber(o.number),
        signer,
      });
    },
    vcek: (report) => {
      const parsed = parseSnpReport(report);
      return issue({ name: "CN=SEV-VCEK, O=Advanced Micro Devices", issuer: ask, alg: "P-384", keyLabel: `${label} vcek`, extensions: kdsExtensions(parsed.reportedTcb, { hwid: parsed.chipId }, productName) });
    },
    vlek: (report) => {
      const parsed = parseSnpReport(report);
      return issue({ name: "CN=SEV-VLEK, O=Advanced Micro Devices", issuer: asvk, alg: "P-384", keyLabel: `${label} vlek`, extensions: kdsExtensions(parsed.reportedTcb, { cspId: "CN=cloud.example" }, productName) });
    },
  };
}

export type KdsMode = "up" | "down" | "hang" | "huge-streamed";

/** A scope of the local AMD KDS (test/setup/amd-kds.ts): the AMD_KDS_URL of a tenant, what it serves there, its mode, what it was asked. */
export interface LocalKds {
  url: string;
  serve(path: string, body: Uint8Array): Promise<void>;
  mode(mode: KdsMode): Promise<void>;
  requests(): Promise<string[]>;
}

export function localKds(scope = uniqueId("kds")): LocalKds {
  const binding = (env as unknown as { AMD_KDS: Fetcher }).AMD_KDS;
  const control = async (op: string, init?: RequestInit) => {
    const response = await binding.fetch(`https://${AMD_KDS_HOST}/${scope}/__control/${op}`, init);
    if (!response.ok) throw new Error(`local KDS ${op}: ${response.status}`);
    return response;
  };
  return {
    url: `https://${AMD_KDS_HOST}/${scope}`,
    serve: async (path, body) => void (await control(`serve?path=${encodeURIComponent(path)}`, { method: "PUT", body })),
    mode: async (mode) => void (await control("mode", { method: "PUT", body: mode })),
    requests: async () => (await (await control("requests")).json()) as string[],
  };
}
