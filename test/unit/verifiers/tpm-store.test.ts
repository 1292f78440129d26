import { describe, expect, it } from "vitest";
import { toHex } from "../../../worker/verifiers/reader.ts";
import { TPM_STORE } from "../../../worker/verifiers/tpm/roots/store.ts";
import { verifyEkCertificate } from "../../../worker/verifiers/tpm/ek.ts";
import { pinnedTpmTrust, tpmTrustFrom, tpmTrustFromStore } from "../../../worker/verifiers/tpm/trust.ts";
import { parseCertificate } from "../../../worker/verifiers/x509/certificate.ts";
import { validatePath } from "../../../worker/verifiers/x509/path.ts";
import { trustedAt, within } from "../../../worker/verifiers/x509/trust.ts";
import { codeOf } from "./codes.ts";
import { fromBase64 } from "./pki.ts";
import { der, pem, pemDer, webauthnCases } from "./tpm-fixtures.ts";

import bundleRoots from "../../../worker/verifiers/tpm/roots/tpm-ca-certificates/tpm-ca-certificates.pem?raw";
import bundleIntermediates from "../../../worker/verifiers/tpm/roots/tpm-ca-certificates/tpm-intermediate-ca-certificates.pem?raw";
import rootsYaml from "../../../worker/verifiers/tpm/roots/tpm-ca-certificates/tpm-roots.yaml?raw";
import intermediatesYaml from "../../../worker/verifiers/tpm/roots/tpm-ca-certificates/tpm-intermediates.yaml?raw";
import pins from "../../../worker/verifiers/tpm/roots/warden/pins.json";
import googleRoot1 from "../../../worker/verifiers/tpm/roots/warden/google-tpm-ek-root-1.pem?raw";
import googleInt2 from "../../../worker/verifiers/tpm/roots/warden/google-tpm-ek-intermediate-2.pem?raw";
import googleInt3 from "../../../worker/verifiers/tpm/roots/warden/google-tpm-ek-intermediate-3.pem?raw";
import gcpRoot from "../../../worker/verifiers/tpm/roots/warden/google-gcp-ek-ak-ca-root.pem?raw";
import gcpInt from "../../../worker/verifiers/tpm/roots/warden/google-gcp-ek-ak-ca-intermediate-v3.pem?raw";
import ek5 from "../../fixtures/attestation/tpm/ek5-nuvoton-npct6xx-root-1110/ek.der.b64?raw";
import sharedInfineonRoot from "../../fixtures/attestation/tpm/ek1-infineon-slb9670/infineon-optiga-rsa-root-ca.crt.b64?raw";
import sharedGlobalsign from "../../fixtures/attestation/tpm/ek2-stm-st33htphahd8-thinkpad-x1/globalsign-tpm-root-ca.crt.b64?raw";
import sharedMicrosoft from "../../fixtures/attestation/tpm/microsoft-tpm-root-ca-2014.der.b64?raw";

// The TPM trust store (worker/verifiers/tpm/roots): the vendor bundle and Warden's own pins, embedded in store.ts by
// scripts/gen-tpm-roots.mjs. These tests re-check, inside workerd and with WebCrypto, what the script checked with Node.

/** "Today" in the fixtures' MANIFEST: every vendor chain is valid then. */
const TODAY = new Date("2026-11-22T00:00:00Z");

const pemBlocks = (text: string) => [...text.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)].map((m) => fromBase64(m[1] as string));
const digest = async (alg: "SHA-256" | "SHA-1", bytes: Uint8Array) => toHex(new Uint8Array(await crypto.subtle.digest(alg, bytes)));
const b64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));

/** The YAML's fingerprints, in order: `sha256` or `sha1`, colon hex. */
function yamlFingerprints(yaml: string): { sha256?: string; sha1?: string }[] {
  const out: { sha256?: string; sha1?: string }[] = [];
  for (const line of yaml.split("\n")) {
    if (/^\s{8}- name:/.test(line)) out.push({});
    const m = /^\s+(sha256|sha1): "([^"]+)"/.exec(line);
    if (m) (out[out.length - 1] as Record<string, string>)[m[1] as string] = (m[2] as string).replace(/:/g, "").toLowerCase();
  }
  return out;
}

describe("the TPM trust store (roots/store.ts)", () => {
  it("holds exactly the bundle's 26 roots and 143 intermediates and Warden's 5 pins, each by its role", () => {
    const store = new Map(TPM_STORE.map((e) => [e.der, e]));
    const expect1 = (ders: Uint8Array[], role: string) => {
      for (const d of ders) expect(store.get(b64(d))?.role, `a ${role} of the bundle`).toBe(role);
    };
    expect(pemBlocks(bundleRoots)).toHaveLength(26);
    expect(pemBlocks(bundleIntermediates)).toHaveLength(143);
    expect1(pemBlocks(bundleRoots), "anchor");
    expect1(pemBlocks(bundleIntermediates), "intermediate");
    const pinned: Record<string, string> = { "google-tpm-ek-root-1.pem": googleRoot1, "google-tpm-ek-intermediate-2.pem": googleInt2, "google-tpm-ek-intermediate-3.pem": googleInt3, "google-gcp-ek-ak-ca-root.pem": gcpRoot, "google-gcp-ek-ak-ca-intermediate-v3.pem": gcpInt };
    for (const pin of pins) expect(store.get(b64(pemBlocks(pinned[pin.file] as string)[0] as Uint8Array))?.role).toBe(pin.role);
    expect(TPM_STORE.filter((e) => e.role === "anchor")).toHaveLength(26 + 2);
    expect(TPM_STORE.filter((e) => e.role === "intermediate")).toHaveLength(143 + 3);
  });

  it("every certificate has the fingerprint its YAML (or pins.json) gives, recomputed here", async () => {
    for (const [text, yaml] of [[bundleRoots, rootsYaml], [bundleIntermediates, intermediatesYaml]] as const) {
      const listed = yamlFingerprints(yaml);
      const computed = await Promise.all(pemBlocks(text).map(async (d) => ({ sha256: await digest("SHA-256", d), sha1: await digest("SHA-1", d) })));
      // Each YAML entry matches exactly one certificate of the bundle, by SHA-256 or (12 entries) by SHA-1.
      for (const f of listed) {
        const matches = computed.filter((c) => (f.sha256 ? c.sha256 === f.sha256 : c.sha1 === f.sha1));
        expect(matches, JSON.stringify(f)).toHaveLength(1);
      }
      expect(listed).toHaveLength(computed.length);
    }
    for (const e of TPM_STORE) expect(await digest("SHA-256", fromBase64(e.der)), e.name).toBe(e.sha256);
  });

  it("carries the roots the fixtures came with (same DER)", () => {
    const ders = new Set(TPM_STORE.map((e) => e.der));
    for (const d of [fromBase64(sharedInfineonRoot), fromBase64(sharedGlobalsign), fromBase64(sharedMicrosoft), der.ek3Root, der.ek1Mfg, der.ek2Int, der.ek2Cross, der.gceInt3, der.gcpIntV3]) {
      expect(ders.has(b64(d))).toBe(true);
    }
  });

  it("loads every anchor (checked once: self-signature, CA flags, extensions) and every intermediate, with windows", async () => {
    const trust = await pinnedTpmTrust();
    expect(trust.anchors).toHaveLength(28);
    expect(trust.intermediates).toHaveLength(146);
    expect(new Set(trust.anchors.map((a) => a.group))).toEqual(new Set(["AMD", "Infineon", "Intel", "Microsoft", "NSING", "Nuvoton", "STMicroelectronics", "Google"]));
    for (const e of [...trust.anchors, ...(trust.intermediates ?? [])]) expect(e.validFor).toEqual({ start: e.certificate.notBefore, end: e.certificate.notAfter });
    // Three bundle roots are CAs whose own issuer is not distributed: anchors by name and key.
    expect(trust.anchors.filter((a) => !a.certificate.selfIssued).map((a) => a.certificate.subjectText)).toEqual([
      expect.stringContaining("AMD Pluton Global Factory ICA"),
      expect.stringContaining("STM TPM ECC Root CA 01"),
      expect.stringContaining("STM TPM EK Root CA"),
    ]);
    expect(await pinnedTpmTrust()).toBe(trust);
  });

  it("refuses a store whose intermediates include a self-issued certificate (a root listed as path material)", async () => {
    const root = TPM_STORE.find((e) => e.name === "Nuvoton TPM Root CA 1110")!;
    expect(await codeOf(() => tpmTrustFromStore([{ ...root, role: "intermediate" }]))).toBe("invalid_reference_values");
  });

  it("every intermediate of the store chains to an anchor of the store (TPM profile, inside its own window)", async () => {
    const trust = await pinnedTpmTrust();
    const failures: string[] = [];
    for (const e of trust.intermediates ?? []) {
      // At the fixtures' "today" when the intermediate is valid then (some outlive their root by decades), else mid-window.
      const mid = within(e.validFor, TODAY) ? TODAY : new Date((e.validFor.start.getTime() + e.validFor.end.getTime()) / 2);
      const usable = trustedAt(trust, mid);
      const code = await codeOf(() => validatePath(e.certificate, { now: mid, anchors: usable.anchors, intermediates: usable.intermediates.map((i) => i.certificate), profile: "tpm", pathCriticalExtensions: ["2.5.29.32"], leafCriticalExtensions: ["2.5.29.32"] }));
      if (code !== "ok") failures.push(`${e.name}: ${code}`);
    }
    expect(failures).toEqual([]);
  });
});

describe("real vendor EK certificates with the whole store loaded", () => {
  it("ek5: a Nuvoton NPCT6xx EK under 'Nuvoton TPM Root CA 1110' is accepted (it was refused with the hand-picked roots)", async () => {
    const ek = fromBase64(ek5);
    const result = await verifyEkCertificate(ek, { now: TODAY, trust: await pinnedTpmTrust() });
    expect(result.vendor).toBe("Nuvoton");
    expect(result.chain).toEqual(["CN=Nuvoton TPM Root CA 1110, O=Nuvoton Technology Corporation, C=TW"]);
    expect(result.tpm).toMatchObject({ manufacturer: "id:4E544300", manufacturerName: "Nuvoton", model: "NPCT6xx", version: "id:13" });
    // What Warden trusted before: Nuvoton's root 2111 only.
    const before = await tpmTrustFrom([{ vendor: "Nuvoton", roots: [`-----BEGIN CERTIFICATE-----\n${b64(der.ek3Root)}\n-----END CERTIFICATE-----\n`] }]);
    expect(await codeOf(() => verifyEkCertificate(ek, { now: TODAY, trust: before }))).toBe("chain_incomplete");
  });

  it.each([
    { name: "ek1 Infineon", ek: () => der.ek1, vendor: "Infineon", chain: 2 },
    { name: "ek2 STMicro", ek: () => pemDer(pem.ek2Pem), vendor: "STMicroelectronics", chain: 2 },
    { name: "ek3 Nuvoton 2111", ek: () => pemDer(pem.ek3Pem), vendor: "Nuvoton", chain: 1 },
    { name: "ek4 GCE uca RSA", ek: () => pemDer(pem.ucaRsaEnc), vendor: "Google", chain: 2 },
    { name: "ek4 GCE uca ECC", ek: () => pemDer(pem.ucaEccEnc), vendor: "Google", chain: 2 },
    { name: "ek4 GCE pca RSA", ek: () => pemDer(pem.pcaRsaEnc), vendor: "Google", chain: 2 },
    { name: "ek4 GCE pca ECC", ek: () => pemDer(pem.pcaEccEnc), vendor: "Google", chain: 2 },
  ])("$name verifies with all 174 certificates as candidates", async (c) => {
    const result = await verifyEkCertificate(c.ek(), { now: TODAY, trust: await pinnedTpmTrust() });
    expect(result.vendor).toBe(c.vendor);
    expect(result.chain).toHaveLength(c.chain);
  });

  it.each(webauthnCases)("$name: the Windows AIK chain verifies with the whole store as path material", async (c) => {
    const [aik, ...rest] = c.x5c.map((d) => parseCertificate(d));
    const trust = trustedAt(await pinnedTpmTrust(), c.now);
    const path = await validatePath(aik!, {
      now: c.now,
      anchors: trust.anchors,
      intermediates: [...rest, ...trust.intermediates.map((e) => e.certificate)],
      leafCriticalExtensions: ["2.5.29.17"],
      pathCriticalExtensions: ["2.5.29.32"],
      profile: "tpm",
    });
    expect(path.anchor.group).toBe("Microsoft");
  });
});
