/**
 * What the kernel fallback (./follow.ts) changed, kept in a state file so that it can be put back
 * after a crash. The file is written before each change and after each restore; at the next start
 * — whatever kernel_fallback says then — every value still at what oomkit wrote is put back:
 * a task's oom_score_adj (the same process: pid and start time) and a cgroup's memory.oom.group.
 * A value someone changed since (kubelet, the user, the task itself) is left as it is.
 *
 * The file is hostile input like every state file (./state-store.ts): an original value must be
 * one oomkit could have raised from (−999…999: never −1000, which oomkit never raises, so a
 * forged file cannot make oomkit shield a task from the kernel), a cgroup a plain cgroup path.
 */
import * as z from "zod";
import { onFirstUse } from "../on-first-use.js";
import type { Logger } from "../log.js";
import type { CgroupMode } from "../os/cgroup-mode.js";
import type { Host } from "../os/host.js";
import { parseProcStat } from "../os/parse/proc.js";
import { CgroupFile, type CgroupPath, PidFile, cgroupDir, cgroupPath, procPid } from "../os/paths.js";
import { FOLLOW_ADJ, type RaisedTask } from "./follow-view.js";
import { StateStore, savedCgroupPath } from "./state-store.js";

/** The state file, in the state folder. */
export const FOLLOW_FILE = "kernel-fallback.json";

const SAVED = onFirstUse(() =>
  z.strictObject({
    version: z.literal(1),
    tasks: z
      .array(
        z.strictObject({
          pid: z.number().int().min(2).max(2 ** 22),
          startTimeTicks: z.number().int().nonnegative(),
          original: z.number().int().min(-999).max(FOLLOW_ADJ - 1),
        }),
      )
      .max(100_000),
    /** Cgroups whose memory.oom.group oomkit set to 1 (it was 0). */
    oomGroups: z.array(savedCgroupPath()).max(10_000),
  }),
);

export class FollowStore {
  readonly #store: StateStore<ReturnType<typeof SAVED>>;

  constructor(opts: { file: string; log: Logger; readOnly: boolean }) {
    this.#store = new StateStore({ file: opts.file, schema: SAVED, log: opts.log, readOnly: opts.readOnly });
  }

  get file(): string {
    return this.#store.file;
  }

  read(): { tasks: RaisedTask[]; oomGroups: CgroupPath[] } | undefined {
    const s = this.#store.read();
    return s && { tasks: s.tasks, oomGroups: s.oomGroups.map((c) => cgroupPath(c)) };
  }

  /** Throws when the file cannot be written (the caller says what that risks). */
  write(tasks: Iterable<RaisedTask>, oomGroups: Iterable<CgroupPath>): void {
    this.#store.write({
      version: 1,
      tasks: [...tasks].map((t) => ({ pid: t.pid, startTimeTicks: t.startTimeTicks, original: t.original })),
      oomGroups: [...oomGroups],
    });
  }
}

/**
 * Why a raised task's value is not to be put back — it exited (`gone`), or someone changed the
 * value since — or undefined when it may be: the same process, still at what oomkit wrote.
 */
export function stillOurs(host: Host, t: RaisedTask): { readonly gone: boolean; readonly why: string } | undefined {
  let start: number;
  let adj: number;
  try {
    start = parseProcStat(host.readFile(procPid(t.pid, PidFile.stat))).startTimeTicks;
    adj = Number(host.readFile(procPid(t.pid, PidFile.oomScoreAdj)).trim());
  } catch {
    return { gone: true, why: "it exited" };
  }
  if (start !== t.startTimeTicks) return { gone: true, why: "it exited (its pid names another process)" };
  if (adj !== FOLLOW_ADJ) return { gone: false, why: `its oom_score_adj is ${adj} now, not oomkit's ${FOLLOW_ADJ}: someone changed it since` };
  return undefined;
}

/** Why a cgroup's memory.oom.group is not put back, or undefined when it may be (still 1). */
export function groupStillOurs(host: Host, file: string): string | undefined {
  let v: string;
  try {
    v = host.readFile(file).trim();
  } catch {
    return "the cgroup is gone";
  }
  return v === "1" ? undefined : `its memory.oom.group is ${v} now: someone changed it since`;
}

/** What restoreLeftovers put back, and what it could not (still in the file). */
export interface Leftovers {
  readonly restored: number;
  readonly tasks: readonly RaisedTask[];
  readonly oomGroups: readonly CgroupPath[];
}

/**
 * After a crash: puts back what a previous run left changed, where it is still what oomkit wrote,
 * then empties the file. A dry run says what it would put back and writes nothing.
 */
export function restoreLeftovers(opts: { host: Host; mode: CgroupMode; file: string; log: Logger; dryRun: boolean }): Leftovers {
  const { host, log, dryRun } = opts;
  const store = new FollowStore({ file: opts.file, log, readOnly: dryRun });
  const saved = store.read();
  if (!saved || (saved.tasks.length === 0 && saved.oomGroups.length === 0)) return { restored: 0, tasks: [], oomGroups: [] };
  let restored = 0;
  /** Whether the value was put back (a dry run puts back nothing, and says so). */
  const put = (what: string, file: string, value: string): boolean => {
    if (dryRun) {
      log.info(`kernel fallback (dry-run, not restored): a previous run left ${what}; it would be set back to ${value}`);
      return false;
    }
    try {
      host.writeFile(file, value);
      restored++;
      log.info(`kernel fallback: restored ${what} to ${value} (left by a previous run)`);
      return true;
    } catch (err) {
      log.warn(`kernel fallback: cannot restore ${what} to ${value}: ${(err as Error).message}; kept for the next start`);
      return false;
    }
  };
  // What could not be put back stays in the file, for the next start to try again.
  const leftTasks: RaisedTask[] = [];
  const leftGroups: CgroupPath[] = [];
  for (const t of saved.tasks) {
    const not = stillOurs(host, t);
    if (not) log.info(`kernel fallback: pid ${t.pid} left as it is (${not.why})`);
    else if (!put(`oom_score_adj ${FOLLOW_ADJ} on pid ${t.pid}`, procPid(t.pid, PidFile.oomScoreAdj), String(t.original))) leftTasks.push(t);
  }
  const mount = opts.mode.perCgroup ? opts.mode.unifiedMount : undefined;
  for (const cg of saved.oomGroups) {
    if (mount === undefined) break;
    const file = `${cgroupDir(mount, cg)}/${CgroupFile.memoryOomGroup}`;
    const why = groupStillOurs(host, file);
    if (why) log.info(`kernel fallback: ${cg} left as it is (${why})`);
    else if (!put(`memory.oom.group 1 on ${cg}`, file, "0")) leftGroups.push(cg);
  }
  if (!dryRun) {
    try {
      store.write(leftTasks, leftGroups);
    } catch (err) {
      log.warn(`kernel fallback state ${store.file}: cannot be written (${(err as Error).message})`);
    }
  }
  return { restored, tasks: leftTasks, oomGroups: leftGroups };
}
