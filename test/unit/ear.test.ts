import { describe, expect, it } from "vitest";
import { EAR_PROFILE, VECTOR_RULES, earAppraisal, earFor, tierOf, trustworthinessVector, validateEar, type EarClaimsSet } from "../../worker/attestation/ear.ts";
import { EVIDENCE_TYPES } from "../../worker/verifiers/index.ts";

// EAR claims-sets (draft-ietf-rats-ear-03) checked against the draft's CDDL and prose rules as
// worker/attestation/ear.ts implements them; the draft's own examples are the positive cases.

/** Figure 3 of draft-ietf-rats-ear-03: a contraindicated appraisal. */
const figure3 = () => ({
  eat_profile: "tag:ietf.org,2026:rats/ear#03",
  iat: 1666529184,
  ear_verifier_id: { developer: "https://veraison-project.org", build: "vts 0.0.1" },
  ear_raw_evidence: "NzQ3MjY5NzM2NTYzNzQK",
  submods: {
    PSA: {
      ear_status: "contraindicated",
      ear_trustworthiness_vector: { "instance-identity": 2, executables: 96, hardware: 2 },
      ear_appraisal_policy_ids: ["https://veraison.example/policy/1/60a0068d"],
    },
  },
});

/** Figure 4: a composite device, two attesters, affirming. */
const figure4 = () => ({
  eat_profile: "tag:ietf.org,2026:rats/ear#03",
  iat: 1666529300,
  ear_verifier_id: { developer: "https://veraison-project.org", build: "vts 0.0.1" },
  ear_raw_evidence: "NzQ3MjY5NzM2NTYzNzQKNzQ3MjY5NzM2NTYzNzQK",
  submods: {
    "CCA Platform": { ear_status: "affirming", ear_trustworthiness_vector: { "instance-identity": 2, executables: 2, hardware: 2 }, ear_appraisal_policy_ids: ["https://veraison.example/policy/1/60a0068d"] },
    "CCA Realm": { ear_status: "affirming", ear_trustworthiness_vector: { "instance-identity": 2 }, ear_appraisal_policy_ids: ["https://veraison.example/policy/1/60a0068d"] },
  },
});

const appraised = (executablesAppraised: boolean) => ({ claims: { type: "tpm", pcr_digest: "ab" }, policy: "cd".repeat(32), executablesAppraised });

describe("EAR: what Warden issues", () => {
  for (const type of EVIDENCE_TYPES) {
    it(`${type}: valid against the draft's rules, affirming, policy id and evidence digest, nonce echoed`, () => {
      const ear = earFor({ type, appraised: appraised(true), evidenceSha256: "ef".repeat(32), nonce: new Uint8Array(32).fill(7), now: 1_700_000_000_500 });
      expect(validateEar(ear)).toEqual([]);
      expect(ear).toMatchObject({ eat_profile: EAR_PROFILE, iat: 1_700_000_000, ear_status: "affirming" });
      const submod = (ear["submods"] as Record<string, Record<string, unknown>>)[type]!;
      expect(submod).toMatchObject({
        ear_status: "affirming",
        ear_appraisal_policy_ids: [`warden:bundle:${"cd".repeat(32)}`],
        eat_nonce: "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc",
        warden_evidence: { type, sha256: "ef".repeat(32) },
      });
      expect(earAppraisal(ear)).toEqual({ type, claims: appraised(true).claims });
    });
  }

  it("claims executables only when the reference values named what runs; every row of the table is a claim of its own tier", () => {
    for (const type of EVIDENCE_TYPES) {
      expect(trustworthinessVector(type, { executablesAppraised: false })["executables"]).toBeUndefined();
      expect(trustworthinessVector(type, { executablesAppraised: true })["executables"]).toBe(3);
      for (const rule of VECTOR_RULES[type]) expect(tierOf(rule.value)).toBe("affirming");
    }
  });

  it("AR4SI tiers: none, affirming, warning, contraindicated by value", () => {
    expect([0, 1, -1, 2, 31, 32, 95, 96, 127, -2, -32, -33, -96, -97, -128].map(tierOf)).toEqual([
      "none", "none", "none", "affirming", "affirming", "warning", "warning", "contraindicated", "contraindicated", "affirming", "affirming", "warning", "warning", "contraindicated", "contraindicated",
    ]);
  });
});

describe("EAR: the validator holds claims-sets to draft-ietf-rats-ear-03", () => {
  it("accepts the draft's own examples, and the registered JWT claims of its JWT form", () => {
    expect(validateEar({ ...figure3(), iss: "warden", exp: 1666529484 })).toEqual([]);
    expect(validateEar(figure3())).toEqual([]);
    expect(validateEar(figure4())).toEqual([]);
  });

  const cases: [string, (ear: Record<string, unknown> & ReturnType<typeof figure3>) => unknown, RegExp][] = [
    ["another profile", (e) => ({ ...e, eat_profile: "tag:github.com,2023:veraison/ear" }), /eat_profile/],
    ["no iat", ({ iat: _i, ...e }) => e, /iat/],
    ["a floating-point iat", (e) => ({ ...e, iat: 1666529184.5 }), /iat/],
    ["a floating-point exp", (e) => ({ ...e, exp: 1.5 }), /exp/],
    ["a verifier id without build", (e) => ({ ...e, ear_verifier_id: { developer: "x" } }), /ear_verifier_id/],
    ["a verifier id with an extra member", (e) => ({ ...e, ear_verifier_id: { developer: "x", build: "y", z: "" } }), /ear_verifier_id/],
    ["raw evidence that is not base64url", (e) => ({ ...e, ear_raw_evidence: "a+b/" }), /ear_raw_evidence/],
    ["no submods", ({ submods: _s, ...e }) => e, /submods/],
    ["empty submods", (e) => ({ ...e, submods: {} }), /submods/],
    ["a submod without status", (e) => ({ ...e, submods: { PSA: { ...e.submods.PSA, ear_status: undefined } } }), /ear_status/],
    ["a status that is no tier", (e) => ({ ...e, submods: { PSA: { ...e.submods.PSA, ear_status: "ok" } } }), /ear_status/],
    ["a status better than its vector's worst claim", (e) => ({ ...e, submods: { PSA: { ...e.submods.PSA, ear_status: "affirming" } } }), /more trusted/],
    ["an empty vector", (e) => ({ ...e, submods: { PSA: { ...e.submods.PSA, ear_trustworthiness_vector: {} } } }), /non-empty/],
    ["an unknown vector category", (e) => ({ ...e, submods: { PSA: { ...e.submods.PSA, ear_trustworthiness_vector: { firmware: 2 } } } }), /unknown category/],
    ["a claim out of -128..127", (e) => ({ ...e, submods: { PSA: { ...e.submods.PSA, ear_trustworthiness_vector: { hardware: 128 } } } }), /-128\.\.127/],
    ["a fractional claim", (e) => ({ ...e, submods: { PSA: { ...e.submods.PSA, ear_trustworthiness_vector: { hardware: 2.5 } } } }), /-128\.\.127/],
    ["an empty policy id list", (e) => ({ ...e, submods: { PSA: { ...e.submods.PSA, ear_appraisal_policy_ids: [] } } }), /ear_appraisal_policy_ids/],
    ["a nonce shorter than 8 bytes", (e) => ({ ...e, eat_nonce: "AAAA" }), /eat_nonce/],
    ["a top-level status better than the worst submod", (e) => ({ ...e, ear_status: "affirming" }), /worst submod/],
    ["an extension that is not a map", (e) => ({ ...e, warden: "x" }), /extension warden/],
    ["an issuer that is not text", (e) => ({ ...e, iss: 7 }), /iss must be text/],
    ["an appraisal extension that is not a map", (e) => ({ ...e, submods: { PSA: { ...e.submods.PSA, warden_claims: [1] } } }), /extension warden_claims/],
  ];
  for (const [name, edit, problem] of cases) {
    it(`refuses ${name}`, () => {
      const problems = validateEar(JSON.parse(JSON.stringify(edit(figure3() as never))) as EarClaimsSet);
      expect(problems.some((p) => problem.test(p)), problems.join("; ")).toBe(true);
    });
  }
});
