/**
 * The exit status of every `warden` command that is not an agent hook or the shim: 0 it did
 * what was asked and the answer is yes (built, verified, valid, formatted, permitted), 1 it
 * could not (bad arguments, a missing file, an unreachable server), 2 it ran and the answer is
 * no (a bundle's tests or validation failed, evidence or an export did not verify, a check
 * found unformatted files, the server refused the publication). A script can tell "fix the
 * command" from "the thing is bad" without parsing output. docs/cli.md has the table per command.
 */
export const STATUS = { ok: 0, error: 1, rejected: 2 } as const;

/**
 * Exit codes of `warden shim decide` (and `warden bundle eval`, which decides the same way
 * offline): a documented contract of the shim, kept as it is. Only a well-formed permit exits 0, so a
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
