import "./reflect-shim.ts";
import * as x509 from "@peculiar/x509";

/**
 * Certificate hierarchies and CRLs generated at test time with @peculiar/x509
 * (an encoder independent of the validator's own DER parser).
 */
export type KeyAlg = "P-256" | "P-384" | "P-521" | "RSA-PSS" | "RSA";

export interface Issued {
  readonly cert: x509.X509Certificate;
  readonly der: Uint8Array;
  readonly keys: CryptoKeyPair;
  readonly alg: KeyAlg;
}

const YEAR = 365 * 24 * 3600 * 1000;
/** The validation time of the generated hierarchies. */
export const NOW = new Date("2030-01-01T00:00:00Z");

function keyParams(alg: KeyAlg): SubtleCryptoGenerateKeyAlgorithm {
  switch (alg) {
    case "P-256":
    case "P-384":
    case "P-521":
      return { name: "ECDSA", namedCurve: alg };
    case "RSA-PSS":
      return { name: "RSA-PSS", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-384" };
    case "RSA":
      return { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" };
  }
}

type SignAlg = NonNullable<x509.X509CertificateCreateParamsBase["signingAlgorithm"]>;

export function signingAlgorithm(alg: KeyAlg, hash?: string): SignAlg {
  switch (alg) {
    case "P-256":
      return { name: "ECDSA", hash: hash ?? "SHA-256" } as SignAlg;
    case "P-384":
      return { name: "ECDSA", hash: hash ?? "SHA-384" } as SignAlg;
    case "P-521":
      return { name: "ECDSA", hash: hash ?? "SHA-512" } as SignAlg;
    case "RSA-PSS":
      return { name: "RSA-PSS", hash: hash ?? "SHA-384", saltLength: 48 } as SignAlg;
    case "RSA":
      return { name: "RSASSA-PKCS1-v1_5", hash: hash ?? "SHA-256" } as SignAlg;
  }
}

const keyCache = new Map<string, Promise<CryptoKeyPair>>();
/** Key pairs are cached per label so a table of cases does not regenerate RSA keys. */
export function keyPair(alg: KeyAlg, label = "default"): Promise<CryptoKeyPair> {
  const id = `${alg}/${label}`;
  let p = keyCache.get(id);
  if (!p) {
    p = crypto.subtle.generateKey(keyParams(alg), true, ["sign", "verify"]) as Promise<CryptoKeyPair>;
    keyCache.set(id, p);
  }
  return p;
}

export interface IssueOptions {
  name: string | x509.Name;
  /** Issuer; a self-signed certificate when absent. */
  issuer?: Issued;
  /** Use this subject DN for the issuer field instead of the issuer's (forgeries). */
  issuerName?: string | x509.Name;
  alg?: KeyAlg;
  keyLabel?: string;
  notBefore?: Date;
  notAfter?: Date;
  /** basicConstraints: `undefined` omits the extension. */
  ca?: { ca: boolean; pathLen?: number } | undefined;
  keyUsage?: x509.KeyUsageFlags | undefined;
  extensions?: x509.Extension[];
  signingHash?: string;
  serial?: string;
  /**
   * subjectKeyIdentifier and (unless self-signed) authorityKeyIdentifier, as RFC 5280 §4.2.1.1–2
   * asks and every real vendor chain has them; `false` leaves both out (the AMD VCEK profile).
   */
  keyIds?: boolean;
}

let serialCounter = 0x1000;

export async function issue(o: IssueOptions): Promise<Issued> {
  const alg = o.alg ?? "P-256";
  const keys = await keyPair(alg, o.keyLabel ?? o.name.toString());
  const extensions: x509.Extension[] = [];
  if (o.ca) extensions.push(new x509.BasicConstraintsExtension(o.ca.ca, o.ca.pathLen, true));
  if (o.keyUsage !== undefined) extensions.push(new x509.KeyUsagesExtension(o.keyUsage, true));
  if (o.keyIds !== false) {
    extensions.push(await x509.SubjectKeyIdentifierExtension.create(keys.publicKey));
    if (o.issuer) extensions.push(await x509.AuthorityKeyIdentifierExtension.create(o.issuer.keys.publicKey));
  }
  extensions.push(...(o.extensions ?? []));
  const issuerAlg = o.issuer?.alg ?? alg;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: o.serial ?? (serialCounter++).toString(16).padStart(4, "0"),
    subject: o.name,
    issuer: o.issuerName ?? o.issuer?.cert.subjectName ?? o.name,
    notBefore: o.notBefore ?? new Date(NOW.getTime() - 5 * YEAR),
    notAfter: o.notAfter ?? new Date(NOW.getTime() + 5 * YEAR),
    signingAlgorithm: signingAlgorithm(issuerAlg, o.signingHash),
    publicKey: keys.publicKey,
    signingKey: (o.issuer?.keys ?? keys).privateKey,
    extensions,
  });
  return { cert, der: new Uint8Array(cert.rawData), keys, alg };
}

export const CA_USAGE = x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign;
export const LEAF_USAGE = x509.KeyUsageFlags.digitalSignature;

/** root (CA) → intermediate (CA, pathLen 0) → leaf, with defaults valid at {@link NOW}. */
export async function hierarchy(opts: { rootAlg?: KeyAlg; intAlg?: KeyAlg; leafAlg?: KeyAlg; tag?: string } = {}): Promise<{ root: Issued; intermediate: Issued; leaf: Issued }> {
  const tag = opts.tag ?? "";
  const root = await issue({ name: `CN=Test Root${tag}, O=Warden Tests`, alg: opts.rootAlg ?? "P-384", ca: { ca: true }, keyUsage: CA_USAGE });
  const intermediate = await issue({
    name: `CN=Test Intermediate${tag}, O=Warden Tests`,
    issuer: root,
    alg: opts.intAlg ?? "P-256",
    ca: { ca: true, pathLen: 0 },
    keyUsage: CA_USAGE,
  });
  const leaf = await issue({ name: `CN=Test Leaf${tag}, O=Warden Tests`, issuer: intermediate, alg: opts.leafAlg ?? "P-256", keyUsage: LEAF_USAGE });
  return { root, intermediate, leaf };
}

let crlCounter = 1;

/** A CRL of `issuer`, with a cRLNumber (RFC 5280 §5.2.3) unless `crlNumber` is null or given as an extension of its own. */
export async function crl(
  issuer: Issued,
  opts: { revoked?: string[]; thisUpdate?: Date; nextUpdate?: Date | null; signer?: Issued; crlNumber?: x509.Extension | null } = {},
): Promise<Uint8Array> {
  const signer = opts.signer ?? issuer;
  const number = opts.crlNumber === undefined ? new x509.Extension("2.5.29.20", false, Uint8Array.of(0x02, 0x01, crlCounter++ & 0x7f)) : opts.crlNumber;
  const made = await x509.X509CrlGenerator.create({
    ...(number ? { extensions: [number] } : {}),
    issuer: issuer.cert.subjectName,
    thisUpdate: opts.thisUpdate ?? new Date(NOW.getTime() - 24 * 3600 * 1000),
    ...(opts.nextUpdate === null ? {} : { nextUpdate: opts.nextUpdate ?? new Date(NOW.getTime() + 30 * 24 * 3600 * 1000) }),
    // A reason code on every entry: without one the generator writes an empty entry-extension list, which is not DER X.509 (SIZE 1..MAX).
    entries: (opts.revoked ?? []).map((serialNumber) => ({ serialNumber, revocationDate: new Date(NOW.getTime() - 3600 * 1000), reason: x509.X509CrlReason.keyCompromise })),
    signingAlgorithm: signingAlgorithm(signer.alg),
    signingKey: signer.keys.privateKey,
  });
  return new Uint8Array(made.rawData);
}

export { x509 };

/** Decodes base64 (with line breaks) to bytes. */
export function fromBase64(text: string): Uint8Array {
  const bin = atob(text.replace(/\s/g, ""));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

/** A copy of `bytes` with one bit flipped at `offset`. */
export function flip(bytes: Uint8Array, offset: number, mask = 0x01): Uint8Array {
  const out = bytes.slice();
  out[offset] = (out[offset] as number) ^ mask;
  return out;
}
