// Vitest globalSetup (Node side): a loopback HTTP host in front of real software TPMs.
//
// Tests run inside workerd and cannot spawn processes, so the TPM work a device would do —
// reading its EK certificate, TPM2_ActivateCredential with the server's challenge, TPM2_Quote
// over the server's nonce — is asked of this host with fetch(inject("tpmHost") + …). TPMs are
// made lazily on first use (swtpm_setup + tpm2-tools, a few seconds each), so test runs that
// never touch a TPM pay nothing but an idle listening socket.
//
//   tpm "a": RSA + ECC EKs with certificates from the swtpm local CA, RSA/ECC/RSAPSS AKs,
//            an unrestricted signing key;
//   tpm "b": another TPM with its own EKs and an RSA AK (for "an AK from another TPM").
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { rm } from "node:fs/promises";
import type { TestProject } from "vitest/node";
import { HANDLES, SoftwareTpm, localCa, toolsAvailable, tpmRoot, type AkKind } from "./software-tpm.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** Base URL of the loopback TPM host (test/setup/swtpm.ts). */
    tpmHost: string;
  }
}

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");
const fromB64 = (text: string) => new Uint8Array(Buffer.from(text, "base64"));

const KEYS: Record<string, readonly AkKind[]> = { a: ["rsa", "ecc", "rsapss", "unrestricted"], b: ["rsa"] };

export default async function setup(project: TestProject) {
  let root: string | undefined;
  const tpms = new Map<string, Promise<SoftwareTpm>>();
  // TPMs are made one after another: the first swtpm_setup creates the local CA the others reuse.
  let chain: Promise<unknown> = Promise.resolve();

  function tpm(name: string): Promise<SoftwareTpm> {
    let made = tpms.get(name);
    if (!made) {
      made = chain.then(async () => {
        if (!(await toolsAvailable())) throw new Error("swtpm / tpm2-tools are not installed: run scripts/install-test-deps.sh");
        root ??= await tpmRoot();
        return SoftwareTpm.create(root, name, KEYS[name] ?? ["rsa"]);
      });
      chain = made.catch(() => undefined);
      tpms.set(name, made);
    }
    return made;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>) : {};
    const m = /^\/tpm\/([ab])\/([a-z]+)$/.exec(req.url ?? "");
    const reply = (status: number, value: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(value));
    };
    if (!m) return reply(404, { error: "unknown route" });
    const [, name, op] = m as unknown as [string, string, string];
    try {
      const t = await tpm(name);
      switch (op) {
        case "info": {
          const ca = await localCa(root as string);
          const publics: Record<string, string> = {};
          const names: Record<string, string> = {};
          const handles: Record<string, string> = { ek_rsa: HANDLES.ekRsa, ek_ecc: HANDLES.ekEcc, ak_rsa: HANDLES.akRsa };
          if (KEYS[name]?.includes("ecc")) Object.assign(handles, { ak_ecc: HANDLES.akEcc, ak_rsapss: HANDLES.akRsaPss, unrestricted: HANDLES.unrestricted });
          for (const [key, handle] of Object.entries(handles)) {
            publics[key] = b64(await t.publicArea(handle));
            names[key] = Buffer.from(await t.objectName(handle)).toString("hex");
          }
          return reply(200, {
            ek_certificates: { rsa: b64(await t.ekCertificate("rsa")), ecc: b64(await t.ekCertificate("ecc")) },
            publics,
            names,
            ca: { root: ca.rootPem, intermediate: ca.intermediatePem },
          });
        }
        case "activate": {
          const { ek, ak, credential_blob, encrypted_secret } = body as { ek: "rsa" | "ecc"; ak: AkKind; credential_blob: string; encrypted_secret: string };
          try {
            return reply(200, { secret: b64(await t.activateCredential(ek, ak, fromB64(credential_blob), fromB64(encrypted_secret))) });
          } catch (error) {
            // The TPM refusing (e.g. TPM_RC_INTEGRITY for another AK's Name) is an answer, not a host failure.
            return reply(422, { error: String(error instanceof Error ? error.message : error) });
          }
        }
        case "quote": {
          const { ak, nonce, bank, pcrs } = body as { ak: AkKind; nonce: string; bank: string; pcrs: number[] };
          const q = await t.quote(ak, fromB64(nonce), bank, pcrs);
          return reply(200, { quote: b64(q.quote), signature: b64(q.signature), pcrs: q.pcrs });
        }
        case "certify": {
          const c = await t.certify((body as { ak: AkKind }).ak);
          return reply(200, { attest: b64(c.attest), signature: b64(c.signature) });
        }
        case "extend": {
          const { pcr, digest } = body as { pcr: number; digest: string };
          await t.extend(pcr, digest);
          return reply(200, {});
        }
        default:
          return reply(404, { error: `unknown operation ${op}` });
      }
    } catch (error) {
      return reply(500, { error: String(error instanceof Error ? error.message : error) });
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error) => {
      res.writeHead(500);
      res.end(JSON.stringify({ error: String(error) }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  const url = `http://127.0.0.1:${port}`;
  project.provide("tpmHost", url);
  // For the TPM_HOST service binding (test/setup/tpm-binding.ts), which runs in this same process.
  process.env["WARDEN_TPM_HOST"] = url;

  return async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    for (const made of tpms.values()) await (await made.catch(() => undefined))?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  };
}
