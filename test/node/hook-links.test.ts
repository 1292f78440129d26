/**
 * Symbolic links on the device (cli/hooks/links.ts). `realPath` is held to the kernel on a real
 * directory tree: for each path, the file it names is the one `realpathSync.native` (the C
 * library's realpath(3), which asks the kernel) finds, or — for a path whose last component is not there —
 * the one a write creates. Then the hook end to end against Warden: a call whose path leads out of
 * the workspace through a link is denied, naming the file it leads to, and nothing runs.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { reachedThroughLinks, realPath } from "../../cli/hooks/links.ts";
import { fileAction } from "../../cli/hooks/mapping.ts";
import { HOOK_GROUP } from "./bundle.ts";
import { Device, decisionOf } from "./cli.ts";

const ctx = inject("warden");

describe("realPath, against the kernel", () => {
  // outside/secret.txt, outside/dir/; root/ holds the links.
  const base = realpathSync(mkdtempSync(join(tmpdir(), "warden-links-")));
  const outside = join(base, "outside");
  const root = join(base, "root");
  beforeAll(() => {
    mkdirSync(join(outside, "dir"), { recursive: true });
    mkdirSync(join(root, "sub"), { recursive: true });
    writeFileSync(join(outside, "secret.txt"), "secret");
    writeFileSync(join(outside, "dir", "file.txt"), "file");
    writeFileSync(join(root, "plain.txt"), "plain");
    symlinkSync(outside, join(root, "abs"));
    symlinkSync("../outside/secret.txt", join(root, "rel"));
    symlinkSync("abs/dir", join(root, "chain"));
    symlinkSync(join(outside, "dir"), join(root, "sub", "up"));
    symlinkSync(join(outside, "created.txt"), join(root, "dangling"));
    symlinkSync("loop-b", join(root, "loop-a"));
    symlinkSync("loop-a", join(root, "loop-b"));
  });

  it.each([
    ["plain.txt", "root/plain.txt"],
    ["abs/secret.txt", "outside/secret.txt"],
    ["rel", "outside/secret.txt"],
    ["chain/file.txt", "outside/dir/file.txt"],
    // `..` after a link is the parent of where the link led, not of the link.
    ["sub/up/../secret.txt", "outside/secret.txt"],
    ["abs/dir/../secret.txt", "outside/secret.txt"],
  ])("%s is %s, as realpath(3) finds it", (named, reached) => {
    // Not path.join, and the native realpath: both of Node's own collapse `..` in the text before anything looks at a link.
    const path = `${root}/${named}`;
    expect(realpathSync.native(path)).toBe(join(base, reached));
    expect(realPath(path)).toBe(join(base, reached));
  });

  it("a path not there yet is where a write creates it: through the links of its directories, and through a dangling link at its end", () => {
    expect(realPath(join(root, "abs", "new.txt"))).toBe(join(outside, "new.txt"));
    expect(realPath(join(root, "nowhere", "new.txt"))).toBe(join(root, "nowhere", "new.txt"));
    const dangling = join(root, "dangling");
    expect(realPath(dangling)).toBe(join(outside, "created.txt"));
    writeFileSync(dangling, "written through the link");
    expect(readFileSync(join(outside, "created.txt"), "utf8")).toBe("written through the link");
  });

  it("unlinking a link removes the link itself: its last component is not followed, its directories are", () => {
    expect(realPath(join(root, "abs"), false)).toBe(join(root, "abs"));
    // With a `/` after it, the kernel follows the link: `rm -r abs/` empties the directory it leads to.
    expect(realPath(`${join(root, "abs")}/`, false)).toBe(outside);
    expect(realPath(`${join(root, "abs")}/.`, false)).toBe(outside);
    expect(realPath(join(root, "chain", "file.txt"), false)).toBe(join(outside, "dir", "file.txt"));
  });

  it("a call's linked files: each path it names or Warden derived that leads elsewhere, once, a write keeping its content's hash; deleting a link is no such path", () => {
    const derived = (action: "file.read" | "file.delete", value: string) => ({ action, kind: "path" as const, value, from: 0 });
    const answer = (...paths: ReturnType<typeof derived>[]) => ({ decision: "permit" as const, reason_code: "policy_permit", reasons: [], policy: null, decision_id: "d", log: null, targets: [], derived: paths });
    const linked = reachedThroughLinks(
      [fileAction("file.write", [join(root, "abs", "new.txt")], "c0ffee"), fileAction("file.delete", [join(root, "abs")]), { action: { type: "command.exec", targets: [{ kind: "command", value: "cat rel abs/secret.txt plain.txt; rm chain" }] }, files: [] }],
      [answer(), answer(), answer(derived("file.read", join(root, "rel")), derived("file.read", join(root, "abs", "secret.txt")), derived("file.read", join(root, "plain.txt")), derived("file.delete", join(root, "chain")))],
    );
    expect(linked).toEqual({
      linked: [
        { action: { type: "file.write", targets: [{ kind: "path", value: join(outside, "new.txt") }], inputs_sha256: "c0ffee" }, files: [join(outside, "new.txt")], through: join(root, "abs", "new.txt") },
        { action: { type: "file.read", targets: [{ kind: "path", value: join(outside, "secret.txt") }] }, files: [], through: join(root, "rel") },
      ],
      blocked: null,
    });
  });

  it("a path with `..` is followed as named and as Warden read it: the kernel walks `..` from where a link led, a shell's cd and Claude Code resolve it as text", () => {
    // abs/../rel: the kernel reaches base/rel (nothing there); as text it is rel, a link to outside/secret.txt.
    const named = `${root}/abs/../rel`;
    expect(reachedThroughLinks([fileAction("file.read", [named])], [])).toEqual({
      linked: [
        { action: { type: "file.read", targets: [{ kind: "path", value: join(base, "rel") }] }, files: [], through: named },
        { action: { type: "file.read", targets: [{ kind: "path", value: join(outside, "secret.txt") }] }, files: [], through: named },
      ],
      blocked: null,
    });
  });

  it("links that loop reach nothing: the kernel refuses the path, and so does realPath (null), which a call is refused for", () => {
    expect(() => realpathSync.native(join(root, "loop-a", "x"))).toThrow(/ELOOP/);
    expect(realPath(join(root, "loop-a", "x"))).toBeNull();
    // The call's own command could replace the loop before it opens the path: what it reaches cannot be told.
    expect(reachedThroughLinks([fileAction("file.read", [join(root, "loop-a", "x")])], []).blocked).toBe(`${join(root, "loop-a", "x")} leads through symbolic links that loop; which file the call would reach cannot be told`);
  });
});

describe("links below a directory a program walks through them, against grep -R and find -L", () => {
  // repo/ holds docs -> keys/ (which holds more -> elsewhere/), a file link, a link back into repo,
  // a dangling link and a loop: what grep -R and find -L reach through them is held to the walk.
  const base = realpathSync(mkdtempSync(join(tmpdir(), "warden-walk-")));
  const repo = join(base, "repo");
  const keys = join(base, "keys");
  const elsewhere = join(base, "elsewhere");
  const walked = (value: string, action: "file.read" | "file.write" | "file.delete" = "file.read") => ({ action, kind: "path" as const, value, follows_links_below: true as const, from: 0 });
  const answer = (...derived: ReturnType<typeof walked>[]) => ({ decision: "permit" as const, reason_code: "policy_permit", reasons: [], policy: null, decision_id: "d", log: null, targets: [], derived });
  const line = { action: { type: "command.exec", targets: [{ kind: "command" as const, value: "grep -R KEY repo" }] }, files: [] };
  beforeAll(() => {
    for (const directory of [join(repo, "src", "deep"), join(keys, "sub"), elsewhere]) mkdirSync(directory, { recursive: true });
    writeFileSync(join(repo, "src", "deep", "app.ts"), "KEY in the repo\n");
    writeFileSync(join(keys, "id_rsa"), "KEY outside\n");
    writeFileSync(join(keys, "sub", "token"), "KEY outside, deeper\n");
    writeFileSync(join(elsewhere, "notes"), "KEY two links away\n");
    writeFileSync(join(base, "single"), "KEY through a file link\n");
    symlinkSync(keys, join(repo, "src", "deep", "docs"));
    symlinkSync(elsewhere, join(keys, "sub", "more"));
    symlinkSync("../single", join(repo, "single"));
    symlinkSync("src", join(repo, "back"));
    symlinkSync(join(base, "gone"), join(repo, "dangling"));
    symlinkSync("loop-b", join(repo, "loop-a"));
    symlinkSync("loop-a", join(repo, "loop-b"));
  });

  /** The files a program run on repo reaches, as real paths, those outside repo only. */
  const reachedBy = (program: string, args: string[]): string[] => {
    const run = (() => {
      try {
        return execFileSync(program, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
      } catch (error) {
        // Both exit 1 over the loop and the dangling link, having listed everything else.
        return (error as { stdout: string }).stdout;
      }
    })();
    return [...new Set(run.split("\n").filter((path) => path !== "").map((path) => realpathSync(path)))].filter((path) => !path.startsWith(`${repo}/`)).sort();
  };

  it.each([
    ["grep -R", "grep", ["-R", "-l", "KEY", "repo"]],
    ["find -L", "find", ["-L", "repo", "-type", "f"]],
  ])("every file %s reaches out of the directory is one the hook decides, or below one", (_, program, args) => {
    const { linked, blocked } = reachedThroughLinks([line], [answer(walked(repo))]);
    expect(blocked).toBeNull();
    const decided = linked.map((plan) => plan.action.targets[0]!.value);
    const reached = reachedBy(program, args.map((arg) => (arg === "repo" ? repo : arg)));
    expect(reached).toEqual([join(elsewhere, "notes"), join(keys, "id_rsa"), join(keys, "sub", "token"), join(base, "single")]);
    for (const file of reached) expect(decided.some((path) => file === path || file.startsWith(`${path}/`))).toBe(true);
    // The directories the links lead to, the file link, where the dangling link would lead (the call may make it), nothing inside the repo, nothing a loop names.
    expect(linked.map((plan) => [plan.action.type, plan.action.targets[0]!.value, plan.through]).sort()).toEqual([
      ["file.read", elsewhere, join(keys, "sub", "more")],
      ["file.read", join(base, "gone"), join(repo, "dangling")],
      ["file.read", keys, join(repo, "src", "deep", "docs")],
      ["file.read", join(base, "single"), join(repo, "single")],
    ]);
  });

  it("grep -r, which follows only the links it was given, reaches nothing out of the directory; nor does a path Warden did not mark", () => {
    expect(reachedBy("grep", ["-r", "-l", "KEY", repo])).toEqual([]);
    expect(reachedThroughLinks([line], [answer({ ...walked(repo), follows_links_below: undefined as never })]).linked).toEqual([]);
  });

  it("a write walked through links (chown -RL) decides writes; the walk starts where a link given as the path leads", () => {
    const named = join(repo, "src", "deep", "docs");
    const { linked } = reachedThroughLinks([line], [answer(walked(named, "file.write"))]);
    expect(linked.map((plan) => [plan.action.type, plan.action.targets[0]!.value, plan.through]).sort()).toEqual([
      ["file.write", elsewhere, join(keys, "sub", "more")],
      ["file.write", keys, named],
    ]);
  });

  it("a directory this user cannot read, below a walked one or on a path's way, in a call that can change permissions: what is behind it cannot be told, so the call is blocked", () => {
    // Run as a user the permissions apply to: root reads everything.
    const tree = realpathSync(mkdtempSync(join(tmpdir(), "warden-unreadable-")));
    mkdirSync(join(tree, "repo", "locked"), { recursive: true });
    mkdirSync(join(tree, "outside"));
    symlinkSync(join(tree, "outside"), join(tree, "repo", "locked", "docs"));
    const script = join(tree, "walk.mts");
    writeFileSync(script, `import { reachedThroughLinks } from ${JSON.stringify(fileURLToPath(new URL("../../cli/hooks/links.ts", import.meta.url)))};
const walked = { action: "file.read", kind: "path", value: ${JSON.stringify(join(tree, "repo"))}, follows_links_below: true, from: 0 };
const answer = (derived) => ({ decision: "permit", reason_code: "policy_permit", reasons: [], policy: null, decision_id: "d", log: null, targets: [], derived });
const line = (value) => ({ action: { type: "command.exec", targets: [{ kind: "command", value }] }, files: [] });
const chmodFirst = line("chmod 755 repo/locked && grep -R KEY repo");
const named = { action: { type: "file.read", targets: [{ kind: "path", value: ${JSON.stringify(join(tree, "repo", "locked", "docs", "k"))} }] }, files: [] };
console.log(JSON.stringify([
  reachedThroughLinks([chmodFirst], [answer([walked])]).blocked,
  reachedThroughLinks([chmodFirst, named], [answer([]), answer([])]).blocked,
  // A line that cannot change permissions reaches nothing through it: the agent runs as this user.
  reachedThroughLinks([line("grep -R KEY repo")], [answer([walked])]).blocked,
]));
`);
    for (const path of [tree, join(tree, "repo"), join(tree, "outside")]) chmodSync(path, 0o755);
    chmodSync(script, 0o644);
    chmodSync(join(tree, "repo", "locked"), 0o000);
    const tsx = fileURLToPath(new URL("../../node_modules/.bin/tsx", import.meta.url));
    const asUser = process.getuid?.() === 0 ? ["runuser", ["-u", "nobody", "--", tsx, script]] as const : [tsx, [script]] as const;
    const out = execFileSync(asUser[0], [...asUser[1]], { encoding: "utf8" });
    expect(JSON.parse(out)).toEqual([
      `${join(tree, "repo")} is walked through the symbolic links below it, and ${join(tree, "repo", "locked")} cannot be read by this user; which files the call would reach cannot be told`,
      `${join(tree, "repo", "locked", "docs", "k")} leads through ${join(tree, "repo", "locked", "docs")}, which this user cannot read; which file the call would reach cannot be told`,
      null,
    ]);
  });

  it("a path another command of the line may make links on the way to, through the device's links: not refused as written, blocked by the hook", () => {
    // made/ is where `tar -x -C made` makes links; lnk -> made is already there, as is repo/src/deep/docs -> keys.
    const made = join(base, "made");
    mkdirSync(made, { recursive: true });
    symlinkSync(made, join(base, "lnk"));
    const maker = { action: "file.write" as const, kind: "path" as const, value: made, follows_links_below: true as const, makes_links: true as const, from: 0 };
    const reading = (value: string, more: object = {}) => ({ action: "file.read" as const, kind: "path" as const, value, after_links_made: true as const, ...more, from: 0 });
    const through = reachedThroughLinks([line], [answer(maker as never, reading(join(base, "lnk", "docs", "id_rsa")) as never)]);
    expect(through.blocked).toBe(`${join(base, "lnk", "docs", "id_rsa")} leads to ${made}, where another command of the line can make symbolic links, through the links on its way; run that command in a call of its own first`);
    // A walk that reaches it through a link below (repo's docs -> keys, and keys is where links are made).
    const keysMaker = { ...maker, value: keys };
    expect(reachedThroughLinks([line], [answer(keysMaker as never, reading(repo, { follows_links_below: true }) as never)]).blocked).toBe(`${repo} leads to ${keys}, where another command of the line can make symbolic links, through the links on its way; run that command in a call of its own first`);
    // Elsewhere: nothing to block.
    expect(reachedThroughLinks([line], [answer(maker as never, reading(join(repo, "src", "deep", "app.ts")) as never)]).blocked).toBeNull();
  });

  it("found by review: a link to where links are not made yet, a `..` after a component not there yet, a maker that is itself a link", () => {
    const tree = realpathSync(mkdtempSync(join(tmpdir(), "warden-makers-")));
    mkdirSync(join(tree, "src"));
    mkdirSync(join(tree, "sub"));
    symlinkSync("../out/k", join(tree, "src", "dl"));
    symlinkSync("out/g/../../id_rsa", join(tree, "lnk"));
    symlinkSync("sub", join(tree, "dst"));
    const makes = (value: string) => ({ action: "file.write" as const, kind: "path" as const, value, makes_links: true as const, from: 0 });
    const after = (value: string, more: object = {}) => ({ action: "file.read" as const, kind: "path" as const, value, after_links_made: true as const, ...more, from: 0 });
    const blocked = (...derived: object[]) => reachedThroughLinks([line], [answer(...(derived as never[]))]).blocked;
    // `mkdir -p out && tar -xf a.tar -C out && grep -R TOP src`: src/dl leads into out/, which does not exist yet.
    expect(blocked(makes(join(tree, "out")), after(join(tree, "src"), { follows_links_below: true }))).toMatch(/^.*\/src leads to .*\/out, where another command of the line can make symbolic links/);
    // `tar -xf e.tar -C out && cat lnk`: lnk passes through out/g (not there yet) before its `..`s.
    expect(blocked(makes(join(tree, "out")), after(join(tree, "lnk")))).toMatch(/^.*\/lnk leads to .*\/out, where/);
    // `cp -r pkg dst && cat sub/pkg/k/id_rsa`: dst is a link to sub, where cp puts pkg's links.
    expect(blocked(makes(join(tree, "dst")), after(join(tree, "sub", "pkg", "k", "id_rsa")))).toMatch(/^.*\/sub\/pkg\/k\/id_rsa leads to .*\/dst, where/);
    // The place itself (`unzip x.zip -d out && ls out`) is no path below it.
    expect(blocked(makes(join(tree, "out")), after(join(tree, "out")))).toBeNull();
  });

  it("a walk with more entries, or more links out, than the hook looks at blocks the call, saying what to do instead", () => {
    expect(reachedThroughLinks([line], [answer(walked(repo))], { entries: 5, links: 64 }).blocked).toBe(`${repo} is walked through the symbolic links below it, and holds more than 5 entries to look at; name a narrower path, or leave out the option that follows links`);
    expect(reachedThroughLinks([line], [answer(walked(repo))], { entries: 100, links: 2 }).blocked).toBe(`more than 2 symbolic links below ${repo} lead out of it; name a narrower path, or leave out the option that follows links`);
    expect(reachedThroughLinks([line], [answer(walked(repo))], { entries: 100, links: 4 }).blocked).toBeNull();
  });
});

describe("warden hook, through a link out of the workspace", () => {
  let device: Device;
  // A link in the workspace to a directory outside it, as a checked-out repository can carry one.
  const outside = realpathSync(mkdtempSync(join(tmpdir(), "warden-outside-")));
  let link: string;
  let inner: string;

  beforeAll(async () => {
    device = await Device.register(ctx, { group: HOOK_GROUP });
    writeFileSync(join(outside, "id_rsa"), "-----BEGIN OPENSSH PRIVATE KEY-----\n");
    link = join(ctx.workspace, `keys-${Date.now()}`);
    symlinkSync(outside, link);
    inner = join(ctx.workspace, `inner-${Date.now()}`);
    mkdirSync(join(ctx.workspace, "real-src"), { recursive: true });
    symlinkSync(join(ctx.workspace, "real-src"), inner);
  });

  const call = (tool: string, toolInput: Record<string, unknown>) =>
    JSON.stringify({ session_id: "links", cwd: ctx.workspace, permission_mode: "default", hook_event_name: "PreToolUse", tool_name: tool, tool_input: toolInput, tool_use_id: `toolu_${Date.now()}` });

  it.each([
    ["Read", () => ({ file_path: join(link, "id_rsa") }), "file.read", () => join(outside, "id_rsa")],
    ["Write", () => ({ file_path: join(link, "authorized_keys"), content: "ssh-ed25519 AAAA attacker\n" }), "file.write", () => join(outside, "authorized_keys")],
    ["Bash", () => ({ command: `ls ${link.slice(ctx.workspace.length + 1)}/` }), "file.read", () => outside],
    // Judged as the workspace itself (`..` of the link's name); the OS lists the parent of where the link led.
    ["Bash", () => ({ command: `ls ${link.slice(ctx.workspace.length + 1)}/..` }), "file.read", () => dirname(outside)],
  ])("%s: permitted as a workspace path, denied as the file the link leads to", async (tool, toolInput, type, reached) => {
    const run = await device.hook("claude-code", call(tool, toolInput()));
    expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: "" });
    expect(decisionOf(run)).toMatchObject({
      permissionDecision: "deny",
      permissionDecisionReason: expect.stringMatching(new RegExp(`^Warden denied ${type.replace(".", "\\.")} of ${reached()}, where ${link}[^ ]* leads through a symbolic link \\(no_applicable_permit; decision [0-9a-f-]{36}\\)$`)),
    });
    const decisions = (await device.log()).filter((entry) => entry.type === "decision").slice(-2);
    expect(decisions.map((entry) => entry.data["decision"])).toEqual(["permit", "deny"]);
    expect(decisions[1]!.data["context"]).toMatchObject({ reached_through: expect.stringContaining(link) });
    // Neither permit was redeemed: nothing ran.
    const ids = decisions.map((entry) => entry.data["decision_id"]);
    expect((await device.log()).some((entry) => entry.type === "action.redeemed" && ids.includes(entry.data["decision_id"]))).toBe(false);
  });

  it("a path through a link longer than a context value holds: decided all the same, its entry without reached_through", async () => {
    // Five 250-character names not there yet, under the link: over the 1,024 characters a context value may hold.
    const long = join(link, ...Array.from({ length: 5 }, (_, index) => `${index}`.padEnd(250, "x")), "id_rsa");
    const run = await device.hook("claude-code", call("Read", { file_path: long }));
    expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: "" });
    expect(decisionOf(run)).toMatchObject({ permissionDecision: "deny", permissionDecisionReason: expect.stringContaining("leads through a symbolic link (no_applicable_permit;") });
    const linked = (await device.log()).filter((entry) => entry.type === "decision").at(-1)!;
    expect((linked.data["action"] as { submitted: { value: string }[] }).submitted[0]!.value).toBe(long.replace(link, outside));
    expect(linked.data["context"]).not.toHaveProperty("reached_through");
  });

  it("a path through links that loop: denied by the hook, nothing asked of Warden", async () => {
    const loop = join(ctx.workspace, `loop-${Date.now()}`);
    symlinkSync(`${loop}-b`, loop);
    symlinkSync(loop, `${loop}-b`);
    const before = (await device.log()).filter((entry) => entry.type === "decision").length;
    const run = await device.hook("claude-code", call("Read", { file_path: join(loop, "x") }));
    expect(decisionOf(run)).toEqual({ hookEventName: "PreToolUse", permissionDecision: "deny", permissionDecisionReason: `Warden: ${join(loop, "x")} leads through symbolic links that loop; which file the call would reach cannot be told` });
    // The path as named was decided (a workspace read, permitted); nothing more, and nothing redeemed.
    expect((await device.log()).filter((entry) => entry.type === "decision").length).toBe(before + 1);
  });

  it.each([
    ["grep -R PRIVATE", "file.read"],
    ["tar -xf payload.tar -C", "file.write"],
  ])("%s on a checkout holding a link out of the workspace: the program would go through it, so the hook decides where it leads, and denies", async (command, type) => {
    const repo = join(ctx.workspace, `checkout-${Date.now()}`);
    mkdirSync(repo);
    writeFileSync(join(repo, "README.md"), "no key here\n");
    symlinkSync(outside, join(repo, "docs"));
    const run = await device.hook("claude-code", call("Bash", { command: `${command} ${repo.slice(ctx.workspace.length + 1)}` }));
    expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: "" });
    expect(decisionOf(run)).toMatchObject({
      permissionDecision: "deny",
      permissionDecisionReason: expect.stringMatching(new RegExp(`^Warden denied ${type.replace(".", "\\.")} of ${outside}, where ${join(repo, "docs")} leads through a symbolic link \\(no_applicable_permit; decision [0-9a-f-]{36}\\)$`)),
    });
    const linked = (await device.log()).filter((entry) => entry.type === "decision").at(-1)!;
    expect(linked.data["context"]).toMatchObject({ reached_through: join(repo, "docs") });
  });

  it("cp of a file into a directory where a link of that name already waits: cp would write through it, so the hook decides the file it leads to, and denies", async () => {
    const repo = join(ctx.workspace, `build-${Date.now()}`);
    mkdirSync(join(repo, "build"), { recursive: true });
    writeFileSync(join(repo, "authorized_keys"), "ssh-ed25519 AAAA attacker\n");
    symlinkSync(join(outside, "authorized_keys"), join(repo, "build", "authorized_keys"));
    const run = await device.hook("claude-code", JSON.stringify({ session_id: "links", cwd: repo, permission_mode: "default", hook_event_name: "PreToolUse", tool_name: "Bash", tool_input: { command: "cp authorized_keys build/" }, tool_use_id: `toolu_${Date.now()}` }));
    expect(decisionOf(run)).toMatchObject({
      permissionDecision: "deny",
      permissionDecisionReason: expect.stringMatching(new RegExp(`^Warden denied file\\.write of ${join(outside, "authorized_keys")}, where ${join(repo, "build", "authorized_keys")} leads through a symbolic link \\(no_applicable_permit; decision [0-9a-f-]{36}\\)$`)),
    });
  });

  it("a line whose own command makes the link it then reads through: the link is not there to follow, so Warden refuses the path and the hook denies", async () => {
    // An archive carrying docs -> outside: extracted, then read through, in one line.
    const made = join(ctx.workspace, `made-${Date.now()}`);
    mkdirSync(join(made, "src"), { recursive: true });
    symlinkSync(outside, join(made, "src", "docs"));
    execFileSync("tar", ["-cf", join(made, "payload.tar"), "-C", join(made, "src"), "docs"]);
    const line = `tar -xf payload.tar -C out && cat out/docs/id_rsa`;
    // Run as it is, the line prints the key.
    mkdirSync(join(made, "try", "out"), { recursive: true });
    execFileSync("cp", [join(made, "payload.tar"), join(made, "try")]);
    expect(execFileSync("sh", ["-c", line], { cwd: join(made, "try"), encoding: "utf8" })).toContain("PRIVATE KEY");
    mkdirSync(join(made, "out"));
    const run = await device.hook("claude-code", JSON.stringify({ session_id: "links", cwd: made, permission_mode: "default", hook_event_name: "PreToolUse", tool_name: "Bash", tool_input: { command: line }, tool_use_id: `toolu_${Date.now()}` }));
    expect(decisionOf(run)).toMatchObject({
      permissionDecision: "deny",
      permissionDecisionReason: expect.stringMatching(/^Warden denied command\.exec \(target_not_canonical; paths refused as links_made; an earlier command of the line can make symbolic links on a later one's path: run it in a call of its own first; decision [0-9a-f-]{36}\)$/),
    });
    expect(existsSync(join(made, "out", "docs"))).toBe(false);
  });

  it("the same through a link already in the workspace: the line names lnk/…, the archive's link lands in made/, lnk leads there; the hook follows lnk and denies", async () => {
    const root = join(ctx.workspace, `through-${Date.now()}`);
    mkdirSync(join(root, "src"), { recursive: true });
    symlinkSync(outside, join(root, "src", "docs"));
    execFileSync("tar", ["-cf", join(root, "payload.tar"), "-C", join(root, "src"), "docs"]);
    mkdirSync(join(root, "made"));
    symlinkSync(join(root, "made"), join(root, "lnk"));
    const line = "tar -xf payload.tar -C made && grep -h KEY lnk/docs/id_rsa";
    // Run as it is (in a copy), the line prints the key.
    const copy = join(root, "copy");
    mkdirSync(join(copy, "made"), { recursive: true });
    symlinkSync(join(copy, "made"), join(copy, "lnk"));
    execFileSync("cp", [join(root, "payload.tar"), copy]);
    expect(execFileSync("sh", ["-c", line], { cwd: copy, encoding: "utf8" })).toContain("PRIVATE KEY");
    const run = await device.hook("claude-code", JSON.stringify({ session_id: "links", cwd: root, permission_mode: "default", hook_event_name: "PreToolUse", tool_name: "Bash", tool_input: { command: line }, tool_use_id: `toolu_${Date.now()}` }));
    expect(decisionOf(run)).toEqual({ hookEventName: "PreToolUse", permissionDecision: "deny", permissionDecisionReason: `Warden: ${join(root, "lnk", "docs", "id_rsa")} leads to ${join(root, "made")}, where another command of the line can make symbolic links, through the links on its way; run that command in a call of its own first` });
    expect(existsSync(join(root, "made", "docs"))).toBe(false);
  });

  it("grep -r, which follows only the links it is given, on the same checkout: nothing more to decide, allow", async () => {
    const repo = join(ctx.workspace, `checkout-r-${Date.now()}`);
    mkdirSync(repo);
    symlinkSync(outside, join(repo, "docs"));
    const before = (await device.log()).filter((entry) => entry.type === "decision").length;
    const run = await device.hook("claude-code", call("Bash", { command: `grep -r PRIVATE ${repo.slice(ctx.workspace.length + 1)}` }));
    expect(decisionOf(run)).toMatchObject({ permissionDecision: "allow" });
    expect((await device.log()).filter((entry) => entry.type === "decision").length).toBe(before + 1);
  });

  it("a link that stays in the workspace: both paths permitted, both tokens redeemed, allow", async () => {
    const run = await device.hook("claude-code", call("Read", { file_path: join(inner, "app.ts") }));
    expect(decisionOf(run)).toMatchObject({ permissionDecision: "allow" });
    const log = await device.log();
    const decisions = log.filter((entry) => entry.type === "decision").slice(-2);
    expect(decisions.map((entry) => (entry.data["action"] as { submitted: { value: string }[] }).submitted[0]!.value)).toEqual([join(inner, "app.ts"), join(ctx.workspace, "real-src", "app.ts")]);
    for (const decided of decisions) expect(log.some((entry) => entry.type === "action.redeemed" && entry.data["decision_id"] === decided.data["decision_id"])).toBe(true);
  });
});
