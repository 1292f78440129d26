/**
 * People in the workerd tests: Cloudflare Access tokens signed with the private half of the key
 * the test team serves (test/setup/access-issuer.ts), and the agents the example bundle expects.
 */
import { env } from "cloudflare:test";
import { SignJWT, importJWK, type JWK, type JWTPayload } from "jose";
import { ACCESS_AUD, ACCESS_TEAM_HOST } from "./setup/access-issuer.ts";
import { BASE_URL, type Fetch } from "./helpers.ts";

/** The private JWK (RS256, with its `kid`) the test team signs Access tokens with. */
export const accessKey = JSON.parse(Reflect.get(env, "TEST_ACCESS_KEY") as string) as JWK & { kid: string };

export const ACCESS_ISSUER = `https://${ACCESS_TEAM_HOST}`;

export interface AccessTokenOptions {
  email?: string;
  groups?: string[];
  /** Overrides of any claim (`aud`, `iss`, `exp`, `type` …); `undefined` removes it. */
  claims?: JWTPayload;
  key?: JWK & { kid: string };
  now?: number;
}

/** An Access application token for a person, as Access would put it in `Cf-Access-Jwt-Assertion`. */
export async function accessToken(options: AccessTokenOptions = {}): Promise<string> {
  const iat = Math.floor((options.now ?? Date.now()) / 1000);
  const claims: JWTPayload = {
    aud: [ACCESS_AUD],
    email: options.email ?? "dev@example.com",
    iss: ACCESS_ISSUER,
    sub: crypto.randomUUID(),
    type: "app",
    identity_nonce: "nonce",
    country: "NL",
    iat,
    nbf: iat,
    exp: iat + 3600,
    ...(options.groups ? { groups: options.groups } : {}),
    ...options.claims,
  };
  for (const [name, value] of Object.entries(claims)) if (value === undefined) delete claims[name];
  const key = options.key ?? accessKey;
  return new SignJWT(claims).setProtectedHeader({ alg: "RS256", kid: key.kid, typ: "JWT" }).sign(await importJWK(key, "RS256"));
}

/** Request headers of a person signed in through Access. */
export async function asPerson(options: AccessTokenOptions = {}): Promise<Record<string, string>> {
  return { "cf-access-jwt-assertion": await accessToken(options) };
}

/**
 * The control of one test team (`<name>.cloudflareaccess.com`, the issuer of its tokens): keys it
 * publishes besides the signing key, a failing key set, the number of fetches. A test that
 * changes a team's keys uses a team of its own (ACCESS_TEAM_DOMAIN in the env it passes).
 */
export function accessTeam(name: string) {
  const host = `${name}.cloudflareaccess.com`;
  const control = (path: string, init?: RequestInit) => (env as unknown as { ACCESS_ISSUER: Fetcher }).ACCESS_ISSUER.fetch(`http://issuer${path}?team=${host}`, init);
  return {
    domain: `https://${host}`,
    async publish(keys: object[]): Promise<void> {
      await control("/__keys", { method: "PUT", body: JSON.stringify(keys) });
    },
    async fail(status: number | null): Promise<void> {
      await control("/__fail", { method: "PUT", body: JSON.stringify(status) });
    },
    async fetches(): Promise<number> {
      return (await (await control("/__fetches")).json()) as number;
    },
  };
}

/** A JSON answer of the worker, as the people, consent and registry tests read it. */
export interface Answer {
  status: number;
  body: Record<string, unknown> & { code?: string };
}

/** Calls the worker through `fetch` as a person (`headers`: their Access token or a bootstrap bearer), with a JSON body when given. */
export function caller(fetch: Fetch) {
  return async function call(method: string, path: string, headers: Record<string, string>, body?: unknown, via: Fetch = fetch): Promise<Answer> {
    const init: RequestInit = { method, headers: { ...headers, ...(body !== undefined ? { "content-type": "application/json" } : {}) } };
    if (body !== undefined) init.body = JSON.stringify(body);
    const response = await via(new Request(`${BASE_URL}${path}`, init));
    return { status: response.status, body: (await response.json()) as Answer["body"] };
  };
}
