/** Task curves: what each says at a given age, and the fork storm. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { curveBytes } from "../../../src/sim/curve.js";
import { SimMachine } from "../../../src/sim/machine.js";

const MiB = 1024 * 1024;

test("steady, leak (with its cap), steps", () => {
  assert.equal(curveBytes({ kind: "steady", bytes: 5 }, 123_456, 1), 5);
  const leak = { kind: "leak", startBytes: 10, bytesPerSec: 100, capBytes: 300 } as const;
  assert.deepEqual([0, 1000, 2500, 10_000].map((a) => curveBytes(leak, a, 1)), [10, 110, 260, 300]);
  const steps = { kind: "steps", startBytes: 1, steps: [{ afterMs: 100, bytes: 5 }, { afterMs: 200, bytes: 2 }] } as const;
  assert.deepEqual([0, 99, 100, 199, 200, 1e6].map((a) => curveBytes(steps, a, 1)), [1, 1, 5, 5, 2, 2]);
});

test("bursts: one per period, of the given length, late by at most the jitter, fixed by the seed", () => {
  const c = { kind: "bursts", baseBytes: 10, burstBytes: 90, everyMs: 1000, lengthMs: 200, jitter: 0.5 } as const;
  for (const seed of [1, 2, 3]) {
    for (let period = 0; period < 20; period++) {
      let on = 0;
      let first = -1;
      for (let ms = period * 1000; ms < period * 1000 + 1000; ms++) {
        if (curveBytes(c, ms, seed) === 100) {
          on++;
          if (first < 0) first = ms - period * 1000;
        }
      }
      // Late by at most 500 ms, a 200 ms burst ends inside its own period here.
      assert.ok(first >= 0 && first <= 500, `period ${period}: starts within the jitter (${first})`);
      assert.equal(on, 200, `period ${period}: lasts its length`);
    }
  }
  const a = Array.from({ length: 5000 }, (_, ms) => curveBytes(c, ms, 1)).join();
  assert.equal(Array.from({ length: 5000 }, (_, ms) => curveBytes(c, ms, 1)).join(), a, "same seed, same bursts");
  assert.notEqual(Array.from({ length: 5000 }, (_, ms) => curveBytes(c, ms, 2)).join(), a, "another seed, other times");
});

test("a fork storm: children at its rate up to its maximum, in its cgroup, each with its footprint", () => {
  const m = new SimMachine({ memTotalBytes: 1024 * MiB });
  const parent = m.addTask({ comm: "storm", cgroup: "/s", curve: { kind: "steady", bytes: MiB }, fork: { perSec: 10, max: 25, childBytes: 4 * MiB } });
  m.advanceTo(1000);
  assert.equal(m.tasks().filter((t) => t.ppid === parent.pid).length, 10);
  m.advanceTo(5000);
  const kids = m.tasks().filter((t) => t.ppid === parent.pid);
  assert.equal(kids.length, 25);
  assert.ok(kids.every((t) => t.cgroup.path === "/s" && t.comm === "storm" && t.anonResident * 4096 === 4 * MiB));
});
