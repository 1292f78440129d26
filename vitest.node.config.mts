import { defineConfig } from "vitest/config";

// The agent hooks and the shim driven through the compiled CLI (dist/) as subprocesses, against
// `wrangler dev`: Node, not workerd (`npx vitest run --config vitest.node.config.mts`).
export default defineConfig({
  test: {
    include: ["test/node/**/*.test.ts"],
    environment: "node",
    globalSetup: ["test/node/setup.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    fileParallelism: false,
  },
});
