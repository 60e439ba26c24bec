/**
 * Every move of memory in the model, in pages: allocation and freeing, swap-out and swap-in,
 * file eviction and refault, page cache, page tables, a task changing cgroup, and a dead task's
 * memory coming back. Each move keeps the free-page count, the swap and zram counts, and each
 * cgroup's hierarchical usage (memory.current, memory.swap.current, peaks) in step, so reads are
 * O(1) and the test can recount everything and compare.
 */
import { OomkitError } from "../errors.js";
import { type SimCgroup, SimTask } from "./state.js";

export interface SwapDevice {
  readonly kind: "disk" | "zram";
  readonly totalPages: number;
  /** zram only: uncompressed ÷ compressed size; the compressed pool lives in RAM. */
  readonly compressionRatio: number;
}

export class Ledger {
  freePages: number;
  swapUsedPages = 0;
  /** Pages of RAM the zram pool holds (0 for a disk). */
  zramPoolPages = 0;

  constructor(
    readonly totalPages: number,
    /** Held by the kernel itself (slab, buffers, the kernel image): never reclaimed. */
    readonly reservedPages: number,
    readonly swap: SwapDevice | undefined,
  ) {
    if (reservedPages >= totalPages) throw new OomkitError("E_CONFIG", `kernel reserve (${reservedPages} pages) must be below RAM (${totalPages} pages)`);
    this.freePages = totalPages - reservedPages;
  }

  get swapTotalPages(): number {
    return this.swap?.totalPages ?? 0;
  }

  get swapFreePages(): number {
    return this.swapTotalPages - this.swapUsedPages;
  }

  #chain(cg: SimCgroup, dUsage: number, dSwap: number): void {
    for (let c: SimCgroup | undefined = cg; c; c = c.parent) {
      c.usage += dUsage;
      c.swapUsage += dSwap;
      if (c.usage > c.peakPages) c.peakPages = c.usage;
      if (c.swapUsage > c.swapPeakPages) c.swapPeakPages = c.swapUsage;
    }
  }

  #swapUsed(delta: number): void {
    this.swapUsedPages += delta;
    if (this.swap?.kind !== "zram") return;
    const pool = Math.ceil(this.swapUsedPages / this.swap.compressionRatio);
    this.freePages -= pool - this.zramPoolPages;
    this.zramPoolPages = pool;
  }

  /** Page tables follow the footprint. */
  #pageTables(t: SimTask): void {
    const want = SimTask.pageTablesFor(t.footprintPages() + t.fileEvicted);
    const d = want - t.ptPages;
    if (d === 0) return;
    t.ptPages = want;
    this.freePages -= d;
    this.#chain(t.cgroup, d, 0);
  }

  allocAnon(t: SimTask, n: number): void {
    if (n <= 0) return;
    t.anonResident += n;
    this.freePages -= n;
    this.#chain(t.cgroup, n, 0);
    t.cgroup.counters.pgfault += n;
    this.#pageTables(t);
  }

  /** Frees `n` pages of the task's anonymous memory, swapped pages and resident ones in proportion. */
  freeAnon(t: SimTask, n: number): void {
    const total = t.anonResident + t.anonSwapped;
    n = Math.min(n, total);
    if (n <= 0) return;
    const fromSwap = Math.min(t.anonSwapped, Math.round((n * t.anonSwapped) / total));
    const fromRam = n - fromSwap;
    t.anonSwapped -= fromSwap;
    t.anonResident -= fromRam;
    this.freePages += fromRam;
    this.#chain(t.cgroup, -fromRam, -fromSwap);
    this.#swapUsed(-fromSwap);
    this.#pageTables(t);
  }

  /** Moves up to `n` resident anonymous pages to swap; returns how many moved. */
  swapOut(t: SimTask, n: number): number {
    n = Math.min(n, t.anonResident, this.swapFreePages);
    if (n <= 0) return 0;
    t.anonResident -= n;
    t.anonSwapped += n;
    this.freePages += n;
    this.#chain(t.cgroup, -n, n);
    this.#swapUsed(n);
    return n;
  }

  swapIn(t: SimTask, n: number): number {
    n = Math.min(n, t.anonSwapped);
    if (n <= 0) return 0;
    t.anonSwapped -= n;
    t.anonResident += n;
    this.freePages -= n;
    this.#chain(t.cgroup, n, -n);
    this.#swapUsed(-n);
    t.cgroup.counters.pgmajfault += n;
    t.cgroup.counters.workingsetRefaultAnon += n;
    return n;
  }

  evictFile(t: SimTask, n: number): number {
    n = Math.min(n, t.fileResident);
    if (n <= 0) return 0;
    t.fileResident -= n;
    t.fileEvicted += n;
    this.freePages += n;
    this.#chain(t.cgroup, -n, 0);
    return n;
  }

  refaultFile(t: SimTask, n: number, counted: boolean): number {
    n = Math.min(n, t.fileEvicted);
    if (n <= 0) return 0;
    t.fileEvicted -= n;
    t.fileResident += n;
    this.freePages -= n;
    this.#chain(t.cgroup, n, 0);
    if (counted) {
      t.cgroup.counters.pgmajfault += n;
      t.cgroup.counters.workingsetRefaultFile += n;
    }
    return n;
  }

  addCache(cg: SimCgroup, n: number): void {
    if (n <= 0) return;
    cg.cachePages += n;
    this.freePages -= n;
    this.#chain(cg, n, 0);
  }

  dropCache(cg: SimCgroup, n: number): number {
    n = Math.min(n, cg.cachePages);
    if (n <= 0) return 0;
    cg.cachePages -= n;
    this.freePages += n;
    this.#chain(cg, -n, 0);
    return n;
  }

  /** A task joins another cgroup and its charges go with it (the kernel leaves them behind in v2: a limit of the model, docs/simulator.md). */
  moveTask(t: SimTask, to: SimCgroup): void {
    this.#chain(t.cgroup, -t.chargedPages(), -t.anonSwapped);
    t.cgroup.tasks.delete(t);
    t.cgroup = to;
    to.tasks.add(t);
    this.#chain(to, t.chargedPages(), t.anonSwapped);
  }

  /** A dead task's memory comes back: resident pages, page tables and swap entries. */
  release(t: SimTask): void {
    this.freePages += t.chargedPages();
    this.#chain(t.cgroup, -t.chargedPages(), -t.anonSwapped);
    this.#swapUsed(-t.anonSwapped);
    t.anonResident = t.anonSwapped = t.fileResident = t.fileEvicted = t.ptPages = 0;
    t.cgroup.tasks.delete(t);
  }
}
