/** `/proc/vmstat`: `key N` lines of system-wide counters since boot. */
import { parseNumericPairs, pickFields } from "./text.js";

const FIELDS = {
  oomKill: "oom_kill",
  pgscanKswapd: "pgscan_kswapd",
  pgscanDirect: "pgscan_direct",
  pgstealKswapd: "pgsteal_kswapd",
  pgstealDirect: "pgsteal_direct",
  pswpin: "pswpin",
  pswpout: "pswpout",
  pgmajfault: "pgmajfault",
} as const;

/**
 * Counters oomkit watches (pages or events, never bytes). `oomKill` counts kernel OOM kills
 * (Linux 4.13+); a key this kernel does not print is undefined.
 */
export type Vmstat = { readonly [K in keyof typeof FIELDS]: number | undefined } & {
  /** Every line that parsed, keyed as printed. */
  readonly raw: ReadonlyMap<string, number>;
  /** Lines that were not `key N` (garbage, a truncated last line, negative numbers, ...). */
  readonly skippedLines: number;
};

/** Parses `/proc/vmstat`. Never throws. */
export function parseVmstat(text: string): Vmstat {
  const { values, skippedLines } = parseNumericPairs(text, " ");
  const out: Record<string, unknown> = {};
  pickFields(values, FIELDS, undefined, out);
  out.raw = values;
  out.skippedLines = skippedLines;
  return out as Vmstat;
}
