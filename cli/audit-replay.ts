import "./cedar-node.ts";
import { BundleError, publisherKeys, unverifiedArtifact, verifyBundleArtifact } from "../worker/policy/artifact.ts";
import { openBundle, type CompiledBundle } from "../worker/policy/bundle.ts";
import { checkPrecompiled } from "../worker/policy/compile.ts";

/**
 * The bundle side of `warden audit verify --replay`: each artifact given is taken as activation
 * takes it — signature, key and body verified with the publisher keys the auditor trusts, the
 * sources compiled again and compared with the signed index and policy lines — and opened as an
 * isolate opens it, by the worker's own functions. Loaded on demand, so a verify without
 * `--replay` never loads Cedar.
 */

/** An artifact that does not verify: the replay cannot stand on it. */
export class ArtifactRefused extends Error {
  constructor(
    readonly file: string,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/**
 * Verifies, checks and opens every artifact, by digest. Validity is judged at the artifact's own
 * `created_at`: an export is often verified after the bundles it names expired, and what the
 * signature proves does not expire with them.
 */
export async function loadReplayBundles(artifacts: readonly { file: string; bytes: Uint8Array }[], publisherJwks: string): Promise<Map<string, CompiledBundle>> {
  const keys = await publisherKeys(publisherJwks);
  const bundles = new Map<string, CompiledBundle>();
  for (const { file, bytes } of artifacts) {
    try {
      // Read first only for its creation time; everything used is what verifyBundleArtifact returns.
      const createdAt = Date.parse(unverifiedArtifact(bytes).statement.created_at);
      const artifact = await verifyBundleArtifact(bytes, keys, createdAt);
      checkPrecompiled(artifact);
      bundles.set(artifact.statement.digest, openBundle(artifact));
    } catch (error) {
      if (!(error instanceof BundleError)) throw error;
      throw new ArtifactRefused(file, error.code, `${file}: ${error.message}`);
    }
  }
  return bundles;
}
