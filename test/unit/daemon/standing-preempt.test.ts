// An event stops a decision made ahead in the middle of a policy's call (src/engine/preempt.ts):
// the plan made before stands for the trigger, the run is dropped, and a stream of events cannot
// keep plans from being made.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { MAX_STOPPED_RUNS, REDECIDE_MS, StandingDecisions } from "../../../src/daemon/standing.js";
import { Engine } from "../../../src/engine/engine.js";
import { silentLogger } from "../../../src/log.js";
import { detectCgroupMode } from "../../../src/os/cgroup-mode.js";
import { ManualClock } from "../../../src/os/host.js";
import { builtinPolicy } from "../../../src/policy/builtins.js";
import { OomkitError } from "../../../src/errors.js";
import { definePolicy } from "../../../src/engine/policy.js";
import type { TaskNode } from "../../../src/engine/task.js";
import { PreemptibleHost } from "../../../src/engine/preempt.js";
import { HostDecorator } from "../../../src/os/host-decorator.js";
import type { HostWaits } from "../../../src/os/host.js";
import { FixtureHost } from "../../../src/os/fixture-host.js";
import { addTask, buildFixture, type FixtureSpec, statusText } from "../../support/fixture.js";
import { fixtureDaemon } from "../../support/fixture-daemon.js";
import { TWO_JOBS, twoJobsMeminfo } from "../../support/two-jobs.js";

const KB = 1024;
const MACHINE: FixtureSpec = TWO_JOBS;

/** A host whose "event waiting for the thread" the test raises, as the poller would see a ready fd. */
class Events extends HostDecorator {
  pending = false;
  asked = 0;
  override get waits(): HostWaits {
    return {
      psiTrigger: () => {
        throw new OomkitError("E_UNSUPPORTED", "no PSI triggers on this fixture");
      },
      waitExit: async () => "timeout",
      eventPending: () => {
        this.asked++;
        return this.pending;
      },
    };
  }
}

/**
 * Reads every task's memory and picks the largest; when `raiseAt` is set, the event comes after
 * that many tasks were read. Counts the reads that threw, and whether its own catch let it go on.
 */
function reader(state: { raiseAt: number | undefined; events: () => Events; threw: number; finished: number; onRaise?: () => void }) {
  return definePolicy({
    name: "reader",
    handleOutOfMemory(oc) {
      let best: TaskNode | undefined;
      let seen = 0;
      for (const t of oc.tasks()) {
        if (++seen === state.raiseAt) {
          if (state.onRaise) state.onRaise();
          else state.events().pending = true;
        }
        try {
          if (best === undefined || t.memory.rssBytes > best.memory.rssBytes) best = t;
        } catch {
          // A policy that catches what a read throws cannot read on: every later read throws too.
          state.threw++;
        }
      }
      state.finished++;
      return best ? oc.killTask(best, "largest") : oc.pass("nothing");
    },
  });
}

const TOML = `standing_decisions = true\npolicy_deadline_ms = 1000\n[[trigger]]\nname = "low"\ncgroup = "/"\nmem_available = { below_percent = 10 }\n[[attach]]\ncgroup = "/"\npolicy = "reader"\n`;

function setup() {
  let events: Events | undefined;
  const state = { raiseAt: undefined as number | undefined, events: () => events as Events, threw: 0, finished: 0, onRaise: undefined as (() => void) | undefined };
  const t = fixtureDaemon(MACHINE, TOML, { extra: [reader(state)], wrap: (h) => (events = new Events(h)) });
  const plan = () => t.daemon.standing().find((e) => e.scope === "/");
  const stopped = () => t.log.lines.filter((l) => /standing decision for \/ stopped (in reader|before its policies).*an event came for the daemon's thread/.test(l));
  const done = async () => {
    await t.daemon.stop();
    fs.rmSync(t.dir, { recursive: true, force: true });
  };
  return { ...t, state, events: () => events as Events, plan, stopped, done };
}

describe("an event stops a decision made ahead", () => {
  test("with a plan standing, the run stops at the next read after the event; the plan made before stands", async () => {
    const t = setup();
    await t.daemon.start();
    await t.step(100);
    const first = t.plan();
    assert.ok(first?.plan, "a plan stands");
    assert.equal(t.events().asked, 0, "no plan stood for the first run: nothing asked");
    // The event comes while the policy reads its second task; the age bound makes the plan due.
    t.state.raiseAt = 2;
    const finished = t.state.finished;
    await t.step(REDECIDE_MS);
    assert.equal(t.stopped().length, 1, t.log.lines.slice(-5).join("\n"));
    assert.equal(t.state.threw, 2, "the read after the event threw in the policy, and so did the one after it");
    assert.equal(t.state.finished, finished + 1, "the policy that caught it went on, reading nothing more");
    assert.equal(t.plan()?.madeAtMonoMs, first.madeAtMonoMs, "the plan made before still stands");
    assert.deepEqual(t.plan()?.plan?.targets.map((x) => x.action), first.plan.targets.map((x) => x.action));
    // The trigger takes that plan at once: the victim grew and took the machine's headroom.
    t.events().pending = false;
    t.state.raiseAt = undefined;
    t.write("proc/10/status", statusText({ pid: 10, comm: "a", cgroup: "/jobs/a", rssAnonKb: 850 * KB }));
    t.write("proc/meminfo", twoJobsMeminfo(50_000));
    await t.step(100);
    assert.equal(t.episodes[0]?.decision?.path, "standing", JSON.stringify(t.episodes[0]?.decision));
    await t.done();
  });

  test("a polled trigger (MemAvailable) whose condition holds stops the run at its next read, though no fd is ready; the trigger then takes the plan that stands", async () => {
    const t = setup();
    await t.daemon.start();
    await t.step(100);
    const first = t.plan();
    assert.ok(first?.plan, "a plan stands");
    // While the run reads its second task, a second passes and the victim takes the machine's
    // headroom: the "low" trigger's poll is due, and no tick can run until the run gives way.
    t.state.raiseAt = 2;
    t.state.onRaise = () => {
      t.write("proc/10/status", statusText({ pid: 10, comm: "a", cgroup: "/jobs/a", rssAnonKb: 850 * KB }));
      t.write("proc/meminfo", twoJobsMeminfo(50_000));
      t.clock.advance(1_000);
    };
    await t.step(REDECIDE_MS);
    assert.equal(t.events().pending, false, "no fd was ready");
    assert.equal(t.stopped().length, 1, t.log.lines.slice(-5).join("\n"));
    assert.equal(t.plan()?.madeAtMonoMs, first.madeAtMonoMs, "the plan made before still stands");
    assert.equal(t.episodes.length, 0, "the run stopped; the tick comes next");
    t.state.raiseAt = undefined;
    await t.step(0);
    assert.equal(t.episodes[0]?.cause.trigger, "low");
    assert.equal(t.episodes[0]?.decision?.path, "standing", JSON.stringify(t.episodes[0]?.decision));
    await t.done();
  });

  test(`events in a row stop at most ${MAX_STOPPED_RUNS} runs; the next runs to its end`, async () => {
    const t = setup();
    await t.daemon.start();
    await t.step(100);
    const first = t.plan();
    assert.ok(first?.plan);
    const finished = t.state.finished;
    t.events().pending = true;
    for (let i = 0; i < MAX_STOPPED_RUNS + 1; i++) await t.step(REDECIDE_MS);
    assert.equal(t.stopped().length, MAX_STOPPED_RUNS);
    assert.equal(t.stopped().filter((l) => l.includes("before its policies")).length, MAX_STOPPED_RUNS, "an event already waiting stops a run before its policies are called");
    assert.equal(t.state.finished, finished + 1, "the policy was called once: by the run not stopped");
    assert.ok((t.plan()?.madeAtMonoMs ?? 0) > first.madeAtMonoMs, "the third run made a new plan despite the event");
    await t.done();
  });

  test("a plan known to be outdated (a process came) is not kept by an event: the run that replaces it goes to its end", async () => {
    const t = setup();
    await t.daemon.start();
    await t.step(100);
    assert.ok(t.plan()?.plan);
    // A process came (into /jobs/b): the machine's structure changed, so the plan is due now.
    addTask(t.dir, { pid: 12, comm: "c", cgroup: "/jobs/b", rssAnonKb: 300 * KB });
    t.events().pending = true;
    const made = t.plan()?.madeAtMonoMs ?? 0;
    for (let i = 0; i < 100 && (t.plan()?.madeAtMonoMs ?? 0) === made; i++) await t.step(100);
    assert.equal(t.stopped().length, 0, t.log.lines.slice(-5).join("\n"));
    assert.ok((t.plan()?.madeAtMonoMs ?? 0) > made, "the plan was made again despite the event");
    await t.done();
  });

  test("an event ends a refresh slice of the warm model after the read running then, plan or no plan; the next slice reads on", async () => {
    const dir = buildFixture(MACHINE);
    const clock = new ManualClock(10_000);
    const events = new Events(new FixtureHost(dir, { clock }));
    const engine = new Engine({ defaultPolicy: { policy: builtinPolicy("kernel"), options: {} } });
    const standing = new StandingDecisions({ host: events, mode: detectCgroupMode(events), log: silentLogger, engine: () => engine, scopes: () => [] });
    try {
      await standing.upkeep(clock.monotonicMs());
      // Everything the first decision read is due again; an event waits as the refresh begins.
      clock.advance(60_000);
      events.pending = true;
      const stopped = await standing.upkeep(clock.monotonicMs());
      assert.equal(stopped.refreshed, 1, "one read, then the slice ends");
      assert.equal(stopped.stoppable[0], true, "the refresh slice is one an event stops");
      events.pending = false;
      clock.advance(1_000);
      const next = await standing.upkeep(clock.monotonicMs());
      assert.ok(next.refreshed > 1, `the next slice reads on (${next.refreshed} reads)`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("with no plan standing for the scope, an event does not stop the run: there is nothing to fall back on", async () => {
    const t = setup();
    t.state.raiseAt = 1;
    await t.daemon.start();
    await t.step(100);
    assert.equal(t.stopped().length, 0);
    assert.ok(t.plan()?.plan, "the first plan was made to its end");
    await t.done();
  });
});

describe("PreemptibleHost", () => {
  test("asks before every read, parsed reads kept by the model included; throws E_PREEMPTED from then on", () => {
    const dir = buildFixture(MACHINE);
    try {
      let pending = false;
      const host = new PreemptibleHost(new FixtureHost(dir), () => pending);
      assert.match(host.readFile("/proc/meminfo"), /MemTotal/);
      assert.equal(host.parsedCache, undefined, "a host that keeps no parsed reads gets none from it");
      pending = true;
      assert.throws(() => host.readDir("/proc"), (e: unknown) => e instanceof OomkitError && e.code === "E_PREEMPTED");
      pending = false;
      assert.throws(() => host.readFile("/proc/meminfo"), (e: unknown) => e instanceof OomkitError && e.code === "E_PREEMPTED", "once stopped, stopped");
      assert.equal(host.stopped, true);
      assert.equal(host.checks, 3);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
