import { createRoute, z } from "@hono/zod-openapi";
import { StateError, VerificationError, WardenError } from "../errors.ts";
import { jsonBody, problems, router } from "../openapi.ts";
import { targetEntity } from "../policy/decide.ts";
import type { DeviceOs } from "../policy/targets.ts";
import { verifyActionToken } from "../tokens/action.ts";
import { verifyDpopProof } from "../tokens/dpop.ts";
import { signingKey } from "../tokens/keys.ts";
import { LogHeadSchema } from "./devices.ts";

const RedeemSchema = z
  .strictObject({
    action: z.strictObject({
      type: z.string().max(64),
      targets: z.array(z.strictObject({ kind: z.enum(["path", "url", "command"]), value: z.string().min(1).max(8192) })).min(1).max(64),
    }),
  })
  .openapi("RedeemRequest", { description: "The action about to run; it must be exactly the one the token permits" });

const RedeemedSchema = z
  .object({ redeemed: z.literal(true), decision_id: z.string(), policy: z.string(), log: LogHeadSchema })
  .openapi("Redeemed");

export const actions = router();

actions.openapi(
  createRoute({
    method: "post",
    path: "/v1/actions/redeem",
    summary: "Redeem an action token once, for exactly the action it permits",
    description:
      "The enforcement point presents the action token as `Authorization: DPoP <token>` with a DPoP proof by the device key (`ath` over the action token). A token redeems once.",
    request: { ...jsonBody(RedeemSchema), headers: z.object({ dpop: z.string().max(4096) }) },
    responses: {
      200: { description: "Redeemed and logged", content: { "application/json": { schema: RedeemedSchema } } },
      ...problems(400, 401, 403, 413, 415),
    },
  }),
  async (c) => {
    const { deps } = c.var;
    const now = deps.now();
    const [scheme, token] = (c.req.header("authorization") ?? "").split(" ");
    if (scheme?.toLowerCase() !== "dpop" || !token) throw new WardenError("unauthenticated", "the action token is required as Authorization: DPoP");
    const claims = await verifyActionToken(token, await signingKey(c.env.SIGNING_KEY), now);
    const { proof } = await verifyDpopProof(c.req.header("dpop"), { method: "POST", url: c.req.url, now, jkt: claims.jkt, accessToken: token });

    const { action } = c.req.valid("json");
    const presented = action.targets.map((target) => {
      const canonical = targetEntity(target.kind, target.value, claims.os as DeviceOs);
      return canonical.ok ? `${target.kind}\u0000${canonical.value}` : null;
    });
    const permitted = claims.scope.targets.map((target) => `${target.kind}\u0000${target.value}`);
    const sameScope =
      action.type === claims.scope.action &&
      presented.every((target) => target !== null) &&
      new Set(presented).size === new Set(permitted).size &&
      permitted.every((target) => presented.includes(target));
    if (!sameScope) throw new VerificationError("token_scope_mismatch", "the action is not the one the token permits");

    const outcome = await deps.deviceStore(c.env, c.env.TENANT, claims.device).redeemActionToken({
      token: { jti: claims.jti, expiresAt: claims.expiresAt },
      proof,
      now,
      data: { decision_id: claims.decisionId, token_jti: claims.jti, action: claims.scope.action },
    });
    if (!outcome.ok) throw new StateError(outcome.code, "the action token cannot be redeemed");
    return c.json({ redeemed: true as const, decision_id: claims.decisionId, policy: claims.policy, log: outcome.log }, 200);
  },
);
