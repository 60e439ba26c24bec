/**
 * What the model's kernel-side code (reclaim, charging, the OOM killer, the step) shares: the
 * ledger, the cost of each kind of page work, the tunables, the machine-wide counters and the
 * record of the kernel's own kills.
 */
import type { Ledger } from "./ledger.js";
import type { SimCgroup, SimTask } from "./state.js";

/**
 * Time a task spends per page of each kind of memory work, in µs. They set how fast stall
 * builds up; the defaults are round figures for a small SSD machine, not yet calibrated against
 * the VM (docs/simulator.md).
 */
export interface Costs {
  /** Reclaiming a clean page-cache page. */
  readonly reclaimCacheUs: number;
  /** Unmapping a clean file page a task maps (it will refault). */
  readonly evictFileUs: number;
  /** Compressing an anonymous page into zram. */
  readonly swapOutZramUs: number;
  /** Writing an anonymous page to a swap disk (reclaim waits for the write under pressure). */
  readonly swapOutDiskUs: number;
  readonly swapInZramUs: number;
  readonly swapInDiskUs: number;
  /** Reading an evicted file page back. */
  readonly refaultFileUs: number;
  /** Scanning a page without reclaiming it (reclaim that makes no progress still costs). */
  readonly failedScanUs: number;
  /** Faulting in a new zeroed page: task time, not stall; it bounds how fast a task can grow. */
  readonly faultUs: number;
}

export const DEFAULT_COSTS: Costs = Object.freeze({
  reclaimCacheUs: 2,
  evictFileUs: 2,
  swapOutZramUs: 10,
  swapOutDiskUs: 20,
  swapInZramUs: 5,
  swapInDiskUs: 150,
  refaultFileUs: 150,
  failedScanUs: 1,
  faultUs: 0.5,
});

/** /proc/vmstat counters the model keeps. */
export interface Vmstat {
  pgscan_kswapd: number;
  pgscan_direct: number;
  pgsteal_kswapd: number;
  pgsteal_direct: number;
  pswpin: number;
  pswpout: number;
  workingset_refault_anon: number;
  workingset_refault_file: number;
  oom_kill: number;
}

/** One kill by the model's kernel OOM killer. */
export interface KernelKill {
  readonly atMs: number;
  readonly pid: number;
  readonly comm: string;
  readonly cgroup: string;
  /** "global", or the memcg whose limit was hit. */
  readonly constraint: "global" | { readonly memcg: string };
  /** oom_badness of the chosen task (points + adj). */
  readonly badness: number;
  readonly totalPages: number;
  /** The memory.oom.group cgroup this kill took down with it, when one. */
  readonly group?: string;
}

/** Watermarks in pages (the zone's min, low and high, for the whole machine as one zone). */
export interface Watermarks {
  readonly min: number;
  readonly low: number;
  readonly high: number;
}

export interface SimKernel {
  readonly ledger: Ledger;
  readonly costs: Costs;
  readonly swappiness: number;
  readonly root: SimCgroup;
  readonly vmstat: Vmstat;
  readonly watermarks: Watermarks;
  readonly kernelKills: KernelKill[];
  readonly pageSizeBytes: number;
  /** Memory comes back this long after a kill: base plus per MiB freed. */
  reapDelayMs(t: SimTask): number;
  nowMs(): number;
}

export function newVmstat(): Vmstat {
  return {
    pgscan_kswapd: 0,
    pgscan_direct: 0,
    pgsteal_kswapd: 0,
    pgsteal_direct: 0,
    pswpin: 0,
    pswpout: 0,
    workingset_refault_anon: 0,
    workingset_refault_file: 0,
    oom_kill: 0,
  };
}

/**
 * The zone watermarks as the kernel sizes them for one node: min_free_kbytes = √(16 × RAM in kB)
 * (clamped to 128 kB..256 MB as in mm/page_alloc.c), and low and high each a further quarter of
 * min or 0.1% of RAM (watermark_scale_factor 10), whichever is larger.
 */
export function watermarksFor(totalPages: number, pageSizeBytes: number): Watermarks {
  const kb = (totalPages * pageSizeBytes) / 1024;
  const minKb = Math.min(Math.max(Math.floor(Math.sqrt(kb * 16)), 128), 262_144);
  const min = Math.ceil((minKb * 1024) / pageSizeBytes);
  const gap = Math.max(Math.floor(min / 4), Math.floor(totalPages / 1000));
  return { min, low: min + gap, high: min + 2 * gap };
}
