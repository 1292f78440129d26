import type { ServiceContext } from "../context.ts";
import { WardenError } from "../errors.ts";
import { BundleError, unverifiedArtifact } from "../policy/artifact.ts";

/**
 * The signed artifact of a bundle a device log names by its digest (`policy` of a decision,
 * `bundle` of `history.adopted`), byte for byte as it was activated, for an auditor to verify
 * with the publisher keys and replay the log against (`warden audit verify --replay`).
 */
export async function bundleArtifact(ctx: ServiceContext, digest: string): Promise<Uint8Array<ArrayBuffer>> {
  const ref = await ctx.deps.bundleRegistry(ctx.env, ctx.env.TENANT).artifact(digest);
  if (!ref) throw new WardenError("not_found", `no bundle with digest ${digest} was ever activated`);
  const object = await ctx.env.BUNDLES.get(ref.key);
  if (!object) throw new WardenError("not_found", `the artifact of ${digest} is gone from ${ref.key}`);
  const artifact = new Uint8Array(await object.arrayBuffer());
  // The key is a version, which a later upload could reuse: only the bytes that carry this digest are its artifact.
  let statedDigest: string | null;
  try {
    statedDigest = unverifiedArtifact(artifact).statement.digest;
  } catch (error) {
    if (!(error instanceof BundleError)) throw error;
    statedDigest = null;
  }
  if (statedDigest !== digest) throw new WardenError("not_found", `the artifact at ${ref.key} no longer carries ${digest}`);
  return artifact;
}
