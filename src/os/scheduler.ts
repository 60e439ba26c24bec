/**
 * The scheduler: how the daemon waits. Every timer it sets goes through one, with the clock it
 * reads, so the same code runs on the event loop's real timers (systemScheduler, the default) or
 * in virtual time (the simulator's VirtualScheduler, src/sim/scheduler.ts), where a timer fires
 * when virtual time reaches it and nothing waits for the wall clock.
 */
import { type AbortSignalLike, type Clock, systemClock } from "./host.js";

export interface TimerHandle {
  /** Stops the timer; a no-op once it fired. */
  cancel(): void;
}

export interface Scheduler {
  readonly clock: Clock;
  /**
   * Runs `fn` once `ms` have passed on this scheduler's clock (0: after the current turn).
   * `background`: the timer alone does not keep a live process running (unref).
   */
  after(ms: number, fn: () => void, opts?: { readonly background?: boolean }): TimerHandle;
}

/** Resolves after `ms` on the scheduler's clock; early (without error) when `signal` aborts. */
export function sleep(s: Scheduler, ms: number, signal?: AbortSignalLike): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = () => {
      t.cancel();
      resolve();
    };
    const t = s.after(ms, () => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    });
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** The event loop's own timers and the system clock. */
export const systemScheduler: Scheduler = {
  clock: systemClock,
  after(ms, fn, opts) {
    if (ms <= 0) {
      const i = setImmediate(fn);
      if (opts?.background) i.unref();
      return { cancel: () => clearImmediate(i) };
    }
    const t = setTimeout(fn, ms);
    if (opts?.background) t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};
