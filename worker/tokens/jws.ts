import { base64url } from "jose";
import { StrictJsonError, parseStrictJson, type JsonValue } from "../json/strict.ts";

/** Why a compact JWS was refused before it reached jose. */
export type JwsShapeCode = "not_compact_jws" | "not_base64url" | "not_an_object" | StrictJsonError["code"];

/** A compact JWS whose header or payload is not strict JSON; each boundary reports it with its own code. */
export class JwsShapeError extends Error {
  readonly code: JwsShapeCode;

  constructor(code: JwsShapeCode, part: "header" | "payload" | "token", options?: { cause?: unknown }) {
    super(`the JWS ${part} is refused: ${code}`, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A compact JWS's protected header and payload, each a strictly parsed JSON object. */
export interface StrictJwsParts {
  header: { [key: string]: JsonValue | undefined };
  payload: { [key: string]: JsonValue | undefined };
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;

/**
 * Reads a compact JWS's protected header and payload with the strict JSON reader
 * (RFC 7515 §7.1). jose parses both with JSON.parse, which keeps the last of two equal
 * claims where other JOSE libraries keep the first, so every JWS Warden verifies
 * passes through here first: a header with two `alg`s or a payload with two `htu`s
 * never reaches a verifier that would read one of them. Throws {@link JwsShapeError}.
 */
export function strictJwsParts(token: string): StrictJwsParts {
  const parts = token.split(".");
  if (parts.length !== 3) throw new JwsShapeError("not_compact_jws", "token");
  return { header: strictObject(parts[0] as string, "header"), payload: strictObject(parts[1] as string, "payload") };
}

function strictObject(segment: string, part: "header" | "payload"): StrictJwsParts["header"] {
  if (segment.length === 0 || !BASE64URL.test(segment)) throw new JwsShapeError("not_base64url", part);
  let bytes: Uint8Array;
  try {
    bytes = base64url.decode(segment);
  } catch (cause) {
    throw new JwsShapeError("not_base64url", part, { cause });
  }
  let value: JsonValue;
  try {
    value = parseStrictJson(bytes);
  } catch (cause) {
    if (!(cause instanceof StrictJsonError)) throw cause;
    throw new JwsShapeError(cause.code, part, { cause });
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new JwsShapeError("not_an_object", part);
  return value;
}
