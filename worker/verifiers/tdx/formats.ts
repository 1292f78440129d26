import { z } from "zod";
import { MalformedEvidenceError } from "../errors.ts";
import { fromHex } from "../reader.ts";
import { parseCollateralJson, signatureBytes, signedCollateralFromPcs } from "./collateral.ts";
import { parseStrictJson } from "../../json/strict.ts";
import type { TdxCollateral } from "./verify.ts";

/**
 * Collateral in the forms it is published in, turned into {@link TdxCollateral}.
 * Nothing here verifies anything: the verifier checks every piece.
 */

const DcapQvlSchema = z.object({
  tcb_info: z.string(),
  tcb_info_signature: z.string(),
  tcb_info_issuer_chain: z.string(),
  qe_identity: z.string(),
  qe_identity_signature: z.string(),
  qe_identity_issuer_chain: z.string(),
  pck_crl: z.string().optional(),
  root_ca_crl: z.string().optional(),
  pck_crl_issuer_chain: z.string().optional(),
});

/**
 * dcap-qvl's `QuoteCollateralV3` JSON: `tcb_info` / `qe_identity` are the
 * exact signed JSON texts, signatures are hex r‖s, CRLs hex DER.
 */
export function collateralFromDcapQvl(text: string): TdxCollateral {
  const parsed = DcapQvlSchema.safeParse(parseCollateralJson(text, "dcap-qvl collateral"));
  if (!parsed.success) throw new MalformedEvidenceError("malformed_evidence", "dcap-qvl collateral: missing or invalid members");
  const c = parsed.data;
  return {
    tcbInfo: { body: c.tcb_info, signature: signatureBytes(c.tcb_info_signature), issuerChain: c.tcb_info_issuer_chain },
    qeIdentity: { body: c.qe_identity, signature: signatureBytes(c.qe_identity_signature), issuerChain: c.qe_identity_issuer_chain },
    ...(c.pck_crl ? { pckCrl: fromHex(c.pck_crl, "pck_crl") } : {}),
    ...(c.root_ca_crl ? { rootCaCrl: fromHex(c.root_ca_crl, "root_ca_crl") } : {}),
  };
}

/** True when `text` looks like dcap-qvl collateral JSON (for input sniffing; text that is not strict JSON is not). */
export function isDcapQvlCollateral(text: string): boolean {
  try {
    const v = parseStrictJson(text);
    return typeof v === "object" && v !== null && "tcb_info" in v && "qe_identity" in v;
  } catch {
    return false;
  }
}

/** Raw Intel PCS v4 responses: the bodies as received, the issuer-chain headers (URL-decoded PEM), and the CRLs (DER). */
export interface PcsResponses {
  readonly tcbInfo: string;
  readonly tcbInfoIssuerChain: string;
  readonly qeIdentity: string;
  readonly qeIdentityIssuerChain: string;
  readonly pckCrl?: Uint8Array;
  readonly rootCaCrl?: Uint8Array;
}

export function collateralFromPcs(r: PcsResponses): TdxCollateral {
  return {
    tcbInfo: signedCollateralFromPcs(r.tcbInfo, "tcbInfo", r.tcbInfoIssuerChain),
    qeIdentity: signedCollateralFromPcs(r.qeIdentity, "enclaveIdentity", r.qeIdentityIssuerChain),
    ...(r.pckCrl ? { pckCrl: r.pckCrl } : {}),
    ...(r.rootCaCrl ? { rootCaCrl: r.rootCaCrl } : {}),
  };
}
