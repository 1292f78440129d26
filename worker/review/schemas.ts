import { z } from "@hono/zod-openapi";

const B64 = z.string().min(1).max(8192).regex(/^[A-Za-z0-9_-]+$/);

/** A WebAuthn assertion as `PublicKeyCredential.toJSON()` gives it (unknown members dropped): verdicts and sign-ins. */
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
