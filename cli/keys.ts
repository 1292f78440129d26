import { generateKeyPairSync } from "node:crypto";
import { writeFileSync } from "node:fs";
import { calculateJwkThumbprint, type JWK } from "jose";
import { group, JSON_OPTION, parseOptions, printResult, required, type Command } from "./command.ts";
import { STATUS } from "./exit.ts";

/** `warden keys generate`: a bundle publisher key pair. */
const generate: Command = {
  summary: "Make an Ed25519 publisher key pair for signing bundles",
  help: `Usage: warden keys generate --out <file> [--json]

Writes the private key (JWK) to <file> with mode 0600, refusing to overwrite, and
prints the public key as the JWK Set to put in the worker's PUBLISHER_KEYS secret
(list several keys there during a rotation). Keep <file> out of version control
(.gitignore ignores *.jwk).

The worker trusts only keys in PUBLISHER_KEYS: under \`npm start\` that is the
development key .dev/publisher.jwk, in .dev.vars; add this key's JWK Set there
(and restart) to publish with it locally, or \`wrangler secret put PUBLISHER_KEYS\`
in production.

Options:
  --out <file>  Where to write the private key
  --json        Print { private_key_file, kid, PUBLISHER_KEYS } as JSON

Exit status: 0 written, 1 otherwise.`,
  async run(argv) {
    const values = parseOptions("warden keys generate", argv, { out: { type: "string" }, ...JSON_OPTION });
    const out = required<string>("warden keys generate", values, "out");
    const privateJwk = generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" }) as JWK;
    const publicJwk: JWK = { kty: "OKP", crv: "Ed25519", x: privateJwk.x! };
    const kid = await calculateJwkThumbprint(publicJwk);
    writeFileSync(out, JSON.stringify({ ...privateJwk, kid }) + "\n", { flag: "wx", mode: 0o600 });
    const result = { private_key_file: out, kid, PUBLISHER_KEYS: { keys: [{ ...publicJwk, kid }] } };
    printResult(values.json, result, (r) => [
      `wrote the private key ${r.private_key_file} (kid ${r.kid}); keep it secret and out of git`,
      "PUBLISHER_KEYS (the JWK Set the worker trusts; wrangler secret put PUBLISHER_KEYS, or .dev.vars for npm start):",
      JSON.stringify(r.PUBLISHER_KEYS),
    ]);
    return STATUS.ok;
  },
};

export default group("keys", "Manage bundle publisher keys", { generate });
