import { StrictJsonError, parseStrictJson } from "../json/strict.ts";
import { entryHash, type LogEntry } from "./chain.ts";
import { parseCheckpointText } from "./checkpoint.ts";
import { noteVerifierFor, type LogKey } from "./keys.ts";
import { leafHash, verifyInclusion } from "./merkle.ts";
import { NoteError, parseNote, verifyNote, type NoteVerifier } from "./note.ts";
import { verifyCosignatures, type WitnessKey } from "./witness.ts";

/**
 * Decision receipts (`GET /v1/decisions/:id/receipt`): one decision's log entry, its RFC 6962
 * inclusion proof to a signed (and witnessed) checkpoint of its device's log, and that
 * checkpoint; with the entries the decision rests on (the session that attested the device,
 * the review verdicts and release of a held action), each with its own proof to the same
 * checkpoint. Verifiable alone, offline: {@link verifyReceipt} (`warden audit verify-receipt`).
 *
 * The file is the compact JSON Warden serves; every member is checked, none is ignored, so a
 * changed byte anywhere either changes what a signature or hash covers or makes it unreadable.
 */

export const RECEIPT_FORMAT = "warden.receipt.v1";

export interface ReceiptProof {
  /** 0-based position of the entry's leaf: its seq − 1. */
  leaf_index: number;
  tree_size: number;
  /** The audit path, deepest first, hex. */
  hashes: string[];
}

export interface Receipt {
  format: typeof RECEIPT_FORMAT;
  origin: string;
  device: string;
  decision_id: string;
  entry: LogEntry;
  proof: ReceiptProof;
  /** The session that opened the device's session (its attestation appraisal), review verdicts and the release, when the log holds them. */
  related: { entry: LogEntry; proof: ReceiptProof }[];
  /** The checkpoint (a C2SP signed note, with any witness cosignatures) the proofs lead to. */
  checkpoint: string;
}

export type ReceiptProblem = "malformed_receipt" | "entry_edited" | "not_the_decision" | "unrelated_entry" | "inclusion_invalid" | "checkpoint_invalid" | "witness_policy_unmet";

export interface ReceiptReport {
  ok: boolean;
  origin: string | null;
  device: string | null;
  decision_id: string | null;
  /** The decision's outcome (permit, deny, review) as its entry says. */
  decision: string | null;
  seq: number | null;
  checkpoint: { size: number; time: string; key: string } | null;
  /** Witnesses whose cosignatures verified. */
  witnesses: string[];
  related: { seq: number; type: string }[];
  failure: { code: ReceiptProblem; message: string } | null;
}

class ReceiptFailure extends Error {
  constructor(
    readonly code: ReceiptProblem,
    message: string,
  ) {
    super(message);
  }
}

const HEX64 = /^[0-9a-f]{64}$/;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function members(value: unknown, names: readonly string[], optional: readonly string[], what: string): Record<string, unknown> {
  if (!isRecord(value)) throw new ReceiptFailure("malformed_receipt", `${what} is not an object`);
  for (const key of Object.keys(value)) if (!names.includes(key) && !optional.includes(key)) throw new ReceiptFailure("malformed_receipt", `${what} has an unknown member ${JSON.stringify(key)}`);
  for (const name of names) if (!(name in value)) throw new ReceiptFailure("malformed_receipt", `${what} lacks ${name}`);
  return value;
}

function entryOf(value: unknown, what: string): LogEntry {
  // No `mac`: it is outside the hash and a receipt's reader has no HMAC key, so nothing could vouch for it.
  const e = members(value, ["seq", "time", "prev", "device", "type", "data", "hash"], ["key"], what);
  const ok =
    typeof e["seq"] === "number" &&
    Number.isSafeInteger(e["seq"]) &&
    e["seq"] >= 1 &&
    typeof e["time"] === "string" &&
    typeof e["prev"] === "string" &&
    HEX64.test(e["prev"]) &&
    typeof e["device"] === "string" &&
    typeof e["type"] === "string" &&
    isRecord(e["data"]) &&
    typeof e["hash"] === "string" &&
    HEX64.test(e["hash"]) &&
    (e["key"] === undefined || typeof e["key"] === "string");
  if (!ok) throw new ReceiptFailure("malformed_receipt", `${what} is not a log entry`);
  return e as unknown as LogEntry;
}

function proofOf(value: unknown, what: string): ReceiptProof {
  const p = members(value, ["leaf_index", "tree_size", "hashes"], [], what);
  const { leaf_index, tree_size, hashes } = p;
  if (
    typeof leaf_index !== "number" ||
    !Number.isSafeInteger(leaf_index) ||
    typeof tree_size !== "number" ||
    !Number.isSafeInteger(tree_size) ||
    !Array.isArray(hashes) ||
    hashes.length > 64 ||
    hashes.some((h) => typeof h !== "string" || !HEX64.test(h))
  ) {
    throw new ReceiptFailure("malformed_receipt", `${what} is not an inclusion proof`);
  }
  return { leaf_index, tree_size, hashes: hashes as string[] };
}

/** Parses a receipt strictly: its exact members and types, nothing more. */
export function parseReceipt(input: Uint8Array | string): Receipt {
  let value: unknown;
  try {
    value = parseStrictJson(input);
  } catch (error) {
    if (!(error instanceof StrictJsonError)) throw error;
    throw new ReceiptFailure("malformed_receipt", `the receipt is not strict JSON (${error.code} at offset ${error.offset})`);
  }
  const r = members(value, ["format", "origin", "device", "decision_id", "entry", "proof", "related", "checkpoint"], [], "the receipt");
  if (r["format"] !== RECEIPT_FORMAT) throw new ReceiptFailure("malformed_receipt", `the format is not ${RECEIPT_FORMAT}`);
  for (const name of ["origin", "device", "decision_id", "checkpoint"] as const) {
    if (typeof r[name] !== "string" || (r[name] as string).length === 0) throw new ReceiptFailure("malformed_receipt", `${name} is not text`);
  }
  const related = r["related"];
  if (!Array.isArray(related) || related.length > 64) throw new ReceiptFailure("malformed_receipt", "related is not a list");
  return {
    format: RECEIPT_FORMAT,
    origin: r["origin"] as string,
    device: r["device"] as string,
    decision_id: r["decision_id"] as string,
    entry: entryOf(r["entry"], "entry"),
    proof: proofOf(r["proof"], "proof"),
    related: related.map((item, i) => {
      const rel = members(item, ["entry", "proof"], [], `related[${i}]`);
      return { entry: entryOf(rel["entry"], `related[${i}].entry`), proof: proofOf(rel["proof"], `related[${i}].proof`) };
    }),
    checkpoint: r["checkpoint"] as string,
  };
}

export interface ReceiptOptions {
  /** Trusted log keys (/.well-known/warden-log-keys.json). */
  keys: LogKey[];
  /** Witness keys of the policy; with `quorum`, the checkpoint must carry that many of their cosignatures. */
  witnesses?: WitnessKey[];
  /** How many of `witnesses` must have cosigned (default: all of them). */
  quorum?: number;
}

/** Whether the entry's relation to the decision is one the receipt may carry. */
function related(entry: LogEntry, decision: LogEntry, decisionId: string): boolean {
  if (entry.type === "session.opened") return typeof decision.data["session"] === "string" && entry.data["session_id"] === decision.data["session"];
  return entry.type.startsWith("review.") && entry.data["decision_id"] === decisionId;
}

/**
 * Verifies a receipt offline: the checkpoint is signed by a trusted log key under the receipt's
 * origin and, with a witness policy, cosigned by enough of its witnesses; the decision entry's
 * hash recomputes, it is the decision named, of the device named, and its inclusion proof leads
 * to the checkpoint's root; so does every related entry's, each related to the decision.
 * Never throws for a bad receipt: the report names the first problem.
 */
export async function verifyReceipt(input: Uint8Array | string, options: ReceiptOptions): Promise<ReceiptReport> {
  const report: ReceiptReport = { ok: false, origin: null, device: null, decision_id: null, decision: null, seq: null, checkpoint: null, witnesses: [], related: [], failure: null };
  try {
    if (options.keys.length === 0) throw new ReceiptFailure("checkpoint_invalid", "no trusted log keys");
    const receipt = parseReceipt(input);
    Object.assign(report, { origin: receipt.origin, device: receipt.device, decision_id: receipt.decision_id });

    let checkpoint;
    let signer: NoteVerifier;
    try {
      const note = parseNote(receipt.checkpoint);
      checkpoint = parseCheckpointText(note.text);
      if (checkpoint.origin !== receipt.origin) throw new ReceiptFailure("checkpoint_invalid", `the checkpoint is of ${checkpoint.origin}, not ${receipt.origin}`);
      signer = (await verifyNote(note, options.keys.map((key) => noteVerifierFor(key, receipt.origin))))[0] as NoteVerifier;
    } catch (error) {
      if (error instanceof ReceiptFailure) throw error;
      const why = error instanceof NoteError && error.code === "note_unverified" ? "is not signed by a trusted log key" : `does not verify (${(error as Error).message})`;
      throw new ReceiptFailure("checkpoint_invalid", `the checkpoint ${why}`);
    }
    report.checkpoint = { size: checkpoint.size, time: checkpoint.time, key: signer.id };

    const witnesses = options.witnesses ?? [];
    if (witnesses.length > 0 || options.quorum !== undefined) {
      const quorum = options.quorum ?? witnesses.length;
      let found;
      try {
        found = await verifyCosignatures(receipt.checkpoint, witnesses);
      } catch (error) {
        throw new ReceiptFailure("witness_policy_unmet", `a witness cosignature does not verify (${(error as Error).message})`);
      }
      report.witnesses = found.map((f) => f.witness.name);
      if (found.length < quorum) throw new ReceiptFailure("witness_policy_unmet", `${found.length} of the ${quorum} witness cosignatures the policy needs`);
    }

    const root = Buffer.from(checkpoint.root, "hex");
    const check = (entry: LogEntry, proof: ReceiptProof, what: string) => {
      if (entryHash(entry) !== entry.hash) throw new ReceiptFailure("entry_edited", `${what} (seq ${entry.seq}) does not match its hash`);
      if (entry.device !== receipt.device) throw new ReceiptFailure("not_the_decision", `${what} is of device ${entry.device}`);
      if (proof.tree_size !== checkpoint.size || proof.leaf_index !== entry.seq - 1) throw new ReceiptFailure("inclusion_invalid", `${what}'s proof is not for seq ${entry.seq} in the checkpoint's tree`);
      const ok = verifyInclusion(proof.leaf_index, proof.tree_size, leafHash(Buffer.from(entry.hash, "hex")), proof.hashes.map((h) => Buffer.from(h, "hex")), root);
      if (!ok) throw new ReceiptFailure("inclusion_invalid", `${what} (seq ${entry.seq}) is not in the checkpoint's tree`);
    };
    const { entry } = receipt;
    if (entry.type !== "decision" || entry.data["decision_id"] !== receipt.decision_id) throw new ReceiptFailure("not_the_decision", `the entry is not decision ${receipt.decision_id}`);
    check(entry, receipt.proof, "the decision");
    report.seq = entry.seq;
    report.decision = typeof entry.data["decision"] === "string" ? entry.data["decision"] : null;
    const seen = new Set<number>([entry.seq]);
    for (const [i, item] of receipt.related.entries()) {
      if (!related(item.entry, entry, receipt.decision_id)) throw new ReceiptFailure("unrelated_entry", `related[${i}] (${item.entry.type}) is not the decision's session or review`);
      if (seen.has(item.entry.seq)) throw new ReceiptFailure("unrelated_entry", `related[${i}] repeats seq ${item.entry.seq}`);
      seen.add(item.entry.seq);
      check(item.entry, item.proof, `related[${i}]`);
      report.related.push({ seq: item.entry.seq, type: item.entry.type });
    }
    report.ok = true;
    return report;
  } catch (error) {
    if (!(error instanceof ReceiptFailure)) throw error;
    report.failure = { code: error.code, message: error.message };
    return report;
  }
}
