import { createRoute, z } from "@hono/zod-openapi";
import { personOf, requireRole } from "../auth.ts";
import { ConsentScopeSchema } from "../consent/scope.ts";
import { giveConsent, listConsents, readConsent, revokeConsent } from "../consent/service.ts";
import { CONSENT_METHODS } from "../consent/types.ts";
import { serviceContext } from "../context.ts";
import { bearerSecurity, jsonBody, problems, router } from "../openapi.ts";

const ActorIdSchema = z
  .email()
  .max(254)
  .transform((email) => email.toLowerCase())
  .openapi({ description: "The person, as Cloudflare Access verifies them (their e-mail) and as devices are registered to (`user`)", example: "dev@example.com" });

const GiveConsentSchema = z
  .strictObject({
    actor_id: ActorIdSchema.optional().openapi({ description: "Whose consent: the caller's own when absent; an admin records one for someone else here" }),
    scope: ConsentScopeSchema,
    purpose: z.string().min(1).max(500).openapi({ description: "What the consent is for, as the actor was told", example: "summarise my meeting notes" }),
    expiry: z.iso.datetime().openapi({ description: "When it stops covering anything: after now, within the active bundle's consent.max_days" }),
    method: z.enum(CONSENT_METHODS).optional().openapi({ description: "How the actor gave it; `sso-consent` by default for their own, required from an admin" }),
    consent_version: z.string().min(1).max(64).openapi({ description: "The version of the policy text the actor was shown", example: "2026-01" }),
  })
  .openapi("GiveConsent");

const ConsentEventSchema = z.object({ seq: z.int(), time: z.string(), type: z.enum(["consent.given", "consent.revoked"]), by: z.string(), hash: z.string() });

const ConsentSchema = z
  .object({
    id: z.string(),
    actor_id: z.string(),
    scope: ConsentScopeSchema,
    purpose: z.string(),
    expiry: z.string(),
    method: z.enum(CONSENT_METHODS),
    consent_timestamp: z.string(),
    consent_version: z.string(),
    recorded_by: z.object({ id: z.string(), via: z.string(), on_behalf: z.boolean() }).openapi({ description: "Who recorded it; `on_behalf` when an admin did for the actor" }),
    revoked: z.object({ at: z.string(), by: z.string(), reason: z.string().nullable() }).nullable(),
    status: z.enum(["active", "expired", "revoked"]),
    history: z.array(ConsentEventSchema).openapi({ description: "Its entries in the tenant's hash-chained consent ledger" }),
  })
  .openapi("Consent");

const DeviceSyncSchema = z.object({ synced: z.int(), pending: z.int() }).openapi("ConsentDevices", { description: "Devices of the actor that hold the change, and those the ledger still retries" });

const ConsentIdParams = z.object({ id: z.string().min(1).max(64) });

/** A person through Cloudflare Access, or a bootstrap bearer token. */
const security = bearerSecurity;
const tags = ["consents"];

/** Consent records over HTTP (flows in worker/consent/service.ts). */
export const consents = router();

consents.openapi(
  createRoute({
    method: "post",
    path: "/v1/consents",
    operationId: "giveConsent",
    tags,
    summary: "Give consent (the actor, signed in through Access), or record one on an actor's behalf (admin)",
    description: "Every device registered to the actor holds it from its next decision; policies read it as `context.consent`.",
    middleware: [requireRole("actor", "admin")] as const,
    security,
    request: jsonBody(GiveConsentSchema),
    responses: {
      201: { description: "Recorded", content: { "application/json": { schema: z.object({ consent: ConsentSchema, devices: DeviceSyncSchema }) } } },
      ...problems(400, 401, 403, 413, 415, 422),
    },
  }),
  async (c) => c.json(await giveConsent(serviceContext(c), personOf(c), c.req.valid("json")), 201),
);

consents.openapi(
  createRoute({
    method: "get",
    path: "/v1/consents",
    operationId: "listConsents",
    tags,
    summary: "Consent records with their history: the caller's own, or anyone's (admin, auditor, privacy officer)",
    middleware: [requireRole("actor", "admin", "auditor", "privacy-officer")] as const,
    security,
    request: {
      query: z.object({
        actor: ActorIdSchema.optional(),
        active: z.enum(["true", "false"]).default("false").transform((value) => value === "true").openapi({ description: "Only consents neither revoked nor expired" }),
        limit: z.coerce.number().int().min(1).max(500).default(100),
      }),
    },
    responses: {
      200: { description: "Newest first", content: { "application/json": { schema: z.object({ consents: z.array(ConsentSchema) }) } } },
      ...problems(400, 401, 403),
    },
  }),
  async (c) => c.json({ consents: await listConsents(serviceContext(c), personOf(c), c.req.valid("query")) }, 200),
);

consents.openapi(
  createRoute({
    method: "get",
    path: "/v1/consents/{id}",
    operationId: "getConsent",
    tags,
    summary: "One consent with its history (its actor; admin, auditor, privacy officer)",
    middleware: [requireRole("actor", "admin", "auditor", "privacy-officer")] as const,
    security,
    request: { params: ConsentIdParams },
    responses: {
      200: { description: "The consent", content: { "application/json": { schema: ConsentSchema } } },
      ...problems(400, 401, 403, 404),
    },
  }),
  async (c) => c.json(await readConsent(serviceContext(c), personOf(c), c.req.valid("param").id), 200),
);

consents.openapi(
  createRoute({
    method: "post",
    path: "/v1/consents/{id}/revoke",
    operationId: "revokeConsent",
    tags,
    summary: "Revoke a consent: its actor, or an admin; the next decision of every device of the actor no longer has it",
    description: "`consent_sync_pending` (503): a device of the actor could not be reached; nothing is recorded yet, repeat the call.",
    middleware: [requireRole("actor", "admin")] as const,
    security,
    request: { params: ConsentIdParams, ...jsonBody(z.strictObject({ reason: z.string().min(1).max(500).optional() }).openapi("RevokeConsent")) },
    responses: {
      200: { description: "Revoked (`changed` false when it already was)", content: { "application/json": { schema: z.object({ consent: ConsentSchema, changed: z.boolean(), devices: DeviceSyncSchema }) } } },
      ...problems(400, 401, 403, 404, 413, 415, 503),
    },
  }),
  async (c) => c.json(await revokeConsent(serviceContext(c), personOf(c), c.req.valid("param").id, c.req.valid("json").reason ?? null), 200),
);
