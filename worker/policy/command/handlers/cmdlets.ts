/**
 * PowerShell cmdlets: parameter binding (named, then positional) and one row per cmdlet family.
 * Each handler is referenced from one row of programs.ts, whose comment says what it stops.
 */
import type { Invocation } from "../invocation.ts";
import { literal, type Word } from "../model.ts";
import type { Effect } from "../options.ts";
import { assignmentFlags, CONFIG, D, NONE, plain, R, U, W, type ProgramRow } from "../rows.ts";
import { commandLineToArgv } from "../argv.ts";
import { wrap, wrapCode } from "./common.ts";
import { curl, wget } from "./network.ts";
import { openDocument } from "./windows.ts";


interface CmdletSpec {
  /** Parameters by name (lowercase, with dash) and the effect of their value. */
  params: Record<string, Effect>;
  /** Switch parameters (no value). */
  switches?: Record<string, Effect>;
  /** Positional parameters in position order. */
  positions: readonly string[];
  /** Parameters whose value accepts wildcards. */
  wildcards?: readonly string[];
  /** No path given: the cmdlet works on the current location. */
  cwd?: boolean;
  /** No path given: the paths come from the pipeline (`… | Remove-Item`). */
  pipeline?: boolean;
}

function cmdletRow(names: readonly string[], spec: CmdletSpec, extra?: (invocation: Invocation, bound: Map<string, Word[]>) => void): ProgramRow {
  return {
    names,
    shells: ["powershell"],
    run: (invocation) => {
      const bound = bindCmdlet(invocation, spec);
      extra?.(invocation, bound);
    },
  };
}

// about_CommonParameters: every cmdlet takes these, each with a value.
const COMMON_PARAMETERS = plain("-erroraction", "-ea", "-warningaction", "-wa", "-informationaction", "-infa", "-errorvariable", "-ev", "-warningvariable", "-wv", "-informationvariable", "-iv", "-outvariable", "-ov", "-outbuffer", "-ob", "-pipelinevariable", "-pv", "-progressaction", "-proga");

/** PowerShell parameter binding: named first, then positional in order (about_Parameters). */
function bindCmdlet(invocation: Invocation, spec: CmdletSpec): Map<string, Word[]> {
  const parsed = invocation.options({ syntax: "powershell", values: { ...COMMON_PARAMETERS, ...Object.fromEntries(Object.keys(spec.params).map((name) => [name, {}])) }, switches: spec.switches ?? {} });
  const bound = new Map<string, Word[]>();
  for (const option of parsed.options) {
    if (option.value === null) continue;
    const list = bound.get(option.name) ?? [];
    list.push(...expandItems(option.value));
    bound.set(option.name, list);
  }
  const positions = spec.positions.filter((name) => !bound.has(name));
  parsed.operands.forEach((operand, index) => {
    const name = positions[index] ?? positions[positions.length - 1];
    if (name === undefined) return;
    const list = bound.get(name) ?? [];
    list.push(...expandItems(operand.word));
    bound.set(name, list);
  });
  for (const [name, values] of bound) {
    const effect = spec.params[name];
    if (effect === undefined) continue;
    const wildcard = spec.wildcards?.includes(name) === true;
    for (const value of values) {
      if (wildcard && value.unknown === null && /[*?[]/.test(value.text)) {
        for (const role of effect.target ?? []) if (role === "read" || role === "write" || role === "delete") invocation.pending({ action: `file.${role}`, kind: "path", unresolved: "glob", raw: value.text });
        for (const flag of effect.flags ?? []) invocation.flag(flag);
        continue;
      }
      invocation.effect(effect, value);
    }
  }
  const first = spec.positions[0];
  if (first !== undefined && !bound.has(first) && !bound.has("-literalpath")) {
    if (spec.cwd === true) invocation.workingDirectory("file.read");
    else if (spec.pipeline === true) {
      // `… | Remove-Item`: the paths arrive on the pipeline.
      for (const role of spec.params[first]?.target ?? []) if (role === "read" || role === "write" || role === "delete") invocation.pending({ action: `file.${role}`, kind: "path", unresolved: "stdin", raw: "(pipeline)" });
    }
  }
  return bound;
}

/** A comma list `a,b` binds as several values. */
function expandItems(word: Word): Word[] {
  return word.items === undefined ? [word] : word.items.map((item) => ({ text: item, unknown: word.unknown }));
}

const PATH_READ: CmdletSpec = { pipeline: true, params: { "-path": R, "-literalpath": R, "-filter": NONE, "-include": NONE, "-exclude": NONE, "-encoding": NONE, "-tail": NONE, "-totalcount": NONE, "-head": NONE, "-first": NONE, "-last": NONE, "-readcount": NONE, "-delimiter": NONE, "-stream": NONE, "-credential": NONE, "-depth": NONE }, switches: {}, positions: ["-path"], wildcards: ["-path"] };

export const POWERSHELL_ROWS: readonly ProgramRow[] = [
  // Get-Content / Get-Item / Test-Path / Import-Csv: -Path (wildcards) and -LiteralPath are read.
  cmdletRow(["get-content", "get-item", "get-itemproperty", "test-path", "resolve-path", "import-csv", "import-clixml", "get-filehash", "get-acl", "format-hex", "import-module", "import-powershelldatafile", "get-authenticodesignature"], PATH_READ),
  // Get-ChildItem lists -Path, or the current location.
  // Its switches are listed so that `-r` is -Recurse (ambiguous with nothing it takes a value for) and `-h` -Hidden.
  cmdletRow(["get-childitem"], { ...PATH_READ, params: { ...PATH_READ.params, "-attributes": NONE }, positions: ["-path", "-filter"], cwd: true, switches: plain("-recurse", "-hidden", "-force", "-name", "-directory", "-file", "-system", "-followsymlink") }),
  // Select-String: the pattern first, then -Path.
  cmdletRow(["select-string"], { params: { ...PATH_READ.params, "-pattern": NONE, "-context": NONE }, positions: ["-pattern", "-path"], wildcards: ["-path"] }),
  // Set-Content / Add-Content / Out-File / Export-Csv / Tee-Object write -Path (or -FilePath).
  cmdletRow(["set-content", "add-content", "clear-content", "export-csv", "export-clixml", "set-acl", "set-itemproperty", "new-itemproperty", "clear-item"], { params: { "-path": W, "-literalpath": W, "-value": NONE, "-encoding": NONE, "-name": NONE, "-inputobject": NONE, "-delimiter": NONE, "-stream": W, "-aclobject": NONE }, positions: ["-path", "-value"], wildcards: ["-path"], pipeline: true }),
  cmdletRow(["out-file", "tee-object", "start-transcript"], { params: { "-filepath": W, "-literalpath": W, "-path": W, "-encoding": NONE, "-inputobject": NONE, "-width": NONE, "-variable": NONE }, positions: ["-filepath"] }),
  // New-Item writes -Path (joined with -Name); a link's -Target / -Value is exposed through it.
  cmdletRow(["new-item", "mkdir"], { params: { "-path": W, "-name": NONE, "-itemtype": NONE, "-type": NONE, "-value": NONE, "-target": R }, positions: ["-path"] }, (invocation, bound) => {
    const paths = bound.get("-path") ?? [];
    const name = bound.get("-name")?.[0];
    if (name !== undefined) {
      if (paths.length === 0) invocation.target("write", name);
      else for (const path of paths) invocation.target("write", path.unknown === null && name.unknown === null ? literal(`${path.text}\\${name.text}`) : { text: `${path.text}\\${name.text}`, unknown: "expansion" });
    }
    const type = bound.get("-itemtype")?.[0] ?? bound.get("-type")?.[0];
    if (type !== undefined && /link|junction/i.test(type.text)) for (const value of bound.get("-value") ?? []) invocation.target("read", value);
  }),
  // Copy-Item / Move-Item: -Path read (moved: deleted), -Destination written; -ToSession/-FromSession are remote.
  cmdletRow(["copy-item"], { params: { "-path": R, "-literalpath": R, "-destination": W, "-filter": NONE, "-include": NONE, "-exclude": NONE, "-tosession": CONFIG, "-fromsession": CONFIG, "-credential": NONE }, positions: ["-path", "-destination"], wildcards: ["-path"], pipeline: true }),
  cmdletRow(["move-item"], { params: { "-path": { target: ["read", "delete"] }, "-literalpath": { target: ["read", "delete"] }, "-destination": W, "-filter": NONE, "-include": NONE, "-exclude": NONE, "-credential": NONE }, positions: ["-path", "-destination"], wildcards: ["-path"], pipeline: true }),
  cmdletRow(["rename-item"], { params: { "-path": { target: ["read", "delete"] }, "-literalpath": { target: ["read", "delete"] }, "-newname": NONE, "-credential": NONE }, positions: ["-path", "-newname"] }, (invocation, bound) => {
    const from = bound.get("-path")?.[0] ?? bound.get("-literalpath")?.[0];
    const to = bound.get("-newname")?.[0];
    if (from === undefined || to === undefined) return;
    const dir = from.unknown === null ? from.text.replace(/[^\\/]*$/, "") : "";
    invocation.target("write", to.unknown === null && from.unknown === null ? literal(dir + to.text) : { text: to.text, unknown: "expansion" });
  }),
  // Remove-Item deletes -Path (wildcards) and -LiteralPath.
  cmdletRow(["remove-item", "remove-itemproperty"], { params: { "-path": D, "-literalpath": D, "-filter": NONE, "-include": NONE, "-exclude": NONE, "-stream": NONE, "-credential": NONE, "-name": NONE }, positions: ["-path"], wildcards: ["-path"], pipeline: true }),
  // Expand-Archive writes into -DestinationPath (or the current location); Compress-Archive writes the archive.
  cmdletRow(["expand-archive"], { params: { "-path": R, "-literalpath": R, "-destinationpath": W }, positions: ["-path", "-destinationpath"] }, (invocation, bound) => {
    if (!bound.has("-destinationpath")) invocation.workingDirectory("file.write");
  }),
  cmdletRow(["compress-archive"], { params: { "-path": R, "-literalpath": R, "-destinationpath": W, "-compressionlevel": NONE }, positions: ["-path", "-destinationpath"], wildcards: ["-path"] }),
  // Invoke-WebRequest / Invoke-RestMethod: -Uri (and any argument that parses as a URL, since
  // parameter names may be abbreviated: -Ur, -U); -OutFile written, -InFile read and sent.
  cmdletRow(["invoke-webrequest", "invoke-restmethod"], {
    params: { "-uri": U, "-outfile": W, "-infile": R, "-proxy": U, "-body": NONE, "-method": NONE, "-headers": NONE, "-contenttype": NONE, "-useragent": NONE, "-timeoutsec": NONE, "-credential": NONE, "-certificate": NONE, "-certificatethumbprint": NONE, "-sessionvariable": NONE, "-websession": NONE, "-maximumredirection": NONE, "-transferencoding": NONE, "-form": NONE, "-token": NONE, "-authentication": NONE, "-customMethod": NONE, "-maximumretrycount": NONE, "-retryintervalsec": NONE, "-statuscodevariable": NONE, "-responseheaderstvariable": NONE },
    switches: {},
    positions: ["-uri"],
  }, (invocation) => {
    for (const word of invocation.args) if (word.unknown === null && /^[a-z][a-z0-9+.-]*:\/\//i.test(word.text)) invocation.target("url", word);
    // Through the curl/wget alias under PowerShell 7 this is curl.exe: read its options too.
    const written = invocation.written.toLowerCase();
    if (written === "curl") curl(invocation);
    if (written === "wget") wget(invocation);
  }),
  cmdletRow(["start-bitstransfer"], { params: { "-source": U, "-destination": W, "-credential": NONE, "-displayname": NONE, "-transfertype": NONE }, positions: ["-source", "-destination"] }),
  // Invoke-Expression runs a string as PowerShell: a literal is parsed again, anything else is opaque.
  cmdletRow(["invoke-expression"], { params: { "-command": NONE }, positions: ["-command"] }, (invocation, bound) => {
    const command = bound.get("-command")?.[0];
    if (command === undefined) {
      // `… | iex`: the code arrives on the pipeline.
      invocation.flag("inline_code");
      invocation.opaque();
      return;
    }
    if (command.unknown !== null) {
      invocation.flag("inline_code");
      invocation.opaque();
      return;
    }
    wrapCode(invocation, command, "powershell");
  }),
  // Invoke-Command / Start-Job: script blocks are parsed by the grammar; -FilePath is read.
  cmdletRow(["invoke-command", "start-job", "start-threadjob"], { params: { "-scriptblock": NONE, "-filepath": R, "-computername": NONE, "-argumentlist": NONE, "-session": NONE, "-credential": NONE, "-hostname": NONE, "-jobname": NONE, "-initializationscript": NONE }, positions: ["-scriptblock", "-argumentlist"] }, (invocation, bound) => {
    if ((bound.get("-scriptblock") ?? []).some((word) => !word.text.startsWith("{"))) invocation.opaque();
    if (bound.has("-computername") || bound.has("-hostname") || bound.has("-session")) invocation.flag("spawns");
  }),
  // ForEach-Object / Where-Object run their script blocks (listed by the grammar); -MemberName calls a method.
  cmdletRow(["foreach-object", "where-object"], { params: { "-process": NONE, "-begin": NONE, "-end": NONE, "-filterscript": NONE, "-membername": NONE, "-argumentlist": NONE, "-property": NONE, "-value": NONE }, positions: ["-process", "-value"] }, (invocation, bound) => {
    const process = [...(bound.get("-process") ?? []), ...(bound.get("-filterscript") ?? []), ...(bound.get("-membername") ?? [])];
    // `% Invoke` / `% { … }`: a member name invokes a method the policy cannot see.
    if (invocation.program === "foreach-object" && process.some((word) => !word.text.startsWith("{"))) invocation.opaque();
  }),
  // Start-Process: -FilePath and -ArgumentList run as a command; -Verb RunAs elevates;
  // -Redirect* write or read files.
  cmdletRow(["start-process"], {
    params: { "-filepath": NONE, "-argumentlist": NONE, "-verb": NONE, "-workingdirectory": { chdir: true }, "-redirectstandardoutput": W, "-redirectstandarderror": W, "-redirectstandardinput": R, "-credential": { flags: ["elevated"] }, "-windowstyle": NONE, "-environment": CONFIG },
    switches: {},
    positions: ["-filepath", "-argumentlist"],
  }, (invocation, bound) => {
    const file = bound.get("-filepath")?.[0];
    const verb = bound.get("-verb")?.[0];
    const elevated = verb !== undefined && (verb.unknown !== null || /^runas(?:user)?$/i.test(verb.text));
    if (elevated) invocation.flag("elevated");
    if (file === undefined) return;
    if (openDocument(invocation, file)) return;
    const argumentList = bound.get("-argumentlist") ?? [];
    // One string is a command line the program splits; several are its arguments.
    const args = argumentList.length === 1 && argumentList[0]?.unknown === null ? commandLineToArgv(argumentList[0].text).map(literal) : argumentList;
    wrap(invocation, [file, ...args], elevated ? ["elevated"] : []);
  }),
  // Invoke-Item opens a file with its default program.
  cmdletRow(["invoke-item"], { params: { "-path": R, "-literalpath": R }, positions: ["-path"], wildcards: ["-path"] }, (invocation) => invocation.flag("spawns")),
  // Add-Type compiles and loads code given inline (-TypeDefinition, -MemberDefinition) or from files.
  cmdletRow(["add-type"], { params: { "-typedefinition": { flags: ["inline_code"] }, "-memberdefinition": { flags: ["inline_code"] }, "-path": R, "-literalpath": R, "-assemblyname": NONE, "-name": NONE, "-namespace": NONE, "-language": NONE, "-referencedassemblies": NONE, "-outputassembly": W }, positions: ["-typedefinition"] }),
  // Set-Location / Push-Location: later relative paths may resolve against the new location.
  cmdletRow(["set-location", "push-location"], { params: { "-path": NONE, "-literalpath": NONE, "-stackname": NONE }, positions: ["-path"] }, (invocation, bound) => {
    const dir = bound.get("-path")?.[0] ?? bound.get("-literalpath")?.[0];
    invocation.changesDirectory(dir === undefined ? (invocation.ctx.home === null ? null : literal(invocation.ctx.home)) : dir.unknown !== null || dir.text === "-" || dir.text === "+" ? null : dir);
  }),
  // Set-Alias / New-Alias / Set-Item Env: change what later names run.
  cmdletRow(["set-alias", "new-alias", "set-variable", "new-variable"], { params: { "-name": NONE, "-value": NONE, "-scope": NONE, "-option": NONE }, positions: ["-name", "-value"] }, (invocation) => {
    if (invocation.program.endsWith("alias")) invocation.flag("config_overrides");
  }),
  cmdletRow(["set-item"], { params: { "-path": NONE, "-value": NONE }, positions: ["-path", "-value"] }, (invocation, bound) => {
    for (const path of bound.get("-path") ?? []) {
      const variable = /^env:(.*)$/i.exec(path.text);
      if (variable !== null) for (const flag of assignmentFlags(variable[1] ?? "")) invocation.flag(flag);
      else if (/^(?:alias|function|variable):/i.test(path.text) || path.unknown !== null) invocation.flag("config_overrides");
      else invocation.target("write", path);
    }
  }),
  // Set-ExecutionPolicy / Set-PSRepository change what later scripts may load.
  { names: ["set-executionpolicy", "register-psrepository", "set-psrepository", "install-module", "install-package", "install-script", "update-module", "save-module"], shells: ["powershell"], flags: ["config_overrides"] },
  // Harmless output and formatting cmdlets.
  { names: ["write-output", "write-host", "write-error", "write-warning", "write-verbose", "out-host", "out-null", "out-string", "format-table", "format-list", "select-object", "sort-object", "measure-object", "group-object", "get-location", "pop-location", "get-date", "get-process", "get-command", "get-help", "get-member", "clear-host", "get-history", "convertto-json", "convertfrom-json", "get-host", "get-variable", "get-alias"], shells: ["powershell"] },
  // Invoke-History re-runs a command from history the line does not show.
  { names: ["invoke-history"], shells: ["powershell"], opaque: true },
];
