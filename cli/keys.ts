import { generateKeyPairSync } from "node:crypto";
import { writeFileSync } from "node:fs";
import { calculateJwkThumbprint, type JWK } from "jose";
import { group, parseOptions, required, type Command } from "./command.ts";

/** `warden keys generate`: a bundle publisher key pair. */
const generate: Command = {
  summary: "Make an Ed25519 publisher key pair for signing bundles",
  help: `Usage: warden keys generate --out <file>

Writes the private key (JWK) to <file> with mode 0600, refusing to overwrite, and
prints the public key as the JWK Set to put in the worker's PUBLISHER_KEYS secret
(list several keys there during a rotation).

Exit status: 0 written, 1 otherwise.`,
  async run(argv) {
    const values = parseOptions("warden keys generate", argv, { out: { type: "string" } });
    const out = required<string>("warden keys generate", values, "out");
    const privateJwk = generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" }) as JWK;
    const publicJwk: JWK = { kty: "OKP", crv: "Ed25519", x: privateJwk.x! };
    const kid = await calculateJwkThumbprint(publicJwk);
    writeFileSync(out, JSON.stringify({ ...privateJwk, kid }) + "\n", { flag: "wx", mode: 0o600 });
    process.stdout.write(JSON.stringify({ private_key_file: out, kid, PUBLISHER_KEYS: { keys: [{ ...publicJwk, kid }] } }, null, 2) + "\n");
    return 0;
  },
};

export default group("keys", "Manage bundle publisher keys", { generate });
