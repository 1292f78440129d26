import { createRoute, z } from "@hono/zod-openapi";
import { OutcomeRequestSchema, recordOutcome } from "../actions/outcome.ts";
import { redeemActionToken } from "../actions/redeem.ts";
import { deviceOf, personOf, requireRole } from "../auth.ts";
import { serviceContext } from "../context.ts";
import { TargetSchema } from "../decisions/request.ts";
import { WardenError } from "../errors.ts";
import { DeviceIdSchema, LogHeadSchema, Sha256HexSchema, actionTokenSecurity, bearerSecurity, deviceSecurity, jsonBody, problems, router } from "../openapi.ts";
import { revokeActionToken } from "../devices/standing.ts";

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

export const actions = router();

actions.openapi(
  createRoute({
    method: "post",
    path: "/v1/actions/redeem",
    operationId: "redeemActionToken",
    tags: ["actions"],
    security: actionTokenSecurity,
    summary: "Redeem an action token once, for exactly the action it permits, under the policy that permitted it",
    description:
      "The enforcement point presents the action token as `Authorization: DPoP <token>` with a DPoP proof by the device key (`ath` over the action token). " +
      "A token redeems once, and only while the bundle that decided is still the device's bundle: after a newer bundle is activated the token is " +
      "refused for good (`token_policy_changed`, logged) and the agent asks again. A token is bound to the deployment's tenant (`tnt`; another tenant's is " +
      "`invalid_token`) and to the session it was issued under (`sid`; it expires no later than that session, and once the session is revoked it is " +
      "refused with `session_revoked`, nothing spent).",
    request: { ...jsonBody(RedeemSchema) },
    responses: {
      200: { description: "Redeemed and logged", content: { "application/json": { schema: RedeemedSchema } } },
      ...problems(400, 401, 403, 409, 413, 415),
    },
  }),
  async (c) => {
    const [scheme, token] = (c.req.header("authorization") ?? "").split(" ");
    if (scheme?.toLowerCase() !== "dpop" || !token) throw new WardenError("unauthenticated", "the action token is required as Authorization: DPoP");
    return c.json(await redeemActionToken(serviceContext(c), { token, dpop: c.req.header("dpop"), url: c.req.url, action: c.req.valid("json").action }), 200);
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
    operationId: "completeAction",
    tags: ["actions"],
    summary: "Record what came of a decided action, as `action.completed` in the device's log",
    description:
      "The enforcement point reports, once the tool has run: exit status, SHA-256 of the output and of each written file, duration, and whether a " +
      "person reviewed it. The entry names the decision (`decision_id` at `decision_seq`), which must be this device's; the DPoP proof is spent " +
      "with the append. Keep the returned `log` position: `warden shim log-check` compares it with the log later.",
    security: deviceSecurity,
    request: { ...jsonBody(OutcomeRequestSchema) },
    responses: {
      201: { description: "Recorded", content: { "application/json": { schema: RecordedOutcomeSchema } } },
      ...problems(400, 401, 403, 404, 413, 415),
    },
  }),
  async (c) => c.json(await recordOutcome(serviceContext(c), deviceOf(c), c.req.valid("json")), 201),
);

actions.use("/v1/actions/revoke", requireRole("admin"));
actions.openapi(
  createRoute({
    method: "post",
    path: "/v1/actions/revoke",
    operationId: "revokeActionToken",
    tags: ["actions"],
    summary: "Revoke one unredeemed action token of a device (admin)",
    description: "Its redemption is refused from then on (`token_revoked`); the revocation is logged in the device log and the admin log.",
    security: bearerSecurity,
    request: jsonBody(
      z
        .strictObject({ device: DeviceIdSchema, jti: z.string().min(1).max(128), reason: z.string().min(1).max(500) })
        .openapi("ActionRevocation"),
    ),
    responses: {
      200: { description: "Revoked and logged", content: { "application/json": { schema: z.object({ log: LogHeadSchema }) } } },
      ...problems(400, 401, 403, 404, 413, 415),
    },
  }),
  async (c) => {
    const { device, jti, reason } = c.req.valid("json");
    return c.json(await revokeActionToken(serviceContext(c), { device, jti, reason, by: personOf(c).id }), 200);
  },
);
