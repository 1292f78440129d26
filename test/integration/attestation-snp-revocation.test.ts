import { env } from "cloudflare:test";
import { base64url, calculateJwkThumbprint } from "jose";
import { describe, expect, it } from "vitest";
import type { AnySessionEvidence, WardenClient } from "../../cli/client.ts";
import { KDS_TIMEOUT_MS, SnpCrls } from "../../worker/attestation/collateral.ts";
import { MAX_KDS_CRL_BYTES, snpTrustFromChains, verifyKdsCrl } from "../../worker/verifiers/sev-snp/index.ts";
import { expectedReportData } from "../../worker/verifiers/appraisal.ts";
import { b64, localKds, snpHierarchy, type LocalKds, type SnpHierarchy } from "../cvm-helpers.ts";
import { defaultSources, logOf, newClient, publish, uniqueId, workerFetch } from "../helpers.ts";
import { NOW } from "../unit/verifiers/pki.ts";
import { snp } from "../unit/verifiers/fixtures.ts";
import { pem, resignSnp, vlekReport } from "../unit/verifiers/snp-gen.ts";

// SEV-SNP revocation through POST /v1/sessions (real Durable Objects, real R2, a real local AMD
// KDS over HTTP: test/setup/amd-kds.ts). The worker verifies SEV-SNP evidence only with a current
// CRL of the report's ARK for its key type — the newest of the request's, the verified copy cached
// in R2 and, when neither is current, AMD KDS's — so a client under a revoked ASK or ASVK gets
// nothing by leaving its CRL out or sending an older one. Reports are re-signed under hierarchies
// generated here (a CRL cannot be made for AMD's own ARK); each test has keys of its own, so its
// R2 entries (keyed by the anchors) and its KDS scope are its own.

const DAY = 86_400_000;
// After the real clock (the audit trail archives entries that look old by it), inside the generated certificates.
const T = NOW.getTime();
const at = (days: number, from = T) => new Date(from + days * DAY);

interface Tenant {
  fetch: (request: Request) => Promise<Response>;
  now: number;
}

/** A tenant whose bundle has `attestation.sev_snp` (any measurement, no TCB minimum), trusting `h`'s ARK, asking `kds` (a URL, or "" for none). */
async function snpTenant(h: SnpHierarchy, kds: LocalKds | "", now = T): Promise<Tenant> {
  const name = uniqueId("snp-rev");
  const zero = { bootloader: 0, tee: 0, snp: 0, microcode: 0 };
  const manifest = { ...(defaultSources.manifest as Record<string, unknown>), attestation: { sev_snp: { measurements: "any", minimum_tcb: { Milan: zero, Genoa: zero } } } };
  const published = await publish({ ...defaultSources, manifest }, { tenant: name, createdAt: new Date("2023-01-01T00:00:00Z"), expiresAt: new Date("2031-06-01T00:00:00Z") });
  if (published.status !== 200) throw new Error(JSON.stringify(published.body));
  return { now, fetch: workerFetch({ tenant: name, deps: { now: () => now, snpTrust: h.snpTrust }, env: { AMD_KDS_URL: kds === "" ? "" : kds.url } }) };
}

async function device(t: Tenant): Promise<WardenClient> {
  const client = await newClient({ fetch: t.fetch, now: () => t.now });
  const registered = await client.register(env.ADMIN_TOKEN, "linux");
  if (registered.status !== 201) throw new Error(JSON.stringify(registered.body));
  return client;
}

/** A report of `h` bound to the session nonce (s2 re-signed by a VCEK, or a VLEK, of `h`), with its certificate and the CRLs given. */
function evidenceOf(h: SnpHierarchy, client: WardenClient, crls: Uint8Array[] = [], key: "vcek" | "vlek" = "vcek") {
  return async (nonce: string): Promise<AnySessionEvidence> => {
    const binding = await expectedReportData(base64url.decode(nonce), base64url.decode(await calculateJwkThumbprint(client.key.publicJwk, "sha256")));
    const endorsement = key === "vcek" ? await h.vcek(snp.s2.report) : await h.vlek(snp.s2.report);
    const report = await resignSnp(snp.s2.report, endorsement.keys, { reportData: binding, ...(key === "vlek" ? { edit: vlekReport } : {}) });
    return { type: "sev-snp", report: b64(report), certs: { endorsement_key: b64(endorsement.der) }, ...(crls.length ? { collateral: { crls: crls.map(b64) } } : {}) };
  };
}

async function present(client: WardenClient, evidence: (nonce: string) => Promise<AnySessionEvidence>) {
  const nonce = await client.nonce();
  const answer = await client.requestSession(nonce.nonce, await evidence(nonce.nonce));
  return { status: answer.status, body: answer.body as unknown as Record<string, unknown> & { code?: string; evidence_code?: string; assurance?: string } };
}

/** The CRL cached for `h` and a key type, with its etag. */
async function cachedCrl(h: SnpHierarchy, kind: "vcek" | "vlek" = "vcek", product = "milan"): Promise<{ der: Uint8Array; etag: string; thisUpdate: string | undefined } | null> {
  const object = await env.BUNDLES.get(`attestation-collateral/${h.tag}/sev-snp/crl/${kind}/${product}.der`);
  if (!object) return null;
  return { der: new Uint8Array(await object.arrayBuffer()), etag: object.etag, thisUpdate: object.customMetadata?.["this_update"] };
}

const VCEK_CRL = "/vcek/v1/Milan/crl";
const VLEK_CRL = "/vlek/v1/Milan/crl";

describe("SEV-SNP revocation: a current AMD KDS CRL before any SEV-SNP evidence is accepted", () => {
  it("no CRL in the request, none cached, and AMD KDS down, empty or turned off → 401 evidence_rejected / crl_missing, logged; nothing cached", async () => {
    const h = await snpHierarchy("rev none");
    const kds = localKds();
    await kds.mode("down");
    const t = await snpTenant(h, kds);
    const client = await device(t);
    const refused = await present(client, evidenceOf(h, client));
    expect(refused.status, JSON.stringify(refused.body)).toBe(401);
    expect(refused.body).toMatchObject({ code: "evidence_rejected", evidence_code: "crl_missing" });
    expect(await kds.requests()).toEqual([VCEK_CRL]);
    expect((await logOf(client)).at(-1)).toMatchObject({ type: "attestation.failed", data: { type: "sev-snp", code: "crl_missing", family: "verification" } });
    // Up but serving nothing for the product (404): the same.
    await kds.mode("up");
    expect((await present(client, evidenceOf(h, client))).body).toMatchObject({ evidence_code: "crl_missing" });
    expect(await kds.requests()).toEqual([VCEK_CRL, VCEK_CRL]);
    // AMD_KDS_URL "" turns KDS off: not asked, and still no CRL.
    const off = await snpTenant(h, "");
    const other = await device(off);
    expect((await present(other, evidenceOf(h, other))).body).toMatchObject({ code: "evidence_rejected", evidence_code: "crl_missing" });
    expect(await kds.requests()).toHaveLength(2);
    expect(await cachedCrl(h)).toBeNull();
  });

  it("AMD KDS serves a current CRL → accepted and cached; KDS is not asked again while the copy is current, and the copy answers while KDS is down", async () => {
    const h = await snpHierarchy("rev kds");
    const kds = localKds();
    const served = await h.crl();
    await kds.serve(VCEK_CRL, served);
    const t = await snpTenant(h, kds);
    const client = await device(t);
    const session = await present(client, evidenceOf(h, client));
    expect(session.status, JSON.stringify(session.body)).toBe(201);
    expect(session.body.assurance).toBe("sev-snp");
    expect(await kds.requests()).toEqual([VCEK_CRL]);
    const cached = await cachedCrl(h);
    expect(cached?.der).toEqual(served);
    expect(cached?.thisUpdate).toBe(at(-1).toISOString());

    expect((await present(client, evidenceOf(h, client))).status).toBe(201);
    expect(await kds.requests()).toHaveLength(1);
    await kds.mode("down");
    expect((await present(client, evidenceOf(h, client))).status).toBe(201);
    expect(await kds.requests()).toHaveLength(1);
  });

  it("an ASK revoked by the KDS CRL → 401 certificate_revoked; replaying an older genuine CRL (from before the revocation, still current) is still refused, and the cache keeps the revoking CRL", async () => {
    const h = await snpHierarchy("rev revoked");
    const kds = localKds();
    const before = await h.crl({ thisUpdate: at(-10), nextUpdate: at(20) });
    const revoking = await h.crl({ thisUpdate: at(-1), nextUpdate: at(6), revoked: [h.ask] });
    await kds.serve(VCEK_CRL, revoking);
    const t = await snpTenant(h, kds);
    const client = await device(t);

    const first = await present(client, evidenceOf(h, client));
    expect(first.status, JSON.stringify(first.body)).toBe(401);
    expect(first.body).toMatchObject({ code: "evidence_rejected", evidence_code: "certificate_revoked" });
    const cached = await cachedCrl(h);
    expect(cached?.der).toEqual(revoking);

    // The client sends the CRL from before its ASK was revoked: genuine, current, older than the cached one.
    const replayed = await present(client, evidenceOf(h, client, [before]));
    expect(replayed.status, JSON.stringify(replayed.body)).toBe(401);
    expect(replayed.body).toMatchObject({ evidence_code: "certificate_revoked" });
    expect(await cachedCrl(h)).toEqual(cached);
    // …with KDS down too, and without any CRL: the cached revoking CRL decides, KDS is not asked while it is current.
    await kds.mode("down");
    expect((await present(client, evidenceOf(h, client, [before]))).body).toMatchObject({ evidence_code: "certificate_revoked" });
    expect((await present(client, evidenceOf(h, client))).body).toMatchObject({ evidence_code: "certificate_revoked" });
    expect(await kds.requests()).toEqual([VCEK_CRL]);
    expect(await cachedCrl(h)).toEqual(cached);
  });

  it("the request's CRL is a candidate: used and cached when nothing current is held (KDS not asked), replaced by a newer one, never by an older one", async () => {
    const h = await snpHierarchy("rev request");
    const kds = localKds();
    await kds.mode("down");
    const t = await snpTenant(h, kds);
    const client = await device(t);
    const older = await h.crl({ thisUpdate: at(-3), nextUpdate: at(20) });
    const newer = await h.crl({ thisUpdate: at(-1), nextUpdate: at(20) });
    const revoking = await h.crl({ thisUpdate: at(-0.5), nextUpdate: at(20), revoked: [h.ask] });

    expect((await present(client, evidenceOf(h, client, [older]))).status).toBe(201);
    expect((await cachedCrl(h))?.der).toEqual(older);
    expect(await kds.requests()).toEqual([]);
    expect((await present(client, evidenceOf(h, client, [newer]))).status).toBe(201);
    expect((await cachedCrl(h))?.der).toEqual(newer);
    expect((await present(client, evidenceOf(h, client, [older]))).status).toBe(201);
    expect((await cachedCrl(h))?.der).toEqual(newer);
    // A newer CRL revoking the ASK, brought by any request, is kept: the older ones no longer help.
    expect((await present(client, evidenceOf(h, client, [revoking]))).body).toMatchObject({ evidence_code: "certificate_revoked" });
    expect((await cachedCrl(h))?.der).toEqual(revoking);
    for (const crl of [older, newer]) expect((await present(client, evidenceOf(h, client, [crl]))).body).toMatchObject({ evidence_code: "certificate_revoked" });
    expect(await kds.requests()).toEqual([]);
  });

  it("an expired CRL: alone in the request → crl_expired; a cached copy gone stale sends the worker to KDS, and while KDS is down the evidence is refused (crl_expired); KDS's fresh CRL replaces it", async () => {
    const h = await snpHierarchy("rev expired");
    const kds = localKds();
    const t = await snpTenant(h, kds);
    const client = await device(t);
    const expired = await h.crl({ thisUpdate: at(-20), nextUpdate: at(-10) });
    const refused = await present(client, evidenceOf(h, client, [expired]));
    expect(refused.status, JSON.stringify(refused.body)).toBe(401);
    expect(refused.body).toMatchObject({ code: "evidence_rejected", evidence_code: "crl_expired" });
    // Not current, so KDS was asked (it had nothing); nothing stale is cached.
    expect(await kds.requests()).toEqual([VCEK_CRL]);
    expect(await cachedCrl(h)).toBeNull();

    const current = await h.crl({ thisUpdate: at(-1), nextUpdate: at(7) });
    expect((await present(client, evidenceOf(h, client, [current]))).status).toBe(201);
    expect((await cachedCrl(h))?.der).toEqual(current);

    // Ten days on, the cached copy is stale.
    const late = await device(await snpTenant(h, kds, T + 10 * DAY));
    await kds.mode("down");
    const stale = await present(late, evidenceOf(h, late));
    expect(stale.status, JSON.stringify(stale.body)).toBe(401);
    expect(stale.body).toMatchObject({ evidence_code: "crl_expired" });
    expect(await kds.requests()).toEqual([VCEK_CRL, VCEK_CRL]);

    const fresh = await h.crl({ thisUpdate: at(9), nextUpdate: at(16) });
    await kds.serve(VCEK_CRL, fresh);
    await kds.mode("up");
    const renewed = await present(late, evidenceOf(h, late));
    expect(renewed.status, JSON.stringify(renewed.body)).toBe(201);
    expect((await cachedCrl(h))?.der).toEqual(fresh);
  });

  it("a CRL signed by another key under the ARK's name: from KDS it is no CRL (crl_missing, nothing cached); in the request it refuses the evidence (crl_signature_invalid), even beside a current cached copy", async () => {
    const h = await snpHierarchy("rev forged");
    const kds = localKds();
    const forged = await h.crl({ forged: true, thisUpdate: at(-0.5) });
    await kds.serve(VCEK_CRL, forged);
    const t = await snpTenant(h, kds);
    const client = await device(t);
    const fromKds = await present(client, evidenceOf(h, client));
    expect(fromKds.status, JSON.stringify(fromKds.body)).toBe(401);
    expect(fromKds.body).toMatchObject({ evidence_code: "crl_missing" });
    expect(await cachedCrl(h)).toBeNull();

    const inRequest = await present(client, evidenceOf(h, client, [forged]));
    expect(inRequest.status).toBe(401);
    expect(inRequest.body).toMatchObject({ code: "evidence_rejected", evidence_code: "crl_signature_invalid" });

    await kds.serve(VCEK_CRL, await h.crl());
    expect((await present(client, evidenceOf(h, client))).status).toBe(201);
    const cached = await cachedCrl(h);
    expect((await present(client, evidenceOf(h, client, [forged]))).body).toMatchObject({ evidence_code: "crl_signature_invalid" });
    expect(await cachedCrl(h)).toEqual(cached);
  });

  it("the VLEK chain's CRL is KDS's /vlek/v1/{product}/crl, cached apart: an ASVK revoked there refuses a VLEK report and not a VCEK one", async () => {
    const h = await snpHierarchy("rev vlek");
    const kds = localKds();
    await kds.serve(VCEK_CRL, await h.crl());
    const vlekCrl = await h.crl({ revoked: [h.asvk] });
    await kds.serve(VLEK_CRL, vlekCrl);
    const t = await snpTenant(h, kds);
    const client = await device(t);
    expect((await present(client, evidenceOf(h, client, [], "vcek"))).status).toBe(201);
    const vlek = await present(client, evidenceOf(h, client, [], "vlek"));
    expect(vlek.status, JSON.stringify(vlek.body)).toBe(401);
    expect(vlek.body).toMatchObject({ evidence_code: "certificate_revoked" });
    expect(await kds.requests()).toEqual([VCEK_CRL, VLEK_CRL]);
    expect((await cachedCrl(h, "vlek"))?.der).toEqual(vlekCrl);
    expect((await cachedCrl(h, "vcek"))?.der).not.toEqual(vlekCrl);
  });

  it("a cached copy that does not verify (damaged in R2) is no candidate: KDS's CRL is used and written over it; a product without a trusted ARK is a configuration error, and KDS is not asked", async () => {
    const h = await snpHierarchy("rev damaged");
    const kds = localKds();
    const served = await h.crl();
    await kds.serve(VCEK_CRL, served);
    await env.BUNDLES.put(`attestation-collateral/${h.tag}/sev-snp/crl/vcek/milan.der`, Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x00));
    const t = await snpTenant(h, kds);
    const client = await device(t);
    const session = await present(client, evidenceOf(h, client));
    expect(session.status, JSON.stringify(session.body)).toBe(201);
    expect((await cachedCrl(h))?.der).toEqual(served);

    // A Genoa VCEK where only Milan is trusted: the trust store's fault, said as such (500), not a missing CRL.
    const genoa = await snpHierarchy("rev damaged genoa", "Genoa");
    const other = await device(t);
    const refused = await present(other, evidenceOf(genoa, other));
    expect(refused.status, JSON.stringify(refused.body)).toBe(500);
    expect(refused.body).toMatchObject({ code: "configuration_error", evidence_code: "no_trust_anchors" });
    expect(await kds.requests()).toEqual([VCEK_CRL]);
  });

  it("no AMD trust anchor configured, or none valid at the evidence time: the trust store's fault (500 configuration_error / no_trust_anchors), and KDS is not asked", async () => {
    const h = await snpHierarchy("rev no anchors");
    const kds = localKds();
    await kds.serve(VCEK_CRL, await h.crl());
    // AMD retired the ARK (and so its chain) the day before the evidence.
    const retired = await snpTrustFromChains([{ product: "Milan", kind: "vcek", pem: pem(h.ask, h.ark), validFor: { end: at(-1) } }]);
    for (const trust of [{ anchors: [] }, retired]) {
      const t = await snpTenant({ ...h, snpTrust: async () => trust }, kds);
      const client = await device(t);
      const refused = await present(client, evidenceOf(h, client));
      expect(refused.status, JSON.stringify(refused.body)).toBe(500);
      expect(refused.body).toMatchObject({ code: "configuration_error", evidence_code: "no_trust_anchors" });
    }
    expect(await kds.requests()).toEqual([]);
  });

  it(`bounds on KDS: a body streaming more than 256 KiB is cut off at the bound, and an answer that does not come within ${KDS_TIMEOUT_MS / 1000} s is abandoned; neither is a CRL (crl_missing)`, async () => {
    const h = await snpHierarchy("rev bounds");
    const kds = localKds();
    const t = await snpTenant(h, kds);
    const client = await device(t);
    const timed = async () => {
      const started = Date.now();
      const answer = await present(client, evidenceOf(h, client));
      return { answer, waited: Date.now() - started };
    };
    // 300 KiB and never ended: only the size bound ends the exchange before the time bound would.
    await kds.mode("huge-streamed");
    const streamed = await timed();
    expect(streamed.answer.body).toMatchObject({ evidence_code: "crl_missing" });
    expect(streamed.waited).toBeLessThan(KDS_TIMEOUT_MS / 2);
    await kds.mode("hang");
    const hung = await timed();
    expect(hung.answer.body).toMatchObject({ evidence_code: "crl_missing" });
    expect(hung.waited).toBeGreaterThanOrEqual(KDS_TIMEOUT_MS - 500);
    expect(hung.waited).toBeLessThan(KDS_TIMEOUT_MS + 10_000);
    expect(await kds.requests()).toEqual([VCEK_CRL, VCEK_CRL]);
    expect(await cachedCrl(h)).toBeNull();
  }, 40_000);
});

describe("the AMD KDS CRL cache and download (SnpCrls)", () => {
  const sources = (fetch: (request: Request) => Promise<Response>, amdKds: string | undefined = "https://kds.example") => ({ cache: env.BUNDLES, fetch, amdKds, intelPcs: undefined });
  const refuse = async (): Promise<Response> => {
    throw new Error("not to be asked");
  };

  it("a request writes only over the copy it read: one written since, by another request, is kept", async () => {
    const h = await snpHierarchy("rev cache race");
    const trust = await h.snpTrust();
    const verify = async (der: Uint8Array) => (await verifyKdsCrl(der, trust.anchors))!;
    const crls = new SnpCrls(sources(refuse), h.tag, "Milan", "vcek");
    const [older, newer] = [await verify(await h.crl({ thisUpdate: at(-2) })), await verify(await h.crl({ thisUpdate: at(-1) }))];
    // Two requests found the cache empty: the second to write finds the first's copy, and keeps it.
    expect(await crls.remember(newer, T, null)).toBe(true);
    expect(await crls.remember(older, T, null)).toBe(false);
    expect((await crls.cached())?.der).toEqual(newer.der);
    // Two read that copy: the first writes over it, and the second finds it changed.
    const read = await crls.cached();
    expect(await crls.remember(older, T, read)).toBe(true);
    expect(await crls.remember(newer, T, read)).toBe(false);
    expect((await crls.cached())?.der).toEqual(older.der);
  });

  it("KDS's answer: only a 200 is a CRL; a declared length above the bound is refused before a byte of the body is read; KDS turned off is not asked", async () => {
    const h = await snpHierarchy("rev download");
    const der = await h.crl();
    let pulled = 0;
    const endless = () => new ReadableStream<Uint8Array>({ pull: (controller) => void (pulled++, controller.enqueue(new Uint8Array(1024))) });
    const asked: string[] = [];
    const answer = (response: () => Response) => async (request: Request) => (asked.push(new URL(request.url).pathname), response());
    const crlsWith = (fetch: (request: Request) => Promise<Response>, kind: "vcek" | "vlek" = "vcek") => new SnpCrls(sources(fetch), h.tag, "Genoa", kind);
    expect(await crlsWith(answer(() => new Response(der))).fromKds()).toEqual(der);
    expect(await crlsWith(answer(() => new Response(der)), "vlek").fromKds()).toEqual(der);
    expect(asked).toEqual(["/vcek/v1/Genoa/crl", "/vlek/v1/Genoa/crl"]);
    expect(await crlsWith(answer(() => new Response(der, { status: 503 }))).fromKds()).toBeUndefined();
    expect(await crlsWith(answer(() => new Response(endless(), { headers: { "content-length": String(MAX_KDS_CRL_BYTES + 1) } }))).fromKds()).toBeUndefined();
    expect(pulled).toBeLessThanOrEqual(1);
    expect(await new SnpCrls(sources(refuse, undefined), h.tag, "Milan", "vcek").fromKds()).toBeUndefined();
  });
});
