/**
 * The order in which a decision visits a scope's tasks: largest first, by the sizes the daemon's
 * warm model already holds (engine/model.ts `taskBytes`), read from memory, never from /proc.
 *
 * Why: a policy call is bounded by its deadline, and on a crowded or slow machine (3,000 tasks
 * under TCG, a few ms each) it is cut short after a fraction of the scope; its best so far
 * (oc.bestSoFar) is then carried out. Visited in pid order, that fraction was the oldest
 * processes, and a leak — the newest pid — was never reached. Largest first, a call cut short
 * has covered the tasks that matter for any size-ranked choice; the rest are the small ones.
 *
 * A task the model holds no size for (no decision has read it yet) ranks as UNKNOWN_TASK_BYTES:
 * before the known-small ones, since it may be anything. Among equal sizes the higher pid (the
 * newer process) goes first. Without sizes (a fixture, `oomkit explain`, standing decisions
 * off) the order is the snapshot's own, by pid. A policy's choice over the whole scope does not
 * depend on the order: the built-ins break ties by pid, not by visiting order.
 */
/** Sizes known before reading anything: the warm model's. */
export interface VisitSizes {
  /** A task's resident (+ swapped) bytes as last read, or undefined when unknown. */
  taskBytes(pid: number): number | undefined;
}

/** The rank of a task of unknown size: as large as a task the model re-reads often (LARGE_TASK_BYTES). */
export const UNKNOWN_TASK_BYTES = 64 * 1024 * 1024;

/**
 * `tasks` largest first by `sizes` (a new array); `tasks` itself when there are no sizes. It
 * needs only each one's pid: a scope's pids are put in order before any process is read
 * (OomControl.visitTasks reads each as it is reached).
 */
export function largestFirst<T extends { readonly pid: number }>(tasks: readonly T[], sizes: VisitSizes | undefined): readonly T[] {
  if (sizes === undefined || tasks.length < 2) return tasks;
  // One look-up per task, then a sort of numbers: on 10,000 tasks a few ms, not a few per task.
  const ranked = tasks.map((task) => ({ task, bytes: sizes.taskBytes(task.pid) ?? UNKNOWN_TASK_BYTES }));
  ranked.sort((a, b) => b.bytes - a.bytes || b.task.pid - a.task.pid);
  return ranked.map((r) => r.task);
}
