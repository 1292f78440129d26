// Node side of part E (bench/x509.ts): generates the chain and the decoys, runs the in-isolate bench.
import { CA_USAGE, issue, LEAF_USAGE, NOW, x509, type Issued } from "../test/unit/verifiers/pki.ts";
import type { X509BenchResult, X509Fixtures } from "./x509.ts";

/** The path builder's bound on issuer candidates (worker/verifiers/x509/path.ts, MAX_CANDIDATES). */
const MAX_CANDIDATES = 64;

const b64 = (der: Uint8Array) => Buffer.from(der).toString("base64");

/** Node side: generates a 5-deep chain and same-named decoys, and runs the in-isolate bench. */
export async function runX509(url: string, options: { batches: number; batchMs: number; warmup: number }): Promise<X509BenchResult[]> {
  const root = await issue({ name: "CN=Bench Root, O=Warden Bench", alg: "P-384", keyLabel: "bench root", ca: { ca: true }, keyUsage: CA_USAGE });
  const chain: Issued[] = [root];
  for (let i = 1; i <= 3; i++) {
    chain.push(await issue({ name: `CN=Bench CA ${i}, O=Warden Bench`, issuer: chain[i - 1], keyLabel: `bench ca ${i}`, ca: { ca: true }, keyUsage: CA_USAGE }));
  }
  chain.push(await issue({ name: "CN=Bench Leaf, O=Warden Bench", issuer: chain[3], keyLabel: "bench leaf", keyUsage: LEAF_USAGE }));
  // The four issuers looked up (CA 3, 2, 1, root) get decoys with their name and another key. Each level also
  // costs one candidate for the right issuer; the rest of the bound goes to decoys.
  // A decoy copies its target's name and subjectKeyIdentifier (anyone can), so the AKI/SKI preference does not skip it.
  const decoy = async (target: Issued, label: string) =>
    issue({
      name: target.cert.subjectName,
      issuer: root,
      keyLabel: label,
      ca: { ca: true },
      keyUsage: CA_USAGE,
      keyIds: false,
      extensions: [new x509.SubjectKeyIdentifierExtension(target.cert.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId), await x509.AuthorityKeyIdentifierExtension.create(root.keys.publicKey)],
    });
  const decoys: Issued[] = [];
  const issuers = [chain[3], chain[2], chain[1]] as Issued[];
  // Three levels with intermediates to try; the root level has none (anchors are looked up first). Every level also spends
  // one candidate on the right issuer, and the anchor one: the rest of the bound goes to decoys.
  const room = MAX_CANDIDATES - 4;
  for (let i = 0; i < room; i++) decoys.push(await decoy(issuers[i % 3] as Issued, `decoy ${i}`));
  const extra = await decoy(chain[3] as Issued, "decoy extra");
  // A 100-certificate chain (one key, a hundred names) ending in a leaf: refused at the depth bound.
  const deep: Issued[] = [];
  for (let i = 0, above = root; i < 100; i++) deep.push((above = await issue({ name: `CN=Deep ${i}`, issuer: above, keyLabel: "deep", ca: { ca: true }, keyUsage: CA_USAGE })));
  const deepLeaf = await issue({ name: "CN=Deep Leaf", issuer: deep[99], keyLabel: "bench leaf", keyUsage: LEAF_USAGE });
  const fixtures: X509Fixtures = {
    chain: chain.map((c) => b64(c.der)),
    decoys: decoys.map((d) => b64(d.der)),
    extraDecoy: b64(extra.der),
    deep: [...deep, deepLeaf].map((c) => b64(c.der)),
    now: NOW.toISOString(),
  };
  const response = await fetch(`${url}/bench/x509`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ ...fixtures, ...options }) });
  if (!response.ok) throw new Error(`POST /bench/x509: ${response.status} ${await response.text()}`);
  return (await response.json()) as X509BenchResult[];
}
