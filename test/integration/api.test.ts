import { env, SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { generateDeviceKey } from "../../cli/client.ts";
import { MAX_BODY_BYTES } from "../../worker/app.ts";
import { activate, fileAction, newClient, readyDevice, uniqueId } from "../helpers.ts";

beforeAll(async () => {
  await activate();
});

const admin = { authorization: `Bearer ${env.ADMIN_TOKEN}` };

async function post(path: string, body: string, headers: Record<string, string>) {
  const response = await SELF.fetch(`https://warden.test${path}`, { method: "POST", body, headers });
  return { response, problem: (await response.json()) as { code: string; type: string; status: number; errors?: { path: string }[] } };
}

async function registration(overrides: Record<string, unknown> = {}) {
  const key = await generateDeviceKey();
  return JSON.stringify({ id: uniqueId(), os: "linux", public_key: key.publicJwk, ...overrides });
}

describe("bad input gets application/problem+json with a stable code", () => {
  it("a body that is not JSON: 400 malformed_json", async () => {
    const { response, problem } = await post("/v1/devices", "{", { ...admin, "content-type": "application/json" });
    expect(response.status).toBe(400);
    expect(response.headers.get("content-type")).toBe("application/problem+json");
    expect(problem).toMatchObject({ code: "malformed_json", status: 400, type: "https://warden.dev/problems/malformed_json" });
  });

  it("no body where one is required: 400 malformed_request", async () => {
    const { response, problem } = await post("/v1/devices", "", { ...admin, "content-type": "application/json" });
    expect(response.status).toBe(400);
    expect(problem.code).toBe("malformed_request");
  });

  it("a refusal says its code and title and nothing from inside: no message, no offsets", async () => {
    const client = await readyDevice();
    // A proof for another URL: the log says which claim failed, the wire only that the proof is not valid.
    const dpop = await client.proof("POST", "/v1/decisions/batch", { accessToken: client.sessionToken! });
    const refused = await client.request("POST", "/v1/decisions", fileAction("file.read", "/home/dev/workspace/a"), { authorization: `DPoP ${client.sessionToken}`, dpop });
    expect(refused.status).toBe(401);
    expect(refused.body).toEqual({ type: "https://warden.dev/problems/invalid_dpop_proof", title: "The DPoP proof is not valid", status: 401, code: "invalid_dpop_proof" });
  });

  it("a body of another media type: 415", async () => {
    const { response, problem } = await post("/v1/devices", await registration(), { ...admin, "content-type": "text/plain" });
    expect(response.status).toBe(415);
    expect(problem.code).toBe("unsupported_media_type");
  });

  it("a body over the cap: 413 before anything parses it", async () => {
    const { response, problem } = await post("/v1/devices", JSON.stringify({ padding: "x".repeat(MAX_BODY_BYTES) }), { ...admin, "content-type": "application/json" });
    expect(response.status).toBe(413);
    expect(problem.code).toBe("payload_too_large");
  });

  it("a body that breaks the schema: 400 naming every field at fault, never the raw ZodError", async () => {
    const { response, problem } = await post("/v1/devices", JSON.stringify({ id: "../etc", os: "plan9", public_key: {}, extra: 1 }), { ...admin, "content-type": "application/json" });
    expect(response.status).toBe(400);
    expect(problem.code).toBe("malformed_request");
    expect(problem.errors?.map((error) => error.path).sort()).toEqual(expect.arrayContaining(["id", "os", "public_key.kty"]));
    expect(JSON.stringify(problem)).not.toContain("ZodError");
  });

  it("a private key where a public one belongs is refused", async () => {
    const key = await generateDeviceKey("EdDSA", true);
    const { exportDeviceKey } = await import("../../cli/client.ts");
    const { response } = await post("/v1/devices", JSON.stringify({ id: uniqueId(), os: "linux", public_key: await exportDeviceKey(key) }), { ...admin, "content-type": "application/json" });
    expect(response.status).toBe(400);
  });

  it("a decision request with an unknown field, an empty target list or a bad hash is 400", async () => {
    const client = await readyDevice();
    for (const bad of [
      { ...fileAction("file.read", "/a"), surprise: true },
      { agent: { id: "a", version: "1" }, action: { type: "file.read", targets: [] } },
      { agent: { id: "a", version: "1", artifact_sha256: "xyz" }, action: { type: "file.read", targets: [{ kind: "path", value: "/a" }] } },
      { agent: { id: "a", version: "1" }, action: { type: "file.read", targets: [{ kind: "socket", value: "/a" }] } },
    ]) {
      const { status, body } = await client.authorized<{ code: string }>("POST", "/v1/decisions", bad);
      expect(status).toBe(400);
      expect(body.code).toBe("malformed_request");
    }
  });

  it("an unknown route: 404 problem", async () => {
    const response = await SELF.fetch("https://warden.test/v1/nothing-here");
    expect(response.status).toBe(404);
    expect(((await response.json()) as { code: string }).code).toBe("not_found");
  });
});

describe("roles", () => {
  it("only an admin registers devices", async () => {
    const body = await registration();
    const anonymous = await post("/v1/devices", body, { "content-type": "application/json" });
    expect(anonymous.response.status).toBe(401);
    expect(anonymous.problem.code).toBe("unauthenticated");
    const wrong = await post("/v1/devices", body, { "content-type": "application/json", authorization: "Bearer not-the-token" });
    expect(wrong.response.status).toBe(401);
    expect(wrong.problem.code).toBe("invalid_token");
    const auditor = await post("/v1/devices", body, { "content-type": "application/json", authorization: `Bearer ${env.AUDITOR_TOKEN}` });
    expect(auditor.response.status).toBe(403);
    expect(auditor.problem.code).toBe("forbidden");
    const device = await readyDevice();
    const asDevice = await device.authorized<{ code: string }>("POST", "/v1/devices", JSON.parse(body));
    expect(asDevice.status).toBe(403);
    expect(asDevice.body.code).toBe("person_required");
    const ok = await post("/v1/devices", body, { "content-type": "application/json", ...admin });
    expect(ok.response.status).toBe(201);
  });

  it("a device id is registered once: 409", async () => {
    const client = await newClient();
    expect((await client.register(env.ADMIN_TOKEN)).status).toBe(201);
    const again = await client.register(env.ADMIN_TOKEN);
    expect(again.status).toBe(409);
    expect((again.body as { code: string }).code).toBe("already_exists");
  });

  it("a device cannot decide with an admin token", async () => {
    const response = await SELF.fetch("https://warden.test/v1/decisions", { method: "POST", headers: { ...admin, "content-type": "application/json" }, body: JSON.stringify(fileAction("file.read", "/a")) });
    expect(response.status).toBe(403);
  });
});

describe("discovery", () => {
  it("serves the OpenAPI document generated from the route schemas, and a docs page", async () => {
    const response = await SELF.fetch("https://warden.test/openapi.json");
    const document = (await response.json()) as { openapi: string; paths: Record<string, Record<string, { requestBody?: unknown; responses: Record<string, unknown> }>>; components: { schemas: Record<string, unknown> } };
    expect(document.openapi).toBe("3.1.0");
    expect(Object.keys(document.paths)).toEqual(
      expect.arrayContaining([
        "/.well-known/jwks.json",
        "/healthz",
        "/v1/actions/redeem",
        "/v1/attestation/nonce",
        "/v1/bundles",
        "/v1/bundles/activate",
        "/v1/bundles/log",
        "/v1/bundles/{slot}",
        "/v1/bundles/{version}/shadow-report",
        "/v1/decisions",
        "/v1/decisions/batch",
        "/v1/devices",
        "/v1/devices/{id}",
        "/v1/devices/{id}/log",
        "/v1/sessions",
            ]),
    );
    expect(document.paths["/v1/decisions"]?.["post"]?.responses).toHaveProperty("401");
    expect(document.components.schemas).toHaveProperty("DecisionRequest");
    expect(document.components.schemas).toHaveProperty("Problem");
    const docs = await SELF.fetch("https://warden.test/docs");
    expect(docs.headers.get("content-type")).toContain("text/html");
    expect(await docs.text()).toContain("/openapi.json");
  });

  it("publishes the token key in the JWKS, public half only", async () => {
    const response = await SELF.fetch("https://warden.test/.well-known/jwks.json");
    const { keys } = (await response.json()) as { keys: Record<string, string>[] };
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({ kty: "OKP", crv: "Ed25519", alg: "EdDSA", use: "sig" });
    expect(keys[0]).not.toHaveProperty("d");
  });

  it("reports health with the active bundle", async () => {
    const response = await SELF.fetch("https://warden.test/healthz");
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: "ok", bundle: { active: true, digest: expect.stringMatching(/^sha256:/) } });
  });
});
