/**
 * People through Cloudflare Access: the configuration that says which team, application and
 * roles Warden trusts, and the verification of the `Cf-Access-Jwt-Assertion` Access adds to
 * every request it let through (docs/people.md). Pure apart from the key set, which is fetched
 * through the injected `fetch` and cached per isolate for a bounded time.
 */
import { createLocalJWKSet, errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from "jose";
import { z } from "zod";
import { ConfigurationError, VerificationError, WardenError } from "../errors.ts";
import { StrictJsonError, parseStrictJson } from "../json/strict.ts";
import { checkOutboundUrl } from "../net/outbound-url.ts";
import { JwsShapeError, strictJwsParts } from "../tokens/jws.ts";

/** Roles a person gets from the configured mapping; every verified person is also an `actor`. */
export const MAPPED_ROLES = ["admin", "auditor", "privacy-officer", "reviewer"] as const;
export type MappedRole = (typeof MAPPED_ROLES)[number];

/** Who Access says the person is. */
export interface AccessIdentity {
  /** The verified e-mail, lower-cased: what every record names as the person. */
  email: string;
  /** Access's stable user id. */
  sub: string;
  /** Group names the token carries (`groups`), when the Access application passes them. */
  groups: string[];
}

/** The validated Access configuration of a deployment. */
export interface AccessConfig {
  /** `https://<team>.cloudflareaccess.com`: the `iss` every token must carry. */
  issuer: string;
  /** Where the team's signing keys are published. */
  certsUrl: string;
  /** The application AUD tags a token may be for. */
  audiences: readonly string[];
  roles: ReadonlyMap<MappedRole, { emails: ReadonlySet<string>; groups: ReadonlySet<string> }>;
}

const RoleRuleSchema = z.strictObject({
  emails: z.array(z.email().max(254)).max(1000).default([]),
  groups: z.array(z.string().min(1).max(256)).max(1000).default([]),
});

/** `ACCESS_ROLES`: for each role, the e-mails and groups that hold it. */
const AccessRolesSchema = z.partialRecord(z.enum(MAPPED_ROLES), RoleRuleSchema);

const TeamDomainSchema = z
  .url({ protocol: /^https$/ })
  .transform((value) => new URL(value))
  .refine((url) => (url.pathname === "/" || url.pathname === "") && !url.search && !url.hash && !url.username && !url.password, "ACCESS_TEAM_DOMAIN is an origin, e.g. https://acme.cloudflareaccess.com");

const AudiencesSchema = z.array(z.string().regex(/^[0-9a-f]{16,128}$/i)).min(1).max(16);

/** Configuration validated once per isolate and configuration text. */
let validated: { source: string; config: AccessConfig | null } | undefined;

/**
 * The deployment's Access configuration: null when `ACCESS_TEAM_DOMAIN` is unset (no Access;
 * only the bootstrap tokens authenticate people). Throws `configuration_error` when any part is
 * malformed, so a typo refuses every person instead of quietly dropping a role.
 */
export function accessConfig(env: Pick<Env, "ACCESS_TEAM_DOMAIN" | "ACCESS_AUD" | "ACCESS_ROLES">): AccessConfig | null {
  const source = JSON.stringify([env.ACCESS_TEAM_DOMAIN ?? null, env.ACCESS_AUD ?? null, env.ACCESS_ROLES ?? null]);
  if (validated?.source === source) return validated.config;
  const config = parseAccessConfig(env);
  validated = { source, config };
  return config;
}

function parseAccessConfig(env: Pick<Env, "ACCESS_TEAM_DOMAIN" | "ACCESS_AUD" | "ACCESS_ROLES">): AccessConfig | null {
  if (!env.ACCESS_TEAM_DOMAIN) return null;
  const domain = TeamDomainSchema.safeParse(env.ACCESS_TEAM_DOMAIN);
  if (!domain.success) throw new ConfigurationError("configuration_error", `ACCESS_TEAM_DOMAIN: ${domain.error.issues.map((issue) => issue.message).join("; ")}`);
  const issuer = domain.data.origin;
  const certsUrl = `${issuer}/cdn-cgi/access/certs`;
  // The key set is fetched from here on behalf of every request: it must be a public https endpoint.
  const outbound = checkOutboundUrl(certsUrl, { development: false });
  if (!outbound.ok) throw new ConfigurationError("configuration_error", `ACCESS_TEAM_DOMAIN is refused as an outbound endpoint (${outbound.reason})`);
  const audiences = AudiencesSchema.safeParse((env.ACCESS_AUD ?? "").split(",").map((tag) => tag.trim()).filter((tag) => tag.length > 0));
  if (!audiences.success) throw new ConfigurationError("configuration_error", "ACCESS_AUD must list the Access application's AUD tags (hex, comma-separated)");
  let rolesJson: unknown = {};
  if (env.ACCESS_ROLES) {
    try {
      rolesJson = parseStrictJson(env.ACCESS_ROLES);
    } catch (cause) {
      if (!(cause instanceof StrictJsonError)) throw cause;
      throw new ConfigurationError("configuration_error", `ACCESS_ROLES is not strict JSON (${cause.code})`, { cause });
    }
  }
  const roles = AccessRolesSchema.safeParse(rolesJson);
  if (!roles.success) throw new ConfigurationError("configuration_error", `ACCESS_ROLES: ${roles.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; ")}`);
  const mapping = new Map<MappedRole, { emails: ReadonlySet<string>; groups: ReadonlySet<string> }>();
  for (const role of MAPPED_ROLES) {
    const rule = roles.data[role];
    if (rule) mapping.set(role, { emails: new Set(rule.emails.map((email) => email.toLowerCase())), groups: new Set(rule.groups) });
  }
  return { issuer, certsUrl, audiences: audiences.data, roles: mapping };
}

/** The mapped roles of a verified person, in `MAPPED_ROLES` order. */
export function mappedRoles(identity: AccessIdentity, config: AccessConfig): MappedRole[] {
  return MAPPED_ROLES.filter((role) => {
    const rule = config.roles.get(role);
    return rule !== undefined && (rule.emails.has(identity.email) || identity.groups.some((group) => rule.groups.has(group)));
  });
}

/** How long an isolate trusts the key set it fetched, and how soon an unknown `kid` may fetch it again. */
export const ACCESS_KEYS_MAX_AGE_MS = 10 * 60_000;
export const ACCESS_KEYS_REFETCH_MS = 30_000;
/** A team publishes a handful of keys; anything far larger is not its key set. */
const MAX_CERTS_BYTES = 64 * 1024;

interface CachedKeys {
  fetchedAt: number;
  keys: JWTVerifyGetKey;
}

/** Key sets by certificate URL: fetched once per isolate, refreshed when old or when a token names an unknown key. */
const keySets = new Map<string, CachedKeys>();

const CertsSchema = z.object({
  keys: z
    .array(z.object({ kty: z.literal("RSA"), kid: z.string().min(1).max(256), n: z.string().max(2048), e: z.string().max(16), alg: z.literal("RS256").optional(), use: z.literal("sig").optional() }))
    .min(1)
    .max(32),
});

async function fetchKeys(config: AccessConfig, io: AccessIo): Promise<CachedKeys> {
  let response: Response;
  try {
    response = await io.fetch(new Request(config.certsUrl, { headers: { accept: "application/json" } }));
  } catch (cause) {
    throw new WardenError("access_unavailable", `the Access key set could not be fetched from ${config.certsUrl}`, { cause });
  }
  if (response.status !== 200) {
    await response.body?.cancel();
    throw new WardenError("access_unavailable", `the Access key set answered ${response.status}`);
  }
  const bytes = new Uint8Array(await response.arrayBuffer());
  if (bytes.length > MAX_CERTS_BYTES) throw new WardenError("access_unavailable", "the Access key set is too large");
  let certs;
  try {
    certs = CertsSchema.parse(parseStrictJson(bytes));
  } catch (cause) {
    throw new WardenError("access_unavailable", "the Access key set is not a JWK Set of RS256 keys", { cause });
  }
  const cached = { fetchedAt: io.now, keys: createLocalJWKSet({ keys: certs.keys.map((key) => ({ ...key, alg: "RS256", use: "sig" })) }) };
  keySets.set(config.certsUrl, cached);
  return cached;
}

/** What verification reaches outside: the clock and the network. */
export interface AccessIo {
  now: number;
  fetch(request: Request): Promise<Response>;
}

/**
 * Verifies an Access application token: RS256 only, a key of the team's set, the team as issuer,
 * one of the configured audiences, `exp`/`nbf` against `now`, type `app`, and a person's e-mail.
 * Each refusal has its own code (docs/people.md); nothing of the token is trusted before.
 */
export async function verifyAccessToken(token: string, config: AccessConfig, io: AccessIo): Promise<AccessIdentity> {
  let header;
  try {
    // Two equal claims are refused here rather than read as jose's JSON.parse would read them.
    ({ header } = strictJwsParts(token));
  } catch (cause) {
    if (!(cause instanceof JwsShapeError)) throw cause;
    throw new VerificationError("access_token_invalid", `the Access token is not a strict JWS (${cause.code})`, { cause });
  }
  if (header["alg"] !== "RS256") throw new VerificationError("access_token_invalid", "Access tokens are RS256");
  let keys = keySets.get(config.certsUrl);
  if (!keys || io.now - keys.fetchedAt >= ACCESS_KEYS_MAX_AGE_MS || io.now < keys.fetchedAt) keys = await fetchKeys(config, io);
  let payload;
  try {
    payload = await verifyWith(token, config, keys.keys, io.now);
  } catch (error) {
    // A key the team added since the set was fetched: fetch again, at most once per cool-down.
    if (!(error instanceof joseErrors.JWKSNoMatchingKey) || io.now - keys.fetchedAt < ACCESS_KEYS_REFETCH_MS) throw refusal(error);
    try {
      payload = await verifyWith(token, config, (await fetchKeys(config, io)).keys, io.now);
    } catch (again) {
      throw refusal(again);
    }
  }
  const { email, sub, type, groups } = payload as { email?: unknown; sub?: unknown; type?: unknown; groups?: unknown };
  if (type !== "app") throw new VerificationError("access_token_invalid", "not an Access application token");
  // A service token's assertion names no person: people only here.
  if (typeof email !== "string" || !z.email().safeParse(email).success || typeof sub !== "string" || sub.length === 0) {
    throw new VerificationError("access_token_invalid", "the Access token names no person");
  }
  const groupNames = Array.isArray(groups) ? groups.filter((group): group is string => typeof group === "string") : [];
  return { email: email.toLowerCase(), sub, groups: groupNames };
}

async function verifyWith(token: string, config: AccessConfig, keys: JWTVerifyGetKey, now: number) {
  const { payload } = await jwtVerify(token, keys, {
    algorithms: ["RS256"],
    issuer: config.issuer,
    audience: [...config.audiences],
    currentDate: new Date(now),
    requiredClaims: ["exp", "iat", "iss", "aud", "sub"],
  });
  return payload;
}

/** jose's refusal as Warden's code; the message names jose's code for the log. */
function refusal(error: unknown): WardenError {
  if (error instanceof WardenError) return error;
  if (error instanceof joseErrors.JWTExpired) return new VerificationError("access_token_expired", "the Access token has expired", { cause: error });
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    if (error.claim === "aud") return new VerificationError("access_audience_mismatch", "the Access token is for another application", { cause: error });
    if (error.claim === "iss") return new VerificationError("access_issuer_mismatch", "the Access token is from another issuer", { cause: error });
  }
  if (error instanceof joseErrors.JWKSNoMatchingKey) return new VerificationError("access_key_unknown", "the Access token is signed by a key the team does not publish", { cause: error });
  const code = error instanceof joseErrors.JOSEError ? error.code : "unparseable";
  return new VerificationError("access_token_invalid", `the Access token does not verify (${code})`, { cause: error });
}
