/**
 * The simulated machine's state: cgroups, tasks, and the page counts that move between them.
 * All memory is counted in whole pages, and every move goes through Memory, which keeps the
 * free-page count, so "free = total − everything held" can be checked rather than assumed.
 */
import type { CgroupPath } from "../os/paths.js";
import type { MemoryCurve } from "./curve.js";
import { PsiGroup } from "./psi.js";

/** The counters of memory.events, in the kernel's order. */
export const EVENT_NAMES = ["low", "high", "max", "oom", "oom_kill", "oom_group_kill"] as const;
export type EventName = (typeof EVENT_NAMES)[number];

/** Counters kept per cgroup for memory.stat (own activity; the file shows subtree sums). */
export interface CgroupCounters {
  pgscan: number;
  pgsteal: number;
  pgfault: number;
  pgmajfault: number;
  workingsetRefaultAnon: number;
  workingsetRefaultFile: number;
}

export class SimCgroup {
  readonly children = new Map<string, SimCgroup>();
  /** Tasks attached directly here, in the order they joined. */
  readonly tasks = new Set<SimTask>();
  maxPages = Infinity;
  highPages = Infinity;
  lowPages = 0;
  minPages = 0;
  swapMaxPages = Infinity;
  oomGroup = false;
  readonly xattrs = new Map<string, string>();
  ownerUid = 0;
  /** Cold page cache charged here (not to a task). */
  cachePages = 0;
  /** memory.events.local. */
  readonly eventsLocal: Record<EventName, number> = { low: 0, high: 0, max: 0, oom: 0, oom_kill: 0, oom_group_kill: 0 };
  readonly counters: CgroupCounters = { pgscan: 0, pgsteal: 0, pgfault: 0, pgmajfault: 0, workingsetRefaultAnon: 0, workingsetRefaultFile: 0 };
  peakPages = 0;
  swapPeakPages = 0;
  readonly psi: PsiGroup;
  /** Created order, for the kernel's pre-order walk (children in creation order). */
  readonly createdSeq: number;

  constructor(
    readonly path: CgroupPath,
    readonly parent: SimCgroup | undefined,
    nowMs: number,
    seq: number,
  ) {
    this.psi = new PsiGroup(nowMs);
    this.createdSeq = seq;
  }

  get name(): string {
    return this.path === "/" ? "" : this.path.slice(this.path.lastIndexOf("/") + 1);
  }

  /**
   * This cgroup and its descendants, parents first, children in creation order: a list made at
   * the call (the files rendered from a subtree walk it at every read; a recursive generator made
   * an object per cgroup and level).
   */
  subtree(): SimCgroup[] {
    const out: SimCgroup[] = [];
    collectSubtree(this, out);
    return out;
  }

  /** This cgroup and its ancestors, up to and including the root. */
  *ancestry(): IterableIterator<SimCgroup> {
    for (let c: SimCgroup | undefined = this; c; c = c.parent) yield c;
  }

  /** memory.current in pages: the subtree's charges, kept by Ledger on every move. */
  usage = 0;
  /** memory.swap.current in pages, likewise. */
  swapUsage = 0;

  /** Own charged pages, counted afresh: anon and file resident of its tasks, page tables, cache. */
  countOwnPages(): number {
    let n = this.cachePages;
    for (const t of this.tasks) n += t.chargedPages();
    return n;
  }

  countOwnSwapPages(): number {
    let n = 0;
    for (const t of this.tasks) n += t.anonSwapped;
    return n;
  }

  /** True when a task of the subtree is dying (its memory is on its way back). */
  hasDyingTask(): boolean {
    for (const c of this.subtree()) for (const t of c.tasks) if (t.state === "dying") return true;
    return false;
  }
}

export type TaskState = "running" | "dying";

export interface ForkStorm {
  /** New children per second, from the task's start. */
  readonly perSec: number;
  /** Children at most (alive or not). */
  readonly max: number;
  /** Each child's footprint (steady). */
  readonly childBytes: number;
}

export interface TaskBehaviour {
  readonly curve: MemoryCurve;
  /** Share of its anonymous footprint it touches per second (drives swap-ins when swapped out). */
  readonly touchPerSec: number;
  /** Resident file pages it maps (its executable and libraries), in pages. */
  readonly filePages: number;
  /** Share of its mapped file pages it touches per second (evicted ones refault from disk). */
  readonly fileTouchPerSec: number;
  /** Page cache it fills per second (cold, charged to its cgroup), in pages. */
  readonly cachePagesPerSec: number;
  /** What it does on SIGTERM: exit after this many ms, or ignore it. */
  readonly onTerm: { readonly exitAfterMs: number } | "ignore";
  readonly fork?: ForkStorm;
}

export class SimTask {
  anonResident = 0;
  anonSwapped = 0;
  fileResident = 0;
  fileEvicted = 0;
  ptPages = 0;
  state: TaskState = "running";
  /** When its memory returns (dying tasks). */
  reapAtMs = 0;
  /** Who killed it, for the record. */
  killedBy: "kernel" | "signal" | undefined;
  /** A SIGTERM it will obey at this time. */
  termExitAtMs: number | undefined;
  /** Stalled share of the last step (0..1). */
  stallShare = 0;
  /** Children forked so far (fork storms). */
  forked = 0;
  /** Its mapped file pages have been read in once (the first fill is no refault). */
  fileLoaded = false;
  /** Fractions of a page of touches carried to the next step, so slow rates still add up. */
  carryAnon = 0;
  carryFile = 0;
  carryCache = 0;

  constructor(
    readonly pid: number,
    readonly comm: string,
    public cgroup: SimCgroup,
    readonly ppid: number,
    readonly uid: number,
    public oomScoreAdj: number,
    readonly startMs: number,
    readonly behaviour: TaskBehaviour,
    readonly seed: number,
    readonly exe: string | undefined,
    readonly cmdline: readonly string[],
  ) {}

  footprintPages(): number {
    return this.anonResident + this.anonSwapped + this.fileResident;
  }

  /** Pages charged to its cgroup: resident memory and page tables. */
  chargedPages(): number {
    return this.anonResident + this.fileResident + this.ptPages;
  }

  /** Page tables for a footprint: one 8-byte entry per page, plus the top levels. */
  static pageTablesFor(footprintPages: number): number {
    return footprintPages === 0 ? 0 : Math.ceil(footprintPages / 512) + 1;
  }
}

function collectSubtree(cg: SimCgroup, out: SimCgroup[]): void {
  out.push(cg);
  for (const c of cg.children.values()) collectSubtree(c, out);
}
