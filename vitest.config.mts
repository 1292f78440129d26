import { createHash, generateKeyPairSync, randomBytes } from "node:crypto";
import { buildSync } from "esbuild";
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { configDefaults, defineConfig } from "vitest/config";
import { outbound } from "./test/setup/outbound.ts";
import { JIRA_API_TOKEN, JIRA_HOST, JIRA_USER, SERVICENOW_HOST, SERVICENOW_PASSWORD, SERVICENOW_USER, ticketSink } from "./test/setup/ticket-services.ts";
import { webhookSink } from "./test/setup/webhook-sink.ts";
import { tpmHostBinding } from "./test/setup/tpm-binding.ts";
import { vendorServices } from "./test/setup/vendor-services.ts";
import { AMD_KDS_HOST, amdKds } from "./test/setup/amd-kds.ts";
import { SIEM_SECRETS, SIEM_SINKS, siemSink } from "./test/setup/siem-sink.ts";
import { ACCESS_AUD, ACCESS_TEAM_HOST, accessIssuerControl, accessPrivateJwk } from "./test/setup/access-issuer.ts";

// Keys and bootstrap tokens are made afresh for every run, so no test depends
// on a secret that exists outside it.
const signingKey = generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" });
const publisherKey = generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" });
const { d: _private, ...publisherPublic } = publisherKey;
const logSigningKey = generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" });
const artifactKey = generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" });
const { d: _artifactPrivate, ...artifactPublic } = artifactKey;

// The witness (witness/index.ts) runs as a second worker with its own Durable Object, reached
// through the WITNESS service binding. Auxiliary workers are not transformed by Vite, so it is
// bundled here first; its key is made afresh, and it follows the logs this run's log key signs.
const witnessKey = generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" });
const WITNESS_NAME = "witness.warden.test/w1";
const witnessScript = buildSync({ entryPoints: ["witness/index.ts"], bundle: true, format: "esm", platform: "neutral", write: false, outfile: "witness.mjs", external: ["node:*", "cloudflare:*"], logLevel: "error" }).outputFiles[0]!.text;
const witnessVkey = `${WITNESS_NAME}+${cosignatureKeyIdHex(WITNESS_NAME, Buffer.from(witnessKey.x as string, "base64url"))}+${Buffer.concat([Buffer.of(4), Buffer.from(witnessKey.x as string, "base64url")]).toString("base64")}`;

/** tlog-cosignature key ID: SHA-256(name ‖ "\n" ‖ 0x04 ‖ key)[:4], hex (worker/log/witness.ts computes the same). */
function cosignatureKeyIdHex(name: string, key: Buffer): string {
  return createHash("sha256").update(name).update(Buffer.of(0x0a, 0x04)).update(key).digest().subarray(0, 4).toString("hex");
}

export default defineConfig({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: "./wrangler.jsonc" },
      // The production entry with the tests' seam into Durable Object I/O (test/worker.ts).
      main: "./test/worker.ts",
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
          // Reviewer passkeys are bound to the tests' origin; webhooks go to test/setup/webhook-sink.ts.
          REVIEW_ORIGIN: "https://warden.test",
          REVIEW_RP_ID: "warden.test",
          REVIEW_WEBHOOK_URL: "https://hooks.warden.test/review",
          REVIEW_WEBHOOK_SECRET: randomBytes(32).toString("base64url"),
          // Tickets go to the stand-ins in test/setup/ticket-services.ts.
          JIRA_URL: `https://${JIRA_HOST}`,
          JIRA_USER,
          JIRA_API_TOKEN,
          SERVICENOW_URL: `https://${SERVICENOW_HOST}`,
          SERVICENOW_USER,
          SERVICENOW_PASSWORD,
          // OCSF events of the `siem-` tenants go to test/setup/siem-sink.ts; failed deliveries retry at once.
          EVENT_SINKS: JSON.stringify(SIEM_SINKS),
          EVENT_SINK_SECRETS: JSON.stringify(SIEM_SECRETS),
          EVENT_RETRY_SECONDS: "0",
          PRIVACY_OFFICER_TOKEN: randomBytes(32).toString("base64url"),
          // Masking and the vault (docs/privacy.md): the first key writes; tests rotate by putting another first.
          VAULT_KEYS: JSON.stringify({ keys: [{ kty: "oct", kid: "vault-1", k: randomBytes(32).toString("base64url") }] }),
          // People through Access: the team is test/setup/access-issuer.ts; tests sign its tokens with TEST_ACCESS_KEY.
          ACCESS_TEAM_DOMAIN: `https://${ACCESS_TEAM_HOST}`,
          ACCESS_AUD,
          ACCESS_ROLES: JSON.stringify({
            admin: { emails: ["admin@example.com"], groups: ["warden-admins"] },
            auditor: { emails: ["auditor@example.com"] },
            "privacy-officer": { emails: ["dpo@example.com"] },
            reviewer: { groups: ["warden-reviewers"] },
          }),
          TEST_ACCESS_KEY: JSON.stringify(accessPrivateJwk),
          // Agent builds approved in tests are signed with TEST_ARTIFACT_KEY; decisions read the registry afresh.
          ARTIFACT_KEYS: JSON.stringify({ keys: [artifactPublic] }),
          TEST_ARTIFACT_KEY: JSON.stringify(artifactKey),
          AGENT_REFRESH_SECONDS: "0",
          // A key a test's log signs with through the I/O seam (never configured) is published at once.
          LOG_KEYS_REFRESH_SECONDS: "0",
          // Test-only: the witness's verifier key, for tests that configure a log to be witnessed.
          TEST_WITNESS_VKEY: witnessVkey,
          // AMD KDS is the local one (test/setup/amd-kds.ts), in a scope where nothing is served: no test asks AMD.
          // Tests that need CRLs give their tenant a scope of their own.
          AMD_KDS_URL: `https://${AMD_KDS_HOST}/unserved`,
        },
        outboundService: outbound,
        serviceBindings: { WEBHOOK_SINK: webhookSink, TICKETS: ticketSink, SIEM_SINK: siemSink, TPM_HOST: tpmHostBinding, VENDOR_SERVICES: vendorServices, AMD_KDS: amdKds, ACCESS_ISSUER: accessIssuerControl, WITNESS: "warden-witness" },
        // Deliveries are batched for a tenth of a second and retried three times before the dead-letter queue.
        queueConsumers: {
          "warden-events": { maxBatchSize: 100, maxBatchTimeout: 0.1, maxRetries: 3, deadLetterQueue: "warden-events-dlq" },
          "warden-events-dlq": { maxBatchSize: 100, maxBatchTimeout: 0.1 },
        },
        workers: [
          {
            name: "warden-witness",
            modules: [{ type: "ESModule", path: "witness.mjs", contents: witnessScript }],
            compatibilityDate: "2026-04-01",
            compatibilityFlags: ["nodejs_compat"],
            durableObjects: { WITNESS_LOGS: { className: "WitnessLog", useSQLite: true } },
            bindings: {
              WITNESS_NAME,
              WITNESS_SIGNING_KEY: JSON.stringify(witnessKey),
              WITNESS_LOGS_CONFIG: JSON.stringify([{ origin_prefix: "warden.example.com/log/", keys: [{ kty: "OKP", crv: "Ed25519", x: logSigningKey.x }] }]),
            },
          },
        ],
      },
    }),
  ],
  test: {
    include: ["test/**/*.test.ts"],
    // test/node/ runs in Node against wrangler dev (vitest.node.config.mts), not in workerd.
    exclude: [...configDefaults.exclude, "test/node/**"],
    testTimeout: 30_000,
    // A loopback host in front of real software TPMs (swtpm + tpm2-tools), made on first use.
    // A local AMD KDS over loopback HTTP, serving the CRLs and VCEKs tests put in their scopes (test/setup/amd-kds.ts).
    // Every OCSF event the suite produces is validated; the run fails on any invalid one (test/setup/ocsf-audit.ts).
    globalSetup: ["test/setup/swtpm.ts", "test/setup/amd-kds.ts", "test/setup/ocsf-audit.ts"],
  },
});
