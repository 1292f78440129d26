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

export const bearerSecurity = [{ bearer: [] }];
export const deviceSecurity = [{ dpop: [] }];
