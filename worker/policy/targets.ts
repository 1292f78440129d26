import { WardenError } from "../errors.ts";
/**
 * Canonical forms of the targets an agent wants to act on (file paths, URLs,
 * commands), computed before Cedar evaluation so that a policy written against
 * one spelling of a target also governs every other spelling of it.
 *
 * Everything here fails closed: a target that cannot be reduced to a single
 * canonical form without touching the filesystem, the network or a shell is
 * rejected with a reason, never passed through. Pure code, no I/O, no
 * dependencies, so it behaves identically in workerd and Node.
 */

/** Operating system of the device the agent runs on; it decides path and command syntax. */
export type DeviceOs = "linux" | "macos" | "windows";

/** The shells whose grammar Warden can read a command line in. */
export const SHELLS = ["bash", "sh", "zsh", "powershell", "cmd"] as const;
export type Shell = (typeof SHELLS)[number];

/**
 * The shell a device's agent runs commands in when neither the device registration nor the
 * request names one: what an agent gets from the platform by default (bash on Linux; zsh,
 * the login shell since macOS 10.15; PowerShell, which Windows agents such as Codex use).
 */
export function defaultShell(os: DeviceOs): Shell {
  switch (os) {
    case "linux":
      return "bash";
    case "macos":
      return "zsh";
    case "windows":
      return "powershell";
  }
}

/** Why a target was refused. Stable codes: tests, clients and audit logs rely on them. */
export type TargetRejection =
  | "empty"
  | "too_long"
  | "nul_byte"
  | "control_character"
  | "invisible_character"
  | "double_encoding"
  | "percent_encoding"
  | "invalid_utf8"
  | "not_absolute"
  | "drive_relative"
  | "alternate_data_stream"
  | "device_name"
  | "device_namespace"
  | "short_name"
  | "invalid_segment"
  | "too_many_segments"
  | "unsupported_scheme"
  | "url_credentials"
  | "url_ambiguous"
  | "invalid_url"
  | "invalid_tool"
  | "too_many_targets";

/** Either the canonical value or the reason the target was refused. */
export type TargetResult<T> = { ok: true; value: T } | { ok: false; reason: TargetRejection };

/** A canonical absolute path. */
export interface CanonicalPath {
  /**
   * The canonical path: `/home/alice/project` (linux, case preserved),
   * `/users/alice/project` (macos, case folded), `c:/users/alice` or
   * `//server/share/dir` (windows, case folded, `/` separators).
   */
  path: string;
  /** The segments after the root (for UNC paths the root is `//server/share`). */
  segments: string[];
  /**
   * Every prefix of `path` from the root down to `path` itself, so that a
   * policy can test containment with `resource.within.contains("/home/alice/project")`
   * without string-prefix matching (which would also match `/home/alice/project-evil`).
   */
  within: string[];
}

/** A canonical http(s)/ws(s) URL. */
export interface CanonicalUrl {
  /** The serialised URL without its fragment. */
  url: string;
  /** `http`, `https`, `ws` or `wss`. */
  scheme: string;
  /** Lowercase host, IDNs in punycode, IPv4 in dotted decimal, no trailing dot. */
  host: string;
  /** The explicit port, or the scheme's default (80 or 443). */
  port: number;
  /** The percent-encoded path (it has no dot segments: a URL with one is refused). */
  path: string;
}

const MAX_PATH_LENGTH = 4096;
const MAX_PATH_SEGMENTS = 256;
const MAX_URL_LENGTH = 8192;

// A JS string can hold UTF-16 that has no UTF-8 encoding; such a target has no
// well-defined name on any filesystem or wire.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
// C0 (except NUL and tab, checked separately), DEL, C1, and the Unicode line and
// paragraph separators: they split log lines and terminal output, and no
// legitimate file name, URL or single command contains them.
const CONTROL = /[\u0001-\u0008\u000A-\u001F\u007F-\u009F\u2028\u2029]/;
// Format and default-ignorable characters render as nothing, so `r\u200Bm` looks
// like `rm` and U+202E reorders what a reviewer reads; a policy cannot name them.
const INVISIBLE = /[\p{Cf}\p{Default_Ignorable_Code_Point}]/u;
const ENCODED_BYTE = /%[0-9A-Fa-f]{2}/;

// Windows "best fit" conversion maps these to `/ \ : * ? " < > |` when a path
// reaches an ANSI API (the WorstFit attacks), so they may name a different file
// than the one the policy saw.
const WINDOWS_LOOKALIKES = /[\uFF0F\uFF3C\uFF1A\uFF0A\uFF1F\uFF02\uFF1C\uFF1E\uFF5C\u2215\u2216\u29F5\uFE68\u00A5\u20A9]/;
// Win32 refuses these in names; `?` and `*` are also wildcards to some APIs.
const WINDOWS_FORBIDDEN = /[<>"|?*]/;
// Win32 maps these names to devices in every directory, with or without an
// extension (`nul.txt`, `con .txt`); the superscript digits count as digits.
const WINDOWS_DEVICE = /^(?:con|prn|aux|nul|conin\$|conout\$|clock\$|com[0-9\u00B9\u00B2\u00B3]|lpt[0-9\u00B9\u00B2\u00B3])$/;
// 8.3 aliases (`progra~1`) name a long file only the filesystem knows.
const SHORT_NAME = /~[0-9]/;
// Administrative shares alias local directories (`\\host\c$\windows` is `c:\windows`
// when host is this machine, which cannot be known here).
const ADMIN_SHARE = /^(?:[a-z]\$|admin\$)$/;
const UNNAMED_DATA_STREAM = "::$data";
const VERBATIM_PREFIX = "\\\\?\\";
// `\\.\`, and any `//?/`-style spelling of it, plus the NT `\??\` prefix that
// CreateFile passes straight to the object manager.
const DEVICE_PREFIX = /^(?:[\\/]{2}[.?](?:[\\/]|$)|[\\/]\?\?(?:[\\/]|$))/;

const DEFAULT_PORTS: ReadonlyMap<string, number> = new Map([
  ["http", 80],
  ["https", 443],
  ["ws", 80],
  ["wss", 443],
]);
/**
 * Connections that are not HTTP (remote shells, raw sockets), as command analysis derives them
 * from `ssh`, `scp`, `nc` and the like: what policy can judge is the host and port, and for
 * ssh the path (a git remote's repository). A raw socket has no default port.
 */
const SOCKET_SCHEMES: ReadonlyMap<string, number | null> = new Map([
  ["ssh", 22],
  ["telnet", 23],
  ["tcp", null],
  ["udp", null],
]);
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;


type Rejected = { ok: false; reason: TargetRejection };

function reject(reason: TargetRejection): Rejected {
  return { ok: false, reason };
}

function accept<T>(value: T): TargetResult<T> {
  return { ok: true, value };
}

function assertOs(os: DeviceOs): void {
  // The type is only a compile-time promise; a value read from a request that
  // is none of these must not silently get some default syntax.
  if (os !== "linux" && os !== "macos" && os !== "windows") {
    throw new WardenError("internal_error", `unknown device os: ${String(os)}`);
  }
}

function screenText(text: string, allowTab: boolean): TargetRejection | null {
  if (LONE_SURROGATE.test(text)) return "invalid_utf8";
  if (text.includes("\u0000")) return "nul_byte";
  if (CONTROL.test(text) || (!allowTab && text.includes("\t"))) return "control_character";
  if (INVISIBLE.test(text)) return "invisible_character";
  return null;
}

function isHexDigit(code: number): boolean {
  return (code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x46) || (code >= 0x61 && code <= 0x66);
}

/**
 * Strict UTF-8 decoding: overlong forms (`%C0%AE` for `.`), encoded surrogates
 * and code points above U+10FFFF are refused, because lenient decoders turn them
 * into `.` or `/` after a policy has looked at the bytes. Hand-written rather
 * than TextDecoder so a leading BOM is kept (TextDecoder drops it) and behaviour
 * does not depend on the runtime.
 */
function decodeUtf8(bytes: readonly number[]): string | null {
  let out = "";
  let i = 0;
  const continuation = (offset: number, low = 0x80, high = 0xbf): number | null => {
    const byte = bytes[i + offset];
    return byte !== undefined && byte >= low && byte <= high ? byte & 0x3f : null;
  };
  while (i < bytes.length) {
    const lead = bytes[i] ?? 0;
    if (lead < 0x80) {
      out += String.fromCharCode(lead);
      i += 1;
    } else if (lead >= 0xc2 && lead <= 0xdf) {
      const b1 = continuation(1);
      if (b1 === null) return null;
      out += String.fromCodePoint(((lead & 0x1f) << 6) | b1);
      i += 2;
    } else if (lead >= 0xe0 && lead <= 0xef) {
      const low = lead === 0xe0 ? 0xa0 : 0x80;
      const high = lead === 0xed ? 0x9f : 0xbf;
      const b1 = continuation(1, low, high);
      const b2 = continuation(2);
      if (b1 === null || b2 === null) return null;
      out += String.fromCodePoint(((lead & 0x0f) << 12) | (b1 << 6) | b2);
      i += 3;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      const low = lead === 0xf0 ? 0x90 : 0x80;
      const high = lead === 0xf4 ? 0x8f : 0xbf;
      const b1 = continuation(1, low, high);
      const b2 = continuation(2);
      const b3 = continuation(3);
      if (b1 === null || b2 === null || b3 === null) return null;
      out += String.fromCodePoint(((lead & 0x07) << 18) | (b1 << 12) | (b2 << 6) | b3);
      i += 4;
    } else {
      return null;
    }
  }
  return out;
}

/** Decodes every `%XX` exactly once; a `%` not followed by two hex digits stays literal. */
function percentDecodeOnce(text: string): TargetResult<string> {
  let out = "";
  let bytes: number[] = [];
  for (let i = 0; i <= text.length; ) {
    if (
      i < text.length &&
      text.charCodeAt(i) === 0x25 &&
      isHexDigit(text.charCodeAt(i + 1)) &&
      isHexDigit(text.charCodeAt(i + 2))
    ) {
      bytes.push(Number.parseInt(text.slice(i + 1, i + 3), 16));
      i += 3;
      continue;
    }
    if (bytes.length > 0) {
      const decoded = decodeUtf8(bytes);
      if (decoded === null) return reject("invalid_utf8");
      out += decoded;
      bytes = [];
    }
    out += text.charAt(i);
    i += 1;
  }
  return accept(out);
}

/**
 * Case folding for case-insensitive filesystems. Lowercasing alone misses
 * letters with several lowercase forms that the filesystem treats as one:
 * final sigma, long s (`ſ`), micro sign, dotless i, sharp s. Round-tripping
 * through uppercase merges them; merging too much only makes a policy match
 * more names, never fewer.
 */
export function foldCase(text: string): string {
  return text.toLowerCase().toUpperCase().toLowerCase().replace(/\u03C2/g, "\u03C3").normalize("NFC");
}

function stripTrailingDotsAndSpaces(text: string): string {
  return text.replace(/[. ]+$/, "");
}

function buildPath(root: string, segments: string[]): CanonicalPath {
  const within = [root];
  let current = root;
  for (const segment of segments) {
    current = current.endsWith("/") ? current + segment : `${current}/${segment}`;
    within.push(current);
  }
  return { path: current, segments, within };
}

/**
 * Canonicalises an absolute file path for the given device OS.
 *
 * The input is read literally, as the OS reads it, and refused if it holds a
 * percent-encoded byte. It is screened for NUL, control and invisible
 * characters, NFC-normalised per segment, and resolved lexically
 * (`.` dropped, `..` pops but never climbs above the root). On macOS and
 * Windows every segment is case folded. Windows paths are further reduced the
 * way Win32 reduces them (trailing dots and spaces, `::$DATA`) and refused
 * where only the filesystem could say what they name (short names, devices,
 * alternate data streams, device namespace).
 *
 * Symlinks, mount points and hard links are not resolved: that needs the
 * filesystem.
 *
 * @throws TypeError if `os` is not one of the three supported values.
 */
export function canonicalizePath(raw: string, os: DeviceOs): TargetResult<CanonicalPath> {
  assertOs(os);
  if (raw.length === 0) return reject("empty");
  if (raw.length > MAX_PATH_LENGTH) return reject("too_long");
  const problem = screenText(raw, false);
  if (problem !== null) return reject(problem);
  // No OS percent-decodes a path: `/w/x%2fy/../../.bashrc` opens `/.bashrc` on
  // Linux, macOS and Windows (`x%2fy` is one name), and `/w/.bashrc` once a
  // file: URI handler or an MCP server has decoded it. Which one runs depends
  // on who reads the path, so it is refused rather than read either way. A `%`
  // not followed by two hex digits is an ordinary character to every reader.
  if (ENCODED_BYTE.test(raw)) return reject("percent_encoding");

  const result = os === "windows" ? canonicalizeWindowsPath(raw) : canonicalizePosixPath(raw, os === "macos");
  if (result.ok && result.value.segments.length > MAX_PATH_SEGMENTS) return reject("too_many_segments");
  return result;
}

function canonicalizePosixPath(text: string, caseInsensitive: boolean): TargetResult<CanonicalPath> {
  // `\` is an ordinary file name character on POSIX, but policies written with
  // Windows in mind read it as a separator; refuse rather than guess.
  if (text.includes("\\")) return reject("invalid_segment");
  if (!text.startsWith("/")) return reject("not_absolute");
  const segments: string[] = [];
  for (const part of text.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      // POSIX: `/..` is `/`.
      segments.pop();
      continue;
    }
    const normalized = part.normalize("NFC");
    // APFS and HFS+ are case-insensitive (and normalisation-insensitive) by default.
    segments.push(caseInsensitive ? foldCase(normalized) : normalized);
  }
  return accept(buildPath("/", segments));
}

function canonicalizeWindowsPath(text: string): TargetResult<CanonicalPath> {
  if (WINDOWS_LOOKALIKES.test(text)) return reject("invalid_segment");

  let root: string;
  let parts: string[];
  // `\\?\` paths skip Win32 normalisation: `..`, `.` and trailing dots reach
  // the filesystem literally and name something other than the reduced path.
  let verbatim = false;

  if (text.startsWith(VERBATIM_PREFIX)) {
    verbatim = true;
    const body = text.slice(VERBATIM_PREFIX.length);
    // Only `\` separates in a verbatim path.
    if (body.includes("/")) return reject("invalid_segment");
    if (/^[A-Za-z]:\\/.test(body)) {
      root = `${body.charAt(0).toLowerCase()}:/`;
      parts = body.slice(3).split("\\");
    } else if (/^unc\\/i.test(body)) {
      const unc = parseUncRoot(body.slice(4).split("\\"), true);
      if (!unc.ok) return unc;
      ({ root, parts } = unc.value);
    } else {
      // `\\?\C:` (the raw volume), `\\?\GLOBALROOT\...`, `\\?\Volume{...}\...`.
      return reject("device_namespace");
    }
  } else if (DEVICE_PREFIX.test(text)) {
    return reject("device_namespace");
  } else {
    const unified = text.replace(/\//g, "\\");
    if (unified.startsWith("\\\\")) {
      const unc = parseUncRoot(unified.slice(2).split("\\"), false);
      if (!unc.ok) return unc;
      ({ root, parts } = unc.value);
    } else if (/^[A-Za-z]:/.test(unified)) {
      // `C:foo` and `C:` are relative to the per-drive current directory.
      if (unified.charAt(2) !== "\\") return reject("drive_relative");
      root = `${unified.charAt(0).toLowerCase()}:/`;
      parts = unified.slice(3).split("\\");
    } else {
      // `\foo` is relative to the current drive, `foo\bar` to the current directory.
      return reject("not_absolute");
    }
  }

  const segments: string[] = [];
  for (const part of parts) {
    if (part === "") continue;
    if (part === "." || part === "..") {
      if (verbatim) return reject("invalid_segment");
      // Win32: `..` never climbs above the drive root or `\\server\share`.
      if (part === "..") segments.pop();
      continue;
    }
    const segment = windowsSegment(part, verbatim);
    if (!segment.ok) return segment;
    segments.push(segment.value);
  }
  return accept(buildPath(root, segments));
}

function parseUncRoot(
  components: string[],
  verbatim: boolean,
): TargetResult<{ root: string; parts: string[] }> {
  const [server = "", share = "", ...parts] = components;
  const names: string[] = [];
  for (const component of [server, share]) {
    if (component === "" || component.includes(":")) {
      return reject("invalid_segment");
    }
    const name = windowsSegment(component, verbatim);
    if (!name.ok) return name;
    names.push(name.value);
  }
  const [serverName = "", shareName = ""] = names;
  if (ADMIN_SHARE.test(shareName)) return reject("invalid_segment");
  return accept({ root: `//${serverName}/${shareName}`, parts });
}

function windowsSegment(part: string, verbatim: boolean): TargetResult<string> {
  if (WINDOWS_FORBIDDEN.test(part)) return reject("invalid_segment");
  // NTFS compares names through an uppercase table: case-insensitive.
  const folded = foldCase(part.normalize("NFC"));
  if (WINDOWS_FORBIDDEN.test(folded)) return reject("invalid_segment");

  // Win32 drops trailing dots and spaces: `secret.txt. ` opens `secret.txt`.
  let name = stripTrailingDotsAndSpaces(folded);
  if (verbatim && name !== folded) return reject("invalid_segment");
  if (name.endsWith(UNNAMED_DATA_STREAM)) {
    // `file::$DATA` is the file's own unnamed stream, i.e. the file itself.
    const base = name.slice(0, -UNNAMED_DATA_STREAM.length);
    name = stripTrailingDotsAndSpaces(base);
    if (verbatim && name !== base) return reject("invalid_segment");
  }
  // Any other `:` selects a named stream or a stream type (`$INDEX_ALLOCATION`):
  // data a policy on the file name does not describe.
  if (name.includes(":")) return reject("alternate_data_stream");
  if (name === "") return reject("invalid_segment");

  const stem = (name.split(".")[0] ?? "").replace(/ +$/, "");
  if (WINDOWS_DEVICE.test(stem)) return reject("device_name");
  if (SHORT_NAME.test(name)) return reject("short_name");
  return accept(name);
}

/**
 * Canonicalises an http, https, ws or wss URL with the WHATWG URL parser, or an ssh, telnet,
 * tcp or udp URL (the connections command analysis derives) to its host, port and path.
 *
 * Credentials and other schemes are refused. The fragment is dropped, a
 * trailing dot on the host is removed, percent-encoded unreserved characters
 * in the path are decoded and the remaining escapes uppercased. Paths that a
 * server could decode into a different path than the one the policy saw (an
 * encoded `/` or `\`, a dot segment, also with parameters or trailing spaces, a
 * second layer of encoding, overlong UTF-8) are refused. The query is kept verbatim.
 */
export function canonicalizeUrl(raw: string): TargetResult<CanonicalUrl> {
  if (raw.trim() === "") return reject("empty");
  if (raw.length > MAX_URL_LENGTH) return reject("too_long");
  // The URL parser silently deletes tabs and newlines anywhere (`java\tscript:`)
  // and strips leading controls; refuse instead of letting the policy see a
  // string the agent did not send.
  const problem = screenText(raw, false);
  if (problem !== null) return reject(problem);
  const ambiguous = ambiguousReading(raw);
  if (ambiguous !== null) return reject(ambiguous);
  const socketScheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(raw)?.[1]?.toLowerCase();
  if (socketScheme !== undefined && SOCKET_SCHEMES.has(socketScheme)) return canonicalizeSocketUrl(raw, socketScheme);

  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return reject("invalid_url");
  }
  const scheme = url.protocol.replace(/:$/, "");
  const defaultPort = DEFAULT_PORTS.get(scheme);
  if (defaultPort === undefined) return reject("unsupported_scheme");
  if (url.username !== "" || url.password !== "") return reject("url_credentials");

  // `example.com.` is the same DNS name as `example.com`.
  let host = url.hostname;
  if (host.endsWith(".")) {
    host = host.slice(0, -1);
    if (host === "" || host.endsWith(".")) return reject("invalid_url");
    url.hostname = host;
    if (url.hostname !== host) return reject("invalid_url");
  }
  if (host === "") return reject("invalid_url");

  const path = canonicalUrlPath(url.pathname);
  if (!path.ok) return path;
  if (path.value !== url.pathname) {
    url.pathname = path.value;
    if (url.pathname !== path.value) return reject("invalid_url");
  }
  url.hash = "";

  return accept({
    url: url.href,
    scheme,
    host: url.hostname,
    port: url.port === "" ? defaultPort : Number(url.port),
    path: url.pathname,
  });
}

/**
 * A non-HTTP connection URL. WHATWG leaves the host of a scheme it does not know as written, so
 * the host is read as an http URL's would be (lower case, IDNA, IPv4 in dotted decimal), and the
 * port from the authority itself, since http would drop an explicit `:80`.
 */
function canonicalizeSocketUrl(raw: string, scheme: string): TargetResult<CanonicalUrl> {
  const rest = raw.slice(scheme.length + 3);
  const end = rest.search(/[/?#]/);
  const authority = end < 0 ? rest : rest.slice(0, end);
  const explicit = /:(\d{1,5})$/.exec(authority.replace(/^\[[^\]]*\]/, ""));
  const port = explicit ? Number(explicit[1]) : SOCKET_SCHEMES.get(scheme);
  if (port === null || port === undefined || port === 0 || port > 65535) return reject("invalid_url");
  let parsed: URL;
  try {
    parsed = new URL(`http://${rest}`);
  } catch {
    return reject("invalid_url");
  }
  const host = parsed.hostname.replace(/\.$/, "");
  if (host === "" || host.endsWith(".")) return reject("invalid_url");
  const path = scheme === "ssh" ? canonicalUrlPath(parsed.pathname) : accept("/");
  if (!path.ok) return path;
  const defaultPort = SOCKET_SCHEMES.get(scheme);
  return accept({ url: `${scheme}://${host}${port === defaultPort ? "" : `:${port}`}${path.value}`, scheme, host, port, path: path.value });
}

/**
 * Refuses URLs whose host, or whose path's dot segments, depend on which parser reads them.
 * WHATWG (browsers, Node, workerd) decides here, but the request is made by curl, wget, git,
 * Python or Go, which follow RFC 3986 (or, for Python's `urlsplit`, their own rules):
 * `https://registry.npmjs.org\@evil.example/` is registry.npmjs.org to WHATWG (a `\` ends the
 * host of a special URL) and evil.example to curl (`registry.npmjs.org\` is userinfo). So the
 * authority, and the path's segments, must be ones every family reads alike.
 */
function ambiguousReading(raw: string): TargetRejection | null {
  // Whitespace anywhere: WHATWG strips it at the ends, clients split or encode it.
  if (/\s/u.test(raw)) return "url_ambiguous";
  // A `\` is a path separator to WHATWG (in special URLs) and a literal to everyone else.
  if (raw.includes("\\")) return "url_ambiguous";
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(raw);
  // Other schemes are refused as such once parsed.
  const name = (scheme?.[1] ?? "").toLowerCase();
  if (!DEFAULT_PORTS.has(name) && !SOCKET_SCHEMES.has(name)) return null;
  const rest = raw.slice((scheme?.[0] ?? "").length);
  // `https:evil.example` and `https:/evil.example`: WHATWG supplies the missing slashes, RFC 3986 reads a path.
  if (!rest.startsWith("//")) return "url_ambiguous";
  const end = rest.slice(2).search(/[/?#]/);
  const authority = end < 0 ? rest.slice(2) : rest.slice(2, 2 + end);
  // `https:///evil.example`: WHATWG skips the empty host, RFC 3986 has no host at all.
  if (authority === "") return "url_ambiguous";
  const ats = authority.split("@").length - 1;
  // `a@b@c`: WHATWG takes the last `@`, some clients the first.
  if (ats > 1) return "url_ambiguous";
  if (ats === 1) return "url_credentials";
  // WHATWG percent-decodes a host (`evil%2Eexample`), curl and Go do not; IDNA 2003 (Python)
  // and UTS 46 (WHATWG, curl) map non-ASCII hosts differently (`ß`, `ς`, full-width dots).
  if (/[%\u0080-\u{10FFFF}]/u.test(authority)) return "url_ambiguous";
  // A dot segment (`/a/../b`, `/a/%2e%2e/b`): WHATWG resolves it (`/b`), and so does curl unless
  // told `--path-as-is`, but not its `%2e` spelling; Python's urllib and Go's net/http send either
  // as written; a server that routes on the raw path reads a segment inside `/a/`.
  const path = (end < 0 ? "" : rest.slice(2 + end)).split(/[?#]/, 1)[0]!;
  if (path.split("/").some((segment) => /^(?:\.|%2e){1,2}$/i.test(segment))) return "url_ambiguous";
  return null;
}

function canonicalUrlPath(pathname: string): TargetResult<string> {
  // No dot segment reaches the parser (refused before it); an encoded separator becomes one when
  // the server decodes.
  if (/%(?:2f|5c)/i.test(pathname)) return reject("invalid_url");
  const decoded = percentDecodeOnce(pathname);
  if (!decoded.ok) return decoded;
  const problem = screenText(decoded.value, false);
  if (problem !== null) return reject(problem);
  if (ENCODED_BYTE.test(decoded.value)) return reject("double_encoding");
  for (const segment of decoded.value.split("/")) {
    // Servers that strip `;params` (Tomcat: `/..;/`) or trailing dots and
    // spaces (IIS: `/.. /`) turn these into traversal.
    const name = (segment.split(";")[0] ?? "");
    if (name.includes(".") && stripTrailingDotsAndSpaces(name) === "") return reject("invalid_url");
  }
  // RFC 3986 6.2.2: `%61dmin` and `admin` are the same path to every server.
  return accept(
    pathname.replace(/%([0-9A-Fa-f]{2})/g, (_match, hex: string) => {
      const char = String.fromCharCode(Number.parseInt(hex, 16));
      return UNRESERVED.test(char) ? char : `%${hex.toUpperCase()}`;
    }),
  );
}

/** A canonical tool name (an agent's built-in tool, or an MCP server's tool). */
export interface CanonicalTool {
  /** The name exactly as the agent uses it: `WebSearch`, `mcp__github__create_issue`. */
  name: string;
  /** For `mcp__<server>__<tool>`: the server; "" for a built-in tool. */
  server: string;
  /** For `mcp__<server>__<tool>`: the server's tool; "" for a built-in tool. */
  tool: string;
}

// Tool names are identifiers to agents (Claude Code and Codex match them case-sensitively),
// so anything outside this set is not a name a policy could have meant.
const TOOL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,255}$/;
const MCP_PREFIX = "mcp__";

/**
 * Canonicalises a tool name. MCP tools follow the agents' `mcp__<server>__<tool>` convention;
 * the server name ends at the first `__` after the prefix, as the agents' own permission rules
 * read it, and a name with an empty server or tool is refused rather than guessed.
 */
export function canonicalizeTool(raw: string): TargetResult<CanonicalTool> {
  if (raw.length === 0) return reject("empty");
  if (!TOOL_NAME.test(raw)) return reject("invalid_tool");
  if (!raw.startsWith(MCP_PREFIX)) return accept({ name: raw, server: "", tool: "" });
  const rest = raw.slice(MCP_PREFIX.length);
  const split = rest.indexOf("__");
  if (split <= 0 || split + 2 >= rest.length) return reject("invalid_tool");
  return accept({ name: raw, server: rest.slice(0, split), tool: rest.slice(split + 2) });
}
