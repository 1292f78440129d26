import { generateKeyPairSync, randomBytes } from "node:crypto";
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

// Keys and bootstrap tokens are made afresh for every run, so no test depends
// on a secret that exists outside it.
const signingKey = generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" });
const publisherKey = generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" });
const { d: _private, ...publisherPublic } = publisherKey;
const logSigningKey = generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" });

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
          PUBLISHER_KEYS: JSON.stringify({ keys: [publisherPublic] }),
          // Test-only: lets tests sign bundle artifacts as the trusted publisher.
          TEST_PUBLISHER_KEY: JSON.stringify(publisherKey),
          LOG_SIGNING_KEY: JSON.stringify(logSigningKey),
          LOG_HMAC_KEY: randomBytes(32).toString("base64url"),
        },
      },
    }),
  ],
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
  },
});
