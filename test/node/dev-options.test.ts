/**
 * `npm start -- --port N | --port=N --host H | --host=H` (scripts/dev.mjs): where wrangler dev
 * listens, and the origin every origin-derived setting follows.
 */
import { describe, expect, it } from "vitest";
// @ts-expect-error: a plain .mjs script without types
import { serveOptions } from "../../scripts/dev.mjs";

interface Serve {
  port: number;
  listen: string;
  origin: string;
  probe: string;
  addressWarning: string | null;
  vars: Record<string, string>;
  passthrough: string[];
}
const serve = serveOptions as (argv: string[]) => Serve;

describe("npm start options", () => {
  it.each([
    [["--port", "8962"]],
    [["--port=8962"]],
  ])("%j serves on 8962 and moves REVIEW_ORIGIN, REVIEW_RP_ID and LOG_ORIGIN with it", (argv) => {
    expect(serve(argv)).toMatchObject({
      port: 8962,
      listen: "127.0.0.1",
      origin: "http://localhost:8962",
      probe: "http://127.0.0.1:8962",
      addressWarning: null,
      vars: { REVIEW_ORIGIN: "http://localhost:8962", REVIEW_RP_ID: "localhost", LOG_ORIGIN: "localhost/log" },
      passthrough: [],
    });
  });

  it.each([[["--host", "127.0.0.1"]], [["--host=127.0.0.1"]], [["--ip", "127.0.0.1"]]])("%j listens there but keeps the localhost origin, and says why", (argv) => {
    const options = serve(argv);
    expect(options).toMatchObject({ listen: "127.0.0.1", origin: "http://localhost:8787", vars: { REVIEW_RP_ID: "localhost" } });
    expect(options.addressWarning).toContain("open the reviewer pages at http://localhost:8787");
  });

  it("takes a domain name as the origin's host, and asks for https off localhost", () => {
    expect(serve(["--host=warden.internal", "--local-protocol", "https", "--port", "9443"])).toMatchObject({
      listen: "warden.internal",
      origin: "https://warden.internal:9443",
      addressWarning: null,
      vars: { REVIEW_ORIGIN: "https://warden.internal:9443", REVIEW_RP_ID: "warden.internal", LOG_ORIGIN: "warden.internal/log" },
    });
    expect(serve(["--host", "warden.internal"]).addressWarning).toContain("--local-protocol https");
  });

  it("passes every other argument to wrangler dev", () => {
    expect(serve(["--port", "9000", "--log-level", "debug", "--inspector-port=9229"]).passthrough).toEqual(["--log-level", "debug", "--inspector-port=9229"]);
  });
});

describe("npm start options it cannot use", () => {
  it.each([
    [["--port"], "--port needs a value"],
    [["--port=0"], "--port must be a port number"],
    [["--port", "http"], "--port must be a port number"],
    [["--host="], "--host needs a value"],
    [["--local-protocol", "ftp"], "--local-protocol must be http or https"],
  ])("%j is refused: %s", (argv, message) => {
    expect(() => serve(argv)).toThrow(message);
  });
});
