import { OomkitError } from "../errors.js";

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "500ms", "1s", "1.5s", "2m", "1h" → milliseconds (a bare number is seconds); at least `minMs`. */
export function parseDurationMs(flag: string, text: string, minMs: number): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  const ms = m ? Math.round(Number(m[1]) * (UNITS[m[2] ?? "s"] as number)) : Number.NaN;
  if (!Number.isFinite(ms) || ms < minMs || ms > 7 * 24 * 3_600_000) {
    throw new OomkitError("E_USAGE", `${flag} must be a duration such as 500ms, 1s or 2m (at least ${minMs} ms, at most 7 days), got ${JSON.stringify(text)}`);
  }
  return ms;
}
