import { env, runInDurableObject, SELF } from "cloudflare:test";
import type { DeviceLog } from "../durable-objects/DeviceLog.ts";
import { useAuditIo, type AuditIoChange } from "./worker.ts";
import type { LogEntry } from "../worker/log/chain.ts";
import { importLogPublicKey, importLogSigningKey, noteSignerFor, type LogKey, type LogPublicJwk } from "../worker/log/keys.ts";
import { signNote } from "../worker/log/note.ts";
import { rotationText } from "../worker/log/rotation.ts";
import { BASE_URL, newClient, workerFetch } from "./helpers.ts";

/** Helpers of the audit-trail tests: a device's Durable Object, its tuning and I/O, the published log keys. */

export function deviceStub(id: string, tenant = env.TENANT): DurableObjectStub<DeviceLog> {
  return env.DEVICES.get(env.DEVICES.idFromName(`${tenant}/${id}`));
}

/** Registers a device through the admin API (entry 1) and returns its id and Durable Object. */
export async function registeredDevice(): Promise<{ id: string; stub: DurableObjectStub<DeviceLog> }> {
  const client = await newClient();
  const registered = await client.register(env.ADMIN_TOKEN);
  if (registered.status !== 201) throw new Error(`registration failed: ${JSON.stringify(registered.body)}`);
  return { id: client.deviceId, stub: deviceStub(client.deviceId) };
}

/** Changes part of the object's audit tuning and I/O, adding to earlier changes (test/worker.ts). */
export async function configure(stub: DurableObjectStub<DeviceLog>, change: AuditIoChange): Promise<void> {
  useAuditIo(stub.id, change);
}

/** Restarts the object: its next request constructs it afresh from storage. */
export async function restart(stub: DurableObjectStub<DeviceLog>): Promise<void> {
  await runInDurableObject(stub, (_instance: DeviceLog, state) => state.abort("test restart")).catch(() => undefined);
}

/**
 * Runs the object's alarm `times` times in a row, whether or not one is scheduled (it may
 * have fired on its own already). Each run seals at most one segment.
 */
export async function runAlarms(stub: DurableObjectStub<DeviceLog>, times = 8): Promise<void> {
  await runInDurableObject(stub, async (instance: DeviceLog) => {
    for (let run = 0; run < times; run += 1) await instance.alarm();
  });
}

/** Appends `count` entries, all at once (concurrently) or one after another. */
export async function appendMany(stub: DurableObjectStub<DeviceLog>, count: number, options: { concurrent?: boolean; now?: number } = {}) {
  const one = (index: number) => stub.append("test.event", { index }, options.now ?? Date.now());
  if (options.concurrent) return Promise.all(Array.from({ length: count }, (_, index) => one(index)));
  const results = [];
  for (let index = 0; index < count; index += 1) results.push(await one(index));
  return results;
}

/** Every entry still in the object, oldest first. */
export async function liveEntries(stub: DurableObjectStub<DeviceLog>): Promise<LogEntry[]> {
  const entries: LogEntry[] = [];
  let after = 0;
  for (;;) {
    const page = await stub.readLog(after, 1000);
    const parsed = page.entries.map((text) => JSON.parse(text) as LogEntry);
    entries.push(...parsed);
    if (parsed.length < 1000) return entries;
    after = parsed[parsed.length - 1]!.seq;
  }
}

export function auditorGet(path: string, headers: Record<string, string> = {}): Promise<Response> {
  return SELF.fetch(new Request(`${BASE_URL}${path}`, { headers: { authorization: `Bearer ${env.AUDITOR_TOKEN}`, ...headers } }));
}

/**
 * The published log keys (/.well-known/warden-log-keys.json), as JWKs and imported. With
 * `configured`, as a deployment with those log keys (the objects' keys, when a test rotated
 * them) answers from a listing of the archive made now: a key is published from the
 * configuration, or as retired when a trusted one vouches for it.
 */
export async function publishedLogKeys(configured?: { current: string; previous?: string }): Promise<{ jwks: { keys: LogPublicJwk[] }; keys: LogKey[] }> {
  const fetch = configured
    ? workerFetch({ env: { LOG_SIGNING_KEY: configured.current, LOG_SIGNING_KEY_PREVIOUS: configured.previous, LOG_KEYS_REFRESH_SECONDS: "0" } })
    : (request: Request) => SELF.fetch(request);
  const response = await fetch(new Request(`${BASE_URL}/.well-known/warden-log-keys.json`));
  const jwks = (await response.json()) as { keys: LogPublicJwk[] };
  return { jwks, keys: await Promise.all(jwks.keys.map((jwk) => importLogPublicKey(jwk))) };
}

/** A fresh Ed25519 private JWK (JSON), like the LOG_SIGNING_KEY secret. */
export async function freshLogSigningKey(): Promise<string> {
  const pair = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"])) as CryptoKeyPair;
  return JSON.stringify(await crypto.subtle.exportKey("jwk", pair.privateKey));
}

/**
 * A retired log key as a rotation leaves it in the archive: its public JWK under `log-keys/`,
 * and the statement of its rotation to `to` (default the configured LOG_SIGNING_KEY), signed by
 * both, which is what makes the key set publish it.
 */
export async function archivedRetiredKey(to: string = env.LOG_SIGNING_KEY!, origin = "warden.example.com/log/test/retired"): Promise<LogKey> {
  const from = await importLogSigningKey(await freshLogSigningKey());
  const next = await importLogSigningKey(to);
  await env.ARCHIVE.put(`log-keys/${from.kid}.json`, JSON.stringify(from.publicJwk));
  const statement = await signNote(rotationText({ origin, from: from.kid, to: next.kid, time: new Date().toISOString() }), [noteSignerFor(from, origin), noteSignerFor(next, origin)]);
  await env.ARCHIVE.put(`log-keys/rotations/${from.kid}/${next.kid}.note`, statement);
  return from;
}

/** `target` (a bucket, a stub) with its method `name` replaced by `method`: everything else is the target's own. */
export function withMethod<T extends object>(target: T, name: string, method: unknown): T {
  return new Proxy(target, {
    get(wrapped, property) {
      if (property === name) return method;
      const value = Reflect.get(wrapped, property) as unknown;
      return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(wrapped) : value;
    },
  });
}
