/**
 * A stand-in for Cloudflare Access teams in the workerd tests (wired in vitest.config.mts): it
 * serves a team's key set at `/cdn-cgi/access/certs` for any `<team>.cloudflareaccess.com`,
 * reached by the worker's outbound fetch, and through the `ACCESS_ISSUER` service binding lets a
 * test publish more keys for one team (a rotation), make its key set fail, and count how often it
 * was fetched. Every team serves the same signing key (TEST_ACCESS_KEY, with which tests sign);
 * the rest is per team, so a test that breaks its own team's keys disturbs no other test file.
 */
import { generateKeyPairSync } from "node:crypto";

export const ACCESS_TEAM_HOST = "warden-test.cloudflareaccess.com";
export const ACCESS_AUD = "5f0c2a7e9b1d4c3a8e6f0b2d4a6c8e0f5f0c2a7e9b1d4c3a8e6f0b2d4a6c8e0f";

/** The team's signing key for this run: RS256, as Access signs. */
const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const kid = "warden-test-access-1";
export const accessPrivateJwk = { ...privateKey.export({ format: "jwk" }), kid, alg: "RS256" };
const servedKey = { ...publicKey.export({ format: "jwk" }), kid, alg: "RS256", use: "sig" };

interface Team {
  extraKeys: object[];
  failing: number | null;
  fetches: number;
}

const teams = new Map<string, Team>();

function team(host: string): Team {
  let known = teams.get(host);
  if (!known) teams.set(host, (known = { extraKeys: [], failing: null, fetches: 0 }));
  return known;
}

/** Whether an outbound request is for a team's host. */
export function isAccessTeam(hostname: string): boolean {
  return hostname.endsWith(".cloudflareaccess.com");
}

/** A team's host: the key set, as Access publishes it. */
export async function accessIssuer(request: Request): Promise<Response> {
  const url = new URL(request.url);
  if (url.pathname !== "/cdn-cgi/access/certs") return new Response("not found", { status: 404 });
  const served = team(url.hostname);
  served.fetches += 1;
  if (served.failing !== null) return new Response("unavailable", { status: served.failing });
  return Response.json({ keys: [servedKey, ...served.extraKeys], public_cert: { kid, cert: "" }, public_certs: [] });
}

/** miniflare service binding `ACCESS_ISSUER`: per `?team=<host>`, `PUT /__keys` (extra public JWKs), `PUT /__fail` (a status or null), `GET /__fetches`. */
export async function accessIssuerControl(request: Request): Promise<Response> {
  const url = new URL(request.url);
  const controlled = team(url.searchParams.get("team") ?? ACCESS_TEAM_HOST);
  if (request.method === "PUT" && url.pathname === "/__keys") {
    controlled.extraKeys = (await request.json()) as object[];
    return new Response(null, { status: 204 });
  }
  if (request.method === "PUT" && url.pathname === "/__fail") {
    controlled.failing = (await request.json()) as number | null;
    return new Response(null, { status: 204 });
  }
  if (url.pathname === "/__fetches") return Response.json(controlled.fetches);
  return new Response("not found", { status: 404 });
}
