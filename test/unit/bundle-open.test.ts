import "../../worker/policy/cedar-workerd.ts";
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ExampleAgentsSchema, registryFacts, runBundleTests, TestFileSchema, type CaseResult } from "../../cli/bundle-runner.ts";
import { HistoryCursor } from "../../worker/history/cursor.ts";
import exampleAgents from "../../policy-bundles/default/agents.json";
import { BundleError, publisherKeys, verifyBundleArtifact, type BundleSources, type VerifiedArtifact } from "../../worker/policy/artifact.ts";
import { openBundle, type CompiledBundle } from "../../worker/policy/bundle.ts";
import { compileBundle, compileSources } from "../../worker/policy/compile.ts";
import { decide, type ActionRequest, type DeviceContext, type Verdict } from "../../worker/policy/decide.ts";
import { generateBundle } from "../../bench/policies.ts";
import { defaultSources, signedArtifact, uniqueId } from "../helpers.ts";

/**
 * An isolate decides from the artifact's signed index and parses a policy's JSON only when a
 * slice needs it (worker/policy/bundle.ts `openBundle`); `warden bundle test` and activation
 * compile the sources whole (worker/policy/compile.ts). Both must decide exactly alike: every
 * case below is decided by both and the verdicts compared whole (decision, reason code,
 * reasons, tier, canonical targets, derived targets). Reasons are compared as sets: Cedar lists
 * them in the order of its own hash map, which differs between two preparsed sets of the same
 * policies (and between isolates), eager or lazy alike.
 */

/** A verdict with its reasons in one order, so that two evaluations compare whole. */
const settled = (verdict: Verdict) => ({ ...verdict, reasons: [...verdict.reasons].sort() });

const now = Date.parse("2026-11-22T12:00:00Z");
const device: DeviceContext = { id: "test-device", os: "linux", assurance: "software" };

/** The same sources, compiled whole in memory and opened lazily from a signed, verified artifact. */
async function bothWays(sources: BundleSources): Promise<{ eager: CompiledBundle; lazy: CompiledBundle }> {
  const { statement, artifact } = await signedArtifact(sources, { tenant: uniqueId("tenant"), version: 1 });
  const verified = await verifyBundleArtifact(artifact, await publisherKeys(env.PUBLISHER_KEYS), Date.now());
  return { eager: compileBundle({ ...sources, digest: statement.digest, version: statement.version, name: statement.name }), lazy: openBundle(verified) };
}

const defaultFiles = Object.entries(import.meta.glob<unknown>("../../policy-bundles/default/tests/*.json", { eager: true, import: "default" })).map(([path, json]) => ({
  file: `tests/${path.split("/").pop()}`,
  cases: TestFileSchema.parse(json).cases,
}));
const defaultCaseCount = defaultFiles.reduce((count, file) => count + file.cases.length, 0);
const agents = ExampleAgentsSchema.parse(exampleAgents).agents;

/** What a case came to: its verdict (reasons in one order), the history it was decided on, the findings its sequence raised. */
const outcome = (result: CaseResult) => ({ case: result.case.name, verdict: settled(result.verdict), history: result.history, findings: result.findings });

describe("a lazily opened artifact decides exactly as the eagerly compiled bundle", () => {
  it(`the default bundle's ${defaultCaseCount} test cases, each on both, with their registry standing, consents and history`, async () => {
    const { eager, lazy } = await bothWays(defaultSources);
    expect(lazy.digest).toBe(eager.digest);
    // What decide.ts and the history code read of a bundle beyond its policies: the same from the signed index as from compiling.
    expect(lazy.history).toEqual(eager.history);
    expect(lazy.history.read.length).toBeGreaterThan(0);
    expect(lazy.tierOrder).toEqual(eager.tierOrder);
    expect(lazy.attributes).toEqual(eager.attributes);
    expect([...lazy.attributes.principal]).toContain("registered");
    expect([...(lazy.attributes.context ?? [])]).toEqual(expect.arrayContaining(["consent", "history"]));
    expect([...lazy.actionEntities]).toEqual([...eager.actionEntities]);
    // Every case through the runner, as `warden bundle test` runs it: the example registry's standing, the case's consents, its `before` sequence or history values. Lazy first: its slices are parsed cold, from the signed lines.
    const fromArtifact = runBundleTests(lazy, defaultFiles, new Date(now), agents);
    const compiled = runBundleTests(eager, defaultFiles, new Date(now), agents);
    expect(fromArtifact.results.map(outcome)).toEqual(compiled.results.map(outcome));
    expect(fromArtifact.results.filter((result) => result.failures.length > 0)).toEqual([]);
    expect(fromArtifact.passed).toBe(true);
    // The cases reach what the lazily read policy lines carry: @reason codes, reviews, consents relied on, history raising a finding.
    const reached = new Set(fromArtifact.results.map((result) => result.verdict.reasonCode));
    for (const code of ["agent_unregistered", "artifact_unapproved", "consent_required", "policy_review", "policy_permit"]) expect(reached).toContain(code);
    expect(fromArtifact.results.some((result) => (result.verdict.consents ?? []).length > 0)).toBe(true);
    expect(fromArtifact.results.some((result) => result.findings.length > 0)).toBe(true);
  });

  /** Requests that reach every kind of generated policy: the agent's own, another agent's, shared and blocked paths, secrets, programs, hosts. */
  function requestsFor(count: number, sample: number): ActionRequest[] {
    const requests: ActionRequest[] = [];
    const step = Math.max(1, Math.floor(count / sample));
    for (let i = 0; i < count; i += step) {
      const agent = { id: `agent-${i}`, version: "1.0.0" };
      const path = (value: string) => [{ kind: "path" as const, value }];
      for (const type of ["file.read", "file.write", "file.delete"]) {
        requests.push({ agent, action: { type, targets: path(`/data/${i}/report.txt`) } });
        requests.push({ agent, action: { type, targets: path(`/data/${i}/secret-${i}/key`) } });
        requests.push({ agent, action: { type, targets: path(`/data/${i + 1}/report.txt`) } });
        requests.push({ agent, action: { type, targets: path(`/shared/${i - (i % 50) + 49}/notes.md`) } });
        requests.push({ agent, action: { type, targets: path(`/blocked/${i - (i % 50) + 49}/x`) } });
      }
      requests.push({ agent, action: { type: "command.exec", targets: [{ kind: "command", value: `tool-${i} --help` }] } });
      requests.push({ agent, action: { type: "command.exec", targets: [{ kind: "command", value: `tool-${i} > /blocked/${i - (i % 50) + 49}/out` }] } });
      requests.push({ agent, action: { type: "http.request", targets: [{ kind: "url", value: `https://host-${i}.example/x` }] } });
      requests.push({ agent: { id: "nobody", version: "1" }, action: { type: "file.read", targets: path(`/shared/${i - (i % 50) + 49}/notes.md`) } });
    }
    return requests;
  }

  it.each([
    [10, 10],
    [100, 100],
    [1000, 60],
  ])("a generated bundle of %i policies, %i agents sampled", async (count, sample) => {
    const schema = defaultSources.schema;
    const generated = generateBundle(count, schema, defaultSources.manifest);
    const { eager, lazy } = await bothWays(generated.sources);
    const decisions = new Map<string, number>();
    for (const request of requestsFor(count, sample)) {
      const fromArtifact = decide(lazy, request, device, now);
      expect({ request, verdict: settled(fromArtifact) }).toEqual({ request, verdict: settled(decide(eager, request, device, now)) });
      decisions.set(`${fromArtifact.decision}/${fromArtifact.reasonCode}`, (decisions.get(`${fromArtifact.decision}/${fromArtifact.reasonCode}`) ?? 0) + 1);
    }
    // The requests reach permits, forbids and the absence of a permit alike, not one outcome only.
    expect([...decisions.keys()].sort()).toEqual(expect.arrayContaining(["deny/no_applicable_permit", "deny/policy_forbid", "permit/policy_permit"]));
  });
});

const defaultCompiled = compileSources(defaultSources);
const defaultActionAt = (line: number) => defaultCompiled.index.actions[line]!.name;
const policyAt = (needle: string) => defaultCompiled.lines.split("\n").slice(defaultCompiled.index.actions.length).findIndex((line) => line.includes(needle));

describe("opening an artifact parses only what a decision needs", () => {
  /** The default bundle's verified artifact with its action and policy lines changed (the signature was checked before: this is what an isolate then reads). */
  async function withLines(change: (lines: string[], actions: number) => string[]): Promise<VerifiedArtifact> {
    const { artifact } = await signedArtifact(defaultSources, { tenant: uniqueId("tenant"), version: 1 });
    const verified = await verifyBundleArtifact(artifact, await publisherKeys(env.PUBLISHER_KEYS), Date.now());
    const cut = verified.statement.body.policies_bytes;
    const lines = new TextDecoder().decode(verified.body.subarray(cut)).split("\n").slice(0, -1);
    const body = new TextEncoder().encode(`${new TextDecoder().decode(verified.body.subarray(0, cut))}${change(lines, verified.statement.index.actions.length).map((line) => `${line}\n`).join("")}`);
    return { ...verified, body };
  }
  const write: ActionRequest = { agent: { id: "claude-code", version: "2" }, action: { type: "file.write", targets: [{ kind: "path", value: "/home/dev/workspace/a.ts" }] } };
  const fetch: ActionRequest = { agent: { id: "claude-code", version: "2" }, action: { type: "http.request", targets: [{ kind: "url", value: "https://registry.npmjs.org/hono" }] } };

  it("opening reads no line: every action and policy line garbage, the bundle still opens, and only a decision reading one fails (bundle_invalid)", async () => {
    const bundle = openBundle(await withLines((lines) => lines.map(() => "{not json")));
    expect(bundle.size).toBe(defaultSources.policies.match(/@id\(/g)?.length);
    expect(() => decide(bundle, write, device, now)).toThrow(BundleError);
  });

  it("a corrupt policy line, or action line, outside a request's slice does not stop it; the request that needs it fails closed", async () => {
    const httpLine = defaultCompiled.index.actions.findIndex((action) => action.name === "http.request");
    const registryLine = defaultCompiled.index.actions.length + policyAt('"id":"package-registry"');
    for (const [broken, at] of [["the http.request action's line", httpLine], ["package-registry's line", registryLine]] as const) {
      const bundle = openBundle(await withLines((lines) => lines.map((line, index) => (index === at ? "{not json" : line))));
      // The agent registered, as the example registry has it (the bundle denies any other), on a device with no history yet.
      const facts = { agent: registryFacts(agents, write.agent), consents: [], history: HistoryCursor.fresh(bundle.history, bundle.digest, bundle.tierOrder).historyFor(write, device, now).values };
      expect({ broken, verdict: decide(bundle, write, device, now, facts) }).toMatchObject({ broken, verdict: { decision: "permit", reasons: ["workspace-read-write"] } });
      expect(() => decide(bundle, fetch, device, now)).toThrow(BundleError);
    }
  });

  it("lines that do not hold together are refused (bundle_invalid): at opening for their count, when read for their content", async () => {
    const refusals: [string, () => Promise<unknown>][] = [
      ["one line missing", async () => openBundle(await withLines((lines) => lines.slice(0, -1)))],
      ["one line too many", async () => openBundle(await withLines((lines) => [...lines, "{}"]))],
      ["a position past the policies", async () => openBundle(await withLines((lines) => [lines[0]!.replace('"any":[', '"any":[9999,'), ...lines.slice(1)])).policiesFor(defaultActionAt(0))],
      ["a position that is not a number", async () => openBundle(await withLines((lines) => [lines[0]!.replace('"any":[', '"any":["0",'), ...lines.slice(1)])).policiesFor(defaultActionAt(0))],
      ["an action line with another member", async () => openBundle(await withLines((lines) => [lines[0]!.replace("{", '{"all":[],'), ...lines.slice(1)])).policiesFor(defaultActionAt(0))],
      ["a policy without an @id", async () => openBundle(await withLines((lines, actions) => lines.map((line, at) => (at === actions ? line.replace('"annotations":{"id":', '"annotations":{"name":') : line)))).policy(0)],
      ["a policy holding at a tier the manifest lacks", async () => openBundle(await withLines((lines) => lines.map((line) => line.replace('"review":"tier1"', '"review":"tier9"')))).policy(policyAt('"review":"tier1"'))],
      ["a forbid naming a reason code outside the closed list", async () => openBundle(await withLines((lines) => lines.map((line) => line.replace('"reason":"consent_required"', '"reason":"ask_nicely"')))).policy(policyAt('"reason":"consent_required"'))],
      ["a permit naming a reason code", async () => openBundle(await withLines((lines) => lines.map((line) => line.replace('"annotations":{"id":"workspace-read-write"}', '"annotations":{"id":"workspace-read-write","reason":"consent_required"}')))).policy(policyAt('"id":"workspace-read-write"'))],
    ];
    for (const [what, open] of refusals) {
      let caught: unknown;
      try {
        await open();
      } catch (error) {
        caught = error;
      }
      expect({ what, code: caught instanceof BundleError ? caught.code : caught }).toEqual({ what, code: "bundle_invalid" });
    }
  });
});

describe("compiling sources", () => {
  it("is deterministic: the same sources give the same index and lines", () => {
    const first = compileSources(defaultSources);
    const second = compileSources(defaultSources);
    expect(JSON.stringify(second.index)).toBe(JSON.stringify(first.index));
    expect(second.lines).toBe(first.lines);
  });

  it("refuses a Long beyond 2^53, which its JSON form cannot carry exactly: bundle_invalid", () => {
    const sources = { ...defaultSources, policies: `@id("big") forbid (principal, action, resource) when { context.now > 9007199254740993 };` };
    let caught: unknown;
    try {
      compileSources(sources);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(BundleError);
    expect((caught as BundleError).code).toBe("bundle_invalid");
    // Control: the largest exact integer compiles.
    expect(() => compileSources({ ...sources, policies: sources.policies.replace("9007199254740993", "9007199254740991") })).not.toThrow();
  });

  it("refuses review tiers of one name, which a hold could not tell apart: bundle_invalid", () => {
    const manifest = structuredClone(defaultSources.manifest) as { review_tiers: { name: string }[] };
    manifest.review_tiers[1]!.name = manifest.review_tiers[0]!.name;
    let caught: unknown;
    try {
      compileSources({ ...defaultSources, manifest: manifest as BundleSources["manifest"] });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(BundleError);
    expect((caught as BundleError).details).toEqual(["review_tiers: review tier names must be unique"]);
  });
});
