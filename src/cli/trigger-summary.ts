/**
 * A configured trigger as `oomkit check` shows it: where it watches, and the thresholds it fires
 * at, as data (for --json) and as one line for people. Reads the compiled trigger only, so what
 * is shown is what the daemon arms.
 */
import type { MemoryThreshold, TriggerSpec, TriggerWhere } from "../config/compile.js";
import { formatBytes } from "./format.js";

/** At or below `belowPercent` of the total and/or `belowBytes`; with both, the lower applies. */
export interface ThresholdSummary {
  readonly belowPercent: number | null;
  readonly belowBytes: number | null;
}

/** What fires the trigger, by kind (the same discriminant as the trigger's `kind`). */
export type TriggerThresholds =
  | { readonly kind: "psi"; readonly stall: "some" | "full"; readonly thresholdMs: number; readonly windowMs: number }
  | { readonly kind: "memory-threshold"; readonly memAvailable: ThresholdSummary | null; readonly swapFree: ThresholdSummary | null }
  | { readonly kind: "memory-events"; readonly events: readonly string[] }
  | { readonly kind: "guard-band"; readonly marginBytes: number | null; readonly marginPercent: number | null };

export interface TriggerSummary {
  readonly name: string;
  readonly kind: TriggerSpec["kind"];
  /** "/" for the machine, a cgroup path, or a pattern as configured. */
  readonly cgroup: string;
  readonly thresholds: TriggerThresholds;
  /** The condition must hold this long before oomkit acts (psi and memory thresholds only). */
  readonly sustainedMs: number | null;
  /** The thresholds in words: "full stall ≥ 200 ms within 2000 ms, for 500 ms". */
  readonly text: string;
}

const whereText = (w: TriggerWhere): string => (w.kind === "machine" ? "/" : w.kind === "cgroup" ? w.path : w.glob);

const threshold = (t: MemoryThreshold | undefined): ThresholdSummary | null =>
  t === undefined ? null : { belowPercent: t.belowPercent ?? null, belowBytes: t.belowBytes ?? null };

function thresholdsOf(t: TriggerSpec): TriggerThresholds {
  switch (t.kind) {
    case "psi":
      return { kind: "psi", stall: t.stall, thresholdMs: t.thresholdUsec / 1000, windowMs: t.windowUsec / 1000 };
    case "memory-threshold":
      return { kind: "memory-threshold", memAvailable: threshold(t.memAvailable), swapFree: threshold(t.swapFree) };
    case "memory-events":
      return { kind: "memory-events", events: [...t.events] };
    case "guard-band":
      return { kind: "guard-band", marginBytes: "bytes" in t.margin ? t.margin.bytes : null, marginPercent: "percent" in t.margin ? t.margin.percent : null };
    default: {
      const never: never = t;
      return never;
    }
  }
}

function belowText(what: string, total: string, t: ThresholdSummary): string {
  const parts = [t.belowPercent === null ? undefined : `${t.belowPercent}% of ${total}`, t.belowBytes === null ? undefined : formatBytes(t.belowBytes)].filter((x) => x !== undefined);
  return `${what} ≤ ${parts.join(" and ≤ ")}${parts.length > 1 ? " (the lower applies)" : ""}`;
}

function thresholdsText(th: TriggerThresholds): string {
  switch (th.kind) {
    case "psi":
      return `${th.stall} stall ≥ ${th.thresholdMs} ms within ${th.windowMs} ms`;
    case "memory-threshold": {
      const conds = [th.memAvailable && belowText("MemAvailable", "MemTotal", th.memAvailable), th.swapFree && belowText("SwapFree", "SwapTotal", th.swapFree)].filter((x) => !!x);
      return conds.join(" and ");
    }
    case "memory-events":
      return `memory.events ${th.events.join(" or ")} rises`;
    case "guard-band":
      return `memory.high ${th.marginBytes !== null ? formatBytes(th.marginBytes) : `${th.marginPercent}% of memory.max`} below memory.max; fires when memory.events high rises`;
    default: {
      const never: never = th;
      return never;
    }
  }
}

export function summarizeTrigger(t: TriggerSpec): TriggerSummary {
  const thresholds = thresholdsOf(t);
  const sustainedMs = t.kind === "psi" || t.kind === "memory-threshold" ? (t.sustainedMs ?? null) : null;
  const text = `${thresholdsText(thresholds)}${sustainedMs === null ? "" : `, for ${sustainedMs} ms`}`;
  return { name: t.name, kind: t.kind, cgroup: whereText(t.where), thresholds, sustainedMs, text };
}
