/**
 * The seeded fixture machine the probes run on (bench/ahead-probe.ts, bench/stop-probe.ts): the
 * decision table's machine of `tasks` tasks in `cgroups` cgroups, built in /dev/shm where there is
 * one, read through a FixtureHost on a manual clock. `done` removes it.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { detectCgroupMode } from "../src/os/cgroup-mode.js";
import { FixtureHost } from "../src/os/fixture-host.js";
import { ManualClock } from "../src/os/host.js";
import { buildFixture } from "../test/support/fixture.js";
import { machineSpec } from "./decision.bench.js";

export function probeMachine(tasks: number, cgroups: number) {
  const m = machineSpec(tasks, cgroups);
  const shm = fs.existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir();
  const dir = buildFixture(m.spec, fs.mkdtempSync(path.join(shm, "oomkit-probe-")));
  const clock = new ManualClock(1_000_000);
  const host = new FixtureHost(dir, { clock });
  return { dir, clock, host, mode: detectCgroupMode(host), done: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
