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
import type { PreparedPlan } from "../engine/standing.js";
import { type TaskRef, type VerifyContext, taskProtection } from "../engine/verify.js";
import { VictimRegistry } from "../engine/victims.js";
import type { Logger } from "../log.js";
import type { CgroupMode } from "../os/cgroup-mode.js";
import { CAP_SYS_RESOURCE, hasCapability } from "../os/doctor.js";
import type { Host } from "../os/host.js";
import { parseProcStat } from "../os/parse/proc.js";
import { CgroupFile, type CgroupPath, PROC, PidFile, ROOT_CGROUP, cgroupContains, cgroupDir, procPid } from "../os/paths.js";
import { FollowStore, type Leftovers, groupStillOurs, stillOurs } from "./follow-store.js";
import { FOLLOW_ADJ, OriginalAdjView, type RaisedTask } from "./follow-view.js";
import type { StandingDecisions } from "./standing.js";

/** How often the raised set is brought in line with the standing decisions (and new children looked for). */
export const FOLLOW_SYNC_MS = 1_000;
/** How often the cgroups with a memory.max are listed again (each is a scope that can OOM). */
const LIMITS_EVERY_MS = 5_000;
/** How often each scope's inexact report is worked out again (it reads every task's value in the scope). */
const REPORT_EVERY_MS = 10_000;
/** Pids named in one line of a report; the rest are counted. */
const NAMED = 5;

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

interface Tracked extends RaisedTask {
  readonly comm: string;
  /** The task a standing decision named that this one is (or descends from); undefined: left by a previous run. */
  readonly root: { readonly pid: number; readonly startTimeTicks: number } | undefined;
  readonly inheritedFrom?: number;
}

const key = (t: { readonly pid: number; readonly startTimeTicks: number }) => `${t.pid}:${t.startTimeTicks}`;

/** One scope's standing victim, as follow mode shapes the kernel's choice for it. */
interface Want {
  readonly victims: readonly string[];
  readonly tasks: readonly TaskRef[];
  /** Whole-cgroup victims: every task in them, and memory.oom.group. */
  readonly cgroups: readonly CgroupPath[];
  readonly notes: readonly string[];
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
  readonly #store: FollowStore | undefined;
  readonly #tracked = new Map<number, Tracked>();
  readonly #groups = new Set<CgroupPath>();
  #wants = new Map<CgroupPath, Want>();
  #limited: CgroupPath[] = [];
  #seen: Set<number> | undefined;
  #state: { readonly active: true } | { readonly active: false; readonly why: string } = { active: false, why: "not started" };
  #lastSync = Number.NEGATIVE_INFINITY;
  #lastLimits = Number.NEGATIVE_INFINITY;
  #lastReport = Number.NEGATIVE_INFINITY;
  #signature = "";
  #reports = new Map<CgroupPath, string[]>();
  /** Tasks whose raised value someone else changed: not raised again while they stay wanted. */
  readonly #yielded = new Set<string>();
  #stopped = false;

  constructor(deps: FollowDeps) {
    this.#d = deps;
    this.view = new OriginalAdjView(deps.host, this.#tracked);
    this.#store = deps.stateFile === undefined ? undefined : new FollowStore({ file: deps.stateFile, log: deps.log, readOnly: deps.dryRun });
  }

  /** "follow", or why it is off though configured. */
  get status(): string {
    return this.#state.active ? "follow" : `refused: ${this.#state.why}`;
  }

  get #on(): boolean {
    return this.#state.active && !this.#stopped;
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
    for (const t of left?.tasks ?? []) this.#tracked.set(t.pid, { ...t, comm: "?", root: undefined });
    if (this.#d.mode.perCgroup) for (const g of left?.oomGroups ?? []) this.#groups.add(g);
    this.#d.log.info(`kernel_fallback = "follow": the standing victims get oom_score_adj ${FOLLOW_ADJ}, so the kernel's OOM killer picks them too`);
  }

  #refusal(): string | undefined {
    if (this.#d.dryRun) return "a dry run changes nothing";
    if (this.#store === undefined) return "there is no state folder to keep the changed values in (--state-dir)";
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
    if (!this.#on) return;
    const entries = standing.entries();
    const signature = entries.map((e) => `${e.scope}@${e.madeAtMonoMs}`).join(",");
    if (now - this.#lastSync < FOLLOW_SYNC_MS && signature === this.#signature) return;
    this.#lastSync = now;
    this.#signature = signature;
    try {
      if (now - this.#lastLimits >= LIMITS_EVERY_MS) this.#refreshLimited(standing, now);
      const changed = this.#updateWants(standing);
      const adopted = this.#adoptChildren(standing);
      const moved = this.#apply();
      if (adopted && !moved) this.#persist(this.#tracked.values(), this.#groups);
      if (changed || moved || adopted || now - this.#lastReport >= REPORT_EVERY_MS) this.#report(standing, now);
    } catch (err) {
      this.#d.log.warn(`kernel fallback: sync failed: ${(err as Error).stack ?? err}`);
    }
  }

  /** Puts every value back (oomkit stops). */
  stop(): void {
    if (!this.#on) return;
    this.#wants = new Map();
    try {
      this.#apply();
    } catch (err) {
      this.#d.log.warn(`kernel fallback: putting values back failed: ${(err as Error).stack ?? err}`);
    }
    this.#stopped = true;
  }

  /** What follow mode does for `scope`, or undefined when it is off or does nothing there. */
  report(scope: CgroupPath): FollowScopeView | undefined {
    const want = this.#wants.get(scope);
    if (!this.#on || !want) return undefined;
    const roots = new Set(this.#refs(want).map(key));
    return {
      victims: want.victims,
      raised: [...this.#tracked.values()]
        .filter((t) => t.root !== undefined && roots.has(key(t.root)))
        .map((t) => ({ pid: t.pid, comm: t.comm, original: t.original, ...(t.inheritedFrom !== undefined ? { inheritedFrom: t.inheritedFrom } : {}) })),
      oomGroup: want.cgroups.filter((c) => this.#groups.has(c)),
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

  /** New pids whose parent oomkit raised, and that hold the inherited 1000, are tracked with its original. */
  #adoptChildren(standing: StandingDecisions): boolean {
    let pids: number[];
    try {
      pids = standing.model.readDir(PROC).filter((e) => e.isDirectory && /^[0-9]+$/.test(e.name)).map((e) => Number(e.name));
    } catch {
      return false;
    }
    const seen = this.#seen;
    this.#seen = new Set(pids);
    if (seen === undefined || this.#tracked.size === 0) return false;
    const before = this.#tracked.size;
    let fresh = pids.filter((p) => !seen.has(p) && !this.#tracked.has(p));
    for (let added = true; added && fresh.length > 0; ) {
      added = false;
      const rest: number[] = [];
      for (const pid of fresh) {
        const child = this.#readChild(pid);
        if (child) {
          this.#tracked.set(pid, child);
          added = true;
          this.#d.log.debug(`kernel fallback: pid ${pid} (${child.comm}) inherited oom_score_adj ${FOLLOW_ADJ} from pid ${child.inheritedFrom}; tracked`);
        } else rest.push(pid);
      }
      fresh = rest;
    }
    return this.#tracked.size > before;
  }

  #readChild(pid: number): Tracked | undefined {
    try {
      const stat = parseProcStat(this.#d.host.readFile(procPid(pid, PidFile.stat)));
      const parent = this.#tracked.get(stat.ppid);
      if (!parent || parent.root === undefined) return undefined;
      if (Number(this.#d.host.readFile(procPid(pid, PidFile.oomScoreAdj)).trim()) !== FOLLOW_ADJ) return undefined;
      return { pid, startTimeTicks: stat.startTimeTicks, original: parent.original, comm: stat.comm, root: parent.root, inheritedFrom: stat.ppid };
    } catch {
      return undefined;
    }
  }

  /** Raises what is wanted and not yet raised, puts back what is no longer wanted; true when anything changed. */
  #apply(): boolean {
    const host = this.#d.host;
    const ctx = this.#wants.size > 0 ? this.#verifyContext() : undefined;
    const wanted = new Map<string, TaskRef>();
    const wantedGroups = new Set<CgroupPath>();
    for (const w of this.#wants.values()) {
      for (const r of this.#refs(w, ctx)) wanted.set(key(r), r);
      for (const c of w.cgroups) wantedGroups.add(c);
    }
    let changed = false;
    // Tasks that exited, or whose value someone else changed, are no longer oomkit's to put back.
    for (const t of this.#tracked.values()) {
      const not = stillOurs(host, t);
      if (not === undefined) continue;
      this.#d.log.debug(`kernel fallback: pid ${t.pid} no longer tracked (${not.why})`);
      if (!not.gone) this.#yielded.add(key(t));
      this.#tracked.delete(t.pid);
      changed = true;
    }
    for (const y of this.#yielded) if (!wanted.has(y)) this.#yielded.delete(y);
    const mount = this.#d.mode.perCgroup ? this.#d.mode.unifiedMount : undefined;
    const groupFile = (c: CgroupPath) => `${cgroupDir(mount ?? "", c)}/${CgroupFile.memoryOomGroup}`;
    const raise: Tracked[] = [];
    for (const r of wanted.values()) {
      const t = this.#tracked.get(r.pid);
      if (t?.startTimeTicks === r.startTimeTicks) {
        // A child raised for another victim is now a standing victim itself: it stays, on its own account.
        if (t.root === undefined || !wanted.has(key(t.root))) this.#tracked.set(r.pid, { ...t, root: { pid: r.pid, startTimeTicks: r.startTimeTicks } });
        continue;
      }
      if (this.#yielded.has(key(r))) continue;
      const adj = this.#currentAdj(r);
      // Never a task at −1000 (never a target anyway), and nothing to do for one at 1000.
      if (adj !== undefined && adj > -1000 && adj < FOLLOW_ADJ) raise.push({ pid: r.pid, startTimeTicks: r.startTimeTicks, original: adj, comm: r.comm, root: { pid: r.pid, startTimeTicks: r.startTimeTicks } });
    }
    const setGroups = mount === undefined ? [] : [...wantedGroups].filter((c) => !this.#groups.has(c) && this.#readTrim(groupFile(c)) === "0");
    const drop = [...this.#tracked.values()].filter((t) => t.root === undefined || !wanted.has(key(t.root)));
    const clear = [...this.#groups].filter((c) => !wantedGroups.has(c));
    if (raise.length + setGroups.length + drop.length + clear.length === 0) {
      if (changed) this.#persist(this.#tracked.values(), this.#groups);
      return changed;
    }
    // Recorded in the state file first, so that a crash between never leaves a change unrecorded.
    if (raise.length + setGroups.length > 0 && !this.#persist([...this.#tracked.values(), ...raise], [...this.#groups, ...setGroups])) {
      raise.length = 0;
      setGroups.length = 0;
    }
    for (const t of raise) {
      if (!this.#write(procPid(t.pid, PidFile.oomScoreAdj), String(FOLLOW_ADJ), `raise pid ${t.pid} (${t.comm})`)) continue;
      this.#tracked.set(t.pid, t);
      this.#d.log.info(`kernel fallback: pid ${t.pid} (${t.comm}) oom_score_adj ${t.original} → ${FOLLOW_ADJ}`);
    }
    for (const c of setGroups) {
      if (!this.#write(groupFile(c), "1", `set memory.oom.group on ${c}`)) continue;
      this.#groups.add(c);
      this.#d.log.info(`kernel fallback: memory.oom.group 0 → 1 on ${c}`);
    }
    for (const t of drop) {
      // Still oomkit's (checked above, and again here: the value may have moved since).
      if (stillOurs(host, t) === undefined) {
        if (!this.#write(procPid(t.pid, PidFile.oomScoreAdj), String(t.original), `put back pid ${t.pid}`)) continue; // tried again next time
        this.#d.log.info(`kernel fallback: pid ${t.pid} (${t.comm}) oom_score_adj back to ${t.original}`);
      }
      this.#tracked.delete(t.pid);
    }
    for (const c of clear) {
      const why = groupStillOurs(host, groupFile(c));
      if (why === undefined) {
        if (!this.#write(groupFile(c), "0", `put back memory.oom.group on ${c}`)) continue;
        this.#d.log.info(`kernel fallback: memory.oom.group back to 0 on ${c}`);
      } else this.#d.log.debug(`kernel fallback: ${c} left as it is (${why})`);
      this.#groups.delete(c);
    }
    this.#persist(this.#tracked.values(), this.#groups);
    return true;
  }

  /** A wanted task's oom_score_adj now, or undefined when it is not the same process any more. */
  #currentAdj(r: TaskRef): number | undefined {
    try {
      if (parseProcStat(this.#d.host.readFile(procPid(r.pid, PidFile.stat))).startTimeTicks !== r.startTimeTicks) return undefined;
      const adj = Number(this.#d.host.readFile(procPid(r.pid, PidFile.oomScoreAdj)).trim());
      return Number.isInteger(adj) ? adj : undefined;
    } catch {
      return undefined;
    }
  }

  #readTrim(file: string): string | undefined {
    try {
      return this.#d.host.readFile(file).trim();
    } catch {
      return undefined;
    }
  }

  #write(file: string, value: string, what: string): boolean {
    try {
      this.#d.host.writeFile(file, value);
      return true;
    } catch (err) {
      this.#d.log.warn(`kernel fallback: cannot ${what}: ${(err as Error).message}`);
      return false;
    }
  }

  #persist(tasks: Iterable<RaisedTask>, groups: Iterable<CgroupPath>): boolean {
    try {
      this.#store?.write(tasks, groups);
      return true;
    } catch (err) {
      this.#d.log.warn(`kernel fallback state ${this.#store?.file}: cannot be written (${(err as Error).message}); nothing more is raised until it can`);
      return false;
    }
  }

  /** Works out, for each scope, why the kernel's choice may not be its standing victim. */
  #report(standing: StandingDecisions, now: number): void {
    this.#lastReport = now;
    const model = standing.snapshot();
    const live = this.#verifyContext().snapshot;
    const reports = new Map<CgroupPath, string[]>();
    for (const [scope, want] of this.#wants) {
      const refs = this.#refs(want);
      const mine = new Set(refs.map(key));
      const minePids = new Set(refs.map((r) => r.pid));
      const lines = [...want.notes];
      const inScope = (cg: CgroupPath | undefined) => scope === ROOT_CGROUP || (cg !== undefined && cgroupContains(scope, cg));
      const others = [...this.#tracked.values()].filter((t) => t.root !== undefined && !mine.has(key(t.root)) && inScope(live.task(t.pid)?.cgroupPath));
      if (others.length > 0) {
        const roots = new Set(others.map((o) => (o.root ? key(o.root) : "")));
        const whose = [...this.#wants].filter(([s, w]) => s !== scope && this.#refs(w).some((r) => roots.has(key(r)))).map(([s]) => s);
        lines.push(`${list(others.map((t) => `pid ${t.pid} (${t.comm})`))} at ${FOLLOW_ADJ} too, for the standing victim of ${whose.join(", ") || "another scope"}: in an OOM here the kernel takes the largest of them and this scope's victim`);
      }
      const node = scope === ROOT_CGROUP ? undefined : model.cgroup(scope);
      const tasks = scope === ROOT_CGROUP ? model.tasks : (node?.allTasks() ?? []);
      const already = tasks.filter((t) => !minePids.has(t.pid) && !this.#tracked.has(t.pid) && !t.exiting && t.oomScoreAdj === FOLLOW_ADJ);
      if (already.length > 0) lines.push(`${list(already.map((t) => `pid ${t.pid} (${t.comm})`))} already at ${FOLLOW_ADJ} (as every BestEffort pod is): the kernel takes the largest of them and the standing victim`);
      reports.set(scope, lines);
      const said = this.#reports.get(scope)?.join("\n");
      if (lines.length > 0 && said !== lines.join("\n")) this.#d.log.info(`kernel fallback for ${scope} is not exact: ${lines.join("; ")}`);
    }
    this.#reports = reports;
  }
}

/** One scope's want from its standing plan. */
function wantOf(plan: PreparedPlan | undefined): Want {
  if (!plan) return { victims: [], tasks: [], cgroups: [], notes: ["no standing plan: the kernel picks by its own badness"] };
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

function list(items: readonly string[]): string {
  return items.length <= NAMED ? items.join(", ") : `${items.slice(0, NAMED).join(", ")} and ${items.length - NAMED} more`;
}
