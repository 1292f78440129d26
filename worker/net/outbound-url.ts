import { canonicalizeUrl, type CanonicalUrl } from "../policy/targets.ts";

/** Why an outbound endpoint (a SIEM sink, a ticketing service, a webhook) was refused. */
export type OutboundRefusal = "not_a_url" | "not_https" | "private_address" | "credentials_in_url";

/**
 * Checks an endpoint Warden is configured to send to. In production only https, and never a
 * loopback, private, link-local or otherwise non-public address (a sink URL pointing inside the
 * network would turn Warden into a request forwarder); `development` allows http and local
 * addresses, for a sink on the same machine. Hostnames are judged as written: a name that
 * resolves to a private address is the DNS operator's decision, outside what Warden can see.
 */
export function checkOutboundUrl(raw: string, options: { development: boolean }): { ok: true; url: CanonicalUrl } | { ok: false; reason: OutboundRefusal } {
  const parsed = canonicalizeUrl(raw);
  if (!parsed.ok) return { ok: false, reason: parsed.reason === "url_credentials" ? "credentials_in_url" : "not_a_url" };
  const url = parsed.value;
  if (url.scheme !== "https" && url.scheme !== "http") return { ok: false, reason: "not_a_url" };
  if (options.development) return { ok: true, url };
  if (url.scheme !== "https") return { ok: false, reason: "not_https" };
  if (isNonPublicHost(url.host)) return { ok: false, reason: "private_address" };
  return { ok: true, url };
}

/** Loopback, private (RFC 1918, RFC 4193), link-local, CGNAT, unspecified and local names. */
function isNonPublicHost(host: string): boolean {
  if (host === "localhost" || host.endsWith(".localhost") || host.endsWith(".local") || host.endsWith(".internal")) return true;
  const v4 = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(host);
  if (v4) {
    const [a, b] = [Number(v4[1]), Number(v4[2])];
    return a === 0 || a === 10 || a === 127 || (a === 100 && b >= 64 && b <= 127) || (a === 169 && b === 254) || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || a >= 224;
  }
  if (host.startsWith("[")) {
    const v6 = host.slice(1, -1).toLowerCase();
    if (v6 === "::" || v6 === "::1") return true;
    // IPv4-mapped (::ffff:a.b.c.d, written by WHATWG as ::ffff:xxxx:xxxx) is judged as its IPv4 address.
    const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(v6);
    if (mapped) {
      const high = Number.parseInt(mapped[1] as string, 16);
      const low = Number.parseInt(mapped[2] as string, 16);
      return isNonPublicHost(`${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`);
    }
    return /^f[cd]/.test(v6) || /^fe[89ab]/.test(v6) || /^ff/.test(v6);
  }
  return false;
}

/** `OUTBOUND_DEVELOPMENT=true` allows http and local addresses, for services on the developer's machine. */
export function outboundDevelopment(env: Pick<Env, "OUTBOUND_DEVELOPMENT">): boolean {
  return env.OUTBOUND_DEVELOPMENT === "true";
}
