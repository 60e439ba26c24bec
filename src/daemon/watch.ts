/**
 * Watches: one configured trigger on one target (the machine, or one cgroup), turning raw
 * signals into declarations "out of memory in S because C". The daemon creates and stops them
 * as cgroups come and go, ticks the polling ones, and decides what a declaration leads to.
 */
import type { TriggerSpec } from "../config/index.js";
import type { Logger } from "../log.js";
import type { CgroupMode } from "../os/cgroup-mode.js";
import type { Clock, Host } from "../os/host.js";
import type { Scheduler } from "../os/scheduler.js";
import type { CgroupPath } from "../os/paths.js";
import type { OomCause, PressureEvent } from "../engine/policy.js";

export interface Declaration {
  readonly scope: CgroupPath;
  readonly cause: OomCause;
  /** The trigger's name (for rate-limit and "said once" bookkeeping). */
  readonly trigger: string;
  /**
   * Re-reads the trigger's condition: undefined while it holds, else what is seen now instead
   * (one phrase, with the figures). Asked before deciding and again right before acting; a
   * cleared condition drops the declaration, or the plan. A manual OOM has none.
   */
  readonly cleared?: () => string | undefined;
  /** Set for PSI events: policies' handlePressure see them first. */
  readonly pressureEvent?: PressureEvent;
}

export interface WatchContext {
  readonly host: Host;
  readonly clock: Clock;
  readonly log: Logger;
  readonly mode: CgroupMode;
  /** The daemon's timers (real, or virtual in the simulator). */
  readonly scheduler: Scheduler;
  declare(d: Declaration): void;
  /** Asks the daemon to tick this watch soon (an inotify event, a fired trigger). */
  wake(): void;
  /** Says a line once per key for the daemon's life (fallbacks, refusals). */
  once(key: string, level: "info" | "warn", message: string): void;
}

export interface Watch {
  readonly spec: TriggerSpec;
  /** "/" for the machine. */
  readonly target: CgroupPath;
  start(): Promise<void>;
  /** Polling work; returns how soon (ms) it wants the next tick. */
  tick(nowMs: number): number;
  /**
   * For a polled trigger: whether a tick now would declare an OOM. Asked while the daemon's
   * thread is deciding ahead (at each read of a run that may be stopped, and between its
   * policies), where no tick can run: a poll that is due is made here, and nothing is read
   * before it is due. True stops the run, and the next tick declares.
   */
  due?(nowMs: number): boolean;
  stop(): Promise<void>;
  /** One line for "what it watches". */
  describe(): string;
}

/** Sustained conditions: "above X for D", with the injected clock. */
export class Sustain {
  #since: number | undefined;
  constructor(readonly forMs: number | undefined) {}
  /** Feeds whether the condition holds now; true once it has held for forMs (at once without forMs). */
  update(holds: boolean, nowMs: number): boolean {
    if (!holds) {
      this.#since = undefined;
      return false;
    }
    this.#since ??= nowMs;
    return this.forMs === undefined || nowMs - this.#since >= this.forMs;
  }
  /** What update(holds, nowMs) would return, changing nothing. */
  peek(holds: boolean, nowMs: number): boolean {
    if (!holds) return false;
    return this.forMs === undefined || nowMs - (this.#since ?? nowMs) >= this.forMs;
  }
  reset(): void {
    this.#since = undefined;
  }
  get sinceMs(): number | undefined {
    return this.#since;
  }
}
