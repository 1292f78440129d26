import { z } from "zod";
import { bundleDigest, type BundleSources } from "../worker/policy/artifact.ts";
import type { CompiledBundle, CompiledPolicy } from "../worker/policy/bundle.ts";
import { compileBundle } from "../worker/policy/compile.ts";
import { decide, type ActionRequest, type DecisionFacts, type DeviceContext, type HistoryContext, type Verdict } from "../worker/policy/decide.ts";
import { TargetSchema } from "../worker/decisions/request.ts";
import { SHELLS } from "../worker/policy/targets.ts";
import { RISKS, UNREGISTERED, type AgentStanding } from "../worker/agents/types.ts";
import { compileConsent, ConsentScopeSchema } from "../worker/consent/scope.ts";
import { HistoryCursor } from "../worker/history/cursor.ts";
import { heldVerdict } from "../worker/history/effects.ts";
import { requestPrograms } from "../worker/history/views.ts";
import type { JsonValue } from "../worker/json/strict.ts";

/**
 * `warden bundle test`: runs a bundle's test cases through the worker's own compiler
 * and decision code (no I/O here, so it runs in Node and in workerd alike).
 */

/**
 * The agents a bundle is tested (and `npm start` demonstrates it) with: `<bundle>/agents.json`,
 * `{ "agents": [ <POST /v1/agents bodies> ] }`. The runner reads what decisions see of each.
 */
export const ExampleAgentsSchema = z.object({
  agents: z.array(z.object({ id: z.string().min(1), risk: z.enum(RISKS), owner: z.string().min(1), versions: z.array(z.string()).default([]) })),
});
export type ExampleAgents = z.infer<typeof ExampleAgentsSchema>["agents"];

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
    /** What the registry says of the agent, where it differs from `agents.json` (an agent it does not list is unregistered). */
    standing: z
      .strictObject({
        registered: z.boolean().optional(),
        risk: z.enum(RISKS).optional(),
        owner: z.string().optional(),
        artifact_approved: z.boolean().optional(),
        version_allowed: z.boolean().optional(),
      })
      .optional(),
    /** Active consents of the device's user. */
    consents: z
      .array(z.strictObject({ id: z.string().min(1).default("consent"), scope: ConsentScopeSchema, purpose: z.string().default("testing"), version: z.string().default("1") }))
      .default([]),
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
      /** The decision's reason code; omitted means not checked. */
      reason_code: z.string().optional(),
      /** Ids of the consents the decision relied on; omitted means not checked. */
      consents: z.array(z.string()).optional(),
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
 * Decides `request` at `now` with `facts` on the cursor's history (or on `given` values), as the
 * worker would answer it under the device's standing, and appends it.
 */
function decideOn(bundle: CompiledBundle, cursor: HistoryCursor, request: ActionRequest, device: DeviceContext, now: number, facts: DecisionFacts, given?: HistoryContext) {
  const history = given ?? cursor.historyFor(request, device, now).values;
  let verdict = decide(bundle, request, device, now, { ...facts, history });
  const { quarantined, hold } = cursor.standing;
  if (quarantined) verdict = { ...verdict, decision: "deny", reasonCode: "device_quarantined", reasons: [] };
  else if (hold) verdict = heldVerdict(verdict, hold, bundle.tierOrder);
  cursor.followDecision(decisionData(verdict, request, device), now);
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

/** Compiles `sources` as activation does (strict validation included); throws BundleError. */
export function compileForTest(sources: BundleSources): CompiledBundle {
  return compileBundle({ ...sources, digest: bundleDigest(sources), version: 1, name: "test" });
}

/** Every policy of a bundle, in order. */
function policiesOf(bundle: CompiledBundle): CompiledPolicy[] {
  return Array.from({ length: bundle.size }, (_, position) => bundle.policy(position));
}

/** What a request's decision knows beyond it from the example registry alone: its agent's standing there, no consents. */
export function registryFacts(agents: ExampleAgents, agent: { id: string; version: string }): AgentStanding {
  const listed = agents.find((candidate) => candidate.id === agent.id);
  return listed
    ? { registered: true, risk: listed.risk, owner: listed.owner, artifactApproved: false, versionAllowed: listed.versions.length === 0 || listed.versions.includes(agent.version) }
    : UNREGISTERED;
}

/** What a case's decision knows beyond its request: the example registry's standing of its agent, overridden by the case, and its consents. */
function factsOf(testCase: TestCase, agents: ExampleAgents, now: number): DecisionFacts {
  const base = registryFacts(agents, testCase.request.agent);
  const standing = testCase.standing ?? {};
  const agent: AgentStanding = {
    registered: standing.registered ?? base.registered,
    risk: standing.risk ?? base.risk,
    owner: standing.owner ?? base.owner,
    artifactApproved: standing.artifact_approved ?? base.artifactApproved,
    versionAllowed: standing.version_allowed ?? base.versionAllowed,
  };
  const consents = testCase.consents.map((consent) =>
    compileConsent({ id: consent.id, scope: consent.scope, purpose: consent.purpose, consent_version: consent.version, given_at: now - 3_600_000, expires_at: now + 86_400_000 }),
  );
  return { agent, consents };
}

export function runBundleTests(bundle: CompiledBundle, files: { file: string; cases: TestCase[] }[], now: Date, agents: ExampleAgents = []): TestReport {
  const coverage = new Map<string, number>(policiesOf(bundle).map((policy) => [policy.id, 0]));
  const results: CaseResult[] = [];
  for (const { file, cases } of files) {
    for (const testCase of cases) {
      const device: DeviceContext = { id: "test-device", os: testCase.device.os, shell: testCase.device.shell, assurance: testCase.device.assurance };
      const cursor = HistoryCursor.fresh(bundle.history, bundle.digest, bundle.tierOrder);
      for (const step of testCase.before ?? []) {
        const facts = { agent: registryFacts(agents, step.request.agent), consents: [] };
        for (let repeat = 0; repeat < step.repeat; repeat += 1) decideOn(bundle, cursor, step.request, device, now.getTime() - step.seconds_before * 1000, facts);
      }
      const { verdict, history } = decideOn(bundle, cursor, testCase.request, device, now.getTime(), factsOf(testCase, agents, now.getTime()), testCase.history);
      const findings = cursor.raised.filter((entry) => entry.type === "finding").map((entry) => String(entry.data["rule"]));
      for (const id of verdict.reasons) coverage.set(id, (coverage.get(id) ?? 0) + 1);
      const failures: string[] = [];
      const { expect } = testCase;
      if (verdict.decision !== expect.decision) failures.push(`expected ${expect.decision}, decided ${verdict.decision} (${verdict.reasonCode})`);
      if (expect.reasons && [...expect.reasons].sort().join(",") !== [...verdict.reasons].sort().join(",")) {
        failures.push(`expected reasons [${expect.reasons.join(", ")}], got [${verdict.reasons.join(", ")}]`);
      }
      if (expect.tier !== undefined && expect.tier !== verdict.tier) failures.push(`expected tier ${expect.tier}, got ${verdict.tier ?? "none"}`);
      if (expect.reason_code !== undefined && expect.reason_code !== verdict.reasonCode) failures.push(`expected reason_code ${expect.reason_code}, got ${verdict.reasonCode}`);
      if (expect.consents && expect.consents.join(",") !== (verdict.consents ?? []).join(",")) failures.push(`expected to rely on consents [${expect.consents.join(", ")}], relied on [${(verdict.consents ?? []).join(", ")}]`);
      if (expect.history !== undefined) {
        for (const [name, value] of Object.entries(expect.history)) {
          if (history[name] !== value) failures.push(`expected history ${name} = ${String(value)}, got ${String(history[name])}`);
        }
      }
      if (expect.findings !== undefined && expect.findings.join(",") !== findings.join(",")) failures.push(`expected findings [${expect.findings.join(", ")}], got [${findings.join(", ")}]`);
      results.push({ file, case: testCase, verdict, history, findings, failures });
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

/** The report as `warden bundle test --json` prints it. */
export function reportJson(report: TestReport) {
  return {
    passed: report.passed,
    cases: report.results.map((result) => ({
      file: result.file,
      name: result.case.name,
      passed: result.failures.length === 0,
      failures: result.failures,
      decision: result.verdict.decision,
      reasons: result.verdict.reasons,
      ...(result.verdict.tier !== undefined ? { tier: result.verdict.tier } : {}),
    })),
    coverage: Object.fromEntries(report.coverage),
    uncovered: report.uncovered,
  };
}
