/**
 * The consent flows (docs/consent.md): a person gives consent for themselves, or an admin records
 * it on their behalf (recorded as such); the person revokes their own, an admin any; the person
 * reads their own records, admins, auditors and privacy officers everyone's. Records and their
 * history live in the tenant's `ConsentLedger`, which keeps every device of the actor in step.
 */
import type { Person, PersonRole, ServiceContext } from "../context.ts";
import { MalformedInputError, StateError, WardenError } from "../errors.ts";
import { loadDeployment } from "../policy/store.ts";
import { DEFAULT_CONSENT_MAX_DAYS } from "../policy/bundle.ts";
import { scopeProblem, type ConsentScope } from "./scope.ts";
import type { ConsentMethod, ConsentRecord, ConsentView, DeviceSync } from "./types.ts";

/** A consent as the request gives it. */
export interface ConsentRequest {
  /** Whose consent: the caller's own when absent; required when an admin records it for someone. */
  actor_id?: string | undefined;
  scope: ConsentScope;
  purpose: string;
  expiry: string;
  method?: ConsentMethod | undefined;
  consent_version: string;
}

/** Roles that read every actor's consents. */
const READERS: readonly PersonRole[] = ["admin", "auditor", "privacy-officer"];

const DAY_MS = 86_400_000;

/** The longest a consent may run under the tenant's active bundle (`consent.max_days`; 90 days without one). */
async function maxExpiryMs(ctx: ServiceContext, now: number): Promise<number> {
  const deployment = await loadDeployment(ctx.env, ctx.env.TENANT, now);
  const days = deployment.active.ok ? deployment.active.bundle.manifest.consent.max_days : DEFAULT_CONSENT_MAX_DAYS;
  return days * DAY_MS;
}

/**
 * Records a consent. A person gives their own (`actor_id` absent or theirs; `method` defaults to
 * `sso-consent`, the sign-in Access verified); an admin records one for another `actor_id` and
 * says how the actor gave it (`method`). The expiry must lie after now and within the active
 * bundle's maximum.
 */
export async function giveConsent(ctx: ServiceContext, person: Person, request: ConsentRequest): Promise<{ consent: ConsentView; devices: DeviceSync }> {
  const { env, deps } = ctx;
  const now = deps.now();
  const actor = request.actor_id ?? person.id;
  const onBehalf = actor !== person.id;
  if (!person.roles.includes(onBehalf ? "admin" : "actor")) {
    throw new WardenError("forbidden", onBehalf ? "only an admin records consent for someone else" : "a bootstrap token records consent only for an actor_id");
  }
  const method = request.method ?? (onBehalf ? undefined : "sso-consent");
  if (method === undefined) throw new MalformedInputError("malformed_request", "an admin says how the actor gave the consent (method)");
  const problem = scopeProblem(request.scope);
  if (problem) throw new MalformedInputError("malformed_request", `scope.paths: ${problem}`);
  const expiry = Date.parse(request.expiry);
  if (!(expiry > now) || expiry - now > (await maxExpiryMs(ctx, now))) throw new StateError("consent_expiry_invalid", "the expiry is past or beyond the bundle's maximum");
  const record: ConsentRecord = {
    id: deps.newId(),
    actor_id: actor,
    scope: request.scope,
    purpose: request.purpose,
    expiry: new Date(expiry).toISOString(),
    method,
    consent_timestamp: new Date(now).toISOString(),
    consent_version: request.consent_version,
    recorded_by: { id: person.id, via: person.via, on_behalf: onBehalf },
    revoked: null,
  };
  const given = await deps.consentLedger(env, env.TENANT).give({ tenant: env.TENANT, record, now });
  return { consent: given.consent, devices: given.devices };
}

/**
 * Revokes a consent: an actor only their own (another's is not found), an admin any. Once this
 * answers, no device of the actor decides with it; `consent_sync_pending` means a device could not
 * be reached and nothing is recorded yet: repeat the call.
 */
export async function revokeConsent(ctx: ServiceContext, person: Person, id: string, reason: string | null): Promise<{ consent: ConsentView; changed: boolean; devices: DeviceSync }> {
  const { env, deps } = ctx;
  const revoked = await deps.consentLedger(env, env.TENANT).revoke({ id, actor: person.roles.includes("admin") ? null : person.id, by: person.id, reason, now: deps.now() });
  if (!revoked.ok) throw new StateError(revoked.code, `consent ${id} cannot be revoked`);
  return { consent: revoked.consent, changed: revoked.changed, devices: revoked.devices };
}

function readsAll(person: Person): boolean {
  return READERS.some((role) => person.roles.includes(role));
}

/** Consent records with their history, newest first: a person's own, or (admins, auditors, privacy officers) anyone's. */
export async function listConsents(ctx: ServiceContext, person: Person, query: { actor?: string | undefined; active: boolean; limit: number }): Promise<ConsentView[]> {
  const { env, deps } = ctx;
  if (!readsAll(person) && query.actor !== undefined && query.actor !== person.id) throw new WardenError("forbidden", "a person reads only their own consents");
  const actor = readsAll(person) ? (query.actor ?? null) : person.id;
  return deps.consentLedger(env, env.TENANT).list({ actor, active: query.active, now: deps.now(), limit: query.limit });
}

/** One consent with its history; another person's is not found unless the caller reads everyone's. */
export async function readConsent(ctx: ServiceContext, person: Person, id: string): Promise<ConsentView> {
  const { env, deps } = ctx;
  const consent = await deps.consentLedger(env, env.TENANT).consent(id, deps.now());
  if (!consent || (!readsAll(person) && consent.actor_id !== person.id)) throw new WardenError("not_found", "no such consent");
  return consent;
}
