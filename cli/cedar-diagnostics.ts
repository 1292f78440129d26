import { checkParsePolicySet, checkParseSchema, validate, type DetailedError } from "@cedar-policy/cedar-wasm/web";

/**
 * Cedar's errors on a bundle's source files as `file:line:column: message` lines, the form
 * compilers print and editors jump to. cedar-wasm reports byte offsets into the text it was
 * given (`sourceLocations`), so the files are checked whole, as written, before the worker's
 * compiler (which splits policies and would lose the positions) sees them.
 */

export interface CedarDiagnostic {
  file: string;
  line: number;
  column: number;
  message: string;
}

/** 1-based line and column (in UTF-16 code units, as editors count) of UTF-8 byte `offset` in `text`. */
export function position(text: string, offset: number): { line: number; column: number } {
  // cedar-wasm's offsets are into the UTF-8 bytes; a policy with non-ASCII text would drift if counted in characters.
  const bytes = new TextEncoder().encode(text);
  const before = new TextDecoder().decode(bytes.subarray(0, Math.min(offset, bytes.length)));
  const lines = before.split("\n");
  return { line: lines.length, column: lines[lines.length - 1]!.length + 1 };
}

function diagnostics(file: string, text: string, errors: DetailedError[]): CedarDiagnostic[] {
  return errors.map((error) => {
    const at = error.sourceLocations?.[0];
    const { line, column } = at ? position(text, at.start) : { line: 1, column: 1 };
    const help = error.help ? ` (${error.help})` : "";
    return { file, line, column, message: `${error.message}${help}` };
  });
}

/** Cedar's parse errors of a policies file, located; none when it parses. */
export function policyParseDiagnostics(file: string, text: string): CedarDiagnostic[] {
  const policies = checkParsePolicySet({ staticPolicies: text });
  return policies.type === "failure" ? diagnostics(file, text, policies.errors) : [];
}

/**
 * Parses the schema and the policies, then validates the policies strictly against the schema,
 * as the worker will: the diagnostics of the first stage that fails, or none.
 */
export function checkCedarSources(files: { schema: { file: string; text: string }; policies: { file: string; text: string } }): CedarDiagnostic[] {
  const schema = checkParseSchema(files.schema.text);
  if (schema.type === "failure") return diagnostics(files.schema.file, files.schema.text, schema.errors);
  const unparsable = policyParseDiagnostics(files.policies.file, files.policies.text);
  if (unparsable.length > 0) return unparsable;
  const validation = validate({ validationSettings: { mode: "strict" }, schema: files.schema.text, policies: { staticPolicies: files.policies.text } });
  if (validation.type === "failure") return diagnostics(files.policies.file, files.policies.text, validation.errors);
  return diagnostics(
    files.policies.file,
    files.policies.text,
    validation.validationErrors.map((error) => error.error),
  );
}

/** A diagnostic as the line a compiler prints. */
export function formatDiagnostic(diagnostic: CedarDiagnostic): string {
  return `${diagnostic.file}:${diagnostic.line}:${diagnostic.column}: error: ${diagnostic.message}`;
}
