import { calculateJwkThumbprint, type JWK } from "jose";
import type { ServiceContext } from "../context.ts";
import type { AppendedEntry, DeviceRecord } from "../domain.ts";
import { MalformedInputError, StateError } from "../errors.ts";
import type { DeviceOs, Shell } from "../policy/targets.ts";
import { devicePublicJwk } from "../tokens/dpop.ts";

export interface Registration {
  id: string;
  os: DeviceOs;
  shell?: Shell | undefined;
  public_key: JWK;
  groups: string[];
  /** The person who uses the device: whose consents its decisions read. */
  user?: string | undefined;
}

/**
 * Registers a device and its key (admin `by`): the key reduced to its public members (a private
 * or symmetric key is refused), its RFC 7638 thumbprint that sessions and tokens bind to, and the
 * registration logged as the device log's first entry. An id registers once. A device registered
 * to a user is attached to them in the tenant's consent ledger before it exists (so no consent
 * given meanwhile misses it) and again after, which hands it the user's active consents.
 */
export async function registerDevice(ctx: ServiceContext, registration: Registration, by: string): Promise<{ device: DeviceRecord; log: AppendedEntry }> {
  const { deps, env } = ctx;
  let publicJwk;
  try {
    publicJwk = devicePublicJwk(registration.public_key).jwk;
  } catch (cause) {
    throw new MalformedInputError("malformed_request", "public_key must be an Ed25519 or P-256 public JWK", { cause });
  }
  const now = deps.now();
  const device: DeviceRecord = {
    id: registration.id,
    tenant: env.TENANT,
    os: registration.os,
    ...(registration.shell !== undefined ? { shell: registration.shell } : {}),
    publicJwk,
    jkt: await calculateJwkThumbprint(publicJwk),
    assurance: "software",
    groups: [...new Set(registration.groups)],
    status: "active",
    registeredAt: new Date(now).toISOString(),
    ...(registration.user !== undefined ? { user: registration.user } : {}),
  };
  const attach = registration.user === undefined ? null : { tenant: env.TENANT, actor: registration.user, device: registration.id, now };
  if (attach) await deps.consentLedger(env, env.TENANT).attachDevice(attach);
  const outcome = await deps.deviceStore(env, env.TENANT, registration.id).register(device, now, by);
  if (!outcome.ok) throw new StateError(outcome.code, `device ${registration.id} cannot be registered`);
  if (attach) await deps.consentLedger(env, env.TENANT).attachDevice(attach);
  return { device, log: outcome.log };
}
