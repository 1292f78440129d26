import { MalformedEvidenceError } from "../errors.ts";
import type { Certificate } from "../x509/certificate.ts";
import { ia5String, parseNode, smallUint, Tag } from "../x509/der.ts";
import { productFromName, type SnpProduct } from "./product.ts";
import type { SigningKeyKind } from "./report.ts";

/** AMD KDS x509 extensions of VCEK and VLEK certificates (KDS spec, "VCEK Certificate Extensions"): 1.3.6.1.4.1.3704.1.*. */
const KDS = "1.3.6.1.4.1.3704.1";
export const KdsOid = {
  structVersion: `${KDS}.1`,
  productName: `${KDS}.2`,
  blSpl: `${KDS}.3.1`,
  teeSpl: `${KDS}.3.2`,
  snpSpl: `${KDS}.3.3`,
  spl4: `${KDS}.3.4`,
  spl5: `${KDS}.3.5`,
  spl6: `${KDS}.3.6`,
  spl7: `${KDS}.3.7`,
  ucodeSpl: `${KDS}.3.8`,
  fmcSpl: `${KDS}.3.9`,
  hwid: `${KDS}.4`,
  cspId: `${KDS}.5`,
} as const;

/** What a VCEK or VLEK certificate certifies about its key. */
export interface EndorsementInfo {
  readonly kind: SigningKeyKind;
  readonly product: SnpProduct;
  readonly productName: string;
  /** TCB_VERSION the key was derived for, as the 8 bytes REPORTED_TCB must equal. */
  readonly tcb: Uint8Array;
  /** VCEK: the chip's hardware id (64 bytes Milan/Genoa, 8 bytes Turin). */
  readonly hwid: Uint8Array | undefined;
  /** VLEK: the cloud provider it was issued to. */
  readonly cspId: string | undefined;
}

function bad(message: string): never {
  throw new MalformedEvidenceError("malformed_certificate", `V[CL]EK certificate: ${message}`);
}

function u8Ext(cert: Certificate, oid: string, field: string): number {
  const ext = cert.extensions.get(oid);
  if (!ext) bad(`missing ${field} extension (${oid})`);
  const n = smallUint(parseNode(ext.value, field), field);
  if (n > 255) bad(`${field} ${n} is not a byte`);
  return n;
}

function optionalU8Ext(cert: Certificate, oid: string, field: string): number {
  return cert.extensions.has(oid) ? u8Ext(cert, oid, field) : 0;
}

/**
 * Reads the KDS extensions of a VCEK/VLEK certificate. A VCEK carries a hwID
 * and no CSP id; a VLEK the reverse; anything else is refused.
 */
export function endorsementInfo(cert: Certificate): EndorsementInfo {
  let info = infoCache.get(cert);
  if (!info) {
    info = readEndorsementInfo(cert);
    infoCache.set(cert, info);
  }
  return info;
}

/** Per certificate object: a cached VCEK is read once. */
const infoCache = new WeakMap<Certificate, EndorsementInfo>();

function readEndorsementInfo(cert: Certificate): EndorsementInfo {
  const nameExt = cert.extensions.get(KdsOid.productName);
  if (!nameExt) bad("missing productName extension");
  const productName = ia5String(parseNode(nameExt.value, "productName"), "productName");
  const product = productFromName(productName);
  if (!product) throw new MalformedEvidenceError("unsupported_evidence", `V[CL]EK certificate: unknown product ${JSON.stringify(productName)}`);
  u8Ext(cert, KdsOid.structVersion, "structVersion");

  const hwidExt = cert.extensions.get(KdsOid.hwid);
  const cspExt = cert.extensions.get(KdsOid.cspId);
  if (hwidExt && cspExt) bad("both hwID and CSP id extensions");
  if (!hwidExt && !cspExt) bad("neither hwID nor CSP id extension");

  let hwid: Uint8Array | undefined;
  if (hwidExt) {
    const size = product === "Turin" ? 8 : 64;
    // The KDS puts the raw hwID bytes in extnValue, without an OCTET STRING header; a tagged form is accepted too.
    if (hwidExt.value.length === size) hwid = hwidExt.value;
    else {
      const node = parseNode(hwidExt.value, "hwID");
      if (node.tag !== Tag.OCTET_STRING || node.value.length !== size) bad(`hwID is not ${size} bytes`);
      hwid = node.value;
    }
  }
  const cspId = cspExt ? ia5String(parseNode(cspExt.value, "cspId"), "cspId") : undefined;

  const bl = u8Ext(cert, KdsOid.blSpl, "blSPL");
  const tee = u8Ext(cert, KdsOid.teeSpl, "teeSPL");
  const snp = u8Ext(cert, KdsOid.snpSpl, "snpSPL");
  const ucode = u8Ext(cert, KdsOid.ucodeSpl, "ucodeSPL");
  let tcb: Uint8Array;
  if (product === "Turin") {
    // Turin TCB_VERSION: FMC, BOOT_LOADER, TEE, SNP, 3 reserved bytes, MICROCODE.
    tcb = Uint8Array.of(u8Ext(cert, KdsOid.fmcSpl, "fmcSPL"), bl, tee, snp, 0, 0, 0, ucode);
  } else {
    // Milan/Genoa TCB_VERSION: BOOT_LOADER, TEE, 4 reserved SPLs, SNP, MICROCODE.
    tcb = Uint8Array.of(
      bl,
      tee,
      optionalU8Ext(cert, KdsOid.spl4, "spl4"),
      optionalU8Ext(cert, KdsOid.spl5, "spl5"),
      optionalU8Ext(cert, KdsOid.spl6, "spl6"),
      optionalU8Ext(cert, KdsOid.spl7, "spl7"),
      snp,
      ucode,
    );
  }
  return { kind: hwid ? "vcek" : "vlek", product, productName, tcb, hwid, cspId };
}
