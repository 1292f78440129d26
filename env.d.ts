import type { BundleRegistry } from "./durable-objects/BundleRegistry.ts";
import type { DeviceLog } from "./durable-objects/DeviceLog.ts";
import type { EventFeed } from "./durable-objects/EventFeed.ts";
import type { EventMessage } from "./worker/events/message.ts";
import type { ReviewHolds } from "./durable-objects/ReviewHolds.ts";
import type { ReviewOutbox } from "./durable-objects/ReviewOutbox.ts";
import type { ReviewerRegistry } from "./durable-objects/ReviewerRegistry.ts";
import type { ConsentLedger } from "./durable-objects/ConsentLedger.ts";
import type { AgentRegistry } from "./durable-objects/AgentRegistry.ts";

declare global {
  namespace Cloudflare {
    interface Env extends WardenEnv {}
  }
  interface Env extends WardenEnv {}
  /** Bindings and configuration of the Warden worker (wrangler.jsonc, secrets, .dev.vars). */
  interface WardenEnv {
    DEVICES: DurableObjectNamespace<DeviceLog>;
    BUNDLE_REGISTRY: DurableObjectNamespace<BundleRegistry>;
    /** One per tenant: holds awaiting review, their verdicts and the deadline alarm. */
    REVIEW_HOLDS: DurableObjectNamespace<ReviewHolds>;
    /** One per tenant: reviewers, their passkeys and sign-in challenges. */
    REVIEWERS: DurableObjectNamespace<ReviewerRegistry>;
    /** One per tenant: delivers review evidence to device logs and signed webhooks. */
    REVIEW_OUTBOX: DurableObjectNamespace<ReviewOutbox>;
    /** One per tenant: consent records, their hash-chained history, and which devices each actor uses. */
    CONSENTS: DurableObjectNamespace<ConsentLedger>;
    /** One per tenant: the agent registry (what each agent is, its risk, owner and approved builds). */
    AGENTS: DurableObjectNamespace<AgentRegistry>;
    /** Exact origin of the reviewer page (`https://warden.example.com`); passkey assertions must come from it. */
    REVIEW_ORIGIN?: string;
    /** WebAuthn RP ID: REVIEW_ORIGIN's host or a parent domain of it. */
    REVIEW_RP_ID?: string;
    /** Where new holds, escalations, expiries and cancellations are POSTed (signed); unset, none are sent. */
    REVIEW_WEBHOOK_URL?: string;
    /** HMAC-SHA256 key of the `Warden-Signature` header on review webhooks. Secret. */
    REVIEW_WEBHOOK_SECRET?: string;
    /** Jira Cloud base URL (`https://acme.atlassian.net`), for tiers whose manifest asks for a Jira issue. */
    JIRA_URL?: string;
    /** The Jira account (email) Warden opens issues as. */
    JIRA_USER?: string;
    /** That account's API token. Secret. */
    JIRA_API_TOKEN?: string;
    /** ServiceNow instance base URL (`https://acme.service-now.com`), for tiers whose manifest asks for an incident. */
    SERVICENOW_URL?: string;
    /** The ServiceNow integration user Warden opens incidents as. */
    SERVICENOW_USER?: string;
    /** That user's password. Secret. */
    SERVICENOW_PASSWORD?: string;
    /**
     * `true` lets outbound endpoints (webhooks, ticketing services, SIEM sinks) be http or local addresses,
     * for services on a developer's machine; unset, only https to public addresses. Never in production.
     */
    OUTBOUND_DEVELOPMENT?: string;
    /** Signed bundle artifacts and each tenant's deployment pointer. */
    BUNDLES: R2Bucket;
    /** JWK Set of the Ed25519 publisher keys whose bundle artifacts may be activated. */
    PUBLISHER_KEYS: string;
    TENANT: string;
    /** Seconds an isolate trusts its copy of the active-bundle pointer before re-reading R2. */
    BUNDLE_REFRESH_SECONDS: string;
    /** Ed25519 private JWK (JSON) that signs session and action tokens. Secret. */
    SIGNING_KEY: string;
    /** Bootstrap bearer token of the admin role: local development and first setup only (docs/people.md). Secret. */
    ADMIN_TOKEN: string;
    /** Cloudflare Access team origin (`https://<team>.cloudflareaccess.com`); unset, no person signs in through Access. */
    ACCESS_TEAM_DOMAIN?: string;
    /** AUD tag(s) of the Access application in front of Warden, comma-separated. */
    ACCESS_AUD?: string;
    /** JSON: for each of admin, auditor, privacy-officer, reviewer, the `emails` and `groups` that hold it. */
    ACCESS_ROLES?: string;
    /**
     * AMD KDS base URL (https; https://kdsintf.amd.com when unset, as wrangler.jsonc sets it): asked for the CRL of a
     * SEV-SNP report's product and key type when neither the request nor the R2 cache has a current one, and for a VCEK a
     * request lacks. Empty (or not https) turns it off: SEV-SNP evidence then verifies only with a CRL from the request
     * or the cache.
     */
    AMD_KDS_URL?: string;
    /** Intel PCS base URL (https); unset, TDX collateral comes only from requests and the verified cache. */
    INTEL_PCS_URL?: string;
    /** Bootstrap bearer token of the auditor role: local development and first setup only. Secret. */
    AUDITOR_TOKEN: string;
    /** Bootstrap bearer token of the privacy-officer role: local development and first setup only. Secret. */
    PRIVACY_OFFICER_TOKEN?: string;
    /** JWK Set of the Ed25519 keys whose signed statements approve agent builds (`warden agent sign`). */
    ARTIFACT_KEYS?: string;
    /** Seconds an isolate trusts its copy of the agent registry before re-reading R2 (default 5). */
    AGENT_REFRESH_SECONDS?: string;
    /** Seconds an isolate trusts its listing of the log keys in the archive, for /.well-known/warden-log-keys.json (default 300). */
    LOG_KEYS_REFRESH_SECONDS?: string;
    /** Sealed log segments (create-only objects); a bucket lock in production. */
    ARCHIVE: R2Bucket;
    /**
     * Tokenised values of decisions (docs/privacy.md): AES-GCM ciphertexts under `<tenant>/vault/<device>/`.
     * Its own bucket, unlocked: values are deleted when their retention ends, which the archive's lock forbids.
     */
    VAULT: R2Bucket;
    /** JWK Set of oct keys (≥ 32 bytes, each with a kid): the first hashes and encrypts, all decrypt (rotation). Secret. */
    VAULT_KEYS?: string;
    /** JSON retention per record kind, with per-tenant overrides (docs/privacy.md › Retention); unset, the defaults. */
    RETENTION?: string;
    /** Ed25519 private JWK (JSON) that signs log checkpoints and export manifests. Secret. */
    LOG_SIGNING_KEY: string;
    /** During a log key rotation: the retiring key, which co-signs the rotation entry. Secret. */
    LOG_SIGNING_KEY_PREVIOUS?: string;
    /** base64url of ≥ 32 random bytes: the key of the chained HMAC on log entries. Secret. */
    LOG_HMAC_KEY?: string;
    /** Schema-less URL every device log's checkpoint origin starts with (`<LOG_ORIGIN>/<tenant>/<device>`). */
    LOG_ORIGIN?: string;
    /** Sign a checkpoint once this many entries are unsigned (default 256)… */
    LOG_CHECKPOINT_ENTRIES?: string;
    /** …or once the oldest unsigned entry is this many seconds old (default 10). */
    LOG_CHECKPOINT_SECONDS?: string;
    /** Seal an archive segment at this many entries (default 1024)… */
    ARCHIVE_SEGMENT_ENTRIES?: string;
    /** …or once its oldest entry is this many minutes old (default 60). */
    ARCHIVE_SEGMENT_MINUTES?: string;
    /** One per tenant: the ordered, gap-free feed of OCSF events (`GET /v1/events`) and its push to the queue. */
    EVENT_FEED: DurableObjectNamespace<EventFeed>;
    /** Producer binding of the `warden-events` queue; this worker consumes it and delivers to the sinks. */
    EVENTS_QUEUE: Queue<EventMessage>;
    /** JSON list of SIEM/SOAR sinks: `[{name, kind: "webhook" | "splunk_hec" | "elastic_bulk", url, index?}]` (docs/events.md). */
    EVENT_SINKS?: string;
    /** JSON object, sink name → its secret (webhook HMAC key, HEC token, Elastic API key). Secret. */
    EVENT_SINK_SECRETS?: string;
    /** Days the pull feed keeps events that were pushed (default 7). */
    EVENT_RETENTION_DAYS?: string;
    /** Seconds before a failed delivery to a sink is retried (default 30). */
    EVENT_RETRY_SECONDS?: string;
    /** Witnesses asked to cosign every checkpoint (JSON): `[{"vkey": "<name>+<id>+<key>", "url": "https://…"}]` (C2SP tlog-witness). */
    WITNESSES?: string;
    /** A service binding to a witness worker (the project's own, witness/): witness requests go to it instead of the network. */
    WITNESS?: Fetcher;
  }
}
