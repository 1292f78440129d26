import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { canonicalJson } from "../../worker/log/canonical.ts";
import { sha256Hex } from "../../worker/encoding.ts";
import { actionHash, challengeFor, challengeStatement, holdSha256, type HoldShown } from "../../worker/review/record.ts";
import { WEBHOOK_MAX_ATTEMPTS, nextAttemptAt, signatureHeader, webhookSignature } from "../../worker/review/webhook.ts";

const shown: HoldShown = {
  record: {
    review_id: "r-1",
    decision_id: "d-1",
    tenant: "t",
    requester: { device: "laptop-1", agent: "claude-code" },
    agent: { id: "claude-code", version: "2.1.0", artifact_sha256: null },
    action: { type: "file.delete", targets: [{ kind: "path", value: "/home/dev/workspace/.git/HEAD" }], inputs_sha256: null, sends_external: false },
    context_sha256: null,
    policy: { digest: "sha256:00", reasons: ["git-history-delete-review"] },
    decision_log: { seq: 7, hash: "b".repeat(64) },
    action_hash: "a".repeat(64),
    created_at: "2026-01-01T00:00:00.000Z",
  },
  tier: "tier1",
  deadline: "2026-01-01T04:00:00.000Z",
  approvers_required: 1,
};

describe("what a verdict commits to", () => {
  it("the challenge is SHA-256 over the RFC 8785 statement, recomputable from the stored hold", () => {
    const statement = challengeStatement(shown, { verdict: "approve", reviewer: "alice", nonce: "n" });
    expect(statement).toMatchObject({ review_id: "r-1", action_hash: "a".repeat(64), decision_id: "d-1", tier: "tier1", expires_at: shown.deadline, hold_sha256: holdSha256(shown) });
    const expected = Buffer.from(sha256Hex(canonicalJson(statement as never)), "hex").toString("base64url");
    expect(challengeFor(statement)).toBe(expected);
  });

  it.each([
    ["tier", { ...shown, tier: "tier2" }],
    ["deadline", { ...shown, deadline: "2026-01-01T05:00:00.000Z" }],
    ["approvers", { ...shown, approvers_required: 2 }],
    ["a target", { ...shown, record: { ...shown.record, action: { ...shown.record.action, targets: [{ kind: "path" as const, value: "/home/dev/workspace/.git/config" }] } } }],
    ["the requester", { ...shown, record: { ...shown.record, requester: { device: "laptop-2", agent: "claude-code" } } }],
  ])("a change of %s changes the challenge", (_name, changed) => {
    const args = { verdict: "approve" as const, reviewer: "alice", nonce: "n" };
    expect(challengeFor(challengeStatement(changed, args))).not.toBe(challengeFor(challengeStatement(shown, args)));
  });

  it("the verdict, the reviewer and the nonce are bound too", () => {
    const base = challengeFor(challengeStatement(shown, { verdict: "approve", reviewer: "alice", nonce: "n" }));
    expect(challengeFor(challengeStatement(shown, { verdict: "reject", reviewer: "alice", nonce: "n" }))).not.toBe(base);
    expect(challengeFor(challengeStatement(shown, { verdict: "approve", reviewer: "bob", nonce: "n" }))).not.toBe(base);
    expect(challengeFor(challengeStatement(shown, { verdict: "approve", reviewer: "alice", nonce: "m" }))).not.toBe(base);
  });

});

describe("the action hash", () => {
  const { agent, action } = shown.record;
  const identity = { tenant: "t", device: "laptop-1", agent, action };
  const raw = (bytes: Uint8Array) => crypto.subtle.importKey("raw", bytes, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const keyBytes = new Uint8Array(32).fill(7);

  it("ignores key order but not content", async () => {
    const key = await raw(keyBytes);
    const reordered = { sends_external: false, inputs_sha256: null, targets: action.targets, type: action.type };
    expect(await actionHash(key, { ...identity, action: reordered })).toBe(await actionHash(key, identity));
    expect(await actionHash(key, { ...identity, device: "laptop-2" })).not.toBe(await actionHash(key, identity));
  });

  it("is HMAC-SHA-256 of the RFC 8785 identity under the key: not the unkeyed SHA-256, and another under another key", async () => {
    const hash = await actionHash(await raw(keyBytes), identity);
    expect(hash).toBe(createHmac("sha256", keyBytes).update(canonicalJson(identity as never)).digest("hex"));
    expect(hash).not.toBe(sha256Hex(canonicalJson(identity as never)));
    expect(await actionHash(await raw(new Uint8Array(32).fill(8)), identity)).not.toBe(hash);
  });
});

describe("webhook signatures and backoff", () => {
  it("HMAC-SHA256 over `<t>.<body>` (WebCrypto) matches an independent HMAC", async () => {
    const body = JSON.stringify({ type: "review.escalated", review_id: "r-1" });
    const expected = createHmac("sha256", "secret").update(`1700000000.${body}`).digest("hex");
    expect(await webhookSignature("secret", 1_700_000_000, body)).toBe(expected);
    expect(await signatureHeader("secret", 1_700_000_000, body)).toBe(`t=1700000000,v1=${expected}`);
  });

  it("backs off 30 s, 2, 8, 32, 128 min, then gives up", () => {
    const waits = Array.from({ length: WEBHOOK_MAX_ATTEMPTS }, (_, index) => nextAttemptAt(index + 1, 0));
    expect(waits).toEqual([30_000, 120_000, 480_000, 1_920_000, 7_680_000, null]);
  });
});
