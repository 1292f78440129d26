/**
 * `npm test`'s verdict (scripts/test.mjs): any suite's failure fails the run — the browser
 * suite's included — and the closing "N passed, N failed" line agrees with the exit status.
 */
import { expect, it } from "vitest";
// @ts-expect-error: a plain .mjs script without types
import { verdict } from "../../scripts/test.mjs";

type Verdict = { passed: number; failed: number; exitCode: number; line: string };
const judge = verdict as (suites: { status: number; report?: { numPassedTests: number; numFailedTests: number; numPendingTests: number } }[]) => Verdict;
const report = (passed: number, failed: number) => ({ numPassedTests: passed, numFailedTests: failed, numPendingTests: 0 });

it("passes only when every suite exited 0 with no failed test", () => {
  expect(judge([{ status: 0, report: report(10, 0) }, { status: 0, report: report(2, 0) }, { status: 0, report: report(5, 0) }])).toMatchObject({ exitCode: 0, line: "17 passed, 0 failed" });
});

it.each([
  ["the browser suite has a failed test", [{ status: 0, report: report(10, 0) }, { status: 1, report: report(1, 1) }, { status: 0, report: report(5, 0) }], "16 passed, 1 failed"],
  ["the browser suite exits 1 with no failed test (a crash in a hook)", [{ status: 0, report: report(10, 0) }, { status: 1, report: report(2, 0) }, { status: 0, report: report(5, 0) }], "17 passed, 1 failed"],
  ["the browser suite dies before writing a report", [{ status: 0, report: report(10, 0) }, { status: 1 }, { status: 0, report: report(5, 0) }], "15 passed, 1 failed"],
  ["the node suite has failures", [{ status: 0, report: report(10, 0) }, { status: 0, report: report(2, 0) }, { status: 1, report: report(3, 2) }], "15 passed, 2 failed"],
])("fails when %s, and says so in the closing line", (_name, suites, line) => {
  expect(judge(suites)).toMatchObject({ exitCode: 1, line });
});
