/**
 * What a consent covers, and whether it covers one judged target (docs/consent.md). Pure: the
 * decision code asks it for every target it evaluates, the bundle test runner too.
 *
 * A scope restricts up to five axes; an absent axis does not restrict. `actions`, `agents` and
 * `devices` restrict who does what. `paths` and `hosts` restrict the resource: when either is
 * present, a target is covered only if it is a file matching `paths` or a URL matching `hosts`
 * (a consent to read some documents covers no web request, and no command line, whose files are
 * judged on their own as derived targets).
 */
import { z } from "@hono/zod-openapi";
import { BundleError } from "../policy/artifact.ts";
import { classesOf, compilePathClasses, type PathClasses } from "../policy/path-classes.ts";

const HostSchema = z
  .string()
  .max(253)
  .regex(/^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/)
  .openapi({ description: "A host as Warden canonicalises it (lower case, IDNs in punycode), or `*.` and a domain for any host under it" });

/** A consent's scope: at least one axis. */
export const ConsentScopeSchema = z
  .strictObject({
    paths: z
      .array(z.string().min(1).max(4096))
      .min(1)
      .max(64)
      .optional()
      .openapi({ description: "Canonical paths and patterns, as a bundle's path classes (`/home/dev/Documents/**`)" }),
    hosts: z.array(HostSchema).min(1).max(64).optional(),
    actions: z.array(z.string().regex(/^[a-z][a-z0-9_.-]{0,63}$/)).min(1).max(64).optional(),
    agents: z.array(z.string().min(1).max(128)).min(1).max(64).optional(),
    devices: z.array(z.string().min(1).max(128)).min(1).max(64).optional(),
  })
  .refine((scope) => Object.values(scope).some((axis) => axis !== undefined), "a scope restricts at least one of paths, hosts, actions, agents, devices")
  .openapi("ConsentScope");
export type ConsentScope = z.infer<typeof ConsentScopeSchema>;

/** What a device holds of each active consent of its actor, and a decision reads. */
export interface ActiveConsent {
  id: string;
  scope: ConsentScope;
  purpose: string;
  /** The policy-text version the actor was shown. */
  consent_version: string;
  /** ms since the epoch. */
  expires_at: number;
  /** When it was given, ms since the epoch. */
  given_at: number;
}

/** An active consent with its paths compiled once. */
export interface CompiledConsent {
  consent: ActiveConsent;
  paths: PathClasses | null;
}

const COVERED = "consent";

/**
 * Compiles a scope's paths; throws `BundleError` (the path-class compiler's) when one is neither a
 * canonical path nor a pattern over canonical paths.
 */
export function compileConsent(consent: ActiveConsent): CompiledConsent {
  return { consent, paths: consent.scope.paths ? compilePathClasses({ [COVERED]: consent.scope.paths }) : null };
}

/** Why a scope's paths do not compile, or null: for refusing a consent before it is recorded. */
export function scopeProblem(scope: ConsentScope): string | null {
  try {
    if (scope.paths) compilePathClasses({ [COVERED]: scope.paths });
    return null;
  } catch (error) {
    if (error instanceof BundleError) return error.message;
    throw error;
  }
}

/** One evaluation as coverage sees it: the action judged, by whom, and the resource. */
export interface CoverageTarget {
  action: string;
  agent: string;
  device: string;
  /** A file's `within` (every prefix from the root), for a path target. */
  within?: readonly string[];
  /** A URL's canonical host, for a URL target. */
  host?: string;
}

function hostMatches(patterns: readonly string[], host: string): boolean {
  return patterns.some((pattern) => (pattern.startsWith("*.") ? host.endsWith(pattern.slice(1)) : host === pattern));
}

/** Whether `compiled` covers `target` at `now`. */
export function covers(compiled: CompiledConsent, target: CoverageTarget, now: number): boolean {
  const { scope, expires_at } = compiled.consent;
  if (expires_at <= now) return false;
  if (scope.actions && !scope.actions.includes(target.action)) return false;
  if (scope.agents && !scope.agents.includes(target.agent)) return false;
  if (scope.devices && !scope.devices.includes(target.device)) return false;
  if (!scope.paths && !scope.hosts) return true;
  if (target.within && compiled.paths) return classesOf(compiled.paths, target.within).includes(COVERED);
  if (target.host !== undefined && scope.hosts) return hostMatches(scope.hosts, target.host);
  return false;
}

/**
 * The consent a decision relies on for `target`: of those that cover it, the most recently
 * given (ties by id), so the purpose and version policy sees are the latest the actor agreed to.
 */
export function coveringConsent(consents: readonly CompiledConsent[], target: CoverageTarget, now: number): ActiveConsent | null {
  let best: ActiveConsent | null = null;
  for (const compiled of consents) {
    if (!covers(compiled, target, now)) continue;
    const { consent } = compiled;
    if (!best || consent.given_at > best.given_at || (consent.given_at === best.given_at && consent.id > best.id)) best = consent;
  }
  return best;
}
