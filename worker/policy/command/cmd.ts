/**
 * cmd.exe, following its parsing phases: (1) `%VAR%` expansion, (2) special
 * characters — `^` escapes, `"` quoting, `&`, `&&`, `||`, `|`, `( )` blocks and
 * redirections — then the command token; (5) `!VAR!` delayed expansion. A
 * program gets the rest of its line as one string and splits it itself
 * (argv.ts); cmd's builtins split on blanks, `,`, `;` and `=`.
 *
 * `%VAR%` is expanded before the line is split, so a variable's value can add
 * operators and commands the policy does not see: a command with an unknown
 * `%VAR%` is opaque. `for` and `if` are read far enough to reach the commands
 * they run.
 */
import { commandLineToArgv } from "./argv.ts";
import { MAX_NESTED_SYNTAX, type OpaqueCause, type ParseContext, type RawCommand, type RawRedirection, type Word } from "./model.ts";

// Private-use markers standing for an expansion inside the line; a line that
// already contains them cannot be told apart and is refused as opaque.
const OPEN = "\uE000";
const CLOSE = "\uE001";
const MARKERS = /[\uE000\uE001]/;

// cmd builtins: they split their arguments on blanks, `,`, `;` and `=` and strip quotes.
const BUILTINS = new Set([
  "assoc", "break", "call", "cd", "chdir", "cls", "color", "copy", "date", "del", "dir", "echo", "endlocal", "erase", "exit", "ftype", "goto", "md", "mkdir", "mklink", "move", "path", "pause", "popd", "prompt", "pushd", "rd", "ren", "rename", "rmdir", "set", "setlocal", "shift", "start", "time", "title", "type", "ver", "verify", "vol",
]);

interface Expansion {
  source: string;
  /** `%VAR%` is expanded before the line is split (phase 1); the others after. */
  early: boolean;
}

/** Parses a cmd.exe line into its simple commands. */
export function parseCmd(source: string, ctx: ParseContext): RawCommand[] {
  const out: RawCommand[] = [];
  if (MARKERS.test(source)) {
    out.push({ words: [], assignments: [], redirections: [], wrappers: [], opaque: "parse_error" });
    return out;
  }
  const expansions: Expansion[] = [];
  const expanded = expandPercent(source.replace(/\^\r?\n/g, ""), ctx, expansions);
  const parser = new CmdParser(expanded, ctx, expansions, out);
  parser.sequence(false);
  if (parser.error && out.length === 0) out.push({ words: [], assignments: [], redirections: [], wrappers: [], opaque: "parse_error" });
  if (parser.error) for (const command of out) command.opaque ??= "parse_error";
  return out;
}

/** Phase 1 (and the later variable forms): every expansion becomes a marked placeholder. */
function expandPercent(line: string, ctx: ParseContext, expansions: Expansion[]): string {
  const mark = (text: string, early: boolean): string => {
    expansions.push({ source: text, early });
    return `${OPEN}${expansions.length - 1}${CLOSE}`;
  };
  // `%i` (a `for` variable on the command line) is tried last, after `%NAME%`.
  return line.replace(/%%[A-Za-z]|%~[a-zA-Z$:]*[0-9A-Za-z]|%[0-9*]|%([^%\n\s]+)%|!([^!\n\s]+)!|%[A-Za-z]/g, (match, name: string | undefined, delayed: string | undefined) => {
    if (name !== undefined) {
      const upper = name.toUpperCase();
      if (upper === "USERPROFILE" && ctx.home !== null) return ctx.home;
      if (upper === "CD" && ctx.cwd !== null && ctx.otherCwds.length === 0) return ctx.cwd;
      return mark(match, true);
    }
    if (delayed !== undefined) return mark(match, false);
    // `%%i` / `%i` loop variables and `%1`, `%~dp0` batch arguments: substituted after splitting.
    return mark(match, false);
  });
}

class CmdParser {
  pos = 0;
  error = false;
  private blocks = 0;

  constructor(
    private readonly src: string,
    private readonly ctx: ParseContext,
    private readonly expansions: Expansion[],
    private readonly out: RawCommand[],
  ) {}

  /** Commands up to the end of input, or up to the `)` that closes a block. */
  sequence(inBlock: boolean): void {
    const src = this.src;
    for (;;) {
      this.skip(" \t@;,=\n");
      if (this.pos >= src.length) {
        if (inBlock) this.error = true;
        return;
      }
      const c = src.charAt(this.pos);
      if (c === ")") {
        if (inBlock) {
          this.pos += 1;
          return;
        }
        // A stray `)` outside a block is text; cmd treats the line as an error only in blocks.
        this.error = true;
        this.pos += 1;
        continue;
      }
      if (c === "(") {
        this.pos += 1;
        // Blocks nested past the bound are refused rather than recursed into.
        if ((this.blocks += 1) > MAX_NESTED_SYNTAX) {
          this.error = true;
          this.pos = src.length;
          return;
        }
        this.sequence(true);
        this.blocks -= 1;
        // Redirections after a block apply to all of it.
        const redirections = this.trailingRedirections();
        if (redirections.length > 0) this.out.push({ words: [], assignments: [], redirections, wrappers: [], opaque: null });
      } else if (c === "&" || c === "|") {
        // An operator with no command before it: cmd refuses the line.
        this.error = true;
        this.pos += 1;
        continue;
      } else if (this.command(inBlock)) {
        // `if …` / `for … do`: the command they run follows directly.
        continue;
      }
      this.skip(" \t");
      if (/^else[\s(]/i.test(src.slice(this.pos, this.pos + 5))) {
        this.pos += 4;
        continue;
      }
      const op = src.charAt(this.pos);
      if (op === "&" || op === "|") {
        this.pos += src.charAt(this.pos + 1) === op ? 2 : 1;
        this.skip(" \t");
        if (this.pos >= src.length || src.charAt(this.pos) === "\n") this.error = true;
      } else if (op === "\n") {
        this.pos += 1;
      } else if (op === ")" && inBlock) {
        continue;
      } else if (this.pos < src.length && op !== ")") {
        this.error = true;
        return;
      }
    }
  }

  private skip(chars: string): void {
    while (this.pos < this.src.length && chars.includes(this.src.charAt(this.pos))) this.pos += 1;
  }

  private trailingRedirections(): RawRedirection[] {
    const redirections: RawRedirection[] = [];
    for (;;) {
      this.skip(" \t");
      const redirection = this.redirection();
      if (redirection === null) return redirections;
      redirections.push(redirection);
    }
  }

  /** `[n]>`, `[n]>>`, `<`, `[n]>&m` at the current position, with its target. */
  private redirection(): RawRedirection | null {
    const match = /^([0-9])?(>>|>|<)(&[0-9])?/.exec(this.src.slice(this.pos, this.pos + 5));
    if (match === null) return null;
    this.pos += match[0].length;
    const fd = match[1] === undefined ? null : Number(match[1]);
    const op = `${match[2] ?? ""}${match[3] === undefined ? "" : "&"}`;
    if (match[3] !== undefined) return { op, fd, target: null, duplicate: true };
    this.skip(" \t");
    const target = this.token(true);
    if (target === null) {
      this.error = true;
      return { op, fd, target: null };
    }
    return { op, fd, target: this.word(target, true) };
  }

  /** One token up to a blank or operator, `^` escapes removed, quotes kept. Null at an operator. */
  private token(stopAtParen: boolean): string | null {
    const src = this.src;
    let text = "";
    let quoted = false;
    while (this.pos < src.length) {
      const c = src.charAt(this.pos);
      if (quoted) {
        text += c;
        this.pos += 1;
        if (c === '"') quoted = false;
        if (c === "\n") {
          this.error = true;
          return text;
        }
        continue;
      }
      if (c === " " || c === "\t" || c === "\n" || c === "&" || c === "|" || c === "<" || c === ">" || (stopAtParen && c === ")")) break;
      if (c === "^") {
        const next = src.charAt(this.pos + 1);
        if (next !== "" && next !== "\n") text += next;
        this.pos += 2;
        continue;
      }
      if (c === '"') quoted = true;
      text += c;
      this.pos += 1;
    }
    if (quoted) this.error = true;
    return text === "" ? null : text;
  }

  /**
   * The rest of a simple command: its words as cmd passes them on, and its
   * redirections. True when only an `if`/`for` header was read and the command
   * it runs comes next.
   */
  private command(inBlock: boolean): boolean {
    const src = this.src;
    const redirections: RawRedirection[] = [];
    let line = "";
    let quoted = false;
    const start = this.pos;
    // The command token decides how the rest is read (rem, if, for).
    const head = /^([A-Za-z:]+)/.exec(src.slice(start))?.[1]?.toLowerCase() ?? "";
    if (head === "rem" || src.startsWith("::", start) || (src.charAt(start) === ":" && head !== "")) {
      // REM and labels: the rest of the line is not parsed (operators included).
      const end = src.indexOf("\n", start);
      this.pos = end < 0 ? src.length : end;
      return false;
    }
    if (head === "if" && /^if[\s(]/i.test(src.slice(start))) return this.ifCommand();
    if (head === "for" && /^for\s/i.test(src.slice(start))) return this.forCommand();
    while (this.pos < src.length) {
      const c = src.charAt(this.pos);
      if (quoted) {
        line += c;
        this.pos += 1;
        if (c === '"') quoted = false;
        if (c === "\n") {
          this.error = true;
          break;
        }
        continue;
      }
      if (c === "\n" || c === "&" || c === "|" || (inBlock && c === ")")) break;
      const startsToken = line === "" || /\s$/.test(line);
      if (c === ">" || c === "<" || (startsToken && /^[0-9][<>]/.test(src.slice(this.pos, this.pos + 2)))) {
        const redirection = this.redirection();
        if (redirection !== null) {
          redirections.push(redirection);
          line += " ";
          continue;
        }
      }
      if (c === "^") {
        const next = src.charAt(this.pos + 1);
        if (next !== "" && next !== "\n") line += next;
        this.pos += 2;
        continue;
      }
      if (c === '"') quoted = true;
      line += c;
      this.pos += 1;
    }
    if (quoted) this.error = true;
    this.emit(line.trim(), redirections);
    return false;
  }

  private emit(line: string, redirections: RawRedirection[]): void {
    if (line === "") {
      if (redirections.length > 0) this.out.push({ words: [], assignments: [], redirections, wrappers: [], opaque: null });
      return;
    }
    // The command token ends at a blank or at `,;=`; quotes group but are removed.
    const token = /^(?:"[^"]*"?|[^\s,;=("])+/.exec(line)?.[0] ?? "";
    const programText = token.replace(/"/g, "");
    const rest = line.slice(token.length);
    const program = this.word(programText, false);
    const name = programText.toLowerCase();
    const builtin = BUILTINS.has(name) || (BUILTINS.has(name.replace(/[./\\].*$/, "")) && /^[a-z]+[./\\]/.test(name));
    let args: Word[];
    if (name === "set") {
      // `set NAME=value with blanks`: one argument.
      args = rest.trim() === "" ? [] : [this.word(rest.trim(), false)];
    } else if (builtin && name === "start") {
      args = splitBuiltin(rest, true).map((part) => this.word(part, false));
    } else if (builtin) {
      args = splitBuiltin(rest, false).map((part) => this.word(part, false));
    } else {
      args = commandLineToArgv(rest).map((part) => this.word(part, false));
    }
    let opaque: OpaqueCause | null = null;
    if (program.unknown !== null) opaque = "program_not_literal";
    else if (this.hasEarlyExpansion(line) || redirections.some((r) => r.target !== null && r.target.unknown === "expansion" && this.hasEarlyExpansion(r.target.text))) opaque = "unsupported_syntax";
    this.out.push({ words: [program, ...args], assignments: [], redirections, wrappers: [], opaque });
  }

  private hasEarlyExpansion(text: string): boolean {
    for (const match of text.matchAll(/\uE000([0-9]+)\uE001/g)) if (this.expansions[Number(match[1])]?.early === true) return true;
    return false;
  }

  /** A word with its markers restored: unknown when it holds an expansion. */
  private word(text: string, stripQuotes: boolean): Word {
    const value = stripQuotes ? text.replace(/"/g, "") : text;
    if (!value.includes(OPEN)) return { text: value, unknown: null };
    const restored = value.replace(/\uE000([0-9]+)\uE001/g, (_m, index: string) => this.expansions[Number(index)]?.source ?? "");
    return { text: restored, unknown: "expansion" };
  }

  /** `if [/i] [not] condition command [else command]`: the condition is skipped; the commands follow. */
  private ifCommand(): boolean {
    this.pos += 2;
    const take = (): string | null => {
      this.skip(" \t");
      return this.token(false);
    };
    const peek = (): string => {
      this.skip(" \t");
      return this.peekWord()?.toLowerCase() ?? "";
    };
    if (peek() === "/i") take();
    if (peek() === "not") take();
    const keyword = peek();
    if (["errorlevel", "cmdextversion", "defined", "exist"].includes(keyword)) {
      take();
      if (take() === null) this.error = true;
    } else {
      // `a==b`, `a == b`, `a EQU b`.
      const left = take();
      if (left === null) this.error = true;
      else if (!/==./.test(left)) {
        const op = take();
        if (op === null) this.error = true;
        else if (!/^==./.test(op) && take() === null) this.error = true;
      }
    }
    this.skip(" \t");
    return true;
  }

  /** `for [/d|/r [dir]|/l|/f ["options"]] %x in (set) do command`; a /f set in quotes is a command. */
  private forCommand(): boolean {
    this.pos += 3;
    let fileMode = false;
    let backquote = false;
    for (;;) {
      this.skip(" \t");
      const word = this.peekWord();
      if (word === null) {
        this.error = true;
        return false;
      }
      const lower = word.toLowerCase();
      if (lower === "/f") {
        fileMode = true;
        this.token(false);
        continue;
      }
      if (lower === "/d" || lower === "/l") {
        this.token(false);
        continue;
      }
      if (lower === "/r") {
        this.token(false);
        this.skip(" \t");
        const maybe = this.peekWord();
        if (maybe !== null && !maybe.startsWith("%") && !maybe.startsWith(OPEN)) this.token(false);
        continue;
      }
      if (word.startsWith('"') && fileMode) {
        backquote = /usebackq/i.test(word);
        this.token(false);
        continue;
      }
      break;
    }
    this.token(false);
    this.skip(" \t");
    if (this.peekWord()?.toLowerCase() !== "in") {
      this.error = true;
      return false;
    }
    this.token(false);
    this.skip(" \t");
    if (this.src.charAt(this.pos) !== "(") {
      this.error = true;
      return false;
    }
    const close = this.matchingParen(this.pos);
    if (close < 0) {
      this.error = true;
      this.pos = this.src.length;
      return false;
    }
    const set = this.src.slice(this.pos + 1, close).trim();
    this.pos = close + 1;
    const quote = backquote ? "`" : "'";
    if (fileMode && set.startsWith(quote) && set.endsWith(quote) && set.length >= 2) {
      // `for /f %i in ('command')` runs the command through cmd /c.
      const inner = parseCmd(this.restore(set.slice(1, -1)), { ...this.ctx, depth: this.ctx.depth + 1 });
      for (const command of inner) command.wrappers = ["for", ...command.wrappers];
      this.out.push(...inner);
    }
    this.skip(" \t");
    if (this.peekWord()?.toLowerCase() !== "do") {
      this.error = true;
      return false;
    }
    this.token(false);
    return true;
  }

  private restore(text: string): string {
    return text.replace(/\uE000([0-9]+)\uE001/g, (_m, index: string) => this.expansions[Number(index)]?.source ?? "");
  }

  private matchingParen(open: number): number {
    let depth = 0;
    let quoted = false;
    for (let i = open; i < this.src.length; i += 1) {
      const c = this.src.charAt(i);
      if (c === '"') quoted = !quoted;
      if (quoted) continue;
      if (c === "^") {
        i += 1;
        continue;
      }
      if (c === "(") depth += 1;
      if (c === ")") {
        depth -= 1;
        if (depth === 0) return i;
      }
    }
    return -1;
  }

  private peekWord(): string | null {
    const save = this.pos;
    const saveError = this.error;
    const word = this.token(false);
    this.pos = save;
    this.error = saveError;
    return word;
  }
}

/** cmd's builtin argument split: blanks, `,`, `;`, `=` outside quotes; quotes removed (or kept for `start`). */
function splitBuiltin(rest: string, keepQuotes: boolean): string[] {
  const parts: string[] = [];
  let current = "";
  let quoted = false;
  let has = false;
  for (const c of rest) {
    if (c === '"') {
      quoted = !quoted;
      has = true;
      if (keepQuotes) current += c;
      continue;
    }
    if (!quoted && /[\s,;=]/.test(c)) {
      if (has) parts.push(current);
      current = "";
      has = false;
      continue;
    }
    current += c;
    has = true;
  }
  if (has) parts.push(current);
  return parts;
}
