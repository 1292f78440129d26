/**
 * C. TPM quote verification in-isolate, beside its floor: the one signature verification
 * (WebCrypto, key already imported) that verifyQuote must do. Both over the real swtpm
 * vectors of test/fixtures/attestation/tpm/s1-swtpm (RSASSA-2048, ECDSA-P256, RSAPSS-2048).
 *
 *   POST /bench/tpm   (bench/worker.ts) → µs per call, median of batches
 */
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../worker/context.ts";
import vectors from "../test/fixtures/attestation/tpm/s1-swtpm/vectors.json";
import { TPM_ALG, TPM_CURVE } from "../worker/verifiers/tpm/constants.ts";
import { publicJwk } from "../worker/verifiers/tpm/keys.ts";
import { pcrDigestOf, verifyQuote } from "../worker/verifiers/tpm/quote.ts";
import { verifyTpmSignature } from "../worker/verifiers/tpm/keys.ts";
import { parseAttest, parsePublic, parseSignature } from "../worker/verifiers/tpm/structures.ts";
import { concatBytes, fromHex } from "../worker/verifiers/reader.ts";
import { timeAsync, type Timing } from "./timing.ts";

type Kind = "rsa" | "ecc" | "rsapss";
const KINDS: Kind[] = ["rsa", "ecc", "rsapss"];

function b64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}


/** The bare WebCrypto verification verifyQuote performs, with the key imported once. */
async function floorFor(kind: Kind): Promise<() => Promise<boolean>> {
  const q = vectors.quotes[kind];
  const ak = parsePublic(b64(vectors.publics[`ak_${kind}`]));
  const sig = parseSignature(b64(q.signature));
  const data = b64(q.quote);
  if (sig.sigAlg === TPM_ALG.ECDSA && ak.type === "ecc") {
    const curve = TPM_CURVE[ak.curveId]!;
    const key = await crypto.subtle.importKey("jwk", publicJwk(ak), { name: "ECDSA", namedCurve: curve.name }, false, ["verify"]);
    const pad = (v: Uint8Array) => concatBytes(new Uint8Array(curve.size - v.length), v);
    const p1363 = concatBytes(pad(sig.r), pad(sig.s));
    return () => crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, p1363, data);
  }
  if (sig.sigAlg === TPM_ALG.ECDSA) throw new Error("ECDSA signature with a non-ECC key");
  const name = sig.sigAlg === TPM_ALG.RSAPSS ? "RSA-PSS" : "RSASSA-PKCS1-v1_5";
  const key = await crypto.subtle.importKey("jwk", publicJwk(ak), { name, hash: "SHA-256" }, false, ["verify"]);
  const params = name === "RSA-PSS" ? { name, saltLength: 32 } : { name };
  return () => crypto.subtle.verify(params, key, sig.signature, data);
}

function quoteFor(kind: Kind): () => Promise<unknown> {
  const q = vectors.quotes[kind];
  const ak = parsePublic(b64(vectors.publics[`ak_${kind}`]));
  const evidence = { quote: b64(q.quote), signature: b64(q.signature), pcrs: new Map(Object.entries(q.pcrs).map(([k, v]) => [Number(k), fromHex(v)])) };
  const options = { ak, nonce: fromHex(vectors.nonce), selection: { hashAlg: TPM_ALG.SHA256, pcrs: vectors.pcrs } };
  return () => verifyQuote(evidence, options);
}

export interface TpmBenchResult {
  kind: Kind;
  verifyQuote: Timing;
  floor: Timing;
  /** Where verifyQuote's time goes: parsing both structures; verifyTpmSignature (allowlist + WebCrypto); the pcrDigest hash. */
  parse: Timing;
  signature: Timing;
  pcrDigest: Timing;
}

/** Registers POST /bench/tpm on the bench app. */
export function tpmBenchRoutes(app: OpenAPIHono<AppEnv>): void {
  app.post("/bench/tpm", async (c) => {
    const { batches = 9, batchMs = 25, warmup = 20 } = (await c.req.json()) as { batches?: number; batchMs?: number; warmup?: number };
    const results: TpmBenchResult[] = [];
    for (const kind of KINDS) {
      const floor = await floorFor(kind);
      if (!(await floor())) return c.json({ error: `${kind}: the floor's signature does not verify` }, 500);
      // Interleaved so both sides see the same isolate state.
      const quote = await timeAsync(quoteFor(kind), batches, batchMs, warmup);
      const bare = await timeAsync(floor, batches, batchMs, warmup);
      const q = vectors.quotes[kind];
      const ak = parsePublic(b64(vectors.publics[`ak_${kind}`]));
      const quoteBytes = b64(q.quote);
      const sigBytes = b64(q.signature);
      const sig = parseSignature(sigBytes);
      const values = vectors.pcrs.map((p) => fromHex((q.pcrs as Record<string, string>)[String(p)] as string));
      const parse = await timeAsync(async () => [parseAttest(quoteBytes), parseSignature(sigBytes)], batches, batchMs, warmup);
      const signature = await timeAsync(() => verifyTpmSignature(ak, sig, quoteBytes), batches, batchMs, warmup);
      const pcrDigest = await timeAsync(() => pcrDigestOf(TPM_ALG.SHA256, values), batches, batchMs, warmup);
      results.push({ kind, verifyQuote: quote, floor: bare, parse, signature, pcrDigest });
    }
    return c.json(results, 200);
  });
}

/** Node side: runs the in-isolate TPM bench on the bench server. */
export async function runTpm(url: string, options: { batches: number; batchMs: number; warmup: number }): Promise<TpmBenchResult[]> {
  const response = await fetch(`${url}/bench/tpm`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(options) });
  if (!response.ok) throw new Error(`POST /bench/tpm: ${response.status} ${await response.text()}`);
  return (await response.json()) as TpmBenchResult[];
}
