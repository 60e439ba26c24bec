/**
 * Pressure stall information: `/proc/pressure/{memory,cpu,io}` and cgroup v2 `*.pressure`.
 *
 *   some avg10=0.00 avg60=0.00 avg300=0.00 total=0
 *   full avg10=0.00 avg60=0.00 avg300=0.00 total=0
 */
import { parseError, parseUnsigned, splitLines, truncationHint, words } from "./text.js";

export interface PressureLine {
  /** Share of wall time stalled, in percent (0..100), averaged over 10, 60 and 300 s. */
  readonly avg10: number;
  readonly avg60: number;
  readonly avg300: number;
  /** Total stall time since boot (or cgroup creation), µs; clamped to MAX_SAFE_INTEGER. */
  readonly totalUsec: number;
}

export interface Pressure {
  readonly some: PressureLine;
  /**
   * Undefined when the kernel prints no `full` line: `cpu.pressure` before Linux 5.13. Later
   * kernels print a `full` line for system-wide cpu that is always zero.
   */
  readonly full: PressureLine | undefined;
  /** Lines that did not parse, repeated `some`/`full` lines, and unknown line kinds. */
  readonly skippedLines: number;
}

/** Percent figures are printed as `%lu.%02lu`; accept any plain unsigned decimal. */
function parseAverage(token: string): number | undefined {
  return /^\d+(\.\d+)?$/.test(token) ? Number(token) : undefined;
}

/**
 * One `some|full key=value ...` line, or undefined if it lacks a field or one is malformed.
 * Unknown `key=value` fields are ignored so a kernel that adds one does not break parsing.
 */
function parseLine(fields: readonly string[]): PressureLine | undefined {
  // The four fields read, each the last of its name (as a Map of them all would hold it).
  let a10: string | undefined;
  let a60: string | undefined;
  let a300: string | undefined;
  let total: string | undefined;
  for (const field of fields) {
    const eq = field.indexOf("=");
    if (eq <= 0) return undefined;
    const value = field.slice(eq + 1);
    switch (field.slice(0, eq)) {
      case "avg10":
        a10 = value;
        break;
      case "avg60":
        a60 = value;
        break;
      case "avg300":
        a300 = value;
        break;
      case "total":
        total = value;
        break;
    }
  }
  const avg10 = parseAverage(a10 ?? "");
  const avg60 = parseAverage(a60 ?? "");
  const avg300 = parseAverage(a300 ?? "");
  const totalUsec = parseUnsigned(total ?? "");
  if (avg10 === undefined || avg60 === undefined || avg300 === undefined) return undefined;
  if (totalUsec === undefined) return undefined;
  return { avg10, avg60, avg300, totalUsec };
}

/** Parses a pressure file; throws E_PARSE when there is no valid `some` line. */
export function parsePressure(text: string): Pressure {
  const split = splitLines(text);
  let skippedLines = split.skippedLines;
  let some: PressureLine | undefined;
  let full: PressureLine | undefined;
  for (const line of split.lines) {
    const [kind, ...fields] = words(line);
    const parsed = parseLine(fields);
    if (parsed !== undefined && kind === "some" && some === undefined) some = parsed;
    else if (parsed !== undefined && kind === "full" && full === undefined) full = parsed;
    else skippedLines++;
  }
  if (some === undefined) {
    const expected = 'a "some avg10=… avg60=… avg300=… total=…" line';
    throw parseError(expected, text, truncationHint(text));
  }
  return { some, full, skippedLines };
}
