import { describe, expect, it } from "vitest";
import { DROPPED, maskCommand, maskDecision, maskUrl, type Masker } from "../../worker/privacy/mask.ts";
import { DROP_ALL, compilePrivacy, NO_MASKING } from "../../worker/privacy/policy.ts";
import { privacyKeys } from "../../worker/privacy/keys.ts";
import { retentionFor } from "../../worker/privacy/retention.ts";

/** A masker whose outputs name their input, so a test sees what was masked where. */
const seen: string[] = [];
const masker: Masker = {
  hash: async (value) => (seen.push(value), { kid: "k", hmac: `H(${value.length})` }),
  tokenise: async (value) => (seen.push(value), { kid: "k", ref: `d~${value.length}` }),
};

describe("masking, pure", () => {
  it("masks URL queries (with the fragment) and userinfo, keeping scheme, host and path", async () => {
    const policy = compilePrivacy({ url: { query: "hash", userinfo: "tokenise" } });
    expect(await maskUrl("https://u:p@h.example/a/b?x=1#frag", policy, masker)).toBe("https://[vault:k:d~3]@h.example/a/b?[hmac:k:H(9)]");
    expect(await maskUrl("https://h.example/a", policy, masker)).toBe("https://h.example/a");
    expect(await maskUrl("not a url ?x=1", policy, masker)).toBe("not a url ?x=1");
    expect(await maskUrl("https://h.example/?q", compilePrivacy({ url: { query: "drop" } }), masker)).toBe(`https://h.example/?${DROPPED}`);
  });

  it("masks every match of a command-line pattern, or only its value group", async () => {
    const rules = compilePrivacy({ command_args: [{ pattern: "--token[= ](?<value>\\S+)", treatment: "hash" }, { pattern: "AKIA[0-9A-Z]{16}", treatment: "drop" }] }).commandArgs;
    expect(await maskCommand("curl --token abc --token=defg AKIAABCDEFGHIJKLMNOP", rules, masker)).toBe(`curl --token [hmac:k:H(3)] --token=[hmac:k:H(4)] ${DROPPED}`);
    expect(await maskCommand("git push --token   x", DROP_ALL.commandArgs, masker)).toBe(`git ${DROPPED}`);
  });

  it("masks context by key and others, drops keys, and leaves the input unchanged", async () => {
    const data = { context: { email: "a@b.c", n: 7, keep: "x", gone: "y" }, action: { type: "file.read", targets: [{ kind: "path", value: "/p?q" }] } };
    const before = JSON.stringify(data);
    const masked = await maskDecision(data, compilePrivacy({ context: { keys: { keep: "hash", gone: "drop" }, others: "tokenise" }, url: { query: "drop" } }), masker);
    expect(masked["context"]).toEqual({ email: { vault: "d~5", kid: "k" }, n: { vault: "d~1", kid: "k" }, keep: { hmac: "H(1)", kid: "k" } });
    // A path is not a URL: its `?` stays.
    expect((masked["action"] as { targets: unknown[] }).targets).toEqual([{ kind: "path", value: "/p?q" }]);
    expect(JSON.stringify(data)).toBe(before);
    expect(await maskDecision(data, NO_MASKING, masker)).toEqual(data);
  });

  it("refuses malformed privacy sections with bundle_privacy_invalid", () => {
    for (const bad of [{ extra: 1 }, { context: { others: "encrypt" } }, { command_args: [{ pattern: "(", treatment: "drop" }] }, { command_args: [{ pattern: "a?", treatment: "drop" }] }, { command_args: [{ pattern: "(?<x>a)", treatment: "drop" }] }, { url: { query: "hash", path: "drop" } }]) {
      expect(() => compilePrivacy(bad)).toThrow(expect.objectContaining({ code: "bundle_privacy_invalid" }));
    }
  });
});

describe("retention configuration", () => {
  it("has the seeds' defaults, takes per-tenant overrides, and refuses an audit retention shorter than the archive lock", () => {
    expect(retentionFor(undefined, "t")).toEqual({ operationalDays: 90, auditDays: 2557, vaultDays: 90, archiveLockDays: 2557 });
    const source = JSON.stringify({ vault_days: 30, tenants: { acme: { vault_days: 7, audit_days: 3650 } } });
    expect(retentionFor(source, "acme")).toEqual({ operationalDays: 90, auditDays: 3650, vaultDays: 7, archiveLockDays: 2557 });
    expect(retentionFor(source, "other")).toMatchObject({ vaultDays: 30, auditDays: 2557 });
    expect(retentionFor(JSON.stringify({ audit_days: 365, archive_lock_days: 0 }), "t")).toMatchObject({ auditDays: 365 });
    for (const bad of [JSON.stringify({ audit_days: 365 }), JSON.stringify({ vault_days: 0 }), JSON.stringify({ keep: 1 }), "{", JSON.stringify({ operational_days: 3000, audit_days: 2600 })]) {
      expect(() => retentionFor(bad, "t")).toThrow(expect.objectContaining({ code: "configuration_error" }));
    }
  });
});

describe("keys derived from VAULT_KEYS", () => {
  const source = JSON.stringify({ keys: [{ kty: "oct", kid: "k-1", k: Buffer.alloc(32, 9).toString("base64url") }] });
  const sign = async (key: CryptoKey) => Buffer.from(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode("same bytes"))).toString("hex");

  it("the action-hash key is its own: not the hashing key, and another per tenant", async () => {
    const a = (await privacyKeys(source, "tenant-a")).current;
    const b = (await privacyKeys(source, "tenant-b")).current;
    expect(await sign(a.action)).not.toBe(await sign(a.hash));
    expect(await sign(a.action)).not.toBe(await sign(b.action));
  });
});
