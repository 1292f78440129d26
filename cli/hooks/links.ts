import { lstatSync, readlinkSync } from "node:fs";
import { posix } from "node:path";
import type { DecisionResponse } from "../client.ts";
import { fileAction, type PlannedAction } from "./mapping.ts";

/**
 * Symbolic links, which Warden's worker cannot see: it reads a path lexically, as the agent named
 * it, while the OS opens the file the links along it lead to. A repository checked out into the
 * workspace can carry `docs -> ~/.ssh`, and a read of `workspace/docs/id_rsa`, judged as a
 * workspace file, would read the key. The hook runs where the files are, so after Warden has
 * decided a call it follows the links of every path the call reaches (the paths it names and the
 * ones Warden derived from its command lines) and has Warden decide each file they lead to as
 * well: the call runs only if those are permitted too. A link never widens what runs; it can only
 * add a decision. Not seen: links a program follows on its own below a directory it was given
 * (`zip -r`, `grep -R`, `find -L`), and links the call itself makes before it uses them.
 *
 * POSIX only (Linux, macOS); Windows' links and junctions are not followed (docs/hooks.md).
 */

/** Links followed for one path before the OS gives up on it (Linux's MAXSYMLINKS; macOS's is 32). */
const MAX_LINKS = 40;

/**
 * The file the OS reaches for the absolute `path`: each component in turn, each symbolic link
 * replaced by its target (an absolute target restarts at `/`, a relative one at the link's
 * directory), `..` taken from where the links led, as the kernel walks it — not from the text.
 * `followLast` false leaves the last component as it is: unlinking a link removes the link (but
 * not with a `/` after it, which makes the kernel follow it). A
 * component that is not there ends the links: what follows it can be created or refused, never
 * reached through one. null when the links loop (the OS refuses the path: nothing is reached).
 */
export function realPath(path: string, followLast = true): string | null {
  let pending = path.split("/");
  let reached: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const name = pending.shift() as string;
    if (name === "" || name === ".") continue;
    if (name === "..") {
      reached.pop();
      continue;
    }
    const here = `/${[...reached, name].join("/")}`;
    // Only a last component is left as it is: `link/` and `link/.` go through the link (`rm -r link/` empties its target).
    const target = pending.length === 0 && !followLast ? undefined : linkTarget(here);
    if (target === undefined) {
      reached.push(name);
      continue;
    }
    if ((links += 1) > MAX_LINKS) return null;
    if (target.startsWith("/")) reached = [];
    pending = [...target.split("/"), ...pending];
  }
  return `/${reached.join("/")}`;
}

/** The target of the link at `path`; undefined when it is no link, or nothing (readable) is there. */
function linkTarget(path: string): string | undefined {
  try {
    return lstatSync(path).isSymbolicLink() ? readlinkSync(path) : undefined;
  } catch {
    // Not there, or not for this user: the agent, which runs as this user, reaches nothing through it either.
    return undefined;
  }
}

const FILE_ACTIONS: ReadonlySet<string> = new Set(["file.read", "file.write", "file.delete"]);

/**
 * The decisions a call needs for the files its paths lead to through links: for each path of a
 * file action the call plans and each path Warden derived from its command lines, a file action
 * of the same kind on each real path that is not the path Warden judged; a write keeps its
 * content's hash, and `through` names the path it came from. A path is followed twice where it
 * holds a `..`: as named, since the kernel takes each `..` from where the links before it led,
 * and as Warden read it, `..` resolved as text first, as a shell's `cd` and Claude Code's own
 * path handling do. `loops` are the paths whose links loop: what they reach cannot be told.
 */
export function reachedThroughLinks(planned: readonly PlannedAction[], decisions: readonly DecisionResponse[]): { linked: PlannedAction[]; loops: string[] } {
  const seen = new Set<string>();
  const linked: PlannedAction[] = [];
  const loops: string[] = [];
  const reach = (type: "file.read" | "file.write" | "file.delete", named: string, inputs: string | undefined) => {
    const judged = posix.resolve(named);
    for (const real of new Set([realPath(named, type !== "file.delete"), realPath(judged, type !== "file.delete")])) {
      if (real === null) loops.push(named);
      if (real === null || real === judged || seen.has(`${type} ${real}`)) continue;
      seen.add(`${type} ${real}`);
      linked.push({ ...fileAction(type, [real], inputs), through: named });
    }
  };
  planned.forEach((plan, index) => {
    const { type, targets, inputs_sha256: inputs } = plan.action;
    if (FILE_ACTIONS.has(type)) for (const target of targets) if (target.kind === "path") reach(type as "file.read" | "file.write" | "file.delete", target.value, inputs);
    for (const derived of decisions[index]?.derived ?? []) {
      const named = derived.named ?? derived.value;
      if (derived.kind === "path" && named !== undefined && derived.action !== "http.request") reach(derived.action, named, undefined);
    }
  });
  return { linked, loops };
}
