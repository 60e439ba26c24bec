/**
 * The warm model: the daemon's standing picture of the machine, kept current between troubles
 * so that a decision reads memory, not /proc.
 *
 * It is a Host (the engine's one seam to the machine) that remembers what was read through it:
 * file texts (of a process's status, only the lines oomkit reads: keptOf), folder listings,
 * stats and xattrs, and — through os/read.ts's ParsedCache — what the parsers made of each text,
 * so an unchanged file is neither read nor parsed again. A
 * snapshot taken over the model is therefore the same immutable, lazy snapshot policies already
 * see (no policy changes), and cheap: what no policy asked for was never read, and what was
 * asked for is served from here. A miss reads through to the machine and is kept from then on:
 * the model holds what policies ask for, and one thing more of its own accord: the
 * memory.current (and, once it moves, cgroup.procs) of every cgroup it knows of, so that growth
 * anywhere makes the growing tasks due (#watchUsageOf).
 *
 * `refresh(budgetMs)` re-reads what is due, within a CPU budget, cheapest and most telling first:
 * the process listing (new and exited pids) and machine-wide figures, then each cgroup's
 * memory.current and the figures of large, new and growing tasks (re-read more often than small
 * steady ones; the tasks of a cgroup whose usage moved at once), then the cgroup tree's
 * listings, then the rest. Everything is due after an interval divided by
 * `pace`: the daemon raises the pace as headroom shrinks or pressure rises, and lowers it when
 * idle. Entries of a pid that left the process list are dropped with it.
 *
 * Nothing here needs the model to be exact: a plan made on it is verified against the live
 * machine before anything is carried out (engine.ts `carryOut`). The model decides *who*; the
 * live check decides *whether*.
 */
import { isVanished } from "../errors.js";
import type { DirCursor, DirEntry, FileStat } from "../os/host.js";
import { HostDecorator } from "../os/host-decorator.js";
import { PROC, pidOfName } from "../os/paths.js";
import { type Host, type ParsedCache, workClockOf } from "../os/host.js";
import { compactProcStatus } from "../os/parse/proc.js";

/** How often each kind of entry is re-read at pace 1 (idle), in ms. */
export const REFRESH_INTERVALS_MS = Object.freeze({
  /** /proc and cgroup folder listings, cgroup.procs: who exists. */
  listing: 2_000,
  /** /proc/meminfo, /proc/vmstat, /proc/pressure/*: the machine's headroom. */
  machine: 2_000,
  /** A cgroup's memory.current: cheap, and it says where to look closer. */
  usage: 2_000,
  /** Other cgroup files and marks. */
  cgroup: 10_000,
  /**
   * The status/statm of a task that is large (≥ LARGE_TASK_BYTES resident or swapped), new (not
   * in /proc's listing before, for YOUNG_MS), or growing (its memory moved by 8 MiB or 5 % at
   * its last re-read, or its cgroup's usage moved): where a leak shows first.
   */
  taskLarge: 5_000,
  /** Everything else about a task (small tasks' memory; comm, cmdline, cgroup, oom_score_adj). */
  task: 30_000,
  /** Anything else (kernel release, swappiness, tmpfs listings). */
  other: 30_000,
});

/** A task this large is re-read at the `taskLarge` interval. */
export const LARGE_TASK_BYTES = 64 * 1024 * 1024;
/** A process that appeared in /proc's listing is re-read at the `taskLarge` interval for this long. */
export const YOUNG_MS = 60_000;
/** A cgroup whose memory.current moved this much (or 5 %) has its tasks' figures re-read at once. */
const USAGE_MOVE_BYTES = 8 * 1024 * 1024;
const USAGE_MOVE_FRACTION = 0.05;
/** A move smaller than this is no news to a decision, whatever its share (a small task breathing). */
const FIGURE_MOVE_FLOOR_BYTES = 1024 * 1024;

type EntryClass = keyof typeof REFRESH_INTERVALS_MS;
type Kind = "file" | "dir" | "stat" | "xattrs" | "exists";

type Outcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown };

/** One thing the model keeps: a file's text, a listing, a stat, xattrs or whether a path exists. */
class Entry {
  /**
   * The last read's outcome, as two fields: `ok`, and `held`, what it read when ok, else what it
   * threw. An object of its own per entry was ~40 bytes (~0.5 MiB of a 3,000-process model);
   * `outcome` makes one when asked.
   */
  ok: boolean;
  held: unknown;
  cls: EntryClass = "other";
  /** 0 forces a re-read at the next refresh. */
  dueAtMs = 0;
  /**
   * kind "file": what parsers made of the current text, held in the entry: the first parser and
   * its value, any others in `moreParsed`. Most files have one parser; a Map of one per kept file
   * was ~1.5 MiB of a 3,000-task model, and an object of two ~0.4 MiB.
   */
  parser: unknown = undefined;
  parsedValue: unknown = undefined;
  moreParsed: Map<unknown, unknown> | undefined = undefined;
  /** Which of the model's own figures this entry's text gives (a task's size, a stat's start time), by its path. */
  readonly source: FigureSource;
  /** Those figures for the current text, once read off it (#figures): undefined until then, and again when the text changes. */
  figures: TextFigures | undefined = undefined;

  constructor(
    readonly kind: Kind,
    readonly path: string,
    outcome: Outcome<unknown>,
    readonly pid: number | undefined,
  ) {
    this.ok = outcome.ok;
    this.held = outcome.ok ? outcome.value : outcome.error;
    this.source = figureSource(kind, pid, path);
  }

  /** The last read's outcome (a new object: one kept across a re-read is the outcome before it). */
  get outcome(): Outcome<unknown> {
    return this.ok ? { ok: true, value: this.held } : { ok: false, error: this.held };
  }
  set outcome(o: Outcome<unknown>) {
    this.ok = o.ok;
    this.held = o.ok ? o.value : o.error;
  }
}

/** status or statm ("task": resident + swapped bytes), stat (resident bytes and start time), or none. */
type FigureSource = "task" | "stat" | undefined;

/**
 * What the model itself reads off a kept text: a task's size (the visit order's, the growth and
 * significance checks') and a stat's start time (whether the pid names another process). Read
 * once per text: a status is re-read far more often than it changes, and each re-read used to
 * parse the same text up to five times (class, size, significance, for the text before and after).
 */
interface TextFigures {
  /** status or statm: resident + swapped bytes; stat: resident bytes (undefined when it cannot be found). */
  readonly bytes: number | undefined;
  /** stat: its start time field (or the whole text when it cannot be found). */
  readonly start: string | undefined;
}

const NO_FIGURES: TextFigures = Object.freeze({ bytes: undefined, start: undefined });

export interface RefreshStats {
  /** Entries re-read in this call. */
  readonly reads: number;
  /** Entries whose value changed. */
  readonly changed: number;
  /** Entries dropped with a pid or cgroup that is gone. */
  readonly dropped: number;
  /** True when the budget ran out with entries still due. */
  readonly behind: boolean;
  readonly ms: number;
}

export interface ModelStats {
  readonly entries: number;
  readonly hits: number;
  readonly misses: number;
  /** Re-reads by refresh() since the model was made. */
  readonly refreshReads: number;
  /** Milliseconds refresh() has spent, in total. */
  readonly refreshMs: number;
  readonly generation: number;
  readonly structureGeneration: number;
  readonly figuresGeneration: number;
  /** Parsed values kept beside the files' texts (ParsedCache), over all files. */
  readonly parsedValues: number;
}

/** Parsed values kept per file text (one per parser; a file has one or two). */
export const MAX_PARSERS_PER_FILE = 4;

const parsedOf = (e: Entry, parse: unknown): unknown => (e.parser === undefined ? undefined : e.parser === parse ? e.parsedValue : e.moreParsed?.get(parse));
const parsedCount = (e: Entry): number => (e.parser === undefined ? 0 : 1 + (e.moreParsed?.size ?? 0));

/** Forgets what parsers made of an entry's text (it changed). */
function clearParsed(e: Entry): void {
  e.parser = undefined;
  e.parsedValue = undefined;
  e.moreParsed = undefined;
}

/**
 * Keeps `parse`'s value of an entry's text. Parsers are module-level functions, a handful per
 * file. A parser made per call (a closure) would be a new key each time, and what it closed over
 * (a snapshot's nodes, on a 10,000-task machine megabytes a decision) would be kept until the
 * text changed: past MAX_PARSERS_PER_FILE the others are let go.
 */
function keepParsed(e: Entry, parse: unknown, value: unknown): void {
  if (e.parser === undefined || e.parser === parse) {
    e.parser = parse;
    e.parsedValue = value;
    return;
  }
  if (!(e.moreParsed?.has(parse) ?? false) && parsedCount(e) >= MAX_PARSERS_PER_FILE) {
    e.parser = parse;
    e.parsedValue = value;
    e.moreParsed = undefined;
    return;
  }
  e.moreParsed = new Map(e.moreParsed).set(parse, value);
}

const PID_FILE = /^\/proc\/([0-9]+)(?:\/|$)/;

/**
 * Entries read at a time when /proc's listing is re-read in parts (Host.openDir): its 10,000
 * entries took 5-12 ms as one read on the fixture machine of bench/standing.bench.ts, a stretch a
 * trigger had to wait out. A part of 256 (with the names noted as they come, so that the end of
 * the listing has little left to work out) took 0.5-0.8 ms there, and the refresh can stop for an
 * event between two parts; 512 took about twice that.
 */
export const LISTING_PART = 256;
/** A listing stopped between parts and not gone on with for this long is read again from the start. */
const PARTIAL_MAX_MS = 2_000;

/** A listing being re-read in parts: the entry, the open listing and what it gave so far. */
interface PartialListing {
  readonly e: Entry;
  readonly cursor: DirCursor;
  readonly entries: DirEntry[];
  /** The names read so far, and the pids among them the listing kept did not hold (when its names are known: ProcNames). */
  readonly names: Set<string>;
  readonly came: number[] | undefined;
  /** The names of the listing kept when the re-read began. */
  readonly kept: ReadonlySet<string> | undefined;
  /** On the model's clock. */
  readonly startedAtMs: number;
}

/** The names in /proc's listing the model keeps (`of`: that listing), made by a re-read in parts as it goes. */
interface ProcNames {
  readonly of: unknown;
  readonly names: ReadonlySet<string>;
}

/** What a re-read in parts of /proc's listing found as it went: the names listed, and the pids that came. */
interface ListedParts {
  readonly names: Set<string>;
  readonly came: readonly number[] | undefined;
}

/** What one re-read did: whether the entry changed, what that signifies, how many entries it dropped along. */
interface Reread {
  readonly changed: boolean;
  readonly significant: Significance;
  readonly dropped: number;
}

export class WarmModel extends HostDecorator implements ParsedCache {
  readonly #maps: Record<Kind, Map<string, Entry>> = { file: new Map(), dir: new Map(), stat: new Map(), xattrs: new Map(), exists: new Map() };
  /** pid → its entries, so a pid that leaves takes them along (an array: a Set each was ~180 bytes a process). */
  readonly #byPid = new Map<number, Entry[]>();
  /** What is due next, one queue per rank (listings first): a refresh never scans every entry. */
  readonly #queues: DueQueue[] = [new DueQueue(), new DueQueue(), new DueQueue(), new DueQueue()];
  /**
   * What a change made due at once (a cgroup's usage moved: its process list, its tasks'
   * figures), ahead of every rank: read first by refresh, and by refreshUrgent before a plan.
   */
  readonly #urgent = new DueQueue();
  /** Whether refresh's last read was an urgent one: the next is not, when anything else is due. */
  #lastUrgent = false;
  #pace = 1;
  #hits = 0;
  #misses = 0;
  #refreshReads = 0;
  #refreshMs = 0;
  #generation = 0;
  #structureGeneration = 0;
  #figuresGeneration = 0;
  /** Changed entries, counted: anything the model holds may read differently once this moved. */
  #version = 0;
  /** Tasks (pid) and cgroups (folder) whose memory figures changed since takeMoved() last ran. */
  #movedPids = new Set<number>();
  #movedCgroups = new Set<string>();
  /** The kept memory.current entries: the cgroups' sizes, for cgroupsAbove. */
  readonly #usage = new Set<Entry>();
  /**
   * A listing re-read in parts (Host.openDir) and stopped between two of them: it goes on first at
   * the next refresh, from where it was (see LISTING_PART).
   */
  #partial: PartialListing | undefined;
  /** The names of /proc's listing kept, where a re-read in parts made them (the next one compares with them part by part). */
  #procNames: ProcNames | undefined;
  /** pid → until when it counts as new (it appeared in a re-read of /proc's listing). */
  readonly #young = new Map<number, number>();
  /** pid → resident + swapped bytes from its kept status or statm text: the visit order's sizes. */
  readonly #taskBytes = new Map<number, number>();
  /** pid → resident bytes from its kept stat (every listed task's): the size of one not looked at closer. */
  readonly #statBytes = new Map<number, number>();
  /** The kept machine-wide figures (meminfo, vmstat, pressure): refreshMachine's few entries. */
  readonly #machine = new Set<Entry>();
  readonly #cgroupMount: string | undefined;
  /** The mount with its slash, made once: every re-read asks whether its path lies under it. */
  readonly #cgroupPrefix: string | undefined;

  /** `cgroupMount`: where the v2 tree is, so cgroup files can be told from the rest. */
  constructor(inner: Host, cgroupMount?: string) {
    super(inner);
    this.#cgroupMount = cgroupMount?.replace(/\/+$/, "");
    this.#cgroupPrefix = this.#cgroupMount === undefined ? undefined : `${this.#cgroupMount}/`;
  }

  override get parsedCache(): ParsedCache {
    return this;
  }

  /**
   * Rises by one each time a refresh finds a change that can alter a decision: a structural one
   * (structureGeneration) or a memory figure (a cgroup's usage, a task's resident and swapped
   * memory) that moved by 8 MiB or 5 % (at least 1 MiB; figuresGeneration). Figures that move
   * all the time on a live machine — meminfo, vmstat, pressure, CPU times, memory.stat — do not
   * count by themselves: counting them made every plan be made again every few seconds on an
   * idle machine.
   */
  get generation(): number {
    return this.#generation;
  }

  /**
   * Rises by one each time a refresh finds a change to what exists or how it is set: a process
   * that came (one that went matters to a plan only if the plan named it, which its figures
   * show), a pid now naming another process, a cgroup that came or went, a name, command line,
   * oom_score_adj, mark or cgroup setting that changed. A standing plan made before such a change
   * is made again (daemon/standing.ts): whatever a policy weighs besides sizes may have changed.
   */
  get structureGeneration(): number {
    return this.#structureGeneration;
  }

  /**
   * Rises by one each time a refresh finds a memory figure that moved by 8 MiB or 5 % (a task's
   * resident and swapped memory, a cgroup's usage or swap). A standing plan outlives these as
   * long as the trigger's own check would still accept it (daemon/redecide.ts).
   */
  get figuresGeneration(): number {
    return this.#figuresGeneration;
  }

  /** Rises with every entry whose value changed, significant or not: the model may read differently. */
  get version(): number {
    return this.#version;
  }

  /**
   * The tasks (pids) and cgroups (folders) whose memory figures (status or statm; memory.current
   * or memory.swap.current) changed, by any amount, since the last call; the sets start empty
   * again. What a standing plan's check looks at instead of every task (daemon/redecide.ts).
   */
  takeMoved(): { readonly pids: ReadonlySet<number>; readonly cgroups: ReadonlySet<string> } {
    const moved = { pids: this.#movedPids, cgroups: this.#movedCgroups };
    this.#movedPids = new Set();
    this.#movedCgroups = new Set();
    return moved;
  }

  /**
   * Makes the kept memory.current of `dir` and of every cgroup below it due at once (read first
   * by refreshUrgent and refresh): the machine's figures showed growth that no usage re-read has
   * placed yet, and a plan made now must not be made on the figures from before it.
   */
  urgeUsageUnder(dir: string): void {
    for (const e of this.#usage) {
      if (this.#maps.file.get(e.path) !== e) continue;
      if (e.path.startsWith(`${dir}/`)) this.#urge(e);
    }
  }

  /** The kept text of a file, without reading anything; undefined when none is kept (or its read failed). */
  keptText(p: string): string | undefined {
    const e = this.#maps.file.get(p);
    return e?.ok ? String(e.held) : undefined;
  }

  /** The pids whose kept size (taskBytes) is above `bytes`: the tasks a plan's victim was already smaller than. */
  tasksAbove(bytes: number): number[] {
    const out: number[] = [];
    for (const [pid, b] of this.#statBytes) if (b > bytes && !this.#taskBytes.has(pid)) out.push(pid);
    for (const [pid, b] of this.#taskBytes) if (b > bytes) out.push(pid);
    return out;
  }

  /** The cgroup folders whose kept memory.current is above `bytes`. */
  cgroupsAbove(bytes: number): string[] {
    const out: string[] = [];
    for (const e of this.#usage) {
      if (this.#maps.file.get(e.path) !== e) {
        this.#usage.delete(e);
        continue;
      }
      if (e.ok && Number(String(e.held).trim()) > bytes) out.push(e.path.slice(0, -"/memory.current".length));
    }
    return out;
  }

  get pace(): number {
    return this.#pace;
  }
  /** 1 idle; higher re-reads everything that many times as often (the daemon sets it from headroom and pressure). */
  set pace(p: number) {
    this.#pace = Number.isFinite(p) && p >= 1 ? Math.min(p, 50) : 1;
  }

  get stats(): ModelStats {
    let entries = 0;
    for (const m of Object.values(this.#maps)) entries += m.size;
    let parsedValues = 0;
    for (const e of this.#maps.file.values()) parsedValues += parsedCount(e);
    return { entries, parsedValues, hits: this.#hits, misses: this.#misses, refreshReads: this.#refreshReads, refreshMs: this.#refreshMs, generation: this.#generation, structureGeneration: this.#structureGeneration, figuresGeneration: this.#figuresGeneration };
  }

  // ---- serving reads ----

  override readFile(p: string): string {
    return this.#serve("file", p, () => super.readFile(p)) as string;
  }
  override readDir(p: string): DirEntry[] {
    // Callers may sort or filter what they get: hand out a copy of the kept listing.
    return [...(this.#serve("dir", p, () => listing(this.inner, p)) as DirEntry[])];
  }
  override stat(p: string): FileStat {
    return this.#serve("stat", p, () => super.stat(p)) as FileStat;
  }
  override readXattrs(p: string): ReadonlyMap<string, string> {
    return this.#serve("xattrs", p, () => super.readXattrs(p)) as ReadonlyMap<string, string>;
  }
  override exists(p: string): boolean {
    return this.#serve("exists", p, () => super.exists(p)) as boolean;
  }
  override writeFile(p: string, data: string): void {
    this.#forget(p);
    super.writeFile(p, data);
  }
  override async writeFileAsync(p: string, data: string): Promise<void> {
    this.#forget(p);
    await super.writeFileAsync(p, data);
  }

  /** ParsedCache: what `parse` made of the kept text of `path`, computed once per text. */
  parsed<T>(path: string, parse: (text: string) => T, compute: () => T | undefined): T | undefined {
    const before = this.#maps.file.get(path);
    const hit = before === undefined ? undefined : parsedOf(before, parse);
    if (before && hit !== undefined && before.ok) return hit as T;
    const value = compute();
    // Kept only for a text the model now holds (a read that failed is not kept, nor its result).
    const e = this.#maps.file.get(path);
    if (e && e.ok && value !== undefined) keepParsed(e, parse, value);
    return value;
  }

  #serve(kind: Kind, p: string, read: () => unknown): unknown {
    const e = this.#maps[kind].get(p);
    if (e) {
      this.#hits++;
      if (e.ok) return e.held;
      throw e.held;
    }
    this.#misses++;
    const outcome = keptOf(kind, p, attempt(read));
    // An error other than "gone" (EIO, ENOMEM, ...) is not kept: the next read tries again.
    if (outcome.ok || isVanished(outcome.error)) this.#keep(kind, p, outcome);
    if (outcome.ok) return outcome.value;
    throw outcome.error;
  }

  #keep(kind: Kind, p: string, outcome: Outcome<unknown>): Entry {
    const now = this.clock.monotonicMs();
    const m = PID_FILE.exec(p);
    const pid = m ? Number(m[1]) : undefined;
    const e = new Entry(kind, p, outcome, pid);
    e.cls = this.#classify(e, undefined, now);
    this.#maps[kind].set(p, e);
    this.#schedule(e, now + this.#interval(e));
    this.#noteBytes(e);
    // A new array of the exact length (concat): push, or a spread, grows one to a capacity of 17.
    if (pid !== undefined) this.#byPid.set(pid, (this.#byPid.get(pid) ?? []).concat(e));
    this.#watchUsageOf(e);
    if (e.cls === "machine") this.#machine.add(e);
    if (e.cls === "usage") this.#usage.add(e);
    return e;
  }

  /**
   * Every cgroup the model comes to know of — one a kept file or listing lies in, one a kept
   * listing holds, one a task's kept /proc/PID/cgroup names — has its memory.current kept too,
   * whether or not a policy asked for it: a cheap read, re-read every `usage` interval, and the
   * one that makes a cgroup's growing tasks due at once (#usageMoved). Without it a task first
   * read small and growing later stayed ranked by its old figures until its `task` interval
   * (30 s ÷ pace), and a plan made ahead named the wrong victim (the simulator found it).
   */
  #watchUsageOf(e: Entry): void {
    const mount = this.#cgroupMount;
    if (mount === undefined || !e.ok) return;
    if (e.kind === "file" && e.pid !== undefined && e.path.endsWith("/cgroup")) {
      const line = /^0::(\/[^\n]*)$/m.exec(String(e.held));
      if (line?.[1] !== undefined) this.#watchUsage(mount + (line[1] === "/" ? "" : line[1]));
      return;
    }
    if (e.path !== mount && !e.path.startsWith(this.#cgroupPrefix as string)) return;
    if (e.kind === "dir") {
      this.#watchUsage(e.path);
      for (const d of e.held as DirEntry[]) if (d.isDirectory) this.#watchUsage(`${e.path}/${d.name}`);
    } else if (e.kind === "file") {
      this.#watchUsage(e.path.slice(0, e.path.lastIndexOf("/")));
    }
  }

  /** Keeps `dir`'s memory.current (read now, if not kept yet); the root cgroup has none. */
  #watchUsage(dir: string): void {
    if (dir === this.#cgroupMount || dir.includes("/../") || dir.endsWith("/..")) return;
    this.#keepOwn(`${dir}/memory.current`);
  }

  /** Reads and keeps a file no policy asked for yet (counted as a miss: a read of the machine). */
  #keepOwn(p: string): Entry | undefined {
    const kept = this.#maps.file.get(p);
    if (kept) return kept;
    this.#misses++;
    const outcome = keptOf("file", p, attempt(() => this.inner.readFile(p)));
    return outcome.ok || isVanished(outcome.error) ? this.#keep("file", p, outcome) : undefined;
  }

  #forget(p: string): void {
    for (const m of Object.values(this.#maps)) {
      const e = m.get(p);
      if (e) this.#drop(e);
    }
  }

  #drop(e: Entry): void {
    this.#maps[e.kind].delete(e.path);
    const kept = e.pid === undefined ? undefined : this.#byPid.get(e.pid);
    const at = kept?.indexOf(e) ?? -1;
    if (at >= 0) kept?.splice(at, 1);
  }

  /**
   * The resident + swapped bytes of a task as the model last read them (its status or statm),
   * without reading anything; undefined when the model holds neither (a process no decision has
   * looked at yet: new, or never reached). Decisions visit tasks largest first by it
   * (engine/visit-order.ts), so one cut short by its deadline has covered the big ones.
   */
  taskBytes(pid: number): number | undefined {
    return this.#taskBytes.get(pid) ?? this.#statBytes.get(pid);
  }

  /** Keeps a status, statm or stat text's size for taskBytes. */
  #noteBytes(e: Entry): void {
    if (e.pid === undefined || e.source === undefined) return;
    const into = e.source === "task" ? this.#taskBytes : this.#statBytes;
    const bytes = this.#figures(e).bytes;
    if (bytes !== undefined) into.set(e.pid, bytes);
    else into.delete(e.pid);
  }

  /** The model's own figures of an entry's current text, read off it once per text. */
  #figures(e: Entry): TextFigures {
    return (e.figures ??= figuresOf(e.source, e.outcome));
  }

  /** `was`: the figures of the text a re-read replaced, when it changed (undefined: unchanged, or a first read). */
  #classify(e: Entry, was: TextFigures | undefined, now: number): EntryClass {
    const { kind, path: p } = e;
    const mount = this.#cgroupMount;
    const inCgroups = mount !== undefined && (p === mount || p.startsWith(this.#cgroupPrefix as string));
    if (kind === "dir" && (p === "/proc" || inCgroups)) return "listing";
    if (inCgroups) {
      if (p.endsWith("/cgroup.procs")) return "listing";
      if (p.endsWith("/memory.current")) return "usage";
      return "cgroup";
    }
    if (p === "/proc/meminfo" || p === "/proc/vmstat" || p.startsWith("/proc/pressure/")) return "machine";
    if (e.pid !== undefined) {
      const bytes = e.source === "task" ? this.#figures(e).bytes : undefined;
      if (bytes !== undefined) {
        const young = (this.#young.get(e.pid) ?? 0) > now;
        // An unchanged text did not move (was is undefined); a first read or a failed one before is no growth.
        const growing = was?.bytes !== undefined && movedMuch(was.bytes, bytes);
        if (bytes >= LARGE_TASK_BYTES || young || growing) return "taskLarge";
      }
      return "task";
    }
    return "other";
  }

  #interval(e: Entry): number {
    return REFRESH_INTERVALS_MS[e.cls] / this.#pace;
  }

  // ---- keeping it current ----

  /**
   * Re-reads what is due, most telling first (see `rank`), until `budgetMs` on the Host's work clock is spent
   * (at least one read happens). A pid missing from /proc's listing takes its entries along, and
   * a new one is young; a cgroup whose usage moved makes its tasks due. Within a rank, the
   * entry due longest goes first; a lower rank's entry overdue by more than its grace
   * (RANK_GRACE_MS) goes ahead of a higher rank's less overdue, so none starves. `stop`, asked
   * after each read: true ends the slice there (an event waits for the thread; what is still due
   * stays first in line).
   */
  refresh(budgetMs: number, stop?: () => boolean): RefreshStats {
    const now = this.clock.monotonicMs();
    // What a change made urgent goes first, but every other read at most: a parent whose usage
    // moves all the time makes its hundreds of children's usage urgent each time (a crowded
    // machine), and the listings and the machine's figures must still come in turn.
    // (Counted across calls: a slice of one read alternates with the next.)
    return this.#drain(budgetMs, () => {
      const normal = this.#lastUrgent ? this.#nextQueue(now) : undefined;
      const q = normal ?? (this.#urgent.peekDue(now) !== undefined ? this.#urgent : this.#nextQueue(now));
      this.#lastUrgent = q === this.#urgent;
      return q;
    }, stop);
  }

  /**
   * Reads from the queue `next` names (undefined: nothing is due) until `budgetMs` on the Host's
   * work clock is spent (a simulated machine's reads cost virtual time, so the budget buys the
   * same reads on every run), at least one read; an entry popped past the budget is put back first
   * in line. The generation rises when a read found a change that can alter a decision.
   */
  #drain(budgetMs: number, next: () => DueQueue | undefined, stop?: () => boolean): RefreshStats {
    const work = workClockOf(this);
    const t0 = work.monotonicMs();
    const now = this.clock.monotonicMs();
    let reads = 0;
    let changed = 0;
    const seen = new Significant();
    let dropped = 0;
    let behind = false;
    const enough = () => work.monotonicMs() - t0 >= budgetMs || stop?.() === true;
    const note = (r: Reread) => {
      if (r.changed) changed++;
      seen.note(r.significant);
      dropped += r.dropped;
    };
    // A listing stopped between two parts goes on first (it was due before anything now due).
    const partial = this.#partial;
    if (partial !== undefined) {
      this.#partial = undefined;
      if (this.#maps.dir.get(partial.e.path) !== partial.e || now - partial.startedAtMs > PARTIAL_MAX_MS) {
        // Dropped meanwhile, or begun too long ago to be one listing: read again from the start.
        partial.cursor.close();
        if (this.#maps.dir.get(partial.e.path) === partial.e) this.#schedule(partial.e, 0);
      } else {
        reads++;
        const r = this.#listOn(partial, now, enough);
        if (r === undefined) behind = true;
        else note(r);
      }
    }
    for (; !behind; ) {
      const q = next();
      if (q === undefined) break;
      const e = q.popDue(now) as Entry;
      if (this.#maps[e.kind].get(e.path) !== e) continue; // dropped along the way
      // Past the budget, or (after one read, so that every slice gets somewhere) an event waits.
      if (reads > 0 && enough()) {
        q.push(e); // still due: first in line next time
        behind = true;
        break;
      }
      reads++;
      const r = this.#inParts(e) ? this.#listInParts(e, now, enough) : this.#reread(e, now);
      if (r === undefined) {
        behind = true; // stopped between two parts of a listing: it goes on next time
        break;
      }
      note(r);
    }
    const ms = work.monotonicMs() - t0;
    this.#refreshReads += reads;
    this.#refreshMs += ms;
    this.#count(seen);
    return { reads, changed, dropped, behind, ms };
  }

  /** Raises the generations for what one refresh saw (once each, however many entries). */
  #count(seen: Significant): void {
    if (seen.structure) this.#structureGeneration++;
    if (seen.figures) this.#figuresGeneration++;
    if (seen.structure || seen.figures) this.#generation++;
  }

  /**
   * Re-reads, now, every kept listing of `dir` and of the folders below it (the cgroup tree a
   * decision walked), whatever their due time; returns how many changed (a cgroup came or went).
   * The standing decisions' check that a plan saw every cgroup of its scope.
   */
  refreshListingsUnder(dir: string): number {
    const now = this.clock.monotonicMs();
    const under = [...this.#maps.dir.values()].filter((e) => e.path === dir || e.path.startsWith(`${dir}/`));
    let changed = 0;
    const seen = new Significant();
    for (const e of under) {
      if (this.#maps.dir.get(e.path) !== e) continue; // dropped with a folder above it
      const r = this.#reread(e, now);
      if (r.changed) changed++;
      seen.note(r.significant);
    }
    this.#refreshReads += under.length;
    this.#count(seen);
    return changed;
  }

  /**
   * Re-reads what a change made due at once (`#usageMoved`: a cgroup's process list and its
   * tasks' figures), until `budgetMs` on the Host's work clock is spent (at least one read when
   * any is due); the rest stays first in line. Called before a plan is made: a usage move seen
   * by a refresh may make a plan due (daemon/redecide.ts), and that plan must not be made
   * on the figures the move just showed to be stale (the VM's daemon-zram: three plans in a row
   * named a 32 MiB bystander while the leak's own figures waited for the next refresh slice).
   * `stop`, asked before each read: true ends the reads there (an event waits for the thread).
   */
  refreshUrgent(budgetMs: number, stop?: () => boolean): RefreshStats {
    const now = this.clock.monotonicMs();
    return this.#drain(budgetMs, () => (this.#urgent.peekDue(now) !== undefined && stop?.() !== true ? this.#urgent : undefined));
  }

  /**
   * The queue to read from next: the one whose due head is most overdue, less its rank's grace
   * (RANK_GRACE_MS ÷ pace), so the ranks order what is read first (a tie goes to the lower rank)
   * and none waits forever behind another; undefined when nothing is due.
   */
  #nextQueue(now: number): DueQueue | undefined {
    let best: DueQueue | undefined;
    let bestScore = Number.NEGATIVE_INFINITY;
    // By index: an entries() iterator and its pairs were made at every read of a refresh.
    for (let i = 0; i < this.#queues.length; i++) {
      const q = this.#queues[i] as DueQueue;
      const head = q.peekDue(now);
      if (head === undefined) continue;
      const score = now - head.dueAtMs - (RANK_GRACE_MS[i] ?? 0) / this.#pace;
      if (score > bestScore) {
        best = q;
        bestScore = score;
      }
    }
    return best;
  }

  /**
   * Re-reads only the machine-wide figures that are due (a few small files): what the daemon's
   * pace is set from. Between full refreshes that rest for seconds, the pace still follows the
   * machine, and with it how soon the next full refresh comes. Returns the reads made.
   */
  refreshMachine(): number {
    const now = this.clock.monotonicMs();
    let reads = 0;
    for (const e of this.#machine) {
      if (this.#maps[e.kind].get(e.path) !== e) {
        this.#machine.delete(e);
        continue;
      }
      if (e.dueAtMs > now) continue;
      reads++;
      this.#reread(e, now);
    }
    this.#refreshReads += reads;
    return reads;
  }

  /** Makes an entry due at once, ahead of every rank (the urgent queue: due time 0). */
  #urge(e: Entry): void {
    if (e.dueAtMs === 0) return; // queued already: one copy is read once
    this.#schedule(e, 0);
  }

  /** Sets when an entry is next due, and queues it in its rank's queue (the urgent one for 0). */
  #schedule(e: Entry, dueAtMs: number): void {
    e.dueAtMs = dueAtMs;
    (dueAtMs === 0 ? this.#urgent : this.#queues[rank(e)])?.push(e);
  }

  #reread(e: Entry, now: number): Reread {
    // Read whole now: a re-read of it in parts under way would bring an older listing after this one.
    if (this.#partial?.e === e) {
      this.#partial.cursor.close();
      this.#partial = undefined;
    }
    // Read whole, /proc's listing leaves no names: the next re-read in parts works out who came at its end.
    if (e.kind === "dir" && e.path === PROC) this.#procNames = undefined;
    let read: Outcome<unknown>;
    try {
      read = { ok: true, value: readAgain(this.inner, e) };
    } catch (error) {
      read = { ok: false, error };
    }
    return this.#applyRead(e, now, read);
  }

  /**
   * Whether an entry is re-read in parts: /proc's listing (the one that grows with the machine), from
   * a Host that lists in parts. Cgroup folders are read whole: a few dozen entries each, and kept
   * in readDir's order, which policies see.
   */
  #inParts(e: Entry): boolean {
    return e.kind === "dir" && e.path === PROC && this.inner.openDir !== undefined;
  }

  /** Begins re-reading a listing in parts; as #listOn. */
  #listInParts(e: Entry, now: number, enough: () => boolean): Reread | undefined {
    let cursor: DirCursor;
    try {
      cursor = (this.inner.openDir as (p: string) => DirCursor).call(this.inner, e.path);
    } catch (error) {
      return this.#applyRead(e, now, { ok: false, error });
    }
    const kept = this.#procNames !== undefined && e.ok && this.#procNames.of === e.held ? this.#procNames.names : undefined;
    return this.#listOn({ e, cursor, entries: [], startedAtMs: now, names: new Set(), came: kept === undefined ? undefined : [], kept }, now, enough);
  }

  /**
   * Reads a listing's parts, at least one, until it ends (then it is a re-read like any other) or
   * `enough` says to stop between two parts: then undefined, and it goes on at the next refresh.
   */
  #listOn(p: PartialListing, now: number, enough: () => boolean): Reread | undefined {
    for (let first = true; ; first = false) {
      if (!first && enough()) {
        this.#partial = p;
        return undefined;
      }
      let part: DirEntry[];
      try {
        part = p.cursor.next(LISTING_PART);
      } catch (error) {
        p.cursor.close();
        return this.#applyRead(p.e, now, { ok: false, error });
      }
      if (part.length === 0) return this.#applyRead(p.e, now, { ok: true, value: p.entries }, { names: p.names, came: p.came });
      // What the end of the listing would otherwise work out over all of it at once: the names
      // listed, and which of them are new (a pid's folder only: digits).
      for (const d of part) {
        p.entries.push(d);
        p.names.add(d.name);
        if (p.came !== undefined && !p.kept?.has(d.name)) {
          const pid = pidOfName(d.name);
          if (pid !== undefined) p.came.push(pid);
        }
      }
    }
  }

  /** A re-read's outcome (`read`) applied to its entry: kept, compared, classed and scheduled, and what it changed followed. */
  #applyRead(e: Entry, now: number, read: Outcome<unknown>, parts?: ListedParts): Reread {
    const outcome = keptOf(e.kind, e.path, read);
    if (!outcome.ok && !isVanished(outcome.error)) {
      // A passing I/O error: keep what was known, try again at the next interval.
      this.#schedule(e, now + this.#interval(e));
      return { changed: false, significant: undefined, dropped: 0 };
    }
    const changed = !sameAsKept(e, outcome);
    // What was kept before (an object made only for a change: most re-reads find none).
    const previous = changed ? e.outcome : UNCHANGED;
    // The figures of the text being replaced, read off it once (kept from an earlier re-read, mostly).
    const was = changed ? this.#figures(e) : undefined;
    // Unchanged, the value kept stays: the parsed values hold it (a status's StatusPairs its
    // text), and a copy read anew beside it was a second text per process. A stat is compared
    // by some of its fields only: the one read now is kept.
    if (changed || e.kind === "stat") e.outcome = outcome;
    // The names of the listing now kept, as the parts that read it found them (changed or not).
    if (parts !== undefined && e.ok) this.#procNames = { of: e.held, names: parts.names };
    if (changed) {
      clearParsed(e);
      e.figures = undefined;
    }
    e.cls = this.#classify(e, was, now);
    this.#schedule(e, now + this.#interval(e));
    if (changed) {
      this.#version++;
      this.#noteBytes(e);
      this.#noteMoved(e);
    }
    let dropped = 0;
    let came = false;
    if (changed && e.kind === "dir" && e.path === "/proc") {
      dropped += this.#dropGonePids(outcome, parts?.names);
      came = (parts?.came !== undefined ? this.#noteYoung(parts.came, now) : this.#noteNewPids(previous, outcome, now)) > 0;
    }
    // What a move's own reads found (its process list, read at once) is news like any other.
    let found: Significance = undefined;
    if (changed && e.cls === "usage") found = this.#usageMoved(e, previous, outcome, now);
    if (changed && previous.ok && this.#isCgroupPath(e.path)) dropped += this.#dropGoneCgroups(e, previous, outcome);
    if (changed) this.#watchUsageOf(e); // a new child cgroup, a task that moved
    if (changed && e.kind === "dir" && previous.ok && outcome.ok && this.#isCgroupPath(e.path)) found = stronger(found, this.#newcomers(e.path, previous, outcome, now));
    // /proc's listing: only a process that came is news (one that went and was no plan's
    // target leaves every plan as it was; a target's going shows in the plan's own figures).
    const own = !changed ? undefined : e.kind === "dir" && e.path === "/proc" && previous.ok && outcome.ok ? (came ? "structure" : undefined) : significanceOf(e, previous, outcome, was ?? NO_FIGURES, this.#figures(e));
    return { changed, significant: stronger(own, found), dropped };
  }

  /** Notes a task's or cgroup's changed memory figure for takeMoved. */
  #noteMoved(e: Entry): void {
    if (e.kind !== "file") return;
    if (e.pid !== undefined) {
      if (e.path.endsWith("/status") || e.path.endsWith("/statm")) this.#movedPids.add(e.pid);
    } else if (e.cls === "usage") this.#movedCgroups.add(e.path.slice(0, -"/memory.current".length));
    else if (e.path.endsWith("/memory.swap.current") && this.#isCgroupPath(e.path)) this.#movedCgroups.add(e.path.slice(0, -"/memory.swap.current".length));
  }

  #isCgroupPath(p: string): boolean {
    const mount = this.#cgroupMount;
    return mount !== undefined && (p === mount || p.startsWith(this.#cgroupPrefix as string));
  }

  /**
   * A cgroup that is gone takes everything kept about it and below it along: a unit restarted
   * makes a new cgroup at the same path, and what the old one had (its marks above all: systemd
   * sets user.oomd_avoid as it starts the unit) must not be served for the new one. Seen either
   * as its memory.current vanishing or as its name leaving its parent's listing.
   */
  #dropGoneCgroups(e: Entry, before: Outcome<unknown>, after: Outcome<unknown>): number {
    if (e.cls === "usage") return after.ok ? 0 : this.#dropUnder(e.path.slice(0, -"/memory.current".length));
    if (e.kind !== "dir" || !before.ok || !after.ok) return 0;
    const listed = new Set((after.value as DirEntry[]).filter((d) => d.isDirectory).map((d) => d.name));
    let dropped = 0;
    for (const d of before.value as DirEntry[]) if (d.isDirectory && !listed.has(d.name)) dropped += this.#dropUnder(`${e.path}/${d.name}`);
    return dropped;
  }

  /** Drops every entry of `dir` and below it. */
  #dropUnder(dir: string): number {
    let dropped = 0;
    for (const m of Object.values(this.#maps)) {
      for (const [p, entry] of m) {
        if (p !== dir && !p.startsWith(`${dir}/`)) continue;
        this.#drop(entry);
        dropped++;
      }
    }
    return dropped;
  }

  /** These pids, new in /proc's listing, are young for YOUNG_MS; returns how many. */
  #noteYoung(came: readonly number[], now: number): number {
    for (const [pid, until] of this.#young) if (until <= now) this.#young.delete(pid);
    for (const pid of came) this.#young.set(pid, now + YOUNG_MS);
    return came.length;
  }

  /** Pids listed now and not before are young for YOUNG_MS (the first listing makes none young); returns how many. */
  #noteNewPids(before: Outcome<unknown>, after: Outcome<unknown>, now: number): number {
    for (const [pid, until] of this.#young) if (until <= now) this.#young.delete(pid);
    if (!before.ok || !after.ok) return 0;
    const known = new Set((before.value as DirEntry[]).map((d) => d.name));
    let came = 0;
    for (const d of after.value as DirEntry[]) {
      if (!/^[0-9]+$/.test(d.name) || known.has(d.name)) continue;
      this.#young.set(Number(d.name), now + YOUNG_MS);
      came++;
    }
    return came;
  }

  /** Drops the entries of every pid no longer listed in /proc. */
  #dropGonePids(listing: Outcome<unknown>, names?: ReadonlySet<string>): number {
    if (!listing.ok) return 0;
    const live = names ?? new Set((listing.value as DirEntry[]).map((d) => d.name));
    let dropped = 0;
    for (const [pid, kept] of this.#byPid) {
      if (live.has(String(pid))) continue;
      for (const e of kept) {
        this.#maps[e.kind].delete(e.path);
        dropped++;
      }
      this.#byPid.delete(pid);
      this.#taskBytes.delete(pid);
      this.#statBytes.delete(pid);
    }
    return dropped;
  }

  /**
   * Cgroups that appeared in a re-read listing: each is handled as one whose usage moved from
   * nothing (its process list read now, its tasks' figures and the /proc listing due at once). A
   * cgroup made while the machine runs out of memory is where a leak is likely to be (a job just
   * started), and its first memory.current read is no move: without this its tasks waited for
   * that usage to move again, and a plan made meanwhile named a bystander (the VM's daemon-zram
   * on 6.1: the new cgroup was seen, and the plan after it still did not hold the leak).
   */
  #newcomers(dir: string, before: Outcome<unknown>, after: Outcome<unknown>, now: number): Significance {
    if (!before.ok || !after.ok) return undefined;
    const known = new Set((before.value as DirEntry[]).filter((d) => d.isDirectory).map((d) => d.name));
    let found: Significance = undefined;
    for (const d of after.value as DirEntry[]) {
      if (!d.isDirectory || known.has(d.name)) continue;
      const usage = this.#maps.file.get(`${dir}/${d.name}/memory.current`);
      if (!usage?.outcome.ok) continue;
      // A move from nothing for takeMoved too: a plan judged on moves (daemon/redecide.ts) sees it.
      this.#noteMoved(usage);
      found = stronger(found, this.#usageMoved(usage, { ok: false, error: undefined }, usage.outcome, now));
    }
    return found;
  }

  /**
   * A cgroup's usage moved: its process list and its tasks' memory become due now. Returns what
   * the process list, re-read at once, showed (structure: a process that joined the cgroup).
   */
  #usageMoved(e: Entry, before: Outcome<unknown>, after: Outcome<unknown>, now: number): Significance {
    const was = before.ok ? Number(String(before.value).trim()) : Number.NaN;
    const is = after.ok ? Number(String(after.value).trim()) : Number.NaN;
    if (Number.isFinite(was) && Number.isFinite(is)) {
      const moved = Math.abs(is - was);
      if (moved < USAGE_MOVE_BYTES && moved < USAGE_MOVE_FRACTION * Math.max(was, 1)) return undefined;
    }
    const dir = e.path.slice(0, -"/memory.current".length);
    // What policies weigh a cgroup by (anon in memory.stat, swap) moved with it; and where it
    // moved: a parent's usage moves with its growing child's, so the children's usage is due at
    // once too, and the one that moved makes its own tasks due in turn.
    for (const f of ["memory.stat", "memory.swap.current"]) {
      const kept = this.#maps.file.get(`${dir}/${f}`);
      if (kept) this.#urge(kept);
    }
    const children = this.#maps.dir.get(dir);
    // A child made since the listing was read is where the move may come from: the listing is
    // due at once (it is read after the figures otherwise, and on a busy machine seconds late).
    if (children) this.#urge(children);
    if (children?.outcome.ok) {
      for (const d of children.outcome.value as DirEntry[]) {
        const usage = d.isDirectory ? this.#maps.file.get(`${dir}/${d.name}/memory.current`) : undefined;
        if (usage) this.#urge(usage);
      }
    }
    const pids = new Set<number>();
    // Who is in it, read now (one small file): a kept listing may predate the process that
    // moved the usage (a plan read the new cgroup between its mkdir and the leak joining it),
    // and a plan made on it would not see the leak at all. Kept from then on either way.
    const kept = this.#maps.file.get(`${dir}/cgroup.procs`);
    const found = kept ? this.#reread(kept, now).significant : undefined;
    const procs = kept ?? this.#keepOwn(`${dir}/cgroup.procs`);
    if (procs?.outcome.ok) {
      for (const line of String(procs.outcome.value).split("\n")) if (/^[0-9]+$/.test(line)) pids.add(Number(line));
    } else if (this.#cgroupMount !== undefined) {
      // Unreadable: its tasks are the ones whose kept /proc/PID/cgroup names it.
      const line = `0::${dir.slice(this.#cgroupMount.length) || "/"}\n`;
      for (const f of this.#maps.file.values()) {
        if (f.pid !== undefined && f.path.endsWith("/cgroup") && f.ok && String(f.held).includes(line)) pids.add(f.pid);
      }
    }
    // A process the kept /proc listing does not hold yet is new: the listing (where a decision
    // for the machine finds its tasks) is due at once too.
    // Only pids the model holds nothing of can be missing from it: the listing is searched for
    // those alone (it holds every process: 10,000 names on a large machine).
    const listing = this.#maps.dir.get("/proc");
    const unknown = [...pids].filter((pid) => !this.#byPid.has(pid));
    if (listing?.outcome.ok && unknown.length > 0) {
      const listed = new Set((listing.outcome.value as DirEntry[]).map((d) => d.name));
      if (unknown.some((pid) => !listed.has(String(pid)))) this.#urge(listing);
    }
    for (const pid of pids) {
      // status/statm: what policies size a task by; stat: the visit order's size of a task no
      // decision looked at closer (engine/visit-order.ts), and only of such a task. Where a
      // status or statm sizes it (taskBytes), a stat read now would change nothing a decision
      // uses: its start time (a pid naming another process) comes at the stat's own interval,
      // and the trigger checks it live.
      const sized = this.#taskBytes.has(pid);
      for (const t of this.#byPid.get(pid) ?? []) {
        if (t.kind !== "file") continue;
        if (t.path.endsWith("/status") || t.path.endsWith("/statm")) t.cls = "taskLarge"; // growing, as far as anyone can tell
        else if (sized || !t.path.endsWith("/stat")) continue;
        this.#urge(t);
      }
    }
    return found;
  }
}

/** Cgroup files that move all the time: counters, averages and breakdowns that usage stands for. */
const MOVING_CGROUP_FILES = ["/memory.stat", ".pressure", "/memory.events", "/memory.events.local", "/memory.swap.events", "/memory.peak", "/memory.swap.peak"];

/** What kind of news a changed entry is to a decision, if any (see WarmModel.generation). */
type Significance = "structure" | "figures" | undefined;

/** The weightier of two: structure over figures over none. */
function stronger(a: Significance, b: Significance): Significance {
  return a === "structure" || b === "structure" ? "structure" : (a ?? b);
}

/** Tallies the significance of one refresh's changes. */
class Significant {
  structure = false;
  figures = false;
  note(s: Significance): void {
    if (s === "structure") this.structure = true;
    else if (s === "figures") this.figures = true;
  }
}

/**
 * What kind of news a changed entry is to a decision: structure, a memory figure, or none.
 * `was` and `now`: the model's own figures of the text before and after (#figures).
 */
function significanceOf(e: Entry, before: Outcome<unknown>, after: Outcome<unknown>, was: TextFigures, now: TextFigures): Significance {
  // A process's file that vanished: the process went (see #reread on /proc's listing).
  if (!after.ok && e.pid !== undefined && before.ok) return undefined;
  if (!before.ok || !after.ok) return "structure"; // it appeared or went
  if (e.cls === "machine") return undefined;
  if (e.kind === "stat") return statSignificance(before.value as FileStat, after.value as FileStat);
  if (e.kind !== "file") return "structure";
  const p = e.path;
  const textBefore = String(before.value);
  const textAfter = String(after.value);
  if (e.cls === "usage" || p.endsWith("/memory.swap.current")) return movedMuch(Number(textBefore.trim()), Number(textAfter.trim())) ? "figures" : undefined;
  if (MOVING_CGROUP_FILES.some((f) => p.endsWith(f))) return undefined;
  // Who is in a cgroup: as with /proc's listing, only a process that came is news.
  if (p.endsWith("/cgroup.procs")) return cameInto(textBefore, textAfter) ? "structure" : undefined;
  if (e.pid !== undefined) {
    if (e.source === "task") return movedMuch(was.bytes as number, now.bytes as number) ? "figures" : undefined;
    // CPU times change all the time; the start time changes only when the pid names another process.
    if (e.source === "stat") return was.start !== now.start ? "structure" : undefined;
    if (p.endsWith("/oom_score")) return undefined;
  }
  return "structure";
}

/**
 * A stat's owner (who may set a cgroup's marks) or type is structure; a file's size (a tmpfs
 * file a policy may remove) a figure; its mtime alone is no news (a cgroup folder's moves with
 * every child made or removed, which its listing shows).
 */
function statSignificance(before: FileStat, after: FileStat): Significance {
  if (before.ownerUid !== after.ownerUid || before.isDirectory !== after.isDirectory) return "structure";
  return movedMuch(before.sizeBytes, after.sizeBytes) ? "figures" : undefined;
}

/** Whether a cgroup.procs text lists a pid the one before did not. */
function cameInto(before: string, after: string): boolean {
  const known = new Set(before.split("\n"));
  return after.split("\n").some((line) => line !== "" && !known.has(line));
}

/** A figure moved by USAGE_MOVE_BYTES, or by USAGE_MOVE_FRACTION of the larger and at least FIGURE_MOVE_FLOOR_BYTES. */
function movedMuch(was: number, now: number): boolean {
  if (!Number.isFinite(was) || !Number.isFinite(now)) return was !== now;
  const moved = Math.abs(now - was);
  return moved >= USAGE_MOVE_BYTES || (moved >= FIGURE_MOVE_FLOOR_BYTES && moved >= USAGE_MOVE_FRACTION * Math.max(was, now));
}

/**
 * What the model keeps of a read: a process's status, only the lines oomkit reads
 * (compactProcStatus: ~300 bytes of ~1.4 KiB, a quarter of the model's heap on a crowded
 * machine); anything else as read. A status then counts as changed only when a line oomkit reads
 * did (not its context switches or signal counts), and a snapshot served from the model reads
 * the same figures from it.
 */
function keptOf(kind: Kind, p: string, outcome: Outcome<unknown>): Outcome<unknown> {
  if (kind !== "file" || !outcome.ok || !p.endsWith("/status") || !PID_FILE.test(p)) return outcome;
  const text = String(outcome.value);
  const compact = compactProcStatus(text);
  return compact === text ? outcome : { ok: true, value: compact };
}

/** Which figures a kept entry's text gives: a task's status or statm, a task's stat, or none. */
function figureSource(kind: Kind, pid: number | undefined, p: string): FigureSource {
  if (kind !== "file" || pid === undefined) return undefined;
  if (p.endsWith("/status") || p.endsWith("/statm")) return "task";
  return p.endsWith("/stat") ? "stat" : undefined;
}

/** The model's own figures of a text (see TextFigures); none for a failed read. */
function figuresOf(source: FigureSource, outcome: Outcome<unknown>): TextFigures {
  if (source === undefined || !outcome.ok) return NO_FIGURES;
  const text = String(outcome.value);
  return source === "task" ? { bytes: taskBytes(text), start: undefined } : statFigures(text);
}

/**
 * From /proc/PID/stat (fields after the parenthesised comm): field 24, rss in pages of 4 KiB, as
 * bytes (undefined when it cannot be found), and field 22, the start time (the whole text when
 * it cannot be found).
 */
function statFigures(stat: string): TextFigures {
  // Fields 19 and 21 of `stat.slice(stat.lastIndexOf(")") + 2).split(" ")`, found in one walk
  // without splitting the ~50 fields (a task's stat changes with its size, and every changed one
  // is read here).
  let start: string | undefined;
  let rss: string | undefined;
  let at = stat.lastIndexOf(")") + 2;
  for (let i = 0; i <= 21; i++) {
    const end = stat.indexOf(" ", at);
    if (i === 19) start = end < 0 ? stat.slice(at) : stat.slice(at, end);
    else if (i === 21) rss = end < 0 ? stat.slice(at) : stat.slice(at, end);
    if (end < 0) break;
    at = end + 1;
  }
  const pages = Number(rss);
  return { bytes: Number.isFinite(pages) && pages >= 0 ? pages * 4096 : undefined, start: start ?? stat };
}

/**
 * Who exists (/proc's listing) and the machine's headroom first; then where memory is and grows
 * (cgroups' usage; large, new and growing tasks); then the cgroup tree's listings; then the rest.
 * The cgroup listings come after the figures: on a machine of hundreds of cgroups they alone can
 * fill a slice, and must not keep a leak's figures waiting.
 */
function rank(e: Entry): number {
  switch (e.cls) {
    case "listing":
      return e.kind === "dir" && e.path === "/proc" ? 0 : 2;
    case "machine":
      return 0;
    case "usage":
    case "taskLarge":
      return 1;
    default:
      return 3;
  }
}

/**
 * Each rank's grace (see `rank`), at pace 1: an entry is read ahead of a more telling rank's
 * only once it is overdue by more than theirs plus the difference of their graces, so in a
 * refresh that keeps up the ranks keep their order, and in one that cannot none starves (it is
 * read once its backlog is the oldest, graces counted). Strict rank order starved the lower ranks whenever
 * the slices could not keep up with the higher: with the model watching every cgroup's usage,
 * tens of cgroups under TCG (a few reads per slice, a slice a second or less) kept the cgroup
 * listings and the processes of a new cgroup waiting for minutes (the VM's daemon-oom: no plan
 * saw the victim in 90 s).
 */
const RANK_GRACE_MS = [0, 5_000, 15_000, 60_000];

/**
 * A min-heap of entries by due time. An entry re-scheduled is pushed again; the copy with the
 * old time is skipped when it surfaces (its time no longer matches the entry's), so nothing is
 * ever searched for.
 */
class DueQueue {
  // Two arrays side by side (each copy's due time, and its entry), not an object per copy: an
  // entry is queued again at every re-read, and those objects were a good share of a refresh's garbage.
  readonly #at: number[] = [];
  readonly #e: Entry[] = [];

  push(e: Entry): void {
    const at = this.#at;
    const es = this.#e;
    at.push(e.dueAtMs);
    es.push(e);
    for (let i = at.length - 1; i > 0; ) {
      const up = (i - 1) >> 1;
      if ((at[up] as number) <= (at[i] as number)) break;
      swap(at, up, i);
      swap(es, up, i);
      i = up;
    }
  }

  /** The next entry due at or before `now`, left in place (stale copies dropped), or undefined. */
  peekDue(now: number): Entry | undefined {
    const at = this.#at;
    const es = this.#e;
    while (at.length > 0 && (at[0] as number) <= now) {
      const top = es[0] as Entry;
      if (at[0] === top.dueAtMs) return top;
      this.#dropHead();
    }
    return undefined;
  }

  /** The next entry due at or before `now` (stale copies skipped), or undefined. */
  popDue(now: number): Entry | undefined {
    const at = this.#at;
    const es = this.#e;
    while (at.length > 0 && (at[0] as number) <= now) {
      const topAt = at[0] as number;
      const top = es[0] as Entry;
      this.#dropHead();
      if (topAt === top.dueAtMs) return top;
    }
    return undefined;
  }

  /** Removes the earliest copy. */
  #dropHead(): void {
    const at = this.#at;
    const es = this.#e;
    const lastAt = at.pop() as number;
    const lastE = es.pop() as Entry;
    if (at.length === 0) return;
    at[0] = lastAt;
    es[0] = lastE;
    for (let i = 0; ; ) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < at.length && (at[l] as number) < (at[m] as number)) m = l;
      if (r < at.length && (at[r] as number) < (at[m] as number)) m = r;
      if (m === i) break;
      swap(at, m, i);
      swap(es, m, i);
      i = m;
    }
  }
}

/** Swaps two slots of a heap in place (a destructuring swap made an array at every move). */
function swap<T>(h: T[], a: number, b: number): void {
  const x = h[a] as T;
  h[a] = h[b] as T;
  h[b] = x;
}

/** Reads an entry's file, listing, stat, xattrs or existence from `host` (a re-read: no closure made per read). */
function readAgain(host: Host, e: Entry): unknown {
  switch (e.kind) {
    case "file":
      return host.readFile(e.path);
    case "dir":
      return listing(host, e.path);
    case "stat":
      return host.stat(e.path);
    case "xattrs":
      return host.readXattrs(e.path);
    case "exists":
      return host.exists(e.path);
  }
}

/**
 * A listing as the model keeps it. /proc's comes in its folder's order from a Host that lists in
 * parts (pid order on Linux; readDir sorts by name), read whole here or in parts by a refresh
 * (WarmModel #listInParts): one order either way, so a re-read is compared entry by entry with
 * the one kept.
 */
function listing(host: Host, p: string): DirEntry[] {
  if (p !== PROC || host.openDir === undefined) return host.readDir(p);
  const c = host.openDir(p);
  const out: DirEntry[] = [];
  for (let part = c.next(LISTING_PART); part.length > 0; part = c.next(LISTING_PART)) for (const d of part) out.push(d);
  return out;
}

function attempt<T>(read: () => T): Outcome<T> {
  try {
    return { ok: true, value: read() };
  } catch (error) {
    return { ok: false, error };
  }
}

/** Stands for the outcome before a re-read that changed nothing (never read). */
const UNCHANGED: Outcome<unknown> = Object.freeze({ ok: false, error: undefined });

/** Whether a re-read's outcome is the one the entry keeps (both failed counts as the same). */
function sameAsKept(e: Entry, b: Outcome<unknown>): boolean {
  if (!e.ok || !b.ok) return e.ok === b.ok;
  const a = e.held;
  const v = b.value;
  switch (e.kind) {
    case "file":
    case "exists":
      return a === v;
    case "dir": {
      const x = a as DirEntry[];
      const y = v as DirEntry[];
      return x.length === y.length && x.every((d, i) => d.name === y[i]?.name && d.isDirectory === y[i]?.isDirectory);
    }
    case "stat": {
      const x = a as FileStat;
      const y = v as FileStat;
      return x.sizeBytes === y.sizeBytes && x.mtimeMs === y.mtimeMs && x.ownerUid === y.ownerUid && x.isDirectory === y.isDirectory;
    }
    case "xattrs": {
      const x = a as ReadonlyMap<string, string>;
      const y = v as ReadonlyMap<string, string>;
      return x.size === y.size && [...x].every(([k, val]) => y.get(k) === val);
    }
  }
}

/** Resident plus swapped bytes from a status (VmRSS + VmSwap, kB) or statm (pages × 4 KiB) text. */
function taskBytes(text: string): number {
  const rss = digitsAfter(text, "VmRSS:");
  if (rss !== undefined) return (Number(rss) + Number(digitsAfter(text, "VmSwap:") ?? 0)) * 1024;
  const statm = text.trim().split(/\s+/);
  const pages = Number(statm[1]);
  return Number.isFinite(pages) ? pages * 4096 : 0;
}

/**
 * The digits of the first `key`, white space, digits in `text` (`new RegExp(key + "\\s+([0-9]+)")`'s
 * group), found by scanning: every changed status the model re-reads is sized here.
 */
function digitsAfter(text: string, key: string): string | undefined {
  for (let at = text.indexOf(key); at >= 0; at = text.indexOf(key, at + 1)) {
    let i = at + key.length;
    const afterKey = i;
    while (i < text.length && isSpaceCode(text.charCodeAt(i))) i++;
    if (i === afterKey) continue;
    const first = i;
    while (i < text.length && text.charCodeAt(i) >= 48 && text.charCodeAt(i) <= 57) i++;
    if (i > first) return text.slice(first, i);
  }
  return undefined;
}

/** White space as a regex's `\s` sees it. */
function isSpaceCode(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13) || (c >= 0x2000 && c <= 0x200a) || c === 0xa0 || c === 0x1680 || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff;
}
