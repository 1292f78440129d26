import type { ServiceContext } from "../context.ts";
import { sha256Hex } from "../encoding.ts";
import { boundedBytes } from "../net/bounded-body.ts";
import { readable } from "../verifiers/errors.ts";
import { concatBytes, toHex } from "../verifiers/reader.ts";
import { decodeTcb, MAX_KDS_CRL_BYTES, productFromCpuid, type KdsCrl, type SigningKeyKind, type SnpProduct, type SnpReport } from "../verifiers/sev-snp/index.ts";
import { collateralFromPcs, type VerifiedTdxQuote } from "../verifiers/tdx/index.ts";
import { parseCertificateCached } from "../verifiers/x509/certificate.ts";

/**
 * Where attestation collateral comes from besides the request. What a client sends is only a
 * candidate; once verified it is cached in R2 (by FMSPC for TDX, by chip id and TCB for an SNP
 * VCEK, by product and key type for an AMD KDS CRL), so later evidence verifies without it and
 * offline. AMD KDS is asked at `AMD_KDS_URL` (https://kdsintf.amd.com unless configured; empty
 * turns it off), Intel PCS only when `INTEL_PCS_URL` is configured, both through the injected
 * `fetch`.
 */
export interface CollateralSources {
  cache: R2Bucket;
  fetch: (request: Request) => Promise<Response>;
  /** AMD KDS base URL (https, no trailing slash), unless turned off. */
  amdKds: string | undefined;
  /** Intel PCS base URL (https, no trailing slash), when configured. */
  intelPcs: string | undefined;
}

/** AMD's Key Distribution Service, asked when `AMD_KDS_URL` is not set. */
export const DEFAULT_AMD_KDS_URL = "https://kdsintf.amd.com";

export function collateralSources(ctx: ServiceContext): CollateralSources {
  return { cache: ctx.env.BUNDLES, fetch: ctx.deps.fetch, amdKds: httpsBase(ctx.env.AMD_KDS_URL ?? DEFAULT_AMD_KDS_URL), intelPcs: httpsBase(ctx.env.INTEL_PCS_URL) };
}

function httpsBase(value: string | undefined): string | undefined {
  return value !== undefined && /^https:\/\//.test(value) ? value.replace(/\/+$/, "") : undefined;
}

const PREFIX = "attestation-collateral";

/**
 * Cache entries are also keyed by the trust anchors they verified under (a digest of their
 * public keys), so anchors injected in tests never share entries with the pinned ones.
 */
export function anchorTag(spkis: readonly Uint8Array[]): string {
  return sha256Hex(concatBytes(...spkis)).slice(0, 16);
}

/** The VCEK or VLEK of SEV-SNP reports, by chip and TCB. */
export class SnpEndorsements {
  constructor(
    private readonly sources: CollateralSources,
    private readonly anchors: string,
  ) {}

  private key(report: SnpReport): string {
    return `${PREFIX}/${this.anchors}/sev-snp/vcek/${toHex(report.chipId)}/${toHex(report.reportedTcb)}.der`;
  }

  /**
   * The request's certificate, else the verified cached one, else AMD KDS's; `fresh` when it did
   * not come from the cache. A cached copy that does not read as a certificate (damaged) holds
   * nothing verified: it counts as none, so AMD KDS's is fetched and, once it verifies, written
   * over it — kept, it would refuse every report of that chip and TCB sent without a VCEK.
   */
  async find(report: SnpReport, offered: Uint8Array | undefined): Promise<{ der: Uint8Array; fresh: boolean } | null> {
    if (offered) return { der: offered, fresh: true };
    const key = this.key(report);
    const cached = await this.sources.cache.get(key);
    if (cached) {
      const der = new Uint8Array(await cached.arrayBuffer());
      if (readable(() => parseCertificateCached(der, "cached V[CL]EK certificate"))) return { der, fresh: false };
      console.error(JSON.stringify({ event: "attestation.collateral_cache_unreadable", key }));
    }
    const fetched = await this.fromKds(report);
    return fetched ? { der: fetched, fresh: true } : null;
  }

  /** Keeps a VCEK that verified for this report, for requests that do not carry one. */
  async remember(report: SnpReport, der: Uint8Array, product: string, now: number): Promise<void> {
    await this.sources.cache.put(this.key(report), der, { customMetadata: { product, verified_at: new Date(now).toISOString() } });
  }

  /** AMD KDS by product, chip id and TCB: only when configured and the product is known from the report (v3+). */
  private async fromKds(report: SnpReport): Promise<Uint8Array | undefined> {
    const base = this.sources.amdKds;
    if (!base || !report.cpuid) return undefined;
    const product = productFromCpuid(report.cpuid.family, report.cpuid.model);
    if (!product) return undefined;
    const tcb = decodeTcb(product, report.reportedTcb);
    const hwid = product === "Turin" ? toHex(report.chipId.subarray(0, 8)) : toHex(report.chipId);
    const query = new URLSearchParams({
      blSPL: String(tcb.bootloader),
      teeSPL: String(tcb.tee),
      snpSPL: String(tcb.snp),
      ucodeSPL: String(tcb.microcode),
      ...(tcb.fmc !== undefined ? { fmcSPL: String(tcb.fmc) } : {}),
    });
    // Unreachable, cut off or too large: the caller reports the missing certificate.
    return kdsBytes(this.sources, `${base}/vcek/v1/${product}/${hwid}?${query}`, MAX_KDS_VCEK_BYTES);
  }
}

/** How long an AMD KDS download may take, answer and body: KDS answers in well under a second. */
export const KDS_TIMEOUT_MS = 5_000;
/** A VCEK is some 1.4 KB of DER; the verifier takes at most 16 KiB of certificate. */
const MAX_KDS_VCEK_BYTES = 16 * 1024;

/**
 * What AMD KDS answers at `url`, as bytes; undefined when it is unreachable, slower than
 * {@link KDS_TIMEOUT_MS}, answers anything but 200, or sends more than `max` bytes (declared or
 * read). The one way both downloads (VCEK, CRL) reach KDS.
 */
async function kdsBytes(sources: CollateralSources, url: string, max: number): Promise<Uint8Array | undefined> {
  try {
    // The signal bounds the whole exchange, body included: a server that trickles bytes is cut off too.
    const response = await sources.fetch(new Request(url, { signal: AbortSignal.timeout(KDS_TIMEOUT_MS) }));
    const declared = Number(response.headers.get("content-length") ?? "0");
    if (!response.ok || declared > max) {
      await response.body?.cancel();
      return undefined;
    }
    const { bytes, truncated } = await boundedBytes(response, max);
    return truncated ? undefined : bytes;
  } catch {
    return undefined;
  }
}

/**
 * The AMD KDS CRL of one product and key type — the VCEK chain's (`/vcek/v1/{product}/crl`,
 * revoking ASKs) or the VLEK chain's (`/vlek/v1/{product}/crl`, revoking ASVKs) — cached in R2
 * once verified. The copy is replaced only by a newer verified CRL, and only over the copy it was
 * compared with (conditional on its etag, create-only when there was none), so it never goes
 * back to an older list: a client replaying a CRL from before a revocation meets the newer one.
 */
export class SnpCrls {
  constructor(
    private readonly sources: CollateralSources,
    private readonly anchors: string,
    readonly product: SnpProduct,
    readonly kind: SigningKeyKind,
  ) {}

  private get key(): string {
    return `${PREFIX}/${this.anchors}/sev-snp/crl/${this.kind}/${this.product.toLowerCase()}.der`;
  }

  /** The cached CRL's bytes and etag, if any (verified when written; the caller verifies it again, as it does every candidate). */
  async cached(): Promise<{ der: Uint8Array; etag: string } | null> {
    const object = await this.sources.cache.get(this.key);
    if (!object) return null;
    return { der: new Uint8Array(await object.arrayBuffer()), etag: object.etag };
  }

  /**
   * Keeps a verified, current CRL newer than the copy `read` (or the first one, when `read` is
   * null), only if that copy is still the one cached: a copy written since by another request is
   * kept, since it may be newer still. Answers whether this one was kept.
   */
  async remember(verified: KdsCrl, now: number, read: { etag: string } | null): Promise<boolean> {
    const written = await this.sources.cache.put(this.key, verified.der, {
      onlyIf: read ? { etagMatches: read.etag } : { etagDoesNotMatch: "*" },
      customMetadata: {
        product: this.product,
        kind: this.kind,
        this_update: verified.crl.thisUpdate.toISOString(),
        ...(verified.crl.nextUpdate ? { next_update: verified.crl.nextUpdate.toISOString() } : {}),
        ...(verified.crl.crlNumber !== undefined ? { crl_number: verified.crl.crlNumber } : {}),
        verified_at: new Date(now).toISOString(),
      },
    });
    return written !== null;
  }

  /**
   * The CRL AMD KDS serves for this product and key type, as bytes to verify; undefined when KDS
   * is turned off or the download fails its bounds (`kdsBytes`, at most {@link MAX_KDS_CRL_BYTES}):
   * the caller refuses the evidence for want of a current CRL.
   */
  async fromKds(): Promise<Uint8Array | undefined> {
    const base = this.sources.amdKds;
    return base ? kdsBytes(this.sources, `${base}/${this.kind}/v1/${this.product}/crl`, MAX_KDS_CRL_BYTES) : undefined;
  }
}

/** TDX collateral (TCB Info, QE Identity, CRLs) by FMSPC, in dcap-qvl's QuoteCollateralV3 JSON form. */
export class TdxCollateral {
  constructor(
    private readonly sources: CollateralSources,
    private readonly anchors: string,
    private readonly fmspc: string,
  ) {}

  private get key(): string {
    return `${PREFIX}/${this.anchors}/tdx/fmspc/${this.fmspc.toLowerCase()}.json`;
  }

  /** The verified cached collateral and its etag, if any (the newest piece is chosen from the text itself, not the object's metadata). */
  async cached(): Promise<{ text: string; etag: string } | null> {
    const object = await this.sources.cache.get(this.key);
    if (!object) return null;
    return { text: await object.text(), etag: object.etag };
  }

  /**
   * Keeps collateral that verified, for quotes sent without it, only over the copy it was compared
   * with (`read`, or none): what it holds is the newest of its request and that copy, not of one
   * written since by another request, which a write over it could roll back. A write that finds
   * the copy changed keeps the other; it answers whether this one was kept.
   */
  async remember(text: string, verified: VerifiedTdxQuote, now: number, read: { etag: string } | null): Promise<boolean> {
    const written = await this.sources.cache.put(this.key, text, {
      onlyIf: read ? { etagMatches: read.etag } : { etagDoesNotMatch: "*" },
      customMetadata: {
        fmspc: this.fmspc,
        tcb_evaluation_data_number: String(verified.tcbInfo.tcbEvaluationDataNumber),
        next_update: verified.tcbInfo.nextUpdate,
        verified_at: new Date(now).toISOString(),
      },
    });
    return written !== null;
  }

  /** Intel PCS v4 collateral for this FMSPC, only when configured; undefined when unreachable or unusable. */
  async fromPcs(): Promise<string | undefined> {
    const base = this.sources.intelPcs;
    if (!base) return undefined;
    const get = (path: string) => this.sources.fetch(new Request(`${base}${path}`));
    try {
      const [tcb, qe, pckCrl, rootCrl] = await Promise.all([
        get(`/tdx/certification/v4/tcb?fmspc=${this.fmspc}`),
        get("/tdx/certification/v4/qe/identity"),
        get("/sgx/certification/v4/pckcrl?ca=platform&encoding=der"),
        get("/sgx/certification/v4/rootcacrl"),
      ]);
      if (!tcb.ok || !qe.ok || !pckCrl.ok || !rootCrl.ok) return undefined;
      const chainOf = (response: Response, header: string) => decodeURIComponent(response.headers.get(header) ?? "");
      const responses = {
        tcbInfo: await tcb.text(),
        tcbInfoIssuerChain: chainOf(tcb, "TCB-Info-Issuer-Chain"),
        qeIdentity: await qe.text(),
        qeIdentityIssuerChain: chainOf(qe, "SGX-Enclave-Identity-Issuer-Chain"),
        pckCrl: new Uint8Array(await pckCrl.arrayBuffer()),
        rootCaCrl: new Uint8Array(await rootCrl.arrayBuffer()),
      };
      const collateral = collateralFromPcs(responses);
      return JSON.stringify({
        tcb_info: collateral.tcbInfo.body,
        tcb_info_signature: toHex(collateral.tcbInfo.signature),
        tcb_info_issuer_chain: collateral.tcbInfo.issuerChain,
        qe_identity: collateral.qeIdentity.body,
        qe_identity_signature: toHex(collateral.qeIdentity.signature),
        qe_identity_issuer_chain: collateral.qeIdentity.issuerChain,
        pck_crl: toHex(responses.pckCrl),
        root_ca_crl: toHex(responses.rootCaCrl),
      });
    } catch {
      // Unreachable or unusable: the caller reports missing collateral.
      return undefined;
    }
  }
}
