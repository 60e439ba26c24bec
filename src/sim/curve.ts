/**
 * How much anonymous memory a simulated task wants at a given moment of its life: the "described
 * curve" of a workload. A curve is plain data (a scenario file will hold it) and its value is a
 * pure function of the task's age and the run's seed, so the model can ask it at any step.
 *
 * The curve is what the task *wants*; what it holds is what the model grants (throttling,
 * reclaim and OOM can hold it back). A throttled leak therefore catches up once released.
 */
import { OomkitError } from "../errors.js";
import { unitHash } from "./rng.js";

export type MemoryCurve =
  /** A constant footprint. */
  | { readonly kind: "steady"; readonly bytes: number }
  /** Grows at a constant rate from `startBytes`, up to `capBytes` (unbounded when absent). */
  | { readonly kind: "leak"; readonly startBytes: number; readonly bytesPerSec: number; readonly capBytes?: number }
  /** Jumps to each step's size once the task is `afterMs` old (steps sorted by time). */
  | { readonly kind: "steps"; readonly startBytes: number; readonly steps: readonly { readonly afterMs: number; readonly bytes: number }[] }
  /**
   * `baseBytes`, plus `burstBytes` for `lengthMs` once per `everyMs`; each burst starts up to
   * `jitter` × everyMs late (0..1), drawn from the seed.
   */
  | { readonly kind: "bursts"; readonly baseBytes: number; readonly burstBytes: number; readonly everyMs: number; readonly lengthMs: number; readonly jitter: number };

/** The wanted footprint in bytes at `ageMs` (≥ 0) for a task whose stream seed is `seed`. */
export function curveBytes(curve: MemoryCurve, ageMs: number, seed: number): number {
  switch (curve.kind) {
    case "steady":
      return curve.bytes;
    case "leak": {
      const grown = curve.startBytes + (curve.bytesPerSec * ageMs) / 1000;
      return curve.capBytes === undefined ? grown : Math.min(grown, curve.capBytes);
    }
    case "steps": {
      let bytes = curve.startBytes;
      for (const s of curve.steps) if (ageMs >= s.afterMs) bytes = s.bytes;
      return bytes;
    }
    case "bursts": {
      const k = Math.floor(ageMs / curve.everyMs);
      // The burst of this period, or the one before it if that one started late and still runs.
      return inBurst(curve, ageMs, seed, k) || (k > 0 && inBurst(curve, ageMs, seed, k - 1)) ? curve.baseBytes + curve.burstBytes : curve.baseBytes;
    }
    default: {
      const never: never = curve;
      throw new OomkitError("E_INTERNAL", `unknown curve ${JSON.stringify(never)}`);
    }
  }
}

/** Whether the burst of `period` (≥ 0) runs at `ageMs`. */
function inBurst(curve: Extract<MemoryCurve, { kind: "bursts" }>, ageMs: number, seed: number, period: number): boolean {
  const start = period * curve.everyMs + curve.jitter * curve.everyMs * unitHash(seed, period);
  return ageMs >= start && ageMs < start + curve.lengthMs;
}

/** Throws E_CONFIG, naming the field, when a curve's figures cannot describe memory. */
export function checkCurve(curve: MemoryCurve, where: string): void {
  const bad = (field: string, why: string): never => {
    throw new OomkitError("E_CONFIG", `${where}: curve ${curve.kind}: ${field} ${why}`);
  };
  const bytes = (field: string, v: number) => {
    if (!Number.isFinite(v) || v < 0) bad(field, `must be a finite number of bytes ≥ 0 (got ${v})`);
  };
  switch (curve.kind) {
    case "steady":
      return bytes("bytes", curve.bytes);
    case "leak":
      bytes("startBytes", curve.startBytes);
      if (!Number.isFinite(curve.bytesPerSec)) bad("bytesPerSec", "must be finite");
      if (curve.capBytes !== undefined) bytes("capBytes", curve.capBytes);
      return;
    case "steps":
      bytes("startBytes", curve.startBytes);
      curve.steps.forEach((s, i) => {
        bytes(`steps[${i}].bytes`, s.bytes);
        if (!(s.afterMs >= 0) || (i > 0 && s.afterMs < (curve.steps[i - 1]?.afterMs ?? 0))) bad(`steps[${i}].afterMs`, "must be ≥ 0 and sorted");
      });
      return;
    case "bursts":
      bytes("baseBytes", curve.baseBytes);
      bytes("burstBytes", curve.burstBytes);
      if (!(curve.everyMs > 0) || !Number.isFinite(curve.everyMs)) bad("everyMs", "must be > 0");
      if (!(curve.lengthMs >= 0) || curve.lengthMs > curve.everyMs) bad("lengthMs", "must be 0..everyMs");
      if (!(curve.jitter >= 0 && curve.jitter <= 1)) bad("jitter", "must be 0..1");
      return;
    default: {
      const never: never = curve;
      bad("kind", `is unknown: ${JSON.stringify((never as { kind?: unknown }).kind)}`);
    }
  }
}
