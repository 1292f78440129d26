/**
 * The agent registry's flows (admin): register or change an agent with the statements that
 * approve its builds, and take one out. Each change is serialised in the tenant's
 * `AgentRegistry`, published to the snapshot decisions read (store.ts), and recorded in the
 * tenant's admin log with who made it.
 */
import type { ServiceContext } from "../context.ts";
import { StateError } from "../errors.ts";
import { artifactKeys } from "./store.ts";
import { verifyArtifactStatement } from "./statement.ts";
import type { AgentRecord, AgentRegistration, ApprovedArtifact } from "./types.ts";

/** A registration as an admin sends it: each approved build as its signed statement. */
export type RegistrationRequest = Omit<AgentRegistration, "artifacts"> & { artifacts: { statement: string }[] };

/**
 * Registers agent `request.id` (or replaces its registration). Every artifact statement must be
 * signed by a key in `ARTIFACT_KEYS` and be about this agent; one that is not refuses the whole
 * registration with its own code, so an admin never believes a build approved that is not.
 */
export async function registerAgent(ctx: ServiceContext, request: RegistrationRequest, by: string): Promise<{ agent: AgentRecord; created: boolean; version: number }> {
  const { env, deps } = ctx;
  const keys = await artifactKeys(env.ARTIFACT_KEYS);
  const artifacts = new Map<string, ApprovedArtifact>();
  for (const { statement } of request.artifacts) {
    const verified = await verifyArtifactStatement(statement, keys, request.id);
    const { artifact_sha256, sbom_sha256, signed_at } = verified.statement;
    artifacts.set(artifact_sha256, { artifact_sha256, sbom_sha256, signed_at, key: verified.key, statement });
  }
  const registration: AgentRegistration = {
    ...request,
    actions: [...new Set(request.actions)],
    approvals: [...new Set(request.approvals)],
    versions: [...new Set(request.versions)],
    artifacts: [...artifacts.values()],
  };
  const now = deps.now();
  const { record, created, version } = await deps.agentRegistry(env, env.TENANT).register({ tenant: env.TENANT, registration, by, now });
  await deps.bundleRegistry(env, env.TENANT).recordAdminAction({
    type: created ? "admin.agent_registered" : "admin.agent_updated",
    data: { agent: record.id, revision: record.revision, risk: record.risk, owner: record.owner, artifacts: record.artifacts.map((artifact) => artifact.artifact_sha256), registry_version: version, by },
    now,
  });
  return { agent: record, created, version };
}

/** Takes agent `id` out of the registry: its next decisions are an unregistered agent's. */
export async function removeAgent(ctx: ServiceContext, id: string, by: string): Promise<{ version: number }> {
  const { env, deps } = ctx;
  const now = deps.now();
  const removed = await deps.agentRegistry(env, env.TENANT).remove({ tenant: env.TENANT, id, by, now });
  if (!removed.ok) throw new StateError(removed.code, `agent ${id} is not registered`);
  await deps.bundleRegistry(env, env.TENANT).recordAdminAction({ type: "admin.agent_removed", data: { agent: id, revision: removed.revision, registry_version: removed.version, by }, now });
  return { version: removed.version };
}
