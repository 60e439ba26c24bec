/**
 * The model's kernel OOM killer against oomkit's own reading of the same machine: the victim the
 * model's kernel picks is the one the engine's default (kernel) policy ranks first on a snapshot
 * taken through SimHost, for a memcg OOM and a machine-wide one; plus oom.group and -1000.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Engine } from "../../../src/engine/engine.js";
import type { OomCause } from "../../../src/engine/policy.js";
import { takeSnapshot } from "../../../src/engine/snapshot.js";
import { kernelPolicy } from "../../../src/policy/kernel.js";
import { SimMachine } from "../../../src/sim/machine.js";
import { chooseVictim } from "../../../src/sim/oom-killer.js";
import { mulberry32 } from "../../../src/sim/rng.js";
import { SimHost } from "../../../src/sim/sim-host.js";
import { parseOomScore } from "../../../src/os/parse/proc.js";
import { kernelOomScore, oomBadness, systemTotalPages } from "../../../src/engine/badness.js";

const MiB = 1024 * 1024;
const engine = new Engine({ defaultPolicy: { policy: kernelPolicy, options: {} } });
const cause = (kind: "cgroup" | "system"): OomCause => ({ kind, trigger: "test", message: "test", figures: {} });

async function engineVictim(h: SimHost, scope: string, kind: "cgroup" | "system"): Promise<number | false | undefined> {
  const r = await engine.explain(takeSnapshot(h), scope, cause(kind));
  const a = r.plan[0];
  return a === undefined ? undefined : a.kind === "kill-task" && a.pid;
}

describe("the kernel's victim is oomkit's kernel ranking's first", () => {
  test("oom_test (the kernel's BPF OOM selftest tree): a memcg OOM", async () => {
    const m = new SimMachine({ memTotalBytes: 1024 * MiB });
    m.addCgroup("/oom_test", { max: 80 * MiB });
    const steady = (mb: number) => ({ kind: "steady" as const, bytes: mb * MiB });
    m.addTask({ pid: 1, comm: "init", curve: steady(1) });
    m.addTask({ pid: 101, comm: "cg1", cgroup: "/oom_test/cg1", oomScoreAdj: 1000, curve: steady(10) });
    m.addTask({ pid: 102, comm: "cg2", cgroup: "/oom_test/cg2", oomScoreAdj: -1000, curve: steady(40) });
    m.addTask({ pid: 104, comm: "cg4", cgroup: "/oom_test/cg3/cg4", curve: steady(10) });
    m.addTask({ pid: 105, comm: "cg5", cgroup: "/oom_test/cg3/cg5", curve: { kind: "leak", startBytes: 10 * MiB, bytesPerSec: 20 * MiB } });
    const h = new SimHost(m);
    h.advance(100);
    assert.equal(m.k.kernelKills.length, 0, "not at the limit yet");
    const before = await engineVictim(h, "/oom_test", "cgroup");
    const model = chooseVictim(m.k, m.cgroup("/oom_test"));
    assert.equal(typeof model === "object" && model.task.pid, before);
    assert.equal(before, 101, "the +1000 task, as the selftest expects");
    h.advance(5000);
    assert.equal(m.k.kernelKills[0]?.pid, 101, "and the model's kernel kills it when the limit is hit");
  });

  for (const seed of [1, 2, 3, 4, 5]) {
    test(`a machine-wide OOM among 30 seeded tasks (seed ${seed}), with swap and adjustments`, async () => {
      const rand = mulberry32(seed);
      const m = new SimMachine({ memTotalBytes: 1024 * MiB, seed, swap: { kind: "zram", totalBytes: 256 * MiB } });
      m.addTask({ pid: 1, comm: "init", curve: { kind: "steady", bytes: MiB } });
      for (let i = 0; i < 30; i++) {
        const adj = rand() < 0.3 ? Math.round(rand() * 1600 - 800) : rand() < 0.1 ? -1000 : 0;
        m.addTask({ comm: `t${i}`, cgroup: `/g${i % 4}`, oomScoreAdj: adj, curve: { kind: "steady", bytes: Math.round((5 + rand() * 40) * MiB) }, touchPerSec: 0 });
      }
      m.addTask({ comm: "leak", cgroup: "/g9", curve: { kind: "leak", startBytes: 0, bytesPerSec: 80 * MiB } });
      const h = new SimHost(m);
      // Run to the moment before the kernel's first kill, then compare on that state.
      while (m.k.kernelKills.length === 0 && m.nowMs < 120_000) {
        const snap = takeSnapshot(h);
        const model = chooseVictim(m.k, undefined);
        const victim = await engine.explain(snap, "/", cause("system"));
        const a = victim.plan[0];
        assert.equal(a?.kind === "kill-task" && a.pid, typeof model === "object" && model.task.pid, `at ${m.nowMs} ms`);
        h.advance(1000);
      }
      assert.ok(m.k.kernelKills.length > 0);
    });
  }

  test("/proc/PID/oom_score is the kernel's formula over the same badness", () => {
    const m = new SimMachine({ memTotalBytes: 512 * MiB, swap: { kind: "disk", totalBytes: 128 * MiB } });
    const t = m.addTask({ comm: "x", oomScoreAdj: 300, curve: { kind: "steady", bytes: 50 * MiB } });
    const h = new SimHost(m);
    h.advance(200);
    const total = systemTotalPages(512 * MiB, 128 * MiB, 4096);
    const b = oomBadness({ pid: t.pid, kernelThread: false, exiting: false, oomScoreAdj: 300, rssBytes: (t.anonResident + t.fileResident) * 4096, swapBytes: t.anonSwapped * 4096, pageTablesBytes: t.ptPages * 4096 }, total, 4096);
    assert.equal(parseOomScore(h.readFile(`/proc/${t.pid}/oom_score`)), kernelOomScore(b, total));
  });
});

describe("oom.group and -1000", () => {
  test("a victim in a memory.oom.group cgroup takes its group down, except -1000 tasks", () => {
    const m = new SimMachine({ memTotalBytes: 512 * MiB });
    m.addCgroup("/svc", { max: 100 * MiB, oomGroup: true });
    m.addTask({ comm: "a", cgroup: "/svc/w", curve: { kind: "leak", startBytes: 10 * MiB, bytesPerSec: 40 * MiB } });
    m.addTask({ comm: "b", cgroup: "/svc/w", curve: { kind: "steady", bytes: 20 * MiB } });
    m.addTask({ comm: "keep", cgroup: "/svc", oomScoreAdj: -1000, curve: { kind: "steady", bytes: 5 * MiB } });
    const h = new SimHost(m);
    h.advance(5000);
    assert.deepEqual(m.k.kernelKills.map((k) => [k.comm, k.group]), [["a", "/svc"], ["b", "/svc"]]);
    assert.match(h.readFile("/sys/fs/cgroup/svc/memory.events"), /oom_group_kill 1\n/);
    assert.deepEqual(m.tasks().map((t) => t.comm), ["keep"]);
  });

  test("only -1000 tasks: the memcg OOM finds no victim and the task waits (stalls)", () => {
    const m = new SimMachine({ memTotalBytes: 512 * MiB });
    m.addCgroup("/x", { max: 50 * MiB });
    m.addTask({ comm: "safe", cgroup: "/x", oomScoreAdj: -1000, curve: { kind: "leak", startBytes: 0, bytesPerSec: 40 * MiB } });
    m.advanceTo(5000);
    assert.equal(m.k.kernelKills.length, 0);
    assert.ok(m.cgroup("/x")!.psi.totalUs("full") > 1_000_000, "blocked at its limit");
  });

  test("the kernel waits for a victim still exiting rather than killing a second one", () => {
    const m = new SimMachine({ memTotalBytes: 512 * MiB, reap: { baseMs: 2000, msPerMiB: 0 } });
    m.addCgroup("/x", { max: 60 * MiB });
    m.addTask({ comm: "a", cgroup: "/x", curve: { kind: "leak", startBytes: 0, bytesPerSec: 40 * MiB } });
    m.addTask({ comm: "b", cgroup: "/x", curve: { kind: "leak", startBytes: 0, bytesPerSec: 30 * MiB } });
    m.advanceTo(2500);
    assert.equal(m.k.kernelKills.length, 1);
  });
});
