/**
 * A probe, not a benchmark table: the cost of one decision run ahead (engine.prepare) on a warm
 * model of a seeded 10,000-task fixture, for one policy, split into its parts. For profiling
 * (`node --cpu-prof dist/bench/ahead-probe.js POLICY [TASKS CGROUPS RUNS]`).
 */
import * as fs from "node:fs";
import { StandingDecisions } from "../src/daemon/standing.js";
import { silentLogger } from "../src/log.js";
import { ROOT_CGROUP } from "../src/os/paths.js";
import { takeSnapshot } from "../src/engine/snapshot.js";
import { Session } from "node:inspector/promises";
import { engineFor } from "./decision.bench.js";
import { probeMachine } from "./probe-machine.js";

const [policy = "priority", tasks = "10000", cgroups = "1000", runs = "10"] = process.argv.slice(2);
const machine = probeMachine(Number(tasks), Number(cgroups));
try {
  const { clock, host } = machine;
  const { mode } = machine;
  const engine = engineFor(policy, 250);
  const standing = new StandingDecisions({ host, mode, log: silentLogger, engine: () => engine, scopes: () => [] });
  const cause = { kind: "system", trigger: "probe", message: "probe", figures: {} } as const;
  const t0 = performance.now();
  await engine.prepare({ snapshot: standing.snapshot(), scope: ROOT_CGROUP, cause });
  process.stdout.write(`cold prepare ${(performance.now() - t0).toFixed(1)} ms, model ${JSON.stringify(standing.model.stats)}\n`);
  // PROBE_PROFILE=FILE: a CPU profile of the warm runs alone.
  const out = process.env.PROBE_PROFILE;
  const session = out ? new Session() : undefined;
  if (session) {
    session.connect();
    await session.post("Profiler.enable");
    await session.post("Profiler.start");
  }
  for (let i = 0; i < Number(runs); i++) {
    clock.advance(1000);
    const a = performance.now();
    const snapshot = standing.snapshot();
    const b = performance.now();
    const live = takeSnapshot(host, { cgroupMode: mode });
    const made = await engine.prepare({ snapshot, scope: ROOT_CGROUP, cause, live });
    if (made.abandoned !== undefined) throw new Error(`abandoned: ${made.abandoned}`);
    const { record } = made;
    const c = performance.now();
    const r = standing.model.refresh(5);
    const d = performance.now();
    process.stdout.write(`prepare ${(c - b).toFixed(1)} ms (snapshot ${(b - a).toFixed(2)} ms) [${record.chain.map((x) => `${x.policy} ${x.outcome} ${x.durationMs.toFixed(0)} ms`).join(", ")}] refresh ${r.reads} reads ${(d - c).toFixed(1)} ms\n`);
  }
  if (session && out) {
    const { profile } = await session.post("Profiler.stop");
    fs.writeFileSync(out, JSON.stringify(profile));
  }
} finally {
  machine.done();
}
