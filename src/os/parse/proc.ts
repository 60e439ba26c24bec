/**
 * Per-process files under `/proc/<pid>/`: `stat`, `status`, `oom_score`, `oom_score_adj`,
 * `cmdline` and `cgroup`.
 */
import {
  PID_MAX_LIMIT,
  isKey,
  parseError,
  parseSigned,
  parseUnsigned,
  pickFields,
  singleToken,
  splitLines,
  splitPairs,
  toNumbers,
  truncationHint,
  words,
} from "./text.js";

/** `task->flags` bit of a kernel thread (include/linux/sched.h). Kernel threads own no memory. */
export const PF_KTHREAD = 0x00200000;

/** True when a `stat` `flags` value marks a kernel thread. */
export function isKernelThreadFlags(flags: number): boolean {
  return (flags & PF_KTHREAD) !== 0;
}

export interface ProcStat {
  readonly pid: number;
  /** The task name as the kernel stores it: up to 15 bytes, any of them `(`, `)`, space or newline. */
  readonly comm: string;
  /** One letter: R, S, D, Z, T, t, X, I, ... */
  readonly state: string;
  readonly ppid: number;
  readonly pgrp: number;
  readonly session: number;
  /** `task->flags`; see `isKernelThreadFlags`. */
  readonly flags: number;
  readonly minflt: number;
  readonly majflt: number;
  readonly utimeTicks: number;
  readonly stimeTicks: number;
  readonly numThreads: number;
  /** Start time after boot, in clock ticks (`sysconf(_SC_CLK_TCK)`, almost always 100). */
  readonly startTimeTicks: number;
  readonly vsizeBytes: number;
  /** Resident set in pages; the page size is the host's to know, not the text's. */
  readonly rssPages: number;
}

/** Positions after the `)` that closes comm (`state` is 0), per proc(5). */
const STAT = {
  state: 0, ppid: 1, pgrp: 2, session: 3, flags: 6, minflt: 7, majflt: 9,
  utimeTicks: 11, stimeTicks: 12, numThreads: 17, startTimeTicks: 19, vsizeBytes: 20, rssPages: 21,
} as const;

/**
 * Parses `/proc/<pid>/stat`. comm is the text between the first `(` and the last `)`: comm may
 * itself hold `)`, but nothing after it can. Throws E_PARSE when fields are missing or malformed.
 */
export function parseProcStat(text: string): ProcStat {
  const expected = '"pid (comm) state ppid ..." with at least 22 fields after comm';
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  const pid = parseUnsigned(text.slice(0, open).trim());
  if (open < 0 || close < open || pid === undefined || pid === 0 || pid >= PID_MAX_LIMIT) {
    throw parseError(expected, text);
  }
  const fields = words(text.slice(close + 1));
  const state = fields[STAT.state] ?? "";
  if (fields.length <= STAT.rssPages || !/^[A-Za-z]$/.test(state)) throw parseError(expected, text);
  const num = (at: number): number => {
    const n = parseUnsigned(fields[at] ?? "");
    if (n === undefined) throw parseError(`${expected}; field ${at + 3} is not a number`, text);
    return n;
  };
  return {
    pid,
    comm: text.slice(open + 1, close),
    state,
    ppid: num(STAT.ppid),
    pgrp: num(STAT.pgrp),
    session: num(STAT.session),
    flags: num(STAT.flags),
    minflt: num(STAT.minflt),
    majflt: num(STAT.majflt),
    utimeTicks: num(STAT.utimeTicks),
    stimeTicks: num(STAT.stimeTicks),
    numThreads: num(STAT.numThreads),
    startTimeTicks: num(STAT.startTimeTicks),
    vsizeBytes: num(STAT.vsizeBytes),
    rssPages: num(STAT.rssPages),
  };
}

/** Optional numeric `status` fields; the kernel prints the `…Bytes` ones in kB. */
const STATUS_NUMBERS = {
  vmRssBytes: "VmRSS",
  rssAnonBytes: "RssAnon",
  rssFileBytes: "RssFile",
  rssShmemBytes: "RssShmem",
  vmSwapBytes: "VmSwap",
  vmPteBytes: "VmPTE",
  vmSizeBytes: "VmSize",
  threads: "Threads",
} as const;

/** The `status` keys whose values are counted as numbers: a malformed one is a skipped line. */
const KNOWN_STATUS_NUMBERS: ReadonlySet<string> = new Set(Object.values(STATUS_NUMBERS));
/** Every `status` key parseProcStatus reads as a number (the ids besides the figures). */
const NUMERIC_STATUS_KEYS: readonly string[] = [...KNOWN_STATUS_NUMBERS, "Tgid", "Pid", "PPid"];
/** Every `status` key parseProcStatus reads (keep in step with it): what compactProcStatus keeps. */
const STATUS_KEYS_READ: ReadonlySet<string> = new Set([...NUMERIC_STATUS_KEYS, "Name", "State", "Uid", "Kthread", "CapEff"]);

export interface Ids {
  readonly real: number;
  readonly effective: number;
  readonly saved: number;
  readonly fs: number;
}

export type ProcStatus = {
  /** Memory figures are undefined for kernel threads and zombies, which print none. */
  readonly [K in keyof typeof STATUS_NUMBERS]: number | undefined;
} & {
  /** As the kernel prints it: a newline in the name shows as `\n`, a backslash as `\\`. */
  readonly name: string;
  /** One letter (`S` of `S (sleeping)`). */
  readonly state: string;
  readonly tgid: number;
  readonly pid: number;
  readonly ppid: number;
  readonly uid: Ids;
  /** `Kthread:` (Linux 6.8+); undefined on older kernels, use `stat` flags there. */
  readonly kthread: boolean | undefined;
  /** Effective capability set, from its hex mask. */
  readonly capEff: bigint | undefined;
  /**
   * Every `Key: value` line, value as printed (leading tab removed). Made from the text when first
   * read (StatusPairs), not at the parse: oomkit itself reads none of it, and a status kept with
   * all ~57 of its lines as a Map was ~5 KiB per process in the daemon's warm model (BENCHMARKS.md,
   * "Footprint: builds side by side"). A status served by the warm model holds only the lines
   * oomkit reads (compactProcStatus), and so does this.
   */
  readonly raw: ReadonlyMap<string, string>;
  /** Lines that were not `Key: value`, and known numeric fields whose value was malformed. */
  readonly skippedLines: number;
};

const UINT32_MAX = 0xffff_ffff;

/**
 * Ids whose four are one uid, one frozen object per uid: most processes run as one of a few users,
 * and an object each was ~55 bytes a process in the daemon's warm model. At most SAME_IDS_MAX
 * uids are remembered; past them each gets its own, as before.
 */
const SAME_IDS = new Map<number, Ids>();
const SAME_IDS_MAX = 1024;

/** `Uid:`/`Gid:` value: real, effective, saved, fs. */
function parseIds(value: string | undefined): Ids | undefined {
  const ids = words(value ?? "").map(parseUnsigned);
  const [real, effective, saved, fs] = ids;
  if (ids.length !== 4 || real === undefined || effective === undefined) return undefined;
  if (saved === undefined || fs === undefined) return undefined;
  if (ids.some((id) => id !== undefined && id > UINT32_MAX)) return undefined;
  if (real !== effective || real !== saved || real !== fs) return { real, effective, saved, fs };
  const same = SAME_IDS.get(real) ?? Object.freeze({ real, effective, saved, fs });
  if (SAME_IDS.size < SAME_IDS_MAX) SAME_IDS.set(real, same);
  return same;
}

/**
 * Parses `/proc/<pid>/status`. Throws E_PARSE when Name, State, Tgid, Pid, PPid or Uid is
 * missing or malformed: every task prints them, so their absence means this is not a status file.
 */
/**
 * `raw` of a parsed status: its pairs, made from the text when first asked for. The daemon's warm
 * model keeps a parsed status per task, and the sixty-odd pairs of each (a Map of strings, its
 * keys copies) were most of its memory on a crowded machine (3,000 tasks: 40 -> 27 MiB of heap
 * without them), though nothing the daemon runs reads them.
 */
class StatusPairs implements ReadonlyMap<string, string> {
  readonly #text: string;
  #pairs: ReadonlyMap<string, string> | undefined;
  constructor(text: string) {
    this.#text = text;
  }
  get #map(): ReadonlyMap<string, string> {
    return (this.#pairs ??= splitPairs(this.#text, ":").pairs);
  }
  get size(): number {
    return this.#map.size;
  }
  get(key: string): string | undefined {
    return this.#map.get(key);
  }
  has(key: string): boolean {
    return this.#map.has(key);
  }
  forEach(fn: (value: string, key: string, map: ReadonlyMap<string, string>) => void, thisArg?: unknown): void {
    this.#map.forEach((v, k) => fn.call(thisArg, v, k, this));
  }
  entries(): MapIterator<[string, string]> {
    return this.#map.entries();
  }
  keys(): MapIterator<string> {
    return this.#map.keys();
  }
  values(): MapIterator<string> {
    return this.#map.values();
  }
  [Symbol.iterator](): MapIterator<[string, string]> {
    return this.#map[Symbol.iterator]();
  }
}

export function parseProcStatus(text: string): ProcStatus {
  const { pairs, skippedLines } = splitPairs(text, ":");
  // Only the lines read as numbers below are converted (a real status has about 60 lines; a
  // decision parses one per task, and the daemon's standing decisions every task's often).
  const numeric = new Map<string, string>();
  for (const key of NUMERIC_STATUS_KEYS) {
    const value = pairs.get(key);
    if (value !== undefined) numeric.set(key, value);
  }
  const { values, kBKeys, notNumeric } = toNumbers(numeric);
  const { fields, unitMismatches } = pickFields(values, STATUS_NUMBERS, kBKeys);
  const malformed = notNumeric.filter((key) => KNOWN_STATUS_NUMBERS.has(key)).length;

  const required = (what: string): never => {
    throw parseError(`a valid "${what}:" line in /proc/<pid>/status`, text, truncationHint(text));
  };
  const id = (key: string, min: number): number => {
    const n = values.get(key);
    return n !== undefined && n >= min && n < PID_MAX_LIMIT && !kBKeys.has(key) ? n : required(key);
  };
  const name = pairs.get("Name") ?? required("Name");
  const state = /^([A-Za-z])(\s|$)/.exec(pairs.get("State") ?? "")?.[1] ?? required("State");
  const capHex = pairs.get("CapEff")?.trim() ?? "";
  const kthread = pairs.get("Kthread")?.trim();
  // Field by field, not spread: a spread of the picked fields made this object the parse's costliest step.
  return {
    vmRssBytes: fields.vmRssBytes,
    rssAnonBytes: fields.rssAnonBytes,
    rssFileBytes: fields.rssFileBytes,
    rssShmemBytes: fields.rssShmemBytes,
    vmSwapBytes: fields.vmSwapBytes,
    vmPteBytes: fields.vmPteBytes,
    vmSizeBytes: fields.vmSizeBytes,
    threads: fields.threads,
    name,
    state,
    tgid: id("Tgid", 1),
    pid: id("Pid", 1),
    ppid: id("PPid", 0),
    uid: parseIds(pairs.get("Uid")) ?? required("Uid"),
    kthread: kthread === "1" ? true : kthread === "0" ? false : undefined,
    capEff: /^[0-9a-fA-F]{1,32}$/.test(capHex) ? BigInt(`0x${capHex}`) : undefined,
    raw: new StatusPairs(text),
    skippedLines: skippedLines + malformed + unitMismatches,
  };
}

/**
 * A status text with only the lines parseProcStatus reads (Name, State, the ids, the memory
 * figures, Threads, Kthread, CapEff), in their order, as a string of its own (no slice of `text`
 * that would keep it alive); `text` itself when any line is not a `Key:` line or the last has no
 * newline, so that a malformed or truncated text is kept whole and fails to parse as it would.
 * parseProcStatus gives the same figures for both; only `raw` holds fewer pairs (and
 * `skippedLines` does not count a repeated key it drops). The daemon's warm model keeps this of
 * each process (~300 bytes of a real status's ~1.4 KiB, 3,000 processes: ~3 MiB of heap): the rest
 * (signal masks, context switches, ...) is read by nothing, and changes all the time.
 */
export function compactProcStatus(text: string): string {
  if (!text.endsWith("\n")) return text;
  const kept: string[] = [];
  for (let at = 0; at < text.length; ) {
    const end = text.indexOf("\n", at);
    const colon = text.indexOf(":", at);
    const key = colon < 0 || colon > end ? "" : text.slice(at, colon);
    if (!isKey(key)) return text;
    if (STATUS_KEYS_READ.has(key)) kept.push(text.slice(at, end + 1));
    at = end + 1;
  }
  // join copies into one flat string: concatenation would make a rope of slices holding `text`.
  return kept.join("");
}

/** An integer that must not be clamped: oom figures are small, so a huge one is garbage. */
function parseExactInteger(text: string, expected: string): number {
  const n = parseSigned(singleToken(text, expected));
  if (n === undefined) throw parseError(expected, text);
  return n;
}

/** `/proc/<pid>/oom_score`: the kernel's badness, ≥ 0 (0..1000 before Linux 5.9, 0..2000 after). */
export function parseOomScore(text: string): number {
  const expected = "a non-negative integer";
  const n = parseExactInteger(text, expected);
  if (n < 0) throw parseError(expected, text);
  return n;
}

/** `/proc/<pid>/oom_score_adj`: an integer in -1000..1000 (OOM_SCORE_ADJ_MIN..MAX). */
export function parseOomScoreAdj(text: string): number {
  const expected = "an integer in -1000..1000";
  const n = parseExactInteger(text, expected);
  if (n < -1000 || n > 1000) throw parseError(expected, text);
  return n;
}

/**
 * `/proc/<pid>/cmdline`: NUL-separated arguments. Empty for kernel threads and zombies. A
 * process that rewrote its argv (setproctitle) may print one string with spaces and no NUL
 * (returned as one element) or pad with NULs; trailing empty arguments are dropped because they
 * cannot be told apart from that padding.
 */
export function parseCmdline(text: string): string[] {
  const args = text.split("\0");
  while (args.length > 0 && args[args.length - 1] === "") args.pop();
  return args;
}

/** What the kernel appends to the path of a file that was unlinked (d_path, fs/d_path.c). */
const DELETED_SUFFIX = " (deleted)";

/**
 * The text of the /proc/<pid>/exe link: the absolute path of the task's executable, or undefined
 * when the text names no file one can go by — the file was deleted or replaced since the task
 * started it (the kernel appends " (deleted)", as after a package upgrade; a file whose name
 * really ends so reads the same and is taken as deleted too), or the text is not an absolute path.
 */
export function parseExeLink(text: string): string | undefined {
  if (!text.startsWith("/") || text.endsWith(DELETED_SUFFIX)) return undefined;
  return text;
}

export interface ProcCgroup {
  /** The cgroup v2 path (the `0::` line), or undefined on a v1-only system. */
  readonly v2Path: string | undefined;
  /** v1 controller (`memory`, `cpuacct`, `name=systemd`) → path. */
  readonly v1: ReadonlyMap<string, string>;
  /** True when the kernel marked a path ` (deleted)`: the cgroup was removed (v2 only). */
  readonly deleted: boolean;
  /** Lines that were not `id:controllers:/path`, repeated `0::` lines, a truncated last line. */
  readonly skippedLines: number;
}

/**
 * Parses `/proc/<pid>/cgroup`: `hierarchy-id:controller,list:path` lines. Paths may contain `:`,
 * so the path is everything after the second colon. Never throws.
 */
export function parseProcCgroup(text: string): ProcCgroup {
  const split = splitLines(text);
  const v1 = new Map<string, string>();
  let v2Path: string | undefined;
  let deleted = false;
  let skippedLines = split.skippedLines;
  for (const line of split.lines) {
    const m = /^(\d+):([^:]*):(\/.*)$/.exec(line);
    const [, id, controllers = "", rawPath = ""] = m ?? [];
    const isV2 = id === "0" && controllers === "";
    const names = controllers.split(",").filter((c) => c !== "");
    if (m === null || (isV2 ? v2Path !== undefined : names.length === 0)) {
      skippedLines++;
      continue;
    }
    const gone = rawPath.endsWith(DELETED_SUFFIX) && rawPath.length > DELETED_SUFFIX.length;
    const path = gone ? rawPath.slice(0, -DELETED_SUFFIX.length) : rawPath;
    deleted ||= gone;
    if (isV2) v2Path = path;
    for (const name of names) v1.set(name, path);
  }
  return { v2Path, v1: v1.size === 0 ? NO_V1 : v1, deleted, skippedLines };
}

/** The v1 map of a task on a pure v2 machine (every task, there): one shared, not a Map each. */
const NO_V1: ReadonlyMap<string, string> = new Map();
