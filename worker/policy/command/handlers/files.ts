/**
 * Programs that create, unpack and rewrite files: patch, dd, tar, zip, unzip.
 * Each handler is referenced from one row of programs.ts, whose comment says what it stops.
 */
import type { Invocation } from "../invocation.ts";
import { literal, type ParseContext, type Word } from "../model.ts";
import { parseOptions, type Effect, type OptionSpec, type ParsedArgs } from "../options.ts";
import { resolvePath, splitRemote } from "../paths.ts";
import { all, applyOperands, plain, R, SPAWN_PROGRAM, W, type ProgramRow } from "../rows.ts";
import { lastMarked, lastOption, operandWords, spawnCode } from "./common.ts";


export function patch(invocation: Invocation, row: ProgramRow): void {
  const parsed = invocation.options(row.options ?? {});
  const words = operandWords(parsed);
  // `patch FILE PATCHFILE`; without FILE the patch names the files, under the directory (git-style patches can make symbolic links there).
  const original = words[0];
  if (original !== undefined) {
    // FILE is read, and patched in place unless -o writes the result elsewhere; beside it patch
    // leaves FILE.orig (a backup, or when the patch does not match exactly) and FILE.rej (hunks that failed, unless -r).
    invocation.target("read", original);
    if (lastOption(parsed, "-o", "--output") === undefined) invocation.target("write", original);
    const suffix = lastOption(parsed, "-z", "--suffix")?.value ?? literal(".orig");
    const prefixed = lastOption(parsed, "-B", "--prefix", "-Y", "--basename-prefix", "-V", "--version-control") !== undefined;
    if (original.unknown !== null || suffix.unknown !== null || prefixed) invocation.pending({ action: "file.write", kind: "path", unresolved: "expansion", raw: `${original.text}${suffix.text}` });
    else invocation.target("write", literal(`${original.text}${suffix.text}`));
    if (lastOption(parsed, "-r", "--reject-file") === undefined && original.unknown === null) invocation.target("write", literal(`${original.text}.rej`));
  } else invocation.workingDirectory("file.write", { makesLinks: true });
  if (words[1] !== undefined) invocation.target("read", words[1]);
}

export function dd(invocation: Invocation): void {
  for (const word of invocation.args) {
    if (word.unknown !== null) {
      // `dd $x` may be `of=/dev/sda`.
      invocation.opaque();
      continue;
    }
    const match = /^(if|of)=(.*)$/s.exec(word.text);
    if (match === null) continue;
    invocation.target(match[1] === "if" ? "read" : "write", literal(match[2] ?? ""));
  }
}

const TAR_VALUES: Record<string, Effect> = {
  ...all({ marker: "archive" }, "-f", "--file"),
  ...all({ chdir: true }, "-C", "--directory"),
  ...all({ marker: "files-from", target: ["read"] }, "-T", "--files-from"),
  ...all(R, "-X", "--exclude-from", "--add-file", "--exclude-ignore", "--exclude-ignore-recursive", "--exclude-tag", "--exclude-tag-all", "--exclude-tag-under", "--group-map", "--owner-map"),
  // The snapshot and volume-number files are read and then updated; the index is written.
  ...all({ target: ["read", "write"] }, "-g", "--listed-incremental", "--volno-file"),
  ...all(W, "--index-file"),
  ...all(SPAWN_PROGRAM, "-I", "--use-compress-program", "--rsh-command", "--rmt-command"),
  ...all({ spawn: "shell" }, "--to-command", "-F", "--info-script", "--new-volume-script"),
  // A date that begins with `/` or `.` is a file whose times are taken (`--mtime=./ref`).
  ...all({ marker: "date-or-file" }, "-N", "--newer", "--after-date", "--mtime", "--newer-mtime"),
  ...plain("-b", "--blocking-factor", "-H", "--format", "-K", "--starting-file", "-L", "--tape-length", "--exclude", "--owner", "--group", "--mode", "--strip-components", "--transform", "--xform", "--label", "-V", "--suffix", "--record-size", "--sort", "--warning", "--quoting-style"),
};
// bsdtar's -L and -H are switches (links followed), GNU tar's a tape length and a format.
const BSDTAR_VALUES: Record<string, Effect> = Object.fromEntries(Object.entries(TAR_VALUES).filter(([name]) => name !== "-L" && name !== "-H"));
const TAR_MODES: Readonly<Record<string, "create" | "extract" | "list">> = {
  "-c": "create", "--create": "create", "-r": "create", "--append": "create", "-u": "create", "--update": "create", "-A": "create", "--catenate": "create", "--concatenate": "create",
  "-x": "extract", "--extract": "extract", "--get": "extract",
  "-t": "list", "--list": "list", "-d": "list", "--diff": "list", "--compare": "list", "--delete": "create", "--test-label": "list",
};
export function tar(invocation: Invocation): void {
  let args = [...invocation.args];
  // bsdtar (macOS's tar): -L and -h follow every link, -H those named; GNU tar's -L is a tape length, its -H a format.
  const bsd = invocation.program === "bsdtar" || (invocation.ctx.os === "macos" && invocation.program !== "gtar");
  const values = bsd ? BSDTAR_VALUES : TAR_VALUES;
  // Old-style bundled letters: `tar xzf a.tgz` is `tar -x -z -f a.tgz`.
  const first = args[0];
  if (first !== undefined && first.unknown === null && /^[A-Za-z]+$/.test(first.text)) {
    const letters = first.text.split("");
    const expanded: Word[] = [];
    let next = 1;
    for (const letter of letters) {
      expanded.push(literal(`-${letter}`));
      if (values[`-${letter}`] !== undefined && args[next] !== undefined) {
        expanded.push(args[next] as Word);
        next += 1;
      }
    }
    args = [...expanded, ...args.slice(next)];
  }
  const spec: OptionSpec = {
    values,
    switches: {
      ...(bsd ? all({ marker: "follows-links" }, "-L") : {}),
      ...Object.fromEntries(Object.keys(TAR_MODES).map((name) => [name, { marker: `mode:${TAR_MODES[name] ?? ""}` }])),
      ...all({ marker: "stdout" }, "-O", "--to-stdout"),
      ...all({ marker: "remove" }, "--remove-files"),
      ...all({ marker: "force-local" }, "--force-local"),
      // Archives what the links below the members lead to instead of the links.
      ...all({ marker: "follows-links" }, "-h", "--dereference"),
      // -P keeps the leading `/` of members' names: extraction writes, and makes links, anywhere.
      ...all({ marker: "absolute" }, "-P", "--absolute-names"),
    },
    // Optional values, only ever attached (`--backup=numbered`).
    attached: { "--checkpoint-action": {}, ...plain("--checkpoint", "--backup", "--occurrence") },
  };
  const original = invocation.ctx;
  const parsed = invocation.options(spec, args);
  for (const option of parsed.options) {
    // Read when tar reads its options, before any -C.
    if (option.effect?.marker === "date-or-file" && option.value !== null && /^[/.]/.test(option.value.text)) invocation.target("read", option.value, original);
    // --checkpoint-action=exec=CMD runs CMD through sh.
    if (option.name === "--checkpoint-action" && option.value !== null && option.value.text.startsWith("exec=")) {
      spawnCode(invocation, { text: option.value.text.slice(5), unknown: option.value.unknown });
    }
  }
  const mode = parsed.markers.has("mode:extract") ? "extract" : parsed.markers.has("mode:create") ? "create" : parsed.markers.has("mode:list") ? "list" : null;
  if (mode === null) invocation.opaque();
  // -T names the files to archive; extracting or listing, the members to take (inside what is written).
  const list = parsed.options.find((option) => option.effect?.marker === "files-from");
  if (mode === "create" && list !== undefined) invocation.pending({ action: "file.read", kind: "path", unresolved: "stdin", raw: list.value?.text ?? "-" });
  for (const option of parsed.options) {
    if (option.name !== "-f" && option.name !== "--file") continue;
    const archive = option.value;
    if (archive === null) continue;
    // `host:path` archives go through rsh/ssh unless --force-local.
    if (archive.unknown === null && !parsed.markers.has("force-local") && "remote" in splitRemote(archive.text, original)) {
      invocation.target("remote", archive, original);
      continue;
    }
    invocation.target(mode === "create" ? "write" : "read", archive, original);
  }
  const members = operandWords(parsed);
  if (mode === "create") {
    for (const member of members) {
      invocation.target("read", member, undefined, { followsLinksBelow: parsed.markers.has("follows-links") });
      if (parsed.markers.has("remove")) invocation.target("delete", member);
    }
  } else if (mode === "extract" && !parsed.markers.has("stdout")) {
    // Extraction writes where -C pointed (or the working directory), and through a link to a
    // directory already there that a member's path names (GNU tar keeps it for a member with no directory entry).
    invocation.workingDirectory("file.write", { followsLinksBelow: true, makesLinks: true });
    if (parsed.markers.has("absolute") && invocation.ctx.os !== "windows") {
      invocation.pending({ action: "file.write", kind: "path", value: "/" });
      invocation.makesLinksAnywhere();
    }
  }
}

/**
 * ln: each source is read (a hard link is one more name of that file; a symbolic one, one more
 * way to it) and the last operand, or -t's directory, written. A symbolic link stores a relative
 * target as text, which the kernel resolves from the link's own directory, not from where ln ran:
 * `ln -s ../.ssh sub/k` makes sub/k lead to ./.ssh. So with -s a relative source is read from the
 * link's directory — the destination's parent, and the destination itself, which is where the
 * link goes should it be a directory (the line cannot say).
 */
export function ln(invocation: Invocation, row: ProgramRow): void {
  const parsed = invocation.options(row.options ?? {});
  const words = operandWords(parsed);
  const intoDirectory = parsed.options.find((option) => option.effect?.marker === "dest")?.value ?? null;
  const dest = intoDirectory === null && words.length >= 2 ? words[words.length - 1] : undefined;
  const sources = dest === undefined ? words : words.slice(0, -1);
  const symbolic = parsed.markers.has("symbolic");
  if (dest !== undefined) invocation.target("write", dest, undefined, { makesLinks: symbolic });
  if (intoDirectory !== null && symbolic) invocation.target("write", intoDirectory, undefined, { makesLinks: true });
  const directories = symbolic && invocation.ctx.os !== "windows" ? linkDirectories(invocation.ctx, intoDirectory, dest) : [];
  const linkedAt = intoDirectory ?? dest;
  if (linkedAt !== undefined) backups(invocation, parsed, destinationsOf(linkedAt, sources).slice(intoDirectory !== null ? 1 : 0));
  for (const source of sources) {
    const from = source.unknown === null && !source.text.startsWith("/") ? directories : [];
    // Not known where the link goes (an expansion, another working directory): read from here as well as anything can be.
    if (from === null || from.length === 0 || invocation.ctx.otherCwds.length > 0) invocation.target("read", source);
    for (const directory of from ?? []) invocation.target("read", source, { ...invocation.ctx, cwd: directory, otherCwds: [] });
  }
}

/** The directories a symbolic link made by ln can be in: none to add for one made here, null when not known. */
function linkDirectories(ctx: ParseContext, intoDirectory: Word | null, dest: Word | undefined): string[] | null {
  const named = intoDirectory ?? dest;
  // One operand: the link is made in the working directory, where the source already resolves.
  if (named === undefined) return [];
  if (named.unknown !== null || ctx.cwd === null) return null;
  const absolute = named.text.startsWith("/") ? named.text : `${ctx.cwd}/${named.text}`;
  const parent = absolute.replace(/\/+$/, "").replace(/\/[^/]*$/, "") || "/";
  return intoDirectory !== null ? [absolute] : [parent, absolute];
}

/**
 * zip: the archive written, the other operands read. Recursing (-r, -R), zip stores what the
 * links below them lead to unless -y (--symlinks) stores the links themselves. zip takes
 * clustered letters (`-rq`, `-ry`, `-rm`) that the row's single-dash options do not split: a
 * cluster with an r or R recurses, and one with a y (stores links) or an m (deletes what it
 * archived) before any letter that takes a value does so.
 */
export function zip(invocation: Invocation, row: ProgramRow): void {
  const parsed = invocation.options(row.options ?? {});
  const words = operandWords(parsed);
  const clusters = parsed.options.filter((option) => option.effect === null).map((option) => option.name.slice(1)).filter((letters) => /^[A-Za-z0-9]+$/.test(letters));
  const inCluster = (letters: RegExp) => clusters.some((cluster) => letters.test(cluster));
  const named = (name: string) => parsed.options.some((option) => option.name === name);
  // A letter that takes a value inside a cluster (`-rTT cmd`, `-rb dir`) takes the next word: not followed here.
  if (inCluster(/[bintxOPsZ]|TT/)) invocation.opaque();
  const storesLinks = inCluster(/y/) || named("--symlinks");
  // An archive named without an extension is written as NAME.zip (`-` is standard output); split
  // into pieces (-s), also as NAME.z01, NAME.z02 ….
  const archive = words[0];
  if (archive !== undefined && archive.text !== "-") {
    const written = archive.unknown === null && !/\.[^/]*$/.test(archive.text) ? literal(`${archive.text}.zip`) : archive;
    invocation.target("write", written);
    if (named("-s") || named("--split-size") || inCluster(/s/)) invocation.pending({ action: "file.write", kind: "path", unresolved: "glob", raw: `${written.text.replace(/\.[^./]*$/, "")}.z*` });
  }
  // -@ adds the files named on standard input.
  if (named("-@") || named("--names-stdin") || parsed.options.some((option) => option.effect === null && /^-[A-Za-z0-9@]*@/.test(option.name))) invocation.pending({ action: "file.read", kind: "path", unresolved: "stdin", raw: "-" });
  // -R recurses from the working directory, matching its operands as patterns; one that names a file is added as it is.
  if (inCluster(/R/) || named("--recurse-patterns")) {
    invocation.workingDirectory("file.read", { followsLinksBelow: !storesLinks });
    for (const word of words.slice(1)) if (!/[*?[]/.test(word.text)) invocation.target("read", word);
    return;
  }
  const recurses = inCluster(/r/) || named("--recurse-paths");
  const moves = parsed.markers.has("move") || inCluster(/m/);
  for (const word of words.slice(1)) invocation.target("read", word, undefined, { followsLinksBelow: recurses && !storesLinks });
  if (moves) for (const word of words.slice(1)) invocation.target("delete", word);
}

const UNZIP: OptionSpec = { values: { ...all({ marker: "exdir" }, "-d"), ...plain("-x", "-P", "-O", "-I") }, switches: { ...all({ marker: "no-write" }, "-l", "-t", "-p", "-c", "-v", "-z", "-Z"), ...all({ marker: "anywhere" }, "-:") } };
/** unzip: the archive read; the members written into -d's directory or the working directory, and through the links to directories already there. */
export function unzip(invocation: Invocation): void {
  const parsed = invocation.options(UNZIP);
  const words = operandWords(parsed);
  if (words[0] !== undefined) invocation.target("read", words[0]);
  const exdir = parsed.options.find((option) => option.effect?.marker === "exdir")?.value;
  if (exdir !== undefined && exdir !== null) invocation.target("write", exdir, undefined, { followsLinksBelow: true, makesLinks: true });
  else if (!parsed.markers.has("no-write")) invocation.workingDirectory("file.write", { followsLinksBelow: true, makesLinks: true });
  // -: keeps members' `../`: they are written, and links made, anywhere.
  if (parsed.markers.has("anywhere") && !parsed.markers.has("no-write") && invocation.ctx.os !== "windows") {
    invocation.pending({ action: "file.write", kind: "path", value: "/" });
    invocation.makesLinksAnywhere();
  }
}

// A chmod mode: symbolic (`u+x`, `-w`, `go-rwx,a+X`) or octal (`755`, `-0022`).
const MODE_CLAUSE = "(?:[ugoa]*(?:[-+=](?:[rwxXst]*|[ugo]))+|[-+=]?[0-7]+)";
const MODE = new RegExp(`^${MODE_CLAUSE}(?:,${MODE_CLAUSE})*$`);

/**
 * chmod: `chmod -x f` takes x away from f — a word that reads as a mode is the mode, even with a
 * dash before it (GNU chmod reads it so), not an option. The files after it are written.
 */
export function chmod(invocation: Invocation, row: ProgramRow): void {
  const end = invocation.args.findIndex((word) => word.unknown === null && word.text === "--");
  const modeAt = invocation.args.findIndex((word, index) => (end < 0 || index < end) && word.unknown === null && word.text.startsWith("-") && !word.text.startsWith("--") && MODE.test(word.text));
  const args = modeAt < 0 ? invocation.args : invocation.args.filter((_, index) => index !== modeAt);
  const parsed = invocation.options(row.options ?? {}, args);
  const words = operandWords(parsed);
  const files = modeAt >= 0 || parsed.markers.has("reference") ? words : words.slice(1);
  for (const file of files) invocation.target("write", file, undefined, { followsLinksBelow: parsed.markers.has("follows-links") });
}

/** chattr: `-i`, `+a`, `=e` are attributes to take away, add or set, not options; the files after them are written. */
export function chattr(invocation: Invocation, row: ProgramRow): void {
  const args = invocation.args.filter((word) => word.unknown !== null || !/^[-+=][aAcCdDeijmPsStTuFx]+$/.test(word.text));
  for (const file of operandWords(invocation.options(row.options ?? {}, args))) invocation.target("write", file);
}

/**
 * cp (and install): the table row's sources and destination, and, for each source named as
 * text, `<destination>/<its name>` written as well — where cp writes when the destination is a
 * directory, opening (through a link already there) the file it finds. The line cannot say
 * whether the destination is a directory; a file's `<file>/<name>` is a path nothing reaches.
 */
export function cp(invocation: Invocation, row: ProgramRow): void {
  const parsed = applyOperands(invocation, row);
  if (invocation.ctx.os === "windows") return;
  const recursive = parsed.markers.has("recursive");
  const words = operandWords(parsed);
  const intoDirectory = parsed.options.find((option) => option.effect?.marker === "dest")?.value ?? null;
  if (intoDirectory !== null && (recursive || parsed.markers.has("no-dereference"))) invocation.target("write", intoDirectory, undefined, { makesLinks: true });
  const destination = intoDirectory ?? (words.length >= 2 ? words[words.length - 1] : undefined);
  if (destination === undefined) return;
  // A tree copied into the destination is written through the links below where it lands:
  // dest/<name>, or the destination itself when it takes the contents (`src/.`, -T, a name not known).
  let intoItself = parsed.options.some((option) => option.name === "-T" || option.name === "--no-target-directory") || destination.unknown !== null;
  // With --parents a source lands at dest/<its whole path>, through the links on the way there.
  const parents = parsed.options.some((option) => option.name === "--parents");
  const landed: string[] = [];
  const replaced: Word[] = intoDirectory !== null ? [] : [destination];
  for (const source of intoDirectory !== null ? words : words.slice(0, -1)) {
    // cp copies its sources in turn: one read below where an earlier one landed goes through the links that one brought.
    const from = absolute(source, invocation.ctx);
    if (from !== null && landed.some((place) => from.startsWith(`${place}/`))) invocation.pending({ action: "file.read", kind: "path", unresolved: "links_made", raw: source.text });
    const name = source.unknown === null && destination.unknown === null ? (parents ? source.text.replace(/^(?:\.\/)+/, "") : source.text.replace(/\/+$/, "").split("/").pop()) : undefined;
    if (name === undefined || name === "" || name === "." || name === ".." || name.startsWith("/")) {
      intoItself = true;
      continue;
    }
    const place = literal(`${destination.text.replace(/\/+$/, "")}/${name}`);
    invocation.target("write", place, undefined, { followsLinksBelow: recursive });
    replaced.push(place);
    const at = absolute(place, invocation.ctx);
    if (at !== null && (recursive || parsed.markers.has("no-dereference"))) landed.push(at);
  }
  if (recursive && intoItself) invocation.target("write", destination, undefined, { followsLinksBelow: true });
  backups(invocation, parsed, replaced);
}

/**
 * cp, mv, ln and install with -b or --backup keep each file a destination replaces under a second
 * name: `dest~` (or -S's suffix), or `dest.~N~` when numbered (`--backup=numbered`; by default,
 * or as VERSION_CONTROL says, when numbered backups exist already).
 */
function backups(invocation: Invocation, parsed: ParsedArgs, replaced: readonly Word[]): void {
  const control = lastOption(parsed, "-b", "--backup");
  const suffixOption = lastOption(parsed, "-S", "--suffix");
  // A suffix alone turns backups on too.
  if (control === undefined && suffixOption === undefined) return;
  const mode = backupControl(control?.value?.text ?? "existing");
  if (mode === "none") return;
  // A suffix with a `/` is refused for `~`.
  const given = suffixOption?.value ?? null;
  const suffix = given !== null && given.unknown === null && given.text.includes("/") ? null : given;
  // A destination written with a trailing `/` is a directory: its entries are replaced, not it.
  for (const word of replaced.filter((written) => !written.text.endsWith("/"))) {
    if (word.unknown !== null || (suffix !== null && suffix.unknown !== null)) {
      invocation.pending({ action: "file.write", kind: "path", unresolved: "expansion", raw: `${word.text}${suffix?.text ?? "~"}` });
      continue;
    }
    const base = word.text.replace(/\/+$/, "");
    if (mode !== "numbered") invocation.target("write", literal(`${base}${suffix?.text ?? "~"}`));
    if (mode !== "simple") invocation.pending({ action: "file.write", kind: "path", unresolved: "glob", raw: `${base}.~*~` });
  }
}

type BackupControl = "none" | "numbered" | "simple" | "existing";
const BACKUP_CONTROLS: ReadonlyArray<readonly [string, BackupControl]> = [
  ["none", "none"], ["off", "none"], ["numbered", "numbered"], ["t", "numbered"], ["existing", "existing"], ["nil", "existing"], ["simple", "simple"], ["never", "simple"],
];

/** --backup's CONTROL, spelled in full or by a unique prefix (argmatch); anything else is refused, read here as existing. */
function backupControl(text: string): BackupControl {
  const exact = BACKUP_CONTROLS.find(([name]) => name === text);
  const prefixed = BACKUP_CONTROLS.filter(([name]) => text !== "" && name.startsWith(text));
  const meanings = new Set(prefixed.map(([, meaning]) => meaning));
  return exact?.[1] ?? (meanings.size === 1 ? (prefixed[0]?.[1] ?? "existing") : "existing");
}

/** Where a destination operand puts each source: itself, and `dest/<name>` should it be a directory. */
function destinationsOf(dest: Word, sources: readonly Word[]): Word[] {
  const names = sources.flatMap((source) => (source.unknown === null && dest.unknown === null ? [source.text.replace(/\/+$/, "").split("/").pop() ?? ""] : []));
  return [dest, ...names.filter((name) => name !== "" && name !== "." && name !== "..").map((name) => literal(`${dest.text.replace(/\/+$/, "")}/${name}`))];
}

/** A word's absolute path in the line's working directory, `.` segments and trailing `/` dropped; null when not known. */
function absolute(word: Word, ctx: ParseContext): string | null {
  const resolved = resolvePath(word, ctx);
  if (resolved === null || !("value" in resolved)) return null;
  return resolved.value.replace(/\/\.(?=\/|$)/g, "").replace(/\/+$/, "") || "/";
}

/**
 * Each compressor's family: the suffix it appends, by the format it writes, and the names it
 * takes off when it decompresses (`.tgz` becomes `.tar`), with what bzip2 writes for a name it
 * does not know.
 */
interface CompressorFamily {
  suffixes: Readonly<Record<string, string>>;
  format: string;
  strips: ReadonlyArray<readonly [from: string, to: string]>;
  /** gzip matches its suffixes in any case (`k.GZ`). */
  caseless?: boolean;
  unknown?: string;
}
const GZIP_STRIPS = [[".gz", ""], ["-gz", ""], [".z", ""], ["-z", ""], ["_z", ""], [".tgz", ".tar"], [".taz", ".tar"]] as const;
const XZ_STRIPS = [[".xz", ""], [".lzma", ""], [".lz", ""], [".txz", ".tar"], [".tlz", ".tar"]] as const;
const COMPRESSOR_FAMILIES: Readonly<Record<string, CompressorFamily>> = {
  gzip: { suffixes: { gzip: ".gz" }, format: "gzip", strips: GZIP_STRIPS, caseless: true },
  bzip2: { suffixes: { bzip2: ".bz2" }, format: "bzip2", strips: [[".bz2", ""], [".bz", ""], [".tbz2", ".tar"], [".tbz", ".tar"]], unknown: ".out" },
  xz: { suffixes: { xz: ".xz", auto: ".xz", lzma: ".lzma", alone: ".lzma" }, format: "xz", strips: XZ_STRIPS },
  lzma: { suffixes: { xz: ".xz", auto: ".xz", lzma: ".lzma", alone: ".lzma" }, format: "lzma", strips: XZ_STRIPS },
  // zstd also decompresses the other formats it was built with.
  zstd: { suffixes: { zstd: ".zst", gzip: ".gz", xz: ".xz", lzma: ".lzma", lz4: ".lz4" }, format: "zstd", strips: [[".zst", ""], [".zstd", ""], [".tzst", ".tar"], [".tlz4", ".tar"], ...GZIP_STRIPS, ...XZ_STRIPS, [".lz4", ""]] },
  lz4: { suffixes: { lz4: ".lz4" }, format: "lz4", strips: [[".lz4", ""]] },
  brotli: { suffixes: { brotli: ".br" }, format: "brotli", strips: [[".br", ""]] },
  // Debian's compress and uncompress are gzip's (ncompress's read .Z only).
  compress: { suffixes: { compress: ".Z" }, format: "compress", strips: [[".Z", ""], ...GZIP_STRIPS], caseless: true },
};
const FAMILY_OF: Readonly<Record<string, { family: string; decompress: boolean }>> = {
  gzip: { family: "gzip", decompress: false }, gunzip: { family: "gzip", decompress: true },
  bzip2: { family: "bzip2", decompress: false }, bunzip2: { family: "bzip2", decompress: true },
  xz: { family: "xz", decompress: false }, unxz: { family: "xz", decompress: true },
  lzma: { family: "lzma", decompress: false }, unlzma: { family: "lzma", decompress: true },
  zstd: { family: "zstd", decompress: false }, unzstd: { family: "zstd", decompress: true },
  lz4: { family: "lz4", decompress: false }, unlz4: { family: "lz4", decompress: true },
  brotli: { family: "brotli", decompress: false },
  compress: { family: "compress", decompress: false }, uncompress: { family: "compress", decompress: true },
};

/**
 * The names a compressor can write for `name` (none when it refuses it). Decompressing, every
 * suffix the name ends with is a candidate, -S's among them: which one a program tries first
 * differs (gzip puts a built-in suffix that ends with -S's first, xz tries -S's last).
 */
function compressedNames(name: string, family: CompressorFamily, decompress: boolean, suffix: string | null, format: string): string[] {
  if (!decompress) {
    const appended = suffix ?? family.suffixes[format];
    return appended === undefined ? [] : [`${name}${appended}`];
  }
  const fold = (text: string) => (family.caseless === true ? text.toLowerCase() : text);
  const strips: ReadonlyArray<readonly [string, string]> = suffix === null ? family.strips : [...family.strips, [suffix, ""]];
  const names = strips.flatMap(([from, to]) => (name.length > from.length && fold(name).endsWith(fold(from)) && !name.endsWith(`/${from}`) ? [`${name.slice(0, -from.length)}${to}`] : []));
  if (names.length === 0 && family.unknown !== undefined) names.push(`${name}${family.unknown}`);
  return [...new Set(names)];
}

/**
 * gzip and its kin replace each file with a copy beside it under a name of their making:
 * `x` → `x.gz`, and decompressing `x.gz` → `x` (the row reads and writes the file itself).
 * Nothing is written beside it with -c, -l or -t, or where -o (or zstd's --output-dir-*) names
 * the output; with gzip's -N the name comes from inside the archive.
 */
export function compressor(invocation: Invocation, row: ProgramRow): void {
  const parsed = applyOperands(invocation, row);
  const { markers } = parsed;
  // xz --files without a list reads the names on standard input.
  if (parsed.options.some((option) => option.effect?.names !== undefined && option.value === null)) invocation.pending({ action: "file.write", kind: "path", unresolved: "stdin", raw: "-" });
  if (markers.has("stdout") || markers.has("output")) return;
  const kind = FAMILY_OF[invocation.program];
  const family = kind === undefined ? undefined : COMPRESSOR_FAMILIES[kind.family];
  if (kind === undefined || family === undefined) return;
  // -z compresses whatever the program is called; lz4 decompresses a `.lz4` file unless told otherwise.
  const decompressing = (word: Word) => !markers.has("compress") && (markers.has("decompress") || kind.decompress || (kind.family === "lz4" && word.text.endsWith(".lz4")));
  const suffixWord = lastMarked(parsed, "suffix")?.value ?? null;
  const formatWord = lastMarked(parsed, "format")?.value ?? null;
  for (const word of operandWords(parsed)) {
    if (word.unknown !== null || word.text === "-") continue;
    const decompresses = decompressing(word);
    if (decompresses && markers.has("stored-name")) {
      invocation.opaque();
      return;
    }
    if (suffixWord?.unknown || formatWord?.unknown) {
      invocation.pending({ action: "file.write", kind: "path", unresolved: "expansion", raw: `${word.text}${suffixWord?.text ?? ""}` });
      continue;
    }
    for (const output of compressedNames(word.text, family, decompresses, suffixWord?.text ?? null, formatWord?.text.toLowerCase() ?? family.format)) invocation.target("write", literal(output));
  }
}

/** split (and csplit) write their pieces as PREFIX followed by suffixes of their making: names no policy can match exactly. */
export function split(invocation: Invocation, row: ProgramRow): void {
  const parsed = invocation.options(row.options ?? {});
  const words = operandWords(parsed);
  const input = words[0];
  if (input !== undefined && input.text !== "-") invocation.target("read", input);
  const prefix = invocation.program === "csplit" ? (parsed.options.find((option) => option.name === "-f" || option.name === "--prefix")?.value ?? null) : (words[1] ?? null);
  invocation.pending({ action: "file.write", kind: "path", unresolved: "glob", raw: `${prefix?.text ?? "x"}*` });
}

/** The checksum tools read their operands; with -c each is a list, and the files it names are read too. */
export function checksums(invocation: Invocation, row: ProgramRow): void {
  const parsed = applyOperands(invocation, { options: row.options ?? {}, operands: { each: ["read"] } });
  if (!parsed.markers.has("check")) return;
  const lists = operandWords(parsed);
  for (const list of lists.length > 0 ? lists : [literal("-")]) invocation.pending({ action: "file.read", kind: "path", unresolved: "stdin", raw: list.text });
}

/**
 * mktemp makes a file (or, with -d, a directory) of a random name: in -p's directory, in $TMPDIR
 * with -t, --tmpdir or no template, otherwise where the template says. The write is judged as one
 * to that directory, since the name is not known before it runs.
 */
export function mktemp(invocation: Invocation, row: ProgramRow): void {
  const parsed = invocation.options(row.options ?? {});
  if (parsed.markers.has("dry-run")) return;
  const template = operandWords(parsed)[0];
  const dirOption = parsed.options.find((option) => option.effect?.marker === "dir");
  const inTmpdir = template === undefined || parsed.markers.has("tmpdir") || (dirOption !== undefined && dirOption.value === null);
  // A template with a `/` is a path below -p's directory (`mktemp -p . ../x/kXXX`).
  const below = template !== undefined && template.unknown === null && template.text.includes("/") ? template.text.slice(0, template.text.lastIndexOf("/")) : null;
  if (dirOption?.value) {
    invocation.target("write", below === null || dirOption.value.unknown !== null ? dirOption.value : literal(`${dirOption.value.text.replace(/\/+$/, "")}/${below}`));
  } else if (inTmpdir) {
    // $TMPDIR is /tmp unless the environment says otherwise; macOS gives each user a directory of its own.
    if (invocation.ctx.os === "linux") invocation.pending({ action: "file.write", kind: "path", value: "/tmp" });
    else invocation.pending({ action: "file.write", kind: "path", unresolved: "expansion", raw: "$TMPDIR" });
  } else if (template.unknown !== null) {
    invocation.target("write", template);
  } else {
    const slash = template.text.lastIndexOf("/");
    if (slash < 0) invocation.workingDirectory("file.write");
    else invocation.target("write", literal(template.text.slice(0, slash) || "/"));
  }
}

/** install: cp's reading of its operands, except that with -d every operand is a directory it makes. */
export function install(invocation: Invocation, row: ProgramRow): void {
  if (parseOptions(invocation.args, row.options ?? {}, false).markers.has("directories")) applyOperands(invocation, { options: row.options ?? {}, operands: { each: ["write"] } });
  else cp(invocation, row);
}

/** mv: the table row's, and with -t, links moved into that directory. */
export function mv(invocation: Invocation, row: ProgramRow): void {
  const parsed = applyOperands(invocation, row);
  const intoDirectory = parsed.options.find((option) => option.effect?.marker === "dest")?.value ?? null;
  if (intoDirectory !== null) invocation.target("write", intoDirectory, undefined, { makesLinks: true });
  const words = operandWords(parsed);
  const dest = intoDirectory ?? (words.length >= 2 ? words[words.length - 1] : undefined);
  if (dest !== undefined) backups(invocation, parsed, destinationsOf(dest, intoDirectory !== null ? words : words.slice(0, -1)).slice(intoDirectory !== null ? 1 : 0));
}

const CPIO: OptionSpec = {
  // An archive named `host:path` is reached through the --rsh-command program (rsh or ssh), unless --force-local.
  values: { ...all({ chdir: true }, "-D", "--directory"), ...all({ marker: "archive" }, "-I", "-O", "-F", "--file"), ...all(SPAWN_PROGRAM, "--rsh-command"), ...plain("-H", "--format", "-R", "--owner", "-E", "--pattern-file", "-M", "--message", "-C", "--io-size", "--block-size") },
  switches: { ...all({ marker: "extract" }, "-i", "--extract"), ...all({ marker: "create" }, "-o", "--create"), ...all({ marker: "pass" }, "-p", "--pass-through"), ...all({ marker: "relative" }, "--no-absolute-filenames"), ...all({ marker: "list" }, "-t", "--list"), ...all({ marker: "force-local" }, "--force-local") },
};
/** cpio: names arrive on stdin; -i extracts where the archive's names say (anywhere, with absolute ones), -p copies into a directory. */
export function cpio(invocation: Invocation): void {
  const original = invocation.ctx;
  const parsed = invocation.options(CPIO);
  const words = operandWords(parsed);
  for (const option of parsed.options) {
    const archive = option.effect?.marker === "archive" ? option.value : null;
    if (archive === null) continue;
    if (archive.unknown === null && !parsed.markers.has("force-local") && "remote" in splitRemote(archive.text, original)) invocation.target("remote", archive, original);
    else invocation.target(option.name === "-O" || (option.name !== "-I" && parsed.markers.has("create")) ? "write" : "read", archive, original);
  }
  if (parsed.markers.has("create") || parsed.markers.has("pass")) invocation.pending({ action: "file.read", kind: "path", unresolved: "stdin", raw: "-" });
  if (parsed.markers.has("pass")) for (const directory of words) invocation.target("write", directory, undefined, { followsLinksBelow: true, makesLinks: true });
  if (!parsed.markers.has("extract") || parsed.markers.has("list")) return;
  invocation.workingDirectory("file.write", { followsLinksBelow: true, makesLinks: true });
  if (parsed.markers.has("relative") || invocation.ctx.os === "windows") return;
  invocation.pending({ action: "file.write", kind: "path", value: "/" });
  invocation.makesLinksAnywhere();
}
