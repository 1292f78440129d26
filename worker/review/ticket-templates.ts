/**
 * What a bundle manifest may say about tickets: per review tier, a Jira issue and/or a
 * ServiceNow incident to open when a hold enters that tier, each a JSON payload template whose
 * string values may name variables (`{{review_id}}`) from one closed list. Every template must
 * carry the proof — the record's digest, the review link and the decision's log position — so a
 * ticket can be tied back to the verifiable log without trusting the ticketing system. Checked
 * when the bundle is validated, so a typo fails the publish, never a hold. Rendering is
 * worker/review/tickets.ts; sending, worker/review/ticket-services.ts.
 */
import { z } from "zod";
import type { JsonValue } from "../json/strict.ts";

/** The services a tier can open a ticket in. */
export const TICKET_SERVICES = ["jira", "servicenow"] as const;
export type TicketService = (typeof TICKET_SERVICES)[number];

/**
 * The variables a template may name. What each is read from, and why it is offered, is the
 * table in worker/review/tickets.ts, which must cover exactly these.
 */
export const TICKET_VARIABLE_NAMES = [
  "review_id",
  "decision_id",
  "tenant",
  "device",
  "agent",
  "agent_version",
  "action_type",
  "target_count",
  "sends_external",
  "tier",
  "deadline",
  "policy_digest",
  "policy_reasons",
  "record_sha256",
  "review_url",
  "log_seq",
  "log_hash",
  "ticket_id",
] as const;
export type TicketVariableName = (typeof TICKET_VARIABLE_NAMES)[number];

/** Variables every template must name: the proof a ticket carries. */
export const REQUIRED_VARIABLES: readonly TicketVariableName[] = ["record_sha256", "review_url", "log_seq", "log_hash"];

/** A JSON object as a template holds it. */
export type JsonObject = { [key: string]: JsonValue };

/** A template's JSON text may be this long; real ones are a few hundred bytes. */
export const MAX_TEMPLATE_BYTES = 8192;
/** Nesting a template may have (an ADF description is about five deep). */
export const MAX_TEMPLATE_DEPTH = 8;
/** `{{name}}`, spaces allowed inside the braces. */
export const PLACEHOLDER = /\{\{\s*([a-z][a-z0-9_]*)\s*\}\}/g;

function strings(value: JsonValue): string[] {
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (value !== null && typeof value === "object") return Object.values(value).flatMap((item) => (item === undefined ? [] : strings(item)));
  return [];
}

function depthOf(value: JsonValue): number {
  if (Array.isArray(value)) return 1 + Math.max(0, ...value.map(depthOf));
  if (value !== null && typeof value === "object") return 1 + Math.max(0, ...Object.values(value).map((item) => (item === undefined ? 0 : depthOf(item))));
  return 0;
}

/** What is wrong with a template, or null: its size, its depth, an unknown or malformed placeholder, missing proof. */
export function templateProblem(template: JsonObject): string | null {
  if (new TextEncoder().encode(JSON.stringify(template)).length > MAX_TEMPLATE_BYTES) return `the template is over ${MAX_TEMPLATE_BYTES} bytes`;
  if (depthOf(template) > MAX_TEMPLATE_DEPTH) return `the template nests deeper than ${MAX_TEMPLATE_DEPTH}`;
  const known: readonly string[] = TICKET_VARIABLE_NAMES;
  const named = new Set<string>();
  for (const text of strings(template)) {
    for (const match of text.matchAll(PLACEHOLDER)) {
      if (!known.includes(match[1]!)) return `unknown variable {{${match[1]}}}`;
      named.add(match[1]!);
    }
    if (text.replace(PLACEHOLDER, "").includes("{{")) return `a malformed placeholder in "${text.slice(0, 64)}"`;
  }
  const missing = REQUIRED_VARIABLES.filter((name) => !named.has(name));
  return missing.length > 0 ? `the template does not carry the proof: ${missing.map((name) => `{{${name}}}`).join(", ")}` : null;
}

const JsonObjectSchema = z.record(z.string(), z.json()) as unknown as z.ZodType<JsonObject>;

function fieldsTemplate(required: readonly string[]) {
  return z.strictObject({ fields: JsonObjectSchema }).superRefine((template, ctx) => {
    const absent = required.filter((field) => !(field in template.fields));
    if (absent.length > 0) ctx.addIssue({ code: "custom", path: ["fields"], message: `missing ${absent.join(", ")}` });
    const problem = templateProblem(template.fields);
    if (problem) ctx.addIssue({ code: "custom", path: ["fields"], message: problem });
  });
}

/**
 * A tier's tickets in the manifest. `jira.fields` is the `fields` object of a Jira Cloud REST v3
 * issue create (`POST /rest/api/3/issue`; its `description` is Atlassian Document Format);
 * `servicenow.fields` is the record of a Table API insert into `incident`
 * (`POST /api/now/table/incident`).
 */
export const TicketTemplatesSchema: z.ZodType<TicketTemplates> = z.strictObject({
  jira: fieldsTemplate(["project", "issuetype", "summary"]).optional(),
  servicenow: fieldsTemplate(["short_description"]).optional(),
});

/** A tier's tickets: per service, the template of what is sent. */
export interface TicketTemplates {
  jira?: { fields: JsonObject } | undefined;
  servicenow?: { fields: JsonObject } | undefined;
}
