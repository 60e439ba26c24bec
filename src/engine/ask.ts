/**
 * Asking one policy of the chain for its plan, under its deadline, and asking again when the
 * verifier refuses a target of it — as the kernel's select_bad_process loop goes on past a task
 * it may not kill instead of giving up. One refused target (a task that migrated between the
 * scope's cgroup.procs and its /proc/<pid>/cgroup, one whose oom_score_adj could not be read)
 * must not block every kill in the scope because every policy proposes it.
 *
 * The policy is asked again with a control that holds the refusals (./oom-control.ts): the
 * refused targets are gone from its lists, protectedReason says why, the record lists them as
 * skipped. The built-in default's selection loop walks those same lists and so goes on to the
 * next task. All the asks of one policy share its deadline: an attached policy's counted on its
 * own work as runWithDeadline counts it (reading the machine is not the policy's time), the
 * built-in default's on its whole calls, reads included; at most MAX_ASKS are made.
 *
 * Each ask writes its own policy state draft (reset before each try of a call): the draft of the
 * answer that stands is the one the step commits when its plan is carried out. A call cut short
 * by its deadline answers with the best so far it had offered (oc.offerBestSoFar), as a single
 * ask does.
 */
import type { Logger } from "../log.js";
import type { CgroupPath } from "../os/paths.js";
import type { Verdict } from "./episode.js";
import { callWithDeadline } from "./deadline.js";
import { type ControlContext, OomControlImpl, type Refusals } from "./oom-control.js";
import type { Plan } from "./plan.js";
import type { Policy } from "./policy.js";
import type { PolicyStateStore, StateDraft } from "./policy-state.js";
import { type PolicyFault, classifyFault, runPolicy, runWithDeadline } from "./select.js";
import { type VerifiedAction, verifyAction } from "./verify.js";

/**
 * How many times one policy is asked in one episode. Every target a refused plan names is left
 * out at once, so a plan refused for a few stale targets is answered on the second ask; the
 * built-ins consult protectedReason, which already gives the verifier's answer, so they are
 * refused only by a race. A policy still refused on the fourth ask keeps proposing what
 * protectedReason would have told it: the next policy in the chain (the default last, which
 * skips every such target in one pass) is the better way on. Each ask re-runs the policy over
 * the scope (its reads are kept in the snapshot, so an ask costs the policy's own work); the
 * asks share the policy's deadline (the default's too), and a bound in asks keeps them few.
 */
export const MAX_ASKS = 4;

/**
 * A deadline overrun says which of the two it was: the policy's own code computing (a loop that
 * does not end, or work that grows too fast: a longer deadline would not help), or reading a large
 * scope (the machine's files: a longer deadline may). The call's time spent reading decides.
 */
function timeoutHint(isDefault: boolean, readMs: number, elapsedMs: number, cutOffMs: number): string {
  const read = `${Math.round(readMs)} of ${Math.round(elapsedMs)} ms reading the machine${cutOffMs > 0 ? `, cut off in a read that had taken ${Math.round(cutOffMs)} ms` : ""}`;
  if (readMs < elapsedMs / 2) return `its own code was running, ${read}: a loop that does not end? A longer deadline would not help`;
  return `${read}: reading a large scope counts too; raise ${isDefault ? "default_policy_deadline_ms" : "policy_deadline_ms"} on big machines`;
}

/** The link being asked: its policy, options, and where it is attached (null: the built-in default). */
export interface AskedLink {
  readonly policy: Policy;
  readonly options: unknown;
  readonly attachedTo: CgroupPath | null;
}

export interface AskEnv {
  readonly control: ControlContext;
  /** Where policies keep state: each ask gets a draft of its own. */
  readonly state: PolicyStateStore;
  readonly deadlineMs: number;
  /** The built-in default's deadline: its whole calls, reads included. */
  readonly defaultDeadlineMs: number;
  /**
   * Deciding ahead: the policy's tries and asks together are cut off after this much wall time
   * (engine.ts AHEAD_CALL_MAX_MS), reads included, and a call slowed by reads is not run again
   * within it (the next refresh's call is, on what this one read).
   */
  readonly callCapMs?: number;
  readonly log: Logger;
}

/** A policy's result, or (cut short by its deadline) the best so far it had offered, and how far it got. */
export type Decided = { readonly plan: Plan; readonly cutShort?: string } | { readonly noVictim: string };

export interface Asked {
  /** The control of the ask whose answer stands: its candidates are the record's. */
  readonly oc: OomControlImpl<unknown>;
  /** That answer: a result, or how the policy failed. */
  readonly decided: Decided | PolicyFault;
  /** That answer's state writes, not yet committed. */
  readonly draft: StateDraft;
  /** The verifier's word on each action of its plan ([] when it was no plan that acts). */
  readonly verified: readonly VerifiedAction[];
  /** How many times the policy was asked. */
  readonly asks: number;
  /** The kills the verifier refused in the asks before the last, each with its reason: why it was asked again. */
  readonly refused: readonly Verdict[];
  /** How a later ask failed (threw, ran past its deadline, gave no plan), when one did: the earlier answer stands. */
  readonly reaskFault?: PolicyFault;
}

interface Answer {
  readonly oc: OomControlImpl<unknown>;
  readonly decided: Decided | PolicyFault;
  readonly draft: StateDraft;
  readonly verified: readonly VerifiedAction[];
}

const isFault = (d: Decided | PolicyFault): d is PolicyFault => "outcome" in d;
/** A plan with at least one action the verifier passed: it can act. */
const canAct = (a: Answer): boolean => a.verified.some((v) => v.ok);

/**
 * Asks the policy, and again without the targets the verifier refused, within its deadline and
 * MAX_ASKS. The answer that stands is the last one, except that a later ask never makes things
 * worse: one that failed (threw, ran past what was left of the deadline, gave no plan) leaves the
 * earlier answer, and one that cannot act leaves an earlier one that could (its verified part).
 */
export function askPolicy(link: AskedLink, env: AskEnv): Asked {
  const snapshot = env.control.snapshot;
  const tasks = new Map<number, { startTimeTicks: number; reason: string }>();
  const cgroups = new Map<CgroupPath, string>();
  const refused: Verdict[] = [];
  const isDefault = link.attachedTo === null;
  const deadlineMs = isDefault ? env.defaultDeadlineMs : env.deadlineMs;
  const clock = snapshot.workClock;
  const t0 = clock.monotonicMs();
  const io0 = snapshot.ioMs;
  // The policy's time so far: for an attached policy, reading the machine its questions caused is
  // not counted; the default's deadline counts its whole calls.
  const usedMs = () => clock.monotonicMs() - t0 - (isDefault ? 0 : snapshot.ioMs - io0);
  const cap = env.callCapMs;
  // What is left of the deadline, and of the cap on the call's wall time when there is one.
  const leftMs = () => (cap === undefined ? deadlineMs - usedMs() : Math.min(deadlineMs - usedMs(), cap - (clock.monotonicMs() - t0)));
  let standing: Answer | undefined;
  let reaskFault: PolicyFault | undefined;
  let asks = 0;
  for (;;) {
    asks++;
    const refusals: Refusals = { tasks: new Map(tasks), cgroups: new Map(cgroups) };
    const draft = env.state.draft(link.policy.name, link.attachedTo);
    const oc = new OomControlImpl(link.policy.name, link.options, env.control, draft, refusals);
    const decided = decide(link, oc, draft, leftMs(), cap === undefined ? deadlineMs : Math.min(deadlineMs, cap), cap === undefined);
    const verified = "plan" in decided && decided.plan.kind === "act" ? decided.plan.actions.map((a) => verifyAction(a, env.control)) : [];
    const answer: Answer = { oc, decided, draft, verified };
    if (standing !== undefined && isFault(decided)) reaskFault = decided;
    else if (standing === undefined || canAct(answer) || !canAct(standing)) standing = answer;
    if (isFault(decided)) break;
    let added = 0;
    const kills: Verdict[] = [];
    for (const v of verified) {
      if (v.ok) continue;
      const a = v.action;
      if (a.kind === "kill-task") {
        if (!tasks.has(a.pid)) added++;
        tasks.set(a.pid, { startTimeTicks: a.startTimeTicks, reason: v.reason });
      } else if (a.kind === "kill-cgroup") {
        if (!cgroups.has(a.cgroup)) added++;
        cgroups.set(a.cgroup, v.reason);
      } else continue;
      kills.push({ action: a, ok: false, reason: v.reason });
    }
    // Asking again helps only when a target was refused that the policy had not been told of,
    // and only with asks and time left.
    if (added === 0 || asks >= MAX_ASKS || leftMs() < 1) break;
    refused.push(...kills);
    const names = kills.map((k) => (k.action.kind === "kill-task" ? `pid ${k.action.pid}` : k.action.kind === "kill-cgroup" ? k.action.cgroup : k.action.kind));
    env.log.info(`policy ${link.policy.name}: the verifier refused ${names.join(", ")} (${kills[0]?.reason ?? ""}); asking it again without ${kills.length === 1 ? "it" : "them"}`);
  }
  if (reaskFault) env.log.warn(`policy ${link.policy.name}: asked again without the refused targets, it ${reaskFault.outcome}: ${reaskFault.error}; its earlier answer stands`);
  standing.oc.recordUnreadable();
  return { ...standing, asks, refused, ...(reaskFault ? { reaskFault } : {}) };
}

/**
 * Calls the policy: its result, the best so far it offered when its deadline (what is left of
 * `configuredMs`) ran out, or how it failed.
 */
function decide(link: AskedLink, oc: OomControlImpl<unknown>, draft: StateDraft, deadlineMs: number, configuredMs: number, retryReads: boolean): Decided | PolicyFault {
  // The built-in default ends every chain: its deadline is for the whole call, reading included
  // (no second try), so that a crowded machine's scan ends while acting still helps.
  const isDefault = link.attachedTo === null;
  // A call run again (its reads slowed it) starts from the store, not from its first try's writes.
  const run = () => {
    draft.reset();
    return runPolicy(link.policy, oc);
  };
  const clock = oc.snapshot.workClock;
  const t0 = clock.monotonicMs();
  const io0 = oc.snapshot.ioMs;
  try {
    return isDefault || !retryReads ? callWithDeadline(run, deadlineMs) : runWithDeadline(run, deadlineMs, oc.snapshot);
  } catch (err) {
    const fault = classifyFault(err, configuredMs);
    if (fault.outcome !== "timeout") return fault;
    const cutOff = oc.snapshot.takeCutOffReadMs();
    const best = oc.takeBestSoFar();
    const got = oc.progress();
    if (best) return { plan: best, cutShort: `${fault.error}${got ? ` after ${got}` : ""}; acting on its best so far` };
    return { ...fault, error: `${fault.error} (${timeoutHint(isDefault, oc.snapshot.ioMs - io0, clock.monotonicMs() - t0, cutOff)})` };
  }
}
