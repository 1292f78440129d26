import { env } from "cloudflare:test";
import { base64url, decodeJwt } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import type { WardenClient, NonceResponse, SessionEvidence } from "../../cli/client.ts";
import { mergeTpmTrust, pinnedTpmTrust, tpmTrustFrom, type TpmTrust } from "../../worker/verifiers/tpm/trust.ts";
import { parsePublic } from "../../worker/verifiers/tpm/structures.ts";
import { publicJwk } from "../../worker/verifiers/tpm/keys.ts";
import { activate, defaultSources, logOf, newClient, publish, uniqueId, workerFetch } from "../helpers.ts";
import { tpmActivate, tpmCertify, tpmExtend, tpmInfo, tpmQuote, type AkKind, type TpmName } from "../tpm-host.ts";
import { CA_USAGE, issue, signingAlgorithm, x509 } from "../unit/verifiers/pki.ts";
import { eventLogCases } from "../unit/verifiers/eventlog-fixtures.ts";
import { parseEventLog } from "../../worker/verifiers/tpm/eventlog.ts";
import { EV } from "../../worker/verifiers/tpm/eventlog-types.ts";
import { TPM_ALG } from "../../worker/verifiers/tpm/constants.ts";
import { toHex } from "../../worker/verifiers/reader.ts";
import { earAppraisal, validateEar, type EarClaimsSet } from "../../worker/attestation/ear.ts";

// Enroll → activate → quote → session → decide, against a real software TPM (swtpm) driven
// through the loopback host of test/setup/swtpm.ts, and the negative table of issue 4.

const b64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));
const fromB64 = (text: string) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
const ZERO = "00".repeat(32);
const PCRS = [0, 1, 2, 3, 4, 5, 6, 7];

/** The default bundle plus TPM reference values and a policy only a TPM-attested session satisfies. */
function tpmSources(tpm: { pcrs: number[]; reference: Record<string, string[]>; event_log?: Record<string, never> }) {
  const manifest = { ...(defaultSources.manifest as Record<string, unknown>), attestation: { tpm: { pcr_bank: "sha256", ...tpm } } };
  const policies = `${defaultSources.policies}
@id("release-needs-tpm")
permit (principal, action == Action::"file.write", resource)
when { resource.within.contains("/srv/release") && context.device.assurance == "tpm" };
`;
  return { ...defaultSources, manifest, policies };
}

interface Tenant {
  name: string;
  fetch: (request: Request) => Promise<Response>;
  /** Digest of the tenant's bundle: the EARs' appraisal policy. */
  policy: string;
}

/** Warden's claims inside an EAR (its one submod's `warden_claims`). */
function appraisalOf(ear: unknown): Record<string, unknown> {
  const found = earAppraisal(ear as EarClaimsSet);
  if (!found) throw new Error(`not an EAR Warden issued: ${JSON.stringify(ear)}`);
  return found.claims as Record<string, unknown>;
}

let localCa: TpmTrust;
async function tenant(tpm: { pcrs: number[]; reference: Record<string, string[]>; event_log?: Record<string, never> }, options: { trustLocalCa?: boolean; trust?: TpmTrust } = {}): Promise<Tenant> {
  const name = uniqueId("tpm");
  const policy = await activate(tpmSources(tpm), name);
  const trust = options.trust ?? (options.trustLocalCa === false ? await pinnedTpmTrust() : mergeTpmTrust(await pinnedTpmTrust(), localCa));
  return { name, policy, fetch: workerFetch({ tenant: name, deps: { tpmTrust: async () => trust } }) };
}

async function device(t: Tenant): Promise<WardenClient> {
  const client = await newClient({ fetch: t.fetch });
  const registered = await client.register(env.ADMIN_TOKEN, "linux");
  if (registered.status !== 201) throw new Error(JSON.stringify(registered.body));
  return client;
}

async function bootstrap(client: WardenClient, rebind = false): Promise<string> {
  const issued = await client.tpmBootstrap(env.ADMIN_TOKEN, { rebind });
  expect(issued.status).toBe(201);
  return issued.body.bootstrap_token;
}

interface Enrollment {
  tpm: TpmName;
  ek: "rsa" | "ecc";
  ak: AkKind;
}

/** The shim's enrollment: EK certificate and public areas from the TPM, the challenge answered by TPM2_ActivateCredential. */
async function enroll(client: WardenClient, e: Enrollment, options: { token?: string; akFrom?: TpmName } = {}) {
  const info = await tpmInfo(e.tpm);
  const akInfo = await tpmInfo(options.akFrom ?? e.tpm);
  const challenge = await client.tpmEnroll({
    bootstrapToken: options.token ?? (await bootstrap(client)),
    ekCertificate: fromB64(info.ek_certificates[e.ek]),
    ekPublic: fromB64(info.publics[`ek_${e.ek}`]!),
    akPublic: fromB64(akInfo.publics[e.ak === "unrestricted" ? "unrestricted" : `ak_${e.ak}`]!),
  });
  return { info, challenge };
}

async function enrolled(client: WardenClient, e: Enrollment): Promise<void> {
  const { challenge } = await enroll(client, e);
  expect(challenge.status, JSON.stringify(challenge.body)).toBe(201);
  const answer = await tpmActivate(e.tpm, { ek: e.ek, ak: e.ak, credential_blob: challenge.body.credential_blob, encrypted_secret: challenge.body.encrypted_secret });
  expect(answer.error).toBeUndefined();
  const done = await client.tpmActivate(fromB64(answer.secret!));
  expect(done.status, JSON.stringify(done.body)).toBe(200);
}

/** The shim's answer to a nonce: TPM2_Quote over the nonce's bytes and the selection the nonce names. */
function quoteWith(tpm: TpmName, ak: AkKind, patch: (q: { nonce: Uint8Array; pcrs: number[] }) => { nonce?: Uint8Array; pcrs?: number[] } = () => ({})) {
  return async (nonce: NonceResponse): Promise<SessionEvidence> => {
    const selection = nonce.attestation?.tpm;
    if (!selection) throw new Error("the nonce names no TPM selection");
    const wanted = { nonce: base64url.decode(nonce.nonce), pcrs: selection.pcrs };
    const changed = { ...wanted, ...patch(wanted) };
    const q = await tpmQuote(tpm, { ak, nonce: b64(changed.nonce), bank: selection.pcr_bank, pcrs: changed.pcrs });
    return { type: "tpm", quote: q.quote, signature: q.signature, pcrs: q.pcrs };
  };
}


async function refusal(client: WardenClient, evidence: (n: NonceResponse) => Promise<SessionEvidence>) {
  const nonce = await client.nonce();
  const answer = await client.requestSession(nonce.nonce, await evidence(nonce));
  return { status: answer.status, body: answer.body as unknown as { code: string; evidence_code?: string }, nonce: nonce.nonce };
}

const release = { agent: { id: "claude-code", version: "2.1.0" }, action: { type: "file.write", targets: [{ kind: "path" as const, value: "/srv/release/app.tar" }] } };

beforeAll(async () => {
  const info = await tpmInfo("a");
  await tpmInfo("b");
  localCa = await tpmTrustFrom([{ vendor: "swtpm local CA (tests)", roots: [info.ca.root], intermediates: [info.ca.intermediate] }]);
}, 60_000);

describe("TPM enrollment and attested sessions through the worker", () => {
  let t: Tenant;
  beforeAll(async () => {
    t = await tenant({ pcrs: PCRS, reference: { "0": [ZERO], "7": [ZERO] } });
  });

  it("enroll → activate → quote → session (assurance tpm) → decide, all logged", async () => {
    const client = await device(t);
    const { challenge } = await enroll(client, { tpm: "a", ek: "rsa", ak: "rsa" });
    expect(challenge.status).toBe(201);
    expect(challenge.body.ek).toMatchObject({ vendor: "swtpm local CA (tests)", chain: ["CN=swtpm-localca", "CN=swtpm-localca-rootca"] });
    const answer = await tpmActivate("a", { ek: "rsa", ak: "rsa", credential_blob: challenge.body.credential_blob, encrypted_secret: challenge.body.encrypted_secret });
    const done = await client.tpmActivate(fromB64(answer.secret!));
    expect(done.status).toBe(200);
    expect(done.body.ak_name).toBe((await tpmInfo("a")).names.ak_rsa);

    // Without evidence the session is software and the TPM-only permit does not apply.
    await client.openSession();
    expect((await client.decide(release)).body).toMatchObject({ decision: "deny", reason_code: "no_applicable_permit" });

    const nonce = await client.nonce();
    expect(nonce.attestation?.tpm).toEqual({ pcr_bank: "sha256", pcrs: PCRS });
    const session = await client.requestSession(nonce.nonce, await quoteWith("a", "rsa")(nonce));
    expect(session.status, JSON.stringify(session.body)).toBe(201);
    expect(session.body.assurance).toBe("tpm");
    const claims = decodeJwt(session.body.session_token);
    expect(claims["assurance"]).toBe("tpm");
    // The token's `att` is an EAR (draft-ietf-rats-ear): Warden's claims ride in its one submod.
    expect(validateEar(claims["att"])).toEqual([]);
    expect(claims["att"]).toMatchObject({
      ear_status: "affirming",
      submods: { tpm: { ear_status: "affirming", ear_trustworthiness_vector: { "instance-identity": 2, hardware: 2, executables: 3 }, ear_appraisal_policy_ids: [`warden:bundle:${t.policy}`] } },
    });
    expect(appraisalOf(claims["att"])).toMatchObject({
      type: "tpm",
      status: "affirming",
      pcr_bank: "sha256",
      pcrs_appraised: [0, 7],
      ek_issuer: "CN=swtpm-localca",
      ek_vendor: "swtpm local CA (tests)",
    });
    const att = appraisalOf(claims["att"]);
    expect(att["pcr_digest"]).toMatch(/^[0-9a-f]{64}$/);
    expect(att["firmware_version"]).toMatch(/^[0-9a-f]{16}$/);
    expect(typeof att["reset_count"]).toBe("number");
    expect(typeof att["restart_count"]).toBe("number");

    client.sessionToken = session.body.session_token;
    expect((await client.decide(release)).body).toMatchObject({ decision: "permit", reasons: ["release-needs-tpm"] });

    const types = (await logOf(client)).map((e) => e.type);
    // The bundle declares history features: the log takes them before its first decision.
    expect(types).toEqual(["device.registered", "tpm.bootstrap_issued", "tpm.enrollment_started", "tpm.enrolled", "session.opened", "history.adopted", "decision", "session.opened", "decision"]);
    const opened = (await logOf(client)).filter((e) => e.type === "session.opened")[1]!;
    expect(opened.data["attestation"]).toEqual(claims["att"]);
    expect(appraisalOf(opened.data["attestation"])).toMatchObject({ status: "affirming", pcr_digest: att["pcr_digest"] });
  });

  it.each([
    { ek: "ecc", ak: "ecc" },
    { ek: "rsa", ak: "rsapss" },
  ] as const)("enrolls with the $ek EK and the $ak AK and attests", async ({ ek, ak }) => {
    const client = await device(t);
    await enrolled(client, { tpm: "a", ek, ak });
    await client.openSession({ evidence: quoteWith("a", ak) });
    expect(decodeJwt(client.sessionToken!)["assurance"]).toBe("tpm");
  });

  describe("refused evidence on POST /v1/sessions, each with its code, burnt nonce and log entry", () => {
    let client: WardenClient;
    beforeAll(async () => {
      client = await device(t);
      await enrolled(client, { tpm: "a", ek: "rsa", ak: "rsa" });
    });

    const patchQuote = (patch: (q: { quote: Uint8Array; signature: Uint8Array; pcrs: Record<string, string> }) => Partial<{ quote: Uint8Array; signature: Uint8Array; pcrs: Record<string, string> }>) =>
      async (nonce: NonceResponse): Promise<SessionEvidence> => {
        const e = await quoteWith("a", "rsa")(nonce);
        const parts = { quote: fromB64(e.quote), signature: fromB64(e.signature), pcrs: e.pcrs };
        const p = { ...parts, ...patch(parts) };
        return { type: "tpm", quote: b64(p.quote), signature: b64(p.signature), pcrs: p.pcrs };
      };
    const flip = (bytes: Uint8Array, at: number) => {
      const out = bytes.slice();
      out[at] = (out[at] as number) ^ 1;
      return out;
    };

    const cases: [string, number, string, string, (n: NonceResponse) => Promise<SessionEvidence>][] = [
      ["wrong nonce", 401, "evidence_rejected", "qualifying_data_mismatch", quoteWith("a", "rsa", ({ nonce }) => ({ nonce: flip(nonce, 0) }))],
      ["a quote over another PCR selection", 401, "evidence_rejected", "pcr_selection_mismatch", quoteWith("a", "rsa", () => ({ pcrs: [0, 1, 2, 3, 4, 5, 6] }))],
      ["PCR values that do not hash to pcrDigest", 401, "evidence_rejected", "pcr_digest_mismatch", patchQuote(({ pcrs }) => ({ pcrs: { ...pcrs, "3": "11".repeat(32) } }))],
      ["a flipped signature byte", 401, "evidence_rejected", "evidence_signature_invalid", patchQuote(({ signature }) => ({ signature: flip(signature, 100) }))],
      ["a flipped attest byte", 401, "evidence_rejected", "evidence_signature_invalid", patchQuote(({ quote }) => ({ quote: flip(quote, 50) }))],
      ["a truncated quote", 400, "evidence_malformed", "evidence_truncated", patchQuote(({ quote }) => ({ quote: quote.subarray(0, quote.length - 5) }))],
      ["a TPM2B size past the end", 400, "evidence_malformed", "evidence_truncated", patchQuote(({ quote }) => ({ quote: (() => { const q = quote.slice(); q[6] = 0xff; return q; })() }))],
      ["trailing bytes", 400, "evidence_malformed", "evidence_trailing_data", patchQuote(({ quote }) => ({ quote: Uint8Array.from([...quote, 0]) }))],
      ["a truncated signature", 400, "evidence_malformed", "evidence_truncated", patchQuote(({ signature }) => ({ signature: signature.subarray(0, 40) }))],
      [
        "a certify structure presented as a quote",
        401,
        "evidence_rejected",
        "attest_type_mismatch",
        async (nonce) => {
          const c = await tpmCertify("a", "rsa");
          return { type: "tpm", quote: c.attest, signature: c.signature, pcrs: (await quoteWith("a", "rsa")(nonce)).pcrs };
        },
      ],
      ["a quote by another AK of the same TPM", 401, "evidence_rejected", "evidence_signature_invalid", quoteWith("a", "rsapss")],
    ];
    it.each(cases)("%s → %i %s / %s", async (name, status, code, evidenceCode, evidence) => {
      const refused = await refusal(client, evidence);
      expect(refused.status, JSON.stringify(refused.body)).toBe(status);
      expect(refused.body.code).toBe(code);
      expect(refused.body.evidence_code).toBe(evidenceCode);
      const last = (await logOf(client)).at(-1)!;
      expect(last.type, name).toBe("attestation.failed");
      expect(last.data).toMatchObject({ type: "tpm", code: evidenceCode });
      // The nonce the refused evidence answered is burnt: not even a good quote can use it now.
      const retry = await client.requestSession(refused.nonce, await quoteWith("a", "rsa")({ nonce: refused.nonce, expires_at: "", attestation: { tpm: { pcr_bank: "sha256", pcrs: PCRS } } }));
      expect(retry.status).toBe(401);
      expect((retry.body as unknown as { code: string }).code).toBe("nonce_invalid");
    });

    it("a replayed nonce → 401 nonce_invalid", async () => {
      const nonce = await client.nonce();
      const evidence = await quoteWith("a", "rsa")(nonce);
      expect((await client.requestSession(nonce.nonce, evidence)).status).toBe(201);
      const replay = await client.requestSession(nonce.nonce, evidence);
      expect(replay.status).toBe(401);
      expect((replay.body as unknown as { code: string }).code).toBe("nonce_invalid");
    });
  });

  it("evidence from a device without an enrolled TPM → 409 tpm_not_enrolled (logged)", async () => {
    const client = await device(t);
    const refused = await refusal(client, quoteWith("a", "rsa"));
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe("tpm_not_enrolled");
    expect((await logOf(client)).at(-1)).toMatchObject({ type: "attestation.failed", data: { code: "tpm_not_enrolled" } });
  });
});

describe("enrollment refusals", () => {
  let t: Tenant;
  beforeAll(async () => {
    t = await tenant({ pcrs: PCRS, reference: {} });
  });

  async function enrollCode(client: WardenClient, e: Enrollment, options: Parameters<typeof enroll>[2] = {}) {
    const { challenge } = await enroll(client, e, options);
    return { status: challenge.status, body: challenge.body as unknown as { code: string; evidence_code?: string } };
  }

  it("an unrestricted AK → 401 ak_not_restricted (logged)", async () => {
    const client = await device(t);
    const refused = await enrollCode(client, { tpm: "a", ek: "rsa", ak: "unrestricted" });
    expect(refused).toMatchObject({ status: 401, body: { code: "evidence_rejected", evidence_code: "ak_not_restricted" } });
    expect((await logOf(client)).at(-1)).toMatchObject({ type: "tpm.enrollment_refused", data: { code: "ak_not_restricted" } });
  });

  it("an AK from another TPM: the challenge cannot be answered → 401 credential_activation_failed, challenge discarded", async () => {
    const client = await device(t);
    const { challenge } = await enroll(client, { tpm: "a", ek: "rsa", ak: "rsa" }, { akFrom: "b" });
    expect(challenge.status).toBe(201);
    const blobs = { credential_blob: challenge.body.credential_blob, encrypted_secret: challenge.body.encrypted_secret };
    // TPM a holds the EK but not the AK: the integrity HMAC over the AK's Name fails.
    expect((await tpmActivate("a", { ek: "rsa", ak: "rsa", ...blobs })).error).toMatch(/integrity/i);
    // TPM b holds the AK but not the EK: it cannot recover the seed.
    expect((await tpmActivate("b", { ek: "rsa", ak: "rsa", ...blobs })).secret).toBeUndefined();
    const guessed = await client.tpmActivate(crypto.getRandomValues(new Uint8Array(32)));
    expect(guessed.status).toBe(401);
    expect(guessed.body).toMatchObject({ code: "evidence_rejected", evidence_code: "credential_activation_failed" });
    const again = await client.tpmActivate(crypto.getRandomValues(new Uint8Array(32)));
    expect(again.body).toMatchObject({ code: "tpm_not_enrolled" });
    expect((await logOf(client)).map((e) => e.type).slice(-2)).toEqual(["tpm.enrollment_started", "tpm.activation_failed"]);
  });

  it("an EK chaining to an untrusted root → 401 chain_untrusted / chain_incomplete", async () => {
    const untrusted = await tenant({ pcrs: PCRS, reference: {} }, { trustLocalCa: false });
    const client = await device(untrusted);
    const info = await tpmInfo("a");
    const pemDer = (pem: string) => fromB64(pem.replace(/-----[A-Z ]+-----|\s/g, ""));
    const base = { ekCertificate: fromB64(info.ek_certificates.rsa), ekPublic: fromB64(info.publics.ek_rsa!), akPublic: fromB64(info.publics.ak_rsa!) };
    const whole = await client.tpmEnroll({ ...base, bootstrapToken: await bootstrap(client), ekIntermediates: [pemDer(info.ca.intermediate), pemDer(info.ca.root)] });
    expect(whole).toMatchObject({ status: 401, body: { code: "evidence_rejected", evidence_code: "chain_untrusted" } });
    const partial = await client.tpmEnroll({ ...base, bootstrapToken: await bootstrap(client), ekIntermediates: [pemDer(info.ca.intermediate)] });
    expect(partial).toMatchObject({ status: 401, body: { code: "evidence_rejected", evidence_code: "chain_incomplete" } });
  });

  it("an EK certificate under an expired intermediate → 401 certificate_expired", async () => {
    // A hierarchy made now for TPM a's real EK key: trusted root, intermediate expired yesterday.
    const info = await tpmInfo("a");
    const now = Date.now();
    const root = await issue({ name: "CN=Expired Test Root, O=Warden Tests", alg: "P-256", ca: { ca: true }, keyUsage: CA_USAGE, notBefore: new Date(now - 4e10), notAfter: new Date(now + 4e10) });
    const intermediate = await issue({ name: "CN=Expired Test Intermediate, O=Warden Tests", issuer: root, alg: "P-256", ca: { ca: true, pathLen: 0 }, keyUsage: CA_USAGE, notBefore: new Date(now - 4e10), notAfter: new Date(now - 864e5) });
    const ekKey = await crypto.subtle.importKey("jwk", publicJwk(parsePublic(fromB64(info.publics.ek_rsa!))), { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, true, ["verify"]);
    const tlv = (tag: number, body: number[]) => [tag, body.length, ...body];
    const san = tlv(0x30, tlv(0xa4, tlv(0x30, [
      ...tlv(0x31, tlv(0x30, [...tlv(0x06, [0x67, 0x81, 0x05, 0x02, 0x01]), ...tlv(0x0c, [...new TextEncoder().encode("id:00001014")])])),
      ...tlv(0x31, tlv(0x30, [...tlv(0x06, [0x67, 0x81, 0x05, 0x02, 0x02]), ...tlv(0x0c, [...new TextEncoder().encode("swtpm")])])),
      ...tlv(0x31, tlv(0x30, [...tlv(0x06, [0x67, 0x81, 0x05, 0x02, 0x03]), ...tlv(0x0c, [...new TextEncoder().encode("id:20191023")])])),
    ])));
    const ek = await x509.X509CertificateGenerator.create({
      serialNumber: "01",
      subject: "",
      issuer: intermediate.cert.subject,
      notBefore: new Date(now - 4e10),
      notAfter: new Date(now + 4e10),
      signingAlgorithm: signingAlgorithm("P-256"),
      publicKey: ekKey,
      signingKey: intermediate.keys.privateKey,
      extensions: [new x509.Extension("2.5.29.17", true, Uint8Array.from(san)), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyEncipherment, true)],
    });
    const t2 = await tenant({ pcrs: PCRS, reference: {} }, { trust: await tpmTrustFrom([{ vendor: "expired test", roots: [root.cert.toString("pem")] }]) });
    const client = await device(t2);
    const refused = await client.tpmEnroll({
      bootstrapToken: await bootstrap(client),
      ekCertificate: new Uint8Array(ek.rawData),
      ekIntermediates: [intermediate.der],
      ekPublic: fromB64(info.publics.ek_rsa!),
      akPublic: fromB64(info.publics.ak_rsa!),
    });
    expect(refused).toMatchObject({ status: 401, body: { code: "evidence_rejected", evidence_code: "certificate_expired" } });
  });

  it("an EK public area that is not the certificate's key → 401 endorsement_key_mismatch", async () => {
    const client = await device(t);
    const info = await tpmInfo("a");
    const b = await tpmInfo("b");
    const refused = await client.tpmEnroll({ bootstrapToken: await bootstrap(client), ekCertificate: fromB64(info.ek_certificates.rsa), ekPublic: fromB64(b.publics.ek_rsa!), akPublic: fromB64(info.publics.ak_rsa!) });
    expect(refused).toMatchObject({ status: 401, body: { code: "evidence_rejected", evidence_code: "endorsement_key_mismatch" } });
  });

  it("a bootstrap token is single use and device-bound → 401 bootstrap_invalid", async () => {
    const client = await device(t);
    const token = await bootstrap(client);
    const first = await enrollCode(client, { tpm: "a", ek: "rsa", ak: "rsa" }, { token });
    expect(first.status).toBe(201);
    const second = await enrollCode(client, { tpm: "a", ek: "rsa", ak: "rsa" }, { token });
    expect(second).toMatchObject({ status: 401, body: { code: "bootstrap_invalid" } });
    const other = await device(t);
    const stolen = await enrollCode(other, { tpm: "a", ek: "rsa", ak: "rsa" }, { token: await bootstrap(client) });
    expect(stolen).toMatchObject({ status: 401, body: { code: "bootstrap_invalid" } });
  });

  it.each([
    ["a bootstrap token not of this device", false, { code: "bootstrap_invalid" }, "bootstrap_invalid"],
    ["its evidence (an unrestricted AK)", true, { code: "evidence_rejected", evidence_code: "ak_not_restricted" }, "ak_not_restricted"],
  ])("a request refused for %s spends its proof: replayed, it is refused again and logged once", async (_why, validToken, firstRefusal, loggedCode) => {
    const client = await device(t);
    const info = await tpmInfo("a");
    const dpop = await client.proof("POST", "/v1/attestation/tpm/enroll");
    const body = {
      device_id: client.deviceId,
      bootstrap_token: validToken ? await bootstrap(client) : "not-a-bootstrap-token-of-this-device",
      ek_certificate: info.ek_certificates.rsa,
      ek_intermediates: [],
      ek_public: info.publics.ek_rsa,
      ak_public: validToken ? info.publics.unrestricted : info.publics.ak_rsa,
    };
    const refusals = [];
    for (let attempt = 0; attempt < 3; attempt += 1) refusals.push(await client.request<{ code: string }>("POST", "/v1/attestation/tpm/enroll", body, { dpop }));
    expect(refusals.map((refused) => refused.status)).toEqual([401, 401, 401]);
    // The first refusal names its cause by code: a 401 alone would pass for any refusal (a bad DPoP proof, an unknown device).
    expect(refusals[0]!.body).toMatchObject(firstRefusal);
    const logged = (await logOf(client)).filter((entry) => entry.type === "tpm.enrollment_refused");
    expect(logged.map((entry) => entry.data["code"])).toEqual([loggedCode]);
  });

  it("re-enrolling with another AK or EK → 409 tpm_binding_conflict (logged); an admin rebind token allows it", async () => {
    const client = await device(t);
    await enrolled(client, { tpm: "a", ek: "rsa", ak: "rsa" });
    const otherAk = await enrollCode(client, { tpm: "a", ek: "rsa", ak: "ecc" });
    expect(otherAk).toMatchObject({ status: 409, body: { code: "tpm_binding_conflict" } });
    const otherEk = await enrollCode(client, { tpm: "b", ek: "rsa", ak: "rsa" });
    expect(otherEk).toMatchObject({ status: 409, body: { code: "tpm_binding_conflict" } });
    const refusedLog = (await logOf(client)).filter((e) => e.type === "tpm.enrollment_refused");
    expect(refusedLog.map((e) => e.data["code"])).toEqual(["tpm_binding_conflict", "tpm_binding_conflict"]);

    // Re-enrolling the same EK and AK is not a conflict.
    await enrolled(client, { tpm: "a", ek: "rsa", ak: "rsa" });

    // Rebinding is an admin action: a bootstrap token issued with rebind.
    const { challenge } = await enroll(client, { tpm: "a", ek: "rsa", ak: "ecc" }, { token: await bootstrap(client, true) });
    expect(challenge.status).toBe(201);
    const answer = await tpmActivate("a", { ek: "rsa", ak: "ecc", credential_blob: challenge.body.credential_blob, encrypted_secret: challenge.body.encrypted_secret });
    expect((await client.tpmActivate(fromB64(answer.secret!))).status).toBe(200);
    expect((await logOf(client)).at(-1)).toMatchObject({ type: "tpm.rebound", data: { previous: { ak_name: (await tpmInfo("a")).names.ak_rsa } } });
    // The old AK no longer attests this device; the new one does.
    expect((await refusal(client, quoteWith("a", "rsa"))).body).toMatchObject({ evidence_code: "evidence_signature_invalid" });
    await client.openSession({ evidence: quoteWith("a", "ecc") });
    expect(decodeJwt(client.sessionToken!)["assurance"]).toBe("tpm");
  });
});

describe("appraisal against the bundle's reference values", () => {
  it.each([
    ["a SHA-1 bank", { pcr_bank: "sha1", pcrs: [0], reference: {} }],
    ["a reference for a PCR outside the selection", { pcr_bank: "sha256", pcrs: [0], reference: { "7": [ZERO] } }],
    ["a reference value of the wrong size", { pcr_bank: "sha256", pcrs: [0], reference: { "0": ["00"] } }],
    ["a duplicate PCR", { pcr_bank: "sha256", pcrs: [0, 0], reference: {} }],
  ])("a manifest with %s in attestation.tpm does not activate (bundle_invalid)", async (_name, tpm) => {
    const manifest = { ...(defaultSources.manifest as Record<string, unknown>), attestation: { tpm } };
    // `warden bundle build` refuses this manifest: signed beside valid sources' index and lines, as only a faulty build could, activation must refuse it too.
    const published = await publish({ ...defaultSources, manifest }, { tenant: uniqueId("tpm"), compiledFrom: defaultSources });
    expect(published.status).toBe(422);
    expect(published.body.code).toBe("bundle_invalid");
  });

  it("a PCR outside its allowed values → 403 pcr_value_not_allowed (logged); no reference values → 409 attestation_not_configured (logged)", async () => {
    const t = await tenant({ pcrs: [0, 16], reference: { "16": [ZERO] } });
    const client = await device(t);
    await enrolled(client, { tpm: "b", ek: "rsa", ak: "rsa" });
    await client.openSession({ evidence: quoteWith("b", "rsa") });
    expect(decodeJwt(client.sessionToken!)["assurance"]).toBe("tpm");

    // The measured state changes: PCR 16 of TPM b is extended.
    await tpmExtend("b", 16, "ab".repeat(32));
    const refused = await refusal(client, quoteWith("b", "rsa"));
    expect(refused).toMatchObject({ status: 403, body: { code: "evidence_not_allowed", evidence_code: "pcr_value_not_allowed" } });
    expect((await logOf(client)).at(-1)).toMatchObject({ type: "attestation.failed", data: { code: "pcr_value_not_allowed", family: "appraisal" } });

    // A bundle without attestation.tpm cannot appraise a quote: refused, never passed.
    const bare = uniqueId("tpm");
    await activate(defaultSources, bare);
    const bareClient = await newClient({ fetch: workerFetch({ tenant: bare, deps: { tpmTrust: async () => mergeTpmTrust(await pinnedTpmTrust(), localCa) } }) });
    await bareClient.register(env.ADMIN_TOKEN, "linux");
    await enrolled(bareClient, { tpm: "a", ek: "rsa", ak: "rsa" });
    const nonce = await bareClient.nonce();
    expect(nonce.attestation).toBeUndefined();
    const q = await tpmQuote("a", { ak: "rsa", nonce: b64(base64url.decode(nonce.nonce)), bank: "sha256", pcrs: PCRS });
    const answer = await bareClient.requestSession(nonce.nonce, { type: "tpm", quote: q.quote, signature: q.signature, pcrs: q.pcrs });
    expect(answer.status).toBe(409);
    expect(answer.body).toMatchObject({ code: "attestation_not_configured" });
    expect((await logOf(bareClient)).at(-1)).toMatchObject({ type: "attestation.failed", data: { type: "tpm", code: "attestation_not_configured" } });
  });
});

describe("the measured-boot event log with the quote", () => {
  // The real RHEL 8 log (fixtures, MANIFEST.md section E): its GRUB measurements of PCRs 8 and 9
  // are extended into TPM a, so that the TPM's PCRs 8 and 9 are what the log says they are.
  const LOG_PCRS = [8, 9];
  const log = eventLogCases[1]!.log;
  const logB64 = b64(log);
  let t: Tenant;
  beforeAll(async () => {
    for (const event of parseEventLog(log).events) {
      if (LOG_PCRS.includes(event.pcr) && event.type !== EV.NO_ACTION) await tpmExtend("a", event.pcr, toHex(event.digests.get(TPM_ALG.SHA256)!));
    }
    t = await tenant({ pcrs: LOG_PCRS, reference: {}, event_log: {} });
  }, 60_000);

  const withLog = (eventLog: string) => async (nonce: NonceResponse): Promise<SessionEvidence> => ({ ...(await quoteWith("a", "rsa")(nonce)), event_log: eventLog }) as SessionEvidence;

  it("replays against the quoted PCRs: the claims carry the log's facts, from compared PCRs only", async () => {
    const client = await device(t);
    await enrolled(client, { tpm: "a", ek: "rsa", ak: "rsa" });
    const nonce = await client.nonce();
    const session = await client.requestSession(nonce.nonce, await withLog(logB64)(nonce));
    expect(session.status, JSON.stringify(session.body)).toBe(201);
    const att = decodeJwt(session.body.session_token)["att"] as Record<string, unknown>;
    expect(JSON.stringify(att)).toContain('"format":"crypto-agile"');
    expect(appraisalOf(session.body.attestation)).toMatchObject({ event_log: { format: "crypto-agile", events: 82, secure_boot: null, boot_manager: null, unverified_pcrs: [0, 1, 2, 3, 4, 5, 6, 7, 14] } });
  });

  it("a bundle that requires the log refuses a quote without it (event_log_missing), and a log with an event removed (event_log_replay_mismatch)", async () => {
    const client = await device(t);
    await enrolled(client, { tpm: "a", ek: "rsa", ak: "rsa" });
    expect((await refusal(client, quoteWith("a", "rsa"))).body).toMatchObject({ code: "evidence_not_allowed", evidence_code: "event_log_missing" });
    const parsed = parseEventLog(log);
    const dropped = parsed.events.findLast((e) => e.pcr === 9)!;
    // The last PCR 9 event's bytes cut out of the log: everything before and after it stays byte for byte.
    const at = indexOfEvent(log, dropped);
    const shorter = new Uint8Array([...log.subarray(0, at.start), ...log.subarray(at.end)]);
    const refused = await refusal(client, withLog(b64(shorter)));
    expect(refused).toMatchObject({ status: 401, body: { code: "evidence_rejected", evidence_code: "event_log_replay_mismatch" } });
    expect((await logOf(client)).at(-1)).toMatchObject({ type: "attestation.failed", data: { code: "event_log_replay_mismatch", family: "verification" } });
    const garbage = await refusal(client, withLog(b64(log.subarray(0, 100))));
    expect(garbage).toMatchObject({ status: 400, body: { code: "evidence_malformed", evidence_code: "evidence_truncated" } });
  });
});

/** Where `event` lies in the crypto-agile `log`: found by its data, which is unique in the fixture. */
function indexOfEvent(log: Uint8Array, event: { data: Uint8Array }): { start: number; end: number } {
  // pcr, type, count, three digests (2+20, 2+32, 2+48), size, data.
  const headerBytes = 12 + 22 + 34 + 50 + 4;
  for (let end = log.length; end >= event.data.length; end -= 1) {
    const start = end - event.data.length;
    if (log.subarray(start, end).every((b, i) => b === event.data[i])) return { start: start - headerBytes, end };
  }
  throw new Error("event not found");
}
