import "../../worker/policy/cedar-workerd.ts";
import { describe, expect, it } from "vitest";
import { bundleDigest, type BundleSources } from "../../worker/policy/artifact.ts";
import { compileBundle } from "../../worker/policy/compile.ts";
import { decide, type ActionRequest, type DeviceContext } from "../../worker/policy/decide.ts";
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

describe("a memoised answer never outlives what it was computed from", () => {
  it("a policy that reads context.now: the answer turns when the clock crosses its bound, and back", () => {
    const bound = Math.floor(noon / 1000);
    const bundle = compiled(withPolicy(`@id("after-noon") forbid (principal, action == Action::"file.write", resource) when { context.now >= ${bound} };`));
    const request = write("/home/dev/workspace/a.ts");
    const at = (ms: number) => decide(bundle, request, device, ms);
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
      expect(decide(open, request, device, noon)).toMatchObject({ decision: "permit" });
      expect(decide(frozen, request, device, noon)).toMatchObject({ decision: "deny", reasons: ["freeze-writes"] });
    }
  });

  it("the same file read directly and as a command's argument: context.derived is part of the question", () => {
    const bundle = compiled(defaultSources);
    const direct: ActionRequest = { agent: { id: "claude-code", version: "2.1.0" }, action: { type: "file.read", targets: [{ kind: "path", value: "/etc/hostname" }] } };
    const viaCommand: ActionRequest = { agent: { id: "claude-code", version: "2.1.0" }, action: { type: "command.exec", targets: [{ kind: "command", value: "cat /etc/hostname" }] } };
    for (let round = 0; round < 2; round += 1) {
      expect(decide(bundle, direct, device, noon)).toMatchObject({ decision: "permit", reasons: ["system-read"] });
      expect(decide(bundle, viaCommand, device, noon)).toMatchObject({ decision: "deny", reasonCode: "no_applicable_permit" });
    }
  });

  it("an attribute a policy reads (the agent's version, the device's assurance) changes the answer", () => {
    const bundle = compiled(withPolicy(`@id("old-agent") forbid (principal, action, resource) when { principal.version == "0.9" };`));
    for (let round = 0; round < 2; round += 1) {
      expect(decide(bundle, write("/home/dev/workspace/a.ts", { id: "claude-code", version: "0.9" }), device, noon)).toMatchObject({ decision: "deny", reasons: ["old-agent"] });
      expect(decide(bundle, write("/home/dev/workspace/a.ts", { id: "claude-code", version: "1.0" }), device, noon)).toMatchObject({ decision: "permit" });
    }
    const sends: ActionRequest = { agent: { id: "claude-code", version: "2.1.0" }, action: { type: "file.write", targets: [{ kind: "path", value: "/home/dev/workspace/a.ts" }], sends_external: true } };
    for (let round = 0; round < 2; round += 1) {
      expect(decide(bundle, sends, device, noon)).toMatchObject({ decision: "review", tier: "tier2" });
      expect(decide(bundle, sends, { ...device, assurance: "tpm" }, noon)).toMatchObject({ decision: "permit" });
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
