/**
 * Plans: what a policy asks the engine to do. Plain, serialisable data (explain, dry-run, replay
 * and the episode record all carry them); built only through the OomControl builders, so a
 * target always names what the policy saw (a pid with its start time, a cgroup path).
 */
import type { CgroupPath } from "../os/paths.js";

export type Action =
  | {
      readonly kind: "kill-task";
      readonly pid: number;
      /** With the pid, names this process and no later one that reuses the pid. */
      readonly startTimeTicks: number;
      readonly comm: string;
      readonly cgroup: CgroupPath | null;
      readonly reason: string;
    }
  | { readonly kind: "kill-cgroup"; readonly cgroup: CgroupPath; readonly reason: string }
  | { readonly kind: "reclaim"; readonly cgroup: CgroupPath; readonly bytes: number; readonly reason: string }
  | { readonly kind: "remove-files"; readonly paths: readonly string[]; readonly reason: string };

export type ActionKind = Action["kind"];

/**
 * A policy's answer. `act` carries one or more actions, tried in order; `pass` declines with a
 * reason (the next policy up the chain runs).
 */
export type Plan =
  | { readonly kind: "act"; readonly actions: readonly Action[] }
  | { readonly kind: "pass"; readonly reason: string };

const PLAN_BRAND = Symbol.for("oomkit.plan");

/** Marks plans built by the engine's builders: anything else a policy returns is invalid. */
export function brandPlan<P extends Plan>(plan: P): P {
  Object.defineProperty(plan, PLAN_BRAND, { value: true, enumerable: false });
  return Object.freeze(plan);
}

export function isPlan(value: unknown): value is Plan {
  return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[PLAN_BRAND] === true;
}

/** One line for people: "kill pid 42 (leak)", "kill cgroup /batch/job1", ... */
export function describeAction(a: Action): string {
  switch (a.kind) {
    case "kill-task":
      return `kill pid ${a.pid} (${a.comm})`;
    case "kill-cgroup":
      return `kill cgroup ${a.cgroup}`;
    case "reclaim":
      return `reclaim ${a.bytes} bytes from ${a.cgroup}`;
    case "remove-files":
      return `remove ${a.paths.length} file(s)`;
    default: {
      const never: never = a;
      return never;
    }
  }
}
