import { base64url } from "jose";
import { z } from "zod";
import { ConfigurationError, StateError, WardenError } from "../errors.ts";
import { parseStrictJson } from "../json/strict.ts";
import type { Hashed, Tokenised } from "./mask.ts";
import type { PrivacyKeys } from "./keys.ts";

/**
 * The vault: values a bundle tokenises (worker/privacy/mask.ts), each encrypted with AES-GCM
 * under the tenant's current vault key and stored in the `VAULT` bucket under a random
 * reference. The log keeps `{vault: ref, kid}`; only a privacy officer reads a value back
 * (`GET /v1/vault/{ref}`, worker/privacy/service.ts), and every read is logged.
 *
 * A reference is `<device>~<24 random base64url characters>` (144 bits): the device names where
 * the object is (`<tenant>/vault/<device>/<random>`), so the device's alarm sweeps its own values
 * past retention and skips them while the device is under a legal hold (docs/privacy.md).
 */

export const VAULT_FORMAT = "warden.vault.v1";

/** A vault reference as the log and the API carry it. */
export const VAULT_REF = /^(?<device>[A-Za-z0-9][A-Za-z0-9._-]{0,127})~(?<token>[A-Za-z0-9_-]{24})$/;

/** What the vault takes from outside: its bucket, randomness and the clock. */
export interface VaultIo {
  bucket: R2Bucket;
  randomBytes(length: number): Uint8Array;
  now(): number;
}

/** Where the values of a device are: the sweep lists this prefix. */
export function vaultPrefix(tenant: string, device: string): string {
  return `${tenant}/vault/${device}/`;
}

/** The object key of a reference, or null when it is not one. */
export function vaultKey(tenant: string, ref: string): string | null {
  const parts = VAULT_REF.exec(ref)?.groups;
  return parts ? `${vaultPrefix(tenant, parts["device"] as string)}${parts["token"] as string}` : null;
}

/** Deletes the values of `refs` (a failure is logged and left to retention, which sweeps values no entry names). */
export async function discardVaultValues(io: Pick<VaultIo, "bucket">, tenant: string, refs: readonly string[]): Promise<void> {
  const keys = refs.map((ref) => vaultKey(tenant, ref)).filter((key) => key !== null);
  if (keys.length === 0) return;
  try {
    await io.bucket.delete(keys);
  } catch (error) {
    console.error(JSON.stringify({ event: "vault.discard_failed", tenant, values: keys.length, error: String(error) }));
  }
}

/** The additional data every value is sealed with: a ciphertext copied to another tenant or reference does not open. */
function additionalData(tenant: string, ref: string, kid: string): Uint8Array {
  return new TextEncoder().encode(`${VAULT_FORMAT}\n${tenant}\n${ref}\n${kid}`);
}

const StoredSchema = z.strictObject({
  format: z.literal(VAULT_FORMAT),
  kid: z.string().min(1).max(64),
  iv: z.string().regex(/^[A-Za-z0-9_-]{16}$/),
  ciphertext: z.string().regex(/^[A-Za-z0-9_-]+$/).max(1_400_000),
});

/** The keyed parts of masking over the vault: every value it is given is stored (the bound on how many is the caller's). */
export interface VaultMasker {
  hash(value: string): Promise<Hashed>;
  tokenise(value: string): Promise<Tokenised>;
}

/**
 * The masker of one device's decisions: HMAC-SHA-256 under the current hashing key, and
 * tokenising that writes the encrypted value create-only before it resolves, so a logged
 * reference always has its value (what a refused request stored is deleted again,
 * worker/privacy/service.ts `discardTokenised`; one left by an append of unknown outcome is
 * swept with the rest when its retention ends).
 */
export function vaultMasker(io: VaultIo, keys: PrivacyKeys, tenant: string, device: string): VaultMasker {
  const { current } = keys;
  return {
    async hash(value) {
      const mac = await crypto.subtle.sign("HMAC", current.hash, new TextEncoder().encode(value));
      return { kid: current.kid, hmac: base64url.encode(new Uint8Array(mac)) };
    },
    async tokenise(value) {
      const ref = `${device}~${base64url.encode(io.randomBytes(18))}`;
      const iv = io.randomBytes(12);
      const sealed = await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: additionalData(tenant, ref, current.kid) }, current.vault, new TextEncoder().encode(value));
      const body = JSON.stringify({ format: VAULT_FORMAT, kid: current.kid, iv: base64url.encode(iv), ciphertext: base64url.encode(new Uint8Array(sealed)) });
      const written = await io.bucket.put(vaultKey(tenant, ref) as string, body, {
        onlyIf: { etagDoesNotMatch: "*" },
        httpMetadata: { contentType: "application/json" },
        customMetadata: { device, created: String(io.now()), kid: current.kid },
      });
      // 144 random bits do not collide; a refused create means something else wrote there.
      if (written === null) throw new WardenError("storage_error", "a vault reference is already taken");
      return { kid: current.kid, ref };
    },
  };
}

/**
 * A stored value, decrypted. `not_found` for a reference that names nothing (or was swept);
 * `vault_key_unknown` when its key is no longer in `VAULT_KEYS`; `vault_integrity_failed` when
 * the object is not one the vault wrote or does not decrypt (changed, moved, truncated): the
 * vault fails closed, never returning bytes it cannot authenticate.
 */
export async function openVaultValue(io: Pick<VaultIo, "bucket">, keys: PrivacyKeys, tenant: string, ref: string): Promise<{ value: string; kid: string; created: number | null }> {
  const key = vaultKey(tenant, ref);
  if (key === null) throw new WardenError("malformed_request", "not a vault reference");
  const object = await io.bucket.get(key);
  if (!object) throw new StateError("not_found", "no such vault value");
  let stored: z.infer<typeof StoredSchema>;
  try {
    stored = StoredSchema.parse(parseStrictJson(await object.text()));
  } catch (cause) {
    throw new WardenError("vault_integrity_failed", `vault object ${key} is not one the vault wrote`, { cause });
  }
  const sealedWith = keys.byKid.get(stored.kid);
  if (!sealedWith) throw new ConfigurationError("vault_key_unknown", `vault key ${stored.kid} is not in VAULT_KEYS`);
  let plain: ArrayBuffer;
  try {
    plain = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: base64url.decode(stored.iv), additionalData: additionalData(tenant, ref, stored.kid) },
      sealedWith.vault,
      base64url.decode(stored.ciphertext),
    );
  } catch (cause) {
    throw new WardenError("vault_integrity_failed", `vault object ${key} does not decrypt`, { cause });
  }
  const created = Number(object.customMetadata?.["created"]);
  return { value: new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(plain), kid: stored.kid, created: Number.isFinite(created) ? created : null };
}
