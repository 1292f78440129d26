/**
 * Part J: cold start of the production entry (worker/index.ts). Every figure is one fresh workerd
 * process (a new Miniflare), timed from
 * just before it is created until an answer: to `/healthz`, and to the first `POST
 * /v1/decisions` with the default bundle already active and the device registered (state
 * persisted by a setup process, its DPoP proof signed before the clock starts); beside the same
 * for a trivial worker that answers `/healthz` and nothing else. Runs are interleaved
 * (trivial, Warden /healthz, Warden decision) so that drift hits all three alike.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { Log, LogLevel, Miniflare } from "miniflare";
import { WardenClient, generateDeviceKey } from "../cli/client.ts";
import { activateDefault } from "./bundles.ts";
import { DECISION } from "./http.ts";
import { freePort } from "../test/free-port.ts";
import { benchSecrets, bundleWorker, startServer, wranglerConfig } from "./server.ts";
import { median } from "./timing.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** The trivial worker: the same runtime, flags and module format, no bindings, one answer. */
const TRIVIAL = `export default { fetch() { return Response.json({ status: "ok" }); } };`;

export interface ColdSide {
  /** Median ms from creating the process until it listens (Miniflare's `ready`). */
  readyMs: number;
  /** Median ms from creating the process until the answer's body is read. */
  answerMs: number;
  all: { readyMs: number; answerMs: number }[];
}

export interface ColdResults {
  runs: number;
  /** What a new process loads: the bundled production worker and the Cedar module beside it. */
  scriptBytes: number;
  wasmBytes: number;
  trivial: ColdSide;
  healthz: ColdSide;
  decision: ColdSide;
}


function side(all: ColdSide["all"]): ColdSide {
  return { readyMs: median(all.map((one) => one.readyMs)), answerMs: median(all.map((one) => one.answerMs)), all };
}

export async function runCold(options: { runs: number }, log: (line: string) => void = () => {}): Promise<ColdResults> {
  const dir = mkdtempSync(join(tmpdir(), "warden-bench-start-"));
  try {
    const secrets = benchSecrets();
    // The production entry, not the bench build: what a real isolate loads, without the bench's routes and fixtures.
    const script = await bundleWorker("worker/index.ts");
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    // Setup: the default bundle active and one device with an open session, persisted for every later process.
    const setup = await startServer({ persistRoot: dir, secrets, script, port, production: true });
    const client = new WardenClient({ url, deviceId: `cold-${crypto.randomUUID().slice(0, 8)}`, key: await generateDeviceKey("EdDSA") });
    let token: string;
    try {
      await activateDefault(setup);
      const registered = await client.register(setup.adminToken, "linux");
      if (registered.status !== 201) throw new Error(`registration failed: ${registered.status}`);
      token = await client.openSession();
    } finally {
      await setup.mf.dispose();
    }

    const config = wranglerConfig();
    const timed = async (start: () => Promise<{ url: string; dispose(): Promise<void> }>, request: () => Promise<Request>, expect: (status: number, text: string) => void) => {
      const prepared = await request();
      const t0 = performance.now();
      const server = await start();
      const readyMs = performance.now() - t0;
      try {
        const response = await fetch(new Request(prepared.url.replace(url, server.url), prepared));
        const text = await response.text();
        const answerMs = performance.now() - t0;
        expect(response.status, text);
        return { readyMs, answerMs };
      } finally {
        await server.dispose();
      }
    };
    const warden = async () => {
      const server = await startServer({ persistRoot: dir, secrets, script, port, production: true });
      return { url: server.url, dispose: () => server.mf.dispose() };
    };
    const trivial = async () => {
      const mf = new Miniflare({
        log: new Log(LogLevel.WARN),
        cf: false,
        compatibilityDate: config.compatibility_date,
        compatibilityFlags: config.compatibility_flags ?? [],
        host: "127.0.0.1",
        port,
        modules: [{ type: "ESModule", path: resolve(root, "bench/trivial.js"), contents: TRIVIAL }],
      });
      const ready = (await mf.ready).toString().replace(/\/+$/, "");
      return { url: ready, dispose: () => mf.dispose() };
    };
    const healthz = async () => new Request(`${url}/healthz`);
    const decision = async () =>
      new Request(`${url}/v1/decisions`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `DPoP ${token}`, dpop: await client.proof("POST", "/v1/decisions", { accessToken: token }) },
        body: JSON.stringify(DECISION),
      });
    const ok = (status: number, text: string) => {
      if (status !== 200) throw new Error(`answered ${status}: ${text}`);
    };
    const permitted = (status: number, text: string) => {
      ok(status, text);
      const body = JSON.parse(text) as { decision?: string; token?: string; log?: unknown };
      if (body.decision !== "permit" || !body.token || !body.log) throw new Error(`the first decision was not a logged permit with a token: ${text}`);
    };

    const results = { trivial: [] as ColdSide["all"], healthz: [] as ColdSide["all"], decision: [] as ColdSide["all"] };
    for (let run = 0; run < options.runs; run += 1) {
      results.trivial.push(await timed(trivial, healthz, ok));
      results.healthz.push(await timed(warden, healthz, ok));
      results.decision.push(await timed(warden, decision, permitted));
      log(`  run ${run + 1}: trivial ${results.trivial.at(-1)!.answerMs.toFixed(0)} ms, /healthz ${results.healthz.at(-1)!.answerMs.toFixed(0)} ms, first decision ${results.decision.at(-1)!.answerMs.toFixed(0)} ms`);
    }
    return {
      runs: options.runs,
      scriptBytes: Buffer.byteLength(script),
      wasmBytes: readFileSync(resolve(root, "node_modules/@cedar-policy/cedar-wasm/web/cedar_wasm_bg.wasm")).length,
      trivial: side(results.trivial),
      healthz: side(results.healthz),
      decision: side(results.decision),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
