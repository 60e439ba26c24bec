/** The kill port over the model: kills act on the machine and memory returns after the reap delay. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { cgroupPath } from "../../../src/os/paths.js";
import { SimKillBackend } from "../../../src/sim/kill-backend.js";
import { SimMachine } from "../../../src/sim/machine.js";
import { SimHost } from "../../../src/sim/sim-host.js";

const MiB = 1024 * 1024;

function machine() {
  const m = new SimMachine({ memTotalBytes: 1024 * MiB, reap: { baseMs: 5, msPerMiB: 0.4 } });
  const big = m.addTask({ pid: 200, comm: "big", cgroup: "/w", curve: { kind: "steady", bytes: 200 * MiB } });
  const stubborn = m.addTask({ pid: 201, comm: "stubborn", cgroup: "/w", onTerm: "ignore", curve: { kind: "steady", bytes: 20 * MiB } });
  m.addTask({ pid: 300, comm: "other", cgroup: "/v/x", curve: { kind: "steady", bytes: 30 * MiB } });
  const h = new SimHost(m);
  h.advance(500);
  return { m, h, big, stubborn, port: new SimKillBackend(h) };
}

describe("SimKillBackend", () => {
  test("SIGKILL: the task is gone and its memory back after the modelled delay", async () => {
    const { m, h, big, port } = machine();
    const before = port.currentBytes(cgroupPath("/w")) ?? 0;
    const t0 = h.clock.monotonicMs();
    const r = await port.killTask({ pid: 200, startTimeTicks: Math.floor(big.startMs / 10), comm: "big" }, { graceMs: 0, waitMs: 1000 });
    assert.equal(r.kind, "exited");
    assert.ok(r.kind === "exited" && r.exitMs > 0 && r.exitMs <= 100, `freed within the reap delay (${r.kind === "exited" && r.exitMs} ms)`);
    assert.ok(h.clock.monotonicMs() > t0, "the wait was spent in virtual time");
    assert.equal(m.task(200), undefined);
    assert.ok((port.currentBytes(cgroupPath("/w")) ?? 0) < before - 190 * MiB);
  });

  test("a task that ignores SIGTERM is escalated after the grace period", async () => {
    const { stubborn, port } = machine();
    const r = await port.killTask({ pid: 201, startTimeTicks: Math.floor(stubborn.startMs / 10), comm: "stubborn" }, { graceMs: 200, waitMs: 1000 });
    assert.ok(r.kind === "exited" && r.escalated && r.signalMs >= 200);
  });

  test("a task that obeys SIGTERM leaves without SIGKILL", async () => {
    const { big, port } = machine();
    const r = await port.killTask({ pid: 200, startTimeTicks: Math.floor(big.startMs / 10), comm: "big" }, { graceMs: 500, waitMs: 1000 });
    assert.ok(r.kind === "exited" && !r.escalated && r.mrelease === "skipped");
  });

  test("a pid that names another process, or none, is not signalled", async () => {
    const { m, port } = machine();
    assert.deepEqual(await port.killTask({ pid: 200, startTimeTicks: 12345, comm: "big" }, { graceMs: 0, waitMs: 100 }), { kind: "pid-reused" });
    assert.equal(m.task(200)?.state, "running");
    assert.deepEqual(await port.killTask({ pid: 999, startTimeTicks: 0, comm: "x" }, { graceMs: 0, waitMs: 100 }), { kind: "vanished" });
  });

  test("a task already exiting is waited for, not signalled again", async () => {
    const { m, big, port } = machine();
    m.signal(200, "SIGKILL");
    const r = await port.killTask({ pid: 200, startTimeTicks: Math.floor(big.startMs / 10), comm: "big" }, { graceMs: 0, waitMs: 1000 });
    assert.ok(r.kind === "exited" && r.mrelease === "skipped" && !r.escalated, JSON.stringify(r));
    assert.equal(m.task(200), undefined);
  });

  test("cgroup.kill empties the subtree; others live", async () => {
    const { m, port } = machine();
    const r = await port.killCgroup(cgroupPath("/w"), 1000);
    assert.equal(r.emptied, true);
    assert.deepEqual(m.tasks().map((t) => t.pid), [300]);
  });

  test("reclaim frees page cache of the cgroup; a vanished cgroup is E_VANISHED", async () => {
    const { m, port } = machine();
    m.addPageCache("/v/x", 50 * MiB);
    const before = port.currentBytes(cgroupPath("/v/x")) ?? 0;
    await port.reclaim(cgroupPath("/v/x"), 40 * MiB);
    assert.ok((port.currentBytes(cgroupPath("/v/x")) ?? 0) <= before - 40 * MiB);
    await assert.rejects(port.reclaim(cgroupPath("/nope"), 1), /gone/);
  });
});
