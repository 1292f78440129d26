/**
 * RFC 8785 JSON Canonicalization Scheme. Log entries and bundle digests are
 * hashed over this form, so any party (the worker, the CLI, an auditor's own
 * tool) that re-serialises a parsed entry gets the same bytes.
 */
import type { JsonValue } from "../json/strict.ts";
import { WardenError } from "../errors.ts";

/** Re-exported from the strict reader, where it is defined, for the many modules that import it from here. */
export type { JsonValue };

export function canonicalJson(value: JsonValue): string {
  if (value === null || typeof value === "boolean") return JSON.stringify(value);
  if (typeof value === "number") {
    // RFC 8785 §3.2.2.3: numbers serialise as ECMAScript Number.prototype.toString; NaN and Infinity have no JSON form.
    if (!Number.isFinite(value)) throw new WardenError("internal_error", "a non-finite number has no canonical JSON form");
    return JSON.stringify(value);
  }
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  // RFC 8785 §3.2.3: members sorted by their UTF-16 code units, which is what the default sort compares.
  const keys = Object.keys(value)
    .filter((key) => value[key] !== undefined)
    .sort();
  return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key] as JsonValue)}`).join(",")}}`;
}
