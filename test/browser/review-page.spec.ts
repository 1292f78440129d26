/**
 * The reviewer page in headless Chromium (Debian's, driven by playwright-core) with a CDP
 * virtual authenticator: enroll a passkey from the one-time link, sign in, approve a held
 * action from the keyboard — and the shim's wait then returns an action token.
 * Runs in Node against `wrangler dev` (test/wrangler-dev.ts); `npm test` runs it.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { WardenClient, generateDeviceKey } from "../../cli/client.ts";
import { startWarden, type LocalWarden } from "../wrangler-dev.ts";
import { CHROMIUM_ARGS, chromiumPath } from "./chromium.ts";

const ARTIFACTS = fileURLToPath(new URL("../artifacts/", import.meta.url));

let warden: LocalWarden;
let context: BrowserContext;
let userDataDir: string;

beforeAll(async () => {
  warden = await startWarden();
  userDataDir = mkdtempSync(join(tmpdir(), "warden-chromium-"));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: chromiumPath(),
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1100, height: 1400 },
  });
}, 90_000);

afterAll(async () => {
  await context?.close();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  await warden?.stop();
});

async function virtualAuthenticator(page: Page): Promise<void> {
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: { protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
}

it("registers a passkey, approves a held action with it, and the shim's wait returns a token", async () => {
  // A device whose action is held for review.
  const device = new WardenClient({ url: warden.api, deviceId: `laptop-${Date.now()}`, key: await generateDeviceKey("ES256") });
  expect((await device.register(warden.adminToken)).status).toBe(201);
  await device.openSession();
  const target = `/home/dev/workspace/.git/refs/heads/release-${Date.now()}`;
  const decided = await device.decide({ agent: { id: "claude-code", version: "2.1.0" }, action: { type: "file.delete", targets: [{ kind: "path", value: target }] } });
  expect(decided.body, JSON.stringify(decided.body)).toMatchObject({ decision: "review" });
  const review = decided.body.review!;

  // An admin registers the reviewer; the reviewer opens the one-time link.
  const created = await fetch(`${warden.api}/v1/reviewers`, {
    method: "POST",
    headers: { authorization: `Bearer ${warden.adminToken}`, "content-type": "application/json" },
    body: JSON.stringify({ id: "rita", display_name: "Rita Reviewer" }),
  });
  expect(created.status).toBe(201);
  const { enrollment } = (await created.json()) as { enrollment: { url: string } };

  const page = await context.newPage();
  await virtualAuthenticator(page);
  await page.goto(enrollment.url);
  await page.getByRole("button", { name: "Register passkey" }).click();
  await expect.poll(() => page.locator("#status").textContent(), { timeout: 15_000 }).toContain("Passkey registered");

  await page.getByRole("link", { name: /review queue/ }).click();
  await page.getByRole("button", { name: "Sign in with passkey" }).click();
  const hold = page.locator(`article[data-review-id="${review.id}"]`);
  await hold.waitFor({ timeout: 15_000 });
  await expect.poll(() => hold.textContent()).toContain(target);
  expect(await page.title()).toMatch(/pending/);

  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, "review-page.png"), fullPage: true });

  // From the keyboard: focus Approve and press Enter; the virtual authenticator signs.
  await hold.getByRole("button", { name: "Approve" }).focus();
  await page.keyboard.press("Enter");
  await expect.poll(() => page.locator("#status").textContent(), { timeout: 15_000 }).toContain(`Recorded: approve for ${review.id}`);
  await page.screenshot({ path: join(ARTIFACTS, "review-page-approved.png"), fullPage: true });

  const waited = await device.waitForReview(review.id, { timeoutMs: 10_000 });
  expect(waited.status).toBe(200);
  expect(waited.body).toMatchObject({ status: "approved", decision: "permit", released: true });
  expect(waited.body.token).toEqual(expect.any(String));
  expect((await device.redeem(waited.body.token!, { type: "file.delete", targets: [{ kind: "path", value: target }] })).status).toBe(200);
}, 90_000);
