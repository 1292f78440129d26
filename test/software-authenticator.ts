/**
 * A software WebAuthn authenticator for the API tests: a P-256 key made with WebCrypto,
 * authenticatorData, clientDataJSON, attestation "none" and ES256 assertions built here
 * byte by byte (WebAuthn §6.1, §6.5.4, §8.7; CTAP2 canonical CBOR), so every field a
 * test wants to break can be broken.
 */

const encoder = new TextEncoder();

export function b64u(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function fromB64u(value: string): Uint8Array {
  const binary = atob(value.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (value.length % 4)) % 4));
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

async function sha256(bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
}

// Minimal CBOR (RFC 8949) for the few shapes WebAuthn needs.
function cborHead(major: number, length: number): Uint8Array {
  if (length < 24) return Uint8Array.of((major << 5) | length);
  if (length < 0x100) return Uint8Array.of((major << 5) | 24, length);
  return Uint8Array.of((major << 5) | 25, length >> 8, length & 0xff);
}
const cborInt = (value: number) => (value >= 0 ? cborHead(0, value) : cborHead(1, -1 - value));
const cborBytes = (bytes: Uint8Array) => concat(cborHead(2, bytes.length), bytes);
const cborText = (text: string) => concat(cborHead(3, encoder.encode(text).length), encoder.encode(text));

/** ECDSA signatures in WebAuthn are ASN.1 DER (§6.5.6); WebCrypto gives r ‖ s. */
function derSignature(raw: Uint8Array): Uint8Array {
  const integer = (bytes: Uint8Array) => {
    let start = 0;
    while (start < bytes.length - 1 && bytes[start] === 0) start += 1;
    let value = bytes.subarray(start);
    if ((value[0] as number) & 0x80) value = concat(Uint8Array.of(0), value);
    return concat(Uint8Array.of(0x02, value.length), value);
  };
  const body = concat(integer(raw.subarray(0, 32)), integer(raw.subarray(32)));
  return concat(Uint8Array.of(0x30, body.length), body);
}

export interface AssertionOverrides {
  origin?: string;
  type?: string;
  rpId?: string;
  /** Sign with this counter instead of the next one. */
  counter?: number;
  userVerified?: boolean;
  challenge?: string;
  crossOrigin?: boolean;
  /** Rewrites the clientDataJSON text before it is signed (e.g. to add a second member of a name). */
  clientDataText?: (json: string) => string;
}

export class SoftwareAuthenticator {
  readonly credentialId = crypto.getRandomValues(new Uint8Array(16));
  counter = 0;
  userHandle: Uint8Array | null = null;
  private constructor(
    readonly origin: string,
    readonly rpId: string,
    private readonly keys: CryptoKeyPair,
  ) {}

  static async create(origin: string, rpId: string): Promise<SoftwareAuthenticator> {
    const keys = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])) as CryptoKeyPair;
    return new SoftwareAuthenticator(origin, rpId, keys);
  }

  get id(): string {
    return b64u(this.credentialId);
  }

  private async coseKey(): Promise<Uint8Array> {
    const jwk = (await crypto.subtle.exportKey("jwk", this.keys.publicKey)) as JsonWebKey;
    // RFC 9053 §7.1.1 EC2 key, in CTAP2 canonical key order: 1, 3, -1, -2, -3.
    return concat(
      cborHead(5, 5),
      cborInt(1), cborInt(2),
      cborInt(3), cborInt(-7),
      cborInt(-1), cborInt(1),
      cborInt(-2), cborBytes(fromB64u(jwk.x!)),
      cborInt(-3), cborBytes(fromB64u(jwk.y!)),
    );
  }

  private async authData(rpId: string, flags: number, counter: number, attested?: Uint8Array): Promise<Uint8Array> {
    const count = Uint8Array.of(counter >>> 24, (counter >>> 16) & 0xff, (counter >>> 8) & 0xff, counter & 0xff);
    return concat(await sha256(encoder.encode(rpId)), Uint8Array.of(flags), count, attested ?? new Uint8Array());
  }

  private clientData(type: string, challenge: string, origin: string, crossOrigin: boolean, rewrite: (json: string) => string = (json) => json): Uint8Array {
    return encoder.encode(rewrite(JSON.stringify({ type, challenge, origin, crossOrigin })));
  }

  /** Answers `navigator.credentials.create` options with attestation "none". */
  async register(options: { challenge: string; user: { id: string } }, overrides: AssertionOverrides = {}) {
    this.userHandle = fromB64u(options.user.id);
    const attested = concat(new Uint8Array(16), Uint8Array.of(0, this.credentialId.length), this.credentialId, await this.coseKey());
    const flags = 0x01 | (overrides.userVerified === false ? 0 : 0x04) | 0x40;
    const authData = await this.authData(overrides.rpId ?? this.rpId, flags, this.counter, attested);
    const attestationObject = concat(cborHead(5, 3), cborText("fmt"), cborText("none"), cborText("attStmt"), cborHead(5, 0), cborText("authData"), cborBytes(authData));
    const clientDataJSON = this.clientData(overrides.type ?? "webauthn.create", overrides.challenge ?? options.challenge, overrides.origin ?? this.origin, overrides.crossOrigin ?? false, overrides.clientDataText);
    return {
      id: this.id,
      rawId: this.id,
      type: "public-key" as const,
      response: { clientDataJSON: b64u(clientDataJSON), attestationObject: b64u(attestationObject), transports: ["internal"] },
      clientExtensionResults: {},
    };
  }

  /** Answers `navigator.credentials.get` options: signs authenticatorData ‖ SHA-256(clientDataJSON). */
  async assert(options: { challenge: string }, overrides: AssertionOverrides = {}) {
    const counter = overrides.counter ?? (this.counter += 1);
    const flags = 0x01 | (overrides.userVerified === false ? 0 : 0x04);
    const authData = await this.authData(overrides.rpId ?? this.rpId, flags, counter);
    const clientDataJSON = this.clientData(overrides.type ?? "webauthn.get", overrides.challenge ?? options.challenge, overrides.origin ?? this.origin, overrides.crossOrigin ?? false, overrides.clientDataText);
    const raw = new Uint8Array(await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, this.keys.privateKey, concat(authData, await sha256(clientDataJSON)) as Uint8Array<ArrayBuffer>));
    return {
      id: this.id,
      rawId: this.id,
      type: "public-key" as const,
      response: {
        clientDataJSON: b64u(clientDataJSON),
        authenticatorData: b64u(authData),
        signature: b64u(derSignature(raw)),
        userHandle: this.userHandle ? b64u(this.userHandle) : null,
      },
      clientExtensionResults: {},
    };
  }
}
