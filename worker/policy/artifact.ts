import { createHash } from "node:crypto";
import { z } from "zod";
import { canonicalJson, type JsonValue } from "../log/canonical.ts";

// Kept apart from the compiler (bundle.ts) so that Node tools can build documents without loading cedar-wasm.

/** The parts a bundle is made of, as authored in `policy-bundles/<name>/`. */
export interface BundleSources {
  policies: string;
  schema: string;
  manifest: JsonValue;
}

/** A bundle as stored in R2: its parts and the digest that names them together. */
export const BundleDocumentSchema = z.strictObject({
  format: z.literal("warden.bundle.v1"),
  digest: z.string().regex(/^sha256:[0-9a-f]{64}$/),
  policies: z.string().max(4 * 1024 * 1024),
  schema: z.string().max(1024 * 1024),
  manifest: z.json(),
});
export type BundleDocument = z.infer<typeof BundleDocumentSchema>;

/** SHA-256 over the canonical JSON of all parts together, so parts of different bundles cannot be mixed. */
export function bundleDigest(sources: BundleSources): string {
  const canonical = canonicalJson({ policies: sources.policies, schema: sources.schema, manifest: sources.manifest });
  return `sha256:${createHash("sha256").update(canonical).digest("hex")}`;
}

export function bundleDocument(sources: BundleSources): BundleDocument {
  return { format: "warden.bundle.v1", digest: bundleDigest(sources), ...sources, manifest: sources.manifest as BundleDocument["manifest"] };
}

