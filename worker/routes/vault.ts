import { createRoute, z } from "@hono/zod-openapi";
import { personOf, requireRole } from "../auth.ts";
import { serviceContext } from "../context.ts";
import { MalformedInputError } from "../errors.ts";
import { bearerSecurity, problems, router } from "../openapi.ts";
import { readVault } from "../privacy/service.ts";
import { VAULT_REF } from "../privacy/vault.ts";

const ReasonSchema = z.string().trim().min(1).max(500);

const VaultValueSchema = z
  .object({
    ref: z.string(),
    value: z.string().openapi({ description: "The raw value as the request carried it (a non-text context value as its RFC 8785 JSON)" }),
    kid: z.string().openapi({ description: "The vault key it was encrypted under" }),
    stored_at: z.string().nullable(),
    log: z.object({ seq: z.int(), hash: z.string() }).openapi({ description: "The admin-log entry (admin.vault_read) that records this read" }),
  })
  .openapi("VaultValue");

/** The vault over HTTP (worker/privacy/service.ts): privacy officers only, every read logged. */
export const vault = router();

vault.use("/v1/vault/:ref", requireRole("privacy-officer"));
vault.openapi(
  createRoute({
    method: "get",
    path: "/v1/vault/{ref}",
    operationId: "readVaultValue",
    tags: ["privacy"],
    summary: "Read a tokenised value back (privacy officer); the read is logged in the admin log with who and why",
    security: bearerSecurity,
    request: {
      params: z.object({ ref: z.string().regex(VAULT_REF).openapi({ description: "The reference a log entry holds as `{vault: ref, kid}` or `[vault:<kid>:<ref>]`", example: "laptop-0042~0123456789abcdefABCDEF_-" }) }),
      query: z.object({ reason: ReasonSchema.optional().openapi({ description: "Why the value is read: recorded with the read. Or the `Warden-Reason` header" }) }),
      headers: z.object({ "warden-reason": ReasonSchema.optional() }),
    },
    responses: {
      200: { description: "The value, once its read is logged", content: { "application/json": { schema: VaultValueSchema } } },
      ...problems(400, 401, 403, 404),
    },
  }),
  async (c) => {
    const reason = c.req.valid("query").reason ?? c.req.valid("header")["warden-reason"];
    if (reason === undefined) throw new MalformedInputError("malformed_request", "a vault read needs a reason (the reason query or the Warden-Reason header)");
    const read = await readVault(serviceContext(c), personOf(c), c.req.valid("param").ref, reason);
    c.header("cache-control", "no-store");
    return c.json(read, 200);
  },
);
