import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { Hook } from "@hono/zod-openapi";
import type { AppEnv } from "./context.ts";
import { problemResponse } from "./problem.ts";

/**
 * Every validator's failure goes through here, so a bad body gets problem+json
 * listing the fields at fault, never the raw ZodError.
 */
const validationProblem: Hook<unknown, AppEnv, string, unknown> = (result) => {
  if (!result.success) {
    return problemResponse("malformed_request", {
      errors: result.error.issues.map((issue) => ({ path: issue.path.join("."), message: issue.message })),
    });
  }
  return undefined;
};

/** A route sub-app whose validators answer with problem+json. */
export function router(): OpenAPIHono<AppEnv> {
  return new OpenAPIHono<AppEnv>({ defaultHook: validationProblem });
}

/** Schema of every error body, referenced by each route's error responses. */
export const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.int(),
    code: z.string().openapi({ description: "Stable error code; see docs/errors.md" }),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    evidence_code: z.string().optional().openapi({ description: "The verifier's own code when attestation evidence was refused" }),
  })
  .openapi("Problem");

const problemContent = { "application/problem+json": { schema: ProblemSchema } };

/** The error responses a route can give, for its OpenAPI entry. */
export function problems(...statuses: (400 | 401 | 403 | 404 | 409 | 410 | 413 | 415 | 422 | 503)[]) {
  return Object.fromEntries(statuses.map((status) => [status, { description: `Problem (${status})`, content: problemContent }]));
}

/** A JSON request body that must be present. */
export function jsonBody<T extends z.ZodType>(schema: T) {
  return { body: { required: true, content: { "application/json": { schema } } } } as const;
}

export const DeviceIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/)
  .openapi({ description: "Device identifier chosen at registration", example: "laptop-0042" });

/**
 * An integer in a query string or path, written the one way every reader reads alike: decimal
 * digits, no sign, exponent, fraction, leading zero or surrounding space (`1e3`, `0x10`, ` 7`
 * and `010` are refused, where a lenient coercion and the client's own parser could disagree).
 */
export function queryInt(bounds: { min: number; max?: number }) {
  return z
    .string()
    .regex(/^(0|[1-9][0-9]{0,15})$/, "a decimal integer")
    .transform(Number)
    .pipe(z.number().int().min(bounds.min).max(bounds.max ?? Number.MAX_SAFE_INTEGER));
}

export const Sha256HexSchema = z.string().regex(/^[0-9a-f]{64}$/);

/** Where an entry landed in a device's log. */
export const LogHeadSchema = z.object({ seq: z.int(), hash: z.string() }).openapi("LogPosition");

/**
 * Security requirements, one per way a caller proves who it is. Every operation names one (or
 * `publicAccess`, explicitly none): the OpenAPI lint and test/unit/openapi.test.ts refuse an
 * operation without, and an unauthenticated call to an operation declared public must not be
 * refused as unauthenticated.
 */
/** People: a Cloudflare Access sign-in, or a bootstrap token. */
export const bearerSecurity: { [scheme: string]: string[] }[] = [{ access: [] }, { bearer: [] }];
export const deviceSecurity = [{ dpop: [] }];
/** The device's DPoP proof alone, before it holds a session (POST /v1/sessions, TPM enrollment). */
export const dpopProofSecurity = [{ dpopProof: [] }];
/** A single-use action token presented as `Authorization: DPoP`, with a proof by the same key. */
export const actionTokenSecurity = [{ actionToken: [] }];
/** The reviewer page's HttpOnly session cookie. */
export const reviewerSecurity = [{ reviewerSession: [] }];
/** No credential in a header: the operation is open, or carries its proof in the body (a passkey assertion, a one-time token). */
export const publicAccess: { [scheme: string]: string[] }[] = [];

/**
 * The tags of the API reference, in the order /docs shows them. Every operation carries exactly
 * one; a tag not listed here fails the OpenAPI lint (`operation-tag-defined`) and the unit test.
 */
export const OPENAPI_TAGS = [
  { name: "devices", description: "Device registration (admin) and a device's own record and log" },
  { name: "sessions", description: "Nonces and device sessions: a DPoP proof by the device key, with optional attestation evidence" },
  { name: "decisions", description: "Permit, deny or review for one action or a batch, logged before the answer" },
  { name: "actions", description: "Redeeming action tokens once, and recording what the action did" },
  { name: "bundles", description: "Signed policy bundles: activation, canaries, shadows, rollbacks and their admin log" },
  { name: "reviews", description: "Held actions: waiting on them, the pending queue, passkey-signed verdicts" },
  { name: "reviewers", description: "Reviewer registration, passkey enrollment and sign-in for the reviewer page" },
  { name: "consents", description: "Consent records: scoped, timeboxed, revocable, given by a person for themselves or on behalf of another" },
  { name: "agents", description: "The agent registry: which agents and builds the tenant approved, their owner and risk" },
  { name: "privacy", description: "The vault of tokenised values (privacy officers, every read logged) and legal holds that suspend retention" },
  { name: "events", description: "The tenant's OCSF events, cursor-paged and gap-free, for SIEM and SOAR tools" },
  { name: "audit", description: "Signed checkpoints, log exports, compliance packages and the log keys to verify them" },
  { name: "attestation", description: "TPM enrollment (bootstrap token, EK certificate chain, credential activation) and signed attestation results for other relying parties" },
  { name: "service", description: "Health and the keys that verify Warden's tokens" },
] as const;

/** Security schemes, registered once by `describeApi`. */
const SECURITY_SCHEMES = {
  access: { type: "apiKey", in: "header", name: "Cf-Access-Jwt-Assertion", description: "A person signed in through Cloudflare Access (docs/people.md): roles from ACCESS_ROLES, every person an actor" },
  bearer: { type: "http", scheme: "bearer", description: "A bootstrap token (ADMIN_TOKEN, AUDITOR_TOKEN, PRIVACY_OFFICER_TOKEN): local development and first setup; recorded as `bootstrap-token:<role>`" },
  dpop: { type: "apiKey", in: "header", name: "Authorization", description: "`DPoP <session token>` with a `DPoP` proof header (RFC 9449) by the device key" },
  dpopProof: { type: "apiKey", in: "header", name: "DPoP", description: "A DPoP proof (RFC 9449) by the registered device key; its `nonce` claim is a nonce from POST /v1/attestation/nonce where the operation says so" },
  actionToken: { type: "apiKey", in: "header", name: "Authorization", description: "`DPoP <action token>` with a `DPoP` proof by the device key whose `ath` covers the action token" },
  reviewerSession: { type: "apiKey", in: "cookie", name: "warden_reviewer", description: "Set by POST /v1/reviewers/login after a passkey sign-in" },
} as const;

/** The license the document declares: the repository's LICENSE. */
const API_LICENSE = { name: "Apache-2.0", identifier: "Apache-2.0" } as const;

/** Origins whose document an isolate keeps: a deployment answers on one or two. */
const MAX_DOCUMENT_ORIGINS = 8;

/**
 * Adds the document-level parts of the OpenAPI description to `app` and serves it at
 * /openapi.json. `servers` is the origin the document was fetched from, so a client generated
 * from a deployment's document talks to that deployment. The route is public and the document
 * is generated from every route's schemas, so an isolate builds it once per origin.
 */
export function describeApi(app: OpenAPIHono<AppEnv>, version: string): void {
  for (const [name, scheme] of Object.entries(SECURITY_SCHEMES)) app.openAPIRegistry.registerComponent("securitySchemes", name, scheme);
  const documents = new Map<string, ReturnType<typeof app.getOpenAPI31Document>>();
  app.get("/openapi.json", (c) => {
    const origin = new URL(c.req.url).origin;
    let document = documents.get(origin);
    if (!document) {
      if (documents.size >= MAX_DOCUMENT_ORIGINS) documents.clear();
      // OpenAPI 3.1's `info.summary` is not in the generator's (3.0) type: a named object is not checked for extra members.
      const config = {
        openapi: "3.1.0",
        info: {
          title: "Warden",
          version,
          summary: "Policy decisions and attestation verification for autonomous AI agents",
          description:
            "Before every action an AI agent takes on an employee's machine, Warden decides permit, deny or review from signed Cedar policy bundles, " +
            "and logs the decision in a hash-chained per-device log before it answers. Errors are application/problem+json with a stable `code` (docs/errors.md).",
          license: API_LICENSE,
        },
        servers: [{ url: origin, description: "This deployment" }],
        tags: OPENAPI_TAGS.map((tag) => ({ ...tag })),
      };
      document = app.getOpenAPI31Document(config);
      documents.set(origin, document);
    }
    return c.json(document);
  });
}
