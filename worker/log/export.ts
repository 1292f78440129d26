import { sha256Hex } from "../encoding.ts";
import { canonicalJson, type JsonValue } from "./canonical.ts";
import type { EvidenceKind } from "./compliance.ts";
import type { Frontier } from "./merkle.ts";

/**
 * Archive segments and export files: the formats the Durable Object writes,
 * the export route streams and `warden audit verify` reads (docs/audit-export.md).
 */

export const SEGMENT_FORMAT = "warden.segment.v1";
export const EXPORT_FORMAT = "warden.export.v1";
/** `previous` of the first segment of a log. */
export const GENESIS_SEGMENT = "0".repeat(64);

/**
 * Describes one sealed segment: which entries, their bytes' digest, where the
 * chain stands at both ends, and the hash of the previous segment's manifest,
 * so segments form a chain of their own.
 */
export interface SegmentManifest {
  format: typeof SEGMENT_FORMAT;
  origin: string;
  tenant: string;
  device: string;
  /** 1 for the first segment of the log, then consecutive. */
  index: number;
  first: number;
  last: number;
  count: number;
  /** `prev` of entry `first`. */
  prev_hash: string;
  /** `hash` of entry `last`. */
  last_hash: string;
  /** `mac` of entry `last`, where entries carry one, so the HMAC chain resumes after pruning. */
  last_mac: string | null;
  /** SHA-256 (hex) of the segment object's bytes: every entry's stored JSON, one per line. */
  sha256: string;
  /** `manifestHash` of segment `index - 1`, or 64 zeros. */
  previous: string;
  /** RFC 6962 compact range after entry `last`. */
  tree: Frontier;
  /** The latest signed checkpoint when the segment was sealed; its size is at least `last`. */
  checkpoint: string;
  sealed_at: string;
}

/** SHA-256 of the manifest's RFC 8785 form: what the next segment's `previous` names. */
export function manifestHash(manifest: SegmentManifest): string {
  return sha256Hex(canonicalJson(manifest as unknown as JsonValue));
}


/** One step of an export's plan: a sealed segment to stream from R2, entries still in the object, or the end. */
export type ExportSlice =
  | { kind: "segment"; key: string; manifest: SegmentManifest; treeBefore: Frontier }
  | { kind: "entries"; entries: string[] }
  | { kind: "end" };

/** R2 keys of a segment: `<tenant>/devices/<id>/segments/<first>-<last>.jsonl` and its manifest beside it. Numbers are zero-padded so listings sort by seq. */
export function segmentKeys(tenant: string, device: string, first: number, last: number): { entries: string; manifest: string } {
  const base = `${tenant}/devices/${device}/segments/${String(first).padStart(12, "0")}-${String(last).padStart(12, "0")}`;
  return { entries: `${base}.jsonl`, manifest: `${base}.manifest.json` };
}

/** The signed summary that ends an export (the text of its note is this object's RFC 8785 form and a newline). */
export interface ExportManifest {
  format: typeof EXPORT_FORMAT;
  origin: string;
  tenant: string;
  device: string;
  range: { from: number; to: number };
  count: number;
  /** `start`: hash of entry `from - 1` (64 zeros at genesis); `end`: hash of entry `to`; `head`: the log's head when the export began. */
  heads: { start: string; end: string; head: { seq: number; hash: string } };
  /** RFC 6962 compact range after entry `from - 1`, so the export's Merkle root can be checked against checkpoints. */
  tree: Frontier;
  /** Manifest hashes of the segments the export drew entries from, in order. */
  segments: { first: number; last: number; manifest: string }[];
  /** The latest checkpoint the log had signed when the export began (a signed note), or null. */
  checkpoint: string | null;
  /**
   * The statements of the log's key rotations after entry `to` (each `{seq, statement}`: the
   * rotation entry's seq and its statement, signed by the retiring and the new key), oldest
   * first: they lead from the key entry `to` names to `key`. Empty when that key signs.
   */
  rotations: ExportRotation[];
  /** Thumbprint of the key that signed this manifest: the key the log names when it signs. */
  key: string;
  generated_at: string;
}

/** A key rotation after an export's range, as its manifest carries it. */
export interface ExportRotation {
  seq: number;
  statement: string;
}

/** What the export stream gives the log to sign; the log adds its origin, the key and the rotations that lead to it. */
export type ExportManifestBody = Omit<ExportManifest, "format" | "origin" | "rotations" | "key">;

/** Records of an export file besides the entries themselves (which are lines without `kind`). */
/** The first line of an export. */
export interface ExportHeader {
  kind: "export";
  format: typeof EXPORT_FORMAT;
  origin: string;
  tenant: string;
  device: string;
  from: number;
  to: number;
  /** Compact range after entry `from - 1` (repeated, signed, in the manifest). */
  tree: Frontier;
  /** The latest signed checkpoint (repeated in the manifest), so a verifier can compare roots while it streams. */
  checkpoint: string | null;
}

export type ExportRecord =
  | ExportHeader
  | { kind: "segment"; manifest: SegmentManifest; partial: boolean }
  | { kind: "manifest"; note: string };

export const PACKAGE_FORMAT = "warden.compliance-package.v2";

/**
 * The device-log entries a package proves into each device's checkpoint, by kind: the file they
 * go to (`devices/<id>/<file>.jsonl`, also their key in the manifest's counts), the evidence they
 * are for the compliance mapping, and the entries they hold.
 */
/** A device's quarantines and releases, and a playbook's hold of its every action for review and its end. */
const QUARANTINE_TYPES = new Set(["device.quarantined", "device.released", "playbook.review_all", "playbook.cleared"]);

export const PACKAGE_EVIDENCE = {
  attestation: { file: "attestations", evidence: "attestations", holds: (entry: { type: string; data: { [key: string]: unknown } }) => (entry.type === "session.opened" && entry.data["attestation"] !== undefined) || entry.type === "attestation.failed" || entry.type.startsWith("tpm.") },
  review: { file: "reviews", evidence: "reviews", holds: (entry: { type: string }) => entry.type.startsWith("review.") },
  quarantine: { file: "quarantines", evidence: "quarantine_history", holds: (entry: { type: string }) => QUARANTINE_TYPES.has(entry.type) },
  revocation: { file: "revocations", evidence: "revocation_history", holds: (entry: { type: string }) => entry.type === "session.revoked" || entry.type === "action.revoked" },
} as const satisfies { [kind: string]: { file: keyof PackageCounts; evidence: EvidenceKind; holds: (entry: { type: string; data: { [key: string]: unknown } }) => boolean } };

export type PackageEvidenceKind = keyof typeof PACKAGE_EVIDENCE;
export const PACKAGE_EVIDENCE_KINDS = Object.keys(PACKAGE_EVIDENCE) as PackageEvidenceKind[];

/** The package evidence kind an entry is, or null. */
export function packageEvidenceKindOf(entry: { type: string; data: { [key: string]: unknown } }): PackageEvidenceKind | null {
  return PACKAGE_EVIDENCE_KINDS.find((kind) => PACKAGE_EVIDENCE[kind].holds(entry)) ?? null;
}

/** An entry of a device log in the package, with its inclusion proof to that device's checkpoint. */
export interface PackageEvidence {
  kind: PackageEvidenceKind;
  file: string;
  device: string;
  entry: JsonValue;
  proof: { leaf_index: number; tree_size: number; hashes: string[] };
}

/**
 * Lines of a compliance package (`GET /v1/audit/package`, docs/audit-export.md): a header; the
 * tenant's bundle deployment, its admin-log records in the window and the signed artifact (with
 * its policy text) of every bundle ever deployed; per device its registration, assurance
 * history and checkpoint, followed by its attestation and review entries proven into that
 * checkpoint; the agent registry and the consent ledger's entries in the window; the mapping of frameworks' controls to the files; and a signed manifest over the
 * SHA-256 of every line before it. Every record but the header and manifest names its `file`.
 */
export type PackageRecord =
  | { kind: "package"; format: typeof PACKAGE_FORMAT; origin: string; tenant: string; from: string; to: string }
  | { kind: "bundle.deployment"; file: string; deployment: JsonValue }
  | { kind: "bundle.log"; file: string; entry: JsonValue }
  | { kind: "bundle.artifact"; file: string; version: number; digest: string; artifact: string | null }
  /** The agent registry as it stands, and its changes in the window (docs/agents.md). */
  | { kind: "agent.registry"; file: string; version: number; agents: JsonValue[]; history: JsonValue[] }
  /** An entry of the tenant's hash-chained consent ledger in the window (docs/consent.md). */
  | { kind: "consent.log"; file: string; entry: JsonValue }
  | {
      kind: "device";
      file: string;
      device: JsonValue;
      assurance_history: { seq: number; time: string; assurance: string }[];
      checkpoint: string | null;
    }
  | PackageEvidence
  | { kind: "mapping"; file: string; mapping: JsonValue }
  | { kind: "manifest"; note: string };

export interface PackageCounts {
  bundle_log: number;
  bundle_artifacts: number;
  consent_log: number;
  devices: number;
  attestations: number;
  reviews: number;
  quarantines: number;
  revocations: number;
}

/** The signed summary that ends a compliance package. */
export interface PackageManifest {
  format: typeof PACKAGE_FORMAT;
  origin: string;
  tenant: string;
  range: { from: string; to: string };
  counts: PackageCounts;
  /** SHA-256 hex of every line before the manifest, each with its newline. */
  sha256: string;
  /** Evidence this deployment does not keep (yet): named, so that its absence is stated, never silent. */
  absent: string[];
  key: string;
  generated_at: string;
}
