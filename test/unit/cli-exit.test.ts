import { describe, expect, it } from "vitest";
import { EXIT, decisionExitCode } from "../../cli/exit.ts";

const permit = { decision: "permit", reason_code: "policy_permit", token: "eyJ.a.b" };

describe("decisionExitCode", () => {
  it("maps the three decisions to 0, 10 and 11", () => {
    expect(decisionExitCode(200, permit)).toBe(0);
    expect(decisionExitCode(200, { decision: "deny", reason_code: "policy_forbid" })).toBe(10);
    expect(decisionExitCode(200, { decision: "review", reason_code: "policy_review", review: { tier: "tier1" } })).toBe(11);
    expect(EXIT).toEqual({ permit: 0, error: 1, deny: 10, review: 11 });
  });

  it("exits 0 only for a 200 permit that carries its action token", () => {
    expect(decisionExitCode(200, { decision: "permit" })).toBe(1);
    expect(decisionExitCode(200, { decision: "permit", token: "" })).toBe(1);
    expect(decisionExitCode(200, { decision: "permit", token: 42 })).toBe(1);
    expect(decisionExitCode(201, permit)).toBe(1);
  });

  it.each([400, 401, 403, 404, 413, 415, 500, 502, 503])("fails closed on HTTP %i, whatever the body says", (status) => {
    expect(decisionExitCode(status, permit)).toBe(1);
    expect(decisionExitCode(status, { decision: "deny" })).toBe(1);
  });

  it.each([
    ["null", null],
    ["a string", "permit"],
    ["an array", [permit]],
    ["an empty object", {}],
    ["an unknown decision", { decision: "allow", token: "t" }],
    ["a differently cased decision", { decision: "PERMIT", token: "t" }],
    ["a decision that is not a string", { decision: true, token: "t" }],
  ])("fails closed on %s", (_label, body) => {
    expect(decisionExitCode(200, body)).toBe(1);
  });
});
