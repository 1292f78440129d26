import { z } from "zod";
import { StrictJsonError, parseStrictJson, type JsonValue } from "../../json/strict.ts";
import { EvidenceVerificationError, MalformedEvidenceError } from "../errors.ts";
import { concatBytes, fromHex } from "../reader.ts";
import { ecdsaVerifyKey, memoised, nameValues, parseCertificatesPem, type Certificate, type Crl } from "../x509/certificate.ts";
import { validatePath, type TrustAnchor } from "../x509/path.ts";

/**
 * Intel PCS collateral for TDX: TCB Info (`id` "TDX", version 3) and QE
 * Identity (`id` "TD_QE", version 2), each a JSON object signed with ECDSA
 * P-256 / SHA-256 (raw r‖s, hex) by the Intel SGX TCB Signing certificate
 * (that common name), issued directly by the Intel SGX Root CA. The signature covers the exact
 * bytes of the object as they appear in the PCS response body, so the text is
 * kept as received and never re-serialised.
 */
export interface SignedCollateral {
  /** The exact signed JSON text of the `tcbInfo` / `enclaveIdentity` object. */
  readonly body: string;
  /** 64 bytes, r ‖ s. */
  readonly signature: Uint8Array;
  /** PEM: the TCB Signing certificate (then, optionally, the root). */
  readonly issuerChain: string;
}

export const TCB_STATUSES = [
  "UpToDate",
  "SWHardeningNeeded",
  "ConfigurationNeeded",
  "ConfigurationAndSWHardeningNeeded",
  "OutOfDate",
  "OutOfDateConfigurationNeeded",
  "Revoked",
] as const;
export type TcbStatus = (typeof TCB_STATUSES)[number];

const hex = (bytes: number) => z.string().regex(new RegExp(`^[0-9a-fA-F]{${2 * bytes}}$`));
const time = z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/);
const svn = z.object({ svn: z.int().min(0).max(255) });
const status = z.enum(TCB_STATUSES);
const advisories = z.array(z.string().max(64)).max(256).optional();

const TcbInfoSchema = z.object({
  id: z.literal("TDX"),
  version: z.literal(3),
  issueDate: time,
  nextUpdate: time,
  fmspc: hex(6),
  pceId: hex(2),
  tcbType: z.literal(0),
  tcbEvaluationDataNumber: z.int().min(0),
  tdxModule: z.object({ mrsigner: hex(48), attributes: hex(8), attributesMask: hex(8) }),
  tdxModuleIdentities: z
    .array(
      z.object({
        id: z.string().regex(/^TDX_[0-9A-Fa-f]{2}$/),
        mrsigner: hex(48),
        attributes: hex(8),
        attributesMask: hex(8),
        tcbLevels: z.array(z.object({ tcb: z.object({ isvsvn: z.int().min(0).max(255) }), tcbDate: time, tcbStatus: status, advisoryIDs: advisories })).min(1).max(64),
      }),
    )
    .max(64)
    .optional(),
  tcbLevels: z
    .array(
      z.object({
        tcb: z.object({ sgxtcbcomponents: z.array(svn).length(16), pcesvn: z.int().min(0).max(0xffff), tdxtcbcomponents: z.array(svn).length(16) }),
        tcbDate: time,
        tcbStatus: status,
        advisoryIDs: advisories,
      }),
    )
    .min(1)
    .max(256),
});
export type TcbInfo = z.infer<typeof TcbInfoSchema>;

const QeIdentitySchema = z.object({
  id: z.literal("TD_QE"),
  version: z.literal(2),
  issueDate: time,
  nextUpdate: time,
  tcbEvaluationDataNumber: z.int().min(0),
  miscselect: hex(4),
  miscselectMask: hex(4),
  attributes: hex(16),
  attributesMask: hex(16),
  mrsigner: hex(32),
  isvprodid: z.int().min(0).max(0xffff),
  tcbLevels: z.array(z.object({ tcb: z.object({ isvsvn: z.int().min(0).max(0xffff) }), tcbDate: time, tcbStatus: status, advisoryIDs: advisories })).min(1).max(64),
});
export type QeIdentity = z.infer<typeof QeIdentitySchema>;

/** Largest collateral document accepted (a TDX TCB Info is a few KiB). */
const MAX_COLLATERAL_TEXT = 256 * 1024;

function malformed(message: string): never {
  throw new MalformedEvidenceError("malformed_evidence", `collateral: ${message}`);
}

/**
 * A collateral text read with the strict JSON reader: duplicate names, lone
 * surrogates or unsafe numbers anywhere make a document two readers read
 * differently, so it is refused as malformed.
 */
export function parseCollateralJson(text: string, what: string): JsonValue {
  try {
    return parseStrictJson(text);
  } catch (error) {
    if (error instanceof StrictJsonError) malformed(`${what} is not strict JSON (${error.code})`);
    throw error;
  }
}

/**
 * The exact text of each top-level member of a JSON object, by key, without
 * re-serialising (the signature is over these bytes). The whole text must be
 * strict JSON first, so duplicate keys are refused: with two `tcbInfo`
 * members, which one was signed would be ambiguous.
 */
export function topLevelMembers(text: string): Map<string, string> {
  if (text.length > MAX_COLLATERAL_TEXT) malformed(`document of ${text.length} characters`);
  parseCollateralJson(text, "the document");
  const out = new Map<string, string>();
  let i = 0;
  const ws = () => {
    while (i < text.length && " \t\r\n".includes(text[i] as string)) i++;
  };
  const skipString = () => {
    // Precondition: text[i] === '"'.
    i++;
    while (i < text.length && text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
    i++;
  };
  const skipValue = () => {
    const c = text[i];
    if (c === '"') return skipString();
    if (c === "{" || c === "[") {
      // The text parsed as strict JSON above, so brackets outside strings balance.
      let depth = 0;
      while (i < text.length) {
        const d = text[i];
        if (d === '"') {
          skipString();
          continue;
        }
        if (d === "{" || d === "[") depth++;
        else if (d === "}" || d === "]") {
          depth--;
          if (depth === 0) {
            i++;
            return;
          }
        }
        i++;
      }
      malformed("unterminated value");
    }
    // A number, true, false or null ends at the next structural character or space.
    while (i < text.length && !",}] \t\r\n".includes(text[i] as string)) i++;
  };
  ws();
  if (text[i] !== "{") malformed("not a JSON object");
  i++;
  ws();
  if (text[i] === "}") return out;
  for (;;) {
    ws();
    if (text[i] !== '"') malformed("expected a key");
    const keyStart = i;
    skipString();
    const key = parseStrictJson(text.slice(keyStart, i)) as string;
    ws();
    if (text[i] !== ":") malformed("expected ':'");
    i++;
    ws();
    const start = i;
    skipValue();
    out.set(key, text.slice(start, i));
    ws();
    if (text[i] === ",") {
      i++;
      continue;
    }
    if (text[i] === "}") break;
    malformed("expected ',' or '}'");
  }
  return out;
}

/**
 * A raw Intel PCS v4 response body (`{"tcbInfo":{…},"signature":"…"}` or
 * `{"enclaveIdentity":{…},"signature":"…"}`) and the issuer chain from its
 * `TCB-Info-Issuer-Chain` / `SGX-Enclave-Identity-Issuer-Chain` header.
 */
export function signedCollateralFromPcs(body: string, member: "tcbInfo" | "enclaveIdentity", issuerChain: string): SignedCollateral {
  const members = topLevelMembers(body);
  const signed = members.get(member);
  const signature = members.get("signature");
  if (!signed || !signature) malformed(`PCS response without ${member} and signature`);
  return { body: signed, signature: signatureBytes(parseStrictJson(signature)), issuerChain };
}

/** A 64-byte r ‖ s signature from its hex text. */
export function signatureBytes(text: unknown): Uint8Array {
  if (typeof text !== "string" || !/^[0-9a-fA-F]{128}$/.test(text)) malformed("signature is not 64 bytes of hex");
  return fromHex(text);
}

/** When the document says it is valid. */
function checkWindow(doc: { issueDate: string; nextUpdate: string }, at: Date, what: string): void {
  const t = at.getTime();
  if (t < Date.parse(doc.issueDate)) throw new EvidenceVerificationError("collateral_not_yet_valid", `${what} issued ${doc.issueDate}`);
  if (t > Date.parse(doc.nextUpdate)) throw new EvidenceVerificationError("collateral_expired", `${what} next update was due ${doc.nextUpdate}`);
}

export interface CollateralCheck {
  /** Certificate validity, CRLs. */
  readonly now: Date;
  /** The documents' own issueDate/nextUpdate window is checked at this time (collateral has its own clock). */
  readonly collateralTime: Date;
  readonly anchors: readonly TrustAnchor[];
  readonly rootCrls: readonly Crl[];
  readonly requireCrls: boolean;
}

/**
 * Documents whose signature already verified in this isolate, by object: a
 * route that keeps its collateral objects (the R2 cache) pays for parsing and
 * the signature once. The signer's chain is still validated at every use,
 * against the time and CRLs of that use.
 */
const verifiedDocuments = new WeakMap<SignedCollateral, { certs: Certificate[]; value: unknown; what: string }>();

/** The common name of Intel's TCB Info / QE Identity signer, as in its certificate (and Intel's QVL). */
export const TCB_SIGNER_CN = "Intel SGX TCB Signing";
const COMMON_NAME = "2.5.4.3";

async function verifySigned<T>(doc: SignedCollateral, check: CollateralCheck, what: string, parse: (value: unknown) => T): Promise<T> {
  const known = verifiedDocuments.get(doc);
  const certs = known?.certs ?? parseCertificatesPem(doc.issuerChain, `${what} issuer chain`);
  const [signer, ...rest] = certs;
  if (!signer) malformed(`${what}: empty issuer chain`);
  // As Intel's QVL: the signer is the Intel SGX TCB Signing certificate, issued by the root itself.
  // Any other leaf under the root (a PCK, whose key sits in every platform) must not vouch for TCB levels.
  const names = nameValues(signer.subject, COMMON_NAME, `${what} signer subject`);
  if (names.length !== 1 || names[0] !== TCB_SIGNER_CN) {
    throw new EvidenceVerificationError("chain_untrusted", `${what}: signed by ${signer.subjectText}, not the ${TCB_SIGNER_CN} certificate`);
  }
  await validatePath(signer, {
    now: check.now,
    anchors: check.anchors,
    // Signer → root, nothing between (the chain's second certificate is the root itself).
    intermediates: rest,
    maxIntermediates: 0,
    crls: check.rootCrls,
    requireCrls: check.requireCrls,
    leafKeyUsage: ["digitalSignature"],
    profile: "tdx",
  });
  // The same object verified before as this kind of document: its parsed form (the cache is per kind, via `what`).
  if (known && known.what === what) return known.value as T;
  const key = await ecdsaVerifyKey(signer, "P-256", "SHA-256");
  const signed = new TextEncoder().encode(doc.body);
  const ok = await memoised(concatBytes(doc.signature, signed), signer.spki, () => crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, doc.signature, signed));
  if (!ok) throw new EvidenceVerificationError("collateral_signature_invalid", `${what}: signature does not verify with ${signer.subjectText}`);
  // The signature covered the raw text; what is read from it is read strictly.
  const value = parse(parseCollateralJson(doc.body, what));
  verifiedDocuments.set(doc, { certs, value, what });
  return value;
}

function schemaParse<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new MalformedEvidenceError("malformed_evidence", `${what}: ${issue ? `${issue.path.join(".")}: ${issue.message}` : "invalid"}`);
  }
  return parsed.data;
}

/** Verifies a TCB Info document (chain, signature over the exact text, then shape and validity window). */
export async function verifyTcbInfo(doc: SignedCollateral, check: CollateralCheck): Promise<TcbInfo> {
  const info = await verifySigned(doc, check, "TCB Info", (v) => schemaParse(TcbInfoSchema, v, "TCB Info"));
  checkWindow(info, check.collateralTime, "TCB Info");
  return info;
}

/** Verifies a QE Identity document the same way. */
export async function verifyQeIdentity(doc: SignedCollateral, check: CollateralCheck): Promise<QeIdentity> {
  const identity = await verifySigned(doc, check, "QE Identity", (v) => schemaParse(QeIdentitySchema, v, "QE Identity"));
  checkWindow(identity, check.collateralTime, "QE Identity");
  return identity;
}
