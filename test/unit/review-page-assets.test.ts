/**
 * The reviewer page's WebAuthn client is @simplewebauthn/browser as the package ships it, served
 * by the worker and loaded under the page's nonce; nothing else is loaded from anywhere.
 */
import { SELF } from "cloudflare:test";
import { expect, it } from "vitest";
import { WEBAUTHN_CLIENT } from "../../worker/review/page.ts";

it("serves @simplewebauthn/browser's bundle as JavaScript", async () => {
  const response = await SELF.fetch(`https://warden.test${WEBAUTHN_CLIENT.path}`);
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toContain("text/javascript");
  const text = await response.text();
  expect(text).toMatch(/^\/\* \[@simplewebauthn\/browser@\d+\.\d+\.\d+\] \*\//);
  expect(text).toContain("SimpleWebAuthnBrowser");
});

it.each(["/review", "/review/enroll"])("%s loads the client and its own script under one nonce, and nothing else", async (path) => {
  const response = await SELF.fetch(`https://warden.test${path}`);
  expect(response.status).toBe(200);
  const nonce = /script-src 'nonce-([^']+)'/.exec(response.headers.get("content-security-policy") ?? "")?.[1];
  expect(nonce).toBeTruthy();
  const html = await response.text();
  const scripts = [...html.matchAll(/<script([^>]*)>/g)].map((match) => match[1]!);
  expect(scripts).toEqual([` nonce="${nonce}" src="${WEBAUTHN_CLIENT.path}"`, ` nonce="${nonce}"`]);
  expect(html).toContain("SimpleWebAuthnBrowser");
  expect(html).not.toMatch(/navigator\.credentials/);
});

it.each([
  ["/review", "https://warden.test/review"],
  ["/review/enroll", "https://warden.test/review/enroll"],
])("%s opened at another origin than REVIEW_ORIGIN says where passkeys work", async (path, target) => {
  // 127.0.0.1 for localhost is the common case: a browser refuses an IP address as RP ID.
  const elsewhere = await (await SELF.fetch(`http://127.0.0.1:8787${path}`)).text();
  expect(elsewhere).toContain(`<a id="origin-link" href="${target}">`);
  const here = await (await SELF.fetch(`https://warden.test${path}`)).text();
  expect(here).not.toContain("origin-notice");
});
