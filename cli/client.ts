import { SignJWT, base64url, exportJWK, generateKeyPair, importJWK, type JWK } from "jose";

/**
 * The reference shim's protocol, the thin client an endpoint embeds: register a
 * device key, open a session by signing a server nonce, and ask for decisions
 * with DPoP proofs. Runs in Node and in workerd (the tests drive the worker with it).
 */

export type DeviceAlg = "EdDSA" | "ES256";

export interface DeviceKey {
  alg: DeviceAlg;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

/** Generates a non-extractable-by-default device key pair; `extractable` lets the CLI save it. */
export async function generateDeviceKey(alg: DeviceAlg = "EdDSA", extractable = false): Promise<DeviceKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable });
  const { kty, crv, x, y } = await exportJWK(publicKey);
  const publicJwk: JWK = y === undefined ? { kty, crv, x } : { kty, crv, x, y };
  return { alg, privateKey, publicJwk };
}

/** The file form of a device key: its private JWK. */
export async function exportDeviceKey(key: DeviceKey): Promise<JWK> {
  return { ...(await exportJWK(key.privateKey)), alg: key.alg };
}

export async function importDeviceKey(jwk: JWK): Promise<DeviceKey> {
  const alg = jwk.alg === "ES256" ? "ES256" : "EdDSA";
  const privateKey = (await importJWK(jwk, alg)) as CryptoKey;
  const { kty, crv, x, y } = jwk;
  const publicJwk: JWK = y === undefined ? { kty, crv, x } : { kty, crv, x, y };
  return { alg, privateKey, publicJwk };
}

export interface WardenResponse<T = unknown> {
  status: number;
  body: T;
}

export interface ClientOptions {
  url: string;
  deviceId: string;
  key: DeviceKey;
  fetch?: (request: Request) => Promise<Response>;
  /** Clock for proof `iat`; defaults to the real one. */
  now?: () => number;
}

export class WardenClient {
  readonly url: string;
  readonly deviceId: string;
  readonly key: DeviceKey;
  sessionToken: string | undefined;
  private readonly send: (request: Request) => Promise<Response>;
  private readonly now: () => number;

  constructor(options: ClientOptions) {
    this.url = options.url.replace(/\/+$/, "");
    this.deviceId = options.deviceId;
    this.key = options.key;
    this.send = options.fetch ?? ((request) => fetch(request));
    this.now = options.now ?? (() => Date.now());
  }

  /** A DPoP proof (RFC 9449) for one request, optionally bound to a token (`ath`) and a server nonce. */
  async proof(method: string, path: string, options: { accessToken?: string; nonce?: string; jti?: string; iat?: number } = {}): Promise<string> {
    const claims: Record<string, string | number> = {
      htm: method,
      htu: this.url + path,
      jti: options.jti ?? base64url.encode(crypto.getRandomValues(new Uint8Array(16))),
      iat: options.iat ?? Math.floor(this.now() / 1000),
    };
    if (options.accessToken !== undefined) {
      claims["ath"] = base64url.encode(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(options.accessToken))));
    }
    if (options.nonce !== undefined) claims["nonce"] = options.nonce;
    return new SignJWT(claims).setProtectedHeader({ alg: this.key.alg, typ: "dpop+jwt", jwk: this.key.publicJwk }).sign(this.key.privateKey);
  }

  async request<T = unknown>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<WardenResponse<T>> {
    const init: RequestInit = { method, headers: { ...headers } };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      (init.headers as Record<string, string>)["content-type"] = "application/json";
    }
    const response = await this.send(new Request(this.url + path, init));
    const text = await response.text();
    return { status: response.status, body: (text ? JSON.parse(text) : null) as T };
  }

  /** Registers this device's public key (an admin call). */
  register(adminToken: string, os: "linux" | "macos" | "windows" = "linux", groups: string[] = []): Promise<WardenResponse> {
    return this.request("POST", "/v1/devices", { id: this.deviceId, os, public_key: this.key.publicJwk, groups }, { authorization: `Bearer ${adminToken}` });
  }

  /** Nonce, then a session opened by a proof over that nonce. Keeps the token for later calls. */
  async openSession(): Promise<string> {
    const nonce = await this.request<{ nonce: string }>("POST", "/v1/attestation/nonce", { device_id: this.deviceId });
    if (nonce.status !== 201) throw new ClientError("nonce", nonce);
    const dpop = await this.proof("POST", "/v1/sessions", { nonce: nonce.body.nonce });
    const session = await this.request<{ session_token: string }>("POST", "/v1/sessions", { device_id: this.deviceId, nonce: nonce.body.nonce }, { dpop });
    if (session.status !== 201) throw new ClientError("session", session);
    this.sessionToken = session.body.session_token;
    return this.sessionToken;
  }

  /** A request authenticated by the session token and a fresh DPoP proof. */
  async authorized<T = unknown>(method: string, path: string, body?: unknown, token = this.sessionToken): Promise<WardenResponse<T>> {
    if (!token) throw new Error("no session: call openSession first");
    const dpop = await this.proof(method, path.split("?")[0] ?? path, { accessToken: token });
    return this.request<T>(method, path, body, { authorization: `DPoP ${token}`, dpop });
  }

  decide<T = DecisionResponse>(request: DecisionRequest): Promise<WardenResponse<T>> {
    return this.authorized<T>("POST", "/v1/decisions", request);
  }

  redeem(token: string, action: DecisionRequest["action"]): Promise<WardenResponse> {
    return this.authorized("POST", "/v1/actions/redeem", { action: { type: action.type, targets: action.targets } }, token);
  }
}

export class ClientError extends Error {
  constructor(
    readonly step: string,
    readonly response: WardenResponse,
  ) {
    super(`${step} failed with ${response.status}: ${JSON.stringify(response.body)}`);
    this.name = "ClientError";
  }
}

export interface DecisionRequest {
  agent: { id: string; version: string; artifact_sha256?: string };
  action: {
    type: string;
    targets: { kind: "path" | "url" | "command"; value: string }[];
    inputs_sha256?: string;
    sends_external?: boolean;
  };
  context?: Record<string, string | number | boolean>;
}

export interface DecisionResponse {
  decision: "permit" | "deny" | "review";
  reason_code: string;
  reasons: string[];
  policy: string | null;
  decision_id: string;
  log: { seq: number; hash: string } | null;
  targets: { kind: string; value?: string; rejected?: string }[];
  token?: string;
  token_expires_at?: string;
  review?: { tier: string };
}
