/**
 * The agent registry as the decision path sees it: an isolate's copy of the snapshot the
 * tenant's `AgentRegistry` writes to R2, re-read at most every `AGENT_REFRESH_SECONDS` (and
 * only when its etag changed), with every artifact statement verified once per snapshot and
 * `ARTIFACT_KEYS` value. Decisions never call the tenant-wide object: a registration, change or
 * removal applies to every decision within `AGENT_REFRESH_SECONDS` of the admin's answer, the
 * same bound and mechanism as a bundle activation (worker/policy/store.ts).
 */
import { z } from "zod";
import { ConfigurationError, WardenError } from "../errors.ts";
import { StrictJsonError, parseStrictJson } from "../json/strict.ts";
import { publisherKeys, type PublisherKeys } from "../policy/artifact.ts";
import { ArtifactError, verifyArtifactStatement } from "./statement.ts";
import { RISKS, UNREGISTERED, registryKey, type AgentRecord, type AgentStanding, type Risk } from "./types.ts";

/** One agent of the registry, ready for lookups. */
export interface DirectoryEntry {
  risk: Risk;
  owner: string;
  versions: ReadonlySet<string>;
  /** Artifact digests whose statements verify under the current `ARTIFACT_KEYS`. */
  approved: ReadonlySet<string>;
}

/** The registry at one version, as lookups. */
export interface AgentDirectory {
  version: number;
  agents: ReadonlyMap<string, DirectoryEntry>;
}

/** The standing of `agent` in `directory`. */
export function standingOf(directory: AgentDirectory, agent: { id: string; version: string; artifact_sha256?: string | undefined }): AgentStanding {
  const entry = directory.agents.get(agent.id);
  if (!entry) return UNREGISTERED;
  return {
    registered: true,
    risk: entry.risk,
    owner: entry.owner,
    artifactApproved: agent.artifact_sha256 !== undefined && entry.approved.has(agent.artifact_sha256),
    versionAllowed: entry.versions.size === 0 || entry.versions.has(agent.version),
  };
}

/** What the lookups need of a registration. */
export type DirectorySource = Pick<AgentRecord, "id" | "owner" | "risk" | "versions"> & { artifacts: readonly { statement: string }[] };

/** Builds the lookups of a registry, keeping only the approvals whose statements verify under `keys`. */
export async function directoryOf(version: number, records: readonly DirectorySource[], keys: PublisherKeys): Promise<AgentDirectory> {
  const agents = new Map<string, DirectoryEntry>();
  for (const record of records) {
    const approved = new Set<string>();
    for (const artifact of record.artifacts) {
      try {
        const verified = await verifyArtifactStatement(artifact.statement, keys, record.id);
        approved.add(verified.statement.artifact_sha256);
      } catch (error) {
        if (!(error instanceof ArtifactError)) throw error;
        // A key taken out of ARTIFACT_KEYS no longer approves anything; the registration stays.
      }
    }
    agents.set(record.id, { risk: record.risk, owner: record.owner, versions: new Set(record.versions), approved });
  }
  return { version, agents };
}

const SnapshotSchema = z.object({
  format: z.literal("warden.agent-registry.v1"),
  version: z.int().min(1),
  agents: z.array(
    z.object({
      id: z.string(),
      owner: z.string(),
      risk: z.enum(RISKS),
      versions: z.array(z.string()),
      artifacts: z.array(z.object({ statement: z.string() })),
    }),
  ),
});

const EMPTY: AgentDirectory = { version: 0, agents: new Map() };

interface Cached {
  checkedAt: number;
  etag: string | null;
  keysSource: string | undefined;
  directory: AgentDirectory;
}

const cached = new Map<string, Cached>();
/** Trusted artifact keys, parsed once per isolate and `ARTIFACT_KEYS` value. */
let trusted: { source: string | undefined; keys: Promise<PublisherKeys> } | undefined;

/** The keys of `ARTIFACT_KEYS` (a JWK Set of Ed25519 public keys) by thumbprint; `configuration_error` when it does not read. */
export function artifactKeys(source: string | undefined): Promise<PublisherKeys> {
  if (!trusted || trusted.source !== source) {
    trusted = {
      source,
      keys: publisherKeys(source).catch((cause: unknown) => {
        throw new ConfigurationError("configuration_error", "ARTIFACT_KEYS is not a JWK Set of Ed25519 public keys", { cause });
      }),
    };
  }
  return trusted.keys;
}

/** Seconds an isolate trusts its copy of the registry (`AGENT_REFRESH_SECONDS`, default 5). */
export function refreshMs(env: Pick<Env, "AGENT_REFRESH_SECONDS">): number {
  const seconds = Number(env.AGENT_REFRESH_SECONDS ?? "5");
  return (Number.isFinite(seconds) && seconds >= 0 ? seconds : 5) * 1000;
}

/** The tenant's registry as this isolate knows it, no older than `AGENT_REFRESH_SECONDS`. */
export async function loadAgentDirectory(env: Env, tenant: string, now: number): Promise<AgentDirectory> {
  const known = cached.get(tenant);
  const fresh = known && known.keysSource === env.ARTIFACT_KEYS && now >= known.checkedAt && now - known.checkedAt < refreshMs(env);
  if (fresh) return known.directory;
  const sameKeys = known?.keysSource === env.ARTIFACT_KEYS;
  const object = await env.BUNDLES.get(registryKey(tenant), known?.etag && sameKeys ? { onlyIf: { etagDoesNotMatch: known.etag } } : {});
  let next: Cached;
  if (object === null) {
    next = { checkedAt: now, etag: null, keysSource: env.ARTIFACT_KEYS, directory: EMPTY };
  } else if (!("body" in object) && known) {
    next = { ...known, checkedAt: now };
  } else {
    const text = "body" in object ? await object.text() : "";
    next = { checkedAt: now, etag: object.etag, keysSource: env.ARTIFACT_KEYS, directory: await parseSnapshot(text, await artifactKeys(env.ARTIFACT_KEYS)) };
  }
  cached.set(tenant, next);
  return next.directory;
}

async function parseSnapshot(text: string, keys: PublisherKeys): Promise<AgentDirectory> {
  let snapshot;
  try {
    // R2 can be written around the registry: read as strictly as any input.
    snapshot = SnapshotSchema.parse(parseStrictJson(text));
  } catch (cause) {
    const why = cause instanceof StrictJsonError ? cause.code : "schema";
    throw new WardenError("storage_error", `the agent registry snapshot does not read (${why})`, { cause });
  }
  return directoryOf(snapshot.version, snapshot.agents, keys);
}
