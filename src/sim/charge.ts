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
 * chargePages's result, one object overwritten by every call (read it before the next charge),
 * and the stall of the last limit check (chargeMax, chargeMachine, chargeHigh), their second
 * result: a charge runs for every charging task on every step, and the objects made per call were
 * an eighth of everything a simulated run allocated. Each check still sums its own stall before
 * chargePages adds it, in the order the sums were always made (the same figures to the last bit).
 */
const result = { granted: 0, stallUs: 0 };
let checkStallUs = 0;

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

/** Step 1: memory.max, from the task's cgroup up (the root has none). Returns the pages that fit; its stall in checkStallUs. */
function chargeMax(k: SimKernel, t: SimTask, n: number): number {
  let stallUs = 0;
  for (let c: SimCgroup | undefined = t.cgroup; c?.parent; c = c.parent) {
    if (c.usage + withTables(n) <= c.maxPages) continue;
    c.eventsLocal.max++;
    stallUs += reclaim(k, c, c.usage + withTables(n) - c.maxPages + RECLAIM_BATCH, "direct").costUs;
    if (c.usage + withTables(n) <= c.maxPages) continue;
    c.eventsLocal.oom++;
    outOfMemory(k, c);
    n = Math.min(n, fitIn(c.maxPages - c.usage));
    if (n === 0) {
      checkStallUs = stallUs;
      return 0;
    }
  }
  checkStallUs = stallUs;
  return n;
}

/** Step 2: the machine's free pages above the min watermark. Returns the pages that fit; its stall in checkStallUs. */
function chargeMachine(k: SimKernel, n: number): number {
  const wm = k.watermarks.min;
  const need = withTables(n);
  let stallUs = 0;
  checkStallUs = 0;
  if (k.ledger.freePages - need >= wm) return n;
  stallUs += reclaim(k, k.root, wm + need - k.ledger.freePages + RECLAIM_BATCH, "direct", true).costUs;
  checkStallUs = stallUs;
  if (k.ledger.freePages - need >= wm) return n;
  outOfMemory(k, undefined);
  const room = k.ledger.freePages - wm;
  return Math.min(n, fitIn(room));
}

/** Step 3: memory.high reclaim, from the task's cgroup up. Returns the throttle's cost per page; its stall in checkStallUs. */
function chargeHigh(k: SimKernel, t: SimTask, n: number): number {
  let stallUs = 0;
  let perPageUs = 0;
  for (let c: SimCgroup | undefined = t.cgroup; c?.parent; c = c.parent) {
    if (c.usage + n <= c.highPages) continue;
    c.eventsLocal.high++;
    stallUs += reclaim(k, c, c.usage + n - c.highPages, "direct").costUs;
    perPageUs = Math.max(perPageUs, highPenaltyUsPerPage(c.usage + n, c.highPages));
  }
  checkStallUs = stallUs;
  return perPageUs;
}

/**
 * Charges up to `n` new anonymous pages (or refaults) for `t` within `budgetUs` of its time. The
 * result is overwritten by the next call (see `result`).
 */
export function chargePages(k: SimKernel, t: SimTask, n: number, budgetUs: number): ChargeResult {
  if (n <= 0) return answer(0, 0);
  const maxFit = chargeMax(k, t, n);
  let stallUs = checkStallUs;
  if (maxFit === 0) return answer(0, budgetUs);
  const machineFit = chargeMachine(k, maxFit);
  stallUs += checkStallUs;
  if (machineFit === 0) return answer(0, budgetUs);
  const perPageUs = chargeHigh(k, t, machineFit);
  stallUs += checkStallUs;
  let granted = machineFit;
  if (perPageUs > 0) {
    const left = Math.max(0, budgetUs - stallUs);
    granted = Math.min(granted, Math.floor(left / perPageUs));
    stallUs += granted * perPageUs;
    if (granted < machineFit) stallUs = Math.max(stallUs, budgetUs);
  }
  // A task that could not have all it asked for waited the rest of its step.
  if (granted < n) stallUs = Math.max(stallUs, budgetUs);
  return answer(granted, Math.min(stallUs, budgetUs));
}

function answer(granted: number, stallUs: number): ChargeResult {
  result.granted = granted;
  result.stallUs = stallUs;
  return result;
}
