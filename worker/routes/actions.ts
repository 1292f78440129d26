import { createRoute, z } from "@hono/zod-openapi";
import { OutcomeRequestSchema, recordOutcome } from "../actions/outcome.ts";
import { deviceOf, requireRole } from "../auth.ts";
import { StateError, VerificationError, WardenError } from "../errors.ts";
import { deviceSecurity, jsonBody, problems, router } from "../openapi.ts";
import { TargetSchema } from "../decisions/request.ts";
import { Sha256HexSchema } from "../openapi.ts";
import { targetEntity, targetKey } from "../policy/decide.ts";
import { bundleFor, loadDeployment } from "../policy/store.ts";
import type { DeviceOs } from "../policy/targets.ts";
import { verifyActionToken, type ActionTokenClaims } from "../tokens/action.ts";
import { verifyDpopProof } from "../tokens/dpop.ts";
import { signingKey } from "../tokens/keys.ts";
import { LogHeadSchema } from "./devices.ts";

const RedeemSchema = z
  .strictObject({
    action: z.strictObject({
      type: z.string().max(64),
      targets: z.array(TargetSchema).min(1).max(64),
      inputs_sha256: Sha256HexSchema.optional().openapi({ description: "Required, and equal, when the decision named the inputs" }),
    }),
  })
  .openapi("RedeemRequest", { description: "The action about to run; it must be exactly the one the token permits" });

const RedeemedSchema = z
  .object({ redeemed: z.literal(true), decision_id: z.string(), policy: z.string(), log: LogHeadSchema })
  .openapi("Redeemed");

/** Whether `action` is exactly what the token permits: same type, same canonical targets, same inputs. */
function inScope(claims: ActionTokenClaims, action: z.infer<typeof RedeemSchema>["action"]): boolean {
  if (action.type !== claims.scope.action || action.inputs_sha256 !== claims.scope.inputs_sha256) return false;
  const device = { os: claims.os as DeviceOs, shell: claims.shell };
  const presented = new Set<string>();
  for (const target of action.targets) {
    const canonical = targetEntity(target, device);
    if (!canonical.ok || "rejected" in canonical.canonical) return false;
    presented.add(targetKey(canonical.canonical));
  }
  const permitted = new Set(claims.scope.targets.map(targetKey));
  return presented.size === permitted.size && [...permitted].every((key) => presented.has(key));
}

export const actions = router();

actions.openapi(
  createRoute({
    method: "post",
    path: "/v1/actions/redeem",
    summary: "Redeem an action token once, for exactly the action it permits, under the policy that permitted it",
    description:
      "The enforcement point presents the action token as `Authorization: DPoP <token>` with a DPoP proof by the device key (`ath` over the action token). " +
      "A token redeems once, and only while the bundle that decided is still the device's bundle: after a newer bundle is activated the token is " +
      "refused for good (`token_policy_changed`, logged) and the agent asks again.",
    request: { ...jsonBody(RedeemSchema), headers: z.object({ dpop: z.string().max(4096) }) },
    responses: {
      200: { description: "Redeemed and logged", content: { "application/json": { schema: RedeemedSchema } } },
      ...problems(400, 401, 403, 409, 413, 415),
    },
  }),
  async (c) => {
    const { deps } = c.var;
    const now = deps.now();
    const [scheme, token] = (c.req.header("authorization") ?? "").split(" ");
    if (scheme?.toLowerCase() !== "dpop" || !token) throw new WardenError("unauthenticated", "the action token is required as Authorization: DPoP");
    const claims = await verifyActionToken(token, await signingKey(c.env.SIGNING_KEY), now);
    const { proof } = await verifyDpopProof(c.req.header("dpop"), { method: "POST", url: c.req.url, now, jkt: claims.jkt, accessToken: token });
    if (!inScope(claims, c.req.valid("json").action)) throw new VerificationError("token_scope_mismatch", "the action is not the one the token permits");

    const store = deps.deviceStore(c.env, c.env.TENANT, claims.device);
    const single = { token: { jti: claims.jti, expiresAt: claims.expiresAt }, proof, now };
    // Re-deciding under the new bundle was the alternative; refusing keeps one decision path,
    // and a token lives at most 60 s, so the cost is one fresh decision after an activation.
    const current = bundleFor(await loadDeployment(c.env, c.env.TENANT, now), { tenant: c.env.TENANT, id: claims.device, groups: claims.groups }, now);
    const currentDigest = current.ok ? current.bundle.digest : null;
    if (currentDigest !== claims.policy) {
      const refused = await store.refuseActionToken({
        ...single,
        data: { decision_id: claims.decisionId, token_jti: claims.jti, action: claims.scope.action, code: "token_policy_changed", decided_under: claims.policy, current: currentDigest },
      });
      if (!refused.ok) throw new StateError(refused.code, "the action token cannot be redeemed");
      throw new StateError("token_policy_changed", "the bundle that permitted the action is no longer the device's bundle");
    }
    const outcome = await store.redeemActionToken({ ...single, data: { decision_id: claims.decisionId, token_jti: claims.jti, action: claims.scope.action } });
    if (!outcome.ok) throw new StateError(outcome.code, "the action token cannot be redeemed");
    return c.json({ redeemed: true as const, decision_id: claims.decisionId, policy: claims.policy, log: outcome.log }, 200);
  },
);

const RecordedOutcomeSchema = z
  .object({
    recorded: z.literal(true),
    decision_id: z.string(),
    decision_checked: z.boolean().openapi({ description: "Whether the decision entry was read and matched; false only when it was already archived" }),
    log: LogHeadSchema,
  })
  .openapi("RecordedOutcome");

actions.use("/v1/actions/complete", requireRole("device"));
actions.openapi(
  createRoute({
    method: "post",
    path: "/v1/actions/complete",
    summary: "Record what came of a decided action, as `action.completed` in the device's log",
    description:
      "The enforcement point reports, once the tool has run: exit status, SHA-256 of the output and of each written file, duration, and whether a " +
      "person reviewed it. The entry names the decision (`decision_id` at `decision_seq`), which must be this device's; the DPoP proof is spent " +
      "with the append. Keep the returned `log` position: `warden shim log-check` compares it with the log later.",
    security: deviceSecurity,
    request: { ...jsonBody(OutcomeRequestSchema), headers: z.object({ dpop: z.string().max(4096) }) },
    responses: {
      201: { description: "Recorded", content: { "application/json": { schema: RecordedOutcomeSchema } } },
      ...problems(400, 401, 403, 404, 413, 415),
    },
  }),
  async (c) => {
    const session = deviceOf(c);
    const { deps } = c.var;
    const recorded = await recordOutcome(deps.deviceStore(c.env, session.tenant, session.deviceId), session, c.req.valid("json"), deps.now());
    return c.json(recorded, 201);
  },
);
