/**
 * Wrappers: programs whose operands are a command they run (sudo, env, timeout, watch …), and key tools.
 * Each handler is referenced from one row of programs.ts, whose comment says what it stops.
 */
import type { Invocation } from "../invocation.ts";
import { literal, type Word } from "../model.ts";
import type { Effect, OptionSpec } from "../options.ts";
import { resolvePath, sshUrl } from "../paths.ts";
import { all, assignmentFlags, NONE, plain, R, SPAWN_PROGRAM, W } from "../rows.ts";
import { joined, operandWords, spawnArgv, spawnCode, text, wrap, wrapCode } from "./common.ts";


const SUDO: OptionSpec = {
  values: { ...plain("-u", "--user", "-g", "--group", "-C", "--close-from", "-h", "--host", "-p", "--prompt", "-r", "--role", "-t", "--type", "-T", "--command-timeout", "-U", "--other-user"), ...all({ chdir: true }, "-D", "--chdir") },
  switches: { ...all({ marker: "shell" }, "-s", "--shell", "-i", "--login"), ...all({ marker: "edit" }, "-e", "--edit"), ...all({ marker: "no-command" }, "-l", "--list", "-v", "--validate", "-k", "-K", "--remove-timestamp", "--reset-timestamp", "-V", "--version", "-h", "--help"), ...plain("-E", "--preserve-env", "-H", "--set-home", "-n", "--non-interactive", "-S", "--stdin", "-b", "--background", "-A", "--askpass", "-P", "--preserve-groups", "-B", "--bell", "-N", "--no-update") },
  attached: { "--preserve-env": {} },
  permute: false,
  unknown: "opaque",
};
export function sudo(invocation: Invocation): void {
  invocation.flag("elevated");
  const parsed = invocation.options(SUDO, invocation.args, true);
  const command = operandWords(parsed);
  if (invocation.program === "sudoedit" || parsed.markers.has("edit")) {
    for (const file of command) invocation.target("write", file);
    return;
  }
  if (parsed.markers.has("no-command")) return;
  if (command.length === 0) {
    // `sudo -s` / `sudo -i` with no command: a root shell reading stdin.
    if (parsed.markers.has("shell")) invocation.flag("inline_code");
    return;
  }
  wrap(invocation, command, ["elevated"]);
}

const SU: OptionSpec = {
  values: { ...all({ marker: "command" }, "-c", "--command", "--session-command"), ...plain("-s", "--shell", "-g", "--group", "-G", "--supp-group", "-w", "--whitelist-environment", "-u", "--user") },
  switches: plain("-", "-l", "--login", "-m", "-p", "--preserve-environment", "-P", "--pty", "-f"),
  permute: true,
  unknown: "opaque",
};
export function su(invocation: Invocation): void {
  invocation.flag("elevated");
  const parsed = invocation.options(SU);
  const command = parsed.options.find((option) => option.effect?.marker === "command");
  if (command?.value !== null && command?.value !== undefined) {
    wrapCode(invocation, command.value, invocation.ctx.os === "windows" ? "bash" : "sh", ["elevated"]);
    return;
  }
  // runuser -u USER -- cmd args
  const operands = operandWords(parsed);
  if (invocation.program === "runuser" && parsed.options.some((option) => option.name === "-u" || option.name === "--user") && operands.length > 0) {
    wrap(invocation, operands, ["elevated"]);
    return;
  }
  invocation.flag("inline_code");
}

export function env(invocation: Invocation): void {
  const args = invocation.args;
  let i = 0;
  let ctx = invocation.ctx;
  const words: Word[] = [];
  for (; i < args.length; i += 1) {
    const word = args[i] as Word;
    const t = word.text;
    if (word.unknown !== null && !/^[A-Za-z_][A-Za-z0-9_]*=/.test(t)) break;
    if (t === "--" || t === "-") {
      i += 1;
      break;
    }
    if (/^-[iv0]+$/.test(t) || t === "--ignore-environment" || t === "--null" || t === "--debug") continue;
    if (t === "-u" || t === "--unset" || t === "-a" || t === "--argv0") {
      i += 1;
      continue;
    }
    if (t.startsWith("--unset=")) continue;
    if (t === "-C" || t === "--chdir" || t.startsWith("--chdir=") || (t.startsWith("-C") && t.length > 2)) {
      const dir = t === "-C" || t === "--chdir" ? args[(i += 1)] : literal(t.startsWith("--chdir=") ? t.slice(8) : t.slice(2));
      if (dir !== undefined) {
        const resolved = resolvePath(dir, ctx);
        ctx = { ...ctx, cwd: resolved !== null && "value" in resolved ? resolved.value : null };
      }
      continue;
    }
    if (t === "-S" || t === "--split-string" || t.startsWith("-S") || t.startsWith("--split-string=")) {
      const body = t === "-S" || t === "--split-string" ? args[(i += 1)] : literal(t.startsWith("-S") ? t.slice(2) : t.slice(15));
      // `env -S` has its own quoting and `${VAR}` syntax; plain words only.
      if (body === undefined || body.unknown !== null || /["'\\$#]/.test(body.text)) {
        invocation.opaque();
        return;
      }
      words.push(...body.text.split(/\s+/).filter((part) => part !== "").map(literal));
      continue;
    }
    if (t.startsWith("-")) {
      invocation.opaque();
      return;
    }
    const assignment = /^([A-Za-z_][A-Za-z0-9_]*)=/.exec(t);
    if (assignment !== null) {
      for (const flag of assignmentFlags(assignment[1] ?? "")) invocation.flag(flag);
      continue;
    }
    break;
  }
  const command = [...words, ...args.slice(i)];
  if (command.length === 0) return;
  invocation.ctx = ctx;
  // The command inherits env's flags (a config override set by NAME=value).
  wrap(invocation, command);
}

// Wrappers whose own options are few and never change what they run: their options that take a
// value, the arguments of their own before the command (taskset's mask, chrt's priority,
// faketime's timestamp), and the switches with which they run no command (taskset -p on a pid).
const SIMPLE_WRAPPER_VALUES: Readonly<Record<string, readonly string[]>> = {
  exec: ["-a"],
  command: [],
  builtin: [],
  time: ["-f", "--format", "-o", "--output"],
  taskset: [],
  numactl: ["-C", "-N", "-m", "-p", "-i", "--physcpubind", "--cpunodebind", "--membind", "--preferred", "--interleave"],
  chrt: ["-T", "--sched-runtime", "-P", "--sched-period", "-D", "--sched-deadline"],
  prlimit: ["-p", "--pid"],
  strace: ["-e", "-o", "--output", "-p", "--attach", "-s", "--string-limit", "-u", "--user", "-E", "--env", "-P", "--trace-path", "-a", "--columns", "-b", "--detach-on", "-I", "--interruptible", "-O", "-S", "--summary-sort-by", "-X", "--const-print-style"],
  ltrace: ["-e", "-o", "--output", "-p", "-s", "-u", "-a", "--align", "-n", "--indent", "-l", "--library"],
  valgrind: [],
  "systemd-run": ["-u", "--unit", "-p", "--property", "--description", "--slice", "-E", "--setenv", "--uid", "--gid", "--working-directory"],
  faketime: ["--date-prog", "-p"],
  caffeinate: ["-t", "-w"],
  proxychains: ["-f"],
  proxychains4: ["-f"],
  torsocks: ["-u", "--user", "-p", "--pass", "-a", "--address", "-P", "--port"],
};
const SIMPLE_WRAPPER_OWN_ARGUMENTS: Readonly<Record<string, number>> = { taskset: 1, chrt: 1, faketime: 1 };
const SIMPLE_WRAPPER_NO_COMMAND: Readonly<Record<string, readonly string[]>> = { taskset: ["-p", "--pid"], chrt: ["-p", "--pid", "-m", "--max"] };
const SIMPLE_WRAPPER_EFFECTS: Readonly<Record<string, Effect>> = { "-o": W, "--output": W, "-f": R, "--date-prog": SPAWN_PROGRAM };

export function simpleWrapper(invocation: Invocation): void {
  const program = invocation.program;
  const values = SIMPLE_WRAPPER_VALUES[program] ?? [];
  const parsed = invocation.options({ values: Object.fromEntries(values.map((name) => [name, SIMPLE_WRAPPER_EFFECTS[name] ?? NONE])), permute: false }, invocation.args, true);
  // `command -v x` / `command -V x` only look x up.
  if ((program === "command" || program === "builtin") && parsed.options.some((option) => option.name === "-v" || option.name === "-V")) return;
  if (SIMPLE_WRAPPER_NO_COMMAND[program]?.some((name) => parsed.options.some((option) => option.name === name))) return;
  if (program === "systemd-run" || program === "firejail") invocation.flag("elevated");
  // chrt's priority may be left out for policies without one: a number is the priority, anything else the command.
  const own = program === "chrt" && !/^[0-9]+$/.test(operandWords(parsed)[0]?.text ?? "") ? 0 : (SIMPLE_WRAPPER_OWN_ARGUMENTS[program] ?? 0);
  const command = operandWords(parsed).slice(own);
  if (program === "time" && command.length === 0) return;
  wrap(invocation, command);
}

export function watch(invocation: Invocation): void {
  // -d's value is optional and only attached (`-d=permanent`); -g (--chgexit) is a switch.
  const parsed = invocation.options({ values: plain("-n", "--interval", "-q", "--equexit"), attached: plain("-d", "--differences"), switches: all({ marker: "exec" }, "-x", "--exec"), permute: false }, invocation.args, true);
  const command = operandWords(parsed);
  if (command.length === 0) return;
  // watch runs `sh -c "<operands joined>"` unless -x.
  if (parsed.markers.has("exec")) wrap(invocation, command);
  else wrapCode(invocation, joined(command), "sh");
}

export function script(invocation: Invocation): void {
  const parsed = invocation.options({ values: { ...all({ marker: "command" }, "-c", "--command"), ...all(W, "-O", "--log-out", "-I", "--log-in", "-B", "--log-io", "-T", "--log-timing", "-t", "--timing") } });
  const operands = operandWords(parsed);
  // macOS: `script [-aq] file command …`; util-linux: `script [-c cmd] [file]`.
  if (operands[0] !== undefined) invocation.target("write", operands[0]);
  else invocation.target("write", literal("typescript"));
  const command = parsed.options.find((option) => option.effect?.marker === "command");
  if (command?.value !== undefined && command.value !== null) spawnCode(invocation, command.value);
  else if (invocation.ctx.os === "macos" && operands.length > 1) spawnArgv(invocation, operands.slice(1));
  else invocation.flag("inline_code");
}

export function flock(invocation: Invocation): void {
  const parsed = invocation.options({ values: { ...all({ marker: "command" }, "-c", "--command"), ...plain("-w", "--timeout", "-E", "--conflict-exit-code") }, permute: false }, invocation.args, true);
  const operands = operandWords(parsed);
  const lock = operands[0];
  if (lock !== undefined && !/^[0-9]+$/.test(lock.text)) invocation.target("write", lock);
  const command = parsed.options.find((option) => option.effect?.marker === "command");
  if (command?.value !== undefined && command.value !== null) wrapCode(invocation, command.value, "sh");
  else if (operands.length > 1) {
    const rest = operands.slice(1);
    const second = rest[0];
    // `flock file -c 'cmd'` puts -c after the file.
    if (second?.text === "-c" && rest[1] !== undefined) wrapCode(invocation, rest[1], "sh");
    else wrap(invocation, rest);
  }
}

// Each key tool with its own options: one's switch is another's option with a value (gpg's -b
// detaches a signature, ssh-keygen's -b takes a size; age's -p asks for a passphrase).
const CRYPTO: Readonly<Record<string, OptionSpec>> = {
  openssl: {
    syntax: "single-dash",
    values: { ...all(R, "-in", "-inkey", "-CAfile", "-CApath", "-cert", "-key", "-signkey", "-config", "-kfile", "-CA", "-CAkey", "-certfile", "-prverify", "-signature"), ...all(W, "-out", "-keyout", "-sigout"), ...all({ spawn: "program" }, "-pass-cmd"), ...plain("-passin", "-passout", "-pass", "-subj", "-days", "-newkey", "-digest", "-cipher", "-set_serial", "-extensions", "-reqexts", "-name", "-curve", "-pkeyopt", "-md", "-algorithm", "-connect", "-servername", "-inform", "-outform", "-keyform", "-certform") },
  },
  keytool: {
    syntax: "single-dash",
    values: { ...all({ target: ["read", "write"] }, "-keystore", "-file", "-destkeystore", "-srckeystore"), ...plain("-alias", "-storepass", "-keypass", "-dname", "-keyalg", "-keysize", "-validity", "-storetype", "-ext", "-sigalg", "-destalias", "-srcalias", "-deststorepass", "-srcstorepass", "-startdate") },
  },
  gpg: {
    values: { ...all(W, "-o", "--output"), ...all(R, "-f", "--recipient-file", "--keyring", "--secret-keyring", "--passphrase-file", "--homedir", "--import-options"), ...all({ spawn: "program" }, "--exec-path"), ...plain("-r", "--recipient", "-R", "--hidden-recipient", "-u", "--local-user", "--default-key", "--passphrase", "--trust-model", "--cipher-algo", "--digest-algo", "--compress-algo", "-z", "--keyserver", "--recv-keys", "--pinentry-mode", "--set-notation", "--status-fd", "--logger-fd", "--passphrase-fd") },
  },
  age: { values: { ...all(W, "-o", "--output"), ...all(R, "-R", "--recipients-file", "-i", "--identity"), ...plain("-r", "--recipient") } },
  "ssh-keygen": {
    // -f: the key it reads, or the one it writes; -p changes a key's passphrase in place.
    values: { ...all({ target: ["read", "write"] }, "-f"), ...all(R, "-s", "-D"), ...plain("-t", "-b", "-C", "-N", "-P", "-m", "-I", "-n", "-V", "-O", "-E", "-a", "-Z", "-F", "-R", "-r", "-Y", "-z", "-w", "-M", "-J", "-j", "-K") },
  },
  "ssh-add": { values: plain("-t", "-E", "-S", "-h", "-H") },
  "ssh-copy-id": { values: { ...all(R, "-i", "-F"), ...plain("-p", "-o", "-t") } },
  certtool: {
    values: { ...all(R, "--infile", "--load-privkey", "--load-pubkey", "--load-certificate", "--load-ca-certificate", "--load-ca-privkey", "--load-crl", "--template", "--load-request", "--load-data"), ...all(W, "--outfile"), ...plain("--hash", "--sec-param", "--bits", "--key-type", "--password", "--pkcs-cipher") },
  },
};

export function crypto(invocation: Invocation): void {
  const program = invocation.program === "gpg2" ? "gpg" : invocation.program;
  const parsed = invocation.options(CRYPTO[program] ?? {});
  const operands = operandWords(parsed);
  invocation.setSubcommand(text(operands[0]) ?? "");
  const files = program === "openssl" || program === "keytool" ? operands.slice(1) : operands;
  for (const file of files) {
    if (program === "ssh-copy-id") invocation.pending({ action: "http.request", kind: "url", ...sshUrl(file.text, null) });
    else invocation.target("read", file);
  }
}
