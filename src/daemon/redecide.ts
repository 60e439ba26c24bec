/**
 * When a standing plan must be made again, besides its age (daemon/standing.ts): when the warm
 * model changed in a way the plan depends on. A plan stands as long as the trigger's own check
 * (engine/standing.ts `recheck`) would accept it and nothing structural changed:
 *
 * - Structure (WarmModel.structureGeneration: a process that came, a pid naming another
 *   process, a cgroup that came or went, a changed name, command line, oom_score_adj, mark or
 *   cgroup setting) makes every plan due: whatever a policy weighs besides sizes may have moved.
 * - A memory figure that moved makes a plan due only when, judged on the model's figures
 *   (nothing is read from the machine), the trigger would refuse it (`refusedOn`: a target gone
 *   or drifted below DRIFT_FRACTION, the scope grown outside the targets past the ELSEWHERE
 *   bound), or another task or cgroup of the scope now holds more than the victim did when it
 *   was chosen, having held less then (a size-ranked policy would choose it now). Those already
 *   larger when the plan was made were weighed by the policy and passed over: their breathing
 *   is no news.
 *
 * - Where no plan stands because every policy passed or found no victim (settled), a figure of
 *   the scope that moved at all makes it due (whyNoneOutdated), and structure as above; where a
 *   policy ran out of time or failed, or the verifier refused a plan, it is due at once.
 *
 * So an idle machine whose figures breathe keeps its plans until their age (REDECIDE_MS ÷ pace),
 * and a leak, a shrinking victim, a newcomer or a new mark still make one at once (at most
 * MIN_REDECIDE_MS ÷ pace after the last).
 */
import type { WarmModel } from "../engine/model.js";
import type { Snapshot } from "../engine/snapshot.js";
import { type PreparedPlan, refusedOn } from "../engine/standing.js";
import { type CgroupPath, ROOT_CGROUP, cgroupDir } from "../os/paths.js";

/**
 * Another task or cgroup overtakes a victim only by more than the model's own noise: 5 % of what
 * the victim held (at least 1 MiB, at most 8 MiB), the moves WarmModel counts as news. Two
 * near-equal tasks breathing around each other would otherwise ask for a plan at every breath,
 * and a fresh decision between them frees about the same.
 */
const OVERTAKE_FLOOR_BYTES = 1024 * 1024;
const OVERTAKE_CAP_BYTES = 8 * 1024 * 1024;
const OVERTAKE_FRACTION = 0.05;

/** What a plan's victims held on the model, and who was larger already, to tell an overtaker. */
type Overtake =
  | { readonly kind: "task"; readonly bytes: number; readonly targets: ReadonlySet<number>; readonly above: ReadonlySet<number> }
  | { readonly kind: "cgroup"; readonly bytes: number; readonly targets: readonly string[]; readonly above: ReadonlySet<string> };

/** What the daemon keeps beside a standing plan to judge the model's changes against it. */
export interface PlanWatch {
  /** WarmModel.structureGeneration when the plan was made. */
  readonly structure: number;
  readonly overtake: Overtake | undefined;
  /** The scope's folder in the cgroup tree, when there is one. */
  readonly scopeDir: string | undefined;
  /**
   * No plan stands because every policy of the chain passed or found nothing to kill (not because
   * one ran out of time, failed, or had its plan refused): the answer stands, like a plan, until
   * the structure changes or a memory figure in the scope moves (whyNoneOutdated), or by its age.
   */
  readonly settled: boolean;
  /**
   * Why the plan is to be made again, once the model showed it (kept until it is). Set from the
   * start for a plan made while a policy ahead of it ran out of time or threw (the kernel's
   * badness standing in for a priority policy, or an older plan kept): it is tried again as soon
   * as a changed one would be, not at its age.
   */
  outdated: string | undefined;
}

/** The watch for a plan just made on the model; `structure` is the generation it was made at. */
export function watchPlan(plan: PreparedPlan | undefined, model: WarmModel, structure: number, mount: string | undefined, failed: readonly string[] = [], settled = false, scope: CgroupPath = plan?.scope ?? ROOT_CGROUP): PlanWatch {
  const scopeDir = mount === undefined ? undefined : cgroupDir(mount, scope);
  const outdated = failed.length > 0 ? `${failed.join(", ")} ran out of time or failed when it was made` : undefined;
  return { structure, overtake: plan === undefined ? undefined : overtakeOf(plan, model, mount), scopeDir, outdated, settled: plan === undefined && settled && outdated === undefined };
}

function overtakeOf(plan: PreparedPlan, model: WarmModel, mount: string | undefined): Overtake | undefined {
  const held = (i: number) => plan.basis?.targetBytes[i] ?? plan.targets[i]?.bytes;
  const tasks = plan.targets.flatMap((t, i) => (t.action.kind === "kill-task" ? [{ pid: t.action.pid, bytes: held(i) }] : []));
  if (tasks.length > 0 && tasks.length === plan.targets.length) {
    const bytes = Math.min(...tasks.map((t) => t.bytes ?? Number.POSITIVE_INFINITY));
    if (!Number.isFinite(bytes)) return undefined;
    return { kind: "task", bytes, targets: new Set(tasks.map((t) => t.pid)), above: new Set(model.tasksAbove(bytes)) };
  }
  if (mount === undefined) return undefined;
  const groups = plan.targets.flatMap((t, i) => (t.action.kind === "kill-cgroup" ? [{ dir: cgroupDir(mount, t.action.cgroup), bytes: held(i) }] : []));
  if (groups.length === 0 || groups.length !== plan.targets.length) return undefined;
  const bytes = Math.min(...groups.map((g) => g.bytes ?? Number.POSITIVE_INFINITY));
  if (!Number.isFinite(bytes)) return undefined;
  return { kind: "cgroup", bytes, targets: groups.map((g) => g.dir), above: new Set(model.cgroupsAbove(bytes)) };
}

/**
 * Why `plan` is to be made again given the model's figures now (`snapshot`, the model's) and
 * what moved since the last look (`moved`, WarmModel.takeMoved), or undefined while it stands.
 * Structure is the caller's to compare (PlanWatch.structure).
 */
export function whyOutdated(plan: PreparedPlan, watch: PlanWatch, snapshot: Snapshot, moved: { readonly pids: ReadonlySet<number>; readonly cgroups: ReadonlySet<string> }, model: WarmModel): string | undefined {
  const refused = refusedOn(plan, snapshot);
  if (refused !== undefined) {
    // Growth the machine-wide figures showed (the machine's scope is judged on meminfo, re-read
    // more often than the cgroups' usage): where it is, the usage re-reads tell, before the plan
    // is made again — else it is made on the figures from before the growth, and names the same
    // victim (the VM's daemon-zram, oomkit's pages under thrash: the bystander, again and again).
    if (refused.kind === "grown" && watch.scopeDir !== undefined) model.urgeUsageUnder(watch.scopeDir);
    return `the trigger would refuse it: ${refused.reason}`;
  }
  const o = watch.overtake;
  if (o === undefined) return undefined;
  const bound = o.bytes + Math.min(OVERTAKE_CAP_BYTES, Math.max(OVERTAKE_FLOOR_BYTES, OVERTAKE_FRACTION * o.bytes));
  if (o.kind === "task") {
    for (const pid of moved.pids) {
      if (o.targets.has(pid) || o.above.has(pid)) continue;
      const now = model.taskBytes(pid);
      if (now === undefined || now <= bound || !taskUnder(model, pid, watch.scopeDir, plan.scope)) continue;
      return `pid ${pid} holds ${mib(now)} now, more than the victim did when chosen (${mib(o.bytes)})`;
    }
    return undefined;
  }
  for (const dir of moved.cgroups) {
    if (o.above.has(dir) || o.targets.some((t) => related(t, dir)) || !under(dir, watch.scopeDir)) continue;
    const now = Number(model.keptText(`${dir}/memory.current`)?.trim());
    if (!Number.isFinite(now) || now <= bound) continue;
    return `${dir} holds ${mib(now)} now, more than the victim did when chosen (${mib(o.bytes)})`;
  }
  return undefined;
}

/**
 * Why a settled scope (no plan: its policies found nothing to do) is to be decided again, given
 * what moved since the last look: any memory figure of the scope — a task in it, its own usage
 * or a cgroup's below — by any amount. A policy that passed weighed the figures it saw, and
 * nothing else has changed until the structure does (the caller's to compare). So an empty
 * cgroup (a job whose leak was killed) is not decided again every couple of seconds to find
 * nothing again; a scope whose figures breathe is, as before.
 */
export function whyNoneOutdated(scope: CgroupPath, watch: PlanWatch, moved: { readonly pids: ReadonlySet<number>; readonly cgroups: ReadonlySet<string> }, model: WarmModel): string | undefined {
  for (const dir of moved.cgroups) if (dir === watch.scopeDir || under(dir, watch.scopeDir)) return `no plan stands, and ${dir}'s memory moved`;
  for (const pid of moved.pids) if (taskUnder(model, pid, watch.scopeDir, scope)) return `no plan stands, and pid ${pid}'s memory moved`;
  return undefined;
}

/** Whether a task is in the scope, by its kept /proc/PID/cgroup (in it when that is not kept). */
function taskUnder(model: WarmModel, pid: number, scopeDir: string | undefined, scope: CgroupPath): boolean {
  if (scope === ROOT_CGROUP || scopeDir === undefined) return true;
  const line = /^0::(\/[^\n]*)$/m.exec(model.keptText(`/proc/${pid}/cgroup`) ?? "");
  if (line?.[1] === undefined) return true;
  return line[1] === scope || line[1].startsWith(`${scope}/`);
}

function under(dir: string, scopeDir: string | undefined): boolean {
  return scopeDir === undefined || dir.startsWith(`${scopeDir}/`);
}

/** One folder inside the other (or the same): an ancestor holds its child's memory, a child its share of it. */
function related(a: string, b: string): boolean {
  return a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`);
}

const mib = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;
