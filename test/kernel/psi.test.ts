// PSI triggers (src/os/psi-trigger.ts) on a real kernel: they fire under memory.high throttling,
// both on a cgroup's memory.pressure and system-wide, and a refused window is a clear error.
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { OomkitError } from "../../src/errors.js";
import { PsiTrigger } from "../../src/os/psi-trigger.js";
import { TestTree, vmSkip } from "./helpers.js";

const SPEC = { kind: "some", stallUsec: 150_000, windowUsec: 1_000_000 } as const;

describe("PSI triggers", { skip: vmSkip() }, () => {
  let t: TestTree;
  before(async () => {
    t = await TestTree.create("psi");
  });
  after(() => t?.teardown());

  for (const scope of ["cgroup", "system"] as const) {
    test(`"some 150000 1000000" on ${scope === "cgroup" ? "a cgroup's memory.pressure" : "/proc/pressure/memory"} fires under memory.high throttling`, async () => {
      const cg = t.mk(`throttled-${scope}`, { "memory.high": "24M", "memory.swap.max": "0" });
      const file = scope === "cgroup" ? path.join(cg, "memory.pressure") : "/proc/pressure/memory";
      const trigger = PsiTrigger.open(file, SPEC);
      try {
        assert.equal(await trigger.wait(1_500), "timeout", "quiet before the hog starts");
        let ticks = 0;
        const timer = setInterval(() => ticks++, 10);
        const hog = t.hog({ cgroup: cg, mib: 64 });
        const started = Date.now();
        assert.equal(await trigger.wait(20_000), "fired");
        clearInterval(timer);
        assert.ok(ticks > (Date.now() - started) / 100, "the event loop ran while waiting");
        assert.equal(await trigger.wait(5_000), "fired", "and again, while the pressure lasts");
        hog.kill();
      } finally {
        trigger.close();
      }
    });
  }

  test("a trigger on a removed cgroup reports E_VANISHED", async () => {
    const cg = t.mk("removed");
    const trigger = PsiTrigger.open(path.join(cg, "memory.pressure"), SPEC);
    try {
      const waiting = trigger.wait(10_000);
      const { rmdirSync } = await import("node:fs");
      rmdirSync(cg);
      await assert.rejects(waiting, (e: unknown) => e instanceof OomkitError && e.code === "E_VANISHED");
    } finally {
      trigger.close();
    }
  });

  test("the kernel refuses a bad window with a clear E_CONFIG error", () => {
    for (const spec of [
      { kind: "some", stallUsec: 150_000, windowUsec: 100 },
      { kind: "full", stallUsec: 2_000_000, windowUsec: 1_000_000 },
      { kind: "some", stallUsec: 150_000, windowUsec: 60_000_000 },
    ] as const) {
      assert.throws(
        () => PsiTrigger.open("/proc/pressure/memory", spec),
        (e: unknown) => e instanceof OomkitError && e.code === "E_CONFIG" && /window must be 500 ms to 10000 ms/.test(e.message),
      );
    }
  });
});
