// Test-only: @peculiar/x509 (used by the tests to generate certificate
// hierarchies and CRLs, never by the worker) depends on tsyringe, which needs
// the Reflect metadata API. This is the subset tsyringe calls. Import this
// module before @peculiar/x509.
const store = new WeakMap<object, Map<unknown, unknown>>();
const R = Reflect as unknown as Record<string, unknown>;
R.defineMetadata ??= (key: unknown, value: unknown, target: object) => {
  let m = store.get(target);
  if (!m) store.set(target, (m = new Map()));
  m.set(key, value);
};
R.getOwnMetadata ??= (key: unknown, target: object) => store.get(target)?.get(key);
R.getMetadata ??= (key: unknown, target: object): unknown => {
  for (let t: object | null = target; t; t = Object.getPrototypeOf(t)) {
    const v = store.get(t)?.get(key);
    if (v !== undefined) return v;
  }
  return undefined;
};
export {};
