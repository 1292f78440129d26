import type { ServiceContext } from "../context.ts";
import type { Person } from "../context.ts";
import type { JsonValue } from "../log/canonical.ts";
import type { CompiledBundle } from "../policy/bundle.ts";
import { privacyKeys } from "./keys.ts";
import { maskDecision, type Masker, type Tokenised } from "./mask.ts";
import { DROP_ALL, compilePrivacy, treatmentsOf, type PrivacyPolicy } from "./policy.ts";
import { discardVaultValues, openVaultValue, vaultMasker, type VaultIo, type VaultMasker } from "./vault.ts";

/**
 * The privacy flows: masking a device's decisions before they are logged, and a privacy
 * officer's read of a vault value, logged in the tenant's admin log before it is answered.
 */

type Data = { [key: string]: JsonValue };

/** Each bundle's privacy section compiled once (compileBundle already refused a malformed one). */
const compiled = new WeakMap<CompiledBundle, PrivacyPolicy>();

/** The privacy policy of the deciding bundle; with none (a fail-closed denial), everything sensitive is dropped. */
export function privacyOf(bundle: CompiledBundle | null): PrivacyPolicy {
  if (bundle === null) return DROP_ALL;
  let policy = compiled.get(bundle);
  if (!policy) {
    policy = compilePrivacy(bundle.manifest.privacy);
    compiled.set(bundle, policy);
  }
  return policy;
}

/** The vault's I/O from a service context: the `VAULT` bucket, the injected randomness and clock. */
export function vaultIo(ctx: ServiceContext): VaultIo {
  return { bucket: ctx.env.VAULT, randomBytes: (length) => ctx.deps.randomBytes(length), now: () => ctx.deps.now() };
}

/** A masker that refuses to be used: a policy that only drops never needs keys, and must not reach for them. */
const KEYLESS: Masker = {
  hash: () => Promise.reject(new Error("hashing without keys")),
  tokenise: () => Promise.reject(new Error("tokenising without keys")),
};

/**
 * Vault writes one request makes at most. Each is made before the append, so before the device's
 * object has checked the session, the device's standing and the proof (a refusal deletes them
 * again, {@link discardTokenised}): past the bound a value is dropped instead (less is logged,
 * never more). A value tokenised once in a request is not stored again, also when the request is
 * decided again after its history or consents moved.
 */
export const MAX_TOKENISED_PER_REQUEST = 32;

/** The values a request has tokenised, by value: one per request to the API, shared by its attempts. */
export type TokenisedValues = Map<string, Promise<Tokenised>>;

/**
 * The log data of one device's decisions, masked under `policy`. Tokenised values are in the
 * vault when this resolves; any failure (no `VAULT_KEYS`, the bucket refusing) rejects, and the
 * caller logs nothing: a raw value is never logged in place of a masked one.
 */
export async function maskForLog(
  ctx: ServiceContext,
  device: { tenant: string; deviceId: string },
  policy: PrivacyPolicy,
  decisions: readonly Data[],
  tokenised: TokenisedValues = new Map(),
): Promise<Data[]> {
  const treatments = treatmentsOf(policy);
  if (treatments.size === 0) return [...decisions];
  // Keys are read on the first value that needs them: a decision with nothing to hash or tokenise needs no VAULT_KEYS.
  let keyed: Promise<VaultMasker> | null = null;
  const lazy = () => (keyed ??= privacyKeys(ctx.env.VAULT_KEYS, device.tenant).then((keys) => vaultMasker(vaultIo(ctx), keys, device.tenant, device.deviceId)));
  const tokenise = (value: string): Promise<Tokenised | null> => {
    let stored = tokenised.get(value);
    if (!stored) {
      if (tokenised.size >= MAX_TOKENISED_PER_REQUEST) return Promise.resolve(null);
      stored = lazy().then((masker) => masker.tokenise(value));
      tokenised.set(value, stored);
    }
    return stored;
  };
  const masker: Masker = treatments.has("hash") || treatments.has("tokenise") ? { hash: async (value) => (await lazy()).hash(value), tokenise } : KEYLESS;
  const masked: Data[] = [];
  for (const data of decisions) masked.push(await maskDecision(data, policy, masker));
  return masked;
}

/**
 * Deletes what a request stored in the vault when none of its decisions was logged: the
 * device's object refused the append (a revoked session, a replayed proof, a removed device) or
 * masking failed before it. Not for an append whose outcome is unknown (the call to the object
 * failed): an entry may have been committed naming these references, and retention sweeps them
 * if none was. A failed deletion leaves them to retention too, and does not change the answer.
 */
export async function discardTokenised(ctx: ServiceContext, tenant: string, tokenised: TokenisedValues): Promise<void> {
  const stored = await Promise.allSettled(tokenised.values());
  await discardVaultValues(vaultIo(ctx), tenant, stored.flatMap((outcome) => (outcome.status === "fulfilled" ? [outcome.value.ref] : [])));
}

/** What a privacy officer gets back from the vault. */
export interface VaultRead {
  ref: string;
  value: string;
  kid: string;
  stored_at: string | null;
  /** The admin-log entry that records this read. */
  log: { seq: number; hash: string };
}

/**
 * Reads a vault value for a privacy officer: decrypts it (failing closed), records who read
 * which reference and why in the tenant's admin log (`admin.vault_read`), and only then returns
 * it — a read the log does not hold is never answered.
 */
export async function readVault(ctx: ServiceContext, person: Person, ref: string, reason: string): Promise<VaultRead> {
  const { env, deps } = ctx;
  const keys = await privacyKeys(env.VAULT_KEYS, env.TENANT);
  const opened = await openVaultValue(vaultIo(ctx), keys, env.TENANT, ref);
  const device = ref.slice(0, ref.lastIndexOf("~"));
  const log = await deps.bundleRegistry(env, env.TENANT).recordAdminAction({
    type: "admin.vault_read",
    data: { ref, device, kid: opened.kid, by: person.id, via: person.via, reason },
    now: deps.now(),
  });
  return { ref, value: opened.value, kid: opened.kid, stored_at: opened.created === null ? null : new Date(opened.created).toISOString(), log };
}
