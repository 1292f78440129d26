import { canonicalJson, type JsonValue } from "../log/canonical.ts";
import type { ArgumentRule, PrivacyPolicy, Treatment } from "./policy.ts";

/**
 * Masks a decision's log data as its bundle's privacy section says (worker/privacy/policy.ts),
 * before the entry is hashed: the device log, its archive, exports, receipts and OCSF events
 * only ever hold what this returns. Pure over an injected {@link Masker}, which does the keyed
 * hashing and the vault writes (worker/privacy/vault.ts); tests give it their own.
 *
 * What is masked, and what never is (so the history a decision is checked against at its append
 * is the same masked or not, docs/privacy.md):
 * - `context`: each value by its key's treatment, or `others`;
 * - URL targets (`action.targets`, `derived`, `submitted`): the query string and the userinfo;
 *   the scheme, host and path stay, which is all a history filter reads of a URL;
 * - command targets (`action.targets`, `submitted`): each match of an argument pattern; the
 *   programs the analysis found are logged apart (`action.programs`, `commands`) and stay.
 */

/** What hashing and tokenising a value gave, as the log records it. */
export interface Hashed {
  kid: string;
  /** base64url HMAC-SHA-256 of the value under the tenant's hashing key `kid`. */
  hmac: string;
}
export interface Tokenised {
  kid: string;
  /** The vault reference the encrypted value is stored under. */
  ref: string;
}

/** The keyed parts of masking, injected. */
export interface Masker {
  hash(value: string): Promise<Hashed>;
  /**
   * Encrypts and stores the value; resolves only once it is stored (a logged reference always has
   * its value). Null: the value is dropped instead (a request past its bound on vault writes).
   */
  tokenise(value: string): Promise<Tokenised | null>;
}

/** The marker that replaces a dropped part of a text. */
export const DROPPED = "[masked]";

/** How a masked part of a text reads: `[hmac:<kid>:<mac>]`, `[vault:<kid>:<ref>]`, or {@link DROPPED}. */
export function textMarker(masked: Hashed | Tokenised | null): string {
  if (masked === null) return DROPPED;
  return "ref" in masked ? `[vault:${masked.kid}:${masked.ref}]` : `[hmac:${masked.kid}:${masked.hmac}]`;
}

type Data = { [key: string]: JsonValue };

/** Equal values hash alike wherever they occur: a text as itself, anything else as its RFC 8785 form. */
function valueText(value: JsonValue): string {
  return typeof value === "string" ? value : canonicalJson(value);
}

async function applyText(treatment: Treatment, value: string, masker: Masker): Promise<string> {
  switch (treatment) {
    case "drop":
      return DROPPED;
    case "hash":
      return textMarker(await masker.hash(value));
    case "tokenise":
      return textMarker(await masker.tokenise(value));
  }
}

/** A context value masked: `{hmac, kid}` or `{vault, kid}`; undefined when dropped. */
async function applyValue(treatment: Treatment, value: JsonValue, masker: Masker): Promise<JsonValue | undefined> {
  switch (treatment) {
    case "drop":
      return undefined;
    case "hash": {
      const { kid, hmac } = await masker.hash(valueText(value));
      return { hmac, kid };
    }
    case "tokenise": {
      const tokenised = await masker.tokenise(valueText(value));
      return tokenised === null ? undefined : { vault: tokenised.ref, kid: tokenised.kid };
    }
  }
}

async function maskContext(context: JsonValue | undefined, policy: PrivacyPolicy, masker: Masker): Promise<JsonValue | undefined> {
  if (typeof context !== "object" || context === null || Array.isArray(context)) return context;
  const masked: Data = {};
  for (const [key, value] of Object.entries(context)) {
    if (value === undefined) continue;
    const treatment = policy.context.keys.get(key) ?? policy.context.others;
    if (treatment === null) {
      masked[key] = value;
      continue;
    }
    const replaced = await applyValue(treatment, value, masker);
    if (replaced !== undefined) masked[key] = replaced;
  }
  return masked;
}

/** `scheme://userinfo@host…?query#fragment`: the parts masking replaces, read as text (a submitted URL may not parse). */
const URL_PARTS = /^(?<head>[A-Za-z][A-Za-z0-9+.-]*:\/\/)(?:(?<userinfo>[^/?#@]*)@)?(?<authority>[^/?#]*)(?<path>[^?#]*)(?:\?(?<query>[^#]*))?(?<fragment>#.*)?$/su;

export async function maskUrl(value: string, policy: PrivacyPolicy, masker: Masker): Promise<string> {
  const { query, userinfo: userinfoTreatment } = policy.url;
  if (query === null && userinfoTreatment === null) return value;
  const parts = URL_PARTS.exec(value)?.groups;
  if (!parts) return value;
  const userinfo = parts["userinfo"];
  const queryText = parts["query"];
  const maskedUser = userinfo !== undefined && userinfoTreatment !== null ? await applyText(userinfoTreatment, userinfo, masker) : userinfo;
  // A fragment can carry what a query does (OAuth implicit tokens): it goes with the query.
  const queried = queryText !== undefined || parts["fragment"] !== undefined;
  const maskedQuery = queried && query !== null ? await applyText(query, `${queryText === undefined ? "" : `?${queryText}`}${parts["fragment"] ?? ""}`, masker) : null;
  const tail = maskedQuery !== null ? `?${maskedQuery}` : `${queryText === undefined ? "" : `?${queryText}`}${parts["fragment"] ?? ""}`;
  return `${parts["head"]}${maskedUser === undefined ? "" : `${maskedUser}@`}${parts["authority"]}${parts["path"]}${tail}`;
}

export async function maskCommand(value: string, rules: readonly ArgumentRule[], masker: Masker): Promise<string> {
  let line = value;
  for (const rule of rules) {
    // Matches are found first, then replaced from the end, so earlier offsets stay valid.
    const matches = [...line.matchAll(new RegExp(rule.pattern.source, rule.pattern.flags))];
    for (const match of matches.reverse()) {
      const group = match.groups?.["value"];
      // Patterns are compiled with the `d` flag (worker/privacy/policy.ts): the group's own offset.
      const start = group === undefined ? match.index : (match.indices?.groups?.["value"]?.[0] ?? match.index);
      const text = group ?? match[0];
      if (text === "") continue;
      line = `${line.slice(0, start)}${await applyText(rule.treatment, text, masker)}${line.slice(start + text.length)}`;
    }
  }
  return line;
}

async function maskTargets(targets: JsonValue | undefined, policy: PrivacyPolicy, masker: Masker): Promise<JsonValue | undefined> {
  if (!Array.isArray(targets)) return targets;
  const masked: JsonValue[] = [];
  for (const target of targets) {
    if (typeof target !== "object" || target === null || Array.isArray(target) || typeof target["value"] !== "string") {
      masked.push(target);
      continue;
    }
    const value = target["value"];
    if (target["kind"] === "url") masked.push({ ...target, value: await maskUrl(value, policy, masker) });
    else if (target["kind"] === "command" && policy.commandArgs.length > 0) masked.push({ ...target, value: await maskCommand(value, policy.commandArgs, masker) });
    else masked.push(target);
  }
  return masked;
}

/** The decision's log data with its sensitive fields masked; `data` itself is not changed. */
export async function maskDecision(data: Data, policy: PrivacyPolicy, masker: Masker): Promise<Data> {
  const masked: Data = { ...data };
  if ("context" in data) {
    const context = await maskContext(data["context"], policy, masker);
    if (context !== undefined) masked["context"] = context;
  }
  const action = data["action"];
  if (typeof action === "object" && action !== null && !Array.isArray(action)) {
    const next: Data = {};
    for (const [key, value] of Object.entries(action)) if (value !== undefined) next[key] = value;
    for (const field of ["targets", "derived", "submitted"] as const) {
      const replaced = await maskTargets(action[field], policy, masker);
      if (replaced !== undefined) next[field] = replaced;
    }
    masked["action"] = next;
  }
  return masked;
}
