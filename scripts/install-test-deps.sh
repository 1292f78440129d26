#!/bin/sh
# Installs what the test suite needs beyond npm packages, from Debian's archive, and
# only what is missing (idempotent: nothing runs when every tool is already on PATH).
#
# - swtpm (the software TPM), swtpm-tools (swtpm_setup and swtpm_localca: manufacture a
#   TPM state with EK certificates from a local CA) and tpm2-tools: test/setup/swtpm.ts.
# - chromium: test/browser/review-page.spec.ts.
# - bash, dash and zsh: test/node/bash-words.test.ts reads command words against each shell.
# - curl and python3: test/node/url-clients.test.ts compares Warden's reading of URLs with the
#   requests curl and Python's urllib make.
# - strace, and the programs test/node/command-strace.test.ts runs under it to hold the command
#   tables to what each one does (most come with Debian; these do not always).
# - Claude Code and Codex, from npm, pinned by test/agents/package-lock.json: test/node/agents-live.test.ts
#   drives the real agents. Installed without their install scripts (the tests start each
#   through its vendor's launcher, which finds the platform's binary), and again only when the
#   lock file changed.
set -eu

agents="$(dirname "$0")/../test/agents"
if ! cmp -s "$agents/package-lock.json" "$agents/node_modules/.installed-lock.json"; then
  echo "install-test-deps: installing the agents in test/agents (npm ci)" >&2
  npm ci --prefix "$agents" --ignore-scripts --no-audit --no-fund --loglevel=error
  cp "$agents/package-lock.json" "$agents/node_modules/.installed-lock.json"
fi

missing=""
need() { command -v "$1" >/dev/null 2>&1 || missing="$missing $2"; }
need swtpm swtpm
need swtpm_setup swtpm-tools
need tpm2_createek tpm2-tools
need bash bash
need dash dash
need zsh zsh
need curl curl
need python3 python3
need strace strace
need unshare util-linux
need rsync rsync
need jq jq
need xxd xxd
need zip zip
need unzip unzip
need tree tree
need wget wget
need file file
need zstd zstd
need xz xz-utils
need bzip2 bzip2
need setfacl acl
need column bsdextrautils
need hexdump bsdextrautils
need less less
need diff3 diffutils
# Headless Chromium for the reviewer-page test (test/browser/, playwright-core drives it).
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || missing="$missing chromium"

if [ -z "$missing" ]; then exit 0; fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-test-deps: missing$missing and no apt-get; install them with your package manager" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-test-deps: missing$missing; run as root or install sudo" >&2
    exit 1
  fi
fi
echo "install-test-deps: installing$missing" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
