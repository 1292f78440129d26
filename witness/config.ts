import { parseStrictJson } from "../worker/json/strict.ts";
import { importLogPublicKey, noteVerifierFor, type LogKey } from "../worker/log/keys.ts";
import type { NoteVerifier } from "../worker/log/note.ts";
import { isKeyName } from "../worker/log/note.ts";
import { witnessVkey } from "../worker/log/witness.ts";

/** Bindings and configuration of the witness worker (witness/wrangler.jsonc, secrets, .dev.vars). */
export interface WitnessEnv {
  /** One per log origin: the latest checkpoint this witness cosigned for it. */
  WITNESS_LOGS: DurableObjectNamespace<import("./WitnessLog.ts").WitnessLog>;
  /** The witness's name, a schema-less URL (`witness.example.com/w1`): the key name of its cosignatures. */
  WITNESS_NAME: string;
  /** Ed25519 private JWK (JSON) the witness cosigns with. Secret. */
  WITNESS_SIGNING_KEY: string;
  /**
   * The logs this witness follows (JSON): `[{"origin_prefix": "warden.example.com/log/", "keys": [<Ed25519 JWK>, …]}]`.
   * A checkpoint is accepted from an origin starting with a prefix and signed by one of its keys
   * (Warden's `/.well-known/warden-log-keys.json`); any other origin is unknown (404).
   */
  WITNESS_LOGS_CONFIG: string;
}

export interface WitnessSigner {
  name: string;
  publicKey: Uint8Array;
  privateKey: CryptoKey;
  vkey: string;
}

interface LogConfig {
  prefix: string;
  keys: LogKey[];
}

let cached: { source: string; signer: Promise<WitnessSigner> } | undefined;
let logsCached: { source: string; logs: Promise<LogConfig[]> } | undefined;

/** The witness's signing key, imported once per isolate and configuration. */
export function witnessSigner(env: WitnessEnv): Promise<WitnessSigner> {
  const source = `${env.WITNESS_NAME}\n${env.WITNESS_SIGNING_KEY}`;
  if (cached?.source !== source) {
    cached = {
      source,
      signer: (async () => {
        if (!isKeyName(env.WITNESS_NAME ?? "")) throw new Error("WITNESS_NAME must be a key name (no spaces, no +)");
        const jwk = parseStrictJson(env.WITNESS_SIGNING_KEY ?? "") as { kty?: unknown; crv?: unknown; x?: unknown; d?: unknown };
        if (jwk.kty !== "OKP" || jwk.crv !== "Ed25519" || typeof jwk.x !== "string" || typeof jwk.d !== "string") throw new Error("WITNESS_SIGNING_KEY must be an Ed25519 private JWK");
        const privateKey = await crypto.subtle.importKey("jwk", { kty: "OKP", crv: "Ed25519", x: jwk.x, d: jwk.d }, { name: "Ed25519" }, false, ["sign"]);
        const publicKey = new Uint8Array(Buffer.from(jwk.x, "base64url"));
        return { name: env.WITNESS_NAME, publicKey, privateKey, vkey: witnessVkey(env.WITNESS_NAME, publicKey) };
      })(),
    };
  }
  return cached.signer;
}

async function logsOf(env: WitnessEnv): Promise<LogConfig[]> {
  const source = env.WITNESS_LOGS_CONFIG ?? "";
  if (logsCached?.source !== source) {
    logsCached = {
      source,
      logs: (async () => {
        const list = parseStrictJson(source);
        if (!Array.isArray(list)) throw new Error("WITNESS_LOGS_CONFIG is a list of {origin_prefix, keys}");
        return Promise.all(
          list.map(async (entry) => {
            const { origin_prefix: prefix, keys } = (entry ?? {}) as { origin_prefix?: unknown; keys?: unknown };
            if (typeof prefix !== "string" || prefix.length === 0 || !Array.isArray(keys) || keys.length === 0) throw new Error("a log is {origin_prefix, keys}");
            return { prefix, keys: await Promise.all(keys.map((jwk) => importLogPublicKey(jwk as Record<string, unknown>))) };
          }),
        );
      })(),
    };
  }
  return logsCached.logs;
}

/** Verifiers of the log `origin`'s notes, or null when no configured log covers the origin. */
export async function logVerifiers(env: WitnessEnv, origin: string): Promise<NoteVerifier[] | null> {
  const log = (await logsOf(env)).find((l) => origin.startsWith(l.prefix));
  return log ? log.keys.map((key) => noteVerifierFor(key, origin)) : null;
}
