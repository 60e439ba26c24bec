import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { AvailableTrend, DECISION_REST_MAX_MS, PACE_MAX, REDECIDE_MS, StandingDecisions, UPKEEP_SHARE_IDLE, UPKEEP_SHARE_MAX, restAfter, upkeepShare } from "../../../src/daemon/standing.js";
import { Engine } from "../../../src/engine/engine.js";
import { definePolicy } from "../../../src/engine/policy.js";
import { silentLogger } from "../../../src/log.js";
import { detectCgroupMode } from "../../../src/os/cgroup-mode.js";
import { FixtureHost } from "../../../src/os/fixture-host.js";
import { ManualClock } from "../../../src/os/host.js";
import { ROOT_CGROUP, cgroupPath } from "../../../src/os/paths.js";
import { builtinPolicy } from "../../../src/policy/builtins.js";
import { buildFixture, type FixtureSpec, statusText } from "../../support/fixture.js";

const MB = 1024 * 1024;
const MACHINE: FixtureSpec = {
  memTotalKb: 1_000_000,
  memAvailableKb: 500_000,
  cgroups: { "/jobs": { current: 600 * MB, anon: 600 * MB } },
  tasks: [
    { pid: 1, comm: "init", cgroup: "/" },
    { pid: 10, comm: "a", cgroup: "/jobs", rssAnonKb: 400 * 1024 },
    { pid: 11, comm: "b", cgroup: "/jobs", rssAnonKb: 200 * 1024 },
  ],
};

/** A policy attached at "/" that spends `ms` of real time, then passes to the built-in default. */
function slowPass(ms: number) {
  return definePolicy({
    name: "slow-pass",
    handleOutOfMemory(oc) {
      const until = performance.now() + ms;
      while (performance.now() < until) {
        /* a large machine */
      }
      return oc.pass("passes on");
    },
  });
}

function setup(ms: number) {
  const dir = buildFixture(MACHINE);
  const clock = new ManualClock(10_000);
  const host = new FixtureHost(dir, { clock });
  const slow = slowPass(ms);
  const engine = new Engine({ attachments: [{ cgroup: cgroupPath("/"), policy: slow, options: {} }], defaultPolicy: { policy: builtinPolicy("kernel"), options: {} }, policyDeadlineMs: 5_000 });
  const standing = new StandingDecisions({ host, mode: detectCgroupMode(host), log: silentLogger, engine: () => engine, scopes: () => [] });
  return { dir, clock, standing };
}

describe("upkeep's share of a core", () => {
  test("the share grows with the square of the pace, from the idle share to at most half a core", () => {
    assert.equal(upkeepShare(1), UPKEEP_SHARE_IDLE);
    assert.equal(upkeepShare(2), 4 * UPKEEP_SHARE_IDLE);
    assert.equal(upkeepShare(PACE_MAX), Math.min(UPKEEP_SHARE_MAX, UPKEEP_SHARE_IDLE * PACE_MAX * PACE_MAX));
    assert.equal(upkeepShare(1000), UPKEEP_SHARE_MAX);
  });

  test("the rest after a slice keeps upkeep to its share, never past its cap", () => {
    // D ms of work then R ms of rest: D / (D + R) is the share.
    for (const pace of [1, 3, PACE_MAX]) {
      const r = restAfter(40, pace, Number.POSITIVE_INFINITY);
      assert.ok(Math.abs(40 / (40 + r) - upkeepShare(pace)) < 1e-12, `pace ${pace}`);
    }
    assert.equal(restAfter(40, 1, 1_000), 1_000);
    assert.equal(restAfter(0, 1, 1_000), 0);
    assert.equal(restAfter(-5, 1, 1_000), 0);
  });

  test("a decision run is followed by a rest in proportion to its length before the next, when idle", async () => {
    const t = setup(30);
    try {
      const r0 = await t.standing.upkeep(t.clock.monotonicMs());
      assert.equal(r0.decided, ROOT_CGROUP);
      const first = t.standing.entries()[0]?.madeAtMonoMs;
      // From here the runner-up (11, 200 MiB) grows past the victim (10, 400 MiB) and on: the plan
      // is due again after MIN_REDECIDE_MS (daemon/redecide.ts), and again after each run.
      // The run took at least 30 ms: at the idle share, the rest is at least restAfter(30).
      const leastRest = restAfter(30, 1, DECISION_REST_MAX_MS);
      assert.ok(leastRest > 2 * 1000, "longer than MIN_REDECIDE_MS: without the rest the plan would be made again sooner");
      let grow = 200;
      let again: number | undefined;
      for (let ms = 0; ms <= REDECIDE_MS + 1_000 && again === undefined; ms += 500) {
        grow += 50;
        fs.writeFileSync(path.join(t.dir, "proc/11/status"), statusText({ pid: 11, comm: "b", rssAnonKb: grow * 1024 }));
        t.clock.advance(500);
        await t.standing.upkeep(t.clock.monotonicMs());
        const made = t.standing.entries()[0]?.madeAtMonoMs;
        if (made !== first) again = made;
      }
      assert.ok(again !== undefined, "the plan is made again within REDECIDE_MS of rest at most");
      assert.ok(again - (first ?? 0) >= leastRest, `made again ${again - (first ?? 0)} ms after the first, before its rest of ${leastRest} ms`);
      assert.ok(again - (first ?? 0) < REDECIDE_MS, `made again for the change, not for its age (${again - (first ?? 0)} ms)`);
    } finally {
      fs.rmSync(t.dir, { recursive: true, force: true });
    }
  });

  test("upkeep reports its slices: the refresh, then each policy call of the chain apart", async () => {
    const t = setup(5);
    try {
      const first = await t.standing.upkeep(t.clock.monotonicMs());
      // A cold model has nothing to refresh: the decision run alone, the attached policy's call
      // and the built-in default's (with the plan and record) in two slices.
      assert.equal(first.refreshed, 0);
      assert.equal(first.decided, ROOT_CGROUP);
      assert.equal(first.slicesMs.length, 2);
      // Later, a refresh slice comes first, and a decision run (the machine changed) after it.
      fs.writeFileSync(path.join(t.dir, "proc/11/status"), statusText({ pid: 11, comm: "b", rssAnonKb: 900 * 1024 }));
      let r = first;
      for (let i = 0; i < 200 && !(r.refreshed > 0 && r.decided !== undefined); i++) {
        t.clock.advance(REDECIDE_MS / 4);
        r = await t.standing.upkeep(t.clock.monotonicMs());
      }
      assert.ok(r.refreshed > 0 && r.decided !== undefined, "a refresh and a decision run in one upkeep");
      assert.equal(r.slicesMs.length, 3);
      assert.equal(r.longestSliceMs, Math.max(...r.slicesMs));
      assert.ok(t.standing.longestSliceMs >= r.longestSliceMs);
    } finally {
      fs.rmSync(t.dir, { recursive: true, force: true });
    }
  });
});

describe("the pace follows MemAvailable's fall (AvailableTrend)", () => {
  const MB = 1024 * 1024;
  /** The pace after samples of `bytes(i)` every `stepMs`, `n` of them. */
  function paceAfter(n: number, stepMs: number, bytes: (i: number) => number): number {
    const trend = new AvailableTrend();
    let pace = 1;
    for (let i = 0; i < n; i++) pace = trend.pace(1_000 + i * stepMs, bytes(i));
    return pace;
  }

  test("a flat or rising MemAvailable, and too short a span, leave the pace at 1", () => {
    assert.equal(paceAfter(20, 250, () => 800 * MB), 1);
    assert.equal(paceAfter(20, 250, (i) => (800 + 10 * i) * MB), 1);
    assert.equal(paceAfter(2, 100, (i) => (800 - 100 * i) * MB), 1, "200 ms of samples say nothing yet");
  });

  test("seconds left at the recent fall set it: 10 s or fewer PACE_MAX, a minute or more 1, linear between", () => {
    // A leak at 150 MiB/s with 1 GiB left: 7 s.
    assert.equal(paceAfter(12, 250, (i) => (1024 - 150 * 0.25 * i) * MB), PACE_MAX);
    // 10 MiB/s with 1 GiB left: 100 s.
    assert.equal(paceAfter(12, 250, (i) => (1024 - 10 * 0.25 * i) * MB), 1);
    // 35 s left: half-way.
    const p = paceAfter(9, 250, (i) => (700 - 20 * 0.25 * i) * MB);
    assert.ok(p > 4 && p < 7, `pace ${p}`);
  });

  test("only the last few seconds count: a fall that stopped a while ago leaves the pace at 1", () => {
    const trend = new AvailableTrend();
    for (let i = 0; i < 8; i++) trend.pace(1_000 + i * 250, (1024 - 40 * i) * MB);
    let pace = PACE_MAX;
    for (let i = 0; i < 30; i++) pace = trend.pace(3_000 + i * 250, 744 * MB);
    assert.equal(pace, 1);
  });
});
