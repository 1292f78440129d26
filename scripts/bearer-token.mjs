import { randomBytes } from "node:crypto";

/** 32 random bytes in base64url, never starting with "-", which a command line would read as an option (`--admin-token -x…`). */
export function bearerToken() {
  for (;;) {
    const token = randomBytes(32).toString("base64url");
    if (!token.startsWith("-")) return token;
  }
}
