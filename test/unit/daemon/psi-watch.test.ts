/** A PSI-declared OOM is checked again right before acting, as the threshold trigger's is. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { parseConfig, compileConfig } from "../../../src/config/index.js";
import { PsiWatch, stallStillHolds } from "../../../src/daemon/psi-watch.js";
import type { Declaration } from "../../../src/daemon/watch.js";
import { MemoryLogger } from "../../../src/log.js";
import { detectCgroupMode } from "../../../src/os/cgroup-mode.js";
import { FixtureHost } from "../../../src/os/fixture-host.js";
import { ManualClock } from "../../../src/os/host.js";
import { cgroupPath } from "../../../src/os/paths.js";
import { systemScheduler } from "../../../src/os/scheduler.js";
import { BUILTIN_POLICIES } from "../../../src/policy/builtins.js";
import { loadPolicyFile } from "../../../src/policy/loader.js";
import { buildFixture } from "../../support/fixture.js";

const spec = { thresholdUsec: 100_000, windowUsec: 1_000_000 }; // full 100 ms / 1 s: 10 %

describe("stallStillHolds", () => {
  const fired = { atMs: 1000, totalUsec: 5_000_000 };
  test("moments after the signal, the kernel's word stands", () => {
    assert.equal(stallStillHolds(spec, fired, { atMs: 1010, totalUsec: 5_000_000 }), true);
  });
  test("later, the stall must have kept accruing at the trigger's rate", () => {
    assert.equal(stallStillHolds(spec, fired, { atMs: 1500, totalUsec: 5_050_000 }), true, "50 ms of stall in 500 ms: 10 %");
    assert.equal(stallStillHolds(spec, fired, { atMs: 1500, totalUsec: 5_049_000 }), false, "just under 10 %");
    assert.equal(stallStillHolds(spec, fired, { atMs: 3000, totalUsec: 5_000_000 }), false, "no stall at all since: relieved");
  });
});

describe("PsiWatch declarations carry their condition, re-read", () => {
  const psi = (total: number) => `some avg10=0.00 avg60=0.00 avg300=0.00 total=${total}\nfull avg10=9.00 avg60=0.00 avg300=0.00 total=${total}\n`;
  function fire() {
    const dir = buildFixture({ cgroups: { "/jobs": {} } });
    const file = path.join(dir, "sys/fs/cgroup/jobs/memory.pressure");
    const clock = new ManualClock(10_000);
    const host = new FixtureHost(dir, { clock });
    const parsed = parseConfig(`[[trigger]]\ncgroup = "/jobs"\npsi = { stall = "full", threshold_ms = 100, window_ms = 1000 }\n`, "t.toml");
    const trigger = compileConfig(parsed.config, { builtins: new Map(BUILTIN_POLICIES), loadPolicyFile, enforceOwnership: false, source: parsed.source }).triggers[0];
    assert.ok(trigger?.kind === "psi");
    const declared: Declaration[] = [];
    const log = new MemoryLogger();
    const watch = new PsiWatch(trigger, cgroupPath("/jobs"), {
      host,
      clock,
      log,
      mode: detectCgroupMode(host),
      scheduler: { ...systemScheduler, clock },
      declare: (d) => declared.push(d),
      wake: () => {},
      once: () => {},
    });
    return { file, clock, watch, declared };
  }

  test("it holds while the stall goes on, and fails once the pressure is relieved", async () => {
    const t = fire();
    fs.writeFileSync(t.file, psi(1_000_000));
    await t.watch.start();
    assert.equal(t.watch.mode, "polling");
    t.watch.tick(t.clock.monotonicMs());
    t.clock.advance(300);
    fs.writeFileSync(t.file, psi(1_200_000));
    t.watch.tick(t.clock.monotonicMs());
    const d = t.declared[0];
    assert.ok(d?.cleared, "a PSI declaration can be checked again");
    assert.equal(d.cleared(), undefined, "right away: still true");
    t.clock.advance(400);
    fs.writeFileSync(t.file, psi(1_260_000));
    assert.equal(d.cleared(), undefined, "60 ms more stall in 400 ms: still above 10 %");
    t.clock.advance(1000);
    assert.equal(d.cleared(), "full stall since the signal 60 ms in 1400 ms, below the trigger's 100 ms per 1000 ms", "no stall for a second: the OOM is over, drop it");
    fs.rmSync(path.dirname(t.file), { recursive: true });
    assert.match(d.cleared() ?? "", /memory\.pressure can no longer be read$/, "the cgroup is gone");
    await t.watch.stop();
  });
});
