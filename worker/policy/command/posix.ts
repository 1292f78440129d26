/**
 * The POSIX family (bash, sh, zsh): unbash's AST walked into simple commands.
 *
 * unbash parses GNU Bash 5.3; sh scripts parse as Bash. zsh reads a few
 * constructs differently, and those are refused as opaque rather than read the
 * Bash way (see ZSH_ONLY below and docs/commands.md).
 */
import { forEachChild, parse } from "unbash";
import type {
  Assignment,
  Command,
  DoubleQuotedChild,
  ParameterExpansionPart,
  ParsedScript,
  Redirection as UnbashRedirection,
  SyntaxNode,
  Word as UnbashWord,
  WordPart,
} from "unbash";
import { decodeAnsiC } from "./ansi-c.ts";
import { braceExpand, type BraceToken } from "./braces.ts";
import { MAX_NESTED_SYNTAX, type ParseContext, type RawCommand, type RawRedirection, type Word, type WordUnknown } from "./model.ts";

interface WalkState {
  /** Set inside a script unbash reported errors for: nothing in it is trusted. */
  tainted: boolean;
  /** Wrappers the grammar unwrapped on the way here (`time`). */
  wrappers: string[];
  /** Substitutions this script is nested in. */
  depth: number;
}

// zsh constructs that Bash reads as something harmless: `$~x` and `$=x` (glob
// and split the value), `${(e)x}` and other parameter flags (`e` evaluates the
// value as code), `${~x}`, `${=x}`, `${^x}`, and `=cmd` (the path of cmd; as a
// program word it runs cmd). Glob qualifiers `*(e:…:)` and `*(+fn)` run code; unbash
// reads them as extended globs, which are refused separately.
const ZSH_ONLY = /\$[~=^]|\$\{[(~=^]/;
const ZSH_EQUALS = /^=[A-Za-z0-9_.+-]/;
const ASSIGNMENT_SHAPED = /^[A-Za-z_][A-Za-z0-9_]*\+?=/;
// Characters that carry no quoting, expansion, globbing or tilde meaning in any position.
const PLAIN_WORD = /^[A-Za-z0-9_.\/:@%+,-]+$/;
const CODE_MARK = /[$`]|[<>]\(/;
// Quoting as unbash reads it; in arithmetic the shell does not (see hidesArithmeticCode).
const QUOTE_MARK = /['"\\]/;
// `[[ … ]]` operators whose operands are evaluated as arithmetic.
const ARITHMETIC_TEST = /^-(?:eq|ne|lt|le|gt|ge)$/;
/**
 * Builtins that take a variable name, whose subscript bash evaluates as arithmetic:
 * `unset 'a[$(cmd)]'`, `printf -v 'a[$(cmd)]' …`, `read`, `declare`/`typeset`/`local`, `let`,
 * `test -v`/`[ -v` (each runs cmd in bash 5.2). An argument of theirs with a subscript, a quote
 * and an expansion mark is read as arithmetic code is.
 */
const NAME_BUILTINS = new Set(["unset", "printf", "read", "declare", "typeset", "local", "export", "readonly", "let", "test", "["]);

/** A word holding a subscript with a quote (or backslash) and an expansion mark: code bash runs when it evaluates the subscript. */
function subscriptCode(text: string): boolean {
  return text.includes("[") && QUOTE_MARK.test(text) && CODE_MARK.test(text);
}

/**
 * Parses a POSIX-family line into its simple commands, in source order, a command
 * before the commands nested in its words.
 */
export function parsePosix(source: string, ctx: ParseContext): RawCommand[] {
  const out: RawCommand[] = [];
  // unbash finds where each substitution ends by scanning the rest of the line,
  // once per level: a line nested past any real use is refused before parsing,
  // so that no line costs more than a bounded number of scans.
  if (parenthesisDepth(source) > MAX_NESTED_SYNTAX * 2) {
    out.push({ words: [], assignments: [], redirections: [], wrappers: [], opaque: "nesting" });
    return out;
  }
  const walker = new PosixWalker(ctx, out, source);
  walker.script(parse(source), { tainted: false, wrappers: [], depth: 0 });
  return out;
}

class PosixWalker {
  constructor(
    private readonly ctx: ParseContext,
    private readonly out: RawCommand[],
    /** The text unbash parsed: node positions index it, nested substitutions included. */
    private readonly source: string,
  ) {}

  script(script: ParsedScript, state: WalkState): void {
    const tainted = state.tainted || (script.errors !== undefined && script.errors.length > 0);
    const inner: WalkState = { tainted, wrappers: [], depth: state.depth };
    const before = this.out.length;
    for (const statement of script.commands) this.node(statement, inner);
    // A script that reported errors but yielded no command (`)`, `|`) still
    // stands for something the shell would have tried to run.
    if (tainted && this.out.length === before) {
      this.out.push({ words: [], assignments: [], redirections: [], wrappers: [], opaque: "parse_error" });
    }
  }

  node(node: SyntaxNode, state: WalkState): void {
    if (this.arithmeticCode(node, state)) return;
    switch (node.type) {
      case "Script":
        this.script(node, state);
        return;
      case "Command":
        this.command(node, state);
        return;
      case "Pipeline": {
        const timed = node.prefixes.some((prefix) => prefix.type === "Time");
        const inner = timed ? { ...state, wrappers: [...state.wrappers, "time"] } : state;
        for (const command of node.commands) this.node(command, inner);
        return;
      }
      case "Redirected": {
        // `{ a; b; } > out`: the redirection applies to the whole group; it is
        // recorded once, as a command with no program ahead of the group's commands.
        this.out.push({
          words: [],
          assignments: [],
          redirections: node.redirects.map((redirect) => this.redirection(redirect)),
          wrappers: state.wrappers,
          opaque: state.tainted ? "parse_error" : null,
        });
        for (const redirect of node.redirects) forEachChild(redirect, (child) => this.nested(child, state));
        this.node(node.command, state);
        return;
      }
      case "CommandExpansion":
      case "ProcessSubstitution":
      case "ArithmeticCommandExpansion":
        this.substitution(node, state);
        return;
      default:
        forEachChild(node, (child) => this.node(child, state));
    }
  }

  /** Looks inside a word for code it runs (substitutions) without emitting the word itself. */
  nested(node: SyntaxNode, state: WalkState): void {
    if (this.arithmeticCode(node, state)) return;
    if (node.type === "CommandExpansion" || node.type === "ProcessSubstitution" || node.type === "ArithmeticCommandExpansion") {
      this.substitution(node, state);
      return;
    }
    // A word without `$`, a backquote or `<(`/`>(` holds no code; skipping it
    // spares unbash from building its parts (they are parsed lazily).
    if (node.type === "Word" && !CODE_MARK.test(node.text)) return;
    forEachChild(node, (child) => this.nested(child, state));
  }

  /**
   * Bash and dash expand arithmetic (`$(( ))`, `$[ ]`, `(( ))`, `for (( ; ; ))`, the operands of
   * `[[ -eq ]]`), array subscripts and substring offsets as if double-quoted, where `'` quotes
   * nothing, and evaluating a subscript expands it once more: `$(( 'a[$(cmd)]' ))`,
   * `${x['$(cmd)']}` and `$(( a$'[\x24(cmd)]' ))` all run cmd. unbash reads those quotes as
   * quoting and never shows the command, so a context with both a quote (or backslash) and an
   * expansion mark is recorded as an opaque command, and not read further. Without quotes
   * unbash finds the substitutions itself (`$(( $(id -u) + 1 ))` lists `id -u`).
   */
  private arithmeticCode(node: SyntaxNode, state: WalkState): boolean {
    const texts: string[] = [];
    switch (node.type) {
      case "ArithmeticExpansion":
        // Past its own `$((` or `$[`, which is not an expansion inside it.
        texts.push(node.text.replace(/^\$(?:\(\(|\[)/, ""));
        break;
      case "ArithmeticCommand":
        texts.push(node.body);
        break;
      case "ArithmeticFor":
        texts.push(this.source.slice(node.pos, node.body.pos));
        break;
      case "ParameterExpansion":
        if (node.index !== undefined) texts.push(node.index.text);
        if (node.operation?.type === "Slice") texts.push(node.operation.offset.text, node.operation.length?.text ?? "");
        break;
      case "Assignment":
        if (node.index !== undefined) texts.push(node.index.text);
        break;
      case "ArrayValue":
        // `a=(['$(cmd)']=1)`: the subscript of an element.
        for (const element of node.elements) if (element.text.startsWith("[")) texts.push(element.text);
        break;
      case "TestBinary":
        if (ARITHMETIC_TEST.test(node.operator)) texts.push(node.left.text, node.right.text);
        break;
      case "TestUnary":
        // `[[ -v 'a[$(cmd)]' ]]`: the name's subscript is evaluated.
        if (node.operator === "-v") texts.push(node.operand.text);
        break;
      default:
        return false;
    }
    if (!texts.some((text) => QUOTE_MARK.test(text) && CODE_MARK.test(text))) return false;
    this.out.push({ words: [], assignments: [], redirections: [], wrappers: state.wrappers, opaque: "arithmetic_code" });
    // The loop's body still runs, and is read as any other.
    if (node.type === "ArithmeticFor") this.node(node.body, state);
    return true;
  }

  /** The code of `$(…)`, `<(…)`, backquotes: parsed (by unbash, on first access) unless nested too deep. */
  private substitution(node: { script: ParsedScript | undefined }, state: WalkState): void {
    if (state.depth >= MAX_NESTED_SYNTAX) {
      this.out.push({ words: [], assignments: [], redirections: [], wrappers: [], opaque: "nesting" });
      return;
    }
    if (node.script !== undefined) this.script(node.script, { ...state, depth: state.depth + 1 });
  }

  command(node: Command, state: WalkState): void {
    const words: Word[] = [];
    const assignments: { name: string; value: Word }[] = [];
    const redirections: RawRedirection[] = [];
    let zshOnly = false;

    for (const item of node.prefix) {
      if (item.type === "Assignment") assignments.push({ name: item.name, value: this.assignmentValue(item) });
      else redirections.push(this.redirection(item));
    }
    if (node.name !== undefined) {
      words.push(this.programWord(node.name));
      zshOnly ||= this.zshOnly(node.name, true);
    }
    for (const item of node.suffix) {
      if (item.type === "Word") {
        words.push(...this.braceExpanded(item));
        zshOnly ||= this.zshOnly(item, false);
      } else if (item.type === "Assignment") {
        words.push(this.argument(item));
      } else {
        redirections.push(this.redirection(item));
      }
    }

    let opaque: RawCommand["opaque"] = null;
    if (state.tainted) opaque = "parse_error";
    else if (zshOnly) opaque = "unsupported_syntax";
    else if (words[0] !== undefined && words[0].unknown !== null) opaque = "program_not_literal";
    else if (words.some((word) => NAME_BUILTINS.has(word.text)) && node.suffix.some((item) => (item.type === "Word" || item.type === "Assignment") && subscriptCode(item.text))) opaque = "arithmetic_code";

    this.out.push({ words, assignments, redirections, wrappers: state.wrappers, opaque });
    forEachChild(node, (child) => this.nested(child, state));
  }

  private zshOnly(word: UnbashWord, program: boolean): boolean {
    if (this.ctx.shell !== "zsh") return false;
    if (ZSH_ONLY.test(word.text)) return true;
    if (word.parts?.some((part) => part.type === "ExtendedGlob")) return true;
    // `=cmd` expands to cmd's path; as an argument it is only a path, which the
    // word's unknown value already covers, but as a program it runs cmd.
    return program && ZSH_EQUALS.test(word.text);
  }

  private redirection(redirect: UnbashRedirection): RawRedirection {
    const fd = redirect.descriptor?.type === "FileDescriptor" ? redirect.descriptor.value : null;
    if (redirect.type === "HereDoc") return { op: redirect.operator, fd, target: null };
    if (redirect.type === "HereString") return { op: redirect.operator, fd, target: null };
    const target = redirect.target === undefined ? null : this.redirectionTarget(redirect.target);
    // `2>&1`, `>&-`, `<&3`: descriptor duplication, not a file. `>& file` (no
    // number) is Bash's spelling of `&> file`.
    if ((redirect.operator === ">&" || redirect.operator === "<&") && target !== null && /^(?:[0-9]+-?|-)$/.test(target.text)) {
      return { op: redirect.operator, fd, target: null, duplicate: true };
    }
    return { op: redirect.operator, fd, target };
  }

  /** A redirection's file: bash expands braces in it too (`< x{}","..c}` opens `x},..c`); more than one word is an error. */
  private redirectionTarget(target: UnbashWord): Word {
    const [expanded, ...more] = this.braceExpanded(target);
    return expanded === undefined || more.length > 0 ? { text: target.text, unknown: "expansion" } : expanded;
  }

  /** The program word: one that brace expansion changes (`{x},/etc}` runs `x}`) is not literal, whichever words it makes. */
  private programWord(name: UnbashWord): Word {
    if (this.ctx.shell !== "bash" || !name.text.includes("{")) return this.word(name, true);
    const [expanded, ...more] = this.braceExpanded(name);
    if (expanded === undefined || more.length > 0 || expanded.braced === true) return { text: name.text, unknown: "expansion" };
    return expanded.unknown !== null ? expanded : this.word(name, true);
  }

  /**
   * An argument's words after bash's brace expansion (worker/policy/command/braces.ts): `a{,.bak}`
   * is two arguments, and `{x},/etc}` too, which unbash reads as one literal word. Only bash
   * expands braces here (dash passes them on; zsh's rules differ and stay unknown), and only in a
   * word whose other parts are known. A tilde is read only as the word's own `~/` prefix: one the
   * braces complete or put at a word's start (`~{a,b}`, `{~,x}/a`) stays unknown, as does a word
   * that braces would turn into a glob or an empty word (which bash drops unless quoted).
   */
  private braceExpanded(word: UnbashWord): Word[] {
    if (this.ctx.shell !== "bash" || !word.text.includes("{")) return [this.word(word, false)];
    const unknownWord = (why: WordUnknown): Word[] => [{ text: word.text, unknown: why }];
    // Without parts, unbash read the word as one literal (`{x},/etc}` among them).
    const parts: readonly WordPart[] | null = word.parts ?? (/['"$`]/.test(word.text) ? null : [{ type: "Literal", pos: word.pos, end: word.end, value: word.value, text: word.text }]);
    if (parts === null) return unknownWord("expansion");
    let unknown: WordUnknown | null = null;
    const note = (why: WordUnknown): void => {
      unknown = worseUnknown(unknown, why);
    };
    const tokens: BraceToken[] = [];
    for (const [index, part] of parts.entries()) {
      if (part.type === "Literal" || part.type === "BraceExpansion") {
        // Quotes inside braces are parts of their own, whose places in the text unbash does not give.
        if (part.type === "BraceExpansion" && part.parts !== undefined) return unknownWord("expansion");
        tokens.push(...unquotedTokens(part.text));
      } else tokens.push({ value: this.part(part, index === 0, note) });
    }
    if (unknown !== null) return unknownWord(unknown);
    const expanded = braceExpand(tokens);
    if (expanded === null) return unknownWord("expansion");
    const [only] = expanded;
    if (expanded.length === 1 && only !== undefined && only.length === tokens.length && only.every((token, index) => token === tokens[index])) return [this.word(word, false)];
    // Every word keeps the preamble before the first brace, so a `~/` prefix starts each of them.
    const home = this.ctx.home;
    const tilde = tokens[0] === "~";
    if (tilde && (tokens[1] !== "/" || home === null)) return unknownWord(home === null ? "home_unknown" : "expansion");
    if (expanded.some((expansion) => expansion.some((token, index) => token === "~" && !(tilde && index === 0)))) return unknownWord("expansion");
    if (tokens.some((token) => token === "*" || token === "?" || token === "[")) return unknownWord("glob");
    const words = expanded.map((expansion) => {
      const text = expansion.slice(tilde ? 1 : 0).map((token) => (typeof token === "string" ? token : token.value)).join("");
      return tilde && home !== null ? joinHome(home, text) : text;
    });
    if (words.includes("")) return unknownWord("expansion");
    return words.map((text) => ({ text, unknown: null, braced: true }));
  }

  private argument(item: Assignment): Word {
    // `export X=$(…)`, `declare a=b`: declaration builtins take assignments as arguments.
    const value = this.assignmentValue(item);
    if (value.unknown !== null) return { text: item.text, unknown: value.unknown };
    return { text: `${item.name}${item.append === true ? "+=" : "="}${value.text}`, unknown: null };
  }

  private assignmentValue(item: Assignment): Word {
    if (item.value.type === "ArrayValue" || item.index !== undefined) return { text: item.text, unknown: "expansion" };
    return this.word(item.value, false, true);
  }

  /** A word's value as the program receives it, or why it cannot be known. */
  word(word: UnbashWord, program: boolean, assignment = false): Word {
    // Plain words (most of them) are their own value.
    if (PLAIN_WORD.test(word.text)) return { text: word.text, unknown: null };
    if (this.ctx.shell === "zsh" && ZSH_EQUALS.test(word.text)) return { text: word.text, unknown: "expansion" };
    // A `~` after a `:` is expanded too in an assignment's value (`PATH=x:~/bin`), and by bash in an argument shaped like
    // one, as after its `=` or `+=`; the literal form `NAME=~…` is read below, every other such argument is not.
    const shaped = !program && !assignment && this.ctx.shell === "bash" && ASSIGNMENT_SHAPED.exec(word.text);
    if ((word.text.includes(":~") && (assignment || shaped)) || (shaped && word.text.startsWith("~", shaped[0].length) && (shaped[0].endsWith("+=") || word.parts !== undefined))) {
      return { text: word.text, unknown: "expansion" };
    }
    const parts = word.parts;
    let text = "";
    let unknown: WordUnknown | null = null;
    const note = (why: WordUnknown): void => {
      unknown = worseUnknown(unknown, why);
    };
    if (parts === undefined) {
      text = word.value;
      if (word.text.startsWith("~")) {
        const reading = tildeReading(word.text, false, this.ctx.shell);
        const tilde = reading === "text" ? text : reading === "expand" ? this.tilde(text) : null;
        if (tilde === null) note(reading === "unknown" ? "expansion" : tildeUnknown(text));
        else text = tilde;
      } else if (!program && this.ctx.shell === "bash" && !assignment) {
        // Bash (not sh, not zsh) also expands `~` after the `=` of an
        // assignment-shaped argument: `dd of=~/x` writes under home.
        // `shaped` is its `NAME=` (a `NAME+=~` was refused above).
        const prefix = shaped ? shaped[0] : "";
        if (prefix !== "" && word.text.startsWith("~", prefix.length) && tildeReading(word.text.slice(prefix.length), false, this.ctx.shell) === "expand") {
          const value = word.value.slice(prefix.length);
          const tilde = this.tilde(value);
          if (tilde === null) note(tildeUnknown(value));
          else text = prefix + tilde;
        }
      }
      return unknown === null ? { text, unknown: null } : { text: word.text, unknown };
    }
    parts.forEach((part, index) => {
      text += this.part(part, index === 0, note, index < parts.length - 1);
    });
    return unknown === null ? { text, unknown: null } : { text: word.text, unknown };
  }

  /** `continues`: more parts of the word follow this one. */
  private part(part: WordPart, first: boolean, note: (why: WordUnknown) => void, continues = false): string {
    switch (part.type) {
      case "Literal": {
        // zsh expands a `~` that empty quotes put at a word's start (`''~` is the home): one after them is not certain there.
        if (!first && this.ctx.shell === "zsh" && part.text.includes("~")) note("expansion");
        const reading = first && part.text.startsWith("~") ? tildeReading(part.text, continues, this.ctx.shell) : "text";
        if (reading !== "text") {
          const tilde = reading === "expand" ? this.tilde(part.value) : null;
          if (tilde === null) note(reading === "unknown" ? "expansion" : tildeUnknown(part.value));
          return tilde ?? part.value;
        }
        return part.value;
      }
      case "SingleQuoted":
        return part.value;
      case "AnsiCQuoted": {
        // Decoded here, by bash's rules: unbash leaves `$'\\x{2f}etc'` as it is, which bash reads as /etc. dash before
        // 0.5.13 (Debian 12, Ubuntu 24.04) reads `$` and a quoted string: `$'/../.ssh/x'` under /home/dev is its .ssh.
        // zsh decodes escapes its own way (`$'\\xZZ'`, `$'\\c@'`): only a string without one is certain there.
        const body = part.text.startsWith("$'") && part.text.endsWith("'") ? part.text.slice(2, -1) : null;
        const value = body === null || this.ctx.shell === "sh" ? null : this.ctx.shell === "zsh" ? (body.includes("\\") ? null : body) : decodeAnsiC(body);
        if (value === null) note("expansion");
        return value ?? part.text;
      }
      case "LocaleString":
        // `$"x"` is `x` to bash and `$x` to dash and zsh.
        if (this.ctx.shell !== "bash") {
          note("expansion");
          return part.text;
        }
        return part.parts.map((child) => this.quotedChild(child, note)).join("");
      case "DoubleQuoted":
        return part.parts.map((child) => this.quotedChild(child, note)).join("");
      case "SimpleExpansion":
      case "ParameterExpansion": {
        const home = this.homeExpansion(part);
        // Unquoted, the value is split on IFS and globbed: only a home without
        // blanks or wildcards stays one literal word.
        if (home !== null && !/[\s*?[\]]/.test(home)) return home;
        note(home === null && this.isHome(part) ? "home_unknown" : "expansion");
        return part.text;
      }
      case "Glob":
      case "ExtendedGlob":
        note("glob");
        return part.text;
      default:
        // Command, arithmetic and process substitution, brace expansion.
        note("expansion");
        return part.text;
    }
  }

  private quotedChild(child: DoubleQuotedChild, note: (why: WordUnknown) => void): string {
    switch (child.type) {
      case "Literal":
        return child.value;
      case "SimpleExpansion":
      case "ParameterExpansion": {
        const home = this.homeExpansion(child);
        if (home !== null) return home;
        note(this.isHome(child) ? "home_unknown" : "expansion");
        return child.text;
      }
      default:
        note("expansion");
        return child.text;
    }
  }

  private isHome(part: { type: "SimpleExpansion" | "ParameterExpansion"; text: string }): boolean {
    return part.text === "$HOME" || part.text === "${HOME}";
  }

  private homeExpansion(part: { type: "SimpleExpansion"; text: string } | ParameterExpansionPart): string | null {
    if (!this.isHome(part)) return null;
    return this.ctx.home;
  }

  /**
   * `~` and `~/x` resolve against home. `~+` is `$PWD`, which each `cd` moves: it resolves only
   * in a line that stays in the working directory (no other directory it may be in), since
   * `cd /home/dev && echo x >> ~+/.bashrc` writes `/home/dev/.bashrc`. `~-` is `$OLDPWD`, the
   * environment's until a `cd` of the line has run, which the order-blind model cannot tell:
   * it never resolves. Nor do `~user` and a missing home.
   */
  private tilde(value: string): string | null {
    const slash = value.indexOf("/");
    const prefix = slash < 0 ? value : value.slice(0, slash);
    const rest = slash < 0 ? "" : value.slice(slash);
    if (prefix === "~") return this.ctx.home === null ? null : joinHome(this.ctx.home, rest);
    // dash has no `~+`: a file of that name.
    if (prefix === "~+" && this.ctx.shell !== "sh") return this.ctx.cwd === null || this.ctx.otherCwds.length > 0 ? null : joinHome(this.ctx.cwd, rest);
    return null;
  }
}

/**
 * A literal's source text as brace expansion sees it: a backslash quotes the character after it,
 * and a backslash-newline is gone before braces are read (it must not stand between a `{` and
 * what bash looks at beside it).
 */
function unquotedTokens(source: string): BraceToken[] {
  const tokens: BraceToken[] = [];
  for (let i = 0; i < source.length; i += 1) {
    const char = source[i] as string;
    const next = source[i + 1];
    if (char !== "\\") tokens.push(char);
    else if (next !== "\n") tokens.push({ value: next ?? "" });
    if (char === "\\") i += 1;
  }
  return tokens;
}

/** What a word with parts unknown for `current` and for `why` is unknown for: an expansion outweighs a missing home, which outweighs a glob. */
function worseUnknown(current: WordUnknown | null, why: WordUnknown): WordUnknown {
  return current === null || why === "expansion" || (why === "home_unknown" && current === "glob") ? why : current;
}

/**
 * How the shell reads the tilde prefix at the start of `source` (up to its first unquoted `/`):
 * expanded, unless a character in it is quoted — a backslash before the first slash, or no slash
 * in this literal while quoted parts of the word follow (`continues`). Then bash and dash leave it
 * as text (`~\\/x`, `~"/x"`, `~"$HOME"`), and zsh does either (`~"/x"` is the home's x, `~"#"` text).
 */
function tildeReading(source: string, continues: boolean, shell: ParseContext["shell"]): "expand" | "text" | "unknown" {
  const slash = source.indexOf("/");
  const quoted = (slash < 0 ? source : source.slice(0, slash)).includes("\\") || (slash < 0 && continues);
  if (!quoted) return "expand";
  return shell === "zsh" ? "unknown" : "text";
}

/** Why a tilde prefix has no value: `~+` and `~-` are variables (`$PWD`, `$OLDPWD`); the others need a home. */
function tildeUnknown(value: string): WordUnknown {
  return /^~[+-](?:\/|$)/.test(value) ? "expansion" : "home_unknown";
}

/** The deepest nesting of `(` … `)` in the text, quotes ignored (an over-estimate, which is the safe side). */
function parenthesisDepth(text: string): number {
  let depth = 0;
  let max = 0;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (c === 0x28) max = Math.max(max, (depth += 1));
    else if (c === 0x29 && depth > 0) depth -= 1;
  }
  return max;
}

function joinHome(base: string, rest: string): string {
  if (rest === "") return base;
  return base.endsWith("/") || base.endsWith("\\") ? base + rest.slice(1) : base + rest;
}
