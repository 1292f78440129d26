/**
 * Network clients: URLs, hosts, the files they send or write, and the commands ssh-family options run.
 * Each handler is referenced from one row of programs.ts, whose comment says what it stops.
 */
import type { Invocation, TargetMarks } from "../invocation.ts";
import { literal, type Word } from "../model.ts";
import type { OptionSpec, ParsedArgs } from "../options.ts";
import { splitRemote, sshUrl } from "../paths.ts";
import { all, CONFIG, plain, R, SPAWN_PROGRAM, U, W, type ProgramRow } from "../rows.ts";
import { firstOperand, lastOption, operandWords, spawnArgv, spawnCode, text } from "./common.ts";


const CURL: OptionSpec = {
  values: {
    ...all(W, "-o", "--output", "-D", "--dump-header", "-c", "--cookie-jar", "--trace", "--trace-ascii", "--stderr", "--libcurl", "--etag-save", "--hsts", "--alt-svc"),
    ...all({ target: ["write"], marker: "output-dir" }, "--output-dir"),
    ...all(R, "-T", "--upload-file", "--cacert", "--capath", "-E", "--cert", "--key", "--netrc-file", "--etag-compare", "--crlfile", "--pinnedpubkey", "--proxy-cacert", "--proxy-cert", "--proxy-key"),
    ...all(U, "--url", "-x", "--proxy", "--preproxy", "--doh-url"),
    ...all({ target: ["read"], opaque: true }, "-K", "--config"),
    ...all({ marker: "data" }, "-d", "--data", "--data-ascii", "--data-binary", "--data-urlencode", "-F", "--form", "--json", "-b", "--cookie", "-w", "--write-out"),
    ...all(CONFIG, "--resolve", "--connect-to"),
    ...plain("--data-raw", "--form-string", "-H", "--header", "-A", "--user-agent", "-e", "--referer", "-X", "--request", "-u", "--user", "-m", "--max-time", "--connect-timeout", "--retry", "--retry-delay", "--retry-max-time", "-r", "--range", "-C", "--continue-at", "-Y", "--speed-limit", "-y", "--speed-time", "-z", "--time-cond", "--max-filesize", "--limit-rate", "--max-redirs", "--oauth2-bearer", "--url-query", "--interface", "--local-port", "--dns-servers", "--ciphers", "--tls-max", "--proxy-user", "-U", "--noproxy", "--expect100-timeout", "--happy-eyeballs-timeout-ms", "-Q", "--quote", "--mail-from", "--mail-rcpt", "--aws-sigv4", "--variable", "--expand-url", "--create-file-mode", "--parallel-max", "--keepalive-time"),
  },
  switches: { ...all({ marker: "remote-name" }, "-O", "--remote-name", "--remote-name-all", "-J", "--remote-header-name"), ...all({ marker: "globoff" }, "-g", "--globoff"), ...plain("-I", "--head", "-n", "--netrc", "-Z", "--parallel", "--crlf", "-v", "--verbose", "-s", "--silent", "-S", "--show-error", "-f", "--fail", "-L", "--location", "-k", "--insecure", "-i", "--include") },
};
export function curl(invocation: Invocation): void {
  const parsed = invocation.options(CURL);
  curlData(invocation, parsed);
  for (const word of operandWords(parsed)) invocation.target("url", word);
  if (parsed.markers.has("remote-name") && !parsed.markers.has("output-dir")) invocation.workingDirectory("file.write");
}

/** `-d @file`, `-F name=@file` / `<file`, `-b file`, `--json @file`: files read and sent; `-w %output{f}` writes. */
function curlData(invocation: Invocation, parsed: ParsedArgs): void {
  for (const option of parsed.options) {
    const value = option.value;
    if (value === null) continue;
    if (value.unknown !== null && option.effect?.marker === "data") {
      invocation.pending({ action: "file.read", kind: "path", unresolved: "expansion", raw: value.text });
      continue;
    }
    const v = value.text;
    let file: string | null = null;
    switch (option.name) {
      case "-d":
      case "--data":
      case "--data-ascii":
      case "--data-binary":
      case "--json":
        if (v.startsWith("@")) file = v.slice(1);
        break;
      case "--data-urlencode": {
        const at = /^[^=]*@(.*)$/s.exec(v);
        if (at !== null && !v.slice(0, v.indexOf("@")).includes("=")) file = at[1] ?? null;
        break;
      }
      case "-F":
      case "--form": {
        const form = /^[^=]*=[@<]([^;]*)/.exec(v);
        if (form !== null) file = form[1] ?? null;
        break;
      }
      case "-b":
      case "--cookie":
        if (!v.includes("=")) file = v;
        break;
      case "-w":
      case "--write-out": {
        for (const match of v.matchAll(/%output\{(>>)?([^}]*)\}/g)) invocation.target("write", literal(match[2] ?? ""));
        if (v.startsWith("@")) file = v.slice(1);
        break;
      }
    }
    if (file !== null && file !== "-") invocation.target("read", literal(file));
  }
}

const WGET: OptionSpec = {
  values: {
    ...all({ target: ["write"], marker: "output" }, "-O", "--output-document"),
    ...all(W, "-o", "--output-file", "-a", "--append-output", "--save-cookies", "--warc-file", "--rejected-log"),
    ...all({ target: ["write"], marker: "prefix" }, "-P", "--directory-prefix"),
    ...all(R, "--post-file", "--body-file", "--load-cookies", "--ca-certificate", "--certificate", "--private-key", "--ca-directory", "--crl-file"),
    ...all(SPAWN_PROGRAM, "--use-askpass"),
    ...all({ target: ["read"], marker: "input-file" }, "-i", "--input-file"),
    ...all({ target: ["read"], opaque: true }, "--config"),
    ...all(CONFIG, "-e", "--execute"),
    ...all(U, "-B", "--base"),
    ...plain("-t", "--tries", "-T", "--timeout", "-w", "--wait", "--waitretry", "-Q", "--quota", "-U", "--user-agent", "--header", "--post-data", "--body-data", "--method", "--user", "--password", "--http-user", "--http-password", "-l", "--level", "-A", "--accept", "-R", "--reject", "-D", "--domains", "--exclude-domains", "-I", "--include-directories", "-X", "--exclude-directories", "--limit-rate", "--referer", "--bind-address", "--restrict-file-names", "-nv", "--progress", "--cut-dirs", "--default-page", "--max-redirect"),
  },
};
export function wget(invocation: Invocation): void {
  const parsed = invocation.options(WGET);
  const urls = operandWords(parsed);
  for (const word of urls) invocation.target("url", word);
  if (parsed.markers.has("input-file")) invocation.pending({ action: "http.request", kind: "url", unresolved: "stdin", raw: "(input file)" });
  // Without -O the download lands under -P or the working directory.
  if (!parsed.markers.has("output") && !parsed.markers.has("prefix")) invocation.workingDirectory("file.write");
}

export function httpie(invocation: Invocation, row: ProgramRow): void {
  const parsed = invocation.options(row.options ?? {});
  const words = operandWords(parsed);
  // `http [METHOD] URL [items]`: the URL is the first operand that is not a method.
  const url = words.find((word) => !/^[A-Z]+$/.test(word.text));
  if (url !== undefined) invocation.target("url", url);
  if (parsed.markers.has("download") && !parsed.markers.has("output")) invocation.workingDirectory("file.write");
  for (const word of words) {
    const file = /^[^=@:]+(?:=@|@|:=@)(.+)$/.exec(word.text);
    if (word.unknown === null && file !== null) invocation.target("read", literal(file[1] ?? ""));
  }
}

// ssh -o keys that make the local side run a command.
const SSH_COMMAND_KEYS = /^(?:proxycommand|localcommand|knownhostscommand|permitlocalcommand|remotecommand)$/i;
const SSH: OptionSpec = {
  values: {
    ...all(R, "-i", "-F", "-S"),
    ...all(W, "-E"),
    ...all({ marker: "option" }, "-o"),
    ...all({ marker: "port" }, "-p"),
    ...all({ marker: "jump" }, "-J"),
    ...plain("-b", "-c", "-D", "-e", "-I", "-L", "-l", "-m", "-O", "-Q", "-R", "-W", "-w", "-B", "-P"),
  },
  permute: false,
};
// autossh's -M takes the monitoring port (ssh's own -M is a switch).
const AUTOSSH: OptionSpec = { ...SSH, values: { ...SSH.values, ...plain("-M") } };
export function ssh(invocation: Invocation): void {
  const parsed = invocation.options(invocation.program === "autossh" ? AUTOSSH : SSH, invocation.args, true);
  sshOptions(invocation, parsed);
  const port = parsed.options.find((option) => option.name === "-p")?.value?.text ?? null;
  const destination = firstOperand(parsed);
  if (destination !== undefined) {
    if (destination.word.unknown !== null) invocation.pending({ action: "http.request", kind: "url", unresolved: "expansion", raw: destination.word.text });
    else invocation.pending({ action: "http.request", kind: "url", ...sshUrl(destination.word.text, port) });
  }
}

/** -F configs and -o command keys run local commands; -J hosts are reached too. */
function sshOptions(invocation: Invocation, parsed: ParsedArgs): void {
  for (const option of parsed.options) {
    const value = option.value;
    if (option.name === "-F") invocation.flag("config_overrides");
    if (value === null) continue;
    if (option.name === "-o") {
      if (value.unknown !== null) {
        invocation.opaque();
        continue;
      }
      const match = /^([A-Za-z]+)\s*[= ]\s*(.*)$/s.exec(value.text);
      if (match === null) continue;
      invocation.flag("config_overrides");
      if (SSH_COMMAND_KEYS.test(match[1] ?? "") && !/^(?:yes|no|none)$/i.test(match[2] ?? "")) spawnCode(invocation, literal(match[2] ?? ""));
      if (/^proxyjump$/i.test(match[1] ?? "")) for (const host of (match[2] ?? "").split(",")) invocation.pending({ action: "http.request", kind: "url", ...sshUrl(host, null) });
    } else if (option.name === "-J") {
      for (const host of value.text.split(",")) invocation.pending({ action: "http.request", kind: "url", ...sshUrl(host, null) });
    }
  }
}

// scp's -B, -R and -s are switches; sftp's take a value (buffer size, requests, subsystem).
const SCP: OptionSpec = {
  values: { ...all(R, "-i", "-F"), ...all({ marker: "option" }, "-o"), ...all({ marker: "jump" }, "-J"), ...all(SPAWN_PROGRAM, "-S", "-D"), ...all(R, "-b"), ...plain("-P", "-c", "-l", "-X") },
  // Copying a directory, scp sends what the links below it lead to, and writes through the links below where it copies to.
  switches: all({ marker: "recursive" }, "-r"),
};
const SFTP: OptionSpec = { values: { ...(SCP.values ?? {}), ...plain("-B", "-R", "-s") } };
export function scp(invocation: Invocation): void {
  const parsed = invocation.options(invocation.program === "sftp" ? SFTP : SCP);
  sshOptions(invocation, parsed);
  const port = parsed.options.find((option) => option.name === "-P")?.value?.text ?? null;
  const words = operandWords(parsed);
  if (invocation.program === "sftp") {
    // sftp's one operand is always a host (`[user@]host[:path]`), with or without a colon.
    const destination = words[0];
    if (destination === undefined) return;
    if (destination.unknown === null && !destination.text.includes(":")) invocation.pending({ action: "http.request", kind: "url", ...sshUrl(destination.text, port) });
    else remote(invocation, destination, "read", port);
    return;
  }
  words.forEach((word, index) => remote(invocation, word, index === words.length - 1 && words.length > 1 ? "write" : "read", port, { followsLinksBelow: parsed.markers.has("recursive") }));
}

/** One scp or rsync operand: a host's, or a local file of `local`'s role, with what else the program does to it. */
function remote(invocation: Invocation, word: Word, local: "read" | "write" | "delete", port: string | null, marks: TargetMarks = {}): void {
  if (word.unknown !== null) {
    invocation.target(local, word, undefined, marks);
    return;
  }
  const side = splitRemote(word.text, invocation.ctx);
  if ("remote" in side) {
    const rsyncUrl = /^(?:scp|sftp|rsync):\/\/(?:[^@/]*@)?([^/:]+)(?::([0-9]+))?/i.exec(side.remote);
    if (rsyncUrl !== null) invocation.pending({ action: "http.request", kind: "url", ...sshUrl(rsyncUrl[1] ?? "", rsyncUrl[2] ?? port) });
    else invocation.pending({ action: "http.request", kind: "url", ...sshUrl(side.remote, port) });
  } else {
    invocation.target(local, word, undefined, marks);
  }
}

const RSYNC: OptionSpec = {
  values: {
    ...all({ spawn: "shell" }, "-e", "--rsh"),
    ...all({ target: ["read"], marker: "files-from" }, "--files-from"),
    ...all(R, "--exclude-from", "--include-from", "--password-file", "--filter-file", "--read-batch"),
    ...all(W, "--log-file"),
    // Backups, temporary and partial files go to these directories (a relative one is in the destination).
    ...all({ marker: "in-destination" }, "--backup-dir", "--temp-dir", "-T", "--partial-dir"),
    // A batch is FILE and the script FILE.sh beside it.
    ...all({ marker: "batch", target: ["write"] }, "--write-batch", "--only-write-batch"),
    // Files are compared with, copied or hard-linked from these directories (a relative one is in the destination).
    ...all({ marker: "from-destination" }, "--compare-dest", "--copy-dest", "--link-dest"),
    ...all({ marker: "rsync-path" }, "--rsync-path"),
    ...plain("--exclude", "--include", "-f", "--filter", "--port", "--bwlimit", "--chmod", "--chown", "--usermap", "--groupmap", "--timeout", "--contimeout", "--max-size", "--min-size", "--max-delete", "--modify-window", "--suffix", "--info", "--debug", "--out-format", "--log-file-format", "--skip-compress", "--compress-choice", "--checksum-choice", "-B", "--block-size", "--iconv", "--sockopts", "-M", "--remote-option"),
  },
  switches: {
    ...all({ marker: "delete" }, "--delete", "--delete-before", "--delete-during", "--delete-delay", "--delete-after", "--delete-excluded", "--del"),
    ...all({ marker: "remove-source" }, "--remove-source-files"),
    // Send what the links below the sources lead to (all, those leading out of the tree, those to directories).
    ...all({ marker: "follows-links" }, "-L", "--copy-links", "--copy-unsafe-links", "-k", "--copy-dirlinks"),
    // Write through the links to directories below the destination.
    ...all({ marker: "into-links" }, "-K", "--keep-dirlinks"),
    // Listed so that they are never read as the value options they begin (`--partial-dir`, `--backup-dir`).
    ...plain("-a", "--archive", "-r", "--recursive", "-v", "--verbose", "-z", "--compress", "-c", "--checksum", "-b", "--backup", "-g", "--group", "-o", "--owner", "-p", "--perms", "-t", "--times", "-P", "--partial", "--progress", "-n", "--dry-run", "-u", "--update", "-h", "--human-readable", "-l", "--links", "-H", "--hard-links", "-x", "--one-file-system"),
  },
};
export function rsync(invocation: Invocation): void {
  const parsed = invocation.options(RSYNC);
  const words = operandWords(parsed);
  const port = parsed.options.find((option) => option.name === "--port")?.value?.text ?? null;
  words.forEach((word, index) => {
    const destination = index === words.length - 1 && words.length > 1;
    // A destination receives the sources' links as links (-a, -l), unless they are copied as files.
    const marks = destination ? { followsLinksBelow: parsed.markers.has("into-links"), makesLinks: !parsed.markers.has("follows-links") } : { followsLinksBelow: parsed.markers.has("follows-links") };
    remote(invocation, word, destination ? "write" : "read", port, marks);
    if (destination && parsed.markers.has("delete")) remote(invocation, word, "delete", port, { followsLinksBelow: parsed.markers.has("into-links") });
    if (!destination && parsed.markers.has("remove-source")) remote(invocation, word, "delete", port);
  });
  const destination = words.length > 1 ? words[words.length - 1] : undefined;
  for (const option of parsed.options) {
    const value = option.value;
    if (value === null) continue;
    if (option.effect?.marker === "batch") invocation.target("write", value.unknown === null ? literal(`${value.text}.sh`) : value);
    const role = option.effect?.marker === "from-destination" ? "read" : option.effect?.marker === "in-destination" ? "write" : null;
    if (role === null) continue;
    if (value.unknown !== null || value.text.startsWith("/") || value.text.startsWith("~")) invocation.target(role, value);
    // --partial-dir is relative to each file's own directory: with `..` it leaves the destination by as many levels as the file is deep.
    else if (destination === undefined || destination.unknown !== null || (option.name === "--partial-dir" && /(?:^|\/)\.\.(?:\/|$)/.test(value.text))) invocation.pending({ action: `file.${role}`, kind: "path", unresolved: "expansion", raw: value.text });
    // On a remote destination the directory is the remote side's. Relative to the destination when
    // it is a directory, else to the directory it is in (a destination without a trailing `/` may be either).
    else if (local(destination)) for (const base of destinationDirectories(destination)) invocation.target(role, literal(`${base}/${value.text}`));
  }
  // -b without --backup-dir keeps a replaced file beside itself as FILE~ (or --suffix's): for a
  // destination that is a file, next to it, outside the destination.
  const backs = lastOption(parsed, "-b", "--backup") !== undefined && lastOption(parsed, "--backup-dir") === undefined;
  if (backs && destination !== undefined && local(destination) && !destination.text.endsWith("/")) {
    const suffix = lastOption(parsed, "--suffix")?.value ?? literal("~");
    if (suffix.unknown !== null) invocation.pending({ action: "file.write", kind: "path", unresolved: "expansion", raw: `${destination.text}${suffix.text}` });
    else invocation.target("write", literal(`${destination.text}${suffix.text}`));
  }
  // --files-from names the files to send, read where the sources are: here, unless they are remote.
  const list = parsed.options.find((option) => option.effect?.marker === "files-from");
  if (list !== undefined && words.slice(0, -1).some(local)) invocation.pending({ action: "file.read", kind: "path", unresolved: "stdin", raw: list.value?.text ?? "-" });

  function local(word: Word): boolean {
    return word.unknown === null && !("remote" in splitRemote(word.text, invocation.ctx));
  }
}

/** The directories a relative rsync option directory is taken from: the destination's, and (unless it ends in `/`) its parent's. */
function destinationDirectories(destination: Word): string[] {
  const dir = destination.text.replace(/\/+$/, "") || "/";
  if (destination.text.endsWith("/")) return [dir];
  const slash = dir.lastIndexOf("/");
  return [dir, slash < 0 ? "." : dir.slice(0, slash) || "/"];
}

const NETCAT: OptionSpec = {
  values: {
    ...all(SPAWN_PROGRAM, "-e", "--exec"),
    ...all({ spawn: "shell" }, "-c", "--sh-exec", "--lua-exec"),
    ...all(W, "-o", "--output"),
    ...plain("-p", "-s", "-w", "-i", "-q", "-x", "-X", "-W", "-T", "-I", "-O", "--proxy", "--proxy-type", "--source-port", "--wait"),
  },
  switches: { ...all({ marker: "udp" }, "-u", "--udp"), ...all({ marker: "listen" }, "-l", "--listen") },
};
export function netcat(invocation: Invocation): void {
  const parsed = invocation.options(invocation.program === "telnet" ? { values: plain("-l", "-n", "-b", "-e") } : NETCAT);
  const [host, port] = operandWords(parsed);
  if (host === undefined || parsed.markers.has("listen")) return;
  const scheme = invocation.program === "telnet" ? "telnet" : parsed.markers.has("udp") ? "udp" : "tcp";
  const portText = port === undefined ? (invocation.program === "telnet" ? "23" : null) : text(port);
  if (host.unknown !== null || portText === null || !/^[0-9]+$/.test(portText)) {
    invocation.pending({ action: "http.request", kind: "url", unresolved: host.unknown !== null ? "expansion" : "not_a_url", raw: host.text });
    return;
  }
  const name = host.text.includes(":") ? `[${host.text}]` : host.text;
  invocation.pending({ action: "http.request", kind: "url", value: `${scheme}://${name}:${portText}/` });
}

export function socat(invocation: Invocation): void {
  // -d (-dd …) and -D are switches.
  const parsed = invocation.options({ values: plain("-L", "-W", "-b", "-T", "-t", "-lf") });
  for (const word of operandWords(parsed)) {
    if (word.unknown !== null) {
      invocation.opaque();
      continue;
    }
    const [type = "", ...rest] = word.text.split(":");
    const kind = type.toUpperCase().split(",")[0] ?? "";
    const address = rest.join(":").split(",")[0] ?? "";
    if (/^(?:TCP|TCP4|TCP6|TCP-CONNECT|OPENSSL|OPENSSL-CONNECT|SSL|UDP|UDP4|UDP6|UDP-CONNECT|UDP-SENDTO|SCTP-CONNECT|SOCKS4|SOCKS4A|SOCKS5|PROXY)$/.test(kind)) {
      const scheme = kind.startsWith("UDP") ? "udp" : "tcp";
      invocation.pending({ action: "http.request", kind: "url", value: `${scheme}://${address}/` });
    } else if (kind === "EXEC") {
      spawnArgv(invocation, address.split(/\s+/).filter((part) => part !== "").map(literal));
    } else if (kind === "SYSTEM") {
      spawnCode(invocation, literal(rest.join(":")));
    } else if (/^(?:OPEN|FILE|GOPEN|CREATE|CREAT|PIPE)$/.test(kind)) {
      invocation.target("read", literal(address));
      if (kind !== "OPEN") invocation.target("write", literal(address));
    } else if (!/^(?:-|STDIO|STDIN|STDOUT|STDERR|TCP-LISTEN|TCP4-LISTEN|TCP6-LISTEN|UDP-LISTEN|UDP-RECV|UNIX-LISTEN|OPENSSL-LISTEN)$/.test(kind)) {
      invocation.opaque();
    }
  }
}
