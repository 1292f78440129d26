import { describe, expect, it } from "vitest";
import { BundleManifestSchema } from "../../worker/policy/bundle.ts";
import type { HoldRecord } from "../../worker/review/record.ts";
import { recordSha256 } from "../../worker/review/record.ts";
import { MAX_TICKET_ANSWER_BYTES, readTicketAnswer, ticketTarget } from "../../worker/review/ticket-services.ts";
import { MAX_TEMPLATE_BYTES, TICKET_VARIABLE_NAMES, templateProblem } from "../../worker/review/ticket-templates.ts";
import { renderTicket } from "../../worker/review/tickets.ts";

const proof = "{{record_sha256}} {{review_url}} {{log_seq}} {{log_hash}}";
const jira = { fields: { project: { key: "SEC" }, issuetype: { name: "Task" }, summary: "Hold {{review_id}}", description: proof } };
const servicenow = { fields: { short_description: "Hold {{review_id}}", description: proof } };

function manifest(tickets: unknown) {
  return { name: "t", review_tiers: [{ name: "tier1", sla_minutes: 60, tickets }] };
}

const record: HoldRecord = {
  review_id: "r-1",
  decision_id: "d-1",
  tenant: "acme",
  requester: { device: "laptop-1", agent: "{{log_hash}}" },
  agent: { id: "{{log_hash}}", version: "2.1.0", artifact_sha256: null },
  action: { type: "file.delete", targets: [{ kind: "path", value: "/home/dev/secret-plans.txt" }], inputs_sha256: null, sends_external: false },
  context_sha256: null,
  policy: { digest: "sha256:ab", reasons: ["git-delete", "external"] },
  decision_log: { seq: 42, hash: "c".repeat(64) },
  action_hash: "a".repeat(64),
  created_at: "2026-01-01T00:00:00.000Z",
};

describe("ticket templates in the manifest", () => {
  it("accepts a Jira and a ServiceNow template carrying the proof", () => {
    const parsed = BundleManifestSchema.parse(manifest({ jira, servicenow }));
    expect(parsed.review_tiers[0]!.tickets).toEqual({ jira, servicenow });
    expect(BundleManifestSchema.parse(manifest(undefined)).review_tiers[0]!.tickets).toBeUndefined();
  });

  it.each([
    ["an unknown variable", { jira: { fields: { ...jira.fields, summary: "{{review_id}} {{targets}}" } } }, "unknown variable {{targets}}"],
    ["no proof", { servicenow: { fields: { short_description: "Hold {{review_id}}" } } }, "does not carry the proof"],
    ["part of the proof", { servicenow: { fields: { short_description: "{{record_sha256}} {{review_url}} {{log_seq}}" } } }, "{{log_hash}}"],
    ["a malformed placeholder", { servicenow: { fields: { ...servicenow.fields, short_description: "{{ review id }}" } } }, "malformed placeholder"],
    ["a Jira template without a summary", { jira: { fields: { project: { key: "SEC" }, issuetype: { name: "Task" }, description: proof } } }, "missing summary"],
    ["a ServiceNow template without short_description", { servicenow: { fields: { description: proof } } }, "missing short_description"],
    ["an oversized template", { servicenow: { fields: { ...servicenow.fields, work_notes: "x".repeat(MAX_TEMPLATE_BYTES) } } }, "over 8192 bytes"],
    ["a template nested too deep", { servicenow: { fields: { ...servicenow.fields, a: { b: { c: { d: { e: { f: { g: { h: {} } } } } } } } } } }, "nests deeper"],
  ])("refuses %s", (_name, tickets, message) => {
    const parsed = BundleManifestSchema.safeParse(manifest(tickets));
    expect(parsed.success).toBe(false);
    expect(JSON.stringify(parsed.error?.issues)).toContain(message);
  });

  it("refuses an unknown service and anything beside `fields`", () => {
    expect(BundleManifestSchema.safeParse(manifest({ pagerduty: servicenow })).success).toBe(false);
    expect(BundleManifestSchema.safeParse(manifest({ servicenow: { ...servicenow, table: "change_request" } })).success).toBe(false);
  });

  it("every variable a template may name renders", () => {
    const all = { short_description: TICKET_VARIABLE_NAMES.map((name) => `{{${name}}}`).join("|") };
    expect(templateProblem(all)).toBeNull();
    const plain = { ...record, requester: { device: "laptop-1", agent: "claude-code" }, agent: { ...record.agent, id: "claude-code" } };
    const rendered = renderTicket(all, { record: plain, tier: "tier1", deadline: "2026-01-01T04:00:00.000Z", link: "https://w.test/review#hold-r-1", ticketId: "r-1#2" });
    expect(String(rendered["short_description"]).split("|")).toHaveLength(TICKET_VARIABLE_NAMES.length);
    expect(String(rendered["short_description"])).not.toMatch(/\{\{/);
  });
});

describe("rendering a ticket", () => {
  const facts = { record, tier: "tier1", deadline: "2026-01-01T04:00:00.000Z", link: "https://w.test/review#hold-r-1", ticketId: "r-1#2" };

  it("fills string values with the proof and the hold's identifiers, never the targets", () => {
    const rendered = renderTicket(
      { short_description: "{{action_type}} on {{device}}: {{target_count}} target(s), {{policy_reasons}}", proof, correlation_id: "{{ticket_id}}", n: 3, list: ["{{tier}}", true, null] },
      facts,
    );
    expect(rendered).toEqual({
      short_description: "file.delete on laptop-1: 1 target(s), git-delete, external",
      proof: `${recordSha256(record)} https://w.test/review#hold-r-1 42 ${"c".repeat(64)}`,
      correlation_id: "r-1#2",
      n: 3,
      list: ["tier1", true, null],
    });
    expect(JSON.stringify(rendered)).not.toContain("secret-plans");
  });

  it("substitutes once: a value that looks like a placeholder stays text, and keys are never filled", () => {
    const rendered = renderTicket({ "{{review_id}}": "{{agent}} / {{log_hash}}" }, facts);
    expect(rendered).toEqual({ "{{review_id}}": `{{log_hash}} / ${"c".repeat(64)}` });
  });
});

describe("ticketing services", () => {
  const base = { JIRA_URL: "https://acme.atlassian.net/", JIRA_USER: "bot@acme.example", JIRA_API_TOKEN: "t0ken", SERVICENOW_URL: "https://acme.service-now.com", SERVICENOW_USER: "warden", SERVICENOW_PASSWORD: "pw" };
  const target = (env: Record<string, string | undefined>, service: "jira" | "servicenow") => ticketTarget(env as unknown as Env, service);

  it("builds each target from its variables: base URL without the trailing slash, Basic credentials", () => {
    expect(target(base, "jira")).toEqual({ ok: true, base: "https://acme.atlassian.net", authorization: `Basic ${btoa("bot@acme.example:t0ken")}` });
    expect(target(base, "servicenow")).toEqual({ ok: true, base: "https://acme.service-now.com", authorization: `Basic ${btoa("warden:pw")}` });
  });

  it.each([
    [{ ...base, JIRA_URL: undefined }, "JIRA_URL is not set"],
    [{ ...base, JIRA_API_TOKEN: undefined }, "JIRA_USER or JIRA_API_TOKEN is not set"],
    [{ ...base, JIRA_URL: "http://acme.atlassian.net" }, "JIRA_URL is refused (not_https)"],
    [{ ...base, JIRA_URL: "https://10.1.2.3" }, "JIRA_URL is refused (private_address)"],
    [{ ...base, JIRA_URL: "https://localhost:8443" }, "JIRA_URL is refused (private_address)"],
    [{ ...base, JIRA_URL: "https://acme.atlassian.net/?x=1" }, "JIRA_URL must be a base URL without a query"],
  ])("refuses %o: %s", (env, problem) => {
    expect(target(env, "jira")).toEqual({ ok: false, problem });
  });

  it("OUTBOUND_DEVELOPMENT=true allows a local http service", () => {
    expect(target({ ...base, JIRA_URL: "http://127.0.0.1:9000", OUTBOUND_DEVELOPMENT: "true" }, "jira")).toMatchObject({ ok: true, base: "http://127.0.0.1:9000" });
    expect(target({ ...base, JIRA_URL: "http://127.0.0.1:9000", OUTBOUND_DEVELOPMENT: "1" }, "jira")).toMatchObject({ ok: false });
  });

  const json = (status: number, body: unknown) => new Response(typeof body === "string" ? body : JSON.stringify(body), { status });

  it("reads the opened ticket's key and link from each service's answer", async () => {
    expect(await readTicketAnswer("jira", "https://j.example", json(201, { id: "10001", key: "SEC-7", self: "https://j.example/rest/api/3/issue/10001" }))).toEqual({
      ok: true,
      ticket: { key: "SEC-7", url: "https://j.example/browse/SEC-7" },
    });
    const sysId = "0123456789abcdef0123456789abcdef";
    expect(await readTicketAnswer("servicenow", "https://s.example", json(201, { result: { sys_id: sysId, number: "INC0010001" } }))).toEqual({
      ok: true,
      ticket: { key: "INC0010001", url: `https://s.example/incident.do?sys_id=${sysId}` },
    });
  });

  it.each([
    ["jira", json(400, { errorMessages: [], errors: { summary: "required" } }), /^HTTP 400: \{"errorMessages"/],
    ["jira", json(201, { key: "not a key" }), /names no issue key/],
    ["jira", json(201, '{"key":"SEC-1","key":"SEC-2"}'), /not strict JSON \(duplicate_key\)/],
    ["jira", json(201, { key: "SEC-1", pad: "x".repeat(MAX_TICKET_ANSWER_BYTES) }), /over 65536 bytes/],
    ["servicenow", json(201, { result: { number: "INC0010001" } }), /no incident number and sys_id/],
    ["servicenow", json(503, "upstream down"), /^HTTP 503: upstream down$/],
  ] as const)("a %s answer that opened nothing is a failed attempt with its reason", async (service, response, error) => {
    const read = await readTicketAnswer(service, "https://x.example", response);
    expect(read.ok).toBe(false);
    expect(read.ok ? "" : read.error).toMatch(error);
  });
});
