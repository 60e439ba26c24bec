/**
 * The daemon: watches turn signals into declarations; each declaration becomes one OOM episode
 * (snapshot → policy chain → verify → act → record), one at a time, never while a victim in an
 * overlapping scope is still exiting, never within the post-action delay of the last action
 * there (one kill holds off the other rules while pressure decays), and never beyond the kill
 * rate limit — past which oomkit stands back and the kernel's OOM killer stays the last resort.
 * Before deciding and again right before acting, the trouble must still be there: no kill since
 * the signal, and the trigger's condition still true (./stale.ts); else the plan is dropped.
 */
import type { CompiledConfig } from "../config/index.js";
import { Engine } from "../engine/engine.js";
import type { EpisodeRecord, Staleness } from "../engine/episode.js";
import { LiveExecutor } from "../engine/executor.js";
import { History } from "../engine/history.js";
import { PolicyStateStore } from "../engine/policy-state.js";
import { type Snapshot, takeSnapshot } from "../engine/snapshot.js";
import { type PendingVictim, VictimRegistry } from "../engine/victims.js";
import { type HookCall, describeHookCall } from "../engine/hooks.js";
import { OomkitError } from "../errors.js";
import type { Logger } from "../log.js";
import type { CgroupMode } from "../os/cgroup-mode.js";
import { type Host, workClockOf } from "../os/host.js";
import type { KillBackend } from "../os/kill-port.js";
import { type Scheduler, type TimerHandle, systemScheduler } from "../os/scheduler.js";
import { type CgroupPath, ROOT_CGROUP, cgroupDir, cgroupPath, procPidDir } from "../os/paths.js";
import type { PressureEvent } from "../engine/policy.js";
import { ActionGate } from "./gate.js";
import { GuardBands } from "./guard-band.js";
import { type KillMarks, killSince, markKills, reclaimScanned } from "./stale.js";
import { VictimStore, finishCutGraces, settleExited } from "./victim-store.js";
import { type FollowScopeView, KernelFallback } from "./follow.js";
import { FOLLOW_FILE, restoreLeftovers } from "./follow-store.js";
import { REFRESH_EVERY_MS, STANDING_MAX_AGE_MS, StandingDecisions, type StandingEntry } from "./standing.js";
import type { Declaration, Watch, WatchContext } from "./watch.js";
import { WatchSet } from "./watch-set.js";

export interface DaemonOptions {
  readonly host: Host;
  /** The host's cgroup setup (detectCgroupMode), found once by whoever wires the daemon. */
  readonly mode: CgroupMode;
  readonly config: CompiledConfig;
  readonly log: Logger;
  /** Overrides the configuration's dry_run. */
  readonly dryRun?: boolean;
  /** Carries out live actions (built for `mode`); required unless dry-run. */
  readonly backend?: KillBackend;
  /**
   * The daemon's timers (default: the event loop's). The simulator passes a virtual one over the
   * Host's clock. PSI triggers are the Host's (host.waits); without them pressure is computed from the totals.
   */
  readonly scheduler?: Scheduler;
  /** Where the guard-band state lives (a file in it); undefined keeps none. */
  readonly stateDir?: string;
  /** Tick on the daemon's own timers (default); tests and the simulator call tick() themselves. */
  readonly autoTick?: boolean;
  /** Called at each history sample with the snapshot and the cgroups being watched (metrics, kernel counters). */
  readonly onSample?: (snapshot: Snapshot, watched: readonly CgroupPath[]) => void;
  /** Called with each episode's record, after its actions were issued. */
  readonly onEpisode?: (record: EpisodeRecord) => void;
  /** Called with each policy hook call that threw, ran past its deadline or was invalid; default: a warning. */
  readonly onPolicyFault?: (call: HookCall) => void;
  /** Names episodes (EngineOptions.episodeIds): the simulator passes its own, the same on every run. */
  readonly episodeIds?: () => string;
  /**
   * Called once, when the daemon has settled after start: at the end of the first round that
   * finds every scope's first standing decision made (without standing decisions, the first
   * round), with no episode waiting or running. What start-up left behind is garbage by then:
   * the CLI gives it back to the kernel (os/heap-release.ts). A round that finds an episode under
   * way leaves it to a later round.
   */
  readonly onSettled?: () => void;
}

/** How often the cgroup tree is re-listed for new and removed cgroups (a safety net besides inotify). */
const RESCAN_MS = 1000;
/** How often every cgroup's figures are sampled for rates (pgscan/s, growth/s). */
const HISTORY_MS = 2000;

export interface DaemonStatus {
  readonly mode: CgroupMode;
  readonly dryRun: boolean;
  readonly watches: readonly string[];
  readonly attachments: readonly string[];
  readonly pendingVictims: number;
  readonly episodes: number;
  /** kernel_fallback: "off", "follow", or "refused: why" (daemon/follow.ts). */
  readonly kernelFallback: string;
}

/** A declaration waiting for its episode, with the kill counters read when it was made. */
interface Queued {
  readonly d: Declaration;
  readonly marks: KillMarks;
}

/** One scope's standing decision, for people: its age, whose plan stands (null: none), how it was made. */
export interface StandingView {
  readonly scope: CgroupPath;
  readonly ageMs: number;
  readonly policy: string | null;
  readonly record: EpisodeRecord;
  /** What kernel_fallback = "follow" does for this scope, and where the kernel's choice may differ. */
  readonly follow?: FollowScopeView;
}

/** Pending victims, in the state folder (./victim-store.ts). */
export const VICTIMS_FILE = "victims.json";

export class Daemon {
  readonly #o: DaemonOptions;
  readonly #log: Logger;
  readonly #backend: KillBackend | undefined;
  #config: CompiledConfig;
  #engine: Engine;
  readonly victims = new VictimRegistry();
  readonly history = new History();
  /** Policies' state, kept across reloads (engine/policy-state.ts). */
  readonly policyState = new PolicyStateStore();
  readonly #mode: CgroupMode;
  #guard: GuardBands | undefined;
  #watches!: WatchSet;
  #standing: StandingDecisions | undefined;
  /** kernel_fallback = "follow"; read at start (a reload does not turn it on or off). */
  readonly #follow: KernelFallback | undefined;
  /** The machine itself: the rest of the daemon reads it through the kernel fallback's view. */
  readonly #machine: Host;
  readonly #said = new Set<string>();
  readonly #queue: Queued[] = [];
  #busy = false;
  #running = false;
  #timer: TimerHandle | undefined;
  readonly #scheduler: Scheduler;
  #wakeQueued = false;
  #lastRescan = Number.NEGATIVE_INFINITY;
  #lastHistory = Number.NEGATIVE_INFINITY;
  readonly #gate: ActionGate;
  #episodes = 0;
  #idle: Promise<void> = Promise.resolve();
  /** Restored victims whose SIGTERM grace a restart cut short: their SIGKILL is still to send. */
  #cutGraces: PendingVictim[] = [];
  /** The watches that poll (Watch.due): what a decision run made ahead asks at its reads. */
  #polled: Watch[] = [];
  /** Whether onSettled has been called (it is, once). */
  #settled = false;

  constructor(o: DaemonOptions) {
    this.#machine = o.host;
    const dryRun = o.dryRun ?? o.config.dryRun;
    const stateFile = o.stateDir === undefined ? undefined : `${o.stateDir}/${FOLLOW_FILE}`;
    this.#follow = o.config.kernelFallback === "follow" ? new KernelFallback({ host: o.host, mode: o.mode, log: o.log, stateFile, dryRun, engine: () => this.#engine }) : undefined;
    // Policies, the verifier and the warm model see the values from before follow mode's changes.
    this.#o = this.#follow ? { ...o, host: this.#follow.view } : o;
    this.#log = o.log;
    this.#config = o.config;
    this.#mode = o.mode;
    this.#backend = o.backend;
    this.#scheduler = o.scheduler ?? systemScheduler;
    this.#engine = this.#makeEngine(o.config);
    this.#gate = new ActionGate(this.victims, o.config.kill);
    if (!this.dryRun && !o.backend) throw new OomkitError("E_INTERNAL", "a live daemon needs a kill backend");
  }

  #makeEngine(c: CompiledConfig): Engine {
    const ids = this.#o.episodeIds;
    return new Engine({ ...c.engine, victims: this.victims, history: this.history, state: this.policyState, logger: this.#log, workClock: workClockOf(this.#o.host), ...(ids ? { episodeIds: ids } : {}) });
  }

  get dryRun(): boolean {
    return this.#o.dryRun ?? this.#config.dryRun;
  }
  get engine(): Engine {
    return this.#engine;
  }
  get mode(): CgroupMode {
    return this.#mode;
  }

  #once(key: string, level: "info" | "warn", message: string): void {
    if (this.#said.has(key)) return;
    this.#said.add(key);
    this.#log[level](message);
  }

  #ctx(): WatchContext {
    return {
      host: this.#o.host,
      clock: this.#o.host.clock,
      log: this.#log,
      mode: this.#mode,
      scheduler: this.#scheduler,
      declare: (d) => this.declare(d),
      wake: () => this.#wake(),
      once: (k, l, m) => this.#once(k, l, m),
    };
  }

  async start(): Promise<void> {
    // A restart never chooses a victim a previous run was still waiting for.
    if (this.#o.stateDir !== undefined && !this.dryRun) {
      const restored = new VictimStore({ host: this.#o.host, mode: this.#mode, file: `${this.#o.stateDir}/${VICTIMS_FILE}`, log: this.#log }).attach(this.victims);
      this.#cutGraces = restored.filter((v) => v.sigkillDueMonoMs !== undefined);
    }
    if (this.#mode.perCgroup && this.#mode.unifiedMount) {
      this.#guard = new GuardBands({ host: this.#o.host, mount: this.#mode.unifiedMount, stateFile: this.#o.stateDir ? `${this.#o.stateDir}/guard-bands.json` : undefined, log: this.#log, dryRun: this.dryRun });
      await this.#guard.recover();
    }
    // Whatever kernel_fallback says now, values a crashed run left raised are put back.
    const left = this.#o.stateDir === undefined ? undefined : restoreLeftovers({ host: this.#machine, mode: this.#mode, file: `${this.#o.stateDir}/${FOLLOW_FILE}`, log: this.#log, dryRun: this.dryRun });
    this.#follow?.start(left);
    this.#watches = new WatchSet({
      host: this.#o.host,
      mode: this.#mode,
      log: this.#log,
      guard: this.#guard,
      history: this.history,
      context: () => this.#ctx(),
      once: (k, l, m) => this.#once(k, l, m),
    });
    this.#running = true;
    this.#standing = this.#makeStanding(this.#config);
    await this.#rescan(this.#o.host.clock.monotonicMs());
    this.#schedule(0);
  }

  #makeStanding(c: CompiledConfig): StandingDecisions | undefined {
    if (!c.standingDecisions) return undefined;
    return new StandingDecisions({
      host: this.#o.host,
      mode: this.#mode,
      log: this.#log,
      engine: () => this.#engine,
      scopes: () => [...[...this.#watches.watches].map((w) => w.target), ...this.#config.engine.attachments.map((a) => cgroupPath(a.cgroup)), ...(this.#follow?.limitedCgroups() ?? [])],
      // An episode queued or running: a decision run ahead stops at its next policy, not the chain's end.
      waiting: () => this.#busy || this.#queue.length > 0,
      // A polled trigger (MemAvailable/SwapFree) cannot tick while a run holds the thread: the run asks it.
      triggerDue: () => {
        if (this.#polled.length === 0) return false;
        const now = this.#o.host.clock.monotonicMs();
        for (const w of this.#polled) if (w.due?.(now) === true) return true;
        return false;
      },
    });
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#timer?.cancel();
    this.#timer = undefined;
    await this.#idle; // no victim half-handled
    await this.#watches.stopAll();
    await this.#guard?.restoreAll();
    this.#follow?.stop();
  }

  /** Swaps in a new configuration; the caller has validated it (a bad one never gets here). */
  async reload(config: CompiledConfig): Promise<void> {
    await this.#idle;
    await this.#watches.stopAll();
    if (config.kernelFallback !== this.#config.kernelFallback) this.#log.warn(`kernel_fallback is read at start: it stays ${this.#follow ? `"follow" (${this.#follow.status})` : '"off"'} until oomkit restarts`);
    this.#config = config;
    this.#engine = this.#makeEngine(config);
    this.#standing = this.#makeStanding(config);
    this.#gate.reconfigure(config.kill);
    this.#lastRescan = Number.NEGATIVE_INFINITY;
    await this.#rescan(this.#o.host.clock.monotonicMs());
    this.#log.info(`configuration reloaded: ${this.#watches.size} watches, ${config.engine.attachments.length} attachments`);
  }

  #schedule(ms: number): void {
    if (!this.#running || this.#o.autoTick === false) return;
    this.#timer?.cancel();
    this.#timer = this.#scheduler.after(ms, () => void this.tick().catch((err) => this.#log.error(`tick failed: ${(err as Error).stack ?? err}`)));
  }

  #wake(): void {
    if (this.#wakeQueued || !this.#running || this.#o.autoTick === false) return;
    this.#wakeQueued = true;
    this.#scheduler.after(0, () => {
      this.#wakeQueued = false;
      void this.tick().catch((err) => this.#log.error(`tick failed: ${(err as Error).stack ?? err}`));
    });
  }

  /** One round: rescan the tree when due, sample history when due, tick every watch. */
  async tick(): Promise<void> {
    const now = this.#o.host.clock.monotonicMs();
    // The first round finds what to watch; later ones walk the tree after the triggers have ticked.
    if (this.#lastRescan === Number.NEGATIVE_INFINITY) await this.#rescan(now);
    // Victims nothing waits on (the kernel's, a previous run's) are done when they have exited.
    for (const v of settleExited(this.#o.host, this.#mode, this.victims)) this.#log.debug(`victim ${v.kind === "task" ? `pid ${v.pid}` : v.cgroup} (killed by ${v.by}) has exited`);
    if (this.#cutGraces.length > 0 && this.#backend) this.#cutGraces = finishCutGraces({ host: this.#o.host, mode: this.#mode, registry: this.victims, backend: this.#backend, log: this.#log }, this.#cutGraces, now);
    for (const v of this.victims.expire(now)) this.#log.warn(`victim ${v.kind === "task" ? `pid ${v.pid}` : v.cgroup} had not exited ${Math.round(now - v.sinceMonoMs)} ms after the kill; no longer waiting for it`);
    let next = RESCAN_MS;
    for (const v of this.#cutGraces) next = Math.min(next, Math.max(0, (v.sigkillDueMonoMs ?? now) - now));
    // The triggers first: what they declare is queued before anything else of the round reads.
    for (const w of this.#watches.watches) {
      try {
        next = Math.min(next, w.tick(now));
      } catch (err) {
        this.#log.error(`${w.spec.name} on ${w.target}: ${(err as Error).message}`);
      }
    }
    // Cgroups that came or went, for the triggers set on globs and the policies' lifecycle hooks:
    // a listing of every cgroup, which on a crowded machine under TCG took longer than the
    // MemAvailable poll it used to come before (a trigger's signal read after it, and its
    // episode waiting for it).
    if (now - this.#lastRescan >= RESCAN_MS) await this.#rescan(this.#o.host.clock.monotonicMs());
    if (now - this.#lastHistory >= HISTORY_MS) {
      this.#lastHistory = now;
      try {
        const snap = takeSnapshot(this.#o.host, { cgroupMode: this.#mode });
        // Deciding ahead, a policy that weighs rates asks for them long before a trigger: only
        // those cgroups are sampled (History.updateAsked). Without it, every cgroup, as the
        // first fresh decision may ask for any.
        if (this.#standing) this.history.updateAsked(snap);
        else this.history.update(snap);
        this.#o.onSample?.(snap, [...new Set([...this.#watches.watches].map((w) => w.target))]);
      } catch (err) {
        this.#log.debug(`history sample skipped: ${(err as Error).message}`);
      }
    }
    // Deciding ahead never stands in the way of an episode: it waits while one runs.
    const standing = this.#standing;
    if (standing && !this.#busy) {
      await standing.upkeep(this.#o.host.clock.monotonicMs());
      this.#follow?.sync(standing, this.#o.host.clock.monotonicMs());
      next = Math.min(next, REFRESH_EVERY_MS / standing.model.pace);
    }
    this.#settle();
    // The watches asked for their next tick `next` ms after `now`; upkeep took some of that (a
    // run stopped because a poll was due leaves none).
    this.#schedule(Math.max(0, next - (this.#o.host.clock.monotonicMs() - now)));
  }

  /** Calls onSettled, once: the first standing decisions made, no episode waiting or running. */
  #settle(): void {
    if (this.#settled || this.#o.onSettled === undefined || !this.#running) return;
    if (this.#busy || this.#queue.length > 0) return;
    if (this.#standing && !this.#standing.decidedAll()) return;
    this.#settled = true;
    try {
      this.#o.onSettled();
    } catch (err) {
      this.#log.warn(`after start-up: ${(err as Error).message}`);
    }
  }

  async #rescan(now: number): Promise<void> {
    this.#lastRescan = now;
    const calls = await this.#watches.sync(this.#config.triggers, this.#engine);
    // Asked at every read of a decision run made ahead: only the watches that can answer.
    this.#polled = [...this.#watches.watches].filter((w) => w.due !== undefined);
    for (const c of calls) if (c.outcome !== "ok") this.#policyFault(c);
  }

  /** A victim of the kernel's own OOM killer: while it is still exiting, oomkit chooses no other. */
  noteKernelVictim(pid: number, cgroup?: string): void {
    if (!this.#o.host.exists(procPidDir(pid))) return;
    const now = this.#o.host.clock.monotonicMs();
    const where = cgroup !== undefined && this.#mode.perCgroup && !cgroup.split("/").includes("..") ? { cgroup: cgroupPath(cgroup) } : {};
    this.victims.add({ kind: "task", pid, ...where, by: "kernel", sinceMonoMs: now, deadlineMonoMs: now + this.#config.kill.victimTimeoutMs });
  }

  /** Queues a declaration; episodes run one at a time. */
  declare(d: Declaration): void {
    if (!this.#running) return;
    if (this.#queue.some((q) => q.d.scope === d.scope && q.d.trigger === d.trigger)) return; // coalesce
    this.#queue.push({ d, marks: this.#markKills(d.scope) });
    if (!this.#busy) this.#idle = this.#drain();
  }

  /**
   * Whether an OOM in `scope` can be handled on this machine: "/" always; a cgroup only in
   * per-cgroup mode and while it exists.
   */
  hasScope(scope: CgroupPath): boolean {
    if (scope === ROOT_CGROUP) return true;
    const mount = this.#mode.perCgroup ? this.#mode.unifiedMount : undefined;
    return mount !== undefined && this.#o.host.exists(cgroupDir(mount, scope));
  }

  /** A manual OOM (the control socket): runs now, returns its record or why it did not run. */
  async manual(scope: string, reason: string): Promise<EpisodeRecord | { skipped: string }> {
    await this.#idle;
    const path = cgroupPath(scope);
    const d: Declaration = { scope: path, trigger: "manual", cause: { kind: "manual", trigger: "manual", message: reason, figures: {} } };
    const gate = this.#check(d, this.#o.host.clock.monotonicMs());
    if (gate) return { skipped: gate };
    // No condition to re-read (the operator said so), but a kill while it decides still makes it stale.
    const marks = this.#markKills(path);
    this.#log.debug(`manual OOM in ${path} (${reason}): deciding`);
    return (await this.#episode({ d, marks })) ?? { skipped: "no episode" };
  }

  async #drain(): Promise<void> {
    this.#busy = true;
    try {
      while (this.#queue.length > 0) {
        const q = this.#queue.shift() as Queued;
        try {
          await this.#handle(q);
        } catch (err) {
          this.#log.error(`episode for ${q.d.scope} (${q.d.trigger}) failed: ${(err as Error).stack ?? err}`);
        }
      }
    } finally {
      this.#busy = false;
    }
  }

  /** Why a declaration must wait or be dropped now, or undefined to go ahead. */
  #check(d: Declaration, now: number): string | undefined {
    const w = d.pressureEvent;
    const r = this.#gate.check(d.scope, now, w === undefined ? undefined : w.atMonoMs - w.windowUsec / 1000, (s) => reclaimScanned({ host: this.#o.host, mode: this.#mode }, s));
    if (r?.rate) {
      const { maxKills, perMs } = this.#config.kill.rateLimit;
      this.#once(`rate:${Math.floor(now / perMs)}`, "warn", `kill rate limit reached (${maxKills} per ${perMs / 1000} s): standing back; the kernel's OOM killer remains the last resort`);
    }
    return r?.why;
  }

  async #handle(q: Queued): Promise<void> {
    const { d } = q;
    const now = this.#o.host.clock.monotonicMs();
    const gate = this.#check(d, now);
    if (gate) {
      this.#log.debug(`not acting on ${d.trigger} in ${d.scope}: ${gate}`);
      return;
    }
    if (d.pressureEvent && this.#engine.pressurePolicy(d.scope)) {
      this.#pressure(d, d.pressureEvent);
      return;
    }
    const stale = this.#whyStale(q, this.victims.mark);
    if (stale) {
      this.#log.debug(`not deciding on ${d.trigger} in ${d.scope}: ${stale.reason}`);
      return;
    }
    await this.#episode(q);
  }

  #markKills(scope: CgroupPath): KillMarks {
    return markKills({ host: this.#o.host, mode: this.#mode, victims: this.victims }, scope);
  }

  /**
   * Why acting on `q` now would be stale: a kill since its signal (oomkit's own up to registry
   * mark `ownUntil`), or its trigger's condition re-read and cleared; undefined to go ahead.
   */
  #whyStale(q: Queued, ownUntil: number): Staleness | undefined {
    const kill = killSince({ host: this.#o.host, mode: this.#mode, victims: this.victims }, q.marks, ownUntil);
    if (kill) return kill;
    const cleared = q.d.cleared?.();
    return cleared === undefined ? undefined : { clearedBy: "condition", reason: `${q.d.trigger} no longer holds: ${cleared}` };
  }

  /** A PSI event goes to the nearest policy's handlePressure (through the engine), which may declare OOMs. */
  #pressure(d: Declaration, event: PressureEvent): void {
    const snapshot = takeSnapshot(this.#o.host, { cgroupMode: this.#mode });
    const r = this.#engine.handlePressure({ event, snapshot, trigger: d.trigger, cause: d.cause });
    if (!r) return;
    if (r.call.outcome !== "ok") {
      this.#policyFault(r.call);
      // A broken handler must not silence the trigger: the OOM is declared from the trigger itself.
      this.#log.debug(`declaring the OOM in ${d.scope} from ${d.trigger} itself`);
      this.declare({ ...d, pressureEvent: undefined });
      return;
    }
    // What the policy declared is checked again before acting, as the trigger's own OOM would be.
    for (const x of r.declared) this.declare({ ...x, ...(d.cleared ? { cleared: d.cleared } : {}) });
  }

  /** A policy hook failed: to the report pipeline when there is one, else to the log. */
  #policyFault(call: HookCall): void {
    if (this.#o.onPolicyFault) this.#o.onPolicyFault(call);
    else this.#log.warn(describeHookCall(call));
  }

  async #episode(q: Queued): Promise<EpisodeRecord | undefined> {
    const { d } = q;
    // oomkit's own kills from here on are this episode's: they stop no plan of its chain.
    const ownUntil = this.victims.mark;
    const whyStale = () => this.#whyStale(q, ownUntil);
    // The host's clock: the victims' deadlines are compared with it (expire, the state file).
    const executor = this.dryRun ? undefined : new LiveExecutor(this.#backend as KillBackend, this.victims, this.#config.kill, () => this.#o.host.clock.monotonicMs());
    const mode = this.dryRun ? "dry-run" : "live";
    let record: EpisodeRecord | undefined;
    const standing = this.#standing;
    const plan = standing?.take(d.scope);
    let refused: string | undefined;
    if (standing && plan) {
      // The trigger's path: the plan made ahead, checked against the live machine, carried out.
      const live = takeSnapshot(this.#o.host, { cgroupMode: this.#mode });
      const r = await this.#engine.carryOut(plan, { snapshot: live, cause: d.cause, mode, executor, maxAgeMs: STANDING_MAX_AGE_MS, whyStale });
      standing.forget(d.scope);
      if ("record" in r) record = r.record;
      else {
        refused = r.refused;
        this.#log.info(`${d.trigger} in ${d.scope}: the standing plan (${plan.policy}) is refused at the trigger: ${refused}; deciding afresh`);
      }
    }
    try {
      if (!record) {
        // Visited largest first by the model's sizes, when there is a model: cut short, it has seen the big tasks.
        const snapshot = takeSnapshot(this.#o.host, { cgroupMode: this.#mode, ...(standing ? { visitSizes: standing.model } : {}) });
        const decision = standing ? { path: "fresh" as const, standingRefused: refused ?? standing.whyNone(d.scope) } : undefined;
        record = await this.#engine.handleOom({ snapshot, scope: d.scope, cause: d.cause, mode, executor, whyStale, ...(decision ? { decision } : {}) });
      }
    } catch (err) {
      if (err instanceof OomkitError && (err.code === "E_NO_SUCH_PATH" || err.code === "E_UNSUPPORTED")) {
        this.#log.debug(`ignoring ${d.trigger} in ${d.scope}: ${err.message}`);
        return undefined;
      }
      throw err;
    }
    this.#episodes++;
    const now = this.#o.host.clock.monotonicMs();
    if (record.plan.length > 0) {
      const killed = !this.dryRun && record.plan.some((a) => a.kind === "kill-task" || a.kind === "kill-cgroup");
      this.#gate.acted(d.scope, now, killed, reclaimScanned({ host: this.#o.host, mode: this.#mode }, d.scope));
    }
    this.#o.onEpisode?.(record);
    return record;
  }

  status(): DaemonStatus {
    return {
      mode: this.#mode,
      dryRun: this.dryRun,
      watches: [...this.#watches.watches].map((w) => w.describe()),
      attachments: this.#config.engine.attachments.map((a) => `${a.policy.name} at ${a.cgroup}${a.origin.kind === "file" ? ` (${a.origin.file})` : ""}`),
      pendingVictims: this.victims.pending.length,
      episodes: this.#episodes,
      kernelFallback: this.#follow?.status ?? "off",
    };
  }

  /** The standing decisions (none when they are off), each scope's plan and the record of how it was made. */
  standing(): readonly StandingEntry[] {
    return this.#standing?.entries() ?? [];
  }

  /** The standing decisions as the control socket shows them (`oomkit explain` on a live daemon). */
  standingView(): StandingView[] {
    const now = this.#o.host.clock.monotonicMs();
    return this.standing().map((e) => {
      const follow = this.#follow?.report(e.scope);
      return { scope: e.scope, ageMs: Math.round(now - e.madeAtMonoMs), policy: e.plan?.policy ?? null, record: e.record, ...(follow ? { follow } : {}) };
    });
  }

  /** Resolves once the queue is empty (tests, shutdown). */
  settled(): Promise<void> {
    return this.#idle;
  }
}
