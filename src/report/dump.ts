/**
 * The `oomkit dump` model: a plain, versioned JSON view of a snapshot (schema in docs/dump.md).
 * Sizes are bytes; a limit of "max" is the string "max"; a figure this kernel or fixture lacks
 * is null. Fields are only ever added within a schema version.
 */
import type { Badness } from "../engine/badness.js";
import { kernelOomScore } from "../engine/badness.js";
import type { CgroupNode } from "../engine/cgroup.js";
import type { Snapshot } from "../engine/snapshot.js";
import type { TaskNode } from "../engine/task.js";
import type { Pressure } from "../os/parse/psi.js";
import { isoTime } from "../iso-time.js";

export const DUMP_SCHEMA = "oomkit.dump/1";

export type JsonLimit = number | "max" | null;

export interface DumpPressureLine {
  readonly avg10: number;
  readonly avg60: number;
  readonly avg300: number;
  readonly totalUsec: number;
}
export interface DumpPressure {
  readonly some: DumpPressureLine;
  readonly full: DumpPressureLine | null;
}

export interface DumpCgroup {
  readonly path: string;
  readonly depth: number;
  readonly memory: {
    readonly currentBytes: number | null;
    readonly minBytes: JsonLimit;
    readonly lowBytes: JsonLimit;
    readonly highBytes: JsonLimit;
    readonly maxBytes: JsonLimit;
    readonly peakBytes: number | null;
    readonly swapCurrentBytes: number | null;
    readonly swapMaxBytes: JsonLimit;
    readonly anonBytes: number | null;
    readonly fileBytes: number | null;
    readonly oomGroup: boolean | null;
  };
  readonly pressure: { readonly memory: DumpPressure | null };
  readonly events: { readonly high: number | null; readonly max: number | null; readonly oom: number | null; readonly oomKill: number | null } | null;
  readonly populated: boolean | null;
  readonly pids: number;
  readonly xattrs: Readonly<Record<string, string>>;
}

export interface DumpTask {
  readonly pid: number;
  readonly comm: string;
  readonly state: string;
  readonly uid: number | null;
  /** The executable's path, as [protect] executables match it; null when unreadable or deleted. */
  readonly exe: string | null;
  readonly cgroup: string | null;
  readonly oomScoreAdj: number;
  readonly rssBytes: number;
  readonly swapBytes: number;
  readonly pageTablesBytes: number;
  /** The kernel's oom_badness in pages, or null when the kernel would never choose the task. */
  readonly badness: number | null;
  readonly unkillableReason: string | null;
  /** What /proc/<pid>/oom_score should show, computed by oomkit. */
  readonly oomScore: number;
  /** What /proc/<pid>/oom_score did show (null in fixtures that lack it). */
  readonly kernelOomScore: number | null;
  /** Which of its files could not be read, and why; absent when all could (added within oomkit.dump/1). */
  readonly unreadable?: string;
}

export interface Dump {
  readonly schema: typeof DUMP_SCHEMA;
  readonly source: string;
  readonly takenAt: string;
  readonly kernelRelease: string | null;
  readonly cgroupMode: { readonly mode: string; readonly perCgroup: boolean; readonly unifiedMount: string | null; readonly summary: string };
  readonly system: {
    readonly memTotalBytes: number | null;
    readonly memAvailableBytes: number | null;
    readonly swapTotalBytes: number | null;
    readonly swapFreeBytes: number | null;
    readonly pageSizeBytes: number;
    readonly totalPages: number | null;
    readonly swappiness: number;
    readonly pressure: { readonly memory: DumpPressure | null; readonly cpu: DumpPressure | null; readonly io: DumpPressure | null };
  };
  /** The scope the task ranking is for: "/" (system-wide) or a cgroup path. */
  readonly scope: string;
  /** The totalpages the tasks below are ranked by: the scope's (its memory.max), the machine's for "/". */
  readonly scopeTotalPages: number | null;
  readonly cgroups: readonly DumpCgroup[];
  readonly tasks: readonly DumpTask[];
}

export interface DumpOptions {
  /** Rank tasks for an OOM in this cgroup (and show only its subtree); the root by default. */
  readonly scope?: CgroupNode;
  /** How many tasks to list, highest badness first. */
  readonly top?: number;
}

const limit = (v: number | undefined): JsonLimit => (v === undefined ? null : Number.isFinite(v) ? v : "max");

function pressure(p: Pressure | undefined): DumpPressure | null {
  if (!p) return null;
  const line = (l: Pressure["some"]): DumpPressureLine => ({ avg10: l.avg10, avg60: l.avg60, avg300: l.avg300, totalUsec: l.totalUsec });
  return { some: line(p.some), full: p.full ? line(p.full) : null };
}

function dumpCgroup(c: CgroupNode): DumpCgroup {
  const m = c.memory;
  const stat = c.stat;
  const ev = c.events;
  return {
    path: c.path,
    depth: c.depth,
    memory: {
      currentBytes: m.currentBytes ?? null,
      minBytes: limit(m.minBytes),
      lowBytes: limit(m.lowBytes),
      highBytes: limit(m.highBytes),
      maxBytes: limit(m.maxBytes),
      peakBytes: m.peakBytes ?? null,
      swapCurrentBytes: m.swapCurrentBytes ?? null,
      swapMaxBytes: limit(m.swapMaxBytes),
      anonBytes: stat?.anonBytes ?? null,
      fileBytes: stat?.fileBytes ?? null,
      oomGroup: m.oomGroup ?? null,
    },
    pressure: { memory: pressure(c.pressure.memory) },
    events: ev ? { high: ev.high ?? null, max: ev.max ?? null, oom: ev.oom ?? null, oomKill: ev.oomKill ?? null } : null,
    populated: c.populated ?? null,
    pids: c.pids.length,
    xattrs: Object.fromEntries(c.xattrs),
  };
}

export interface RankedTask {
  readonly task: TaskNode;
  readonly badness: Badness;
}

/** Tasks of a scope ranked as the kernel would: killable ones by badness, highest first. */
export function rankTasks(snapshot: Snapshot, scope: CgroupNode | undefined): RankedTask[] {
  const tasks = scope && !scope.isRoot ? scope.allTasks() : snapshot.tasks;
  return tasks
    .map((task) => ({ task, badness: snapshot.badness(task, scope) }))
    .sort((a, b) => score(b.badness) - score(a.badness) || a.task.pid - b.task.pid);
}

const score = (b: Badness) => (b.killable ? b.badness : Number.NEGATIVE_INFINITY);

export function dumpSnapshot(snapshot: Snapshot, options: DumpOptions = {}): Dump {
  const sys = snapshot.system;
  const mi = sys.meminfo;
  let totalPages: number | null = null;
  try {
    totalPages = snapshot.systemTotalPages;
  } catch {
    totalPages = null;
  }
  const scope = options.scope;
  const cgroups: DumpCgroup[] = [];
  if (scope) {
    cgroups.push(dumpCgroup(scope));
    for (const c of scope.descendants()) cgroups.push(dumpCgroup(c));
  } else {
    for (const c of snapshot.cgroups()) cgroups.push(dumpCgroup(c));
  }
  const ranked = totalPages === null ? [] : rankTasks(snapshot, scope).slice(0, options.top ?? 10);
  // The tasks are ranked for an OOM in the scope: by the scope's totalpages (its memory.max and
  // swap, as mem_cgroup_get_max()), which is the machine's only for "/" or an unlimited scope.
  const scopeTotalPages = totalPages === null ? null : snapshot.totalPagesFor(scope);
  const tasks = ranked.map(({ task, badness }): DumpTask => {
    const m = task.memory;
    return {
      pid: task.pid,
      comm: task.comm,
      state: task.state,
      uid: task.uid ?? null,
      exe: task.exe ?? null,
      cgroup: (snapshot.cgroupMode.perCgroup ? task.cgroupPath : (task.v1MemoryCgroup ?? task.cgroupPath)) ?? null,
      oomScoreAdj: task.oomScoreAdj,
      rssBytes: m.rssBytes,
      swapBytes: m.swapBytes,
      pageTablesBytes: m.pageTablesBytes,
      badness: badness.killable ? badness.badness : null,
      unkillableReason: badness.killable ? null : badness.reason,
      oomScore: kernelOomScore(snapshot.badness(task), totalPages ?? 1),
      kernelOomScore: task.kernelOomScore ?? null,
      ...(task.unreadable !== undefined ? { unreadable: task.unreadable } : {}),
    };
  });
  return {
    schema: DUMP_SCHEMA,
    source: snapshot.source,
    takenAt: isoTime(snapshot.takenAtWallMs),
    kernelRelease: sys.kernelRelease ?? null,
    cgroupMode: {
      mode: snapshot.cgroupMode.mode,
      perCgroup: snapshot.cgroupMode.perCgroup,
      unifiedMount: snapshot.cgroupMode.unifiedMount ?? null,
      summary: snapshot.cgroupMode.summary,
    },
    system: {
      memTotalBytes: mi?.memTotalBytes ?? null,
      memAvailableBytes: mi?.memAvailableBytes ?? null,
      swapTotalBytes: mi?.swapTotalBytes ?? null,
      swapFreeBytes: mi?.swapFreeBytes ?? null,
      pageSizeBytes: snapshot.pageSizeBytes,
      totalPages,
      swappiness: sys.swappiness,
      pressure: { memory: pressure(sys.pressure.memory), cpu: pressure(sys.pressure.cpu), io: pressure(sys.pressure.io) },
    },
    scope: scope?.path ?? "/",
    scopeTotalPages,
    cgroups,
    tasks,
  };
}
