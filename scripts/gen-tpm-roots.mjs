#!/usr/bin/env node
// Regenerates worker/verifiers/tpm/roots/store.ts, the TPM trust store the worker embeds (it cannot import .pem files),
// from the certificates beside it:
//
//   tpm-ca-certificates/   the TPM vendor bundle (loicsikidi/tpm-ca-certificates, BSD-3-Clause, see its MANIFEST.md):
//                          26 roots → anchors, 143 intermediates → path material, each listed in the YAML files with its
//                          vendor, download URL and fingerprint
//   warden/                Warden's own pins that the bundle does not carry (Google's cloud vTPM CAs), listed in pins.json
//
// Every certificate's fingerprint is checked before anything is written, and any mismatch, unlisted certificate, listed
// certificate that is missing, or duplicate stops the script with a non-zero status: the store can only hold what the
// bundle's YAML (or pins.json) vouches for.
//
//   node scripts/gen-tpm-roots.mjs                 check and regenerate store.ts from the project's copy
//   node scripts/gen-tpm-roots.mjs --from <dir>    first copy a new release of the bundle from <dir> (its six files)
//   node scripts/gen-tpm-roots.mjs --check         check, and fail if store.ts is not what would be written
import { createHash } from "node:crypto";
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const roots = new URL("../worker/verifiers/tpm/roots/", import.meta.url).pathname;
const bundleDir = join(roots, "tpm-ca-certificates");
const wardenDir = join(roots, "warden");
const BUNDLE_FILES = ["LICENSE", "MANIFEST.md", "tpm-ca-certificates.pem", "tpm-intermediate-ca-certificates.pem", "tpm-roots.yaml", "tpm-intermediates.yaml"];

/**
 * Display labels of the bundle's vendor ids: the short names the TCG vendor registry and Warden's answers use. A vendor
 * id not listed here stops the script, so a new vendor gets a label on purpose.
 */
const VENDOR_LABELS = { AMD: "AMD", IFX: "Infineon", INTC: "Intel", MSFT: "Microsoft", NSG: "NSING", NTC: "Nuvoton", STM: "STMicroelectronics" };

const problems = [];
const problem = (message) => problems.push(message);

const args = process.argv.slice(2);
const from = args.includes("--from") ? args[args.indexOf("--from") + 1] : undefined;
if (from) for (const f of BUNDLE_FILES) copyFileSync(join(from, f), join(bundleDir, f));

const hex = (buf, alg) => createHash(alg).update(buf).digest("hex");
const colonHex = (s) => s.replace(/:/g, "").toLowerCase();

/** The YAML's vendors and certificates: `vendors: - id/name, certificates: - name/url/validation.fingerprint.sha256|sha1`. */
function readYaml(file) {
  const entries = [];
  let vendor;
  let entry;
  for (const line of readFileSync(join(bundleDir, file), "utf8").split("\n")) {
    let m;
    if ((m = /^\s{4}- id: "([^"]+)"/.exec(line))) vendor = m[1];
    else if ((m = /^\s{8}- name: "([^"]+)"/.exec(line))) entries.push((entry = { vendor, name: m[1], file }));
    else if ((m = /^\s+url: "([^"]+)"/.exec(line)) && entry) entry.url = m[1];
    else if ((m = /^\s+(sha256|sha1): "([^"]+)"/.exec(line)) && entry) entry[m[1]] = colonHex(m[2]);
  }
  return entries;
}

/** The bundle PEM's certificates with their comment headers (`# Certificate:`, `# Owner:`, `# Fingerprint (SHA-256):`). */
function readBundlePem(file) {
  const out = [];
  let header = {};
  const text = readFileSync(join(bundleDir, file), "utf8");
  const re = /^# Certificate: (.*)$|^# Owner: (.*)$|^# Fingerprint \(SHA-256\): (.*)$|-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/gm;
  for (const m of text.matchAll(re)) {
    if (m[1] !== undefined) header = { name: m[1].trim() };
    else if (m[2] !== undefined) header.owner = m[2].trim();
    else if (m[3] !== undefined) header.sha256 = colonHex(m[3].trim());
    else {
      out.push({ ...header, der: Buffer.from(m[4].replace(/\s/g, ""), "base64"), file });
      header = {};
    }
  }
  return out;
}

const store = [];
for (const [pemFile, yamlFile, role] of [
  ["tpm-ca-certificates.pem", "tpm-roots.yaml", "anchor"],
  ["tpm-intermediate-ca-certificates.pem", "tpm-intermediates.yaml", "intermediate"],
]) {
  const yaml = readYaml(yamlFile);
  const used = new Set();
  for (const cert of readBundlePem(pemFile)) {
    const sha256 = hex(cert.der, "sha256");
    const sha1 = hex(cert.der, "sha1");
    const what = `${pemFile}: ${cert.name ?? "(no # Certificate: header)"}`;
    if (cert.sha256 !== sha256) problem(`${what}: SHA-256 ${sha256} differs from its header's ${cert.sha256}`);
    const listed = yaml.filter((e) => e.vendor === cert.owner && e.name === cert.name);
    if (listed.length !== 1) {
      problem(`${what}: ${listed.length} entries in ${yamlFile} for vendor ${cert.owner}`);
      continue;
    }
    const [entry] = listed;
    used.add(entry);
    if (entry.sha256 === undefined && entry.sha1 === undefined) problem(`${what}: ${yamlFile} gives no fingerprint`);
    if (entry.sha256 !== undefined && entry.sha256 !== sha256) problem(`${what}: SHA-256 ${sha256}, ${yamlFile} says ${entry.sha256}`);
    // Eight roots and four intermediates are listed by SHA-1 only: that and the header's SHA-256 above must both hold.
    if (entry.sha1 !== undefined && entry.sha1 !== sha1) problem(`${what}: SHA-1 ${sha1}, ${yamlFile} says ${entry.sha1}`);
    const vendor = VENDOR_LABELS[entry.vendor];
    if (!vendor) problem(`${what}: vendor id ${entry.vendor} has no label in VENDOR_LABELS`);
    store.push({ role, vendor, name: entry.name, sha256, source: `tpm-ca-certificates/${pemFile}`, url: entry.url, der: cert.der });
  }
  for (const e of yaml) if (!used.has(e)) problem(`${yamlFile}: ${e.vendor} "${e.name}" is listed but not in ${pemFile}`);
}

for (const pin of JSON.parse(readFileSync(join(wardenDir, "pins.json"), "utf8"))) {
  const text = readFileSync(join(wardenDir, pin.file), "utf8");
  const blocks = [...text.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)];
  if (blocks.length !== 1) {
    problem(`warden/${pin.file}: ${blocks.length} certificates, expected one`);
    continue;
  }
  const der = Buffer.from(blocks[0][1].replace(/\s/g, ""), "base64");
  const sha256 = hex(der, "sha256");
  if (sha256 !== pin.sha256) problem(`warden/${pin.file}: SHA-256 ${sha256}, pins.json says ${pin.sha256}`);
  if (pin.role !== "anchor" && pin.role !== "intermediate") problem(`warden/${pin.file}: role ${pin.role}`);
  store.push({ role: pin.role, vendor: pin.vendor, name: pin.file.replace(/\.pem$/, ""), sha256, source: `warden/${pin.file}`, url: pin.origin, der });
}

const bySha = new Map();
for (const e of store) {
  if (bySha.has(e.sha256)) problem(`${e.source} "${e.name}" duplicates ${bySha.get(e.sha256).source} "${bySha.get(e.sha256).name}"`);
  bySha.set(e.sha256, e);
}

if (problems.length > 0) {
  for (const p of problems) console.error(`gen-tpm-roots: ${p}`);
  console.error(`gen-tpm-roots: ${problems.length} problem(s); store.ts not written`);
  process.exit(1);
}

const q = (s) => JSON.stringify(s);
let out = `// The TPM trust store: every vendor root (anchor) and intermediate (path material only) Warden trusts for EK
// certificates. Generated by scripts/gen-tpm-roots.mjs from the certificates beside this module (roots/PROVENANCE.md),
// after checking each one's SHA-256 against the bundle's YAML or warden/pins.json; do not edit by hand.
// DER as base64: parsed on first use, once per isolate (worker/verifiers/tpm/trust.ts).

/** One certificate of the store. */
export interface TpmStoreEntry {
  readonly role: "anchor" | "intermediate";
  readonly vendor: string;
  readonly name: string;
  /** SHA-256 of the DER, as checked at generation. */
  readonly sha256: string;
  /** The file it was generated from, under worker/verifiers/tpm/roots/. */
  readonly source: string;
  /** Where the vendor publishes it (or, for Warden's own pins, where the copy came from). */
  readonly url: string;
  readonly der: string;
}

export const TPM_STORE: readonly TpmStoreEntry[] = [
`;
for (const e of store) {
  out += `  { role: ${q(e.role)}, vendor: ${q(e.vendor)}, name: ${q(e.name)}, sha256: ${q(e.sha256)}, source: ${q(e.source)}, url: ${q(e.url)}, der: ${q(e.der.toString("base64"))} },\n`;
}
out += "];\n";

const target = join(roots, "store.ts");
const counts = `${store.filter((e) => e.role === "anchor").length} anchors, ${store.filter((e) => e.role === "intermediate").length} intermediates`;
if (args.includes("--check")) {
  let current = "";
  try {
    current = readFileSync(target, "utf8");
  } catch {}
  if (current !== out) {
    console.error("gen-tpm-roots: store.ts is not what the certificates generate; run node scripts/gen-tpm-roots.mjs");
    process.exit(1);
  }
  console.log(`store.ts is current (${counts})`);
} else {
  writeFileSync(target, out);
  console.log(`wrote store.ts: ${counts}, every fingerprint checked`);
}
