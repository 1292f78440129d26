/**
 * Warden's reading of bash's brace expansion (worker/policy/command/braces.ts) against bash
 * itself, the shell that will run the line: for every argument Warden reads as known, the words
 * must be the ones bash passes, in bash's order. Arguments are hand-picked and drawn by a seeded
 * generator from brace syntax and the characters Warden reads, so every run checks the same ones.
 */
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { analyzeCommand } from "../../worker/policy/command/index.ts";

const CHOSEN = [
  "a{,.bak}", "/{etc,usr}", "src/{a,b/{c,d}}", "{src,docs}/{a,b}", "f{08..10}", "{1..10..3}", "{5..1..2}", "{-2..2}",
  "{a..e}", "{E..A}", "{a..k..3}", "{1..010}", "{-01..1}", "{a}", "{}", "{,}", "x{,}y", "{a,b}c}", "{a,{b}}", "{a{b,c}}",
  "{a..B}", "{1..a}", "{1..3..0}", "{1..3..-1}", "a{b,c}d{e,f}", "{a,b,}", "{{a,b},c}", "-{r,f}", "{a,b}{1..2}", "{x..x}",
];

/** mulberry32, as test/unit/command/properties.test.ts. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PLAIN = ["a", "b", "x/", "0", "1", "-", ".", "=", "@", "%", "+", ":", "z9"];
const SEQUENCES = ["1..3", "3..1", "a..c", "C..A", "08..11", "1..10..3", "-2..2", "1..a", "01..-1", "a..", "..3", "1..3..0", "x..y..2"];
const STRAY = ["{", "}", ",", "..", "{}", "}{"];

/** Brace syntax, mostly well formed: plain text, brace lists (nested, with empty alternatives), sequences and stray braces, commas and dots. */
function drawn(count: number): string[] {
  const next = random(11);
  const pick = (items: readonly string[]) => items[Math.floor(next() * items.length)] as string;
  const piece = (depth: number): string => {
    const roll = next();
    if (roll < 0.3 || depth > 2) return pick(PLAIN);
    if (roll < 0.75) return `{${Array.from({ length: Math.floor(next() * 4) }, () => (next() < 0.2 ? "" : piece(depth + 1))).join(",")}}`;
    if (roll < 0.9) return `{${pick(SEQUENCES)}}`;
    return pick(STRAY);
  };
  return Array.from({ length: count }, () => Array.from({ length: 1 + Math.floor(next() * 4) }, () => piece(0)).join(""));
}

/**
 * The words bash passes for each argument, from one bash run: NUL after each word, SOH after each
 * argument. A first word of its own tells no words (bash drops an empty word braces made) from one empty word.
 */
function bashWords(args: readonly string[]): string[][] {
  const script = args.map((arg) => `printf '%s\\0' - ${arg}; printf '\\1'`).join("\n");
  const out = execFileSync("bash", ["--norc", "--noprofile"], { input: script, encoding: "utf8" });
  return out.split("\u0001").slice(0, args.length).map((words) => words.split("\u0000").slice(1, -1));
}

describe("bash brace expansion, against bash", () => {
  it("every argument Warden reads as known is the words bash passes, in bash's order", () => {
    const args = [...CHOSEN, ...drawn(3000)].filter((arg) => arg.includes("{"));
    const expected = bashWords(args);
    let read = 0;
    let expanded = 0;
    args.forEach((arg, index) => {
      const analysis = analyzeCommand(`cat ${arg}`, { os: "linux", shell: "bash", cwd: "/home/dev", home: "/home/dev" });
      expect(analysis.ok, arg).toBe(true);
      if (!analysis.ok) return;
      const [command] = analysis.value.commands;
      if (command === undefined || command.opaque || command.unknownArgs.length > 0) return;
      read += 1;
      if (command.args.length > 1) expanded += 1;
      expect(command.args, arg).toEqual(expected[index]);
    });
    // Not a vacuous pass: most arguments are read, and many of them expand.
    expect(read).toBeGreaterThan(args.length / 2);
    expect(expanded).toBeGreaterThan(args.length / 5);
  });
});
