import { BundleError } from "./artifact.ts";
import { canonicalizePath } from "./targets.ts";

/**
 * The manifest's path classes (for example `/etc/shadow*`, `/home/dev/.ssh/**` and
 * `!/home/dev/.ssh/*.pub` in the class `secrets`), compiled once per bundle. An entry is a
 * canonical path, or a pattern over canonical paths: `*` and `?` stand for characters within one
 * segment, a `**` segment for any number of segments (a pattern that starts with one matches in
 * any directory), and a leading `!` excludes what it matches.
 *
 * An entry covers a path when it matches the path or any directory above it, as a plain path
 * always has (a class naming `/home/dev/.aws` covers everything inside it). A path is in a class
 * when some entry covers it and no exclusion does. Patterns are matched against the canonical
 * form, which is case-folded on macOS and Windows: write them in lower case for those devices.
 */
export interface PathClasses {
  /** Plain canonical paths: class names by path, looked up for every prefix of a path. */
  readonly prefixes: ReadonlyMap<string, readonly string[]>;
  /** Patterns, in manifest order. */
  readonly patterns: readonly { name: string; exclude: boolean; segments: readonly SegmentMatcher[] }[];
}

type SegmentMatcher = "**" | RegExp;

export const NO_PATH_CLASSES: PathClasses = { prefixes: new Map(), patterns: [] };

const GLOB = /[*?]/;

/** Compiles the manifest's classes; throws a BundleError naming the first entry that is neither a canonical path nor a pattern. */
export function compilePathClasses(classes: Readonly<Record<string, readonly string[]>>): PathClasses {
  const prefixes = new Map<string, string[]>();
  const patterns: { name: string; exclude: boolean; segments: SegmentMatcher[] }[] = [];
  for (const [name, entries] of Object.entries(classes)) {
    for (const entry of entries) {
      const exclude = entry.startsWith("!");
      const body = exclude ? entry.slice(1) : entry;
      if (!exclude && !GLOB.test(body)) {
        // A plain entry matches through `within`, which holds canonical paths only: a non-canonical one would never match.
        const canonical = canonicalizePath(body, body.includes(":") || body.startsWith("//") ? "windows" : "linux");
        if (!canonical.ok || canonical.value.path !== body) throw new BundleError("bundle_invalid", `path class ${name}: ${entry} is not a canonical path`);
        prefixes.set(body, [...(prefixes.get(body) ?? []), name]);
        continue;
      }
      patterns.push({ name, exclude, segments: compilePattern(name, entry, body) });
    }
  }
  return { prefixes, patterns };
}

function compilePattern(name: string, entry: string, body: string): SegmentMatcher[] {
  const parts = body.split("/");
  const anchored = body.startsWith("/") || /^[a-z]:\//.test(body);
  // `**/x` matches x in any directory; otherwise a pattern names a root, as a canonical path does.
  if (!anchored && parts[0] !== "**") throw new BundleError("bundle_invalid", `path class ${name}: ${entry} must start with /, a drive or **/`);
  return parts.map((part, index) => {
    if (part === "**") return "**";
    // The root's empty segment (and a UNC root's two) are literal; any other empty, `.` or `..` segment names nothing canonical.
    const rootSegment = part === "" && (index === 0 || (index === 1 && body.startsWith("//")));
    if (!rootSegment && (part === "" || part === "." || part === "..")) throw new BundleError("bundle_invalid", `path class ${name}: ${entry} has an empty, . or .. segment`);
    if (part.includes("**")) throw new BundleError("bundle_invalid", `path class ${name}: ${entry} uses ** inside a segment`);
    const source = part.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]");
    return new RegExp(`^${source}$`);
  });
}

function matches(segments: readonly SegmentMatcher[], path: readonly string[], at = 0, from = 0): boolean {
  if (at === segments.length) return from === path.length;
  const segment = segments[at] as SegmentMatcher;
  if (segment === "**") {
    for (let skip = from; skip <= path.length; skip++) if (matches(segments, path, at + 1, skip)) return true;
    return false;
  }
  return from < path.length && segment.test(path[from] as string) && matches(segments, path, at + 1, from + 1);
}

/** The classes of a canonical path, given every prefix of it from the root (`within`). */
export function classesOf(classes: PathClasses, within: readonly string[]): string[] {
  const names = new Set(within.flatMap((prefix) => classes.prefixes.get(prefix) ?? []));
  if (classes.patterns.length === 0) return [...names];
  const split = within.map((prefix) => (prefix.endsWith("/") && prefix.length > 1 ? prefix.slice(0, -1) : prefix).split("/"));
  const covered = (segments: readonly SegmentMatcher[]) => split.some((path) => matches(segments, path));
  const excluded = new Set<string>();
  for (const pattern of classes.patterns) {
    if (covered(pattern.segments)) (pattern.exclude ? excluded : names).add(pattern.name);
  }
  return [...names].filter((name) => !excluded.has(name));
}
