import { createRoute, z } from "@hono/zod-openapi";
import type { AuthenticationResponseJSON } from "@simplewebauthn/server";
import { requireRole } from "../auth.ts";
import { StateError } from "../errors.ts";
import { bearerSecurity, deviceSecurity, jsonBody, problems, publicAccess, queryInt, reviewerSecurity, router, Sha256HexSchema } from "../openapi.ts";
import { pendingHolds, waitOnHold, type HoldAnswer } from "../review/holds.ts";
import { AssertionSchema } from "../review/schemas.ts";
import { MAX_WAIT_SECONDS, type HoldState } from "../review/types.ts";
import { giveVerdict, verdictOptions } from "../review/verdicts.ts";

const HoldRecordSchema = z
  .object({
    review_id: z.string(),
    decision_id: z.string(),
    tenant: z.string(),
    requester: z.object({ device: z.string(), agent: z.string() }),
    agent: z.object({ id: z.string(), version: z.string(), artifact_sha256: z.string().nullable() }),
    action: z.object({
      type: z.string(),
      targets: z.array(z.object({ kind: z.string(), value: z.string() })).openapi({
        description:
          "Canonical targets as the decision's log entry holds them, after the bundle's privacy masking: a value the bundle tokenises, hashes or drops reads `[vault:<kid>:<ref>]`, `[hmac:<kid>:<mac>]` or `[masked]`, as in the log. The action token an approval releases is scoped to the targets as policy judged them",
      }),
      inputs_sha256: z.string().nullable(),
      sends_external: z.boolean(),
    }),
    context_sha256: z
      .string()
      .nullable()
      .openapi({ description: "SHA-256 (hex) of the RFC 8785 form of the caller's context as the decision's log entry holds it, after the bundle's privacy masking; null without a context" }),
    policy: z.object({ digest: z.string(), reasons: z.array(z.string()) }),
    decision_log: z.object({ seq: z.int(), hash: z.string() }).openapi({ description: "Where the decision that raised the hold is in the device log" }),
    action_hash: z.string().openapi({
      description:
        "The action's identity, which joins an identical action to this hold while it is pending: HMAC-SHA-256 (hex) of the RFC 8785 form of tenant, device, agent and the action as policy judged it, " +
        "under the tenant's action-hash key (derived from VAULT_KEYS), so it cannot be used to test guesses at a value in the action. A hold made before the hash was keyed keeps the unkeyed SHA-256 it was made with",
    }),
    created_at: z.string(),
  })
  .openapi("HoldRecord", { description: "The canonical held action a reviewer sees and approves; inputs and context appear only as hashes, targets masked as the device log holds them" });

const HoldSchema = z
  .object({
    id: z.string(),
    status: z.enum(["pending", "approved", "rejected", "expired", "cancelled"]).openapi({ description: "`cancelled`: ended without a verdict because its device was quarantined" }),
    decision: z.enum(["permit", "deny"]).nullable().openapi({ description: "Once decided: permit on approval (or a permitting timeout rule), deny otherwise" }),
    tier: z.string(),
    deadline: z.string(),
    approvals: z.array(z.object({ reviewer: z.string(), at: z.string() })),
    approvers_required: z.int(),
    decided_at: z.string().nullable(),
    released: z.boolean().openapi({ description: "Whether the action token was released to the device (its release is logged once, as review.released)" }),
    record: HoldRecordSchema,
    hold_sha256: Sha256HexSchema.openapi({ description: "SHA-256 of the canonical record, tier, deadline and approvers required, as shown" }),
    tickets: z
      .array(z.object({ service: z.enum(["jira", "servicenow"]), tier: z.string(), key: z.string(), url: z.string(), at: z.string() }))
      .openapi({ description: "Tickets opened for the hold (Jira issues, ServiceNow incidents), once their services answered" }),
  })
  .openapi("Hold");

const DeviceHoldSchema = HoldSchema.extend({
  token: z.string().optional().openapi({ description: "On a device's read after approval: the single-use action token, as a permit would carry; the same token on every read until it is redeemed or expires" }),
  token_expires_at: z.string().optional(),
}).openapi("HoldForDevice");

const VerdictSchema = z.enum(["approve", "reject", "escalate"]);

const OptionsRequestSchema = z
  .strictObject({ verdict: VerdictSchema, hold_sha256: Sha256HexSchema.openapi({ description: "The `hold_sha256` of the hold as the page showed it" }) })
  .openapi("VerdictOptionsRequest");

const ReviewIdParams = z.object({ id: z.string().min(1).max(64) });

/** A hold as the API shows it: status, tier and deadline, approvals, and the stored record with its digest. */
function holdView(hold: HoldState) {
  return {
    id: hold.id,
    status: hold.status,
    decision: hold.outcome,
    tier: hold.shown.tier,
    deadline: hold.shown.deadline,
    approvals: hold.approvals,
    approvers_required: hold.shown.approvers_required,
    decided_at: hold.decided_at,
    released: hold.released,
    record: hold.shown.record,
    hold_sha256: hold.hold_sha256,
    tickets: hold.tickets,
  };
}

function deviceHoldView(answer: HoldAnswer) {
  if (!answer.token) return holdView(answer.hold);
  return { ...holdView(answer.hold), token: answer.token.value, token_expires_at: new Date(answer.token.expiresAt).toISOString() };
}

/** Human review over HTTP: waiting on a hold, the pending list, verdict challenges and verdicts (flows in worker/review/). */
export const reviews = router();

reviews.use("/v1/reviews/:id", requireRole("device", "admin", "auditor"));
reviews.openapi(
  createRoute({
    method: "get",
    path: "/v1/reviews/{id}",
    operationId: "getReview",
    tags: ["reviews"],
    summary: "Wait on a hold: pending, approved (with the action token), rejected or expired",
    description:
      "The device that raised the hold polls, or long-polls with `wait` (seconds, at most 25): the answer comes as soon as the hold is decided. " +
      "A hold keeps at most four waits open for its device (and four for staff): one more ends the oldest, which answers with the hold as it is. " +
      "A device's read after an approval carries the action token — the same one on every read until it is redeemed, revoked or expires, so an answer lost on the way costs a read, not a second review; `released` says it was released. Admins and auditors may read any hold, without a token. " +
      "`review_evidence_pending` (503): the hold is approved but its evidence is not in the device log yet, so no token is issued; poll again.",
    security: [...deviceSecurity, ...bearerSecurity],
    request: {
      params: ReviewIdParams,
      query: z.object({ wait: queryInt({ min: 0, max: MAX_WAIT_SECONDS }).optional() }),
    },
    responses: {
      200: { description: "The hold", content: { "application/json": { schema: DeviceHoldSchema } } },
      ...problems(400, 401, 403, 404, 503),
    },
  }),
  async (c) => {
    const { caller } = c.var;
    const device = caller.role === "device" ? caller.session : null;
    const answer = await waitOnHold({ env: c.env, deps: c.var.deps }, device, c.req.valid("param").id, c.req.valid("query").wait ?? 0);
    return c.json(deviceHoldView(answer), 200);
  },
);

reviews.use("/v1/reviews", requireRole("reviewer", "admin", "auditor"));
reviews.openapi(
  createRoute({
    method: "get",
    path: "/v1/reviews",
    operationId: "listPendingReviews",
    tags: ["reviews"],
    summary: "Pending holds, by deadline (reviewers, admins, auditors)",
    security: [...reviewerSecurity, ...bearerSecurity],
    responses: {
      200: { description: "Pending holds", content: { "application/json": { schema: z.object({ reviews: z.array(HoldSchema) }) } } },
      ...problems(401, 403),
    },
  }),
  async (c) => {
    const pending = await pendingHolds({ env: c.env, deps: c.var.deps });
    return c.json({ reviews: pending.map(holdView) }, 200);
  },
);

reviews.use("/v1/reviews/:id/options", requireRole("reviewer"));
reviews.openapi(
  createRoute({
    method: "post",
    path: "/v1/reviews/{id}/options",
    operationId: "getVerdictOptions",
    tags: ["reviews"],
    security: reviewerSecurity,
    summary: "Challenge for one verdict on a hold, committing to the hold as shown (signed-in reviewer)",
    description:
      "The challenge is SHA-256 over the RFC 8785 form of `statement`: review id, action hash, decision id, requester, tier, deadline, " +
      "the digest of the hold as shown, the verdict, the reviewer and a nonce. It is single use and expires after 5 minutes or at the deadline. " +
      "A verdict the reviewer may not give is refused here already: an approval or an escalation of a hold raised from a device they use, " +
      "listed in their `devices` or registered to them (`self_approval`; on a hold from before holds kept the device's user, the user its " +
      "registration names, and anyone's while that registration cannot be read), or a second approval (`duplicate_approver`).",
    request: { params: ReviewIdParams, ...jsonBody(OptionsRequestSchema) },
    responses: {
      200: {
        description: "WebAuthn request options and what they commit to",
        content: { "application/json": { schema: z.object({ statement: z.record(z.string(), z.unknown()), options: z.record(z.string(), z.unknown()), hold: HoldSchema }) } },
      },
      ...problems(400, 401, 403, 404, 409),
    },
  }),
  async (c) => {
    const { caller } = c.var;
    if (caller.role !== "reviewer") throw new StateError("forbidden", "a signed-in reviewer is required");
    const body = c.req.valid("json");
    const prepared = await verdictOptions({ env: c.env, deps: c.var.deps }, caller.reviewer, { id: c.req.valid("param").id, verdict: body.verdict, shownSha256: body.hold_sha256 });
    return c.json({ statement: { ...prepared.statement }, options: { ...prepared.options }, hold: holdView(prepared.hold) }, 200);
  },
);

reviews.openapi(
  createRoute({
    method: "post",
    path: "/v1/reviews/{id}/verdict",
    operationId: "giveVerdict",
    tags: ["reviews"],
    security: publicAccess,
    summary: "Approve, reject or escalate a hold with a passkey assertion over its challenge",
    description:
      "Authorised by the assertion alone. Refused: an unknown or expired challenge (`challenge_invalid`), a used one (`replay_detected`), " +
      "one issued for another hold (`review_mismatch`), a hold that changed since (`review_record_changed`), another origin or RP ID " +
      "(`webauthn_origin_mismatch`), no user verification, a signature counter that did not grow (`counter_regression`), an approval " +
      "or escalation of a hold raised from a device the reviewer uses, listed in their `devices` or registered to them (its `user` is the reviewer's id) " +
      "(`self_approval`, also anyone's on a hold from before holds kept the device's user while its registration cannot be read), a second one by the same reviewer (`duplicate_approver`), a removed reviewer " +
      "(`reviewer_removed`) or a revoked passkey (`passkey_revoked`). The raw assertion " +
      "is appended to the requesting device's log.",
    request: { params: ReviewIdParams, ...jsonBody(z.strictObject({ response: AssertionSchema }).openapi("VerdictRequest")) },
    responses: {
      200: { description: "The hold after the verdict", content: { "application/json": { schema: HoldSchema } } },
      ...problems(400, 401, 403, 404, 409),
    },
  }),
  async (c) => {
    const response = c.req.valid("json").response as AuthenticationResponseJSON;
    const hold = await giveVerdict({ env: c.env, deps: c.var.deps }, { id: c.req.valid("param").id, response });
    return c.json(holdView(hold), 200);
  },
);
