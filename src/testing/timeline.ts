/**
 * Timelines from declared machines: each state is written as a fixture and recorded from it, as
 * `oomkit record --timeline --root` would, so the timeline is byte for byte what the recorder
 * makes. For tests of a policy over time, and for `oomkit check --root` on a made-up scenario.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { OomkitError } from "../errors.js";
import { FixtureHost } from "../os/fixture-host.js";
import { TimelineWriter, captureMachine, stateOfRecording } from "../timeline/index.js";
import { type MachineSpec, writeMachine } from "./machine.js";

/** One state of a declared timeline: the machine, `atMs` after the first (0 for the first). */
export interface TimelineState {
  readonly atMs: number;
  readonly machine: MachineSpec;
}

/** Writes a timeline of the states into `dir` (absent or empty; a new temporary folder when not given) and returns its path. */
export function writeTimeline(states: readonly TimelineState[], dir?: string): string {
  if (states.length === 0 || states[0]?.atMs !== 0) throw new OomkitError("E_USAGE", "a timeline has at least one state, the first at 0 ms");
  states.forEach((s, i) => {
    if (i > 0 && !(s.atMs >= (states[i - 1] as TimelineState).atMs)) throw new OomkitError("E_USAGE", `state ${i} at ${s.atMs} ms goes back`);
  });
  const into = dir ?? fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-timeline-"));
  const gaps = states.slice(1).map((s, i) => s.atMs - (states[i] as TimelineState).atMs);
  const everyMs = Math.max(1, Math.min(...gaps.filter((g) => g > 0), 1000));
  let writer: TimelineWriter | undefined;
  for (const s of states) {
    const fixture = writeMachine(s.machine);
    try {
      const { rec } = captureMachine(new FixtureHost(fixture));
      writer ??= new TimelineWriter(into, { everyMs, comment: "written by writeTimeline (oomkit/testing) from declared machines", startedAtWallMs: Date.UTC(2026, 0, 1), facts: rec.facts() });
      writer.add(s.atMs, stateOfRecording(rec));
    } finally {
      fs.rmSync(fixture, { recursive: true, force: true });
    }
  }
  return into;
}
