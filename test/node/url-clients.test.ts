/**
 * Warden's reading of a URL against the programs that make the request: curl, and Python's
 * urllib (`url-clients.py`). For every URL Warden accepts, the request each client makes goes to
 * the host, port and path policy judged — or the client makes none. Nothing leaves the machine:
 * a local server records what arrives and answers 200. curl sends through it as a proxy (an http
 * URL in absolute form, `GET http://host:port/path`; https as `CONNECT host:port`, its path inside
 * TLS, never seen); urllib connects to it directly in place of the host it asked for, and tells
 * which host and port that was (an https path is again inside TLS). URLs are chosen and drawn by a
 * seeded generator, so every run checks the same ones; curl runs with `--globoff` (command
 * analysis leaves curl's `{}`/`[]` globs unresolved, tested elsewhere).
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createServer, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canonicalizeUrl } from "../../worker/policy/targets.ts";
import { pick, random } from "../seeded.ts";

/** The request line of each request that arrived, by the id its client sent (curl as its proxy user, urllib in a header). */
const seen = new Map<string, string>();
let recorderPort = 0;
const recorder = createServer((socket: Socket) => {
  let head = "";
  socket.on("data", (chunk) => {
    head += chunk.toString("latin1");
    // A TLS handshake (urllib connecting for an https URL): the host it asked for is all there is to see.
    if (head.startsWith("\x16")) return void socket.destroy();
    const end = head.indexOf("\r\n\r\n");
    if (end < 0) return;
    const lines = head.slice(0, end).split("\r\n");
    const auth = lines.find((line) => /^proxy-authorization: basic /i.test(line));
    const header = lines.find((line) => /^x-probe-id: /i.test(line));
    const id = auth ? Buffer.from(auth.replace(/^proxy-authorization: basic /i, ""), "base64").toString("latin1").split(":")[0]! : (header?.slice("x-probe-id: ".length) ?? "");
    seen.set(id, lines[0]!);
    socket.end("HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
  });
  socket.on("error", () => {});
});

let python: ChildProcessWithoutNullStreams;
const answers = new Map<string, (asked: { host?: string; port?: number }) => void>();

beforeAll(async () => {
  await new Promise<void>((resolve) => recorder.listen(0, "127.0.0.1", resolve));
  recorderPort = (recorder.address() as AddressInfo).port;
  python = spawn("python3", [fileURLToPath(new URL("./url-clients.py", import.meta.url)), String(recorderPort)]);
  python.stderr.pipe(process.stderr);
  createInterface({ input: python.stdout }).on("line", (line) => {
    const { id, ...asked } = JSON.parse(line) as { id: string; host?: string; port?: number };
    answers.get(id)?.(asked);
  });
});
afterAll(async () => {
  python.stdin.end();
  await new Promise<void>((resolve) => recorder.close(() => resolve()));
});

let nextId = 0;

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

/** A host as written on the wire, compared case-insensitively, without a trailing dot, IPv6 compressed (bracketed or not). */
function comparableHost(host: string): string {
  const bare = host.toLowerCase().replace(/\.$/, "");
  return bare.includes(":") ? new URL(`http://[${bare.replace(/^\[|\]$/g, "")}]/`).hostname : bare;
}

interface Reading {
  host: string;
  port: number;
  /** The path sent, or null when it went inside TLS. */
  path: string | null;
}

/** A client that makes the request: what it sent for `url`, or null when it sent none. */
type Client = (url: string) => Promise<Reading | null>;

/** curl through the recorder as its proxy: host, port and (for http) path of the request line. */
const curl: Client = (url) => {
  const id = `c${(nextId += 1)}`;
  return new Promise((resolve, reject) => {
    const child = spawn("curl", ["-s", "-g", "-m", "5", "--proxy", `http://127.0.0.1:${recorderPort}`, "--proxy-user", `${id}:x`, "-o", "/dev/null", "--", url], { stdio: "ignore" });
    child.on("error", reject);
    child.on("close", () => {
      const line = seen.get(id);
      resolve(line === undefined ? null : proxyRequest(line));
    });
  });
};

function proxyRequest(line: string): Reading {
  const connect = /^CONNECT (\S+):(\d+) HTTP\/1\.[01]$/.exec(line);
  if (connect) return { host: comparableHost(connect[1]!), port: Number(connect[2]), path: null };
  const absolute = /^[A-Z]+ http:\/\/([^/?#]*)([^ ?#]*)\S* HTTP\/1\.[01]$/.exec(line);
  if (!absolute) throw new Error(`not a proxy request: ${line}`);
  const authority = absolute[1]!;
  const port = /:(\d+)$/.exec(authority.replace(/^\[[^\]]*\]/, ""));
  const host = port ? authority.slice(0, authority.length - port[0].length) : authority;
  return { host: comparableHost(host), port: port ? Number(port[1]) : 80, path: comparablePath(absolute[2] === "" ? "/" : absolute[2]!) };
}

/** urllib, connecting to the recorder in place of the host it asked for: that host and port, and (for http) the path it sent. */
const urllib: Client = (url) => {
  const id = `p${(nextId += 1)}`;
  return new Promise((resolve) => {
    answers.set(id, (asked) => {
      answers.delete(id);
      if (asked.host === undefined || asked.port === undefined) return resolve(null);
      const line = seen.get(id);
      // An http request in origin form; a line of another form stays whole, so that it shows as a disagreement.
      const path = line === undefined ? null : (/^[A-Z]+ ([^ ?#]*)\S* HTTP\/1\.[01]$/.exec(line)?.[1] ?? line);
      resolve({ host: comparableHost(asked.host), port: asked.port, path: path === null ? null : comparablePath(path || "/") });
    });
    python.stdin.write(`${JSON.stringify({ id, url })}\n`);
  });
};

/** For every URL Warden accepts: what the client requested, beside what Warden read; only disagreements. */
async function disagreements(client: Client, urls: readonly string[]): Promise<{ url: string; warden: Reading; client: Reading }[]> {
  const found: { url: string; warden: Reading; client: Reading }[] = [];
  const accepted = urls.flatMap((url) => {
    const read = canonicalizeUrl(url);
    return read.ok && (read.value.scheme === "http" || read.value.scheme === "https") ? [{ url, read: read.value }] : [];
  });
  // A few at a time: a curl is a process start and one local round trip; urllib answers in order.
  for (let at = 0; at < accepted.length; at += 8) {
    await Promise.all(
      accepted.slice(at, at + 8).map(async ({ url, read }) => {
        const sent = await client(url);
        if (sent === null) return;
        const warden: Reading = { host: comparableHost(read.host), port: read.port, path: sent.path === null ? null : comparablePath(read.path) };
        if (sent.host !== warden.host || sent.port !== warden.port || sent.path !== warden.path) found.push({ url, warden, client: sent });
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

describe.each([
  { name: "curl 7.88", client: curl },
  { name: "Python's urllib", client: urllib },
])("URLs as $name reads them", ({ client }) => {
  it("is seen by the recorder: host, port and the http path it sent; an https path never", async () => {
    expect(await client("http://good.example:8080/a/b?c")).toEqual({ host: "good.example", port: 8080, path: "/a/b" });
    expect(await client("https://good.example/a")).toEqual({ host: "good.example", port: 443, path: null });
  });

  it(`goes where Warden read for every chosen URL Warden accepts (${CHOSEN.length} chosen)`, async () => {
    expect(await disagreements(client, CHOSEN)).toEqual([]);
  });

  it("goes where Warden read for every drawn URL Warden accepts (1,500 drawn, seed 7)", async () => {
    const next = random(7);
    const urls = Array.from({ length: 1500 }, () => drawUrl(next));
    // The draw reaches both sides of the question: URLs Warden accepts and URLs it refuses.
    const accepted = urls.filter((url) => canonicalizeUrl(url).ok).length;
    expect(accepted).toBeGreaterThan(300);
    expect(urls.length - accepted).toBeGreaterThan(300);
    expect(await disagreements(client, urls)).toEqual([]);
  }, 300_000);
});
