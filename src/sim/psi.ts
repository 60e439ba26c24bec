/**
 * Pressure stall information for one group (a cgroup, or the machine), as kernel/sched/psi.c
 * keeps it: total stall time in µs for `some` and `full`, running averages over 10, 60 and 300 s
 * updated every 2 s by exponential decay, and triggers that fire when stall grows by a threshold
 * within a sliding window.
 *
 * The model hands each group, per step, the share of the step in which some task (and every
 * task) of the group was stalled; this module turns those shares into what the kernel shows.
 */
import { OomkitError } from "../errors.js";

/** The kernel's averaging period (PSI_FREQ, 2 s; the kernel adds a jiffy, not modelled). */
export const PSI_PERIOD_MS = 2000;
/** Decay per period of the 10, 60 and 300 s averages: exp(-2 s / horizon). */
const DECAY = [Math.exp(-2 / 10), Math.exp(-2 / 60), Math.exp(-2 / 300)] as const;
/** The kernel's trigger window limits (WINDOW_MIN_US, WINDOW_MAX_US). */
export const TRIGGER_WINDOW_MIN_US = 500_000;
export const TRIGGER_WINDOW_MAX_US = 10_000_000;

export type StallKind = "some" | "full";

interface Line {
  totalUs: number;
  /** totalUs at the last averaging update. */
  avgTotalUs: number;
  avg: [number, number, number];
}

/** One registered trigger; `fired` counts its events, `onFire` hears each. */
export interface SimPsiTrigger {
  readonly kind: StallKind;
  readonly stallUs: number;
  readonly windowUs: number;
  readonly fired: number;
  /** Virtual time (ms) of the last event, or undefined. */
  readonly lastFiredMs: number | undefined;
  onFire: ((atMs: number) => void) | undefined;
  close(): void;
}

class Trigger implements SimPsiTrigger {
  fired = 0;
  lastFiredMs: number | undefined;
  onFire: ((atMs: number) => void) | undefined;
  closed = false;
  winStartMs: number;
  winStartUs: number;
  prevGrowthUs = 0;
  /** Total at the last check: no new stall, no check (the kernel polls only on stall activity). */
  lastSeenUs: number;
  constructor(readonly kind: StallKind, readonly stallUs: number, readonly windowUs: number, nowMs: number, totalUs: number) {
    this.winStartMs = nowMs;
    this.winStartUs = totalUs;
    this.lastSeenUs = totalUs;
  }
  close(): void {
    this.closed = true;
  }
  /**
   * The kernel's window_update: growth since the window began, plus the previous window's growth
   * weighted by the share of it still inside the sliding window; a window that ran its length
   * starts afresh, carrying its growth as the previous one.
   */
  check(nowMs: number, totalUs: number): void {
    if (this.closed || totalUs === this.lastSeenUs) return;
    this.lastSeenUs = totalUs;
    const elapsedUs = (nowMs - this.winStartMs) * 1000;
    let growth = totalUs - this.winStartUs;
    if (elapsedUs > this.windowUs) {
      this.winStartMs = nowMs;
      this.winStartUs = totalUs;
      this.prevGrowthUs = growth;
    } else {
      growth += (this.prevGrowthUs * (this.windowUs - elapsedUs)) / this.windowUs;
    }
    if (growth < this.stallUs) return;
    // At most one event per window.
    if (this.lastFiredMs !== undefined && nowMs < this.lastFiredMs + this.windowUs / 1000) return;
    this.fired++;
    this.lastFiredMs = nowMs;
    this.onFire?.(nowMs);
  }
}

export class PsiGroup {
  readonly #lines: Record<StallKind, Line> = { some: newLine(), full: newLine() };
  #nextAvgMs: number;
  readonly #triggers: Trigger[] = [];

  constructor(nowMs: number) {
    this.#nextAvgMs = nowMs + PSI_PERIOD_MS;
  }

  /** Adds a step of `dtMs` in which shares `some` and `full` (0..1) of the time were stalled. */
  account(some: number, full: number, dtMs: number): void {
    this.#lines.some.totalUs += clamp01(some) * dtMs * 1000;
    this.#lines.full.totalUs += clamp01(Math.min(full, some)) * dtMs * 1000;
  }

  /** Runs the averaging periods that ended by `nowMs`, then the triggers. Call once per step. */
  tick(nowMs: number): void {
    while (nowMs >= this.#nextAvgMs) {
      for (const line of Object.values(this.#lines)) {
        // A sample beyond the period is punted to the next (the kernel does the same).
        const sampleUs = Math.min(line.totalUs - line.avgTotalUs, PSI_PERIOD_MS * 1000);
        line.avgTotalUs += sampleUs;
        const pct = (sampleUs / (PSI_PERIOD_MS * 1000)) * 100;
        for (let i = 0; i < 3; i++) line.avg[i] = (line.avg[i] as number) * (DECAY[i] as number) + pct * (1 - (DECAY[i] as number));
      }
      this.#nextAvgMs += PSI_PERIOD_MS;
    }
    for (const t of this.#triggers) t.check(nowMs, this.#lines[t.kind].totalUs);
  }

  totalUs(kind: StallKind): number {
    return this.#lines[kind].totalUs;
  }

  /** avg10, avg60, avg300 in percent. */
  averages(kind: StallKind): readonly [number, number, number] {
    return this.#lines[kind].avg;
  }

  /** Registers a trigger, refusing what the kernel refuses (EINVAL) with the same limits. */
  addTrigger(kind: StallKind, stallUs: number, windowUs: number, nowMs: number): SimPsiTrigger {
    if (!Number.isInteger(windowUs) || windowUs < TRIGGER_WINDOW_MIN_US || windowUs > TRIGGER_WINDOW_MAX_US) {
      throw new OomkitError("E_CONFIG", `PSI trigger window ${windowUs} µs: must be ${TRIGGER_WINDOW_MIN_US}..${TRIGGER_WINDOW_MAX_US} µs (EINVAL)`);
    }
    if (!Number.isInteger(stallUs) || stallUs <= 0 || stallUs > windowUs) {
      throw new OomkitError("E_CONFIG", `PSI trigger stall ${stallUs} µs: must be 1..window (EINVAL)`);
    }
    const t = new Trigger(kind, stallUs, windowUs, nowMs, this.#lines[kind].totalUs);
    this.#triggers.push(t);
    return t;
  }

  /** The text of a `*.pressure` file: two decimals for averages, whole µs for totals. */
  render(): string {
    const line = (kind: StallKind) => {
      const l = this.#lines[kind];
      return `${kind} avg10=${l.avg[0].toFixed(2)} avg60=${l.avg[1].toFixed(2)} avg300=${l.avg[2].toFixed(2)} total=${Math.floor(l.totalUs)}\n`;
    };
    return line("some") + line("full");
  }
}

function newLine(): Line {
  return { totalUs: 0, avgTotalUs: 0, avg: [0, 0, 0] };
}

function clamp01(x: number): number {
  return x <= 0 ? 0 : x >= 1 ? 1 : x;
}

/**
 * Per step, the shares of time in which at least one task (`some`) and all tasks (`full`) of a
 * group stalled, from each non-idle task's stalled share, taking the tasks' stalls as
 * independent within the step: some = 1 − Π(1 − sᵢ), full = Π sᵢ. Kept as products so a parent
 * combines its children's without visiting their tasks again.
 */
export interface StallProducts {
  /** Π(1 − sᵢ) over the group's running tasks. */
  notStalled: number;
  /** Π sᵢ. */
  allStalled: number;
  /** Running tasks counted. */
  tasks: number;
}

export function shares(p: StallProducts): { some: number; full: number } {
  if (p.tasks === 0) return { some: 0, full: 0 };
  return { some: 1 - p.notStalled, full: p.allStalled };
}
