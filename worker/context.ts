import type { BundleRegistry } from "../durable-objects/BundleRegistry.ts";
import type { Assurance, DeviceLog } from "../durable-objects/DeviceLog.ts";
import type { SingleUse } from "../durable-objects/DeviceLog.ts";
import type { DeviceOs } from "./policy/targets.ts";

/**
 * What the app takes from outside: time, randomness and the device store. Production
 * uses the real ones; tests pin the clock or inject a failing store.
 */
export interface Deps {
  now(): number;
  randomBytes(length: number): Uint8Array;
  newId(): string;
  deviceStore(env: Env, tenant: string, deviceId: string): DurableObjectStub<DeviceLog>;
  bundleRegistry(env: Env, tenant: string): DurableObjectStub<BundleRegistry>;
}

export const runtimeDeps: Deps = {
  now: () => Date.now(),
  randomBytes: (length) => crypto.getRandomValues(new Uint8Array(length)),
  newId: () => crypto.randomUUID(),
  deviceStore: (env, tenant, deviceId) => env.DEVICES.get(env.DEVICES.idFromName(`${tenant}/${deviceId}`)),
  bundleRegistry: (env, tenant) => env.BUNDLE_REGISTRY.get(env.BUNDLE_REGISTRY.idFromName(tenant)),
};

/** A device authenticated by its session token and a DPoP proof of the same key. */
export interface DeviceSession {
  deviceId: string;
  tenant: string;
  jkt: string;
  os: DeviceOs;
  assurance: Assurance;
  /** Device groups from registration; a canary may target one. */
  groups: string[];
  sessionId: string;
  /** The request's DPoP proof, to be spent in the device's Durable Object with the request's effect. */
  proof: SingleUse;
}

export type Caller = { role: "admin" } | { role: "auditor" } | { role: "device"; session: DeviceSession };

export type AppEnv = {
  Bindings: Env;
  Variables: {
    deps: Deps;
    caller: Caller;
  };
};
