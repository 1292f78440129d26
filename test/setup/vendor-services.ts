/**
 * miniflare service binding `VENDOR_SERVICES` (wired in vitest.config.mts): a stand-in for Intel
 * PCS, running in Node (AMD KDS is a real local server: test/setup/amd-kds.ts). Tests tell it
 * what to serve (`PUT /__serve` with the path and query, status, headers and base64 body) and
 * read back what it was asked (`GET /__requests`); the worker under test reaches it through the
 * `fetch` its deps inject.
 */

interface Served {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const served = new Map<string, Served>();
const requests: string[] = [];

export async function vendorServices(request: Request): Promise<Response> {
  const url = new URL(request.url);
  if (url.pathname === "/__serve" && request.method === "PUT") {
    const { path, status, headers, body } = (await request.json()) as { path: string } & Served;
    served.set(path, { status, headers, body });
    return new Response(null, { status: 204 });
  }
  if (url.pathname === "/__requests") return Response.json(requests);
  const key = `${url.host}${url.pathname}${url.search}`;
  requests.push(key);
  const answer = served.get(key);
  if (!answer) return new Response("not served", { status: 404 });
  const bytes = Uint8Array.from(atob(answer.body), (c) => c.charCodeAt(0));
  return new Response(bytes, { status: answer.status, headers: answer.headers });
}
