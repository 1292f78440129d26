/**
 * The OpenAPI document as a client generator and /docs read it: every operation has exactly one
 * declared tag, a unique operationId and a security requirement (explicitly empty when public),
 * and an operation declared public is never refused for want of credentials. Adding a route
 * without them fails here, in the workers suite, before the Redocly lint of the Node suite.
 */
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import swaggerUiPackage from "swagger-ui-dist/package.json";
import { DOCS_ASSET_PREFIX } from "../../worker/docs-page.ts";
import { OPENAPI_TAGS } from "../../worker/openapi.ts";

interface Operation {
  operationId?: string;
  tags?: string[];
  security?: Record<string, string[]>[];
  summary?: string;
  parameters?: { name: string; in: string }[];
}
interface Document {
  info: { license?: { name: string; identifier?: string }; version: string };
  servers?: { url: string }[];
  tags?: { name: string; description?: string }[];
  paths: Record<string, Record<string, Operation>>;
  components: { securitySchemes: Record<string, unknown> };
}

const METHODS = new Set(["get", "put", "post", "delete", "patch"]);

async function document(origin = "https://warden.test"): Promise<Document> {
  const response = await SELF.fetch(`${origin}/openapi.json`);
  expect(response.status).toBe(200);
  return (await response.json()) as Document;
}

function operations(doc: Document): { method: string; path: string; op: Operation }[] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => METHODS.has(method))
      .map(([method, op]) => ({ method, path, op })),
  );
}

describe("OpenAPI document", () => {
  it("declares servers (this origin), a license and every tag with a description", async () => {
    const doc = await document("https://warden.example.test");
    expect(doc.servers).toEqual([expect.objectContaining({ url: "https://warden.example.test" })]);
    expect(doc.info.license).toEqual({ name: "Apache-2.0", identifier: "Apache-2.0" });
    expect(doc.tags?.map((tag) => tag.name)).toEqual(OPENAPI_TAGS.map((tag) => tag.name));
    for (const tag of doc.tags ?? []) expect(tag.description, tag.name).toBeTruthy();
  });

  it("gives every operation one declared tag, a unique operationId and a security requirement", async () => {
    const doc = await document();
    const declared = new Set<string>(OPENAPI_TAGS.map((tag) => tag.name));
    const schemes = new Set(Object.keys(doc.components.securitySchemes));
    const ops = operations(doc);
    expect(ops.length).toBeGreaterThan(30);
    const ids = new Map<string, string>();
    for (const { method, path, op } of ops) {
      const where = `${method.toUpperCase()} ${path}`;
      expect(op.operationId, `${where}: operationId`).toMatch(/^[a-z][A-Za-z0-9]+$/);
      expect(ids.get(op.operationId!), `${where}: operationId ${op.operationId} is also used by`).toBeUndefined();
      ids.set(op.operationId!, where);
      expect(op.tags, `${where}: tags`).toHaveLength(1);
      expect(declared.has(op.tags![0]!), `${where}: tag ${op.tags![0]} is not in OPENAPI_TAGS`).toBe(true);
      expect(op.summary, `${where}: summary`).toBeTruthy();
      expect(Array.isArray(op.security), `${where}: security (publicAccess when none)`).toBe(true);
      for (const requirement of op.security!) for (const name of Object.keys(requirement)) expect(schemes.has(name), `${where}: scheme ${name}`).toBe(true);
    }
  });

  it("never answers an operation declared public with unauthenticated", async () => {
    const doc = await document();
    const publicOps = operations(doc).filter(({ op }) => op.security!.length === 0);
    expect(publicOps.length).toBeGreaterThan(0);
    for (const { method, path } of publicOps) {
      const url = `https://warden.test${path.replace(/\{[^}]+\}/g, "x")}`;
      const response = await SELF.fetch(url, method === "get" ? {} : { method: method.toUpperCase(), headers: { "content-type": "application/json" }, body: "{}" });
      const body = response.headers.get("content-type")?.includes("json") ? ((await response.json()) as { code?: string }) : {};
      expect(body.code, `${method.toUpperCase()} ${path}`).not.toBe("unauthenticated");
    }
  });

  it("refuses, without credentials, every operation that declares a requirement", async () => {
    const doc = await document();
    for (const { method, path, op } of operations(doc).filter(({ op }) => op.security!.length > 0)) {
      const url = `https://warden.test${path.replace(/\{[^}]+\}/g, "x")}`;
      const response = await SELF.fetch(url, method === "get" ? {} : { method: method.toUpperCase(), headers: { "content-type": "application/json" }, body: "{}" });
      const body = (await response.json()) as { code?: string };
      expect([401, 400], `${method.toUpperCase()} ${path} (${op.operationId})`).toContain(response.status);
      if (response.status === 400) expect(body.code, `${method.toUpperCase()} ${path}`).toBe("malformed_request");
    }
  });
});

describe("/docs", () => {
  it("serves Swagger UI from this origin only, with a CSP that allows nothing else", async () => {
    const page = await SELF.fetch("https://warden.test/docs");
    expect(page.status).toBe(200);
    const csp = page.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    const html = await page.text();
    const urls = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1]!);
    expect(urls.length).toBeGreaterThanOrEqual(3);
    for (const url of urls) expect(url, url).toMatch(/^\/(?!\/)/);
    expect(DOCS_ASSET_PREFIX).toBe(`/docs/assets/swagger-ui-${swaggerUiPackage.version}`);
  });

  it.each([
    ["swagger-ui-bundle.js", "text/javascript", "SwaggerUIBundle"],
    ["swagger-ui.css", "text/css", ".swagger-ui"],
    ["init.js", "text/javascript", 'validatorUrl: "none"'],
  ])("serves %s as %s, cacheable for good", async (file, type, marker) => {
    const response = await SELF.fetch(`https://warden.test${DOCS_ASSET_PREFIX}/${file}`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain(type);
    expect(response.headers.get("cache-control")).toContain("immutable");
    expect(await response.text()).toContain(marker);
  });

  it("answers any other asset name with not_found", async () => {
    for (const file of ["package.json", "index.html", "..%2Fopenapi.json"]) {
      const response = await SELF.fetch(`https://warden.test${DOCS_ASSET_PREFIX}/${file}`);
      expect(response.status).toBe(404);
      expect(((await response.json()) as { code: string }).code).toBe("not_found");
    }
  });
});
