/**
 * One link of the chain: run the policy under its deadline (the built-in default under its own),
 * classify what it did, verify its plan — asking it again without the targets the verifier
 * refused (./ask.ts) — ask whether acting is still called for, and have the executor carry it
 * out. The engine runs the links in order until one handles the OOM or its plan is dropped;
 * buildEpisode (episode.ts) makes the record from what the steps produced.
 */
import type { Logger } from "../log.js";
import type { CgroupPath } from "../os/paths.js";
import type { ActionResult, ChainEntry, ChainOutcome, Staleness, StepRecord, Verdict } from "./episode.js";
import { roundMs } from "./episode.js";
import { askPolicy } from "./ask.js";
import type { ControlContext } from "./oom-control.js";
import type { Policy } from "./policy.js";
import type { PolicyStateStore, StateDraft } from "./policy-state.js";
import type { Snapshot } from "./snapshot.js";
import type { VerifiedAction } from "./verify.js";

export type VerifiedOk = Extract<VerifiedAction, { ok: true }>;

/** Carries out verified actions. The daemon's executor acts on the OS; DryRunExecutor on nothing. */
export interface Executor {
  /** True when nothing is carried out: a verified plan then handles the OOM without freeing memory. */
  readonly dryRun: boolean;
  execute(action: VerifiedOk, snapshot: Snapshot): Promise<ActionResult>;
}

/** The executor of explain and dry-run: records each action as done, touching nothing. */
export class DryRunExecutor implements Executor {
  readonly dryRun = true;
  async execute(v: VerifiedOk, snapshot: Snapshot): Promise<ActionResult> {
    const now = snapshot.workClock.wallMs();
    return { action: v.action, ok: true, freed: false, dryRun: true, startedAtMs: now, finishedAtMs: now };
  }
}

/** One policy of the chain, with where it is attached (null: the built-in default). */
export interface ChainLink {
  readonly policy: Policy;
  readonly options: unknown;
  readonly attachedTo: CgroupPath | null;
}

export interface StepEnv {
  readonly control: ControlContext;
  /** Where policies keep state; a draft per call, committed as `commitState` says. */
  readonly state: PolicyStateStore;
  /** Commit a carried-out plan's state writes (live and dry-run; not explain nor deciding ahead). */
  readonly commitState: boolean;
  readonly deadlineMs: number;
  /** The built-in default's deadline: its whole call, reads included. */
  readonly defaultDeadlineMs: number;
  /** Deciding ahead: a policy's tries and asks together are cut off after this much wall time. */
  readonly callCapMs?: number;
  readonly executor: Executor;
  readonly log: Logger;
  /** Right before a verified plan's first action: why acting would be stale, or undefined to act. */
  readonly whyStale?: () => Staleness | undefined | Promise<Staleness | undefined>;
}

export interface StepResult extends StepRecord {
  /** Time spent carrying out its actions. */
  readonly actionMs: number;
  /** When its plan had passed the verifier, if it did (on the snapshot's work clock). */
  readonly verifiedAtMs?: number;
  /** The actions of its plan that passed the verifier, as the verifier cleared them. */
  readonly verified?: readonly VerifiedOk[];
  /** The call's state writes, not yet committed (a plan decided ahead commits when carried out). */
  readonly stateDraft?: StateDraft;
}

/** Runs one link: decide, verify, carry out; says what became of it. */
export async function runStep(link: ChainLink, env: StepEnv): Promise<StepResult> {
  const clock = env.control.snapshot.workClock;
  const started = clock.monotonicMs();
  const asked = askPolicy(link, env);
  const { oc, decided, draft } = asked;
  const durationMs = roundMs(clock.monotonicMs() - started);
  const f = asked.reaskFault;
  const reasked = asked.asks > 1 ? { asks: asked.asks, refused: asked.refused, ...(f ? { error: `asked again without them, it ${f.outcome}: ${f.error}` } : {}) } : {};
  const result = (outcome: ChainOutcome, extra: Partial<ChainEntry> = {}, more: Partial<StepResult> = {}): StepResult => ({
    entry: { policy: link.policy.name, attachedTo: link.attachedTo, outcome, durationMs, verdicts: [], ...reasked, ...extra },
    candidates: oc.candidates,
    actions: [],
    actionMs: 0,
    ...more,
  });
  if ("outcome" in decided) {
    env.log.warn(`policy ${link.policy.name} ${decided.outcome}: ${decided.error}; trying the next policy`);
    return result(decided.outcome, { error: decided.error });
  }
  if ("noVictim" in decided) return result("no-victim", { reason: decided.noVictim });
  const { plan, cutShort } = decided;
  const cut = cutShort !== undefined ? { cutShort } : {};
  if (cutShort !== undefined) env.log.warn(`policy ${link.policy.name} ${cutShort}`);
  if (plan.kind === "pass") return result("passed", { reason: plan.reason, ...cut });
  const verified = asked.verified;
  const verdicts: Verdict[] = verified.map((v) => (v.ok ? { action: v.action, ok: true, execution: v.execution } : { action: v.action, ok: false, reason: v.reason }));
  const ok = verified.filter((v): v is VerifiedOk => v.ok);
  if (ok.length === 0) return result("rejected", { verdicts, reason: verified.map((v) => (v.ok ? "" : v.reason)).join("; "), ...cut });
  const verifiedAtMs = clock.monotonicMs();
  const stale = await env.whyStale?.();
  if (stale) return result("dropped", { verdicts, reason: stale.reason, ...cut }, { verifiedAtMs, dropped: stale });
  const actions: ActionResult[] = [];
  for (const v of ok) actions.push(await env.executor.execute(v, env.control.snapshot));
  if (env.commitState) draft.commit();
  const done = { actions, actionMs: clock.monotonicMs() - verifiedAtMs, verifiedAtMs, verified: ok, stateDraft: draft };
  // Only memory really freed counts (bpf_memory_freed); a dry run frees nothing and counts.
  if (!env.executor.dryRun && !actions.some((r) => r.freed)) return result("not-freed", { verdicts, reason: "its actions were carried out but freed no memory", ...cut }, done);
  return result("handled", { verdicts, ...cut }, done);
}
