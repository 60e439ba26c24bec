/**
 * A PSI trigger on a cgroup's memory.pressure or /proc/pressure/memory. The kernel measures the
 * stall within the trigger's own window and wakes us with POLLPRI (one poll thread for every
 * fd; the Host's waits, so a simulation fires it in virtual time). Where the kernel refuses the trigger (no CAP_SYS_RESOURCE and a window it will not take,
 * no per-cgroup PSI, a fixture without fds), the same condition is computed from the pressure
 * file's `total` counter read on an interval — coarser, and said once. A trigger whose cgroup was
 * removed reports POLLERR for ever: the watch ends.
 */
import { OomkitError } from "../errors.js";
import type { PsiTriggerHandle as KernelTrigger } from "../os/host.js";
import { sleep } from "../os/scheduler.js";
import { parsePressure, type Pressure } from "../os/parse/psi.js";
import { CgroupFile, type CgroupPath, cgroupDir, procPressure } from "../os/paths.js";
import type { TriggerSpec } from "../config/index.js";
import { Sustain, type Watch, type WatchContext } from "./watch.js";

type PsiSpec = Extract<TriggerSpec, { kind: "psi" }>;

/**
 * Within this long of the kernel's (or the fallback's) word, a declaration is taken as still
 * true: the stall counter moves in µs, but over a few ms it says little either way.
 */
const RECHECK_TRUST_MS = 50;

/**
 * Whether a stall that fired at `firedAtMs` with `firedTotalUsec` still holds at `nowMs` with
 * `nowTotalUsec`: since the signal, stall must have kept accruing at least at the trigger's own
 * rate (threshold per window). A kill that relieved the pressure, or a burst that ended, stops it.
 */
export function stallStillHolds(
  spec: { readonly thresholdUsec: number; readonly windowUsec: number },
  fired: { readonly atMs: number; readonly totalUsec: number },
  now: { readonly atMs: number; readonly totalUsec: number },
): boolean {
  const elapsedMs = now.atMs - fired.atMs;
  if (elapsedMs < RECHECK_TRUST_MS) return true;
  const stalledUsec = now.totalUsec - fired.totalUsec;
  return stalledUsec * spec.windowUsec >= spec.thresholdUsec * elapsedMs * 1000;
}

/** How often the fallback reads the pressure file: a quarter window, at least 100 ms. */
const fallbackInterval = (windowUsec: number) => Math.max(100, Math.floor(windowUsec / 4000));

export class PsiWatch implements Watch {
  readonly #ctx: WatchContext;
  readonly #file: string;
  readonly #sustain: Sustain;
  #trigger: KernelTrigger | undefined;
  #abort = new AbortController();
  #mode: "kernel" | "polling" | "stopped" = "stopped";
  /** Fallback state: (time, total) samples covering one window. */
  #samples: { atMs: number; totalUsec: number }[] = [];
  #lastFireMs = Number.NEGATIVE_INFINITY;

  constructor(
    readonly spec: PsiSpec,
    readonly target: CgroupPath,
    ctx: WatchContext,
  ) {
    this.#ctx = ctx;
    this.#sustain = new Sustain(spec.sustainedMs);
    const mount = ctx.mode.unifiedMount;
    this.#file = target === "/" || mount === undefined ? procPressure("memory") : `${cgroupDir(mount, target)}/${CgroupFile.memoryPressure}`;
  }

  async start(): Promise<void> {
    const waits = this.#ctx.host.waits;
    if (waits) {
      try {
        this.#trigger = waits.psiTrigger(this.#file, { kind: this.spec.stall, stallUsec: this.spec.thresholdUsec, windowUsec: this.spec.windowUsec });
        this.#mode = "kernel";
        void this.#loop(this.#trigger);
        return;
      } catch (err) {
        if (!(err instanceof OomkitError)) throw err;
        this.#ctx.once(`psi-fallback:${this.spec.name}:${err.code}`, "warn", `${this.spec.name} on ${this.#file}: ${err.message}; reading the pressure totals every ${fallbackInterval(this.spec.windowUsec)} ms instead`);
      }
    }
    this.#mode = "polling";
  }

  async #loop(trigger: KernelTrigger): Promise<void> {
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      let outcome;
      try {
        outcome = await trigger.wait(-1, signal);
      } catch (err) {
        if (err instanceof OomkitError && err.code === "E_VANISHED") {
          this.#ctx.log.debug(`ignoring ${this.#file}: its cgroup was removed; dropping ${this.spec.name}`);
          this.#mode = "stopped";
          trigger.close();
          return;
        }
        this.#ctx.log.error(`${this.spec.name} on ${this.#file}: ${(err as Error).message}`);
        return;
      }
      if (outcome === "fired" && !signal.aborted) this.#fired(this.#ctx.clock.monotonicMs());
    }
  }

  #read(): Pressure | undefined {
    try {
      return parsePressure(this.#ctx.host.readFile(this.#file));
    } catch {
      return undefined;
    }
  }

  /** The kernel (or the fallback) saw the stall exceed the threshold within the window. */
  #fired(nowMs: number): void {
    this.#lastFireMs = nowMs;
    if (!this.#sustain.update(true, nowMs)) return;
    const p = this.#read();
    const line = this.spec.stall === "full" ? p?.full : p?.some;
    const fired = line ? { atMs: nowMs, totalUsec: line.totalUsec } : undefined;
    this.#ctx.declare({
      scope: this.target,
      trigger: this.spec.name,
      // Right before acting: the stall must still be accruing at the trigger's rate. Unreadable
      // now (the cgroup went away) drops it; unreadable when it fired leaves the kernel's word.
      cleared: () => {
        if (!fired) return undefined;
        const again = this.#read();
        const l = this.spec.stall === "full" ? again?.full : again?.some;
        if (l === undefined) return `${this.#file} can no longer be read`;
        const now = { atMs: this.#ctx.clock.monotonicMs(), totalUsec: l.totalUsec };
        if (stallStillHolds(this.spec, fired, now)) return undefined;
        const ms = (usec: number) => Math.round(usec / 100) / 10;
        return `${this.spec.stall} stall since the signal ${ms(now.totalUsec - fired.totalUsec)} ms in ${Math.round(now.atMs - fired.atMs)} ms, below the trigger's ${ms(this.spec.thresholdUsec)} ms per ${ms(this.spec.windowUsec)} ms`;
      },
      cause: {
        kind: "pressure",
        trigger: this.spec.name,
        message: `${this.spec.stall} memory stall over ${this.spec.thresholdUsec / 1000} ms within ${this.spec.windowUsec / 1000} ms in ${this.target === "/" ? "the machine" : this.target}`,
        figures: {
          stall: this.spec.stall,
          thresholdUsec: this.spec.thresholdUsec,
          windowUsec: this.spec.windowUsec,
          source: this.#mode,
          ...(line ? { avg10: line.avg10, totalUsec: line.totalUsec } : {}),
          ...(this.spec.sustainedMs !== undefined ? { sustainedMs: nowMs - (this.#sustain.sinceMs ?? nowMs) } : {}),
        },
        signalAtMonoMs: nowMs,
      },
      pressureEvent: {
        cgroup: this.target,
        resource: "memory",
        stall: this.spec.stall,
        stallUsec: this.spec.thresholdUsec,
        windowUsec: this.spec.windowUsec,
        pressure: p,
        atMonoMs: nowMs,
      },
    });
  }

  tick(nowMs: number): number {
    const windowMs = this.spec.windowUsec / 1000;
    // A sustained condition lapses when the trigger has been quiet for two windows.
    if (nowMs - this.#lastFireMs > 2 * windowMs) this.#sustain.reset();
    if (this.#mode !== "polling") return 1000;
    const p = this.#read();
    const line = this.spec.stall === "full" ? p?.full : p?.some;
    if (!line) return fallbackInterval(this.spec.windowUsec);
    this.#samples.push({ atMs: nowMs, totalUsec: line.totalUsec });
    while (this.#samples.length > 1 && nowMs - (this.#samples[1]?.atMs ?? nowMs) >= windowMs) this.#samples.shift();
    const first = this.#samples[0];
    // Like the kernel, fire at most once per window.
    if (first && first.atMs < nowMs && line.totalUsec - first.totalUsec >= this.spec.thresholdUsec && nowMs - this.#lastFireMs >= windowMs) {
      this.#fired(nowMs);
    }
    return fallbackInterval(this.spec.windowUsec);
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    this.#abort = new AbortController();
    // The poll thread hands the fd back once the wait is cancelled; close after that turn.
    await sleep(this.#ctx.scheduler, 0);
    this.#trigger?.close();
    this.#trigger = undefined;
    this.#mode = "stopped";
  }

  describe(): string {
    return `${this.spec.name} on ${this.#file} (${this.#mode === "kernel" ? "kernel trigger" : this.#mode === "polling" ? "polling the totals" : "stopped"}${this.spec.sustainedMs ? `, sustained ${this.spec.sustainedMs} ms` : ""})`;
  }

  get mode(): "kernel" | "polling" | "stopped" {
    return this.#mode;
  }
}
