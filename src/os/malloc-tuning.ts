/**
 * The C heap's thresholds, pinned at glibc's own defaults so that freed memory goes back to the
 * kernel. glibc raises them by itself: after a large block served by mmap is freed (start-up
 * frees several; which ones was not traced), the mmap threshold becomes that block's size and
 * the trim threshold twice that, up to 32/64 MiB. From then on a heap keeps up
 * to the raised trim threshold free and resident: in oomkit's idle daemon, one thread's arena
 * held ~0.9 MiB with 30 KiB in use, and the main heap ~1 MiB more than it used (malloc_stats).
 * Setting either threshold with mallopt(3) turns the raising off (glibc's `no_dyn_threshold`).
 * Measured: ~0.8 MiB less anonymous memory idle (BENCHMARKS.md, "Footprint: builds side by side").
 *
 * What it costs: a block of 128 KiB or more is mapped and unmapped each time rather than kept in
 * the heap, as before the first raise. oomkit's hot path reuses its buffers (DESIGN.md,
 * "Working under pressure"), so that is start-up's and a decision's large allocations, not the
 * trigger's.
 */
/** From glibc's malloc.h. */
export const M_TRIM_THRESHOLD = -1;
export const M_MMAP_THRESHOLD = -3;
/** glibc's default for both (DEFAULT_MMAP_THRESHOLD_MIN, DEFAULT_TRIM_THRESHOLD). */
export const MALLOC_THRESHOLD_BYTES = 128 * 1024;

/** mallopt(3): 1 when the parameter was set. */
export type MalloptCall = (param: number, value: number) => number;

export interface MallocTuning {
  readonly pinned: boolean;
  readonly note: string;
}

/** Pins both thresholds; says so, or why not (a C library without mallopt, such as musl). */
export function pinMallocThresholds(mallopt: MalloptCall): MallocTuning {
  const kib = MALLOC_THRESHOLD_BYTES / 1024;
  const mmap = mallopt(M_MMAP_THRESHOLD, MALLOC_THRESHOLD_BYTES) === 1;
  const trim = mallopt(M_TRIM_THRESHOLD, MALLOC_THRESHOLD_BYTES) === 1;
  if (mmap && trim) return { pinned: true, note: `malloc: mmap and trim thresholds pinned at ${kib} KiB (freed C heap goes back to the kernel)` };
  return { pinned: false, note: `malloc: thresholds not pinned (mallopt refused ${[mmap ? "" : "M_MMAP_THRESHOLD", trim ? "" : "M_TRIM_THRESHOLD"].filter(Boolean).join(" and ")}: not glibc?); the C heap may keep freed memory` };
}
