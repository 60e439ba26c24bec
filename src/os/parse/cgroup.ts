/**
 * cgroup control files. Written for cgroup v2; `parseMemoryStat` also accepts v1 `memory.stat`,
 * where only the keys both versions share (`active_anon`, `pgfault`, ...) fill typed fields.
 */
import {
  PID_MAX_LIMIT,
  parseError,
  parseNumericPairs,
  parseUnsigned,
  pickFields,
  singleToken,
  splitLines,
} from "./text.js";

/** memory.stat keys printed in bytes, by typed field name. */
const STAT_BYTES = {
  anonBytes: "anon",
  fileBytes: "file",
  kernelBytes: "kernel",
  kernelStackBytes: "kernel_stack",
  pagetablesBytes: "pagetables",
  sockBytes: "sock",
  shmemBytes: "shmem",
  fileMappedBytes: "file_mapped",
  fileDirtyBytes: "file_dirty",
  fileWritebackBytes: "file_writeback",
  swapcachedBytes: "swapcached",
  slabReclaimableBytes: "slab_reclaimable",
  slabUnreclaimableBytes: "slab_unreclaimable",
  anonThpBytes: "anon_thp",
  inactiveAnonBytes: "inactive_anon",
  activeAnonBytes: "active_anon",
  inactiveFileBytes: "inactive_file",
  activeFileBytes: "active_file",
  unevictableBytes: "unevictable",
} as const;

/** memory.stat event counters (pages or events, never bytes), by typed field name. */
const STAT_COUNTERS = {
  pgscan: "pgscan",
  pgsteal: "pgsteal",
  pgfault: "pgfault",
  pgmajfault: "pgmajfault",
  workingsetRefaultAnon: "workingset_refault_anon",
  workingsetRefaultFile: "workingset_refault_file",
} as const;

export type MemoryStat = {
  readonly [K in keyof typeof STAT_BYTES | keyof typeof STAT_COUNTERS]: number | undefined;
} & {
  /** Every line that parsed, keyed as printed; keeps keys this module has no field for. */
  readonly raw: ReadonlyMap<string, number>;
  /** Lines that were not `key N` (garbage, a truncated last line, negative numbers, ...). */
  readonly skippedLines: number;
};

/** Parses `memory.stat`. Never throws: a file with no valid line yields all fields undefined. */
export function parseMemoryStat(text: string): MemoryStat {
  const { values, skippedLines } = parseNumericPairs(text, " ");
  // One object, its fields in the order a spread of the two tables' made them (pickFields).
  const out: Record<string, unknown> = {};
  pickFields(values, STAT_BYTES, undefined, out);
  pickFields(values, STAT_COUNTERS, undefined, out);
  out.raw = values;
  out.skippedLines = skippedLines;
  return out as MemoryStat;
}

const EVENT_KEYS = {
  low: "low",
  high: "high",
  max: "max",
  oom: "oom",
  oomKill: "oom_kill",
  oomGroupKill: "oom_group_kill",
  fail: "fail",
} as const;

/**
 * Event counts from `memory.events`, `memory.events.local` or `memory.swap.events` (which has
 * `high`, `max` and `fail`). Keys a file does not print are undefined.
 */
export type MemoryEvents = { readonly [K in keyof typeof EVENT_KEYS]: number | undefined } & {
  readonly raw: ReadonlyMap<string, number>;
  readonly skippedLines: number;
};

/** Parses a `memory.*events*` file. Never throws. */
export function parseMemoryEvents(text: string): MemoryEvents {
  const { values, skippedLines } = parseNumericPairs(text, " ");
  const out: Record<string, unknown> = {};
  pickFields(values, EVENT_KEYS, undefined, out);
  out.raw = values;
  out.skippedLines = skippedLines;
  return out as MemoryEvents;
}

/**
 * A byte value from `memory.{current,min,low,high,max,peak}`, `memory.swap.*` or
 * `memory.zswap.*`: `max` is `Infinity`; a number above MAX_SAFE_INTEGER (v1's "unlimited"
 * 9223372036854771712) is clamped to it. Throws E_PARSE on anything else.
 */
export function parseMemoryValue(text: string): number {
  const expected = 'a byte count or "max"';
  const token = singleToken(text, expected);
  if (token === "max") return Number.POSITIVE_INFINITY;
  const n = parseUnsigned(token);
  if (n === undefined) throw parseError(expected, text);
  return n;
}

/** A `0`/`1` file such as `memory.oom.group`. Throws E_PARSE on anything else. */
export function parseFlag(text: string): boolean {
  const token = singleToken(text, '"0" or "1"');
  if (token === "0") return false;
  if (token === "1") return true;
  throw parseError('"0" or "1"', text);
}

export interface PidList {
  /** Pids (or tids, for `cgroup.threads`) in file order, without duplicates. */
  readonly pids: number[];
  /**
   * Entries printed as `0`: the kernel shows a task outside the reader's pid namespace as 0.
   * They cannot be acted on, so they are counted here rather than listed.
   */
  readonly hiddenPids: number;
  /** Lines that were not one positive integer, and a truncated last line. */
  readonly skippedLines: number;
}

/**
 * `cgroup.procs` / `cgroup.threads` / v1 `tasks`: one id per line. Duplicates are dropped (v1
 * documents that `cgroup.procs` may repeat a tgid).
 */
export function parsePidList(text: string): PidList {
  const split = splitLines(text);
  const seen = new Set<number>();
  let skippedLines = split.skippedLines;
  let hiddenPids = 0;
  for (const line of split.lines) {
    const pid = parseUnsigned(line.trim());
    if (pid === undefined || pid >= PID_MAX_LIMIT) skippedLines++;
    else if (pid === 0) hiddenPids++;
    else seen.add(pid);
  }
  return { pids: [...seen], hiddenPids, skippedLines };
}

/**
 * `cgroup.controllers` / `cgroup.subtree_control`: space-separated names; empty text (no
 * controllers enabled) gives `[]`. Throws E_PARSE on a token that is not a controller name.
 */
export function parseControllers(text: string): string[] {
  const names = text.trim() === "" ? [] : text.trim().split(/\s+/);
  for (const name of names) {
    if (!/^[a-z][a-z0-9_]*$/.test(name)) throw parseError("controller names", text);
  }
  return names;
}

export interface CgroupEvents {
  /** True while the cgroup or a descendant has a live process. */
  readonly populated: boolean | undefined;
  /** True while the cgroup is frozen (Linux 5.2+ prints this key). */
  readonly frozen: boolean | undefined;
  readonly raw: ReadonlyMap<string, number>;
  /** Lines that did not parse; a `populated`/`frozen` value other than 0/1 is counted too. */
  readonly skippedLines: number;
}

function asFlag(value: number | undefined): boolean | undefined {
  return value === 0 ? false : value === 1 ? true : undefined;
}

/** `cgroup.events`: `populated 0|1`, `frozen 0|1`. Never throws. */
export function parseCgroupEvents(text: string): CgroupEvents {
  const { values, skippedLines } = parseNumericPairs(text, " ");
  const populated = asFlag(values.get("populated"));
  const frozen = asFlag(values.get("frozen"));
  const bad = [values.get("populated"), values.get("frozen")].filter(
    (v) => v !== undefined && asFlag(v) === undefined,
  ).length;
  return { populated, frozen, raw: values, skippedLines: skippedLines + bad };
}
