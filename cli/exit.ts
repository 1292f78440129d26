/**
 * Exit codes of `warden shim decide`. Only a well-formed permit exits 0, so a
 * script that runs the action on success fails closed on everything else.
 * Imports nothing: the unit tests run it in workerd.
 */
export const EXIT = {
  permit: 0,
  error: 1,
  deny: 10,
  review: 11,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/**
 * Exit codes of `warden shim log-check`: 0 the log still holds what this endpoint saw, 12 it
 * does not (rolled back or rewritten), 1 the check could not be made.
 */
export const LOG_CHECK_EXIT = { consistent: 0, error: 1, tampered: 12 } as const;

/**
 * Maps the HTTP answer to POST /v1/decisions to an exit code: 0 permit, 10 deny,
 * 11 review, 1 for anything else (a non-200 status, a body that is not a
 * decision, or a permit without the action token that must come with it).
 */
export function decisionExitCode(status: number, body: unknown): ExitCode {
  if (status !== 200 || typeof body !== "object" || body === null || Array.isArray(body)) return EXIT.error;
  const { decision, token } = body as { decision?: unknown; token?: unknown };
  switch (decision) {
    case "permit":
      return typeof token === "string" && token.length > 0 ? EXIT.permit : EXIT.error;
    case "deny":
      return EXIT.deny;
    case "review":
      return EXIT.review;
    default:
      return EXIT.error;
  }
}
