import { readFile } from "node:fs/promises";
import { importDeviceKey, type DeviceKey } from "./client.ts";
import { fileErrorMessage, UsageError } from "./command.ts";
import { StrictJsonError, parseStrictJson } from "../worker/json/strict.ts";

/**
 * What every device-side command needs to talk to Warden: a checked base URL, a deadline on
 * each request, and the device key from its file. `warden shim` and `warden hook` share it.
 */

export const DEFAULT_TIMEOUT_SECONDS = 10;

/** The Warden base URL without trailing slashes; anything but an absolute http(s) URL is a usage error. */
export function baseUrl(command: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`--url must be an absolute http(s) URL, not ${JSON.stringify(value)}`, command);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new UsageError("--url must be an http(s) URL", command);
  return value.replace(/\/+$/, "");
}

/** `--timeout` in milliseconds: a positive number of seconds, or the default. */
export function timeoutMs(command: string, value: string | undefined): number {
  if (value === undefined) return DEFAULT_TIMEOUT_SECONDS * 1000;
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new UsageError("--timeout must be a positive number of seconds", command);
  return seconds * 1000;
}

/** fetch with a deadline: a Warden that does not answer is an error, not a hang. */
export function fetchWithTimeout(ms: number) {
  return (request: Request) => fetch(request, { signal: AbortSignal.timeout(ms) });
}

/** Runs the exchange with Warden, naming the two failures that are not Warden's refusals. */
export async function talk<T>(url: string, ms: number, exchange: () => Promise<T>): Promise<T> {
  try {
    return await exchange();
  } catch (error) {
    if (error instanceof StrictJsonError) throw new Error(`malformed response from ${url}: ${error.message}`);
    if (error instanceof DOMException && error.name === "TimeoutError") throw new Error(`no answer from ${url} within ${ms / 1000} s`);
    throw error;
  }
}

/** The device key in the file `warden shim register --key-out` wrote (a private JWK). */
export async function loadKey(path: string): Promise<DeviceKey> {
  let jwk: unknown;
  try {
    jwk = parseStrictJson(await readFile(path));
  } catch (error) {
    throw new Error(`cannot read the key file: ${fileErrorMessage(error) ?? `${path}: ${(error as Error).message}`}`);
  }
  if (typeof jwk !== "object" || jwk === null || typeof (jwk as { d?: unknown }).d !== "string") {
    throw new Error(`key file ${path} is not a private JWK (written by \`warden shim register --key-out\`)`);
  }
  try {
    return await importDeviceKey(jwk as Parameters<typeof importDeviceKey>[0]);
  } catch (error) {
    throw new Error(`key file ${path} holds no usable device key: ${(error as Error).message}`);
  }
}
