import "./cedar-node.ts";
import { BundleError, publisherKeys, verifyBundleArtifact } from "../worker/policy/artifact.ts";
import { compileBundle, type CompiledBundle } from "../worker/policy/bundle.ts";
import { JwsShapeError, strictJwsParts } from "../worker/tokens/jws.ts";

/**
 * The bundle side of `warden audit verify --replay`: each artifact given is verified with the
 * publisher keys the auditor trusts — signature, key, digest, as activation verifies it — and
 * compiled by the worker's own compiler. Loaded on demand, so a verify without `--replay` never
 * loads Cedar.
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
 * Verifies and compiles every artifact, by digest. Validity is judged at the artifact's own
 * `created_at`: an export is often verified after the bundles it names expired, and what the
 * signature proves does not expire with them.
 */
export async function loadReplayBundles(artifacts: readonly { file: string; text: string }[], publisherJwks: string): Promise<Map<string, CompiledBundle>> {
  const keys = await publisherKeys(publisherJwks);
  const bundles = new Map<string, CompiledBundle>();
  for (const { file, text } of artifacts) {
    const artifact = text.trim();
    let createdAt: number;
    try {
      createdAt = Date.parse(String(strictJwsParts(artifact).payload["created_at"]));
    } catch (error) {
      if (!(error instanceof JwsShapeError)) throw error;
      throw new ArtifactRefused(file, "bundle_malformed", `${file} is not a compact JWS (${error.code})`);
    }
    try {
      const statement = await verifyBundleArtifact(artifact, keys, Number.isFinite(createdAt) ? createdAt : 0);
      bundles.set(statement.digest, compileBundle(statement));
    } catch (error) {
      if (!(error instanceof BundleError)) throw error;
      throw new ArtifactRefused(file, error.code, `${file}: ${error.message}`);
    }
  }
  return bundles;
}
