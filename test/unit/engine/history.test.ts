// The daemon's history of cgroup figures: sampled, while it decides ahead, only where a policy
// asked for rates (History.updateAsked), so that a crowded machine's hundreds of cgroups are not
// read every two seconds for rates the built-in default never asks for.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { ASKED_TTL_MS, History } from "../../../src/engine/history.js";
import { takeSnapshot } from "../../../src/engine/snapshot.js";
import { FixtureHost } from "../../../src/os/fixture-host.js";
import { ManualClock } from "../../../src/os/host.js";
import { cgroupPath } from "../../../src/os/paths.js";
import { buildFixture, type FixtureSpec } from "../../support/fixture.js";
import { CountingHost } from "../../support/counting-host.js";

const MB = 1024 * 1024;

function machine(): FixtureSpec {
  const cgroups: Record<string, { current: number }> = {};
  for (let i = 0; i < 20; i++) cgroups[`/svc/s${i}`] = { current: 10 * MB };
  return { cgroups };
}

function setup() {
  const dir = buildFixture(machine());
  const clock = new ManualClock(10_000);
  const host = new CountingHost(new FixtureHost(dir, { clock }));
  const history = new History();
  /** Samples as the daemon does while it decides ahead; returns the cgroups whose files were read. */
  const sample = () => {
    host.reads.length = 0;
    history.updateAsked(takeSnapshot(host));
    return new Set(host.reads.flatMap((p) => /\/sys\/fs\/cgroup(\/svc\/s\d+)\/memory\./.exec(p)?.[1] ?? []));
  };
  const grow = (i: number, mb: number) => fs.writeFileSync(path.join(dir, `sys/fs/cgroup/svc/s${i}/memory.current`), `${mb * MB}\n`);
  return { dir, clock, history, sample, grow, done: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

describe("History.updateAsked: only the cgroups a policy asked rates of", () => {
  test("nothing asked: no cgroup is read, the machine's own sample is taken", () => {
    const t = setup();
    try {
      assert.deepEqual([...t.sample()], []);
      assert.equal(t.history.series(cgroupPath("/")).length, 1, "the machine's sample");
    } finally {
      t.done();
    }
  });

  test("asked once, a cgroup is sampled from then on, and its rates follow it; the others are never read", () => {
    const t = setup();
    try {
      t.sample();
      const s3 = cgroupPath("/svc/s3");
      assert.equal(t.history.rates(s3).growthBytesPerSec, undefined, "no history yet: the first ask");
      assert.deepEqual([...t.sample()], ["/svc/s3"]);
      t.clock.advance(2_000);
      t.grow(3, 30);
      assert.deepEqual([...t.sample()], ["/svc/s3"]);
      assert.equal(t.history.rates(s3).growthBytesPerSec, (20 * MB) / 2, "20 MiB in 2 s");
    } finally {
      t.done();
    }
  });

  test(`a cgroup not asked of for ${ASKED_TTL_MS / 60_000} minutes is no longer sampled, and its series is dropped`, () => {
    const t = setup();
    try {
      t.sample();
      const s5 = cgroupPath("/svc/s5");
      t.history.rates(s5);
      assert.deepEqual([...t.sample()], ["/svc/s5"]);
      t.clock.advance(ASKED_TTL_MS - 1_000);
      assert.deepEqual([...t.sample()], ["/svc/s5"], "within its time: still sampled");
      t.clock.advance(2_000);
      assert.deepEqual([...t.sample()], [], "past its time");
      assert.equal(t.history.series(s5).length, 0);
    } finally {
      t.done();
    }
  });

  test("a cgroup that went is forgotten, asks and all: one made again under its name is not sampled until asked of", () => {
    const t = setup();
    try {
      t.sample();
      t.history.rates(cgroupPath("/svc/s7"));
      const cg = path.join(t.dir, "sys/fs/cgroup/svc/s7");
      const saved = fs.mkdtempSync(path.join(t.dir, "..", "s7-"));
      fs.cpSync(cg, saved, { recursive: true });
      fs.rmSync(cg, { recursive: true });
      t.clock.advance(2_000);
      t.history.update(takeSnapshot(new FixtureHost(t.dir, { clock: t.clock })));
      fs.cpSync(saved, cg, { recursive: true });
      fs.rmSync(saved, { recursive: true });
      t.clock.advance(2_000);
      assert.deepEqual([...t.sample()], []);
    } finally {
      t.done();
    }
  });

  test("update samples every cgroup, as without decisions made ahead", () => {
    const t = setup();
    try {
      const host = new CountingHost(new FixtureHost(t.dir, { clock: t.clock }));
      t.history.update(takeSnapshot(host));
      assert.equal(new Set(host.reads.flatMap((p) => /\/sys\/fs\/cgroup(\/svc\/s\d+)\/memory\.current/.exec(p)?.[1] ?? [])).size, 20);
    } finally {
      t.done();
    }
  });
});
