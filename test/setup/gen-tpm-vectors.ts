// Regenerates the swtpm test vectors in test/fixtures/attestation/tpm/s1-swtpm/ from a
// fresh software TPM (swtpm + swtpm_localca + tpm2-tools):  npx tsx test/setup/gen-tpm-vectors.ts
// The unit tests read these files; the integration tests use a live swtpm instead.
import { execFileSync } from "node:child_process";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { HANDLES, SoftwareTpm, localCa, tpmRoot } from "./software-tpm.ts";

const out = new URL("../fixtures/attestation/tpm/s1-swtpm/", import.meta.url).pathname;
const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");
const PCRS = [0, 1, 2, 3, 4, 5, 6, 7];

const root = await tpmRoot();
const tpm = await SoftwareTpm.create(root, "vectors");
try {
  const ca = await localCa(root);
  await writeFile(join(out, "localca-root.pem"), ca.rootPem);
  await writeFile(join(out, "localca-intermediate.pem"), ca.intermediatePem);
  const ekRsa = await tpm.ekCertificate("rsa");
  const ekEcc = await tpm.ekCertificate("ecc");
  await writeFile(join(out, "ek-rsa.der"), ekRsa);
  await writeFile(join(out, "ek-ecc.der"), ekEcc);
  const publics: Record<string, string> = {
    ek_rsa: b64(await tpm.publicArea(HANDLES.ekRsa)),
    ek_ecc: b64(await tpm.publicArea(HANDLES.ekEcc)),
    ak_rsa: b64(await tpm.publicArea(HANDLES.akRsa)),
    ak_ecc: b64(await tpm.publicArea(HANDLES.akEcc)),
    ak_rsapss: b64(await tpm.publicArea(HANDLES.akRsaPss)),
    unrestricted: b64(await tpm.publicArea(HANDLES.unrestricted)),
  };
  const names: Record<string, string> = {};
  for (const [key, handle] of Object.entries({ ek_rsa: HANDLES.ekRsa, ek_ecc: HANDLES.ekEcc, ak_rsa: HANDLES.akRsa, ak_ecc: HANDLES.akEcc, ak_rsapss: HANDLES.akRsaPss })) {
    names[key] = Buffer.from(await tpm.objectName(handle)).toString("hex");
  }
  const nonce = Uint8Array.from({ length: 32 }, (_, i) => i);
  const quotes: Record<string, unknown> = {};
  for (const ak of ["rsa", "ecc", "rsapss"] as const) {
    const q = await tpm.quote(ak, nonce, "sha256", PCRS);
    quotes[ak] = { quote: b64(q.quote), signature: b64(q.signature), pcrs: q.pcrs };
  }
  const certify = await tpm.certify("rsa");
  const versions = {
    swtpm: execFileSync("swtpm", ["--version"]).toString().trim(),
    tpm2_tools: execFileSync("tpm2_quote", ["--version"]).toString().trim(),
  };
  const vectors = {
    generated_at: new Date().toISOString(),
    generated_by: "test/setup/gen-tpm-vectors.ts",
    versions,
    nonce: Buffer.from(nonce).toString("hex"),
    pcr_bank: "sha256",
    pcrs: PCRS,
    publics,
    names,
    ek_certificates: { rsa: b64(ekRsa), ecc: b64(ekEcc) },
    quotes,
    certify: { attest: b64(certify.attest), signature: b64(certify.signature) },
  };
  await writeFile(join(out, "vectors.json"), JSON.stringify(vectors, null, 2) + "\n");
  for (const f of ["ek-rsa.der", "ek-ecc.der"]) execFileSync("sh", ["-c", `base64 -w 76 ${f} > ${f}.b64`], { cwd: out });
  console.log(`wrote vectors to ${out}`);
} finally {
  await tpm.stop();
  await rm(root, { recursive: true, force: true });
}
