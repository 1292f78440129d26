import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, inject, it } from "vitest";

const ctx = inject("warden");
const root = fileURLToPath(new URL("../..", import.meta.url));

describe("the package's WardenClient (dist/client.js)", () => {
  it("is what `import … from \"warden\"` resolves to, and drives Warden from plain Node", () => {
    // A separate Node process resolving the package by its name, through package.json `exports`.
    const script = `
      import { WardenClient, generateDeviceKey } from "warden";
      const client = new WardenClient({ url: process.env.URL, deviceId: "pkg-" + Date.now(), key: await generateDeviceKey("ES256") });
      const registered = await client.register(process.env.ADMIN, "linux");
      await client.openSession();
      const decided = await client.decide({ agent: { id: "pkg", version: "1" }, action: { type: "file.read", targets: [{ kind: "path", value: "/etc/shadow" }] } });
      const log = await client.readLog(0, 10);
      console.log(JSON.stringify({ registered: registered.status, decision: decided.body.decision, entries: log.body.entries.map((e) => e.type) }));
    `;
    const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], { cwd: root, encoding: "utf8", env: { ...process.env, URL: ctx.api, ADMIN: ctx.adminToken } });
    expect(run.stderr).toBe("");
    expect(JSON.parse(run.stdout)).toEqual({ registered: 201, decision: "deny", entries: ["device.registered", "session.opened", "history.adopted", "decision"] });
  });

  it("imports nothing from Node (browsers and workers load it as is), and ships its types", () => {
    const code = readFileSync(`${root}/dist/client.js`, "utf8");
    const imports = [...code.matchAll(/^import .* from ["']([^"']+)["'];?$/gm)].map((match) => match[1]);
    expect(imports).toEqual(["jose"]);
    expect(code).not.toMatch(/["']node:|require\(/);
    const pkg = JSON.parse(readFileSync(`${root}/package.json`, "utf8")) as { exports: Record<string, { types: string; import: string }>; types: string };
    expect(pkg.exports["."]).toEqual({ types: "./dist/types/cli/client.d.ts", import: "./dist/client.js" });
    const types = readFileSync(`${root}/dist/types/cli/client.d.ts`, "utf8");
    expect(types).toMatch(/export declare class WardenClient/);
    expect(types).toMatch(/recordOutcome<T = RecordedOutcome>\(outcome: ActionOutcome\)/);
  });
});
