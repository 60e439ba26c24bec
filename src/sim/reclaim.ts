/**
 * Page reclaim in a scope (a cgroup's subtree for a limit, the root for the machine): the LRU
 * order approximated as "cold page cache first, then anonymous pages (to swap) and mapped file
 * pages in the proportion swappiness sets (anon : file = swappiness : 200 − swappiness)", each
 * taken from cgroups and tasks in proportion to what they hold.
 *
 * Protection: a cgroup whose usage is at or below memory.min is never reclaimed, nor one at or
 * below memory.low in the first pass; only when the first pass falls short does a second pass
 * reclaim below low, counting a `low` event for each cgroup it takes from. Above its
 * protection, a cgroup gives up at most its usage minus the protection. A protected ancestor
 * shields its subtree. The reclaim's own scope is never protected from itself (as in the kernel).
 */
import type { SimKernel } from "./kernel.js";
import type { SimCgroup, SimTask } from "./state.js";

export interface ReclaimResult {
  /** Pages taken off the LRUs (pgsteal). */
  readonly reclaimedPages: number;
  readonly scannedPages: number;
  /** Time the reclaiming task spent, µs (stall when it is a task doing direct reclaim). */
  readonly costUs: number;
}

export type ReclaimMode = "direct" | "kswapd" | "proactive";

interface Source {
  readonly cg: SimCgroup;
  /** Most this cgroup may give up in this pass. */
  allowance: number;
}

/** The cgroups of the scope that may give pages in a pass, with their allowances. */
function sources(scope: SimCgroup, belowLow: boolean): Source[] {
  const out: Source[] = [];
  const walk = (cg: SimCgroup) => {
    if (cg !== scope) {
      const prot = belowLow ? cg.minPages : Math.max(cg.minPages, cg.lowPages);
      if (cg.usage <= prot) return; // shields its whole subtree
    }
    const prot = cg === scope ? 0 : belowLow ? cg.minPages : Math.max(cg.minPages, cg.lowPages);
    const allowance = Math.min(cg.countOwnPages(), cg.usage - prot);
    if (allowance > 0) out.push({ cg, allowance });
    for (const c of cg.children.values()) walk(c);
  };
  walk(scope);
  return out;
}

/** Whether a task's cgroup chain has room for `n` more swap pages (memory.swap.max). */
function swapRoom(t: SimTask): number {
  let room = Infinity;
  for (let c: SimCgroup | undefined = t.cgroup; c; c = c.parent) room = Math.min(room, c.swapMaxPages - c.swapUsage);
  return Math.max(0, room);
}

class Pass {
  reclaimed = 0;
  scanned = 0;
  costUs = 0;
  constructor(
    readonly k: SimKernel,
    readonly mode: ReclaimMode,
  ) {}

  #count(cg: SimCgroup, scanned: number, stolen: number): void {
    this.scanned += scanned;
    this.reclaimed += stolen;
    cg.counters.pgscan += scanned;
    cg.counters.pgsteal += stolen;
  }

  /** Takes up to `want` pages of cold cache, each source in proportion to its cache. */
  cache(src: Source[], want: number): void {
    const avail = src.map((s) => Math.min(s.cg.cachePages, s.allowance));
    const total = avail.reduce((a, b) => a + b, 0);
    if (total === 0 || want <= 0) return;
    src.forEach((s, i) => {
      const share = Math.min(avail[i] as number, Math.ceil((want * (avail[i] as number)) / total));
      const got = this.k.ledger.dropCache(s.cg, share);
      s.allowance -= got;
      this.costUs += got * this.k.costs.reclaimCacheUs;
      this.#count(s.cg, got, got);
    });
  }

  /** Takes up to `want` anonymous (to swap) and mapped file pages, split by swappiness. */
  mapped(src: Source[], want: number): void {
    if (want <= 0) return;
    const k = this.k;
    const anonOk = k.ledger.swapFreePages > 0 && k.swappiness > 0;
    let anonTotal = 0;
    let fileTotal = 0;
    for (const s of src) for (const t of s.cg.tasks) if (t.state === "running") {
      if (anonOk) anonTotal += Math.min(t.anonResident, swapRoom(t));
      fileTotal += t.fileResident;
    }
    if (anonTotal + fileTotal === 0) return;
    let anonWant = anonTotal === 0 ? 0 : fileTotal === 0 ? want : Math.ceil((want * k.swappiness) / 200);
    let fileWant = want - anonWant;
    if (fileWant > fileTotal) anonWant += fileWant - fileTotal;
    if (anonWant > anonTotal) fileWant += anonWant - anonTotal;
    const swapUs = k.ledger.swap?.kind === "zram" ? k.costs.swapOutZramUs : k.costs.swapOutDiskUs;
    for (const s of src) {
      for (const t of s.cg.tasks) {
        if (t.state !== "running" || s.allowance <= 0) continue;
        const a = anonTotal === 0 ? 0 : Math.min(s.allowance, Math.ceil((anonWant * Math.min(t.anonResident, swapRoom(t))) / anonTotal));
        const out = anonOk ? k.ledger.swapOut(t, a) : 0;
        s.allowance -= out;
        const f = fileTotal === 0 ? 0 : Math.min(s.allowance, Math.ceil((fileWant * t.fileResident) / fileTotal));
        const ev = k.ledger.evictFile(t, f);
        s.allowance -= ev;
        k.vmstat.pswpout += out;
        this.costUs += out * swapUs + ev * k.costs.evictFileUs;
        // Mapped and anonymous pages sit on the active list first: about two scans per page taken.
        this.#count(s.cg, 2 * (out + ev), out + ev);
      }
    }
  }
}

/**
 * Reclaims about `targetPages` from the scope. For the machine (`netFree`), the target is free
 * pages gained, which zram makes smaller than pages taken (its pool grows): it then goes round
 * again, a few times at most.
 */
export function reclaim(k: SimKernel, scope: SimCgroup, targetPages: number, mode: ReclaimMode, netFree = false): ReclaimResult {
  const pass = new Pass(k, mode);
  const freeBefore = k.ledger.freePages;
  const usageBefore = scope.usage;
  const gained = () => (netFree ? k.ledger.freePages - freeBefore : usageBefore - scope.usage);
  for (const belowLow of [false, true]) {
    for (let round = 0; round < 4 && gained() < targetPages; round++) {
      const src = sources(scope, belowLow);
      const before = pass.reclaimed;
      pass.cache(src, targetPages - gained());
      pass.mapped(src, targetPages - gained());
      if (belowLow) for (const s of src) if (s.cg !== scope && s.cg.usage < s.cg.lowPages && s.cg.lowPages > 0) noteLow(s.cg);
      if (pass.reclaimed === before) break;
    }
    if (gained() >= targetPages) break;
  }
  const short = Math.max(0, targetPages - gained());
  pass.scanned += short;
  pass.costUs += short * k.costs.failedScanUs;
  scope.counters.pgscan += short;
  if (mode === "kswapd") {
    k.vmstat.pgscan_kswapd += pass.scanned;
    k.vmstat.pgsteal_kswapd += pass.reclaimed;
  } else {
    k.vmstat.pgscan_direct += pass.scanned;
    k.vmstat.pgsteal_direct += pass.reclaimed;
  }
  return { reclaimedPages: pass.reclaimed, scannedPages: pass.scanned, costUs: pass.costUs };
}

/** memory.events `low`: reclaimed although under memory.low. */
function noteLow(cg: SimCgroup): void {
  cg.eventsLocal.low++;
}
