import { describe, expect, it } from "vitest";
import {
  canonicalizePath,
  canonicalizeTool,
  canonicalizeUrl,
  type CanonicalPath,
  type DeviceOs,
  type TargetRejection,
} from "../../worker/policy/targets.ts";

type PathCase = [os: DeviceOs, raw: string, path: string];
type RejectCase = [os: DeviceOs, raw: string, reason: TargetRejection];

// Each row: the input, and the exact canonical path it must produce.
const acceptedPaths: PathCase[] = [
  // linux: lexical resolution, case preserved
  ["linux", "/home/alice/project", "/home/alice/project"],
  ["linux", "/", "/"],
  ["linux", "//", "/"],
  ["linux", "/home//alice///project", "/home/alice/project"],
  ["linux", "/home/./alice/.", "/home/alice"],
  ["linux", "/home/alice/", "/home/alice"],
  ["linux", "/home/alice/../bob", "/home/bob"],
  ["linux", "/..", "/"],
  ["linux", "/../../etc/passwd", "/etc/passwd"],
  ["linux", "/home/alice/project/../../etc", "/home/etc"],
  ["linux", "/Home/Alice/README.md", "/Home/Alice/README.md"],
  ["linux", "/srv/a b/c", "/srv/a b/c"],
  ["linux", "/srv/...", "/srv/..."],
  ["linux", "/srv/a:b", "/srv/a:b"],
  // a `%` not followed by two hex digits is an ordinary character
  ["linux", "/srv/100%", "/srv/100%"],
  ["linux", "/srv/%zz%4", "/srv/%zz%4"],
  ["linux", "/srv/%", "/srv/%"],
  ["linux", "/srv/a%g0b", "/srv/a%g0b"],
  ["windows", "C:\\srv\\50%", "c:/srv/50%"],
  // NFC: precomposed and decomposed forms agree
  ["linux", "/srv/caf\u00e9", "/srv/caf\u00e9"],
  ["linux", "/srv/cafe\u0301", "/srv/caf\u00e9"],
  ["linux", "/srv/Caf\u00e9", "/srv/Caf\u00e9"],
  // macos: case folded
  ["macos", "/Users/Alice/Project", "/users/alice/project"],
  ["macos", "/USERS/ALICE/CAFE\u0301", "/users/alice/caf\u00e9"],
  ["macos", "/Users/Alice/../Bob/./", "/users/bob"],
  ["macos", "/x/\u0391\u03A3", "/x/\u03B1\u03C3"],
  ["macos", "/x/\u03B1\u03C2", "/x/\u03B1\u03C3"],
  ["macos", "/x/\u017Fecret", "/x/secret"],
  ["macos", "/x/stra\u00DFe", "/x/strasse"],
  ["macos", "/x/STRA\u1E9EE", "/x/strasse"],
  // windows: drive letters, separators, case
  ["windows", "C:\\Users\\Alice\\Project", "c:/users/alice/project"],
  ["windows", "c:/users/alice/project", "c:/users/alice/project"],
  ["windows", "D:/Data", "d:/data"],
  ["windows", "C:/Users\\Alice/Project\\", "c:/users/alice/project"],
  ["windows", "C:\\\\Users\\\\\\Alice", "c:/users/alice"],
  ["windows", "C:\\", "c:/"],
  ["windows", "C:/", "c:/"],
  ["windows", "C:\\Users\\CAFE\u0301", "c:/users/caf\u00e9"],
  ["windows", "C:\\Program Files (x86)\\App", "c:/program files (x86)/app"],
  ["windows", "C:\\console\\com10\\nullable.txt", "c:/console/com10/nullable.txt"],
  ["windows", "C:\\a\\tilde~name", "c:/a/tilde~name"],
  // windows: dot segments never climb above the root
  ["windows", "C:\\a\\.\\b", "c:/a/b"],
  ["windows", "C:\\a\\..\\..\\..\\b", "c:/b"],
  ["windows", "C:\\..", "c:/"],
  // windows: trailing dots and spaces, unnamed data stream
  ["windows", "C:\\Secret.txt. ", "c:/secret.txt"],
  ["windows", "C:\\Secret.txt...", "c:/secret.txt"],
  ["windows", "C:\\dir. \\file", "c:/dir/file"],
  ["windows", "C:\\Secret.txt::$DATA", "c:/secret.txt"],
  ["windows", "C:\\secret.txt::$data", "c:/secret.txt"],
  ["windows", "C:\\secret.txt.::$DATA", "c:/secret.txt"],
  // windows: verbatim and UNC roots
  ["windows", "\\\\?\\C:\\Users\\Alice", "c:/users/alice"],
  ["windows", "\\\\?\\c:\\", "c:/"],
  ["windows", "\\\\?\\UNC\\srv\\share\\x", "//srv/share/x"],
  ["windows", "\\\\?\\unc\\SRV\\Share", "//srv/share"],
  ["windows", "\\\\Server\\Share\\Dir\\F.txt", "//server/share/dir/f.txt"],
  ["windows", "//server/share", "//server/share"],
  ["windows", "\\\\srv\\share\\..\\..\\x", "//srv/share/x"],
  ["windows", "\\\\srv.\\share\\x", "//srv/share/x"],
];

describe("canonicalizePath accepts", () => {
  it.each(acceptedPaths)("%s %j -> %j", (os, raw, path) => {
    const result = canonicalizePath(raw, os);
    expect(result).toMatchObject({ ok: true, value: { path } });
  });

  // A canonical path must be a fixed point, or a policy written against the
  // canonical form would not match a second pass over it.
  it.each(acceptedPaths)("%s %j is idempotent", (os, raw) => {
    const first = canonicalizePath(raw, os);
    if (!first.ok) throw new Error(`rejected: ${first.reason}`);
    expect(canonicalizePath(first.value.path, os)).toEqual(first);
  });
});

const rejectedPaths: RejectCase[] = [
  ["linux", "", "empty"],
  ["windows", "", "empty"],
  ["linux", `/${"a".repeat(4096)}`, "too_long"],
  ["windows", `C:\\${"a".repeat(4094)}`, "too_long"],
  ["linux", "/a".repeat(257), "too_many_segments"],
  ["windows", `C:${"\\a".repeat(257)}`, "too_many_segments"],
  // NUL
  ["linux", "/etc/passwd\u0000.png", "nul_byte"],
  ["linux", "/a%C3\u0000", "nul_byte"],
  // other controls
  ["linux", "/a\u0001b", "control_character"],
  ["linux", "/a\tb", "control_character"],
  ["linux", "/a\u007f", "control_character"],
  ["linux", "/a\u0085", "control_character"],
  ["linux", "/a\u2028b", "control_character"],
  // invisible characters
  ["linux", "/home/al\u200Bice", "invisible_character"],
  ["linux", "/home/alice/evil\u202Etxt.sh", "invisible_character"],
  ["linux", "/\uFEFFetc/passwd", "invisible_character"],
  ["linux", "/a\u00ADb", "invisible_character"],
  ["linux", "/a\u2060b", "invisible_character"],
  ["linux", "/a\u034Fb", "invisible_character"],
  ["linux", "/a\u3164b", "invisible_character"],
  ["macos", "/a\u200Db", "invisible_character"],
  ["windows", "C:\\a\u202E", "invisible_character"],
  // percent-encoded bytes: the OS reads `x%2fy` as one name, a file: URI
  // handler or an MCP server as `x/y`, and `..` then climbs to different places
  ["linux", "/home/dev/workspace/x%2fy/../../.bashrc", "percent_encoding"],
  ["linux", "/home/dev/workspace/x%2Fy/../../.bashrc", "percent_encoding"],
  ["macos", "/Users/dev/workspace/x%2fy/../../.zshrc", "percent_encoding"],
  ["windows", "C:\\Users\\dev\\workspace\\x%5cy\\..\\..\\.bashrc", "percent_encoding"],
  ["windows", "C:\\Users\\dev\\workspace\\x%2fy\\..\\..\\.bashrc", "percent_encoding"],
  ["windows", "C:%5cUsers%5cAlice", "percent_encoding"],
  ["linux", "/srv/a%2fb", "percent_encoding"],
  ["linux", "/home/alice/%2e%2e/bob", "percent_encoding"],
  ["linux", "/srv/50%25", "percent_encoding"],
  ["linux", "/srv/%C3%A9t%C3%A9", "percent_encoding"],
  // whatever the bytes would decode to: NUL, controls, invisible characters,
  // a second layer of encoding, overlong or invalid UTF-8
  ["linux", "/etc/passwd%00.png", "percent_encoding"],
  ["windows", "C:\\a%00", "percent_encoding"],
  ["linux", "/a%0ab", "percent_encoding"],
  ["linux", "/home/al%E2%80%8Bice", "percent_encoding"],
  ["linux", "/home/alice/%252e%252e/etc", "percent_encoding"],
  ["windows", "C:\\a%255c..%255cb", "percent_encoding"],
  ["linux", "/a/%C0%AE%C0%AE/etc", "percent_encoding"],
  ["linux", "/a/%ff", "percent_encoding"],
  ["macos", "/a%5c..%5cb", "percent_encoding"],
  ["windows", "%5c%5c.%5cPhysicalDrive0", "percent_encoding"],
  // invalid UTF-8
  ["linux", "/a/\uD800", "invalid_utf8"],
  // relative
  ["linux", "home/alice", "not_absolute"],
  ["linux", "./x", "not_absolute"],
  ["linux", "~/x", "not_absolute"],
  ["linux", " /etc", "not_absolute"],
  ["macos", "Users/alice", "not_absolute"],
  ["windows", "\\Windows\\System32", "not_absolute"],
  ["windows", "Users\\alice", "not_absolute"],
  ["windows", "/etc/passwd", "not_absolute"],
  ["windows", "..\\x", "not_absolute"],
  ["windows", "C:foo\\bar", "drive_relative"],
  ["windows", "C:", "drive_relative"],
  ["windows", "c:..\\x", "drive_relative"],
  // backslash on POSIX
  ["linux", "/home\\alice", "invalid_segment"],
  ["linux", "/home/alice/..\\..\\etc", "invalid_segment"],
  // alternate data streams
  ["windows", "C:\\secret.txt:hidden", "alternate_data_stream"],
  ["windows", "C:\\secret.txt:hidden:$DATA", "alternate_data_stream"],
  ["windows", "C:\\secret.txt:$DATA", "alternate_data_stream"],
  ["windows", "C:\\dir::$INDEX_ALLOCATION\\x", "alternate_data_stream"],
  ["windows", "C:\\a\\C:\\b", "alternate_data_stream"],
  // device names
  ["windows", "C:\\CON", "device_name"],
  ["windows", "C:\\x\\nul.txt", "device_name"],
  ["windows", "C:\\x\\con .txt", "device_name"],
  ["windows", "C:\\COM1", "device_name"],
  ["windows", "C:\\x\\lpt9.log", "device_name"],
  ["windows", "C:\\COM\u00B9", "device_name"],
  ["windows", "C:\\x\\LPT\u00B3.txt", "device_name"],
  ["windows", "C:\\aux.", "device_name"],
  ["windows", "C:\\x\\nul::$DATA", "device_name"],
  ["windows", "C:\\CONIN$", "device_name"],
  // device namespace
  ["windows", "\\\\.\\PhysicalDrive0", "device_namespace"],
  ["windows", "\\\\.\\C:\\Windows", "device_namespace"],
  ["windows", "//./C:/Windows", "device_namespace"],
  ["windows", "//?/C:/Windows", "device_namespace"],
  ["windows", "\\\\?\\GLOBALROOT\\Device\\HarddiskVolume1\\x", "device_namespace"],
  ["windows", "\\\\?\\Volume{26a21bda-a627-11d7-9931-806e6f6e6963}\\x", "device_namespace"],
  ["windows", "\\\\?\\C:", "device_namespace"],
  ["windows", "\\??\\C:\\Windows", "device_namespace"],
  // 8.3 short names
  ["windows", "C:\\PROGRA~1\\App", "short_name"],
  ["windows", "C:\\x\\secret~2.txt", "short_name"],
  // invalid segments
  ["windows", "C:\\a<b", "invalid_segment"],
  ["windows", "C:\\a>b", "invalid_segment"],
  ["windows", "C:\\a|b", "invalid_segment"],
  ["windows", "C:\\a*", "invalid_segment"],
  ["windows", "C:\\a?b", "invalid_segment"],
  ["windows", 'C:\\a"b', "invalid_segment"],
  ["windows", "C:\\a<\u0338b", "invalid_segment"],
  ["windows", "C:\\...\\x", "invalid_segment"],
  ["windows", "C:\\ \\x", "invalid_segment"],
  ["windows", "C:\\.. \\x", "invalid_segment"],
  ["windows", "C:\\::$DATA", "invalid_segment"],
  ["windows", "\\\\server", "invalid_segment"],
  ["windows", "\\\\server\\", "invalid_segment"],
  ["windows", "\\\\\\server\\share", "invalid_segment"],
  ["windows", "\\\\..\\share\\x", "invalid_segment"],
  ["windows", "\\\\?\\UNC\\server", "invalid_segment"],
  ["windows", "\\\\host\\C$\\Windows", "invalid_segment"],
  ["windows", "\\\\?\\UNC\\localhost\\admin$\\x", "invalid_segment"],
  ["windows", "\\\\?\\C:\\a\\..\\b", "invalid_segment"],
  ["windows", "\\\\?\\C:\\a\\.\\b", "invalid_segment"],
  ["windows", "\\\\?\\C:\\secret.txt.", "invalid_segment"],
  ["windows", "\\\\?\\C:/Windows", "invalid_segment"],
  ["windows", "C:\\x\uFF3C..\uFF3Cy", "invalid_segment"],
  ["windows", "C:\\x\u2215y", "invalid_segment"],
];

describe("canonicalizePath rejects", () => {
  it.each(rejectedPaths)("%s %j -> %s", (os, raw, reason) => {
    expect(canonicalizePath(raw, os)).toEqual({ ok: false, reason });
  });

  it("throws on an os outside the union instead of picking a default", () => {
    expect(() => canonicalizePath("/etc", "Linux" as DeviceOs)).toThrowError(expect.objectContaining({ code: "internal_error" }));
  });
});

describe("canonicalizePath length limits", () => {
  it("accepts exactly 4096 characters", () => {
    const raw = `/${"a".repeat(4095)}`;
    expect(canonicalizePath(raw, "linux")).toMatchObject({ ok: true, value: { path: raw } });
  });

  it("accepts exactly 256 segments", () => {
    const result = canonicalizePath("/a".repeat(256), "linux");
    if (!result.ok) throw new Error(`rejected: ${result.reason}`);
    expect(result.value.segments).toHaveLength(256);
    expect(result.value.within).toHaveLength(257);
  });

  it("counts segments after resolution", () => {
    const result = canonicalizePath(`${"/a".repeat(256)}/b/..`, "linux");
    expect(result.ok).toBe(true);
  });
});

describe("canonicalizePath output shape", () => {
  it.each<[DeviceOs, string, CanonicalPath]>([
    [
      "linux",
      "/home/alice/project",
      {
        path: "/home/alice/project",
        segments: ["home", "alice", "project"],
        within: ["/", "/home", "/home/alice", "/home/alice/project"],
      },
    ],
    ["linux", "/", { path: "/", segments: [], within: ["/"] }],
    [
      "windows",
      "C:\\Users\\A",
      { path: "c:/users/a", segments: ["users", "a"], within: ["c:/", "c:/users", "c:/users/a"] },
    ],
    ["windows", "c:\\", { path: "c:/", segments: [], within: ["c:/"] }],
    [
      "windows",
      "\\\\SRV\\Share\\X",
      { path: "//srv/share/x", segments: ["x"], within: ["//srv/share", "//srv/share/x"] },
    ],
    ["windows", "\\\\srv\\share", { path: "//srv/share", segments: [], within: ["//srv/share"] }],
  ])("%s %j", (os, raw, expected) => {
    expect(canonicalizePath(raw, os)).toEqual({ ok: true, value: expected });
  });
});

// What a Cedar policy `resource.within.contains(root)` decides for each target.
describe("containment through within", () => {
  it.each<[DeviceOs, string, string, boolean]>([
    ["linux", "/home/alice/project/src/a.ts", "/home/alice/project", true],
    ["linux", "/home/alice/project", "/home/alice/project", true],
    ["linux", "/home/alice/project/", "/home/alice/project", true],
    ["linux", "/home/alice/project-evil", "/home/alice/project", false],
    ["linux", "/home/alice/project-evil/src", "/home/alice/project", false],
    ["linux", "/home/alice/project/../../etc", "/home/alice/project", false],
    ["linux", "/home/alice/project/../project-evil/x", "/home/alice/project", false],
    ["linux", "/home/alice", "/home/alice/project", false],
    ["linux", "/home/Alice/project/x", "/home/alice/project", false],
    ["macos", "/Home/Alice/PROJECT/x", "/home/alice/project", true],
    ["windows", "C:\\Users\\Alice\\Project\\src\\a.ts", "c:/users/alice/project", true],
    ["windows", "c:/USERS/alice/project. /src", "c:/users/alice/project", true],
    ["windows", "C:\\Users\\Alice\\Project-Evil", "c:/users/alice/project", false],
    ["windows", "C:\\Users\\Alice\\Project\\..\\..\\Bob", "c:/users/alice/project", false],
  ])("%s %j within %j is %s", (os, raw, root, inside) => {
    const result = canonicalizePath(raw, os);
    if (!result.ok) throw new Error(`rejected: ${result.reason}`);
    expect(result.value.within.includes(root)).toBe(inside);
  });

  it("/home/alice/project/../../etc canonicalises to /home/etc", () => {
    expect(canonicalizePath("/home/alice/project/../../etc", "linux")).toMatchObject({
      ok: true,
      value: { path: "/home/etc", within: ["/", "/home", "/home/etc"] },
    });
  });
});

describe("canonicalizeUrl accepts", () => {
  it.each<[string, { url: string; scheme: string; host: string; port: number; path: string }]>([
    [
      "https://Example.COM/a/b?q=1#frag",
      { url: "https://example.com/a/b?q=1", scheme: "https", host: "example.com", port: 443, path: "/a/b" },
    ],
    ["HTTP://EXAMPLE.COM", { url: "http://example.com/", scheme: "http", host: "example.com", port: 80, path: "/" }],
    [
      "http://example.com:8080/x",
      { url: "http://example.com:8080/x", scheme: "http", host: "example.com", port: 8080, path: "/x" },
    ],
    [
      "https://example.com:443/x",
      { url: "https://example.com/x", scheme: "https", host: "example.com", port: 443, path: "/x" },
    ],
    ["ws://h.example/sock", { url: "ws://h.example/sock", scheme: "ws", host: "h.example", port: 80, path: "/sock" }],
    ["wss://h.example:9443/", { url: "wss://h.example:9443/", scheme: "wss", host: "h.example", port: 9443, path: "/" }],
    ["https://example.com/x#", { url: "https://example.com/x", scheme: "https", host: "example.com", port: 443, path: "/x" }],
    [
      "https://xn--bcher-kva.example/",
      { url: "https://xn--bcher-kva.example/", scheme: "https", host: "xn--bcher-kva.example", port: 443, path: "/" },
    ],
    ["https://example.com./x", { url: "https://example.com/x", scheme: "https", host: "example.com", port: 443, path: "/x" }],
    ["http://0x7f.1/", { url: "http://127.0.0.1/", scheme: "http", host: "127.0.0.1", port: 80, path: "/" }],
    ["http://[::1]:8080/", { url: "http://[::1]:8080/", scheme: "http", host: "[::1]", port: 8080, path: "/" }],
    // Dots that are no dot segment, and a dot segment in the query, which no client resolves.
    ["https://example.com/a..b/..x/.x?q=/../b", { url: "https://example.com/a..b/..x/.x?q=/../b", scheme: "https", host: "example.com", port: 443, path: "/a..b/..x/.x" }],
    [
      "https://example.com/%61dmin",
      { url: "https://example.com/admin", scheme: "https", host: "example.com", port: 443, path: "/admin" },
    ],
    [
      "https://example.com/a%c3%a9",
      { url: "https://example.com/a%C3%A9", scheme: "https", host: "example.com", port: 443, path: "/a%C3%A9" },
    ],
    [
      "https://example.com/Path/File",
      { url: "https://example.com/Path/File", scheme: "https", host: "example.com", port: 443, path: "/Path/File" },
    ],
    [
      "https://example.com/.well-known/x?redirect=%2F..%2F",
      {
        url: "https://example.com/.well-known/x?redirect=%2F..%2F",
        scheme: "https",
        host: "example.com",
        port: 443,
        path: "/.well-known/x",
      },
    ],
  ])("%j", (raw, expected) => {
    expect(canonicalizeUrl(raw)).toEqual({ ok: true, value: expected });
  });
});

describe("canonicalizeUrl rejects", () => {
  it.each<[string, TargetRejection]>([
    ["", "empty"],
    ["   ", "empty"],
    [`https://example.com/${"a".repeat(8192)}`, "too_long"],
    ["ftp://example.com/file", "unsupported_scheme"],
    ["file:///etc/passwd", "unsupported_scheme"],
    ["javascript:alert(1)", "unsupported_scheme"],
    ["data:text/html,<script>x</script>", "unsupported_scheme"],
    ["mailto:a@example.com", "unsupported_scheme"],
    ["not-a-url", "invalid_url"],
    ["/relative/path", "invalid_url"],
    ["http://", "url_ambiguous"],
    // Parsers disagree on the host of each of these (docs/targets.md › URLs).
    ["https://registry.npmjs.org\\@evil.example/", "url_ambiguous"],
    ["https://registry.npmjs.org\\.evil.example/", "url_ambiguous"],
    ["https://example.com/a\\b", "url_ambiguous"],
    ["https:\\\\evil.example/", "url_ambiguous"],
    ["https:/evil.example/", "url_ambiguous"],
    ["https:evil.example/", "url_ambiguous"],
    ["https:///evil.example/", "url_ambiguous"],
    ["https://a@b@evil.example/", "url_ambiguous"],
    ["https://@evil.example/", "url_credentials"],
    ["https://evil%2Eexample/", "url_ambiguous"],
    // WHATWG resolves a %2e dot segment; curl 7.88 sends `/a/%2e%2e/b` as written.
    ["https://example.com/a/%2e%2e/b", "url_ambiguous"],
    // WHATWG and curl resolve a plain one; Python's urllib and Go's net/http send it as written.
    ["https://example.com/a/./b/../c", "url_ambiguous"],
    ["https://example.com/a/..", "url_ambiguous"],
    ["https://example.com/..", "url_ambiguous"],
    ["https://example.com/./", "url_ambiguous"],
    ["ssh://example.com/a/../b", "url_ambiguous"],
    ["https://example.com/a/.%2E/b", "url_ambiguous"],
    ["https://example.com/a/%2e/b?x=1", "url_ambiguous"],
    ["ssh://example.com/a/%2e%2e/b", "url_ambiguous"],
    ["https://fa\u00DF.example/", "url_ambiguous"],
    ["https://evil\u3002example/", "url_ambiguous"],
    ["https://b\u00FCcher.example/", "url_ambiguous"],
    [" https://example.com/", "url_ambiguous"],
    ["https://example.com/a b", "url_ambiguous"],
    ["https://example.com/\u00A0", "url_ambiguous"],
    ["not a url", "url_ambiguous"],
    ["https://example.com../", "invalid_url"],
    ["https://user:pass@example.com/", "url_credentials"],
    ["https://user@example.com/", "url_credentials"],
    ["https://:pass@example.com/", "url_credentials"],
    ["https://example.com/a%2fb", "invalid_url"],
    ["https://example.com/a%2Fb", "invalid_url"],
    ["https://example.com/a%5c..%5cb", "invalid_url"],
    ["https://example.com/a/%2e%2e%2fb", "invalid_url"],
    ["https://example.com/a/..;/admin", "invalid_url"],
    ["https://example.com/a/%2e%2e;x/admin", "invalid_url"],
    ["https://example.com/a/..%20/admin", "invalid_url"],
    ["https://example.com/a%252fb", "double_encoding"],
    ["https://example.com/a%00", "nul_byte"],
    ["https://exa\u0000mple.com/", "nul_byte"],
    ["https://example.com/a%C0%AE", "invalid_utf8"],
    ["https://example.com/\u0007", "control_character"],
    ["java\tscript:alert(1)", "control_character"],
    ["https://example.com/a\nb", "control_character"],
    ["https://example.com/a%0d%0aSet-Cookie:x", "control_character"],
    ["https://exa\u200Bmple.com/", "invisible_character"],
    ["https://example.com/%E2%80%AEx", "invisible_character"],
  ])("%j -> %s", (raw, reason) => {
    expect(canonicalizeUrl(raw)).toEqual({ ok: false, reason });
  });
});

describe("canonicalizeTool", () => {
  it.each<[string, { name: string; server: string; tool: string }]>([
    ["WebSearch", { name: "WebSearch", server: "", tool: "" }],
    ["TodoWrite", { name: "TodoWrite", server: "", tool: "" }],
    ["mcp__github__create_issue", { name: "mcp__github__create_issue", server: "github", tool: "create_issue" }],
    ["mcp__my-server__do__thing", { name: "mcp__my-server__do__thing", server: "my-server", tool: "do__thing" }],
  ])("%j", (raw, expected) => {
    expect(canonicalizeTool(raw)).toEqual({ ok: true, value: expected });
  });

  it.each<[string, TargetRejection]>([
    ["", "empty"],
    ["mcp__", "invalid_tool"],
    ["mcp____tool", "invalid_tool"],
    ["mcp__server__", "invalid_tool"],
    ["mcp__server", "invalid_tool"],
    ["Web Search", "invalid_tool"],
    ["Bash\u200B", "invalid_tool"],
    ["../Bash", "invalid_tool"],
    ["x".repeat(257), "invalid_tool"],
  ])("%j -> %s", (raw, reason) => {
    expect(canonicalizeTool(raw)).toEqual({ ok: false, reason });
  });
});

describe("canonicalizeUrl: connections that are not HTTP", () => {
  it.each<[string, { url: string; scheme: string; host: string; port: number; path: string }]>([
    ["ssh://Git.Example.COM/org/repo.git", { url: "ssh://git.example.com/org/repo.git", scheme: "ssh", host: "git.example.com", port: 22, path: "/org/repo.git" }],
    ["ssh://prod-db:22/", { url: "ssh://prod-db/", scheme: "ssh", host: "prod-db", port: 22, path: "/" }],
    ["ssh://bastion:2222/", { url: "ssh://bastion:2222/", scheme: "ssh", host: "bastion", port: 2222, path: "/" }],
    ["tcp://10.0.0.1:80/", { url: "tcp://10.0.0.1:80/", scheme: "tcp", host: "10.0.0.1", port: 80, path: "/" }],
    ["udp://0x7f.1:53", { url: "udp://127.0.0.1:53/", scheme: "udp", host: "127.0.0.1", port: 53, path: "/" }],
    ["telnet://router.example./", { url: "telnet://router.example/", scheme: "telnet", host: "router.example", port: 23, path: "/" }],
  ])("%j", (raw, expected) => {
    expect(canonicalizeUrl(raw)).toEqual({ ok: true, value: expected });
  });

  it.each<[string, TargetRejection]>([
    ["tcp://10.0.0.1/", "invalid_url"],
    ["tcp://10.0.0.1:0/", "invalid_url"],
    ["ssh://user@host/", "url_credentials"],
    ["ssh://a@b@host/", "url_ambiguous"],
    ["ssh:host", "url_ambiguous"],
    ["ssh://ho\\st/", "url_ambiguous"],
    ["ssh://h%6fst/", "url_ambiguous"],
  ])("%j -> %s", (raw, reason) => {
    expect(canonicalizeUrl(raw)).toEqual({ ok: false, reason });
  });
});
