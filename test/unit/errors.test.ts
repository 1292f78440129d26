import { describe, expect, it } from "vitest";
import doc from "../../docs/errors.md?raw";
import { ERROR_CODES } from "../../worker/errors.ts";
import { problemFor } from "../../worker/problem.ts";

// The rows of docs/errors.md's first table: `| \`code\` | status | meaning |`.
const documented = new Map(
  doc
    .split("\n")
    .map((line) => /^\| `([a-z_]+)` \| (\d{3}) \|/.exec(line))
    .filter((match): match is RegExpExecArray => match !== null)
    .map((match) => [match[1]!, Number(match[2])]),
);

describe("docs/errors.md and the error code list", () => {
  it("documents every code with the status the wire switch gives it", () => {
    for (const code of ERROR_CODES) expect({ code, status: documented.get(code) }).toEqual({ code, status: problemFor(code).status });
  });

  it("documents no code that does not exist", () => {
    expect([...documented.keys()].filter((code) => !(ERROR_CODES as readonly string[]).includes(code))).toEqual([]);
  });
});
