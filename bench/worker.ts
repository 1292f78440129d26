/**
 * Benchmark build of the Warden worker. NEVER deployed: `wrangler.jsonc` points at
 * `worker/index.ts`; this entry is only bundled by `scripts/bench.mjs` and run in a
 * local Miniflare. It is the production app (`createApp()`, same bindings, same
 * Durable Object classes) plus bench-only routes under `/bench/`, behind a fetch handler
 * that also records the time each request spends in the worker:
 *
 *   POST /bench/append/:device   the floor of a decision: parse the JSON body and append it as
 *                                one hash-chained entry to the device's Durable Object (the
 *                                `append` primitive), nothing else: no auth, no policy, no token.
 *   POST /bench/chain/:device    the bare floor: the body's text appended as one SHA-256-chained row by
 *                                a minimal Durable Object (bench/chain-floor.ts), no HMAC, no auth.
 *   POST /bench/noop             context for the floor: parse the JSON body and answer, no DO.
 *   POST /bench/inproc           requests of the above kinds passed to the app inside the isolate, no
 *                                transport: mean µs per kind (the worker's share of part A).
 *   GET  /bench/clock            how fine the isolate's clock is (see bench/README.md).
 *   POST /bench/breakdown        the steps of a decision (auth, decide, token, DO call) timed in-isolate.
 *   POST /bench/policy/load      compile a bundle document in-isolate (compileBundle), keep it.
 *   POST /bench/policy/run       time decide() and cedar-wasm calls on a loaded bundle, in-isolate.
 *   POST /bench/served           mean in-worker time per timed route since the last call (and reset).
 *   POST /bench/tpm              TPM quote verification beside its signature-verification floor (bench/tpm.ts).
 *   POST /bench/json             the strict JSON reader beside JSON.parse on request bodies (bench/json.ts).
 *   POST /bench/history/grow     appends decision-shaped entries to a device and reports its history's footprint (bench/history-routes.ts).
 */
import { createHash } from "node:crypto";
import { createApp } from "../worker/app.ts";
import type { JsonValue } from "../worker/log/canonical.ts";
import type { CompiledBundle } from "../worker/policy/bundle.ts";
import { checkPrecompiled, compileBundle } from "../worker/policy/compile.ts";
import { openBundle } from "../worker/policy/bundle.ts";
import { artifactSources, verifyBundleArtifact } from "../worker/policy/artifact.ts";
import {
  checkParseSchema,
  policySetTextToParts,
  policyToJson,
  preparsePolicySet,
  preparseSchema,
  schemaToJson,
  statefulIsAuthorized,
  validate,
  type Context,
  type EntityJson,
  type PolicyJson,
} from "../worker/policy/cedar.ts";
import type { StatefulAuthorizationCall } from "@cedar-policy/cedar-wasm/web";
import { canonicalise, decide, fileEntity, resolvedTargets, type ActionRequest, type DecisionFacts, type DeviceContext } from "../worker/policy/decide.ts";
import { HistoryCursor } from "../worker/history/cursor.ts";
import { featureType } from "../worker/history/declarations.ts";
import { canonicalizePath } from "../worker/policy/targets.ts";
import { evaluateTarget } from "../worker/policy/engine.ts";
import { ActionRequestSchema } from "../worker/decisions/request.ts";
import * as store from "../worker/policy/store.ts";
import { issueActionToken } from "../worker/tokens/action.ts";
import { verifyDpopProof } from "../worker/tokens/dpop.ts";
import { verifyWardenJwt } from "../worker/tokens/jwt.ts";
import { base64url } from "jose";
import { signingKey } from "../worker/tokens/keys.ts";
import { tpmBenchRoutes } from "./tpm.ts";
import { cvmBenchRoutes } from "./cvm.ts";
import { jsonBenchRoutes } from "./json.ts";
import { x509BenchRoutes } from "./x509.ts";
import { HistoryBenchDeviceLog, historyBenchRoutes } from "./history-routes.ts";
import { EVENTS_OFF_PREFIX } from "./events-switch.ts";
import { auditIoFrom } from "../durable-objects/log-io.ts";
import type { ChainFloor } from "./chain-floor.ts";
import { alternating, asyncBatch, median } from "./timing.ts";

// Every Durable Object class the production entry exports (DeviceLog, and whatever else
// worker/index.ts declares), so that the bindings of wrangler.jsonc resolve; not its default.
export * from "../worker/index.ts";
export { ChainFloor } from "./chain-floor.ts";

/**
 * The production DeviceLog with the bench-only methods: part I's appends (bench/history-routes.ts)
 * and the decision path's storage work timed inside the object, beside the floors it is made of
 * (an explicit export wins over the one `export *` brings, so DEVICES binds it).
 */
export class DeviceLog extends HistoryBenchDeviceLog {
  /** A device named `events-off-…` has no event feed: part L's side without event production (bench/events.ts). */
  constructor(ctx: DurableObjectState, env: Env) {
    const io = auditIoFrom(env);
    super(ctx, env, ctx.id.name?.split("/")[1]?.startsWith(EVENTS_OFF_PREFIX) ? { ...io, events: null } : io);
  }

  async benchStorage(args: { n: number; rounds: number; data: { [key: string]: JsonValue }; session: string }): Promise<{ us: Record<string, number>; ratios: Record<string, number> }> {
    const sql = this.ctx.storage.sql;
    sql.exec("CREATE TABLE IF NOT EXISTS bench_insert (k TEXT PRIMARY KEY, e INTEGER NOT NULL)");
    sql.exec("CREATE TABLE IF NOT EXISTS bench_chain (seq INTEGER PRIMARY KEY, hash TEXT NOT NULL, row TEXT NOT NULL)");
    let head = { seq: sql.exec<{ n: number }>("SELECT count(*) AS n FROM bench_chain").one().n, hash: "0".repeat(64) };
    const row = JSON.stringify(args.data);
    const session = { id: args.session };
    const ops = {
      // One proof spent (expired ones purged first, then the check-and-set insert), in its own transaction.
      proofSpend: () => {
        const spent = this.spendProof({ proof: { jti: crypto.randomUUID(), expiresAt: Date.now() + 66_000 }, session }, Date.now());
        if (!spent.ok) throw new Error("spend refused");
      },
      bareInsert: () => {
        this.ctx.storage.transactionSync(() => sql.exec("INSERT INTO bench_insert (k, e) VALUES (?, ?)", crypto.randomUUID(), Date.now()));
      },
      // What POST /v1/decisions asks of the object: the proof spent and the decision appended (hash, key, HMAC) in one transaction.
      // Its transaction runs before its first await: the time is the object's work and one resolved promise.
      recordDecisions: async () => {
        const recorded = await this.recordDecisions({ proof: { jti: crypto.randomUUID(), expiresAt: Date.now() + 66_000 }, session, now: Date.now(), decisions: [args.data] });
        if (!recorded.ok) throw new Error(`recordDecisions refused: ${recorded.code}`);
      },
      // The chain floor's work (bench/chain-floor.ts) on the same row.
      chainFloorInsert: () => {
        this.ctx.storage.transactionSync(() => {
          const hash = createHash("sha256").update(head.hash).update(row).digest("hex");
          sql.exec("INSERT INTO bench_chain (seq, hash, row) VALUES (?, ?, ?)", head.seq + 1, hash, row);
          head = { seq: head.seq + 1, hash };
        });
      },
    } satisfies Record<string, () => void | Promise<void>>;
    // Each operation beside its floor (bench/timing.ts `alternating`), n calls a round; the pairs one after the other.
    const round = (op: () => void | Promise<void>) => async () => {
      const t0 = performance.now();
      for (let i = 0; i < args.n; i += 1) {
        // Only recordDecisions is awaited: a microtask per call would weigh on the synchronous floors.
        const pending = op();
        if (pending) await pending;
      }
      return ((performance.now() - t0) * 1000) / args.n;
    };
    const spend = await alternating(round(ops.proofSpend), round(ops.bareInsert), args.rounds);
    const record = await alternating(round(ops.recordDecisions), round(ops.chainFloorInsert), args.rounds);
    return {
      us: { proofSpend: median(spend.a), bareInsert: median(spend.b), recordDecisions: median(record.a), chainFloorInsert: median(record.b) },
      ratios: { proofSpend: spend.ratio, recordDecisions: record.ratio },
    };
  }
}

const app = createApp();
tpmBenchRoutes(app);
cvmBenchRoutes(app);
jsonBenchRoutes(app);
x509BenchRoutes(app);
historyBenchRoutes(app);

app.post("/bench/append/:device", async (c) => {
  const data = (await c.req.json()) as { [key: string]: JsonValue };
  const stub = c.env.DEVICES.get(c.env.DEVICES.idFromName(`${c.env.TENANT}/${c.req.param("device")}`));
  const outcome = await stub.append("bench.append", data, Date.now());
  if (!outcome.ok) return c.json(outcome, 409);
  return c.json({ log: outcome.log }, 200);
});

/** The bare floor: the body's text as one SHA-256-chained row in a minimal Durable Object. */
app.post("/bench/chain/:device", async (c) => {
  const row = await c.req.text();
  const floor = (c.env as unknown as { CHAIN_FLOOR: DurableObjectNamespace<ChainFloor> }).CHAIN_FLOOR;
  const stub = floor.get(floor.idFromName(`${c.env.TENANT}/${c.req.param("device")}`));
  return c.json({ log: await stub.append(row) }, 200);
});

/**
 * Requests handed to the app inside the isolate, in the order given, each timed from the
 * call to its body read: the worker's share of part A without the loopback transport.
 * Means per kind over many requests are exact although the clock moves in 1 ms steps.
 */
app.post("/bench/inproc", async (c) => {
  const { items } = (await c.req.json()) as { items: { kind: string; url: string; headers: Record<string, string>; body: string }[] };
  const totals: Record<string, { n: number; ms: number }> = {};
  for (const item of items) {
    const request = new Request(item.url, { method: "POST", headers: item.headers, body: item.body });
    const t0 = performance.now();
    const response = await app.fetch(request, c.env, c.executionCtx);
    const text = await response.text();
    const elapsed = performance.now() - t0;
    if (response.status !== 200) return c.json({ error: `${item.kind} answered ${response.status}: ${text}` }, 500);
    const total = (totals[item.kind] ??= { n: 0, ms: 0 });
    total.n += 1;
    total.ms += elapsed;
  }
  return c.json(Object.fromEntries(Object.entries(totals).map(([kind, { n, ms }]) => [kind, { n, meanUs: (ms * 1000) / n }])));
});

/** Context for the floor: the same HTTP path, JSON body parsed, no Durable Object. */
app.post("/bench/noop", async (c) => {
  await c.req.json();
  return c.json({ ok: true }, 200);
});

/**
 * How the isolate's clock moves during synchronous work (no I/O): every distinct
 * performance.now() reading over a ~50 ms busy loop. In production workerd the clock only
 * advances across I/O; under local workerd it advances, at some granularity, reported here.
 */
app.get("/bench/clock", (c) => {
  const readings: number[] = [performance.now()];
  let calls = 0;
  const d0 = Date.now();
  while (calls < 50_000_000) {
    const t = performance.now();
    calls += 1;
    if (t !== readings[readings.length - 1]) {
      readings.push(t);
      if (t - (readings[0] as number) >= 50) break;
    }
  }
  const steps = readings.slice(1).map((t, i) => t - (readings[i] as number)).sort((a, b) => a - b);
  return c.json({
    spanMs: (readings[readings.length - 1] as number) - (readings[0] as number),
    dateSpanMs: Date.now() - d0,
    calls,
    distinctReadings: readings.length,
    minStepMs: steps[0] ?? null,
    medianStepMs: steps[steps.length >> 1] ?? null,
    fractional: readings.some((t) => !Number.isInteger(t)),
  });
});

interface Loaded {
  bundle: CompiledBundle;
  wholeSetId: string;
  schemaId: string;
}
const loaded = new Map<string, Loaded>();

/**
 * A generated bundle's signed artifact (uploaded by Node to BUNDLES at `key`), taken the three
 * ways the worker takes an artifact, each timed: read from R2; activation's checks (signature,
 * the sources compiled again and compared with the signed index and policy JSON, opened); and an
 * isolate's opening (signature, index), which is all a new isolate does before its first
 * decision. The opened bundle is kept for /bench/policy/run.
 */
app.post("/bench/policy/load", async (c) => {
  const { key } = (await c.req.json()) as { key: string };
  const t0 = performance.now();
  const object = await c.env.BUNDLES.get(key);
  if (!object) return c.json({ error: `no artifact at ${key}` }, 404);
  const bytes = new Uint8Array(await object.arrayBuffer());
  const t1 = performance.now();
  const keys = await store.trustedKeys(c.env.PUBLISHER_KEYS);
  const checked = await verifyBundleArtifact(bytes, keys, Date.now());
  checkPrecompiled(checked);
  openBundle(checked);
  const t2 = performance.now();
  const bundle = openBundle(await verifyBundleArtifact(bytes, keys, Date.now()));
  const t3 = performance.now();
  const sources = artifactSources(checked);
  const wholeSetId = `bench-whole:${bundle.digest}`;
  const every = Array.from({ length: bundle.size }, (_, position) => bundle.policy(position));
  const prepared = preparsePolicySet(wholeSetId, { staticPolicies: Object.fromEntries(every.map((policy) => [policy.id, policy.json])) });
  if (prepared.type === "failure") return c.json({ error: prepared.errors.map((e) => e.message) }, 500);
  // The baseline validates requests against the schema, as a plain cedar-wasm integration would; decide() does not need to.
  const schemaId = `bench-schema:${bundle.digest}`;
  preparseSchema(schemaId, sources.schema);
  loaded.set(bundle.digest, { bundle, wholeSetId, schemaId });
  return c.json({
    digest: bundle.digest,
    policies: bundle.size,
    artifactBytes: bytes.length,
    readMs: t1 - t0,
    activationMs: t2 - t1,
    openMs: t3 - t2,
    compileSteps: compileSteps(sources),
  });
});

/**
 * Cedar's first use in a new isolate: V8 compiles the wasm functions a call needs when they are
 * first called, which makes an isolate's first evaluation slow whatever the bundle. Timed here on
 * its own: one policy preparsed in the JSON form an artifact's line carries (written out below, so
 * that no other Cedar call runs first) and one request evaluated against it. Called before
 * /bench/policy/cold, it leaves that route timing what is left: the bundle's share and the first
 * run of the worker's own code.
 */
const WARM_POLICY: PolicyJson = {
  effect: "permit",
  principal: { op: "All" },
  action: { op: "==", entity: { type: "Action", id: "file.read" } },
  resource: { op: "All" },
  conditions: [{ kind: "when", body: { contains: { left: { ".": { left: { Var: "resource" }, attr: "within" } }, right: { Value: "/warm" } } } }],
  annotations: { id: "warm" },
};

app.post("/bench/policy/warm", (c) => {
  const t0 = performance.now();
  const prepared = preparsePolicySet("bench-warm", { staticPolicies: { warm: WARM_POLICY } });
  const t1 = performance.now();
  const answer = statefulIsAuthorized({
    principal: { type: "Agent", id: "warm" },
    action: { type: "Action", id: "file.read" },
    resource: { type: "File", id: "/warm/x" },
    context: {},
    preparsedPolicySetId: "bench-warm",
    entities: [
      { uid: { type: "Agent", id: "warm" }, attrs: {}, parents: [] },
      { uid: { type: "File", id: "/warm/x" }, attrs: { within: ["/warm"] }, parents: [] },
    ],
  });
  const t2 = performance.now();
  const decision = prepared.type === "success" && answer.type === "success" ? answer.response.decision : "failure";
  return c.json({ preparseMs: t1 - t0, evaluateMs: t2 - t1, decideMs: t2 - t0, decision });
});

/**
 * What the service hands decide() for `request` on a device that did nothing yet: the agent
 * registered (as bench/bundles.ts registers the example agents), no consents, the history values
 * of an empty log. The registry and the device's object are not read: these routes time decide().
 */
function benchFacts(bundle: CompiledBundle, request: ActionRequest, device: DeviceContext, now: number): DecisionFacts {
  return {
    agent: { registered: true, risk: "low", owner: "bench", artifactApproved: false, versionAllowed: true },
    consents: [],
    history: HistoryCursor.fresh(bundle.history, bundle.digest, bundle.tierOrder).historyFor(request, device, now).values,
  };
}

/**
 * What a new isolate does on its first decision, timed inside it: the deployment pointer and
 * the artifact read from R2, verified and opened, the device's bundle chosen, and the first
 * decide() (its slice parsed and preparsed). Meant as the first request of a fresh workerd
 * process (bench/policy.ts `coldFirstDecision`).
 */
app.post("/bench/policy/cold", async (c) => {
  const { request } = (await c.req.json()) as { request: ActionRequest };
  const t0 = performance.now();
  const deployment = await store.loadDeployment(c.env, c.env.TENANT, Date.now());
  const t1 = performance.now();
  const chosen = store.bundleFor(deployment, { tenant: c.env.TENANT, id: "bench-cold", groups: [] }, Date.now());
  if (!chosen.ok) return c.json({ error: chosen.detail }, 500);
  const device: DeviceContext = { id: "bench-cold", os: "linux", assurance: "software" };
  const verdict = decide(chosen.bundle, request, device, Date.now(), benchFacts(chosen.bundle, request, device, Date.now()));
  const t2 = performance.now();
  return c.json({ loadMs: t1 - t0, decideMs: t2 - t1, totalMs: t2 - t0, policies: chosen.bundle.size, verdict: { decision: verdict.decision, reasons: verdict.reasons } });
});

/**
 * The cedar-wasm calls compileBundle (worker/policy/bundle.ts) makes, repeated one by one
 * on the same inputs, in milliseconds: where compilation time goes.
 */
function compileSteps(document: { policies: string; schema: string }): Record<string, number> {
  const steps: Record<string, number> = {};
  const time = <T>(name: string, fn: () => T): T => {
    const t0 = performance.now();
    const result = fn();
    steps[name] = performance.now() - t0;
    return result;
  };
  time("checkParseSchema", () => checkParseSchema(document.schema));
  const parts = time("policySetTextToParts", () => policySetTextToParts(document.policies));
  const texts = parts.type === "success" ? parts.policies : [];
  time("policyToJson (each policy)", () => texts.forEach((text) => policyToJson(text)));
  const staticPolicies: Record<string, string> = {};
  texts.forEach((text, index) => (staticPolicies[`p${index}`] = text));
  time("validate (strict)", () => validate({ validationSettings: { mode: "strict" }, schema: document.schema, policies: { staticPolicies } }));
  time("schemaToJson", () => schemaToJson(document.schema));
  time("preparseSchema", () => preparseSchema("bench-schema-probe", document.schema));
  return steps;
}

interface RunRequest {
  digest: string;
  agentId: string;
  path: string;
  /** Timed batches per variant; the figure is the median batch's mean. */
  batches: number;
  /** Minimum duration of one timed batch: many times the clock's resolution. */
  batchMs: number;
  /** Untimed calls before timing (after the first call). */
  warmup: number;
}

export interface Timing {
  /** Median over batches of the mean time per call, microseconds. */
  us: number;
  /** Fastest and slowest batch means, microseconds. */
  min: number;
  max: number;
  perBatch: number;
  batches: number;
}

/** Calls per batch so that one batch lasts about `batchMs`: doubled until a run lasts ≥ batchMs / 2, best of three. */
function calibrate(fn: () => unknown, batchMs: number): number {
  let best = 1;
  for (let attempt = 0; attempt < 3; attempt += 1) {
    let n = 1;
    for (;;) {
      const t0 = performance.now();
      for (let i = 0; i < n; i += 1) fn();
      const elapsed = performance.now() - t0;
      if (elapsed >= batchMs / 2) {
        best = Math.max(best, Math.ceil((n * batchMs) / elapsed));
        break;
      }
      n *= 2;
    }
  }
  return best;
}

/**
 * Times `fn` in batches of about `batchMs`, many times the clock's 1 ms granularity, after
 * a warm-up; the figure is the median over batches of the mean time per call.
 */
function timeIt(fn: () => unknown, run: { batches: number; batchMs: number; warmup: number }): Timing {
  for (let i = 0; i < run.warmup; i += 1) fn();
  const perBatch = calibrate(fn, run.batchMs);
  const perCall: number[] = [];
  for (let b = 0; b < run.batches; b += 1) {
    const t0 = performance.now();
    for (let i = 0; i < perBatch; i += 1) fn();
    const t1 = performance.now();
    perCall.push(((t1 - t0) * 1000) / perBatch);
  }
  if (perCall.every((value) => value === 0)) throw new Error("the isolate clock did not advance during a batch");
  return timingOf(perCall, perBatch);
}

function timingOf(perCall: number[], perBatch: number): Timing {
  return { us: median(perCall), min: Math.min(...perCall), max: Math.max(...perCall), perBatch, batches: perCall.length };
}

/** The same for an async operation awaited in sequence (crypto.subtle, Durable Object RPC). */
async function timeAsync(fn: () => Promise<unknown>, run: { batches: number; batchMs: number; warmup: number }): Promise<Timing> {
  for (let i = 0; i < run.warmup; i += 1) await fn();
  const perCall: number[] = [];
  let calls = 0;
  for (let b = 0; b < run.batches; b += 1) {
    const batch = await asyncBatch(fn, run.batchMs);
    perCall.push(batch.us);
    calls = batch.calls;
  }
  return timingOf(perCall, calls);
}

/** An operation and the primitive it needs, timed in alternating batches (bench/timing.ts `alternating`). */
async function timePairAsync(
  op: () => Promise<unknown>,
  primitive: () => Promise<unknown>,
  run: { batches: number; batchMs: number; warmup: number },
): Promise<{ op: Timing; primitive: Timing; ratio: number }> {
  for (let i = 0; i < run.warmup; i += 1) {
    await op();
    await primitive();
  }
  const calls = { op: 0, primitive: 0 };
  const batchOf = (side: keyof typeof calls, fn: () => Promise<unknown>) => async () => {
    const batch = await asyncBatch(fn, run.batchMs);
    calls[side] = batch.calls;
    return batch.us;
  };
  const timed = await alternating(batchOf("op", op), batchOf("primitive", primitive), run.batches);
  return { op: timingOf(timed.a, calls.op), primitive: timingOf(timed.b, calls.primitive), ratio: timed.ratio };
}

app.post("/bench/policy/run", async (c) => {
  const run = (await c.req.json()) as RunRequest;
  const entry = loaded.get(run.digest);
  if (!entry) return c.json({ error: "load the bundle first" }, 404);
  const { bundle, wholeSetId } = entry;

  const now = Date.now();
  const device: DeviceContext = { id: "bench-device", os: "linux", assurance: "software" };
  const request: ActionRequest = {
    agent: { id: run.agentId, version: "1.0.0" },
    action: { type: "file.read", targets: [{ kind: "path", value: run.path }] },
  };
  // The same Cedar request decide() builds (decide.ts), for the bare cedar-wasm calls.
  const path = canonicalizePath(run.path, device.os);
  if (!path.ok) return c.json({ error: `path not canonical: ${path.reason}` }, 400);
  const target = { entity: fileEntity(path.value, bundle.pathClasses) };
  const agent: EntityJson = { uid: { type: "Agent", id: run.agentId }, attrs: { version: "1.0.0", registered: true, risk: "low", owner: "bench", artifact_approved: false, version_allowed: true }, parents: [] };
  // Everything the schema's context declares, as a plain integration would have to hand it for the request to validate: no consent covers the file, the history of an empty log.
  const context: Context = {
    now: Math.floor(now / 1000),
    device: { id: device.id, assurance: device.assurance, os: device.os },
    sends_external: false,
    derived: false,
    consent: { covered: false, id: "", purpose: "", version: "" },
    history: Object.fromEntries(Object.entries(bundle.history.features).map(([name, feature]) => [name, featureType(feature) === "Bool" ? false : 0])),
  };
  const cedarCall = (policySetId: string, validateRequest: boolean, withSchema = true): StatefulAuthorizationCall => {
    const call: StatefulAuthorizationCall = {
      principal: agent.uid,
      action: { type: "Action", id: "file.read" },
      resource: target.entity.uid,
      context,
      validateRequest,
      preparsedPolicySetId: policySetId,
      entities: [agent, target.entity],
    };
    if (withSchema) call.preparsedSchemaName = entry.schemaId;
    return call;
  };

  const unseen: ActionRequest[] = Array.from({ length: 8192 }, (_, i) => ({ ...request, action: { ...request.action, targets: [{ kind: "path", value: run.path.replace(/[^/]*$/, `r-${i}.txt`) }] } }));
  let asked = 0;
  const deepPath = run.path.replace(/\/[^/]*$/, `${"/d".repeat(16)}/report.txt`);
  const deepRequest: ActionRequest = { ...request, action: { ...request.action, targets: [{ kind: "path", value: deepPath }] } };
  // First decide() for this (agent, action) prepares its slice: the cold cost.
  const coldStart = performance.now();
  const first = decide(bundle, request, device, now);
  const coldMs = performance.now() - coldStart;
  const whole = statefulIsAuthorized(cedarCall(wholeSetId, true));
  if (whole.type === "failure") return c.json({ error: whole.errors.map((e) => e.message) }, 500);

  // The slice decide() evaluates, prepared again under our own id so it can be called bare.
  const policies = bundle.policiesFor("file.read");
  const named = policies?.byAgent.get(run.agentId) ?? [];
  const within = target.entity.attrs["within"] as string[];
  const slice = [...(policies?.anyAgent ?? []), ...within.flatMap((prefix) => policies?.anyAgentWithin.get(prefix) ?? []), ...named].map((position) => bundle.policy(position));
  const sliceId = `bench-slice:${bundle.digest}:${run.agentId}`;
  const prepared = preparsePolicySet(sliceId, { staticPolicies: Object.fromEntries(slice.map((policy) => [policy.id, policy.json])) });
  if (prepared.type === "failure") return c.json({ error: prepared.errors.map((e) => e.message) }, 500);
  const emptyId = "bench-empty";
  preparsePolicySet(emptyId, { staticPolicies: {} });

  const cedarRequest = { agent, action: "file.read", resource: target.entity, context };
  const bareCall: StatefulAuthorizationCall = {
    principal: agent.uid,
    action: { type: "Action", id: "file.read" },
    resource: target.entity.uid,
    context: {},
    preparsedPolicySetId: emptyId,
    entities: [],
  };
  // Every bare call must succeed as a call (allow or deny), or its timing would be an error path's.
  const variants: Record<string, StatefulAuthorizationCall> = {
    wholeValidated: cedarCall(wholeSetId, true),
    wholeUnvalidated: cedarCall(wholeSetId, false),
    sliceValidated: cedarCall(sliceId, true),
    sliceUnvalidated: cedarCall(sliceId, false),
    emptyValidated: cedarCall(emptyId, true),
    emptyUnvalidated: cedarCall(emptyId, false),
    emptyNoSchema: cedarCall(emptyId, false, false),
    bare: bareCall,
  };
  for (const [name, call] of Object.entries(variants)) {
    const answer = statefulIsAuthorized(call);
    if (answer.type === "failure") return c.json({ error: `cedar variant ${name} fails: ${answer.errors.map((e) => e.message).join("; ")}` }, 500);
    if (answer.response.diagnostics.errors.length > 0) return c.json({ error: `cedar variant ${name} has evaluation errors` }, 500);
  }
  const timings = {
    decide: timeIt(() => decide(bundle, request, device, now), run),
    cedarWholeValidated: timeIt(() => statefulIsAuthorized(cedarCall(wholeSetId, true)), run),
    cedarWholeUnvalidated: timeIt(() => statefulIsAuthorized(cedarCall(wholeSetId, false)), run),
    evaluateTarget: timeIt(() => evaluateTarget(bundle, cedarRequest), run),
    cedarSliceValidated: timeIt(() => statefulIsAuthorized(cedarCall(sliceId, true)), run),
    cedarSliceUnvalidated: timeIt(() => statefulIsAuthorized(cedarCall(sliceId, false)), run),
    cedarEmptyValidated: timeIt(() => statefulIsAuthorized(cedarCall(emptyId, true)), run),
    cedarEmptyUnvalidated: timeIt(() => statefulIsAuthorized(cedarCall(emptyId, false)), run),
    cedarEmptyNoSchema: timeIt(() => statefulIsAuthorized(cedarCall(emptyId, false, false)), run),
    cedarBare: timeIt(() => statefulIsAuthorized(bareCall), run),
    targetEntity: timeIt(() => canonicalise({ kind: "path", value: run.path }, device), run),
    // The same decision on a path 16 directories deeper: `within` grows by one entry per level.
    decideDeepPath: timeIt(() => decide(bundle, deepRequest, device, now), run),
    // A question never asked before: 8,192 distinct files in turn, twice the memo's size, so every call evaluates.
    decideUnmemoised: timeIt(() => decide(bundle, unseen[(asked += 1) % unseen.length] as ActionRequest, device, now), run),
  };
  return c.json({
    policies: bundle.size,
    sliceSize: slice.length,
    sliceAnyAgent: policies?.anyAgent.length ?? 0,
    firstDecideMs: coldMs,
    verdict: { decision: first.decision, reasons: first.reasons },
    wholeSet: { decision: whole.response.decision, reasons: whole.response.diagnostics.reason },
    timings,
  });
});

/** The bundle lookup the decision route does before decide(), on whichever store API this tree has. */
function bundleLookup(env: Env, tenant: string): (() => Promise<unknown>) | null {
  const api = store as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  if (typeof api["loadDeployment"] === "function") return () => (api["loadDeployment"] as (...args: unknown[]) => Promise<unknown>)(env, tenant, Date.now());
  if (typeof api["activeBundle"] === "function") {
    return () => (api["activeBundle"] as (...args: unknown[]) => Promise<unknown>)(env.BUNDLES, tenant, Number(env.BUNDLE_REFRESH_SECONDS), Date.now());
  }
  return null;
}

/**
 * Where a decision's time goes inside the isolate, piece by piece, for the request the
 * HTTP benchmark sends: each step of POST /v1/decisions timed on its own (see bench/README.md).
 * Body: the session token, one DPoP proof for POST /v1/decisions (verified repeatedly:
 * verifyDpopProof does not settle replay, the Durable Object does) and the default bundle
 * as compileBundle takes it. A step that fails on this tree is reported as an error, not fatal.
 */
app.post("/bench/breakdown", async (c) => {
  const body = (await c.req.json()) as {
    token: string;
    dpop: string;
    url: string;
    decision: ActionRequest;
    bundle: Parameters<typeof compileBundle>[0];
    batches: number;
    batchMs: number;
    warmup: number;
  };
  const now = Date.now();
  const key = await signingKey(c.env.SIGNING_KEY);
  const claims = JSON.parse(atob((body.token.split(".")[1] ?? "").replace(/-/g, "+").replace(/_/g, "/"))) as { sub: string; jti: string; exp: number; cnf: { jkt: string }; os: DeviceContext["os"] };
  const device: DeviceContext = { id: claims.sub, os: claims.os, assurance: "software" };
  const compileMs: number[] = [];
  let bundle = compileBundle(body.bundle);
  for (let i = 0; i < 3; i += 1) {
    const t0 = performance.now();
    bundle = compileBundle(body.bundle);
    compileMs.push(performance.now() - t0);
  }
  const facts = benchFacts(bundle, body.decision, device, now);
  const verdict = decide(bundle, body.decision, device, now, facts);
  const stub = c.env.DEVICES.get(c.env.DEVICES.idFromName(`${c.env.TENANT}/${device.id}`));
  const data = { decision: verdict.decision, reasons: verdict.reasons, targets: verdict.targets.map((t) => ({ ...t })), policy: bundle.digest, decision_id: crypto.randomUUID() };
  const run = { batches: body.batches, batchMs: body.batchMs, warmup: body.warmup };
  const lookup = bundleLookup(c.env, c.env.TENANT);
  const [proofHeader, proofPayload, proofSig] = body.dpop.split(".") as [string, string, string];
  const proofJwk = (JSON.parse(new TextDecoder().decode(base64url.decode(proofHeader))) as { jwk: JsonWebKey }).jwk;
  const deviceKey = await crypto.subtle.importKey("jwk", proofJwk, { name: "Ed25519" }, false, ["verify"]);
  const proofSignature = base64url.decode(proofSig);
  const proofInput = new TextEncoder().encode(`${proofHeader}.${proofPayload}`);
  // The token a permit gets, as the decision path signs it: a fresh jti each time; the decision's id exists before (the log entry's too).
  const decisionId = crypto.randomUUID();
  const signToken = () =>
    issueActionToken(key, {
      device: device.id,
      tenant: c.env.TENANT,
      session: { id: claims.jti, expiresAt: claims.exp * 1000 },
      jkt: claims.cnf.jkt,
      os: device.os,
      shell: undefined,
      groups: [],
      jti: crypto.randomUUID(),
      decisionId,
      policy: bundle.digest,
      scope: { action: body.decision.action.type, targets: resolvedTargets(verdict) },
      now,
      ttlSeconds: 60,
    });
  const sample = await signToken();
  const tokenInput = new TextEncoder().encode(sample.token.slice(0, sample.token.lastIndexOf(".")));
  const steps: Record<string, () => Promise<Timing>> = {
    sessionJwtVerify: () => timeAsync(() => verifyWardenJwt(body.token, key, "warden-session+jwt", now, c.env.TENANT), run),
    bundleLookup: () => (lookup ? timeAsync(lookup, run) : Promise.reject(new Error("no known bundle lookup in worker/policy/store.ts"))),
    requestSchemaParse: async () => timeIt(() => ActionRequestSchema.safeParse(body.decision), run),
    decide: async () => timeIt(() => decide(bundle, body.decision, device, now, facts), run),
    doAppendRpc: () => timeAsync(() => stub.append("bench.breakdown", data, Date.now()), run),
    doRecordDecisionsRpc: () =>
      timeAsync(() => stub.recordDecisions({ proof: { jti: `bench-${crypto.randomUUID()}`, expiresAt: Date.now() + 66_000 }, session: { id: claims.jti }, now: Date.now(), decisions: [data] }), run),
  };
  const timings: Record<string, Timing | { error: string }> = {};
  for (const [name, step] of Object.entries(steps)) {
    try {
      timings[name] = await step();
    } catch (error) {
      timings[name] = { error: String(error) };
    }
  }
  // Each beside the WebCrypto operation it needs (keys imported): one Ed25519 verification of the proof, one signature of a token-sized input.
  const pairs = {
    dpopVerify: { primitive: "ed25519Verify", op: () => verifyDpopProof(body.dpop, { method: "POST", url: body.url, now, jkt: claims.cnf.jkt, accessToken: body.token }), of: () => crypto.subtle.verify("Ed25519", deviceKey, proofSignature, proofInput) },
    actionTokenSign: { primitive: "ed25519Sign", op: signToken, of: () => crypto.subtle.sign("Ed25519", key.privateKey, tokenInput) },
  };
  const ratios: Record<string, number> = {};
  for (const [name, pair] of Object.entries(pairs)) {
    try {
      const timed = await timePairAsync(pair.op, pair.of, run);
      timings[name] = timed.op;
      timings[pair.primitive] = timed.primitive;
      ratios[name] = timed.ratio;
    } catch (error) {
      timings[name] = timings[pair.primitive] = { error: String(error) };
    }
  }
  // The object's own work, timed inside it (no RPC): a decision's spend and append beside one insert and the chain floor's row.
  // 2,000 calls per round: the isolate's clock moves in 1 ms steps, so a round of 300 could only tell steps of 3.3 µs apart.
  const storage = await (stub as unknown as DurableObjectStub<DeviceLog>).benchStorage({ n: 2000, rounds: 9, data: { ...data, bench: "x".repeat(400) }, session: claims.jti });
  return c.json({ verdict: verdict.decision, compileDefaultMs: median(compileMs), timings, ratios: { ...ratios, ...storage.ratios }, storage: storage.us });
});

/**
 * Time spent inside the worker per request (from the fetch handler's entry to its response),
 * by route, so that the HTTP figures can be split into worker time and transport. Means only:
 * the clock moves in 1 ms steps, so single readings are coarse but their mean over many
 * requests is not.
 */
const served = new Map<string, { n: number; totalMs: number }>();
const TIMED_ROUTES: [RegExp, string][] = [
  [/^\/v1\/decisions$/, "decision"],
  [/^\/bench\/append\//, "append"],
  [/^\/bench\/chain\//, "chain"],
  [/^\/bench\/noop$/, "noop"],
];

app.post("/bench/served", (c) => {
  const snapshot = Object.fromEntries([...served].map(([route, { n, totalMs }]) => [route, { n, meanMs: totalMs / n }]));
  served.clear();
  return c.json(snapshot);
});

export default {
  async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    const t0 = performance.now();
    const response = await app.fetch(request, env, ctx);
    const elapsed = performance.now() - t0;
    const path = new URL(request.url).pathname;
    const route = TIMED_ROUTES.find(([pattern]) => pattern.test(path))?.[1];
    if (route) {
      const entry = served.get(route) ?? { n: 0, totalMs: 0 };
      entry.n += 1;
      entry.totalMs += elapsed;
      served.set(route, entry);
    }
    return response;
  },
} satisfies ExportedHandler<Env>;
