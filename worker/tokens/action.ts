import { VerificationError } from "../errors.ts";
import type { CanonicalTarget } from "../policy/decide.ts";
import type { SigningKey } from "./keys.ts";
import { signWardenJwt, verifyWardenJwt } from "./jwt.ts";

/** What an action token permits: exactly one action on exactly these canonical targets. */
export interface ActionScope {
  action: string;
  targets: { kind: string; value: string }[];
}

export interface ActionTokenClaims {
  device: string;
  os: string;
  jkt: string;
  jti: string;
  decisionId: string;
  policy: string;
  scope: ActionScope;
  expiresAt: number;
}

/** Issues the single-use token for a permitted action, bound to the device key by `cnf.jkt`. */
export async function issueActionToken(
  key: SigningKey,
  args: { device: string; tenant: string; jkt: string; os: string; jti: string; decisionId: string; policy: string; targets: CanonicalTarget[]; action: string; now: number; ttlSeconds: number },
): Promise<{ token: string; expiresAt: number }> {
  const scope: ActionScope = {
    action: args.action,
    targets: args.targets.map((target) => ({ kind: target.kind, value: "value" in target ? target.value : "" })),
  };
  return signWardenJwt(
    key,
    "warden-action+jwt",
    { sub: args.device, tnt: args.tenant, os: args.os, jti: args.jti, cnf: { jkt: args.jkt }, decision_id: args.decisionId, policy: args.policy, scope },
    { now: args.now, ttlSeconds: Math.min(args.ttlSeconds, 60) },
  );
}

export async function verifyActionToken(token: string, key: SigningKey, now: number): Promise<ActionTokenClaims> {
  const claims = await verifyWardenJwt(token, key, "warden-action+jwt", now);
  const { cnf, decision_id, policy, scope, sub, jti, exp, os } = claims as Record<string, unknown>;
  const jkt = (cnf as { jkt?: unknown } | undefined)?.jkt;
  if (typeof jkt !== "string" || typeof os !== "string" || typeof decision_id !== "string" || typeof policy !== "string" || !isScope(scope)) {
    throw new VerificationError("invalid_token", "the action token lacks its scope or binding");
  }
  return { device: sub as string, os, jkt, jti: jti as string, decisionId: decision_id, policy, scope, expiresAt: (exp as number) * 1000 };
}

function isScope(value: unknown): value is ActionScope {
  if (typeof value !== "object" || value === null) return false;
  const { action, targets } = value as Record<string, unknown>;
  return (
    typeof action === "string" &&
    Array.isArray(targets) &&
    targets.every((target: unknown) => typeof target === "object" && target !== null && typeof (target as ActionScope["targets"][number]).kind === "string" && typeof (target as ActionScope["targets"][number]).value === "string")
  );
}
