import { WardenClient, type WardenResponse } from "../client.ts";
import { fetchWithTimeout, loadKey } from "../connect.ts";
import { HookFailure } from "./protocol.ts";
import type { HookState } from "./state.ts";

/**
 * A device session kept across invocations: a hook call reuses the saved session token and
 * pays for a nonce and a new session only when that token is about to expire.
 */

/** A session is reused while it has this long left beyond the longest wait the call may need. */
const SESSION_MARGIN_MS = 60_000;

/** Where and as whom to talk to Warden. */
export interface Connection {
  url: string;
  device: string;
  keyPath: string;
  timeoutMs: number;
  /** The network; fetch with the `timeoutMs` deadline unless a caller (a test) injects another. */
  fetch?: (request: Request) => Promise<Response>;
}

/** A client with a live session: the saved one when it outlasts `waitMs` plus a margin, else a new one, saved. */
export async function connect(options: Connection, state: HookState, waitMs = 0): Promise<WardenClient> {
  let key;
  try {
    key = await loadKey(options.keyPath);
  } catch (error) {
    throw new HookFailure("configuration_error", (error as Error).message, { cause: error });
  }
  const client = new WardenClient({ url: options.url, deviceId: options.device, key, fetch: options.fetch ?? fetchWithTimeout(options.timeoutMs) });
  const saved = state.session(Date.now(), SESSION_MARGIN_MS + waitMs);
  if (saved) {
    client.sessionToken = saved.token;
    client.sessionExpiresAt = saved.expiresAt;
  } else {
    await openSession(client, state);
  }
  return client;
}

async function openSession(client: WardenClient, state: HookState): Promise<void> {
  await client.openSession();
  state.saveSession({ token: client.sessionToken!, expiresAt: client.sessionExpiresAt! });
}

/** Warden's refusal of a request, by status and problem code. */
export function refused(step: string, response: WardenResponse): HookFailure {
  const code = (response.body as { code?: unknown } | null)?.code;
  return new HookFailure("warden_refused", `${step}: HTTP ${response.status}${typeof code === "string" ? ` ${code}` : ""}`);
}

/**
 * A device request; when Warden no longer honours the saved session (`invalid_token`: expired
 * early, the signing key rotated) the session is reopened once and the request repeated.
 * Nothing was decided or logged for a request refused at authentication.
 */
export async function withSession<T>(client: WardenClient, state: HookState, send: () => Promise<WardenResponse<T>>): Promise<WardenResponse<T>> {
  const first = await send();
  if (first.status !== 401 || (first.body as { code?: unknown } | null)?.code !== "invalid_token") return first;
  state.forgetSession();
  await openSession(client, state);
  return send();
}
