import { describe, expect, it } from "vitest";
import { base64url } from "jose";
import { NONCE_BYTES, mintNonce, nonceExpiry } from "../../worker/attestation/nonces.ts";

const key = () => crypto.subtle.importKey("raw", new Uint8Array(32).fill(7), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
const scope = { tenant: "acme", device: "dev-1" };
const random = (length: number) => new Uint8Array(length).fill(3);

describe("server nonces", () => {
  it("are 32 bytes that read back to their expiry until it passes, and to nothing at it", async () => {
    const expiresAt = 1_764_000_000_123;
    const nonce = await mintNonce(await key(), scope, expiresAt, random);
    expect(base64url.decode(nonce)).toHaveLength(NONCE_BYTES);
    expect(await nonceExpiry(await key(), scope, nonce, expiresAt - 1)).toBe(expiresAt);
    expect(await nonceExpiry(await key(), scope, nonce, expiresAt)).toBeNull();
  });

  it("read back only under the key, tenant and device they were minted for; a tenant and device id cannot be re-split", async () => {
    const nonce = await mintNonce(await key(), scope, 2_000, random);
    const otherKey = await crypto.subtle.importKey("raw", new Uint8Array(32).fill(8), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    expect(await nonceExpiry(otherKey, scope, nonce, 1_000)).toBeNull();
    expect(await nonceExpiry(await key(), { tenant: "acme", device: "dev-2" }, nonce, 1_000)).toBeNull();
    expect(await nonceExpiry(await key(), { tenant: "acm", device: "edev-1" }, nonce, 1_000)).toBeNull();
    expect(await nonceExpiry(await key(), { tenant: "acme", device: "dev-1" }, nonce, 1_000)).toBe(2_000);
  });

  it("refuse other lengths and what is not base64url", async () => {
    const nonce = await mintNonce(await key(), scope, 2_000, random);
    for (const other of [nonce.slice(0, -2), `${nonce}AA`, `${nonce}=`, nonce.replace(/.$/, "+"), ""]) expect(await nonceExpiry(await key(), scope, other, 1_000)).toBeNull();
    await expect(mintNonce(await key(), scope, 2_000, () => new Uint8Array(9))).rejects.toThrow(RangeError);
    await expect(mintNonce(await key(), scope, 2 ** 48, random)).rejects.toThrow(RangeError);
  });
});
