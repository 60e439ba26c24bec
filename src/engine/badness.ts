/**
 * The kernel's victim ranking, exactly as mm/oom_kill.c computes it, so the built-in default
 * policy chooses what the kernel would and `dump` can be checked against /proc/<pid>/oom_score.
 *
 *   points = rss pages + swap entries + page-table bytes / PAGE_SIZE
 *   adj    = oom_score_adj * (totalpages / 1000)        (integer division first)
 *   badness = points + adj; unkillable (LONG_MIN) for oom_score_adj -1000, pid 1, kernel threads
 *   and tasks without an mm (zombies).
 *
 *   totalpages: MemTotal + SwapTotal (pages) for a system-wide OOM; for a cgroup OOM, the memcg's
 *   memory.max plus min(memory.swap.max, SwapTotal) when swappiness is non-zero
 *   (mem_cgroup_get_max), and at least 1.
 *
 *   /proc/<pid>/oom_score = (1000 + badness * 1000 / totalpages) * 2 / 3, with the system-wide
 *   totalpages, or 0 when unkillable.
 */

/** OOM_SCORE_ADJ_MIN: a task with this adjustment is never chosen by the kernel. */
export const OOM_SCORE_ADJ_MIN = -1000;
export const OOM_SCORE_ADJ_MAX = 1000;

export interface BadnessInput {
  readonly pid: number;
  readonly kernelThread: boolean;
  /** True for zombies and tasks already gone: the kernel finds no mm for them. */
  readonly exiting: boolean;
  readonly oomScoreAdj: number;
  /** RssAnon + RssFile + RssShmem. */
  readonly rssBytes: number;
  readonly swapBytes: number;
  readonly pageTablesBytes: number;
}

export type Badness =
  | { readonly killable: true; readonly points: number; readonly adj: number; readonly badness: number }
  | { readonly killable: false; readonly reason: UnkillableReason };

export type UnkillableReason = "init" | "kernel-thread" | "oom-score-adj-min" | "no-mm";

/** C's signed integer division: truncates toward zero. */
function cdiv(a: number, b: number): number {
  return Math.trunc(a / b);
}

export function oomBadness(task: BadnessInput, totalPages: number, pageSizeBytes: number): Badness {
  if (task.pid === 1) return { killable: false, reason: "init" };
  if (task.kernelThread) return { killable: false, reason: "kernel-thread" };
  if (task.exiting) return { killable: false, reason: "no-mm" };
  if (task.oomScoreAdj === OOM_SCORE_ADJ_MIN) return { killable: false, reason: "oom-score-adj-min" };
  const points =
    Math.floor(task.rssBytes / pageSizeBytes) +
    Math.floor(task.swapBytes / pageSizeBytes) +
    Math.floor(task.pageTablesBytes / pageSizeBytes);
  const adj = task.oomScoreAdj * Math.floor(totalPages / 1000);
  return { killable: true, points, adj, badness: points + adj };
}

/** What the kernel shows in /proc/<pid>/oom_score for this badness (system-wide totalpages). */
export function kernelOomScore(b: Badness, totalPages: number): number {
  if (!b.killable) return 0;
  return cdiv((1000 + cdiv(b.badness * 1000, totalPages)) * 2, 3);
}

export function systemTotalPages(memTotalBytes: number, swapTotalBytes: number, pageSizeBytes: number): number {
  return Math.floor(memTotalBytes / pageSizeBytes) + Math.floor(swapTotalBytes / pageSizeBytes);
}

/** The kernel's page_counter "max": what memory.max = max means in pages. */
export function pageCounterMax(pageSizeBytes: number): number {
  // LONG_MAX / PAGE_SIZE does not fit a double exactly; it only has to dwarf any real limit.
  return Math.floor(Number.MAX_SAFE_INTEGER / pageSizeBytes);
}

export interface CgroupLimits {
  /** memory.max in bytes; Infinity for "max". */
  readonly memoryMaxBytes: number;
  /** memory.swap.max in bytes; Infinity for "max"; undefined when the kernel has no swap accounting. */
  readonly swapMaxBytes: number | undefined;
}

/** mem_cgroup_get_max(): the totalpages of an OOM in a memory cgroup. */
export function cgroupTotalPages(limits: CgroupLimits, swapTotalBytes: number, swappiness: number, pageSizeBytes: number): number {
  const counterMax = pageCounterMax(pageSizeBytes);
  const toPages = (bytes: number) => (Number.isFinite(bytes) ? Math.floor(bytes / pageSizeBytes) : counterMax);
  let max = toPages(limits.memoryMaxBytes);
  if (swappiness !== 0 && limits.swapMaxBytes !== undefined) {
    max += Math.min(toPages(limits.swapMaxBytes), Math.floor(swapTotalBytes / pageSizeBytes));
  }
  return Math.max(max, 1);
}
