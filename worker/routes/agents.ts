import { createRoute, z } from "@hono/zod-openapi";
import { personOf, requireRole } from "../auth.ts";
import { registerAgent, removeAgent } from "../agents/registry.ts";
import { AGENT_ID } from "../agents/statement.ts";
import { RISKS } from "../agents/types.ts";
import { serviceContext } from "../context.ts";
import { WardenError } from "../errors.ts";
import { bearerSecurity, jsonBody, problems, router } from "../openapi.ts";

const AgentIdSchema = z.string().regex(AGENT_ID).openapi({ description: "The id the agent sends as `agent.id`", example: "claude-code" });

const RegisterAgentSchema = z
  .strictObject({
    id: AgentIdSchema,
    name: z.string().min(1).max(128),
    owner: z.string().min(1).max(254).openapi({ description: "Who answers for the agent: a person's e-mail or a team" }),
    risk: z.enum(RISKS).openapi({ description: "Policies read it as `principal.risk`" }),
    description: z.string().max(2000).default("").openapi({ description: "What the agent does" }),
    actions: z.array(z.string().regex(/^[a-z][a-z0-9_.-]{0,63}$/)).max(64).default([]).openapi({ description: "The action types it is meant to take" }),
    approvals: z.array(z.string().min(1).max(128)).max(32).default([]).openapi({ description: "Approvals it needed before registration (security review, DPIA …)" }),
    versions: z.array(z.string().min(1).max(64)).max(64).default([]).openapi({ description: "Versions allowed to run (`principal.version_allowed`); empty allows any" }),
    artifacts: z
      .array(z.strictObject({ statement: z.string().min(1).max(8192).openapi({ description: "A statement from `warden agent sign`: compact JWS by a key in ARTIFACT_KEYS" }) }))
      .max(64)
      .default([])
      .openapi({ description: "Approved builds: `principal.artifact_approved` holds when the agent reports one of their digests" }),
  })
  .openapi("AgentRegistration");

const ArtifactSchema = z.object({ artifact_sha256: z.string(), sbom_sha256: z.string(), signed_at: z.string(), key: z.string(), statement: z.string() }).openapi("ApprovedArtifact");

const AgentSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    owner: z.string(),
    risk: z.enum(RISKS),
    description: z.string(),
    actions: z.array(z.string()),
    approvals: z.array(z.string()),
    versions: z.array(z.string()),
    artifacts: z.array(ArtifactSchema),
    revision: z.int(),
    registered_at: z.string(),
    registered_by: z.string(),
    updated_at: z.string(),
    updated_by: z.string(),
  })
  .openapi("Agent");

const ChangeSchema = z
  .object({ seq: z.int(), time: z.string(), type: z.enum(["agent.registered", "agent.updated", "agent.removed"]), agent: z.string(), revision: z.int(), by: z.string() })
  .openapi("AgentChange");

const tags = ["agents"];
/** A person through Cloudflare Access, or a bootstrap bearer token. */
const security = bearerSecurity;

/** The agent registry over HTTP (flows in worker/agents/registry.ts). */
export const agents = router();

agents.openapi(
  createRoute({
    method: "post",
    path: "/v1/agents",
    operationId: "registerAgent",
    tags,
    summary: "Register an agent, or replace its registration (admin)",
    description:
      "Every artifact statement must verify under ARTIFACT_KEYS and name this agent. Decisions see the change within AGENT_REFRESH_SECONDS (default 5); it is recorded in the admin log with who made it.",
    middleware: [requireRole("admin")] as const,
    security,
    request: jsonBody(RegisterAgentSchema),
    responses: {
      200: { description: "Replaced (`revision` counts up)", content: { "application/json": { schema: z.object({ agent: AgentSchema, registry_version: z.int() }) } } },
      201: { description: "Registered", content: { "application/json": { schema: z.object({ agent: AgentSchema, registry_version: z.int() }) } } },
      ...problems(400, 401, 403, 413, 415, 422),
    },
  }),
  async (c) => {
    const { agent, created, version } = await registerAgent(serviceContext(c), c.req.valid("json"), personOf(c).id);
    return created ? c.json({ agent, registry_version: version }, 201) : c.json({ agent, registry_version: version }, 200);
  },
);

agents.openapi(
  createRoute({
    method: "get",
    path: "/v1/agents",
    operationId: "listAgents",
    tags,
    summary: "The agent registry and the history of its changes (admin, auditor)",
    middleware: [requireRole("admin", "auditor")] as const,
    security,
    responses: {
      200: { description: "Every registered agent", content: { "application/json": { schema: z.object({ version: z.int(), agents: z.array(AgentSchema), history: z.array(ChangeSchema) }) } } },
      ...problems(401, 403),
    },
  }),
  async (c) => {
    const registry = c.var.deps.agentRegistry(c.env, c.env.TENANT);
    const [{ version, agents: records }, history] = await Promise.all([registry.list(), registry.history()]);
    return c.json({ version, agents: records, history }, 200);
  },
);

agents.openapi(
  createRoute({
    method: "get",
    path: "/v1/agents/{id}",
    operationId: "getAgent",
    tags,
    summary: "One registered agent (admin, auditor)",
    middleware: [requireRole("admin", "auditor")] as const,
    security,
    request: { params: z.object({ id: AgentIdSchema }) },
    responses: {
      200: { description: "The agent", content: { "application/json": { schema: AgentSchema } } },
      ...problems(400, 401, 403, 404),
    },
  }),
  async (c) => {
    const record = await c.var.deps.agentRegistry(c.env, c.env.TENANT).agent(c.req.valid("param").id);
    if (!record) throw new WardenError("not_found", "no such agent");
    return c.json(record, 200);
  },
);

agents.openapi(
  createRoute({
    method: "delete",
    path: "/v1/agents/{id}",
    operationId: "removeAgent",
    tags,
    summary: "Take an agent out of the registry: its decisions are an unregistered agent's within AGENT_REFRESH_SECONDS (admin)",
    middleware: [requireRole("admin")] as const,
    security,
    request: { params: z.object({ id: AgentIdSchema }) },
    responses: {
      200: { description: "Removed and recorded", content: { "application/json": { schema: z.object({ registry_version: z.int() }) } } },
      ...problems(400, 401, 403, 404),
    },
  }),
  async (c) => c.json({ registry_version: (await removeAgent(serviceContext(c), c.req.valid("param").id, personOf(c).id)).version }, 200),
);
