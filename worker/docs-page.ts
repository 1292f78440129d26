/**
 * Interactive API reference at /docs: a static page that renders /openapi.json in
 * the browser, so the worker ships no front-end build.
 */
export const docsPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Warden API</title>
<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css">
</head>
<body>
<noscript>The raw OpenAPI document is at <a href="/openapi.json">/openapi.json</a>.</noscript>
<div id="docs"></div>
<script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js" crossorigin="anonymous"></script>
<script>SwaggerUIBundle({ url: "/openapi.json", dom_id: "#docs" });</script>
</body>
</html>`;
