import { env, runInDurableObject } from "cloudflare:test";
import { SignJWT, UnsecuredJWT, base64url, decodeJwt, generateKeyPair, importJWK, type JWK } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { WardenClient, generateDeviceKey } from "../../cli/client.ts";
import { BASE_URL, activate, defaultSources, fileAction, logOf, newClient, readyDevice, uniqueId, workerFetch } from "../helpers.ts";
import { deviceStub } from "../audit-helpers.ts";
import { admin, call } from "../review-helpers.ts";

beforeAll(async () => {
  await activate();
});

const permitted = fileAction("file.write", "/home/dev/workspace/a.txt");

/** Re-signs the session claims of `client` with `key`, the way a forger with some other key would. */
async function forgedSession(client: WardenClient, key: CryptoKey, alg: string, header: Record<string, unknown> = {}): Promise<string> {
  const claims = decodeJwt(client.sessionToken!);
  return new SignJWT(claims).setProtectedHeader({ alg, typ: "warden-session+jwt", ...header }).sign(key);
}

/** The `kid` a token was signed under, to re-sign its claims as the server would. */
function decodeProtectedKid(token: string): string {
  return (JSON.parse(new TextDecoder().decode(base64url.decode(token.split(".")[0]!))) as { kid: string }).kid;
}

async function serverKey(): Promise<CryptoKey> {
  return (await importJWK(JSON.parse(env.SIGNING_KEY) as JWK, "EdDSA")) as CryptoKey;
}

describe("session tokens", () => {
  it("an expired session token is refused", async () => {
    const client = await readyDevice();
    const claims = decodeJwt(client.sessionToken!);
    const past = Math.floor(Date.now() / 1000) - 3600;
    const expired = await new SignJWT({ ...claims, iat: past, exp: past + 900 })
      .setProtectedHeader({ alg: "EdDSA", typ: "warden-session+jwt", kid: (await client.request<{ keys: { kid: string }[] }>("GET", "/.well-known/jwks.json")).body.keys[0]!.kid })
      .sign(await serverKey());
    const { status, body } = await client.authorized<{ code: string }>("POST", "/v1/decisions", permitted, expired);
    expect(status).toBe(401);
    expect(body.code).toBe("invalid_token");
  });

  it("a session token signed by another key is refused", async () => {
    const client = await readyDevice();
    const other = await generateKeyPair("EdDSA");
    const { status, body } = await client.authorized<{ code: string }>("POST", "/v1/decisions", permitted, await forgedSession(client, other.privateKey, "EdDSA"));
    expect(status).toBe(401);
    expect(body.code).toBe("invalid_token");
  });

  it("alg none is refused", async () => {
    const client = await readyDevice();
    const unsigned = new UnsecuredJWT(decodeJwt(client.sessionToken!)).encode();
    const { status, body } = await client.authorized<{ code: string }>("POST", "/v1/decisions", permitted, unsigned);
    expect(status).toBe(401);
    expect(body.code).toBe("invalid_token");
  });

  it("HS256 keyed with the public key (algorithm confusion) is refused", async () => {
    const client = await readyDevice();
    const jwks = await client.request<{ keys: JWK[] }>("GET", "/.well-known/jwks.json");
    const secret = new TextEncoder().encode(JSON.stringify(jwks.body.keys[0]));
    const forged = await new SignJWT(decodeJwt(client.sessionToken!)).setProtectedHeader({ alg: "HS256", typ: "warden-session+jwt" }).sign(secret);
    const { status, body } = await client.authorized<{ code: string }>("POST", "/v1/decisions", permitted, forged);
    expect(status).toBe(401);
    expect(body.code).toBe("invalid_token");
  });

  it("an action token cannot stand in for a session token", async () => {
    const client = await readyDevice();
    const { body: decision } = await client.decide(permitted);
    const { status, body } = await client.authorized<{ code: string }>("POST", "/v1/decisions", permitted, decision.token);
    expect(status).toBe(401);
    expect(body.code).toBe("invalid_token");
  });

  it("a session token presented with another device's key is refused", async () => {
    const victim = await readyDevice();
    const thief = new WardenClient({ url: victim.url, deviceId: victim.deviceId, key: await generateDeviceKey(), fetch: (request) => globalThis.fetch(request) });
    // The thief signs proofs with its own key; the session is bound to the victim's.
    const dpop = await thief.proof("POST", "/v1/decisions", { accessToken: victim.sessionToken! });
    const { status, body } = await victim.request<{ code: string }>("POST", "/v1/decisions", permitted, { authorization: `DPoP ${victim.sessionToken}`, dpop });
    expect(status).toBe(401);
    expect(body.code).toBe("invalid_dpop_proof");
  });

  it("a request without credentials, or with a Bearer session token, is refused", async () => {
    const client = await readyDevice();
    const none = await client.request<{ code: string }>("POST", "/v1/decisions", permitted);
    expect(none.status).toBe(401);
    expect(none.body.code).toBe("unauthenticated");
    const bearer = await client.request<{ code: string }>("POST", "/v1/decisions", permitted, { authorization: `Bearer ${client.sessionToken}` });
    expect(bearer.status).toBe(401);
    expect(bearer.body.code).toBe("invalid_token");
  });
});

describe("DPoP proofs (RFC 9449)", () => {
  async function decideWith(client: WardenClient, dpop: string) {
    return client.request<{ code: string; decision?: string }>("POST", "/v1/decisions", permitted, { authorization: `DPoP ${client.sessionToken}`, dpop });
  }

  it("a proof made for another method is refused", async () => {
    const client = await readyDevice();
    const { status, body } = await decideWith(client, await client.proof("GET", "/v1/decisions", { accessToken: client.sessionToken! }));
    expect(status).toBe(401);
    expect(body.code).toBe("invalid_dpop_proof");
  });

  it("a proof made for another URL is refused", async () => {
    const client = await readyDevice();
    const { status, body } = await decideWith(client, await client.proof("POST", "/v1/decisions/batch", { accessToken: client.sessionToken! }));
    expect(status).toBe(401);
    expect(body.code).toBe("invalid_dpop_proof");
  });

  it("a proof bound to another access token (ath) is refused", async () => {
    const client = await readyDevice();
    const { status, body } = await decideWith(client, await client.proof("POST", "/v1/decisions", { accessToken: "another token" }));
    expect(status).toBe(401);
    expect(body.code).toBe("invalid_dpop_proof");
  });

  it("a proof too old or from the future is refused", async () => {
    const client = await readyDevice();
    const now = Math.floor(Date.now() / 1000);
    for (const iat of [now - 120, now + 60]) {
      const { status, body } = await decideWith(client, await client.proof("POST", "/v1/decisions", { accessToken: client.sessionToken!, iat }));
      expect(status).toBe(401);
      expect(body.code).toBe("invalid_dpop_proof");
    }
  });

  it("a replayed proof is refused, and the replay is not logged as a decision", async () => {
    const client = await readyDevice();
    const dpop = await client.proof("POST", "/v1/decisions", { accessToken: client.sessionToken! });
    const first = await decideWith(client, dpop);
    expect(first.status).toBe(200);
    const replay = await decideWith(client, dpop);
    expect(replay.status).toBe(401);
    expect(replay.body.code).toBe("replay_detected");
    const log = await client.request<{ entries: { type: string }[] }>("GET", `/v1/devices/${client.deviceId}/log`, undefined, { authorization: `Bearer ${env.AUDITOR_TOKEN}` });
    expect(log.body.entries.filter((entry) => entry.type === "decision")).toHaveLength(1);
  });

  it("a proof whose jwk header is not a usable key is refused", async () => {
    const client = await readyDevice({ alg: "ES256" });
    const notAPoint = { kty: "EC", crv: "P-256", x: base64url.encode(new Uint8Array(32)), y: base64url.encode(new Uint8Array(32)) };
    const header = base64url.encode(JSON.stringify({ alg: "ES256", typ: "dpop+jwt", jwk: notAPoint }));
    const payload = base64url.encode(JSON.stringify({ htm: "POST", htu: `${client.url}/v1/decisions`, iat: Math.floor(Date.now() / 1000), jti: "y", ath: "z" }));
    const { status, body } = await decideWith(client, `${header}.${payload}.${base64url.encode(new Uint8Array(64))}`);
    expect(status).toBe(401);
    expect(body.code).toBe("invalid_dpop_proof");
  });

  /** A proof by the device's own key with exactly these header members and claims added. */
  async function proofWith(client: WardenClient, extra: { header?: Record<string, unknown>; claims?: Record<string, unknown> }): Promise<string> {
    const ath = base64url.encode(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(client.sessionToken!))));
    const claims = { htm: "POST", htu: `${client.url}/v1/decisions`, iat: Math.floor(Date.now() / 1000), jti: crypto.randomUUID(), ath, ...extra.claims };
    const crit = Array.isArray(extra.header?.["crit"]) ? Object.fromEntries((extra.header["crit"] as string[]).map((name) => [name, true])) : undefined;
    return new SignJWT(claims)
      .setProtectedHeader({ alg: client.key.alg, typ: "dpop+jwt", jwk: client.key.publicJwk, ...extra.header })
      .sign(client.key.privateKey, crit ? { crit } : undefined);
  }

  it("a proof whose signature is not over its own header and payload, or is not 64 bytes, is refused; control: the proof as signed", async () => {
    for (const alg of ["EdDSA", "ES256"] as const) {
      const client = await readyDevice({ alg });
      const [header, payload, signature] = (await proofWith(client, {})).split(".") as [string, string, string];
      const bytes = base64url.decode(signature);
      bytes[10]! ^= 1;
      const other = (await proofWith(client, {})).split(".")[1]!;
      for (const forged of [`${header}.${payload}.${base64url.encode(bytes)}`, `${header}.${other}.${signature}`, `${header}.${payload}.${signature.slice(0, -2)}`, `${header}.${payload}.${signature}AA`]) {
        const { status, body } = await decideWith(client, forged);
        expect({ alg, status, code: body.code }).toEqual({ alg, status: 401, code: "invalid_dpop_proof" });
      }
      expect((await decideWith(client, `${header}.${payload}.${signature}`)).status).toBe(200);
    }
  });

  it("a proof naming an extension in crit, past its exp or before its nbf is refused; control: exp and nbf that hold", async () => {
    const client = await readyDevice();
    const now = Math.floor(Date.now() / 1000);
    for (const extra of [{ header: { crit: ["x-warden-test"], "x-warden-test": 1 } }, { claims: { exp: now - 1 } }, { claims: { nbf: now + 30 } }]) {
      const { status, body } = await decideWith(client, await proofWith(client, extra));
      expect({ extra, status, code: body.code }).toEqual({ extra, status: 401, code: "invalid_dpop_proof" });
    }
    expect((await decideWith(client, await proofWith(client, { claims: { exp: now + 30, nbf: now - 1 } }))).status).toBe(200);
  });

  it("a proof longer than 4,096 characters is refused unread (invalid_dpop_proof), even signed; control: one just under the cap", async () => {
    const client = await readyDevice();
    const unpadded = (await proofWith(client, { claims: { pad: "" } })).length;
    /** A proof by the device key padded by a claim until its length first passes `floor` (base64url: 4 characters per 3 bytes). */
    const proofLongerThan = async (floor: number) => {
      for (let pad = Math.floor(((floor - unpadded) * 3) / 4) - 4; ; pad += 1) {
        const proof = await proofWith(client, { claims: { pad: "x".repeat(pad) } });
        if (proof.length > floor) return proof;
      }
    };
    const within = await proofLongerThan(4090);
    expect(within.length).toBeLessThanOrEqual(4096);
    expect((await decideWith(client, within)).status).toBe(200);
    const over = await proofLongerThan(4096);
    expect(over.length).toBeLessThanOrEqual(4100);
    const { status, body } = await decideWith(client, over);
    expect({ status, code: body.code }).toEqual({ status: 401, code: "invalid_dpop_proof" });
  });

  it("a proof with alg none or a symmetric key is refused", async () => {
    const client = await readyDevice();
    const header = base64url.encode(JSON.stringify({ alg: "none", typ: "dpop+jwt", jwk: client.key.publicJwk }));
    const payload = base64url.encode(JSON.stringify({ htm: "POST", htu: `${client.url}/v1/decisions`, iat: Math.floor(Date.now() / 1000), jti: "x" }));
    const { status, body } = await decideWith(client, `${header}.${payload}.`);
    expect(status).toBe(401);
    expect(body.code).toBe("invalid_dpop_proof");
  });
});

describe("nonces and sessions", () => {
  it("a nonce opens one session only", async () => {
    const client = await newClient();
    await client.register(env.ADMIN_TOKEN);
    const { body: nonce } = await client.request<{ nonce: string; expires_at: string }>("POST", "/v1/attestation/nonce", { device_id: client.deviceId });
    expect(base64url.decode(nonce.nonce).length).toBeGreaterThanOrEqual(16);
    expect(Date.parse(nonce.expires_at) - Date.now()).toBeLessThanOrEqual(300_000);
    const open = async () =>
      client.request<{ code: string; session_token?: string }>("POST", "/v1/sessions", { device_id: client.deviceId, nonce: nonce.nonce }, {
        dpop: await client.proof("POST", "/v1/sessions", { nonce: nonce.nonce }),
      });
    const first = await open();
    expect(first.status).toBe(201);
    const claims = decodeJwt(first.body.session_token!);
    expect(claims.exp! - claims.iat!).toBeLessThanOrEqual(900);
    expect(claims["cnf"]).toEqual({ jkt: expect.any(String) });
    const second = await open();
    expect(second.status).toBe(401);
    expect(second.body.code).toBe("nonce_invalid");
  });

  it("concurrent attempts with one nonce open exactly one session", async () => {
    const client = await newClient();
    await client.register(env.ADMIN_TOKEN);
    const { body: nonce } = await client.request<{ nonce: string }>("POST", "/v1/attestation/nonce", { device_id: client.deviceId });
    const attempts = await Promise.all(
      Array.from({ length: 8 }, async () =>
        client.request("POST", "/v1/sessions", { device_id: client.deviceId, nonce: nonce.nonce }, { dpop: await client.proof("POST", "/v1/sessions", { nonce: nonce.nonce }) }),
      ),
    );
    expect(attempts.filter((attempt) => attempt.status === 201)).toHaveLength(1);
  });

  it("a proof over a different nonce, or by another key, opens nothing", async () => {
    const client = await newClient();
    await client.register(env.ADMIN_TOKEN);
    const { body: nonce } = await client.request<{ nonce: string }>("POST", "/v1/attestation/nonce", { device_id: client.deviceId });
    const wrongNonce = await client.request<{ code: string }>("POST", "/v1/sessions", { device_id: client.deviceId, nonce: nonce.nonce }, {
      dpop: await client.proof("POST", "/v1/sessions", { nonce: "A".repeat(43) }),
    });
    expect(wrongNonce.body.code).toBe("invalid_dpop_proof");
    const impostor = await newClient({ id: client.deviceId });
    const wrongKey = await impostor.request<{ code: string }>("POST", "/v1/sessions", { device_id: client.deviceId, nonce: nonce.nonce }, {
      dpop: await impostor.proof("POST", "/v1/sessions", { nonce: nonce.nonce }),
    });
    expect(wrongKey.status).toBe(401);
    expect(wrongKey.body.code).toBe("invalid_dpop_proof");
  });

  it("a nonce for an unknown device looks like any other and opens nothing until the device is registered; a made-up nonce is refused", async () => {
    const client = await newClient();
    const known = await readyDevice();
    const forUnknown = await client.request<Record<string, unknown>>("POST", "/v1/attestation/nonce", { device_id: client.deviceId });
    const forKnown = await known.request<Record<string, unknown>>("POST", "/v1/attestation/nonce", { device_id: known.deviceId });
    expect(forUnknown.status).toBe(201);
    expect(forKnown.status).toBe(201);
    expect(Object.keys(forUnknown.body).sort()).toEqual(Object.keys(forKnown.body).sort());
    expect(String(forUnknown.body["nonce"])).toHaveLength(String(forKnown.body["nonce"]).length);
    const unknownSession = await client.request<{ code: string }>("POST", "/v1/sessions", { device_id: client.deviceId, nonce: forUnknown.body["nonce"] }, {
      dpop: await client.proof("POST", "/v1/sessions", { nonce: String(forUnknown.body["nonce"]) }),
    });
    expect(unknownSession.status).toBe(404);
    // Both routes answer anyone and constructed the device's object; it stores nothing until the device is registered.
    const stored = await runInDurableObject(deviceStub(client.deviceId), async (_object: unknown, state: DurableObjectState) => ({
      tables: state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM sqlite_master").one().n,
      alarm: await state.storage.getAlarm(),
    }));
    expect(stored).toEqual({ tables: 0, alarm: null });
    await client.register(env.ADMIN_TOKEN);
    // A nonce names the device id and five minutes, not a registration: the one handed out just before opens the session.
    const early = await client.request<{ code: string }>("POST", "/v1/sessions", { device_id: client.deviceId, nonce: forUnknown.body["nonce"] }, {
      dpop: await client.proof("POST", "/v1/sessions", { nonce: String(forUnknown.body["nonce"]) }),
    });
    expect(early.status).toBe(201);
    const madeUp = "B".repeat(43);
    const unknownNonce = await client.request<{ code: string }>("POST", "/v1/sessions", { device_id: client.deviceId, nonce: madeUp }, {
      dpop: await client.proof("POST", "/v1/sessions", { nonce: madeUp }),
    });
    expect(unknownNonce.status).toBe(401);
    expect(unknownNonce.body.code).toBe("nonce_invalid");
  });

  it("asking for nonces stores nothing: forty more do not push out the one the device is about to use", async () => {
    const client = await newClient();
    await client.register(env.ADMIN_TOKEN);
    const mine = await client.nonce();
    const stub = deviceStub(client.deviceId);
    const rows = () => runInDurableObject(stub, async (_object: unknown, state: DurableObjectState) => state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM spent").one().n);
    const before = await rows();
    // Anyone may ask, for any device id.
    for (let i = 0; i < 40; i += 1) await client.nonce();
    expect(await rows()).toBe(before);
    expect((await client.requestSession(mine.nonce)).status).toBe(201);
    expect(await rows()).toBe(before + 2);
  });

  it("a nonce opens a session only of the device it was minted for, spelled as minted, before it expires", async () => {
    const clock = { now: Date.now() };
    const fetch = workerFetch({ deps: { now: () => clock.now } });
    const client = await newClient({ fetch, now: () => clock.now });
    await client.register(env.ADMIN_TOKEN);
    const other = await newClient({ fetch, now: () => clock.now });
    await other.register(env.ADMIN_TOKEN);
    const nonce = async () => (await client.nonce()).nonce;
    /** The problem code a session request with `value` answers, if any. */
    const refusal = async (as: WardenClient, value: string) => ((await as.requestSession(value)).body as { code?: string }).code;

    expect(await refusal(other, await nonce())).toBe("nonce_invalid");

    const bytes = base64url.decode(await nonce());
    expect(bytes).toHaveLength(32);
    for (const at of [0, 5, 6, 15, 16, 31]) {
      const changed = Uint8Array.from(bytes);
      changed[at]! ^= 1;
      expect(await refusal(client, base64url.encode(changed)), `byte ${at} changed`).toBe("nonce_invalid");
    }
    // The last character of 32 bytes in base64url carries two bits a lenient decoder ignores: one nonce, one spelling.
    const minted = base64url.encode(bytes);
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const respelled = minted.slice(0, -1) + alphabet[alphabet.indexOf(minted.at(-1)!) ^ 1];
    expect(base64url.decode(respelled)).toEqual(bytes);
    expect(await refusal(client, respelled)).toBe("nonce_invalid");

    const late = await nonce();
    clock.now += 300_000;
    expect(await refusal(client, late)).toBe("nonce_invalid");
    const fresh = await nonce();
    expect((await client.requestSession(fresh)).status).toBe(201);
  });

  it.each([
    ["missing", undefined],
    ["not strict JSON", "{not json"],
    ["not an Ed25519 private key", JSON.stringify({ kty: "OKP", crv: "Ed25519", x: "AAAA" })],
  ])("a SIGNING_KEY %s: the nonce step answers configuration_error, and mints nothing", async (_name, signingKey) => {
    const client = await newClient({ fetch: workerFetch({ env: { SIGNING_KEY: signingKey } }) });
    const answer = await client.request<{ code: string; nonce?: string }>("POST", "/v1/attestation/nonce", { device_id: client.deviceId });
    expect(answer.status).toBe(500);
    expect(answer.body.code).toBe("configuration_error");
    expect(answer.body.nonce).toBeUndefined();
  });

  it("P-256 device keys work as well as Ed25519", async () => {
    const client = await readyDevice({ alg: "ES256" });
    const { body } = await client.decide(permitted);
    expect(body.decision).toBe("permit");
  });
});

describe("action tokens", () => {
  it("are EdDSA, at most 60 s, scoped to exactly the permitted action and bound to the device key", async () => {
    const client = await readyDevice();
    const { body } = await client.decide(fileAction("file.write", "/home/dev/workspace/./a.txt"));
    const [header] = body.token!.split(".");
    expect(JSON.parse(new TextDecoder().decode(base64url.decode(header!)))).toMatchObject({ alg: "EdDSA", typ: "warden-action+jwt" });
    const claims = decodeJwt(body.token!);
    expect(claims.exp! - claims.iat!).toBeLessThanOrEqual(60);
    expect(claims["scope"]).toEqual({ action: "file.write", targets: [{ kind: "path", value: "/home/dev/workspace/a.txt" }] });
    expect(claims["cnf"]).toEqual(decodeJwt(client.sessionToken!)["cnf"]);
    expect(claims.jti).toEqual(expect.any(String));
    expect(claims["decision_id"]).toBe(body.decision_id);
  });

  it("take the shorter lifetime the manifest sets for an action", async () => {
    const client = await readyDevice();
    const { body } = await client.decide({ agent: permitted.agent, action: { type: "command.exec", targets: [{ kind: "command", value: "git status" }] } });
    const claims = decodeJwt(body.token!);
    expect(claims.exp! - claims.iat!).toBe(15);
  });

  it("redeem once for exactly the permitted action; a replayed jti is refused", async () => {
    const client = await readyDevice();
    const { body } = await client.decide(permitted);
    const first = await client.redeem(body.token!, permitted.action);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ redeemed: true, decision_id: body.decision_id });
    const replay = await client.redeem(body.token!, permitted.action);
    expect(replay.status).toBe(401);
    expect((replay.body as { code: string }).code).toBe("replay_detected");
  });

  it("a token does not cover another target or action", async () => {
    const client = await readyDevice();
    const { body } = await client.decide(permitted);
    for (const other of [fileAction("file.write", "/home/dev/workspace/b.txt").action, fileAction("file.read", "/home/dev/workspace/a.txt").action, fileAction("file.write", "/home/dev/workspace/a.txt", "/etc/passwd").action]) {
      const response = await client.redeem(body.token!, other);
      expect(response.status).toBe(403);
      expect((response.body as { code: string }).code).toBe("token_scope_mismatch");
    }
    // A different spelling of the same canonical path is the same action.
    expect((await client.redeem(body.token!, fileAction("file.write", "/home/dev//workspace/x/../a.txt").action)).status).toBe(200);
  });

  it("a token presented with another device's proof is refused", async () => {
    const owner = await readyDevice();
    const { body } = await owner.decide(permitted);
    const other = await readyDevice();
    const response = await other.redeem(body.token!, permitted.action);
    expect(response.status).toBe(401);
    expect((response.body as { code: string }).code).toBe("invalid_dpop_proof");
  });
});

describe("what an action token is bound to besides the device key", () => {
  it("a token issued in another tenant's deployment, sharing the key, is refused for a device of the same id and key there, which logs nothing", async () => {
    const other = uniqueId("tokens-other");
    await activate(defaultSources, other);
    const home = await readyDevice();
    const { body } = await home.decide(permitted);
    const there = new WardenClient({ url: BASE_URL, deviceId: home.deviceId, key: home.key, fetch: workerFetch({ tenant: other }) });
    expect((await there.register(env.ADMIN_TOKEN)).status).toBe(201);
    const refused = await there.redeem<{ code: string }>(body.token!, permitted.action);
    expect([refused.status, refused.body.code]).toEqual([401, "invalid_token"]);
    expect((await logOf(there)).map((entry) => entry.type)).toEqual(["device.registered"]);
    // Control: at home it redeems.
    expect((await home.redeem(body.token!, permitted.action)).status).toBe(200);
  });

  it("a token ends with the session it was issued under: once the session is revoked it is refused, and nothing is spent or logged", async () => {
    const client = await readyDevice();
    const { body } = await client.decide(permitted);
    expect(decodeJwt(body.token!)["sid"]).toBe(decodeJwt(client.sessionToken!).jti);
    expect((await call(workerFetch(), "POST", `/v1/devices/${client.deviceId}/sessions/revoke`, { reason: "token seen in a crash dump" }, admin)).status).toBe(200);
    const refused = await client.redeem<{ code: string }>(body.token!, permitted.action);
    expect([refused.status, refused.body.code]).toEqual([401, "session_revoked"]);
    expect((await logOf(client)).filter((entry) => entry.type.startsWith("action."))).toEqual([]);
  });

  it("a session token from another tenant's deployment sharing the key is refused (invalid_token)", async () => {
    const other = uniqueId("tokens-other");
    await activate(defaultSources, other);
    const home = await readyDevice();
    const there = new WardenClient({ url: BASE_URL, deviceId: home.deviceId, key: home.key, fetch: workerFetch({ tenant: other }) });
    expect((await there.register(env.ADMIN_TOKEN)).status).toBe(201);
    const refused = await there.authorized<{ code: string }>("POST", "/v1/decisions", permitted, home.sessionToken!);
    expect([refused.status, refused.body.code]).toEqual([401, "invalid_token"]);
    // Control: at home it decides.
    expect((await home.decide(permitted)).body.decision).toBe("permit");
  });

  it("an action token without the session it was issued under (sid), as issued before that claim, is refused (invalid_token)", async () => {
    const client = await readyDevice();
    const { body } = await client.decide(permitted);
    const { sid: _sid, ...claims } = decodeJwt(body.token!);
    const unbound = await new SignJWT(claims).setProtectedHeader({ alg: "EdDSA", typ: "warden-action+jwt", kid: decodeProtectedKid(body.token!) }).sign(await serverKey());
    const refused = await client.redeem<{ code: string }>(unbound, permitted.action);
    expect([refused.status, refused.body.code]).toEqual([401, "invalid_token"]);
    // Control: the token as issued redeems.
    expect((await client.redeem(body.token!, permitted.action)).status).toBe(200);
  });

  it("a token never outlives its session", async () => {
    let now = Date.now();
    const client = await readyDevice({ fetch: workerFetch({ deps: { now: () => now } }), now: () => now });
    const sessionExpiry = decodeJwt(client.sessionToken!).exp!;
    now = sessionExpiry * 1000 - 20_000;
    const { body } = await client.decide(permitted);
    expect(decodeJwt(body.token!).exp).toBe(sessionExpiry);
  });
});

describe("redemption judges the action under the device's current policy", () => {
  const inputs = "ab".repeat(32);
  const withInputs = { ...permitted, action: { ...permitted.action, inputs_sha256: inputs } };

  it("a token decided under one bundle is refused once a newer bundle decides for the device: logged, and spent", async () => {
    const tenant = uniqueId("redeem");
    const fetch = workerFetch({ tenant });
    const before = await activate(defaultSources, tenant);
    const client = await readyDevice({ fetch });
    const { body } = await client.decide(permitted);
    expect(body.decision).toBe("permit");
    expect(decodeJwt(body.token!)["policy"]).toBe(before);
    const after = await activate({ ...defaultSources, policies: `${defaultSources.policies}\n@id("no-writes")\nforbid (principal, action == Action::"file.write", resource);\n` }, tenant);

    const refused = await client.redeem(body.token!, permitted.action);
    expect(refused.status).toBe(409);
    expect((refused.body as { code: string }).code).toBe("token_policy_changed");
    expect((await logOf(client)).at(-1)).toMatchObject({
      type: "action.refused",
      data: { decision_id: body.decision_id, code: "token_policy_changed", decided_under: before, current: after },
    });
    const again = await client.redeem(body.token!, permitted.action);
    expect((again.body as { code: string }).code).toBe("replay_detected");
    // Asked again, the device gets the newer bundle's answer.
    expect((await client.decide(permitted)).body).toMatchObject({ decision: "deny", reasons: ["no-writes"], policy: after });
  });

  it("the inputs a decision named must be presented, and be the same, to redeem", async () => {
    const client = await readyDevice();
    for (const presented of [permitted.action, { ...permitted.action, inputs_sha256: "cd".repeat(32) }]) {
      const { body } = await client.decide(withInputs);
      expect(decodeJwt(body.token!)["scope"]).toMatchObject({ inputs_sha256: inputs });
      const response = await client.redeem(body.token!, presented);
      expect(response.status).toBe(403);
      expect((response.body as { code: string }).code).toBe("token_scope_mismatch");
    }
    const { body } = await client.decide(withInputs);
    expect((await client.redeem(body.token!, withInputs.action)).status).toBe(200);
    // And a token decided without inputs is not redeemed for some.
    const plain = await client.decide(permitted);
    expect(((await client.redeem(plain.body.token!, withInputs.action)).body as { code: string }).code).toBe("token_scope_mismatch");
  });

  it("a command's token covers the line in its shell and directory, and nothing else", async () => {
    const client = await readyDevice();
    const command = { type: "command.exec", targets: [{ kind: "command" as const, value: "git status", cwd: "/home/dev/workspace" }] };
    const { body } = await client.decide({ agent: permitted.agent, action: command });
    expect(decodeJwt(body.token!)["scope"]).toEqual({ action: "command.exec", targets: [{ kind: "command", value: "git status", shell: "bash", cwd: "/home/dev/workspace" }] });
    for (const other of [
      { ...command, targets: [{ ...command.targets[0]!, cwd: "/home/dev" }] },
      { ...command, targets: [{ ...command.targets[0]!, shell: "sh" as const }] },
      { ...command, targets: [{ kind: "command" as const, value: "git status" }] },
    ]) {
      expect(((await client.redeem(body.token!, other)).body as { code: string }).code).toBe("token_scope_mismatch");
    }
    expect((await client.redeem(body.token!, { ...command, targets: [{ ...command.targets[0]!, shell: "bash" as const, cwd: "/home/dev/./workspace/" }] })).status).toBe(200);
  });
});
