// Vite's `?raw` imports (used by tests to read policy bundles as text).
declare module "*?raw" {
  const text: string;
  export default text;
}

// Vite's `import.meta.glob` (tests read every test file of a policy bundle with it, and the
// worker's sources as text with `query: "?raw"`).
interface ImportMeta {
  glob<T>(pattern: string | string[], options: { eager: true; import: "default"; query?: string }): Record<string, T>;
}

// Files the worker serves as they ship, bundled as text modules (wrangler.jsonc `rules`):
// the API reference UI (worker/docs-page.ts) and the browser WebAuthn client (worker/review/page.ts).
declare module "swagger-ui-dist/swagger-ui-bundle.js" {
  const text: string;
  export default text;
}
declare module "swagger-ui-dist/swagger-ui.css" {
  const text: string;
  export default text;
}
declare module "*/@simplewebauthn/browser/dist/bundle/index.umd.min.js" {
  const text: string;
  export default text;
}
