#!/usr/bin/env node
// `npm run bench`: Warden's benchmarks (see bench/README.md). Prints figures, asserts none.
//
//   A. HTTP  POST /v1/decisions against its floor (one hash-chained append to the device's DO),
//            both on the same local Miniflare running the bench build (bench/worker.ts).
//   B. Policy evaluation in-isolate: decide() against cedar-wasm over the whole policy set,
//            at 10, 100, 1,000 and 10,000 generated policies.
//
//   C. TPM quote verification in-isolate beside the signature verification it must do.
//   D. SEV-SNP and TDX verification in-isolate beside their signature floors.
//   E. The strict JSON reader in-isolate beside JSON.parse, on a decision body and a batch body.
//   F. Certificate path building: a 5-deep chain alone, with the whole TPM store as candidates, and with same-named decoys.
//   G. Command analysis (short line, pipeline of 3, 4 KiB line) beside path canonicalisation, in Node.
//
//   H. One `warden hook claude-code` call (the compiled CLI, spawned), warm and cold session,
//            beside `node -e 0` in the same run.
//   I. History: decision latency under bundles declaring 0, 5 and 20 history features, and one
//            device's history storage over 100,000 appended entries (bench/history.ts).
//
//   J. Cold start: fresh workerd processes to the first /healthz and the first decision, beside a trivial worker.
//   K. Fleet (only with --only=fleet): 10,000 devices, each its own Durable Object, deciding in waves.
//   L. Events: decision latency with OCSF event production on and off, side by side (bench/events.ts).
//
// Options: --quick (smaller counts, for a smoke run), --only=http|policy|tpm|cvm|json|x509|command|hook|history|events|cold|fleet, --json (also print raw JSON).
// The raw results are written to bench/out/results.json (git-ignored).
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { register } from "tsx/esm/api";

register();

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const args = new Set(process.argv.slice(2));
const quick = args.has("--quick");
const only = [...args].find((arg) => arg.startsWith("--only="))?.slice("--only=".length);

const { startServer } = await import("../bench/server.ts");
const { runHttp } = await import("../bench/http.ts");
const { runPolicy, probeClock, coldFirstDecision } = await import("../bench/policy.ts");
const { generateBundle } = await import("../bench/policies.ts");
const { defaultSources } = await import("../bench/bundles.ts");
const { activateDefault } = await import("../bench/bundles.ts");
const { runTpm } = await import("../bench/tpm.ts");
const { runCvm } = await import("../bench/cvm-run.ts");
const { runJson } = await import("../bench/json-run.ts");
const { runX509 } = await import("../bench/x509-run.ts");
const { benchCommandAnalysis } = await import("../bench/command.ts");
const { runHook } = await import("../bench/hook.ts");
const { runHistory } = await import("../bench/history.ts");
const { runEvents } = await import("../bench/events.ts");
const { runCold } = await import("../bench/cold.ts");
const { runFleet } = await import("../bench/fleet.ts");

const httpOptions = quick
  ? { warmup: 50, sequential: 200, blocks: 4, concurrency: 8, concurrent: 200 }
  : { warmup: 200, sequential: 2000, blocks: 8, concurrency: 8, concurrent: 1000 };
const policyOptions = quick
  ? { sizes: [10, 100, 1000], batches: 5, batchMs: 20, warmup: 20, coldRuns: 3 }
  : { sizes: [10, 100, 1000, 10000], batches: 15, batchMs: 25, warmup: 100, coldRuns: 5 };

const log = (line) => process.stderr.write(`${line}\n`);
const started = Date.now();
// Part G is pure and runs in Node, and parts J and K start their own servers: none needs the shared one.
const needsServer = only !== "command" && only !== "cold" && only !== "fleet";
if (needsServer) log(`bench: building bench/worker.ts and starting Miniflare…`);
const server = needsServer ? await startServer() : null;
/** The commit measured, and whether the working tree differs from it (read-only git). */
function tree() {
  try {
    const commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: root, encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--untracked-files=no"], { cwd: root, encoding: "utf8" }).trim() !== "";
    return { commit, dirty };
  } catch {
    return { commit: "unknown", dirty: false };
  }
}
const results = {
  date: new Date().toISOString(),
  tree: tree(),
  machine: { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version },
  quick,
  loadBefore: loadavg()[0],
};

try {
  if (server !== null) {
    // The default bundle (policy-bundles/default), active the way this tree activates bundles.
    results.defaultBundle = await activateDefault(server);
    log(`default bundle ${results.defaultBundle.digest.slice(0, 19)}…: ${results.defaultBundle.how}`);

    results.clock = await probeClock(server.url);
  }

  if (only === undefined || only === "http") {
    log(`A. HTTP on ${server.url}`);
    results.http = await runHttp(server.url, server.adminToken, httpOptions, log);
  }
  if (only === undefined || only === "policy") {
    log(`B. policy evaluation in-isolate`);
    results.policy = await runPolicy(server, policyOptions, log);
    // A fresh isolate's activation-to-first-decision at the largest size, beside the same for the default bundle.
    const largest = policyOptions.sizes[policyOptions.sizes.length - 1];
    const generated = generateBundle(largest, defaultSources().schema, defaultSources().manifest);
    const request = (agent, type, path) => ({ agent: { id: agent, version: "1.0.0" }, action: { type, targets: [{ kind: "path", value: path }] } });
    // …and at 1,000 policies, when the largest size is another.
    const thousand = largest !== 1000 && policyOptions.sizes.includes(1000) ? generateBundle(1000, defaultSources().schema, defaultSources().manifest) : null;
    results.coldPolicy = {
      largest: await coldFirstDecision(generated.sources, request(generated.agentId, "file.read", generated.path), policyOptions.coldRuns, log),
      ...(thousand ? { thousand: await coldFirstDecision(thousand.sources, request(thousand.agentId, "file.read", thousand.path), policyOptions.coldRuns, log) } : {}),
      default: await coldFirstDecision("default", request("claude-code", "file.write", "/home/dev/workspace/x.ts"), policyOptions.coldRuns, log),
    };
  }
  if (only === undefined || only === "tpm") {
    log(`C. TPM quote verification in-isolate`);
    results.tpm = await runTpm(server.url, { batches: quick ? 5 : 15, batchMs: 25, warmup: quick ? 10 : 50 });
  }
  if (only === undefined || only === "cvm") {
    log(`D. SEV-SNP and TDX verification in-isolate`);
    results.cvm = await runCvm(server.url, { batches: quick ? 5 : 15, batchMs: 25, warmup: quick ? 10 : 50 });
  }
  if (only === undefined || only === "json") {
    log(`E. strict JSON reader in-isolate`);
    results.json = await runJson(server.url, { batches: quick ? 5 : 15, batchMs: 25, warmup: quick ? 50 : 500 });
  }
  if (only === undefined || only === "x509") {
    log(`F. certificate path building in-isolate`);
    results.x509 = await runX509(server.url, { batches: quick ? 5 : 15, batchMs: 25, warmup: quick ? 5 : 20 });
  }
  if (only === undefined || only === "command") {
    log(`G. command analysis in Node`);
    results.command = benchCommandAnalysis({ batches: quick ? 5 : 15, batchMs: 25 });
  }
  if (only === undefined || only === "hook") {
    log(`H. warden hook claude-code, one call, against ${server.url}`);
    results.hook = await runHook(server.url, server.adminToken, { runs: quick ? 7 : 21 }, log);
  }
  if (only === undefined || only === "cold") {
    log(`J. cold start, fresh workerd processes`);
    results.cold = await runCold({ runs: quick ? 3 : 5 }, log);
  }
  // Minutes of registrations: only when asked for.
  if (only === "fleet") {
    log(`K. fleet: devices registered, then deciding in waves`);
    results.fleet = await runFleet(
      quick
        ? { devices: 1000, waves: [{ devices: 100, perDevice: 3 }, { devices: 1000, perDevice: 1 }], alone: 300, concurrency: 16 }
        : { devices: 10000, waves: [{ devices: 1000, perDevice: 3 }, { devices: 10000, perDevice: 1 }], alone: 1000, concurrency: 16 },
      log,
    );
  }
  // Last: it activates bundles of its own, which the parts before must not see.
  if (only === undefined || only === "events") {
    log(`L. events: decision latency with OCSF event production on and off`);
    results.events = await runEvents(server, quick ? { warmup: 50, sequential: 400, blocks: 4 } : { warmup: 200, sequential: 2000, blocks: 8 }, log);
  }
  if (only === undefined || only === "history") {
    log(`I. history features: decision latency at 0, 5, 20 features; storage over appended entries`);
    results.history = await runHistory(server, quick ? { warmup: 30, sequential: 200, entries: 10_000, chunk: 2_000 } : { warmup: 100, sequential: 1000, entries: 100_000, chunk: 2_500 }, log);
  }
} finally {
  await server?.mf.dispose();
}
results.totalSeconds = (Date.now() - started) / 1000;
results.loadAfter = loadavg()[0];

mkdirSync(resolve(root, "bench/out"), { recursive: true });
writeFileSync(resolve(root, "bench/out/results.json"), `${JSON.stringify(results, null, 2)}\n`);

// ---- Printing ------------------------------------------------------------------------------
const ms = (value) => value.toFixed(2);
const us = (value) => (value === null || value === undefined ? "n/a" : value >= 100 ? value.toFixed(0) : value.toFixed(1));
const pad = (value, width) => String(value).padStart(width);
const row = (cells, widths) => cells.map((cell, index) => (index === 0 ? String(cell).padEnd(widths[0]) : pad(cell, widths[index]))).join("  ");

const out = [];
out.push(
  `Warden bench  ${results.date}  (${results.machine.cpus} × ${results.machine.cpu}, Node ${results.machine.node}${quick ? ", --quick" : ""}; ` +
    `1-min load average ${results.loadBefore.toFixed(1)} before, ${results.loadAfter.toFixed(1)} after)`,
);
out.push(
  `tree ${results.tree.commit}${results.tree.dirty ? " + uncommitted changes" : ""}` +
    (results.defaultBundle ? `; default bundle ${results.defaultBundle.digest.slice(0, 19)}…, ${results.defaultBundle.how}` : ""),
);
const clock = results.clock;
if (clock) {
  out.push(
    `isolate clock (local workerd): performance.now() advances without I/O, in ${clock.minStepMs} ms steps${clock.fractional ? " (fractional readings seen)" : ""}; ` +
      `timed batches are ≥ ${policyOptions.batchMs} ms`,
  );
}

if (results.http) {
  const h = results.http;
  const o = h.options;
  out.push("");
  out.push(`A. HTTP over loopback, one device, default bundle (${o.sequential}/side sequential in ${o.blocks} interleaved blocks after ${o.warmup} warm-up; ${o.concurrent}/side at concurrency ${o.concurrency})`);
  const widths = [38, 8, 8, 8, 8, 10, 7, 10];
  const w = h.inWorkerMeanMs;
  const opt = (value) => (value === null || value === undefined ? "n/a" : ms(value));
  out.push(row(["", "p50 ms", "p90 ms", "p99 ms", "mean ms", "worker ms", "req/s", "p50@c8 ms"], widths));
  out.push(row(["POST /v1/decisions (permit, file.write)", ms(h.decision.p50), ms(h.decision.p90), ms(h.decision.p99), ms(h.decision.mean), opt(w.decision), h.decisionRps.toFixed(0), ms(h.decisionLoadedP50)], widths));
  out.push(row(["floor: POST /bench/chain/:device", ms(h.chain.p50), ms(h.chain.p90), ms(h.chain.p99), ms(h.chain.mean), opt(w.chain), h.chainRps.toFixed(0), ms(h.chainLoadedP50)], widths));
  out.push(row(["(context) POST /bench/append/:device", ms(h.append.p50), ms(h.append.p90), ms(h.append.p99), ms(h.append.mean), opt(w.append), h.appendRps.toFixed(0), ms(h.appendLoadedP50)], widths));
  out.push(row(["(context) POST /bench/noop, no DO", ms(h.noop.p50), ms(h.noop.p90), ms(h.noop.p99), ms(h.noop.mean), opt(w.noop), "", ""], widths));
  out.push(`decision_p50 / chain_floor_p50 = ${(h.decision.p50 / h.chain.p50).toFixed(2)} (goal ≤ 1.3)`);
  out.push(`decision_rps / chain_floor_rps = ${(h.decisionRps / h.chainRps).toFixed(2)} (goal ≥ 0.7; concurrency ${o.concurrency}, one device)`);
  out.push(
    `context: decision_p50 / append_p50 = ${(h.decision.p50 / h.append.p50).toFixed(2)}; p99 decision / chain floor ${(h.decision.p99 / h.chain.p99).toFixed(2)}; ` +
      `in the isolate, no transport (µs per request): decision ${us(h.inIsolateUs.decision)}, chain floor ${us(h.inIsolateUs.chain)}, append ${us(h.inIsolateUs.append)}, no-op ${us(h.inIsolateUs.noop)}` +
      ` (decision / chain floor ${(h.inIsolateUs.decision / h.inIsolateUs.chain).toFixed(2)})`,
  );
  const b = h.breakdown;
  const st = h.storageUs;
  const r = h.stepRatios;
  const vs = (value, floor, ratio) => `${us(value)} (${us(floor)}, ${typeof ratio === "number" ? `${ratio.toFixed(2)}×` : "n/a"})`;
  out.push(
    `in-isolate µs per step (beside the primitive it needs, timed in alternating batches, and the median of their ratios): ` +
      `DPoP verify ${vs(b.dpopVerify, b.ed25519Verify, r.dpopVerify)} [Ed25519 verify]; ` +
      `action token sign ${vs(b.actionTokenSign, b.ed25519Sign, r.actionTokenSign)} [Ed25519 sign]; proof spend in the DO ${vs(st.proofSpend, st.bareInsert, r.proofSpend)} [one INSERT]; ` +
      `spend + append in the DO ${vs(st.recordDecisions, st.chainFloorInsert, r.recordDecisions)} [the chain floor's row]`,
  );
  out.push(
    `  and: decide() ${us(b.decide)}, request zod parse ${us(b.requestSchemaParse)}, bundle lookup ${us(b.bundleLookup)}, session JWT verify ${us(b.sessionJwtVerify)} ` +
      `(once per session token and isolate), DO recordDecisions RPC ${us(b.doRecordDecisionsRpc)} vs DO append RPC ${us(b.doAppendRpc)}`,
  );
  out.push(`compileBundle() of the default bundle in the isolate (warm): ${ms(h.compileDefaultMs)} ms`);
  out.push(`DPoP proofs: signed in Node with WardenClient.proof ahead of each timed block (${ms(h.proofSignMs)} ms each), not inside the timed requests`);
}

if (results.policy) {
  out.push("");
  out.push(
    `B. policy evaluation in-isolate: file.read of /data/<k>/report.txt by agent-<k>, permitted by p<k>; ` +
      `µs per call, median (fastest) of ${policyOptions.batches} batches of ≥ ${policyOptions.batchMs} ms`,
  );
  let widths = [8, 6, 15, 7, 10, 16, 9, 10, 11, 11];
  out.push(row(["policies", "slice", "decide()", "goal", "unmemo.", "cedar all", "all/dec", "deep path", "1st decide", "artifact"], widths));
  const both = (timing) => `${us(timing.us)} (${us(timing.min)})`;
  for (const r of results.policy) {
    const t = r.timings;
    out.push(
      row(
        [
          r.policies,
          r.sliceSize,
          both(t.decide),
          t.decide.us <= 25 ? "met" : "missed",
          us(t.decideUnmemoised.us),
          both(t.cedarWholeValidated),
          `${(t.cedarWholeValidated.us / t.decide.us).toFixed(0)}×`,
          us(t.decideDeepPath.us),
          `${r.firstDecideMs.toFixed(1)} ms`,
          `${(r.artifactBytes / 1024).toFixed(0)} KiB`,
        ],
        widths,
      ),
    );
  }
  out.push("decide() is memoised (a repeated question costs a lookup); unmemo.: each call a file never asked about, so Cedar evaluates (goal: decide() ≤ 25 µs)");
  out.push("the artifact at each size (ms): built in Node (compile + sign) / read from R2 / activation's checks in the isolate (verify, compile again, compare, open) / an isolate's opening (verify, open)");
  widths = [8, 10, 10, 12, 10];
  out.push(row(["policies", "build", "read", "activation", "open"], widths));
  for (const r of results.policy) out.push(row([r.policies, r.buildMs.toFixed(0), r.readMs.toFixed(1), r.activationMs.toFixed(0), r.openMs.toFixed(1)], widths));
  out.push("where a cedar call's time goes (µs, median; statefulIsAuthorized on the same request):");
  widths = [8, 7, 8, 8, 9, 8, 9, 9, 9, 10];
  out.push(row(["policies", "canon.", "bare", "+ents", "+schema", "+valid", "slice v", "evalTgt", "all nv", "all valid"], widths));
  for (const r of results.policy) {
    const t = r.timings;
    out.push(
      row(
        [
          r.policies,
          us(t.targetEntity.us),
          us(t.cedarBare.us),
          us(t.cedarEmptyNoSchema.us),
          us(t.cedarEmptyUnvalidated.us),
          us(t.cedarEmptyValidated.us),
          us(t.cedarSliceValidated.us),
          us(t.evaluateTarget.us),
          us(t.cedarWholeUnvalidated.us),
          us(t.cedarWholeValidated.us),
        ],
        widths,
      ),
    );
  }
  const largest = results.policy[results.policy.length - 1];
  out.push(
    `activation's compilation at ${largest.policies} policies, each cedar-wasm step alone (ms): ` +
      Object.entries(largest.compileSteps)
        .map(([name, value]) => `${name} ${value.toFixed(0)}`)
        .join(", "),
  );
  if (results.coldPolicy) {
    const { largest: cold, thousand, default: reference } = results.coldPolicy;
    out.push(
      `a fresh isolate's first decision (new workerd process over the activated state, first request; median of ${cold.runs}; in the isolate: pointer and artifact read, verified, opened, slice parsed, decide()):`,
    );
    if (thousand) out.push(`cold_first_decision_ms_${thousand.policies} = ${thousand.totalMs.toFixed(0)} (activating it: ${thousand.activationMs.toFixed(0)} ms)`);
    out.push(`cold_first_decision_ms_${cold.policies} = ${cold.totalMs.toFixed(0)} (goal ≤ 50)`);
    out.push(
      `  of which loading the bundle ${cold.loadMs.toFixed(0)} ms and the first decide() ${cold.decideMs.toFixed(0)} ms (the request's wall time from Node ${cold.wallMs.toFixed(0)} ms); ` +
        `the default bundle (${reference.policies} policies) in the same conditions: ${reference.totalMs.toFixed(0)} ms`,
    );
    out.push(
      `  Cedar's first use in a new isolate, alone (one policy preparsed, one request evaluated, no Cedar call before): ${cold.cedarFirstUseMs.toFixed(0)} ms ` +
        `(preparse ${cold.cedarFirstPreparseMs.toFixed(0)}, evaluation ${cold.cedarFirstEvaluateMs.toFixed(0)}); after it, the first decision takes ` +
        `${cold.afterWarmTotalMs.toFixed(0)} ms at ${cold.policies} policies, ${reference.afterWarmTotalMs.toFixed(0)} ms for the default bundle`,
    );
    out.push(`  activating the ${cold.policies}-policy artifact (POST /v1/bundles/activate, wall time from Node): ${cold.activationMs.toFixed(0)} ms`);
  }
}
if (results.tpm) {
  out.push("");
  out.push("C. TPM quote verification in-isolate (swtpm vectors): verifyQuote() beside the one WebCrypto signature verification it must do; µs per call, median (fastest)");
  const widths = [22, 16, 16, 9];
  out.push(row(["AK", "verifyQuote()", "floor: verify", "ratio"], widths));
  const names = { rsa: "RSASSA-2048 SHA-256", ecc: "ECDSA P-256 SHA-256", rsapss: "RSAPSS-2048 SHA-256" };
  for (const r of results.tpm) {
    out.push(row([names[r.kind], `${us(r.verifyQuote.us)} (${us(r.verifyQuote.min)})`, `${us(r.floor.us)} (${us(r.floor.min)})`, `${(r.verifyQuote.us / r.floor.us).toFixed(2)}×`], widths));
  }
  out.push(
    "where verifyQuote's time goes (µs, median): " +
      results.tpm.map((r) => `${r.kind}: parse ${us(r.parse.us)}, verifyTpmSignature ${us(r.signature.us)}, pcrDigest ${us(r.pcrDigest.us)}`).join("; "),
  );
}
if (results.cvm) {
  out.push("");
  out.push("D. SEV-SNP / TDX verification in-isolate (real s2 Milan report, t1 TDX quote; chains and collateral verified and cached by the first call): µs per call, median (fastest)");
  const widths = [30, 16, 16, 9, 12];
  out.push(row(["evidence", "verify", "floor", "ratio", "verify/s"], widths));
  const names = { "sev-snp": "SEV-SNP s2 (floor: 1× P-384)", tdx: "TDX t1 (floor: 2× P-256)" };
  for (const r of results.cvm) {
    out.push(row([names[r.kind], `${us(r.verify.us)} (${us(r.verify.min)})`, `${us(r.floor.us)} (${us(r.floor.min)})`, `${(r.verify.us / r.floor.us).toFixed(2)}×`, r.perSecond.toFixed(0)], widths));
  }
}
if (results.json) {
  out.push("");
  out.push("E. strict JSON reader in-isolate (bytes in: UTF-8 decoding and parsing) beside TextDecoder + JSON.parse; µs per call, median (fastest)");
  const widths = [30, 16, 16, 9];
  out.push(row(["body", "parseStrictJson", "JSON.parse", "ratio"], widths));
  for (const r of results.json) {
    const name = `${r.body === "decision" ? "decision request" : "decision batch"} (${r.bytes} B)`;
    out.push(row([name, `${us(r.strict.us)} (${us(r.strict.min)})`, `${us(r.jsonParse.us)} (${us(r.jsonParse.min)})`, `${r.ratio.toFixed(2)}×`], widths));
  }
}
if (results.x509) {
  out.push("");
  out.push("F. Certificate path building in-isolate (5-deep generated chain; valid links memoised per isolate, failed checks not): µs per call, median (fastest)");
  const widths = [58, 11, 16];
  out.push(row(["case", "candidates", "validatePath"], widths));
  const names = {
    single: "single path (only the chain's own certificates)",
    "tpm-store": "all TPM store certificates offered as candidates",
    decoys: "same-named decoys first at every level, up to the bound",
    refused: "one decoy past the bound: refused (path_search_exhausted)",
    deep: "100-certificate chain: refused (path_length_exceeded)",
  };
  for (const r of results.x509) out.push(row([names[r.kind], r.candidates, `${us(r.path.us)} (${us(r.path.min)})`], widths));
}
if (results.command) {
  out.push("");
  out.push("G. command analysis (analyzeCommand, bash on linux) beside canonicalizePath of a typical path, same run, in Node: µs per call, median");
  const widths = [36, 7, 9, 12, 16, 7];
  out.push(row(["line", "chars", "commands", "analysis µs", "canonicalizePath", "ratio"], widths));
  const names = { short: "short: git status", typical: "typical: rg -n TODO src | sort | head", long: "long: 4 KiB git diff … | filters" };
  for (const key of ["short", "typical", "long"]) {
    const r = results.command[key];
    out.push(row([names[key], r.chars, r.commands, us(r.us), us(r.pathUs), `${(r.us / r.pathUs).toFixed(0)}×`], widths));
  }
}
if (results.hook) {
  const k = results.hook;
  out.push("");
  out.push(`H. one \`warden hook claude-code\` call (PreToolUse Read, permitted and redeemed) and one \`warden hook codex\` call (Bash, permitted), spawned, wall time; median (fastest) of ${k.runs} interleaved runs`);
  const widths = [44, 16, 10, 8];
  out.push(row(["", "ms", "× node", "goal"], widths));
  out.push(row(["node -e 0", `${ms(k.nodeMs.median)} (${ms(k.nodeMs.min)})`, "1.00", ""], widths));
  out.push(row(["warm: saved session and key", `${ms(k.warmMs.median)} (${ms(k.warmMs.min)})`, k.warmRatio.toFixed(2), k.warmRatio <= 6 ? "≤ 6 met" : "≤ 6 missed"], widths));
  out.push(row(["cold: new nonce and session first", `${ms(k.coldMs.median)} (${ms(k.coldMs.min)})`, k.coldRatio.toFixed(2), k.coldRatio <= 12 ? "≤ 12 met" : "≤ 12 missed"], widths));
  out.push(row(["codex, warm: Bash git status in each shell", `${ms(k.codexMs.median)} (${ms(k.codexMs.min)})`, k.codexRatio.toFixed(2), k.codexRatio <= 6 ? "≤ 6 met" : "≤ 6 missed"], widths));
}

if (results.events) {
  const e = results.events;
  out.push("");
  out.push(`L. OCSF events on vs off (bench/events.ts): POST /v1/decisions, one device per side, ${e.options.sequential} sequential per side in ${e.options.blocks} interleaved blocks after ${e.options.warmup} warm-up`);
  const widths = [44, 9, 9, 9, 9];
  out.push(row(["", "p50 ms", "p90 ms", "p99 ms", "mean ms"], widths));
  out.push(row(["events on (outbox row in the append, forward after)", ms(e.on.p50), ms(e.on.p90), ms(e.on.p99), ms(e.on.mean)], widths));
  out.push(row(["events off (no event feed)", ms(e.off.p50), ms(e.off.p90), ms(e.off.p99), ms(e.off.mean)], widths));
  out.push(`   on / off p50 = ${(e.on.p50 / e.off.p50).toFixed(2)}, mean = ${(e.on.mean / e.off.mean).toFixed(2)}; the feed holds ${e.produced} events of the on device in its first page, none of the off device`);
}
if (results.history) {
  const h = results.history;
  out.push("");
  out.push(`I. history features (bench/history.ts): POST /v1/decisions, sequential, ${h.options.sequential} per bundle after ${h.options.warmup} warm-up; every feature read by a policy and recorded`);
  const widths = [20, 9, 9, 9, 9, 10];
  out.push(row(["features", "p50 ms", "p90 ms", "p99 ms", "mean ms", "× 0 p50"], widths));
  const base = h.latency.find((l) => l.features === 0)?.stats.p50 ?? null;
  for (const l of h.latency) out.push(row([String(l.features), ms(l.stats.p50), ms(l.stats.p90), ms(l.stats.p99), ms(l.stats.mean), base ? (l.stats.p50 / base).toFixed(2) : "n/a"], widths));
  out.push(`   one device's history under the 20-feature bundle while decision-shaped entries are appended (must stay flat):`);
  const sw = [20, 14, 14, 16, 14];
  out.push(row(["entries appended", "history rows", "history KiB", "log rows (object)", "µs / append"], sw));
  for (const s of h.storage) out.push(row([String(s.entries), String(s.rows), (s.bytes / 1024).toFixed(1), String(s.logRows), us(s.appendUs)], sw));
  out.push(`   (entries no feature matches, same bundle, another device: ${us(h.unmatchedAppendUs)} µs / append; appends timed inside the object)`);
}
if (results.cold) {
  const c = results.cold;
  out.push("");
  out.push(`J. cold start: a fresh workerd process (new Miniflare) per figure, median of ${c.runs}, from creating the process to the answer (Miniflare's own start is on every side)`);
  const widths = [44, 10, 11];
  out.push(row(["", "ready ms", "answer ms"], widths));
  out.push(row(["trivial worker, GET /healthz", ms(c.trivial.readyMs), ms(c.trivial.answerMs)], widths));
  out.push(row(["Warden, GET /healthz (loads the bundle)", ms(c.healthz.readyMs), ms(c.healthz.answerMs)], widths));
  out.push(row(["Warden, first POST /v1/decisions (permit)", ms(c.decision.readyMs), ms(c.decision.answerMs)], widths));
  out.push(`cold_first_decision / cold_trivial = ${(c.decision.answerMs / c.trivial.answerMs).toFixed(2)} (goal ≤ 2.0)`);
  out.push(`(the production entry, worker/index.ts, which a process loads: ${(c.scriptBytes / 1024).toFixed(0)} KiB of JavaScript and the ${(c.wasmBytes / 1048576).toFixed(1)} MiB Cedar module)`);
}
if (results.fleet) {
  const f = results.fleet;
  out.push("");
  out.push(
    `K. fleet: ${f.registration.devices} devices (each its own Durable Object) on local workerd, production entry; decisions through WardenClient ` +
      `(a DPoP proof signed in Node per request), ${f.options.concurrency} in flight, spread round-robin over the active devices; ` +
      `registration and each wave in one fresh process over the persisted state, with workerd's rollout gates on (bench/fleet.ts: SQLite's heap cap as on Cloudflare)`,
  );
  out.push(`registration and session of every device: ${f.registration.seconds.toFixed(0)} s (${f.registration.rps.toFixed(0)} req/s over 3 requests per device)`);
  const widths = [24, 10, 9, 9, 9, 8];
  out.push(row(["active devices", "requests", "p50 ms", "p99 ms", "mean ms", "req/s"], widths));
  for (const w of [f.alone, ...f.waves]) out.push(row([w.devices === 1 ? "1 (one device alone)" : w.devices, w.requests, ms(w.latency.p50), ms(w.latency.p99), ms(w.latency.mean), w.rps.toFixed(0)], widths));
  out.push(`storage per device: a ${(f.storage.bytesPerDevice / 1024).toFixed(1)} KiB database (${f.storage.objects} objects, ~${f.storage.entriesPerDevice.toFixed(1)} log entries each); ${(f.storage.diskBytesPerDevice / 1024).toFixed(1)} KiB of local files with the write-ahead log workerd left uncheckpointed`);
}
out.push("");
out.push(`total ${results.totalSeconds.toFixed(0)} s; raw figures in bench/out/results.json`);
console.log(out.join("\n"));
if (args.has("--json")) console.log(JSON.stringify(results, null, 2));
