/**
 * How a Windows program splits its command line into arguments: the rules of
 * the Microsoft C runtime's argument parser (and CommandLineToArgvW), which is
 * what a program started by cmd.exe or PowerShell actually sees.
 */

/**
 * Splits a Windows command line the way the UCRT does for arguments after the
 * program name: whitespace separates; `"` toggles quoting; 2n backslashes
 * before `"` are n backslashes and the quote toggles, 2n+1 are n backslashes
 * and a literal `"`; other backslashes are literal; `""` inside quotes is a
 * literal `"`.
 */
export function commandLineToArgv(line: string): string[] {
  const args: string[] = [];
  let current = "";
  let inArg = false;
  let quoted = false;
  for (let i = 0; i < line.length; ) {
    const c = line.charAt(i);
    if (!quoted && (c === " " || c === "\t" || c === "\n")) {
      if (inArg) args.push(current);
      current = "";
      inArg = false;
      i += 1;
      continue;
    }
    inArg = true;
    if (c === "\\") {
      let backslashes = 0;
      while (line.charAt(i) === "\\") {
        backslashes += 1;
        i += 1;
      }
      if (line.charAt(i) === '"') {
        current += "\\".repeat(Math.floor(backslashes / 2));
        if (backslashes % 2 === 1) {
          current += '"';
          i += 1;
        }
      } else {
        current += "\\".repeat(backslashes);
      }
      continue;
    }
    if (c === '"') {
      if (quoted && line.charAt(i + 1) === '"') {
        current += '"';
        i += 2;
        continue;
      }
      quoted = !quoted;
      i += 1;
      continue;
    }
    current += c;
    i += 1;
  }
  if (inArg) args.push(current);
  return args;
}
