import { z } from "zod";
import { bundleDigest, type BundleSources } from "../worker/policy/artifact.ts";
import type { CompiledBundle, CompiledPolicy } from "../worker/policy/bundle.ts";
import { compileBundle } from "../worker/policy/compile.ts";
import { decide, type Verdict } from "../worker/policy/decide.ts";
import { TargetSchema } from "../worker/decisions/request.ts";
import { SHELLS } from "../worker/policy/targets.ts";

/**
 * `warden bundle test`: runs a bundle's test cases through the worker's own compiler
 * and decision code (no I/O here, so it runs in Node and in workerd alike).
 */


export const TestCaseSchema = z.strictObject({
  name: z.string().min(1),
  device: z
    .strictObject({
      os: z.enum(["linux", "macos", "windows"]).default("linux"),
      assurance: z.enum(["software", "tpm", "sev-snp", "tdx"]).default("software"),
      shell: z.enum(SHELLS).optional(),
    })
    .default({ os: "linux", assurance: "software" }),
  request: z.strictObject({
    agent: z.strictObject({ id: z.string(), version: z.string(), artifact_sha256: z.string().optional() }),
    action: z.strictObject({
      type: z.string(),
      targets: z.array(TargetSchema).min(1),
      inputs_sha256: z.string().optional(),
      sends_external: z.boolean().optional(),
    }),
  }),
  expect: z.strictObject({
    decision: z.enum(["permit", "deny", "review"]),
    /** Determining policy ids, in any order; omitted means not checked. */
    reasons: z.array(z.string()).optional(),
    tier: z.string().optional(),
  }),
});
export type TestCase = z.infer<typeof TestCaseSchema>;

/** A test file: `{ "cases": [...] }`. */
export const TestFileSchema = z.strictObject({ cases: z.array(TestCaseSchema).min(1) });

export interface CaseResult {
  file: string;
  case: TestCase;
  verdict: Verdict;
  failures: string[];
}

export interface TestReport {
  results: CaseResult[];
  /** For every policy, how many cases it determined. */
  coverage: Map<string, number>;
  /** Forbid and review policies no case exercised: a rule nobody has seen fire. */
  uncovered: string[];
  passed: boolean;
}

/** Compiles `sources` as activation does (strict validation included); throws BundleError. */
export function compileForTest(sources: BundleSources): CompiledBundle {
  return compileBundle({ ...sources, digest: bundleDigest(sources), version: 1, name: "test" });
}

/** Every policy of a bundle, in order. */
function policiesOf(bundle: CompiledBundle): CompiledPolicy[] {
  return Array.from({ length: bundle.size }, (_, position) => bundle.policy(position));
}

export function runBundleTests(bundle: CompiledBundle, files: { file: string; cases: TestCase[] }[], now: Date): TestReport {
  const coverage = new Map<string, number>(policiesOf(bundle).map((policy) => [policy.id, 0]));
  const results: CaseResult[] = [];
  for (const { file, cases } of files) {
    for (const testCase of cases) {
      const device = { id: "test-device", os: testCase.device.os, shell: testCase.device.shell, assurance: testCase.device.assurance };
      const verdict = decide(bundle, testCase.request, device, now.getTime());
      for (const id of verdict.reasons) coverage.set(id, (coverage.get(id) ?? 0) + 1);
      const failures: string[] = [];
      const { expect } = testCase;
      if (verdict.decision !== expect.decision) failures.push(`expected ${expect.decision}, decided ${verdict.decision} (${verdict.reasonCode})`);
      if (expect.reasons && [...expect.reasons].sort().join(",") !== [...verdict.reasons].sort().join(",")) {
        failures.push(`expected reasons [${expect.reasons.join(", ")}], got [${verdict.reasons.join(", ")}]`);
      }
      if (expect.tier !== undefined && expect.tier !== verdict.tier) failures.push(`expected tier ${expect.tier}, got ${verdict.tier ?? "none"}`);
      results.push({ file, case: testCase, verdict, failures });
    }
  }
  const uncovered = policiesOf(bundle).filter((policy) => policy.effect === "forbid" && coverage.get(policy.id) === 0).map((policy) => policy.id);
  return { results, coverage, uncovered, passed: results.every((result) => result.failures.length === 0) && uncovered.length === 0 };
}

/** The report as a test runner prints it: each failure with its request, expectation and decision. */
export function formatReport(report: TestReport, bundle: CompiledBundle): string {
  const lines: string[] = [];
  for (const result of report.results) {
    const ok = result.failures.length === 0;
    lines.push(`${ok ? "✓" : "✗"} ${result.file} › ${result.case.name}`);
    if (!ok) {
      for (const failure of result.failures) lines.push(`    ${failure}`);
      lines.push(`    request: ${JSON.stringify(result.case.request)}`);
    }
  }
  lines.push("", "coverage (cases each policy determined):");
  const byId = new Map(policiesOf(bundle).map((policy) => [policy.id, policy]));
  for (const [id, count] of report.coverage) {
    const policy = byId.get(id);
    const kind = policy?.reviewTier ? `review ${policy.reviewTier}` : (policy?.effect ?? "?");
    lines.push(`  ${count === 0 ? "!" : " "} ${id.padEnd(32)} ${kind.padEnd(14)} ${count}`);
  }
  const failed = report.results.filter((result) => result.failures.length > 0).length;
  lines.push("");
  if (report.uncovered.length > 0) lines.push(`untested forbid/review policies: ${report.uncovered.join(", ")}`);
  lines.push(`${report.results.length - failed} passed, ${failed} failed`);
  return lines.join("\n");
}
