import { createReadStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { fileErrorMessage, group, JSON_OPTION, parseWithPositionals, required, UsageError, type Command } from "./command.ts";
import { STATUS } from "./exit.ts";
import { AuditFailure, ExportVerifier, byteLines, type VerifyReport } from "../worker/log/export-verify.ts";
import { verifyPackage } from "../worker/log/package-verify.ts";
import { publisherKeys } from "../worker/policy/artifact.ts";
import type { ReplayReport } from "../worker/history/replay.ts";
import { StrictJsonError, parseStrictJson } from "../worker/json/strict.ts";
import { importLogPublicKey, type LogKey } from "../worker/log/keys.ts";
import { parseMacKey, type MacKey } from "../worker/log/mac.ts";
import { verifyReceipt, type ReceiptReport } from "../worker/log/receipt.ts";
import { parseWitnessVkey, type WitnessKey } from "../worker/log/witness.ts";

/**
 * `warden audit verify`: the file and network side of export verification.
 * Reads the export line by line (never whole), the trusted keys from a JWK Set
 * file or URL, an optional earlier checkpoint and HMAC keys, and hands each
 * line to the pure verifier in cli/audit-verify.ts. Lines go over as bytes, so
 * the verifier's strict reader sees invalid UTF-8 rather than U+FFFD.
 */

const VERIFY = "warden audit verify";


async function readSource(source: string, what: string): Promise<Uint8Array> {
  if (/^https?:\/\//.test(source)) {
    let response: Response;
    try {
      response = await fetch(source, { signal: AbortSignal.timeout(10_000), headers: { accept: "application/json, text/plain" } });
    } catch (error) {
      throw new Error(`cannot fetch ${what} from ${source}: ${(error as Error).message}`);
    }
    if (!response.ok) throw new Error(`cannot fetch ${what} from ${source}: HTTP ${response.status}`);
    return new Uint8Array(await response.arrayBuffer());
  }
  try {
    return await readFile(source);
  } catch (error) {
    throw new Error(`cannot read ${what}: ${fileErrorMessage(error) ?? `${source}: ${(error as Error).message}`}`);
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/** A text source (HMAC key, checkpoint) that must be UTF-8. */
async function readText(source: string, what: string): Promise<string> {
  const bytes = await readSource(source, what);
  try {
    return utf8.decode(bytes);
  } catch {
    throw new Error(`${what} ${source} is not UTF-8`);
  }
}

/** The trusted log keys: every Ed25519 key of a JWK Set (e.g. /.well-known/warden-log-keys.json). */
export async function loadKeys(source: string): Promise<LogKey[]> {
  let jwks: unknown;
  try {
    jwks = parseStrictJson(await readSource(source, "the keys"));
  } catch (error) {
    if (error instanceof StrictJsonError) throw new Error(`${source} is not strict JSON (${error.code})`);
    throw error;
  }
  const listed = (jwks as { keys?: unknown }).keys;
  if (!Array.isArray(listed)) throw new Error(`${source} is not a JWK Set ({"keys": [...]})`);
  const keys: LogKey[] = [];
  for (const jwk of listed) {
    if (typeof jwk !== "object" || jwk === null || (jwk as { crv?: unknown }).crv !== "Ed25519") continue;
    keys.push(await importLogPublicKey(jwk as Record<string, unknown>));
  }
  if (keys.length === 0) throw new Error(`${source} holds no Ed25519 key`);
  return keys;
}

/** A checkpoint file: the signed note itself, or the JSON answer of GET /v1/devices/:id/checkpoint. */
export function checkpointNote(text: string): string {
  if (text.trimStart().startsWith("{")) {
    let json: unknown;
    try {
      json = parseStrictJson(text);
    } catch (error) {
      if (error instanceof StrictJsonError) throw new Error(`the checkpoint JSON is not strict JSON (${error.code})`);
      throw error;
    }
    const note = (json as { note?: unknown }).note;
    if (typeof note !== "string") throw new Error("the checkpoint JSON has no `note`");
    return note;
  }
  return text;
}

/** `--witness` values: vkeys, or files holding one a line (`#` comments allowed). */
export async function loadWitnesses(values: readonly string[]): Promise<WitnessKey[]> {
  const keys: WitnessKey[] = [];
  for (const value of values) {
    let lines: string[];
    try {
      parseWitnessVkey(value);
      lines = [value];
    } catch {
      // Not a vkey itself: a file of them.
      lines = (await readText(value, "the witness keys")).split("\n");
    }
    for (const line of lines.map((l) => l.trim()).filter((l) => l.length > 0 && !l.startsWith("#"))) {
      try {
        keys.push(parseWitnessVkey(line));
      } catch (error) {
        throw new Error(`${JSON.stringify(line)} is not a witness key (${(error as Error).message})`);
      }
    }
  }
  return keys;
}

/** `--witness-quorum`: a count between 1 and the number of witness keys given. */
function quorumOf(value: string | undefined, witnesses: readonly WitnessKey[], command: string): number | undefined {
  if (value === undefined) return undefined;
  const quorum = /^[1-9]\d{0,2}$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(quorum)) throw new UsageError("--witness-quorum is a positive count", command);
  if (quorum > witnesses.length) throw new UsageError(`--witness-quorum ${quorum} needs at least that many --witness keys`, command);
  return quorum;
}

function describeReplay(replay: ReplayReport): string[] {
  const lines = [`  ok  replay: ${replay.replayed} decision(s) recomputed from the entries before them and their bundle (history values, verdict); ${replay.raised} finding(s) and playbook action(s); ${replay.adoptions} history adoption(s)`];
  const skipped = Object.entries(replay.skipped).map(([why, count]) => `${count} ${why}`);
  if (skipped.length > 0) lines.push(`  --  not replayed: ${skipped.join(", ")} (docs/history.md › Replay)`);
  for (const digest of replay.missing) lines.push(`  --  bundle ${digest} is named by the log but was not given (GET /v1/bundles/artifacts/${digest})`);
  return lines;
}

function describe(report: VerifyReport): string[] {
  const lines: string[] = [];
  const range = report.range ? `seq ${report.range.from}..${report.range.to}` : "";
  lines.push(`export of ${report.origin ?? "?"} ${range}`);
  if (report.failure) return lines;
  lines.push(`  ok  ${report.entries} entries: hashes, links, seq continuity`);
  lines.push(`  ok  ${report.segments} archived segment(s): digests, Merkle trees, manifests chained`);
  lines.push(`  ok  log keys: every entry names a trusted key; ${report.rotations} rotation(s) signed by old and new key`);
  if (report.hmac.checked > 0) lines.push(`  ok  HMAC chain: ${report.hmac.checked} entries (key ${report.hmac.keys.join(", ")})`);
  else lines.push(`  --  HMAC chain not checked${report.hmac.keys.length === 0 ? " (no --hmac-key)" : ""}`);
  if (report.checkpoint) {
    const { size, time, key, compared } = report.checkpoint;
    lines.push(`  ok  checkpoint size ${size} (${time}) signed by ${key}${compared ? ": root and head match the entries" : ": outside the range, not compared"}`);
  }
  if (report.held) {
    const { size, compared } = report.held;
    lines.push(`  ok  consistent with your checkpoint of size ${size}${compared ? "" : " (outside the range: only checked not to be newer)"}`);
  }
  if (report.witnesses.length > 0) lines.push(`  ok  checkpoint cosigned by ${report.witnesses.join(", ")}`);
  const linked = report.manifestRotations > 0 ? `, reached from the key seq ${report.range?.to} names by ${report.manifestRotations} later rotation(s) signed by old and new key` : "";
  lines.push(`  ok  export manifest signed by ${report.manifestKey}${linked}`);
  for (const warning of report.warnings) lines.push(`  !!  ${warning}`);
  return lines;
}

const verify: Command = {
  summary: "Verify a log export offline: hashes, links, signatures, HMAC, segments, checkpoints",
  help: `Usage: ${VERIFY} <export.jsonl> --keys <jwks file or url> [options]
       ${VERIFY} <export.jsonl> --keys <jwks> --replay <artifact.jws>... --publisher-keys <jwks>

Verifies an export from GET /v1/devices/:id/export (docs/audit-export.md)
without contacting Warden: every entry's hash and link, seq continuity, the
log key each entry names (and key rotations, signed by both keys), the signed
checkpoint's Merkle root and head, each archived segment's digest, tree and
chaining, the signed export manifest, the chained HMAC when its key is given,
and consistency with a checkpoint you kept from before (rollback, truncation,
rewritten history). Stops at the first problem and names the first bad seq.

With --replay it also recomputes every decision from the entries before it and
the signed bundle it names (GET /v1/bundles/artifacts/<digest>; each artifact is
verified with the publisher keys first): the history values it recorded, its
verdict, the findings and playbook actions each entry raised. A disagreement
fails with the entry's seq; what cannot be replayed is counted by why.

Options:
  --keys <file|url>     JWK Set of trusted log keys (/.well-known/warden-log-keys.json)
  --checkpoint <file>   A checkpoint you kept earlier (the signed note, or the JSON of
                        GET /v1/devices/:id/checkpoint)
  --hmac-key <file>     The LOG_HMAC_KEY (base64url) to check HMACs with (repeatable);
                        every entry must then carry an HMAC by one of these keys
  --witness <vkey|file> A witness key (C2SP vkey, or a file of them, one a line); repeatable.
                        The export's checkpoint must then be cosigned by them
  --witness-quorum <n>  How many of the --witness keys must have cosigned (default: all)
  --replay <file>       A signed bundle artifact to replay against (repeatable; further
                        files after the export are artifacts too)
  --publisher-keys <file|url>  JWK Set of the publisher keys you trust (PUBLISHER_KEYS);
                        required with --replay
  --json                Print the report as JSON
  --quiet               No progress on stderr
  -h, --help            Show this help

Use - as the export to read standard input.

Exit status: ${STATUS.ok} verified, ${STATUS.rejected} verification failed (the report names the
first bad seq), ${STATUS.error} usage or I/O error.`,

  async run(argv) {
    let parsed;
    try {
      parsed = parseArgs({
        args: argv,
        strict: true,
        allowPositionals: true,
        options: {
          keys: { type: "string" },
          checkpoint: { type: "string" },
          "hmac-key": { type: "string", multiple: true },
          witness: { type: "string", multiple: true },
          "witness-quorum": { type: "string" },
          replay: { type: "string", multiple: true },
          "publisher-keys": { type: "string" },
          json: { type: "boolean", default: false },
          quiet: { type: "boolean", default: false },
        },
      });
    } catch (error) {
      throw new UsageError((error as Error).message, VERIFY);
    }
    const { values, positionals } = parsed;
    const artifactFiles = [...(values.replay ?? []), ...positionals.slice(1)];
    if (positionals.length === 0 || (positionals.length > 1 && values.replay === undefined)) throw new UsageError("exactly one export file is required", VERIFY);
    if (!values.keys) throw new UsageError("--keys is required", VERIFY);
    if (values.replay !== undefined && !values["publisher-keys"]) throw new UsageError("--replay needs --publisher-keys", VERIFY);
    const file = positionals[0] as string;

    const keys = await loadKeys(values.keys);
    const macKeys: MacKey[] = [];
    for (const path of values["hmac-key"] ?? []) {
      try {
        macKeys.push(parseMacKey(await readText(path, "the HMAC key")));
      } catch (error) {
        throw new Error(`${path}: ${(error as Error).message}`);
      }
    }
    const held = values.checkpoint ? checkpointNote(await readText(values.checkpoint, "the checkpoint")) : undefined;
    const witnesses = await loadWitnesses(values.witness ?? []);
    const witnessQuorum = quorumOf(values["witness-quorum"], witnesses, VERIFY);
    let replayer: import("../worker/history/replay.ts").Replayer | null = null;
    if (values.replay !== undefined) {
      // Cedar and the replay load only when asked for.
      const [{ loadReplayBundles, ArtifactRefused }, { Replayer }] = await Promise.all([import("./audit-replay.ts"), import("../worker/history/replay.ts")]);
      const artifacts = await Promise.all(artifactFiles.map(async (path) => ({ file: path, bytes: await readSource(path, "the artifact") })));
      try {
        replayer = new Replayer(await loadReplayBundles(artifacts, await readText(values["publisher-keys"] as string, "the publisher keys")));
      } catch (error) {
        if (!(error instanceof ArtifactRefused)) throw error;
        process.stdout.write(values.json ? `${JSON.stringify({ ok: false, failure: { code: "artifact_invalid", artifact: error.file, reason: error.code, message: error.message } }, null, 2)}\n` : `FAILED: artifact_invalid: ${error.message} (${error.code})\n`);
        return STATUS.rejected;
      }
    }

    const progress = !values.quiet;
    const tty = process.stderr.isTTY === true;
    const started = Date.now();
    let lastPrint = started;
    const verifier = new ExportVerifier({
      keys,
      macKeys,
      witnesses,
      ...(witnessQuorum !== undefined ? { witnessQuorum } : {}),
      ...(held !== undefined ? { held } : {}),
      ...(replayer ? { onEntry: (entry) => replayer.push(entry) } : {}),
      progressEvery: 5_000,
      onProgress: (done, expected) => {
        if (!progress) return;
        const now = Date.now();
        if (!tty && now - lastPrint < 2_000) return;
        lastPrint = now;
        const rate = Math.round(done / Math.max((now - started) / 1000, 0.001));
        const line = `verified ${done}/${expected} entries (${Math.floor((100 * done) / Math.max(expected, 1))}%, ${rate}/s)`;
        process.stderr.write(tty ? `\r${line}` : `${line}\n`);
      },
    });

    const input = file === "-" ? process.stdin : createReadStream(file);
    let report: VerifyReport;
    let replay: ReplayReport | null = null;
    try {
      try {
        for await (const line of byteLines(input)) await verifier.push(line);
      } catch (error) {
        if (error instanceof AuditFailure) throw error;
        throw new Error(`cannot read the export: ${fileErrorMessage(error) ?? `${file}: ${(error as Error).message}`}`);
      }
      report = verifier.finish();
      replay = replayer?.finish() ?? null;
    } catch (error) {
      if (!(error instanceof AuditFailure)) throw error;
      report = verifier.failed(error);
    }
    if (progress && tty) process.stderr.write("\n");
    const seconds = (Date.now() - started) / 1000;

    if (values.json) {
      process.stdout.write(`${JSON.stringify({ ...report, ...(replay ? { replay } : {}), seconds }, null, 2)}\n`);
    } else {
      for (const line of describe(report)) process.stdout.write(`${line}\n`);
      if (replay && !report.failure) for (const line of describeReplay(replay)) process.stdout.write(`${line}\n`);
      if (report.failure) {
        const where = report.failure.seq === null ? "" : ` at seq ${report.failure.seq}`;
        process.stdout.write(`FAILED${where}: ${report.failure.code}: ${report.failure.message}\n`);
      } else {
        process.stdout.write(`VERIFIED in ${seconds.toFixed(1)} s (${Math.round(report.entries / Math.max(seconds, 0.001))} entries/s)\n`);
      }
    }
    return report.ok ? STATUS.ok : STATUS.rejected;
  },
};

const VERIFY_PACKAGE = "warden audit verify-package";

const verifyPackageCommand: Command = {
  summary: "Verify a compliance package offline: manifest, checkpoints, proven evidence, bundle artifacts, mapping",
  help: `Usage: ${VERIFY_PACKAGE} <package.jsonl> --keys <jwks file or url> [--publisher-keys <jwks file>] [--witness <vkey|file>]... [--witness-quorum <n>] [--json]

Verifies a compliance package from GET /v1/audit/package (docs/audit-export.md) without
contacting Warden: the manifest is signed by a trusted log key and its SHA-256 and counts
cover every record; each device's checkpoint is signed for that device's log (and, with
--witness, cosigned); each attestation appraisal and review verdict is proven into its
device's checkpoint; each bundle artifact's digest matches its policy text and the admin
log, and every deployed bundle is there (with --publisher-keys, its signature too); the
mapping of controls to files is the one the records give. Lists what the deployment does
not keep as absent.

Exit status: ${STATUS.ok} verified, ${STATUS.rejected} verification failed, ${STATUS.error} usage or I/O error.`,

  async run(argv) {
    const { values, positionals } = parseWithPositionals(
      VERIFY_PACKAGE,
      argv,
      { keys: { type: "string" }, "publisher-keys": { type: "string" }, witness: { type: "string", multiple: true }, "witness-quorum": { type: "string" }, ...JSON_OPTION },
      1,
    );
    const keys = await loadKeys(required<string>(VERIFY_PACKAGE, values, "keys"));
    const file = positionals[0] as string;
    const witnesses = await loadWitnesses(values.witness ?? []);
    const witnessQuorum = quorumOf(values["witness-quorum"], witnesses, VERIFY_PACKAGE);
    const publishers = values["publisher-keys"] ? await publisherKeys(await readText(values["publisher-keys"], "the publisher keys")) : undefined;
    const input = file === "-" ? process.stdin : createReadStream(file);
    const report = await verifyPackage(byteLines(input), {
      keys,
      witnesses,
      ...(witnessQuorum !== undefined ? { witnessQuorum } : {}),
      ...(publishers ? { publisherKeys: publishers } : {}),
    });
    if (values.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else if (report.failure) process.stdout.write(`FAILED: ${report.failure.code}: ${report.failure.message}\n`);
    else {
      const c = report.counts;
      process.stdout.write(
        `VERIFIED compliance package of ${report.tenant} (${report.range?.from} .. ${report.range?.to}): ${c.devices} devices (${report.checkpoints} checkpoints), ` +
          `${c.attestations} attestation and ${c.reviews} review entries proven, ${c.bundle_log} bundle records, ${c.bundle_artifacts} bundle artifacts` +
          `${report.signedBundles > 0 ? ` (${report.signedBundles} signatures checked)` : ""}; signed by ${report.manifestKey}; absent: ${report.absent.join(", ") || "nothing"}\n`,
      );
      for (const warning of report.warnings) process.stdout.write(`  !!  ${warning}\n`);
    }
    return report.ok ? STATUS.ok : STATUS.rejected;
  },
};

const VERIFY_RECEIPT = "warden audit verify-receipt";

function describeReceipt(report: ReceiptReport): string {
  if (report.failure) return `FAILED: ${report.failure.code}: ${report.failure.message}\n`;
  const witnessed = report.witnesses.length > 0 ? `, cosigned by ${report.witnesses.join(", ")}` : "";
  const related = report.related.length > 0 ? `; with ${report.related.map((r) => `${r.type} (seq ${r.seq})`).join(", ")}` : "";
  return `VERIFIED receipt of decision ${report.decision_id} (${report.decision}) at seq ${report.seq} of ${report.origin}: in the checkpoint of size ${report.checkpoint?.size} signed by ${report.checkpoint?.key}${witnessed}${related}\n`;
}

const verifyReceiptCommand: Command = {
  summary: "Verify a decision receipt offline: the entry, its inclusion proof and the signed, witnessed checkpoint",
  help: `Usage: ${VERIFY_RECEIPT} <receipt.json> --keys <jwks file or url> [--witness <vkey|file>]... [--witness-quorum <n>] [--json]

Verifies a receipt from GET /v1/decisions/:id/receipt (docs/audit-export.md) without
contacting Warden: the checkpoint is signed by a trusted log key (and, with --witness,
cosigned by enough witnesses), the decision entry's hash recomputes and its RFC 6962
inclusion proof leads to the checkpoint's root, and so do the session and review
entries the decision rests on.

Exit status: ${STATUS.ok} verified, ${STATUS.rejected} verification failed, ${STATUS.error} usage or I/O error.`,

  async run(argv) {
    const { values, positionals } = parseWithPositionals(VERIFY_RECEIPT, argv, { keys: { type: "string" }, witness: { type: "string", multiple: true }, "witness-quorum": { type: "string" }, ...JSON_OPTION }, 1);
    const keys = await loadKeys(required<string>(VERIFY_RECEIPT, values, "keys"));
    const witnesses = await loadWitnesses(values.witness ?? []);
    const quorum = quorumOf(values["witness-quorum"], witnesses, VERIFY_RECEIPT);
    const file = positionals[0] as string;
    const bytes = await readSource(file, "the receipt");
    const report = await verifyReceipt(bytes, { keys, witnesses, ...(quorum !== undefined ? { quorum } : {}) });
    process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : describeReceipt(report));
    return report.ok ? STATUS.ok : STATUS.rejected;
  },
};

export default group("audit", "Verify Warden log exports, decision receipts and compliance packages offline", {
  verify,
  "verify-receipt": verifyReceiptCommand,
  "verify-package": verifyPackageCommand,
});
