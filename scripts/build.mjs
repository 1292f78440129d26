#!/usr/bin/env node
// `npm run build` (and `prepare`, so `npm ci` builds): the CLI and the client package as
// JavaScript in dist/, so nothing compiles TypeScript at run time.
//
//   dist/cli/main.js (+ chunks)  the `warden` command (bin/warden.js imports it). One chunk per
//                                command, loaded when that command runs; jose is bundled in, so
//                                a hook call resolves no package at start-up.
//   dist/client.js               WardenClient for Node 20, browsers and workers (jose stays a
//                                dependency, resolved by the consumer's bundler or runtime)
//   dist/types/                  its types (cli/client.d.ts and what it imports), from tsc
//
// --if-stale skips the build when dist/.build-hash matches the sources (npm test and npm start
// pass it, so an edit to cli/ or worker/ is never run stale and an unchanged tree costs a hash).
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const dist = join(root, "dist");
const hashFile = join(dist, ".build-hash");
// Everything the bundles are built from: the CLI imports worker/ modules, and their types reach durable-objects/.
const SOURCE_DIRS = ["cli", "worker", "durable-objects"];
const SOURCE_FILES = ["package.json", "package-lock.json", "tsconfig.json", "tsconfig.types.json", "scripts/build.mjs"];

function sourceFiles(dir) {
  const out = [];
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(path));
    else out.push(path);
  }
  return out;
}

/** SHA-256 over every input's path and bytes: content, not mtimes, so a checkout or a copy does not look stale. */
function sourceHash() {
  const hash = createHash("sha256");
  const files = [...SOURCE_DIRS.flatMap(sourceFiles), ...SOURCE_FILES.filter((file) => existsSync(join(root, file)))].sort();
  for (const file of files) {
    hash.update(`${file}\0`);
    hash.update(readFileSync(join(root, file)));
    hash.update("\0");
  }
  return hash.digest("hex");
}

const ifStale = process.argv.includes("--if-stale");
const wanted = sourceHash();
if (ifStale && existsSync(hashFile) && readFileSync(hashFile, "utf8").trim() === wanted && existsSync(join(dist, "cli", "main.js"))) process.exit(0);

// esbuild is a devDependency: imported here, not at the top, so `--if-stale` on an unchanged tree loads nothing.
const { build } = await import("esbuild");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const packages = Object.keys({ ...pkg.dependencies, ...pkg.devDependencies });

const started = Date.now();
rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });

await build({
  entryPoints: [join(root, "cli/main.ts")],
  outdir: join(dist, "cli"),
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  // jose is bundled (it is on every hook call's path); the rest load from node_modules when a command needs them.
  external: packages.filter((name) => name !== "jose").flatMap((name) => [name, `${name}/*`]),
  chunkNames: "chunks/[name]-[hash]",
  logLevel: "warning",
  legalComments: "none",
});

await build({
  entryPoints: [join(root, "cli/client.ts")],
  outfile: join(dist, "client.js"),
  bundle: true,
  format: "esm",
  // Neutral: the client must run in Node 20, browsers and workers, so no Node built-in may sneak in.
  platform: "neutral",
  target: "es2022",
  external: ["jose"],
  logLevel: "warning",
});

const tsc = spawnSync(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", join(root, "tsconfig.types.json")], { cwd: root, stdio: "inherit" });
if (tsc.status !== 0) {
  rmSync(dist, { recursive: true, force: true });
  process.exit(tsc.status ?? 1);
}

writeFileSync(hashFile, `${wanted}\n`);
process.stderr.write(`build: ${relative(root, dist)}/ in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
