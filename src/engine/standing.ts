/**
 * Standing decisions: a plan made ahead of the trouble (on the warm model), kept, and carried out
 * when a trigger fires — after every target has been checked again against the live machine.
 *
 * `PreparedPlan` is what the chain decided for a scope, verified on the snapshot it was made on,
 * with the figures each target had then. `recheck` is the trigger's path: it reads only the
 * targets (never the whole scope), runs the verifier on each as a fresh decision would — the
 * same process (pid and start time), still in the scope, not protected now (oom_score_adj,
 * [protect], omit marks), not a victim already — and refuses a target whose memory has fallen
 * below DRIFT_FRACTION of what it held when it was chosen: it is no longer the victim the policy
 * chose, and a fresh decision should look again; so is a target whose prefer/avoid mark is not
 * the one the decision saw. A plan older than its bound is refused too.
 *
 * The targets alone cannot show what the plan did not see: a process that started, or grew,
 * after it was made (a leak that began among bystanders, a job in a lower-priority cgroup). So
 * the scope's charge is read too, and a plan is refused when the scope grew, outside its targets,
 * by more than ELSEWHERE_FRACTION of what the targets hold (then or now, whichever is more; at
 * least ELSEWHERE_FLOOR_BYTES): what grew may now be the victim the policy would choose.
 */
import type { CgroupPath } from "../os/paths.js";
import type { RecheckedTarget } from "./episode.js";
import { type KillPreference, preferenceOf } from "./marks.js";
import type { Action } from "./plan.js";
import type { OomCause } from "./policy.js";
import type { Snapshot } from "./snapshot.js";
import type { StepResult, VerifiedOk } from "./step.js";
import { type VerifyContext, verifyAction } from "./verify.js";

/**
 * A target now holding less than this share of the memory it held when the plan was made has
 * drifted: most of what killing it was meant to free is gone already (it shrank, or exited and
 * its pid was reused — that one the start time catches first).
 */
export const DRIFT_FRACTION = 0.5;
/** Below this many bytes at decision time a target's figure is too small to judge drift by. */
const DRIFT_FLOOR_BYTES = 16 * 1024 * 1024;
/**
 * Growth of the scope outside the plan's targets, as a share of what the targets held when
 * chosen, past which the plan is refused: a quarter is enough for a newcomer or a runner-up to
 * have overtaken a size-ranked victim, and a newcomer of that size matters to any policy.
 */
export const ELSEWHERE_FRACTION = 0.25;
/** Growth elsewhere below this is noise (page cache, a process starting), whatever the targets held. */
export const ELSEWHERE_FLOOR_BYTES = 16 * 1024 * 1024;
/**
 * Judged on the warm model between troubles (`refusedOn`), the ELSEWHERE bound is this share of
 * the trigger's (never under ELSEWHERE_FLOOR_BYTES): the model's figures lag the machine's by up
 * to a re-read interval, and a plan made again a little early is cheaper than one the trigger
 * refuses, which sends it down the fresh path at the worst moment.
 */
export const MODEL_ELSEWHERE_SHARE = 0.5;

/** One target of a prepared plan and the memory it held when the plan was made. */
export interface PreparedTarget {
  readonly action: Action;
  /** Bytes it held then: a task's resident + swapped memory, a cgroup's memory.current. */
  readonly bytes: number | undefined;
  /**
   * The prefer/avoid mark the decision saw on the target's cgroup (marks.ts), when it has one:
   * a mark set since (systemd writes user.oomd_avoid when it starts the unit, and the model
   * re-reads marks least often) is something the policy did not weigh.
   */
  readonly preference: KillPreference | undefined;
}

export interface PreparedPlan {
  readonly scope: CgroupPath;
  /** The chain as it ran ahead of time, the handling step last. */
  readonly steps: readonly StepResult[];
  /** The policy whose plan handles the OOM. */
  readonly policy: string;
  readonly targets: readonly PreparedTarget[];
  /** Monotonic and wall ms of the snapshot the plan was made on. */
  readonly madeAtMonoMs: number;
  readonly madeAtWallMs: number;
  /** How long deciding took (off the trigger's path). */
  readonly decisionMs: number;
  /** The model generation it was made at (engine/model.ts), when made on the model. */
  readonly generation: number | undefined;
  /** The cause the chain was run with. */
  readonly cause: OomCause;
  /** What the scope held then (scopeBytes), when known. */
  readonly scopeBytes: number | undefined;
  /**
   * The same figures as the snapshot the plan was made on showed them (the warm model's, which
   * may be seconds older than the live ones above): what the daemon compares the model's later
   * figures with to tell whether the plan still stands (`refusedOn`), like with like.
   */
  readonly basis?: PlanBasis;
}

/** What a plan's targets (in order) and its scope held on the snapshot it was made on. */
export interface PlanBasis {
  readonly targetBytes: readonly (number | undefined)[];
  readonly scopeBytes: number | undefined;
}

/** The basis of a plan made on `snapshot` (see PreparedPlan.basis). */
export function basisOf(targets: readonly PreparedTarget[], snapshot: Snapshot, scope: CgroupPath): PlanBasis {
  return { targetBytes: targets.map((t) => targetBytes(t.action, snapshot)), scopeBytes: scopeBytes(scope, snapshot) };
}

export type Recheck =
  | { readonly ok: true; readonly verified: readonly VerifiedOk[]; readonly rechecked: readonly RecheckedTarget[] }
  | { readonly ok: false; readonly reason: string };

/**
 * The figures each verified action's target holds now (`live`), and the marks the decision saw
 * (`decided`, the snapshot the policy read), as prepare records them.
 */
export function targetsOf(verified: readonly VerifiedOk[], live: Snapshot, decided: Snapshot, scope: CgroupPath): PreparedTarget[] {
  return verified.map((v) => ({ action: v.action, bytes: targetBytes(v.action, live), preference: targetPreference(v.action, decided, scope) }));
}

/** The prefer/avoid mark that applies to a kill's cgroup (a task's own), or undefined. */
function targetPreference(a: Action, snapshot: Snapshot, scope: CgroupPath): KillPreference | undefined {
  const path = a.kind === "kill-cgroup" ? a.cgroup : a.kind === "kill-task" ? snapshot.task(a.pid)?.cgroupPath : undefined;
  if (path === undefined) return undefined;
  return preferenceOf(snapshot.cgroup(path), snapshot.cgroup(scope)).preference;
}

/** Checks a prepared plan against the live machine; `ctx.snapshot` must be a live snapshot. */
export function recheck(plan: PreparedPlan, ctx: VerifyContext, maxAgeMs: number): Recheck {
  const age = ctx.snapshot.takenAtMonoMs - plan.madeAtMonoMs;
  if (age > maxAgeMs) return { ok: false, reason: `the standing plan is ${Math.round(age)} ms old (at most ${maxAgeMs})` };
  if (plan.targets.length === 0) return { ok: false, reason: "the standing plan has no targets" };
  const verified: VerifiedOk[] = [];
  const rechecked: RecheckedTarget[] = [];
  for (const t of plan.targets) {
    const name = describeTarget(t.action);
    const v = verifyAction(t.action, ctx);
    if (!v.ok) return { ok: false, reason: `${name}: ${v.reason}` };
    const marked = t.preference === undefined ? undefined : targetPreference(t.action, ctx.snapshot, plan.scope);
    if (marked !== undefined && marked !== t.preference) return { ok: false, reason: `${name} is marked ${marked} now, ${t.preference} when the plan was made` };
    const now = targetBytes(t.action, ctx.snapshot);
    rechecked.push({ target: name, bytesThen: t.bytes, bytesNow: now });
    if (t.bytes !== undefined && t.bytes >= DRIFT_FLOOR_BYTES && now !== undefined && now < DRIFT_FRACTION * t.bytes) {
      return { ok: false, reason: `${name} holds ${mib(now)} now against ${mib(t.bytes)} when chosen (below ${DRIFT_FRACTION * 100} %)` };
    }
    verified.push(v);
  }
  const grown = outgrownBy(plan, rechecked, scopeBytes(plan.scope, ctx.snapshot));
  if (grown !== undefined) return { ok: false, reason: grown };
  return { ok: true, verified, rechecked };
}

/**
 * Why a plan no longer covers the scope's trouble, or undefined: the scope grew outside the
 * plan's targets by more than ELSEWHERE_FRACTION of what they held (at least
 * ELSEWHERE_FLOOR_BYTES). `snapshot` shows the machine now (a live one); reads only the targets'
 * and the scope's figures. The daemon also asks it before keeping an older plan standing.
 */
export function outgrown(plan: PreparedPlan, snapshot: Snapshot): string | undefined {
  const rechecked = plan.targets.map((t) => ({ target: describeTarget(t.action), bytesThen: t.bytes, bytesNow: targetBytes(t.action, snapshot) }));
  return outgrownBy(plan, rechecked, scopeBytes(plan.scope, snapshot));
}

/**
 * Why the trigger's check would refuse `plan` judged on `snapshot`'s figures (the warm model's,
 * not the machine's: nothing is read that the model does not hold) against the plan's basis, or
 * undefined: a target gone or now another process, a target drifted below DRIFT_FRACTION of what
 * it held, or the scope grown outside the targets by more than the ELSEWHERE bound (its
 * MODEL_ELSEWHERE_SHARE: the model lags). What recheck
 * decides on live reads, asked of the model between troubles. A plan without a basis is judged
 * against its live figures.
 */
export function refusedOn(plan: PreparedPlan, snapshot: Snapshot): Refusal | undefined {
  const rechecked: RecheckedTarget[] = [];
  for (const [i, t] of plan.targets.entries()) {
    const name = describeTarget(t.action);
    const then = plan.basis ? plan.basis.targetBytes[i] : t.bytes;
    const now = targetBytes(t.action, snapshot);
    if (then !== undefined && now === undefined && t.action.kind !== "remove-files") return { kind: "target", reason: `${name} is gone` };
    if (then !== undefined && then >= DRIFT_FLOOR_BYTES && now !== undefined && now < DRIFT_FRACTION * then) {
      return { kind: "target", reason: `${name} holds ${mib(now)} now against ${mib(then)} when chosen (below ${DRIFT_FRACTION * 100} %)` };
    }
    rechecked.push({ target: name, bytesThen: then, bytesNow: now });
  }
  const grown = outgrownBy(plan, rechecked, scopeBytes(plan.scope, snapshot), plan.basis ? plan.basis.scopeBytes : plan.scopeBytes, MODEL_ELSEWHERE_SHARE);
  return grown === undefined ? undefined : { kind: "grown", reason: grown };
}

/** Why refusedOn refuses: a target's own figures, or the scope's growth outside the targets. */
export interface Refusal {
  readonly kind: "target" | "grown";
  readonly reason: string;
}

function outgrownBy(plan: PreparedPlan, rechecked: readonly RecheckedTarget[], now: number | undefined, then = plan.scopeBytes, share = 1): string | undefined {
  const elsewhere = grownElsewhere(then, rechecked, now);
  if (elsewhere === undefined) return undefined;
  // What the targets hold, then or now, whichever is more: a target that grew (the leak a plan
  // named early in its life) is still the policy's choice, and what grew elsewhere has to
  // outgrow what it holds now to have overtaken it. Against its size then, a plan made on a
  // young leak was refused for the machine's noise (a daemon's own heap, the kernel's caches).
  const held = rechecked.reduce((sum, r) => sum + Math.max(r.bytesThen ?? 0, r.bytesNow ?? 0), 0);
  const bound = Math.max(ELSEWHERE_FLOOR_BYTES, share * ELSEWHERE_FRACTION * held);
  return elsewhere > bound ? `${plan.scope} grew by ${mib(elsewhere)} outside the plan's targets since it was made (more than ${mib(bound)}): the plan did not see it` : undefined;
}

/**
 * What a scope holds: a cgroup's memory.current and memory.swap.current; for the machine ("/"),
 * memory in use (MemTotal - MemAvailable) and swap in use. Undefined when a figure is missing.
 */
export function scopeBytes(scope: CgroupPath, snapshot: Snapshot): number | undefined {
  if (scope === "/" || !snapshot.cgroupMode.perCgroup) {
    const m = snapshot.system.meminfo;
    if (m?.memAvailableBytes === undefined) return undefined;
    return m.memTotalBytes - m.memAvailableBytes + Math.max(0, (m.swapTotalBytes ?? 0) - (m.swapFreeBytes ?? 0));
  }
  const mem = snapshot.cgroup(scope)?.memory;
  if (mem?.currentBytes === undefined) return undefined;
  return mem.currentBytes + (mem.swapCurrentBytes ?? 0);
}

/** The scope's growth since `then`, less what its targets grew themselves (their growth is no news). */
function grownElsewhere(then: number | undefined, rechecked: readonly RecheckedTarget[], now: number | undefined): number | undefined {
  if (then === undefined || now === undefined) return undefined;
  let own = 0;
  for (const r of rechecked) if (r.bytesThen !== undefined && r.bytesNow !== undefined) own += r.bytesNow - r.bytesThen;
  return now - then - own;
}

/** What a target holds on `snapshot`: a task's resident + swapped memory (undefined once its pid names another process), a cgroup's usage. */
export function targetBytes(a: Action, snapshot: Snapshot): number | undefined {
  switch (a.kind) {
    case "kill-task": {
      const t = snapshot.task(a.pid);
      if (!t || t.startTimeTicks !== a.startTimeTicks) return undefined;
      const m = t.memory;
      return m.rssBytes + m.swapBytes;
    }
    case "kill-cgroup":
    case "reclaim":
      return snapshot.cgroup(a.cgroup)?.memory.currentBytes;
    case "remove-files":
      return undefined;
    default: {
      const never: never = a;
      return never;
    }
  }
}

export function describeTarget(a: Action): string {
  switch (a.kind) {
    case "kill-task":
      return `pid ${a.pid}`;
    case "kill-cgroup":
      return `cgroup ${a.cgroup}`;
    case "reclaim":
      return `reclaim in ${a.cgroup}`;
    case "remove-files":
      return `${a.paths.length} file(s)`;
    default: {
      const never: never = a;
      return never;
    }
  }
}

const mib = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;
