/**
 * The program table: what each well-known program's arguments mean. One row per
 * program (with its aliases); each row says which arguments are files it reads,
 * writes or deletes, which are URLs or hosts it reaches, which options make it
 * run other code, and which programs it wraps. The comment above a row names the
 * abuse it stops or the manual it follows.
 *
 * Conservative rules (docs/commands.md): an option a row does not know is a
 * switch, so the word after it is still seen as an operand (more targets, never
 * fewer); rows whose options can change what the program touches or runs ask
 * for unknown options to make the command opaque instead.
 */
import { foldCase } from "../targets.ts";
import type { ParseContext } from "./model.ts";
import type { Effect, OptionSpec } from "./options.ts";
import * as h from "./handlers/index.ts";
import { all, CONFIG, marked, plain, R, SPAWN_PROGRAM, W, type ProgramRow } from "./rows.ts";

export { assignmentFlags, runRow } from "./rows.ts";

// GNU grep: the pattern comes first unless -e or -f gave it; -r/-R with no file
// searches the working directory (grep manual §2.1).
const GREP: OptionSpec = {
  values: {
    ...all({ marker: "pattern" }, "-e", "--regexp"),
    ...all({ marker: "pattern", target: ["read"] }, "-f", "--file"),
    ...plain("-A", "-B", "-C", "-m", "--max-count", "--after-context", "--before-context", "--context", "--label", "--include", "--exclude", "--exclude-dir", "-D", "--devices", "--binary-files"),
    // `-d recurse` is -r; any other action also reads the working directory when no file is named, which is only more.
    ...all({ marker: "recursive" }, "-d", "--directories"),
    ...all(R, "--exclude-from"),
  },
  // --color's value is optional, so only ever attached (`--color=always`).
  attached: plain("--color", "--colour"),
  // -R follows every symbolic link below the directories it walks; -r only those it was given.
  switches: { ...all({ marker: "recursive" }, "-r", "--recursive"), ...all({ marker: "follows-links" }, "-R", "--dereference-recursive", "-S"), ...plain("-U", "--binary") },
};

// ripgrep: pattern then paths, the working directory by default. `--pre`
// runs a program on every file searched (`rg --pre sh .` executes every file);
// `--hostname-bin` (ripgrep 14) runs a program for the `{host}` of hyperlinks.
const RG: OptionSpec = {
  values: {
    ...all({ marker: "pattern" }, "-e", "--regexp"),
    ...all({ marker: "pattern", target: ["read"] }, "-f", "--file"),
    ...all({ spawn: "program-file" }, "--pre"),
    ...all(SPAWN_PROGRAM, "--hostname-bin"),
    ...all(R, "--ignore-file"),
    ...plain("-A", "-B", "-C", "-m", "-g", "--glob", "--iglob", "-t", "--type", "-T", "--type-not", "--type-add", "-j", "--threads", "-M", "--max-columns", "--max-depth", "--max-filesize", "--pre-glob", "--hyperlink-format", "-r", "--replace", "--color", "--colors", "--sort", "--sortr", "-E", "--encoding", "--context-separator", "--field-match-separator", "--path-separator", "--engine", "--dfa-size-limit", "--regex-size-limit"),
  },
  switches: all({ marker: "follows-links" }, "-L", "--follow"),
};

// Standard output, listing or testing: nothing is written beside the file; -d decompresses.
const COMPRESSOR_SWITCHES: Record<string, Effect> = { ...all({ marker: "stdout" }, "-c", "--stdout", "--to-stdout", "-l", "--list", "-t", "--test"), ...all({ marker: "decompress" }, "-d", "--decompress", "--uncompress"), ...all({ marker: "compress" }, "-z", "--compress") };
// A list of NUL-separated names: the list is read, and the files it names.
const FILES0_FROM: Effect = { target: ["read"], names: "read" };
const COREUTILS_TARGET_DIR: Record<string, Effect> = all({ marker: "dest", target: ["write"] }, "-t", "--target-directory");

/**
 * The table. Rows for the same name are tried in order; the first whose
 * `shells` and `os` match wins.
 */
export const PROGRAMS: readonly ProgramRow[] = [
  // ---- readers: every operand is a file read (coreutils, util-linux, diffutils manuals).
  // `cat /etc/shadow`, `cat ~/.ssh/id_rsa`: reading a secret is a file.read like any other.
  // Each row lists exactly the options that take a value, so that no file operand is
  // mistaken for an option's value.
  { names: ["cat", "rev", "tsort", "zcat", "bzcat", "xzcat", "zstdcat", "lzcat", "lz4cat", "lsattr", "getfacl", "sum", "md5", "wc"], options: { values: all(FILES0_FROM, "--files0-from") }, operands: { each: ["read"] } },
  // The checksum tools' -c reads each list and then the files it names.
  { names: ["md5sum", "sha1sum", "sha224sum", "sha256sum", "sha384sum", "sha512sum", "b2sum", "cksum", "shasum"], options: { values: plain("-a", "--algorithm", "-l", "--length"), switches: all({ marker: "check" }, "-c", "--check") }, run: h.checksums },
  { names: ["tac"], options: { values: plain("-s", "--separator") }, operands: { each: ["read"] } },
  { names: ["nl"], options: { values: plain("-b", "-d", "-f", "-h", "-i", "-l", "-n", "-s", "-v", "-w", "--body-numbering", "--section-delimiter", "--footer-numbering", "--header-numbering", "--line-increment", "--join-blank-lines", "--number-format", "--number-separator", "--starting-line-number", "--number-width") }, operands: { each: ["read"] } },
  // less/more: a `+cmd` operand runs a pager command first; `!` and `|` in it run a shell.
  // less: -o/-O copy what is shown into a file; -k reads a key file. (more's and most's own options are switches, or +cmd.)
  { names: ["less", "zless"], options: { values: { ...all(W, "-o", "-O", "--log-file", "--LOG-FILE"), ...all(R, "-k", "--lesskey-file", "-T", "--tag-file"), ...plain("-b", "--buffers", "-h", "--max-back-scroll", "-j", "--jump-target", "-p", "--pattern", "-P", "--prompt", "-t", "--tag", "-x", "--tabs", "-y", "--max-forw-scroll", "-z", "--window", "--wheel-lines") }, switches: plain("--wordwrap") }, run: h.pager },
  { names: ["more", "zmore", "most"], options: { values: plain("-n", "--lines") }, run: h.pager },
  // bat: --pager runs a program of the line's choosing.
  { names: ["bat", "batcat"], options: { values: { ...all(SPAWN_PROGRAM, "--pager"), ...plain("-l", "--language", "-H", "--highlight-line", "-r", "--line-range", "--theme", "--style", "--tabs", "--map-syntax", "-m", "--file-name", "--wrap", "--color", "--italic-text", "--decorations", "--paging", "--terminal-width") } }, operands: { each: ["read"] } },
  { names: ["strings"], options: { values: plain("-n", "-t", "-e", "-T", "--bytes", "--radix", "--encoding", "--target", "--output-separator") }, operands: { each: ["read"] } },
  { names: ["od"], options: { values: plain("-A", "-j", "-N", "-t", "-S", "--address-radix", "--skip-bytes", "--read-bytes", "--format"), attached: plain("-w", "--width", "--strings") }, operands: { each: ["read"] } },
  // xxd's options are words of their own (`-ps`, `-cols 8`), not clusters of letters.
  { names: ["xxd"], options: { syntax: "single-dash", values: plain("-c", "-g", "-l", "-o", "-s", "-n", "-R", "-cols", "-groupsize", "-len", "-seek", "-name", "-offset") }, operands: { each: ["read"], last: ["write"] } },
  { names: ["hexdump", "hd"], options: { values: { ...plain("-e", "--format", "-n", "--length", "-s", "--skip"), ...all(R, "-f", "--format-file") } }, operands: { each: ["read"] } },
  // file -C compiles the magic files into <name>.mgc in the working directory: not analysed.
  { names: ["file"], options: { values: { ...all(R, "-m", "--magic-file", "-f", "--files-from"), ...plain("-F", "--separator", "-e", "--exclude", "-P", "--parameter") }, switches: all({ opaque: true }, "-C", "--compile") }, operands: { each: ["read"] } },
  { names: ["stat"], options: { values: plain("-c", "--format", "--printf") }, operands: { each: ["read"] } },
  // base64 on macOS reads -i and writes -o.
  { names: ["base64", "base32", "basenc"], options: { values: { ...plain("-w", "--wrap", "-b", "--break"), ...all(R, "-i", "--input"), ...all(W, "-o", "--output") } }, operands: { each: ["read"] } },
  { names: ["uniq"], options: { values: plain("-f", "-s", "-w", "--skip-fields", "--skip-chars", "--check-chars"), attached: plain("--group", "--all-repeated") }, operands: { each: ["read"], last: ["write"] } },
  { names: ["cmp"], options: { values: plain("-i", "-n", "--ignore-initial", "--bytes") }, operands: { each: ["read"] } },
  { names: ["comm"], options: { values: plain("--output-delimiter") }, operands: { each: ["read"] } },
  // diff3 and sdiff: --diff-program runs a program of its choosing; sdiff's -W is a switch, its -o the merged output.
  { names: ["diff3"], options: { values: { ...all(SPAWN_PROGRAM, "--diff-program"), ...plain("-L", "--label") } }, operands: { each: ["read"] } },
  { names: ["sdiff"], options: { values: { ...all(SPAWN_PROGRAM, "--diff-program"), ...all(W, "-o", "--output"), ...plain("-w", "--width", "-I", "--ignore-matching-lines", "--tabsize") } }, operands: { each: ["read"] } },
  { names: ["diff"], options: { values: { ...plain("-U", "-C", "-F", "-I", "-x", "-W", "-L", "--label", "--show-function-line", "--ignore-matching-lines", "--exclude", "--width", "--line-format", "--old-line-format", "--new-line-format", "--unchanged-line-format", "--old-group-format", "--new-group-format", "--changed-group-format", "--unchanged-group-format", "--horizon-lines", "--tabsize", "--palette"), ...all(R, "-X", "--exclude-from", "--from-file", "--to-file"), ...all(W, "-o", "--output") }, attached: plain("--unified", "--context", "--color"), switches: { ...all({ marker: "recursive" }, "-r", "--recursive"), ...all({ marker: "no-dereference" }, "--no-dereference") } }, operands: { each: ["read"], followsLinks: (markers) => markers.has("recursive") && !markers.has("no-dereference") } },
  { names: ["paste"], options: { values: plain("-d", "--delimiters") }, operands: { each: ["read"] } },
  { names: ["join"], options: { values: plain("-1", "-2", "-j", "-t", "-e", "-o", "-a", "-v") }, operands: { each: ["read"] } },
  { names: ["expand", "unexpand", "fold"], options: { values: plain("-t", "--tabs", "-w", "--width") }, operands: { each: ["read"] } },
  // fmt's -t is --tagged-paragraph, a switch; BSD fmt's -p is one too.
  { names: ["fmt"], os: ["macos"], options: { values: plain("-w", "-d", "-l") }, operands: { each: ["read"] } },
  { names: ["fmt"], options: { values: plain("-w", "--width", "-p", "--prefix", "-g", "--goal") }, operands: { each: ["read"] } },
  { names: ["column"], options: { values: plain("-s", "-o", "-c", "-N", "-R", "-E", "-H", "-l", "-O", "-W", "-n", "-r", "-i", "-p", "--separator", "--output-separator", "--output-width", "--table-columns", "--table-right", "--table-noextreme", "--table-hide", "--table-order", "--table-wrap", "--table-name", "--tree", "--tree-id", "--tree-parent") }, operands: { each: ["read"] } },
  // pr: -n, -s, -S, -e and -i take an optional value, only ever attached (`-n:3`).
  { names: ["pr"], options: { values: plain("-h", "--header", "-l", "--length", "-w", "--width", "-W", "--page-width", "-o", "--indent", "-N", "--first-line-number"), attached: plain("-n", "--number-lines", "-s", "--separator", "-S", "--sep-string", "-e", "--expand-tabs", "-i", "--output-tabs") }, operands: { each: ["read"] } },
  { names: ["iconv"], options: { values: { ...plain("-f", "-t", "--from-code", "--to-code"), ...all(W, "-o", "--output") } }, operands: { each: ["read"] } },
  { names: ["look"], options: { values: plain("-t", "--terminate") }, operands: { skip: 1, each: ["read"] } },
  { names: ["readlink", "realpath"], options: { values: all(R, "--relative-to", "--relative-base") }, operands: { each: ["read"] } },
  { names: ["xattr"], options: { values: plain("-w", "-d", "-p") }, operands: { each: ["read"] } },
  // head/tail: `-n 20`, `-c 5` take values; `tail -f` keeps reading.
  // head has no --sleep-interval: its `--s` is --silent, not a value option's prefix.
  { names: ["head"], options: { values: plain("-n", "-c", "--lines", "--bytes") }, operands: { each: ["read"] } },
  { names: ["tail"], options: { values: plain("-n", "-c", "--lines", "--bytes", "-s", "--sleep-interval", "--pid", "--max-unchanged-stats") }, operands: { each: ["read"] } },
  // sort: `-o FILE` writes, `--compress-program` runs a program, `-T` uses a temp dir.
  { names: ["sort"], options: { values: { ...all(W, "-o", "--output"), ...all(SPAWN_PROGRAM, "--compress-program"), ...all(FILES0_FROM, "--files0-from"), ...plain("-k", "--key", "-t", "--field-separator", "-S", "--buffer-size", "-T", "--temporary-directory", "--parallel", "--batch-size", "--sort", "--random-source") } }, operands: { each: ["read"] } },
  // cut: `-d`, `-f`, `-c`, `-b` take values.
  { names: ["cut"], options: { values: plain("-d", "-f", "-c", "-b", "--delimiter", "--fields", "--characters", "--bytes", "--output-delimiter") }, operands: { each: ["read"] } },
  // tr reads stdin only; its operands are character sets, not files.
  { names: ["tr", "echo", "printf", "true", "false", "yes", "seq", "date", "pwd", "whoami", "id", "uname", "hostname", "basename", "dirname", "sleep", "expr", "test", "[", "clear", "tput", "nproc", "arch", "uptime", "which", "type", "help", "jobs", "wait", "dirs", "set", "unset", "shift", "unalias", "umask", "ulimit", "read", "getopts", "return", "exit", "break", "continue", "let", ":", "history", "disown", "bg", "fg", "kill", "printenv", "locale", "tty", "groups", "users", "who", "w", "free", "df", "lsblk", "ps", "top", "htop", "pgrep", "shopt", "setopt", "unsetopt", "where", "whence", "rehash"],
    shells: ["bash", "sh", "zsh"] },
  // cd and friends: later relative paths may resolve against any directory the line changes to.
  { names: ["cd", "pushd", "popd", "chdir"], shells: ["bash", "sh", "zsh"], run: h.cd },
  // export/declare/alias with NAME=value: variables and aliases that change what later commands run.
  { names: ["export", "local", "declare", "typeset", "readonly", "alias"], shells: ["bash", "sh", "zsh"], run: h.declare },
  // hash -p PATH NAME makes NAME run PATH.
  { names: ["hash"], shells: ["bash", "sh", "zsh"], options: { values: { "-p": CONFIG } } },
  // ls, tree, du: paths are read (listed); the working directory when none is given.
  // Listers, each with its own options: one's switch is another's option with a value (`ls -t`, `tree -L 2`, `du -t 1M`).
  // Listing through the links below (ls -RL, tree -l, du -L) reads the names and sizes of what they lead to.
  { names: ["ls", "ll", "la", "dir", "vdir"], shells: ["bash", "sh", "zsh"], options: { values: plain("-I", "--ignore", "-w", "--width", "-T", "--tabsize", "--block-size", "--time-style", "--format", "--sort", "--time", "--hide", "--quoting-style", "--indicator-style"), attached: plain("--color", "--colour", "--hyperlink", "--classify"), switches: { ...all({ marker: "recursive" }, "-R", "--recursive"), ...all({ marker: "dereference" }, "-L", "--dereference") } }, operands: { each: ["read"], cwd: true, followsLinks: (markers) => markers.has("recursive") && markers.has("dereference") } },
  { names: ["tree"], shells: ["bash", "sh", "zsh"], options: { values: { ...plain("-L", "-P", "-I", "--filelimit", "--timefmt", "-H", "-T", "--charset", "--sort"), ...all(W, "-o"), ...all(R, "--gitfile", "--infofile") }, switches: { ...all({ marker: "follows-links" }, "-l"), ...plain("--fromfile", "--fflinks") } }, operands: { each: ["read"], cwd: true, followsLinks: marked("follows-links") } },
  { names: ["du"], shells: ["bash", "sh", "zsh"], options: { values: { ...plain("-d", "--max-depth", "-t", "--threshold", "-B", "--block-size", "--exclude", "--time-style"), ...all(R, "-X", "--exclude-from"), ...all(FILES0_FROM, "--files0-from") }, attached: plain("--time"), switches: all({ marker: "follows-links" }, "-L", "--dereference") }, operands: { each: ["read"], cwd: true, followsLinks: marked("follows-links") } },
  { names: ["exa", "eza"], shells: ["bash", "sh", "zsh"], options: { values: plain("-L", "--level", "-I", "--ignore-glob", "-s", "--sort", "-t", "--time", "--time-style", "-w", "--width", "--color-scale-mode"), attached: plain("--color", "--colour", "--color-scale", "--colour-scale", "--icons", "--hyperlink") }, operands: { each: ["read"], cwd: true } },
  { names: ["lsd"], shells: ["bash", "sh", "zsh"], options: { values: { ...plain("--depth", "-I", "--ignore-glob", "--color", "--icon", "--icon-theme", "--date", "--sort", "--group-dirs", "--blocks", "--size", "--permission", "--hyperlink", "--header"), ...all(R, "--config-file") }, switches: { ...all({ marker: "recursive" }, "-R", "--recursive", "--tree"), ...all({ marker: "dereference" }, "-L", "--dereference") } }, operands: { each: ["read"], cwd: true, followsLinks: (markers) => markers.has("recursive") && markers.has("dereference") } },
  // grep family: pattern first unless -e/-f; `grep -r pattern` reads the working directory.
  { names: ["grep", "egrep", "fgrep", "zgrep", "ggrep"], options: GREP, operands: { skip: 1, skipUnless: "pattern", each: ["read"], cwd: ["recursive", "follows-links"], followsLinks: marked("follows-links") } },
  { names: ["rg", "ripgrep"], options: RG, operands: { skip: 1, skipUnless: "pattern", each: ["read"], cwd: true, followsLinks: marked("follows-links") } },
  { names: ["ag", "ack"], options: { values: plain("-G", "--file-search-regex", "--ignore", "--ignore-dir", "-A", "-B", "-C", "-m", "--depth"), switches: all({ marker: "follows-links" }, "-f", "--follow") }, operands: { skip: 1, each: ["read"], cwd: true, followsLinks: marked("follows-links") } },
  { names: ["jq", "gojq", "yq"], run: h.jq },
  // awk: the program is code (system(), pipes to commands, output redirection);
  // -f reads the program from a file the policy cannot see.
  { names: ["awk", "gawk", "mawk", "nawk"], run: h.awk },
  // sed: the script first unless -e/-f; `-i` rewrites the files; the `e` command
  // and `s///e` run commands, `w` writes and `r` reads files (GNU sed manual §3.2, §3.8).
  { names: ["sed", "gsed"], run: h.sed },
  // find: start paths are read; -exec/-execdir/-ok run programs, -delete deletes,
  // -fprint* write (findutils manual §3).
  { names: ["find", "gfind"], run: h.find },
  { names: ["fd", "fdfind"], options: { values: { ...all({ spawn: "program-file" }, "-x", "--exec", "-X", "--exec-batch"), ...plain("-e", "--extension", "-t", "--type", "-d", "--max-depth", "--min-depth", "-E", "--exclude", "-S", "--size", "--changed-within", "--changed-before", "-j", "--threads", "--color", "-c", "--path-separator"), ...all(R, "--ignore-file", "--search-path", "--base-directory") }, switches: { ...all({ marker: "follows-links" }, "-L", "--follow"), ...plain("-H", "--hidden", "-I", "--no-ignore", "-u", "--unrestricted", "-a", "--absolute-path", "-l", "--list-details", "-0", "--print0", "-p", "--full-path", "-s", "--case-sensitive", "-i", "--ignore-case", "-g", "--glob", "-F", "--fixed-strings", "--ignore") } }, operands: { skip: 1, each: ["read"], cwd: true, followsLinks: marked("follows-links") } },
  // get-content / select-string and friends are PowerShell rows below.

  // ---- writers (coreutils manual §11, §12)
  // cp/install: sources read, the last operand (or -t DIR) written.
  // cp/install: into a directory they write dir/<source's name>, through a link already there (its handler).
  { names: ["cp", "gcp"], options: { values: { ...COREUTILS_TARGET_DIR, ...plain("-S", "--suffix", "--no-preserve", "--sparse") }, attached: plain("--backup", "--preserve", "--reflink", "--context"), switches: { ...all({ marker: "follows-links" }, "-L", "--dereference"), ...all({ marker: "recursive" }, "-r", "-R", "--recursive", "-a", "--archive"), ...all({ marker: "no-dereference" }, "-P", "-d", "--no-dereference") } }, operands: { each: ["read"], last: ["write"], lastUnless: "dest", followsLinks: marked("follows-links"), lastMarks: (markers) => ({ makesLinks: markers.has("recursive") || markers.has("no-dereference") }) }, run: h.cp },
  // install: cp's operands, but -d makes every operand a directory, --strip-program runs a program of the line's choosing, and its `--o` is --owner.
  { names: ["install", "ginstall"], options: { values: { ...COREUTILS_TARGET_DIR, ...plain("-S", "--suffix", "-m", "--mode", "-o", "--owner", "-g", "--group"), ...all(SPAWN_PROGRAM, "--strip-program") }, attached: plain("--backup", "--context"), switches: { ...all({ marker: "directories" }, "-d", "--directory") } }, operands: { each: ["read"], last: ["write"], lastUnless: "dest" }, run: h.install },
  // mv: sources are read and deleted (moved away), the destination written — with a link moved there, a link.
  { names: ["mv", "gmv"], options: { values: { ...COREUTILS_TARGET_DIR, ...plain("-S", "--suffix") }, attached: plain("--backup", "--context") }, operands: { each: ["read", "delete"], last: ["write"], lastUnless: "dest", lastMarks: () => ({ makesLinks: true }) }, run: h.mv },
  // ln: the link name is written; its target is exposed through it.
  { names: ["ln"], options: { values: { ...COREUTILS_TARGET_DIR, ...plain("-S", "--suffix") }, attached: plain("--backup"), switches: all({ marker: "symbolic" }, "-s", "--symbolic") }, run: h.ln },
  // mktemp makes a file (-d: a directory) of a random name in -p's directory, the template's, or $TMPDIR: a write there.
  { names: ["mktemp", "gmktemp"], options: { values: { ...all({ marker: "dir" }, "-p"), ...plain("--suffix") }, attached: all({ marker: "dir" }, "--tmpdir"), switches: { ...all({ marker: "dry-run" }, "-u", "--dry-run"), ...all({ marker: "tmpdir" }, "-t") } }, run: h.mktemp },
  // tee writes every operand (and its stdout).
  { names: ["tee"], options: { attached: plain("--output-error") }, operands: { each: ["write"] } },
  { names: ["touch"], options: { values: { ...plain("-d", "--date", "-t", "--time"), ...all(R, "-r", "--reference") } }, operands: { each: ["write"] } },
  { names: ["mkdir", "mkfifo", "mknod"], options: { values: plain("-m", "--mode"), attached: plain("--context") }, operands: { each: ["write"] } },
  { names: ["truncate"], options: { values: { ...plain("-s", "--size"), ...all(R, "-r", "--reference") } }, operands: { each: ["write"] } },
  { names: ["fallocate"], options: { values: plain("-l", "--length", "-o", "--offset") }, operands: { each: ["write"] } },
  // chmod/chown/chgrp: the mode or owner first, unless --reference gives it.
  // chown/chgrp: the owner first unless --reference gave it; -L (and -H, which changes what each link below leads to) follow links.
  { names: ["chown", "chgrp"], options: { values: { ...all({ marker: "reference", target: ["read"] }, "--reference"), ...plain("--from") }, switches: all({ marker: "follows-links" }, "-L", "-H") }, operands: { skip: 1, skipUnless: "reference", each: ["write"], followsLinks: marked("follows-links") } },
  // chmod's `-x` and chattr's `-i` are modes, not options (their handlers); every setfacl operand is a file.
  // chmod -R -L (BSD, and coreutils since 9.5) follows the links below; -H those named.
  { names: ["chmod"], options: { values: all({ marker: "reference", target: ["read"] }, "--reference"), switches: all({ marker: "follows-links" }, "-L", "-H") }, run: h.chmod },
  { names: ["chattr"], options: { values: plain("-v", "-p") }, run: h.chattr },
  { names: ["setfacl"], options: { values: { ...plain("-m", "--modify", "-x", "--remove", "--set"), ...all(R, "-M", "--modify-file", "-X", "--remove-file", "--set-file", "--restore") }, switches: all({ marker: "follows-links" }, "-L", "--logical") }, operands: { each: ["write"], followsLinks: marked("follows-links") } },
  // patch writes the files the patch names (unknown here): the working directory; -i reads the patch, -o writes.
  { names: ["patch"], options: { values: { ...all(R, "-i", "--input"), ...all(W, "-o", "--output", "-r", "--reject-file"), ...all({ chdir: true }, "-d", "--directory"), ...plain("-p", "--strip", "-F", "--fuzz", "-z", "--suffix", "-B", "--prefix", "-Y", "--basename-prefix", "-V", "--version-control", "-D", "--ifdef", "-g", "--get", "--quoting-style", "--reject-format", "--read-only") } }, run: h.patch },
  // dd: `if=` is read, `of=` written (`dd of=/dev/sda`).
  { names: ["dd"], run: h.dd },
  // tar: -c reads members and writes the archive, -x reads the archive and writes
  // into -C or the working directory; --to-command, -I, --use-compress-program,
  // --checkpoint-action=exec, --info-script and --rsh-command run programs (GNU tar manual).
  { names: ["tar", "gtar", "bsdtar"], run: h.tar },
  // zip: the archive written, members read; `-TT cmd` runs cmd to test the archive; -b puts its temporary archive in a directory.
  { names: ["zip"], options: { syntax: "single-dash", values: { ...all({ spawn: "shell" }, "-TT", "--unzip-command"), ...all(W, "-b", "--temp-path"), ...plain("-x", "--exclude", "-i", "--include", "-n", "--suffixes", "-P", "--password", "-Z", "--compression-method", "-t", "--from-date", "-tt", "--before-date", "-s", "--split-size", "-ds", "--dot-size"), ...all(W, "-O", "--output-file", "-lf", "--logfile-path") }, switches: { ...all({ marker: "move" }, "-m", "--move"), ...plain("-la", "-li", "-sp", "-sv", "-sb", "-sc", "-sd", "-so", "-sf", "-su", "-sU", "-sf-") } }, run: h.zip },
  // unzip: the archive read, extracted into -d or the working directory.
  { names: ["unzip"], run: h.unzip },
  // Compressors replace each file with a copy beside it under a name of their making (`x` → `x.gz`, and back with -d): their handler adds it.
  { names: ["gzip", "gunzip"], options: { values: all({ marker: "suffix" }, "-S", "--suffix"), switches: { ...COMPRESSOR_SWITCHES, ...all({ marker: "stored-name" }, "-N", "--name") } }, operands: { each: ["read", "write"] }, run: h.compressor },
  { names: ["bzip2", "bunzip2"], options: { switches: COMPRESSOR_SWITCHES }, operands: { each: ["read", "write"] }, run: h.compressor },
  { names: ["compress", "uncompress"], options: { values: plain("-b"), switches: COMPRESSOR_SWITCHES }, operands: { each: ["read", "write"] }, run: h.compressor },
  // xz --files and --files0 compress (and remove) the files a list names.
  { names: ["xz", "unxz", "lzma", "unlzma"], options: { values: { ...all({ marker: "suffix" }, "-S", "--suffix"), ...all({ marker: "format" }, "-F", "--format"), ...plain("-C", "--check", "-T", "--threads", "-M", "--memlimit", "--memory", "--memlimit-compress", "--memlimit-decompress", "--memlimit-mt-decompress", "--block-size", "--block-list", "--flush-timeout", "--filters", "--filters1", "--filters2", "--filters3", "--filters4", "--filters5", "--filters6", "--filters7", "--filters8", "--filters9", "--filters-help") }, attached: { ...all({ target: ["read"], names: "write" }, "--files", "--files0"), ...plain("--lzma1", "--lzma2", "--x86", "--arm", "--armthumb", "--arm64", "--powerpc", "--ia64", "--sparc", "--riscv", "--delta") }, switches: COMPRESSOR_SWITCHES }, operands: { each: ["read", "write"] }, run: h.compressor },
  // zstd's -T#, -B#, -M#, -b#, -e#, -i# take their number attached only; --filelist compresses the files a list names.
  { names: ["zstd", "unzstd"], options: { values: { ...all({ marker: "output", target: ["write"] }, "-o", "--output-dir-flat", "--output-dir-mirror"), ...all(W, "--trace"), ...all(R, "-D", "--patch-from"), ...all({ target: ["read"], names: "write" }, "--filelist"), ...all({ marker: "format" }, "--format"), ...plain("--auto-threads", "--stream-size", "--size-hint", "--target-compressed-block-size", "--maxdict", "--dictID", "--priority") }, attached: plain("-T", "-B", "-M", "-b", "-e", "-i", "--fast", "--long", "--train-cover", "--train-fastcover", "--train-legacy", "--memory", "--memlimit", "--memlimit-decompress", "--threads", "--block-size", "--zstd", "--adapt", "--split"), switches: { ...COMPRESSOR_SWITCHES, ...plain("--rm") } }, operands: { each: ["read", "write"] }, run: h.compressor },
  // lz4's -l is its legacy format, not a listing; with two operands the second is the output.
  { names: ["lz4", "unlz4"], options: { values: { ...all({ marker: "output", target: ["write"] }, "-o", "--output") }, switches: { ...all({ marker: "stdout" }, "-c", "--stdout", "--to-stdout", "-t", "--test", "--list"), ...all({ marker: "decompress" }, "-d", "--decompress", "--uncompress"), ...all({ marker: "compress" }, "-z", "--compress"), ...plain("-l", "-m", "--multiple") } }, operands: { each: ["read", "write"] }, run: h.compressor },
  { names: ["brotli"], options: { values: { ...all({ marker: "output", target: ["write"] }, "-o", "--output"), ...all({ marker: "suffix" }, "-S", "--suffix") }, switches: { ...all({ marker: "stdout" }, "-c", "--stdout", "-t", "--test"), ...all({ marker: "decompress" }, "-d", "--decompress") } }, operands: { each: ["read", "write"] }, run: h.compressor },
  // split writes PREFIX followed by suffixes of its making (`xaa`, `x00`): names the line does not spell. --filter runs a shell command per piece.
  { names: ["split", "gsplit", "csplit"], options: { values: { ...all({ spawn: "shell" }, "--filter"), ...plain("-a", "--suffix-length", "--additional-suffix", "-b", "--bytes", "-C", "--line-bytes", "-l", "--lines", "-n", "--number", "-t", "--separator", "-f", "--prefix", "--suffix-format") }, attached: plain("--numeric-suffixes", "--hex-suffixes") }, run: h.split },

  // ---- deleters
  // `rm -rf ~/` is a file.delete of home; -r and -f change nothing about what is named.
  { names: ["rm", "rmdir", "unlink", "trash", "trash-put", "grm"], options: { attached: plain("--interactive") }, operands: { each: ["delete"] } },
  // shred and srm overwrite what each operand opens (through a symbolic link, the file it leads to) before they may remove it.
  { names: ["shred", "srm"], options: { values: { ...plain("-n", "--iterations", "-s", "--size"), ...all(R, "--random-source") } }, operands: { each: ["write", "delete"] } },

  // ---- network (curl, wget manuals; OpenSSH manuals)
  // curl: URLs; -o/--output-dir/-D/-c/--trace write; -T, -d @f, -F x=@f, --data-binary @f read
  // and send files; -K reads options from a file the policy cannot see; -w %output{f} writes.
  { names: ["curl"], run: h.curl },
  // wget: URLs; downloads land in -P or the working directory; -O/-o/-a write;
  // --post-file/--body-file send files; -i reads URLs from a file; -e runs a wgetrc command.
  { names: ["wget", "wget2"], run: h.wget },
  // httpie: -v and -d (--download, into the working directory unless -o names the file) are switches.
  { names: ["http", "https", "xh", "httpie"], options: { values: { ...all({ marker: "output", target: ["write"] }, "-o", "--output"), ...all(R, "--cert", "--cert-key"), ...plain("-a", "--auth", "-A", "--auth-type", "--session", "--verify", "--proxy", "--timeout", "--print", "-p", "--pretty", "-s", "--style") }, switches: { ...all({ marker: "download" }, "-d", "--download"), ...plain("-v", "--verbose", "-b", "--body", "-h", "--headers", "-f", "--form", "-j", "--json", "-F", "--follow", "-c", "--continue", "-q", "--quiet") } }, operands: { skip: 0, each: [] }, run: h.httpie },
  // ssh: the destination, with -p; -o ProxyCommand/LocalCommand run commands locally;
  // -F reads a config that may; -i reads a private key; -J adds a jump host.
  { names: ["ssh", "autossh", "mosh"], run: h.ssh },
  // scp/sftp/rsync: remote operands are hosts, local ones are read or written by direction;
  // -S / -e / --rsh run a program instead of ssh.
  { names: ["scp", "sftp"], run: h.scp },
  { names: ["rsync"], run: h.rsync },
  // nc / ncat / socat / telnet: raw connections; -e/-c and EXEC:/SYSTEM: run programs.
  { names: ["nc", "ncat", "netcat", "telnet"], run: h.netcat },
  { names: ["socat"], run: h.socat },
  { names: ["ftp", "tftp", "lftp"], operands: { each: ["url"] } },
  { names: ["aria2c", "axel"], options: { values: { ...all(W, "-o", "--out", "--output", "-d", "--dir"), ...all(R, "-i", "--input-file"), ...plain("-x", "-s", "-n", "--num-connections", "-j", "-k", "--header", "-H", "-U", "--user-agent", "--max-connection-per-server", "--split", "--min-split-size") } }, operands: { each: ["url"] } },

  // ---- version control and package managers
  // git: -c, --config-env, -C, --exec-path, --git-dir/--work-tree and unknown subcommands (aliases)
  // change what git runs; remotes are URLs; ext:: runs a command; core.pager & co are code.
  { names: ["git"], run: h.git },
  // gh/glab: `pr checkout` and `repo clone` write a work tree from what a repository holds, links included.
  { names: ["gh", "glab"], run: h.forge },
  // cpio: -i extracts (absolute names as they are, unless --no-absolute-filenames), -p copies into a directory; the names come from stdin.
  { names: ["cpio"], run: h.cpio },
  // npm/pnpm/yarn/bun: install specs that are URLs, git or tarballs fetch code that runs;
  // exec/npx/dlx/create/init run a registry package; --userconfig, --script-shell,
  // --node-options and --registry change what runs.
  { names: ["npm", "pnpm", "yarn", "bun", "cnpm"], run: h.npm },
  { names: ["npx", "pnpx", "bunx"], run: h.npx },
  // pip / uv pip: URL and VCS specs fetch code; -i/--index-url/--extra-index-url are
  // where packages come from; -r reads a requirements file.
  { names: ["pip", "pip3", "uv", "pipx", "poetry", "pdm", "conda", "mamba"], run: h.pip },
  { names: ["uvx"], flags: ["remote_code"], run: h.subcommandOnly },
  { names: ["cargo", "go", "docker", "podman", "kubectl", "helm", "terraform", "dotnet", "mvn", "gradle", "gradlew", "brew", "apt", "apt-get", "dnf", "yum", "apk", "gem", "bundle", "composer", "deno", "swift", "rustup", "nvm", "volta", "corepack", "make", "gmake", "cmake", "ninja", "pytest", "tox", "nox", "jest", "vitest", "tsc", "eslint", "prettier", "wrangler", "systemctl", "launchctl", "aws", "gcloud", "az"], run: h.tool },

  // ---- interpreters: inline code is a flag; a script argument is a file read
  { names: ["node", "nodejs"], run: h.node },
  { names: ["python", "python2", "python3", "pypy", "pypy3", "py"], run: h.python },
  { names: ["perl"], run: h.perl },
  { names: ["ruby", "irb"], run: h.ruby },
  { names: ["php"], run: h.php },
  // java -jar FILE runs the archive.
  // java's options are words of their own (`-jar`, `-cp`), not clusters of letters.
  { names: ["java", "javaw"], options: { syntax: "single-dash", values: { ...all(R, "-jar"), ...plain("-cp", "-classpath", "--class-path", "-p", "--module-path", "-m", "--module", "--add-opens", "--add-exports", "--add-modules") }, permute: false }, operands: { each: [] } },
  { names: ["lua", "luajit", "rscript", "osascript", "tclsh", "wish", "julia", "elixir", "erl", "groovy", "jshell", "scala", "kotlin"], run: h.interpreter },
  // shells: -c bodies are parsed again; a shell with no script reads code from stdin (`curl … | sh`).
  { names: ["bash", "sh", "dash", "zsh", "ksh", "mksh", "ash", "yash", "fish", "tcsh", "csh", "rbash"], run: h.shell },
  { names: ["busybox", "toybox"], run: h.busybox },
  { names: ["cmd"], os: ["windows"], run: h.cmdExe },
  // wsl runs a Linux command line through the distribution's shell (or, with -e, directly).
  { names: ["wsl"], os: ["windows"], run: h.wsl },
  { names: ["powershell", "pwsh", "powershell_ise"], run: h.powershellExe },

  // Database shells, debuggers and terminal multiplexers take commands — from their arguments, a
  // file or stdin — that include running a shell (`sqlite3 db '.shell id'`, psql `\!`, gdb `shell`,
  // a tmux window): what they run is code the line does not show, whatever their operands.
  { names: ["sqlite3", "duckdb", "psql", "mysql", "mariadb", "mysqlsh", "sqlcmd", "gdb", "gdb-multiarch", "rust-gdb", "lldb", "rust-lldb", "expect", "tmux", "screen", "byobu", "zellij", "dtach", "abduco"], flags: ["inline_code"] },

  // ---- evaluation of strings and files
  // eval runs its arguments as code: literal → parsed again, anything else opaque.
  { names: ["eval"], shells: ["bash", "sh", "zsh"], run: h.evalBuiltin },
  // source / . run a file in the current shell, where it can redefine everything after it.
  { names: ["source", "."], shells: ["bash", "sh", "zsh", "powershell"], opaque: true, run: h.sourceBuiltin },
  // trap runs its first argument as code when the signal arrives.
  { names: ["trap"], shells: ["bash", "sh", "zsh"], run: h.trap },
  // fc and zsh's r re-run commands from history the line does not show.
  { names: ["fc"], shells: ["bash", "sh", "zsh"], opaque: true },
  { names: ["r"], shells: ["zsh"], opaque: true },
  // emulate -c and zsh's builtin helpers evaluate strings.
  { names: ["emulate"], shells: ["zsh"], opaque: true },
  { names: ["bind", "complete", "compgen", "enable", "autoload", "zmodload"], shells: ["bash", "sh", "zsh"], opaque: true },
  // Codex's patch tool, on PATH in its sessions: it writes and deletes the files a patch on stdin or in its argument
  // names, which no table row reads (the Codex hook plans the patch calls Codex applies itself as file actions).
  { names: ["apply_patch", "applypatch"], opaque: true },

  // ---- wrappers: the operands after their own options are a command they run
  { names: ["sudo", "sudoedit"], run: h.sudo },
  // doas (OpenBSD): -u user, -C config; pkexec (polkit); gsudo (Windows).
  { names: ["doas"], options: { values: plain("-u", "-C"), permute: false, unknown: "opaque" }, operands: { run: true, runFlags: ["elevated"] }, flags: ["elevated"] },
  { names: ["pkexec"], options: { values: plain("--user"), permute: false, unknown: "opaque" }, operands: { run: true, runFlags: ["elevated"] }, flags: ["elevated"] },
  { names: ["gsudo"], options: { values: plain("-u", "--user", "-i", "--integrity"), permute: false, unknown: "opaque" }, operands: { run: true, runFlags: ["elevated"] }, flags: ["elevated"] },
  // su -c runs a shell command as another user; su alone starts a shell reading stdin.
  { names: ["su", "runuser"], run: h.su },
  { names: ["chroot"], options: { values: plain("--userspec", "--groups"), permute: false, unknown: "opaque" }, operands: { skip: 1, run: true, runFlags: ["elevated"] }, flags: ["elevated"] },
  // env: -i/-u/-C/-S and NAME=value before the command; -S splits a string (opaque unless plain words).
  { names: ["env"], run: h.env },
  { names: ["timeout", "gtimeout"], options: { values: plain("-s", "--signal", "-k", "--kill-after"), permute: false, unknown: "opaque" }, operands: { skip: 1, run: true } },
  { names: ["nice"], options: { values: plain("-n", "--adjustment"), permute: false, unknown: "opaque" }, operands: { run: true } },
  { names: ["ionice"], options: { values: plain("-c", "--class", "-n", "--classdata", "-p", "-P", "-u"), permute: false, unknown: "opaque" }, operands: { run: true } },
  { names: ["stdbuf"], options: { values: plain("-i", "-o", "-e", "--input", "--output", "--error"), permute: false, unknown: "opaque" }, operands: { run: true } },
  { names: ["nohup", "setsid", "time", "command", "builtin", "exec", "noglob", "nocorrect", "caffeinate", "unbuffer", "chronic", "taskset", "numactl", "chrt", "prlimit", "strace", "ltrace", "valgrind", "firejail", "systemd-run", "catchsegv", "faketime", "torsocks", "proxychains", "proxychains4", "dotenv", "with-contenv", "rlwrap", "winpty"], run: h.simpleWrapper },
  // xargs: the command gets more operands from stdin; -I substitutes them; -a reads them from a file.
  { names: ["xargs", "gxargs"], run: h.xargs },
  { names: ["parallel"], run: h.parallel },
  // watch and script run their operands through `sh -c`.
  { names: ["watch"], run: h.watch },
  { names: ["script"], run: h.script },
  // flock FILE command / flock FILE -c 'code'.
  { names: ["flock"], run: h.flock },
  // man runs a pager (-P, MANPAGER) on the page.
  { names: ["man"], options: { values: { ...all(SPAWN_PROGRAM, "-P", "--pager"), ...all(SPAWN_PROGRAM, "-H", "--html"), ...plain("-M", "--manpath", "-S", "-s", "-L", "-E", "-C", "-m", "-p", "-R") } } },
  // editors run arbitrary commands (`vim -c '!…'`); they read and write their files.
  // Each editor with its own options (vim's -w writes a file, nano's is a switch); vim's `+cmd` runs an Ex command.
  { names: ["vim", "vi", "nvim", "view", "ex", "vimdiff", "rvim"], run: h.vim },
  { names: ["emacs", "emacsclient"], options: { syntax: "single-dash", values: { ...all({ flags: ["inline_code"] }, "--eval", "--execute", "-eval", "-execute", "-f", "-funcall", "--funcall"), ...all({ flags: ["inline_code"], target: ["read"] }, "-l", "--load", "-load", "--script", "-script"), ...plain("-L", "--directory", "-u", "--user", "--init-directory", "-t", "--terminal", "-d", "--display", "--daemon", "-s", "--socket-name", "-a", "--alternate-editor") } }, operands: { each: ["read", "write"] } },
  { names: ["nano", "pico", "rnano"], options: { values: { ...all({ spawn: "program" }, "-s", "--speller"), ...all({ target: ["read"], flags: ["config_overrides"] }, "-f", "--rcfile"), ...all(W, "-C", "--backupdir"), ...plain("-T", "--tabsize", "-Y", "--syntax", "-o", "--operatingdir", "-r", "--fill", "-Q", "--quotestr", "-X", "--wordchars", "-J", "--guidestripe") } }, operands: { each: ["read", "write"] } },
  { names: ["code", "code-insiders", "codium", "cursor", "subl", "micro", "hx", "kak", "ed"], options: { values: { ...all({ flags: ["inline_code"] }, "-e"), ...all({ flags: ["remote_code"] }, "--install-extension"), ...all(R, "-c", "--config"), ...plain("--profile", "--user-data-dir", "--extensions-dir", "--locale", "--log", "-p", "--prompt", "--command") }, switches: all({ marker: "goto" }, "-g", "--goto") }, run: h.editor },
  // ssh-keygen/ssh-add read keys; openssl/gpg read and write the files named by their options.
  { names: ["openssl", "gpg", "gpg2", "age", "ssh-keygen", "ssh-add", "ssh-copy-id", "keytool", "certtool"], run: h.crypto },
  // open (macOS), xdg-open: hand a file or URL to its default application.
  { names: ["open", "xdg-open", "wslview"], run: h.open },

  // ---- Windows programs (any shell on a windows device)
  // certutil -urlcache -f URL FILE downloads; -decode/-encode read and write files.
  { names: ["certutil"], os: ["windows"], run: h.certutil },
  // bitsadmin /transfer name URL FILE downloads; /SetNotifyCmdLine runs a program.
  { names: ["bitsadmin"], os: ["windows"], run: h.bitsadmin },
  // robocopy SRC DST: /MOV, /MOVE delete the source, /MIR and /PURGE delete in the destination.
  { names: ["robocopy"], os: ["windows"], run: h.robocopy },
  { names: ["xcopy"], os: ["windows"], options: { syntax: "windows", attached: plain("/exclude", "/d") }, operands: { each: ["read"], last: ["write"], cwd: false } },
  // runas /user:X "cmd": another user's rights.
  { names: ["runas"], os: ["windows"], run: h.runas },
  // mshta, rundll32, regsvr32, wscript, cscript run code from files or URLs (LOLBins).
  { names: ["mshta", "rundll32", "regsvr32", "wscript", "cscript", "installutil", "msbuild", "regasm", "regsvcs", "msiexec", "wmic", "schtasks", "at", "sc", "reg"], os: ["windows"], flags: ["spawns"], opaque: true },

  // ---- cmd.exe builtins
  { names: ["type", "more"], shells: ["cmd"], options: { syntax: "windows" }, operands: { each: ["read"] } },
  { names: ["dir", "tree"], shells: ["cmd"], options: { syntax: "windows", attached: plain("/a", "/o", "/t") }, operands: { each: ["read"], cwd: true } },
  // find.exe / findstr.exe (also under PowerShell, where `find` is not GNU find).
  // findstr's /c:string is the pattern; find's /c counts.
  { names: ["findstr"], shells: ["cmd", "powershell"], options: { syntax: "windows", values: { ...all({ marker: "pattern", target: ["read"] }, "/g"), ...all(R, "/f") }, attached: { ...all({ marker: "pattern" }, "/c"), ...plain("/d", "/a") } }, operands: { skip: 1, skipUnless: "pattern", each: ["read"] } },
  { names: ["find"], shells: ["cmd", "powershell"], options: { syntax: "windows", attached: plain("/off", "/offline") }, operands: { skip: 1, each: ["read"] } },
  { names: ["copy", "move"], shells: ["cmd"], options: { syntax: "windows", attached: plain("/d") }, run: h.cmdCopy },
  // mklink LINK TARGET: the link is written, the target exposed through it.
  { names: ["mklink"], shells: ["cmd"], options: { syntax: "windows" }, operands: { each: ["write"], last: ["read"] } },
  { names: ["del", "erase", "rd", "rmdir"], shells: ["cmd"], options: { syntax: "windows", attached: plain("/a") }, operands: { each: ["delete"] } },
  { names: ["md", "mkdir"], shells: ["cmd"], options: { syntax: "windows" }, operands: { each: ["write"] } },
  { names: ["ren", "rename"], shells: ["cmd"], run: h.cmdRename },
  { names: ["cd", "chdir", "pushd", "popd"], shells: ["cmd"], run: h.cd },
  { names: ["set"], shells: ["cmd"], run: h.cmdSet },
  { names: ["echo", "cls", "ver", "vol", "title", "color", "pause", "rem", "exit", "setlocal", "endlocal", "prompt", "shift", "goto"], shells: ["cmd"] },
  // Windows tools whose names GNU tools share: timeout.exe waits, it runs nothing.
  { names: ["timeout", "where", "whoami", "hostname", "tasklist", "ipconfig", "systeminfo", "sort"], shells: ["cmd", "powershell"] },
  // start: runs a program (a new window, its own title first when quoted).
  { names: ["start"], shells: ["cmd"], run: h.cmdStart },
  // call: runs a batch file or a command line again through cmd's parser.
  { names: ["call"], shells: ["cmd"], run: h.cmdCall },
  { names: ["for", "if"], shells: ["cmd"], run: h.cmdControl },

  // ---- PowerShell cmdlets (aliases are resolved before lookup; see ALIASES)
  ...h.POWERSHELL_ROWS,
];

/** PowerShell aliases (Windows PowerShell 5.1 and PowerShell 7), resolved to their cmdlet. */
const ALIASES: Readonly<Record<string, { cmdlet: string; windowsOnly?: boolean }>> = {
  cat: { cmdlet: "get-content", windowsOnly: true },
  gc: { cmdlet: "get-content" },
  type: { cmdlet: "get-content" },
  sls: { cmdlet: "select-string" },
  rm: { cmdlet: "remove-item", windowsOnly: true },
  del: { cmdlet: "remove-item" },
  ri: { cmdlet: "remove-item" },
  erase: { cmdlet: "remove-item" },
  rd: { cmdlet: "remove-item" },
  rmdir: { cmdlet: "remove-item", windowsOnly: true },
  cp: { cmdlet: "copy-item", windowsOnly: true },
  copy: { cmdlet: "copy-item" },
  cpi: { cmdlet: "copy-item" },
  mv: { cmdlet: "move-item", windowsOnly: true },
  move: { cmdlet: "move-item" },
  mi: { cmdlet: "move-item" },
  ls: { cmdlet: "get-childitem", windowsOnly: true },
  dir: { cmdlet: "get-childitem" },
  gci: { cmdlet: "get-childitem" },
  sc: { cmdlet: "set-content" },
  ac: { cmdlet: "add-content" },
  ni: { cmdlet: "new-item" },
  md: { cmdlet: "mkdir" },
  mkdir: { cmdlet: "mkdir" },
  ren: { cmdlet: "rename-item" },
  rni: { cmdlet: "rename-item" },
  // Windows PowerShell 5.1 aliases curl and wget to Invoke-WebRequest; PowerShell 7
  // runs curl.exe. Both reach the network; the row reads curl's options too.
  curl: { cmdlet: "invoke-webrequest", windowsOnly: true },
  wget: { cmdlet: "invoke-webrequest", windowsOnly: true },
  iwr: { cmdlet: "invoke-webrequest" },
  irm: { cmdlet: "invoke-restmethod" },
  iex: { cmdlet: "invoke-expression" },
  icm: { cmdlet: "invoke-command" },
  ii: { cmdlet: "invoke-item" },
  start: { cmdlet: "start-process" },
  saps: { cmdlet: "start-process" },
  "%": { cmdlet: "foreach-object" },
  foreach: { cmdlet: "foreach-object" },
  "?": { cmdlet: "where-object" },
  where: { cmdlet: "where-object" },
  echo: { cmdlet: "write-output" },
  write: { cmdlet: "write-output" },
  cd: { cmdlet: "set-location" },
  chdir: { cmdlet: "set-location" },
  sl: { cmdlet: "set-location" },
  pushd: { cmdlet: "push-location" },
  popd: { cmdlet: "pop-location" },
  pwd: { cmdlet: "get-location" },
  gl: { cmdlet: "get-location" },
  tee: { cmdlet: "tee-object", windowsOnly: true },
  sort: { cmdlet: "sort-object", windowsOnly: true },
  select: { cmdlet: "select-object" },
  measure: { cmdlet: "measure-object" },
  gi: { cmdlet: "get-item" },
  gp: { cmdlet: "get-itemproperty" },
  sp: { cmdlet: "set-itemproperty" },
  clc: { cmdlet: "clear-content" },
  cli: { cmdlet: "clear-item" },
  epcsv: { cmdlet: "export-csv" },
  ipcsv: { cmdlet: "import-csv" },
  sajb: { cmdlet: "start-job" },
  nal: { cmdlet: "new-alias" },
  sal: { cmdlet: "set-alias" },
  ise: { cmdlet: "powershell_ise" },
  ps: { cmdlet: "get-process", windowsOnly: true },
  kill: { cmdlet: "stop-process" },
  cls: { cmdlet: "clear-host" },
  clear: { cmdlet: "clear-host", windowsOnly: true },
  h: { cmdlet: "get-history" },
  history: { cmdlet: "get-history" },
  r: { cmdlet: "invoke-history" },
  ihy: { cmdlet: "invoke-history" },
};

const WINDOWS_SUFFIX = /\.(?:exe|com|bat|cmd)$/;

/**
 * The canonical name of a program word: basename, windows suffix dropped and
 * case folded on windows, folded on macos, PowerShell aliases resolved. Null
 * when the word cannot name a program (`/bin/`, `C:cmd`, a stream).
 */
export function programName(word: string, ctx: ParseContext): string | null {
  const windows = ctx.os === "windows";
  const separators = windows || ctx.shell === "powershell" || ctx.shell === "cmd" ? /[\\/]/ : /\//;
  const parts = word.split(separators);
  let base = parts[parts.length - 1] ?? "";
  const qualified = parts.length > 1;
  if (windows) {
    // CreateProcess drops trailing dots and spaces and tries the PATHEXT suffixes.
    base = foldCase(base.replace(/[. ]+$/, ""));
    base = base.replace(WINDOWS_SUFFIX, "").replace(/[. ]+$/, "");
    if (base.includes(":")) return null;
  } else if (ctx.os === "macos") {
    base = foldCase(base);
  }
  // `.` is the dot-source operator (PowerShell) and builtin (POSIX), not a file.
  if (word === ".") return ".";
  if (base === "") return null;
  if (ctx.shell === "powershell" && !qualified && !/\.(?:exe|com|bat|cmd)$/i.test(word)) {
    const folded = foldCase(base);
    const alias = ALIASES[folded];
    if (alias !== undefined && (windows || alias.windowsOnly !== true)) return alias.cmdlet;
    // Cmdlet names are case-insensitive on every system.
    if (/^[a-z]+-[a-z]+$/i.test(base)) return folded;
  }
  return base;
}

const ROWS_BY_NAME: ReadonlyMap<string, readonly ProgramRow[]> = (() => {
  const map = new Map<string, ProgramRow[]>();
  for (const row of PROGRAMS) {
    for (const name of row.names) {
      const list = map.get(name) ?? [];
      list.push(row);
      map.set(name, list);
    }
  }
  return map;
})();

// Versioned interpreter names (`python3.12`, `pip3.11`, `node18`; `lldb-15`, `psql-16` as distributions name
// theirs) share their family's row.
const VERSIONED = /^(python|pip|pypy|ruby|perl|php|lua|node)[0-9.]+$|^(lldb|gdb|psql|mysql|sqlite3)-[0-9.]+$/;

/** The row for a canonical program name in this environment, if any. */
export function findRow(program: string, ctx: ParseContext): ProgramRow | undefined {
  const versioned = VERSIONED.exec(program);
  const name = versioned !== null ? ((versioned[1] ?? versioned[2]) as string) : program;
  const rows = ROWS_BY_NAME.get(name) ?? [];
  const applies = (row: ProgramRow): boolean => (row.shells === undefined || row.shells.includes(ctx.shell)) && (row.os === undefined || row.os.includes(ctx.os));
  // A row for this very shell (cmd's `find`, `timeout`) wins over a general one (GNU find, timeout).
  return rows.find((row) => row.shells !== undefined && applies(row)) ?? rows.find(applies);
}


