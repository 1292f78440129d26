/**
 * Windows programs and cmd.exe builtins.
 * Each handler is referenced from one row of programs.ts, whose comment says what it stops.
 */
import type { Invocation } from "../invocation.ts";
import { literal, type Word } from "../model.ts";
import { all, type ProgramRow } from "../rows.ts";
import { commandLineToArgv } from "../argv.ts";
import { operandWords, wrap } from "./common.ts";


export function certutil(invocation: Invocation): void {
  const args = invocation.args;
  const verb = args.find((word) => /^[-/]/.test(word.text) && !/^[-/](?:f|split|v|gmt|seconds|silent|user|enterprise|config|p|t)$/i.test(word.text));
  const name = verb?.text.slice(1).toLowerCase() ?? "";
  invocation.setSubcommand(name);
  const operands = args.filter((word) => !/^[-/]/.test(word.text));
  if (name === "urlcache" || name === "verifyctl") {
    const [url, file] = operands;
    if (url !== undefined) invocation.target("url", url);
    if (file !== undefined) invocation.target("write", file);
    if (file === undefined && url !== undefined) invocation.workingDirectory("file.write");
  } else if (["decode", "encode", "decodehex", "encodehex"].includes(name)) {
    const [input, output] = operands;
    if (input !== undefined) invocation.target("read", input);
    if (output !== undefined) invocation.target("write", output);
  } else {
    for (const operand of operands) invocation.target("read", operand);
  }
}

export function bitsadmin(invocation: Invocation): void {
  const args = invocation.args;
  invocation.setSubcommand(args[0]?.text.replace(/^\//, "").toLowerCase() ?? "");
  for (let i = 0; i < args.length; i += 1) {
    const word = args[i] as Word;
    if (/^\/setnotifycmdline$/i.test(word.text)) {
      invocation.flag("spawns");
      invocation.opaque();
    }
    if (word.unknown === null && /^[a-z]+:\/\//i.test(word.text)) {
      invocation.target("url", word);
      const local = args[i + 1];
      if (local !== undefined) invocation.target("write", local);
    }
  }
}

export function robocopy(invocation: Invocation): void {
  const parsed = invocation.options({ syntax: "windows", values: {}, switches: { ...all({ marker: "move" }, "/mov", "/move"), ...all({ marker: "purge" }, "/mir", "/purge") } });
  const [source, destination] = operandWords(parsed);
  if (source !== undefined) {
    invocation.target("read", source);
    if (parsed.markers.has("move")) invocation.target("delete", source);
  }
  if (destination !== undefined) {
    invocation.target("write", destination);
    if (parsed.markers.has("purge")) invocation.target("delete", destination);
  }
}

export function runas(invocation: Invocation): void {
  invocation.flag("elevated");
  const operands = invocation.args.filter((word) => word.unknown !== null || !word.text.startsWith("/"));
  const command = operands[0];
  if (command === undefined) return;
  if (command.unknown !== null) {
    invocation.opaque();
    return;
  }
  wrap(invocation, commandLineToArgv(command.text).map(literal), ["elevated"]);
}

export function cmdCopy(invocation: Invocation, row: ProgramRow): void {
  const parsed = invocation.options(row.options ?? {});
  const words = operandWords(parsed);
  const move = invocation.program === "move";
  // `copy a+b c` concatenates sources; `copy a` copies into the current directory.
  // `copy a+b c` concatenates: every `+` part is a source.
  const sources = (words.length > 1 ? words.slice(0, -1) : words).flatMap((word) => (word.unknown === null ? word.text.split("+").filter((part) => part !== "").map(literal) : [word]));
  for (const source of sources) {
    invocation.target("read", source);
    if (move) invocation.target("delete", source);
  }
  const destination = words.length > 1 ? words[words.length - 1] : undefined;
  if (destination !== undefined) invocation.target("write", destination);
  else invocation.workingDirectory("file.write");
}

export function cmdRename(invocation: Invocation): void {
  const [from, to] = invocation.args;
  if (from === undefined) return;
  invocation.target("read", from);
  invocation.target("delete", from);
  if (to === undefined) return;
  // The new name is in the old file's directory.
  const dir = from.unknown === null ? from.text.replace(/[^\\/]*$/, "") : "";
  invocation.target("write", to.unknown === null ? literal(dir + to.text) : to);
}

/** `start https://…`, `Start-Process report.pdf`: a URL or document opened by its default program. */
export function openDocument(invocation: Invocation, file: Word): boolean {
  if (file.unknown !== null) return false;
  if (/^[a-z][a-z0-9+.-]*:/i.test(file.text) && !/^[a-z]:[\\/]/i.test(file.text)) {
    invocation.flag("spawns");
    invocation.target("url", file);
    return true;
  }
  return false;
}

export function cmdStart(invocation: Invocation): void {
  const args = [...invocation.args];
  let i = 0;
  // A first quoted word is the window title (the grammar keeps quotes for start).
  if (args[0]?.text.startsWith("\"") === true) i = 1;
  while (i < args.length && /^\//.test(args[i]?.text ?? "")) {
    if (/^\/d$/i.test(args[i]?.text ?? "")) i += 1;
    i += 1;
  }
  const command = args.slice(i).map((word) => (word.text.startsWith("\"") && word.text.endsWith("\"") && word.text.length >= 2 ? { ...word, text: word.text.slice(1, -1) } : word));
  if (command.length === 0) {
    invocation.flag("inline_code");
    return;
  }
  if (command[0] !== undefined && openDocument(invocation, command[0])) return;
  wrap(invocation, command);
}

export function cmdCall(invocation: Invocation): void {
  const target = invocation.args[0];
  if (target === undefined) return;
  // `call :label` jumps within a batch file the line does not show.
  if (target.text.startsWith(":")) {
    invocation.opaque();
    return;
  }
  wrap(invocation, [...invocation.args]);
}

export function cmdControl(invocation: Invocation): void {
  // for /f and if bodies are parsed by the cmd grammar itself; what reaches the
  // table here is a form the grammar could not split.
  invocation.opaque();
}
