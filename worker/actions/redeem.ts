import type { ServiceContext } from "../context.ts";
import type { AppendedEntry } from "../domain.ts";
import { StateError, VerificationError } from "../errors.ts";
import type { TargetInput } from "../policy/decide.ts";
import { canonicalise, targetKey } from "../policy/decide.ts";
import { bundleFor, loadDeployment } from "../policy/store.ts";
import type { DeviceOs } from "../policy/targets.ts";
import { verifyActionToken, type ActionTokenClaims } from "../tokens/action.ts";
import { verifyDpopProof } from "../tokens/dpop.ts";
import { signingKey } from "../tokens/keys.ts";

/** The action an enforcement point is about to run, as it presents it for redemption. */
export interface PresentedAction {
  type: string;
  targets: TargetInput[];
  inputs_sha256?: string | undefined;
}

export interface Redeemed {
  redeemed: true;
  decision_id: string;
  policy: string;
  log: AppendedEntry;
}

/** Whether `action` is exactly what the token permits: same type, same canonical targets, same inputs. */
function inScope(claims: ActionTokenClaims, action: PresentedAction): boolean {
  if (action.type !== claims.scope.action || action.inputs_sha256 !== claims.scope.inputs_sha256) return false;
  const device = { os: claims.os as DeviceOs, shell: claims.shell };
  const presented = new Set<string>();
  for (const target of action.targets) {
    const canonical = canonicalise(target, device);
    if (!canonical.ok) return false;
    presented.add(targetKey(canonical.value.canonical));
  }
  const permitted = new Set(claims.scope.targets.map(targetKey));
  return presented.size === permitted.size && [...permitted].every((key) => presented.has(key));
}

/**
 * Redeems an action token once, for exactly the action it permits, while the bundle that
 * permitted it is still the device's bundle. Re-deciding under a newer bundle was the
 * alternative; refusing keeps one decision path, and a token lives at most 60 s, so the cost is
 * one fresh decision after an activation. A refused token is spent, so it cannot be tried again
 * even after a rollback restores its bundle.
 */
export async function redeemActionToken(
  ctx: ServiceContext,
  request: { token: string; dpop: string | undefined; url: string; action: PresentedAction },
): Promise<Redeemed> {
  const { deps, env } = ctx;
  const now = deps.now();
  const claims = await verifyActionToken(request.token, await signingKey(env.SIGNING_KEY), now, env.TENANT);
  const { proof } = await verifyDpopProof(request.dpop, { method: "POST", url: request.url, now, jkt: claims.jkt, accessToken: request.token });
  if (!inScope(claims, request.action)) throw new VerificationError("token_scope_mismatch", "the action is not the one the token permits");

  const store = deps.deviceStore(env, env.TENANT, claims.device);
  const single = { token: { jti: claims.jti, expiresAt: claims.expiresAt }, proof, now };
  const current = bundleFor(await loadDeployment(env, env.TENANT, now), { tenant: env.TENANT, id: claims.device, groups: claims.groups }, now);
  const currentDigest = current.ok ? current.bundle.digest : null;
  if (currentDigest !== claims.policy) {
    const refused = await store.refuseActionToken({
      ...single,
      data: { decision_id: claims.decisionId, token_jti: claims.jti, action: claims.scope.action, code: "token_policy_changed", decided_under: claims.policy, current: currentDigest },
    });
    if (!refused.ok) throw new StateError(refused.code, "the action token cannot be redeemed");
    throw new StateError("token_policy_changed", "the bundle that permitted the action is no longer the device's bundle");
  }
  const outcome = await store.redeemActionToken({ ...single, session: { id: claims.session }, data: { decision_id: claims.decisionId, token_jti: claims.jti, action: claims.scope.action } });
  if (!outcome.ok) throw new StateError(outcome.code, "the action token cannot be redeemed");
  return { redeemed: true, decision_id: claims.decisionId, policy: claims.policy, log: outcome.log };
}
