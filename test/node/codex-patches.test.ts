/**
 * Warden's reading of a Codex patch against Codex's own patch applier: for every patch the hook
 * accepts, each file Codex 0.171 then creates, changes or removes is one the hook listed (written,
 * or deleted), so policy judged every file the patch touched. Codex applies the patch as it does
 * for its apply_patch tool (`codex --codex-run-as-apply-patch <patch>`, the binary pinned in
 * test/agents/) in a sandbox of its own (working directory, a directory beside it, a home), and
 * the sandbox is compared before and after. Patches are chosen and drawn by a seeded generator:
 * header spellings (indented, trailing blanks, Unicode blanks, CRLF), paths inside and outside
 * the working directory, moves, deletions and hunks that apply or fail.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { patchFiles } from "../../cli/hooks/codex.ts";
import { HookFailure } from "../../cli/hooks/protocol.ts";
import { pick, random } from "../seeded.ts";

const CODEX = fileURLToPath(new URL("../agents/node_modules/@openai/codex/bin/codex.js", import.meta.url));
const ORIGINAL = "line1\nline2\n";
// Files every sandbox starts with, so that updates, moves and deletions have something to act on.
const EXISTING = ["work/a.txt", "work/dir/b.txt", "work/e.txt ", "work/ f.txt", "outside/c.txt", "home/.bashrc"];

/** Every file under `root` with a hash of its bytes, by path relative to `root`. */
function snapshot(root: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else files.set(relative(root, path), createHash("sha256").update(readFileSync(path)).digest("hex"));
    }
  };
  walk(root);
  return files;
}

function runCodex(patch: string, cwd: string, home: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CODEX, "--codex-run-as-apply-patch", patch], { cwd, env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME: home }, stdio: "ignore" });
    child.on("error", reject);
    child.on("close", () => resolve());
  });
}

interface Disagreement {
  patch: string;
  listed: { written: string[]; deleted: string[] };
  touched: string[];
}

/** For a patch the hook accepts: the files Codex touched that the hook did not list (none, when they agree). */
async function disagreement(patch: string): Promise<Disagreement | null> {
  const sandbox = realpathSync(mkdtempSync(join(tmpdir(), "warden-codex-patch-")));
  try {
    for (const file of EXISTING) {
      mkdirSync(join(sandbox, file, ".."), { recursive: true });
      writeFileSync(join(sandbox, file), ORIGINAL);
    }
    const cwd = join(sandbox, "work");
    let listed: { written: string[]; deleted: string[] };
    try {
      listed = patchFiles(patch, cwd);
    } catch (error) {
      if (error instanceof HookFailure) return null;
      throw error;
    }
    const before = snapshot(sandbox);
    await runCodex(patch, cwd, join(sandbox, "home"));
    const after = snapshot(sandbox);
    const changed = [...new Set([...before.keys(), ...after.keys()])].filter((path) => before.get(path) !== after.get(path)).map((path) => join(sandbox, path));
    const covered = new Set([...listed.written, ...listed.deleted]);
    const touched = changed.filter((path) => !covered.has(path));
    return touched.length === 0 ? null : { patch, listed, touched };
  } finally {
    rmSync(sandbox, { recursive: true, force: true });
  }
}

async function disagreements(patches: readonly string[]): Promise<Disagreement[]> {
  const found: Disagreement[] = [];
  for (let at = 0; at < patches.length; at += 6) {
    for (const each of await Promise.all(patches.slice(at, at + 6).map(disagreement))) if (each) found.push(each);
  }
  return found;
}

const patch = (...lines: string[]) => ["*** Begin Patch", ...lines, "*** End Patch", ""].join("\n");

const CHOSEN = [
  patch("*** Add File: new.txt", "+x"),
  patch("*** Add File: new.txt", "+x", "  *** Delete File: a.txt"),
  patch("*** Add File: new.txt", "+x", "\t*** Delete File: ../outside/c.txt"),
  patch("*** Update File: a.txt", "@@", "-line1", "+changed"),
  patch("*** Update File: a.txt", "*** Move to: moved.txt", "@@", "-line1", "+changed"),
  patch("*** Update File: a.txt", "*** Move to: moved.txt  ", "@@", "-line1", "+changed"),
  patch("*** Update File:  f.txt", "@@", "-line1", "+changed"),
  patch("*** Delete File: e.txt "),
  patch("*** Delete File: dir/b.txt"),
  patch("*** Update File: a.txt", "@@", "-nope", "+changed", "*** Add File: later.txt", "+y"),
  patch("*** Add File: \u00a0nbsp.txt", "+x"),
  patch("\u3000*** Delete File: a.txt"),
  patch("*** Delete File: ../home/.bashrc"),
  ["*** Begin Patch", "*** Add File: crlf.txt", "+x", "*** Delete File: a.txt", "*** End Patch", ""].join("\r\n"),
  patch("*** Add File: dir/../sneaky.txt", "+x"),
];

// U+0085 and U+FEFF, which Rust and JavaScript trim differently, make the hook refuse the patch.
const INDENTS = ["", "", "", " ", "  ", "\t", "\u00a0", "\u3000", "\u2003", "\u0085", "\ufeff"];
const TRAILS = ["", "", " ", "\t", "\u00a0"];
const PATHS = ["a.txt", "dir/b.txt", "e.txt ", " f.txt", "new.txt", "dir/new.txt", "../outside/c.txt", "../outside/new.txt", "../home/.bashrc", "sub/../a.txt", "x\u00a0y.txt", "./a.txt", "~/.bashrc"];
const LINE_ENDS = ["\n", "\n", "\r\n"];

/** One hunk: an added file's lines, an update (that applies or not, with or without a move), or a deletion. */
function drawHunk(next: () => number): string[] {
  const header = (marker: string) => `${pick(next, INDENTS)}*** ${marker}: ${pick(next, PATHS)}${pick(next, TRAILS)}`;
  switch (Math.floor(next() * 4)) {
    case 0:
      return [header("Add File"), "+x", ...(next() < 0.3 ? [`+${pick(next, INDENTS)}*** Delete File: ${pick(next, PATHS)}`] : [])];
    case 1:
      return [header("Update File"), ...(next() < 0.4 ? [header("Move to")] : []), "@@", next() < 0.7 ? "-line1" : "-absent", "+changed", ...(next() < 0.2 ? ["*** End of File"] : [])];
    case 2:
      return [header("Delete File")];
    default:
      // An update whose context line reads like a header: a hunk line, not a header, to Codex.
      return [header("Update File"), "@@", ` ${pick(next, INDENTS)}*** Delete File: ${pick(next, PATHS)}`, "-line1", "+changed"];
  }
}

function drawPatch(next: () => number): string {
  const hunks = Array.from({ length: 1 + Math.floor(next() * 3) }, () => drawHunk(next)).flat();
  return ["*** Begin Patch", ...hunks, "*** End Patch", ""].join(pick(next, LINE_ENDS));
}

describe("Codex patches as Codex applies them", () => {
  it("applies a patch the hook reads, touching exactly the files listed", async () => {
    const sandbox = realpathSync(mkdtempSync(join(tmpdir(), "warden-codex-patch-")));
    try {
      mkdirSync(join(sandbox, "work"));
      await runCodex(patch("*** Add File: hello.txt", "+hi"), join(sandbox, "work"), sandbox);
      expect(readFileSync(join(sandbox, "work/hello.txt"), "utf8")).toBe("hi\n");
    } finally {
      rmSync(sandbox, { recursive: true, force: true });
    }
  });

  it(`touches only files the hook listed, for every chosen patch it accepts (${CHOSEN.length} chosen)`, async () => {
    expect(await disagreements(CHOSEN)).toEqual([]);
  }, 120_000);

  it("touches only files the hook listed, for every drawn patch it accepts (600 drawn, seed 11)", async () => {
    const next = random(11);
    const patches = Array.from({ length: 600 }, () => drawPatch(next));
    const accepted = patches.filter((each) => {
      try {
        patchFiles(each, "/w");
        return true;
      } catch {
        return false;
      }
    }).length;
    // Both sides of the question: patches the hook reads and patches it refuses.
    expect(accepted).toBeGreaterThan(200);
    expect(patches.length - accepted).toBeGreaterThan(50);
    expect(await disagreements(patches)).toEqual([]);
  }, 300_000);
});
