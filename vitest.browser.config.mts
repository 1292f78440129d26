import { defineConfig } from "vitest/config";

// The reviewer page in headless Chromium against `wrangler dev`: runs in Node, not in
// workerd, so it has its own config (`npx vitest run --config vitest.browser.config.mts`).
export default defineConfig({
  test: {
    include: ["test/browser/**/*.spec.ts"],
    environment: "node",
    testTimeout: 90_000,
    hookTimeout: 90_000,
    fileParallelism: false,
  },
});
