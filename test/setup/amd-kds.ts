// Vitest globalSetup (Node side): a local AMD Key Distribution Service, a real HTTP server on
// loopback that the worker under test asks for CRLs and VCEKs, as it asks https://kdsintf.amd.com.
//
// Every test works in a scope of its own, the first path segment, so test files running at once
// never see each other's CRLs: the worker's AMD_KDS_URL is `https://kds.warden.test/<scope>`, and
// test/setup/outbound.ts hands requests for that host to this server. Under a scope it answers
// KDS's routes (AMD pub. 57230, "KDS interface"):
//
//   GET /<scope>/vcek/v1/<product>/crl, /<scope>/vlek/v1/<product>/crl   the CRL a test put there (DER, application/pkix-crl)
//   GET /<scope>/vcek/v1/<product>/<hwid>?blSPL=…&teeSPL=…&…              the VCEK a test put there (DER)
//   anything else                                                          404, as KDS answers an unknown resource
//
// and, for the tests (reached through the AMD_KDS service binding, amdKdsControl below):
//
//   PUT /<scope>/__control/serve?path=<KDS path and query>   body: the DER to serve there from now on
//   PUT /<scope>/__control/mode                              body: "up" | "down" (503 for everything) | "hang" (answers nothing) |
//                                                            "huge-streamed" (200, 300 KiB chunked, never ended)
//   GET /<scope>/__control/requests                          the KDS paths (and queries) asked, in order
//
// Nothing here knows what a CRL means: the tests make the CRLs with their own generated ARKs.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";

/** The host the worker's AMD_KDS_URL names in tests (test/setup/outbound.ts forwards it here). */
export const AMD_KDS_HOST = "kds.warden.test";

type Mode = "up" | "down" | "hang" | "huge-streamed";

/** More than the worker reads of a CRL (worker/verifiers/sev-snp/crl.ts MAX_KDS_CRL_BYTES, 256 KiB). */
const HUGE = 300 * 1024;

interface Scope {
  served: Map<string, Buffer>;
  requests: string[];
  mode: Mode;
}

function contentType(path: string): string {
  return /\/crl$/.test(path.split("?")[0] ?? "") ? "application/pkix-crl" : "application/x-x509-ca-cert";
}

export default async function setup(): Promise<() => Promise<void>> {
  const scopes = new Map<string, Scope>();
  const scope = (name: string): Scope => {
    let known = scopes.get(name);
    if (!known) scopes.set(name, (known = { served: new Map(), requests: [], mode: "up" }));
    return known;
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const url = new URL(req.url ?? "/", "http://kds");
    const [, name = "", ...rest] = url.pathname.split("/");
    const state = scope(name);
    const path = `/${rest.join("/")}`;
    if (path.startsWith("/__control/")) {
      const op = path.slice("/__control/".length);
      if (req.method === "PUT" && op === "serve") {
        state.served.set(url.searchParams.get("path") ?? "", body);
        res.writeHead(204).end();
      } else if (req.method === "PUT" && op === "mode") {
        state.mode = body.toString("utf8") as Mode;
        res.writeHead(204).end();
      } else if (req.method === "GET" && op === "requests") {
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(state.requests));
      } else {
        res.writeHead(404).end();
      }
      return;
    }
    const asked = `${path}${url.search}`;
    state.requests.push(asked);
    // Hanging: the worker's own time bound must end the exchange (the socket is closed at teardown).
    if (state.mode === "hang") return;
    // A body that never ends: only the worker's size bound (or, failing it, its time bound) ends it.
    if (state.mode === "huge-streamed") {
      res.writeHead(200, { "content-type": "application/pkix-crl" });
      res.write(Buffer.alloc(HUGE, 0x30));
      return;
    }
    if (state.mode === "down") {
      res.writeHead(503, { "content-type": "text/plain" }).end("KDS unavailable");
      return;
    }
    const der = req.method === "GET" ? state.served.get(asked) : undefined;
    if (!der) {
      res.writeHead(404, { "content-type": "text/plain" }).end("Not Found");
      return;
    }
    res.writeHead(200, { "content-type": contentType(asked), "content-length": String(der.length) }).end(der);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => res.writeHead(500).end(String(error)));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  // For test/setup/outbound.ts and the AMD_KDS binding, which run in this same process.
  process.env["WARDEN_AMD_KDS"] = `http://127.0.0.1:${port}`;
  return async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
}

/**
 * To the local KDS, method, path, query and body as sent: the worker's outbound requests to
 * `kds.warden.test` (test/setup/outbound.ts), and the tests' `/<scope>/__control/…` through the
 * miniflare service binding `AMD_KDS` (vitest.config.mts), which runs in this same process.
 */
export async function amdKds(request: Request): Promise<Response> {
  const root = process.env["WARDEN_AMD_KDS"];
  if (!root) return new Response("the local AMD KDS is not running (test/setup/amd-kds.ts is vitest's globalSetup)", { status: 503 });
  const url = new URL(request.url);
  const method = request.method;
  const body = method === "GET" || method === "HEAD" ? undefined : new Uint8Array(await request.arrayBuffer());
  const answer = await fetch(`${root}${url.pathname}${url.search}`, { method, ...(body ? { body } : {}) });
  return new Response(answer.body, { status: answer.status, headers: answer.headers });
}
