/**
 * A probe, not a benchmark table: the cost of one decision run ahead (engine.prepare) on a warm
 * model of a seeded 10,000-task fixture, for one policy, split into its parts. For profiling
 * (`node --cpu-prof dist/bench/ahead-probe.js POLICY [TASKS CGROUPS RUNS]`).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { StandingDecisions } from "../src/daemon/standing.js";
import { silentLogger } from "../src/log.js";
import { detectCgroupMode } from "../src/os/cgroup-mode.js";
import { FixtureHost } from "../src/os/fixture-host.js";
import { ManualClock } from "../src/os/host.js";
import { ROOT_CGROUP } from "../src/os/paths.js";
import { takeSnapshot } from "../src/engine/snapshot.js";
import { Session } from "node:inspector/promises";
import { buildFixture } from "../test/support/fixture.js";
import { engineFor, machineSpec } from "./decision.bench.js";

const [policy = "priority", tasks = "10000", cgroups = "1000", runs = "10"] = process.argv.slice(2);
const m = machineSpec(Number(tasks), Number(cgroups));
const shm = fs.existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir();
const dir = buildFixture(m.spec, fs.mkdtempSync(path.join(shm, "oomkit-probe-")));
try {
  const clock = new ManualClock(1_000_000);
  const host = new FixtureHost(dir, { clock });
  const mode = detectCgroupMode(host);
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
  fs.rmSync(dir, { recursive: true, force: true });
}
