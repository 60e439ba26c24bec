/**
 * Deciding before the trouble: the daemon's warm model (engine/model.ts) and a standing plan for
 * every scope that can run out of memory — the machine, and each cgroup a trigger watches or a
 * policy is attached to.
 *
 * `upkeep` is called on each daemon tick and does at most two short things: one refresh slice of
 * the model (at most REFRESH_SLICE_MS of reading, every REFRESH_EVERY_MS ÷ pace), and one
 * scope's decision run on a snapshot of the model (engine.prepare), after re-reading what a
 * change made due at once (WarmModel.refreshUrgent, at most URGENT_READ_MS), when that scope's plan is
 * missing, older than REDECIDE_MS ÷ pace, or older than MIN_REDECIDE_MS ÷ pace while the model
 * has changed in a way the plan depends on (daemon/redecide.ts: structure, or figures on which
 * the trigger's own check would refuse the plan or another victim would be chosen; each
 * upkeep looks, on the model alone, at what moved since the last, after the same urgent reads
 * while a plan stands). Each kind rests after a slice in proportion to it (restAfter), so
 * upkeep keeps to its share of a core (upkeepShare: under 1 % idle, whatever the machine's size).
 * The event loop turns between the refresh and the decision run and between the policies of a
 * chain, so a trigger that arrives mid-upkeep waits at most one slice: one model refresh slice,
 * or one policy's call (at most AHEAD_CALL_MAX_MS, engine.ts). `UpkeepReport.slicesMs` measures
 * them. A decision run stops between policies while an episode waits or runs
 * (StandingDeps.waiting): the trigger's path takes the plan that stands, or decides afresh,
 * without waiting for the rest of the chain; the abandoned run leaves the previous plan standing
 * and is made again at the next upkeep. The pace rises from 1 (idle) to PACE_MAX as MemAvailable
 * falls below a fifth of memory and as memory pressure (PSI some avg10) rises — the same signals
 * the triggers use.
 *
 * Decisions ahead, and the daemon's fresh ones, visit tasks largest first by the model's sizes
 * (engine/visit-order.ts): a call cut short by its deadline or by AHEAD_CALL_MAX_MS has seen
 * the big tasks, and a process no decision has sized yet (a new one) comes before the small.
 *
 * `take(scope)` hands the trigger's path the scope's plan; the engine checks it against the
 * live machine before acting (engine.carryOut). A policy that runs out of time on a refresh
 * leaves the previous plan standing; the next refresh tries again.
 */
import type { Engine, Prepared } from "../engine/engine.js";
import type { EpisodeRecord } from "../engine/episode.js";
import { WarmModel } from "../engine/model.js";
import type { OomCause } from "../engine/policy.js";
import { type Snapshot, takeSnapshot } from "../engine/snapshot.js";
import { PreemptibleHost } from "../engine/preempt.js";
import { type PreparedPlan, describeTarget, outgrown } from "../engine/standing.js";
import { OomkitError } from "../errors.js";
import type { Logger } from "../log.js";
import type { CgroupMode } from "../os/cgroup-mode.js";
import { type Host, workClockOf } from "../os/host.js";
import { type CgroupPath, ROOT_CGROUP, cgroupDir } from "../os/paths.js";
import { type PlanWatch, watchPlan, whyNoneOutdated, whyOutdated } from "./redecide.js";

/** Longest a model refresh slice may read for. */
export const REFRESH_SLICE_MS = 5;
/**
 * Before a plan is made, the model re-reads what a change made due at once (a cgroup whose
 * usage moved: its process list, its tasks' figures) for at most this long: the plan the change
 * asked for is then made on the figures that showed it, not on those it showed to be stale.
 */
export const URGENT_READ_MS = 50;
/** At pace 1, one refresh slice a second: at most half a percent of one core. */
export const REFRESH_EVERY_MS = 1_000;
/**
 * At pace 1, each scope's plan is made again this often even if the model saw no change (a
 * decision run is the costliest part of upkeep: at 10,000 tasks, tens to hundreds of ms).
 */
export const REDECIDE_MS = 60_000;
/**
 * At pace 1, a plan is made again this soon when the model changed in a way it depends on
 * (daemon/redecide.ts: structure, or figures the trigger's check would refuse it on), or none stands.
 */
export const MIN_REDECIDE_MS = 2_000;
/**
 * A standing plan older than this is refused at the trigger, and a fresh decision taken. Above
 * REDECIDE_MS, so a quiet machine's plan is never refused for its age alone; a machine that
 * changes has its plans made again within MIN_REDECIDE_MS ÷ pace.
 */
export const STANDING_MAX_AGE_MS = 2 * REDECIDE_MS;
export const PACE_MAX = 10;
/** After this many decision runs in a row stopped by events, the next is not stopped (#prepare). */
export const MAX_STOPPED_RUNS = 2;
const PREEMPTED = "an event came for the daemon's thread (a trigger fired, a process exited)";
const TRIGGER_DUE = "a polled trigger's condition holds (its poll was due)";

/**
 * The share of one core that model refreshes may take, and decision runs each, while the
 * machine is idle (pace 1): together under 1 %, whatever the machine's size. It grows with the
 * square of the pace, up to UPKEEP_SHARE_MAX at PACE_MAX: in trouble, fresher plans are worth
 * the CPU. A slice that ran D ms is followed by a rest of D × (1 − share) / share before the
 * next of its kind (a 50 ms listing of /proc at 10,000 tasks rests 12 s when idle).
 */
export const UPKEEP_SHARE_IDLE = 0.004;
export const UPKEEP_SHARE_MAX = 0.5;
/** A refresh never rests longer than this ÷ pace: who exists is known within it. */
export const REFRESH_REST_MAX_MS = 10_000;

/**
 * A decision run the model's changes ask for never rests longer than this ÷ pace: twice
 * MIN_REDECIDE_MS, so a changing machine's plans follow it within seconds even when idle.
 */
export const DECISION_REST_MAX_MS = 2 * MIN_REDECIDE_MS;

/** The share of one core each kind of upkeep may take at `pace`. */
export function upkeepShare(pace: number): number {
  return Math.min(UPKEEP_SHARE_MAX, UPKEEP_SHARE_IDLE * pace * pace);
}

/** How long to rest after a slice of `tookMs` at `pace`, at most `capMs`. */
export function restAfter(tookMs: number, pace: number, capMs: number): number {
  const share = upkeepShare(pace);
  return Math.min(capMs, (Math.max(0, tookMs) * (1 - share)) / share);
}

/** What a standing decision is made for: no trigger has fired; the record says so. */
function standingCause(scope: CgroupPath): OomCause {
  return { kind: scope === ROOT_CGROUP ? "system" : "cgroup", trigger: "standing", message: `decided ahead for ${scope}`, figures: {} };
}

export interface StandingEntry {
  readonly scope: CgroupPath;
  /** The plan, when a policy's plan passed the verifier. */
  readonly plan: PreparedPlan | undefined;
  /** Why no plan stands, when none does. */
  readonly none?: string;
  /** The last decision run's record (an explain record: what it would do, and why). */
  readonly record: EpisodeRecord;
  readonly madeAtMonoMs: number;
  readonly generation: number;
}

export interface StandingDeps {
  readonly host: Host;
  readonly mode: CgroupMode;
  readonly log: Logger;
  engine(): Engine;
  /** The scopes that can OOM now, besides "/". */
  scopes(): Iterable<CgroupPath>;
  /** True while an episode waits or runs: a decision run ahead stops at its next policy. */
  waiting?(): boolean;
  /**
   * True when a polled trigger would declare an OOM now (Watch.due): its poll cannot run while
   * the thread decides ahead, so the run asks, as it asks the host for a ready fd. A run stops
   * for it as for an event.
   */
  triggerDue?(): boolean;
}

export interface UpkeepReport {
  readonly refreshed: number;
  readonly decided: CgroupPath | undefined;
  /** The longest single slice (refresh or decision) in this call, ms. */
  readonly longestSliceMs: number;
  /**
   * Each slice of this call, in order (ms): the stretches of work between turns of the event
   * loop, each what a trigger arriving in it waits for at most.
   */
  readonly slicesMs: readonly number[];
  /**
   * Beside each slice: whether an event would have stopped it (a model refresh slice, after the
   * read running then; a decision run with a plan standing for its scope, at its next read).
   */
  readonly stoppable: readonly boolean[];
}

export class StandingDecisions {
  readonly model: WarmModel;
  readonly #d: StandingDeps;
  readonly #entries = new Map<CgroupPath, StandingEntry>();
  /** Beside each entry: what its plan depends on, and why it is outdated once the model shows it. */
  readonly #watches = new Map<CgroupPath, PlanWatch>();
  /** The model's version at the last look at the plans (#judge). */
  #judged = -1;
  #lastRefresh = Number.NEGATIVE_INFINITY;
  /** How long the last refresh slice took (ms): the next rests in proportion (restAfter). */
  #lastRefreshMs = 0;
  #deciding = false;
  /** Decision runs in a row that an event stopped (#prepare). */
  #stoppedRuns = 0;
  /** When the last decision run ended (monotonic ms) and how long it took: the next rests in proportion. */
  #lastDecisionEnd = Number.NEGATIVE_INFINITY;
  #lastDecisionMs = 0;
  /** The longest slice seen so far (status, metrics, the benchmark). */
  longestSliceMs = 0;
  /** The slices of the upkeep call running now, and when the one running began (performance.now). */
  #slices: number[] = [];
  #stoppable: boolean[] = [];
  #sliceStart = 0;
  /** Whether the slice running now is one an event stops. */
  #sliceStoppable = false;
  /** MemAvailable's recent fall (the pace's third signal). */
  readonly #availableTrend = new AvailableTrend();

  constructor(deps: StandingDeps) {
    this.#d = deps;
    this.model = new WarmModel(deps.host, deps.mode.unifiedMount);
  }

  /** A snapshot of the model: what a policy would read, served from memory where it can be. */
  snapshot(): Snapshot {
    return takeSnapshot(this.model, { cgroupMode: this.#d.mode, visitSizes: this.model });
  }

  /** The scopes a plan is kept for: "/" first, then each watched or attached cgroup. */
  scopes(): CgroupPath[] {
    const out = new Set<CgroupPath>([ROOT_CGROUP]);
    if (this.#d.mode.perCgroup) for (const s of this.#d.scopes()) out.add(s);
    return [...out];
  }

  /** The scope's plan for the trigger's path (undefined when none stands). */
  take(scope: CgroupPath): PreparedPlan | undefined {
    return this.#entries.get(scope)?.plan;
  }

  /** Why no plan stands for the scope (for the record of the fresh decision taken instead). */
  whyNone(scope: CgroupPath): string {
    const e = this.#entries.get(scope);
    return e === undefined ? "no standing plan for this scope yet" : (e.none ?? "no standing plan for this scope");
  }

  entries(): StandingEntry[] {
    return [...this.#entries.values()];
  }

  /** True once every scope has had a decision run made to its end (a plan, or why none stands). */
  decidedAll(): boolean {
    return this.scopes().every((s) => this.#entries.has(s));
  }

  /** Forgets every plan (a new configuration: other policies, other scopes). */
  clear(): void {
    this.#entries.clear();
    this.#watches.clear();
  }

  /** Forgets one scope's plan (it was carried out or refused: the next upkeep decides again). */
  forget(scope: CgroupPath): void {
    this.#entries.delete(scope);
    this.#watches.delete(scope);
  }

  /** One round of upkeep; never throws (a failed decision leaves the previous plan standing). */
  async upkeep(now: number): Promise<UpkeepReport> {
    let refreshed = 0;
    this.#slices = [];
    this.#stoppable = [];
    this.#sliceStoppable = false;
    this.#sliceStart = performance.now();
    const pace = this.model.pace;
    if (now - this.#lastRefresh >= Math.max(REFRESH_EVERY_MS / pace, this.#lastRefreshMs + restAfter(this.#lastRefreshMs, pace, REFRESH_REST_MAX_MS / pace))) {
      this.#lastRefresh = now;
      // An event (a trigger that fired) ends the slice after the read running then: the rest
      // stays due, first in line, and a refresh is never worth a trigger's wait.
      const stop = this.#eventStop();
      const r = this.model.refresh(REFRESH_SLICE_MS, stop);
      this.#sliceStoppable = stop !== undefined;
      refreshed = r.reads;
      this.#lastRefreshMs = r.ms;
      this.model.pace = this.#paceNow();
    } else if (this.model.refreshMachine() > 0) {
      // Resting: the machine's figures alone (a few small files), so the pace — and with it the
      // rest — follows a machine running out of memory, rather than waiting out a rest made idle.
      this.model.pace = this.#paceNow();
    }
    // What a change made due at once (a cgroup's usage moved: its process list, its tasks'
    // figures) is read before the plans are judged, as before a plan is made (#prepare): the
    // judge reads nothing itself, and under thrash a refresh slice gets one read, so a leak's own
    // figures waited behind the slices while its cgroup's growth made no plan (the VM's
    // daemon-zram on 6.1: a bystander named for 12 s). Nothing is read when nothing is urgent.
    if (!this.#deciding && [...this.#entries.values()].some((e) => e.plan !== undefined)) this.model.refreshUrgent(URGENT_READ_MS, this.#eventStop());
    this.#judge();
    let decided: CgroupPath | undefined;
    // Deciding ahead takes its share of the daemon's time (upkeepShare: at most half of it): on a
    // slow machine a run takes seconds (3,000 tasks under TCG), and back to back they would leave
    // the triggers' own polls waiting. The rest never outlasts DECISION_REST_MAX_MS ÷ pace. A scope with
    // no plan (none yet, or every policy ran out of time on a cold model), or one whose plan is due
    // by its age alone (once per REDECIDE_MS ÷ pace at most), waits only as long as the last run
    // took (half the daemon's time): each run warms the model further, and the share bounds the
    // runs a changing machine asks for. Nothing is decided ahead while an episode waits or runs.
    const due = this.#d.waiting?.() === true ? undefined : this.#due(now);
    const entry = due === undefined ? undefined : this.#entries.get(due);
    const byAge = due !== undefined && (entry === undefined || entry.plan === undefined || now - entry.madeAtMonoMs >= REDECIDE_MS / this.model.pace);
    const rest = byAge ? this.#lastDecisionMs : restAfter(this.#lastDecisionMs, this.model.pace, DECISION_REST_MAX_MS / this.model.pace);
    const scope = now >= this.#lastDecisionEnd + rest ? due : undefined;
    let ran = false;
    if (scope !== undefined && !this.#deciding) {
      this.#deciding = true;
      ran = true;
      // The refresh is one slice, the decision run's policies others: a trigger waits for one.
      if (refreshed > 0) await this.#turn();
      const work = workClockOf(this.#d.host);
      const t0 = work.monotonicMs();
      try {
        if (await this.#decide(scope)) decided = scope;
      } catch (err) {
        const msg = err instanceof OomkitError ? err.message : ((err as Error).stack ?? String(err));
        this.#d.log.debug(`standing decision for ${scope} skipped: ${msg}`);
        if (err instanceof OomkitError && err.code === "E_NO_SUCH_PATH") this.#entries.delete(scope);
      } finally {
        this.#deciding = false;
        const took = work.monotonicMs() - t0;
        this.#lastDecisionEnd = this.#d.host.clock.monotonicMs();
        this.#lastDecisionMs = took;
      }
    }
    if (refreshed > 0 || ran) this.#endSlice();
    this.#sliceStoppable = false;
    const slicesMs = this.#slices;
    const longest = Math.max(0, ...slicesMs);
    this.longestSliceMs = Math.max(this.longestSliceMs, longest);
    return { refreshed, decided, longestSliceMs: longest, slicesMs, stoppable: this.#stoppable };
  }

  /** True while an event waits for the thread (HostWaits.eventPending); undefined when the Host cannot tell. */
  #eventStop(): (() => boolean) | undefined {
    const pending = this.#d.host.waits?.eventPending;
    const due = this.#d.triggerDue;
    if (pending === undefined && due === undefined) return undefined;
    return () => pending?.() === true || due?.() === true;
  }

  /** Ends the slice running now and lets the event loop turn: a trigger that came meanwhile runs. */
  readonly #turn = async (): Promise<void> => {
    this.#endSlice();
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.#sliceStart = performance.now();
  };

  #endSlice(): void {
    this.#slices.push(performance.now() - this.#sliceStart);
    this.#stoppable.push(this.#sliceStoppable);
  }

  /**
   * Looks at each standing plan the model has changed under since the last look, and marks the
   * ones it outdates (daemon/redecide.ts); reads nothing from the machine.
   */
  #judge(): void {
    const version = this.model.version;
    // While a plan is being made its moves wait: they are judged against the plan made.
    if (version === this.#judged || this.#deciding) return;
    this.#judged = version;
    const moved = this.model.takeMoved();
    const structure = this.model.structureGeneration;
    let snapshot: Snapshot | undefined;
    for (const e of this.#entries.values()) {
      const w = this.#watches.get(e.scope);
      if (w === undefined || w.outdated !== undefined || w.structure !== structure) continue;
      if (e.plan === undefined) {
        if (w.settled) w.outdated = whyNoneOutdated(e.scope, w, moved, this.model);
        continue;
      }
      snapshot ??= this.snapshot();
      w.outdated = whyOutdated(e.plan, w, snapshot, moved, this.model);
    }
  }

  /** Why a scope's plan is to be made again before its age says so, or undefined. */
  #changed(e: StandingEntry): string | undefined {
    const w = this.#watches.get(e.scope);
    // None stands and the chain did not settle it (a policy ran out of time on a cold model, or
    // the verifier refused a plan): each run warms the model further. One whose every policy
    // passed or found nothing to kill is settled: it stands like a plan (daemon/redecide.ts).
    if (e.plan === undefined && w?.settled !== true) return "no plan stands";
    if (w === undefined) return "no watch";
    if (w.structure !== this.model.structureGeneration) return "the machine's structure changed";
    return w.outdated;
  }

  /** The scope most in need of a plan, or undefined when every plan is fresh enough. */
  #due(now: number): CgroupPath | undefined {
    const pace = this.model.pace;
    let best: CgroupPath | undefined;
    let bestAge = -1;
    const live = new Set(this.scopes());
    for (const s of this.#entries.keys()) if (!live.has(s)) this.forget(s);
    for (const s of live) {
      const e = this.#entries.get(s);
      if (!e) return s;
      const age = now - e.madeAtMonoMs;
      // A scope with no plan (every policy ran out of time on a cold model, say) is tried again
      // as soon as a changed one would be: each run warms the model further.
      const due = age >= REDECIDE_MS / pace || (age >= MIN_REDECIDE_MS / pace && this.#changed(e) !== undefined);
      if (due && age > bestAge) {
        best = s;
        bestAge = age;
      }
    }
    return best;
  }

  /**
   * Decides ahead for one scope; false when the run stopped for an episode (the entry is left as
   * it was). A plan that missed a cgroup made meanwhile is made once more at once, on the
   * newcomers' figures (the model reads them as urgent): a leak's cgroup is usually that newcomer,
   * and the trigger can come before the next upkeep would decide again (the VM's daemon-zram: a
   * leak at 150 MiB/s fills the guest in 7 s, and plans came 2 s apart while the pace was idle).
   */
  async #decide(scope: CgroupPath): Promise<boolean> {
    const why = this.#entries.has(scope) ? (this.#changed(this.#entries.get(scope) as StandingEntry) ?? "its age") : "none made yet";
    let made = await this.#prepare(scope);
    if (made === undefined) return false;
    if (made.moved > 0 && made.prepared.plan !== undefined) {
      this.#d.log.debug(`standing decision for ${scope}: a cgroup came or went under it while its plan was made (the model's listing was older than its figures); deciding again now`);
      await this.#turn();
      made = await this.#prepare(scope);
      if (made === undefined) return false;
    }
    const { prepared, generation, structure, snapshot, live, moved } = made;
    const { record } = prepared;
    let { plan } = prepared;
    let unseen: string | undefined;
    if (plan !== undefined && moved > 0) {
      unseen = `a cgroup came or went under ${scope} while its plan was made, twice (the model's listing was older than its figures); deciding again`;
      plan = undefined;
    }
    const prior = this.#entries.get(scope);
    // A policy that ran out of time or failed this round leaves the plan it made before standing,
    // rather than the plan of a policy further down its chain (the kernel's badness, say) — unless
    // the machine has outgrown that plan since (a leak that began after it): the trigger would
    // refuse it, and decide afresh on live reads, where this round's plan saw the leak.
    const failed = new Set(record.chain.filter((c) => c.outcome === "timeout" || c.outcome === "threw").map((c) => c.policy));
    const stale = prior?.plan !== undefined && failed.has(prior.plan.policy) ? outgrown(prior.plan, live) : undefined;
    const keep = prior?.plan !== undefined && failed.has(prior.plan.policy) && stale === undefined;
    const stands = keep ? prior.plan : plan;
    const none = stands !== undefined ? undefined : (unseen ?? `deciding ahead, no policy's plan passed the verifier (${record.chain.map((c) => `${c.policy}: ${c.outcome}`).join(", ")})`);
    const chain = record.chain.map((c) => `${c.policy} ${c.outcome} ${Math.round(c.durationMs)} ms`).join(", ");
    this.#d.log.debug(`standing decision for ${scope}: ${stands ? `${stands.policy}: ${stands.targets.map((t) => describeTarget(t.action)).join(", ")}` : `none (${none})`} [${chain}]${keep ? " (kept)" : stale ? ` (not keeping ${prior?.plan?.policy}'s: ${stale})` : ""} (made again: ${why})`);
    this.#entries.set(scope, {
      scope,
      plan: stands,
      ...(none !== undefined ? { none } : {}),
      record: keep ? prior.record : record,
      madeAtMonoMs: snapshot.takenAtMonoMs,
      generation,
    });
    // Nothing to do, said by every policy of a chain that ran to its end on what the model holds now.
    const settled = stands === undefined && unseen === undefined && record.chain.length > 0 && record.chain.every((c) => c.outcome === "passed" || c.outcome === "no-victim");
    this.#watches.set(scope, watchPlan(stands, this.model, structure, this.#d.mode.unifiedMount, [...failed], settled, scope));
    return true;
  }

  /**
   * One decision run on the model: what is urgent read first, the plan made, and the scope's
   * listings read again (`moved`: how many changed, a cgroup that came or went while it was
   * made). Undefined when the run stopped for an episode.
   */
  async #prepare(scope: CgroupPath): Promise<{ prepared: Extract<Prepared, { readonly record: unknown }>; generation: number; structure: number; snapshot: Snapshot; live: Snapshot; moved: number } | undefined> {
    // While a plan stands for the scope, an event (a trigger that fired) stops this run in the
    // middle of a policy's call rather than waiting for its end: the trigger takes the plan that
    // stands. After MAX_STOPPED_RUNS runs in a row stopped so, the next runs to its end, so that
    // a stream of events (a PSI trigger firing every window) cannot keep every plan from being
    // made. The urgent reads before it stop for an event too (they may take URGENT_READ_MS).
    // Nor when the plan that stands is known to be outdated (the machine's structure changed, or
    // its figures outgrew it): the trigger would take a plan this run exists to replace.
    const standing = this.#entries.get(scope);
    const events = this.#eventStop();
    const stoppable = events !== undefined && standing?.plan !== undefined && this.#changed(standing) === undefined && this.#stoppedRuns < MAX_STOPPED_RUNS;
    const pending = () => events?.() === true;
    this.#sliceStoppable = stoppable;
    this.model.refreshUrgent(URGENT_READ_MS, stoppable ? pending : undefined);
    if (stoppable && pending()) {
      this.#stoppedRuns++;
      this.#d.log.debug(`standing decision for ${scope} stopped before its policies: ${PREEMPTED}; the plan made before stands`);
      return undefined;
    }
    const generation = this.model.generation;
    // What the plan's watch compares with (daemon/redecide.ts): the structure this run saw.
    const structure = this.model.structureGeneration;
    const host = stoppable ? new PreemptibleHost(this.model, pending) : undefined;
    const snapshot = host ? takeSnapshot(host, { cgroupMode: this.#d.mode, visitSizes: this.model }) : this.snapshot();
    // The figures the trigger will compare against are read live: the model's may be seconds old.
    const live = takeSnapshot(this.#d.host, { cgroupMode: this.#d.mode });
    // Between its policies any run gives way to an episode, and to a polled trigger that would
    // declare one: its tick runs once the run has ended, then the episode takes the plan that stands.
    const yieldTo = () =>
      host?.stopped ? PREEMPTED : this.#d.waiting?.() === true ? "an episode is waiting for the daemon's thread" : this.#d.triggerDue?.() === true ? TRIGGER_DUE : undefined;
    const prepared = await this.#d.engine().prepare({ snapshot, scope, cause: standingCause(scope), generation, live, yieldTo, turn: this.#turn });
    this.#stoppedRuns = host?.stopped ? this.#stoppedRuns + 1 : 0;
    if (host?.stopped === true || prepared.abandoned !== undefined) {
      const policies = prepared.abandoned !== undefined ? prepared.policies : prepared.record.chain.map((c) => c.policy);
      this.#d.log.debug(`standing decision for ${scope} stopped ${host?.stopped ? "in" : "after"} ${policies.join(", ")}: ${host?.stopped ? PREEMPTED : prepared.abandoned}; the plan made before stands`);
      return undefined;
    }
    // The trigger refuses a plan when its scope grew outside the targets since the plan's figures
    // were read (prepare read them live, just now). That catches a newcomer only if the decision
    // saw every cgroup that existed by then; the model's listings may be older than its figures
    // (listings are re-read after usage, and least often when the budget is short). So they are
    // read again now: a cgroup that came or went under the scope means this plan may have
    // missed the one to kill.
    const moved = prepared.plan !== undefined && this.#d.mode.unifiedMount !== undefined ? this.model.refreshListingsUnder(cgroupDir(this.#d.mode.unifiedMount, scope)) : 0;
    return { prepared, generation, structure, snapshot, live, moved };
  }

  /**
   * How hard to keep the model current: 1 while there is room; up to PACE_MAX as MemAvailable
   * falls from a fifth of memory to a twentieth, as memory pressure (some, avg10) rises to 10 %,
   * or as the time left at MemAvailable's recent fall shrinks from a minute to 10 s
   * (AvailableTrend): a leak at 150 MiB/s fills a 1.5 GiB machine in seconds, before the headroom
   * or the 10 s pressure average says so, and its plan must be made while it grows.
   */
  #paceNow(): number {
    const s = this.snapshot().system;
    const m = s.meminfo;
    let byHeadroom = 1;
    let byTrend = 1;
    if (m?.memAvailableBytes !== undefined && m.memTotalBytes !== undefined && m.memTotalBytes > 0) {
      const share = m.memAvailableBytes / m.memTotalBytes;
      byHeadroom = share >= 0.2 ? 1 : share <= 0.05 ? PACE_MAX : 1 + ((0.2 - share) / 0.15) * (PACE_MAX - 1);
      byTrend = this.#availableTrend.pace(this.#d.host.clock.monotonicMs(), m.memAvailableBytes);
    }
    const avg10 = s.pressure.memory?.some.avg10;
    const byPressure = avg10 === undefined ? 1 : Math.min(PACE_MAX, 1 + (avg10 / 10) * (PACE_MAX - 1));
    return Math.max(byHeadroom, byPressure, byTrend);
  }
}

/** Past this many seconds to exhaustion at the recent rate, MemAvailable's fall leaves the pace at 1. */
const TREND_CALM_S = 60;
/** At this many seconds or fewer to exhaustion, the pace is PACE_MAX. */
const TREND_URGENT_S = 10;
/** The fall is measured over samples at most this old (and at least TREND_MIN_SPAN_MS apart). */
const TREND_WINDOW_MS = 5_000;
const TREND_MIN_SPAN_MS = 500;

/**
 * MemAvailable's recent fall, as the pace it calls for: the seconds left until it reaches
 * nothing at the rate it fell over the last few seconds, from TREND_CALM_S (pace 1) down to
 * TREND_URGENT_S (PACE_MAX). A rise, a flat line or too short a span: 1.
 */
export class AvailableTrend {
  #samples: { readonly atMs: number; readonly bytes: number }[] = [];

  pace(nowMs: number, availableBytes: number): number {
    const last = this.#samples.at(-1);
    if (last === undefined || last.bytes !== availableBytes || nowMs - last.atMs >= TREND_MIN_SPAN_MS) this.#samples.push({ atMs: nowMs, bytes: availableBytes });
    this.#samples = this.#samples.filter((x) => nowMs - x.atMs <= TREND_WINDOW_MS);
    const first = this.#samples[0];
    if (first === undefined || nowMs - first.atMs < TREND_MIN_SPAN_MS) return 1;
    const fallPerS = ((first.bytes - availableBytes) * 1000) / (nowMs - first.atMs);
    if (fallPerS <= 0) return 1;
    const left = Math.max(0, availableBytes) / fallPerS;
    if (left >= TREND_CALM_S) return 1;
    if (left <= TREND_URGENT_S) return PACE_MAX;
    return 1 + ((TREND_CALM_S - left) / (TREND_CALM_S - TREND_URGENT_S)) * (PACE_MAX - 1);
  }
}
