import { z } from "zod";
import { bundleStatement, type BundleSources } from "../worker/policy/artifact.ts";
import { compileBundle, type CompiledBundle } from "../worker/policy/bundle.ts";
import { decide, type ActionRequest, type DeviceContext, type Verdict } from "../worker/policy/decide.ts";
import { TargetSchema } from "../worker/decisions/request.ts";
import { SHELLS } from "../worker/policy/targets.ts";
import { HistoryCursor } from "../worker/history/cursor.ts";
import { heldVerdict } from "../worker/history/effects.ts";
import { requestPrograms } from "../worker/history/views.ts";
import type { JsonValue } from "../worker/json/strict.ts";

/**
 * `warden bundle test`: runs a bundle's test cases through the worker's own compiler
 * and decision code (no I/O here, so it runs in Node and in workerd alike).
 */


const RequestSchema = z.strictObject({
  agent: z.strictObject({ id: z.string(), version: z.string(), artifact_sha256: z.string().optional() }),
  action: z.strictObject({
    type: z.string(),
    targets: z.array(TargetSchema).min(1),
    inputs_sha256: z.string().optional(),
    sends_external: z.boolean().optional(),
  }),
});

const HistoryValuesSchema = z.record(z.string(), z.union([z.boolean(), z.int()]));

export const TestCaseSchema = z
  .strictObject({
    name: z.string().min(1),
    device: z
      .strictObject({
        os: z.enum(["linux", "macos", "windows"]).default("linux"),
        assurance: z.enum(["software", "tpm", "sev-snp", "tdx"]).default("software"),
        shell: z.enum(SHELLS).optional(),
      })
      .default({ os: "linux", assurance: "software" }),
    /**
     * What the device did before, oldest first: each step's request is decided (`repeat` times)
     * `seconds_before` the case's request, through the worker's own history code, so the case is
     * decided on the history those decisions leave (docs/history.md › Testing).
     */
    before: z
      .array(z.strictObject({ seconds_before: z.number().min(0).max(7 * 24 * 3600), repeat: z.int().min(1).max(100).default(1), request: RequestSchema }))
      .max(50)
      .optional(),
    /** `context.history` given outright instead of a `before` sequence. */
    history: HistoryValuesSchema.optional(),
    request: RequestSchema,
    expect: z.strictObject({
      decision: z.enum(["permit", "deny", "review"]),
      /** Determining policy ids, in any order; omitted means not checked. */
      reasons: z.array(z.string()).optional(),
      tier: z.string().optional(),
      /** The history values the request was decided on; omitted means not checked. */
      history: HistoryValuesSchema.optional(),
      /** The detection rules that raised findings over the whole sequence, in order; omitted means not checked. */
      findings: z.array(z.string()).optional(),
    }),
  })
  .refine((testCase) => testCase.before === undefined || testCase.history === undefined, "a case takes either before or history, not both");
export type TestCase = z.infer<typeof TestCaseSchema>;

/** A test file: `{ "cases": [...] }`. */
export const TestFileSchema = z.strictObject({ cases: z.array(TestCaseSchema).min(1) });

export interface CaseResult {
  file: string;
  case: TestCase;
  verdict: Verdict;
  /** The history the case's request was decided on, and the rules that raised findings over its sequence. */
  history: { [name: string]: boolean | number };
  findings: string[];
  failures: string[];
}

/** What a decision logs that history filters read (worker/decisions/service.ts logs these fields and more). */
function decisionData(verdict: Verdict, request: ActionRequest, device: DeviceContext): { [key: string]: JsonValue } {
  return {
    decision: verdict.decision,
    reason_code: verdict.reasonCode,
    reasons: verdict.reasons,
    tier: verdict.tier ?? null,
    agent: { id: request.agent.id, version: request.agent.version },
    action: {
      type: request.action.type,
      targets: verdict.targets.map((target) => ({ ...target })),
      derived: verdict.derived.map((target) => ({ ...target })),
      sends_external: request.action.sends_external ?? false,
      programs: requestPrograms(request, device),
    },
  };
}

/**
 * Decides `request` at `now` on the cursor's history (or on `given` values), as the worker would
 * answer it under the device's standing, and appends it.
 */
function decideOn(bundle: CompiledBundle, cursor: HistoryCursor, request: ActionRequest, device: DeviceContext, now: number, given?: { [name: string]: boolean | number }) {
  const history = given ?? cursor.historyFor(request, device, now).values;
  let verdict = decide(bundle, request, device, now, history);
  const { quarantined, hold } = cursor.standing;
  if (quarantined) verdict = { ...verdict, decision: "deny", reasonCode: "device_quarantined", reasons: [] };
  else if (hold) verdict = heldVerdict(verdict, hold, bundle.tierOrder);
  cursor.append(decisionData(verdict, request, device), now);
  return { verdict, history };
}

export interface TestReport {
  results: CaseResult[];
  /** For every policy, how many cases it determined. */
  coverage: Map<string, number>;
  /** Forbid and review policies no case exercised: a rule nobody has seen fire. */
  uncovered: string[];
  passed: boolean;
}

/** Compiles `sources` as the worker would (strict validation included); throws BundleError. */
export function compileForTest(sources: BundleSources, now: Date): CompiledBundle {
  return compileBundle(bundleStatement(sources, { name: "test", tenant: "test", version: 1, createdAt: now, expiresAt: new Date(now.getTime() + 3_600_000) }));
}

export function runBundleTests(bundle: CompiledBundle, files: { file: string; cases: TestCase[] }[], now: Date): TestReport {
  const coverage = new Map<string, number>([...bundle.policies.keys()].map((id) => [id, 0]));
  const results: CaseResult[] = [];
  for (const { file, cases } of files) {
    for (const testCase of cases) {
      const device: DeviceContext = { id: "test-device", os: testCase.device.os, shell: testCase.device.shell, assurance: testCase.device.assurance };
      const cursor = HistoryCursor.fresh(bundle.history, bundle.digest, bundle.tierOrder);
      for (const step of testCase.before ?? []) {
        for (let repeat = 0; repeat < step.repeat; repeat += 1) decideOn(bundle, cursor, step.request, device, now.getTime() - step.seconds_before * 1000);
      }
      const { verdict, history } = decideOn(bundle, cursor, testCase.request, device, now.getTime(), testCase.history);
      const findings = cursor.raised.filter((entry) => entry.type === "finding").map((entry) => String(entry.data["rule"]));
      for (const id of verdict.reasons) coverage.set(id, (coverage.get(id) ?? 0) + 1);
      const failures: string[] = [];
      const { expect } = testCase;
      if (verdict.decision !== expect.decision) failures.push(`expected ${expect.decision}, decided ${verdict.decision} (${verdict.reasonCode})`);
      if (expect.reasons && [...expect.reasons].sort().join(",") !== [...verdict.reasons].sort().join(",")) {
        failures.push(`expected reasons [${expect.reasons.join(", ")}], got [${verdict.reasons.join(", ")}]`);
      }
      if (expect.tier !== undefined && expect.tier !== verdict.tier) failures.push(`expected tier ${expect.tier}, got ${verdict.tier ?? "none"}`);
      if (expect.history !== undefined) {
        for (const [name, value] of Object.entries(expect.history)) {
          if (history[name] !== value) failures.push(`expected history ${name} = ${String(value)}, got ${String(history[name])}`);
        }
      }
      if (expect.findings !== undefined && expect.findings.join(",") !== findings.join(",")) failures.push(`expected findings [${expect.findings.join(", ")}], got [${findings.join(", ")}]`);
      results.push({ file, case: testCase, verdict, history, findings, failures });
    }
  }
  const uncovered = [...bundle.policies.values()].filter((policy) => policy.effect === "forbid" && coverage.get(policy.id) === 0).map((policy) => policy.id);
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
  for (const [id, count] of report.coverage) {
    const policy = bundle.policies.get(id);
    const kind = policy?.reviewTier ? `review ${policy.reviewTier}` : (policy?.effect ?? "?");
    lines.push(`  ${count === 0 ? "!" : " "} ${id.padEnd(32)} ${kind.padEnd(14)} ${count}`);
  }
  const failed = report.results.filter((result) => result.failures.length > 0).length;
  lines.push("");
  if (report.uncovered.length > 0) lines.push(`untested forbid/review policies: ${report.uncovered.join(", ")}`);
  lines.push(`${report.results.length - failed} passed, ${failed} failed`);
  return lines.join("\n");
}
