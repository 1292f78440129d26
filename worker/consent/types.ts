/**
 * Consent records as the tenant's `ConsentLedger` keeps them and the API shows them, shared by
 * the consent service and the Durable Objects (durable-objects/ConsentLedger.ts, DeviceLog.ts).
 */
import type { ActiveConsent, ConsentScope } from "./scope.ts";

export const CONSENT_METHODS = ["sso-consent", "cli", "ui"] as const;
export type ConsentMethod = (typeof CONSENT_METHODS)[number];

/** A consent as given: never changed afterwards except by its revocation. */
export interface ConsentRecord {
  id: string;
  /** The person who consents: the identity Access verified (their e-mail), as devices are registered to. */
  actor_id: string;
  scope: ConsentScope;
  purpose: string;
  /** ISO time after which it covers nothing. */
  expiry: string;
  method: ConsentMethod;
  /** When Warden recorded it. */
  consent_timestamp: string;
  /** The version of the policy text the actor was shown. */
  consent_version: string;
  /** Who recorded it: the actor, or an admin on their behalf (`on_behalf`). */
  recorded_by: { id: string; via: string; on_behalf: boolean };
  revoked: { at: string; by: string; reason: string | null } | null;
}

/** One event of a consent's history, as the ledger's hash chain holds it. */
export interface ConsentEvent {
  seq: number;
  time: string;
  type: "consent.given" | "consent.revoked";
  by: string;
  hash: string;
}

/** A consent with its history and its state at the time it was read. */
export interface ConsentView extends ConsentRecord {
  status: "active" | "expired" | "revoked";
  history: ConsentEvent[];
}

/** What a device keeps of a consent: enough for a decision to judge coverage. */
export function activeConsent(record: ConsentRecord): ActiveConsent {
  return {
    id: record.id,
    scope: record.scope,
    purpose: record.purpose,
    consent_version: record.consent_version,
    expires_at: Date.parse(record.expiry),
    given_at: Date.parse(record.consent_timestamp),
  };
}

/** A device's copy of its actor's active consents, at the version decisions check against. */
export interface DeviceConsents {
  /** Counts every change of this device's copy; a decision made with another version is made again. */
  version: number;
  /** The device's registered user, or null. */
  actor: string | null;
  consents: ActiveConsent[];
}

/** How the devices of an actor stand after a change: how many hold it, how many the ledger's alarm still retries. */
export interface DeviceSync {
  synced: number;
  pending: number;
}
