/**
 * The kernel's OOM killer, as mm/oom_kill.c behaves (read, not copied): for a memcg at its limit
 * or for the whole machine, walk the eligible tasks, score each with oom_badness, kill the
 * highest, and take its memory.oom.group down with it.
 *
 *   badness = rss + swap entries + page tables (pages) + oom_score_adj × (totalpages / 1000)
 *   totalpages: RAM + swap for the machine; memory.max + min(memory.swap.max, swap total) for a
 *   memcg (swap counted only while swappiness is non-zero).
 *
 * Never chosen: pid 1, oom_score_adj −1000 (OOM_SCORE_ADJ_MIN). A walk that meets a victim
 * still on its way out stops without a kill: its memory is coming back (the kernel aborts the
 * same way while an OOM victim has not been reaped). Ties go to the later task in walk order, as
 * the kernel keeps the first task only while a later one scores strictly less.
 */
import type { KernelKill, SimKernel } from "./kernel.js";
import type { SimCgroup, SimTask } from "./state.js";

export const OOM_SCORE_ADJ_MIN = -1000;

export type OomOutcome =
  | { readonly kind: "killed"; readonly kills: readonly KernelKill[] }
  /** A victim is still exiting in the domain: wait for it. */
  | { readonly kind: "waiting" }
  /** Nothing killable (the real kernel panics for the machine; the model stalls). */
  | { readonly kind: "none" };

/** Tasks in the kernel's walk order: cgroups parents first, children and tasks in creation order. */
export function* walkTasks(domain: SimCgroup): IterableIterator<SimTask> {
  for (const cg of domain.subtree()) yield* cg.tasks;
}

export function oomTotalPages(k: SimKernel, memcg: SimCgroup | undefined): number {
  if (memcg === undefined) return k.ledger.totalPages + k.ledger.swapTotalPages;
  // The kernel's "max" page counter is LONG_MAX pages; here large enough to dwarf any machine.
  const maxPages = Number.isFinite(memcg.maxPages) ? memcg.maxPages : Math.floor(Number.MAX_SAFE_INTEGER / k.pageSizeBytes);
  const swap = k.swappiness === 0 ? 0 : Math.min(memcg.swapMaxPages, k.ledger.swapTotalPages);
  return Math.max(1, maxPages + swap);
}

/** oom_badness, or undefined when the kernel would never choose the task. */
export function badness(t: SimTask, totalPages: number): number | undefined {
  if (t.pid === 1 || t.oomScoreAdj === OOM_SCORE_ADJ_MIN) return undefined;
  const points = t.anonResident + t.fileResident + t.anonSwapped + t.ptPages;
  return points + t.oomScoreAdj * Math.floor(totalPages / 1000);
}

/** The victim the kernel would choose now, "waiting" when it would wait, or undefined. */
export function chooseVictim(k: SimKernel, memcg: SimCgroup | undefined): { task: SimTask; points: number } | "waiting" | undefined {
  const total = oomTotalPages(k, memcg);
  let chosen: { task: SimTask; points: number } | undefined;
  for (const t of walkTasks(memcg ?? k.root)) {
    if (t.state === "dying") return "waiting";
    const points = badness(t, total);
    if (points === undefined || (chosen !== undefined && points < chosen.points)) continue;
    chosen = { task: t, points };
  }
  return chosen;
}

/** The highest cgroup with memory.oom.group set between the victim's and the OOM's domain. */
function oomGroupOf(victim: SimTask, domain: SimCgroup | undefined): SimCgroup | undefined {
  let group: SimCgroup | undefined;
  for (let c: SimCgroup | undefined = victim.cgroup; c; c = c.parent) {
    if (c.parent === undefined) break; // the root cgroup has no memory.oom.group
    if (c.oomGroup) group = c;
    if (c === domain) break;
  }
  return group;
}

/** Marks a task dead by the kernel's hand and counts its oom_kill events. */
function kill(k: SimKernel, t: SimTask): void {
  t.state = "dying";
  t.killedBy = "kernel";
  t.reapAtMs = k.nowMs() + k.reapDelayMs(t);
  k.vmstat.oom_kill++;
  t.cgroup.eventsLocal.oom_kill++;
}

/** Runs the OOM killer for a memcg at its limit (`memcg`) or for the machine (undefined). */
export function outOfMemory(k: SimKernel, memcg: SimCgroup | undefined): OomOutcome {
  const choice = chooseVictim(k, memcg);
  if (choice === "waiting") return { kind: "waiting" };
  if (choice === undefined) return { kind: "none" };
  const totalPages = oomTotalPages(k, memcg);
  const constraint = memcg === undefined ? ("global" as const) : { memcg: memcg.path };
  const record = (t: SimTask, group?: SimCgroup): KernelKill => ({
    atMs: k.nowMs(),
    pid: t.pid,
    comm: t.comm,
    cgroup: t.cgroup.path,
    constraint,
    badness: badness(t, totalPages) ?? 0,
    totalPages,
    ...(group ? { group: group.path } : {}),
  });
  const group = oomGroupOf(choice.task, memcg);
  const kills: KernelKill[] = [record(choice.task, group)];
  kill(k, choice.task);
  if (group !== undefined) {
    group.eventsLocal.oom_group_kill++;
    for (const t of walkTasks(group)) {
      if (t.state !== "running" || t.oomScoreAdj === OOM_SCORE_ADJ_MIN || t.pid === 1) continue;
      kills.push(record(t, group));
      kill(k, t);
    }
  }
  k.kernelKills.push(...kills);
  return { kind: "killed", kills };
}
