/**
 * `/proc/meminfo`: `Key:   value kB` lines, plus a few plain counts (`HugePages_Total:   0`).
 */
import { parseError, parseNumericPairs, pickFields, truncationHint } from "./text.js";

/** Typed field → the key the kernel prints. All `*Bytes` keys are printed in kB. */
const FIELDS = {
  memTotalBytes: "MemTotal",
  memFreeBytes: "MemFree",
  memAvailableBytes: "MemAvailable",
  buffersBytes: "Buffers",
  cachedBytes: "Cached",
  swapCachedBytes: "SwapCached",
  activeAnonBytes: "Active(anon)",
  inactiveAnonBytes: "Inactive(anon)",
  activeFileBytes: "Active(file)",
  inactiveFileBytes: "Inactive(file)",
  shmemBytes: "Shmem",
  swapTotalBytes: "SwapTotal",
  swapFreeBytes: "SwapFree",
  sReclaimableBytes: "SReclaimable",
  dirtyBytes: "Dirty",
  hugePagesTotal: "HugePages_Total",
  hugepagesizeBytes: "Hugepagesize",
} as const;

type Fields = { readonly [K in keyof typeof FIELDS]: number | undefined };

export interface Meminfo extends Fields {
  /** Always present: a meminfo without `MemTotal` is rejected. */
  readonly memTotalBytes: number;
  /**
   * Every line that parsed, keyed as printed (`Active(anon)`, `HugePages_Total`): bytes where
   * the line had `kB`, else the plain count. Keeps keys this module has no field for.
   */
  readonly raw: ReadonlyMap<string, number>;
  /**
   * Lines that did not parse: garbage, a truncated last line, a value that is not a number, or a
   * known field with the wrong unit (such a line stays in `raw` but not in its typed field).
   */
  readonly skippedLines: number;
}

/**
 * Parses `/proc/meminfo`. Absent keys (old kernels have no `MemAvailable`) are undefined; throws
 * E_PARSE when `MemTotal` is missing, since nothing else is meaningful without it.
 */
export function parseMeminfo(text: string): Meminfo {
  const { values, kBKeys, skippedLines } = parseNumericPairs(text, ":");
  // The picked fields' own object, added to rather than spread into another (pickFields).
  const out: Record<string, unknown> = {};
  const { fields, unitMismatches } = pickFields(values, FIELDS, kBKeys, out);
  if (fields.memTotalBytes === undefined) {
    throw parseError('a "MemTotal: N kB" line', text, truncationHint(text));
  }
  out.raw = values;
  out.skippedLines = skippedLines + unitMismatches;
  return out as unknown as Meminfo;
}
