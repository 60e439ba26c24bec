/**
 * The one driver from machine states to an engine, shared by `oomkit check --root TIMELINE`, the
 * testing kit's Bench and the simulator's replay. Each state is observed as the daemon's warm
 * model observes the live machine: a snapshot feeds the engine's history (so `oc.rates()` has
 * figures from the second state on) and the cgroups that came or went since the state before go
 * to the policies' online/offline hooks (the first state is not news, as at the daemon's start).
 * A PSI trigger fires between two states when stall accrued at its rate over the interval
 * (`psiFired`), and its event goes to handlePressure as the daemon would send it.
 */
import type { Engine } from "../engine/engine.js";
import type { HookCall, PressureResult } from "../engine/hooks.js";
import type { PressureEvent } from "../engine/policy.js";
import { type Snapshot, takeSnapshot } from "../engine/snapshot.js";
import type { Host } from "../os/host.js";
import type { PressureLine } from "../os/parse/psi.js";
import { type CgroupPath, ROOT_CGROUP } from "../os/paths.js";
import type { Timeline } from "./read.js";

/** What one observed state brought. */
export interface Observation {
  readonly snapshot: Snapshot;
  /** handleCgroupOnline / handleCgroupOffline calls, in that order, one per policy and cgroup. */
  readonly hooks: readonly HookCall[];
}

/** Feeds an engine one machine state after another, as the daemon's rescan does. */
export class MachineObserver {
  readonly engine: Engine;
  #snapshot: Snapshot | undefined;
  #cgroups: Set<CgroupPath> | undefined;

  constructor(engine: Engine) {
    this.engine = engine;
  }

  /** The latest state's snapshot, if any was observed. */
  get snapshot(): Snapshot | undefined {
    return this.#snapshot;
  }

  /** Takes a snapshot of `host` now (its clock says when), feeds the history, calls the hooks. */
  observe(host: Host): Observation {
    const snapshot = takeSnapshot(host);
    this.engine.history.update(snapshot);
    const present = new Set([...snapshot.cgroups()].map((c) => c.path));
    const before = this.#cgroups;
    this.#cgroups = present;
    this.#snapshot = snapshot;
    const hooks: HookCall[] = [];
    if (before === undefined) return { snapshot, hooks };
    for (const p of present) {
      const node = before.has(p) ? undefined : snapshot.cgroup(p);
      if (node) hooks.push(...this.engine.cgroupOnline(node));
    }
    for (const p of before) if (!present.has(p)) hooks.push(...this.engine.cgroupOffline(p));
    return { snapshot, hooks };
  }
}

/** A PSI trigger as the driver needs it (a configuration's psi trigger, or one a test makes up). */
export interface PsiTriggerSpec {
  readonly name: string;
  /** The cgroup whose memory.pressure it watches; "/" is the machine's /proc/pressure/memory. */
  readonly cgroup: CgroupPath;
  readonly stall: "some" | "full";
  readonly thresholdUsec: number;
  readonly windowUsec: number;
}

function pressureLine(s: Snapshot, cgroup: CgroupPath, stall: "some" | "full"): PressureLine | undefined {
  const p = cgroup === ROOT_CGROUP ? s.system.pressure.memory : s.cgroup(cgroup)?.pressure.memory;
  return stall === "full" ? p?.full : p?.some;
}

/**
 * The event a trigger would have raised between two states, or undefined. Two states show only
 * the stall accrued between them, so the rule is the daemon's polling fallback's: fired when the
 * average rate over the interval reaches threshold per window. A burst shorter than the interval
 * is averaged away; record with --every at or below the window to see what the kernel saw.
 */
export function psiFired(t: PsiTriggerSpec, before: Snapshot, now: Snapshot): PressureEvent | undefined {
  const a = pressureLine(before, t.cgroup, t.stall);
  const b = pressureLine(now, t.cgroup, t.stall);
  const elapsedMs = now.takenAtMonoMs - before.takenAtMonoMs;
  if (a === undefined || b === undefined || elapsedMs <= 0 || b.totalUsec < a.totalUsec) return undefined;
  if ((b.totalUsec - a.totalUsec) * t.windowUsec < t.thresholdUsec * elapsedMs * 1000) return undefined;
  const pressure = t.cgroup === ROOT_CGROUP ? now.system.pressure.memory : now.cgroup(t.cgroup)?.pressure.memory;
  return { cgroup: t.cgroup, resource: "memory", stall: t.stall, stallUsec: t.thresholdUsec, windowUsec: t.windowUsec, pressure, atMonoMs: now.takenAtMonoMs };
}

/** Hands a PSI event to the engine's handlePressure, with the cause a psi trigger gives. */
export function sendPressure(engine: Engine, snapshot: Snapshot, trigger: string, event: PressureEvent): PressureResult | undefined {
  const where = event.cgroup === ROOT_CGROUP ? "the machine" : event.cgroup;
  return engine.handlePressure({
    event,
    snapshot,
    trigger,
    cause: {
      kind: "pressure",
      trigger,
      message: `${event.stall} memory stall over ${event.stallUsec / 1000} ms within ${event.windowUsec / 1000} ms in ${where}`,
      figures: { stall: event.stall, thresholdUsec: event.stallUsec, windowUsec: event.windowUsec, source: "timeline" },
      signalAtMonoMs: event.atMonoMs,
    },
  });
}

/** One frame of a timeline, played into an engine. */
export interface PlayedFrame extends Observation {
  readonly index: number;
  readonly atMs: number;
  readonly host: Host;
  /** The PSI triggers that fired since the frame before, and what handlePressure made of each. */
  readonly pressure: readonly { readonly trigger: string; readonly event: PressureEvent; readonly result: PressureResult | undefined }[];
}

export interface PlayOptions {
  /**
   * PSI triggers to evaluate between frames (none when absent); a function is asked at each frame
   * (a configuration's glob trigger watches the cgroups that match then).
   */
  readonly psiTriggers?: readonly PsiTriggerSpec[] | ((now: Snapshot) => readonly PsiTriggerSpec[]);
}

/**
 * Plays a timeline into an engine, frame by frame: each frame is observed (history, online and
 * offline hooks), then each PSI trigger that fired since the frame before is sent to
 * handlePressure. Ask the engine what you like between frames (`engine.explain(frame.snapshot, …)`).
 */
export function* playTimeline(timeline: Timeline, engine: Engine, options: PlayOptions = {}): Generator<PlayedFrame, void, undefined> {
  const observer = new MachineObserver(engine);
  let before: Snapshot | undefined;
  for (const frame of timeline.frames()) {
    const seen = observer.observe(frame.host);
    const pressure: PlayedFrame["pressure"][number][] = [];
    if (before !== undefined) {
      const triggers = typeof options.psiTriggers === "function" ? options.psiTriggers(seen.snapshot) : (options.psiTriggers ?? []);
      for (const t of triggers) {
        const event = psiFired(t, before, seen.snapshot);
        if (event) pressure.push({ trigger: t.name, event, result: sendPressure(engine, seen.snapshot, t.name, event) });
      }
    }
    before = seen.snapshot;
    yield { ...seen, index: frame.index, atMs: frame.atMs, host: frame.host, pressure };
  }
}
