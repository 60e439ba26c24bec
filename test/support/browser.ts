/**
 * A real browser for the report's tests: Debian's chromium driven by playwright-core (which
 * downloads no browser of its own). `.ci/run` installs chromium, so CI runs these tests; on a
 * machine without it they are skipped with the reason, and under CI a missing browser fails.
 */
import * as fs from "node:fs";
import { execFileSync } from "node:child_process";
import type { Browser } from "playwright-core";

/** Where a chromium may be: OOMKIT_CHROMIUM first, then Debian's and other distributions' names. */
const CANDIDATES = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome", "/snap/bin/chromium"];

export function findChromium(): string | undefined {
  const own = process.env.OOMKIT_CHROMIUM;
  if (own) return fs.existsSync(own) ? own : undefined;
  for (const c of CANDIDATES) if (fs.existsSync(c)) return c;
  for (const name of ["chromium", "chromium-browser"]) {
    try {
      const p = execFileSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).trim();
      if (p) return p;
    } catch {
      // not on PATH: try the next name
    }
  }
  return undefined;
}

export type BrowserOrSkip = { readonly browser: Browser } | { readonly skip: string };

/** A headless chromium, or why there is none (an error under CI, where .ci/run installs it). */
export async function launchChromium(): Promise<BrowserOrSkip> {
  const exe = findChromium();
  const why = (reason: string): BrowserOrSkip => {
    if (process.env.CI) throw new Error(`${reason}; CI must run the browser tests (.ci/run installs chromium)`);
    return { skip: reason };
  };
  if (!exe) return why("no chromium found: install Debian's chromium (apt-get install chromium) or set OOMKIT_CHROMIUM to a Chromium binary");
  let playwright: typeof import("playwright-core");
  try {
    playwright = await import("playwright-core");
  } catch {
    return why("playwright-core is not installed (npm install)");
  }
  // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
  const browser = await playwright.chromium.launch({ executablePath: exe, headless: true, args: ["--no-sandbox", "--disable-gpu"] });
  return { browser };
}
