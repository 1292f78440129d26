import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { JWK } from "jose";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { EXIT } from "../../cli/exit.ts";
import { STATUS } from "../../cli/exit.ts";
import { bundleStatement, signBundle, type BundleSources } from "../../worker/policy/artifact.ts";
import { initSync } from "../../worker/policy/cedar.ts";
import { compileSources } from "../../worker/policy/compile.ts";
import { warden } from "./cli.ts";

// The example bundle's history rules through the reference shim as an endpoint runs it (the
// compiled `warden shim decide`, against `wrangler dev` with the example bundle active), then the
// device's export replayed offline by the compiled `warden audit verify --replay` against the
// artifacts `GET /v1/bundles/artifacts/{digest}` serves, verified with the publisher keys.

const ctx = inject("warden");
// Artifacts are compiled here as `warden bundle build` compiles them; vitest's module runner has no import.meta.resolve (cli/cedar-node.ts), so the wasm is read by path.
initSync({ module: readFileSync(fileURLToPath(new URL("../../node_modules/@cedar-policy/cedar-wasm/web/cedar_wasm_bg.wasm", import.meta.url))) });

/** An artifact of `sources` signed with `privateJwk`, compiled and signed as `warden bundle build` does. */
async function artifactOf(sources: BundleSources, meta: { name: string; version: number }, privateJwk: JWK): Promise<Uint8Array> {
  const { statement, body } = bundleStatement(sources, { ...meta, tenant: "default", createdAt: new Date(), expiresAt: new Date(Date.now() + 86_400_000) }, compileSources(sources));
  return signBundle(statement, body, privateJwk);
}

function defaultSources(): BundleSources {
  const read = (name: string) => readFileSync(fileURLToPath(new URL(`../../policy-bundles/default/${name}`, import.meta.url)), "utf8");
  return { policies: read("policies.cedar"), schema: read("schema.cedarschema"), manifest: JSON.parse(read("manifest.json")) as BundleSources["manifest"] };
}

function signer(): { privateJwk: JWK; jwks: string } {
  const privateJwk = generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" }) as JWK;
  const { d: _private, ...publicJwk } = privateJwk;
  return { privateJwk, jwks: JSON.stringify({ keys: [publicJwk] }) };
}
const dir = mkdtempSync(join(tmpdir(), "warden-history-"));
let device: { id: string; key: string };

async function decide(args: string[]): Promise<{ status: number | null; answer: { decision: string; reasons: string[]; review?: { tier: string } } }> {
  const run = await warden(["shim", "decide", "--url", ctx.api, "--device", device.id, "--key", device.key, ...args]);
  return { status: run.status, answer: JSON.parse(run.stdout) as { decision: string; reasons: string[]; review?: { tier: string } } };
}

async function adminGet(path: string): Promise<Response> {
  return fetch(`${ctx.api}${path}`, { headers: { authorization: `Bearer ${ctx.adminToken}` } });
}

beforeAll(async () => {
  const id = `history-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  const key = join(dir, "device.jwk");
  const run = await warden(["shim", "register", "--url", ctx.api, "--admin-token", ctx.adminToken, "--device", id, "--key-out", key]);
  if (run.status !== 0) throw new Error(`register failed: ${run.stderr}`);
  device = { id, key };
});

describe("the example bundle's history rules through warden shim decide", () => {
  it("exfil-after-customer-data: a send after a customer-data read exits 11 (review) at tier2, naming the rule", async () => {
    expect((await decide(["--action", "file.read", "--target", "/home/dev/workspace/data/customers/acme.csv"])).status).toBe(EXIT.permit);
    const send = await decide(["--action", "http.request", "--url-target", "https://registry.npmjs.org/left-pad", "--sends-external"]);
    expect(send.status).toBe(EXIT.review);
    expect(send.answer.reasons).toContain("exfil-after-customer-data");
    expect(send.answer.review?.tier).toBe("tier2");
  });

  it("delete-burst: the 22nd deletion within a minute exits 11 (review), naming the rule", async () => {
    for (let i = 0; i < 21; i += 1) expect((await decide(["--action", "file.delete", "--target", `/home/dev/workspace/build/out-${i}.o`])).status).toBe(EXIT.permit);
    const held = await decide(["--action", "file.delete", "--target", "/home/dev/workspace/build/out-21.o"]);
    expect(held.status).toBe(EXIT.review);
    expect(held.answer.reasons).toEqual(["delete-burst"]);
  });

  it("probe-burst: ten denials within a minute raise a high finding in the device log", async () => {
    for (let i = 0; i < 10; i += 1) expect((await decide(["--action", "file.write", "--target", "/home/dev/elsewhere/x"])).status).toBe(EXIT.deny);
    const log = (await (await adminGet(`/v1/devices/${device.id}/log?limit=1000`)).json()) as { entries: { type: string; data: Record<string, unknown> }[] };
    expect(log.entries.filter((entry) => entry.type === "finding").map((entry) => [entry.data["rule"], entry.data["severity"]])).toEqual([["probe-burst", "high"]]);
  });
});

describe("warden audit verify --replay", () => {
  const files = { export: join(dir, "export.jsonl"), keys: join(dir, "log-keys.json"), publishers: join(dir, "publishers.json") };
  const artifacts: string[] = [];

  beforeAll(async () => {
    const exported = await adminGet(`/v1/devices/${device.id}/export`);
    expect(exported.status).toBe(200);
    const text = await exported.text();
    writeFileSync(files.export, text);
    writeFileSync(files.keys, await (await fetch(`${ctx.api}/.well-known/warden-log-keys.json`)).text());
    writeFileSync(files.publishers, ctx.publisherKeys);
    const digests = new Set<string>();
    for (const line of text.split("\n").filter((line) => line.length > 0)) {
      const entry = JSON.parse(line) as { type?: string; data?: Record<string, unknown> };
      if (entry.type === "decision" && typeof entry.data?.["policy"] === "string") digests.add(entry.data["policy"]);
    }
    for (const digest of digests) {
      const response = await adminGet(`/v1/bundles/artifacts/${digest}`);
      expect(response.status).toBe(200);
      const path = join(dir, `${digest.slice(7, 19)}.jws`);
      writeFileSync(path, new Uint8Array(await response.arrayBuffer()));
      artifacts.push(path);
    }
  });

  it("recomputes every decision and history value of the export from the signed artifacts (exit 0)", async () => {
    const run = await warden(["audit", "verify", files.export, "--keys", files.keys, "--replay", ...artifacts, "--publisher-keys", files.publishers, "--json", "--quiet"]);
    expect({ status: run.status, stderr: run.stderr }).toEqual({ status: STATUS.ok, stderr: "" });
    const report = JSON.parse(run.stdout) as { ok: boolean; replay: { replayed: number; raised: number; adoptions: number; skipped: object; missing: string[] } };
    expect(report.ok).toBe(true);
    // 2 + 22 + 10 decisions through the shim; the probe-burst finding; the example bundle's history adopted once.
    expect(report.replay).toMatchObject({ replayed: 34, raised: 1, adoptions: 1, skipped: {}, missing: [] });
    const text = await warden(["audit", "verify", files.export, "--keys", files.keys, "--replay", ...artifacts, "--publisher-keys", files.publishers, "--quiet"]);
    expect(text.stdout).toMatch(/ok {2}replay: 34 decision\(s\) recomputed/);
  });

  it("refuses to replay against an artifact the publisher keys do not verify (exit 2, artifact_invalid)", async () => {
    const forged = join(dir, "forged.jws");
    writeFileSync(forged, await artifactOf(defaultSources(), { name: "default", version: 1 }, signer().privateJwk));
    const run = await warden(["audit", "verify", files.export, "--keys", files.keys, "--replay", forged, "--publisher-keys", files.publishers, "--json", "--quiet"]);
    expect(run.status).toBe(STATUS.rejected);
    expect(JSON.parse(run.stdout)).toMatchObject({ ok: false, failure: { code: "artifact_invalid", reason: "bundle_untrusted_key" } });
  });

  it("says which bundles it was not given, and replays nothing under them", async () => {
    // An artifact the keys verify but the log never names: every decision is left unreplayed, and the bundle it names is listed.
    const other = join(dir, "other.jws");
    const keys = join(dir, "other-publishers.json");
    const { privateJwk, jwks } = signer();
    writeFileSync(keys, jwks);
    writeFileSync(other, await artifactOf({ ...defaultSources(), policies: '@id("all") permit (principal, action, resource);' }, { name: "other", version: 2 }, privateJwk));
    const run = await warden(["audit", "verify", files.export, "--keys", files.keys, "--replay", other, "--publisher-keys", keys, "--json", "--quiet"]);
    expect(run.status).toBe(STATUS.ok);
    const report = JSON.parse(run.stdout) as { replay: { replayed: number; skipped: Record<string, number>; missing: string[] } };
    expect(report.replay.replayed).toBe(0);
    expect(report.replay.skipped["artifact_not_given"]).toBe(34);
    expect(report.replay.missing).toHaveLength(1);
  });

  it("needs --publisher-keys with --replay (exit 1)", async () => {
    const run = await warden(["audit", "verify", files.export, "--keys", files.keys, "--replay", artifacts[0]!]);
    expect(run.status).toBe(STATUS.error);
    expect(run.stderr).toContain("--publisher-keys");
  });
});
