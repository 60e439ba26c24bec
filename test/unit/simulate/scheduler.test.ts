/** Virtual time: the scheduler's order, the Host's waits in virtual time, reads that cost time. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { sleep } from "../../../src/os/scheduler.js";
import { SimMachine } from "../../../src/sim/machine.js";
import { VirtualScheduler, quiet } from "../../../src/sim/scheduler.js";
import { SimHost } from "../../../src/sim/sim-host.js";

const MiB = 1024 * 1024;

describe("VirtualScheduler", () => {
  test("fires timers in time order (ties in the order set), late ones at the moment work ended", async () => {
    const s = new VirtualScheduler();
    const seen: string[] = [];
    s.after(30, () => seen.push(`c@${s.clock.monotonicMs()}`));
    s.after(10, () => {
      seen.push(`a@${s.clock.monotonicMs()}`);
      s.clock.advance(25); // work that ran past the next timers
    });
    s.after(10, () => seen.push(`b@${s.clock.monotonicMs()}`));
    const cancelled = s.after(20, () => seen.push("never"));
    cancelled.cancel();
    await s.runUntil(100);
    assert.deepEqual(seen, ["a@10", "b@35", "c@35"]);
    assert.equal(s.clock.monotonicMs(), 100);
  });

  test("promise chains started by a timer settle before the next one; sleep waits in virtual time", async () => {
    const s = new VirtualScheduler();
    const seen: number[] = [];
    void (async () => {
      await sleep(s, 50);
      seen.push(s.clock.monotonicMs());
      await sleep(s, 50);
      seen.push(s.clock.monotonicMs());
    })();
    await s.runUntil(1000);
    assert.deepEqual(seen, [50, 100]);
  });

  test("a chain of real turns started by a timer ends before the next timer: settling stops early only when nothing can run", async () => {
    const s = new VirtualScheduler();
    const seen: string[] = [];
    const turn = () => new Promise<void>((r) => setImmediate(r));
    s.after(10, () => {
      void (async () => {
        // Three real turns, as a decision run ahead takes between its policies.
        await turn();
        await turn();
        await turn();
        seen.push("chain done");
      })();
    });
    s.after(20, () => seen.push("next timer"));
    await s.runUntil(100);
    assert.deepEqual(seen, ["chain done", "next timer"]);
  });

  test("quiet(): false while another immediate waits, true when nothing can run", async () => {
    const q = await new Promise<boolean>((r) => {
      setImmediate(() => r(quiet()));
      setImmediate(() => {});
    });
    assert.equal(q, false);
    assert.equal(await new Promise<boolean>((r) => setImmediate(() => r(quiet()))), true);
  });

  test("refuses to go back", async () => {
    const s = new VirtualScheduler();
    await s.runUntil(10);
    await assert.rejects(s.runUntil(5), /cannot go back/);
  });
});

describe("SimHost in virtual time", () => {
  function machine() {
    const m = new SimMachine({ memTotalBytes: 512 * MiB, swap: { kind: "zram", totalBytes: 256 * MiB }, seed: 3 });
    m.addCgroup("/t", { high: 32 * MiB });
    m.addTask({ comm: "p", cgroup: "/t", curve: { kind: "leak", startBytes: 16 * MiB, bytesPerSec: 32 * MiB, capBytes: 128 * MiB }, touchPerSec: 1 });
    return m;
  }

  test("a PSI trigger armed through the Host fires when the model's stall crosses it, in virtual time", async () => {
    const s = new VirtualScheduler();
    const host = new SimHost(machine(), { clock: s.clock, scheduler: s });
    assert.ok(host.waits, "a SimHost with a scheduler can wait");
    const trig = host.waits.psiTrigger("/sys/fs/cgroup/t/memory.pressure", { kind: "some", stallUsec: 100_000, windowUsec: 1_000_000 });
    let firedAt: number | undefined;
    void trig.wait(-1).then(() => (firedAt = s.clock.monotonicMs()));
    // Something must step the machine as time passes (the simulation's stepper does).
    const stepper = () => {
      host.sync();
      s.after(50, stepper);
    };
    s.after(50, stepper);
    await s.runUntil(10_000);
    assert.ok(firedAt !== undefined && firedAt > 0 && firedAt < 10_000, `fired at ${firedAt}`);
    const timeout = await Promise.race([trig.wait(100), s.runUntil(10_200).then(() => "ran")]);
    assert.ok(timeout === "fired" || timeout === "timeout" || timeout === "ran");
    trig.close();
  });

  test("the kernel's limits are refused as the kernel refuses them, and an unknown file is unsupported", () => {
    const s = new VirtualScheduler();
    const host = new SimHost(machine(), { clock: s.clock, scheduler: s });
    assert.throws(() => host.waits?.psiTrigger("/proc/pressure/memory", { kind: "full", stallUsec: 100, windowUsec: 100_000 }), /window/);
    assert.throws(() => host.waits?.psiTrigger("/sys/fs/cgroup/nope/memory.pressure", { kind: "some", stallUsec: 100, windowUsec: 1_000_000 }), /no such pressure file/);
  });

  test("an exit wait ends when the model's task is reaped", async () => {
    const s = new VirtualScheduler();
    const m = machine();
    const host = new SimHost(m, { clock: s.clock, scheduler: s });
    await s.runUntil(500);
    m.signal(100, "SIGKILL");
    let out: string | undefined;
    void host.waits?.waitExit(100, 5000).then((o) => (out = o));
    await s.runUntil(1500);
    assert.equal(out, "exited");
    assert.equal(await host.waits?.waitExit(100, 10), "exited", "a process already gone has exited");
  });

  test("reads cost virtual time, spent at the next write or settle", () => {
    const s = new VirtualScheduler();
    const host = new SimHost(machine(), { clock: s.clock, scheduler: s, readCostUs: 500 });
    for (let i = 0; i < 10; i++) host.readFile("/proc/meminfo");
    assert.equal(s.clock.monotonicMs(), 0, "owed, not spent yet");
    assert.equal(host.reads, 10);
    host.writeFile("/sys/fs/cgroup/t/memory.high", "max");
    assert.equal(s.clock.monotonicMs(), 5, "10 reads × 500 µs");
    assert.equal(host.settle(), 0);
  });
});
