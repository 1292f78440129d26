/**
 * What the handlers share: reading operands, and handing the rest of a line on
 * to another program or another grammar.
 */
import type { Invocation } from "../invocation.ts";
import type { ParseContext, Word } from "../model.ts";
import type { ParsedArgs, ParsedOption } from "../options.ts";
import type { CommandFlag, Shell } from "../types.ts";


export function text(word: Word | undefined): string | null {
  return word !== undefined && word.unknown === null ? word.text : null;
}

export function operandWords(parsed: ParsedArgs): Word[] {
  return parsed.operands.map((operand) => operand.word);
}

/** The last of these options given (`-S a -S b`: the one with b), which is the one programs go by. */
export function lastOption(parsed: ParsedArgs, ...names: string[]): ParsedOption | undefined {
  return parsed.options.findLast((option) => names.includes(option.name));
}

/** The last option given whose effect carries this marker. */
export function lastMarked(parsed: ParsedArgs, marker: string): ParsedOption | undefined {
  return parsed.options.findLast((option) => option.effect?.marker === marker);
}

export function nested(invocation: Invocation, shell: Shell): ParseContext {
  return { ...invocation.ctx, shell, depth: invocation.ctx.depth + 1 };
}

/** This program only wraps `words`: they are listed in its place. */
export function wrap(invocation: Invocation, words: Word[], flags: readonly CommandFlag[] = []): void {
  if (words.length > 0) invocation.then({ kind: "argv", words, ctx: invocation.ctx }, true, flags);
}

/** This program only runs `code` in `shell`: its commands are listed in its place. */
export function wrapCode(invocation: Invocation, code: Word, shell: Shell, flags: readonly CommandFlag[] = []): void {
  invocation.then({ kind: "code", code, ctx: nested(invocation, shell) }, true, flags);
}

/** This program (listed) also runs `code` through sh. */
export function spawnCode(invocation: Invocation, code: Word, shell: Shell = "sh"): void {
  invocation.flag("spawns");
  invocation.then({ kind: "code", code, ctx: nested(invocation, shell) }, false);
}

/** A registry package's command: `create-app@latest` runs the bin `create-app`. */
export function packageCommand(words: Word[]): Word[] {
  const [first, ...rest] = words;
  if (first === undefined || first.unknown !== null) return words;
  return [{ ...first, text: first.text.replace(/(?<=.)@[^/@]*$/, "") }, ...rest];
}

/** This program (listed) also runs the program `words`. */
export function spawnArgv(invocation: Invocation, words: Word[], extra: Word[] = []): void {
  invocation.flag("spawns");
  if (words.length === 0) return;
  invocation.then({ kind: "argv", words, ctx: invocation.ctx, extra }, false);
}

/** Words joined by spaces, the way `sh -c "$*"` sees them (unknown when any part is). */
export function joined(words: readonly Word[]): Word {
  const unknown = words.find((word) => word.unknown !== null)?.unknown ?? null;
  return { text: words.map((word) => word.text).join(" "), unknown };
}

/** The POSIX-family grammar a shell program reads, or null for shells Warden does not parse. */
export function shellGrammar(program: string, ctx: ParseContext): Shell | null {
  if (program === "bash" || program === "rbash") return "bash";
  if (program === "zsh") return "zsh";
  if (["sh", "dash", "ash", "ksh", "mksh", "yash"].includes(program)) return ctx.os === "windows" ? "bash" : "sh";
  return null;
}

/** The first operand a subcommand-style program names, skipping options. */
export function firstOperand(parsed: ParsedArgs): { word: Word; index: number } | undefined {
  return parsed.operands[0];
}

