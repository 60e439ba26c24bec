/**
 * MemAvailable and SwapFree thresholds for the whole machine, as earlyoom has them: act when
 * both are at or below their thresholds (SwapFree ignored on a machine without swap). Polled
 * on an interval that shortens as headroom shrinks: at the fastest rate memory can fill, the
 * next read comes before the threshold can be crossed unseen.
 */
import type { TriggerSpec } from "../config/index.js";
import { parseMeminfo, type Meminfo } from "../os/parse/meminfo.js";
import { PROC_MEMINFO, type CgroupPath } from "../os/paths.js";
import { Sustain, type Watch, type WatchContext } from "./watch.js";

type ThresholdSpec = Extract<TriggerSpec, { kind: "memory-threshold" }>;
type Threshold = NonNullable<ThresholdSpec["memAvailable"]>;

/** Fastest fill rates assumed for the interval (earlyoom's figures: RAM 6000 MiB/s, swap 800 MiB/s). */
const RAM_FILL_BYTES_PER_MS = (6000 * 1024 * 1024) / 1000;
const SWAP_FILL_BYTES_PER_MS = (800 * 1024 * 1024) / 1000;
export const MIN_INTERVAL_MS = 100;
export const MAX_INTERVAL_MS = 1000;

/** A threshold in bytes: with both a percentage and a size, the lower applies. */
export function thresholdBytes(t: Threshold, totalBytes: number): number {
  const pct = t.belowPercent !== undefined ? (totalBytes * t.belowPercent) / 100 : Number.POSITIVE_INFINITY;
  const abs = t.belowBytes ?? Number.POSITIVE_INFINITY;
  return Math.min(pct, abs);
}

export interface ThresholdState {
  readonly holds: boolean;
  /** Bytes above the nearest threshold (0 when at or below): drives the polling interval. */
  readonly headroomMs: number;
  readonly figures: Record<string, number>;
}

/** Pure: does the machine meet the trigger's condition, and how soon could it? */
export function evaluateThreshold(spec: Pick<ThresholdSpec, "memAvailable" | "swapFree">, m: Meminfo): ThresholdState {
  const figures: Record<string, number> = {};
  let holds = true;
  let headroomMs = Number.POSITIVE_INFINITY;
  if (spec.memAvailable) {
    const avail = m.memAvailableBytes ?? m.memFreeBytes ?? 0;
    const limit = thresholdBytes(spec.memAvailable, m.memTotalBytes);
    figures.memAvailableBytes = avail;
    figures.memAvailableThresholdBytes = Math.floor(limit);
    figures.memAvailablePercent = Math.round((avail / m.memTotalBytes) * 10000) / 100;
    holds &&= avail <= limit;
    headroomMs = Math.min(headroomMs, Math.max(0, avail - limit) / RAM_FILL_BYTES_PER_MS);
  }
  const swapTotal = m.swapTotalBytes ?? 0;
  if (spec.swapFree) {
    if (swapTotal > 0) {
      const free = m.swapFreeBytes ?? 0;
      const limit = thresholdBytes(spec.swapFree, swapTotal);
      figures.swapFreeBytes = free;
      figures.swapFreeThresholdBytes = Math.floor(limit);
      figures.swapFreePercent = Math.round((free / swapTotal) * 10000) / 100;
      holds &&= free <= limit;
      headroomMs = Math.min(headroomMs, Math.max(0, free - limit) / SWAP_FILL_BYTES_PER_MS);
    } else if (!spec.memAvailable) {
      holds = false; // only a swap condition, and no swap: never
    }
  }
  return { holds, headroomMs, figures };
}

/** What a fresh read shows once the condition cleared: the figures above their thresholds. */
export function describeHeadroom(f: Readonly<Record<string, number>>): string {
  const above: string[] = [];
  if (f.memAvailableBytes !== undefined && f.memAvailableThresholdBytes !== undefined && f.memAvailableBytes > f.memAvailableThresholdBytes) {
    above.push(`MemAvailable ${f.memAvailableBytes} bytes (${f.memAvailablePercent} %) is above ${f.memAvailableThresholdBytes}`);
  }
  if (f.swapFreeBytes !== undefined && f.swapFreeThresholdBytes !== undefined && f.swapFreeBytes > f.swapFreeThresholdBytes) {
    above.push(`SwapFree ${f.swapFreeBytes} bytes (${f.swapFreePercent} %) is above ${f.swapFreeThresholdBytes}`);
  }
  return above.length > 0 ? above.join(" and ") : "no longer at or below the thresholds";
}

/** How soon to poll again: sooner as headroom shrinks, at most MAX_INTERVAL_MS (also when meminfo cannot be read). */
function intervalFor(s: ThresholdState | undefined): number {
  return s === undefined ? MAX_INTERVAL_MS : Math.min(MAX_INTERVAL_MS, Math.max(MIN_INTERVAL_MS, Math.floor(s.headroomMs)));
}

export class ThresholdWatch implements Watch {
  readonly target: CgroupPath;
  readonly #ctx: WatchContext;
  readonly #sustain: Sustain;
  /** When the next poll is due (monotonic ms): set by each tick, and by a poll made in due(). */
  #nextAtMs = Number.NEGATIVE_INFINITY;

  constructor(
    readonly spec: ThresholdSpec,
    target: CgroupPath,
    ctx: WatchContext,
  ) {
    this.target = target;
    this.#ctx = ctx;
    this.#sustain = new Sustain(spec.sustainedMs);
  }

  async start(): Promise<void> {}
  async stop(): Promise<void> {}

  #state(): ThresholdState | undefined {
    try {
      return evaluateThreshold(this.spec, parseMeminfo(this.#ctx.host.readFile(PROC_MEMINFO)));
    } catch (err) {
      this.#ctx.once(`meminfo:${(err as Error).message}`, "warn", `${this.spec.name}: /proc/meminfo unreadable (${(err as Error).message})`);
      return undefined;
    }
  }

  due(nowMs: number): boolean {
    if (nowMs < this.#nextAtMs) return false;
    const s = this.#state();
    this.#nextAtMs = nowMs + intervalFor(s);
    return s !== undefined && this.#sustain.peek(s.holds, nowMs);
  }

  tick(nowMs: number): number {
    const s = this.#state();
    const interval = intervalFor(s);
    this.#nextAtMs = nowMs + interval;
    if (!s) return interval;
    if (this.#sustain.update(s.holds, nowMs)) {
      this.#ctx.declare({
        scope: this.target,
        trigger: this.spec.name,
        cause: {
          kind: "system",
          trigger: this.spec.name,
          message: `available memory${this.spec.swapFree ? " and free swap" : ""} at or below the threshold`,
          figures: { ...s.figures, ...(this.spec.sustainedMs !== undefined ? { sustainedMs: nowMs - (this.#sustain.sinceMs ?? nowMs) } : {}) },
          signalAtMonoMs: this.#sustain.sinceMs ?? nowMs,
        },
        // Right before acting, on a fresh read: still at or below?
        cleared: () => {
          const again = this.#state();
          if (!again) return "/proc/meminfo can no longer be read";
          return again.holds ? undefined : describeHeadroom(again.figures);
        },
      });
    }
    return interval;
  }

  describe(): string {
    return `${this.spec.name} on the machine (MemAvailable/SwapFree, polled every ${MIN_INTERVAL_MS}-${MAX_INTERVAL_MS} ms${this.spec.sustainedMs ? `, sustained ${this.spec.sustainedMs} ms` : ""})`;
  }
}
