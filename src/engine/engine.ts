/**
 * The engine: dispatch of one OOM through the policy chain, verification, and the episode
 * record. An OOM in scope S goes to the policy attached to S, then to the ones attached to S's
 * ancestors up to the root, then to the built-in default. A plan handles the OOM only when it
 * frees memory (live) or, in explain and dry-run, when at least one action passes the
 * verifier; otherwise the next policy runs at once. A policy that throws, runs past its
 * deadline or returns no plan is recorded with its name and skipped. The built-in default at
 * the end of the chain has no deadline: it is the engine's own last word before the kernel's.
 */
import { OomkitError } from "../errors.js";
import { type Logger, silentLogger } from "../log.js";
import { type CgroupPath, ROOT_CGROUP, cgroupPath, parentCgroup } from "../os/paths.js";
import type { OomCause, Policy } from "./policy.js";
import type { CgroupNode } from "./cgroup.js";
import {
  type ActionResult,
  type CandidateRecord,
  type ChainEntry,
  type ChainOutcome,
  EPISODE_SCHEMA,
  type EpisodeMode,
  type EpisodeRecord,
  type Verdict,
} from "./episode.js";
import { History } from "./history.js";
import { OomControlImpl } from "./oom-control.js";
import { type PolicyResult, runPolicy, runWithDeadline } from "./select.js";
import type { Action } from "./plan.js";
import type { Snapshot } from "./snapshot.js";
import { NO_PROTECTIONS, type Protections, type VerifiedAction, verifyAction } from "./verify.js";
import { VictimRegistry } from "./victims.js";

export interface Attachment {
  /** The cgroup the policy is attached to ("/" for the whole machine). */
  readonly cgroup: CgroupPath;
  readonly policy: Policy;
  /** Options as the policy's parseOptions returned them. */
  readonly options: unknown;
}

export type VerifiedOk = Extract<VerifiedAction, { ok: true }>;

/** Carries out verified actions. The daemon's executor acts on the OS; explain's acts on nothing. */
export interface Executor {
  readonly dryRun: boolean;
  execute(action: VerifiedOk, snapshot: Snapshot): Promise<ActionResult>;
}

export interface EngineOptions {
  readonly attachments?: readonly Attachment[];
  /** The last policy in every chain. */
  readonly defaultPolicy: { readonly policy: Policy; readonly options: unknown };
  readonly protections?: Protections;
  /** How long one policy call may run. */
  readonly policyDeadlineMs?: number;
  readonly victims?: VictimRegistry;
  readonly history?: History;
  readonly logger?: Logger;
}

/** A policy gets this long per call; a decision that takes longer is no longer "before the kernel". */
export const DEFAULT_POLICY_DEADLINE_MS = 250;
/** The record keeps this many candidates per policy (best first), and this many skipped ones. */
const MAX_CANDIDATES = 25;
const MAX_SKIPPED = 25;

export interface OomRequest {
  readonly snapshot: Snapshot;
  readonly scope: CgroupPath | string;
  readonly cause: OomCause;
  readonly mode: EpisodeMode;
  /** Required in live mode; explain and dry-run verify only. */
  readonly executor?: Executor;
}


let episodeSeq = 0;

export class Engine {
  readonly attachments: ReadonlyMap<CgroupPath, Attachment>;
  readonly defaultPolicy: { readonly policy: Policy; readonly options: unknown };
  readonly protections: Protections;
  readonly policyDeadlineMs: number;
  readonly victims: VictimRegistry;
  readonly history: History;
  readonly #log: Logger;

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
    this.policyDeadlineMs = opts.policyDeadlineMs ?? DEFAULT_POLICY_DEADLINE_MS;
    this.victims = opts.victims ?? new VictimRegistry();
    this.history = opts.history ?? new History();
    this.#log = opts.logger ?? silentLogger;
  }

  /** The policies an OOM in `scope` goes to, nearest first, ending with the default. */
  chainFor(scope: CgroupPath): { readonly policy: Policy; readonly options: unknown; readonly attachedTo: CgroupPath | null }[] {
    const chain: { policy: Policy; options: unknown; attachedTo: CgroupPath | null }[] = [];
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
    if (mode === "live" && !req.executor) throw new OomkitError("E_INTERNAL", "a live OOM needs an executor");
    const scopePath = cgroupPath(req.scope);
    const scope = this.#resolveScope(snapshot, scopePath);
    const declaredAtWall = snapshot.takenAtWallMs;
    const t0 = performance.now();
    const chain: ChainEntry[] = [];
    const candidates: CandidateRecord[] = [];
    let handledBy: string | null = null;
    let plan: readonly Action[] = [];
    const results: ActionResult[] = [];
    let decisionMs = 0;
    let actionMs = 0;
    const ctx = { snapshot, scope, protections: this.protections, victims: this.victims, cause, history: this.history };
    const io0 = snapshot.ioMs;

    for (const link of this.chainFor(scopePath)) {
      const oc = new OomControlImpl(link.policy.name, link.options, ctx);
      const started = performance.now();
      let result: PolicyResult | undefined;
      let failure: { outcome: ChainOutcome; error: string } | undefined;
      try {
        // The built-in default ends every chain: like the kernel's own scan it must decide, so
        // it runs without a deadline (it is engine code, not a policy file).
        result = link.attachedTo === null ? runPolicy(link.policy, oc) : runWithDeadline(() => runPolicy(link.policy, oc), this.policyDeadlineMs, snapshot);
      } catch (err) {
        failure =
          err instanceof OomkitError && err.code === "E_TIMEOUT"
            ? { outcome: "timeout", error: `ran past its deadline of ${this.policyDeadlineMs} ms (reading a large scope counts too: raise policy_deadline_ms on big machines)` }
            : err instanceof OomkitError && err.code === "E_PARSE"
              ? { outcome: "invalid", error: err.message }
              : { outcome: "threw", error: describeError(err) };
      }
      const durationMs = performance.now() - started;
      candidates.push(...capCandidates(oc.candidates));
      const entry = (outcome: ChainOutcome, extra: Partial<ChainEntry> = {}): ChainEntry => ({
        policy: link.policy.name,
        attachedTo: link.attachedTo,
        outcome,
        durationMs: round(durationMs),
        verdicts: [],
        ...extra,
      });
      if (failure) {
        this.#log.warn(`policy ${link.policy.name} ${failure.outcome}: ${failure.error}; trying the next policy`);
        chain.push(entry(failure.outcome, { error: failure.error }));
        continue;
      }
      if (!result) continue;
      if ("noVictim" in result) {
        chain.push(entry("no-victim", { reason: result.noVictim }));
        continue;
      }
      const p = result.plan;
      if (p.kind === "pass") {
        chain.push(entry("passed", { reason: p.reason }));
        continue;
      }
      const verified = p.actions.map((a) => verifyAction(a, ctx));
      const verdicts: Verdict[] = verified.map((v) => (v.ok ? { action: v.action, ok: true, execution: v.execution } : { action: v.action, ok: false, reason: v.reason }));
      const ok = verified.filter((v): v is VerifiedOk => v.ok);
      if (ok.length === 0) {
        chain.push(entry("rejected", { verdicts, reason: verified.map((v) => (v.ok ? "" : v.reason)).join("; ") }));
        continue;
      }
      decisionMs = performance.now() - t0;
      const actStart = performance.now();
      const executed: ActionResult[] = [];
      if (mode === "live" && req.executor) {
        for (const v of ok) executed.push(await req.executor.execute(v, snapshot));
      } else {
        const now = Date.now();
        for (const v of ok) executed.push({ action: v.action, ok: true, freed: false, dryRun: true, startedAtMs: now, finishedAtMs: now });
      }
      actionMs += performance.now() - actStart;
      results.push(...executed);
      const counts = mode === "live" ? executed.some((r) => r.freed) : true;
      if (!counts) {
        chain.push(entry("not-freed", { verdicts, reason: "its actions were carried out but freed no memory" }));
        continue;
      }
      chain.push(entry("handled", { verdicts }));
      handledBy = link.policy.name;
      plan = ok.map((v) => v.action);
      break;
    }
    if (handledBy === null) decisionMs = performance.now() - t0 - actionMs;
    const declaredAt = new Date(declaredAtWall).toISOString();
    const signalDelta = cause.signalAtMonoMs !== undefined ? snapshot.takenAtMonoMs - cause.signalAtMonoMs : undefined;
    return {
      schema: EPISODE_SCHEMA,
      id: `ep-${declaredAtWall.toString(36)}-${(episodeSeq++).toString(36)}`,
      mode,
      kind: cause.kind,
      scope: scopePath,
      cause,
      source: snapshot.source,
      policy: handledBy,
      handled: handledBy !== null,
      chain,
      candidates: candidates.slice(0, 200),
      candidatesTotal: candidates.length,
      plan,
      actions: results,
      times: {
        signalAt: signalDelta !== undefined ? new Date(declaredAtWall - signalDelta).toISOString() : undefined,
        declaredAt,
        decidedAt: new Date(declaredAtWall + decisionMs).toISOString(),
        finishedAt: new Date(declaredAtWall + decisionMs + actionMs).toISOString(),
        signalToDecisionMs: signalDelta !== undefined ? round(signalDelta + decisionMs) : undefined,
        decisionMs: round(decisionMs),
        readMs: round(snapshot.ioMs - io0),
        actionMs: round(actionMs),
      },
    };
  }

  /** The decision the engine would take now, carrying out nothing. */
  explain(snapshot: Snapshot, scope: CgroupPath | string, cause: OomCause): Promise<EpisodeRecord> {
    return this.handleOom({ snapshot, scope, cause, mode: "explain" });
  }
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;

function describeError(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`.slice(0, 500);
  return `non-error thrown: ${String(err)}`.slice(0, 500);
}

/** Best candidates first; skipped ones after; each list capped. */
function capCandidates(list: readonly CandidateRecord[]): CandidateRecord[] {
  // The policy's own order where it gave one (oc.ranked), else by score.
  const scored = list
    .filter((c) => c.skipped === undefined)
    .sort((a, b) => (a.rank ?? Infinity) - (b.rank ?? Infinity) || (b.score ?? -Infinity) - (a.score ?? -Infinity));
  const skipped = list.filter((c) => c.skipped !== undefined);
  return [...scored.slice(0, MAX_CANDIDATES), ...skipped.slice(0, MAX_SKIPPED)];
}
