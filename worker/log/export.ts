import { sha256Hex } from "../encoding.ts";
import { canonicalJson, type JsonValue } from "./canonical.ts";
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
  /** Thumbprint of the key that signed this manifest. */
  key: string;
  generated_at: string;
}

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

export const PACKAGE_FORMAT = "warden.compliance-package.v1";

/**
 * Lines of a compliance package (`GET /v1/audit/package`): a header, the
 * tenant's bundle deployment and its admin-log records in the window, the agent
 * registry, the consent ledger's entries in the window, one record per device,
 * and a signed manifest over the SHA-256 of every line before it
 * (docs/audit-export.md).
 */
export type PackageRecord =
  | { kind: "package"; format: typeof PACKAGE_FORMAT; origin: string; tenant: string; from: string; to: string }
  | { kind: "bundle.deployment"; deployment: JsonValue }
  | { kind: "bundle.log"; entry: JsonValue }
  /** The agent registry as it stands, and its changes in the window (docs/agents.md). */
  | { kind: "agent.registry"; version: number; agents: JsonValue[]; history: JsonValue[] }
  /** An entry of the tenant's hash-chained consent ledger in the window (docs/consent.md). */
  | { kind: "consent.log"; entry: JsonValue }
  | {
      kind: "device";
      device: JsonValue;
      assurance_history: { seq: number; time: string; assurance: string }[];
      checkpoint: string | null;
    }
  | { kind: "manifest"; note: string };

/** The signed summary that ends a compliance package. */
export interface PackageManifest {
  format: typeof PACKAGE_FORMAT;
  origin: string;
  tenant: string;
  range: { from: string; to: string };
  counts: { bundle_log: number; devices: number };
  /** SHA-256 hex of every line before the manifest, each with its newline. */
  sha256: string;
  /** Records this deployment does not hold yet (reviews, consents): named, so their absence is explicit. */
  not_included: string[];
  key: string;
  generated_at: string;
}
