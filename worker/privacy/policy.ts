import { z } from "zod";
import { BundleError } from "../policy/artifact.ts";

/**
 * What a bundle's manifest says about the sensitive fields of a decision (`privacy`), and how each
 * is treated before the decision is logged (docs/privacy.md). Policies still decide on the raw
 * request; only what is logged — and so archived, exported, put in receipts and sent as OCSF — is
 * masked.
 */

/** `drop`: removed (a marker in text); `hash`: keyed HMAC-SHA-256, equal values correlate; `tokenise`: encrypted into the vault, the log keeps the reference. */
export const TREATMENTS = ["drop", "hash", "tokenise"] as const;
export type Treatment = (typeof TREATMENTS)[number];

const treatment = z.enum(TREATMENTS);

/** Longest command-argument pattern: a pattern is compiled for every bundle load and run on every command line. */
const MAX_PATTERN = 256;

export const PrivacyManifestSchema = z.strictObject({
  /** The caller's `context`: named keys, and `others` for every key not named (the whole context when alone). */
  context: z
    .strictObject({
      keys: z.record(z.string().min(1).max(64), treatment).optional(),
      others: treatment.optional(),
    })
    .optional(),
  /**
   * Command lines: each match of a pattern (ECMAScript, Unicode mode) is masked — only its named
   * group `value` when it has one, e.g. `--token[= ](?<value>\S+)`.
   */
  command_args: z
    .array(z.strictObject({ pattern: z.string().min(1).max(MAX_PATTERN), treatment }))
    .max(16)
    .optional(),
  /** URLs (targets as canonicalised, as submitted and as derived from command lines): the query string and the userinfo. */
  url: z.strictObject({ query: treatment.optional(), userinfo: treatment.optional() }).optional(),
});

/** A command-line pattern, compiled. */
export interface ArgumentRule {
  pattern: RegExp;
  treatment: Treatment;
}

/** The privacy section compiled once per bundle: what {@link maskDecision} applies. */
export interface PrivacyPolicy {
  context: { keys: ReadonlyMap<string, Treatment>; others: Treatment | null };
  commandArgs: readonly ArgumentRule[];
  url: { query: Treatment | null; userinfo: Treatment | null };
}

/** A bundle without a `privacy` section masks nothing: its decisions are logged as they were before masking existed. */
export const NO_MASKING: PrivacyPolicy = { context: { keys: new Map(), others: null }, commandArgs: [], url: { query: null, userinfo: null } };

/**
 * A decision no bundle decided (none loads, the deployment cannot be read) has no privacy section
 * to say what is sensitive: everything that could be is dropped, which needs no key and no vault.
 */
export const DROP_ALL: PrivacyPolicy = {
  context: { keys: new Map(), others: "drop" },
  commandArgs: [{ pattern: /\s(?<value>\S.*)$/dgsu, treatment: "drop" }],
  url: { query: "drop", userinfo: "drop" },
};

/**
 * Validates a manifest's `privacy` section and compiles it. Refuses (`bundle_privacy_invalid`)
 * an unknown field, an unknown treatment, and a pattern that does not compile, matches the
 * empty string (it would mask between every character) or names a group other than `value`.
 */
export function compilePrivacy(raw: unknown): PrivacyPolicy {
  if (raw === undefined) return NO_MASKING;
  const parsed = PrivacyManifestSchema.safeParse(raw);
  if (!parsed.success) {
    throw new BundleError("bundle_privacy_invalid", "the manifest's privacy section is malformed", parsed.error.issues.map((issue) => `privacy.${issue.path.join(".")}: ${issue.message}`));
  }
  const manifest = parsed.data;
  const commandArgs = (manifest.command_args ?? []).map((rule, index) => {
    let pattern: RegExp;
    try {
      pattern = new RegExp(rule.pattern, "dgu");
    } catch (error) {
      throw new BundleError("bundle_privacy_invalid", `privacy.command_args.${index}: the pattern does not compile`, [String(error)]);
    }
    if (pattern.test("")) throw new BundleError("bundle_privacy_invalid", `privacy.command_args.${index}: the pattern matches the empty string`);
    pattern.lastIndex = 0;
    const groups = [...rule.pattern.matchAll(/\(\?<([^>=!]+)>/g)].map((match) => match[1]);
    if (groups.some((name) => name !== "value")) throw new BundleError("bundle_privacy_invalid", `privacy.command_args.${index}: the only named group a pattern may have is value`);
    return { pattern, treatment: rule.treatment };
  });
  return {
    context: { keys: new Map(Object.entries(manifest.context?.keys ?? {})), others: manifest.context?.others ?? null },
    commandArgs,
    url: { query: manifest.url?.query ?? null, userinfo: manifest.url?.userinfo ?? null },
  };
}

/** Whether a policy needs keys (hash) or the vault (tokenise) at all. */
export function treatmentsOf(policy: PrivacyPolicy): ReadonlySet<Treatment> {
  const used = new Set<Treatment>();
  for (const value of policy.context.keys.values()) used.add(value);
  if (policy.context.others) used.add(policy.context.others);
  for (const rule of policy.commandArgs) used.add(rule.treatment);
  if (policy.url.query) used.add(policy.url.query);
  if (policy.url.userinfo) used.add(policy.url.userinfo);
  return used;
}
