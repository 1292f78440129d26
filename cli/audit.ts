import { createReadStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { group, UsageError, type Command } from "./command.ts";
import { AuditFailure, ExportVerifier, byteLines, verifyPackage, type VerifyReport } from "../worker/log/export-verify.ts";
import type { ReplayReport } from "../worker/history/replay.ts";
import { StrictJsonError, parseStrictJson } from "../worker/json/strict.ts";
import { importLogPublicKey, type LogKey } from "../worker/log/keys.ts";
import { parseMacKey, type MacKey } from "../worker/log/mac.ts";

/**
 * `warden audit verify`: the file and network side of export verification.
 * Reads the export line by line (never whole), the trusted keys from a JWK Set
 * file or URL, an optional earlier checkpoint and HMAC keys, and hands each
 * line to the pure verifier in cli/audit-verify.ts. Lines go over as bytes, so
 * the verifier's strict reader sees invalid UTF-8 rather than U+FFFD.
 */

const VERIFY = "warden audit verify";

/** Exit status of `warden audit verify`. */
export const AUDIT_EXIT = { verified: 0, error: 1, failed: 2 } as const;

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
    throw new Error(`cannot read ${what} ${source}: ${(error as Error).message}`);
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
  lines.push(`  ok  export manifest signed by ${report.manifestKey}`);
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
  --replay <file>       A signed bundle artifact to replay against (repeatable; further
                        files after the export are artifacts too)
  --publisher-keys <file|url>  JWK Set of the publisher keys you trust (PUBLISHER_KEYS);
                        required with --replay
  --json                Print the report as JSON
  --quiet               No progress on stderr
  -h, --help            Show this help

Use - as the export to read standard input.

Exit status: ${AUDIT_EXIT.verified} verified, ${AUDIT_EXIT.failed} verification failed (the report names the
first bad seq), ${AUDIT_EXIT.error} usage or I/O error.`,

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
    let replayer: import("../worker/history/replay.ts").Replayer | null = null;
    if (values.replay !== undefined) {
      // Cedar and the replay load only when asked for.
      const [{ loadReplayBundles, ArtifactRefused }, { Replayer }] = await Promise.all([import("./audit-replay.ts"), import("../worker/history/replay.ts")]);
      const artifacts = await Promise.all(artifactFiles.map(async (path) => ({ file: path, text: await readText(path, "the artifact") })));
      try {
        replayer = new Replayer(await loadReplayBundles(artifacts, await readText(values["publisher-keys"] as string, "the publisher keys")));
      } catch (error) {
        if (!(error instanceof ArtifactRefused)) throw error;
        process.stdout.write(values.json ? `${JSON.stringify({ ok: false, failure: { code: "artifact_invalid", artifact: error.file, reason: error.code, message: error.message } }, null, 2)}\n` : `FAILED: artifact_invalid: ${error.message} (${error.code})\n`);
        return AUDIT_EXIT.failed;
      }
    }

    const progress = !values.quiet;
    const tty = process.stderr.isTTY === true;
    const started = Date.now();
    let lastPrint = started;
    const verifier = new ExportVerifier({
      keys,
      macKeys,
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
        throw new Error(`cannot read ${file}: ${(error as Error).message}`);
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
    return report.ok ? AUDIT_EXIT.verified : AUDIT_EXIT.failed;
  },
};

const VERIFY_PACKAGE = "warden audit verify-package";

const verifyPackageCommand: Command = {
  summary: "Verify a compliance package offline: its signed manifest and every device checkpoint",
  help: `Usage: ${VERIFY_PACKAGE} <package.jsonl> --keys <jwks file or url> [--json]

Verifies a compliance package from GET /v1/audit/package: the manifest is signed
by a trusted log key and its SHA-256 and counts cover every record; each
device's latest checkpoint is signed by a trusted key for that device's log.

Exit status: ${AUDIT_EXIT.verified} verified, ${AUDIT_EXIT.failed} verification failed, ${AUDIT_EXIT.error} usage or I/O error.`,

  async run(argv) {
    let parsed;
    try {
      parsed = parseArgs({ args: argv, strict: true, allowPositionals: true, options: { keys: { type: "string" }, json: { type: "boolean", default: false } } });
    } catch (error) {
      throw new UsageError((error as Error).message, VERIFY_PACKAGE);
    }
    const { values, positionals } = parsed;
    if (positionals.length !== 1) throw new UsageError("exactly one package file is required", VERIFY_PACKAGE);
    if (!values.keys) throw new UsageError("--keys is required", VERIFY_PACKAGE);
    const file = positionals[0] as string;
    const keys = await loadKeys(values.keys);
    const input = file === "-" ? process.stdin : createReadStream(file);
    const report = await verifyPackage(byteLines(input), { keys });
    if (values.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else if (report.failure) process.stdout.write(`FAILED: ${report.failure.code}: ${report.failure.message}\n`);
    else {
      process.stdout.write(
        `VERIFIED compliance package of ${report.tenant} (${report.range?.from} .. ${report.range?.to}): ${report.devices} devices, ` +
          `${report.checkpoints} checkpoints, ${report.bundleLog} bundle records; signed by ${report.manifestKey}; not included: ${report.notIncluded.join(", ") || "nothing"}\n`,
      );
    }
    return report.ok ? AUDIT_EXIT.verified : AUDIT_EXIT.failed;
  },
};

export default group("audit", "Verify Warden log exports and compliance packages offline", { verify, "verify-package": verifyPackageCommand });
