import "../../worker/policy/cedar-workerd.ts";
import { describe, expect, it } from "vitest";
import { bundleDigest, type BundleSources } from "../../worker/policy/artifact.ts";
import { compileBundle } from "../../worker/policy/compile.ts";
import { canonicalise, decide, type ActionRequest, type DecisionFacts, type DeviceContext, type HistoryContext } from "../../worker/policy/decide.ts";
import type { CompiledBundle } from "../../worker/policy/bundle.ts";
import type { AgentStanding } from "../../worker/agents/types.ts";
import { compileConsent, type CompiledConsent } from "../../worker/consent/scope.ts";
import { HistoryCursor } from "../../worker/history/cursor.ts";
import { defaultSources } from "../helpers.ts";

/**
 * The engine memoises Cedar answers by slice and exact input (worker/policy/engine.ts; why it
 * is sound: docs/scale.md › The verdict memo). Each case asks the same question again after
 * something that must change the answer has changed — the clock a policy reads, the bundle,
 * the context a derived target carries, an attribute — and the answer must follow.
 */

const device: DeviceContext = { id: "memo-device", os: "linux", assurance: "software" };
const noon = Date.parse("2026-11-22T12:00:00Z");

function compiled(sources: BundleSources, version = 1) {
  return compileBundle({ ...sources, digest: bundleDigest(sources), version, name: "test" });
}

const withPolicy = (policy: string): BundleSources => ({ ...defaultSources, policies: `${defaultSources.policies}\n${policy}\n` });
const write = (path: string, agent = { id: "claude-code", version: "2.1.0" }): ActionRequest => ({ agent, action: { type: "file.write", targets: [{ kind: "path", value: path }] } });

/** A registered, low-risk agent, as the example registry has claude-code. */
const standing: AgentStanding = { registered: true, risk: "low", owner: "platform", artifactApproved: false, versionAllowed: true };
/** The history values of a device that did nothing yet, under `bundle`'s features. */
const freshHistory = (bundle: CompiledBundle, request: ActionRequest): HistoryContext => HistoryCursor.fresh(bundle.history, bundle.digest, bundle.tierOrder).historyFor(request, device, noon).values;
/** What the service hands decide() beyond the request: the example bundle denies any agent the registry lacks and reads history features. */
const factsFor = (bundle: CompiledBundle, request: ActionRequest, change: Partial<DecisionFacts> = {}): DecisionFacts => ({ agent: standing, consents: [], history: freshHistory(bundle, request), ...change });
const decideAt = (bundle: CompiledBundle, request: ActionRequest, on: DeviceContext, ms: number, change: Partial<DecisionFacts> = {}) => decide(bundle, request, on, ms, factsFor(bundle, request, change));

function consent(id: string, paths: string[]): CompiledConsent {
  return compileConsent({ id, scope: { paths }, purpose: "summarise my notes", consent_version: "2026-01", given_at: noon - 3_600_000, expires_at: noon + 86_400_000 });
}

describe("a memoised answer never outlives what it was computed from", () => {
  it("a policy that reads context.now: the answer turns when the clock crosses its bound, and back", () => {
    const bound = Math.floor(noon / 1000);
    const bundle = compiled(withPolicy(`@id("after-noon") forbid (principal, action == Action::"file.write", resource) when { context.now >= ${bound} };`));
    const request = write("/home/dev/workspace/a.ts");
    const at = (ms: number) => decideAt(bundle, request, device, ms);
    for (let round = 0; round < 2; round += 1) {
      expect(at(noon - 1000)).toMatchObject({ decision: "permit", reasons: ["workspace-read-write"] });
      expect(at(noon - 1000)).toMatchObject({ decision: "permit" });
      expect(at(noon)).toMatchObject({ decision: "deny", reasonCode: "policy_forbid", reasons: ["after-noon"] });
      expect(at(noon + 60_000)).toMatchObject({ decision: "deny", reasons: ["after-noon"] });
    }
  });

  it("another bundle for the same request: each answers by its own policies, alternately", () => {
    const open = compiled(defaultSources, 1);
    const frozen = compiled(withPolicy(`@id("freeze-writes") forbid (principal, action == Action::"file.write", resource);`), 2);
    const request = write("/home/dev/workspace/a.ts");
    for (let round = 0; round < 3; round += 1) {
      expect(decideAt(open, request, device, noon)).toMatchObject({ decision: "permit" });
      expect(decideAt(frozen, request, device, noon)).toMatchObject({ decision: "deny", reasons: ["freeze-writes"] });
    }
  });

  it("the same file read directly and as a command's argument: context.derived is part of the question", () => {
    const bundle = compiled(defaultSources);
    const direct: ActionRequest = { agent: { id: "claude-code", version: "2.1.0" }, action: { type: "file.read", targets: [{ kind: "path", value: "/etc/hostname" }] } };
    const viaCommand: ActionRequest = { agent: { id: "claude-code", version: "2.1.0" }, action: { type: "command.exec", targets: [{ kind: "command", value: "cat /etc/hostname" }] } };
    for (let round = 0; round < 2; round += 1) {
      expect(decideAt(bundle, direct, device, noon)).toMatchObject({ decision: "permit", reasons: ["system-read"] });
      expect(decideAt(bundle, viaCommand, device, noon)).toMatchObject({ decision: "deny", reasonCode: "no_applicable_permit" });
    }
  });

  it("an attribute a policy reads (the agent's version, the device's assurance) changes the answer", () => {
    const bundle = compiled(withPolicy(`@id("old-agent") forbid (principal, action, resource) when { principal.version == "0.9" };`));
    for (let round = 0; round < 2; round += 1) {
      expect(decideAt(bundle, write("/home/dev/workspace/a.ts", { id: "claude-code", version: "0.9" }), device, noon)).toMatchObject({ decision: "deny", reasons: ["old-agent"] });
      expect(decideAt(bundle, write("/home/dev/workspace/a.ts", { id: "claude-code", version: "1.0" }), device, noon)).toMatchObject({ decision: "permit" });
    }
    const sends: ActionRequest = { agent: { id: "claude-code", version: "2.1.0" }, action: { type: "file.write", targets: [{ kind: "path", value: "/home/dev/workspace/a.ts" }], sends_external: true } };
    for (let round = 0; round < 2; round += 1) {
      expect(decideAt(bundle, sends, device, noon)).toMatchObject({ decision: "review", tier: "tier2" });
      expect(decideAt(bundle, sends, { ...device, assurance: "tpm" }, noon)).toMatchObject({ decision: "permit" });
    }
  });
});

describe("what a decision knows beyond the request is part of the question", () => {
  // Each pair differs in nothing but one fact the service hands decide(): the same bundle load, request, device and second.
  it("a covering consent, or none: the same document read is permitted, then denied, then permitted", () => {
    const bundle = compiled(defaultSources);
    const read: ActionRequest = { agent: { id: "claude-code", version: "2.1.0" }, action: { type: "file.read", targets: [{ kind: "path", value: "/home/dev/Documents/notes/plan.md" }] } };
    const covering = [consent("c-notes", ["/home/dev/Documents/notes/**"])];
    for (let round = 0; round < 2; round += 1) {
      expect(decideAt(bundle, read, device, noon, { consents: covering })).toMatchObject({ decision: "permit", reasons: ["documents-read-with-consent"], consents: ["c-notes"] });
      expect(decideAt(bundle, read, device, noon, { consents: [] })).toMatchObject({ decision: "deny", reasonCode: "consent_required", reasons: ["documents-need-consent"] });
      // A consent that covers another folder is no consent for this file.
      expect(decideAt(bundle, read, device, noon, { consents: [consent("c-taxes", ["/home/dev/Documents/taxes/**"])] })).toMatchObject({ decision: "deny", reasonCode: "consent_required" });
    }
  });

  it("a history value: the same deletion is permitted below the burst and held above it", () => {
    const bundle = compiled(defaultSources);
    const remove: ActionRequest = { agent: { id: "claude-code", version: "2.1.0" }, action: { type: "file.delete", targets: [{ kind: "path", value: "/home/dev/workspace/build/out.o" }] } };
    const history = (deletes: number) => ({ ...freshHistory(bundle, remove), deletes_60s: deletes });
    for (let round = 0; round < 2; round += 1) {
      expect(decideAt(bundle, remove, device, noon, { history: history(20) })).toMatchObject({ decision: "permit", reasons: ["workspace-delete"] });
      expect(decideAt(bundle, remove, device, noon, { history: history(21) })).toMatchObject({ decision: "review", tier: "tier1", reasons: ["delete-burst"] });
    }
    const send: ActionRequest = { agent: { id: "claude-code", version: "2.1.0" }, action: { type: "http.request", targets: [{ kind: "url", value: "https://registry.npmjs.org/left-pad" }], sends_external: true } };
    const tpm = { ...device, assurance: "tpm" as const };
    for (let round = 0; round < 2; round += 1) {
      expect(decideAt(bundle, send, tpm, noon, { history: { ...freshHistory(bundle, send), customer_data_read_30m: false } })).toMatchObject({ decision: "permit" });
      expect(decideAt(bundle, send, tpm, noon, { history: { ...freshHistory(bundle, send), customer_data_read_30m: true } })).toMatchObject({ decision: "review", tier: "tier2", reasons: ["exfil-after-customer-data"] });
    }
  });

  it("a registry attribute: registered or not, low or high risk, an approved build or not", () => {
    const bundle = compiled(defaultSources);
    const request = write("/home/dev/workspace/a.ts");
    const built = write("/home/dev/workspace/a.ts", { id: "claude-code", version: "2.1.0", artifact_sha256: "a".repeat(64) } as ActionRequest["agent"]);
    for (let round = 0; round < 2; round += 1) {
      expect(decideAt(bundle, request, device, noon)).toMatchObject({ decision: "permit", reasons: ["workspace-read-write"] });
      expect(decideAt(bundle, request, device, noon, { agent: { ...standing, registered: false } })).toMatchObject({ decision: "deny", reasonCode: "agent_unregistered", reasons: ["agent-unregistered"] });
      expect(decideAt(bundle, request, device, noon, { agent: { ...standing, risk: "high" } })).toMatchObject({ decision: "review", tier: "tier1", reasons: ["high-risk-writes-review"] });
      expect(decideAt(bundle, built, device, noon, { agent: { ...standing, artifactApproved: true } })).toMatchObject({ decision: "permit" });
      expect(decideAt(bundle, built, device, noon)).toMatchObject({ decision: "deny", reasonCode: "artifact_unapproved", reasons: ["artifact-unapproved"] });
    }
  });
});

describe("bounded caches stay correct past their bounds", () => {
  it("more slices than are kept preparsed, and more answers than are kept, each still decided by its own policies", () => {
    // 600 agents, each with its own permit: more slices than MAX_SLICES (512), so preparsed sets are evicted and their names reused.
    const agents = 600;
    const policies = Array.from({ length: agents }, (_, i) => `@id("own-${i}") permit (principal == Agent::"agent-${i}", action == Action::"file.write", resource) when { resource.within.contains("/data/${i}") };`);
    const bundle = compiled({ ...defaultSources, policies: policies.join("\n") });
    // Four rounds over every agent, each with a new file name (so every call misses the memo and evaluates): 4,800 answers, past MAX_ANSWERS (4,096).
    for (let round = 0; round < 4; round += 1) {
      const order = round % 2 === 0 ? [...Array(agents).keys()] : [...Array(agents).keys()].reverse();
      for (const i of order) {
        const agent = { id: `agent-${i}`, version: "1" };
        expect(decide(bundle, write(`/data/${i}/r${round}.txt`, agent), device, noon)).toMatchObject({ decision: "permit", reasons: [`own-${i}`] });
        expect(decide(bundle, write(`/data/${(i + 1) % agents}/r${round}.txt`, agent), device, noon)).toMatchObject({ decision: "deny", reasonCode: "no_applicable_permit" });
      }
    }
  });
});

describe("a request's command line is read once", () => {
  it("decide(), the history view and the logged programs share one reading per target and device; another shell reads again", () => {
    const target = { kind: "command" as const, value: "git status | head -3", cwd: "/home/dev/workspace" };
    const linux = { os: "linux" as const, shell: "bash" as const };
    const first = canonicalise(target, linux);
    expect(first.ok).toBe(true);
    expect(canonicalise(target, linux)).toBe(first);
    // The same text is another target object: read afresh, to the same result.
    expect(canonicalise({ ...target }, linux)).not.toBe(first);
    expect(canonicalise({ ...target }, linux)).toEqual(first);
    // Under another shell the line reads otherwise: never the cached reading.
    expect(canonicalise(target, { os: "windows", shell: "cmd" })).not.toBe(first);
  });
});
