/**
 * `oomkit check --root TIMELINE`: the configured policies played over a recorded timeline (one
 * driver, src/timeline/driver.ts): at every frame the engine's history grows (so `oc.rates()`
 * has figures from the second frame on), cgroups that came or went go to the online/offline
 * hooks, the configuration's psi triggers that fired since the frame before go to
 * handlePressure, and the chain runs for an OOM in each scope that matters. Nothing is carried
 * out. A throw, a timeout, an invalid plan or a refused target, in any frame and any hook, is a
 * fault.
 */
import type { CompiledConfig, TriggerSpec } from "../config/compile.js";
import { Engine } from "../engine/engine.js";
import { describeHookCall } from "../engine/hooks.js";
import { describeAction } from "../engine/plan.js";
import type { Snapshot } from "../engine/snapshot.js";
import { type CgroupPath, ROOT_CGROUP } from "../os/paths.js";
import { type PsiTriggerSpec, type Timeline, playTimeline } from "../timeline/index.js";
import { type PolicyRun, scopesOf } from "./check-root.js";
import { type PolicyFault, policyFaults } from "./faults.js";

/** A decision that held from `frame` on (until the next entry). */
export interface DecisionChange {
  readonly frame: number;
  readonly atMs: number;
  readonly decidedBy: string | null;
  readonly plan: readonly string[];
}

export interface TimelineRun extends PolicyRun {
  /** Each frame where the decision for this scope changed (the first frame always). */
  readonly changes: readonly DecisionChange[];
}

export interface TimelineCheck {
  readonly frames: number;
  readonly durationMs: number;
  readonly runs: readonly TimelineRun[];
  /** Online, offline and pressure hook calls made, and OOMs handlePressure declared. */
  readonly hookCalls: number;
  readonly pressureEvents: number;
  readonly declared: number;
  /** Faults of the online/offline and pressure hooks, each with its frame. */
  readonly hookFaults: readonly PolicyFault[];
}

/** The configuration's psi triggers, as they watch the cgroups of one frame. */
function psiTriggersOf(triggers: readonly TriggerSpec[]): (now: Snapshot) => PsiTriggerSpec[] {
  return (now) =>
    triggers.flatMap((t): PsiTriggerSpec[] => {
      if (t.kind !== "psi") return [];
      const spec = (cgroup: CgroupPath): PsiTriggerSpec => ({ name: t.name, cgroup, stall: t.stall, thresholdUsec: t.thresholdUsec, windowUsec: t.windowUsec });
      switch (t.where.kind) {
        case "machine":
          return [spec(ROOT_CGROUP)];
        case "cgroup":
          return [spec(t.where.path)];
        case "glob": {
          const re = t.where.regex;
          return [...now.cgroups()].filter((c) => re.test(c.path)).map((c) => spec(c.path));
        }
        default: {
          const never: never = t.where;
          return never;
        }
      }
    });
}

const at = (frame: number, atMs: number) => `frame ${frame} (${(atMs / 1000).toFixed(1)} s)`;

/** Plays the timeline into an engine built from the configuration; see the module's comment. */
export async function runOnTimeline(c: CompiledConfig, timeline: Timeline): Promise<TimelineCheck> {
  const engine = new Engine(c.engine);
  const byScope = new Map<CgroupPath, { changes: DecisionChange[]; faults: PolicyFault[]; seen: Set<string> }>();
  const hookFaults: PolicyFault[] = [];
  let hookCalls = 0;
  let pressureEvents = 0;
  let declared = 0;
  for (const f of playTimeline(timeline, engine, { psiTriggers: psiTriggersOf(c.triggers) })) {
    const calls = [...f.hooks, ...f.pressure.flatMap((p) => (p.result ? [p.result.call] : []))];
    hookCalls += calls.length;
    pressureEvents += f.pressure.length;
    declared += f.pressure.reduce((n, p) => n + (p.result?.declared.length ?? 0), 0);
    for (const call of calls) {
      if (call.outcome !== "ok") hookFaults.push({ policy: call.policy, attachedTo: call.attachedTo, kind: call.outcome, message: `${at(f.index, f.atMs)}: ${describeHookCall(call)}` });
    }
    for (const scope of scopesOf(c, (p) => f.snapshot.cgroup(p) !== undefined)) {
      const r = await engine.explain(f.snapshot, scope, { kind: "manual", trigger: "check", message: `oomkit check: an OOM in ${scope} at ${at(f.index, f.atMs)}`, figures: {} });
      const entry = byScope.get(scope) ?? { changes: [], faults: [], seen: new Set<string>() };
      byScope.set(scope, entry);
      const decision: DecisionChange = { frame: f.index, atMs: f.atMs, decidedBy: r.handled ? r.policy : null, plan: r.plan.map(describeAction) };
      const last = entry.changes[entry.changes.length - 1];
      if (!last || last.decidedBy !== decision.decidedBy || last.plan.join("\n") !== decision.plan.join("\n")) entry.changes.push(decision);
      // One fault per message: a policy that throws in every frame is one fault, at its first frame.
      for (const fault of policyFaults(r)) {
        if (entry.seen.has(fault.message)) continue;
        entry.seen.add(fault.message);
        entry.faults.push({ ...fault, message: `${at(f.index, f.atMs)}: ${fault.message}` });
      }
    }
  }
  const runs = [...byScope].map(([scope, e]): TimelineRun => {
    const last = e.changes[e.changes.length - 1];
    return { scope, decidedBy: last?.decidedBy ?? null, plan: last?.plan ?? [], faults: e.faults, changes: e.changes };
  });
  return { frames: timeline.length, durationMs: timeline.times[timeline.length - 1] ?? 0, runs, hookCalls, pressureEvents, declared, hookFaults };
}
