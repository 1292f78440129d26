/**
 * Bundles bench/worker.ts with esbuild and runs it in a local Miniflare with the
 * bindings of wrangler.jsonc: SQLite-backed DeviceLog behind DEVICES, an R2 bucket
 * BUNDLES, TENANT/BUNDLE_REFRESH_SECONDS as configured, fresh secrets.
 */
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build, type Plugin } from "esbuild";
import { Miniflare, Log, LogLevel } from "miniflare";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const WASM_NAME = "cedar_wasm_bg.wasm";

interface WranglerConfig {
  compatibility_date: string;
  compatibility_flags?: string[];
  durable_objects?: { bindings?: { name: string; class_name: string }[] };
  migrations?: { new_sqlite_classes?: string[] }[];
  r2_buckets?: { binding: string }[];
  vars?: Record<string, string>;
}

/** wrangler.jsonc, read so that the bench server has exactly the configured bindings, flags and vars. */
export function wranglerConfig(): WranglerConfig {
  const text = readFileSync(resolve(root, "wrangler.jsonc"), "utf8");
  // JSONC: drop whole-line comments (the file has none today) before parsing.
  return JSON.parse(text.replace(/^\s*\/\/.*$/gm, "")) as WranglerConfig;
}

/** The cedar .wasm imported by path in worker/policy/cedar.ts becomes a CompiledWasm module, as wrangler does. */
const wasmAsModule: Plugin = {
  name: "compiled-wasm",
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: /\.wasm$/ }, (args) => {
      const path = resolve(args.resolveDir, args.path);
      if (!path.endsWith(`/${WASM_NAME}`)) throw new Error(`unexpected wasm import ${args.path}`);
      return { path: `./${WASM_NAME}`, external: true };
    });
  },
};

/** Bundles a bench entry (bench/worker.ts, bench/audit-worker.ts) as wrangler would. */
export async function bundleWorker(entry = "bench/worker.ts"): Promise<string> {
  const result = await build({
    entryPoints: [resolve(root, entry)],
    bundle: true,
    write: false,
    format: "esm",
    target: "es2022",
    platform: "browser",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["browser", "module", "main"],
    external: ["cloudflare:*", "node:*"],
    plugins: [wasmAsModule],
    logLevel: "warning",
  });
  const file = result.outputFiles[0];
  if (!file) throw new Error("esbuild produced no output");
  return file.text;
}

export interface BenchServer {
  mf: Miniflare;
  url: string;
  adminToken: string;
  tenant: string;
  /** Private JWK of the publisher that PUBLISHER_KEYS trusts in this run (for signed bundles). */
  publisherKey: Record<string, unknown>;
}

export async function startServer(options: { inspectorPort?: number } = {}): Promise<BenchServer> {
  const config = wranglerConfig();
  const script = await bundleWorker();
  const signingKey = generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" });
  const publisherKey = generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" }) as Record<string, unknown>;
  const { d: _private, ...publisherPublic } = publisherKey;
  const adminToken = randomBytes(32).toString("base64url");
  const sqliteClasses = new Set((config.migrations ?? []).flatMap((migration) => migration.new_sqlite_classes ?? []));
  const durableObjects = {
    ...Object.fromEntries(
      (config.durable_objects?.bindings ?? []).map((binding) => [binding.name, { className: binding.class_name, useSQLite: sqliteClasses.has(binding.class_name) }]),
    ),
    // Bench-only: the bare chain floor of part A (bench/chain-floor.ts).
    CHAIN_FLOOR: { className: "ChainFloor", useSQLite: true },
  };
  const tenant = config.vars?.["TENANT"] ?? "default";
  const mf = new Miniflare({
    log: new Log(process.env["BENCH_LOG"] === "debug" ? LogLevel.DEBUG : LogLevel.WARN),
    // No request.cf fetched from the network: the app does not read it.
    cf: false,
    ...(options.inspectorPort !== undefined ? { inspectorPort: options.inspectorPort } : {}),
    compatibilityDate: config.compatibility_date,
    compatibilityFlags: config.compatibility_flags ?? [],
    modulesRoot: root,
    modules: [
      { type: "ESModule", path: resolve(root, "bench/worker.js"), contents: script },
      { type: "CompiledWasm", path: resolve(root, "bench", WASM_NAME), contents: readFileSync(resolve(root, "node_modules/@cedar-policy/cedar-wasm/web", WASM_NAME)) },
    ],
    durableObjects,
    r2Buckets: (config.r2_buckets ?? []).map((bucket) => bucket.binding),
    bindings: {
      ...config.vars,
      TENANT: tenant,
      BUNDLE_REFRESH_SECONDS: config.vars?.["BUNDLE_REFRESH_SECONDS"] ?? "5",
      SIGNING_KEY: JSON.stringify(signingKey),
      ADMIN_TOKEN: adminToken,
      AUDITOR_TOKEN: randomBytes(32).toString("base64url"),
      PUBLISHER_KEYS: JSON.stringify({ keys: [publisherPublic] }),
      // The device log's signing and HMAC keys, configured as production has them (trees that
      // predate them ignore the extra bindings).
      LOG_SIGNING_KEY: JSON.stringify(generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" })),
      LOG_HMAC_KEY: randomBytes(32).toString("base64url"),
    },
  });
  const url = (await mf.ready).toString().replace(/\/+$/, "");
  return { mf, url, adminToken, tenant, publisherKey };
}
