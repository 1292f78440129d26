/**
 * Warden's reading of a URL against curl's, the program that makes the request: for every URL
 * Warden accepts, the request curl makes goes to the host, port and path policy judged — or curl
 * makes none. curl sends each request through a local proxy that records it and answers 200, so
 * nothing leaves the machine: an http URL arrives in absolute form (`GET http://host:port/path`),
 * an https one as `CONNECT host:port` (its path is inside TLS, never sent here). URLs are chosen
 * and drawn by a seeded generator, so every run checks the same ones; curl runs with `--globoff`
 * (command analysis leaves curl's `{}`/`[]` globs unresolved, tested elsewhere).
 */
import { spawn } from "node:child_process";
import { createServer, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canonicalizeUrl } from "../../worker/policy/targets.ts";
import { pick, random } from "../seeded.ts";

/** What the proxy saw of one request: the request target, by the id curl sent as its proxy user. */
const seen = new Map<string, string>();
let proxyUrl = "";
const server = createServer((socket: Socket) => {
  let head = "";
  socket.on("data", (chunk) => {
    head += chunk.toString("latin1");
    const end = head.indexOf("\r\n\r\n");
    if (end < 0) return;
    const lines = head.slice(0, end).split("\r\n");
    const auth = lines.find((line) => /^proxy-authorization: basic /i.test(line));
    const id = auth ? Buffer.from(auth.replace(/^proxy-authorization: basic /i, ""), "base64").toString("latin1").split(":")[0]! : "";
    seen.set(id, lines[0]!);
    socket.end("HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
  });
  socket.on("error", () => {});
});

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  proxyUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

let nextId = 0;

/** The request line curl sent for `url`, or null when it sent none. */
function curlRequest(url: string): Promise<string | null> {
  const id = `u${(nextId += 1)}`;
  return new Promise((resolve, reject) => {
    const child = spawn("curl", ["-s", "-g", "-m", "5", "--proxy", proxyUrl, "--proxy-user", `${id}:x`, "-o", "/dev/null", "--", url], { stdio: "ignore" });
    child.on("error", reject);
    child.on("close", () => resolve(seen.get(id) ?? null));
  });
}

const UNRESERVED = /[A-Za-z0-9\-._~]/;

/** A request path as servers compare paths: unreserved escapes decoded, other escapes upper case, bytes above 0x7F escaped. */
function comparablePath(path: string): string {
  return path
    .replace(/[\u0080-\u00ff]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%([0-9A-Fa-f]{2})/g, (_match, hex: string) => {
      const char = String.fromCharCode(Number.parseInt(hex, 16));
      return UNRESERVED.test(char) ? char : `%${hex.toUpperCase()}`;
    });
}

/** A host as written on the wire, compared case-insensitively, without a trailing dot, IPv6 compressed. */
function comparableHost(host: string): string {
  const bare = host.toLowerCase().replace(/\.$/, "");
  return bare.startsWith("[") ? new URL(`http://${bare}/`).hostname : bare;
}

interface Reading {
  host: string;
  port: number;
  path: string | null;
}

/** Host, port and (for http) path of the request curl sent. */
function readRequest(line: string): Reading {
  const connect = /^CONNECT (\S+):(\d+) HTTP\/1\.[01]$/.exec(line);
  if (connect) return { host: comparableHost(connect[1]!), port: Number(connect[2]), path: null };
  const absolute = /^[A-Z]+ http:\/\/([^/?#]*)([^ ?#]*)\S* HTTP\/1\.[01]$/.exec(line);
  if (!absolute) throw new Error(`not a proxy request: ${line}`);
  const authority = absolute[1]!;
  const port = /:(\d+)$/.exec(authority.replace(/^\[[^\]]*\]/, ""));
  const host = port ? authority.slice(0, authority.length - port[0].length) : authority;
  return { host: comparableHost(host), port: port ? Number(port[1]) : 80, path: comparablePath(absolute[2] === "" ? "/" : absolute[2]!) };
}

/** For every URL Warden accepts: what curl requested, beside what Warden read; only disagreements. */
async function disagreements(urls: readonly string[]): Promise<{ url: string; warden: Reading; curl: Reading }[]> {
  const found: { url: string; warden: Reading; curl: Reading }[] = [];
  const accepted = urls.flatMap((url) => {
    const read = canonicalizeUrl(url);
    return read.ok && (read.value.scheme === "http" || read.value.scheme === "https") ? [{ url, read: read.value }] : [];
  });
  // A few curls at a time: each is a process start and one local round trip.
  for (let at = 0; at < accepted.length; at += 8) {
    await Promise.all(
      accepted.slice(at, at + 8).map(async ({ url, read }) => {
        const line = await curlRequest(url);
        if (line === null) return;
        const curl = readRequest(line);
        const warden: Reading = { host: comparableHost(read.host), port: read.port, path: curl.path === null ? null : comparablePath(read.path) };
        if (curl.host !== warden.host || curl.port !== warden.port || curl.path !== warden.path) found.push({ url, warden, curl });
      }),
    );
  }
  return found;
}

const CHOSEN = [
  "http://good.example/",
  "http://GOOD.example./a/../b",
  "http://good.example:0080/x",
  "http://good.example:/x",
  "http://0x7f.1/",
  "http://127.1/",
  "http://2130706433/",
  "http://0177.0.0.1/",
  "http://[::ffff:127.0.0.1]/",
  "http://[0:0::1]:8080/a",
  "http://good.example/a/%2e%2e/b",
  "http://good.example/a/.%2e/b",
  "http://good.example/a/%2e/b",
  "http://good.example/%61dmin",
  "http://good.example/a%2fb",
  "http://good.example/%zz",
  "http://good.example/a/./b/",
  "http://good.example/a/..",
  "http://good.example/a?b=/../c",
  "http://good.example#@evil.example/",
  "http://good.example?@evil.example/",
  "http://good.example\\@evil.example/",
  "http://good.example;@evil.example/",
  "http://good.example:80@evil.example/",
  "http://%67ood.example/",
  "http:///good.example/",
  "https://good.example/",
  "https://good.example:8443/a",
  "https://GOOD.EXAMPLE./",
];

const SCHEMES = ["http://", "http://", "http://", "https://", "HTTP://", "Http://"];
const HOSTS = ["good.example", "GOOD.Example", "good.example.", "127.0.0.1", "0x7f.1", "127.1", "2130706433", "0177.0.0.1", "[::1]", "[0:0::1]", "[::ffff:127.0.0.1]", "xn--bcher-kva.example", "a-b.example", "1.2.3", "good.example..", "localhost", "%67ood.example", "good.example\\", "evil.example@good.example"];
const PORTS = ["", "", "", ":80", ":8080", ":", ":0080", ":65535", ":443"];
const SEGMENTS = ["a", "b", "src", ".", "..", "%2e", "%2E%2e", ".%2e", "%2e.", "%61dmin", "%2f", "%5c", "a;b", "..;", "%25", "%zz", "~user", "!$&'()*+,;=", ":", "@", "%c3%a9", "%00", "a%20b", "", "%7e", "%2D", "A%2e"];
const QUERIES = ["", "", "?x=1", "?@evil.example/", "?a=/../b", "?%2e%2e"];
const FRAGMENTS = ["", "", "#f", "#@evil.example/", "#/../x"];

function drawUrl(next: () => number): string {
  const segments = Array.from({ length: Math.floor(next() * 5) }, () => pick(next, SEGMENTS));
  const path = segments.length === 0 && next() < 0.5 ? "" : `/${segments.join("/")}`;
  return `${pick(next, SCHEMES)}${pick(next, HOSTS)}${pick(next, PORTS)}${path}${pick(next, QUERIES)}${pick(next, FRAGMENTS)}`;
}

describe("URLs as curl reads them", () => {
  it("has a proxy that sees what curl sends (http in absolute form, https as CONNECT)", async () => {
    expect(readRequest((await curlRequest("http://good.example:8080/a/b?c"))!)).toEqual({ host: "good.example", port: 8080, path: "/a/b" });
    expect(readRequest((await curlRequest("https://good.example/a"))!)).toEqual({ host: "good.example", port: 443, path: null });
  });

  it(`goes where Warden read for every chosen URL Warden accepts (${CHOSEN.length} chosen)`, async () => {
    expect(await disagreements(CHOSEN)).toEqual([]);
  });

  it("goes where Warden read for every drawn URL Warden accepts (1,500 drawn, seed 7)", async () => {
    const next = random(7);
    const urls = Array.from({ length: 1500 }, () => drawUrl(next));
    // The draw reaches both sides of the question: URLs Warden accepts and URLs it refuses.
    const accepted = urls.filter((url) => canonicalizeUrl(url).ok).length;
    expect(accepted).toBeGreaterThan(300);
    expect(urls.length - accepted).toBeGreaterThan(300);
    expect(await disagreements(urls)).toEqual([]);
  }, 300_000);
});
