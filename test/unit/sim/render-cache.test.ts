/**
 * A task's /proc/PID/stat and status texts are kept while the figures they are rendered from
 * stand (src/sim/render.ts): whichever figure moves, the text read next is the one rendered
 * afresh.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { SimMachine } from "../../../src/sim/machine.js";
import { procStat, procStatus, renderProcStat, renderProcStatus } from "../../../src/sim/render.js";
import { mulberry32 } from "../../../src/sim/rng.js";

const MiB = 1024 * 1024;

test("the kept stat and status texts follow every figure they show", () => {
  const m = new SimMachine({ memTotalBytes: 256 * MiB });
  const t = m.addTask({ comm: "walker", curve: { kind: "steady", bytes: 4 * MiB } });
  const rand = mulberry32(7);
  const fields = ["anonResident", "anonSwapped", "fileResident", "fileEvicted", "ptPages", "stallShare", "state"] as const;
  for (let i = 0; i < 500; i++) {
    const f = fields[Math.floor(rand() * fields.length)] as (typeof fields)[number];
    if (f === "state") t.state = t.state === "running" ? "dying" : "running";
    else if (f === "stallShare") t.stallShare = rand() < 0.5 ? 0 : rand();
    else t[f] = Math.floor(rand() * 4096);
    // Read once or twice between moves: the second read is served from what was kept.
    for (let j = rand() < 0.5 ? 1 : 2; j > 0; j--) {
      assert.equal(procStat(m.k, t), renderProcStat(m.k, t), `stat after ${f} moved (step ${i})`);
      assert.equal(procStatus(m.k, t), renderProcStatus(m.k, t), `status after ${f} moved (step ${i})`);
    }
  }
});
