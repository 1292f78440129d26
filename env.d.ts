import type { BundleRegistry } from "./durable-objects/BundleRegistry.ts";
import type { DeviceLog } from "./durable-objects/DeviceLog.ts";
import type { ReviewHolds } from "./durable-objects/ReviewHolds.ts";
import type { ReviewOutbox } from "./durable-objects/ReviewOutbox.ts";
import type { ReviewerRegistry } from "./durable-objects/ReviewerRegistry.ts";

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
    /** Exact origin of the reviewer page (`https://warden.example.com`); passkey assertions must come from it. */
    REVIEW_ORIGIN?: string;
    /** WebAuthn RP ID: REVIEW_ORIGIN's host or a parent domain of it. */
    REVIEW_RP_ID?: string;
    /** Where escalations and expiries are POSTed (signed); unset, none are sent. */
    REVIEW_WEBHOOK_URL?: string;
    /** HMAC-SHA256 key of the `Warden-Signature` header on review webhooks. Secret. */
    REVIEW_WEBHOOK_SECRET?: string;
    /** Signed bundle artifacts and each tenant's deployment pointer. */
    BUNDLES: R2Bucket;
    /** JWK Set of the Ed25519 publisher keys whose bundle artifacts may be activated. */
    PUBLISHER_KEYS: string;
    TENANT: string;
    /** Seconds an isolate trusts its copy of the active-bundle pointer before re-reading R2. */
    BUNDLE_REFRESH_SECONDS: string;
    /** Ed25519 private JWK (JSON) that signs session and action tokens. Secret. */
    SIGNING_KEY: string;
    ADMIN_TOKEN: string;
    /** AMD KDS base URL (https); unset, SEV-SNP VCEKs come only from requests and the verified cache. */
    AMD_KDS_URL?: string;
    /** Intel PCS base URL (https); unset, TDX collateral comes only from requests and the verified cache. */
    INTEL_PCS_URL?: string;
    AUDITOR_TOKEN: string;
    /** Sealed log segments (create-only objects); a bucket lock in production. */
    ARCHIVE: R2Bucket;
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
    /** Witnesses asked to cosign every checkpoint (JSON): `[{"vkey": "<name>+<id>+<key>", "url": "https://…"}]` (C2SP tlog-witness). */
    WITNESSES?: string;
    /** A service binding to a witness worker (the project's own, witness/): witness requests go to it instead of the network. */
    WITNESS?: Fetcher;
  }
}
