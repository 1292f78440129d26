import type { Context } from "hono";
import type { BundleRegistry } from "../durable-objects/BundleRegistry.ts";
import type { DeviceLog } from "../durable-objects/DeviceLog.ts";
import type { EventFeed } from "../durable-objects/EventFeed.ts";
import type { Assurance, DeviceCall, SingleUse } from "./domain.ts";
import type { ReviewHolds } from "../durable-objects/ReviewHolds.ts";
import type { ReviewerRegistry } from "../durable-objects/ReviewerRegistry.ts";
import type { ConsentLedger } from "../durable-objects/ConsentLedger.ts";
import type { AgentRegistry } from "../durable-objects/AgentRegistry.ts";
import type { DeviceOs, Shell } from "./policy/targets.ts";
import type { TpmTrust } from "./verifiers/tpm/trust.ts";
import type { SnpTrust } from "./verifiers/sev-snp/trust.ts";
import type { TdxTrust } from "./verifiers/tdx/verify.ts";

/**
 * What the app takes from outside: time, randomness and the device store. Production
 * uses the real ones; tests pin the clock or inject a failing store.
 */
export interface Deps {
  now(): number;
  randomBytes(length: number): Uint8Array;
  newId(): string;
  /** Outbound requests to services Warden depends on (AMD KDS, Intel PCS); tests point it at local fakes. */
  fetch(request: Request): Promise<Response>;
  deviceStore(env: Env, tenant: string, deviceId: string): DurableObjectStub<DeviceLog>;
  bundleRegistry(env: Env, tenant: string): DurableObjectStub<BundleRegistry>;
  /** The tenant's holds, verdicts and deadline alarm. */
  reviewHolds(env: Env, tenant: string): DurableObjectStub<ReviewHolds>;
  /** The tenant's reviewers, passkeys and sign-in challenges. */
  reviewerRegistry(env: Env, tenant: string): DurableObjectStub<ReviewerRegistry>;
  /** The tenant's OCSF event feed. */
  eventFeed(env: Env, tenant: string): DurableObjectStub<EventFeed>;
  /** The tenant's consent records and which devices each actor uses. */
  consentLedger(env: Env, tenant: string): DurableObjectStub<ConsentLedger>;
  /** The tenant's agent registry. */
  agentRegistry(env: Env, tenant: string): DurableObjectStub<AgentRegistry>;
  /** TPM endorsement trust anchors; the pinned vendor roots when absent (tests add the swtpm local CA). */
  tpmTrust?(): Promise<TpmTrust>;
  /** AMD SEV-SNP trust anchors (ARK/ASK/ASVK per product); the pinned AMD roots when absent (tests inject generated chains). */
  snpTrust?(): Promise<SnpTrust>;
  /** Intel TDX trust anchors (SGX Root CA); the pinned Intel root when absent. */
  tdxTrust?(): Promise<TdxTrust>;
}

export const runtimeDeps: Deps = {
  now: () => Date.now(),
  randomBytes: (length) => crypto.getRandomValues(new Uint8Array(length)),
  newId: () => crypto.randomUUID(),
  fetch: (request) => fetch(request),
  deviceStore: (env, tenant, deviceId) => env.DEVICES.get(env.DEVICES.idFromName(`${tenant}/${deviceId}`)),
  bundleRegistry: (env, tenant) => env.BUNDLE_REGISTRY.get(env.BUNDLE_REGISTRY.idFromName(tenant)),
  reviewHolds: (env, tenant) => env.REVIEW_HOLDS.get(env.REVIEW_HOLDS.idFromName(tenant)),
  reviewerRegistry: (env, tenant) => env.REVIEWERS.get(env.REVIEWERS.idFromName(tenant)),
  eventFeed: (env, tenant) => env.EVENT_FEED.get(env.EVENT_FEED.idFromName(tenant)),
  consentLedger: (env, tenant) => env.CONSENTS.get(env.CONSENTS.idFromName(tenant)),
  agentRegistry: (env, tenant) => env.AGENTS.get(env.AGENTS.idFromName(tenant)),
};

/** A device authenticated by its session token and a DPoP proof of the same key. */
export interface DeviceSession {
  deviceId: string;
  tenant: string;
  jkt: string;
  os: DeviceOs;
  /** The device's registered shell; absent when it is the OS default. */
  shell: Shell | undefined;
  assurance: Assurance;
  /** Device groups from registration; a canary may target one. */
  groups: string[];
  sessionId: string;
  /** When the session token expires (ms): no action token issued under it outlives it. */
  sessionExpiresAt: number;
  /** The request's DPoP proof, to be spent in the device's Durable Object with the request's effect. */
  proof: SingleUse;
}

/** The device's Durable Object admits a request by its proof (spent) and its session (not revoked). */
export function deviceCall(session: DeviceSession): DeviceCall {
  return { proof: session.proof, session: { id: session.sessionId } };
}

/** The roles of people (docs/people.md); `actor` is every person, the others come from configuration. */
export type PersonRole = "admin" | "auditor" | "privacy-officer" | "reviewer" | "actor";

/** A person acting on Warden, as every record of what they did names them. */
export interface Person {
  /**
   * Who, as logs record it: the e-mail Cloudflare Access verified, `bootstrap-token:<role>` for a
   * bootstrap bearer token (local development and first setup), or the reviewer id of a passkey sign-in.
   */
  id: string;
  via: "access" | "bootstrap-token" | "passkey";
  /** Every role the person holds; a route picks the first one it admits. */
  roles: readonly PersonRole[];
}

export type Caller =
  | { role: "admin" | "auditor" | "privacy-officer" | "actor"; person: Person }
  | { role: "device"; session: DeviceSession }
  /** A reviewer: an Access person mapped to the role, or one signed in with a passkey (cookie, naming that passkey, whose revocation ends the session); verdicts still need their own assertion. */
  | { role: "reviewer"; reviewer: { id: string; credential?: string }; person: Person };

/**
 * What a service needs from the request it serves: the bindings, the injected dependencies,
 * and a way to finish work after the answer. Services never see Hono's context, so they read
 * the same from a route, a test or a queue consumer.
 */
export interface ServiceContext {
  env: Env;
  deps: Deps;
  waitUntil(promise: Promise<unknown>): void;
}

/** The service context of a request. */
export function serviceContext(c: Context<AppEnv>): ServiceContext {
  return { env: c.env, deps: c.var.deps, waitUntil: (promise) => c.executionCtx.waitUntil(promise) };
}

export type AppEnv = {
  Bindings: Env;
  Variables: {
    deps: Deps;
    caller: Caller;
  };
};
