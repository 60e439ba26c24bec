/**
 * The kernel fallback that follows the policy (`kernel_fallback = "follow"`). When oomkit is
 * stopped, killed or too slow, the kernel's OOM killer picks its own victim; this module shapes
 * that choice from the standing decisions (./standing.ts): for the machine and for every cgroup
 * with a memory.max, the standing victim's tasks get oom_score_adj 1000 — the kernel then takes
 * them before any task of a lower value — and a cgroup victim also gets memory.oom.group 1 (which
 * does not change whom the kernel picks, only widens the kill to the whole cgroup once a task in
 * it is picked).
 *
 * Contract:
 * - Only what the verifier cleared is raised: a plan's verified targets, and tasks that join a
 *   whole-cgroup victim only when the verifier's task check passes them. A task at −1000 is never
 *   raised (it is never a target), nor one already at 1000 (nothing to change).
 * - Children forked after the change inherit the value (the kernel copies it at fork): each new
 *   pid whose parent oomkit raised, and that holds 1000, is tracked with its parent's original.
 * - Policies see the original values (./follow-view.ts).
 * - Every change is in the state file (./follow-store.ts) before it is made; it is put back when
 *   the standing victim changes, when oomkit stops, and at the next start after a crash — only
 *   where the value is still the one oomkit wrote.
 * - Lowering oom_score_adj below a task's floor (which a privileged write sets to the value
 *   written) needs CAP_SYS_RESOURCE: without it follow mode is refused at start, with that reason,
 *   and oomkit runs on without it. A dry run changes nothing.
 * - Where the kernel's choice cannot be exact — other tasks in the scope already at 1000, or the
 *   standing victims of two scopes at 1000 in one of them — each scope's report says so.
 */
import type { Engine } from "../engine/engine.js";
import { takeSnapshot } from "../engine/snapshot.js";
import { type TaskRef, type VerifyContext, taskProtection } from "../engine/verify.js";
import { VictimRegistry } from "../engine/victims.js";
import type { Logger } from "../log.js";
import type { CgroupMode } from "../os/cgroup-mode.js";
import { CAP_SYS_RESOURCE, hasCapability } from "../os/doctor.js";
import type { Host } from "../os/host.js";
import { type CgroupPath, PROC, ROOT_CGROUP, cgroupContains } from "../os/paths.js";
import { FollowStore, type Leftovers } from "./follow-store.js";
import { FOLLOW_ADJ, OriginalAdjView } from "./follow-view.js";
import { RaisedSet, key } from "./follow-raised.js";
import type { StandingDecisions } from "./standing.js";
import { type Want, listed, wantOf } from "./follow-want.js";

/** How often the raised set is brought in line with the standing decisions (and new children looked for). */
export const FOLLOW_SYNC_MS = 1_000;
/** How often the cgroups with a memory.max are listed again (each is a scope that can OOM). */
const LIMITS_EVERY_MS = 5_000;
/** How often each scope's inexact report is worked out again (it reads every task's value in the scope). */
const REPORT_EVERY_MS = 10_000;

/** What follow mode did for one scope, for `oomkit explain` on a live daemon. */
export interface FollowScopeView {
  /** The standing victims followed: "pid 42 (batch)", "cgroup /batch". */
  readonly victims: readonly string[];
  /** The tasks at oom_score_adj 1000 for this scope, with the value each had before. */
  readonly raised: readonly { readonly pid: number; readonly comm: string; readonly original: number; readonly inheritedFrom?: number }[];
  readonly oomGroup: readonly CgroupPath[];
  /** Why the kernel's choice may differ from the standing victim; empty when it should not. */
  readonly inexact: readonly string[];
}

export interface FollowDeps {
  /** The machine itself (not the view: follow mode reads what is really there). */
  readonly host: Host;
  readonly mode: CgroupMode;
  readonly log: Logger;
  readonly stateFile: string | undefined;
  readonly dryRun: boolean;
  /** The verifier's protections, for tasks that join a whole-cgroup victim. */
  engine(): Engine;
}

export class KernelFallback {
  /** The machine as policies must see it: original values for the tasks raised here. */
  readonly view: Host;
  readonly #d: FollowDeps;
  /** What was changed; undefined without a state folder (follow mode is then refused). */
  readonly #raised: RaisedSet | undefined;
  #wants = new Map<CgroupPath, Want>();
  #limited: CgroupPath[] = [];
  #seen: Set<number> | undefined;
  #state: { readonly active: true } | { readonly active: false; readonly why: string } = { active: false, why: "not started" };
  #lastSync = Number.NEGATIVE_INFINITY;
  #lastLimits = Number.NEGATIVE_INFINITY;
  #lastReport = Number.NEGATIVE_INFINITY;
  #signature = "";
  #reports = new Map<CgroupPath, string[]>();
  #stopped = false;

  constructor(deps: FollowDeps) {
    this.#d = deps;
    const store = deps.stateFile === undefined ? undefined : new FollowStore({ file: deps.stateFile, log: deps.log, readOnly: deps.dryRun });
    this.#raised = store && new RaisedSet({ host: deps.host, mode: deps.mode, log: deps.log, store });
    this.view = new OriginalAdjView(deps.host, this.#raised?.tasks ?? new Map());
  }

  /** "follow", or why it is off though configured. */
  get status(): string {
    return this.#state.active ? "follow" : `refused: ${this.#state.why}`;
  }

  /** The changed values while follow mode runs, else undefined. */
  get #on(): RaisedSet | undefined {
    return this.#state.active && !this.#stopped ? this.#raised : undefined;
  }

  /**
   * Decides whether follow mode can run here; `left`: what a previous run left that could not be
   * put back at start (./follow-store.ts), tried again at each sync.
   */
  start(left?: Leftovers): void {
    const why = this.#refusal();
    if (why) {
      this.#state = { active: false, why };
      const level = this.#d.dryRun ? "info" : "error";
      this.#d.log[level](`kernel_fallback = "follow" ${this.#d.dryRun ? "is off" : "refused"}: ${why}; the kernel's OOM killer picks by its own badness`);
      return;
    }
    this.#state = { active: true };
    if (left) this.#raised?.adoptLeftovers(left);
    this.#d.log.info(`kernel_fallback = "follow": the standing victims get oom_score_adj ${FOLLOW_ADJ}, so the kernel's OOM killer picks them too`);
  }

  #refusal(): string | undefined {
    if (this.#d.dryRun) return "a dry run changes nothing";
    if (this.#raised === undefined) return "there is no state folder to keep the changed values in (--state-dir)";
    const cap = hasCapability(this.#d.host, CAP_SYS_RESOURCE);
    if (cap === false) return "oomkit lacks CAP_SYS_RESOURCE, which putting oom_score_adj back down needs";
    if (cap === undefined) return "cannot tell whether oomkit has CAP_SYS_RESOURCE (its CapEff is unreadable), which putting oom_score_adj back down needs";
    return undefined;
  }

  /** The cgroups with a memory.max: scopes the kernel can OOM in, so each needs a standing decision. */
  limitedCgroups(): readonly CgroupPath[] {
    return this.#limited;
  }

  /** Brings the raised values in line with the standing decisions; never throws. */
  sync(standing: StandingDecisions, now: number): void {
    const raised = this.#on;
    if (!raised) return;
    const entries = standing.entries();
    const signature = entries.map((e) => `${e.scope}@${e.madeAtMonoMs}`).join(",");
    if (now - this.#lastSync < FOLLOW_SYNC_MS && signature === this.#signature) return;
    this.#lastSync = now;
    this.#signature = signature;
    try {
      if (now - this.#lastLimits >= LIMITS_EVERY_MS) this.#refreshLimited(standing, now);
      const changed = this.#updateWants(standing);
      const adopted = raised.adoptChildren(this.#freshPids(standing, raised.tasks.size > 0));
      const { tasks, groups } = this.#wanted();
      const moved = raised.apply(tasks, groups);
      if (adopted && !moved) raised.persist();
      if (changed || moved || adopted || now - this.#lastReport >= REPORT_EVERY_MS) this.#report(standing, now);
    } catch (err) {
      this.#d.log.warn(`kernel fallback: sync failed: ${(err as Error).stack ?? err}`);
    }
  }

  /** Puts every value back (oomkit stops). */
  stop(): void {
    const raised = this.#on;
    if (!raised) return;
    this.#wants = new Map();
    try {
      raised.apply(new Map(), new Set());
    } catch (err) {
      this.#d.log.warn(`kernel fallback: putting values back failed: ${(err as Error).stack ?? err}`);
    }
    this.#stopped = true;
  }

  /** What follow mode does for `scope`, or undefined when it is off or does nothing there. */
  report(scope: CgroupPath): FollowScopeView | undefined {
    const want = this.#wants.get(scope);
    const raised = this.#on;
    if (!raised || !want) return undefined;
    const roots = new Set(this.#refs(want).map(key));
    return {
      victims: want.victims,
      raised: [...raised.tasks.values()]
        .filter((t) => t.root !== undefined && roots.has(key(t.root)))
        .map((t) => ({ pid: t.pid, comm: t.comm, original: t.original, ...(t.inheritedFrom !== undefined ? { inheritedFrom: t.inheritedFrom } : {}) })),
      oomGroup: want.cgroups.filter((c) => raised.groups.has(c)),
      inexact: this.#reports.get(scope) ?? [],
    };
  }

  #refreshLimited(standing: StandingDecisions, now: number): void {
    this.#lastLimits = now;
    if (!this.#d.mode.perCgroup) return;
    const out: CgroupPath[] = [];
    for (const c of standing.snapshot().cgroups()) {
      const max = c.isRoot ? undefined : c.memory.maxBytes;
      if (max !== undefined && Number.isFinite(max)) out.push(c.path);
    }
    this.#limited = out;
  }

  /** Each scope's want from its standing entry; a scope whose plan was taken keeps its last want until the next. */
  #updateWants(standing: StandingDecisions): boolean {
    const next = new Map<CgroupPath, Want>();
    const byScope = new Map(standing.entries().map((e) => [e.scope, e]));
    for (const scope of standing.scopes()) {
      const e = byScope.get(scope);
      const want = e ? wantOf(e.plan) : this.#wants.get(scope);
      if (want) next.set(scope, want);
    }
    const before = [...this.#wants].map(([s, w]) => `${s}:${w.victims.join("+")}`).join(",");
    const after = [...next].map(([s, w]) => `${s}:${w.victims.join("+")}`).join(",");
    for (const [scope, w] of next) {
      const old = this.#wants.get(scope);
      if (old?.victims.join("+") !== w.victims.join("+")) {
        this.#d.log.info(`kernel fallback: for ${scope}, ${w.victims.length > 0 ? `the standing victim ${w.victims.join(", ")} goes first` : "nothing to follow"}${w.notes.length > 0 ? ` (${w.notes.join("; ")})` : ""}`);
      }
    }
    this.#wants = next;
    return before !== after;
  }

  /** The tasks a want names: its tasks, and the live, unprotected tasks of its whole-cgroup victims. */
  #refs(want: Want, ctx?: VerifyContext): TaskRef[] {
    const out = [...want.tasks];
    if (want.cgroups.length === 0) return out;
    const c = ctx ?? this.#verifyContext();
    for (const cg of want.cgroups) {
      for (const t of c.snapshot.cgroup(cg)?.allTasks() ?? []) {
        if (!t.exiting && taskProtection(t, c) === undefined) out.push({ pid: t.pid, startTimeTicks: t.startTimeTicks, comm: t.comm });
      }
    }
    return out;
  }

  #verifyContext(): VerifyContext {
    const snapshot = takeSnapshot(this.view, { cgroupMode: this.#d.mode });
    return { snapshot, scope: undefined, protections: this.#d.engine().protections, victims: new VictimRegistry() };
  }

  /**
   * The pids new in the warm model's /proc listing since the last call (its listing is kept
   * current by the model's refresh: no extra read). Only `looking` costs a comparison.
   */
  #freshPids(standing: StandingDecisions, looking: boolean): number[] {
    let pids: number[];
    try {
      pids = standing.model.readDir(PROC).filter((e) => e.isDirectory && /^[0-9]+$/.test(e.name)).map((e) => Number(e.name));
    } catch {
      return [];
    }
    const seen = this.#seen;
    this.#seen = new Set(pids);
    return seen === undefined || !looking ? [] : pids.filter((p) => !seen.has(p));
  }

  /** Every task the standing victims name now (by pid and start time), and the whole-cgroup victims. */
  #wanted(): { tasks: Map<string, TaskRef>; groups: Set<CgroupPath> } {
    const ctx = this.#wants.size > 0 ? this.#verifyContext() : undefined;
    const tasks = new Map<string, TaskRef>();
    const groups = new Set<CgroupPath>();
    for (const w of this.#wants.values()) {
      for (const r of this.#refs(w, ctx)) tasks.set(key(r), r);
      for (const c of w.cgroups) groups.add(c);
    }
    return { tasks, groups };
  }

  /** Works out, for each scope, why the kernel's choice may not be its standing victim. */
  #report(standing: StandingDecisions, now: number): void {
    this.#lastReport = now;
    const raised = this.#raised?.tasks ?? new Map();
    const model = standing.snapshot();
    const live = this.#verifyContext().snapshot;
    const reports = new Map<CgroupPath, string[]>();
    for (const [scope, want] of this.#wants) {
      const refs = this.#refs(want);
      const mine = new Set(refs.map(key));
      const minePids = new Set(refs.map((r) => r.pid));
      const lines = [...want.notes];
      const inScope = (cg: CgroupPath | undefined) => scope === ROOT_CGROUP || (cg !== undefined && cgroupContains(scope, cg));
      const others = [...raised.values()].filter((t) => t.root !== undefined && !mine.has(key(t.root)) && inScope(live.task(t.pid)?.cgroupPath));
      if (others.length > 0) {
        const roots = new Set(others.map((o) => (o.root ? key(o.root) : "")));
        const whose = [...this.#wants].filter(([s, w]) => s !== scope && this.#refs(w).some((r) => roots.has(key(r)))).map(([s]) => s);
        lines.push(`${listed(others.map((t) => `pid ${t.pid} (${t.comm})`))} at ${FOLLOW_ADJ} too, for the standing victim of ${whose.join(", ") || "another scope"}: in an OOM here the kernel takes the largest of them and this scope's victim`);
      }
      const node = scope === ROOT_CGROUP ? undefined : model.cgroup(scope);
      const tasks = scope === ROOT_CGROUP ? model.tasks : (node?.allTasks() ?? []);
      const already = tasks.filter((t) => !minePids.has(t.pid) && !raised.has(t.pid) && !t.exiting && t.oomScoreAdj === FOLLOW_ADJ);
      if (already.length > 0) lines.push(`${listed(already.map((t) => `pid ${t.pid} (${t.comm})`))} already at ${FOLLOW_ADJ} (as every BestEffort pod is): the kernel takes the largest of them and the standing victim`);
      reports.set(scope, lines);
      const said = this.#reports.get(scope)?.join("\n");
      if (lines.length > 0 && said !== lines.join("\n")) this.#d.log.info(`kernel fallback for ${scope} is not exact: ${lines.join("; ")}`);
    }
    this.#reports = reports;
  }
}
