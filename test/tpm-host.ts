// The device side of TPM tests, from inside workerd: asks the TPM host (test/setup/swtpm.ts,
// Node, reached through the TPM_HOST service binding) to do what a device's TPM would do.
import { env } from "cloudflare:test";

export type TpmName = "a" | "b";
export type AkKind = "rsa" | "ecc" | "rsapss" | "unrestricted";

export interface TpmInfo {
  ek_certificates: { rsa: string; ecc: string };
  publics: Record<string, string>;
  names: Record<string, string>;
  ca: { root: string; intermediate: string };
}

async function call<T>(tpm: TpmName, op: string, body: unknown = {}): Promise<{ status: number; body: T }> {
  const host = (env as unknown as { TPM_HOST: Fetcher }).TPM_HOST;
  const response = await host.fetch(`http://tpm-host/tpm/${tpm}/${op}`, { method: "POST", body: JSON.stringify(body) });
  const text = await response.text();
  let json: T & { error?: string };
  try {
    json = JSON.parse(text) as T & { error?: string };
  } catch {
    throw new Error(`TPM host ${op} on ${tpm}: HTTP ${response.status}: ${text.slice(0, 500)}`);
  }
  if (response.status >= 500) throw new Error(`TPM host ${op} on ${tpm}: ${json.error}`);
  return { status: response.status, body: json };
}

const infos = new Map<TpmName, Promise<TpmInfo>>();
/** EK certificates and public areas, AK public areas and Names, the local CA (made on first call). */
export function tpmInfo(tpm: TpmName): Promise<TpmInfo> {
  let info = infos.get(tpm);
  if (!info) {
    info = call<TpmInfo>(tpm, "info").then((r) => r.body);
    infos.set(tpm, info);
  }
  return info;
}

/** TPM2_ActivateCredential: the secret, or the TPM's refusal. */
export async function tpmActivate(tpm: TpmName, args: { ek: "rsa" | "ecc"; ak: AkKind; credential_blob: string; encrypted_secret: string }): Promise<{ secret?: string; error?: string }> {
  return (await call<{ secret?: string; error?: string }>(tpm, "activate", args)).body;
}

/** TPM2_Quote over `nonce` (base64) and a PCR selection. */
export async function tpmQuote(tpm: TpmName, args: { ak: AkKind; nonce: string; bank: string; pcrs: number[] }): Promise<{ quote: string; signature: string; pcrs: Record<string, string> }> {
  return (await call<{ quote: string; signature: string; pcrs: Record<string, string> }>(tpm, "quote", args)).body;
}

/** TPM2_Certify of an AK by itself (an ATTEST_CERTIFY structure). */
export async function tpmCertify(tpm: TpmName, ak: AkKind): Promise<{ attest: string; signature: string }> {
  return (await call<{ attest: string; signature: string }>(tpm, "certify", { ak })).body;
}

/** TPM2_PCR_Extend of a sha256 PCR. */
export async function tpmExtend(tpm: TpmName, pcr: number, digest: string): Promise<void> {
  await call(tpm, "extend", { pcr, digest });
}
