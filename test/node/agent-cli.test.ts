import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { verifyArtifactStatement } from "../../worker/agents/statement.ts";
import { publisherKeys } from "../../worker/policy/artifact.ts";
import { warden } from "./cli.ts";

// The people and registry side of the compiled CLI: `warden agent sign` with a key from
// `warden keys generate`, and `warden shim register --user` against the suite's wrangler dev.

const ctx = inject("warden");

describe("warden agent sign", () => {
  it("signs the SHA-256 of a build and of its SBOM for one agent, with a key of ARTIFACT_KEYS", async () => {
    const dir = mkdtempSync(join(tmpdir(), "warden-agent-"));
    const [build, sbom, key] = [join(dir, "agent.bin"), join(dir, "sbom.spdx.json"), join(dir, "artifact.jwk")];
    writeFileSync(build, Buffer.alloc(3 * 1024 * 1024, 7));
    writeFileSync(sbom, '{"spdxVersion":"SPDX-2.3"}\n');
    const generated = await warden(["keys", "generate", "--out", key, "--json"]);
    expect(generated.status).toBe(0);
    const keys = JSON.stringify((JSON.parse(generated.stdout) as { PUBLISHER_KEYS: unknown }).PUBLISHER_KEYS);

    const signed = await warden(["agent", "sign", build, "--sbom", sbom, "--key", key, "--agent", "claude-code"]);
    expect({ status: signed.status, stderr: signed.stderr }).toEqual({ status: 0, stderr: "" });
    const verified = await verifyArtifactStatement(signed.stdout.trim(), await publisherKeys(keys), "claude-code");
    const sha256 = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");
    expect(verified.statement).toMatchObject({ format: "warden.agent-artifact.v1", agent: "claude-code", artifact_sha256: sha256(build), sbom_sha256: sha256(sbom) });

    const bad = await warden(["agent", "sign", build, "--sbom", sbom, "--key", key, "--agent", "not an id"]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/--agent must match/);
  });
});

describe("warden shim register --user", () => {
  it("registers the device to the person whose consents its decisions read", async () => {
    const id = `user-${Date.now()}`;
    const key = join(mkdtempSync(join(tmpdir(), "warden-shim-")), "device.jwk");
    const run = await warden(["shim", "register", "--url", ctx.api, "--admin-token", ctx.adminToken, "--device", id, "--key-out", key, "--user", "Dev@Example.com"]);
    expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: "" });
    expect(JSON.parse(run.stdout)).toMatchObject({ id, user: "dev@example.com" });
  });
});
