/**
 * The engine: the only caller of policy code. It dispatches an OOM through the policy chain,
 * verifies and carries out the plan, and builds the episode record; it also runs the policies'
 * other hooks (handlePressure, handleCgroupOnline/Offline) under the same deadline and returns
 * a record of each call. An OOM in scope S goes to the policy attached to S, then to the ones
 * attached to S's ancestors up to the root, then to the built-in default. A plan handles the
 * OOM only when it frees memory (live) or, in explain and dry-run, when at least one action
 * passes the verifier; otherwise the next policy runs at once. A policy that throws, runs past
 * its deadline or returns no plan is recorded with its name and skipped — unless it offered a
 * best so far (oc.bestSoFar), which is then taken as its plan. The built-in default at the end of
 * the chain has a deadline of its own, for its whole call: cut short, it acts on the best task
 * its scan found so far. Right before a verified plan is carried out, the request's whyStale
 * says whether the trouble is gone (the trigger's condition cleared, a kill since the signal);
 * then the plan is dropped and the episode ends, since no other policy is needed either.
 */
import { OomkitError } from "../errors.js";
import { type Logger, silentLogger } from "../log.js";
import { type Clock, systemClock } from "../os/host.js";
import { type CgroupPath, ROOT_CGROUP, cgroupContains, cgroupPath, parentCgroup } from "../os/paths.js";
import type { OomCause, Policy } from "./policy.js";
import type { CgroupNode } from "./cgroup.js";
import { type ActionResult, type ChainEntry, type DecisionPath, type EpisodeMode, type EpisodeRecord, type Staleness, type Verdict, buildEpisode, capCandidates, roundMs } from "./episode.js";
import { History } from "./history.js";
import { type HookCall, type PressureRequest, type PressureResult, callHook, callPressureHook } from "./hooks.js";
import type { Snapshot } from "./snapshot.js";
import { type ChainLink, DryRunExecutor, type Executor, type StepEnv, type StepResult, runStep } from "./step.js";
import { NO_PROTECTIONS, type Protections } from "./verify.js";
import { type PreparedPlan, basisOf, recheck, scopeBytes, targetsOf } from "./standing.js";
import { PolicyStateStore, type StateDraft } from "./policy-state.js";
import { VictimRegistry } from "./victims.js";
import { isoTime } from "../iso-time.js";

export type { Executor, VerifiedOk, ChainLink } from "./step.js";
export { DryRunExecutor } from "./step.js";

export interface Attachment {
  /** The cgroup the policy is attached to ("/" for the whole machine). */
  readonly cgroup: CgroupPath;
  readonly policy: Policy;
  /** Options as the policy's parseOptions returned them. */
  readonly options: unknown;
}

export interface EngineOptions {
  readonly attachments?: readonly Attachment[];
  /** The last policy in every chain. */
  readonly defaultPolicy: { readonly policy: Policy; readonly options: unknown };
  readonly protections?: Protections;
  /** `kill_process_group`: a victim that leads its process group takes its verified members along. */
  readonly killProcessGroup?: boolean;
  /** How long one policy call may run. */
  readonly policyDeadlineMs?: number;
  /** How long the built-in default's call may run, reading included. */
  readonly defaultPolicyDeadlineMs?: number;
  readonly victims?: VictimRegistry;
  readonly history?: History;
  /** Where policies keep state; the daemon passes one that outlives reloads. */
  readonly state?: PolicyStateStore;
  readonly logger?: Logger;
  /**
   * Names each episode: the part of its id after the time (`ep-<time>-<suffix>`). Default: a
   * counter shared by every engine in the process, so ids stay unique across reloads. A
   * simulation passes its own, so that each run names its episodes the same.
   */
  readonly episodeIds?: () => string;
  /**
   * Times the policies' hooks other than the OOM chain (handleCgroupOnline/Offline); the chain
   * and handlePressure are timed on their snapshot's work clock. Default: the system's.
   */
  readonly workClock?: Clock;
}

/** A policy gets this long per call; a decision that takes longer is no longer "before the kernel". */
export const DEFAULT_POLICY_DEADLINE_MS = 250;
/**
 * Deciding ahead (prepare), each policy gets this many deadlines: nothing is late yet, and a call
 * cut short there is wasted work that a fresh decision would have to redo at the trigger, later
 * and on live reads. The bound still matters: a trigger that comes meanwhile waits for the call
 * (at most this many deadlines: 1 s by default, 4 s for the built-in default). Four cover a first call on a cold model (a cold
 * `priority` under TCG took 2.4 s against a 2 s deadline). The built-in default's own deadline
 * is multiplied too: ahead it reads the warm model, not /proc.
 */
export const AHEAD_DEADLINES = 4;

/**
 * Deciding ahead, one policy's call — its tries and asks together — is cut off after this long
 * of wall time, whatever its deadlines: the call runs on the daemon's one thread, so a trigger
 * that fires meanwhile waits for it (the chain stops after it: PrepareRequest.yieldTo). This is
 * the longest slice of deciding ahead. A call cut off acts on its best so far (oc.bestSoFar, which
 * visits the largest tasks first) or leaves the plan made before standing; what it read stays in
 * the warm model, so the next refresh's call gets further. Four default deadlines (250 ms).
 */
export const AHEAD_CALL_MAX_MS = 1000;

/**
 * The built-in default's call, reads included, gets this long: more than twice its cold scan of
 * 10,000 tasks (420-433 ms p50, BENCHMARKS.md), and far less than the 13-22 s after which the
 * kernel's OOM killer acted on a crowded guest while the default, then without a deadline, read
 * on for 45-56 s.
 */
export const DEFAULT_DEFAULT_POLICY_DEADLINE_MS = 1000;

export interface OomRequest {
  readonly snapshot: Snapshot;
  readonly scope: CgroupPath | string;
  readonly cause: OomCause;
  readonly mode: EpisodeMode;
  /** Required in live mode; explain and dry-run verify only. */
  readonly executor?: Executor;
  /** How the decision was reached, for the record (the daemon's fresh decisions say so). */
  readonly decision?: DecisionPath;
  /**
   * Asked right before a verified plan's first action: why acting would now be stale (the
   * trouble that declared the OOM is gone), or undefined to act. A stale plan is dropped and
   * ends the episode (outcome "dropped", the record's `dropped`).
   */
  readonly whyStale?: WhyStale;
}

/** Why acting now would be stale, asked right before a plan's first action, fresh or standing; undefined to act. */
export type WhyStale = () => Staleness | undefined | Promise<Staleness | undefined>;

export interface PrepareRequest {
  /** The warm model's snapshot (any snapshot will do). */
  readonly snapshot: Snapshot;
  readonly scope: CgroupPath | string;
  readonly cause: OomCause;
  /** The model generation the snapshot saw. */
  readonly generation?: number;
  /**
   * A live snapshot for the figures the trigger compares against (what the targets and the
   * scope hold now): the model's may be seconds old, and a leak grows meanwhile. Only those few
   * files are read. Default: `snapshot`.
   */
  readonly live?: Snapshot;
  /**
   * Asked before each policy after the first, and after a policy that did not handle the OOM:
   * why to stop deciding now (an episode waits for the daemon's thread, an event stopped the
   * run), or undefined to go on. Stopped, prepare returns no plan, no record (it would be
   * dropped, and building one over 10,000 candidates takes the thread for milliseconds), and
   * `abandoned`.
   */
  readonly yieldTo?: () => string | undefined;
  /**
   * Awaited between the policies of the chain, where the event loop turns (default: one turn).
   * The daemon's upkeep passes its own, to measure the slices a trigger may wait for.
   */
  readonly turn?: () => Promise<void>;
}

export interface CarryOutRequest {
  /** A live snapshot: the targets are checked against it. */
  readonly snapshot: Snapshot;
  /** The trouble that declared the OOM. */
  readonly cause: OomCause;
  readonly mode: EpisodeMode;
  readonly executor?: Executor;
  /** A standing plan older than this is refused. */
  readonly maxAgeMs: number;
  /** As OomRequest's: a standing plan whose trouble is gone is dropped, not carried out, nor decided afresh. */
  readonly whyStale?: WhyStale;
}

/**
 * A decision made ahead: the plan (none when no policy handled the OOM) and the run's record; or,
 * when the run was stopped before its end (PrepareRequest.yieldTo), why, and which policies ran.
 */
export type Prepared =
  | { readonly plan: PreparedPlan | undefined; readonly record: EpisodeRecord; readonly abandoned?: undefined }
  | { readonly plan: undefined; readonly abandoned: string; readonly policies: readonly string[] };

/** What one run of the chain produced. */
interface ChainRun {
  readonly snapshot: Snapshot;
  readonly scope: CgroupPath;
  readonly cause: OomCause;
  readonly steps: readonly StepResult[];
  readonly decisionMs: number;
  readonly actionMs: number;
  readonly readMs: number;
  /** Deciding ahead: why the chain stopped before its end (yieldTo), if it did. */
  readonly abandoned?: string;
}

/** Deciding ahead: how the chain gives the event loop its turns, and when it stops early. */
interface AheadTurns {
  readonly turn: () => Promise<void>;
  readonly yieldTo: () => string | undefined;
}

/** One turn of the event loop. */
const nextTurn = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));

/** Explain and dry-run carry out nothing. */
const DRY_RUN = new DryRunExecutor();

let episodeSeq = 0;
/** The default episodeIds: one counter for the process. */
const processEpisodeIds = (): string => (episodeSeq++).toString(36);

export class Engine {
  readonly attachments: ReadonlyMap<CgroupPath, Attachment>;
  readonly defaultPolicy: { readonly policy: Policy; readonly options: unknown };
  readonly protections: Protections;
  readonly killProcessGroup: boolean;
  readonly policyDeadlineMs: number;
  readonly defaultPolicyDeadlineMs: number;
  readonly victims: VictimRegistry;
  readonly history: History;
  readonly state: PolicyStateStore;
  readonly #log: Logger;
  readonly #ids: () => string;
  readonly #clock: Clock;

  constructor(opts: EngineOptions) {
    const map = new Map<CgroupPath, Attachment>();
    for (const a of opts.attachments ?? []) {
      const at = cgroupPath(a.cgroup);
      const prior = map.get(at);
      if (prior) {
        throw new OomkitError("E_CONFIG", `cgroup ${at} has two policies attached (${prior.policy.name} and ${a.policy.name}); at most one may be`);
      }
      map.set(at, { ...a, cgroup: at });
    }
    this.attachments = map;
    this.defaultPolicy = opts.defaultPolicy;
    this.protections = opts.protections ?? NO_PROTECTIONS;
    this.killProcessGroup = opts.killProcessGroup ?? false;
    this.policyDeadlineMs = opts.policyDeadlineMs ?? DEFAULT_POLICY_DEADLINE_MS;
    this.defaultPolicyDeadlineMs = opts.defaultPolicyDeadlineMs ?? DEFAULT_DEFAULT_POLICY_DEADLINE_MS;
    this.victims = opts.victims ?? new VictimRegistry();
    this.history = opts.history ?? new History();
    this.state = opts.state ?? new PolicyStateStore();
    this.#log = opts.logger ?? silentLogger;
    this.#ids = opts.episodeIds ?? processEpisodeIds;
    this.#clock = opts.workClock ?? systemClock;
  }

  /** The policies an OOM in `scope` goes to, nearest first, ending with the default. */
  chainFor(scope: CgroupPath): ChainLink[] {
    const chain: ChainLink[] = [];
    for (let p: CgroupPath | undefined = scope; p !== undefined; p = parentCgroup(p)) {
      const a = this.attachments.get(p);
      if (a) chain.push({ policy: a.policy, options: a.options, attachedTo: a.cgroup });
    }
    chain.push({ policy: this.defaultPolicy.policy, options: this.defaultPolicy.options, attachedTo: null });
    return chain;
  }

  #resolveScope(snapshot: Snapshot, scope: CgroupPath): CgroupNode | undefined {
    if (!snapshot.cgroupMode.perCgroup) {
      if (scope !== ROOT_CGROUP) {
        throw new OomkitError("E_UNSUPPORTED", `an OOM in ${scope} needs cgroup v2 with the memory controller; this machine: ${snapshot.cgroupMode.summary}`);
      }
      return undefined;
    }
    const node = snapshot.cgroup(scope);
    if (!node) throw new OomkitError("E_NO_SUCH_PATH", `no cgroup ${scope}`);
    return node;
  }

  /** Runs one OOM episode: dispatch, verify and (live) carry out; returns its record. */
  async handleOom(req: OomRequest): Promise<EpisodeRecord> {
    const { snapshot, cause, mode } = req;
    const executor = mode === "live" ? req.executor : DRY_RUN;
    if (!executor) throw new OomkitError("E_INTERNAL", "a live OOM needs an executor");
    const run = await this.#runChain(snapshot, cgroupPath(req.scope), cause, executor, mode !== "explain", req.whyStale);
    return this.#record(run, mode, req.decision);
  }

  /**
   * Decides ahead of time (engine/standing.ts): runs the chain for `scope` on `snapshot` (the
   * warm model's) and carries out nothing. Returns the plan that would handle the OOM, if any
   * policy's plan passed the verifier, and the record of what was decided (an explain record).
   */
  async prepare(req: PrepareRequest): Promise<Prepared> {
    const scope = cgroupPath(req.scope);
    const run = await this.#runChain(req.snapshot, scope, req.cause, DRY_RUN, false, undefined, { turn: req.turn ?? nextTurn, yieldTo: req.yieldTo ?? (() => undefined) });
    if (run.abandoned !== undefined) return { plan: undefined, abandoned: run.abandoned, policies: run.steps.map((s) => s.entry.policy) };
    const handler = run.steps.find((s) => s.entry.outcome === "handled");
    const targets = handler?.verified ? targetsOf(handler.verified, req.live ?? req.snapshot, req.snapshot, scope) : [];
    const plan: PreparedPlan | undefined =
      handler?.verified && handler.verified.length > 0
        ? Object.freeze({
            scope,
            // Kept for the trigger's record: only what a record shows (10,000 candidates would
            // be sorted again at the trigger, on its path).
            steps: run.steps.map((st) => ({ ...st, candidates: capCandidates(st.candidates, st.entry.verdicts) })),
            policy: handler.entry.policy,
            targets,
            madeAtMonoMs: req.snapshot.takenAtMonoMs,
            madeAtWallMs: req.snapshot.takenAtWallMs,
            decisionMs: run.decisionMs,
            generation: req.generation,
            cause: req.cause,
            scopeBytes: scopeBytes(scope, req.live ?? req.snapshot),
            basis: basisOf(targets, req.snapshot, scope),
          })
        : undefined;
    return { plan, record: this.#record(run, "explain") };
  }

  /**
   * The trigger's path for a standing plan: checks each target against the live machine
   * (`req.snapshot` must be live) and, when every one still holds, carries the plan out and
   * returns the episode's record; otherwise says why it was refused, and nothing was done.
   */
  async carryOut(plan: PreparedPlan, req: CarryOutRequest): Promise<{ readonly record: EpisodeRecord } | { readonly refused: string }> {
    const { snapshot, cause, mode } = req;
    const executor = mode === "live" ? req.executor : DRY_RUN;
    if (!executor) throw new OomkitError("E_INTERNAL", "a live OOM needs an executor");
    const clock = snapshot.workClock;
    const t0 = clock.monotonicMs();
    const io0 = snapshot.ioMs;
    let scope: CgroupNode | undefined;
    try {
      scope = this.#resolveScope(snapshot, plan.scope);
    } catch (err) {
      if (err instanceof OomkitError) return { refused: err.message };
      throw err;
    }
    const check = recheck(plan, { snapshot, scope, protections: this.protections, processGroups: this.killProcessGroup, victims: this.victims }, req.maxAgeMs);
    if (!check.ok) return { refused: check.reason };
    const verifiedAtMs = clock.monotonicMs();
    const handler = plan.steps[plan.steps.length - 1] as StepResult;
    const verdicts: Verdict[] = check.verified.map((v) => ({ action: v.action, ok: true, execution: v.execution }));
    // Made ahead or not, a plan whose trouble is gone is not carried out; nor is one decided afresh.
    const stale = await req.whyStale?.();
    const actions: ActionResult[] = [];
    if (!stale) for (const v of check.verified) actions.push(await executor.execute(v, snapshot));
    const actionMs = clock.monotonicMs() - verifiedAtMs;
    // The state the plan's policy wrote when it decided counts now that the plan is carried out.
    if (mode !== "explain" && !stale) handler.stateDraft?.commit();
    const freed = executor.dryRun || actions.some((r) => r.freed);
    const outcome: ChainEntry = stale
      ? { ...handler.entry, outcome: "dropped", verdicts, reason: stale.reason }
      : { ...handler.entry, outcome: freed ? "handled" : "not-freed", verdicts, ...(freed ? {} : { reason: "its actions were carried out but freed no memory" }) };
    const last: StepResult = { ...handler, entry: outcome, actions, actionMs, verifiedAtMs, ...(stale ? { dropped: stale } : {}) };
    const ageMs = roundMs(snapshot.takenAtMonoMs - plan.madeAtMonoMs);
    const record = buildEpisode({
      idSuffix: this.#ids(),
      mode,
      scope: plan.scope,
      cause,
      source: snapshot.source,
      steps: [...plan.steps.slice(0, -1), last],
      timing: {
        declaredAtWallMs: snapshot.takenAtWallMs,
        signalBeforeMs: cause.signalAtMonoMs !== undefined ? snapshot.takenAtMonoMs - cause.signalAtMonoMs : undefined,
        decisionMs: verifiedAtMs - t0,
        actionMs,
        readMs: snapshot.ioMs - io0,
      },
      decision: { path: "standing", madeAt: isoTime(plan.madeAtWallMs), ageMs, decisionMs: roundMs(plan.decisionMs), rechecked: check.rechecked },
    });
    return { record };
  }

  /**
   * Runs the chain. `ahead` (prepare): each deadline is AHEAD_DEADLINES times longer, each call
   * cut off at AHEAD_CALL_MAX_MS, and the event loop turns between policies (ahead.turn is
   * awaited), so that a trigger that fires meanwhile is handled after the policy running then;
   * the chain stops there when ahead.yieldTo says why, not after the whole chain.
   */
  async #runChain(snapshot: Snapshot, scopePath: CgroupPath, cause: OomCause, executor: Executor, commitState: boolean, whyStale?: WhyStale, ahead?: AheadTurns): Promise<ChainRun> {
    const scope = this.#resolveScope(snapshot, scopePath);
    const times = ahead ? AHEAD_DEADLINES : 1;
    const env: StepEnv = {
      control: { snapshot, scope, protections: this.protections, processGroups: this.killProcessGroup, victims: this.victims, cause, history: this.history },
      deadlineMs: times * this.policyDeadlineMs,
      defaultDeadlineMs: times * this.defaultPolicyDeadlineMs,
      executor,
      log: this.#log,
      state: this.state,
      commitState,
      ...(whyStale ? { whyStale } : {}),
      ...(ahead ? { callCapMs: AHEAD_CALL_MAX_MS } : {}),
    };
    const clock = snapshot.workClock;
    const t0 = clock.monotonicMs();
    const io0 = snapshot.ioMs;
    const steps: StepResult[] = [];
    let abandoned: string | undefined;
    for (const [i, link] of this.chainFor(scopePath).entries()) {
      if (ahead && i > 0) {
        await ahead.turn();
        abandoned = ahead.yieldTo();
        if (abandoned !== undefined) break;
      }
      const step = await runStep(link, env);
      steps.push(step);
      // Handled, or the trouble is gone: either way no other policy is needed.
      if (step.entry.outcome === "handled" || step.entry.outcome === "dropped") break;
      // A policy that failed may have been stopped by an event (src/engine/preempt.ts): the run
      // ends here, before the turn, so that nothing more is done before the thread is given back.
      if (ahead) {
        abandoned = ahead.yieldTo();
        if (abandoned !== undefined) break;
      }
    }
    const actionMs = steps.reduce((sum, s) => sum + s.actionMs, 0);
    const verifiedAt = steps.find((s) => s.entry.outcome === "handled" || s.entry.outcome === "dropped")?.verifiedAtMs;
    // Handled or dropped: declaration → the last plan verified. Not: the chain's whole run, less acting.
    const decisionMs = verifiedAt !== undefined ? verifiedAt - t0 : clock.monotonicMs() - t0 - actionMs;
    return { snapshot, scope: scopePath, cause, steps, decisionMs, actionMs, readMs: snapshot.ioMs - io0, ...(abandoned !== undefined ? { abandoned } : {}) };
  }

  #record(run: ChainRun, mode: EpisodeMode, decision?: DecisionPath): EpisodeRecord {
    const { snapshot, cause } = run;
    return buildEpisode({
      idSuffix: this.#ids(),
      mode,
      scope: run.scope,
      cause,
      source: snapshot.source,
      steps: run.steps,
      timing: {
        declaredAtWallMs: snapshot.takenAtWallMs,
        signalBeforeMs: cause.signalAtMonoMs !== undefined ? snapshot.takenAtMonoMs - cause.signalAtMonoMs : undefined,
        decisionMs: run.decisionMs,
        actionMs: run.actionMs,
        readMs: run.readMs,
      },
      unreadable: snapshot.faults,
      ...(decision !== undefined ? { decision } : {}),
    });
  }

  /** The decision the engine would take now, carrying out nothing. */
  explain(snapshot: Snapshot, scope: CgroupPath | string, cause: OomCause): Promise<EpisodeRecord> {
    return this.handleOom({ snapshot, scope, cause, mode: "explain" });
  }

  /** The policy whose handlePressure hears of PSI events in `scope`: the nearest in its chain with one. */
  pressurePolicy(scope: CgroupPath): ChainLink | undefined {
    return this.chainFor(scope).find((l) => l.policy.handlePressure !== undefined);
  }

  /**
   * A PSI event in `event.cgroup`, for pressurePolicy's handlePressure; undefined when no policy
   * in the chain has one. Returns the OOMs it declared (none when it failed) and the call's record.
   */
  handlePressure(req: PressureRequest): PressureResult | undefined {
    const link = this.pressurePolicy(req.event.cgroup);
    if (!link) return undefined;
    return callPressureHook(link, req, this.policyDeadlineMs, (c) => this.history.rates(c.path), this.state.draft(link.policy.name, link.attachedTo));
  }

  /** A cgroup came: handleCgroupOnline of each policy attached at or above it, one record per call. */
  cgroupOnline(cgroup: CgroupNode): HookCall[] {
    return this.#attachedAbove(cgroup.path)
      .filter((l) => l.policy.handleCgroupOnline !== undefined)
      .map((l) => this.#withState(l, (state) => callHook(l, "handleCgroupOnline", cgroup.path, this.policyDeadlineMs, () => l.policy.handleCgroupOnline?.(cgroup, l.options, state), undefined, this.#clock)));
  }

  /** A cgroup went: handleCgroupOffline of each policy attached at or above it, one record per call. */
  cgroupOffline(cgroup: CgroupPath): HookCall[] {
    return this.#attachedAbove(cgroup)
      .filter((l) => l.policy.handleCgroupOffline !== undefined)
      .map((l) => this.#withState(l, (state) => callHook(l, "handleCgroupOffline", cgroup, this.policyDeadlineMs, () => l.policy.handleCgroupOffline?.(cgroup, l.options, state), undefined, this.#clock)));
  }

  /** A hook call with its attachment's state: its writes count when it returned without fault. */
  #withState(link: ChainLink, call: (state: StateDraft) => HookCall): HookCall {
    const draft = this.state.draft(link.policy.name, link.attachedTo);
    const r = call(draft);
    if (r.outcome === "ok") draft.commit();
    return r;
  }

  /** The attachments at or above `cgroup`, in configuration order. */
  #attachedAbove(cgroup: CgroupPath): ChainLink[] {
    return [...this.attachments.values()].filter((a) => cgroupContains(a.cgroup, cgroup)).map((a) => ({ policy: a.policy, options: a.options, attachedTo: a.cgroup }));
  }
}
