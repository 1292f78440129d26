import { base64url, errors as joseErrors, jwtVerify, type JWTPayload } from "jose";
import { VerificationError } from "../errors.ts";
import { utf8Bytes } from "../encoding.ts";
import { JwsShapeError, strictJwsParts } from "./jws.ts";
import type { SigningKey } from "./keys.ts";

/** Every token Warden issues names itself in `typ`, so one kind can never stand in for another. */
export type WardenTokenType = "warden-session+jwt" | "warden-action+jwt" | "warden-reviewer+jwt";

export const ISSUER = "warden";

/** Encoded protected headers by key and type: the same few strings for every token an isolate signs. */
const headers = new Map<string, string>();

function encodedHeader(key: SigningKey, typ: WardenTokenType): string {
  const id = `${key.kid} ${typ}`;
  let header = headers.get(id);
  if (header === undefined) {
    header = base64url.encode(JSON.stringify({ alg: "EdDSA", typ, kid: key.kid }));
    if (headers.size >= 16) headers.clear();
    headers.set(id, header);
  }
  return header;
}

/** When a token signed at `now` for `ttlSeconds` expires, in ms: `exp` counts whole seconds from its issue time's second. */
export function tokenExpiresAt(now: number, ttlSeconds: number): number {
  return (Math.floor(now / 1000) + ttlSeconds) * 1000;
}

/**
 * Signs `claims` as a compact JWS (RFC 7515, EdDSA) with `typ`, `kid`, `iss`, `aud`, `iat` and
 * `exp` set from `now`. Built here over WebCrypto rather than with jose's `SignJWT`: an action
 * token is signed on every permit, and the work is one Ed25519 signature over two base64url
 * strings, the header's the same for every token of a type, so only the claims are encoded
 * per token.
 */
export async function signWardenJwt(
  key: SigningKey,
  typ: WardenTokenType,
  claims: JWTPayload,
  { now, ttlSeconds }: { now: number; ttlSeconds: number },
): Promise<{ token: string; expiresAt: number }> {
  const iat = Math.floor(now / 1000);
  const exp = tokenExpiresAt(now, ttlSeconds) / 1000;
  const input = `${encodedHeader(key, typ)}.${base64url.encode(JSON.stringify({ ...claims, iss: ISSUER, aud: typ, iat, exp }))}`;
  const signature = await crypto.subtle.sign("Ed25519", key.privateKey, utf8Bytes(input));
  return { token: `${input}.${base64url.encode(new Uint8Array(signature))}`, expiresAt: exp * 1000 };
}

/**
 * Verifies a token Warden issued: EdDSA only (so `none` and HMAC are refused before any
 * key is used), our `kid`, the expected `typ` and audience, `exp` against `now`, and the
 * deployment's `tenant` (`tnt`): another tenant's deployment sharing the key is not ours to honour.
 */
export async function verifyWardenJwt(
  token: string,
  key: SigningKey,
  typ: WardenTokenType,
  now: number,
  tenant: string,
): Promise<JWTPayload> {
  try {
    // Two equal claims (`sub`, `scope`…) are refused here rather than read as jose's JSON.parse reads them.
    strictJwsParts(token);
    const { payload, protectedHeader } = await jwtVerify(token, key.publicKey, {
      algorithms: ["EdDSA"],
      typ,
      issuer: ISSUER,
      audience: typ,
      currentDate: new Date(now),
      requiredClaims: ["exp", "iat", "sub", "jti"],
    });
    if (protectedHeader.kid !== key.kid) throw new VerificationError("invalid_token", "token was signed by another key");
    if (payload["tnt"] !== tenant) throw new VerificationError("invalid_token", "the token belongs to another tenant");
    return payload;
  } catch (cause) {
    if (cause instanceof VerificationError) throw cause;
    if (cause instanceof JwsShapeError) throw new VerificationError("invalid_token", `token is not a strict JWS (${cause.code})`, { cause });
    if (cause instanceof joseErrors.JOSEError) throw new VerificationError("invalid_token", `token rejected: ${cause.code}`, { cause });
    throw new VerificationError("invalid_token", "token could not be parsed", { cause });
  }
}
