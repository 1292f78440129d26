/**
 * git: global options, aliases and command-valued config keys, remotes, and the subcommands that touch files or run code.
 * Each handler is referenced from one row of programs.ts, whose comment says what it stops.
 */
import type { Invocation } from "../invocation.ts";
import { literal, type ParseContext, type Word } from "../model.ts";
import type { OptionSpec } from "../options.ts";
import { scpLikeUrl, splitRemote } from "../paths.ts";
import { all, CONFIG, plain, R, W } from "../rows.ts";
import { firstOperand, joined, operandWords, spawnArgv, spawnCode, text } from "./common.ts";


const GIT_GLOBAL: OptionSpec = {
  values: {
    ...all({ chdir: true, flags: ["config_overrides"] }, "-C"),
    ...all({ marker: "config", flags: ["config_overrides"] }, "-c"),
    ...all(CONFIG, "--config-env", "--git-dir", "--work-tree", "--namespace", "--super-prefix", "--exec-path", "--attr-source"),
    ...plain("--list-cmds"),
  },
  attached: all(CONFIG, "--exec-path"),
  permute: false,
};

/** Subcommands git itself ships; anything else may be an alias or a git-<name> program on PATH. */
const GIT_SUBCOMMANDS = new Set([
  "add", "am", "annotate", "apply", "archive", "bisect", "blame", "branch", "bundle", "cat-file", "check-attr", "check-ignore", "check-mailmap", "check-ref-format", "checkout", "checkout-index", "cherry", "cherry-pick", "citool", "clean", "clone", "commit", "commit-graph", "commit-tree", "config", "count-objects", "describe", "diff", "diff-files", "diff-index", "diff-tree", "difftool", "fetch", "fetch-pack", "filter-branch", "for-each-ref", "format-patch", "fsck", "gc", "grep", "hash-object", "help", "init", "interpret-trailers", "log", "ls-files", "ls-remote", "ls-tree", "maintenance", "merge", "merge-base", "merge-file", "merge-tree", "mergetool", "mktag", "mktree", "mv", "name-rev", "notes", "prune", "pull", "push", "range-diff", "read-tree", "rebase", "reflog", "remote", "repack", "replace", "request-pull", "rerere", "reset", "restore", "rev-list", "rev-parse", "revert", "rm", "send-email", "shortlog", "show", "show-branch", "show-ref", "sparse-checkout", "stash", "status", "stripspace", "submodule", "switch", "symbolic-ref", "tag", "update-index", "update-ref", "var", "verify-commit", "verify-pack", "verify-tag", "version", "whatchanged", "worktree", "write-tree", "lfs",
]);

// Config keys whose value is a command git runs (git-config(1)): setting one
// from the line turns git into that command.
const GIT_CODE_KEYS = /^(?:core\.(?:pager|sshcommand|editor|fsmonitor|askpass|gitproxy)|sequence\.editor|diff\.external|gpg(?:\.[a-z0-9]+)?\.program|pager\..+|diff\..+\.(?:command|textconv)|merge\..+\.driver|filter\..+\.(?:clean|smudge|process)|uploadpack\.packobjectshook|remote\..+\.(?:uploadpack|receivepack))$/i;
// Keys that change which code or remote git uses without being a command
// themselves: aliases, hooks, credential helpers, transports, URL rewrites, includes.
const GIT_RISKY_KEYS = /^(?:alias\..+|credential(?:\..+)?\.helper|core\.(?:hookspath|worktree)|protocol\..+\.allow|url\..+\.(?:insteadof|pushinsteadof)|include\.path|includeif\..+|https?\.proxy|remote\..+\.(?:proxy|vcs|url|pushurl)|init\.templatedir|safe\.directory)$/i;

function gitKeyIsRisky(key: string): boolean {
  return GIT_CODE_KEYS.test(key) || GIT_RISKY_KEYS.test(key);
}

export function git(invocation: Invocation): void {
  const original = invocation.ctx;
  const global = invocation.options(GIT_GLOBAL, invocation.args, true);
  const configs = new Map<string, Word>();
  for (const option of global.options) {
    if (option.name !== "-c" || option.value === null) continue;
    if (option.value.unknown !== null) {
      invocation.opaque();
      continue;
    }
    const eq = option.value.text.indexOf("=");
    const key = (eq < 0 ? option.value.text : option.value.text.slice(0, eq)).toLowerCase();
    configs.set(key, literal(eq < 0 ? "true" : option.value.text.slice(eq + 1)));
  }
  const first = firstOperand(global);
  if (first === undefined) return;
  if (first.word.unknown !== null) {
    invocation.opaque();
    return;
  }
  const subcommand = first.word.text;
  invocation.setSubcommand(subcommand);
  const rest = invocation.args.slice(first.index + 1);

  for (const [key, value] of configs) {
    // `core.pager=…`, `alias.x=!…`, `credential.helper=!…`: the value is a shell command git runs.
    if (GIT_CODE_KEYS.test(key)) spawnCode(invocation, value);
    else if (value.text.startsWith("!") && (key === `alias.${subcommand.toLowerCase()}` || /^credential(?:\..+)?\.helper$/.test(key))) spawnCode(invocation, literal(value.text.slice(1)));
  }
  if (!GIT_SUBCOMMANDS.has(subcommand)) {
    // An alias (from config the line does not show) or a git-<name> program.
    invocation.flag("config_overrides");
    return;
  }
  gitSubcommand(invocation, subcommand, rest, original);
}

// git's diff machinery (git-diff(1), also parsed by log, show, format-patch and
// difftool), checked against git 2.39: only options that take their value as
// the next word are listed, so an operand is never taken for a value; those
// whose value is optional take it only attached (`-U5`, `--stat=80`, `-M50%`)
// and are listed so that a prefix of theirs does not complete to another.
const GIT_DIFF: OptionSpec = {
  values: {
    ...all(W, "--output"),
    // The order file is read (`-O<orderfile>`).
    ...all(R, "-O"),
    ...plain("-S", "-G", "-I", "--ignore-matching-lines", "--diff-filter", "--diff-algorithm", "--anchored", "--find-object", "--src-prefix", "--dst-prefix", "--line-prefix", "--word-diff-regex", "--inter-hunk-context", "-l", "--skip-to", "--rotate-to"),
    // Revision options (git-rev-list(1)).
    ...plain("-n", "--max-count", "--skip", "--since", "--after", "--until", "--before", "--author", "--committer", "--grep", "--date", "--encoding", "-L", "--decorate-refs", "--decorate-refs-exclude"),
  },
  attached: plain("-U", "--unified", "--stat", "--abbrev", "--color", "--color-moved", "--color-words", "--word-diff", "--relative", "--dirstat", "-X", "-M", "-C", "-B", "--find-renames", "--find-copies", "--break-rewrites", "--submodule", "--ignore-submodules", "--pretty", "--format", "--notes", "--decorate"),
  // --ext-diff runs diff.external; --textconv the diff drivers' textconv commands.
  switches: all({ flags: ["spawns"] }, "--ext-diff", "--textconv"),
};

const GIT_DIFF_SPECS: Readonly<Record<string, OptionSpec>> = {
  difftool: {
    ...GIT_DIFF,
    values: { ...GIT_DIFF.values, ...all({ spawn: "program" }, "-x", "--extcmd", "-t", "--tool") },
    switches: { ...GIT_DIFF.switches, ...all({ flags: ["spawns"] }, "-g", "--gui") },
  },
  "format-patch": { ...GIT_DIFF, values: { ...GIT_DIFF.values, ...all(W, "-o", "--output-directory") } },
};

// git-grep(1): `-f` reads patterns from a file; `-O`/`--open-files-in-pager`
// runs a pager (the configured one when no program is attached) on the matching files.
const GIT_GREP: OptionSpec = {
  values: {
    ...all({ marker: "pattern" }, "-e"),
    ...all({ marker: "pattern", target: ["read"] }, "-f"),
    ...plain("--max-depth", "-A", "--after-context", "-B", "--before-context", "-C", "--context", "--threads", "-m", "--max-count"),
  },
  attached: { ...all({ spawn: "program", flags: ["spawns"] }, "-O", "--open-files-in-pager"), ...plain("--color") },
  switches: all({ flags: ["spawns"] }, "--textconv"),
};

// git-blame(1): `--contents` annotates any file's lines and prints them; `-S`
// and `--ignore-revs-file` read lists of revisions.
const GIT_BLAME: OptionSpec = {
  values: {
    ...all(R, "--contents", "-S", "--ignore-revs-file"),
    ...plain("-L", "--ignore-rev", "--date", "--since", "--after", "--until", "--before", "--max-count", "--skip", "--author", "--committer", "--grep", "--encoding"),
  },
  attached: plain("-C", "-M", "--abbrev"),
};

// clone, fetch, pull, push and ls-remote. Optional values are only ever attached
// (`--rebase=merges`, `--force-with-lease=main`, `-Skey`); -u and -s differ by subcommand (below).
const GIT_REMOTE_OPTIONS: OptionSpec = {
  values: {
    ...all({ flags: ["config_overrides"], spawn: "shell" }, "--upload-pack", "--receive-pack", "--exec"),
    ...all({ marker: "config", flags: ["config_overrides"] }, "-c", "--config"),
    ...all({ target: ["read"], flags: ["config_overrides"] }, "--template", "--reference", "--reference-if-able"),
    ...all({ marker: "separate" }, "--separate-git-dir"),
    ...plain("-b", "--branch", "-o", "--origin", "--depth", "--shallow-since", "--shallow-exclude", "-j", "--jobs", "--filter", "--server-option", "--bundle-uri", "--push-option", "--recurse-submodules-default", "--negotiation-tip", "--refmap", "--deepen", "--ref-format", "-X", "--strategy-option", "--strategy"),
  },
  attached: plain("--force-with-lease", "--rebase", "-r", "--signed", "--gpg-sign", "-S", "--recurse-submodules"),
  switches: plain("-f", "--force", "-t", "--tags", "--all", "--mirror", "--prune", "-p", "-q", "--quiet", "-v", "--verbose", "--dry-run", "-n", "--no-verify", "--bare", "--single-branch", "--no-tags", "--ff-only", "--no-rebase", "--atomic", "--force-if-includes", "--set-upstream", "--shared"),
};
// clone's -u names the upload-pack program (run by a shell), its -s is --shared; pull's -s is --strategy, and -u is a switch elsewhere.
const GIT_CLONE_OPTIONS: OptionSpec = { ...GIT_REMOTE_OPTIONS, values: { ...GIT_REMOTE_OPTIONS.values, ...all({ flags: ["config_overrides"], spawn: "shell" }, "-u") }, switches: { ...GIT_REMOTE_OPTIONS.switches, "-s": {} } };
const GIT_TRANSFER_OPTIONS: OptionSpec = { ...GIT_REMOTE_OPTIONS, values: { ...GIT_REMOTE_OPTIONS.values, "-s": {} }, switches: { ...GIT_REMOTE_OPTIONS.switches, "-u": {} } };

/** Subcommands that write the work tree from what the repository holds, symbolic links included. */
const WORK_TREE_WRITERS = new Set(["checkout", "switch", "pull", "merge", "reset", "stash", "restore", "cherry-pick", "revert", "rebase", "am", "apply", "read-tree", "checkout-index", "worktree", "sparse-checkout", "bisect", "submodule"]);

/**
 * Whether the subcommand can write the work tree — the whole of it, wherever the repository's top
 * is — and so make symbolic links there. Forms that only make a branch, read, or touch the index
 * do not; a word that is not literal may be any form.
 */
function writesWorkTree(subcommand: string, rest: readonly Word[]): boolean {
  if (!WORK_TREE_WRITERS.has(subcommand)) return false;
  if (rest.some((word) => word.unknown !== null)) return true;
  const words = rest.map((word) => word.text);
  const operands = words.filter((word) => !word.startsWith("-"));
  const has = (pattern: RegExp) => words.some((word) => pattern.test(word));
  switch (subcommand) {
    case "checkout":
      return !(has(/^-[bB]$|^--orphan$/) && operands.length <= 1);
    case "switch":
      return !(has(/^-[cC]$|^--(?:create|force-create|orphan)$/) && operands.length <= 1);
    case "reset":
      return has(/^--(?:hard|merge|keep)$/);
    case "stash":
      return !["list", "show", "drop", "clear", "create", "store"].includes(operands[0] ?? "");
    case "restore":
      return !has(/^(?:-S|--staged)$/) || has(/^(?:-W|--worktree)$/);
    case "worktree":
      return operands[0] === "add";
    case "bisect":
      return !["log", "visualize", "view", "terms"].includes(operands[0] ?? "");
    case "submodule":
      return ["update", "add"].includes(operands[0] ?? "");
    case "apply":
      return !has(/^--(?:check|stat|numstat|summary)$/) || has(/^--apply$/);
    default:
      return true;
  }
}

/**
 * A clone with no directory named: git writes the working directory's `<repository's name>`
 * (`…/r.git` → `r`), where its links are made; the working directory itself when the name
 * cannot be read from the line.
 */
export function cloneInto(invocation: Invocation, repository: Word | undefined): void {
  const name = repository?.unknown === null ? /([^/:\\]+?)(?:\.git)?\/*$/.exec(repository.text)?.[1] : undefined;
  if (name === undefined || name === "." || name === "..") {
    invocation.workingDirectory("file.write", { makesLinks: true });
    return;
  }
  invocation.workingDirectory("file.write");
  invocation.target("write", literal(name), undefined, { makesLinks: true });
}

function gitSubcommand(invocation: Invocation, subcommand: string, rest: readonly Word[], original: ParseContext): void {
  if (writesWorkTree(subcommand, rest)) invocation.makesLinksAnywhere();
  switch (subcommand) {
    case "clone": {
      const parsed = invocation.options(GIT_CLONE_OPTIONS, rest);
      const [repository, directory] = operandWords(parsed);
      if (repository !== undefined) gitRemote(invocation, repository, original);
      if (directory !== undefined) invocation.target("write", directory, undefined, { makesLinks: true });
      else cloneInto(invocation, repository);
      return;
    }
    case "fetch":
    case "pull":
    case "push":
    case "ls-remote": {
      const parsed = invocation.options(GIT_TRANSFER_OPTIONS, rest);
      const repository = operandWords(parsed)[0];
      // A remote name resolves through config the line does not show; see docs/commands.md.
      if (repository !== undefined && looksLikeRemoteUrl(repository)) gitRemote(invocation, repository, original);
      return;
    }
    case "remote": {
      const parsed = invocation.options({ values: plain("-t", "-m", "--mirror") }, rest);
      const words = operandWords(parsed);
      const action = text(words[0]);
      if (action === "add" && words[2] !== undefined) gitRemote(invocation, words[2], original);
      if ((action === "set-url" || action === "set-url--add") && words[2] !== undefined) gitRemote(invocation, words[words.length - 1] as Word, original);
      return;
    }
    case "submodule": {
      const parsed = invocation.options({ values: plain("-b", "--branch", "--name", "--reference", "--depth", "-j", "--jobs") }, rest, true);
      const words = operandWords(parsed);
      const action = text(words[0]);
      if (action === "add" && words[1] !== undefined) {
        gitRemote(invocation, words[1], original);
        if (words[2] !== undefined) invocation.target("write", words[2]);
      } else if (action === "foreach") {
        // `git submodule foreach 'cmd'` runs cmd in every submodule through sh.
        const code = words.slice(1).filter((word) => word.text !== "--recursive");
        if (code.length > 0) spawnCode(invocation, joined(code));
      }
      return;
    }
    case "config": {
      const parsed = invocation.options({ values: { ...all({ target: ["write"], marker: "file" }, "-f", "--file"), ...plain("--type", "--default", "--comment", "--blob", "--value") }, switches: all({ marker: "write" }, "--add", "--replace-all", "--unset", "--unset-all", "--rename-section", "--remove-section", "--edit", "-e") }, rest);
      const words = operandWords(parsed);
      const action = text(words[0]);
      const key = action === "set" ? text(words[1]) : action === "unset" ? text(words[1]) : action;
      const writes = parsed.markers.has("write") || action === "set" || action === "unset" || (words.length >= 2 && action !== "get" && action !== "list");
      if (writes && (key === null || gitKeyIsRisky(key))) invocation.flag("config_overrides");
      return;
    }
    case "rebase":
      invocation.options({ values: { ...all({ spawn: "shell" }, "-x", "--exec"), ...plain("--onto", "-s", "--strategy", "-X", "--strategy-option", "-C", "--whitespace") }, attached: plain("-S", "--gpg-sign") }, rest);
      return;
    case "bisect": {
      const words = [...rest];
      if (text(words[0]) === "run" && words.length > 1) spawnArgv(invocation, words.slice(1));
      return;
    }
    case "filter-branch":
      invocation.options({ values: all({ spawn: "shell" }, "--env-filter", "--tree-filter", "--index-filter", "--parent-filter", "--msg-filter", "--commit-filter", "--tag-name-filter") }, rest);
      return;
    case "diff":
    case "difftool":
    case "log":
    case "whatchanged":
    case "show":
    case "format-patch": {
      const parsed = invocation.options(GIT_DIFF_SPECS[subcommand] ?? GIT_DIFF, rest);
      gitPathOperands(invocation, operandWords(parsed));
      if (subcommand === "difftool") invocation.flag("spawns");
      return;
    }
    case "grep": {
      const parsed = invocation.options(GIT_GREP, rest);
      // The pattern comes first unless -e or -f gave it.
      gitPathOperands(invocation, operandWords(parsed).slice(parsed.markers.has("pattern") ? 0 : 1));
      return;
    }
    case "blame":
    case "annotate":
      gitPathOperands(invocation, operandWords(invocation.options(GIT_BLAME, rest)));
      return;
    case "mergetool":
      invocation.options({ values: all({ spawn: "program" }, "-t", "--tool") }, rest);
      invocation.flag("spawns");
      return;
    case "clean": {
      const parsed = invocation.options({ values: plain("-e", "--exclude"), switches: all({ marker: "dry" }, "-n", "--dry-run") }, rest);
      if (parsed.markers.has("dry")) return;
      const paths = operandWords(parsed);
      if (paths.length === 0) invocation.workingDirectory("file.delete");
      for (const path of paths) invocation.target("delete", path);
      return;
    }
    case "rm": {
      const parsed = invocation.options({ values: plain("--pathspec-from-file"), switches: all({ marker: "cached" }, "--cached", "-n", "--dry-run") }, rest);
      if (!parsed.markers.has("cached")) for (const path of operandWords(parsed)) invocation.target("delete", path);
      return;
    }
    case "mv": {
      const words = operandWords(invocation.options({}, rest));
      words.forEach((word, index) => {
        if (index === words.length - 1 && words.length > 1) invocation.target("write", word, undefined, { makesLinks: true });
        else {
          invocation.target("read", word);
          invocation.target("delete", word);
        }
      });
      return;
    }
    case "archive": {
      const parsed = invocation.options({ values: { ...all(W, "-o", "--output"), ...all({ marker: "remote" }, "--remote"), ...all({ spawn: "shell", flags: ["config_overrides"] }, "--exec"), ...all(R, "--add-file"), ...plain("--format", "--prefix", "--add-virtual-file", "--mtime") } }, rest);
      const remoteOption = parsed.options.find((option) => option.name === "--remote");
      if (remoteOption?.value !== undefined && remoteOption.value !== null) gitRemote(invocation, remoteOption.value, original);
      return;
    }
    case "apply":
    case "am": {
      const parsed = invocation.options({ values: plain("-p", "-C", "--whitespace", "--exclude", "--include", "--directory") }, rest);
      for (const patchFile of operandWords(parsed)) invocation.target("read", patchFile);
      invocation.workingDirectory("file.write");
      return;
    }
    default:
      return;
  }
}

/**
 * Revisions and paths of the diff, log and grep families. Git takes an operand
 * that is not a revision as a path, and `git diff` compares two files outside
 * the repository by itself (as under `--no-index`), printing both: every
 * operand is read as the path it would be. A revision such as `HEAD~1` then
 * reads as a file of the working directory, which is harmless.
 */
function gitPathOperands(invocation: Invocation, words: readonly Word[]): void {
  for (const word of words) invocation.target("read", word);
}

function looksLikeRemoteUrl(word: Word): boolean {
  if (word.unknown !== null) return true;
  const t = word.text;
  return t.includes("://") || t.includes("::") || /^[^/]*:/.test(t) || t.startsWith("/") || t.startsWith(".") || t.startsWith("~") || /^[A-Za-z]:[\\/]/.test(t);
}

/**
 * A git remote (git-clone(1) GIT URLS): URLs as written; scp-like `host:path`
 * as ssh; `ext::` runs a command (remote_code, opaque); other `transport::`
 * run git-remote-<transport>; local paths and file:// are reads.
 */
function gitRemote(invocation: Invocation, word: Word, at: ParseContext): void {
  if (word.unknown !== null) {
    invocation.pending({ action: "http.request", kind: "url", unresolved: "expansion", raw: word.text });
    return;
  }
  const t = word.text;
  const helper = /^([A-Za-z][A-Za-z0-9+.-]*)::(.*)$/s.exec(t);
  if (helper !== null) {
    if ((helper[1] ?? "").toLowerCase() === "ext") {
      invocation.flag("remote_code");
      invocation.opaque();
    } else {
      invocation.flag("spawns");
      invocation.pending({ action: "http.request", kind: "url", unresolved: "not_a_url", raw: t });
    }
    return;
  }
  const file = /^file:\/\/(.*)$/i.exec(t);
  if (file !== null) {
    invocation.target("read", literal(file[1] ?? ""), at);
    return;
  }
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(t)) {
    invocation.pending({ action: "http.request", kind: "url", value: t });
    return;
  }
  // scp-like only when there is no slash before the first colon (git-clone(1)).
  if ("remote" in splitRemote(t, at)) {
    invocation.pending({ action: "http.request", kind: "url", ...scpLikeUrl(t) });
    return;
  }
  invocation.target("read", word, at);
}

/** Programs with subcommands and nothing else the table needs to know. */
