/**
 * Virtual time for the daemon: a Scheduler (src/os/scheduler.ts) whose timers fire when the
 * simulation's clock reaches them, in order of time and then of setting, never waiting for the
 * wall clock. `runUntil` is the only thing that moves time forward between timers; work done
 * inside a timer may move it too (SimHost charges its reads), and timers it overtook fire late,
 * at the moment the work ended, as they would on a busy machine.
 */
import { OomkitError } from "../errors.js";
import { ManualClock } from "../os/host.js";
import type { Scheduler, TimerHandle } from "../os/scheduler.js";

interface Timer {
  readonly atMs: number;
  readonly seq: number;
  readonly fn: () => void;
  cancelled: boolean;
}

/**
 * Real event-loop turns given to promise chains after each timer: the daemon's work between two
 * virtual timers is synchronous or chained on promises, plus one real turn the engine yields
 * between policies when deciding ahead. Four turns cover that with room to spare.
 */
const SETTLE_TURNS = 4;

export class VirtualScheduler implements Scheduler {
  readonly clock: ManualClock;
  #timers: Timer[] = [];
  #seq = 0;
  /** Timers fired so far (for tests and the benchmark). */
  fired = 0;

  constructor(clock: ManualClock = new ManualClock(0)) {
    this.clock = clock;
  }

  after(ms: number, fn: () => void): TimerHandle {
    const t: Timer = { atMs: this.clock.monotonicMs() + Math.max(0, ms), seq: this.#seq++, fn, cancelled: false };
    // Kept sorted by (atMs, seq): a binary search for the insertion point.
    let lo = 0;
    let hi = this.#timers.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const m = this.#timers[mid] as Timer;
      if (m.atMs < t.atMs || (m.atMs === t.atMs && m.seq < t.seq)) lo = mid + 1;
      else hi = mid;
    }
    this.#timers.splice(lo, 0, t);
    return { cancel: () => void (t.cancelled = true) };
  }

  /** Timers waiting (cancelled ones excluded). */
  get pending(): number {
    return this.#timers.filter((t) => !t.cancelled).length;
  }

  /**
   * Fires every timer due by `untilMs`, each at its time (or now, when work already ran past it),
   * letting the promise chains it starts settle before the next; then the clock reads `untilMs`
   * (or later, when work ran past it).
   */
  async runUntil(untilMs: number): Promise<void> {
    if (!(untilMs >= this.clock.monotonicMs())) throw new OomkitError("E_INTERNAL", `virtual time cannot go back (${this.clock.monotonicMs()} → ${untilMs} ms)`);
    for (;;) {
      const next = this.#timers[0];
      if (next === undefined || next.atMs > untilMs) break;
      this.#timers.shift();
      if (next.cancelled) continue;
      const now = this.clock.monotonicMs();
      if (next.atMs > now) this.clock.advance(next.atMs - now);
      this.fired++;
      next.fn();
      await settle();
    }
    const now = this.clock.monotonicMs();
    if (untilMs > now) this.clock.advance(untilMs - now);
    await settle();
  }
}

/**
 * Up to SETTLE_TURNS real turns, ending early at a turn after which nothing can run: the turns
 * left would only spin the event loop (a turn costs a few µs, and most timers — the machine's
 * steps, the samples — start no work at all: three of every four turns of a run were empty).
 */
async function settle(): Promise<void> {
  for (let i = 0; i < SETTLE_TURNS; i++) {
    if (await new Promise<boolean>((r) => setImmediate(() => r(quiet())))) return;
  }
}

/**
 * Asked from inside an immediate: no other immediate waits (an engine's or a decision's turn),
 * and no timer or request of the real event loop is pending whose callback a turn could run.
 * Microtasks and nextTicks have run by then (Node drains them before each immediate), so
 * nothing more can run before the next virtual timer, however many turns are given.
 */
export function quiet(): boolean {
  for (const r of process.getActiveResourcesInfo()) if (r === "Immediate" || r === "Timeout" || r.startsWith("FSReq")) return false;
  return true;
}
