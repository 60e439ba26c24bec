/**
 * The policy hooks besides the OOM itself: handlePressure (which may declare OOMs, the kernel's
 * bpf_out_of_memory) and handleCgroupOnline/Offline. The engine calls them as it calls
 * handleOutOfMemory: under the policy deadline, with faults caught and described, and it returns
 * a record of every call for the caller's report pipeline. A hook is called once per event and
 * never retried (handleOutOfMemory is, when reads slowed it): hooks exist to keep state, and a
 * second call would count twice.
 */
import { OomkitError } from "../errors.js";
import { type Clock, systemClock } from "../os/host.js";
import { type CgroupPath, cgroupPath } from "../os/paths.js";
import type { CgroupNode } from "./cgroup.js";
import { callWithDeadline } from "./deadline.js";
import { describeThrown, kindOf } from "./describe.js";
import { roundMs } from "./episode.js";
import type { CgroupRates, OomCause, PressureControl, PressureEvent } from "./policy.js";
import { type PolicyFault, classifyFault } from "./select.js";
import type { Snapshot } from "./snapshot.js";
import type { ChainLink } from "./step.js";
import type { StateDraft } from "./policy-state.js";

export type HookName = "handlePressure" | "handleCgroupOnline" | "handleCgroupOffline";

export type HookOutcome = "ok" | PolicyFault["outcome"];

/** One call of a policy hook: what the daemon hands to its report pipeline when it failed. */
export interface HookCall {
  readonly policy: string;
  /** The cgroup the policy is attached to; null for the built-in default. */
  readonly attachedTo: string | null;
  readonly hook: HookName;
  /** The cgroup the call was about: the PSI event's, or the one that came or went. */
  readonly cgroup: string;
  /** "threw", "timeout" (past its deadline), "invalid" (returned or passed something it must not). */
  readonly outcome: HookOutcome;
  readonly durationMs: number;
  readonly error?: string;
}

/** One line for a log: the policy, where it is attached, the hook and what became of the call. */
export function describeHookCall(c: HookCall): string {
  const where = c.attachedTo === null ? "the default policy" : `attached to ${c.attachedTo}`;
  const what = c.outcome === "ok" ? "returned" : `${c.outcome}: ${c.error ?? "no detail"}`;
  return `policy ${c.policy} (${where}) ${c.hook} for ${c.cgroup} ${what} (${c.durationMs} ms)`;
}

/**
 * Calls one hook under the deadline. `problem` names anything invalid the call passed the engine
 * (checked after it returns, so a policy that catches the engine's refusal is still caught).
 */
export function callHook(link: ChainLink, hook: HookName, cgroup: string, deadlineMs: number, fn: () => unknown, problem: () => string | undefined = () => undefined, clock: Clock = systemClock): HookCall {
  const started = clock.monotonicMs();
  let fault: PolicyFault | undefined;
  try {
    callWithDeadline(() => refusePromise(fn()), deadlineMs);
    const p = problem();
    if (p !== undefined) fault = { outcome: "invalid", error: p };
  } catch (err) {
    fault = classifyFault(err, deadlineMs);
  }
  return {
    policy: link.policy.name,
    attachedTo: link.attachedTo,
    hook,
    cgroup,
    outcome: fault?.outcome ?? "ok",
    durationMs: roundMs(clock.monotonicMs() - started),
    ...(fault ? { error: fault.error } : {}),
  };
}

/**
 * Hooks are synchronous: what an async one does after returning would run without a deadline.
 * Its rejection is swallowed (an unhandled one would end the process) and the call is invalid.
 */
function refusePromise(value: unknown): void {
  if ((typeof value !== "object" || value === null) && typeof value !== "function") return;
  const then: unknown = (value as { then?: unknown }).then;
  if (typeof then !== "function") return;
  try {
    then.call(value, undefined, () => {});
  } catch {
    /* a thenable that throws from then: refused below all the same */
  }
  throw new OomkitError("E_PARSE", "returned a promise (hooks are synchronous)");
}

export interface PressureRequest {
  readonly event: PressureEvent;
  readonly snapshot: Snapshot;
  /** The declaring trigger's name and cause: the OOMs the policy declares extend them. */
  readonly trigger: string;
  readonly cause: OomCause;
}

/** An OOM a policy's handlePressure declared. */
export interface PressureDeclaration {
  readonly scope: CgroupPath;
  readonly trigger: string;
  readonly cause: OomCause;
}

export interface PressureResult {
  /** The OOMs the policy declared; none when the call failed (the caller falls back to the trigger). */
  readonly declared: readonly PressureDeclaration[];
  readonly call: HookCall;
}

/** Calls link's handlePressure with a PressureControl whose declareOom collects declarations. */
export function callPressureHook(link: ChainLink, req: PressureRequest, deadlineMs: number, rates: (c: CgroupNode) => CgroupRates, state: StateDraft): PressureResult {
  const name = link.policy.name;
  const declared: PressureDeclaration[] = [];
  let problem: string | undefined;
  let open = true;
  const pc: PressureControl = Object.freeze({
    policy: name,
    snapshot: req.snapshot,
    options: link.options,
    now: Object.freeze({ monoMs: req.snapshot.takenAtMonoMs, wallMs: req.snapshot.takenAtWallMs }),
    state,
    rates,
    declareOom(cgroup: unknown, reason: unknown): void {
      if (!open) return; // the call is over: too late to declare anything
      const scope = declaredScope(cgroup);
      const why = reason === undefined ? `declared by ${name}.handlePressure` : reason;
      const bad = typeof scope !== "string" ? scope.problem : typeof why !== "string" ? `declareOom takes a reason string, got ${kindOf(why)}` : undefined;
      if (bad !== undefined) {
        problem ??= bad;
        throw new OomkitError("E_PARSE", bad);
      }
      const trigger = `${name}.handlePressure`;
      declared.push({ scope: scope as CgroupPath, trigger, cause: { ...req.cause, kind: "pressure", trigger: `${req.trigger} → ${trigger}`, message: why as string } });
    },
  });
  const call = callHook(link, "handlePressure", req.event.cgroup, deadlineMs, () => link.policy.handlePressure?.(req.event, pc), () => problem, req.snapshot.workClock);
  open = false;
  if (call.outcome === "ok") state.commit();
  return { declared: call.outcome === "ok" ? declared : [], call };
}

function declaredScope(cgroup: unknown): CgroupPath | { problem: string } {
  const raw = typeof cgroup === "object" && cgroup !== null ? (cgroup as { path?: unknown }).path : cgroup;
  if (typeof raw !== "string") return { problem: `declareOom takes a cgroup or a cgroup path, got ${kindOf(cgroup)}` };
  try {
    return cgroupPath(raw);
  } catch (err) {
    return { problem: `declareOom: ${describeThrown(err)}` };
  }
}
