/**
 * The episode record: one plain, versioned object per OOM episode. `explain`, dry-run and the
 * daemon all produce it; sinks store and stream it. Every record, the kernel's kills' too, is made
 * by one pure function, buildEpisode. Within schema "oomkit.episode/1" fields are only ever added
 * (docs/episode.md).
 */
import type { ReadFault } from "../os/read.js";
import type { EpisodeKind, OomCause } from "./policy.js";
import type { Action } from "./plan.js";
import type { Execution } from "./verify.js";
import { isoTime } from "../iso-time.js";

export const EPISODE_SCHEMA = "oomkit.episode/1";

export type EpisodeMode = "explain" | "dry-run" | "live";

/** What became of one policy in the chain. */
export type ChainOutcome =
  /** Its plan passed the verifier and (live) freed memory. */
  | "handled"
  /** It declined with oc.pass(reason). */
  | "passed"
  /** The default selection loop found no task to choose, or evaluateTask aborted it. */
  | "no-victim"
  /** Every action of its plan was refused by the verifier. */
  | "rejected"
  /** Its actions were carried out but none freed memory (the bpf_memory_freed rule). */
  | "not-freed"
  /** It threw. */
  | "threw"
  /** It ran past its deadline. */
  | "timeout"
  /** It returned something that is not a plan. */
  | "invalid"
  /** Its plan passed the verifier, but right before acting the trouble was gone (see `dropped`): the episode ends. */
  | "dropped";

/**
 * What showed, right before acting, that the trouble which declared the OOM was gone: the
 * trigger's condition re-read, or a kill since the signal — the kernel's (its counters in the
 * scope's or an ancestor's memory.events, /proc/vmstat for the machine, a victim named in the
 * kernel log) or oomkit's own in an overlapping scope.
 */
export type StaleWitness = "condition" | "memory.events" | "vmstat" | "kmsg" | "oomkit";

/** Why a verified plan was not carried out. */
export interface Staleness {
  readonly clearedBy: StaleWitness;
  /** One sentence with the figures: what was seen at the signal and now. */
  readonly reason: string;
}

export interface Verdict {
  readonly action: Action;
  readonly ok: boolean;
  /** Why the verifier refused the action. */
  readonly reason?: string;
  /** How the engine will carry it out (cgroup.kill, task by task sparing some, ...). */
  readonly execution?: Execution;
}

export interface ChainEntry {
  readonly policy: string;
  /** The cgroup the policy is attached to; null for the built-in default. */
  readonly attachedTo: string | null;
  readonly outcome: ChainOutcome;
  readonly reason?: string;
  readonly error?: string;
  readonly durationMs: number;
  readonly verdicts: readonly Verdict[];
  /** How many times the policy was asked, when more than once: the verifier refused targets of its earlier plans. */
  readonly asks?: number;
  /** The kills the verifier refused in those earlier plans, each with its reason; the policy was asked again without them. */
  readonly refused?: readonly Verdict[];
  /**
   * Set when the policy ran past its deadline and the plan it had offered as its best so far
   * (oc.bestSoFar) was taken instead: how far it got.
   */
  readonly cutShort?: string;
}

export interface CandidateRecord {
  readonly policy: string;
  readonly kind: "task" | "cgroup";
  readonly pid?: number;
  readonly comm?: string;
  readonly cgroup?: string;
  readonly score?: number;
  readonly note?: string;
  /** The policy's own order (1 = its choice), when it ranks by more than the score. */
  readonly rank?: number;
  /** Set when the candidate was passed over: why. */
  readonly skipped?: string;
  /** Set when some of its files could not be read: which and why (its figures from them are unknown). */
  readonly unreadable?: string;
}

export interface ActionResult {
  readonly action: Action;
  readonly ok: boolean;
  /** Whether carrying it out freed memory: a victim exited, a cgroup emptied, usage fell. */
  readonly freed: boolean;
  readonly freedBytes?: number;
  readonly dryRun: boolean;
  readonly error?: string;
  readonly startedAtMs: number;
  readonly finishedAtMs: number;
  readonly details?: Readonly<Record<string, number | string | boolean>>;
}

/** Where a kernel OOM kill was seen. */
export type KernelKillSource = "kmsg" | "memory.events.local" | "vmstat";

/**
 * A kill by the kernel's own OOM killer (records of kind "kernel"). Every field but `seenBy` is
 * optional: a kill seen only by counters (the kernel log unreadable) has a cgroup at best.
 */
export interface KernelKill {
  /** What saw it: the kernel log, the victim cgroup's memory.events.local, /proc/vmstat. */
  readonly seenBy: readonly KernelKillSource[];
  readonly pid?: number;
  readonly comm?: string;
  readonly uid?: number;
  /** The victim's cgroup (the report's task_memcg, or the cgroup whose oom_kill rose). */
  readonly cgroup?: string;
  /** The cgroup whose limit was hit (oom_memcg); absent for a machine-wide OOM. */
  readonly oomMemcg?: string;
  /** CONSTRAINT_NONE | CONSTRAINT_CPUSET | CONSTRAINT_MEMORY_POLICY | CONSTRAINT_MEMCG. */
  readonly constraint?: string;
  /** The kernel's words: "Out of memory", "Memory cgroup out of memory", ... */
  readonly message?: string;
  /** Set when the kill was part of a memory.oom.group kill of this cgroup. */
  readonly oomGroup?: string;
  /** The victim's memory when it was killed (the kernel prints kB; these are bytes). */
  readonly totalVmBytes?: number;
  readonly anonRssBytes?: number;
  readonly fileRssBytes?: number;
  readonly shmemRssBytes?: number;
  readonly pgtablesBytes?: number;
  readonly oomScoreAdj?: number;
  /** The kernel log record's sequence number and timestamp (µs since boot). */
  readonly kmsgSeq?: number;
  readonly kmsgTsUsec?: number;
}

/** One target of a standing plan as the trigger's path found it: its memory when chosen and now. */
export interface RecheckedTarget {
  readonly target: string;
  readonly bytesThen: number | undefined;
  readonly bytesNow: number | undefined;
}

/**
 * How the decision was reached: a standing plan, made ahead on the warm model and checked again
 * at the trigger (its age, and what was re-checked), or a fresh one (and, when a standing plan
 * existed, why it was refused).
 */
export type DecisionPath =
  | {
      readonly path: "standing";
      /** Wall-clock ISO time the plan was made. */
      readonly madeAt: string;
      /** The plan's age when the trigger took it. */
      readonly ageMs: number;
      /** How long making it took, off the trigger's path. */
      readonly decisionMs: number;
      readonly rechecked: readonly RecheckedTarget[];
    }
  | { readonly path: "fresh"; readonly standingRefused?: string };

export interface EpisodeRecord {
  readonly schema: typeof EPISODE_SCHEMA;
  readonly id: string;
  readonly mode: EpisodeMode;
  readonly kind: EpisodeKind;
  readonly scope: string;
  readonly cause: OomCause;
  readonly source: string;
  /** The policy whose plan handled the OOM; null when none did (the kernel is the last resort). */
  readonly policy: string | null;
  readonly handled: boolean;
  readonly chain: readonly ChainEntry[];
  /** The candidates the policies considered, best first per policy, and the skipped ones. */
  readonly candidates: readonly CandidateRecord[];
  /** How many candidates there were before the list was capped. */
  readonly candidatesTotal: number;
  /** The plan that handled the OOM (its verified actions). */
  readonly plan: readonly Action[];
  readonly actions: readonly ActionResult[];
  readonly times: {
    /** Wall-clock ISO times of the steps. */
    readonly signalAt?: string;
    readonly declaredAt: string;
    readonly decidedAt: string;
    readonly finishedAt: string;
    /** Durations in ms: signal → decision, declaration → decision, decision → last action done. */
    readonly signalToDecisionMs?: number;
    readonly decisionMs: number;
    /** Of decisionMs, reading the scope before the policies ran. */
    readonly readMs?: number;
    readonly actionMs: number;
  };
  /** Kind "kernel" only: the kernel's kill (added within oomkit.episode/1). */
  readonly kernelKill?: KernelKill;
  /**
   * The files the decision could not read (EIO, ENOMEM, text that did not parse, ...), in the
   * order it met them; absent when there were none (added within oomkit.episode/1).
   */
  readonly unreadable?: readonly ReadFault[];
  /** How many there were before the list was capped; with `unreadable`. */
  readonly unreadableTotal?: number;
  /** Daemon episodes: a standing or a fresh decision (added within oomkit.episode/1). */
  readonly decision?: DecisionPath;
  /** Set when a verified plan was not carried out because the trouble was gone (added within oomkit.episode/1). */
  readonly dropped?: Staleness;
}

/** What one policy of the chain produced: buildEpisode's input. */
export interface StepRecord {
  readonly entry: ChainEntry;
  /** Every candidate the policy recorded, uncapped, in the order it recorded them. */
  readonly candidates: readonly CandidateRecord[];
  /** What carrying out its verified actions did (none when it did not get that far). */
  readonly actions: readonly ActionResult[];
  /** Outcome "dropped": why its plan was not carried out. */
  readonly dropped?: Staleness;
}

export interface EpisodeTiming {
  /** Wall-clock time of the declaration (the snapshot's). */
  readonly declaredAtWallMs: number;
  /** How long before the declaration the first signal was seen, when it was. */
  readonly signalBeforeMs?: number;
  /** Declaration → the handling plan verified (or → the chain's end when none handled it). */
  readonly decisionMs: number;
  /** Carrying out actions, all policies' together. */
  readonly actionMs: number;
  /** Of decisionMs, reading the machine. */
  readonly readMs?: number;
}

export interface EpisodeParts {
  /** Tells apart records declared in the same millisecond. */
  readonly idSuffix: string;
  readonly mode: EpisodeMode;
  readonly scope: string;
  readonly cause: OomCause;
  readonly source: string;
  readonly steps: readonly StepRecord[];
  readonly timing: EpisodeTiming;
  /** Records of the kernel's own kills: what was seen of it. */
  readonly kernelKill?: KernelKill;
  /** The files the snapshot could not read. */
  readonly unreadable?: readonly ReadFault[];
  readonly decision?: DecisionPath;
}

/** A record keeps this many candidates per policy (best first) and this many skipped ones... */
const MAX_CANDIDATES = 25;
const MAX_SKIPPED = 25;
/** ...and this many in all: a long chain must not make a record too big to stream. */
const MAX_RECORD_CANDIDATES = 200;
/** Unreadable files a record lists: enough to see which and why; a failing disk must not bloat it. */
const MAX_UNREADABLE = 50;

/**
 * The episode record from what the chain's steps produced. Pure. The policy whose step was
 * "handled" handled the OOM, and its verified actions are the plan; a kernel kill was handled
 * by the kernel (policy null); a step "dropped" ended the episode unhandled, with why. Durations
 * are rounded to the microsecond.
 */
export function buildEpisode(p: EpisodeParts): EpisodeRecord {
  const handler = p.steps.find((s) => s.entry.outcome === "handled");
  const dropped = p.steps.find((s) => s.entry.outcome === "dropped")?.dropped;
  const candidates = p.steps.flatMap((s) => capCandidates(s.candidates, s.entry.verdicts));
  return {
    schema: EPISODE_SCHEMA,
    id: `ep-${p.timing.declaredAtWallMs.toString(36)}-${p.idSuffix}`,
    mode: p.mode,
    kind: p.cause.kind,
    scope: p.scope,
    cause: p.cause,
    source: p.source,
    policy: handler?.entry.policy ?? null,
    handled: handler !== undefined || p.kernelKill !== undefined,
    chain: p.steps.map((s) => s.entry),
    candidates: candidates.slice(0, MAX_RECORD_CANDIDATES),
    candidatesTotal: candidates.length,
    plan: handler ? handler.entry.verdicts.filter((v) => v.ok).map((v) => v.action) : [],
    actions: p.steps.flatMap((s) => s.actions),
    times: episodeTimes(p.timing),
    ...(p.kernelKill !== undefined ? { kernelKill: p.kernelKill } : {}),
    ...(p.unreadable !== undefined && p.unreadable.length > 0
      ? { unreadable: p.unreadable.slice(0, MAX_UNREADABLE).map((f) => ({ path: f.path, error: f.error })), unreadableTotal: p.unreadable.length }
      : {}),
    ...(p.decision !== undefined ? { decision: p.decision } : {}),
    ...(dropped !== undefined ? { dropped } : {}),
  };
}

function episodeTimes(t: EpisodeTiming): EpisodeRecord["times"] {
  const at = (ms: number) => isoTime(t.declaredAtWallMs + ms);
  const signal = t.signalBeforeMs;
  return {
    ...(signal !== undefined ? { signalAt: at(-signal) } : {}),
    declaredAt: at(0),
    decidedAt: at(t.decisionMs),
    finishedAt: at(t.decisionMs + t.actionMs),
    ...(signal !== undefined ? { signalToDecisionMs: roundMs(signal + t.decisionMs) } : {}),
    decisionMs: roundMs(t.decisionMs),
    ...(t.readMs !== undefined ? { readMs: roundMs(t.readMs) } : {}),
    actionMs: roundMs(t.actionMs),
  };
}

/** Milliseconds to the microsecond. */
export const roundMs = (ms: number): number => Math.round(ms * 1000) / 1000;

/**
 * The candidates a record keeps of one policy's list: the best scored ones, then some skipped.
 * Best first means the policy's own order: the target its plan chose (the first kill among
 * `chosen`, its verdicts' actions) first — an evaluateTask "select" or a rule outranks any score —
 * then the order it gave with oc.ranked, then by score.
 */
export function capCandidates(list: readonly CandidateRecord[], chosen: readonly Verdict[] = []): CandidateRecord[] {
  const kill = chosen.map((v) => v.action).find((a) => a.kind === "kill-task" || a.kind === "kill-cgroup");
  const isChosen = (c: CandidateRecord): boolean =>
    kill?.kind === "kill-task" ? c.kind === "task" && c.pid === kill.pid : kill?.kind === "kill-cgroup" ? c.kind === "cgroup" && c.cgroup === kill.cgroup : false;
  const order = (c: CandidateRecord): number => (isChosen(c) ? 0 : (c.rank ?? Infinity));
  const before = (a: CandidateRecord, b: CandidateRecord): number => order(a) - order(b) || (b.score ?? -Infinity) - (a.score ?? -Infinity);
  // The best MAX_CANDIDATES as a stable sort of the whole list would give them, kept in one pass:
  // a machine-wide decision considers every task, and sorting 10,000 of them to keep 25 was most
  // of the cost of a decision made ahead on a warm model.
  const scored: CandidateRecord[] = [];
  const skipped: CandidateRecord[] = [];
  for (const c of list) {
    if (c.skipped !== undefined) {
      if (skipped.length < MAX_SKIPPED) skipped.push(c);
      continue;
    }
    const last = scored[scored.length - 1];
    if (scored.length >= MAX_CANDIDATES && last !== undefined && !(before(c, last) < 0)) continue;
    let i = scored.length;
    while (i > 0 && before(c, scored[i - 1] as CandidateRecord) < 0) i--;
    scored.splice(i, 0, c);
    if (scored.length > MAX_CANDIDATES) scored.pop();
  }
  return [...scored, ...skipped];
}
