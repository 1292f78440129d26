import type { DeviceLog } from "./durable-objects/DeviceLog.ts";

declare global {
  namespace Cloudflare {
    interface Env extends WardenEnv {}
  }
  interface Env extends WardenEnv {}
  /** Bindings and configuration of the Warden worker (wrangler.jsonc, secrets, .dev.vars). */
  interface WardenEnv {
    DEVICES: DurableObjectNamespace<DeviceLog>;
    BUNDLES: R2Bucket;
    TENANT: string;
    /** Seconds an isolate trusts its copy of the active-bundle pointer before re-reading R2. */
    BUNDLE_REFRESH_SECONDS: string;
    /** Ed25519 private JWK (JSON) that signs session and action tokens. Secret. */
    SIGNING_KEY: string;
    ADMIN_TOKEN: string;
    AUDITOR_TOKEN: string;
  }
}
