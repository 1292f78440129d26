/**
 * miniflare service binding `TPM_HOST` (wired in vitest.config.mts): runs in Node and forwards
 * the tests' TPM requests to the loopback host that test/setup/swtpm.ts (globalSetup, same
 * process) started and announced in `WARDEN_TPM_HOST`. A service binding rather than an
 * outbound fetch, so nothing depends on how outbound requests are routed.
 */
export async function tpmHostBinding(request: Request): Promise<Response> {
  const base = process.env["WARDEN_TPM_HOST"];
  if (!base) return Response.json({ error: "the TPM host is not running (test/setup/swtpm.ts is vitest's globalSetup)" }, { status: 503 });
  const url = new URL(request.url);
  const response = await fetch(base + url.pathname, { method: "POST", body: await request.text(), headers: { "content-type": "application/json" } });
  return new Response(await response.text(), { status: response.status, headers: { "content-type": "application/json" } });
}
