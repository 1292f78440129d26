import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";

/** Debian's chromium (scripts/install-test-deps.sh installs it), or $CHROMIUM_PATH. */
export function chromiumPath(): string {
  const configured = process.env["CHROMIUM_PATH"];
  if (configured) return configured;
  for (const candidate of ["/usr/bin/chromium", "/usr/bin/chromium-browser"]) if (existsSync(candidate)) return candidate;
  try {
    return execFileSync("sh", ["-c", "command -v chromium || command -v chromium-browser"], { encoding: "utf8" }).trim();
  } catch {
    throw new Error("chromium not found: run scripts/install-test-deps.sh (or set CHROMIUM_PATH)");
  }
}

/** Flags for headless chromium in a container, with nothing fetched in the background. */
export const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"];
