/**
 * The facts a decision was made on beyond its request and history, as its log entry records
 * them (`data.facts`), so that a replay decides it again on exactly those: the agent's registry
 * standing when the bundle reads one, and the consents the verdict relied on when it reads
 * consent. Coverage over the relied-on consents is coverage over all of them: the consent that
 * covered a target is among them, and one that covered nothing covers nothing here either.
 */
import type { JsonValue } from "../log/canonical.ts";
import { RISKS, UNREGISTERED, type AgentStanding } from "../agents/types.ts";
import { compileConsent, type ActiveConsent } from "../consent/scope.ts";
import type { CompiledBundle } from "./bundle.ts";
import { readsConsent, readsRegistry, type DecisionFacts, type Verdict } from "./decide.ts";

/** What a decision entry records of its facts; null when the bundle reads neither. */
export interface RecordedFacts {
  agent: { registered: boolean; risk: string; owner: string; artifact_approved: boolean; version_allowed: boolean } | null;
  consents: ActiveConsent[] | null;
}

export function recordedFacts(bundle: CompiledBundle, facts: DecisionFacts, verdict: Verdict): RecordedFacts | null {
  const registry = readsRegistry(bundle);
  const consent = readsConsent(bundle);
  if (!registry && !consent) return null;
  const { agent } = facts;
  const relied = new Set(verdict.consents ?? []);
  return {
    agent: registry ? { registered: agent.registered, risk: agent.risk, owner: agent.owner, artifact_approved: agent.artifactApproved, version_allowed: agent.versionAllowed } : null,
    consents: consent ? facts.consents.filter((compiled) => relied.has(compiled.consent.id)).map((compiled) => compiled.consent) : null,
  };
}

/**
 * The facts to decide a logged decision again on, from what it recorded; null when the bundle
 * reads what the entry does not record (an entry from before facts were logged), so it cannot
 * be replayed.
 */
export function factsOfRecord(bundle: CompiledBundle, recorded: JsonValue | undefined): DecisionFacts | null {
  const registry = readsRegistry(bundle);
  const consent = readsConsent(bundle);
  if (!registry && !consent) return { agent: UNREGISTERED, consents: [] };
  if (typeof recorded !== "object" || recorded === null || Array.isArray(recorded)) return null;
  const facts = recorded as unknown as RecordedFacts;
  let agent: AgentStanding = UNREGISTERED;
  if (registry) {
    const a = facts.agent;
    if (!a || typeof a.registered !== "boolean" || !(a.risk === "" || (RISKS as readonly string[]).includes(a.risk))) return null;
    agent = { registered: a.registered, risk: a.risk as AgentStanding["risk"], owner: String(a.owner), artifactApproved: a.artifact_approved === true, versionAllowed: a.version_allowed === true };
  }
  if (!consent) return { agent, consents: [] };
  if (!Array.isArray(facts.consents)) return null;
  try {
    return { agent, consents: facts.consents.map((record) => compileConsent(record)) };
  } catch {
    // A scope that compiled when it was decided on and does not now: nothing to decide again with.
    return null;
  }
}
