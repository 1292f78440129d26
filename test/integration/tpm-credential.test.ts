import { describe, expect, it } from "vitest";
import { makeCredential } from "../../worker/verifiers/tpm/credential.ts";
import { parsePublic } from "../../worker/verifiers/tpm/structures.ts";
import { fromHex, toHex } from "../../worker/verifiers/reader.ts";
import { tpmActivate, tpmInfo, tpmQuote, type AkKind } from "../tpm-host.ts";
import { verifyQuote } from "../../worker/verifiers/tpm/quote.ts";
import { TPM_ALG } from "../../worker/verifiers/tpm/constants.ts";

const b64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));
const fromB64 = (text: string) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

describe("MakeCredential (WebCrypto) ↔ TPM2_ActivateCredential (swtpm)", () => {
  it.each([
    ["rsa", "rsa"],
    ["rsa", "ecc"],
    ["ecc", "rsa"],
    ["ecc", "rsapss"],
  ] as const)("the %s EK's TPM recovers a credential bound to its %s AK", async (ek, ak) => {
    const info = await tpmInfo("a");
    const secret = crypto.getRandomValues(new Uint8Array(32));
    const challenge = await makeCredential(parsePublic(fromB64(info.publics[`ek_${ek}`]!)), fromHex(info.names[`ak_${ak}`]!), secret);
    const result = await tpmActivate("a", { ek, ak: ak as AkKind, credential_blob: b64(challenge.credentialBlob), encrypted_secret: b64(challenge.encryptedSecret) });
    expect(result.error).toBeUndefined();
    expect(toHex(fromB64(result.secret!))).toBe(toHex(secret));
  });

  it("the TPM refuses a credential bound to another AK's Name (TPM_RC_INTEGRITY)", async () => {
    const info = await tpmInfo("a");
    const challenge = await makeCredential(parsePublic(fromB64(info.publics.ek_rsa!)), fromHex(info.names.ak_ecc!), new Uint8Array(32).fill(1));
    const result = await tpmActivate("a", { ek: "rsa", ak: "rsa", credential_blob: b64(challenge.credentialBlob), encrypted_secret: b64(challenge.encryptedSecret) });
    expect(result.secret).toBeUndefined();
    expect(result.error).toMatch(/integrity/i);
  });

  it("a live quote verifies", async () => {
    const info = await tpmInfo("a");
    const nonce = crypto.getRandomValues(new Uint8Array(32));
    const q = await tpmQuote("a", { ak: "ecc", nonce: b64(nonce), bank: "sha256", pcrs: [0, 7, 16] });
    const v = await verifyQuote(
      { quote: fromB64(q.quote), signature: fromB64(q.signature), pcrs: new Map(Object.entries(q.pcrs).map(([k, v]) => [Number(k), fromHex(v)])) },
      { ak: parsePublic(fromB64(info.publics.ak_ecc!)), nonce, selection: { hashAlg: TPM_ALG.SHA256, pcrs: [16, 0, 7] } },
    );
    expect(v.pcrs.map((p) => p.index)).toEqual([0, 7, 16]);
  });
});
