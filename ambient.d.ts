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
