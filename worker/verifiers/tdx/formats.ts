import { z } from "zod";
import { MalformedEvidenceError, readable } from "../errors.ts";
import { fromHex } from "../reader.ts";
import { crlNotOlder, parseCrlCached, type Crl } from "../x509/certificate.ts";
import { parseCollateralJson, signatureBytes, signedCollateralFromPcs } from "./collateral.ts";
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

type DcapQvl = z.infer<typeof DcapQvlSchema>;

/** A signed document's age: its TCB evaluation data number, then its issue date. */
function documentAge(body: string): { evaluation: number; issued: number } | undefined {
  const value = readable(() => parseCollateralJson(body, "collateral")) as Record<string, unknown> | undefined;
  const evaluation = value?.["tcbEvaluationDataNumber"];
  const issued = typeof value?.["issueDate"] === "string" ? Date.parse(value["issueDate"]) : NaN;
  return typeof evaluation === "number" && Number.isSafeInteger(evaluation) && !Number.isNaN(issued) ? { evaluation, issued } : undefined;
}

/** True unless `held` is newer than `candidate` by either measure (a document both older and newer keeps `held`). */
function documentNotOlder(candidate: string, held: string): boolean {
  const c = documentAge(candidate);
  const h = documentAge(held);
  if (!c || !h) return true;
  return c.evaluation >= h.evaluation && c.issued >= h.issued;
}

/** The same, for CRLs of one issuer (see crlNotOlder); CRLs that do not read go to the candidate. */
function crlTextNotOlder(candidate: string, held: string): boolean {
  const c: Crl | undefined = readable(() => parseCrlCached(fromHex(candidate)));
  const h: Crl | undefined = readable(() => parseCrlCached(fromHex(held)));
  return !c || !h || crlNotOlder(c, h);
}

/**
 * dcap-qvl collateral made of the newest of each piece of `candidate` (a client's, or a fresh
 * download) and `held` (the verified cached copy): TCB Info and QE Identity by
 * tcbEvaluationDataNumber and issueDate, the PCK and Root CA CRLs by thisUpdate and cRLNumber.
 * A piece of `held` newer than the candidate's replaces it, so replaying older genuine collateral
 * (a PCK CRL from before a revocation, a TCB evaluation from before a recovery) does not roll
 * back what the verifier appraises with, and a CRL the candidate lacks is the held one; ties and pieces that do not read go to the candidate,
 * so what the client sent is verified as sent. Nothing here verifies: the result is verified
 * as a whole before it is used or kept.
 */
export function newestDcapQvlCollateral(candidate: string, held: string): string {
  const read = (text: string, what: string): DcapQvl => {
    const parsed = DcapQvlSchema.safeParse(parseCollateralJson(text, what));
    if (!parsed.success) throw new MalformedEvidenceError("malformed_evidence", `${what}: missing or invalid members`);
    return parsed.data;
  };
  const c = read(candidate, "dcap-qvl collateral");
  const h = read(held, "held dcap-qvl collateral");
  const tcb = documentNotOlder(c.tcb_info, h.tcb_info) ? c : h;
  const qe = documentNotOlder(c.qe_identity, h.qe_identity) ? c : h;
  // A CRL the candidate lacks is the held one: more revocation data, never less.
  const pck = c.pck_crl === undefined ? h : h.pck_crl === undefined || crlTextNotOlder(c.pck_crl, h.pck_crl) ? c : h;
  const root = c.root_ca_crl === undefined ? h : h.root_ca_crl === undefined || crlTextNotOlder(c.root_ca_crl, h.root_ca_crl) ? c : h;
  return JSON.stringify({
    tcb_info: tcb.tcb_info,
    tcb_info_signature: tcb.tcb_info_signature,
    tcb_info_issuer_chain: tcb.tcb_info_issuer_chain,
    qe_identity: qe.qe_identity,
    qe_identity_signature: qe.qe_identity_signature,
    qe_identity_issuer_chain: qe.qe_identity_issuer_chain,
    ...(pck.pck_crl !== undefined ? { pck_crl: pck.pck_crl } : {}),
    ...(pck.pck_crl_issuer_chain !== undefined ? { pck_crl_issuer_chain: pck.pck_crl_issuer_chain } : {}),
    ...(root.root_ca_crl !== undefined ? { root_ca_crl: root.root_ca_crl } : {}),
  });
}

/** True when `text` looks like dcap-qvl collateral JSON (for input sniffing; text that is not strict JSON is not). */
export function isDcapQvlCollateral(text: string): boolean {
  const v = readable(() => parseCollateralJson(text, "collateral"));
  return typeof v === "object" && v !== null && "tcb_info" in v && "qe_identity" in v;
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
