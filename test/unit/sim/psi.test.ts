/** Pressure in the model: the kernel's averages and trigger rule, and pressure rising under reclaim. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { PsiGroup } from "../../../src/sim/psi.js";
import { SimMachine } from "../../../src/sim/machine.js";
import { SimHost } from "../../../src/sim/sim-host.js";
import { parsePressure } from "../../../src/os/parse/psi.js";

const MiB = 1024 * 1024;

/** Runs a group for `ms` in 50 ms steps with stall share `share(t)`. */
function drive(g: PsiGroup, from: number, ms: number, share: (t: number) => number): void {
  for (let t = from; t < from + ms; t += 50) {
    const s = share(t);
    g.account(s, s / 2, 50);
    g.tick(t + 50);
  }
}

describe("PsiGroup", () => {
  test("a trigger fires when stall within the window reaches the threshold, at most once per window", () => {
    const g = new PsiGroup(0);
    const trig = g.addTrigger("some", 150_000, 1_000_000, 0);
    const times: number[] = [];
    trig.onFire = (t) => times.push(t);
    drive(g, 0, 2000, () => 0);
    assert.equal(trig.fired, 0, "no stall, no event");
    drive(g, 2000, 3000, () => 0.5); // 25 ms of stall per 50 ms step
    assert.ok(trig.fired >= 2 && trig.fired <= 3, `${trig.fired} events in 3 s of 50% stall`);
    assert.ok((times[0] ?? 0) >= 2300 && (times[0] ?? 0) <= 2400, `first when 150 ms had built up (${times[0]})`);
    for (let i = 1; i < times.length; i++) assert.ok((times[i] as number) - (times[i - 1] as number) >= 1000, "once per window");
    const n = trig.fired;
    drive(g, 5000, 3000, () => 0);
    assert.equal(trig.fired, n, "stall stopped, events stopped");
  });

  test("a stall below the threshold per window never fires, however long it lasts", () => {
    const g = new PsiGroup(0);
    const trig = g.addTrigger("some", 150_000, 1_000_000, 0);
    drive(g, 0, 20_000, () => 0.1); // 100 ms per second
    assert.equal(trig.fired, 0);
  });

  test("averages follow a steady stall as the kernel's decay does; totals are exact", () => {
    const g = new PsiGroup(0);
    drive(g, 0, 60_000, () => 0.5);
    const p = parsePressure(g.render());
    assert.ok(Math.abs(p.some.avg10 - 50) < 0.5, `avg10 ${p.some.avg10}`);
    // A step to 50% seen through exp(-t/60) and exp(-t/300) after 60 s: 50 × (1 − e^−1), 50 × (1 − e^−0.2).
    assert.ok(Math.abs(p.some.avg60 - 31.6) < 0.5, `avg60 ${p.some.avg60}`);
    assert.ok(Math.abs(p.some.avg300 - 9.06) < 0.2, `avg300 ${p.some.avg300}`);
    assert.equal(p.some.totalUsec, 30_000_000);
    assert.equal(p.full?.totalUsec, 15_000_000);
    drive(g, 60_000, 30_000, () => 0);
    assert.ok(parsePressure(g.render()).some.avg10 < 3, "decays once the stall stops: 50 × e^−3 after 30 s");
  });

  test("the kernel's limits: a window of 0.5..10 s and a stall no longer than it", () => {
    const g = new PsiGroup(0);
    assert.throws(() => g.addTrigger("some", 100_000, 400_000, 0), /window/);
    assert.throws(() => g.addTrigger("some", 100_000, 11_000_000, 0), /window/);
    assert.throws(() => g.addTrigger("full", 2_000_000, 1_000_000, 0), /stall/);
    assert.throws(() => g.addTrigger("full", 0, 1_000_000, 0), /stall/);
  });
});

describe("pressure in the model", () => {
  test("pressure rises under reclaim, full ≤ some, and a trigger fires before the kernel kills", () => {
    const m = new SimMachine({ memTotalBytes: 1024 * MiB, swap: { kind: "zram", totalBytes: 512 * MiB } });
    for (let i = 0; i < 4; i++) m.addTask({ comm: `b${i}`, cgroup: "/b", curve: { kind: "steady", bytes: 150 * MiB }, touchPerSec: 0.5 });
    m.addTask({ comm: "leak", cgroup: "/j", curve: { kind: "leak", startBytes: 0, bytesPerSec: 40 * MiB } });
    const h = new SimHost(m);
    const trig = m.psiTrigger("/", "some", 150_000, 1_000_000);
    let firedAt: number | undefined;
    trig.onFire = (t) => void (firedAt ??= t);
    const calm = parsePressure(h.readFile("/proc/pressure/memory"));
    let peak = 0;
    while (m.k.kernelKills.length === 0 && m.nowMs < 120_000) {
      h.advance(500);
      const p = parsePressure(h.readFile("/proc/pressure/memory"));
      assert.ok((p.full?.totalUsec ?? 0) <= p.some.totalUsec);
      peak = Math.max(peak, p.some.avg10);
    }
    assert.equal(calm.some.totalUsec, 0);
    assert.ok(m.k.vmstat.pgscan_direct + m.k.vmstat.pgscan_kswapd > 0, "reclaim ran");
    assert.ok(peak > 5, `some avg10 rose under reclaim (peak ${peak})`);
    assert.ok(firedAt !== undefined && firedAt < (m.k.kernelKills[0]?.atMs ?? Infinity), `trigger at ${firedAt} before the kill at ${m.k.kernelKills[0]?.atMs}`);
    assert.equal(parsePressure(h.readFile("/sys/fs/cgroup/memory.pressure")).some.totalUsec, parsePressure(h.readFile("/proc/pressure/memory")).some.totalUsec, "the root cgroup's is the machine's");
  });

  test("a machine with room shows no pressure and fires no trigger", () => {
    const m = new SimMachine({ memTotalBytes: 1024 * MiB });
    for (let i = 0; i < 5; i++) m.addTask({ comm: `s${i}`, curve: { kind: "bursts", baseBytes: 20 * MiB, burstBytes: 50 * MiB, everyMs: 2000, lengthMs: 500, jitter: 0.5 } });
    const trig = m.psiTrigger("/", "some", 50_000, 1_000_000);
    m.advanceTo(60_000);
    assert.equal(trig.fired, 0);
    assert.equal(m.root.psi.totalUs("some"), 0);
  });
});
