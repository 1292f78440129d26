import { readFile } from "node:fs/promises";
import { group, oneOf, parseOptions, required, type Command } from "./command.ts";
import { AZURE_EVIDENCE_HELP, verifyAzureEvidence } from "./evidence-azure.ts";
import { EVENTLOG_EVIDENCE_HELP, verifyEventLog } from "./evidence-eventlog.ts";
import { TPM_EVIDENCE_HELP, runTpmEvidenceVerify } from "./evidence-tpm.ts";

/**
 * `warden evidence verify --type <tpm | tpm-ek | tpm-eventlog | sev-snp | azure-snp-vtpm | tdx>`:
 * reads the files and hands their contents to the offline verifiers — cli/evidence-tpm.ts for
 * the TPM types, cli/evidence-eventlog.ts for event logs, cli/evidence-azure.ts for Azure CVMs,
 * cli/evidence.ts for SEV-SNP and TDX. Prints the
 * result as JSON; exits 0 when valid, 1 when rejected (or on a usage error).
 */

const VERIFY = "warden evidence verify";
const TYPES = ["tpm", "tpm-ek", "tpm-eventlog", "sev-snp", "azure-snp-vtpm", "tdx"] as const;

async function readInput(path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (error) {
    throw new Error(`cannot read ${path}: ${(error as Error).message}`);
  }
}

const verify: Command = {
  summary: "Verify TPM quotes, EK certificates and event logs, SEV-SNP or TDX evidence offline against the pinned vendor roots",
  help: [
    `${VERIFY} --type <${TYPES.join(" | ")}> --evidence <file> [options]`,
    "",
    TPM_EVIDENCE_HELP,
    "",
    EVENTLOG_EVIDENCE_HELP,
    "",
    AZURE_EVIDENCE_HELP,
    "",
    `${VERIFY} --type sev-snp | tdx --evidence <file> [--certs <file>]... [--collateral <file>]... [--now <RFC 3339>] [--allow-debug]`,
    "  (formats: cli/evidence.ts)",
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
    });
    const type = oneOf(VERIFY, "type", required<string>(VERIFY, values, "type"), TYPES);
    const evidence = required<string>(VERIFY, values, "evidence");
    const write = (text: string) => void process.stdout.write(text);
    if (type === "tpm-eventlog") {
      const result = await verifyEventLog({ evidence: await readInput(evidence), pcrs: await readInput(required<string>(VERIFY, values, "pcrs")) });
      write(JSON.stringify({ type, ...result }, null, 2) + "\n");
      return result.valid ? 0 : 1;
    }
    if (type === "tpm" || type === "tpm-ek") {
      const { type: _type, evidence: _evidence, "allow-debug": _debug, collateral: _collateral, ...rest } = values;
      return runTpmEvidenceVerify({ type, evidence, ...rest }, { readFile: readInput, write });
    }
    if (type === "azure-snp-vtpm") {
      const result = await verifyAzureEvidence({
        evidence: await readInput(evidence),
        certs: await Promise.all((values.certs ?? []).map(readInput)),
        ...(values.nonce !== undefined ? { nonce: values.nonce } : {}),
        now: values.now ? new Date(values.now) : new Date(),
      });
      write(JSON.stringify({ type, ...result }, null, 2) + "\n");
      return result.valid ? 0 : 1;
    }
    const { evidenceVerify } = await import("./evidence.ts");
    const result = await evidenceVerify({
      type,
      evidence: await readInput(evidence),
      certs: await Promise.all((values.certs ?? []).map(readInput)),
      collateral: await Promise.all((values.collateral ?? []).map(readInput)),
      now: values.now ? new Date(values.now) : new Date(),
      allowDebug: values["allow-debug"] ?? false,
    });
    write(JSON.stringify({ type, ...result }, null, 2) + "\n");
    return result.valid ? 0 : 1;
  },
};

export default group("evidence", "Verify attestation evidence offline (TPM, SEV-SNP, TDX)", { verify });
