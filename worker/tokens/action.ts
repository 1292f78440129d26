import { VerificationError } from "../errors.ts";
import type { ResolvedTarget } from "../policy/decide.ts";
import { SHELLS, type Shell } from "../policy/targets.ts";
import type { SigningKey } from "./keys.ts";
import { signWardenJwt, tokenExpiresAt, verifyWardenJwt } from "./jwt.ts";

/**
 * What an action token permits: exactly one action on exactly these canonical targets, and,
 * when the decision named them, exactly these inputs.
 */
export interface ActionScope {
  action: string;
  targets: ResolvedTarget[];
  inputs_sha256?: string;
}

export interface ActionTokenClaims {
  device: string;
  /** The session the token was issued under: revoking it ends the token too. */
  session: string;
  os: string;
  /** The device's registered shell, which reads a presented command that names none. */
  shell: Shell | undefined;
  /** The device's groups, which decide whether a canary bundle is the device's bundle at redemption. */
  groups: string[];
  jkt: string;
  jti: string;
  decisionId: string;
  /** Digest of the bundle that decided. */
  policy: string;
  scope: ActionScope;
  expiresAt: number;
}

/** The longest an action token lives, whatever its bundle asks. */
export const MAX_ACTION_TOKEN_SECONDS = 60;

/** The lifetime (s) an action token issued at `now` gets for the `ttlSeconds` its bundle asks, under a session expiring at `sessionExpiresAt` (ms): never past the session. */
function actionTokenTtl(now: number, ttlSeconds: number, sessionExpiresAt: number): number {
  return Math.max(0, Math.min(ttlSeconds, MAX_ACTION_TOKEN_SECONDS, Math.floor(sessionExpiresAt / 1000) - Math.floor(now / 1000)));
}

/** When an action token issued at `now` for `ttlSeconds` under that session expires, in ms: what `issueActionToken` answers, without signing. */
export function actionTokenExpiresAt(now: number, ttlSeconds: number, sessionExpiresAt: number): number {
  return tokenExpiresAt(now, actionTokenTtl(now, ttlSeconds, sessionExpiresAt));
}

/**
 * Issues the single-use token for a permitted action, bound to the device key by `cnf.jkt`, to
 * the tenant (`tnt`) and to the session it was asked for under (`sid`, and no later expiry than
 * the session's), so that revoking the session ends it. Not `async`: it hands back
 * signWardenJwt's promise rather than wrapping it in another, one resolution less on every permit.
 */
export function issueActionToken(
  key: SigningKey,
  args: {
    device: string;
    tenant: string;
    session: { id: string; expiresAt: number };
    jkt: string;
    os: string;
    shell: Shell | undefined;
    groups: readonly string[];
    jti: string;
    decisionId: string;
    policy: string;
    scope: ActionScope;
    now: number;
    ttlSeconds: number;
  },
): Promise<{ token: string; expiresAt: number }> {
  return signWardenJwt(
    key,
    "warden-action+jwt",
    {
      sub: args.device,
      tnt: args.tenant,
      sid: args.session.id,
      os: args.os,
      ...(args.shell !== undefined ? { sh: args.shell } : {}),
      grp: [...args.groups],
      jti: args.jti,
      cnf: { jkt: args.jkt },
      decision_id: args.decisionId,
      policy: args.policy,
      scope: { ...args.scope },
    },
    { now: args.now, ttlSeconds: actionTokenTtl(args.now, args.ttlSeconds, args.session.expiresAt) },
  );
}

export async function verifyActionToken(token: string, key: SigningKey, now: number, tenant: string): Promise<ActionTokenClaims> {
  const claims = await verifyWardenJwt(token, key, "warden-action+jwt", now, tenant);
  const { cnf, decision_id, policy, scope, sub, jti, exp, os, sh, grp, sid } = claims as Record<string, unknown>;
  const jkt = (cnf as { jkt?: unknown } | undefined)?.jkt;
  const shell = sh === undefined ? undefined : SHELLS.find((known) => known === sh);
  if (
    typeof jkt !== "string" ||
    typeof sid !== "string" ||
    typeof os !== "string" ||
    typeof decision_id !== "string" ||
    typeof policy !== "string" ||
    (sh !== undefined && shell === undefined) ||
    !Array.isArray(grp) ||
    !grp.every((group) => typeof group === "string") ||
    !isScope(scope)
  ) {
    throw new VerificationError("invalid_token", "the action token lacks its scope or binding");
  }
  return { device: sub as string, session: sid, os, shell, groups: grp as string[], jkt, jti: jti as string, decisionId: decision_id, policy, scope, expiresAt: (exp as number) * 1000 };
}

function isScope(value: unknown): value is ActionScope {
  if (typeof value !== "object" || value === null) return false;
  const { action, targets, inputs_sha256 } = value as Record<string, unknown>;
  return (
    typeof action === "string" &&
    (inputs_sha256 === undefined || typeof inputs_sha256 === "string") &&
    Array.isArray(targets) &&
    targets.every((target: unknown) => {
      if (typeof target !== "object" || target === null) return false;
      const { kind, value: text } = target as Record<string, unknown>;
      return typeof kind === "string" && typeof text === "string";
    })
  );
}
