// Node side of part D (bench/cvm.ts): reads the fixtures and runs the in-isolate bench.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { CvmBenchResult, CvmFixtures } from "./cvm.ts";

/** Node side: reads the fixtures and runs the in-isolate bench on the bench server. */
export async function runCvm(url: string, options: { batches: number; batchMs: number; warmup: number }): Promise<CvmBenchResult[]> {
  const root = resolve(new URL("..", import.meta.url).pathname, "test/fixtures/attestation");
  const read = (path: string) => readFileSync(resolve(root, path), "utf8");
  const fixtures: CvmFixtures = {
    snpReportHex: read("sev-snp/s2-virtee-milan-v2/report_milan.hex"),
    snpVcekB64: read("sev-snp/s2-virtee-milan-v2/vcek_milan.der.b64"),
    tdxQuoteB64: read("tdx/t1-dcapqvl-v4-uptodate/tdx_quote.b64"),
    tdxCollateralJson: read("tdx/t1-dcapqvl-v4-uptodate/tdx_quote_collateral.json"),
  };
  const response = await fetch(`${url}/bench/cvm`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ ...fixtures, ...options }) });
  if (!response.ok) throw new Error(`POST /bench/cvm: ${response.status} ${await response.text()}`);
  return (await response.json()) as CvmBenchResult[];
}
