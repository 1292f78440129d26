/**
 * /docs in headless Chromium with the network blocked: every request that leaves the worker's
 * origin is refused (by a route handler, and by a host resolver that knows no other host), and
 * the page must still render Swagger UI with every operation of /openapi.json under its tag.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startWarden, type LocalWarden } from "../wrangler-dev.ts";
import { CHROMIUM_ARGS, chromiumPath } from "./chromium.ts";

const ARTIFACTS = fileURLToPath(new URL("../artifacts/", import.meta.url));

let warden: LocalWarden;
let browser: Browser;

beforeAll(async () => {
  warden = await startWarden();
  browser = await chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    // No name but the test server's resolves: a CDN reference could not load even past the route below.
    args: [...CHROMIUM_ARGS, "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"],
  });
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await warden?.stop();
});

it("renders every operation grouped by tag from the worker's own assets, offline", async () => {
  const origin = new URL(warden.url).origin;
  const document = (await (await fetch(`${warden.api}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>>; tags: { name: string }[] };
  const operationCount = Object.values(document.paths).reduce((sum, item) => sum + Object.keys(item).filter((key) => ["get", "post", "put", "delete", "patch"].includes(key)).length, 0);

  const context = await browser.newContext({ viewport: { width: 1200, height: 1600 } });
  const blocked: string[] = [];
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith(`${origin}/`) || url.startsWith("data:")) return route.continue();
    blocked.push(url);
    return route.abort("internetdisconnected");
  });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });

  await page.goto(`${warden.url}/docs`);
  const operations = page.locator(".opblock");
  await expect.poll(() => operations.count(), { timeout: 20_000 }).toBe(operationCount);
  const tags = await page.locator(".opblock-tag").evaluateAll((nodes) => nodes.map((node) => node.getAttribute("data-tag")));
  expect(tags).toEqual(document.tags.map((tag) => tag.name));
  // Operation ids are displayed (displayOperationId), so a generated client's method names show.
  await expect.poll(() => page.locator(".opblock-summary-operation-id").allTextContents()).toContain("decide");
  expect(await page.locator(".info .title").textContent()).toContain("Warden");

  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, "docs-page.png"), fullPage: false });
  expect(blocked, "requests that left the worker's origin").toEqual([]);
  expect(errors, "page errors").toEqual([]);
  await context.close();
}, 90_000);
