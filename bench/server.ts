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
  rules?: { type: string; globs: string[] }[];
  minify?: boolean;
  keep_names?: boolean;
}

/** wrangler.jsonc, read so that the bench server has exactly the configured bindings, flags and vars. */
export function wranglerConfig(): WranglerConfig {
  const text = readFileSync(resolve(root, "wrangler.jsonc"), "utf8");
  // JSONC: drop whole-line comments before parsing.
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

/** Files wrangler.jsonc's Text rules bundle as strings (the /docs UI, the reviewer page's WebAuthn client), loaded as text as wrangler does. */
const textModules: Plugin = {
  name: "text-modules",
  setup(pluginBuild) {
    const names = (wranglerConfig().rules ?? []).filter((rule) => rule.type === "Text").flatMap((rule) => rule.globs.map((glob) => glob.replace(/^\*\*\//, "/")));
    pluginBuild.onLoad({ filter: /\.(js|css)$/ }, (args) => (names.some((name) => args.path.endsWith(name)) ? { contents: readFileSync(args.path, "utf8"), loader: "text" } : undefined));
  },
};

/** Bundles a bench entry (bench/worker.ts, bench/audit-worker.ts) as wrangler would. */
export async function bundleWorker(entry = "bench/worker.ts"): Promise<string> {
  const { minify = false, keep_names: keepNames = true } = wranglerConfig();
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
    plugins: [wasmAsModule, textModules],
    minify,
    keepNames,
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
  secrets: BenchSecrets;
}

/** The secrets of a run: fresh keys and tokens, reused when one run starts several servers over one state. */
export interface BenchSecrets {
  signingKey: string;
  adminToken: string;
  auditorToken: string;
  publisherKey: Record<string, unknown>;
  logSigningKey: string;
  logHmacKey: string;
}

export function benchSecrets(): BenchSecrets {
  const jwk = () => generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" }) as Record<string, unknown>;
  return {
    signingKey: JSON.stringify(jwk()),
    adminToken: randomBytes(32).toString("base64url"),
    auditorToken: randomBytes(32).toString("base64url"),
    publisherKey: jwk(),
    logSigningKey: JSON.stringify(jwk()),
    logHmacKey: randomBytes(32).toString("base64url"),
  };
}

export interface ServerOptions {
  inspectorPort?: number;
  /** Keep Durable Object and R2 state in this directory, so a later server (a fresh workerd process) starts from it. */
  persistRoot?: string;
  secrets?: BenchSecrets;
  /** The bundled worker, when the caller already built it (bundleWorker); the bench build unless `production`. */
  script?: string;
  /** The production entry (worker/index.ts) instead of the bench build: no /bench routes, no chain floor. */
  production?: boolean;
  /** A fixed port, so that proofs signed before the server starts name its URL. */
  port?: number;
}

export async function startServer(options: ServerOptions = {}): Promise<BenchServer> {
  const config = wranglerConfig();
  const script = options.script ?? (await bundleWorker(options.production ? "worker/index.ts" : "bench/worker.ts"));
  const secrets = options.secrets ?? benchSecrets();
  const { d: _private, ...publisherPublic } = secrets.publisherKey;
  const sqliteClasses = new Set((config.migrations ?? []).flatMap((migration) => migration.new_sqlite_classes ?? []));
  const durableObjects = {
    ...Object.fromEntries(
      (config.durable_objects?.bindings ?? []).map((binding) => [binding.name, { className: binding.class_name, useSQLite: sqliteClasses.has(binding.class_name) }]),
    ),
    // Bench-only: the bare chain floor of part A (bench/chain-floor.ts).
    ...(options.production ? {} : { CHAIN_FLOOR: { className: "ChainFloor", useSQLite: true } }),
  };
  const tenant = config.vars?.["TENANT"] ?? "default";
  const mf = new Miniflare({
    log: new Log(process.env["BENCH_LOG"] === "debug" ? LogLevel.DEBUG : LogLevel.WARN),
    // No request.cf fetched from the network: the app does not read it.
    cf: false,
    ...(options.inspectorPort !== undefined ? { inspectorPort: options.inspectorPort } : {}),
    ...(options.port !== undefined ? { host: "127.0.0.1", port: options.port } : {}),
    ...(options.persistRoot !== undefined ? { defaultPersistRoot: options.persistRoot, durableObjectsPersist: true, r2Persist: true } : {}),
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
      SIGNING_KEY: secrets.signingKey,
      ADMIN_TOKEN: secrets.adminToken,
      AUDITOR_TOKEN: secrets.auditorToken,
      PUBLISHER_KEYS: JSON.stringify({ keys: [publisherPublic] }),
      // The device log's signing and HMAC keys, configured as production has them.
      LOG_SIGNING_KEY: secrets.logSigningKey,
      LOG_HMAC_KEY: secrets.logHmacKey,
    },
  });
  const url = (await mf.ready).toString().replace(/\/+$/, "");
  return { mf, url, adminToken: secrets.adminToken, tenant, publisherKey: secrets.publisherKey, secrets };
}
