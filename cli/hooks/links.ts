import { lstatSync, readdirSync, readlinkSync, statSync, type Dirent } from "node:fs";
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
 * add a decision. A program that walks a directory and follows the links below it (`grep -R`,
 * `zip -r`, `find -L`: Warden marks its path `follows_links_below`) has the links below that
 * directory followed the same way. Not seen: links the call itself makes before it uses them.
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
 * reached through one. null when the links loop (the OS refuses the path: nothing is reached);
 * throws {@link UnreadableLink} where a directory on the way cannot be read by this user.
 */
export function realPath(path: string, followLast = true, options: ReadOptions = {}): string | null {
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
    options.visit?.(here);
    // Only a last component is left as it is: `link/` and `link/.` go through the link (`rm -r link/` empties its target).
    const target = pending.length === 0 && !followLast ? undefined : linkTarget(here, options.unreadable ?? "block");
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

/**
 * A path whose links cannot be read by this user: whether it leads elsewhere cannot be told, and
 * the call itself may first make it readable (`chmod 755 d && grep -R x .`).
 */
export class UnreadableLink extends Error {
  constructor(readonly path: string) {
    super(`${path} cannot be read by this user`);
  }
}

function unreadable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === "EACCES" || code === "EPERM";
}

/**
 * How a walk of the links treats a directory this user cannot read: "block" throws
 * {@link UnreadableLink} (the call can change permissions first), "skip" takes it as no link (the
 * agent, running as this user, reaches nothing through it). `visit` sees every path the walk
 * passes through, a component not there yet included.
 */
export interface ReadOptions {
  unreadable?: "block" | "skip";
  visit?: (path: string) => void;
}

/** The target of the link at `path`; undefined when it is no link or nothing is there. */
function linkTarget(path: string, onUnreadable: "block" | "skip"): string | undefined {
  try {
    return lstatSync(path).isSymbolicLink() ? readlinkSync(path) : undefined;
  } catch (error) {
    if (unreadable(error) && onUnreadable === "block") throw new UnreadableLink(path);
    return undefined;
  }
}

/**
 * Entries a hook looks at below the directories one call's programs walk through links: past
 * them the hook cannot tell what the call reaches in the time it has, and blocks the call.
 */
export const MAX_WALKED_ENTRIES = 100_000;

/** Files outside a walked directory that links below it may lead to, per call, before the hook blocks the call. */
export const MAX_WALKED_LINKS = 64;

/**
 * What the links below the directory `root` lead to outside it, as a program that walks it and
 * follows every link does (`grep -R`): each link's real path, and the links below where a link
 * led to a directory in turn (each directory walked once, as the programs detect loops). A link
 * that leads inside `root` reaches what the walk reaches anyway; one that leads nowhere yet is
 * reported too (the call may make what it names). null when `root`'s walk passes
 * `budget.entries`; a directory this user cannot read is as `options.unreadable` says.
 */
function linksBelow(root: string, budget: { entries: number }, options: ReadOptions): { link: string; real: string }[] | null {
  const reached: { link: string; real: string }[] = [];
  const walked = new Set<string>();
  const pending = [root];
  while (pending.length > 0) {
    const directory = pending.pop() as string;
    if (walked.has(directory)) continue;
    walked.add(directory);
    let entries: Dirent[];
    try {
      entries = readdirSync(directory, { withFileTypes: true });
    } catch (error) {
      if (unreadable(error) && options.unreadable !== "skip") throw new UnreadableLink(directory);
      continue;
    }
    if ((budget.entries -= entries.length) < 0) return null;
    for (const entry of entries) {
      const path = posix.join(directory, entry.name);
      // Some file systems do not say an entry's type in the listing: ask for it.
      const known = entry.isFile() || entry.isDirectory() || entry.isSymbolicLink() ? entry : lstatOrNull(path);
      if (known?.isDirectory()) pending.push(path);
      if (!known?.isSymbolicLink()) continue;
      const real = realPath(path, true, options);
      // A link that loops: the program skips it, reaching nothing.
      if (real === null) continue;
      if (!within(real, root, true)) reached.push({ link: path, real });
      if (isDirectory(real)) pending.push(real);
    }
  }
  return reached;
}

function lstatOrNull(path: string) {
  try {
    return lstatSync(path);
  } catch {
    return null;
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

type FileAction = "file.read" | "file.write" | "file.delete";
const FILE_ACTIONS: ReadonlySet<string> = new Set(["file.read", "file.write", "file.delete"]);

/**
 * The decisions a call needs for the files its paths lead to through links: for each path of a
 * file action the call plans and each path Warden derived from its command lines, a file action
 * of the same kind on each real path that is not the path Warden judged; a write keeps its
 * content's hash, and `through` names the path it came from. A path is followed twice where it
 * holds a `..`: as named, since the kernel takes each `..` from where the links before it led,
 * and as Warden read it, `..` resolved as text first, as a shell's `cd` and Claude Code's own
 * path handling do. A derived path marked `follows_links_below` has the links below it followed
 * too (`through` then names the link found there). `blocked` says why the call cannot be judged
 * when it cannot: links that loop (what the call reaches cannot be told), or a walk past
 * `limits.entries` entries or `limits.links` links leading out.
 */
export function reachedThroughLinks(
  planned: readonly PlannedAction[],
  decisions: readonly DecisionResponse[],
  limits: { entries: number; links: number } = { entries: MAX_WALKED_ENTRIES, links: MAX_WALKED_LINKS },
): { linked: PlannedAction[]; blocked: string | null } {
  const seen = new Set<string>();
  const linked: PlannedAction[] = [];
  let blocked: string | null = null;
  const budget = { entries: limits.entries };
  let walkedLinks = 0;
  /** Adds the decision of `real`, unless the call already has it; true when added. */
  const add = (type: FileAction, real: string, inputs: string | undefined, through: string): boolean => {
    if (seen.has(`${type} ${real}`)) return false;
    seen.add(`${type} ${real}`);
    linked.push({ ...fileAction(type, [real], inputs), through });
    return true;
  };
  // A directory this user cannot read blocks a call that can change permissions first; otherwise it hides nothing the agent could reach.
  const read: ReadOptions = { unreadable: planned.some((plan) => plan.action.targets.some((target) => target.kind === "command" && PERMISSION_CHANGERS.test(target.value))) ? "block" : "skip" };
  /** The real paths `named` leads to (once or twice, see above), each decided where it is not the path judged; `visit` sees the paths on the way. */
  const reach = (type: FileAction, named: string, inputs: string | undefined, visit?: (path: string) => void): string[] => {
    const judged = posix.resolve(named);
    const reals: string[] = [];
    let found: (string | null)[];
    try {
      found = [realPath(named, type !== "file.delete", { ...read, visit }), realPath(judged, type !== "file.delete", { ...read, visit })];
    } catch (error) {
      if (!(error instanceof UnreadableLink)) throw error;
      blocked ??= `${named} leads through ${error.path}, which this user cannot read; which file the call would reach cannot be told`;
      return [];
    }
    for (const real of new Set(found)) {
      if (real === null) {
        blocked ??= `${named} leads through symbolic links that loop; which file the call would reach cannot be told`;
        continue;
      }
      reals.push(real);
      if (real !== judged) add(type, real, inputs, named);
    }
    return reals;
  };
  const walk = (type: FileAction, root: string, named: string, check?: (real: string) => void, visit?: (path: string) => void) => {
    let below: { link: string; real: string }[] | null;
    try {
      below = linksBelow(root, budget, { ...read, visit });
    } catch (error) {
      if (!(error instanceof UnreadableLink)) throw error;
      blocked ??= `${named} is walked through the symbolic links below it, and ${error.path} cannot be read by this user; which files the call would reach cannot be told`;
      return;
    }
    if (below === null) {
      blocked ??= `${named} is walked through the symbolic links below it, and holds more than ${limits.entries} entries to look at; name a narrower path, or leave out the option that follows links`;
      return;
    }
    for (const { link, real } of below) {
      check?.(real);
      if (add(type, real, undefined, link) && (walkedLinks += 1) > limits.links) {
        blocked ??= `more than ${limits.links} symbolic links below ${named} lead out of it; name a narrower path, or leave out the option that follows links`;
        return;
      }
    }
  };
  // Where the call's lines can make links (`tar -x -C out`), wherever the device's links put it:
  // the place as named, and where it leads when it is a link itself (`dst -> sub`; `cp -r pkg dst`).
  const makers = decisions.flatMap((decision) =>
    (decision?.derived ?? []).flatMap((derived) => {
      const named = derived.named ?? derived.value;
      if (derived.makes_links !== true || derived.kind !== "path" || named === undefined) return [];
      const forms = [named, posix.resolve(named)].flatMap((form) => [readablePath(form, true, read), readablePath(form, false, read), posix.resolve(form)]);
      return [...new Set(forms.filter((form): form is string => form !== null))].map((real) => ({ real, named }));
    }),
  );
  /** Blocks the call when `path` is below where a maker makes links, or (`walked`) holds such a place. */
  const clearOfMakers = (path: string, named: string, walked: boolean) => {
    const maker = makers.find((each) => within(path, each.real, false) || (walked && within(each.real, path, true)));
    if (maker !== undefined) blocked ??= `${named} leads to ${maker.named}, where another command of the line can make symbolic links, through the links on its way; run that command in a call of its own first`;
  };
  planned.forEach((plan, index) => {
    const { type, targets, inputs_sha256: inputs } = plan.action;
    if (FILE_ACTIONS.has(type)) for (const target of targets) if (target.kind === "path") reach(type as FileAction, target.value, inputs);
    for (const derived of decisions[index]?.derived ?? []) {
      const named = derived.named ?? derived.value;
      if (derived.kind !== "path" || named === undefined || derived.action === "http.request") continue;
      const walked = derived.follows_links_below === true;
      const checked = derived.after_links_made === true;
      // Every path the kernel passes through on the way, a component not there yet included (`lnk -> out/g/../../k`).
      const onTheWay = checked ? (path: string) => clearOfMakers(path, named, false) : undefined;
      const reals = reach(derived.action, named, undefined, onTheWay);
      if (checked) for (const real of reals) clearOfMakers(real, named, walked);
      if (walked) for (const root of reals) if (isDirectory(root)) walk(derived.action, root, named, checked ? (real) => clearOfMakers(real, named, true) : undefined, onTheWay);
    }
  });
  return { linked, blocked };
}

/** Programs that can make a directory this user cannot read readable before the call reads it. */
const PERMISSION_CHANGERS = /(?:^|[\s;&|(`/])(?:chmod|chown|chgrp|chattr|setfacl|sudo|doas|su|pkexec|runuser|setpriv|install)(?=[\s;&|)`]|$)/;

/** `path` below `directory`, or (with `self`) `directory` itself; case folded where the file system folds it (macOS). */
function within(path: string, directory: string, self: boolean): boolean {
  const [inside, outer] = process.platform === "darwin" ? [path.toLowerCase(), directory.toLowerCase()] : [path, directory];
  return (self && inside === outer) || inside.startsWith(outer.endsWith("/") ? outer : `${outer}/`);
}

/** The real path, or null when it cannot be told (links that loop, a directory this user cannot read). */
function readablePath(path: string, followLast: boolean, options: ReadOptions): string | null {
  try {
    return realPath(path, followLast, options);
  } catch (error) {
    if (error instanceof UnreadableLink) return null;
    throw error;
  }
}
