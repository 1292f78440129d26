import { describe, expect, it } from "vitest";
import { HistoryCursor } from "../../worker/history/cursor.ts";
import { compileHistorySpec, type HistoryManifest } from "../../worker/history/declarations.ts";
import type { JsonValue } from "../../worker/log/canonical.ts";
import type { ActionRequest } from "../../worker/policy/decide.ts";

// Each feature kind at the edges of its window, with time injected: a cursor (the decision
// service's copy of a device's history, worker/history/cursor.ts) is fed decisions as the log
// would hold them, and asked what a request at `now` is decided on.

const T = Date.parse("2026-11-22T10:00:00.000Z");
const device = { os: "linux" as const, shell: undefined };
const tiers = [{ name: "tier1" }, { name: "tier2" }];

function spec(history: Record<string, unknown>, extra: Partial<HistoryManifest> = {}) {
  const manifest: HistoryManifest = { history, path_classes: { "customer-data": ["/home/dev/workspace/data/customers/**"] }, review_tiers: tiers, ...extra };
  return compileHistorySpec(manifest, null);
}

type Logged = { decision?: string; type?: string; targets?: JsonValue[]; derived?: JsonValue[]; programs?: string[]; agent?: string; sends_external?: boolean };

/** A decision entry's data as the service logs it (the fields history reads). */
function decision(logged: Logged): { [key: string]: JsonValue } {
  return {
    decision: logged.decision ?? "permit",
    agent: { id: logged.agent ?? "claude-code", version: "1" },
    action: { type: logged.type ?? "file.read", targets: logged.targets ?? [], derived: logged.derived ?? [], programs: logged.programs ?? [], sends_external: logged.sends_external ?? false },
  };
}

const path = (value: string) => ({ kind: "path" as const, value });
const url = (value: string) => ({ kind: "url" as const, value });
const request = (type: string, targets: ActionRequest["action"]["targets"]): ActionRequest => ({ agent: { id: "claude-code", version: "1" }, action: { type, targets } });

function cursorFor(history: Record<string, unknown>) {
  const compiled = spec(history);
  return HistoryCursor.fresh(compiled, "sha256:test", ["tier1", "tier2"]);
}

function valueAt(cursor: HistoryCursor, name: string, now: number, pending: ActionRequest = request("file.write", [path("/tmp/x")])) {
  return cursor.historyFor(pending, device, now).values[name];
}

describe("formerly(filter, within)", () => {
  const cursor = cursorFor({ read: { kind: "formerly", filter: { action: "file.read", class: "customer-data", decision: "permit" }, within_seconds: 1800 } });
  cursor.followDecision(decision({ targets: [path("/home/dev/workspace/data/customers/a.csv")] }), T);

  it.each([
    ["just inside", T + 1_799_999, true],
    ["exactly at the window", T + 1_800_000, true],
    ["just outside", T + 1_800_001, false],
  ])("%s", (_, now, expected) => {
    expect(valueAt(cursor, "read", now as number)).toBe(expected);
  });

  it("is false before anything matched, and ignores what the filter excludes", () => {
    const other = cursorFor({ read: { kind: "formerly", filter: { action: "file.read", class: "customer-data", decision: "permit" }, within_seconds: 60 } });
    expect(valueAt(other, "read", T)).toBe(false);
    other.followDecision(decision({ decision: "deny", targets: [path("/home/dev/workspace/data/customers/a.csv")] }), T);
    other.followDecision(decision({ targets: [path("/home/dev/workspace/data/products.csv")] }), T);
    other.followDecision(decision({ type: "file.write", targets: [path("/home/dev/workspace/data/customers/a.csv")] }), T);
    expect(valueAt(other, "read", T)).toBe(false);
  });

  it("matches a target a command line implies, under its own action", () => {
    const derived = cursorFor({ read: { kind: "formerly", filter: { action: "file.read", class: "customer-data" } } });
    derived.followDecision(decision({ type: "command.exec", targets: [{ kind: "command", value: "cat x", shell: "bash" }], derived: [{ action: "file.read", kind: "path", value: "/home/dev/workspace/data/customers/x.csv", from: 0 }] }), T);
    // No `within`: ever.
    expect(valueAt(derived, "read", T + 365 * 86_400_000)).toBe(true);
  });
});

describe("count_within(filter, window)", () => {
  const cursor = cursorFor({ deletes: { kind: "count_within", filter: { action: "file.delete", decision: "permit" }, window_seconds: 60, max: 100 } });
  for (let i = 0; i < 3; i += 1) cursor.followDecision(decision({ type: "file.delete", targets: [path(`/w/${i}`)] }), T + i * 1000);

  it.each([
    ["all inside", T + 2000, 3],
    ["the first exactly 60 s old", T + 60_000, 3],
    ["the first just outside", T + 60_001, 2],
    ["two outside", T + 61_001, 1],
    ["all outside", T + 62_001, 0],
  ])("%s", (_, now, expected) => {
    expect(valueAt(cursor, "deletes", now as number)).toBe(expected);
  });

  it("saturates at its max: memory per device is bounded", () => {
    const bounded = cursorFor({ n: { kind: "count_within", filter: {}, window_seconds: 3600, max: 5 } });
    for (let i = 0; i < 50; i += 1) bounded.followDecision(decision({}), T + i);
    expect(valueAt(bounded, "n", T + 100)).toBe(5);
  });

  it("counts only entries of the types it names (decisions when none)", () => {
    const typed = cursorFor({ completed: { kind: "count_within", filter: { type: "action.completed" }, window_seconds: 60 } });
    typed.followDecision(decision({}), T);
    expect(valueAt(typed, "completed", T)).toBe(0);
  });
});

describe("count_distinct_within(filter, field, window)", () => {
  const cursor = cursorFor({ hosts: { kind: "count_distinct_within", filter: { action: "http.request" }, field: "host", window_seconds: 600 } });
  cursor.followDecision(decision({ type: "http.request", targets: [url("https://a.example/x")] }), T);
  cursor.followDecision(decision({ type: "http.request", targets: [url("https://b.example/x")] }), T + 1000);
  cursor.followDecision(decision({ type: "http.request", targets: [url("https://a.example/y")] }), T + 2000);

  it.each([
    ["inside: a and b", T + 2000, 2],
    ["b exactly 600 s old, a seen again later", T + 601_000, 2],
    ["b just outside", T + 601_001, 1],
    ["all outside", T + 602_001, 0],
  ])("%s", (_, now, expected) => {
    expect(valueAt(cursor, "hosts", now as number)).toBe(expected);
  });
});

describe("sum_within(filter, field, window)", () => {
  const cursor = cursorFor({ targets: { kind: "sum_within", filter: { action: "file.write" }, field: "targets", window_seconds: 10 } });
  cursor.followDecision(decision({ type: "file.write", targets: [path("/a"), path("/b"), path("/c")] }), T);
  cursor.followDecision(decision({ type: "file.write", targets: [path("/d")] }), T + 5000);

  it.each([
    ["both inside", T + 5000, 4],
    ["the first exactly 10 s old", T + 10_000, 4],
    ["the first just outside", T + 10_001, 1],
    ["both outside", T + 15_001, 0],
  ])("%s", (_, now, expected) => {
    expect(valueAt(cursor, "targets", now as number)).toBe(expected);
  });
});

describe("first_seen(field)", () => {
  const cursor = cursorFor({ new_host: { kind: "first_seen", filter: { action: "http.request", decision: "permit" }, field: "host", max: 2 } });
  cursor.followDecision(decision({ type: "http.request", targets: [url("https://a.example/")] }), T);
  const to = (host: string) => request("http.request", [{ kind: "url", value: `https://${host}/path` }]);

  it("is true for a host this device never used, false for one it did", () => {
    expect(valueAt(cursor, "new_host", T + 1, to("a.example"))).toBe(false);
    expect(valueAt(cursor, "new_host", T + 1, to("b.example"))).toBe(true);
  });

  it("is false for a request the filter's acts do not match", () => {
    expect(valueAt(cursor, "new_host", T + 1, request("file.read", [{ kind: "path", value: "/x" }]))).toBe(false);
  });

  it("forgets the least recently used beyond its max: a forgotten host is new again", () => {
    const small = cursorFor({ new_host: { kind: "first_seen", filter: { action: "http.request" }, field: "host", max: 2 } });
    for (const host of ["a.example", "b.example", "c.example"]) small.followDecision(decision({ type: "http.request", targets: [url(`https://${host}/`)] }), T);
    expect(valueAt(small, "new_host", T, to("a.example"))).toBe(true);
    expect(valueAt(small, "new_host", T, to("c.example"))).toBe(false);
  });
});

describe("the log's clock", () => {
  it("never goes back: an entry appended with an earlier time does not reopen a window", () => {
    const cursor = cursorFor({ n: { kind: "count_within", filter: {}, window_seconds: 60 } });
    cursor.followDecision(decision({}), T);
    cursor.followDecision(decision({}), T + 120_000);
    // A request decided with a `now` older than the clock is judged at the clock.
    expect(valueAt(cursor, "n", T + 1000)).toBe(1);
  });
});
