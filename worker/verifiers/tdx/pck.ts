import { MalformedEvidenceError } from "../errors.ts";
import { toHex } from "../reader.ts";
import type { Certificate } from "../x509/certificate.ts";
import { childrenOf, DerSequence, octetString, oidValue, parseNode, smallUint, Tag, type DerNode } from "../x509/der.ts";

/** Intel SGX PCK certificate extensions ("Intel SGX PCK Certificate and CRL Profile"): 1.2.840.113741.1.13.1.*. */
export const SGX_EXTENSIONS_OID = "1.2.840.113741.1.13.1";
const SGX = SGX_EXTENSIONS_OID;

/** What a PCK certificate says about its platform. */
export interface PckInfo {
  readonly ppid: Uint8Array;
  /** SGX TCB component SVNs 1–16 (compared with `sgxtcbcomponents`). */
  readonly sgxComponents: Uint8Array;
  readonly pceSvn: number;
  readonly cpuSvn: Uint8Array;
  readonly pceId: Uint8Array;
  /** FMSPC as upper-case hex, the form TCB Info uses. */
  readonly fmspc: string;
  readonly sgxType: number;
}

function bad(message: string): never {
  throw new MalformedEvidenceError("malformed_certificate", `PCK certificate: ${message}`);
}

function entries(node: DerNode, what: string): Map<string, DerNode> {
  const out = new Map<string, DerNode>();
  for (const item of childrenOf(node, what)) {
    const seq = new DerSequence(item, what);
    const oid = oidValue(seq.next(Tag.OID, "oid"), what);
    const items = childrenOf(item, what);
    const value = items[1];
    if (!value || items.length !== 2) bad(`${what} entry ${oid} is not an (OID, value) pair`);
    if (out.has(oid)) bad(`duplicate ${oid}`);
    out.set(oid, value);
  }
  return out;
}

function fixedOctets(node: DerNode | undefined, size: number, field: string): Uint8Array {
  if (!node) bad(`missing ${field}`);
  const v = octetString(node, field);
  if (v.length !== size) bad(`${field} is ${v.length} bytes, expected ${size}`);
  return v;
}

/** Reads the SGX extension of a PCK leaf certificate. */
export function pckInfo(cert: Certificate): PckInfo {
  let info = infoCache.get(cert);
  if (!info) {
    info = readPckInfo(cert);
    infoCache.set(cert, info);
  }
  return info;
}

/** Per certificate object: a cached PCK certificate is read once. */
const infoCache = new WeakMap<Certificate, PckInfo>();

function readPckInfo(cert: Certificate): PckInfo {
  const ext = cert.extensions.get(SGX);
  if (!ext) bad("no SGX extension");
  try {
    const top = entries(parseNode(ext.value, "SGX extension"), "SGX extension");
    const tcbNode = top.get(`${SGX}.2`);
    if (!tcbNode) bad("missing TCB");
    const tcb = entries(tcbNode, "TCB");
    const sgxComponents = new Uint8Array(16);
    for (let i = 1; i <= 16; i++) {
      const node = tcb.get(`${SGX}.2.${i}`);
      if (!node) bad(`missing SGX TCB component ${i}`);
      const svn = smallUint(node, `component ${i}`);
      if (svn > 255) bad(`SGX TCB component ${i} is ${svn}`);
      sgxComponents[i - 1] = svn;
    }
    const pceNode = tcb.get(`${SGX}.2.17`);
    if (!pceNode) bad("missing PCESVN");
    const pceSvn = smallUint(pceNode, "PCESVN");
    if (pceSvn > 0xffff) bad(`PCESVN ${pceSvn}`);
    const cpuSvn = fixedOctets(tcb.get(`${SGX}.2.18`), 16, "CPUSVN");
    const sgxTypeNode = top.get(`${SGX}.5`);
    if (!sgxTypeNode || sgxTypeNode.tag !== Tag.ENUMERATED) bad("missing SGX Type");
    return {
      ppid: fixedOctets(top.get(`${SGX}.1`), 16, "PPID"),
      sgxComponents,
      pceSvn,
      cpuSvn,
      pceId: fixedOctets(top.get(`${SGX}.3`), 2, "PCE-ID"),
      fmspc: toHex(fixedOctets(top.get(`${SGX}.4`), 6, "FMSPC")).toUpperCase(),
      sgxType: smallUint({ ...sgxTypeNode, tag: Tag.INTEGER }, "SGX Type"),
    };
  } catch (cause) {
    if (cause instanceof MalformedEvidenceError && cause.code === "malformed_certificate") throw cause;
    bad(cause instanceof Error ? cause.message : String(cause));
  }
}
