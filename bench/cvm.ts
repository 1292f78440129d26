/**
 * D. SEV-SNP and TDX verification in-isolate, beside their floors, on real hardware evidence
 * (test/fixtures/attestation: s2 Milan report at 2026-11-22, t1 TDX quote with its dcap-qvl
 * collateral at 2025-07-01, the times their MANIFESTs give). Chains and collateral are
 * verified and cached by the first call, as in production; the floor is the signature work
 * every call must still do, keys imported once:
 *
 *   SNP: one ECDSA P-384 / SHA-384 verify of bytes 0x000–0x29F with the VCEK.
 *   TDX: two ECDSA P-256 verifies: the QE report by the PCK key, the quote by the attestation key.
 *
 *   POST /bench/cvm   (bench/worker.ts) → µs per call, median of batches
 */
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../worker/context.ts";
import { concatBytes, fromHex } from "../worker/verifiers/reader.ts";
import { parseSnpReport, SIGNED_SIZE } from "../worker/verifiers/sev-snp/report.ts";
import { pinnedSnpTrust } from "../worker/verifiers/sev-snp/trust.ts";
import { snpSignatureP1363, verifySnpReport } from "../worker/verifiers/sev-snp/verify.ts";
import { collateralFromDcapQvl } from "../worker/verifiers/tdx/formats.ts";
import { parseTdxQuote, tdxQuoteLength } from "../worker/verifiers/tdx/quote.ts";
import { pinnedTdxTrust, verifyTdxQuote } from "../worker/verifiers/tdx/verify.ts";
import { parseCertificate, parseCertificatesPem } from "../worker/verifiers/x509/certificate.ts";
import { timeAsync, type Timing } from "./timing.ts";


function fromB64(text: string): Uint8Array {
  return Uint8Array.from(atob(text.trim()), (c) => c.charCodeAt(0));
}

export interface CvmFixtures {
  snpReportHex: string;
  snpVcekB64: string;
  tdxQuoteB64: string;
  tdxCollateralJson: string;
}

export interface CvmBenchResult {
  kind: "sev-snp" | "tdx";
  verify: Timing;
  floor: Timing;
  /** Verifications per second at the median. */
  perSecond: number;
}

const SNP_TIME = new Date("2026-11-22T00:00:00Z");
const TDX_TIME = new Date("2025-07-01T00:00:00Z");

/** Registers POST /bench/cvm on the bench app. */
export function cvmBenchRoutes(app: OpenAPIHono<AppEnv>): void {
  app.post("/bench/cvm", async (c) => {
    const body = (await c.req.json()) as CvmFixtures & { batches?: number; batchMs?: number; warmup?: number };
    const { batches = 9, batchMs = 25, warmup = 20 } = body;

    const report = fromHex(body.snpReportHex.trim());
    const vcek = fromB64(body.snpVcekB64);
    const snpTrust = await pinnedSnpTrust();
    const verifySnp = () => verifySnpReport({ report, endorsementKey: vcek }, { now: SNP_TIME, trustAnchors: snpTrust });
    const vcekKey = await crypto.subtle.importKey("spki", parseCertificate(vcek).spki, { name: "ECDSA", namedCurve: "P-384" }, false, ["verify"]);
    const snpSignature = snpSignatureP1363(parseSnpReport(report));
    if (!snpSignature) return c.json({ error: "s2: signature not in P1363 range" }, 500);
    const signedBytes = report.subarray(0, SIGNED_SIZE);
    const snpFloor = () => crypto.subtle.verify({ name: "ECDSA", hash: "SHA-384" }, vcekKey, snpSignature, signedBytes);

    const file = fromB64(body.tdxQuoteB64);
    const quoteBytes = file.subarray(0, tdxQuoteLength(file));
    const tdxTrust = await pinnedTdxTrust();
    const collateral = collateralFromDcapQvl(body.tdxCollateralJson);
    const verifyTdx = () => verifyTdxQuote({ quote: quoteBytes }, { now: TDX_TIME, trustAnchors: tdxTrust, collateral });
    const quote = parseTdxQuote(quoteBytes);
    const [pck] = parseCertificatesPem(new TextDecoder().decode(quote.pckChain));
    if (!pck) return c.json({ error: "t1: no PCK certificate" }, 500);
    const pckKey = await crypto.subtle.importKey("spki", pck.spki, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
    const attestationKey = await crypto.subtle.importKey("raw", concatBytes(new Uint8Array([4]), quote.attestationKey), { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
    const p256 = { name: "ECDSA", hash: "SHA-256" };
    const tdxFloor = async () =>
      (await crypto.subtle.verify(p256, pckKey, quote.qeReportSignature, quote.qeReport.raw)) &&
      (await crypto.subtle.verify(p256, attestationKey, quote.signature, quote.signed));

    // Correctness first: both fixtures verify, both floors hold; the first calls also fill the caches.
    await verifySnp();
    await verifyTdx();
    if (!(await snpFloor()) || !(await tdxFloor())) return c.json({ error: "a floor signature does not verify" }, 500);

    const results: CvmBenchResult[] = [];
    for (const [kind, verify, floor] of [
      ["sev-snp", verifySnp, snpFloor],
      ["tdx", verifyTdx, tdxFloor],
    ] as const) {
      const timed = await timeAsync(verify, batches, batchMs, warmup);
      const bare = await timeAsync(floor, batches, batchMs, warmup);
      results.push({ kind, verify: timed, floor: bare, perSecond: 1e6 / timed.us });
    }
    return c.json(results, 200);
  });
}
