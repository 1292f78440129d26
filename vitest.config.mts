import { generateKeyPairSync, randomBytes } from "node:crypto";
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

// Keys and bootstrap tokens are made afresh for every run, so no test depends
// on a secret that exists outside it.
const signingKey = generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" });

export default defineConfig({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: "./wrangler.jsonc" },
      miniflare: {
        bindings: {
          SIGNING_KEY: JSON.stringify(signingKey),
          ADMIN_TOKEN: randomBytes(32).toString("base64url"),
          AUDITOR_TOKEN: randomBytes(32).toString("base64url"),
          BUNDLE_REFRESH_SECONDS: "0",
        },
      },
    }),
  ],
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
  },
});
