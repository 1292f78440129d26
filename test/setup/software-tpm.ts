// Node side only (Vitest's globalSetup and scripts): a real software TPM — Debian's
// swtpm with its EK certificates from swtpm_localca — driven with tpm2-tools.
// Tests run inside workerd, which cannot spawn processes; they reach this
// through the loopback host in ./swtpm.ts.
import { execFile } from "node:child_process";
import { mkdir, readFile, rm, writeFile, mkdtemp } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** Persistent handles: swtpm_setup's EKs (TCG EK profile low/high range), then ours. */
export const HANDLES = {
  ekRsa: "0x81010001",
  ekEcc: "0x81010016",
  akRsa: "0x81010002",
  akEcc: "0x81010003",
  akRsaPss: "0x81010004",
  unrestricted: "0x81010005",
} as const;

export type AkKind = "rsa" | "ecc" | "rsapss" | "unrestricted";
const AK_HANDLE: Record<AkKind, string> = { rsa: HANDLES.akRsa, ecc: HANDLES.akEcc, rsapss: HANDLES.akRsaPss, unrestricted: HANDLES.unrestricted };
/** The signing scheme each key was made with (tpm2_quote otherwise picks the key type's default). */
const SCHEME: Record<AkKind, string> = { rsa: "rsassa", ecc: "ecdsa", rsapss: "rsapss", unrestricted: "rsassa" };

export class TpmToolError extends Error {
  constructor(
    readonly command: string,
    readonly stderr: string,
  ) {
    super(`${command} failed: ${stderr.trim().split("\n").slice(-2).join(" | ")}`);
    this.name = "TpmToolError";
  }
}

/** Two consecutive free loopback ports (the swtpm TCTI uses port and port + 1). */
async function freePortPair(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 40000);
    const ok = await Promise.all([port, port + 1].map((p) => new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once("error", () => resolve(false));
      server.listen(p, "127.0.0.1", () => server.close(() => resolve(true)));
    })));
    if (ok.every(Boolean)) return port;
  }
  throw new Error("no free port pair for swtpm");
}

/** The CA swtpm_localca creates on first use: a root and the "swtpm-localca" intermediate that signs EK certificates. */
export interface LocalCa {
  rootPem: string;
  intermediatePem: string;
}

/** Writes the swtpm_setup / swtpm_localca configuration pointing at `caDir`. */
async function writeSetupConfig(dir: string, caDir: string): Promise<string> {
  await mkdir(caDir, { recursive: true });
  const localca = join(dir, "swtpm-localca.conf");
  await writeFile(localca, [`statedir = ${caDir}`, `signingkey = ${caDir}/signkey.pem`, `issuercert = ${caDir}/issuercert.pem`, `certserial = ${caDir}/certserial`, ""].join("\n"));
  const options = join(dir, "swtpm-localca.options");
  await writeFile(options, "--platform-manufacturer Warden\n--platform-version 1.0\n--platform-model test\n");
  const setup = join(dir, "swtpm_setup.conf");
  await writeFile(setup, [`create_certs_tool = /usr/bin/swtpm_localca`, `create_certs_tool_config = ${localca}`, `create_certs_tool_options = ${options}`, "active_pcr_banks = sha256", ""].join("\n"));
  return setup;
}

/**
 * One swtpm process (socket mode on loopback, its own state directory) with
 * its RSA and ECC EKs and EK certificates made by swtpm_setup, and four
 * persistent keys made with tpm2-tools: an RSA AK (RSASSA-SHA256), an ECC AK
 * (ECDSA-P256-SHA256), an RSA AK signing with RSAPSS, and an unrestricted
 * signing key (not an AK, for negative tests). Every tool call is serialised
 * and followed by flushing transient objects and sessions, because swtpm holds
 * only a few at a time (`tpm2_flushcontext -t` / `-s`).
 */
export class SoftwareTpm {
  private queue: Promise<unknown> = Promise.resolve();
  private process: { pid: number } | undefined;

  private constructor(
    readonly name: string,
    readonly dir: string,
    readonly port: number,
  ) {}

  get tcti(): string {
    return `swtpm:host=127.0.0.1,port=${this.port}`;
  }

  /** Manufactures a TPM under `root/<name>`, its EK certificates signed by the local CA in `root/ca`. */
  static async create(root: string, name: string, keys: readonly AkKind[] = ["rsa", "ecc", "rsapss", "unrestricted"]): Promise<SoftwareTpm> {
    const dir = join(root, name);
    const state = join(dir, "state");
    await mkdir(state, { recursive: true });
    const config = await writeSetupConfig(dir, join(root, "ca"));
    await run("swtpm_setup", ["--tpm2", "--tpmstate", state, "--create-ek-cert", "--config", config, "--overwrite"], { cwd: dir }).catch((e: { stderr?: string; stdout?: string }) => {
      throw new TpmToolError("swtpm_setup", `${e.stdout ?? ""}${e.stderr ?? ""}`);
    });
    const tpm = new SoftwareTpm(name, dir, await freePortPair());
    await tpm.start();
    try {
      await tpm.makeKeys(keys);
    } catch (error) {
      await tpm.stop();
      throw error;
    }
    return tpm;
  }

  private async start(): Promise<void> {
    const pidFile = join(this.dir, "swtpm.pid");
    await run("swtpm", [
      "socket", "--tpm2", "--daemon",
      "--tpmstate", `dir=${join(this.dir, "state")}`,
      "--server", `type=tcp,port=${this.port},bindaddr=127.0.0.1`,
      "--ctrl", `type=tcp,port=${this.port + 1},bindaddr=127.0.0.1`,
      "--flags", "not-need-init,startup-clear",
      "--pid", `file=${pidFile}`,
    ]);
    const pid = Number((await readFile(pidFile, "utf8")).trim());
    this.process = { pid };
    // A daemon outlives its parent: make sure it does not outlive this process, however it ends.
    process.once("exit", () => {
      try {
        process.kill(pid, "SIGTERM");
      } catch {
        // already stopped
      }
    });
  }

  async stop(): Promise<void> {
    if (!this.process) return;
    try {
      process.kill(this.process.pid, "SIGTERM");
    } catch {
      // already gone
    }
    this.process = undefined;
  }

  /** Runs one tpm2-tools command against this TPM (not serialised: callers hold the queue). */
  private async tool(command: string, args: string[], cwd: string): Promise<string> {
    try {
      const { stdout } = await run(command, args, { cwd, env: { ...process.env, TPM2TOOLS_TCTI: this.tcti }, maxBuffer: 1 << 20 });
      return stdout;
    } catch (e) {
      const err = e as { stderr?: string };
      throw new TpmToolError(command, err.stderr ?? String(e));
    }
  }

  /**
   * Runs `body` alone on this TPM in a fresh work directory, then flushes any
   * transient object and session it left behind.
   */
  exclusive<T>(body: (tool: (command: string, ...args: string[]) => Promise<string>, cwd: string) => Promise<T>): Promise<T> {
    const next = this.queue.then(async () => {
      const cwd = await mkdtemp(join(this.dir, "op-"));
      const tool = (command: string, ...args: string[]) => this.tool(command, args, cwd);
      try {
        return await body(tool, cwd);
      } finally {
        await this.tool("tpm2_flushcontext", ["-t"], cwd).catch(() => undefined);
        await this.tool("tpm2_flushcontext", ["-s"], cwd).catch(() => undefined);
        await rm(cwd, { recursive: true, force: true });
      }
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async makeKeys(keys: readonly AkKind[]): Promise<void> {
    await this.exclusive(async (tool) => {
      // AKs are made under the RSA EK (as tpm2_createak does: a restricted signing key in the endorsement hierarchy).
      const aks: Partial<Record<AkKind, string[]>> = {
        rsa: ["-G", "rsa", "-g", "sha256", "-s", "rsassa"],
        ecc: ["-G", "ecc256", "-g", "sha256", "-s", "ecdsa"],
        rsapss: ["-G", "rsa", "-g", "sha256", "-s", "rsapss"],
      };
      for (const kind of keys) {
        const args = aks[kind];
        if (!args) continue;
        await tool("tpm2_createak", "-C", HANDLES.ekRsa, "-c", `ak-${kind}.ctx`, ...args);
        await tool("tpm2_evictcontrol", "-C", "o", "-c", `ak-${kind}.ctx`, AK_HANDLE[kind]);
        await tool("tpm2_flushcontext", "-t");
      }
      if (!keys.includes("unrestricted")) return;
      // Not an AK: an ordinary (unrestricted) signing key under an owner-hierarchy primary.
      await tool("tpm2_createprimary", "-C", "o", "-g", "sha256", "-G", "ecc256", "-c", "primary.ctx");
      await tool("tpm2_create", "-C", "primary.ctx", "-G", "rsa2048:rsassa-sha256", "-a", "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign", "-u", "k.pub", "-r", "k.priv");
      await tool("tpm2_flushcontext", "-t");
      await tool("tpm2_createprimary", "-C", "o", "-g", "sha256", "-G", "ecc256", "-c", "primary.ctx");
      await tool("tpm2_load", "-C", "primary.ctx", "-u", "k.pub", "-r", "k.priv", "-c", "k.ctx");
      await tool("tpm2_flushcontext", "-t");
      await tool("tpm2_evictcontrol", "-C", "o", "-c", "k.ctx", HANDLES.unrestricted);
    });
  }

  /** The Name of a persistent object as the TPM computes it (tpm2_readpublic -n). */
  async objectName(handle: string): Promise<Uint8Array> {
    return this.exclusive(async (tool, cwd) => {
      await tool("tpm2_readpublic", "-c", handle, "-n", "name.bin");
      return new Uint8Array(await readFile(join(cwd, "name.bin")));
    });
  }

  /** TPMT_PUBLIC of a persistent object (tpm2_readpublic writes a TPM2B_PUBLIC: the size is dropped). */
  async publicArea(handle: string): Promise<Uint8Array> {
    return this.exclusive(async (tool, cwd) => {
      await tool("tpm2_readpublic", "-c", handle, "-f", "tss", "-o", "pub.tss");
      return (await readFile(join(cwd, "pub.tss"))).subarray(2);
    });
  }

  /** The EK certificate swtpm_setup wrote to its TCG NV index (0x01c00002 RSA, 0x01c00016 ECC). */
  async ekCertificate(kind: "rsa" | "ecc"): Promise<Uint8Array> {
    return this.exclusive(async (tool, cwd) => {
      const index = kind === "rsa" ? "0x1c00002" : "0x1c00016";
      await tool("tpm2_nvread", index, "-o", "ek.der");
      return trimDer(await readFile(join(cwd, "ek.der")));
    });
  }

  /**
   * TPM2_ActivateCredential with the given EK as the protector and AK as the
   * credentialed object. Inputs are TPM2B_ID_OBJECT and TPM2B_ENCRYPTED_SECRET
   * (with their size fields); they go to tpm2-tools in its file format
   * (magic 0xBADCC0DE, version 1, then both TPM2Bs). The RSA EK's policy is
   * PolicySecret(endorsement); swtpm's ECC EK also allows its (empty) password.
   */
  async activateCredential(ek: "rsa" | "ecc", ak: AkKind, credentialBlob: Uint8Array, encryptedSecret: Uint8Array): Promise<Uint8Array> {
    return this.exclusive(async (tool, cwd) => {
      const header = Uint8Array.of(0xba, 0xdc, 0xc0, 0xde, 0, 0, 0, 1);
      await writeFile(join(cwd, "cred.in"), Buffer.concat([header, credentialBlob, encryptedSecret]));
      const ekHandle = ek === "rsa" ? HANDLES.ekRsa : HANDLES.ekEcc;
      if (ek === "rsa") {
        await tool("tpm2_startauthsession", "--policy-session", "-S", "session.ctx");
        await tool("tpm2_policysecret", "-S", "session.ctx", "-c", "e");
        await tool("tpm2_activatecredential", "-c", AK_HANDLE[ak], "-C", ekHandle, "-i", "cred.in", "-o", "secret.out", "-P", "session:session.ctx");
        await tool("tpm2_flushcontext", "session.ctx");
      } else {
        await tool("tpm2_activatecredential", "-c", AK_HANDLE[ak], "-C", ekHandle, "-i", "cred.in", "-o", "secret.out");
      }
      return new Uint8Array(await readFile(join(cwd, "secret.out")));
    });
  }

  /** TPM2_Quote by an AK over `nonce` and a sha256/sha384 PCR selection: TPMS_ATTEST, TPMT_SIGNATURE and the PCR values. */
  async quote(ak: AkKind, nonce: Uint8Array, bank: string, pcrs: readonly number[]): Promise<{ quote: Uint8Array; signature: Uint8Array; pcrs: Record<string, string> }> {
    return this.exclusive(async (tool, cwd) => {
      const args = ["-c", AK_HANDLE[ak], "-l", `${bank}:${pcrs.join(",")}`, "-m", "quote.msg", "-s", "quote.sig", "-o", "pcrs.bin", "-F", "values", "-g", "sha256", "--scheme", SCHEME[ak]];
      if (nonce.length > 0) args.push("-q", Buffer.from(nonce).toString("hex"));
      await tool("tpm2_quote", ...args);
      const values = await readFile(join(cwd, "pcrs.bin"));
      const size = bank === "sha384" ? 48 : 32;
      const sorted = [...pcrs].sort((a, b) => a - b);
      const out: Record<string, string> = {};
      sorted.forEach((pcr, i) => (out[String(pcr)] = values.subarray(i * size, (i + 1) * size).toString("hex")));
      return { quote: new Uint8Array(await readFile(join(cwd, "quote.msg"))), signature: new Uint8Array(await readFile(join(cwd, "quote.sig"))), pcrs: out };
    });
  }

  /**
   * TPM2_Certify of the AK by itself: a TPMS_ATTEST of type ATTEST_CERTIFY, signed like a quote
   * (tpm2-tools 5.4's tpm2_certify takes no qualifying data, so extraData is empty).
   */
  async certify(ak: AkKind): Promise<{ attest: Uint8Array; signature: Uint8Array }> {
    return this.exclusive(async (tool, cwd) => {
      await tool("tpm2_certify", "-c", AK_HANDLE[ak], "-C", AK_HANDLE[ak], "-g", "sha256", "--scheme", SCHEME[ak], "-o", "attest.bin", "-s", "sig.bin");
      return { attest: new Uint8Array(await readFile(join(cwd, "attest.bin"))), signature: new Uint8Array(await readFile(join(cwd, "sig.bin"))) };
    });
  }

  /** Extends a PCR of the sha256 bank with a digest (changes what the next quote reports). */
  async extend(pcr: number, digestHex: string): Promise<void> {
    await this.exclusive(async (tool) => {
      await tool("tpm2_pcrextend", `${pcr}:sha256=${digestHex}`);
    });
  }
}

/** NV reads return the whole index; the certificate is the DER SEQUENCE at its start. */
function trimDer(bytes: Uint8Array): Uint8Array {
  if (bytes[0] !== 0x30) throw new Error("EK NV index does not hold a DER certificate");
  const first = bytes[1] as number;
  if (first < 0x80) return bytes.subarray(0, 2 + first);
  const n = first & 0x7f;
  let length = 0;
  for (let i = 0; i < n; i++) length = length * 256 + (bytes[2 + i] as number);
  return new Uint8Array(bytes.subarray(0, 2 + n + length));
}

/** The local CA's certificates, once swtpm_localca has created them. */
export async function localCa(root: string): Promise<LocalCa> {
  return {
    rootPem: await readFile(join(root, "ca", "swtpm-localca-rootca-cert.pem"), "utf8"),
    intermediatePem: await readFile(join(root, "ca", "issuercert.pem"), "utf8"),
  };
}

/** A fresh directory for TPM state under the system temp dir. */
export function tpmRoot(): Promise<string> {
  return mkdtemp(join(tmpdir(), "warden-swtpm-"));
}

/** Whether swtpm and tpm2-tools are installed (scripts/install-test-deps.sh installs them). */
export async function toolsAvailable(): Promise<boolean> {
  try {
    // `swtpm_setup --version` exits 1, so look it up on PATH instead of running it.
    await run("swtpm", ["--version"]);
    await run("sh", ["-c", "command -v swtpm_setup"]);
    await run("tpm2_quote", ["--version"]);
    return true;
  } catch {
    return false;
  }
}
