/**
 * The OomControl a policy receives: its read-only view of one OOM and the plan builders. One
 * control per policy call, so each policy's candidates are recorded under its own name.
 *
 * When the verifier refused targets of a policy's plan, the engine asks the policy again with a
 * new control that holds those refusals (./ask.ts): the refused tasks are left out of tasks(),
 * the refused cgroups out of cgroups(), protectedReason gives the verifier's reason for each, and
 * the record lists them as skipped — so any policy, whatever it consults, moves on to the next.
 */
import type { PolicyState } from "./policy-state.js";
import { OomkitError } from "../errors.js";
import { type CgroupPath, ROOT_CGROUP, cgroupContains } from "../os/paths.js";
import type { CgroupRates, FileInfo, OomCause, OomControl, Target } from "./policy.js";
import type { Badness } from "./badness.js";
import { CgroupNode } from "./cgroup.js";
import type { CandidateRecord } from "./episode.js";
import type { History } from "./history.js";
import { type Action, type Plan, brandPlan, isPlan } from "./plan.js";
import type { Snapshot } from "./snapshot.js";
import { TaskNode } from "./task.js";
import { largestFirst } from "./visit-order.js";
import { type Preference, preferenceOf } from "./marks.js";
import { type VerifyContext, cgroupKillPlan, taskProtection, taskScopeRefusal } from "./verify.js";

/** A record being filled in (#base), read-only once pushed. */
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export interface ControlContext extends VerifyContext {
  readonly cause: OomCause;
  readonly history: History;
}

/** Targets the verifier refused in earlier asks of one policy in one episode, with its reasons. */
export interface Refusals {
  /** pid → the process (its start time) and why. */
  readonly tasks: ReadonlyMap<number, { readonly startTimeTicks: number; readonly reason: string }>;
  readonly cgroups: ReadonlyMap<CgroupPath, string>;
}

/** A pid of the scope and the cgroup whose cgroup.procs listed it (none when /proc did). */
interface ListedPid {
  readonly pid: number;
  readonly listedIn: CgroupPath | undefined;
}

const NO_REFUSALS: Refusals = Object.freeze({ tasks: new Map(), cgroups: new Map() });

const MAX_REASON = 200;

function reasonOf(reason: unknown): string {
  if (typeof reason !== "string" || reason.trim() === "") throw new OomkitError("E_CONFIG", "a plan step needs a reason (a non-empty string)");
  return reason.length > MAX_REASON ? `${reason.slice(0, MAX_REASON)}…` : reason;
}

export class OomControlImpl<O> implements OomControl<O> {
  readonly policy: string;
  readonly scope: CgroupNode | undefined;
  readonly scopePath;
  readonly cause: OomCause;
  readonly now: { readonly monoMs: number; readonly wallMs: number };
  readonly snapshot: Snapshot;
  readonly options: O;
  readonly candidates: CandidateRecord[] = [];
  readonly #ctx: ControlContext;
  readonly #refused: Refusals;
  #cgroups: readonly CgroupNode[] | undefined;
  #tasks: readonly TaskNode[] | undefined;
  /** A visit of the scope's tasks under way (taskAt): the order, the tasks read so far, the next to read. */
  #visit: { readonly order: readonly ListedPid[]; readonly seen: TaskNode[]; next: number } | undefined;
  /** The plan to carry out if the call is cut short; a function when the engine offered it (made only if taken). */
  #bestSoFar: Plan | (() => Plan) | undefined;

  readonly state: PolicyState;

  constructor(policy: string, options: O, ctx: ControlContext, state: PolicyState, refused: Refusals = NO_REFUSALS) {
    this.policy = policy;
    this.state = state;
    this.options = options;
    this.#ctx = ctx;
    this.#refused = refused;
    this.scope = ctx.scope;
    this.scopePath = ctx.scope?.path ?? ROOT_CGROUP;
    this.cause = ctx.cause;
    this.snapshot = ctx.snapshot;
    this.now = Object.freeze({ monoMs: ctx.snapshot.takenAtMonoMs, wallMs: ctx.snapshot.takenAtWallMs });
    for (const [pid, r] of refused.tasks) {
      const t = ctx.snapshot.task(pid);
      if (t && t.startTimeTicks === r.startTimeTicks) this.skip(t, this.#refusedReason(t) as string);
    }
    for (const path of refused.cgroups.keys()) {
      const c = ctx.snapshot.cgroup(path);
      if (c) this.skip(c, this.#refusedReason(c) as string);
    }
  }

  /** Why the verifier refused this target in an earlier ask, or undefined. */
  #refusedReason(target: Target): string | undefined {
    let why: string | undefined;
    if (target instanceof TaskNode) {
      const r = this.#refused.tasks.get(target.pid);
      why = r !== undefined && r.startTimeTicks === target.startTimeTicks ? r.reason : undefined;
    } else why = this.#refused.cgroups.get(target.path);
    return why === undefined ? undefined : `the verifier refused it: ${why}`;
  }

  get tmpfsRoots(): readonly string[] {
    return this.#ctx.protections.tmpfsRoots;
  }
  get trustedUids(): readonly number[] {
    return this.#ctx.protections.trustedUids;
  }

  cgroups(): readonly CgroupNode[] {
    if (!this.#cgroups) {
      const s = this.scope;
      const below = s ? [...s.descendants()] : [];
      const refused = this.#refused.cgroups;
      this.#cgroups = Object.freeze(s ? [s, ...(refused.size > 0 ? below.filter((c) => !refused.has(c.path)) : below)] : []);
    }
    return this.#cgroups;
  }

  leafCgroups(): readonly CgroupNode[] {
    return this.cgroups().filter((c) => c.isLeaf);
  }

  tasks(): readonly TaskNode[] {
    // The whole visit, read to its end (a visit begun by visitTasks goes on where it was).
    for (let i = 0; this.taskAt(i) !== undefined; i++);
    return this.#tasks as readonly TaskNode[];
  }

  *visitTasks(): Generator<TaskNode, void, undefined> {
    for (let i = 0; ; i++) {
      const t = this.taskAt(i);
      if (t === undefined) return;
      yield t;
    }
  }

  /**
   * The i-th task of the visit (tasks() in order), reading processes only as far as it: the
   * scope's pids are listed (/proc, or the cgroup.procs of the scope's cgroups) and put in the
   * visit's order first — largest first where the daemon's model knows sizes, so a call cut
   * short has seen the big ones; by pid otherwise — and each process is read when it is reached.
   * On a crowded machine under pressure, reading every process before the first is ranked took
   * longer than the built-in default's deadline, which then had nothing to act on.
   */
  taskAt(i: number): TaskNode | undefined {
    if (this.#tasks) return this.#tasks[i];
    const v = (this.#visit ??= { order: this.#visitOrder(), seen: [], next: 0 });
    while (v.seen.length <= i && v.next < v.order.length) {
      const { pid, listedIn } = v.order[v.next++] as ListedPid;
      const t = this.snapshot.task(pid, listedIn);
      if (t && (this.#refused.tasks.size === 0 || this.#refusedReason(t) === undefined)) v.seen.push(t);
    }
    if (v.next >= v.order.length) {
      this.#tasks = Object.freeze(v.seen);
      this.#visit = undefined;
    }
    return v.seen[i];
  }

  /** The scope's pids in the order they are visited, nothing of any process read. */
  #visitOrder(): readonly ListedPid[] {
    const s = this.scope;
    let listed: ListedPid[];
    if (s && !s.isRoot) {
      const seen = new Set<number>();
      listed = [];
      for (const c of [s, ...s.descendants()]) {
        for (const pid of c.pids) if (!seen.has(pid)) (seen.add(pid), listed.push({ pid, listedIn: c.path }));
      }
      listed.sort((a, b) => a.pid - b.pid);
    } else listed = this.snapshot.pids().map((pid) => ({ pid, listedIn: undefined }));
    return largestFirst(listed, this.snapshot.visitSizes);
  }

  rates(cgroup: CgroupNode): CgroupRates {
    return this.#ctx.history.rates(cgroup.path);
  }

  badness(task: TaskNode): Badness {
    return this.snapshot.badness(task, this.scope);
  }

  isVictim(target: Target): boolean {
    const v = this.#ctx.victims;
    return target instanceof TaskNode ? v.isTaskPending(target.pid, target.startTimeTicks, target.cgroupPath) : v.isCgroupPending(target.path);
  }

  protectedReason(target: Target): string | undefined {
    const refused = this.#refused.tasks.size + this.#refused.cgroups.size > 0 ? this.#refusedReason(target) : undefined;
    if (refused) return refused;
    if (target instanceof TaskNode) return taskProtection(target, this.#ctx) ?? taskScopeRefusal(target, this.#ctx);
    const k = cgroupKillPlan(target, this.#ctx);
    return k.ok ? undefined : k.reason;
  }

  /**
   * Records as skipped the processes in this OOM's scope that the snapshot left out because their
   * stat file could not be read (they reach no policy), unless the policy recorded them itself.
   */
  recordUnreadable(): void {
    const unreadable = this.snapshot.unreadableTasks;
    if (unreadable.length === 0) return;
    const s = this.scope;
    const scoped = s !== undefined && !s.isRoot;
    for (const u of unreadable) {
      if (scoped && (u.listedIn === undefined || !cgroupContains(s.path, u.listedIn))) continue;
      if (this.candidates.some((c) => c.kind === "task" && c.pid === u.pid)) continue;
      this.candidates.push({ policy: this.policy, kind: "task", pid: u.pid, ...(u.listedIn !== undefined ? { cgroup: u.listedIn } : {}), skipped: u.unreadable });
    }
  }

  preference(target: Target): Preference {
    if (!this.snapshot.cgroupMode.perCgroup) return preferenceOf(undefined, undefined);
    const cgroup = target instanceof TaskNode ? (target.cgroupPath === undefined ? undefined : this.snapshot.cgroup(target.cgroupPath)) : target;
    return preferenceOf(cgroup, this.scope);
  }

  /**
   * The candidate's record so far (who it is), to be completed by the caller and pushed by
   * #push. Fields are set one by one, in the order the record has always had (who, then what
   * the policy said, then what could not be read): a policy records every task of its scope, in
   * every decision made ahead, and spreading each record's parts into a new one was a fifth of it.
   */
  #base(target: Target): Mutable<CandidateRecord> {
    if (target instanceof TaskNode) return { policy: this.policy, kind: "task", pid: target.pid, comm: target.comm, cgroup: target.cgroupPath ?? target.v1MemoryCgroup };
    if (target instanceof CgroupNode) return { policy: this.policy, kind: "cgroup", cgroup: target.path };
    throw new OomkitError("E_CONFIG", "consider/skip take a task or cgroup from the snapshot");
  }

  #push(target: Target, record: Mutable<CandidateRecord>): void {
    // A figure it was ranked by may be unknown: the record says which, and why.
    const unreadable = target.unreadable;
    if (unreadable !== undefined) record.unreadable = unreadable;
    this.candidates.push(record);
  }

  consider(target: Target, score: number, note?: string): void {
    const record = this.#base(target);
    record.score = Number.isFinite(score) ? score : undefined;
    record.note = note === undefined ? undefined : String(note).slice(0, MAX_REASON);
    this.#push(target, record);
  }

  ranked(order: readonly Target[]): void {
    order.forEach((t, i) => {
      const k = this.candidates.findIndex((c) => c.skipped === undefined && c.rank === undefined && (t instanceof TaskNode ? c.kind === "task" && c.pid === t.pid : c.kind === "cgroup" && c.cgroup === (t as CgroupNode).path));
      const c = this.candidates[k];
      if (c) this.candidates[k] = { ...c, rank: i + 1 };
    });
  }

  skip(target: Target, reason: string): void {
    const record = this.#base(target);
    record.skipped = reasonOf(reason);
    this.#push(target, record);
  }

  files(root: string): readonly FileInfo[] {
    if (!this.tmpfsRoots.includes(root)) return [];
    return this.snapshot.files(root);
  }

  #act(action: Action): Plan {
    return brandPlan({ kind: "act", actions: Object.freeze([Object.freeze(action)]) });
  }

  killTask(task: TaskNode, reason: string): Plan {
    if (!(task instanceof TaskNode)) throw new OomkitError("E_CONFIG", "killTask takes a task from the snapshot");
    return this.#act({ kind: "kill-task", pid: task.pid, startTimeTicks: task.startTimeTicks, comm: task.comm, cgroup: task.cgroupPath ?? null, reason: reasonOf(reason) });
  }

  killCgroup(cgroup: CgroupNode, reason: string): Plan {
    if (!(cgroup instanceof CgroupNode)) throw new OomkitError("E_CONFIG", "killCgroup takes a cgroup from the snapshot");
    return this.#act({ kind: "kill-cgroup", cgroup: cgroup.path, reason: reasonOf(reason) });
  }

  reclaim(cgroup: CgroupNode, bytes: number, reason: string): Plan {
    if (!(cgroup instanceof CgroupNode)) throw new OomkitError("E_CONFIG", "reclaim takes a cgroup from the snapshot");
    return this.#act({ kind: "reclaim", cgroup: cgroup.path, bytes: Math.floor(Number(bytes)), reason: reasonOf(reason) });
  }

  removeFiles(paths: readonly string[], reason: string): Plan {
    if (!Array.isArray(paths) || paths.some((p) => typeof p !== "string")) throw new OomkitError("E_CONFIG", "removeFiles takes a list of paths");
    return this.#act({ kind: "remove-files", paths: Object.freeze([...paths]), reason: reasonOf(reason) });
  }

  pass(reason: string): Plan {
    return brandPlan({ kind: "pass", reason: reasonOf(reason) });
  }

  steps(...plans: Plan[]): Plan {
    const actions: Action[] = [];
    const passes: string[] = [];
    for (const p of plans) {
      if (!isPlan(p)) throw new OomkitError("E_CONFIG", "steps() takes plans made by the oc builders");
      if (p.kind === "act") actions.push(...p.actions);
      else passes.push(p.reason);
    }
    if (actions.length === 0) return this.pass(passes.join("; ") || "no steps");
    return brandPlan({ kind: "act", actions: Object.freeze(actions) });
  }

  bestSoFar(plan: Plan): void {
    if (!isPlan(plan)) throw new OomkitError("E_CONFIG", "bestSoFar takes a plan made by the oc builders");
    this.#bestSoFar = plan;
  }

  /** The engine's own offer (the selection loop's current choice): the plan is made only if it is taken. */
  offerLazily(make: () => Plan): void {
    this.#bestSoFar = make;
  }

  /** The last plan offered, for a call that was cut short; undefined when none was. */
  takeBestSoFar(): Plan | undefined {
    const b = this.#bestSoFar;
    return typeof b === "function" ? b() : b;
  }

  /**
   * How far the policy got, from the candidates it recorded (considered or skipped): "N of the M
   * tasks" (or cgroups) for the record of a call that was cut short; undefined when it recorded none.
   */
  progress(): string | undefined {
    const pids = new Set<number>();
    const paths = new Set<string>();
    for (const c of this.candidates) {
      if (c.kind === "task" && c.pid !== undefined) pids.add(c.pid);
      else if (c.kind === "cgroup" && c.cgroup !== undefined) paths.add(c.cgroup);
    }
    const of = (n: number, all: number | undefined, what: string) => `${n}${all !== undefined ? ` of the ${all}` : ""} ${what}`;
    // A visit cut short: of the pids it listed (some may have exited before they were reached).
    if (pids.size > 0) return of(pids.size, this.#tasks?.length ?? this.#visit?.order.length, "tasks");
    if (paths.size > 0) return of(paths.size, this.#cgroups?.length, "cgroups");
    return undefined;
  }
}
