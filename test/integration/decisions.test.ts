import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { activate, agent, defaultSources, fileAction, readyDevice } from "../helpers.ts";
import { bundleDigest } from "../../worker/policy/artifact.ts";

beforeAll(async () => {
  await activate();
});

describe("POST /v1/decisions with the default bundle", () => {
  it("permits a workspace write and returns a logged decision with an action token", async () => {
    const client = await readyDevice();
    const { status, body } = await client.decide(fileAction("file.write", "/home/dev/workspace/src/main.ts"));
    expect(status).toBe(200);
    expect(body.decision).toBe("permit");
    expect(body.reason_code).toBe("policy_permit");
    expect(body.reasons).toEqual(["workspace-read-write"]);
    expect(body.policy).toBe(bundleDigest(defaultSources));
    expect(body.log?.seq).toBeGreaterThan(0);
    expect(body.token).toMatch(/^ey/);
  });
});
