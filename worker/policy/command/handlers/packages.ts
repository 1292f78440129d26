/**
 * Package managers and build tools: install specs that fetch code, registry runners (npx, dlx), subcommands.
 * Each handler is referenced from one row of programs.ts, whose comment says what it stops.
 */
import type { Invocation } from "../invocation.ts";
import { literal, type Word } from "../model.ts";
import type { OptionSpec } from "../options.ts";
import { all, CONFIG, plain, R, U } from "../rows.ts";
import { firstOperand, operandWords, packageCommand, spawnArgv, text } from "./common.ts";
import { cloneInto } from "./git.ts";

export function subcommandOnly(invocation: Invocation): void {
  invocation.setSubcommand(invocation.args.find((arg) => arg.unknown === null && !arg.text.startsWith("-"))?.text ?? "");
}

/**
 * gh and glab: `pr checkout` (its alias `co`, glab's `mr checkout`) and `repo fork --clone`
 * write a work tree from what a repository holds, links included; `repo clone REPO [DIR] [-- git
 * flags]` a new one. -R/--repo may come before the subcommand.
 */
const FORGE: OptionSpec = { values: plain("-R", "--repo", "-b", "--branch", "-u", "--upstream-remote-name", "--remote-name"), attached: plain("--clone") };
export function forge(invocation: Invocation): void {
  subcommandOnly(invocation);
  const end = invocation.args.findIndex((arg) => arg.text === "--");
  const words = operandWords(invocation.options(FORGE, end < 0 ? invocation.args : invocation.args.slice(0, end)));
  const [group, action] = [words[0]?.text, words[1]?.text];
  if (group === "co" || ((group === "pr" || group === "mr") && action === "checkout")) invocation.makesLinksAnywhere();
  if (group === "repo" && action === "fork" && invocation.args.some((arg) => /^--clone(?:=true)?$/.test(arg.text))) cloneInto(invocation, words[2]);
  if (group === "repo" && action === "clone") {
    const directory = words[3];
    if (directory !== undefined) invocation.target("write", directory, undefined, { makesLinks: true });
    else cloneInto(invocation, words[2]);
  }
}

// Build tools and CLIs with subcommands: global options skipped; -C/--directory
// and -f/--file change which project runs; the project itself runs code.
const TOOL_GLOBALS: OptionSpec = {
  values: {
    ...all({ chdir: true }, "-C", "--directory", "--cwd"),
    ...all(R, "-f", "--file", "--makefile", "--manifest-path", "--kubeconfig", "--config-file"),
    ...all(CONFIG, "--config", "--context", "--host", "-H"),
    ...plain("-n", "--namespace", "-j", "--jobs", "-o", "--output", "-l", "--selector", "--log-level", "-L", "--profile", "--region", "--project", "-p", "--package", "-Z", "--target", "--features", "--color", "-e", "--env", "-v", "--verbose-level", "-t", "--tag", "-k", "--keyword", "-m", "--marker"),
  },
  permute: false,
};
export function tool(invocation: Invocation): void {
  const parsed = invocation.options(TOOL_GLOBALS, invocation.args, true);
  const first = firstOperand(parsed);
  invocation.setSubcommand(first?.word.unknown === null ? first.word.text : "");
  if (invocation.program === "deno") {
    const rest = first === undefined ? [] : invocation.args.slice(first.index + 1);
    if (first?.word.text === "eval") invocation.flag("inline_code");
    if (first?.word.text === "run" || first?.word.text === "x") {
      // The --allow-* lists are only ever attached (`--allow-net=host`): the word after a bare one is the script.
      const script = operandWords(invocation.options({ values: plain("--config", "-c", "--import-map", "--location", "--seed", "--env-file", "--lock", "--cert", "--inspect-brk"), attached: plain("--allow-read", "--allow-write", "--allow-net", "--allow-env", "--allow-run", "--allow-ffi", "--allow-sys", "--allow-import", "--allow-all", "--deny-read", "--deny-write", "--deny-net", "--deny-env", "--deny-run", "--v8-flags", "-R", "-W", "-N", "-E", "-S", "-I") }, rest, true))[0];
      if (script !== undefined && /^(?:https?|jsr|npm):/.test(script.text)) {
        invocation.flag("remote_code");
        invocation.target("url", script);
      } else if (script !== undefined) invocation.target("read", script);
    }
  }
  if (invocation.program === "go" && first?.word.text === "run") {
    const rest = first === undefined ? [] : invocation.args.slice(first.index + 1);
    // `go run pkg@version` fetches and runs a module.
    if (rest.some((word) => /@/.test(word.text) && !word.text.startsWith("-"))) invocation.flag("remote_code");
  }
  if (invocation.program === "cargo" && first?.word.text === "install" && invocation.args.some((word) => word.text === "--git")) invocation.flag("remote_code");
}

const NPM_GLOBAL: OptionSpec = {
  values: {
    ...all({ chdir: true }, "-C", "--dir", "--prefix", "--cwd"),
    ...all({ target: ["read"], flags: ["config_overrides"] }, "--userconfig", "--globalconfig", "--npmrc"),
    ...all(CONFIG, "--script-shell", "--node-options", "--shell", "--git", "--init-module"),
    ...all({ target: ["url"], flags: ["config_overrides"] }, "--registry"),
    ...all({ marker: "package" }, "-p", "--package"),
    ...all({ spawn: "shell" }, "-c", "--call"),
    ...plain("-w", "--workspace", "--filter", "-F", "--loglevel", "--tag", "--access", "--otp", "--omit", "--include", "--install-strategy", "--cache", "--reporter", "--network-timeout", "--mutex", "--modules-folder", "--scope", "--before"),
  },
  switches: { "--": {}, ...plain("-g", "--global", "-D", "--save-dev", "-E", "--save-exact", "-S", "--save", "-O", "--save-optional", "--no-save", "-y", "--yes", "-f", "--force", "--ignore-scripts", "--legacy-peer-deps", "--frozen-lockfile", "--production", "--prod", "--dev", "--silent", "-s", "-q", "--quiet") },
};
// pnpm's -w is --workspace-root, a switch; npm's and yarn's take a workspace's name.
const PNPM_GLOBAL: OptionSpec = { ...NPM_GLOBAL, values: Object.fromEntries(Object.entries(NPM_GLOBAL.values ?? {}).filter(([name]) => name !== "-w")) };
// Package specs that are not registry names fetch code from elsewhere (npm-install(1) forms).
const NPM_REMOTE_SPEC = /^(?:https?:\/\/|git(?:\+[a-z]+)?:\/\/|git\+|github:|gitlab:|bitbucket:|gist:|ssh:\/\/|file:)|^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+(?:#.*)?$|\.(?:tgz|tar\.gz|tar)$/i;

export function npm(invocation: Invocation): void {
  if (invocation.program === "bun") {
    // `bun -e CODE` / `bun -p CODE` evaluate code.
    const eval_ = invocation.options({ values: all({ marker: "code", flags: ["inline_code"] }, "-e", "--eval", "-p", "--print"), permute: false }, invocation.args, true);
    if (eval_.markers.has("code")) return;
  }
  const spec = invocation.program === "pnpm" ? PNPM_GLOBAL : NPM_GLOBAL;
  const parsed = invocation.options(spec, invocation.args, true);
  const first = firstOperand(parsed);
  if (first === undefined) return;
  if (first.word.unknown !== null) {
    invocation.opaque();
    return;
  }
  const subcommand = first.word.text;
  invocation.setSubcommand(subcommand);
  const rest = invocation.args.slice(first.index + 1);
  const manager = invocation.program;
  const install = ["install", "i", "add", "ci", "update", "up", "upgrade", "isntall", "in", "ins", "inst", "insta", "instal", "isnt", "isnta", "isntal", "link", "ln"].includes(subcommand);
  const runsRemote = (subcommand === "exec" || subcommand === "x") && manager === "npm";
  if (install) {
    const specs = operandWords(invocation.options(spec, rest));
    const list = manager === "yarn" && text(specs[0]) === "global" ? specs.slice(1) : specs;
    for (const spec of list) npmSpec(invocation, spec);
    return;
  }
  if (runsRemote || ["dlx", "create", "init"].includes(subcommand) || (subcommand === "x" && manager === "bun")) {
    // `npm init x` runs create-x from the registry; `npm init` alone only writes package.json.
    if ((subcommand === "init" || subcommand === "create") && rest.filter((word) => !word.text.startsWith("-")).length === 0) return;
    invocation.flag("remote_code");
    const command = operandWords(invocation.options(spec, rest, true));
    if (command.length > 0 && subcommand !== "init" && subcommand !== "create") spawnArgv(invocation, packageCommand(command));
    return;
  }
  if (subcommand === "config" || subcommand === "set") {
    const words = operandWords(invocation.options(spec, rest));
    if (subcommand === "set" || ["set", "edit", "delete", "rm"].includes(text(words[0]) ?? "")) invocation.flag("config_overrides");
    return;
  }
  if (manager === "bun" && subcommand === "run") {
    const script = rest.find((word) => !word.text.startsWith("-"));
    if (script !== undefined && /\.[cm]?[jt]sx?$/.test(script.text)) invocation.target("read", script);
  }
}

function npmSpec(invocation: Invocation, spec: Word): void {
  if (spec.unknown !== null) {
    invocation.flag("remote_code");
    invocation.pending({ action: "http.request", kind: "url", unresolved: "expansion", raw: spec.text });
    return;
  }
  const t = spec.text.replace(/^[^@/]+@(?=(?:https?|git|github|file):)/, "");
  if (!NPM_REMOTE_SPEC.test(t)) return;
  if (/^file:/i.test(t) || /\.(?:tgz|tar\.gz|tar)$/i.test(t) && !/^[a-z+]+:\/\//i.test(t)) {
    invocation.target("read", literal(t.replace(/^file:/i, "")));
    return;
  }
  invocation.flag("remote_code");
  const github = /^(?:github:)?([A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+)(?:#.*)?$/.exec(t);
  if (github !== null && !t.includes("://")) {
    invocation.pending({ action: "http.request", kind: "url", value: `https://github.com/${github[1] ?? ""}` });
    return;
  }
  const url = t.replace(/^git\+/, "");
  if (/^[a-z]+:\/\//i.test(url)) invocation.pending({ action: "http.request", kind: "url", value: url });
  else invocation.pending({ action: "http.request", kind: "url", unresolved: "not_a_url", raw: t });
}

export function npx(invocation: Invocation): void {
  invocation.flag("remote_code");
  const parsed = invocation.options(NPM_GLOBAL, invocation.args, true);
  const command = operandWords(parsed);
  invocation.setSubcommand(text(command[0]) ?? "");
  for (const option of parsed.options) if (option.name === "-p" || option.name === "--package") if (option.value !== null) npmSpec(invocation, option.value);
  if (command.length > 0) spawnArgv(invocation, packageCommand(command));
}

const PIP_OPTIONS: OptionSpec = {
  values: {
    ...all({ target: ["read"] }, "-r", "--requirement", "-c", "--constraint", "--cert", "--client-cert", "--build-constraint"),
    ...all(U, "-i", "--index-url", "--extra-index-url", "--proxy", "--default-index", "--index"),
    ...all({ marker: "find-links" }, "-f", "--find-links"),
    ...all({ marker: "editable" }, "-e", "--editable"),
    ...all({ target: ["write"] }, "-t", "--target", "--prefix", "--root", "--src", "-d", "--dest", "--log", "--report", "-o", "--output-file"),
    ...all({ chdir: true }, "--directory", "--project"),
    ...all(CONFIG, "--config-settings", "-C", "--global-option", "--build-option", "--trusted-host", "--python"),
    ...plain("--platform", "--python-version", "--implementation", "--abi", "--upgrade-strategy", "--progress-bar", "--root-user-action", "--only-binary", "--no-binary", "--timeout", "--retries", "--exists-action", "--extra", "--group", "--with", "-p", "--package"),
  },
  // Listed so that they are never read as the value options they begin (`--upgrade-strategy`, `--prefix`).
  switches: plain("-U", "--upgrade", "--pre", "--user", "--no-deps", "--force-reinstall", "-I", "--ignore-installed", "--no-cache-dir", "-q", "--quiet", "-v", "--verbose", "--dry-run", "--break-system-packages", "--dev"),
};
// pdm's -d is --dev, a switch; pip's takes a directory.
const PDM_OPTIONS: OptionSpec = { ...PIP_OPTIONS, values: Object.fromEntries(Object.entries(PIP_OPTIONS.values ?? {}).filter(([name]) => name !== "-d")), switches: { ...PIP_OPTIONS.switches, "-d": {} } };
export function pip(invocation: Invocation): void {
  let args = [...invocation.args];
  const program = invocation.program;
  // `uv pip install`, `uv tool run`, `pipx run`: the real subcommand is one further in.
  if (program === "uv" && (text(args[0]) === "pip" || text(args[0]) === "tool")) args = args.slice(1);
  const parsed = invocation.options(program === "pdm" ? PDM_OPTIONS : PIP_OPTIONS, args);
  const words = operandWords(parsed);
  const subcommand = text(words[0]) ?? "";
  invocation.setSubcommand(subcommand);
  for (const option of parsed.options) {
    if (option.value === null) continue;
    if (option.name === "-f" || option.name === "--find-links") (/:\/\//.test(option.value.text) ? invocation.target("url", option.value) : invocation.target("read", option.value));
    if (option.name === "-e" || option.name === "--editable") pipSpec(invocation, option.value);
  }
  if (["install", "add", "download", "wheel"].includes(subcommand)) for (const spec of words.slice(1)) pipSpec(invocation, spec);
  if (subcommand === "run" && (program === "pipx" || program === "uv")) {
    invocation.flag("remote_code");
    if (words[1] !== undefined) spawnArgv(invocation, packageCommand(words.slice(1)));
  }
  if (subcommand === "config" && ["set", "unset", "edit"].includes(text(words[1]) ?? "")) invocation.flag("config_overrides");
}

function pipSpec(invocation: Invocation, spec: Word): void {
  if (spec.unknown !== null) {
    invocation.flag("remote_code");
    invocation.pending({ action: "http.request", kind: "url", unresolved: "expansion", raw: spec.text });
    return;
  }
  const t = spec.text;
  // `name @ URL` (PEP 508 direct references) and VCS specs (`git+https://…`).
  const direct = /(?:^|@\s*)((?:git|hg|svn|bzr)\+[a-z]+:\/\/\S+|https?:\/\/\S+|file:\/\/\S+)/i.exec(t);
  if (direct !== null) {
    const url = (direct[1] ?? "").replace(/^(?:git|hg|svn|bzr)\+/i, "");
    if (/^file:\/\//i.test(url)) invocation.target("read", literal(url.slice(7)));
    else {
      invocation.flag("remote_code");
      invocation.pending({ action: "http.request", kind: "url", value: url });
    }
    return;
  }
  // A local project or archive: building it runs its setup code.
  if (t.startsWith(".") || t.startsWith("/") || t.startsWith("~") || /^[A-Za-z]:[\\/]/.test(t) || /\.(?:whl|tar\.gz|zip)$/i.test(t)) invocation.target("read", spec);
}
