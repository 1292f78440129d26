import { describe, expect, it } from "vitest";
import { compileConsent, coveringConsent, covers, scopeProblem, type ActiveConsent, type ConsentScope, type CoverageTarget } from "../../worker/consent/scope.ts";
import { canonicalizePath } from "../../worker/policy/targets.ts";

// What a consent covers (docs/consent.md): every axis it names restricts, the others do not;
// `paths` and `hosts` together say which resources, so a consent naming files covers no URL.
const now = Date.parse("2026-11-22T12:00:00Z");

function consent(scope: ConsentScope, extra: Partial<ActiveConsent> = {}): ActiveConsent {
  return { id: "c", scope, purpose: "p", consent_version: "1", expires_at: now + 3_600_000, given_at: now - 3_600_000, ...extra };
}

function file(path: string, extra: Partial<CoverageTarget> = {}): CoverageTarget {
  const canonical = canonicalizePath(path, "linux");
  if (!canonical.ok) throw new Error(canonical.reason);
  return { action: "file.read", agent: "claude-code", device: "laptop-1", within: canonical.value.within, ...extra };
}

const url = (host: string, extra: Partial<CoverageTarget> = {}): CoverageTarget => ({ action: "http.request", agent: "claude-code", device: "laptop-1", host, ...extra });

describe("consent coverage", () => {
  it.each<[string, ConsentScope, CoverageTarget, boolean]>([
    ["a path pattern covers what is under it", { paths: ["/home/dev/Documents/**"] }, file("/home/dev/Documents/a/b.txt"), true],
    ["a plain path covers itself and what is inside it", { paths: ["/home/dev/Documents"] }, file("/home/dev/Documents/x"), true],
    ["nothing beside it", { paths: ["/home/dev/Documents"] }, file("/home/dev/Documents-old/x"), false],
    ["an exclusion carves out", { paths: ["/home/dev/Documents/**", "!/home/dev/Documents/private/**"] }, file("/home/dev/Documents/private/x"), false],
    ["a consent naming files covers no URL", { paths: ["/home/dev/Documents/**"] }, url("docs.example.com"), false],
    ["a host covers itself", { hosts: ["docs.example.com"] }, url("docs.example.com"), true],
    ["*. covers hosts under the domain", { hosts: ["*.example.com"] }, url("a.b.example.com"), true],
    ["*. does not cover the domain's look-alikes", { hosts: ["*.example.com"] }, url("evilexample.com"), false],
    ["a consent naming hosts covers no file", { hosts: ["docs.example.com"] }, file("/home/dev/Documents/x"), false],
    ["actions alone cover any resource of those actions", { actions: ["file.read"] }, file("/etc/hosts"), true],
    ["but no other action", { actions: ["file.read"] }, file("/etc/hosts", { action: "file.write" }), false],
    ["another agent", { paths: ["/home/dev/**"], agents: ["codex"] }, file("/home/dev/x"), false],
    ["another device", { paths: ["/home/dev/**"], devices: ["laptop-2"] }, file("/home/dev/x"), false],
    ["a command line (no path, no host) only under a scope without resources", { actions: ["command.exec"] }, { action: "command.exec", agent: "claude-code", device: "laptop-1" }, true],
    ["a command line under a scope naming paths", { paths: ["/home/dev/**"] }, { action: "command.exec", agent: "claude-code", device: "laptop-1" }, false],
  ])("%s", (_name, scope, target, expected) => {
    expect(covers(compileConsent(consent(scope)), target, now)).toBe(expected);
  });

  it("covers nothing at or after its expiry", () => {
    const compiled = compileConsent(consent({ actions: ["file.read"] }, { expires_at: now }));
    expect(covers(compiled, file("/x"), now - 1)).toBe(true);
    expect(covers(compiled, file("/x"), now)).toBe(false);
  });

  it("relies on the most recently given of the consents that cover", () => {
    const older = compileConsent(consent({ actions: ["file.read"] }, { id: "old", given_at: now - 7200_000 }));
    const newer = compileConsent(consent({ paths: ["/home/dev/**"] }, { id: "new", given_at: now - 60_000 }));
    const elsewhere = compileConsent(consent({ paths: ["/srv/**"] }, { id: "elsewhere", given_at: now }));
    expect(coveringConsent([older, newer, elsewhere], file("/home/dev/x"), now)?.id).toBe("new");
    expect(coveringConsent([older, newer, elsewhere], file("/etc/hosts"), now)?.id).toBe("old");
    expect(coveringConsent([elsewhere], file("/etc/hosts"), now)).toBeNull();
  });

  it("names a path that is neither canonical nor a pattern", () => {
    expect(scopeProblem({ paths: ["/home/dev/../etc"] })).toMatch(/not a canonical path/);
    expect(scopeProblem({ paths: ["relative/**"] })).toMatch(/must start with/);
    expect(scopeProblem({ paths: ["/home/dev/**"] })).toBeNull();
  });
});
