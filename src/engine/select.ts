/**
 * Running one policy: its hooks under their deadline, and the default selection loop (the
 * kernel's select_bad_process with the 2023 bpf_oom_evaluate_task hook).
 */
import { types } from "node:util";
import { OomkitError } from "../errors.js";
import type { Policy, TaskVerdict } from "./policy.js";
import { callWithDeadline } from "./deadline.js";
import { describeThrown, isOomkitError, ownString } from "./describe.js";
import type { ChainOutcome } from "./episode.js";
import type { OomControlImpl } from "./oom-control.js";
import { type Plan, isPlan } from "./plan.js";
import type { Snapshot } from "./snapshot.js";
import type { TaskNode } from "./task.js";

export type PolicyResult = { readonly plan: Plan } | { readonly noVictim: string };

/**
 * What a policy running in its own realm threw, as the engine keeps it: the realm described the
 * value (./realm-shim.ts) and only strings crossed. `message` is the thrown error's own message
 * (for "policy x: <message>" in configuration errors), `description` the record's one line.
 */
export class PolicyThrew extends Error {
  readonly description: string;
  constructor(description: string, message: string) {
    super(message);
    this.name = "PolicyThrew";
    this.description = description;
  }
}

/** How a policy call failed: the outcome the record gives it, and a description. */
export interface PolicyFault {
  readonly outcome: Extract<ChainOutcome, "threw" | "timeout" | "invalid">;
  readonly error: string;
}

/**
 * Classifies what a policy call threw: past its deadline (E_TIMEOUT from the deadline), nothing
 * valid returned (E_PARSE, raised by the engine's checks of what the policy gave it), or
 * anything else the policy threw, described safely.
 */
export function classifyFault(err: unknown, deadlineMs: number): PolicyFault {
  if (typeof err === "object" && err !== null && !types.isProxy(err) && err instanceof PolicyThrew) return { outcome: "threw", error: err.description };
  if (isOomkitError(err, "E_TIMEOUT")) return { outcome: "timeout", error: `ran past its deadline of ${deadlineMs} ms` };
  if (isOomkitError(err, "E_PARSE")) return { outcome: "invalid", error: ownString(err, "message") ?? describeThrown(err, deadlineMs) };
  return { outcome: "threw", error: describeThrown(err, deadlineMs) };
}

/** A policy slowed by reads is run again until this many deadlines' worth of time has passed. */
const READ_BUDGET_DEADLINES = 10;

/**
 * A policy's deadline is for its own work, not for reading the machine its questions cause (on
 * a slow or loaded machine a few hundred /proc files can take most of 250 ms). A call that runs
 * past its deadline having spent most of it in reads is run again: what it read is kept in the
 * snapshot, so each retry gets further, and a policy that loops spends no time reading and is
 * not retried. Policies are deterministic for a snapshot, so a retry decides the same. All the
 * tries together get at most READ_BUDGET_DEADLINES deadlines.
 */
export function runWithDeadline<T>(fn: () => T, deadlineMs: number, snapshot: Snapshot): T {
  // Timed on the clock the reads are (the Host's work clock), so the two compare.
  const clock = snapshot.workClock;
  const start = clock.monotonicMs();
  for (;;) {
    const io0 = snapshot.ioMs;
    const t0 = clock.monotonicMs();
    try {
      return callWithDeadline(fn, deadlineMs);
    } catch (err) {
      const elapsed = clock.monotonicMs() - t0;
      const io = snapshot.ioMs - io0;
      const mostlyReading = io > elapsed / 2;
      const budgetLeft = clock.monotonicMs() - start < READ_BUDGET_DEADLINES * deadlineMs;
      if (!isOomkitError(err, "E_TIMEOUT") || !mostlyReading || !budgetLeft) throw err;
    }
  }
}

/** Decides for a policy whose code runs elsewhere: the whole of runPolicy in one call there. */
export type Decider = (oc: OomControlImpl<unknown>) => PolicyResult;

const deciders = new WeakMap<Policy, Decider>();

/**
 * Says that `policy` decides through `decide` (a policy file's realm, ./realm.ts): runPolicy
 * hands it the whole call, so its handleOutOfMemory and the selection loop with its
 * evaluateTask run in one entry into the realm instead of one per task.
 */
export function setDecider(policy: Policy, decide: Decider): void {
  deciders.set(policy, decide);
}

/**
 * Calls a policy: handleOutOfMemory when it has one; the default selection loop with its
 * evaluateTask when it has only that, or when its handleOutOfMemory passed.
 */
export function runPolicy(policy: Policy, oc: OomControlImpl<unknown>): PolicyResult {
  const decide = deciders.get(policy);
  if (decide) return decide(oc);
  if (policy.handleOutOfMemory) {
    const plan: unknown = policy.handleOutOfMemory(oc);
    if (!isPlan(plan)) throw new OomkitError("E_PARSE", `returned ${describeValue(plan)}, not a plan made with the oc builders`);
    if (plan.kind === "act" || !policy.evaluateTask) return { plan };
  }
  const evaluate = policy.evaluateTask?.bind(policy);
  return selectTask(oc, evaluate ? (t, chosen) => evaluate(t, chosen, oc) : () => "default");
}

function describeValue(v: unknown): string {
  if (v === undefined) return "undefined";
  if (v === null) return "null";
  if (typeof v === "object" && typeof (v as { then?: unknown }).then === "function") return "a promise (policies are synchronous)";
  return typeof v === "object" ? "an object" : `a ${typeof v}`;
}

const VERDICTS: ReadonlySet<string> = new Set(["select", "skip", "abort", "default"]);

/**
 * The default selection loop, as mm/oom_kill.c's select_bad_process with the 2023
 * bpf_oom_evaluate_task hook: unkillable tasks are passed over first; then the policy says, per
 * task, "select" (this is the choice now), "skip" (never this one), "abort" (stop, choose
 * nothing) or "default" (rank it by badness). A policy's "select" outranks any badness; among
 * badness ties, and among several selected, the higher pid wins, as the later task of the
 * kernel's scan in pid order does (oc.tasks() may come largest first).
 */
export function selectTask(oc: OomControlImpl<unknown>, evaluate: (task: TaskNode, chosen: TaskNode | undefined) => TaskVerdict): PolicyResult {
  const steps = selectSteps(oc);
  let step = steps.next();
  while (!step.done) step = steps.next(evaluate(step.value.task, step.value.chosen));
  return step.value;
}

/** A task the selection loop asks the policy about, with its current choice. */
export interface SelectQuestion {
  readonly task: TaskNode;
  readonly chosen: TaskNode | undefined;
}

/** The error for a verdict that is none of the four; `shown` is the verdict as JSON. */
export function invalidVerdict(shown: string | undefined): OomkitError {
  return new OomkitError("E_PARSE", `evaluateTask returned ${shown}; expected "select", "skip", "abort" or "default"`);
}

/**
 * selectTask as a generator: it yields each task to ask about and takes the verdict back, so a
 * policy in another realm can drive the one loop (./realm.ts) without the loop being written twice.
 */
export function* selectSteps(oc: OomControlImpl<unknown>): Generator<SelectQuestion, PolicyResult, unknown> {
  let chosen: TaskNode | undefined;
  let chosenPoints = Number.NEGATIVE_INFINITY;
  let selectedByPolicy = false;
  const why = () => (selectedByPolicy ? "selected by evaluateTask" : `highest badness (${chosenPoints})`);
  // Cut short by its deadline, the loop's choice so far is carried out (read when it is taken).
  const offer = () => oc.killTask(chosen as TaskNode, why());
  // Each process read as it is reached: cut short, the loop has read only what it visited.
  for (const t of oc.visitTasks()) {
    const prot = oc.protectedReason(t);
    if (prot) {
      if (!t.kernelThread) oc.skip(t, prot);
      continue;
    }
    const verdict: unknown = yield { task: t, chosen };
    if (typeof verdict !== "string" || !VERDICTS.has(verdict)) throw invalidVerdict(JSON.stringify(verdict));
    switch (verdict as TaskVerdict) {
      case "skip":
        oc.skip(t, "evaluateTask: skip");
        break;
      case "abort":
        oc.skip(t, "evaluateTask: abort");
        return { noVictim: `evaluateTask aborted the selection at pid ${t.pid}` };
      case "select": {
        // Several selected: the highest pid, as the last of a scan in pid order would be.
        if (!selectedByPolicy || chosen === undefined || t.pid > chosen.pid) {
          chosen = t;
          selectedByPolicy = true;
          oc.offerLazily(offer);
        }
        const b = oc.badness(t);
        oc.consider(t, b.killable ? b.badness : Number.NaN, "selected by evaluateTask");
        break;
      }
      case "default": {
        const b = oc.badness(t);
        if (!b.killable) {
          oc.skip(t, `unkillable: ${b.reason}`);
          break;
        }
        oc.consider(t, b.badness, `badness ${b.badness} (rss+swap+pgtables ${b.points}, adj ${b.adj})`);
        // A tie goes to the higher pid, as in the kernel's scan in pid order, whatever the visit's order.
        if (!selectedByPolicy && (b.badness > chosenPoints || (b.badness === chosenPoints && (chosen === undefined || t.pid > chosen.pid)))) {
          chosen = t;
          chosenPoints = b.badness;
          oc.offerLazily(offer);
        }
        break;
      }
      default: {
        const never: never = verdict as never;
        return never;
      }
    }
  }
  if (!chosen) return { noVictim: "no killable task in the scope" };
  return { plan: oc.killTask(chosen, why()) };
}
