import { BundleDocumentSchema } from "./artifact.ts";
import { BundleError, compileBundle, type CompiledBundle } from "./bundle.ts";

export type ActiveBundle =
  | { ok: true; bundle: CompiledBundle }
  | { ok: false; code: "no_active_bundle" | "bundle_invalid"; detail: string };

/** R2 key of the document naming the tenant's active bundle. */
export function activeBundleKey(tenant: string): string {
  return `${tenant}/bundles/active.json`;
}

interface CachedPointer {
  checkedAt: number;
  etag: string | null;
  result: ActiveBundle;
}

const pointers = new Map<string, CachedPointer>();
/** Compiled bundles by digest: parsing, validation and indexing happen once per isolate and version. */
const compiled = new Map<string, CompiledBundle>();

/**
 * The tenant's active bundle. The R2 pointer is re-read at most every
 * `refreshSeconds` and only re-parsed when its etag changes, so the decision
 * path normally costs a map lookup.
 */
export async function activeBundle(bucket: R2Bucket, tenant: string, refreshSeconds: number, now: number): Promise<ActiveBundle> {
  const cached = pointers.get(tenant);
  if (cached && now - cached.checkedAt < refreshSeconds * 1000) return cached.result;
  const object = await bucket.get(activeBundleKey(tenant), cached?.etag ? { onlyIf: { etagDoesNotMatch: cached.etag } } : {});
  let pointer: CachedPointer;
  if (object === null) {
    pointer = { checkedAt: now, etag: null, result: { ok: false, code: "no_active_bundle", detail: "no bundle has been activated" } };
  } else if (!("body" in object) && cached) {
    pointer = { ...cached, checkedAt: now };
  } else {
    const text = "body" in object ? await object.text() : "";
    pointer = { checkedAt: now, etag: object.etag, result: load(text) };
  }
  pointers.set(tenant, pointer);
  return pointer.result;
}

function load(text: string): ActiveBundle {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, code: "bundle_invalid", detail: "the active bundle is not JSON" };
  }
  const document = BundleDocumentSchema.safeParse(json);
  if (!document.success) return { ok: false, code: "bundle_invalid", detail: "the active bundle is not a warden.bundle.v1 document" };
  const known = compiled.get(document.data.digest);
  if (known) return { ok: true, bundle: known };
  try {
    const bundle = compileBundle(document.data);
    compiled.set(bundle.digest, bundle);
    return { ok: true, bundle };
  } catch (error) {
    if (error instanceof BundleError) return { ok: false, code: "bundle_invalid", detail: [error.message, ...error.details].join("; ") };
    throw error;
  }
}
