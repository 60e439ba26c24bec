// What the kernel itself does under a limit: memory.max OOM kills and memory.high throttling,
// as oomkit will observe them.
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { TestTree, readKeyed, readPressure, vmSkip, waitFor, waitMemoryEvent, waitPopulated } from "./helpers.js";

describe("kernel OOM and throttling", { skip: vmSkip() }, () => {
  let t: TestTree;
  before(async () => {
    t = await TestTree.create("oom");
  });
  after(() => t?.teardown());

  test("a hog over memory.max is OOM-killed and memory.events shows oom 1, oom_kill 1", async () => {
    const cg = t.mk("max", { "memory.max": "32M", "memory.swap.max": "0" });
    const hog = t.hog({ cgroup: cg, mib: 64 });
    const { signal } = await hog.exited;
    assert.equal(signal, "SIGKILL");
    await waitMemoryEvent(cg, "oom_kill", 1, 5_000);
    const events = readKeyed(path.join(cg, "memory.events"));
    assert.equal(events.oom, 1);
    assert.equal(events.oom_kill, 1);
    await waitPopulated(cg, false, 5_000);
  });

  test("memory.oom.group kills the whole cgroup", async () => {
    const cg = t.mk("group", { "memory.max": "48M", "memory.swap.max": "0", "memory.oom.group": "1" });
    const small = t.hog({ cgroup: cg, mib: 4 });
    await small.ready;
    const big = t.hog({ cgroup: cg, mib: 96 });
    assert.equal((await big.exited).signal, "SIGKILL");
    assert.equal((await small.exited).signal, "SIGKILL", "the bystander goes too");
    const events = readKeyed(path.join(cg, "memory.events"));
    assert.ok((events.oom_group_kill ?? 0) >= 1, JSON.stringify(events));
  });

  test("memory.high throttling raises the cgroup's memory.pressure", async () => {
    const cg = t.mk("high", { "memory.high": "24M", "memory.swap.max": "0" });
    const file = path.join(cg, "memory.pressure");
    const before = readPressure(file).some.total;
    const hog = t.hog({ cgroup: cg, mib: 64 });
    const p = await waitFor(
      () => {
        const now = readPressure(file);
        return now.some.total - before > 200_000 && now.some.avg10 > 0 ? now : undefined;
      },
      { timeoutMs: 20_000, what: `some pressure in ${file}`, last: () => JSON.stringify(readPressure(file)) },
    );
    assert.ok(readKeyed(path.join(cg, "memory.events")).high! > 0, "memory.events counts high");
    hog.kill();
    assert.ok(p.some.avg10 > 0);
  });
});
