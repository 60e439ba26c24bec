import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { AHEAD_DEADLINES, Engine } from "../../../src/engine/engine.js";
import { WarmModel } from "../../../src/engine/model.js";
import { definePolicy, type OomCause } from "../../../src/engine/policy.js";
import { takeSnapshot } from "../../../src/engine/snapshot.js";
import { DRIFT_FRACTION, ELSEWHERE_FRACTION, type PreparedPlan } from "../../../src/engine/standing.js";
import { VictimRegistry } from "../../../src/engine/victims.js";
import { FixtureHost } from "../../../src/os/fixture-host.js";
import { ManualClock } from "../../../src/os/host.js";
import { builtinPolicy } from "../../../src/policy/builtins.js";
import { cgroupPath } from "../../../src/os/paths.js";
import { buildFixture, type FixtureSpec } from "../../support/fixture.js";

const MB = 1024 * 1024;

const MACHINE: FixtureSpec = {
  cgroups: {
    "/jobs": { max: 1000 * MB, current: 700 * MB },
    "/jobs/big": { current: 500 * MB, anon: 500 * MB },
    "/jobs/small": { current: 200 * MB, anon: 200 * MB },
    "/other": { current: 50 * MB },
  },
  tasks: [
    { pid: 1, comm: "init", cgroup: "/" },
    { pid: 100, comm: "big", cgroup: "/jobs/big", rssAnonKb: 500 * 1024, startTime: 5000 },
    { pid: 200, comm: "small", cgroup: "/jobs/small", rssAnonKb: 200 * 1024, startTime: 6000 },
    { pid: 300, comm: "other", cgroup: "/other", rssAnonKb: 50 * 1024, startTime: 7000 },
  ],
};

const CAUSE: OomCause = { kind: "cgroup", trigger: "test", message: "the test's trouble", figures: {} };
const STANDING: OomCause = { kind: "cgroup", trigger: "standing", message: "decided ahead", figures: {} };

function setup(spec: FixtureSpec = MACHINE) {
  const dir = buildFixture(spec);
  const clock = new ManualClock(50_000);
  const host = new FixtureHost(dir, { clock });
  const model = new WarmModel(host, "/sys/fs/cgroup");
  const victims = new VictimRegistry();
  const engine = new Engine({ defaultPolicy: { policy: builtinPolicy("kernel"), options: {} }, victims });
  const prepare = async (scope = "/jobs") => {
    const r = await engine.prepare({ snapshot: takeSnapshot(model), scope, cause: STANDING, generation: model.generation });
    assert.ok(r.plan, `a plan for ${scope}: ${r.abandoned ?? JSON.stringify(r.record.chain)}`);
    return r.plan;
  };
  /** The live machine now: a new host on the same folder (its manifest read again). */
  const live = () => takeSnapshot(new FixtureHost(dir, { clock }));
  const carryOut = (plan: PreparedPlan, maxAgeMs = 30_000) => engine.carryOut(plan, { snapshot: live(), cause: CAUSE, mode: "dry-run", maxAgeMs });
  const rebuild = (s: FixtureSpec) => buildFixture(s, dir);
  return { dir, clock, host, model, engine, victims, prepare, carryOut, rebuild, live };
}

const withTask = (pid: number, change: Partial<FixtureSpec["tasks"] extends readonly (infer T)[] | undefined ? T : never>): FixtureSpec => ({
  ...MACHINE,
  tasks: (MACHINE.tasks ?? []).map((t) => (t.pid === pid ? { ...t, ...change } : t)),
});

describe("a standing plan, checked against the live machine at the trigger", () => {
  test("unchanged machine: the plan made ahead is carried out, and the record says standing, its age and what was re-checked", async () => {
    const t = setup();
    const plan = await t.prepare();
    assert.deepEqual(plan.targets.map((x) => x.action.kind === "kill-task" && x.action.pid), [100]);
    t.clock.advance(1_500);
    const r = await t.carryOut(plan);
    assert.ok("record" in r, JSON.stringify(r));
    assert.equal(r.record.handled, true);
    assert.equal(r.record.policy, "kernel");
    assert.equal(r.record.cause.trigger, "test", "the record carries the trouble that fired, not the standing run's");
    assert.deepEqual(r.record.plan.map((a) => a.kind === "kill-task" && a.pid), [100]);
    const d = r.record.decision;
    assert.equal(d?.path, "standing");
    assert.ok(d?.path === "standing" && d.ageMs === 1_500);
    assert.ok(d?.path === "standing" && d.rechecked[0]?.target === "pid 100" && d.rechecked[0].bytesNow === 500 * MB && d.rechecked[0].bytesThen === 500 * MB);
  });

  test("the same victim as a fresh decision on the same machine", async () => {
    const t = setup();
    const plan = await t.prepare();
    const fresh = await t.engine.explain(t.live(), "/jobs", CAUSE);
    const standing = await t.carryOut(plan);
    assert.ok("record" in standing);
    assert.deepEqual(standing.record.plan, fresh.plan);
  });

  const refusals: { name: string; change: (t: ReturnType<typeof setup>) => void; reason: RegExp }[] = [
    { name: "the victim exited", change: (t) => fs.rmSync(path.join(t.dir, "proc/100"), { recursive: true }), reason: /pid 100: no such process/ },
    { name: "its pid now names a new process (another start time)", change: (t) => t.rebuild(withTask(100, { startTime: 9999 })), reason: /pid 100: no such process \(it exited, or the pid was reused\)/ },
    { name: "it moved out of the scope", change: (t) => t.rebuild(withTask(100, { cgroup: "/other" })), reason: /pid 100: outside the scope \/jobs/ },
    { name: "it became oom_score_adj -1000", change: (t) => t.rebuild(withTask(100, { oomScoreAdj: -1000 })), reason: /pid 100: oom_score_adj -1000/ },
    {
      name: "its cgroup gained an omit mark",
      change: (t) => t.rebuild({ ...MACHINE, cgroups: { ...MACHINE.cgroups, "/jobs/big": { current: 500 * MB, anon: 500 * MB, xattrs: { "trusted.oomd_omit": "1" } } } }),
      reason: /pid 100: omit: /,
    },
    { name: "it is already a victim", change: (t) => t.victims.add({ kind: "task", pid: 100, startTimeTicks: 5000, cgroup: cgroupPath("/jobs/big"), by: "oomkit", sinceMonoMs: 0, deadlineMonoMs: 1e12 }), reason: /pid 100: already a victim/ },
    { name: `it shrank below ${DRIFT_FRACTION * 100} % of what it held when chosen`, change: (t) => t.rebuild(withTask(100, { rssAnonKb: 100 * 1024 })), reason: /pid 100 holds 100\.0 MiB now against 500\.0 MiB when chosen/ },
    { name: "its scope is gone", change: (t) => fs.rmSync(path.join(t.dir, "sys/fs/cgroup/jobs"), { recursive: true }), reason: /no cgroup \/jobs/ },
  ];
  for (const c of refusals) {
    test(`refused, nothing done, when ${c.name}`, async () => {
      const t = setup();
      const plan = await t.prepare();
      c.change(t);
      const r = await t.carryOut(plan);
      assert.ok("refused" in r, `expected a refusal, got ${JSON.stringify("record" in r ? r.record.plan : r)}`);
      assert.match(r.refused, c.reason);
    });
  }

  test("refused when older than its bound", async () => {
    const t = setup();
    const plan = await t.prepare();
    t.clock.advance(30_001);
    const r = await t.carryOut(plan, 30_000);
    assert.ok("refused" in r);
    assert.match(r.refused, /the standing plan is 30001 ms old \(at most 30000\)/);
  });

  test("growth is no reason to refuse: a victim that grew is still the one to kill", async () => {
    const t = setup();
    const plan = await t.prepare();
    t.rebuild({ ...withTask(100, { rssAnonKb: 900 * 1024 }), cgroups: { ...MACHINE.cgroups, "/jobs": { max: 1000 * MB, current: 1100 * MB } } });
    const r = await t.carryOut(plan);
    assert.ok("record" in r, JSON.stringify(r));
    assert.equal(r.record.decision?.path === "standing" && r.record.decision.rechecked[0]?.bytesNow, 900 * MB);
  });

  /** The machine after `small` (pid 200) grew by `mib`, and /jobs with it. */
  const smallGrew = (mib: number): FixtureSpec => ({
    ...withTask(200, { rssAnonKb: (200 + mib) * 1024 }),
    cgroups: { ...MACHINE.cgroups, "/jobs": { max: 1000 * MB, current: (700 + mib) * MB }, "/jobs/small": { current: (200 + mib) * MB, anon: (200 + mib) * MB } },
  });

  test(`refused when the scope grew outside its targets by more than ${ELSEWHERE_FRACTION * 100} % of what they held: the plan did not see it`, async () => {
    const t = setup();
    const plan = await t.prepare();
    t.rebuild(smallGrew(250));
    const r = await t.carryOut(plan);
    assert.ok("refused" in r, JSON.stringify("record" in r ? r.record.plan : r));
    assert.match(r.refused, /\/jobs grew by 250\.0 MiB outside the plan's targets since it was made \(more than 125\.0 MiB\)/);
  });

  test("refused when the target's prefer/avoid mark is not the one the decision saw (systemd marks a unit's cgroup as it starts it)", async () => {
    const t = setup();
    const plan = await t.prepare();
    assert.deepEqual(plan.targets.map((x) => x.preference), ["normal"]);
    const marked: FixtureSpec = { ...MACHINE, cgroups: { ...MACHINE.cgroups, "/jobs/big": { current: 500 * MB, anon: 500 * MB, xattrs: { "user.oomd_avoid": "1" } } } };
    t.rebuild(marked);
    const r = await t.carryOut(plan);
    assert.ok("refused" in r, JSON.stringify("record" in r ? r.record.plan : r));
    assert.equal(r.refused, "pid 100 is marked avoid now, normal when the plan was made");
    // A plan made on the marked machine stands.
    const again = await t.engine.prepare({ snapshot: takeSnapshot(new FixtureHost(t.dir, { clock: t.clock })), scope: "/jobs", cause: STANDING });
    assert.ok(again.plan);
    assert.ok("record" in (await t.carryOut(again.plan)));
  });

  test("a target that grew is measured by what it holds now: a leak named early in its life is not refused for the noise around it", async () => {
    const t = setup();
    const plan = await t.prepare();
    // pid 100 (500 MiB when chosen) grew to 900; small grew by 150 MiB: more than a quarter of 500, less than a quarter of 900.
    const grown = smallGrew(150);
    const tasks = (grown.tasks ?? []).map((x) => (x.pid === 100 ? { ...x, rssAnonKb: 900 * 1024 } : x));
    t.rebuild({ ...grown, tasks, cgroups: { ...grown.cgroups, "/jobs": { max: 2000 * MB, current: (700 + 150 + 400) * MB }, "/jobs/big": { current: 900 * MB, anon: 900 * MB } } });
    const r = await t.carryOut(plan);
    assert.ok("record" in r, JSON.stringify(r));
    // The same growth elsewhere beside a target that did not grow is refused (the test above, at 250 MiB against 125).
    t.rebuild(smallGrew(150));
    const still = await t.carryOut(plan);
    assert.ok("refused" in still, JSON.stringify("record" in still ? still.record.plan : still));
  });

  test("growth elsewhere within that bound is no reason to refuse", async () => {
    const t = setup();
    const plan = await t.prepare();
    t.rebuild(smallGrew(100));
    const r = await t.carryOut(plan);
    assert.ok("record" in r, JSON.stringify(r));
    assert.equal(r.record.decision?.path, "standing");
  });

  test("the figures a plan is checked against are those of the moment it was made, read live: the model's lag is not growth", async () => {
    const t = setup();
    await t.prepare(); // the model now holds the machine as it was
    // small grows by 300 MiB before the next plan is made; the model has not re-read it yet.
    t.rebuild(smallGrew(300));
    const made = await t.engine.prepare({ snapshot: takeSnapshot(t.model), scope: "/jobs", cause: STANDING, live: t.live() });
    assert.ok(made.plan);
    assert.equal(made.plan.scopeBytes, 1000 * MB, "the scope as it was when the plan was made");
    assert.deepEqual(made.plan.targets.map((x) => x.bytes), [500 * MB]);
    const r = await t.carryOut(made.plan);
    assert.ok("record" in r, `nothing grew since the plan was made: ${JSON.stringify(r)}`);
  });

  test("the machine's scope: its memory in use stands for its charge", async () => {
    const base = { ...MACHINE, memTotalKb: 2_000_000, memAvailableKb: 1_000_000 };
    const t = setup(base);
    const plan = await t.prepare("/");
    t.rebuild({ ...base, memAvailableKb: 1_000_000 - 10 * 1024 });
    const small = await t.carryOut(plan);
    assert.ok("record" in small, JSON.stringify(small));
    t.rebuild({ ...base, memAvailableKb: 1_000_000 - 200 * 1024 });
    const big = await t.carryOut(plan);
    assert.ok("refused" in big, JSON.stringify(big));
    assert.match(big.refused, /^\/ grew by 200\.0 MiB outside the plan's targets/);
  });

  test(`ahead of time a policy has ${AHEAD_DEADLINES} deadlines, at the trigger one; the built-in default runs to its end either way`, async () => {
    const busy = (ms: number) => {
      const until = performance.now() + ms;
      while (performance.now() < until) {
        /* a large machine */
      }
    };
    const slowish = definePolicy({
      name: "slowish",
      handleOutOfMemory(oc) {
        busy(400); // past one deadline (200 ms), within four with room for a loaded machine
        const small = oc.tasks().find((x) => x.comm === "small");
        return small ? oc.killTask(small, "its own choice") : oc.pass("none");
      },
    });
    const t = setup();
    const attached = new Engine({ attachments: [{ cgroup: cgroupPath("/jobs"), policy: slowish, options: {} }], defaultPolicy: { policy: builtinPolicy("kernel"), options: {} }, policyDeadlineMs: 200 });
    const made = await attached.prepare({ snapshot: takeSnapshot(t.model), scope: "/jobs", cause: STANDING });
    assert.equal(made.plan?.policy, "slowish", made.abandoned ?? JSON.stringify(made.record.chain));
    assert.equal((await attached.explain(t.live(), "/jobs", CAUSE)).chain[0]?.outcome, "timeout", "at the trigger, one deadline");

    const slowDefault = definePolicy({
      name: "slow-default",
      handleOutOfMemory(oc) {
        busy(300);
        const big = oc.tasks().find((x) => x.comm === "big");
        return big ? oc.killTask(big, "the largest") : oc.pass("none");
      },
    });
    const defaultOnly = new Engine({ defaultPolicy: { policy: slowDefault, options: {} }, policyDeadlineMs: 50 });
    const ahead = await defaultOnly.prepare({ snapshot: takeSnapshot(t.model), scope: "/jobs", cause: STANDING });
    assert.equal(ahead.abandoned === undefined ? ahead.record.chain[0]?.outcome : ahead.abandoned, "handled", "the engine's own last word has no deadline, ahead either");
  });

  test("ahead of time the event loop turns between the policies of a chain: a trigger that fires meanwhile waits for one policy, not the chain", async () => {
    let turned = false;
    const first = definePolicy({ name: "first", handleOutOfMemory: (oc) => {
      setImmediate(() => (turned = true)); // the trigger's event, arriving mid-chain
      return oc.pass("not mine");
    } });
    let seen: boolean | undefined;
    const second = definePolicy({ name: "second", handleOutOfMemory: (oc) => {
      seen = turned;
      const big = oc.tasks().find((x) => x.comm === "big");
      return big ? oc.killTask(big, "the largest") : oc.pass("none");
    } });
    const t = setup();
    const engine = new Engine({ attachments: [{ cgroup: cgroupPath("/jobs"), policy: first, options: {} }], defaultPolicy: { policy: second, options: {} } });
    const made = await engine.prepare({ snapshot: takeSnapshot(t.model), scope: "/jobs", cause: STANDING });
    assert.equal(made.plan?.policy, "second");
    assert.equal(seen, true, "the event ran before the next policy");
  });
});
