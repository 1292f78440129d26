// Vite's `?raw` imports (used by tests to read policy bundles as text).
declare module "*?raw" {
  const text: string;
  export default text;
}
