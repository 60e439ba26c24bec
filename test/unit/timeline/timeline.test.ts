/** Timelines: written as deltas, read back state for state, played into an engine. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { Bench, writeTimeline, type MachineSpec } from "../../../src/testing/index.js";
import { Timeline, frameFile, playTimeline } from "../../../src/timeline/index.js";
import { Engine } from "../../../src/engine/engine.js";
import { kernelPolicy } from "../../../src/policy/kernel.js";
import { takeSnapshot } from "../../../src/engine/snapshot.js";
import { definePolicy } from "../../../src/engine/policy.js";
import { cgroupPath } from "../../../src/os/paths.js";

const MiB = 1024 * 1024;
const jobs = (a: number, b: number, extra: Record<string, { current: number }> = {}): MachineSpec => ({
  memory: "1G",
  cgroups: { "/jobs/a": { current: a * MiB, pressure: { someTotalUsec: a * 1000 } }, "/jobs/b": { current: b * MiB }, ...extra },
  tasks: [
    { pid: 20, comm: "a", cgroup: "/jobs/a", rss: a * MiB },
    { pid: 21, comm: "b", cgroup: "/jobs/b", rss: b * MiB },
  ],
});

describe("a timeline", () => {
  test("reads back each state as it was written, frames holding only what changed", () => {
    const dir = writeTimeline([
      { atMs: 0, machine: jobs(100, 300) },
      { atMs: 1000, machine: jobs(150, 300, { "/jobs/c": { current: MiB } }) },
      { atMs: 2000, machine: jobs(200, 300) },
    ]);
    try {
      const t = Timeline.open(dir);
      assert.deepEqual(t.times, [0, 1000, 2000]);
      const seen = [];
      for (const f of t.frames()) {
        const s = takeSnapshot(f.host);
        seen.push([f.atMs, s.takenAtMonoMs, s.cgroup("/jobs/a")?.memory.currentBytes, s.cgroup("/jobs/c") !== undefined, s.task(21)?.comm]);
      }
      assert.deepEqual(seen, [
        [0, 0, 100 * MiB, false, "b"],
        [1000, 1000, 150 * MiB, true, "b"],
        [2000, 2000, 200 * MiB, false, "b"],
      ]);
      const f1 = t.readFrameData(1);
      assert.ok(!Object.keys(f1.files ?? {}).some((p) => p.startsWith("/proc/21/")), "b's process did not change: frame 1 does not repeat it");
      assert.ok(Object.keys(f1.files ?? {}).includes("/sys/fs/cgroup/jobs/a/memory.current"));
      assert.ok(t.readFrameData(2).removed?.includes("/sys/fs/cgroup/jobs/c/memory.current"));
      const raw = JSON.parse(zlib.gunzipSync(fs.readFileSync(path.join(dir, frameFile(0)))).toString()) as { files: Record<string, string> };
      assert.match(raw.files["/proc/meminfo"] ?? "", /^MemTotal:\s+1048576 kB/m);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("played into an engine: rates from the second frame, hooks for cgroups that come and go, PSI to handlePressure", async () => {
    const dir = writeTimeline([
      { atMs: 0, machine: jobs(100, 300) },
      { atMs: 1000, machine: jobs(150, 310, { "/jobs/c": { current: MiB } }) },
      { atMs: 2000, machine: jobs(400, 310) },
    ]);
    const hooks: string[] = [];
    const policy = definePolicy({
      name: "watcher",
      handleOutOfMemory: (oc) => oc.pass(`a grows ${oc.rates(oc.snapshot.cgroup("/jobs/a")!).growthBytesPerSec ?? "?"}`),
      handlePressure: (e, pc) => pc.declareOom(e.cgroup, "stall"),
      handleCgroupOnline: (c) => void hooks.push(`+${c.path}`),
      handleCgroupOffline: (p) => void hooks.push(`-${p}`),
    });
    const engine = new Engine({ defaultPolicy: { policy: kernelPolicy, options: {} }, attachments: [{ cgroup: cgroupPath("/jobs"), policy, options: {} }] });
    try {
      const reasons: string[] = [];
      const declared: string[][] = [];
      for (const f of playTimeline(Timeline.open(dir), engine, { psiTriggers: [{ name: "a-stall", cgroup: cgroupPath("/jobs/a"), stall: "some", thresholdUsec: 100_000, windowUsec: 1_000_000 }] })) {
        const r = await engine.explain(f.snapshot, "/jobs", { kind: "manual", trigger: "test", message: "t", figures: {} });
        reasons.push(r.chain[0]?.reason ?? "");
        declared.push(f.pressure.flatMap((p) => p.result?.declared.map((d) => `${d.scope} on ${p.trigger}`) ?? []));
      }
      assert.deepEqual(reasons, ["a grows ?", `a grows ${50 * MiB}`, `a grows ${150 * MiB}`]);
      assert.deepEqual(hooks, ["+/jobs/c", "-/jobs/c"]);
      // a's stall total rose 50 ms then 250 ms per second: only the second passes 100 ms per second.
      assert.deepEqual(declared, [[], [], ["/jobs/a on a-stall"]]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a Bench plays it, after states of its own or alone", async () => {
    const dir = writeTimeline([
      { atMs: 0, machine: jobs(100, 300) },
      { atMs: 500, machine: jobs(300, 300) },
    ]);
    const bench = new Bench({ policy: "largest-leaf", attachTo: "/jobs" });
    try {
      const steps = [];
      for (const step of bench.play(dir)) {
        steps.push([step.index, step.atMs, step.of, bench.clock.monotonicMs()]);
        const r = await bench.explain({ scope: "/jobs" });
        assert.equal(r.handled, true);
      }
      assert.deepEqual(steps, [[0, 0, 2, 0], [1, 500, 2, 500]]);
      assert.throws(() => bench.at(0, dir), /is a timeline: play it with bench\.play/);
    } finally {
      bench.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
