import { createHash } from "node:crypto";
import type { JWK } from "jose";
import { parseStrictJson } from "../json/strict.ts";
import { ed25519KeyId, type NoteSigner, type NoteVerifier } from "./note.ts";

/**
 * Log signing keys: Ed25519, configured as private JWKs (`LOG_SIGNING_KEY`,
 * and during a rotation `LOG_SIGNING_KEY_PREVIOUS`), published as public JWKs
 * at `/.well-known/warden-log-keys.json`. A key's `kid` is its RFC 7638
 * thumbprint; log entries name the key in force by it. Shared with the CLI,
 * which builds verifiers from the published set.
 */

/** A public log key as published: the JWK members of an Ed25519 key plus its state. */
export interface LogPublicJwk {
  kty: "OKP";
  crv: "Ed25519";
  x: string;
  kid: string;
  alg: "EdDSA";
  use: "sig";
  /** `current` signs new checkpoints; `retired` keys stay published so old ones verify. */
  status?: "current" | "previous" | "retired";
}

export interface LogKey {
  kid: string;
  publicJwk: LogPublicJwk;
  /** The 32-byte Ed25519 public key (RFC 8032 encoding). */
  publicRaw: Uint8Array;
  publicKey: CryptoKey;
  privateKey?: CryptoKey;
}

export class LogKeyError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

function base64urlBytes(value: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]*$/.test(value)) throw new LogKeyError("not base64url");
  return new Uint8Array(Buffer.from(value, "base64url"));
}

/** RFC 7638 §3.2 thumbprint of an Ed25519 key, synchronously (the Durable Object needs it inside a transaction). */
export function ed25519Thumbprint(x: string): string {
  return createHash("sha256").update(`{"crv":"Ed25519","kty":"OKP","x":"${x}"}`).digest("base64url");
}

function parseJwk(source: string, what: string): JWK {
  let jwk: unknown;
  try {
    jwk = parseStrictJson(source);
  } catch (cause) {
    throw new LogKeyError(`${what} is not strict JSON`, { cause });
  }
  if (typeof jwk !== "object" || jwk === null) throw new LogKeyError(`${what} is not a JWK`);
  const { kty, crv, x } = jwk as JWK;
  if (kty !== "OKP" || crv !== "Ed25519" || typeof x !== "string" || base64urlBytes(x).length !== 32) {
    throw new LogKeyError(`${what} must be an Ed25519 JWK`);
  }
  return jwk as JWK;
}

const kids = new Map<string, string | null>();

/** The `kid` of a configured private (or public) JWK without importing it; null when unset or unusable. Memoised: it runs on every append. */
export function logKeyIdOf(source: string | undefined): string | null {
  if (!source) return null;
  let kid = kids.get(source);
  if (kid === undefined) {
    try {
      kid = ed25519Thumbprint(parseJwk(source, "the key").x as string);
    } catch {
      kid = null;
    }
    kids.set(source, kid);
  }
  return kid;
}

function publicJwkOf(x: string, status?: LogPublicJwk["status"]): LogPublicJwk {
  return { kty: "OKP", crv: "Ed25519", x, kid: ed25519Thumbprint(x), alg: "EdDSA", use: "sig", ...(status ? { status } : {}) };
}

const imported = new Map<string, Promise<LogKey>>();

/** Imports an Ed25519 private JWK (JSON) once per isolate and value. */
export function importLogSigningKey(source: string, what = "LOG_SIGNING_KEY"): Promise<LogKey> {
  let key = imported.get(source);
  if (!key) {
    key = (async () => {
      const jwk = parseJwk(source, what);
      if (typeof jwk.d !== "string" || base64urlBytes(jwk.d).length !== 32) throw new LogKeyError(`${what} must be an Ed25519 private JWK`);
      const publicJwk = publicJwkOf(jwk.x as string);
      const privateKey = await crypto.subtle.importKey("jwk", { kty: "OKP", crv: "Ed25519", x: jwk.x, d: jwk.d }, { name: "Ed25519" }, false, ["sign"]);
      return { ...(await importLogPublicKey(publicJwk)), privateKey };
    })();
    key.catch(() => imported.delete(source));
    imported.set(source, key);
  }
  return key;
}

/** Imports a published public JWK; refuses anything but Ed25519 (no algorithm choice is left to the input). */
export async function importLogPublicKey(jwk: { kty?: unknown; crv?: unknown; x?: unknown; kid?: unknown; status?: unknown }): Promise<LogKey> {
  if (jwk.kty !== "OKP" || jwk.crv !== "Ed25519" || typeof jwk.x !== "string") throw new LogKeyError("a log key is an Ed25519 JWK");
  const publicRaw = base64urlBytes(jwk.x);
  if (publicRaw.length !== 32) throw new LogKeyError("an Ed25519 public key is 32 bytes");
  const status = jwk.status === "current" || jwk.status === "previous" || jwk.status === "retired" ? jwk.status : undefined;
  const publicJwk = publicJwkOf(jwk.x, status);
  // A kid that is not the key's own thumbprint would let one key pose as another in reports.
  if (jwk.kid !== undefined && jwk.kid !== publicJwk.kid) throw new LogKeyError(`kid ${String(jwk.kid)} is not the key's RFC 7638 thumbprint`);
  const publicKey = await crypto.subtle.importKey("raw", publicRaw, { name: "Ed25519" }, true, ["verify"]);
  return { kid: publicJwk.kid, publicJwk, publicRaw, publicKey };
}

/** Signs notes under `name` (the log's origin) with `key`. */
export function noteSignerFor(key: LogKey, name: string): NoteSigner {
  const privateKey = key.privateKey;
  if (!privateKey) throw new LogKeyError(`key ${key.kid} has no private half here`);
  return {
    name,
    keyId: ed25519KeyId(name, key.publicRaw),
    sign: async (message) => new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, privateKey, message)),
  };
}

/** Verifies notes signed under `name` by `key`; `id` is the key's kid. */
export function noteVerifierFor(key: LogKey, name: string): NoteVerifier {
  return {
    name,
    keyId: ed25519KeyId(name, key.publicRaw),
    id: key.kid,
    verify: (message, signature) => crypto.subtle.verify({ name: "Ed25519" }, key.publicKey, signature, message),
  };
}
