/**
 * One link of the chain: run the policy (under its deadline, unless it is the built-in default),
 * classify what it did, verify its plan and have the executor carry it out. The engine runs the
 * links in order until one handles the OOM; buildEpisode (episode.ts) makes the record from what
 * the steps produced.
 */
import type { Logger } from "../log.js";
import type { CgroupPath } from "../os/paths.js";
import type { ActionResult, ChainEntry, ChainOutcome, StepRecord, Verdict } from "./episode.js";
import { roundMs } from "./episode.js";
import { type ControlContext, OomControlImpl } from "./oom-control.js";
import type { Policy } from "./policy.js";
import { type PolicyFault, type PolicyResult, classifyFault, runPolicy, runWithDeadline } from "./select.js";
import type { Snapshot } from "./snapshot.js";
import { type VerifiedAction, verifyAction } from "./verify.js";

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
  async execute(v: VerifiedOk): Promise<ActionResult> {
    const now = Date.now();
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
  readonly deadlineMs: number;
  readonly executor: Executor;
  readonly log: Logger;
}

export interface StepResult extends StepRecord {
  /** Time spent carrying out its actions. */
  readonly actionMs: number;
  /** performance.now() when its plan had passed the verifier, if it did. */
  readonly verifiedAtMs?: number;
  /** The actions of its plan that passed the verifier, as the verifier cleared them. */
  readonly verified?: readonly VerifiedOk[];
}

/** A deadline overrun of a policy that read a lot is worth a hint. */
const TIMEOUT_HINT = "reading a large scope counts too: raise policy_deadline_ms on big machines";

/** Runs one link: decide, verify, carry out; says what became of it. */
export async function runStep(link: ChainLink, env: StepEnv): Promise<StepResult> {
  const oc = new OomControlImpl(link.policy.name, link.options, env.control);
  const started = performance.now();
  const decided = decide(link, oc, env);
  const durationMs = roundMs(performance.now() - started);
  const result = (outcome: ChainOutcome, extra: Partial<ChainEntry> = {}, more: Partial<StepResult> = {}): StepResult => ({
    entry: { policy: link.policy.name, attachedTo: link.attachedTo, outcome, durationMs, verdicts: [], ...extra },
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
  const plan = decided.plan;
  if (plan.kind === "pass") return result("passed", { reason: plan.reason });
  const verified = plan.actions.map((a) => verifyAction(a, env.control));
  const verdicts: Verdict[] = verified.map((v) => (v.ok ? { action: v.action, ok: true, execution: v.execution } : { action: v.action, ok: false, reason: v.reason }));
  const ok = verified.filter((v): v is VerifiedOk => v.ok);
  if (ok.length === 0) return result("rejected", { verdicts, reason: verified.map((v) => (v.ok ? "" : v.reason)).join("; ") });
  const verifiedAtMs = performance.now();
  const actions: ActionResult[] = [];
  for (const v of ok) actions.push(await env.executor.execute(v, env.control.snapshot));
  const done = { actions, actionMs: performance.now() - verifiedAtMs, verifiedAtMs, verified: ok };
  // Only memory really freed counts (bpf_memory_freed); a dry run frees nothing and counts.
  if (!env.executor.dryRun && !actions.some((r) => r.freed)) return result("not-freed", { verdicts, reason: "its actions were carried out but freed no memory" }, done);
  return result("handled", { verdicts }, done);
}

/** Calls the policy: its result, or how it failed. */
function decide(link: ChainLink, oc: OomControlImpl<unknown>, env: StepEnv): PolicyResult | PolicyFault {
  try {
    // The built-in default ends every chain: like the kernel's own scan it must decide, so it
    // runs without a deadline (it is engine code, not a policy file).
    if (link.attachedTo === null) return runPolicy(link.policy, oc);
    return runWithDeadline(() => runPolicy(link.policy, oc), env.deadlineMs, env.control.snapshot);
  } catch (err) {
    const fault = classifyFault(err, env.deadlineMs);
    return fault.outcome === "timeout" ? { ...fault, error: `${fault.error} (${TIMEOUT_HINT})` } : fault;
  }
}
