#!/usr/bin/env node
// Keeps the module graph of worker/, durable-objects/ and cli/ in the shape the architecture
// needs (docs/architecture.md): no import circle (type-only imports included: a circle of
// types is a circle of concepts), no route importing another route, and the pure layers never
// importing a Durable Object module, not even for its types. Prints every violation; exit 1 if any.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const root = fileURLToPath(new URL("..", import.meta.url));
const DIRS = ["worker", "durable-objects", "witness", "cli"];

/** Modules that must not depend on Durable Objects: they run anywhere, the CLI included. */
const PURE = ["worker/policy/", "worker/people/", "worker/history/", "worker/tokens/", "worker/verifiers/", "worker/log/", "worker/json/", "worker/events/ocsf.ts", "worker/auth.ts", "worker/domain.ts", "worker/errors.ts", "worker/encoding.ts"];

function files(dir) {
  return readdirSync(join(root, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(join(root, path)).isDirectory()) return files(path);
    return /\.ts$/.test(name) && !name.endsWith(".d.ts") ? [path] : [];
  });
}

/** Relative imports of a module (static, re-exports, dynamic), as repository paths. */
function importsOf(file) {
  const source = ts.createSourceFile(file, readFileSync(join(root, file), "utf8"), ts.ScriptTarget.Latest, false);
  const found = [];
  const visit = (node) => {
    let specifier;
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) specifier = node.moduleSpecifier.text;
    else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] && ts.isStringLiteral(node.arguments[0])) specifier = node.arguments[0].text;
    if (specifier?.startsWith(".")) found.push(relative(root, resolve(root, dirname(file), specifier)).split("\\").join("/"));
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

const graph = new Map(DIRS.flatMap(files).map((file) => [file, importsOf(file)]));
const problems = [];

for (const [file, imports] of graph) {
  for (const target of imports) {
    if (PURE.some((prefix) => file.startsWith(prefix)) && target.startsWith("durable-objects/")) problems.push(`${file} imports ${target}: the pure layers never depend on a Durable Object`);
    if (file.startsWith("worker/routes/") && target.startsWith("worker/routes/")) problems.push(`${file} imports ${target}: a route never imports another route`);
  }
}

// Circles: depth-first search, reporting each circle once by its smallest rotation.
const seen = new Set();
const reported = new Set();
function walk(file, stack, onStack) {
  if (onStack.has(file)) {
    const circle = stack.slice(stack.indexOf(file));
    const start = circle.indexOf([...circle].sort()[0]);
    const key = [...circle.slice(start), ...circle.slice(0, start)].join(" → ");
    if (!reported.has(key)) {
      reported.add(key);
      problems.push(`import circle: ${key} → ${circle[start]}`);
    }
    return;
  }
  if (seen.has(file) || !graph.has(file)) return;
  onStack.add(file);
  stack.push(file);
  for (const next of graph.get(file)) walk(next, stack, onStack);
  stack.pop();
  onStack.delete(file);
  seen.add(file);
}
for (const file of graph.keys()) walk(file, [], new Set());

if (problems.length > 0) {
  for (const problem of problems) console.error(`✗ ${problem}`);
  process.exit(1);
}
console.log(`imports: ${graph.size} modules, no circle, layers respected`);
