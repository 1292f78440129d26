import { env } from "cloudflare:test";
import { base64url, calculateJwkThumbprint, decodeJwt, importJWK, jwtVerify, type JWK } from "jose";
import { describe, expect, it } from "vitest";
import type { AnySessionEvidence, WardenClient } from "../../cli/client.ts";
import type { Deps } from "../../worker/context.ts";
import { expectedReportData } from "../../worker/verifiers/appraisal.ts";
import { concatBytes, fromHex, toHex } from "../../worker/verifiers/reader.ts";
import { parseSnpReport } from "../../worker/verifiers/sev-snp/index.ts";
import { parseTdxQuote, pckInfo, pinnedTdxTrust, tdxQuoteLength, verifyTdxQuote, SGX_EXTENSIONS_OID, collateralFromDcapQvl, type TdxTrust } from "../../worker/verifiers/tdx/index.ts";
import { KDS_TIMEOUT_MS, TdxCollateral, anchorTag } from "../../worker/attestation/collateral.ts";
import { parseCertificate, parseCertificatesPem } from "../../worker/verifiers/x509/certificate.ts";
import { trustAnchor } from "../../worker/verifiers/x509/path.ts";
import { deviceStub } from "../audit-helpers.ts";
import { defaultSources, logOf, newClient, publish, uniqueId, withLoggedEvents, workerFetch } from "../helpers.ts";
import { earAppraisal, validateEar, type EarClaimsSet } from "../../worker/attestation/ear.ts";
import { amdRoots, snp, tdx } from "../unit/verifiers/fixtures.ts";
import { CA_USAGE, LEAF_USAGE, NOW, crl, issue, x509, type Issued } from "../unit/verifiers/pki.ts";
import { b64, localKds, snpHierarchy, type SnpHierarchy } from "../cvm-helpers.ts";
import { resignSnp } from "../unit/verifiers/snp-gen.ts";

/** Warden's claims inside an EAR (its one submod's `warden_claims`). */
function appraisalOf(ear: unknown): Record<string, unknown> {
  const found = earAppraisal(ear as EarClaimsSet);
  if (!found) throw new Error(`not an EAR Warden issued: ${JSON.stringify(ear)}`);
  return found.claims as Record<string, unknown>;
}

// Issue 5 through the worker (real Durable Objects, real R2): SEV-SNP reports and TDX quotes on
// POST /v1/sessions. Real hardware evidence cannot carry our nonce, so (a) real fixtures at their
// MANIFEST time must fail on the REPORT_DATA binding alone, and (b) reports re-signed under chains
// generated here (trust anchors injected through deps) must open sev-snp / tdx sessions. Real
// SEV-SNP evidence stops earlier: the worker needs a current AMD KDS CRL of AMD's ARK, and none
// can be made here (test/integration/attestation-snp-revocation.test.ts tests revocation), so the
// re-signed SEV-SNP evidence carries a CRL of its generated ARK, from the request or the local KDS.

const T1_TIME = Date.parse("2025-07-01T00:00:00Z");
// Within s2's (and s1's) VCEK validity and after the real clock: the audit trail archives entries that look old by the
// real clock, so tests that read the live device log run at injected times in the future.
const S2_TIME = Date.parse("2029-01-01T00:00:00Z");
const GEN_TIME = NOW.getTime();

const ANY_MILAN = { bootloader: 0, tee: 0, snp: 0, microcode: 0 };
function sources() {
  const manifest = {
    ...(defaultSources.manifest as Record<string, unknown>),
    attestation: {
      sev_snp: { measurements: "any", minimum_tcb: { Milan: ANY_MILAN, Genoa: ANY_MILAN } },
      tdx: { mrtd: "any" },
    },
  };
  const policies = `${defaultSources.policies}
@id("release-needs-tdx")
permit (principal, action == Action::"file.write", resource)
when { resource.within.contains("/srv/release") && context.device.assurance == "tdx" };
`;
  return { ...defaultSources, manifest, policies };
}
const release = { agent: { id: "claude-code", version: "2.1.0" }, action: { type: "file.write", targets: [{ kind: "path" as const, value: "/srv/release/app.tar" }] } };

interface Tenant {
  fetch: (request: Request) => Promise<Response>;
  now: number;
}
async function tenant(now: number, deps: Partial<Deps> = {}, vars: Partial<Env> = {}): Promise<Tenant> {
  const name = uniqueId("cvm");
  const published = await publish(sources(), { tenant: name, createdAt: new Date("2023-01-01T00:00:00Z"), expiresAt: new Date("2031-06-01T00:00:00Z") });
  if (published.status !== 200) throw new Error(JSON.stringify(published.body));
  return { now, fetch: workerFetch({ tenant: name, deps: { now: () => now, ...deps }, env: vars }) };
}

/** A scope of the local AMD KDS (test/setup/amd-kds.ts) serving `crls` by KDS path, as a tenant's AMD_KDS_URL. */
async function kdsServing(crls: Record<string, Uint8Array>): Promise<{ AMD_KDS_URL: string }> {
  const kds = localKds();
  for (const [path, der] of Object.entries(crls)) await kds.serve(path, der);
  return { AMD_KDS_URL: kds.url };
}

/** A tenant whose active bundle is the example one, with no `attestation` section. */
async function tenantWithoutAttestation(name = uniqueId("cvm-bare")): Promise<Tenant> {
  const published = await publish(defaultSources, { tenant: name, createdAt: new Date("2023-01-01T00:00:00Z"), expiresAt: new Date("2031-06-01T00:00:00Z") });
  expect(published.status).toBe(200);
  return { now: GEN_TIME, fetch: workerFetch({ tenant: name, deps: { now: () => GEN_TIME } }) };
}

async function device(t: Tenant): Promise<WardenClient> {
  const client = await newClient({ fetch: t.fetch, now: () => t.now });
  const registered = await client.register(env.ADMIN_TOKEN, "linux");
  if (registered.status !== 201) throw new Error(JSON.stringify(registered.body));
  return client;
}
/** REPORT_DATA for this nonce and device: SHA-512(nonce ‖ jkt). */
async function bindingFor(client: WardenClient, nonce: string): Promise<Uint8Array> {
  return expectedReportData(base64url.decode(nonce), base64url.decode(await calculateJwkThumbprint(client.key.publicJwk, "sha256")));
}
async function present(client: WardenClient, evidence: (nonce: string) => Promise<AnySessionEvidence>) {
  const nonce = await client.nonce();
  const answer = await client.requestSession(nonce.nonce, await evidence(nonce.nonce));
  return { status: answer.status, body: answer.body as unknown as Record<string, unknown> & { code?: string; evidence_code?: string; session_token: string; assurance: string } };
}
async function collateralKeys(): Promise<string[]> {
  return (await env.BUNDLES.list({ prefix: "attestation-collateral/" })).objects.map((o) => o.key);
}

const t1Quote = () => tdx.t1.quote.subarray(0, tdxQuoteLength(tdx.t1.quote));
const t1Collateral = () => JSON.parse(tdx.t1.collateralJson) as Record<string, string>;

describe("real fixture evidence: everything verifies, only the binding to our nonce fails", () => {
  it("TDX t1 at its MANIFEST time → 403 evidence_not_allowed / report_data_mismatch; the verified collateral is cached and used without it", async () => {
    const t = await tenant(T1_TIME);
    const client = await device(t);
    const first = await present(client, async () => ({ type: "tdx", quote: b64(t1Quote()), collateral: t1Collateral() }));
    expect(first.status, JSON.stringify(first.body)).toBe(403);
    expect(first.body).toMatchObject({ code: "evidence_not_allowed", evidence_code: "report_data_mismatch" });
    expect((await collateralKeys()).some((k) => /^attestation-collateral\/[0-9a-f]{16}\/tdx\/fmspc\/[0-9a-f]{12}\.json$/.test(k))).toBe(true);

    // Without collateral: the cached copy is used (else this would be evidence_malformed / no collateral).
    const second = await present(client, async () => ({ type: "tdx", quote: b64(t1Quote()) }));
    expect(second.body).toMatchObject({ code: "evidence_not_allowed", evidence_code: "report_data_mismatch" });
  });

  it("TDX t1 with a tampered TCB Info signature in the request → evidence_rejected / collateral_signature_invalid", async () => {
    const t = await tenant(T1_TIME);
    const client = await device(t);
    const c = t1Collateral();
    const sig = c["tcb_info_signature"]!;
    const tampered = { ...c, tcb_info_signature: (sig[0] === "0" ? "1" : "0") + sig.slice(1) };
    const refused = await present(client, async () => ({ type: "tdx", quote: b64(t1Quote()), collateral: tampered }));
    expect(refused.status).toBe(401);
    expect(refused.body).toMatchObject({ code: "evidence_rejected", evidence_code: "collateral_signature_invalid" });
  });

  it("SEV-SNP s2 (hex report) inside its VCEK validity, with no AMD KDS CRL to be had → 401 crl_missing, logged; a CRL copying ARK-Milan's name under another key → crl_signature_invalid", async () => {
    // No genuine CRL of AMD's ARK can be made here, and the local KDS serves none: revocation cannot be established, so nothing is accepted.
    const t = await tenant(S2_TIME);
    const client = await device(t);
    const first = await present(client, async () => ({ type: "sev-snp", report: snp.s2.reportHex.trim(), certs: { endorsement_key: b64(snp.s2.vcek) } }));
    expect(first.status, JSON.stringify(first.body)).toBe(401);
    expect(first.body).toMatchObject({ code: "evidence_rejected", evidence_code: "crl_missing" });
    expect((await logOf(client)).at(-1)).toMatchObject({ type: "attestation.failed", data: { type: "sev-snp", code: "crl_missing", family: "verification" } });
    const [, realArk] = parseCertificatesPem(amdRoots.milan);
    const impostor = await issue({ name: new x509.Name(realArk!.subject.slice()), alg: "RSA-PSS", keyLabel: "impostor ark-milan", ca: { ca: true }, keyUsage: CA_USAGE });
    const forged = await crl(impostor, { thisUpdate: new Date(S2_TIME - 86_400_000), nextUpdate: new Date(S2_TIME + 86_400_000) });
    const second = await present(client, async () => ({ type: "sev-snp", report: b64(snp.s2.report), certs: { endorsement_key: b64(snp.s2.vcek) }, collateral: { crls: [b64(forged)] } }));
    expect(second.status).toBe(401);
    expect(second.body).toMatchObject({ code: "evidence_rejected", evidence_code: "crl_signature_invalid" });
  });

  it("SEV-SNP s1's debug policy (re-signed under a generated chain, with its ARK's CRL) is refused on its debug bit; a truncated report is evidence_malformed", async () => {
    const h = await snpHierarchy("s1 debug", "Milan", new Date(GEN_TIME));
    const vcek = await h.vcek(snp.s1.report);
    const t = await tenant(GEN_TIME, { snpTrust: h.snpTrust }, await kdsServing({ "/vcek/v1/Milan/crl": await h.crl() }));
    const client = await device(t);
    const debug = await present(client, async (nonce) => ({ type: "sev-snp", report: b64(await resignSnp(snp.s1.report, vcek.keys, { reportData: await bindingFor(client, nonce) })), certs: { endorsement_key: b64(vcek.der) } }));
    expect(debug.body).toMatchObject({ code: "evidence_not_allowed", evidence_code: "debug_not_allowed" });
    const short = await present(client, async () => ({ type: "sev-snp", report: b64(snp.s2.report.subarray(0, 1000)), certs: { endorsement_key: b64(snp.s2.vcek) } }));
    expect(short.status).toBe(400);
    expect(short.body).toMatchObject({ code: "evidence_malformed", evidence_code: "evidence_truncated" });
    const notBase64 = await present(client, async () => ({ type: "sev-snp", report: "abcde" }));
    expect(notBase64.status).toBe(400);
    expect(notBase64.body).toMatchObject({ code: "evidence_malformed", evidence_code: "malformed_evidence" });
  });
});

describe("evidence re-signed under chains generated here, REPORT_DATA bound to the nonce", () => {
  it("SEV-SNP: session with assurance sev-snp, appraisal in the token and the device log, VCEK and CRL cached for the next; the real AMD roots refuse it", async () => {
    const h = await snpHierarchy("gen", "Milan", new Date(GEN_TIME));
    const parsed = parseSnpReport(snp.s2.report);
    const vcek = await h.vcek(snp.s2.report);
    // The generated ARK's CRL, in the request: AMD KDS (here the local one, serving nothing in this tenant's scope) is not needed.
    const arkCrl = await h.crl();

    const evidence = (client: WardenClient, sendAll = true) => async (nonce: string): Promise<AnySessionEvidence> => {
      const report = await resignSnp(snp.s2.report, vcek.keys, { reportData: await bindingFor(client, nonce) });
      return { type: "sev-snp", report: b64(report), ...(sendAll ? { certs: { endorsement_key: b64(vcek.der) }, collateral: { crls: [b64(arkCrl)] } } : {}) };
    };
    const t = await tenant(GEN_TIME, { snpTrust: h.snpTrust });
    const client = await device(t);
    const session = await present(client, evidence(client));
    expect(session.status, JSON.stringify(session.body)).toBe(201);
    expect(session.body.assurance).toBe("sev-snp");
    const claims = decodeJwt(session.body.session_token);
    expect(claims["assurance"]).toBe("sev-snp");
    expect(validateEar(claims["att"])).toEqual([]);
    // MEASUREMENT is "any" in this bundle: no executables claim; everything else affirming.
    expect((claims["att"] as EarClaimsSet)["submods"]).toEqual({
      "sev-snp": expect.objectContaining({ ear_status: "affirming", ear_trustworthiness_vector: { "instance-identity": 2, hardware: 2, configuration: 2, "runtime-opaque": 2 } }),
    });
    expect(appraisalOf(claims["att"])).toMatchObject({ type: "sev-snp", product: "Milan", signing_key: "vcek", vmpl: 0, debug: false, measurement: toHex(parsed.measurement) });
    const opened = (await logOf(client)).filter((e) => e.type === "session.opened").at(-1)!;
    expect(opened.data).toMatchObject({ assurance: "sev-snp" });
    expect(appraisalOf(opened.data["attestation"])).toMatchObject({ type: "sev-snp", measurement: toHex(parsed.measurement) });

    // Without VCEK or CRL in the request: both come from the verified R2 cache.
    const again = await present(client, evidence(client, false));
    expect(again.status, JSON.stringify(again.body)).toBe(201);

    // The same evidence under the pinned AMD roots (a tenant without injected anchors): the generated ARK copies the real name, not its key — its CRL is no CRL of AMD's ARK.
    const pinned = await tenant(GEN_TIME);
    const other = await device(pinned);
    const refused = await present(other, evidence(other));
    expect(refused.body).toMatchObject({ code: "evidence_rejected", evidence_code: "crl_signature_invalid" });
  });

  it("TDX: session with assurance tdx, a decision only tdx satisfies, and the cached collateral on a second session", async () => {
    const gen = await tdxHierarchy();
    const t = await tenant(GEN_TIME, { tdxTrust: async () => gen.trust });
    const client = await device(t);
    // A software session does not satisfy the tdx-only permit.
    await client.openSession();
    expect((await client.decide(release)).body).toMatchObject({ decision: "deny" });

    const collateral = await gen.collateral();
    const session = await present(client, async (nonce) => ({ type: "tdx", quote: b64(await gen.quote(await bindingFor(client, nonce))), collateral }));
    expect(session.status, JSON.stringify(session.body)).toBe(201);
    expect(session.body.assurance).toBe("tdx");
    const claims = decodeJwt(session.body.session_token);
    expect(validateEar(claims["att"])).toEqual([]);
    expect(appraisalOf(claims["att"])).toMatchObject({ type: "tdx", quote_version: 4, tcb_status: "UpToDate", advisory_ids: [] });
    const att = appraisalOf(claims["att"]);
    expect(att["mr_td"]).toMatch(/^[0-9a-f]{96}$/);
    expect(att["fmspc"]).toMatch(/^[0-9a-f]{12}$/);
    const opened = (await logOf(client)).filter((e) => e.type === "session.opened").at(-1)!;
    expect(opened.data).toMatchObject({ assurance: "tdx" });
    expect(appraisalOf(opened.data["attestation"])).toMatchObject({ type: "tdx", tcb_status: "UpToDate", mr_td: att["mr_td"] });

    client.sessionToken = session.body.session_token;
    expect((await client.decide(release)).body).toMatchObject({ decision: "permit", reasons: ["release-needs-tdx"] });

    // Second session, no collateral in the request: verified from the R2 cache (offline).
    const again = await present(client, async (nonce) => ({ type: "tdx", quote: b64(await gen.quote(await bindingFor(client, nonce))) }));
    expect(again.status, JSON.stringify(again.body)).toBe(201);
    expect(again.body.assurance).toBe("tdx");

    // A wrong binding is refused and logged; the nonce it answered is burnt.
    const wrong = await present(client, async () => ({ type: "tdx", quote: b64(await gen.quote(new Uint8Array(64))) }));
    expect(wrong.body).toMatchObject({ code: "evidence_not_allowed", evidence_code: "report_data_mismatch" });
    expect((await logOf(client)).at(-1)).toMatchObject({ type: "attestation.failed", data: { type: "tdx", code: "report_data_mismatch", family: "appraisal" } });

    // A verified but older candidate (lower tcbEvaluationDataNumber) cannot roll the cached collateral back.
    const tag = toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", gen.rootSpki as Uint8Array<ArrayBuffer>))).slice(0, 16);
    const key = `attestation-collateral/${tag}/tdx/fmspc/${String(att["fmspc"])}.json`;
    const cachedNumber = (await env.BUNDLES.head(key))?.customMetadata?.["tcb_evaluation_data_number"];
    expect(cachedNumber).toMatch(/^\d+$/);
    const older = await gen.collateral({ evaluationNumberDelta: -1 });
    const rolled = await present(client, async (nonce) => ({ type: "tdx", quote: b64(await gen.quote(await bindingFor(client, nonce))), collateral: older }));
    expect(rolled.status, JSON.stringify(rolled.body)).toBe(201);
    expect((await env.BUNDLES.head(key))?.customMetadata?.["tcb_evaluation_data_number"]).toBe(cachedNumber);
    expect(appraisalOf(decodeJwt(rolled.body.session_token)["att"])["tcb_evaluation_data_number"]).toBe(Number(cachedNumber));

    // Sixty days later the cached collateral is stale: refused, never trusted past its window.
    const later = await tenant(GEN_TIME + 60 * 86_400_000, { tdxTrust: async () => gen.trust });
    const late = await device(later);
    const stale = await present(late, async (nonce) => ({ type: "tdx", quote: b64(await gen.quote(await bindingFor(late, nonce))) }));
    expect(stale.status).toBe(401);
    expect(stale.body.code).toBe("evidence_rejected");
    expect(["collateral_expired", "crl_expired"]).toContain(stale.body.evidence_code);
  });

  it("TDX: a revoked platform cannot replay older genuine collateral: the cached revoking CRL is used, a refusal stays a refusal, and the cache is not rolled back", async () => {
    const DAY = 86_400_000;
    const gen = await tdxHierarchy("revoked");
    const t = await tenant(GEN_TIME, { tdxTrust: async () => gen.trust });
    const revokedPck = await gen.platform("7a01");
    const honestPck = await gen.platform("7a02");
    // Genuine collateral from before the revocation (its PCK CRL still inside its 30 days) and today's, whose PCK CRL lists 7a01.
    const before = await gen.collateral({ issued: GEN_TIME - 20 * DAY, pckCrlThisUpdate: GEN_TIME - 20 * DAY });
    const current = await gen.collateral({ pckCrlThisUpdate: GEN_TIME - DAY, revoked: ["7a01"] });
    const olderEvaluation = await gen.collateral({ issued: GEN_TIME - 20 * DAY, pckCrlThisUpdate: GEN_TIME - 20 * DAY, evaluationNumberDelta: -1 });

    // Another platform of the FMSPC sends today's collateral: verified and cached.
    const honest = await device(t);
    const first = await present(honest, async (nonce) => ({ type: "tdx", quote: b64(await gen.quote(await bindingFor(honest, nonce), honestPck)), collateral: current }));
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    const tag = toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", gen.rootSpki as Uint8Array<ArrayBuffer>))).slice(0, 16);
    const key = (await collateralKeys()).find((k) => k.startsWith(`attestation-collateral/${tag}/`))!;
    const cachedCrl = async () => (JSON.parse(await (await env.BUNDLES.get(key))!.text()) as Record<string, string>)["pck_crl"];
    expect(await cachedCrl()).toBe(current["pck_crl"]);

    const victim = await device(t);
    const attempt = (collateral?: Record<string, string>) =>
      present(victim, async (nonce) => ({ type: "tdx", quote: b64(await gen.quote(await bindingFor(victim, nonce), revokedPck)), ...(collateral ? { collateral } : {}) }));
    for (const [what, collateral] of [
      ["the cache", undefined],
      ["today's collateral", current],
      ["older collateral of the same TCB evaluation", before],
      ["older collateral of an earlier TCB evaluation", olderEvaluation],
    ] as const) {
      const refused = await attempt(collateral);
      expect(refused.status, `${what}: ${JSON.stringify(refused.body)}`).toBe(401);
      expect(refused.body, what).toMatchObject({ code: "evidence_rejected", evidence_code: "certificate_revoked" });
    }
    // The cache still holds the revoking CRL: the revoked platform gets nothing by sending nothing afterwards.
    expect(await cachedCrl()).toBe(current["pck_crl"]);
    expect((await attempt()).body).toMatchObject({ evidence_code: "certificate_revoked" });

    // The honest platform replaying the older collateral is still appraised, with the cached CRL, and does not roll the cache back either.
    const replayed = await present(honest, async (nonce) => ({ type: "tdx", quote: b64(await gen.quote(await bindingFor(honest, nonce), honestPck)), collateral: before }));
    expect(replayed.status, JSON.stringify(replayed.body)).toBe(201);
    expect(await cachedCrl()).toBe(current["pck_crl"]);
  });

  it.each([
    ["tdx", () => ({ type: "tdx" as const, quote: b64(t1Quote()), collateral: t1Collateral() })],
    ["sev-snp", () => ({ type: "sev-snp" as const, report: b64(snp.s2.report), certs: { endorsement_key: b64(snp.s2.vcek) } })],
  ])("a bundle without attestation.%s refuses its evidence with 409 attestation_not_configured, the nonce spent, logged", async (type, evidence) => {
    const client = await device(await tenantWithoutAttestation());
    const nonce = await client.nonce();
    const refused = await client.requestSession(nonce.nonce, evidence());
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ code: "attestation_not_configured" });
    expect((await logOf(client)).at(-1)).toMatchObject({ type: "attestation.failed", data: { type, code: "attestation_not_configured" } });
    const again = await client.requestSession(nonce.nonce);
    expect(again.status).toBe(401);
    expect(again.body).toMatchObject({ code: "nonce_invalid" });
    // The same evidence again on the burnt nonce is not verified, and logs nothing more.
    const replayed = await client.requestSession(nonce.nonce, evidence());
    expect(replayed.status).toBe(401);
    expect(replayed.body).toMatchObject({ code: "nonce_invalid" });
    expect((await logOf(client)).filter((entry) => entry.type === "attestation.failed")).toHaveLength(1);
  });

  it("two requests answering one nonce with refused evidence at once log one refusal; the object logs none for a nonce already spent", async () => {
    const name = uniqueId("cvm-bare");
    const client = await device(await tenantWithoutAttestation(name));
    const nonce = await client.nonce();
    const evidence = { type: "sev-snp" as const, report: b64(snp.s2.report), certs: { endorsement_key: b64(snp.s2.vcek) } };
    const answers = await Promise.all([client.requestSession(nonce.nonce, evidence), client.requestSession(nonce.nonce, evidence)]);
    // However the two interleave (here both pass the nonce check before either refuses), one is refused for its evidence and one refusal is logged.
    expect(answers.map((answer) => answer.status)).toContain(409);
    for (const answer of answers) expect(answer.body).toMatchObject({ code: expect.stringMatching(/^(attestation_not_configured|nonce_invalid)$/) });
    const refusals = async () => (await logOf(client)).filter((entry) => entry.type === "attestation.failed");
    expect(await refusals()).toHaveLength(1);
    // The object's own guard, whatever the interleaving above: a refusal for a nonce already spent logs nothing.
    const again = await deviceStub(client.deviceId, name).refuseEvidence({ nonce: { value: nonce.nonce, expiresAt: Date.parse(nonce.expires_at) }, now: GEN_TIME, data: { type: "sev-snp", code: "attestation_not_configured" } });
    expect(again).toEqual({ ok: false, code: "nonce_invalid" });
    expect(await refusals()).toHaveLength(1);
  });

  it("the OpenAPI document describes the SEV-SNP and TDX evidence", async () => {
    const doc = (await (await workerFetch()(new Request("https://warden.test/openapi.json"))).json()) as { components: { schemas: Record<string, unknown> } };
    expect(Object.keys(doc.components.schemas)).toEqual(expect.arrayContaining(["SevSnpEvidence", "TdxEvidence", "AzureSnpVtpmEvidence"]));
  });
});

const AZURE_RUNTIME = 0x4c0;
const azureFixture = () => JSON.parse(snp.s4.evidenceJson) as { report: number[]; quote: { message: number[]; signature: number[]; pcrs: number[][] }; vcek: string };

/**
 * s4 (a real Azure CVM's evidence) re-signed under a generated Genoa hierarchy and vTPM key:
 * `evidence(extraData)` is the fixture with our AK in HCLAkPub (same length), REPORT_DATA over
 * the new runtime data, and a quote over `extraData`; the PCRs are the fixture's.
 */
async function resignedAzure(label: string): Promise<{ h: SnpHierarchy; evidence: (extraData: Uint8Array) => Promise<Record<string, unknown>> }> {
  const h = await snpHierarchy(label, "Genoa", new Date(GEN_TIME));
  const hcl = Uint8Array.from(azureFixture().report);
  const vcek = await h.vcek(hcl.subarray(0x20, 0x20 + 0x4a0));
  const ak = (await crypto.subtle.generateKey({ name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" }, true, ["sign", "verify"])) as CryptoKeyPair;
  const akN = ((await crypto.subtle.exportKey("jwk", ak.publicKey)) as JsonWebKey).n!;
  const evidence = async (extraData: Uint8Array) => {
    const report = hcl.slice();
    const size = new DataView(report.buffer).getUint32(AZURE_RUNTIME + 16, true);
    const text = new TextDecoder().decode(report.subarray(AZURE_RUNTIME + 20, AZURE_RUNTIME + 20 + size));
    const at = text.indexOf('"n":"') + 5;
    const end = text.indexOf('"', at);
    expect(akN.length).toBe(end - at);
    report.set(new TextEncoder().encode(akN), AZURE_RUNTIME + 20 + at);
    const runtimeDigest = new Uint8Array(await crypto.subtle.digest("SHA-256", report.subarray(AZURE_RUNTIME + 20, AZURE_RUNTIME + 20 + size)));
    report.set(await resignSnp(report.subarray(0x20, 0x20 + 0x4a0), vcek.keys, { reportData: concatBytes(runtimeDigest, new Uint8Array(32)) }), 0x20);
    const q = azureFixture().quote;
    const message = Uint8Array.from(q.message);
    // TPMS_ATTEST: magic 4, type 2, qualifiedSigner (2 + 34), extraData (2 + 48), then the rest.
    const before = message.subarray(0, 6 + 2 + 34);
    const after = message.subarray(6 + 2 + 34 + 2 + 48);
    const quote = concatBytes(before, Uint8Array.of(0, extraData.length), extraData, after);
    const signature = new Uint8Array(await crypto.subtle.sign("RSASSA-PKCS1-v1_5", ak.privateKey, quote));
    return { report: [...report], quote: { message: [...quote], signature: [...signature], pcrs: q.pcrs }, vcek: vcek.cert.toString("pem") };
  };
  return { h, evidence };
}

describe("Azure confidential VMs (HCL report + vTPM quote) on POST /v1/sessions", () => {
  // Within the s4 VCEK's validity (2025-01-24..2032-01-24) and after the real clock.
  const AZURE_TIME = S2_TIME;

  it("the real Azure evidence, with no AMD KDS CRL to be had, is refused like SEV-SNP's → 401 crl_missing, logged", async () => {
    // Revocation of its ASK cannot be established (no genuine CRL of AMD's ARK here): the HCL wrapper is no way around it.
    const t = await tenant(AZURE_TIME);
    const client = await device(t);
    const refused = await present(client, async () => ({ type: "azure-snp-vtpm", evidence: azureFixture() }));
    expect(refused.status, JSON.stringify(refused.body)).toBe(401);
    expect(refused.body).toMatchObject({ code: "evidence_rejected", evidence_code: "crl_missing" });
    expect((await logOf(client)).at(-1)).toMatchObject({ type: "attestation.failed", data: { type: "azure-snp-vtpm", code: "crl_missing" } });
  });

  it("re-signed under a generated Genoa chain and vTPM key, bound to our nonce, its ARK's CRL from KDS: a session with assurance sev-snp and the vTPM PCRs in its appraisal; the ASK revoked → refused", async () => {
    const { h, evidence } = await resignedAzure("gen genoa");
    const t = await tenant(GEN_TIME, { snpTrust: h.snpTrust }, await kdsServing({ "/vcek/v1/Genoa/crl": await h.crl() }));
    const client = await device(t);
    const qualifying = async (nonce: string) =>
      new Uint8Array(await crypto.subtle.digest("SHA-256", concatBytes(base64url.decode(nonce), base64url.decode(await calculateJwkThumbprint(client.key.publicJwk, "sha256")))));
    const session = await present(client, async (nonce) => ({ type: "azure-snp-vtpm", evidence: await evidence(await qualifying(nonce)) }));
    expect(session.status, JSON.stringify(session.body)).toBe(201);
    expect(session.body.assurance).toBe("sev-snp");
    expect(validateEar(session.body["attestation"])).toEqual([]);
    expect(appraisalOf(session.body["attestation"])).toMatchObject({
      type: "azure-snp-vtpm",
      product: "Genoa",
      vtpm: { pcr_bank: "sha256", pcrs: { "0": "afd689d0bb1c5f36f023fbaf574135f555a28a10c1f6b938d2a25e70c7783338" } },
      vm_configuration: { "secure-boot": true },
    });
    // The nonce without the device key (trustee's convention) is not our binding.
    const bare = await present(client, async (nonce) => ({ type: "azure-snp-vtpm", evidence: await evidence(base64url.decode(nonce)) }));
    expect(bare.body).toMatchObject({ code: "evidence_rejected", evidence_code: "qualifying_data_mismatch" });
    // A newer CRL of the ARK listing the ASK, as any request may bring: refused, and from then on for every Azure report under that ASK.
    const revoking = await h.crl({ thisUpdate: new Date(GEN_TIME - 3_600_000), revoked: [h.ask] });
    const revoked = await present(client, async (nonce) => ({ type: "azure-snp-vtpm", evidence: await evidence(await qualifying(nonce)), collateral: { crls: [b64(revoking)] } }));
    expect(revoked.status, JSON.stringify(revoked.body)).toBe(401);
    expect(revoked.body).toMatchObject({ code: "evidence_rejected", evidence_code: "certificate_revoked" });
    expect((await present(client, async (nonce) => ({ type: "azure-snp-vtpm", evidence: await evidence(await qualifying(nonce)) }))).body).toMatchObject({ evidence_code: "certificate_revoked" });
  });
});

describe("POST /v1/attestation/results: a signed EAR for relying parties other than Warden", () => {
  const AZURE_NONCE = "0218488bae25d2509232bf676f1a66a30d7372add909109b36016ef136f2938ca05475f8b46094de6b64270ea35d950f";
  const results = (t: Tenant, body: unknown, token: string = env.AUDITOR_TOKEN) =>
    t.fetch(new Request("https://warden.test/v1/attestation/results", { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify(body) }));

  it("Azure CVM evidence (s4 re-signed under a generated chain, its ARK's CRL from KDS) with the relying party's nonce (trustee's): an EAR signed by the JWKS key, valid against the draft", async () => {
    const { h, evidence } = await resignedAzure("results genoa");
    const t = await tenant(GEN_TIME, { snpTrust: h.snpTrust }, await kdsServing({ "/vcek/v1/Genoa/crl": await h.crl() }));
    const response = await results(t, { evidence: { type: "azure-snp-vtpm", evidence: await evidence(fromHex(AZURE_NONCE)) }, nonce: AZURE_NONCE });
    const body = (await response.json()) as { ear: string; claims: EarClaimsSet; expires_at: string };
    expect(response.status, JSON.stringify(body)).toBe(200);
    const jwks = (await (await t.fetch(new Request("https://warden.test/.well-known/jwks.json"))).json()) as { keys: JsonWebKey[] };
    const { payload, protectedHeader } = await jwtVerify(body.ear, await importJWK(jwks.keys[0] as JWK, "EdDSA"), { typ: "eat+jwt", issuer: "warden", currentDate: new Date(GEN_TIME) });
    expect(protectedHeader).toMatchObject({ alg: "EdDSA", typ: "eat+jwt" });
    expect(validateEar(payload)).toEqual([]);
    expect(payload).toMatchObject({ ...body.claims, exp: (payload.iat as number) + 300 });
    const submod = (body.claims["submods"] as Record<string, Record<string, unknown>>)["azure-snp-vtpm"]!;
    expect(submod).toMatchObject({ ear_status: "affirming", eat_nonce: base64url.encode(fromHex(AZURE_NONCE)), warden_evidence: { type: "azure-snp-vtpm", sha256: expect.stringMatching(/^[0-9a-f]{64}$/) } });
    expect(appraisalOf(body.claims)).toMatchObject({ product: "Genoa", vtpm: { pcrs: { "0": "afd689d0bb1c5f36f023fbaf574135f555a28a10c1f6b938d2a25e70c7783338" } } });
  });

  it("SEV-SNP (s2 re-signed under a generated chain, its ARK's CRL in the request): REPORT_DATA is the relying party's nonce; another nonce is refused as for sessions", async () => {
    const h = await snpHierarchy("results milan", "Milan", new Date(GEN_TIME));
    const vcek = await h.vcek(snp.s2.report);
    const t = await tenant(GEN_TIME, { snpTrust: h.snpTrust });
    const reportData = toHex(parseSnpReport(snp.s2.report).reportData);
    const report = await resignSnp(snp.s2.report, vcek.keys, { reportData: fromHex(reportData) });
    const evidence = { type: "sev-snp", report: b64(report), certs: { endorsement_key: b64(vcek.der) }, collateral: { crls: [b64(await h.crl())] } };
    const ok = await results(t, { evidence, nonce: reportData });
    expect(ok.status, await ok.clone().text()).toBe(200);
    const wrong = await results(t, { evidence, nonce: "00".repeat(32) });
    expect(wrong.status).toBe(403);
    expect(await wrong.json()).toMatchObject({ code: "evidence_not_allowed", evidence_code: "report_data_mismatch" });
  });

  it("refuses what it cannot appraise: a TPM quote without its device, a malformed nonce, a device caller", async () => {
    const t = await tenant(S2_TIME);
    const quote = { type: "tpm", quote: "AAAA", signature: "AAAA", pcrs: {} };
    expect(await (await results(t, { evidence: quote, nonce: "00".repeat(16) })).json()).toMatchObject({ code: "malformed_request" });
    expect(await (await results(t, { evidence: quote, nonce: "00".repeat(16), device_id: "nobody" })).json()).toMatchObject({ code: "not_found" });
    expect((await results(t, { evidence: quote, nonce: "0011" })).status).toBe(400);
    const client = await device(t);
    await client.openSession();
    expect((await client.authorized("POST", "/v1/attestation/results", { evidence: quote, nonce: "00".repeat(16) })).status).toBe(403);
  });
});

describe("the TDX collateral cache", () => {
  it("a request writes only over the copy it read: one written since, by another request, is kept", async () => {
    const verified = await verifyTdxQuote({ quote: t1Quote() }, { now: new Date(T1_TIME), trustAnchors: await pinnedTdxTrust(), collateral: collateralFromDcapQvl(tdx.t1.collateralJson) });
    const cache = new TdxCollateral({ cache: env.BUNDLES, fetch: (request) => fetch(request), amdKds: undefined, intelPcs: undefined }, uniqueId("anchors"), "00906ed50000");
    const [older, newer] = ['{"copy":"older"}', '{"copy":"newer"}'];
    // Two requests found the cache empty: the second to write finds the first's copy, and keeps it.
    expect(await cache.remember(newer, verified, T1_TIME, null)).toBe(true);
    expect(await cache.remember(older, verified, T1_TIME, null)).toBe(false);
    expect((await cache.cached())?.text).toBe(newer);
    // Two read that copy: the first writes over it, and the second finds it changed.
    const read = await cache.cached();
    expect(await cache.remember(older, verified, T1_TIME, read)).toBe(true);
    expect(await cache.remember(newer, verified, T1_TIME, read)).toBe(false);
    expect((await cache.cached())?.text).toBe(older);
  });

  // The cache is written only with collateral that verified, so a copy that does not read was not written by
  // Warden as it is (a damaged object, another version's form, a foreign write): it holds nothing verified.
  it.each([
    ["not JSON", '{"tcb_info":'],
    ["JSON of another form", '{"copy":"older"}'],
    ["dcap-qvl members of the wrong type", JSON.stringify({ tcb_info: 1, tcb_info_signature: 2, tcb_info_issuer_chain: 3, qe_identity: 4, qe_identity_signature: 5, qe_identity_issuer_chain: 6 })],
  ])("a cached copy that is %s is not trusted: the request's collateral verifies alone and replaces it; without any, a stable refusal", async (_what, malformed) => {
    const gen = await tdxHierarchy("malformed cache");
    const t = await tenant(GEN_TIME, { tdxTrust: async () => gen.trust });
    const client = await device(t);
    const [leaf] = parseCertificatesPem(new TextDecoder().decode(parseTdxQuote(await gen.quote(new Uint8Array(64))).pckChain).replace(/\0+$/, ""));
    const key = `attestation-collateral/${anchorTag(gen.trust.anchors.map((anchor) => anchor.certificate.spki))}/tdx/fmspc/${pckInfo(leaf!).fmspc.toLowerCase()}.json`;
    const plant = () => env.BUNDLES.put(key, malformed, { customMetadata: { tcb_evaluation_data_number: "999999" } });

    // No collateral in the request, none usable in the cache, no Intel PCS: refused as missing collateral, and logged.
    await plant();
    const refused = await present(client, async (nonce) => ({ type: "tdx", quote: b64(await gen.quote(await bindingFor(client, nonce))) }));
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ code: "evidence_malformed", evidence_code: "malformed_evidence" });
    expect((await logOf(client)).at(-1)).toMatchObject({ type: "attestation.failed", data: { type: "tdx", code: "malformed_evidence" } });
    expect(await (await env.BUNDLES.get(key))!.text()).toBe(malformed);

    // The request's collateral is verified as sent, and kept in place of the copy that did not read.
    const collateral = await gen.collateral();
    const session = await present(client, async (nonce) => ({ type: "tdx", quote: b64(await gen.quote(await bindingFor(client, nonce))), collateral }));
    expect(session.status, JSON.stringify(session.body)).toBe(201);
    expect(session.body.assurance).toBe("tdx");
    expect(JSON.parse(await (await env.BUNDLES.get(key))!.text())).toEqual(collateral);
    // From then on a quote without collateral verifies from the cache.
    const again = await present(client, async (nonce) => ({ type: "tdx", quote: b64(await gen.quote(await bindingFor(client, nonce))) }));
    expect(again.status, JSON.stringify(again.body)).toBe(201);
  });
});

describe("collateral from the vendors' services (a stand-in for Intel PCS, and the local AMD KDS, that the test run serves)", () => {
  const vendors = (env as unknown as { VENDOR_SERVICES: Fetcher }).VENDOR_SERVICES;
  const serve = (path: string, body: Uint8Array | string, headers: Record<string, string> = {}, status = 200) =>
    vendors.fetch("http://vendors/__serve", { method: "PUT", body: JSON.stringify({ path, status, headers, body: b64(typeof body === "string" ? new TextEncoder().encode(body) : body) }) });
  const asked = async (host: string) => ((await (await vendors.fetch("http://vendors/__requests")).json()) as string[]).filter((key) => key.startsWith(host));

  /** A tenant whose deps send outbound requests to the stand-in, with PCS at a host of its own. */
  async function vendorTenant(deps: Partial<Deps>): Promise<Tenant & { pcs: string }> {
    const name = uniqueId("vendors");
    const published = await publish(sources(), { tenant: name, createdAt: new Date("2023-01-01T00:00:00Z"), expiresAt: new Date("2031-06-01T00:00:00Z") });
    if (published.status !== 200) throw new Error(JSON.stringify(published.body));
    const pcs = `pcs-${name}.vendors.test`;
    const fetch = workerFetch({
      tenant: name,
      deps: { now: () => GEN_TIME, fetch: (request) => vendors.fetch(request), ...deps },
      env: { INTEL_PCS_URL: `https://${pcs}/` },
    });
    return { now: GEN_TIME, fetch, pcs };
  }

  /** Serves `gen`'s collateral as Intel PCS v4 would, at the tenant's PCS host; answers the quotes' FMSPC. */
  async function servePcs(t: { pcs: string }, gen: Awaited<ReturnType<typeof tdxHierarchy>>): Promise<string> {
    const dcap = await gen.collateral();
    const [leaf] = parseCertificatesPem(new TextDecoder().decode(parseTdxQuote(await gen.quote(new Uint8Array(64))).pckChain).replace(/\0+$/, ""));
    const fmspc = pckInfo(leaf!).fmspc;
    await serve(`${t.pcs}/tdx/certification/v4/tcb?fmspc=${fmspc}`, `{"tcbInfo":${dcap["tcb_info"]},"signature":"${dcap["tcb_info_signature"]}"}`, {
      "TCB-Info-Issuer-Chain": encodeURIComponent(dcap["tcb_info_issuer_chain"]!),
    });
    await serve(`${t.pcs}/tdx/certification/v4/qe/identity`, `{"enclaveIdentity":${dcap["qe_identity"]},"signature":"${dcap["qe_identity_signature"]}"}`, {
      "SGX-Enclave-Identity-Issuer-Chain": encodeURIComponent(dcap["qe_identity_issuer_chain"]!),
    });
    await serve(`${t.pcs}/sgx/certification/v4/pckcrl?ca=platform&encoding=der`, fromHex(dcap["pck_crl"]!));
    await serve(`${t.pcs}/sgx/certification/v4/rootcacrl`, fromHex(dcap["root_ca_crl"]!));
    return fmspc;
  }

  it("TDX: with no collateral in the request or the cache, Intel PCS's is fetched, verified, cached and not asked for again", async () => {
    // Keys of their own: the anchors key the collateral cache, so no other test's entry answers.
    const gen = await tdxHierarchy("pcs");
    const t = await vendorTenant({ tdxTrust: async () => gen.trust });
    const client = await device(t);
    await servePcs(t, gen);

    const session = await present(client, async (nonce) => ({ type: "tdx", quote: b64(await gen.quote(await bindingFor(client, nonce))) }));
    expect(session.status, JSON.stringify(session.body)).toBe(201);
    expect(session.body.assurance).toBe("tdx");
    expect(await asked(t.pcs)).toHaveLength(4);
    const again = await present(client, async (nonce) => ({ type: "tdx", quote: b64(await gen.quote(await bindingFor(client, nonce))) }));
    expect(again.status, JSON.stringify(again.body)).toBe(201);
    expect(await asked(t.pcs)).toHaveLength(4);
  });

  it("TDX: a cached copy that does not read counts as none: Intel PCS's collateral is fetched, verified and written over it", async () => {
    const gen = await tdxHierarchy("pcs over a malformed copy");
    const t = await vendorTenant({ tdxTrust: async () => gen.trust });
    const client = await device(t);
    const fmspc = await servePcs(t, gen);
    const key = `attestation-collateral/${anchorTag(gen.trust.anchors.map((anchor) => anchor.certificate.spki))}/tdx/fmspc/${fmspc.toLowerCase()}.json`;
    await env.BUNDLES.put(key, '{"copy":"older"}');
    const quoted = async (nonce: string) => ({ type: "tdx" as const, quote: b64(await gen.quote(await bindingFor(client, nonce))) });

    // The operator is told which FMSPC's copy did not read; once PCS's is written over it, nothing more is.
    const { result: session, events } = await withLoggedEvents(() => present(client, quoted));
    expect(session.status, JSON.stringify(session.body)).toBe(201);
    expect(await asked(t.pcs)).toHaveLength(4);
    expect(collateralFromDcapQvl(await (await env.BUNDLES.get(key))!.text()).tcbInfo.body).toContain(`"fmspc":"${fmspc}"`);
    expect(events.filter((event) => event["event"] === "attestation.collateral_cache_unreadable")).toEqual([{ event: "attestation.collateral_cache_unreadable", fmspc }]);
    const again = await withLoggedEvents(() => present(client, quoted));
    expect(again.result.status).toBe(201);
    expect(again.events.map((event) => event["event"])).not.toContain("attestation.collateral_cache_unreadable");
  });

  /** A v3 Milan report under a generated hierarchy whose VCEK and CRL the local AMD KDS serves, a tenant asking it, and a device there. */
  async function servedByKds(label: string) {
    const h = await snpHierarchy(label, "Milan", new Date(GEN_TIME));
    // Version 3 carries CPUID, which names the product KDS is asked for (family 0x19, model 0x01: Milan).
    const v3 = snp.s2.report.slice();
    v3.set([3, 0, 0, 0], 0);
    v3.set([0x19, 0x01, 0x01], 0x188);
    const parsed = parseSnpReport(v3);
    const vcek = await h.vcek(v3);
    const kds = localKds();
    const tcb = parsed.reportedTcb;
    const vcekPath = `/vcek/v1/Milan/${toHex(parsed.chipId)}?blSPL=${tcb[0]}&teeSPL=${tcb[1]}&snpSPL=${tcb[6]}&ucodeSPL=${tcb[7]}`;
    await kds.serve(vcekPath, vcek.der);
    await kds.serve("/vcek/v1/Milan/crl", await h.crl());
    const t = await tenant(GEN_TIME, { snpTrust: h.snpTrust }, { AMD_KDS_URL: kds.url });
    const client = await device(t);
    const anchors = anchorTag((await h.snpTrust()).anchors.map((anchor) => anchor.certificate.spki));
    const evidence = async (nonce: string): Promise<AnySessionEvidence> => ({ type: "sev-snp", report: b64(await resignSnp(v3, vcek.keys, { reportData: await bindingFor(client, nonce) })) });
    return { kds, vcek, vcekPath, client, evidence, cacheKey: `attestation-collateral/${anchors}/sev-snp/vcek/${toHex(parsed.chipId)}/${toHex(tcb)}.der` };
  }

  it("SEV-SNP: with no VCEK or CRL in the request or the cache, AMD KDS's (the local one) — the VCEK for the report's product, chip and TCB, the CRL for its product — are fetched and cached", async () => {
    const { kds, vcekPath, client, evidence } = await servedByKds("kds vcek");
    const session = await present(client, evidence);
    expect(session.status, JSON.stringify(session.body)).toBe(201);
    expect(session.body.assurance).toBe("sev-snp");
    expect(await kds.requests()).toEqual([vcekPath, "/vcek/v1/Milan/crl"]);
    expect((await present(client, evidence)).status).toBe(201);
    expect(await kds.requests()).toHaveLength(2);
  });

  it("SEV-SNP: a cached VCEK that does not read as a certificate counts as none: AMD KDS's is fetched, verified and written over it", async () => {
    const { kds, vcek, vcekPath, client, evidence, cacheKey } = await servedByKds("kds vcek over a damaged copy");
    await env.BUNDLES.put(cacheKey, vcek.der.slice(0, 100));
    const { result: session, events } = await withLoggedEvents(() => present(client, evidence));
    expect(session.status, JSON.stringify(session.body)).toBe(201);
    expect(await kds.requests()).toContain(vcekPath);
    expect(new Uint8Array(await (await env.BUNDLES.get(cacheKey))!.arrayBuffer())).toEqual(new Uint8Array(vcek.der));
    expect(events.filter((event) => event["event"] === "attestation.collateral_cache_unreadable")).toEqual([{ event: "attestation.collateral_cache_unreadable", key: cacheKey }]);
    const again = await withLoggedEvents(() => present(client, evidence));
    expect(again.result.status).toBe(201);
    expect(again.events.map((event) => event["event"])).not.toContain("attestation.collateral_cache_unreadable");
  });

  it(`SEV-SNP: a VCEK download is bounded as the CRL's is: a body streaming past 16 KiB is cut off, an answer that does not come within ${KDS_TIMEOUT_MS / 1000} s is abandoned; neither is a VCEK`, async () => {
    const { kds, vcekPath, client, evidence } = await servedByKds("kds vcek bounds");
    const timed = async () => {
      const started = Date.now();
      const answer = await present(client, evidence);
      return { answer, waited: Date.now() - started };
    };
    await kds.mode("huge-streamed");
    const streamed = await timed();
    expect(streamed.answer.body).toMatchObject({ code: "evidence_malformed", evidence_code: "malformed_evidence" });
    expect(streamed.waited).toBeLessThan(KDS_TIMEOUT_MS / 2);
    await kds.mode("hang");
    const hung = await timed();
    expect(hung.answer.body).toMatchObject({ code: "evidence_malformed", evidence_code: "malformed_evidence" });
    expect(hung.waited).toBeGreaterThanOrEqual(KDS_TIMEOUT_MS - 500);
    expect(hung.waited).toBeLessThan(KDS_TIMEOUT_MS + 10_000);
    expect(await kds.requests()).toEqual([vcekPath, vcekPath]);
  }, 40_000);

  it("a vendor service that has nothing leaves the evidence without collateral: refused as malformed and logged", async () => {
    const gen = await tdxHierarchy("no pcs");
    const t = await vendorTenant({ tdxTrust: async () => gen.trust });
    const client = await device(t);
    const refused = await present(client, async (nonce) => ({ type: "tdx", quote: b64(await gen.quote(await bindingFor(client, nonce))) }));
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ code: "evidence_malformed", evidence_code: "malformed_evidence" });
    expect((await asked(t.pcs)).length).toBeGreaterThan(0);
    expect((await logOf(client)).at(-1)).toMatchObject({ type: "attestation.failed", data: { type: "tdx", code: "malformed_evidence" } });
  });
});

// ——— helpers adapted from test/unit/verifiers/tdx.test.ts (the SEV-SNP ones are in test/cvm-helpers.ts) ———

interface CollateralOptions {
  evaluationNumberDelta?: number;
  /** TCB Info and QE Identity issueDate (default a day before GEN_TIME). */
  issued?: number;
  /** The PCK CRL's thisUpdate (default a day before GEN_TIME; valid 30 days from it) and the serials it lists. */
  pckCrlThisUpdate?: number;
  revoked?: string[];
}

/** An Intel-like root, PCK Platform CA, PCK leaf (t1's SGX extension) and TCB signer; quotes and dcap-qvl collateral re-signed from t1. */
async function tdxHierarchy(label = "gen"): Promise<{
  trust: TdxTrust;
  rootSpki: Uint8Array;
  quote: (reportData: Uint8Array, platform?: Issued) => Promise<Uint8Array>;
  collateral: (o?: CollateralOptions) => Promise<Record<string, string>>;
  /** Another platform of the same FMSPC: a PCK leaf of the same Platform CA with this serial. */
  platform: (serial: string) => Promise<Issued>;
}> {
  const real = parseTdxQuote(t1Quote());
  const [realLeaf, realPlatform, realRoot] = parseCertificatesPem(new TextDecoder().decode(real.pckChain).replace(/\0+$/, ""));
  const name = (c: { subject: Uint8Array } | undefined) => new x509.Name(c!.subject.slice());
  const sgxExt = realLeaf!.extensions.get(SGX_EXTENSIONS_OID)!.value.slice();
  const root = await issue({ name: name(realRoot), keyLabel: `${label} intel root`, ca: { ca: true, pathLen: 1 }, keyUsage: CA_USAGE });
  const platformCa = await issue({ name: name(realPlatform), issuer: root, keyLabel: `${label} platform ca`, ca: { ca: true, pathLen: 0 }, keyUsage: CA_USAGE });
  const platform = (serial?: string): Promise<Issued> =>
    issue({
      name: name(realLeaf),
      issuer: platformCa,
      keyLabel: `${label} pck${serial ? ` ${serial}` : ""}`,
      ...(serial ? { serial } : {}),
      ca: { ca: false },
      keyUsage: LEAF_USAGE | x509.KeyUsageFlags.nonRepudiation,
      extensions: [new x509.Extension(SGX_EXTENSIONS_OID, false, sgxExt)],
    });
  const pck = await platform();
  const tcbSigner = await issue({ name: "CN=Intel SGX TCB Signing, O=Intel Corporation, L=Santa Clara, ST=CA, C=US", issuer: root, keyLabel: `${label} tcb signer`, keyUsage: LEAF_USAGE });
  const trust: TdxTrust = { anchors: [await trustAnchor("generated Intel root", parseCertificate(root.der))] };
  const sign = async (key: CryptoKey, data: Uint8Array) => new Uint8Array(await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key, data));
  const u16 = (n: number) => Uint8Array.of(n & 0xff, n >> 8);
  const u32 = (n: number) => Uint8Array.of(n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, n >>> 24);

  async function quote(reportData: Uint8Array, leaf: Issued = pck): Promise<Uint8Array> {
    const attKeys = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])) as CryptoKeyPair;
    const attKey = new Uint8Array((await crypto.subtle.exportKey("raw", attKeys.publicKey)) as ArrayBuffer).subarray(1);
    const qeReport = real.qeReport.raw.slice();
    qeReport.set(new Uint8Array(64), 320);
    qeReport.set(new Uint8Array(await crypto.subtle.digest("SHA-256", concatBytes(attKey, real.qeAuthData))), 320);
    const qeSig = await sign(leaf.keys.privateKey, qeReport);
    const pem = new TextEncoder().encode([leaf, platformCa, root].map((c) => c.cert.toString("pem")).join("\n") + "\n");
    const signed = real.signed.slice();
    // TD report 1.0 REPORTDATA: bytes 520..583 of the body, after the 48-byte header.
    signed.set(reportData, 48 + 520);
    const quoteSig = await sign(attKeys.privateKey, signed);
    const certData = concatBytes(qeReport, qeSig, u16(real.qeAuthData.length), real.qeAuthData, u16(5), u32(pem.length), pem);
    const sigData = concatBytes(quoteSig, attKey, u16(6), u32(certData.length), certData);
    return concatBytes(signed, u32(sigData.length), sigData);
  }

  async function collateral(o: CollateralOptions = {}): Promise<Record<string, string>> {
    const c = collateralFromDcapQvl(tdx.t1.collateralJson);
    // Issued around GEN_TIME (and re-signed), valid for 30 days.
    const issued = o.issued ?? GEN_TIME - 86_400_000;
    const window = (body: string) =>
      body
        .replace(/"issueDate":"[^"]*"/, `"issueDate":"${new Date(issued).toISOString().replace(/\.\d{3}Z$/, "Z")}"`)
        .replace(/"nextUpdate":"[^"]*"/, `"nextUpdate":"${new Date(GEN_TIME + 30 * 86_400_000).toISOString().replace(/\.\d{3}Z$/, "Z")}"`);
    const qeIdentity = window(c.qeIdentity.body);
    const tcbInfo = window(c.tcbInfo.body).replace(/"tcbEvaluationDataNumber":(\d+)/, (_m, n: string) => `"tcbEvaluationDataNumber":${Number(n) + (o.evaluationNumberDelta ?? 0)}`);
    const chain = [tcbSigner, root].map((x) => x.cert.toString("pem")).join("\n");
    const day = 86400e3;
    const times = { thisUpdate: new Date(GEN_TIME - day), nextUpdate: new Date(GEN_TIME + 10 * day) };
    const pckCrlTimes = o.pckCrlThisUpdate === undefined ? times : { thisUpdate: new Date(o.pckCrlThisUpdate), nextUpdate: new Date(o.pckCrlThisUpdate + 30 * day) };
    return {
      tcb_info: tcbInfo,
      tcb_info_signature: toHex(await sign(tcbSigner.keys.privateKey, new TextEncoder().encode(tcbInfo))),
      tcb_info_issuer_chain: chain,
      qe_identity: qeIdentity,
      qe_identity_signature: toHex(await sign(tcbSigner.keys.privateKey, new TextEncoder().encode(qeIdentity))),
      qe_identity_issuer_chain: chain,
      pck_crl: toHex(await crl(platformCa, { ...pckCrlTimes, revoked: o.revoked ?? [] })),
      root_ca_crl: toHex(await crl(root, times)),
    };
  }
  return { trust, rootSpki: parseCertificate(root.der).spki, quote, collateral, platform };
}
