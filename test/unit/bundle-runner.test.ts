import "../../worker/policy/cedar-workerd.ts";
import { describe, expect, it } from "vitest";
import { compileForTest, ExampleAgentsSchema, formatReport, runBundleTests, TestFileSchema, type TestCase } from "../../cli/bundle-runner.ts";
import exampleAgents from "../../policy-bundles/default/agents.json";
import { BundleError } from "../../worker/policy/artifact.ts";
import { defaultSources } from "../helpers.ts";

const now = new Date("2026-11-22T12:00:00Z");
const files = Object.entries(import.meta.glob<unknown>("../../policy-bundles/default/tests/*.json", { eager: true, import: "default" })).map(([path, json]) => ({
  file: `tests/${path.split("/").pop()}`,
  cases: TestFileSchema.parse(json).cases,
}));
const cases = files.flatMap((file) => file.cases);
// The registry the example bundle is tested with (policy-bundles/default/agents.json).
const agents = ExampleAgentsSchema.parse(exampleAgents).agents;

describe("warden bundle test", () => {
  it("the example bundle passes its own tests and exercises every forbid and review policy", () => {
    const bundle = compileForTest(defaultSources);
    const report = runBundleTests(bundle, files, now, agents);
    expect(files.length).toBeGreaterThan(1);
    expect(report.results.filter((result) => result.failures.length > 0)).toEqual([]);
    expect(report.uncovered).toEqual([]);
    expect(report.passed).toBe(true);
  });

  it("reports a failing case with its request, what was expected and what was decided", () => {
    const bundle = compileForTest(defaultSources);
    const workspaceWrite = cases.find((testCase) => testCase.name === "an agent writes in the workspace")!;
    const wrong: TestCase = { ...workspaceWrite, name: "wrong on purpose", expect: { decision: "deny", reasons: ["secrets-never"] } };
    const report = runBundleTests(bundle, [{ file: "tests/x.json", cases: [...cases, wrong] }], now, agents);
    expect(report.passed).toBe(false);
    const failed = report.results.find((result) => result.case.name === "wrong on purpose")!;
    expect(failed.failures).toEqual(["expected deny, decided permit (policy_permit)", "expected reasons [secrets-never], got [workspace-read-write]"]);
    const text = formatReport(report, bundle);
    expect(text).toContain("✗ tests/x.json › wrong on purpose");
    expect(text).toContain('request: {"agent"');
    expect(text).toContain(`${cases.length} passed, 1 failed`);
  });

  it("fails when a forbid or review policy has no case that exercises it", () => {
    const bundle = compileForTest(defaultSources);
    const withoutSecrets = files.map((file) => ({ ...file, cases: file.cases.filter((testCase) => !(testCase.expect.reasons ?? []).includes("secrets-never")) }));
    const report = runBundleTests(bundle, withoutSecrets, now, agents);
    expect(report.results.every((result) => result.failures.length === 0)).toBe(true);
    expect(report.uncovered).toEqual(["secrets-never"]);
    expect(report.passed).toBe(false);
  });

  it("refuses policies that do not validate strictly against the schema", () => {
    expect(() => compileForTest({ ...defaultSources, policies: `@id("a") permit (principal, action, resource) when { principal.nickname == "x" };` })).toThrow(BundleError);
  });
});
