/**
 * A task asking for pages, as the kernel's charge and allocation paths treat it:
 *
 * 1. memory.max, from the task's cgroup up: over the limit, a `max` event and direct reclaim in
 *    that subtree; still over, an `oom` event and the OOM killer for that memcg. The task gets
 *    only what fits.
 * 2. The machine: below the min watermark after the allocation, direct reclaim for the machine;
 *    still short, the machine's OOM killer.
 * 3. memory.high, from the task's cgroup up: over it, a `high` event and reclaim back to high;
 *    still over, the allocation is throttled as mem_cgroup_handle_over_high does (below).
 *
 * Events are counted once per task and step (the kernel counts per charge attempt: the figures
 * rise at the same times, by different amounts).
 */
import type { SimKernel } from "./kernel.js";
import { outOfMemory } from "./oom-killer.js";
import { reclaim } from "./reclaim.js";
import type { SimCgroup, SimTask } from "./state.js";

/** Pages reclaim asks for beyond the need (SWAP_CLUSTER_MAX), so it is not re-run per page. */
const RECLAIM_BATCH = 32;
/** memory.high throttling (mm/memcontrol.c): the batch the penalty is scaled to, its floor and cap. */
const CHARGE_BATCH = 64;
const MIN_PENALTY_S = 0.01;
const MAX_PENALTY_S = 2;

export interface ChargeResult {
  readonly granted: number;
  /** Time the task spent reclaiming, waiting on the OOM killer or throttled, µs. */
  readonly stallUs: number;
}

/**
 * µs of throttling per page charged while `usage` is over `high`: the kernel sleeps
 * overage² × 64 s per 64-page batch, overage = (usage − high) / high, skipping sleeps under
 * 10 ms and capping them at 2 s.
 */
export function highPenaltyUsPerPage(usage: number, high: number): number {
  if (usage <= high) return 0;
  const r = (usage - high) / Math.max(high, 1);
  const perBatchS = 64 * r * r;
  if (perBatchS <= MIN_PENALTY_S) return 0;
  return (Math.min(perBatchS, MAX_PENALTY_S) / CHARGE_BATCH) * 1e6;
}

/** Pages a charge of `n` may need with the page tables that map them (./state.ts pageTablesFor). */
function withTables(n: number): number {
  return n + Math.ceil(n / 512) + 1;
}

/** The most pages whose charge, page tables included, fits in `room`. */
function fitIn(room: number): number {
  return Math.max(0, Math.floor(((room - 1) * 512) / 513));
}

function limitedAncestors(t: SimTask): SimCgroup[] {
  const out: SimCgroup[] = [];
  for (let c: SimCgroup | undefined = t.cgroup; c?.parent; c = c.parent) out.push(c);
  return out;
}

/** Step 1: memory.max. Returns the pages that fit, and the stall spent. */
function chargeMax(k: SimKernel, chain: readonly SimCgroup[], n: number): { fit: number; stallUs: number } {
  let stallUs = 0;
  for (const c of chain) {
    if (c.usage + withTables(n) <= c.maxPages) continue;
    c.eventsLocal.max++;
    stallUs += reclaim(k, c, c.usage + withTables(n) - c.maxPages + RECLAIM_BATCH, "direct").costUs;
    if (c.usage + withTables(n) <= c.maxPages) continue;
    c.eventsLocal.oom++;
    outOfMemory(k, c);
    n = Math.min(n, fitIn(c.maxPages - c.usage));
    if (n === 0) return { fit: 0, stallUs };
  }
  return { fit: n, stallUs };
}

/** Step 2: the machine's free pages above the min watermark. */
function chargeMachine(k: SimKernel, n: number): { fit: number; stallUs: number } {
  const wm = k.watermarks.min;
  const need = withTables(n);
  let stallUs = 0;
  if (k.ledger.freePages - need >= wm) return { fit: n, stallUs };
  stallUs += reclaim(k, k.root, wm + need - k.ledger.freePages + RECLAIM_BATCH, "direct", true).costUs;
  if (k.ledger.freePages - need >= wm) return { fit: n, stallUs };
  outOfMemory(k, undefined);
  const room = k.ledger.freePages - wm;
  return { fit: Math.min(n, fitIn(room)), stallUs };
}

/** Step 3: memory.high reclaim, then the throttle's cost per page. */
function chargeHigh(k: SimKernel, chain: readonly SimCgroup[], n: number): { perPageUs: number; stallUs: number } {
  let stallUs = 0;
  let perPageUs = 0;
  for (const c of chain) {
    if (c.usage + n <= c.highPages) continue;
    c.eventsLocal.high++;
    stallUs += reclaim(k, c, c.usage + n - c.highPages, "direct").costUs;
    perPageUs = Math.max(perPageUs, highPenaltyUsPerPage(c.usage + n, c.highPages));
  }
  return { perPageUs, stallUs };
}

/** Charges up to `n` new anonymous pages (or refaults) for `t` within `budgetUs` of its time. */
export function chargePages(k: SimKernel, t: SimTask, n: number, budgetUs: number): ChargeResult {
  if (n <= 0) return { granted: 0, stallUs: 0 };
  const chain = limitedAncestors(t);
  const max = chargeMax(k, chain, n);
  let stallUs = max.stallUs;
  if (max.fit === 0) return { granted: 0, stallUs: budgetUs };
  const machine = chargeMachine(k, max.fit);
  stallUs += machine.stallUs;
  if (machine.fit === 0) return { granted: 0, stallUs: budgetUs };
  const high = chargeHigh(k, chain, machine.fit);
  stallUs += high.stallUs;
  let granted = machine.fit;
  if (high.perPageUs > 0) {
    const left = Math.max(0, budgetUs - stallUs);
    granted = Math.min(granted, Math.floor(left / high.perPageUs));
    stallUs += granted * high.perPageUs;
    if (granted < machine.fit) stallUs = Math.max(stallUs, budgetUs);
  }
  // A task that could not have all it asked for waited the rest of its step.
  if (granted < n) stallUs = Math.max(stallUs, budgetUs);
  return { granted, stallUs: Math.min(stallUs, budgetUs) };
}
