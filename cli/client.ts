import { SignJWT, base64url, exportJWK, generateKeyPair, importJWK, type JWK } from "jose";
import { parseStrictJson } from "../worker/json/strict.ts";

/**
 * The reference shim's protocol, the thin client an endpoint embeds: register a
 * device key, open a session by signing a server nonce, ask for decisions with
 * DPoP proofs, redeem action tokens, wait for reviews and record outcomes.
 * The package exports it (`import { WardenClient } from "warden"`): it imports
 * nothing from Node, so it runs in Node 20, browsers and workers alike (the
 * tests drive the worker with it in workerd).
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

/** How long `waitForReview` waits before asking again when an answer came early: evidence on its way to the log, or a wait ended by another. */
const ASK_AGAIN_MS = 1000;
const askAgainLater = () => new Promise((resolve) => setTimeout(resolve, ASK_AGAIN_MS));

export class WardenClient {
  readonly url: string;
  readonly deviceId: string;
  readonly key: DeviceKey;
  sessionToken: string | undefined;
  /** When the session token expires (ms since the epoch), as the server said when it was opened. */
  sessionExpiresAt: number | undefined;
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
    // Read as strictly as Warden reads requests: an answer with two `decision`s is an error, not a permit.
    const bytes = new Uint8Array(await response.arrayBuffer());
    return { status: response.status, body: (bytes.length > 0 ? parseStrictJson(bytes) : null) as T };
  }

  /** Registers this device's public key (an admin call), for `user` when given: the person whose consents its decisions read. */
  register(adminToken: string, os: "linux" | "macos" | "windows" = "linux", groups: string[] = [], user?: string): Promise<WardenResponse> {
    return this.request("POST", "/v1/devices", { id: this.deviceId, os, public_key: this.key.publicJwk, groups, ...(user !== undefined ? { user } : {}) }, { authorization: `Bearer ${adminToken}` });
  }

  /**
   * Nonce, then a session opened by a proof over that nonce — and, when `evidence` is given,
   * hardware evidence answering the same nonce (e.g. a TPM quote over the PCR selection the
   * nonce response names). Keeps the token for later calls.
   */
  async openSession(options: { evidence?: EvidenceProvider } = {}): Promise<string> {
    const nonce = await this.nonce();
    const evidence = options.evidence ? await options.evidence(nonce) : undefined;
    const session = await this.requestSession(nonce.nonce, evidence);
    if (session.status !== 201) throw new ClientError("session", session);
    this.sessionToken = session.body.session_token;
    this.sessionExpiresAt = this.now() + session.body.expires_in * 1000;
    return this.sessionToken;
  }

  /** A fresh single-use nonce, with what evidence answering it must cover. */
  async nonce(): Promise<NonceResponse> {
    const nonce = await this.request<NonceResponse>("POST", "/v1/attestation/nonce", { device_id: this.deviceId });
    if (nonce.status !== 201) throw new ClientError("nonce", nonce);
    return nonce.body;
  }

  /** POST /v1/sessions for `nonce` (with optional evidence), returning the raw answer. */
  async requestSession(nonce: string, evidence?: AnySessionEvidence): Promise<WardenResponse<SessionResponse>> {
    const dpop = await this.proof("POST", "/v1/sessions", { nonce });
    return this.request<SessionResponse>("POST", "/v1/sessions", { device_id: this.deviceId, nonce, ...(evidence ? { evidence } : {}) }, { dpop });
  }

  /** Issues a one-time TPM bootstrap token for this device (an admin call). */
  tpmBootstrap(adminToken: string, options: { rebind?: boolean; ttlSeconds?: number } = {}): Promise<WardenResponse<{ bootstrap_token: string; expires_at: string }>> {
    const body: Record<string, unknown> = { rebind: options.rebind ?? false };
    if (options.ttlSeconds !== undefined) body["ttl_seconds"] = options.ttlSeconds;
    return this.request("POST", `/v1/devices/${encodeURIComponent(this.deviceId)}/tpm/bootstrap`, body, { authorization: `Bearer ${adminToken}` });
  }

  /**
   * Starts TPM enrollment: the EK certificate (DER) and intermediates, the EK's and AK's
   * TPMT_PUBLIC, a bootstrap token; answers with the TPM2_ActivateCredential inputs.
   */
  async tpmEnroll(args: { bootstrapToken: string; ekCertificate: Uint8Array; ekIntermediates?: Uint8Array[]; ekPublic: Uint8Array; akPublic: Uint8Array }): Promise<WardenResponse<TpmChallenge>> {
    const dpop = await this.proof("POST", "/v1/attestation/tpm/enroll");
    const body = {
      device_id: this.deviceId,
      bootstrap_token: args.bootstrapToken,
      ek_certificate: toBase64(args.ekCertificate),
      ek_intermediates: (args.ekIntermediates ?? []).map(toBase64),
      ek_public: toBase64(args.ekPublic),
      ak_public: toBase64(args.akPublic),
    };
    return this.request<TpmChallenge>("POST", "/v1/attestation/tpm/enroll", body, { dpop });
  }

  /** Completes TPM enrollment with the credential TPM2_ActivateCredential recovered. */
  async tpmActivate(secret: Uint8Array): Promise<WardenResponse<{ enrolled: true; ek_name: string; ak_name: string; vendor: string }>> {
    const dpop = await this.proof("POST", "/v1/attestation/tpm/activate");
    return this.request("POST", "/v1/attestation/tpm/activate", { device_id: this.deviceId, secret: toBase64(secret) }, { dpop });
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

  /** Up to 30 actions decided and logged together, answered in request order. */
  decideBatch<T = { decisions: DecisionResponse[] }>(requests: DecisionRequest[]): Promise<WardenResponse<T>> {
    return this.authorized<T>("POST", "/v1/decisions/batch", { decisions: requests });
  }

  /**
   * Waits on a hold until it is decided or `timeoutMs` passes, long-polling
   * `GET /v1/reviews/{id}?wait=` (each request at most 25 s). Resolves with the last answer:
   * `approved` (or a permitting timeout) carries the action token; `pending` means it timed out.
   * A server error is asked about again each second until the deadline, the last one returned:
   * an approval whose evidence is not in the device log yet (`review_evidence_pending`) gets its
   * token once the evidence is there, and a wait cut by a restarted object (a deploy) goes on.
   */
  async waitForReview(id: string, options: { timeoutMs?: number; waitSeconds?: number } = {}): Promise<WardenResponse<ReviewResponse>> {
    const deadline = this.now() + (options.timeoutMs ?? 10 * 60_000);
    let askedAgain = false;
    for (;;) {
      const left = Math.max(0, Math.ceil((deadline - this.now()) / 1000));
      const wait = Math.min(options.waitSeconds ?? 25, left);
      const asked = this.now();
      const answer = await this.authorized<ReviewResponse>("GET", `/v1/reviews/${encodeURIComponent(id)}${wait > 0 ? `?wait=${wait}` : ""}`);
      const code = (answer.body as { code?: unknown }).code;
      // A read refused as a replay had its proof spent by an earlier delivery of the same request: read again, once, with a fresh proof.
      if (answer.status === 401 && code === "replay_detected" && !askedAgain) {
        askedAgain = true;
        continue;
      }
      askedAgain = false;
      if (answer.status >= 500 && this.now() + ASK_AGAIN_MS < deadline) {
        await askAgainLater();
        continue;
      }
      if (answer.status !== 200 || answer.body.status !== "pending" || this.now() >= deadline) return answer;
      // Pending well before its time: more waits of this device on the hold than it keeps ended this one. Asking again at once would end another.
      if (wait > 0 && this.now() - asked < (wait * 1000) / 2) await askAgainLater();
    }
  }

  redeem<T = unknown>(token: string, action: DecisionRequest["action"]): Promise<WardenResponse<T>> {
    const { type, targets, inputs_sha256 } = action;
    return this.authorized<T>("POST", "/v1/actions/redeem", { action: { type, targets, ...(inputs_sha256 !== undefined ? { inputs_sha256 } : {}) } }, token);
  }

  /** Records what came of a decided action as `action.completed` in this device's log. */
  recordOutcome<T = RecordedOutcome>(outcome: ActionOutcome): Promise<WardenResponse<T>> {
    return this.authorized<T>("POST", "/v1/actions/complete", outcome);
  }

  /** A page of this device's own log: entries with `seq > after` still live in Warden, and the head. */
  readLog<T = LogPage>(after: number, limit = 100): Promise<WardenResponse<T>> {
    return this.authorized<T>("GET", `/v1/devices/${encodeURIComponent(this.deviceId)}/log?after=${after}&limit=${limit}`);
  }

  /** The latest signed checkpoint of this device's log. */
  checkpoint<T = LogCheckpoint>(): Promise<WardenResponse<T>> {
    return this.authorized<T>("GET", `/v1/devices/${encodeURIComponent(this.deviceId)}/checkpoint`);
  }
}

export interface NonceResponse {
  nonce: string;
  expires_at: string;
  /** What evidence must cover: for a TPM quote the PCR bank and indices of the device's bundle. */
  attestation?: { tpm?: { pcr_bank: string; pcrs: number[] } };
}

/** A TPM quote answering the session nonce (TPMS_ATTEST and TPMT_SIGNATURE base64, PCR values hex). */
export interface TpmSessionEvidence {
  type: "tpm";
  quote: string;
  signature: string;
  pcrs: Record<string, string>;
  /** The TCG event log (binary_bios_measurements), base64: replayed against the quoted PCRs. */
  event_log?: string;
}
/**
 * An SEV-SNP report (base64 or hex) whose REPORT_DATA is SHA-512(nonce ‖ jkt), with the VCEK/VLEK certificate unless Warden has it
 * cached; `collateral.crls` may offer AMD KDS CRLs (base64 DER), used only when newer than the one Warden holds.
 */
export interface SnpSessionEvidence {
  type: "sev-snp";
  report: string;
  certs?: { endorsement_key?: string; chain?: string[] };
  collateral?: { crls?: string[] };
}
/** A TDX quote (base64) whose REPORTDATA is SHA-512(nonce ‖ jkt), with dcap-qvl collateral unless Warden has it cached. */
export interface TdxSessionEvidence {
  type: "tdx";
  quote: string;
  collateral?: Record<string, string>;
}
/** An Azure confidential VM's az-snp-vtpm evidence JSON (either shape), whose vTPM quote's extraData is SHA-256(nonce ‖ jkt). */
export interface AzureSnpVtpmSessionEvidence {
  type: "azure-snp-vtpm";
  evidence: Record<string, unknown>;
  /** AMD KDS CRLs (base64 DER), as for SEV-SNP. */
  collateral?: { crls?: string[] };
}
export type SessionEvidence = TpmSessionEvidence;
/** Any evidence POST /v1/sessions accepts. */
export type AnySessionEvidence = TpmSessionEvidence | SnpSessionEvidence | TdxSessionEvidence | AzureSnpVtpmSessionEvidence;
export type EvidenceProvider = (nonce: NonceResponse) => Promise<SessionEvidence>;

export interface SessionResponse {
  session_token: string;
  token_type: "DPoP";
  expires_in: number;
  assurance: string;
  attestation?: Record<string, unknown>;
}

export interface TpmChallenge {
  credential_blob: string;
  encrypted_secret: string;
  expires_at: string;
  ak_name: string;
  ek: { vendor: string; issuer: string; chain: string[] };
}

function toBase64(bytes: Uint8Array): string {
  let bin = "";
  for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i] as number);
  return btoa(bin);
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

/** A target as the agent describes it; a command names where, and in which shell, it runs. */
export type DecisionTarget =
  | { kind: "path" | "url" | "tool"; value: string }
  | { kind: "command"; value: string; shell?: "bash" | "sh" | "zsh" | "powershell" | "cmd"; cwd?: string; home?: string };

export interface DecisionRequest {
  agent: { id: string; version: string; artifact_sha256?: string };
  action: {
    type: string;
    targets: DecisionTarget[];
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
  targets: { kind: string; value?: string; rejected?: string; shell?: string; cwd?: string; home?: string }[];
  /** Files and URLs the command targets imply, each judged under its own action; `from` is the target's index. */
  derived: { action: "file.read" | "file.write" | "file.delete" | "http.request"; kind: "path" | "url"; value?: string; named?: string; follows_links_below?: true; makes_links?: true; after_links_made?: true; rejected?: string; from: number }[];
  token?: string;
  token_expires_at?: string;
  review?: { id: string; tier: string; deadline: string };
}

/** `POST /v1/actions/redeem` answered 200: the token is spent and the redemption logged. */
export interface RedeemResponse {
  redeemed: true;
  decision_id: string;
  policy: string;
  log: { seq: number; hash: string };
}

/** The body of `POST /v1/actions/complete`: what came of a decided action (docs/hooks.md says how the hooks fill it). */
export interface ActionOutcome {
  decision_id: string;
  /** The decision's `log.seq`. */
  decision_seq: number;
  tool: { name: string; use_id?: string };
  succeeded: boolean;
  exit_status: number | null;
  /** SHA-256 hex of the tool's output. */
  result_hash: string | null;
  files: { path: string; file_hash: string | null }[];
  duration_ms: number | null;
  human_reviewed: boolean;
  review_id?: string;
}

export interface RecordedOutcome {
  recorded: true;
  decision_id: string;
  decision_checked: boolean;
  log: { seq: number; hash: string };
}

/** One entry of a device log, as `GET /v1/devices/{id}/log` returns it. */
export interface LogEntryView {
  seq: number;
  time: string;
  prev: string;
  device: string;
  type: string;
  data: Record<string, unknown>;
  hash: string;
}

export interface LogPage {
  entries: LogEntryView[];
  head: { seq: number; hash: string };
  next_after: number | null;
}

export interface LogCheckpoint {
  origin: string;
  device: string;
  size: number;
  root: string;
  head: string;
  time: string;
  key: string;
  note: string;
}

/** A hold as its device sees it (`GET /v1/reviews/{id}`). */
export interface ReviewResponse {
  id: string;
  status: "pending" | "approved" | "rejected" | "expired" | "cancelled";
  decision: "permit" | "deny" | null;
  tier: string;
  deadline: string;
  approvals: { reviewer: string; at: string }[];
  approvers_required: number;
  released: boolean;
  token?: string;
  token_expires_at?: string;
}
