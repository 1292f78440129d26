// The TPM fixtures of test/fixtures/attestation/tpm (MANIFEST.md there has their provenance):
// real vendor EK certificates and roots, Windows Hello TPM attestations, a GCE vTPM quote,
// and the swtpm vectors (s1-swtpm) made by test/setup/gen-tpm-vectors.ts.
// Text files are imported with `?raw`; binary files through their `.b64` copies.
import { fromBase64 } from "./pki.ts";

import ek1Der from "../../fixtures/attestation/tpm/ek1-infineon-slb9670/ek.der.b64?raw";
import ek1Mfg from "../../fixtures/attestation/tpm/ek1-infineon-slb9670/infineon-optiga-rsa-mfg-ca-007.crt.b64?raw";
import ek2Pem from "../../fixtures/attestation/tpm/ek2-stm-st33htphahd8-thinkpad-x1/ek.pem?raw";
import ek2Int from "../../fixtures/attestation/tpm/ek2-stm-st33htphahd8-thinkpad-x1/stm-tpm-ek-intermediate-ca-06.cer.b64?raw";
import ek2Cross from "../../fixtures/attestation/tpm/ek2-stm-st33htphahd8-thinkpad-x1/stm-tpm-ek-root-ca-cross-signed-by-globalsign.crt.b64?raw";
import ek3Pem from "../../fixtures/attestation/tpm/ek3-nuvoton-npct75x-lenovo-sr630/ek.pem?raw";
import ek3Root from "../../fixtures/attestation/tpm/ek3-nuvoton-npct75x-lenovo-sr630/nuvoton-tpm-root-ca-2111.cer.b64?raw";
import ucaRsaEnc from "../../fixtures/attestation/tpm/ek4-gce-vtpm/uca_tpm_rsa_enc_cert.pem?raw";
import ucaEccEnc from "../../fixtures/attestation/tpm/ek4-gce-vtpm/uca_tpm_ecc_enc_cert.pem?raw";
import ucaRsaSign from "../../fixtures/attestation/tpm/ek4-gce-vtpm/uca_tpm_rsa_sign_cert.pem?raw";
import ucaEccSign from "../../fixtures/attestation/tpm/ek4-gce-vtpm/uca_tpm_ecc_sign_cert.pem?raw";
import pcaRsaEnc from "../../fixtures/attestation/tpm/ek4-gce-vtpm/pca_tpm_rsa_enc_cert.pem?raw";
import pcaEccEnc from "../../fixtures/attestation/tpm/ek4-gce-vtpm/pca_tpm_ecc_enc_cert.pem?raw";
import pcaRsaSign from "../../fixtures/attestation/tpm/ek4-gce-vtpm/pca_tpm_rsa_sign_cert.pem?raw";
import pcaEccSign from "../../fixtures/attestation/tpm/ek4-gce-vtpm/pca_tpm_ecc_sign_cert.pem?raw";
import gceInt3 from "../../fixtures/attestation/tpm/ek4-gce-vtpm/ca-certs/tpm_ek_intermediate_3.crt.b64?raw";
import gcpIntV3 from "../../fixtures/attestation/tpm/ek4-gce-vtpm/ca-certs/gcp_ek_ak_ca_intermediate_v3.crt.b64?raw";
import w1Cbor from "../../fixtures/attestation/tpm/w1-webauthn-surface-pro-4-intel-ptt/attestationObject.cbor.b64?raw";
import w2Cbor from "../../fixtures/attestation/tpm/w2-webauthn-lenovo-x1-carbon-stm/attestationObject.cbor.b64?raw";
import w3Cbor from "../../fixtures/attestation/tpm/w3-webauthn-ecc-nuvoton-npct75x/attestationObject.cbor.b64?raw";
import q1Json from "../../fixtures/attestation/tpm/q1-gce-windows-vtpm-quote-eventlog/windows_gcp_shielded_vm.json?raw";
import swtpmVectors from "../../fixtures/attestation/tpm/s1-swtpm/vectors.json";
import swtpmRoot from "../../fixtures/attestation/tpm/s1-swtpm/localca-root.pem?raw";
import swtpmIntermediate from "../../fixtures/attestation/tpm/s1-swtpm/localca-intermediate.pem?raw";

export const pem = { ek2Pem, ek3Pem, ucaRsaEnc, ucaEccEnc, ucaRsaSign, ucaEccSign, pcaRsaEnc, pcaEccEnc, pcaRsaSign, pcaEccSign, swtpmRoot, swtpmIntermediate };
export const der = {
  ek1: fromBase64(ek1Der),
  ek1Mfg: fromBase64(ek1Mfg),
  ek2Int: fromBase64(ek2Int),
  ek2Cross: fromBase64(ek2Cross),
  ek3Root: fromBase64(ek3Root),
  gceInt3: fromBase64(gceInt3),
  gcpIntV3: fromBase64(gcpIntV3),
};

/** The first certificate of a PEM text, as DER. */
export function pemDer(text: string): Uint8Array {
  const m = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(text);
  if (!m) throw new Error("no certificate in PEM");
  return fromBase64(m[1] as string);
}

export interface SwtpmQuote {
  quote: string;
  signature: string;
  pcrs: Record<string, string>;
}

/** The swtpm vectors (s1-swtpm/vectors.json). */
export const swtpm = swtpmVectors as unknown as {
  generated_at: string;
  nonce: string;
  pcr_bank: string;
  pcrs: number[];
  publics: Record<"ek_rsa" | "ek_ecc" | "ak_rsa" | "ak_ecc" | "ak_rsapss" | "unrestricted", string>;
  names: Record<"ek_rsa" | "ek_ecc" | "ak_rsa" | "ak_ecc" | "ak_rsapss", string>;
  ek_certificates: { rsa: string; ecc: string };
  quotes: Record<"rsa" | "ecc" | "rsapss", SwtpmQuote>;
  certify: { attest: string; signature: string };
};

// --- a minimal CBOR decoder (RFC 8949 major types 0–5), enough for WebAuthn attestation objects

type Cbor = number | bigint | string | Uint8Array | Cbor[] | Map<Cbor, Cbor>;

function decodeCbor(bytes: Uint8Array): Cbor {
  let pos = 0;
  const uint = (info: number): number => {
    if (info < 24) return info;
    const n = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : -1;
    if (n < 0) throw new Error("unsupported CBOR length");
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 256 + (bytes[pos++] as number);
    return v;
  };
  const item = (): Cbor => {
    const head = bytes[pos++] as number;
    const major = head >> 5;
    const len = uint(head & 0x1f);
    switch (major) {
      case 0:
        return len;
      case 1:
        return -1 - len;
      case 2:
        return bytes.slice(pos, (pos += len));
      case 3:
        return new TextDecoder().decode(bytes.subarray(pos, (pos += len)));
      case 4:
        return Array.from({ length: len }, () => item());
      case 5: {
        const m = new Map<Cbor, Cbor>();
        for (let i = 0; i < len; i++) m.set(item(), item());
        return m;
      }
      default:
        throw new Error(`unsupported CBOR major type ${major}`);
    }
  };
  const out = item();
  if (pos !== bytes.length) throw new Error("trailing CBOR bytes");
  return out;
}

export interface WebAuthnTpm {
  name: string;
  certInfo: Uint8Array;
  pubArea: Uint8Array;
  sig: Uint8Array;
  x5c: Uint8Array[];
  /** Inside the AIK chain's validity window (MANIFEST.md). */
  now: Date;
}

function webauthn(name: string, b64: string, now: string): WebAuthnTpm {
  const obj = decodeCbor(fromBase64(b64)) as Map<Cbor, Cbor>;
  const stmt = obj.get("attStmt") as Map<Cbor, Cbor>;
  return {
    name,
    certInfo: stmt.get("certInfo") as Uint8Array,
    pubArea: stmt.get("pubArea") as Uint8Array,
    sig: stmt.get("sig") as Uint8Array,
    x5c: stmt.get("x5c") as Uint8Array[],
    now: new Date(now),
  };
}

export const webauthnCases: WebAuthnTpm[] = [
  webauthn("w1 Intel PTT (Surface Pro 4)", w1Cbor, "2024-06-01T00:00:00Z"),
  webauthn("w2 STMicro (Lenovo X1 Carbon)", w2Cbor, "2024-06-01T00:00:00Z"),
  webauthn("w3 Nuvoton NPCT75x (ECC pubArea)", w3Cbor, "2026-11-22T00:00:00Z"),
];

/** go-attestation's dump of a GCE Windows Shielded VM (q1). */
export const q1 = JSON.parse(q1Json) as {
  AK: { Public: string };
  Quote: { Quote: string; Signature: string; Nonce: string | null };
  Log: { PCRs: { Index: number; Digest: string; DigestAlg: number }[]; Raw: string };
};
