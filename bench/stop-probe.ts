/**
 * A probe, not a benchmark table: where the time goes between an event and a decision run made
 * ahead giving the thread back (`node dist/bench/stop-probe.js POLICY [TASKS CGROUPS STOPS]`).
 * Splits each stopped run into "seen" (event → the first read that asked after it) and "unwind"
 * (that read → upkeep returned), slowest first. PROBE_PROFILE=FILE writes a CPU profile (100 µs
 * samples) with the "seen" windows (performance.now ms) and a clock pair to align them: on this
 * machine, at 10,000 tasks, the windows were mostly garbage collection.
 */
import * as fs from "node:fs";
import { REDECIDE_MS, StandingDecisions } from "../src/daemon/standing.js";
import { silentLogger } from "../src/log.js";
import { OomkitError } from "../src/errors.js";
import { HostDecorator } from "../src/os/host-decorator.js";
import type { HostWaits } from "../src/os/host.js";
import { engineFor } from "./decision.bench.js";
import { probeMachine } from "./probe-machine.js";
import { mulberry32 } from "../src/sim/rng.js";
import { Session } from "node:inspector/promises";

class Events extends HostDecorator {
  at: number | undefined;
  seenAt: number | undefined;
  override get waits(): HostWaits {
    return {
      psiTrigger: () => {
        throw new OomkitError("E_UNSUPPORTED", "probe");
      },
      waitExit: async () => "timeout",
      eventPending: () => {
        const now = performance.now();
        const p = this.at !== undefined && now >= this.at;
        if (p && this.seenAt === undefined) this.seenAt = now;
        return p;
      },
    };
  }
}

const [policy = "largest-leaf", tasks = "10000", cgroups = "1000", stops = "40"] = process.argv.slice(2);
const machine = probeMachine(Number(tasks), Number(cgroups));
try {
  const { clock, host } = machine;
  const events = new Events(host);
  const { mode } = machine;
  const engine = engineFor(policy, 250);
  const standing = new StandingDecisions({ host: events, mode, log: silentLogger, engine: () => engine, scopes: () => [] });
  for (let i = 0; i < 5; i++) {
    await standing.upkeep(clock.monotonicMs());
    clock.advance(100);
  }
  const rand = mulberry32(7);
  const session = process.env.PROBE_PROFILE ? new Session() : undefined;
  const windows: [number, number][] = [];
  if (session) {
    session.connect();
    await session.post("Profiler.enable");
    await session.post("Profiler.setSamplingInterval", { interval: 100 });
    await session.post("Profiler.start");
  }
  let lastRunMs = 0;
  const rows: string[] = [];
  for (let i = 0, got = 0; got < Number(stops) && i < Number(stops) * 4; i++) {
    clock.advance(REDECIDE_MS);
    const t0 = performance.now();
    events.at = i % 2 === 1 && lastRunMs > 0 ? t0 + rand() * lastRunMs : undefined;
    events.seenAt = undefined;
    const r = await standing.upkeep(clock.monotonicMs());
    const end = performance.now();
    if (events.at === undefined) lastRunMs = end - t0;
    else if (events.at < end && r.decided === undefined && events.seenAt !== undefined) {
      got++;
      windows.push([events.at, events.seenAt]);
      rows.push(`${(end - events.at).toFixed(2)}\tseen ${(events.seenAt - events.at).toFixed(2)}\tunwind ${(end - events.seenAt).toFixed(2)}\tat ${(events.at - t0).toFixed(1)} of ${lastRunMs.toFixed(1)}\tslices ${r.slicesMs.map((s) => s.toFixed(1)).join(",")}`);
    }
    events.at = undefined;
  }
  if (session && process.env.PROBE_PROFILE) {
    const { profile } = await session.post("Profiler.stop");
    // Profile timestamps are µs of the monotonic clock; performance.now's origin is wall-based, so align by the last sample.
    fs.writeFileSync(process.env.PROBE_PROFILE, JSON.stringify({ profile, windows, nowUs: process.hrtime.bigint().toString(), perfNow: performance.now() }));
  }
  rows.sort((a, b) => Number(b.split("\t")[0]) - Number(a.split("\t")[0]));
  process.stdout.write(rows.join("\n") + "\n");
} finally {
  machine.done();
}
