import { readFile } from "node:fs/promises";
import { fileErrorMessage, group, JSON_OPTION, oneOf, parseOptions, parseTime, printResult, required, type Command } from "./command.ts";
import { AZURE_EVIDENCE_HELP, verifyAzureEvidence } from "./evidence-azure.ts";
import { CVM_EVIDENCE_HELP } from "./evidence.ts";
import { EVENTLOG_EVIDENCE_HELP, verifyEventLog } from "./evidence-eventlog.ts";
import { TPM_EVIDENCE_HELP, tpmEvidenceResult } from "./evidence-tpm.ts";
import { STATUS } from "./exit.ts";

/**
 * `warden evidence verify --type <tpm | tpm-ek | tpm-eventlog | sev-snp | azure-snp-vtpm | tdx>`:
 * reads the files and hands their contents to the offline verifiers — cli/evidence-tpm.ts for
 * the TPM types, cli/evidence-eventlog.ts for event logs, cli/evidence-azure.ts for Azure CVMs,
 * cli/evidence.ts for SEV-SNP and TDX. Prints the result (as JSON with --json); exits 0 when
 * valid, 2 when rejected, 1 on a usage or file error.
 */

const VERIFY = "warden evidence verify";
const TYPES = ["tpm", "tpm-ek", "tpm-eventlog", "sev-snp", "azure-snp-vtpm", "tdx"] as const;

async function readInput(path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (error) {
    throw new Error(fileErrorMessage(error) ?? `cannot read ${path}: ${(error as Error).message}`);
  }
}

/** The result as text: valid or rejected with its code, then every other field on its own line. */
function describe(result: { valid: boolean; code?: string | undefined; message?: string | undefined; type: string }): string[] {
  const { valid, code, message, type, ...rest } = result;
  const lines = [valid ? `valid: ${String(type)} evidence verified` : `rejected: ${code ?? "?"}: ${message ?? ""}`];
  for (const [key, value] of Object.entries(rest as Record<string, unknown>)) {
    if (value !== undefined) lines.push(`${key}: ${typeof value === "string" ? value : JSON.stringify(value)}`);
  }
  return lines;
}

const verify: Command = {
  summary: "Verify TPM quotes, EK certificates and event logs, SEV-SNP, Azure CVM or TDX evidence offline against the pinned vendor roots",
  help: [
    `Usage: ${VERIFY} --type <${TYPES.join(" | ")}> --evidence <file> [options] [--json]`,
    "",
    TPM_EVIDENCE_HELP,
    "",
    EVENTLOG_EVIDENCE_HELP,
    "",
    AZURE_EVIDENCE_HELP,
    "",
    CVM_EVIDENCE_HELP,
    "",
    "  --json  Print the result as JSON: valid, code and message when rejected, and what was verified",
    "",
    "Exit status: 0 valid, 2 rejected (the code says why), 1 usage or file error (a bad --now included).",
  ].join("\n"),
  async run(argv) {
    const values = parseOptions(VERIFY, argv, {
      type: { type: "string" },
      evidence: { type: "string" },
      certs: { type: "string", multiple: true },
      collateral: { type: "string", multiple: true },
      now: { type: "string" },
      signature: { type: "string" },
      ak: { type: "string" },
      pcrs: { type: "string" },
      nonce: { type: "string" },
      selection: { type: "string" },
      manifest: { type: "string" },
      "allow-debug": { type: "boolean" },
      "allow-migration-agent": { type: "boolean" },
      ...JSON_OPTION,
    });
    const type = oneOf(VERIFY, "type", required<string>(VERIFY, values, "type"), TYPES);
    const evidence = required<string>(VERIFY, values, "evidence");
    const now = values.now === undefined ? new Date() : parseTime(VERIFY, values.now);
    let result: { valid: boolean; type: string; code?: string | undefined; message?: string | undefined };
    if (type === "tpm" || type === "tpm-ek") {
      const { type: _type, evidence: _evidence, "allow-debug": _debug, "allow-migration-agent": _migration, collateral: _collateral, json: _json, now: _now, ...rest } = values;
      result = await tpmEvidenceResult({ type, evidence, now, ...rest }, readInput);
    } else if (type === "tpm-eventlog") {
      result = { type, ...(await verifyEventLog({ evidence: await readInput(evidence), pcrs: await readInput(required<string>(VERIFY, values, "pcrs")) })) };
    } else if (type === "azure-snp-vtpm") {
      result = {
        type,
        ...(await verifyAzureEvidence({
          evidence: await readInput(evidence),
          certs: await Promise.all((values.certs ?? []).map(readInput)),
          collateral: await Promise.all((values.collateral ?? []).map(readInput)),
          ...(values.nonce !== undefined ? { nonce: values.nonce } : {}),
          now,
        })),
      };
    } else {
      const { evidenceVerify } = await import("./evidence.ts");
      result = {
        type,
        ...(await evidenceVerify({
          type,
          evidence: await readInput(evidence),
          certs: await Promise.all((values.certs ?? []).map(readInput)),
          collateral: await Promise.all((values.collateral ?? []).map(readInput)),
          now,
          allowDebug: values["allow-debug"] ?? false,
          allowMigrationAgent: values["allow-migration-agent"] ?? false,
        })),
      };
    }
    printResult(values.json, result, describe);
    return result.valid ? STATUS.ok : STATUS.rejected;
  },
};

export default group("evidence", "Verify attestation evidence offline (TPM, event logs, SEV-SNP, Azure CVMs, TDX)", { verify });
