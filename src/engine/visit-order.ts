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

/** At most this many tasks are put in order by packed keys (the index lies below the size). */
const INDEX_SPAN = 2 ** 22;
/**
 * Sizes rank in 4 KiB units (a page: resident and swapped memory come in pages), at most 2^31 of
 * them (8 TiB; a task larger ranks with those of 8 TiB, by pid): with the task's index below, a
 * key is an exact integer under 2^53.
 */
const UNIT_BYTES = 4096;
const MAX_UNITS = 2 ** 31 - 1;

/**
 * `tasks` largest first by `sizes` (a new array); `tasks` itself when there are no sizes. It
 * needs only each one's pid: a scope's pids are put in order before any process is read
 * (OomControl.visitTasks reads each as it is reached).
 *
 * Each task becomes one number, its size in units above its index, and the numbers are sorted
 * as numbers; given in pid order (as both of OomControl's listings are), the index breaks ties
 * as the pid does. A sort of objects by a comparison function, and a map back from pid to task,
 * took 4-5 ms at 10,000 tasks here: a stretch with no read in it, where a decision made ahead
 * cannot be stopped (src/engine/preempt.ts stops it at reads). Any other input takes that sort.
 */
export function largestFirst<T extends { readonly pid: number }>(tasks: readonly T[], sizes: VisitSizes | undefined): readonly T[] {
  if (sizes === undefined || tasks.length < 2) return tasks;
  if (tasks.length >= INDEX_SPAN) return bySort(tasks, sizes);
  const keys = new Float64Array(tasks.length);
  let previous = -1;
  for (let i = 0; i < tasks.length; i++) {
    const pid = (tasks[i] as T).pid;
    const bytes = sizes.taskBytes(pid) ?? UNKNOWN_TASK_BYTES;
    // Not in pid order, or a size that is not a number: the general sort.
    if (!(pid > previous) || !(bytes >= 0)) return bySort(tasks, sizes);
    previous = pid;
    keys[i] = Math.min(MAX_UNITS, Math.ceil(bytes / UNIT_BYTES)) * INDEX_SPAN + i;
  }
  keys.sort();
  const out = new Array<T>(keys.length);
  for (let i = 0; i < keys.length; i++) out[i] = tasks[(keys[keys.length - 1 - i] as number) % INDEX_SPAN] as T;
  return out;
}

/** The same order by a comparison sort, for inputs the packed keys cannot hold. */
function bySort<T extends { readonly pid: number }>(tasks: readonly T[], sizes: VisitSizes): readonly T[] {
  const unitsOf = (pid: number) => {
    const bytes = sizes.taskBytes(pid) ?? UNKNOWN_TASK_BYTES;
    return bytes >= 0 ? Math.min(MAX_UNITS, Math.ceil(bytes / UNIT_BYTES)) : 0;
  };
  const ranked = tasks.map((task) => ({ task, units: unitsOf(task.pid) }));
  ranked.sort((a, b) => b.units - a.units || b.task.pid - a.task.pid);
  return ranked.map((r) => r.task);
}
