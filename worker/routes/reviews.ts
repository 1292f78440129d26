import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { requireRole } from "../auth.ts";
import type { AppEnv } from "../context.ts";
import { StateError, VerificationError, WardenError } from "../errors.ts";
import { bearerSecurity, deviceSecurity, jsonBody, problems, router, Sha256HexSchema } from "../openapi.ts";
import type { AuthenticationResponseJSON } from "@simplewebauthn/server";
import { assertionOptions, parseClientData, reviewConfig, toBase64url, verifyAssertion } from "../review/webauthn.ts";
import { issueActionToken } from "../tokens/action.ts";
import { signingKey } from "../tokens/keys.ts";
import type { HoldState } from "../../durable-objects/ReviewQueue.ts";

/** The longest a device's `GET /v1/reviews/{id}?wait=` holds the request open. */
export const MAX_WAIT_SECONDS = 25;
const POLL_INTERVAL_MS = 1000;

const B64 = z.string().min(1).max(8192).regex(/^[A-Za-z0-9_-]+$/);

/** A WebAuthn assertion as `PublicKeyCredential.toJSON()` gives it (unknown members dropped). */
export const AssertionSchema = z
  .object({
    id: B64.max(1024),
    rawId: B64.max(1024),
    type: z.literal("public-key"),
    response: z.object({
      clientDataJSON: B64.max(4096),
      authenticatorData: B64.max(4096),
      signature: B64.max(1024),
      userHandle: B64.max(128).optional().nullable(),
    }),
    clientExtensionResults: z.record(z.string(), z.unknown()).optional().default({}),
    authenticatorAttachment: z.string().max(32).optional().nullable(),
  })
  .openapi("WebAuthnAssertion");

const HoldRecordSchema = z
  .object({
    review_id: z.string(),
    decision_id: z.string(),
    tenant: z.string(),
    requester: z.object({ device: z.string(), agent: z.string() }),
    agent: z.object({ id: z.string(), version: z.string(), artifact_sha256: z.string().nullable() }),
    action: z.object({
      type: z.string(),
      targets: z.array(z.object({ kind: z.string(), value: z.string() })),
      inputs_sha256: z.string().nullable(),
      sends_external: z.boolean(),
    }),
    context_sha256: z.string().nullable(),
    policy: z.object({ digest: z.string(), reasons: z.array(z.string()) }),
    action_hash: z.string(),
    created_at: z.string(),
  })
  .openapi("HoldRecord", { description: "The canonical held action a reviewer sees and approves; inputs and context appear only as hashes" });

const HoldSchema = z
  .object({
    id: z.string(),
    status: z.enum(["pending", "approved", "rejected", "expired"]),
    decision: z.enum(["permit", "deny"]).nullable().openapi({ description: "Once decided: permit on approval (or a permitting timeout rule), deny otherwise" }),
    tier: z.string(),
    deadline: z.string(),
    approvals: z.array(z.object({ reviewer: z.string(), at: z.string() })),
    approvers_required: z.int(),
    decided_at: z.string().nullable(),
    released: z.boolean().openapi({ description: "Whether the action token was already handed to the device (it is, once)" }),
    record: HoldRecordSchema,
    hold_sha256: Sha256HexSchema.openapi({ description: "SHA-256 of the canonical record, tier, deadline and approvers required, as shown" }),
  })
  .openapi("Hold");

const DeviceHoldSchema = HoldSchema.extend({
  token: z.string().optional().openapi({ description: "On the first read after approval: the single-use action token, as a permit would carry" }),
  token_expires_at: z.string().optional(),
}).openapi("HoldForDevice");

const VerdictSchema = z.enum(["approve", "reject", "escalate"]);

const OptionsRequestSchema = z
  .strictObject({ verdict: VerdictSchema, hold_sha256: Sha256HexSchema.openapi({ description: "The `hold_sha256` of the hold as the page showed it" }) })
  .openapi("VerdictOptionsRequest");

/** A hold as the API shows it: status, tier and deadline, approvals, and the stored record with its digest. */
export function holdView(hold: HoldState) {
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
  };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export const reviews = router();

reviews.use("/v1/reviews/:id", requireRole("device", "admin", "auditor"));
reviews.openapi(
  createRoute({
    method: "get",
    path: "/v1/reviews/{id}",
    summary: "Wait on a hold: pending, approved (with the action token, once), rejected or expired",
    description:
      "The device that raised the hold polls, or long-polls with `wait` (seconds, at most 25): the answer comes as soon as the hold is decided. " +
      "The first read after an approval carries the action token; `released` says it was handed out. Admins and auditors may read any hold, without a token.",
    security: [...deviceSecurity, ...bearerSecurity],
    request: {
      params: z.object({ id: z.string().min(1).max(64) }),
      query: z.object({ wait: z.coerce.number().int().min(0).max(MAX_WAIT_SECONDS).optional() }),
    },
    responses: {
      200: { description: "The hold", content: { "application/json": { schema: DeviceHoldSchema } } },
      ...problems(400, 401, 403, 404),
    },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const { wait = 0 } = c.req.valid("query");
    const { deps, caller } = c.var;
    const queue = deps.reviewQueue(c.env, c.env.TENANT);
    const device = caller.role === "device" ? caller.session : null;
    if (device) {
      const spent = await deps.deviceStore(c.env, device.tenant, device.deviceId).spendProof(device.proof, deps.now());
      if (!spent.ok) throw new StateError(spent.code, "the proof was already used");
    }
    let hold = await queue.state(id, deps.now());
    // Another device's hold is not merely forbidden but invisible.
    const visible = (state: HoldState | null): state is HoldState => state !== null && (!device || state.shown.record.requester.device === device.deviceId);
    if (!visible(hold)) throw new WardenError("not_found", "no such review");
    for (let waited = 0; hold.status === "pending" && waited < wait * 1000; waited += POLL_INTERVAL_MS) {
      await sleep(POLL_INTERVAL_MS);
      const next = await queue.state(id, deps.now());
      if (!visible(next)) throw new WardenError("not_found", "no such review");
      hold = next;
    }
    if (!device || hold.outcome !== "permit" || hold.released) return c.json(holdView(hold), 200);
    return c.json(await releaseToken(c, hold, device), 200);
  },
);

/** Hands the approved action to its device as a single-use token, exactly as a permit would have. */
async function releaseToken(c: Context<AppEnv>, hold: HoldState, device: Extract<AppEnv["Variables"]["caller"], { role: "device" }>["session"]) {
  const { deps } = c.var;
  const now = deps.now();
  const jti = deps.newId();
  const released = await deps.reviewQueue(c.env, c.env.TENANT).release({ id: hold.id, device: device.deviceId, jti, now });
  // Another read released it first: the token went there.
  if (!released.ok) return holdView((await deps.reviewQueue(c.env, c.env.TENANT).state(hold.id, now)) ?? hold);
  const { record } = released.hold.shown;
  const { token, expiresAt } = await issueActionToken(await signingKey(c.env.SIGNING_KEY), {
    device: device.deviceId,
    tenant: device.tenant,
    jkt: device.jkt,
    os: device.os,
    shell: device.shell,
    groups: device.groups,
    jti,
    decisionId: record.decision_id,
    policy: record.policy.digest,
    scope: {
      action: record.action.type,
      targets: record.action.targets,
      ...(record.action.inputs_sha256 !== null ? { inputs_sha256: record.action.inputs_sha256 } : {}),
    },
    now,
    ttlSeconds: released.hold.token_ttl,
  });
  return { ...holdView(released.hold), token, token_expires_at: new Date(expiresAt).toISOString() };
}

reviews.use("/v1/reviews", requireRole("reviewer", "admin", "auditor"));
reviews.openapi(
  createRoute({
    method: "get",
    path: "/v1/reviews",
    summary: "Pending holds, by deadline (reviewers, admins, auditors)",
    security: bearerSecurity,
    responses: {
      200: { description: "Pending holds", content: { "application/json": { schema: z.object({ reviews: z.array(HoldSchema) }) } } },
      ...problems(401, 403),
    },
  }),
  async (c) => {
    const { deps } = c.var;
    const pending = await deps.reviewQueue(c.env, c.env.TENANT).pending(deps.now());
    return c.json({ reviews: pending.map(holdView) }, 200);
  },
);

reviews.use("/v1/reviews/:id/options", requireRole("reviewer"));
reviews.openapi(
  createRoute({
    method: "post",
    path: "/v1/reviews/{id}/options",
    summary: "Challenge for one verdict on a hold, committing to the hold as shown (signed-in reviewer)",
    description:
      "The challenge is SHA-256 over the RFC 8785 form of `statement`: review id, action hash, decision id, requester, tier, deadline, " +
      "the digest of the hold as shown, the verdict, the reviewer and a nonce. It is single use and expires after 5 minutes or at the deadline.",
    request: { params: z.object({ id: z.string().min(1).max(64) }), ...jsonBody(OptionsRequestSchema) },
    responses: {
      200: {
        description: "WebAuthn request options and what they commit to",
        content: { "application/json": { schema: z.object({ statement: z.record(z.string(), z.unknown()), options: z.record(z.string(), z.unknown()), hold: HoldSchema }) } },
      },
      ...problems(400, 401, 403, 404, 409),
    },
  }),
  async (c) => {
    const { deps, caller } = c.var;
    if (caller.role !== "reviewer") throw new WardenError("forbidden", "a signed-in reviewer is required");
    const config = reviewConfig(c.env);
    const { id } = c.req.valid("param");
    const body = c.req.valid("json");
    const prepared = await deps.reviewQueue(c.env, c.env.TENANT).prepareVerdict({
      id,
      reviewer: caller.reviewer.id,
      verdict: body.verdict,
      shownSha256: body.hold_sha256,
      nonce: toBase64url(deps.randomBytes(16)),
      now: deps.now(),
    });
    if (!prepared.ok) throw new StateError(prepared.code, `no ${body.verdict} challenge for this hold`);
    const options = await assertionOptions(config, { challenge: prepared.challenge, allow: prepared.credentials });
    return c.json({ statement: { ...prepared.statement }, options: { ...options }, hold: holdView(prepared.hold) }, 200);
  },
);

reviews.openapi(
  createRoute({
    method: "post",
    path: "/v1/reviews/{id}/verdict",
    summary: "Approve, reject or escalate a hold with a passkey assertion over its challenge",
    description:
      "Authorised by the assertion alone. Refused: an unknown or expired challenge (`challenge_invalid`), a used one (`replay_detected`), " +
      "one issued for another hold (`review_mismatch`), a hold that changed since (`review_record_changed`), another origin or RP ID " +
      "(`webauthn_origin_mismatch`), no user verification, a signature counter that did not grow (`counter_regression`), an approval " +
      "by the requester's own reviewer (`self_approval`) or a second one by the same reviewer (`duplicate_approver`). The raw assertion " +
      "is appended to the requesting device's log.",
    request: { params: z.object({ id: z.string().min(1).max(64) }), ...jsonBody(z.strictObject({ response: AssertionSchema }).openapi("VerdictRequest")) },
    responses: {
      200: { description: "The hold after the verdict", content: { "application/json": { schema: HoldSchema } } },
      ...problems(400, 401, 403, 404, 409),
    },
  }),
  async (c) => {
    const { deps } = c.var;
    const config = reviewConfig(c.env);
    const { id } = c.req.valid("param");
    const response = c.req.valid("json").response as AuthenticationResponseJSON;
    const queue = deps.reviewQueue(c.env, c.env.TENANT);
    const client = parseClientData(response.response.clientDataJSON);

    // Spent first, so a response that fails any later check has still used its challenge up.
    const taken = await queue.takeChallenge(client.challenge, deps.now());
    if (!taken.ok) throw new VerificationError(taken.code, "the challenge cannot be used");
    const { row } = taken;
    if (row.purpose !== "verdict" || !row.statement) throw new VerificationError("challenge_invalid", "the challenge is not for a verdict");
    if (row.review_id !== id) throw new VerificationError("review_mismatch", "the assertion was made for another review");
    const credential = await queue.credential(response.id);
    if (!credential || credential.reviewer !== row.reviewer) throw new VerificationError("webauthn_invalid", "the passkey is not the signed-in reviewer's");
    const { newCounter } = await verifyAssertion(response, config, row.challenge, credential);

    const committed = await queue.commitVerdict({
      row,
      evidence: {
        credential_id: credential.id,
        credential_public_key: credential.publicKey,
        new_counter: newCounter,
        assertion: {
          id: response.id,
          clientDataJSON: response.response.clientDataJSON,
          authenticatorData: response.response.authenticatorData,
          signature: response.response.signature,
          userHandle: response.response.userHandle ?? null,
        },
      },
      now: deps.now(),
    });
    if (!committed.ok) throw new StateError(committed.code, `the ${row.statement.verdict} cannot be applied`);
    if (!committed.logged) console.warn(JSON.stringify({ event: "review.evidence_deferred", review: id }));
    return c.json(holdView(committed.hold), 200);
  },
);
