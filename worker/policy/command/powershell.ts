/**
 * PowerShell (Windows PowerShell 5.1 and PowerShell 7): a hand-written parser
 * for what a policy needs — every command of every pipeline, statement,
 * script block and subexpression, with its arguments in argument mode, its
 * redirections, and the constructs whose effect cannot be seen: .NET method
 * calls, splatting, `--%`, dot-sourcing and calls of non-literal commands.
 * No maintained JavaScript PowerShell parser exists (docs/commands.md).
 *
 * The grammar follows the PowerShell Language Specification 3.0 (§2 lexical
 * structure, §8 statements, §8.2 pipelines and argument mode, §7 expressions)
 * as far as this needs; anything it cannot follow is a parse error (opaque).
 */
import { MAX_NESTED_SYNTAX, type OpaqueCause, type ParseContext, type RawCommand, type RawRedirection, type Word } from "./model.ts";

/** Characters that end a bare word in argument mode (§2.3.4 generic tokens). */
const WORD_END = new Set([" ", "\t", "\n", ";", "|", "&", ")", "}", ",", "(", "{", "<", ">", '"', "'"]);
const KEYWORDS = new Set(["default", "if", "elseif", "else", "foreach", "for", "while", "do", "until", "switch", "try", "catch", "finally", "function", "filter", "workflow", "param", "return", "throw", "exit", "break", "continue", "trap", "begin", "process", "end", "clean", "data", "dynamicparam", "class", "enum", "using", "configuration", "parallel", "sequence", "inlinescript"]);
// Keywords whose statement Warden does not follow.
const UNSUPPORTED = new Set(["class", "enum", "using", "configuration", "workflow", "dynamicparam"]);
// Dashes PowerShell accepts for parameters and operators (§2.2.2 dash).
const DASH = /[-\u2013\u2014\u2015]/;
// Variables Warden resolves: `$HOME`, `$env:USERPROFILE`, `$env:HOME`.
const HOME_VARIABLES = /^(?:\$home|\$env:userprofile|\$env:home|\$\{env:userprofile\}|\$\{env:home\}|\$\{home\})$/i;

class ParseError extends Error {}

/** Parses a PowerShell line into its commands (and the assignments and opaque expressions that matter). */
export function parsePowerShell(source: string, ctx: ParseContext): RawCommand[] {
  const out: RawCommand[] = [];
  const parser = new PowerShellParser(source, ctx, out);
  try {
    parser.statements(null);
  } catch (error) {
    if (!(error instanceof ParseError)) throw error;
    // PowerShell parses the whole input before running any of it: nothing runs.
    for (const command of out) command.opaque ??= "parse_error";
    if (out.length === 0) out.push({ words: [], assignments: [], redirections: [], wrappers: [], opaque: "parse_error" });
  }
  return out;
}

interface Argument {
  word: Word;
  /** A method call, splatting or anything that makes the command unknowable. */
  opaque: OpaqueCause | null;
}

class PowerShellParser {
  private pos = 0;
  private depth = 0;

  constructor(
    private readonly src: string,
    private readonly ctx: ParseContext,
    private readonly out: RawCommand[],
  ) {}

  private fail(): never {
    throw new ParseError();
  }

  private peek(offset = 0): string {
    return this.src.charAt(this.pos + offset);
  }

  private enter(): void {
    this.depth += 1;
    if (this.depth > MAX_NESTED_SYNTAX * 2) this.fail();
  }

  /** Blanks, comments and line continuations; newlines too when `newlines`. */
  private skip(newlines: boolean): void {
    for (;;) {
      const c = this.peek();
      if (c === " " || c === "\t" || (newlines && c === "\n")) {
        this.pos += 1;
      } else if (c === "`" && this.peek(1) === "\n") {
        this.pos += 2;
      } else if (c === "<" && this.peek(1) === "#") {
        const end = this.src.indexOf("#>", this.pos + 2);
        if (end < 0) this.fail();
        this.pos = end + 2;
      } else if (c === "#") {
        while (this.pos < this.src.length && this.peek() !== "\n") this.pos += 1;
      } else {
        return;
      }
    }
  }

  /** Statements until `terminator` (consumed) or the end of input when null. */
  statements(terminator: ")" | "}" | "]" | null): void {
    this.enter();
    for (;;) {
      this.skip(true);
      while (this.peek() === ";") {
        this.pos += 1;
        this.skip(true);
      }
      if (this.pos >= this.src.length) {
        if (terminator !== null) this.fail();
        break;
      }
      if (terminator !== null && this.peek() === terminator) {
        this.pos += 1;
        break;
      }
      if (")}]".includes(this.peek())) this.fail();
      this.statement();
    }
    this.depth -= 1;
  }

  private statement(): void {
    const word = /^[A-Za-z]+/.exec(this.src.slice(this.pos))?.[0]?.toLowerCase() ?? "";
    const after = this.src.charAt(this.pos + word.length);
    if (KEYWORDS.has(word) && (after === "" || /[\s({;]/.test(after))) {
      this.keyword(word);
      return;
    }
    this.pipelineChain();
  }

  /** `pipeline && pipeline || pipeline` (PowerShell 7), with a trailing `&` for a background job. */
  private pipelineChain(): void {
    for (;;) {
      this.pipeline();
      this.skip(false);
      if ((this.peek() === "&" && this.peek(1) === "&") || (this.peek() === "|" && this.peek(1) === "|")) {
        this.pos += 2;
        this.skip(true);
        continue;
      }
      if (this.peek() === "&") {
        this.pos += 1;
        continue;
      }
      return;
    }
  }

  private pipeline(): void {
    for (;;) {
      this.skip(false);
      this.element();
      this.skip(false);
      if (this.peek() === "|" && this.peek(1) !== "|") {
        this.pos += 1;
        this.skip(true);
        continue;
      }
      // PowerShell 7: a line starting with `|` continues the pipeline.
      const save = this.pos;
      this.skip(true);
      if (this.peek() === "|" && this.peek(1) !== "|") {
        this.pos += 1;
        this.skip(true);
        continue;
      }
      this.pos = save;
      return;
    }
  }

  /** One pipeline element: a command (argument mode) or an expression. */
  private element(): void {
    const c = this.peek();
    if (c === "&" && this.peek(1) !== "&") {
      this.pos += 1;
      this.skip(false);
      this.command("&");
      return;
    }
    if (c === "." && /[\s]/.test(this.peek(1))) {
      this.pos += 1;
      this.skip(false);
      this.command(".");
      return;
    }
    if (this.startsExpression()) {
      this.expressionStatement();
      return;
    }
    this.command(null);
  }

  private startsExpression(): boolean {
    const c = this.peek();
    if (c === "$" || c === "(" || c === "[" || isSingleQuote(c) || isDoubleQuote(c) || c === "@" || c === "{" || c === "!" || /[0-9]/.test(c)) return true;
    // `-not $x`, `-1`: operators and negative numbers.
    if (DASH.test(c) && /[0-9]|not\b|bnot\b|join\b|split\b/i.test(this.src.slice(this.pos + 1, this.pos + 6))) return true;
    if (c === "." && /[0-9]/.test(this.peek(1))) return true;
    return false;
  }

  /** A command in argument mode (§8.2). `invoker` is `&` or `.` when the call operator named it. */
  private command(invoker: "&" | "." | null): void {
    const words: Word[] = [];
    const redirections: RawRedirection[] = [];
    let opaque: OpaqueCause | null = null;
    const wrappers: string[] = [];
    const index = this.out.length;
    // Reserve the command's place: it comes before the commands nested in its arguments.
    const command: RawCommand = { words, assignments: [], redirections, wrappers, opaque: null };
    this.out.push(command);

    if (invoker !== null && this.peek() === "{") {
      // `& { … }` / `. { … }`: a literal script block; its statements are the commands.
      this.pos += 1;
      this.statements("}");
      this.out.splice(index, 1);
      this.arguments(words, redirections);
      return;
    }
    const name = this.argument(true);
    if (name === null) this.fail();
    words.push(name.word);
    if (name.opaque !== null || name.word.unknown !== null) opaque = name.word.unknown !== null ? "program_not_literal" : name.opaque;
    if (invoker === ".") {
      // Dot-sourcing runs a script in this scope, where it can redefine anything after it.
      words.unshift({ text: ".", unknown: null });
    }
    const argumentOpaque = this.arguments(words, redirections);
    opaque ??= argumentOpaque;
    command.opaque = opaque;
  }

  /** Arguments and redirections up to the end of the pipeline element. */
  private arguments(words: Word[], redirections: RawRedirection[]): OpaqueCause | null {
    let opaque: OpaqueCause | null = null;
    for (;;) {
      this.skip(false);
      const c = this.peek();
      if (c === "" || c === "\n" || c === ";" || c === ")" || c === "}" || c === "|" || c === "&") return opaque;
      const redirection = this.redirection();
      if (redirection !== null) {
        redirections.push(redirection);
        continue;
      }
      if (c === "<") this.fail();
      if (c === "-" && this.peek(1) === "-" && this.peek(2) === "%") {
        // Stop-parsing: the rest of the line goes to the program as written (about_Parsing).
        this.pos += 3;
        const end = this.src.indexOf("\n", this.pos);
        const rest = this.src.slice(this.pos, end < 0 ? this.src.length : end);
        this.pos = end < 0 ? this.src.length : end;
        words.push({ text: `--%${rest}`, unknown: "expansion" });
        return "stop_parsing";
      }
      const argument = this.argument(false);
      if (argument === null) this.fail();
      words.push(argument.word);
      opaque ??= argument.opaque;
    }
  }

  /** `>`, `>>`, `n>`, `*>`, `n>&1`, `2>$null` (§7.12). */
  private redirection(): RawRedirection | null {
    const match = /^([1-6*])?(>>|>)(&[12])?/.exec(this.src.slice(this.pos, this.pos + 5));
    if (match === null) return null;
    this.pos += match[0].length;
    const fd = match[1] === undefined || match[1] === "*" ? null : Number(match[1]);
    const op = `${match[1] === "*" ? "*" : ""}${match[2] ?? ""}${match[3] === undefined ? "" : "&"}`;
    if (match[3] !== undefined) return { op, fd, target: null, duplicate: true };
    this.skip(false);
    const target = this.argument(false);
    if (target === null) this.fail();
    // `> $null` discards.
    if (/^\$null$/i.test(target.word.text)) return { op, fd, target: null, duplicate: true };
    return { op, fd, target: target.word };
  }

  /**
   * One argument in argument mode: a bare word (with `$var` and backtick
   * escapes inside), quoted strings, `( )`, `$( )`, `@( )`, `{ }`, `@splat`,
   * and comma lists. `name` reads a command name, where a leading `-` is no parameter.
   */
  private argument(name: boolean): Argument | null {
    const items: Argument[] = [];
    for (;;) {
      const item = this.argumentItem(name && items.length === 0);
      if (item === null) return items.length === 0 ? null : this.fail();
      items.push(item);
      // `a,b`: an array (§7.3 comma operator in argument mode).
      if (name || this.peek() !== ",") break;
      this.pos += 1;
      this.skip(true);
    }
    if (items.length === 1) return items[0] as Argument;
    const unknown = items.find((item) => item.word.unknown !== null)?.word.unknown ?? null;
    const opaque = items.find((item) => item.opaque !== null)?.opaque ?? null;
    return { word: { text: items.map((item) => item.word.text).join(","), unknown, items: items.map((item) => item.word.text) }, opaque };
  }

  private argumentItem(name: boolean): Argument | null {
    const start = this.pos;
    let text = "";
    let unknown: Word["unknown"] = null;
    let opaque: OpaqueCause | null = null;
    let param = false;
    const c0 = this.peek();
    if (c0 === "" || c0 === "\n") return null;
    if (!name && DASH.test(c0) && /[A-Za-z_?]/.test(this.peek(1))) param = true;
    if (c0 === "@" && /[A-Za-z_?]/.test(this.peek(1))) {
      // Splatting: the hashtable or array may bind any parameter.
      this.pos += 1;
      while (/[A-Za-z0-9_:?]/.test(this.peek())) this.pos += 1;
      return { word: { text: this.src.slice(start, this.pos), unknown: "expansion" }, opaque: "unsupported_syntax" };
    }
    if (c0 === "{") {
      this.pos += 1;
      this.statements("}");
      return { word: { text: this.src.slice(start, this.pos), unknown: null }, opaque: null };
    }
    let first = true;
    while (this.pos < this.src.length) {
      const c = this.peek();
      if (c === "`") {
        const next = this.peek(1);
        if (next === "\n") break;
        text += escapeChar(next);
        this.pos += 2;
        first = false;
        continue;
      }
      if (isSingleQuote(c)) {
        text += this.singleQuoted();
        first = false;
        continue;
      }
      if (isDoubleQuote(c)) {
        const value = this.doubleQuoted();
        text += value.text;
        if (value.unknown) unknown = "expansion";
        first = false;
        continue;
      }
      if (c === "@" && (this.peek(1) === "'" || this.peek(1) === '"') && this.peek(2) === "\n" && first) {
        const value = this.hereString();
        text += value.text;
        if (value.unknown) unknown = "expansion";
        first = false;
        continue;
      }
      if (c === "$") {
        const variable = this.variable();
        if (variable.opaque !== null) opaque = variable.opaque;
        if (HOME_VARIABLES.test(variable.text) && this.ctx.home !== null) text += this.ctx.home;
        else {
          text += variable.text;
          unknown = "expansion";
        }
        if (variable.method) opaque = "unsupported_syntax";
        first = false;
        continue;
      }
      if ((c === "(" || (c === "@" && this.peek(1) === "(")) && first) {
        // `(…)` and `@(…)` in argument mode are expressions whose value is the argument.
        this.pos += c === "@" ? 2 : 1;
        this.statements(")");
        unknown = "expansion";
        if (this.memberCall()) opaque = "unsupported_syntax";
        first = false;
        continue;
      }
      if (c === "@" && this.peek(1) === "{") {
        this.pos += 2;
        this.hashtable();
        unknown = "expansion";
        first = false;
        continue;
      }
      if (WORD_END.has(c) || isSingleQuote(c) || isDoubleQuote(c)) break;
      if (c === "-" && this.peek(1) === "-" && this.peek(2) === "%" && first) break;
      text += c;
      this.pos += 1;
      first = false;
    }
    if (this.pos === start) return null;
    const word: Word = unknown === null ? { text, unknown: null } : { text: this.src.slice(start, this.pos), unknown };
    if (param) word.param = true;
    // `-Name:value`: a parameter with its value attached; the value part decides what is known.
    return { word, opaque };
  }

  /** `'…'` with `''` for a quote; the value. */
  private singleQuoted(): string {
    this.pos += 1;
    let value = "";
    for (;;) {
      if (this.pos >= this.src.length) this.fail();
      const c = this.peek();
      if (isSingleQuote(c)) {
        if (isSingleQuote(this.peek(1))) {
          value += "'";
          this.pos += 2;
          continue;
        }
        this.pos += 1;
        return value;
      }
      value += c;
      this.pos += 1;
    }
  }

  /** `"…"`: backtick escapes, `""` for a quote, `$var` and `$(…)` expansions (§2.3.5.2). */
  private doubleQuoted(): { text: string; unknown: boolean } {
    this.pos += 1;
    let value = "";
    let unknown = false;
    for (;;) {
      if (this.pos >= this.src.length) this.fail();
      const c = this.peek();
      if (isDoubleQuote(c)) {
        if (isDoubleQuote(this.peek(1))) {
          value += '"';
          this.pos += 2;
          continue;
        }
        this.pos += 1;
        return { text: value, unknown };
      }
      if (c === "`") {
        value += escapeChar(this.peek(1));
        this.pos += 2;
        continue;
      }
      if (c === "$") {
        const variable = this.variable();
        if (variable.text === "$") {
          value += "$";
          continue;
        }
        if (HOME_VARIABLES.test(variable.text) && this.ctx.home !== null) value += this.ctx.home;
        else {
          value += variable.text;
          unknown = true;
        }
        continue;
      }
      value += c;
      this.pos += 1;
    }
  }

  /** `@'…'@` (verbatim) and `@"…"@` (expandable) here-strings. */
  private hereString(): { text: string; unknown: boolean } {
    const quote = this.peek(1);
    this.pos += 3;
    const close = `\n${quote}@`;
    const end = this.src.indexOf(close, this.pos);
    if (end < 0) this.fail();
    const body = this.src.slice(this.pos, end);
    this.pos = end + close.length;
    if (quote === "'") return { text: body, unknown: false };
    // Expandable: substitutions inside run.
    const inner = new PowerShellParser(`"${body.replace(/"/g, '""')}"`, this.ctx, this.out);
    return inner.doubleQuoted();
  }

  /**
   * `$name`, `${…}`, `$env:X`, `$(…)` (its statements are parsed), `$_`, `$?`,
   * with any `.member` / `[index]` / `.Method()` that follows in argument mode.
   */
  private variable(): { text: string; opaque: OpaqueCause | null; method: boolean } {
    const start = this.pos;
    this.pos += 1;
    const c = this.peek();
    if (c === "(") {
      this.pos += 1;
      this.statements(")");
      return { text: this.src.slice(start, this.pos), opaque: null, method: this.memberCall() };
    }
    if (c === "{") {
      const end = this.src.indexOf("}", this.pos);
      if (end < 0) this.fail();
      this.pos = end + 1;
      return { text: this.src.slice(start, this.pos), opaque: null, method: this.memberCall() };
    }
    if (/[A-Za-z0-9_?^$]/.test(c)) {
      if (c === "?" || c === "^" || c === "$") this.pos += 1;
      else while (/[A-Za-z0-9_:]/.test(this.peek()) && !(this.peek() === ":" && !/[A-Za-z0-9_]/.test(this.peek(1)))) this.pos += 1;
      return { text: this.src.slice(start, this.pos), opaque: null, method: this.memberCall() };
    }
    return { text: "$", opaque: null, method: false };
  }

  /** `.Name(` / `::Name(` / `.Name` / `[i]` after a value: true when a method is called. */
  private memberCall(): boolean {
    let method = false;
    for (;;) {
      const rest = this.src.slice(this.pos);
      const member = /^(?:\.|::)([A-Za-z_][A-Za-z0-9_]*)/.exec(rest);
      if (member !== null) {
        this.pos += member[0].length;
        if (this.peek() === "(") {
          method = true;
          this.pos += 1;
          this.statements(")");
        }
        continue;
      }
      if (this.peek() === "[") {
        this.pos += 1;
        this.statements("]");
        continue;
      }
      return method;
    }
  }

  /**
   * An expression statement (§7): `$x = pipeline`, `$env:X = …`, `[T]::M()`,
   * `(…).M()`, literals. Commands nested in it are listed; a .NET method call
   * makes it an opaque command, an assignment to `$env:` a config override.
   */
  private expressionStatement(): void {
    const start = this.pos;
    let method = false;
    let assignment: { name: string } | null = null;
    const envAssign = /^\$(?:env:([A-Za-z_][A-Za-z0-9_]*)|\{env:([^}]+)\})\s*(?:\+|-|\*|\/|%|\?\?)?=(?!=)/i.exec(this.src.slice(this.pos));
    const plainAssign = /^(?:\[[^\]]*\]\s*)*\$[A-Za-z0-9_:{}]+(?:\.[A-Za-z_][A-Za-z0-9_]*|\[[^\]]*\])*\s*(?:\+|-|\*|\/|%|\?\?)?=(?!=)/.exec(this.src.slice(this.pos));
    if (envAssign !== null) assignment = { name: envAssign[1] ?? envAssign[2] ?? "" };
    const assign = envAssign ?? plainAssign;
    if (assign !== null) {
      // `$x = pipeline`: the right side is a statement (it may be a command).
      this.pos += assign[0].length;
      this.skip(true);
      const before = this.out.length;
      this.statement();
      if (assignment !== null) this.out.splice(before, 0, { words: [], assignments: [{ name: assignment.name, value: { text: this.src.slice(start, this.pos), unknown: "expansion" } }], redirections: [], wrappers: [], opaque: null });
      return;
    }
    this.enter();
    let operand = false;
    for (;;) {
      this.skip(false);
      const c = this.peek();
      if (c === "" || c === "\n" || c === ";" || c === ")" || c === "}" || c === "]" || c === "|" || (c === "&" && this.peek(1) === "&")) break;
      // `"git" status`: two operands with no operator between them is a parse
      // error, and PowerShell runs none of the line.
      if (operand && /[A-Za-z_]/.test(c)) this.fail();
      operand = !/^[-+*/%=!<>.,]|^-[A-Za-z]/.test(this.src.slice(this.pos)) && c !== "&";
      if (isSingleQuote(c)) {
        this.singleQuoted();
        method = this.memberCall() || method;
      } else if (isDoubleQuote(c)) {
        this.doubleQuoted();
        method = this.memberCall() || method;
      } else if (c === "@" && (this.peek(1) === "'" || this.peek(1) === '"') && this.peek(2) === "\n") {
        this.hereString();
      } else if (c === "$") {
        method = this.variable().method || method;
      } else if (c === "(" || (c === "@" && this.peek(1) === "(")) {
        this.pos += c === "@" ? 2 : 1;
        this.statements(")");
        method = this.memberCall() || method;
      } else if (c === "@" && this.peek(1) === "{") {
        this.pos += 2;
        this.hashtable();
      } else if (c === "{") {
        this.pos += 1;
        this.statements("}");
        method = this.memberCall() || method;
      } else if (c === "[") {
        // A type literal: `[IO.File]::ReadAllText(…)` is a static method call.
        const end = this.matchingBracket(this.pos);
        if (end < 0) this.fail();
        this.pos = end + 1;
        method = this.memberCall() || method;
      } else if (c === "&") {
        this.pos += 1;
      } else if (c === ",") {
        this.pos += 1;
      } else {
        // Operators (`-eq`, `+`, `-f`), numbers and member names.
        const token = /^[^\s;|&(){}[\]'"$,]+/.exec(this.src.slice(this.pos))?.[0] ?? c;
        this.pos += token.length;
        if (/^\.[A-Za-z_]|::/.test(token) && this.peek() === "(") {
          method = true;
          this.pos += 1;
          this.statements(")");
        }
      }
    }
    this.depth -= 1;
    const redirections: RawRedirection[] = [];
    for (;;) {
      this.skip(false);
      const redirection = this.redirection();
      if (redirection === null) break;
      redirections.push(redirection);
    }
    // A .NET method can do anything a program can (`[IO.File]::Delete`, `.DownloadString`).
    if (method) this.out.push({ words: [], assignments: [], redirections, wrappers: [], opaque: "unsupported_syntax" });
    else if (redirections.length > 0) this.out.push({ words: [], assignments: [], redirections, wrappers: [], opaque: null });
  }

  /** `@{ key = value; … }` (§7.1.9): keys are names or strings, values are statements. */
  private hashtable(): void {
    this.enter();
    for (;;) {
      this.skip(true);
      while (this.peek() === ";") {
        this.pos += 1;
        this.skip(true);
      }
      if (this.peek() === "}") {
        this.pos += 1;
        break;
      }
      if (this.pos >= this.src.length) this.fail();
      if (isSingleQuote(this.peek())) this.singleQuoted();
      else if (isDoubleQuote(this.peek())) this.doubleQuoted();
      else {
        const key = /^[^\s=;}]+/.exec(this.src.slice(this.pos))?.[0];
        if (key === undefined) this.fail();
        this.pos += key.length;
      }
      this.skip(false);
      if (this.peek() !== "=") this.fail();
      this.pos += 1;
      this.skip(true);
      this.statement();
    }
    this.depth -= 1;
  }

  private matchingBracket(open: number): number {
    let depth = 0;
    for (let i = open; i < this.src.length; i += 1) {
      const c = this.src.charAt(i);
      if (c === "[") depth += 1;
      else if (c === "]") {
        depth -= 1;
        if (depth === 0) return i;
      } else if (c === "\n") return -1;
    }
    return -1;
  }

  /** Keyword statements (§8.3–§8.10): their conditions and bodies are parsed for commands. */
  private keyword(word: string): void {
    if (UNSUPPORTED.has(word)) {
      this.out.push({ words: [], assignments: [], redirections: [], wrappers: [], opaque: "unsupported_syntax" });
      this.pos = this.src.length;
      return;
    }
    this.pos += word.length;
    if (["return", "throw", "exit", "break", "continue"].includes(word)) {
      this.skip(false);
      const c = this.peek();
      if (c !== "" && c !== "\n" && c !== ";" && c !== "}" && c !== ")") this.pipelineChain();
      return;
    }
    this.enter();
    // Header tokens up to the body; then the chain of clauses (elseif/else, catch/finally, while/until).
    for (;;) {
      this.skip(false);
      if (this.peek() === "\n") {
        // A body may start on the next line; anything else there is the next statement.
        const save = this.pos;
        this.skip(true);
        if (this.peek() !== "{") {
          this.pos = save;
          break;
        }
      }
      const c = this.peek();
      if (c === "(") {
        this.pos += 1;
        if (word === "foreach") this.foreachHeader();
        else this.statements(")");
        // `param(…)` is the whole statement.
        if (word === "param") break;
        continue;
      }
      if (c === "{") {
        this.pos += 1;
        this.statements("}");
        const next = /^\s*([A-Za-z]+)/.exec(this.src.slice(this.pos))?.[1]?.toLowerCase() ?? "";
        if (["elseif", "else", "catch", "finally", "while", "until"].includes(next) && !(word === "while")) {
          this.skip(true);
          this.pos += next.length;
          word = next;
          continue;
        }
        break;
      }
      if (c === "" || c === ";" || c === "}" || c === ")") break;
      // Names (`function f`), switch options (`-regex`, `-file x`), catch types.
      if (word === "switch" && /^-file\b/i.test(this.src.slice(this.pos))) {
        this.pos += 5;
        this.skip(false);
        const file = this.argument(false);
        if (file === null) this.fail();
        this.out.push({ words: [{ text: "get-content", unknown: null }, file.word], assignments: [], redirections: [], wrappers: ["switch"], opaque: null });
        continue;
      }
      if (c === "[") {
        const end = this.matchingBracket(this.pos);
        if (end < 0) this.fail();
        this.pos = end + 1;
        continue;
      }
      const token = /^[^\s(){};]+/.exec(this.src.slice(this.pos))?.[0];
      if (token === undefined) this.fail();
      this.pos += token.length;
    }
    this.depth -= 1;
  }

  /** `foreach ($x in <pipeline>)`. */
  private foreachHeader(): void {
    this.skip(true);
    const variable = /^\$[A-Za-z0-9_:]+\s+in\b/i.exec(this.src.slice(this.pos));
    if (variable === null) this.fail();
    this.pos += variable[0].length;
    this.skip(true);
    this.statement();
    this.skip(true);
    if (this.peek() !== ")") this.fail();
    this.pos += 1;
  }
}

function escapeChar(c: string): string {
  // about_Special_Characters: `n, `t, `0 … ; any other escaped character is itself.
  const map: Record<string, string> = { n: "\n", t: "\t", r: "\r", "0": "\u0000", a: "\u0007", b: "\b", f: "\f", v: "\v", e: "\u001b" };
  return map[c] ?? c;
}

// PowerShell accepts typographic quotes as quotes (§2.3.5.2).
function isSingleQuote(c: string): boolean {
  return c === "'" || c === "\u2018" || c === "\u2019" || c === "\u201A" || c === "\u201B";
}

function isDoubleQuote(c: string): boolean {
  return c === '"' || c === "\u201C" || c === "\u201D" || c === "\u201E";
}
