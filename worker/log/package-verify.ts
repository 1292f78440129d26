import { createHash } from "node:crypto";
import { WardenError } from "../errors.ts";
import { StrictJsonError, parseStrictJson } from "../json/strict.ts";
import { BundleError, artifactSources, unverifiedArtifact, verifyBundleArtifact, type BundleStatement, type PublisherKeys } from "../policy/artifact.ts";
import { canonicalJson, type JsonValue } from "./canonical.ts";
import { entryHash, type LogEntry } from "./chain.ts";
import { parseCheckpointText, type Checkpoint } from "./checkpoint.ts";
import { complianceMapping, type EvidenceKind } from "./compliance.ts";
import { strictFailure } from "./export-verify.ts";
import { PACKAGE_EVIDENCE, PACKAGE_FORMAT, packageEvidenceKindOf, type PackageCounts, type PackageEvidenceKind, type PackageManifest } from "./export.ts";
import { noteVerifierFor, type LogKey } from "./keys.ts";
import { leafHash, verifyInclusion } from "./merkle.ts";
import { parseNote, verifyNote, type NoteVerifier } from "./note.ts";
import { ReviewEvidenceError, verifyReviewAssertion } from "./review-evidence.ts";
import { verifyCosignatures, type WitnessKey } from "./witness.ts";

/**
 * Offline verification of a compliance package (`GET /v1/audit/package`, docs/audit-export.md),
 * line by line: every line strict JSON; the manifest signed by a trusted log key under the
 * tenant's origin, its SHA-256 and counts covering every line; each device's checkpoint signed
 * under that device's origin (and, with a witness policy, cosigned); each attestation and
 * review entry's hash, device and inclusion proof into its device's checkpoint; each bundle
 * artifact's body against its statement and its digest against its sources and the admin log, every deployed bundle
 * present, and with publisher keys its signature; the mapping regenerated from the records.
 */

export type PackageProblem =
  | "malformed_line"
  | "duplicate_key"
  | "missing_header"
  | "checkpoint_invalid"
  | "evidence_invalid"
  | "bundle_missing"
  | "bundle_mismatch"
  | "mapping_mismatch"
  | "witness_policy_unmet"
  | "manifest_invalid"
  | "manifest_mismatch"
  | "truncated";

export interface PackageReport {
  ok: boolean;
  tenant: string | null;
  range: { from: string; to: string } | null;
  counts: PackageCounts;
  checkpoints: number;
  /** Bundle artifacts whose publisher signature was checked (0 without publisher keys). */
  signedBundles: number;
  /** Review verdicts whose passkey assertion verified over their statement. */
  passkeyVerdicts: number;
  /** The origins those assertions were made at, for the auditor to hold to the deployment's REVIEW_ORIGIN. */
  reviewOrigins: string[];
  absent: string[];
  manifestKey: string | null;
  warnings: string[];
  failure: { code: PackageProblem; message: string } | null;
}

export interface PackageOptions {
  keys: LogKey[];
  /** `PUBLISHER_KEYS`' keys: with them every bundle artifact's signature is checked too. */
  publisherKeys?: PublisherKeys;
  /** Witness policy for device checkpoints (as `warden audit verify`). */
  witnesses?: WitnessKey[];
  witnessQuorum?: number;
}

class PackageFailure extends Error {
  constructor(
    readonly code: PackageProblem,
    message: string,
  ) {
    super(message);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const HEX64 = /^[0-9a-f]{64}$/;
/** Admin-log entries that put a bundle in a slot: their version's artifact must be in the package. */
const DEPLOYING = new Set(["bundle.activated", "bundle.canary", "bundle.shadow", "bundle.rolled_back"]);

interface DeviceState {
  origin: string;
  checkpoint: Checkpoint;
}

class PackageVerifier {
  private readonly digest = createHash("sha256");
  private origin: string | null = null;
  private readonly devices = new Map<string, DeviceState | null>();
  private readonly files = new Map<EvidenceKind, string[]>();
  private readonly artifacts = new Map<number, string>();
  private readonly deployed: { version: number; digest: string; time: string }[] = [];
  private mapping: unknown = undefined;
  private manifestNote: string | null = null;
  /** The last consent ledger entry read, which the next one must follow. */
  private consentHead: { seq: number; hash: string } | null = null;
  readonly report: PackageReport = {
    ok: false,
    tenant: null,
    range: null,
    counts: { bundle_log: 0, bundle_artifacts: 0, consent_log: 0, devices: 0, attestations: 0, reviews: 0, quarantines: 0, revocations: 0 },
    checkpoints: 0,
    signedBundles: 0,
    passkeyVerdicts: 0,
    reviewOrigins: [],
    absent: [],
    manifestKey: null,
    warnings: [],
    failure: null,
  };

  constructor(private readonly options: PackageOptions) {}

  private file(kind: EvidenceKind, file: string): void {
    const list = this.files.get(kind) ?? [];
    if (!list.includes(file)) list.push(file);
    this.files.set(kind, list);
  }

  async line(text: string | Uint8Array, index: number): Promise<void> {
    if (text.length === 0) return;
    if (this.manifestNote !== null) throw new PackageFailure("manifest_mismatch", `line ${index} follows the signed manifest`);
    let value: unknown;
    try {
      value = parseStrictJson(text);
    } catch (error) {
      if (!(error instanceof StrictJsonError)) throw error;
      const { code, message } = strictFailure(error, index);
      throw new PackageFailure(code, message);
    }
    if (!isRecord(value)) throw new PackageFailure("malformed_line", `line ${index} is not a JSON object`);
    if (value["kind"] === "manifest") {
      if (typeof value["note"] !== "string") throw new PackageFailure("manifest_invalid", "the manifest is not a signed note");
      this.manifestNote = value["note"];
      return;
    }
    this.digest.update(text);
    this.digest.update("\n");
    if (this.origin === null) {
      if (value["kind"] !== "package" || value["format"] !== PACKAGE_FORMAT || typeof value["origin"] !== "string") throw new PackageFailure("missing_header", "the package does not start with its header");
      this.origin = value["origin"];
      this.report.tenant = typeof value["tenant"] === "string" ? value["tenant"] : null;
      this.report.range = { from: String(value["from"]), to: String(value["to"]) };
      return;
    }
    if (this.mapping !== undefined) throw new PackageFailure("mapping_mismatch", `line ${index} follows the mapping, which the manifest must follow`);
    const file = value["file"];
    if (typeof file !== "string") throw new PackageFailure("malformed_line", `line ${index} names no file`);
    switch (value["kind"]) {
      case "bundle.deployment":
        this.file("policy_bundles", file);
        return;
      case "bundle.log":
        return this.onBundleLog(value, file);
      case "bundle.artifact":
        return this.onArtifact(value, file);
      case "device":
        return this.onDevice(value, file);
      case "attestation":
      case "review":
      case "quarantine":
      case "revocation":
        return this.onEvidence(value, file, value["kind"]);
      case "agent.registry":
        if (file !== "agents/registry.json") throw new PackageFailure("malformed_line", `${file} is not where the agent registry goes`);
        this.file("agent_registry", file);
        return;
      case "consent.log":
        return this.onConsentEntry(value, file);
      case "mapping":
        this.mapping = value["mapping"];
        return;
      default:
        throw new PackageFailure("malformed_line", `line ${index} has an unknown kind`);
    }
  }

  private onBundleLog(value: Record<string, unknown>, file: string): void {
    this.report.counts.bundle_log += 1;
    this.file("bundle_admin_log", file);
    const entry = value["entry"] as LogEntry;
    if (!isRecord(entry) || entryHash(entry) !== entry.hash) throw new PackageFailure("evidence_invalid", `admin-log entry ${String((entry as { seq?: unknown })?.seq)} does not match its hash`);
    const { version, digest } = entry.data as { version?: unknown; digest?: unknown };
    if (DEPLOYING.has(entry.type) && typeof version === "number" && typeof digest === "string") this.deployed.push({ version, digest, time: entry.time });
  }

  private async onArtifact(value: Record<string, unknown>, file: string): Promise<void> {
    this.report.counts.bundle_artifacts += 1;
    this.file("policy_bundles", file);
    const { version, digest, artifact } = value;
    if (typeof version !== "number" || typeof digest !== "string") throw new PackageFailure("malformed_line", `${file} is not a bundle artifact record`);
    if (artifact === null) throw new PackageFailure("bundle_missing", `the artifact of bundle version ${version} is missing from the archive`);
    if (typeof artifact !== "string") throw new PackageFailure("malformed_line", `${file} holds no artifact`);
    // The artifact's text is its bytes: an activated artifact is UTF-8 throughout (activation compiled its sources and compared its lines byte for byte).
    const bytes = new TextEncoder().encode(artifact);
    let statement: BundleStatement;
    try {
      const parts = unverifiedArtifact(bytes);
      statement = parts.statement;
      artifactSources(parts);
    } catch (error) {
      if (!(error instanceof BundleError)) throw error;
      throw new PackageFailure("bundle_mismatch", `${file}: the artifact does not hold together: ${error.message} (${error.code})`);
    }
    if (statement.digest !== digest || statement.version !== version || statement.tenant !== this.report.tenant) {
      throw new PackageFailure("bundle_mismatch", `${file}: the artifact is of another bundle (version ${statement.version}, ${statement.digest}) than the record names (version ${version}, ${digest})`);
    }
    if (this.options.publisherKeys) {
      try {
        // Checked as of its own creation: an artifact that has expired since was still what was published.
        await verifyBundleArtifact(bytes, this.options.publisherKeys, Date.parse(statement.created_at) + 1000);
      } catch (error) {
        if (!(error instanceof BundleError)) throw error;
        throw new PackageFailure("bundle_mismatch", `${file}: ${error.message} (${error.code})`);
      }
      this.report.signedBundles += 1;
    }
    this.artifacts.set(version, digest);
  }

  private async onDevice(value: Record<string, unknown>, file: string): Promise<void> {
    this.report.counts.devices += 1;
    this.file("devices", file);
    const device = value["device"] as { id?: unknown };
    const id = isRecord(device) && typeof device.id === "string" ? device.id : null;
    if (id === null || file !== `devices/${id}/device.json`) throw new PackageFailure("malformed_line", `${file} is not a device record`);
    const note = value["checkpoint"];
    if (typeof note !== "string") {
      this.devices.set(id, null);
      return;
    }
    this.file("checkpoints", file);
    const origin = `${this.origin}/${id}`;
    let checkpoint: Checkpoint;
    try {
      const parsed = parseNote(note);
      checkpoint = parseCheckpointText(parsed.text);
      if (checkpoint.origin !== origin) throw new Error(`it is of ${checkpoint.origin}`);
      await verifyNote(parsed, this.options.keys.map((key) => noteVerifierFor(key, origin)));
    } catch (error) {
      throw new PackageFailure("checkpoint_invalid", `the checkpoint of device ${id} does not verify (${(error as Error).message})`);
    }
    const witnesses = this.options.witnesses ?? [];
    if (witnesses.length > 0 || this.options.witnessQuorum !== undefined) {
      const quorum = this.options.witnessQuorum ?? witnesses.length;
      const found = await verifyCosignatures(note, witnesses).catch((error: unknown) => {
        throw new PackageFailure("witness_policy_unmet", `a cosignature of device ${id}'s checkpoint does not verify (${(error as Error).message})`);
      });
      if (found.length < quorum) throw new PackageFailure("witness_policy_unmet", `device ${id}'s checkpoint carries ${found.length} of the ${quorum} witness cosignatures the policy needs`);
    }
    this.report.checkpoints += 1;
    this.devices.set(id, { origin, checkpoint });
  }

  /** An entry of the consent ledger: it matches its hash, and follows the one before it when their seqs are adjacent. */
  private onConsentEntry(value: Record<string, unknown>, file: string): void {
    if (file !== "consents/ledger.jsonl") throw new PackageFailure("malformed_line", `${file} is not where consent ledger entries go`);
    const entry = value["entry"] as LogEntry;
    if (!isRecord(entry) || typeof entry.seq !== "number" || entryHash(entry) !== entry.hash) throw new PackageFailure("evidence_invalid", `consent ledger entry ${String((entry as { seq?: unknown })?.seq)} does not match its hash`);
    const previous = this.consentHead;
    if (previous !== null && (entry.seq <= previous.seq || (entry.seq === previous.seq + 1 && entry.prev !== previous.hash))) {
      throw new PackageFailure("evidence_invalid", `consent ledger entry ${entry.seq} does not follow entry ${previous.seq}`);
    }
    this.consentHead = { seq: entry.seq, hash: entry.hash };
    this.report.counts.consent_log += 1;
    this.file("consents", file);
  }

  private async onEvidence(value: Record<string, unknown>, file: string, kind: PackageEvidenceKind): Promise<void> {
    const device = value["device"];
    const state = typeof device === "string" ? this.devices.get(device) : undefined;
    if (!state) throw new PackageFailure("evidence_invalid", `${file}: no signed checkpoint of device ${String(device)} precedes it`);
    const { file: name, evidence } = PACKAGE_EVIDENCE[kind];
    if (file !== `devices/${String(device)}/${name}.jsonl`) throw new PackageFailure("malformed_line", `${file} is not where ${kind} records of ${String(device)} go`);
    this.report.counts[name] += 1;
    this.file(evidence, file);
    const entry = value["entry"] as LogEntry;
    const proof = value["proof"] as { leaf_index?: unknown; tree_size?: unknown; hashes?: unknown };
    if (!isRecord(entry) || !isRecord(entry.data) || typeof entry.type !== "string" || typeof entry.seq !== "number" || typeof entry.hash !== "string" || !HEX64.test(entry.hash)) {
      throw new PackageFailure("evidence_invalid", `${file}: a record holds no log entry`);
    }
    if (packageEvidenceKindOf(entry as unknown as { type: string; data: { [key: string]: unknown } }) !== kind) throw new PackageFailure("evidence_invalid", `${file}: ${entry.type} is not ${kind} evidence`);
    if (entryHash(entry) !== entry.hash) throw new PackageFailure("evidence_invalid", `${file}: seq ${entry.seq} does not match its hash`);
    if (entry.device !== device) throw new PackageFailure("evidence_invalid", `${file}: seq ${entry.seq} is of device ${entry.device}`);
    if (
      !isRecord(proof) ||
      proof.leaf_index !== entry.seq - 1 ||
      proof.tree_size !== state.checkpoint.size ||
      !Array.isArray(proof.hashes) ||
      !proof.hashes.every((h) => typeof h === "string" && HEX64.test(h)) ||
      !verifyInclusion(entry.seq - 1, state.checkpoint.size, leafHash(Buffer.from(entry.hash, "hex")), (proof.hashes as string[]).map((h) => Buffer.from(h, "hex")), Buffer.from(state.checkpoint.root, "hex"))
    ) {
      throw new PackageFailure("evidence_invalid", `${file}: seq ${entry.seq} is not proven into the device's checkpoint`);
    }
    if (kind !== "review") return;
    let passkey;
    try {
      passkey = await verifyReviewAssertion(entry.data as { [key: string]: unknown });
    } catch (error) {
      if (!(error instanceof ReviewEvidenceError)) throw error;
      throw new PackageFailure("evidence_invalid", `${file}: the verdict at seq ${entry.seq}: ${error.message}`);
    }
    if (passkey) {
      this.report.passkeyVerdicts += 1;
      if (!this.report.reviewOrigins.includes(passkey.origin)) this.report.reviewOrigins.push(passkey.origin);
    }
  }

  async finish(): Promise<void> {
    if (this.origin === null) throw new PackageFailure("missing_header", "the package is empty");
    if (this.manifestNote === null) throw new PackageFailure("truncated", "the package ends without its signed manifest (truncated)");
    let manifest: PackageManifest;
    try {
      const parsed = parseNote(this.manifestNote);
      manifest = parseStrictJson(parsed.text) as unknown as PackageManifest;
      if (`${canonicalJson(manifest as unknown as JsonValue)}\n` !== parsed.text) throw new PackageFailure("manifest_invalid", "the package manifest's text is not canonical JSON");
      this.report.manifestKey = ((await verifyNote(parsed, this.options.keys.map((key) => noteVerifierFor(key, this.origin as string))))[0] as NoteVerifier).id;
    } catch (error) {
      if (error instanceof PackageFailure) throw error;
      throw new PackageFailure("manifest_invalid", `the package manifest does not verify (${(error as Error).message})`);
    }
    if (manifest.format !== PACKAGE_FORMAT || manifest.origin !== this.origin || manifest.tenant !== this.report.tenant) throw new PackageFailure("manifest_mismatch", "the manifest is for another tenant");
    if (manifest.range?.from !== this.report.range?.from || manifest.range?.to !== this.report.range?.to) throw new PackageFailure("manifest_mismatch", "the manifest's window differs from the header's");
    if (manifest.sha256 !== this.digest.digest("hex")) throw new PackageFailure("manifest_mismatch", "the lines do not match the manifest's SHA-256 (a record was added, removed or edited)");
    if (canonicalJson(manifest.counts as unknown as JsonValue) !== canonicalJson(this.report.counts as unknown as JsonValue)) throw new PackageFailure("manifest_mismatch", "the record counts differ from the manifest's");
    if (!Array.isArray(manifest.absent) || !manifest.absent.every((kind) => typeof kind === "string")) throw new PackageFailure("manifest_invalid", "the manifest's absent list is not a list of names");
    this.report.absent = manifest.absent;
    // Every bundle the admin log deployed in the window is in the package, and is the bundle the log names.
    for (const { version, digest } of this.deployed) {
      const carried = this.artifacts.get(version);
      if (carried === undefined) throw new PackageFailure("bundle_missing", `the admin log deploys version ${version}, whose artifact the package does not carry`);
      if (carried !== digest) throw new PackageFailure("bundle_mismatch", `the admin log deploys version ${version} as ${digest}, the package carries ${carried}`);
    }
    const expected = complianceMapping(this.files, manifest.absent as EvidenceKind[]);
    if (this.mapping === undefined || canonicalJson(this.mapping as JsonValue) !== canonicalJson(expected as unknown as JsonValue)) {
      throw new PackageFailure("mapping_mismatch", "the mapping is not the one the package's records give");
    }
    if (!this.options.publisherKeys) this.report.warnings.push("bundle artifact signatures not checked (no --publisher-keys); their digests were");
    this.report.ok = true;
  }
}

/** Verifies a whole package from its lines. Never throws for a bad package: the report names the first problem. */
export async function verifyPackage(lines: AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array>, options: PackageOptions): Promise<PackageReport> {
  if (options.keys.length === 0) throw new WardenError("configuration_error", "no trusted log keys: pass the JWK Set of /.well-known/warden-log-keys.json");
  const verifier = new PackageVerifier(options);
  let index = 0;
  try {
    for await (const line of lines) {
      index += 1;
      await verifier.line(line, index);
    }
    await verifier.finish();
  } catch (error) {
    if (!(error instanceof PackageFailure)) throw error;
    verifier.report.failure = { code: error.code, message: error.message };
  }
  return verifier.report;
}
