/**
 * One step of virtual time for the machine: dead tasks' memory comes back, every running task
 * (in pid order) frees or asks for what its curve says, touches its memory (refaulting what was
 * swapped out or evicted), fills page cache and forks; kswapd reclaims in the background; and
 * each cgroup's pressure is accounted from its tasks' stalled shares.
 */
import { chargePages } from "./charge.js";
import { curveBytes } from "./curve.js";
import type { SimKernel } from "./kernel.js";
import { type StallProducts, shares } from "./psi.js";
import { reclaim } from "./reclaim.js";
import type { SimCgroup, SimTask } from "./state.js";

/** Background reclaim throughput: kswapd on one core, about 1 GiB/s of clean pages. */
const KSWAPD_BYTES_PER_SEC = 1 << 30;

export interface StepWorld {
  readonly k: SimKernel;
  /** Running and dying tasks, pid order. */
  tasks(): readonly SimTask[];
  /** A fork-storm child of `parent`. */
  fork(parent: SimTask): void;
  /** The task's memory came back: it leaves the machine. */
  reap(t: SimTask): void;
}

/**
 * Whole pages out of a fractional rate, carrying the remainder in the task. One function per
 * carry: a field named by a variable key is a slow property access, and this runs for every task
 * on every step.
 */
function wholeAnon(t: SimTask, x: number): number {
  const total = t.carryAnon + x;
  const n = Math.floor(total);
  t.carryAnon = total - n;
  return n;
}
function wholeFile(t: SimTask, x: number): number {
  const total = t.carryFile + x;
  const n = Math.floor(total);
  t.carryFile = total - n;
  return n;
}
function wholeCache(t: SimTask, x: number): number {
  const total = t.carryCache + x;
  const n = Math.floor(total);
  t.carryCache = total - n;
  return n;
}

function runTask(w: StepWorld, t: SimTask, nowMs: number, dtMs: number): void {
  const k = w.k;
  const budgetUs = dtMs * 1000;
  const b = t.behaviour;
  const ageMs = nowMs - t.startMs;
  if (b.fork) {
    const due = Math.min(b.fork.max, Math.floor((ageMs * b.fork.perSec) / 1000));
    while (t.forked < due) {
      t.forked++;
      w.fork(t);
    }
  }
  const target = Math.ceil(curveBytes(b.curve, ageMs, t.seed) / k.pageSizeBytes);
  const held = t.anonResident + t.anonSwapped;
  // Most tasks most of the time: all resident, at their curve, filling no cache.
  if (target === held && t.anonSwapped === 0 && t.fileEvicted === 0 && b.cachePagesPerSec === 0) {
    t.stallShare = 0;
    return;
  }
  if (target < held) k.ledger.freeAnon(t, held - target);
  let stallUs = 0;
  // The first fill of its mapped files, then refaults of what reclaim took (uniform touches).
  const loadFile = t.fileLoaded ? 0 : t.fileEvicted;
  // Nothing swapped or evicted adds nothing to a carry (each stays in [0, 1)): skipped, as most tasks are.
  const anonIn = t.anonSwapped === 0 ? 0 : Math.min(t.anonSwapped, wholeAnon(t, (b.touchPerSec * dtMs * t.anonSwapped) / 1000));
  const fileIn = t.fileLoaded && t.fileEvicted !== 0 ? Math.min(t.fileEvicted, wholeFile(t, (b.fileTouchPerSec * dtMs * t.fileEvicted) / 1000)) : 0;
  if (anonIn + fileIn + loadFile > 0) {
    const r = chargePages(k, t, anonIn + fileIn + loadFile, budgetUs);
    stallUs += r.stallUs;
    let left = r.granted;
    const loaded = k.ledger.refaultFile(t, Math.min(left, loadFile), false);
    left -= loaded;
    if (loaded === loadFile) t.fileLoaded = true;
    const ain = k.ledger.swapIn(t, Math.min(left, anonIn));
    const fin = k.ledger.refaultFile(t, left - ain, true);
    k.vmstat.pswpin += ain;
    k.vmstat.workingset_refault_anon += ain;
    k.vmstat.workingset_refault_file += fin;
    const swapInUs = k.ledger.swap?.kind === "zram" ? k.costs.swapInZramUs : k.costs.swapInDiskUs;
    stallUs += ain * swapInUs + fin * k.costs.refaultFileUs;
  }
  const want = Math.min(target - (t.anonResident + t.anonSwapped), Math.floor((budgetUs - stallUs) / k.costs.faultUs));
  if (want > 0 && stallUs < budgetUs) {
    const r = chargePages(k, t, want, budgetUs - stallUs);
    k.ledger.allocAnon(t, r.granted);
    stallUs += r.stallUs;
  }
  const cache = wholeCache(t, (b.cachePagesPerSec * dtMs) / 1000);
  if (cache > 0 && stallUs < budgetUs) {
    const r = chargePages(k, t, cache, budgetUs - stallUs);
    k.ledger.addCache(t.cgroup, r.granted);
    stallUs += r.stallUs;
  }
  t.stallShare = Math.min(1, stallUs / budgetUs);
}

/** Accounts a step of pressure for the subtree; returns its stall products for the parent. */
function accountPressure(cg: SimCgroup, dtMs: number): StallProducts {
  const p: StallProducts = { notStalled: 1, allStalled: 1, tasks: 0 };
  for (const t of cg.tasks) {
    if (t.state !== "running") continue;
    p.notStalled *= 1 - t.stallShare;
    p.allStalled *= t.stallShare;
    p.tasks++;
  }
  for (const c of cg.children.values()) {
    const q = accountPressure(c, dtMs);
    p.notStalled *= q.notStalled;
    p.allStalled *= q.allStalled;
    p.tasks += q.tasks;
  }
  const s = shares(p);
  cg.psi.account(s.some, s.full, dtMs);
  return p;
}

function tickPressure(cg: SimCgroup, nowMs: number): void {
  cg.psi.tick(nowMs);
  for (const c of cg.children.values()) tickPressure(c, nowMs);
}

/** Advances the machine from `nowMs` by `dtMs`; the kernel's clock reads the step's end. */
export function step(w: StepWorld, nowMs: number, dtMs: number): void {
  const k = w.k;
  const end = nowMs + dtMs;
  for (const t of w.tasks()) {
    if (t.state === "running" && t.termExitAtMs !== undefined && t.termExitAtMs <= end) {
      t.state = "dying";
      t.killedBy = "signal";
      t.reapAtMs = t.termExitAtMs + k.reapDelayMs(t);
    }
    if (t.state === "dying" && t.reapAtMs <= end) w.reap(t);
  }
  for (const t of w.tasks()) if (t.state === "running") runTask(w, t, end, dtMs);
  const wm = k.watermarks;
  if (k.ledger.freePages < wm.low) {
    const cap = Math.floor((KSWAPD_BYTES_PER_SEC / k.pageSizeBytes) * (dtMs / 1000));
    reclaim(k, k.root, Math.min(cap, wm.high - k.ledger.freePages), "kswapd", true);
  }
  accountPressure(k.root, dtMs);
  tickPressure(k.root, end);
}
