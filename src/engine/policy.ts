/**
 * The policy interface: oomkit's userspace counterpart of the kernel's BPF OOM `struct_ops`.
 *
 * A policy reads an immutable snapshot through its OomControl and returns a Plan; it never
 * touches the OS. The engine dispatches an OOM in scope S to the policy attached to S, then to
 * S's ancestors' policies, then to the built-in default, verifies every target, and carries the
 * plan out. The names here are public API.
 */
import { OomkitError } from "../errors.js";
import type { Badness } from "./badness.js";
import type { CgroupNode } from "./cgroup.js";
import type { Plan } from "./plan.js";
import type { FileInfo, Snapshot } from "./snapshot.js";
import type { Preference } from "./marks.js";
import type { TaskNode } from "./task.js";
import type { Pressure } from "../os/parse/psi.js";
import type { CgroupPath } from "../os/paths.js";
import type { PolicyState } from "./policy-state.js";

export type { PolicyState, StateValue } from "./policy-state.js";

export type { FileInfo } from "./snapshot.js";

/** What kind of OOM an episode is: which way it was declared. */
export type EpisodeKind = "system" | "cgroup" | "pressure" | "manual" | "kernel";

/** Why an OOM was declared, with the numbers that made it so. */
export interface OomCause {
  readonly kind: EpisodeKind;
  /** The trigger's name, e.g. "psi:memory full 100ms/1s", "memavailable", "manual". */
  readonly trigger: string;
  /** One sentence for people. */
  readonly message: string;
  /** The figures behind the decision: thresholds and the values seen. */
  readonly figures: Readonly<Record<string, number | string>>;
  /** When the signal was first seen (monotonic ms), if earlier than the declaration. */
  readonly signalAtMonoMs?: number;
}

/** Rates over the engine's short history of a cgroup; undefined until two samples exist. */
export interface CgroupRates {
  /** memory.current growth, bytes per second (negative when shrinking). */
  readonly growthBytesPerSec: number | undefined;
  /** memory.stat pgscan per second: how hard the kernel is reclaiming. */
  readonly pgscanPerSec: number | undefined;
  /** memory.pressure "some" stall added per second of wall time, in µs (1e6 = 100 %). */
  readonly memorySomeStallUsecPerSec: number | undefined;
  readonly memoryFullStallUsecPerSec: number | undefined;
  /** memory.swap.current growth, bytes per second. */
  readonly swapGrowthBytesPerSec: number | undefined;
  /** The span the rates were measured over. */
  readonly windowMs: number | undefined;
}


/** The current choice of the default selection loop, or one of a policy's own. */
export type TaskVerdict = "select" | "skip" | "abort" | "default";

export type Target = TaskNode | CgroupNode;

/** The OOM control: a policy's whole view of one OOM, and the only way to build a plan. */
export interface OomControl<O = unknown> {
  /** The name of the policy this control was made for. */
  readonly policy: string;
  /** The cgroup that is out of memory; undefined for a system-wide OOM in system-level mode. */
  readonly scope: CgroupNode | undefined;
  /** "/" for a system-wide OOM. */
  readonly scopePath: CgroupPath;
  readonly cause: OomCause;
  readonly now: { readonly monoMs: number; readonly wallMs: number };
  readonly snapshot: Snapshot;
  /** This attachment's options, as its parseOptions returned them. */
  readonly options: O;
  /**
   * What this attachment keeps between calls (JSON values by key; src/engine/policy-state.ts).
   * Writes count only once the plan is carried out: a plan decided ahead and never used, or
   * asked for by explain, leaves the state as it was.
   */
  readonly state: PolicyState;
  /** The scope and all its descendants, parents first ([] in system-level mode). */
  cgroups(): readonly CgroupNode[];
  /** The leaves among cgroups() (cgroups without children). */
  leafCgroups(): readonly CgroupNode[];
  /**
   * Every task in the scope (every task on the machine for a system-wide OOM): largest first by
   * the sizes the daemon's warm model already holds (ties and unknown sizes: newest first), so a
   * call cut short by its deadline has seen the big ones; in pid order where no sizes are kept
   * (explain on a fixture, standing decisions off). A choice must not depend on the order.
   */
  tasks(): readonly TaskNode[];
  /**
   * The same tasks in the same order as tasks(), each process read only when the loop reaches it
   * (the scope's pids are listed and put in order first). A loop that offers its choice as it goes
   * (bestSoFar) and is cut short by its deadline has then read only what it visited: on a
   * crowded machine under pressure, reading every process before ranking the first can take the
   * whole deadline. Calling tasks() meanwhile reads the rest.
   */
  visitTasks(): Iterable<TaskNode>;
  /** Rates from the engine's history of this cgroup. */
  rates(cgroup: CgroupNode): CgroupRates;
  /** The kernel's oom_badness of a task for an OOM in this scope. */
  badness(task: TaskNode): Badness;
  /** True while the task or cgroup is being killed (by oomkit or the kernel): never pick it again. */
  isVictim(target: Target): boolean;
  /**
   * Why the verifier would refuse to kill this target, or undefined when it would not: pid 1,
   * oomkit itself, kernel threads, oom_score_adj -1000, configured or marked omit, a victim
   * already dying; for a cgroup also "every task in it is protected" and "no live tasks". It is
   * the verifier's own answer: a policy may skip more, never less.
   */
  protectedReason(target: Target): string | undefined;
  /**
   * The prefer/avoid mark that applies to a cgroup (for a task, its cgroup), read as the verifier
   * reads marks: the nearest on it or an ancestor, user.* marks only where they count.
   */
  preference(target: Target): Preference;
  /** Records a candidate and its score in the episode record (for explain and reports). */
  consider(target: Target, score: number, note?: string): void;
  /**
   * Says in which order the policy ranks the candidates it considered, best first, when that is
   * not simply by score (several keys, marks before sizes): the record then lists them so.
   */
  ranked(order: readonly Target[]): void;
  /** Records a candidate that was passed over, and why. */
  skip(target: Target, reason: string): void;
  /** Files under a configured tmpfs root, largest first ([] when the root is not configured). */
  files(root: string): readonly FileInfo[];
  /** The tmpfs roots configuration allows removeFiles under. */
  readonly tmpfsRoots: readonly string[];
  /**
   * The real uids whose tasks a name may spare ([protect] trusted_uids; root's alone by default).
   * A task's comm, arguments and executable are its own to choose, its real uid is not: a policy
   * that omits or avoids by name should do so only for these uids, as `rules` does.
   */
  readonly trustedUids: readonly number[];
  killTask(task: TaskNode, reason: string): Plan;
  killCgroup(cgroup: CgroupNode, reason: string): Plan;
  reclaim(cgroup: CgroupNode, bytes: number, reason: string): Plan;
  removeFiles(paths: readonly string[], reason: string): Plan;
  pass(reason: string): Plan;
  /** Several steps as one plan, carried out in order; passes among them are dropped. */
  steps(...plans: Plan[]): Plan;
  /**
   * Offers the plan to carry out should this call run out of its deadline before it returns:
   * the best choice so far of a policy that scans. Each offer replaces the last; what the call
   * returns, when it does return, is what counts. Cut short, the engine verifies and carries out
   * the last offer, and the record says how far the policy got (a pass offered passes).
   */
  bestSoFar(plan: Plan): void;
}

/** A PSI event as handlePressure sees it. */
export interface PressureEvent {
  readonly cgroup: CgroupPath;
  readonly resource: "memory";
  readonly stall: "some" | "full";
  readonly stallUsec: number;
  readonly windowUsec: number;
  /** The pressure file's figures when the event fired, if they could be read. */
  readonly pressure: Pressure | undefined;
  readonly atMonoMs: number;
}

export interface PressureControl<O = unknown> {
  readonly policy: string;
  readonly snapshot: Snapshot;
  readonly options: O;
  readonly now: { readonly monoMs: number; readonly wallMs: number };
  /** This attachment's state, as `oc.state`; writes count when the call returns without fault. */
  readonly state: PolicyState;
  rates(cgroup: CgroupNode): CgroupRates;
  /** Declares an OOM in a cgroup the policy watches (the kernel's bpf_out_of_memory). */
  declareOom(cgroup: CgroupNode | CgroupPath | string, reason: string): void;
}

export interface PolicyDefinition<O = unknown> {
  /** Shown on every record, like the kernel's oom_policy=. Letters, digits, ".", "_" and "-". */
  readonly name: string;
  readonly description?: string;
  /** Validates the options given in configuration; throw (with a clear message) to reject them. */
  parseOptions?(raw: unknown): O;
  /** Called for an OOM in a scope the policy is attached to (or below it). */
  handleOutOfMemory?(oc: OomControl<O>): Plan;
  /** Per-task ranking inside the default selection loop. */
  evaluateTask?(task: TaskNode, chosen: TaskNode | undefined, oc: OomControl<O>): TaskVerdict;
  /** May declare an OOM from a PSI event. */
  handlePressure?(event: PressureEvent, pc: PressureControl<O>): void;
  handleCgroupOnline?(cgroup: CgroupNode, options: O, state: PolicyState): void;
  /** Forget per-cgroup state. */
  handleCgroupOffline?(cgroup: CgroupPath, options: O, state: PolicyState): void;
}

const POLICY_BRAND = Symbol.for("oomkit.policy");

export type Policy<O = unknown> = PolicyDefinition<O> & { readonly [POLICY_BRAND]: true };

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Declares a policy. Checks its shape at once, so a broken policy file fails on load, not in an OOM. */
export function definePolicy<O = unknown>(definition: PolicyDefinition<O>): Policy<O> {
  if (typeof definition !== "object" || definition === null) {
    throw new OomkitError("E_CONFIG", "definePolicy() takes an object with a name and handleOutOfMemory or evaluateTask");
  }
  if (typeof definition.name !== "string" || !NAME.test(definition.name)) {
    throw new OomkitError("E_CONFIG", `a policy's name must be 1-64 letters, digits, ".", "_" or "-"; got ${JSON.stringify(definition.name)}`);
  }
  const hooks = ["parseOptions", "handleOutOfMemory", "evaluateTask", "handlePressure", "handleCgroupOnline", "handleCgroupOffline"] as const;
  for (const h of hooks) {
    const fn = definition[h];
    if (fn !== undefined && typeof fn !== "function") throw new OomkitError("E_CONFIG", `policy ${definition.name}: ${h} must be a function`);
  }
  if (!definition.handleOutOfMemory && !definition.evaluateTask) {
    throw new OomkitError("E_CONFIG", `policy ${definition.name} defines neither handleOutOfMemory nor evaluateTask`);
  }
  return Object.freeze({ ...definition, [POLICY_BRAND]: true as const });
}

export function isPolicy(value: unknown): value is Policy {
  return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[POLICY_BRAND] === true;
}
