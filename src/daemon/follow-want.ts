/**
 * What follow mode (./follow.ts) takes from one scope's standing plan: the tasks to raise, the
 * whole-cgroup victims (every task in them, and memory.oom.group), and what makes the kernel's
 * choice differ from the plan whatever the values (a plan that kills nothing, protected tasks
 * spared in a victim cgroup, a process group).
 */
import type { PreparedPlan } from "../engine/standing.js";
import type { TaskRef } from "../engine/verify.js";
import type { CgroupPath } from "../os/paths.js";

/** Pids named in one line of a report; the rest are counted. */
const NAMED = 5;

/** One scope's standing victim, as follow mode shapes the kernel's choice for it. */
export interface Want {
  readonly victims: readonly string[];
  readonly tasks: readonly TaskRef[];
  /** Whole-cgroup victims: every task in them, and memory.oom.group. */
  readonly cgroups: readonly CgroupPath[];
  readonly notes: readonly string[];
}

/** One scope's want from its standing plan. */
export function wantOf(plan: PreparedPlan | undefined): Want {
  if (!plan) return { victims: [], tasks: [], cgroups: [], notes: ["no standing plan: the kernel picks by its own badness"] };
  // A plan a policy further down the chain made because one ahead of it ran out of time or
  // threw (a cold first call under load) is not the policy's choice: raising its victim would
  // shape the kernel toward the task the policy may protect (the VM's daemon-follow on 6.1 saw
  // the important job raised until priority's plan came). The kernel picks by its own badness
  // until the policy's plan stands.
  const standIn = plan.steps.slice(0, -1).find((s) => s.entry.outcome === "timeout" || s.entry.outcome === "threw");
  if (standIn) {
    const why = standIn.entry.outcome === "timeout" ? "ran out of time" : "threw";
    return { victims: [], tasks: [], cgroups: [], notes: [`the standing plan is ${plan.policy}'s, standing in for ${standIn.entry.policy}, which ${why}: not followed; the kernel picks by its own badness`] };
  }
  const victims: string[] = [];
  const tasks: TaskRef[] = [];
  const cgroups: CgroupPath[] = [];
  const notes: string[] = [];
  for (const v of plan.steps[plan.steps.length - 1]?.verified ?? []) {
    const a = v.action;
    const x = v.execution;
    switch (x.method) {
      case "signal-task":
        victims.push(`pid ${x.task.pid} (${x.task.comm})`);
        tasks.push(x.task);
        break;
      case "per-task":
        tasks.push(...x.tasks);
        if (a.kind === "kill-cgroup") {
          victims.push(`cgroup ${a.cgroup}`);
          notes.push(`${x.spared.length} protected task(s) in ${a.cgroup} are spared, so its memory.oom.group is not set: the kernel kills one of its tasks, not the cgroup`);
        } else {
          victims.push(`${a.kind === "kill-task" ? `pid ${a.pid} (${a.comm})` : a.kind} and its process group`);
          notes.push("the kernel kills one task of the process group, not the group");
        }
        break;
      case "cgroup.kill":
        if (a.kind === "kill-cgroup") {
          victims.push(`cgroup ${a.cgroup}`);
          cgroups.push(a.cgroup);
        }
        break;
      case "memory.reclaim":
      case "unlink":
        notes.push(`the standing plan (${a.kind}) kills nothing: the kernel's choice is not shaped by it`);
        break;
      default: {
        const never: never = x;
        return never;
      }
    }
  }
  return { victims, tasks, cgroups, notes };
}

export function listed(items: readonly string[]): string {
  return items.length <= NAMED ? items.join(", ") : `${items.slice(0, NAMED).join(", ")} and ${items.length - NAMED} more`;
}
