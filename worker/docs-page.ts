import type { Context } from "hono";
import swaggerUiBundle from "swagger-ui-dist/swagger-ui-bundle.js";
import swaggerUiCss from "swagger-ui-dist/swagger-ui.css";
import swaggerUiPackage from "swagger-ui-dist/package.json";
import type { AppEnv } from "./context.ts";
import { router } from "./openapi.ts";
import { problemResponse } from "./problem.ts";

/**
 * The interactive API reference at /docs: Swagger UI from the `swagger-ui-dist` package, pinned by
 * package-lock.json and bundled into the worker as text modules (wrangler.jsonc `rules`), so the
 * page works with no network but the worker's own origin — no CDN, no floating version.
 */

/** Where the page's assets live; the version in the path lets browsers cache them for good. */
export const DOCS_ASSET_PREFIX = `/docs/assets/swagger-ui-${swaggerUiPackage.version}`;

/**
 * Swagger UI's options, set in a served script rather than inline so the page's CSP needs no
 * nonce. `validatorUrl: "none"` stops it sending the document to swagger.io for a badge.
 */
const INIT_SCRIPT = `window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#docs",
  deepLinking: true,
  validatorUrl: "none",
  displayOperationId: true,
  docExpansion: "list",
  defaultModelsExpandDepth: 0
});
`;

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Warden API</title>
<link rel="stylesheet" href="${DOCS_ASSET_PREFIX}/swagger-ui.css">
</head>
<body>
<noscript>The raw OpenAPI document is at <a href="/openapi.json">/openapi.json</a>.</noscript>
<div id="docs"></div>
<script src="${DOCS_ASSET_PREFIX}/swagger-ui-bundle.js"></script>
<script src="${DOCS_ASSET_PREFIX}/init.js"></script>
</body>
</html>`;

/** Each asset by file name, with its media type; anything else under the prefix is 404. */
const ASSETS: Record<string, { body: string; type: string }> = {
  "swagger-ui-bundle.js": { body: swaggerUiBundle, type: "text/javascript; charset=utf-8" },
  "swagger-ui.css": { body: swaggerUiCss, type: "text/css; charset=utf-8" },
  "init.js": { body: INIT_SCRIPT, type: "text/javascript; charset=utf-8" },
};

/**
 * Only this origin, for everything: a page that could load a script from elsewhere could show
 * another API. Swagger UI sets inline styles and draws icons from data: URIs.
 */
export const DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

function secured(c: Context<AppEnv>): void {
  c.header("content-security-policy", DOCS_CSP);
  c.header("x-content-type-options", "nosniff");
  c.header("referrer-policy", "no-referrer");
}

/** GET /docs and its assets, outside the OpenAPI document. */
export const docs = router();

docs.get("/docs", function docsPage(c) {
  secured(c);
  c.header("cache-control", "no-cache");
  return c.html(PAGE);
});

docs.get(`${DOCS_ASSET_PREFIX}/:file`, function docsAsset(c) {
  const file = c.req.param("file");
  const asset = Object.hasOwn(ASSETS, file) ? ASSETS[file] : undefined;
  if (!asset) return problemResponse("not_found");
  secured(c);
  c.header("content-type", asset.type);
  c.header("cache-control", "public, max-age=31536000, immutable");
  return c.body(asset.body);
});
