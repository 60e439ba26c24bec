/**
 * Running policy code with a deadline. A policy that loops forever synchronously cannot be
 * interrupted by a timer (the event loop never turns), by a promise race, or by try/catch.
 * Two things can stop it: terminating a worker thread, or V8's watchdog that `vm` arms for a
 * `runInContext(..., { timeout })`. The watchdog terminates whatever runs on this thread during
 * that call — including functions from the main context, such as a policy loaded as a module —
 * and turns it into an ordinary exception at the call boundary, after which the process is
 * healthy. A worker would need the snapshot copied across threads and its lazy reads redone
 * there, on every decision; the vm watchdog costs one small context per engine. So: vm.
 */
import { types } from "node:util";
import * as vm from "node:vm";
import { OomkitError } from "../errors.js";

const context = vm.createContext(Object.create(null) as object, { name: "oomkit policy deadline" });
const trampoline = new vm.Script("globalThis.__oomkitCall()", { filename: "oomkit:deadline" });

/**
 * Run when the current callWithDeadline ends, however it ends. Code inside a call that the
 * watchdog stops never reaches its own `finally` (termination runs no JavaScript on the way
 * out), so state that must not outlive the call is cleared here.
 */
const cleanups: (() => void)[] = [];

/** Runs `fn` when the current callWithDeadline ends (at once when none is running). */
export function atDeadlineEnd(fn: () => void): void {
  if (insideDeadline()) cleanups.push(fn);
  else fn();
}

/** True while a callWithDeadline is running (on this thread). */
export function insideDeadline(): boolean {
  return (context as { __oomkitCall?: unknown }).__oomkitCall !== undefined;
}

/**
 * Calls `fn` and returns its result, or throws OomkitError E_TIMEOUT when it runs longer than
 * `deadlineMs` (synchronous loops included). Errors thrown by `fn` propagate unchanged.
 * Not re-entrant: policy code cannot call it.
 */
export function callWithDeadline<T>(fn: () => T, deadlineMs: number): T {
  const g = context as { __oomkitCall?: () => void };
  if (g.__oomkitCall !== undefined) throw new OomkitError("E_INTERNAL", "callWithDeadline is not re-entrant");
  let result: { value: T } | undefined;
  g.__oomkitCall = () => {
    result = { value: fn() };
  };
  try {
    trampoline.runInContext(context, { timeout: Math.max(1, Math.ceil(deadlineMs)) });
  } catch (err) {
    if (isTimeout(err)) {
      throw new OomkitError("E_TIMEOUT", `ran past its deadline of ${deadlineMs} ms`, { cause: err });
    }
    throw err;
  } finally {
    g.__oomkitCall = undefined;
    for (const fn of cleanups.splice(0)) fn();
  }
  if (!result) throw new OomkitError("E_INTERNAL", "the deadline trampoline returned without a result");
  return result.value;
}

/**
 * The watchdog's error carries its code as an own data property. Read that way, what policy code
 * threw runs none of its own code here (a getter or a Proxy trap would run with no deadline).
 */
function isTimeout(err: unknown): boolean {
  if (typeof err !== "object" || err === null || types.isProxy(err)) return false;
  return Object.getOwnPropertyDescriptor(err, "code")?.value === "ERR_SCRIPT_EXECUTION_TIMEOUT";
}
