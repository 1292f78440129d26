/**
 * The agent registry's records, shared by the registry service, its Durable Object
 * (durable-objects/AgentRegistry.ts) and the decision path's copy of it (store.ts).
 */

export const RISKS = ["low", "medium", "high"] as const;
export type Risk = (typeof RISKS)[number];

/** An approved build: its digests, the statement that approves it, and the key that signed it. */
export interface ApprovedArtifact {
  artifact_sha256: string;
  sbom_sha256: string;
  signed_at: string;
  /** RFC 7638 thumbprint of the artifact key that signed `statement`. */
  key: string;
  /** The compact JWS, kept so every isolate (and an auditor) verifies it again. */
  statement: string;
}

/** What an admin registers about an agent. */
export interface AgentRegistration {
  id: string;
  name: string;
  /** Who answers for the agent: a person's e-mail or a team. */
  owner: string;
  risk: Risk;
  /** What the agent does, in words. */
  description: string;
  /** The action types it is meant to take (`file.write`, `command.exec`, …). */
  actions: string[];
  /** Approvals it needed before it was registered (security review, DPIA, …), by name. */
  approvals: string[];
  /** Versions allowed to run; empty allows any. */
  versions: string[];
  artifacts: ApprovedArtifact[];
}

/** A registered agent as the registry keeps it. */
export interface AgentRecord extends AgentRegistration {
  /** Counts the registrations of this id: 1 at first, one more on each change. */
  revision: number;
  registered_at: string;
  registered_by: string;
  updated_at: string;
  updated_by: string;
}

/** What isolates read from R2 (`<tenant>/agents/registry.json`): every record, at a version. */
export interface RegistrySnapshot {
  format: "warden.agent-registry.v1";
  version: number;
  agents: AgentRecord[];
}

/** What a decision knows about the acting agent (Cedar: `principal.registered`, `risk`, `owner`, `artifact_approved`, `version_allowed`). */
export interface AgentStanding {
  registered: boolean;
  /** `""` when unregistered. */
  risk: Risk | "";
  /** `""` when unregistered. */
  owner: string;
  /** The digest the agent reported is one an artifact key approved for it, under today's `ARTIFACT_KEYS`. */
  artifactApproved: boolean;
  /** The registration lists no versions, or the reported one. */
  versionAllowed: boolean;
}

/** An agent nobody registered. */
export const UNREGISTERED: AgentStanding = { registered: false, risk: "", owner: "", artifactApproved: false, versionAllowed: false };

/** Where the registry's snapshot lives in the `BUNDLES` bucket. */
export function registryKey(tenant: string): string {
  return `${tenant}/agents/registry.json`;
}
