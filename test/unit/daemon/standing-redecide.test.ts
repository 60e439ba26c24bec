// When the daemon makes a standing plan again (src/daemon/redecide.ts): only when the model
// changed in a way the plan depends on, or by its age; not whenever a figure breathed.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { DECISION_REST_MAX_MS, MIN_REDECIDE_MS, REDECIDE_MS, REFRESH_EVERY_MS, REFRESH_REST_MAX_MS } from "../../../src/daemon/standing.js";
import { REFRESH_INTERVALS_MS } from "../../../src/engine/model.js";
import { definePolicy } from "../../../src/engine/policy.js";
import { HostDecorator } from "../../../src/os/host-decorator.js";
import type { Clock, Host } from "../../../src/os/host.js";
import { addTask, type FixtureSpec, statusText } from "../../support/fixture.js";
import { fixtureDaemon } from "../../support/fixture-daemon.js";

const MB = 1024 * 1024;
const KB = 1024;
const TRIGGER = `standing_decisions = true\n[[trigger]]\nname = "low"\ncgroup = "/"\nmem_available = { below_percent = 10 }\n`;

/** 10 (400 MiB) in /jobs/a, 11 in /jobs/b, on a machine with half its memory available. */
function machine(bMb = 200): FixtureSpec {
  return {
    memTotalKb: 1_000_000,
    memAvailableKb: 500_000,
    cgroups: {
      "/jobs": { current: (400 + bMb) * MB },
      "/jobs/a": { current: 400 * MB, anon: 400 * MB },
      "/jobs/b": { current: bMb * MB, anon: bMb * MB },
    },
    tasks: [
      { pid: 1, comm: "init", cgroup: "/" },
      { pid: 10, comm: "a", cgroup: "/jobs/a", rssAnonKb: 400 * KB },
      { pid: 11, comm: "b", cgroup: "/jobs/b", rssAnonKb: bMb * KB },
    ],
  };
}

/** Marks that can change while the daemon runs (a fixture's are fixed at start). */
class Marks extends HostDecorator {
  readonly set = new Map<string, Map<string, string>>();
  override readXattrs(p: string): ReadonlyMap<string, string> {
    return this.set.get(p) ?? super.readXattrs(p);
  }
}

function setup(bMb = 200, toml = TRIGGER, under?: (h: Host) => Host) {
  let marks: Marks | undefined;
  const t = fixtureDaemon(machine(bMb), toml, { wrap: (h) => (marks = new Marks(under ? under(h) : h)) });
  /** The machine as the kernel would show it: the tasks' figures, their cgroups' usage, MemAvailable. */
  const show = (aMb: number, b: number) => {
    t.write("proc/10/status", statusText({ pid: 10, comm: "a", cgroup: "/jobs/a", rssAnonKb: Math.round(aMb * KB) }));
    t.write("proc/11/status", statusText({ pid: 11, comm: "b", cgroup: "/jobs/b", rssAnonKb: Math.round(b * KB) }));
    t.write("sys/fs/cgroup/jobs/a/memory.current", `${Math.round(aMb * MB)}\n`);
    t.write("sys/fs/cgroup/jobs/b/memory.current", `${Math.round(b * MB)}\n`);
    t.write("sys/fs/cgroup/jobs/memory.current", `${Math.round((aMb + b) * MB)}\n`);
    const availKb = Math.round(500_000 - (aMb + b - 400 - bMb) * KB);
    t.write("proc/meminfo", `MemTotal:       1000000 kB\nMemFree:          10000 kB\nMemAvailable:   ${availKb} kB\nSwapTotal:            0 kB\nSwapFree:             0 kB\n`);
  };
  /** The decision runs for the machine so far, each line's "made again" reason. */
  const runs = () => t.log.lines.filter((l) => l.startsWith("debug: standing decision for /:"));
  const victim = () => t.daemon.standing().find((e) => e.scope === "/")?.plan?.targets.map((x) => (x.action.kind === "kill-task" ? x.action.pid : x.action.kind));
  /** Steps until a decision run after the `n`th, for at most `ms`; returns how long it took. */
  const untilRun = async (n: number, ms: number) => {
    let waited = 0;
    for (; waited < ms && runs().length <= n; waited += 100) await t.step(100);
    return waited;
  };
  /** Stops the daemon and removes its fixture tree. */
  const done = async () => {
    await t.daemon.stop();
    fs.rmSync(t.dir, { recursive: true, force: true });
  };
  return { ...t, marks: () => marks as Marks, show, runs, victim, untilRun, done };
}

/**
 * How soon a change must be seen in a new plan: a re-read of what shows it (at most `interval`),
 * the refresh's rest, and a decision run's rest, all at pace 1; well under REDECIDE_MS.
 */
const soon = (interval: number) => interval + Math.max(REFRESH_EVERY_MS, REFRESH_REST_MAX_MS) + Math.max(MIN_REDECIDE_MS, DECISION_REST_MAX_MS);

/** A machine that has a plan and has rested since it was made. */
async function settled(bMb = 200, toml = TRIGGER, under?: (h: Host) => Host) {
  const t = setup(bMb, toml, under);
  await t.daemon.start();
  await t.untilRun(0, 10_000);
  assert.deepEqual(t.victim(), [10], "decided ahead: the largest task");
  for (let i = 0; i < 20; i++) await t.step(500);
  return t;
}

describe("standing plans are made again when the model changed in a way they depend on", () => {
  test("an idle machine whose figures breathe within the bounds: no decision runs for minutes but the age bound's", async () => {
    const t = await settled();
    const before = t.runs().length;
    // Five minutes of breathing: every task and cgroup by ±12 MiB (news to the model: 8 MiB or
    // 5 %), MemAvailable with them, on a 7 s period that the 2 s and 5 s re-reads see move.
    const minutes = 5;
    for (let ms = 0; ms < minutes * 60_000; ms += 500) {
      const breath = 12 * Math.sin((2 * Math.PI * ms) / 7_000);
      t.show(400 + breath, 200 - breath);
      await t.step(500);
    }
    const made = t.runs().slice(before);
    const byAge = Math.ceil((minutes * 60_000) / REDECIDE_MS);
    assert.ok(made.length <= byAge, `at most ${byAge} runs (one per REDECIDE_MS), not ${made.length}: ${made.join("\n")}`);
    assert.ok(made.every((l) => l.endsWith("(made again: its age)")), made.join("\n"));
    assert.deepEqual(t.victim(), [10]);
    await t.done();
  });

  test("a task that grows outside the plan beyond the ELSEWHERE bound: a decision runs at once", async () => {
    const t = await settled();
    const before = t.runs().length;
    t.show(400, 350); // 11 grows by 150 MiB: more than a quarter of what the victim holds, still smaller than it
    const waited = await t.untilRun(before, soon(REFRESH_INTERVALS_MS.taskLarge));
    assert.equal(t.runs().length, before + 1, `a run within ${soon(REFRESH_INTERVALS_MS.taskLarge)} ms`);
    assert.match(t.runs()[before] ?? "", /made again: the trigger would refuse it: \/ grew by 150\.0 MiB outside the plan's targets/);
    assert.ok(waited < REDECIDE_MS);
    await t.done();
  });

  test("another task overtakes the victim by less than the ELSEWHERE bound: a decision runs at once, and names it", async () => {
    const t = await settled(380);
    const before = t.runs().length;
    t.show(400, 430); // 11 grows by 50 MiB, past the victim
    await t.untilRun(before, soon(REFRESH_INTERVALS_MS.taskLarge));
    assert.match(t.runs()[before] ?? "", /made again: pid 11 holds 430\.0 MiB now, more than the victim did when chosen \(400\.0 MiB\)/);
    assert.deepEqual(t.victim(), [11]);
    await t.done();
  });

  test("the victim shrinks below the drift bound: a decision runs at once, and names the next", async () => {
    const t = await settled();
    const before = t.runs().length;
    t.show(150, 200);
    await t.untilRun(before, soon(REFRESH_INTERVALS_MS.taskLarge));
    assert.match(t.runs()[before] ?? "", /made again: the trigger would refuse it: pid 10 holds 150\.0 MiB now against 400\.0 MiB when chosen/);
    assert.deepEqual(t.victim(), [11]);
    await t.done();
  });

  test("a new process: a decision runs at once", async () => {
    const t = await settled();
    const before = t.runs().length;
    addTask(t.dir, { pid: 40, comm: "new", cgroup: "/jobs/b", rssAnonKb: 4 * KB });
    await t.untilRun(before, soon(REFRESH_INTERVALS_MS.listing));
    assert.match(t.runs()[before] ?? "", /made again: the machine's structure changed\)$/);
    await t.done();
  });

  test("a mark set on the victim's cgroup: a decision runs at once", async () => {
    const t = await settled();
    const before = t.runs().length;
    t.marks().set.set("/sys/fs/cgroup/jobs/a", new Map([["user.oomd_avoid", "1"]]));
    await t.untilRun(before, soon(REFRESH_INTERVALS_MS.cgroup));
    assert.match(t.runs()[before] ?? "", /made again: the machine's structure changed\)$/);
    await t.done();
  });

  test("a process that went, not a target: no decision runs", async () => {
    const t = await settled();
    addTask(t.dir, { pid: 40, comm: "brief", cgroup: "/jobs/b", rssAnonKb: 4 * KB });
    const came = t.runs().length;
    await t.untilRun(came, soon(REFRESH_INTERVALS_MS.listing));
    const before = t.runs().length;
    assert.equal(before, came + 1, "its coming made one");
    fs.rmSync(path.join(t.dir, "proc/40"), { recursive: true });
    t.write("sys/fs/cgroup/jobs/b/cgroup.procs", "11\n");
    for (let ms = 0; ms < 4 * soon(REFRESH_INTERVALS_MS.listing) && ms < REDECIDE_MS / 2; ms += 500) await t.step(500);
    assert.deepEqual(t.runs().slice(before), []);
    await t.done();
  });
});

describe("a leak in a cgroup made after the plan (main's urgent reads and newcomers, under these rules)", () => {
  /** Fires at 5 % available: a leak of 420 MiB (7 %) does not fire it, one of 480 MiB does. */
  const LOW = TRIGGER.replace("below_percent = 10", "below_percent = 5");
  /** Memory available with the leak holding `mb` (the rest as machine() has it). */
  const meminfo = (mb: number) => `MemTotal:       1000000 kB\nMemFree:          10000 kB\nMemAvailable:   ${500_000 - mb * KB} kB\nSwapTotal:            0 kB\nSwapFree:             0 kB\n`;
  /** Makes /jobs/leak (a copy of /jobs/b's files, then its own figures); `pid` joins it now unless undefined. */
  const makeLeak = (t: Awaited<ReturnType<typeof settled>>, mb: number, pid: number | undefined) => {
    const leak = path.join(t.dir, "sys/fs/cgroup/jobs/leak");
    fs.cpSync(path.join(t.dir, "sys/fs/cgroup/jobs/b"), leak, { recursive: true });
    t.write("sys/fs/cgroup/jobs/leak/cgroup.procs", "");
    t.write("sys/fs/cgroup/jobs/leak/memory.current", `${mb * MB}\n`);
    t.write("sys/fs/cgroup/jobs/leak/memory.stat", fs.readFileSync(path.join(leak, "memory.stat"), "utf8").replace(/^anon [0-9]+$/m, `anon ${mb * MB}`));
    if (pid !== undefined) addTask(t.dir, { pid, comm: "leak", cgroup: "/jobs/leak", rssAnonKb: mb * KB });
    t.write("sys/fs/cgroup/jobs/memory.current", `${(600 + mb) * MB}\n`);
    t.write("proc/meminfo", meminfo(mb));
  };
  /** Steps until the standing plan names `pid`, for at most `ms`; the time waited, or undefined. */
  const untilNamed = async (t: Awaited<ReturnType<typeof settled>>, pid: number, ms: number) => {
    for (let waited = 0; waited <= ms; waited += 100) {
      if (t.victim()?.[0] === pid) return waited;
      await t.step(100);
    }
    return undefined;
  };

  test("the cgroup comes with the leak in it: the plan names the leak before the trigger fires, and the trigger takes that plan", async () => {
    const t = await settled(200, LOW);
    makeLeak(t, 420, 31);
    const waited = await untilNamed(t, 31, soon(REFRESH_INTERVALS_MS.listing));
    assert.ok(waited !== undefined, `the plan names the leak within ${soon(REFRESH_INTERVALS_MS.listing)} ms: ${t.runs().slice(-3).join("\n")}`);
    assert.equal(t.episodes.length, 0, "before any trigger");
    // The leak goes on; MemAvailable falls past the trigger's bound.
    t.write("proc/31/status", statusText({ pid: 31, comm: "leak", cgroup: "/jobs/leak", rssAnonKb: 480 * KB }));
    t.write("sys/fs/cgroup/jobs/leak/memory.current", `${480 * MB}\n`);
    t.write("proc/meminfo", meminfo(480));
    for (let i = 0; i < 20 && t.episodes.length === 0; i++) await t.step(100);
    const r = t.episodes[0];
    assert.deepEqual(r?.plan.map((a) => a.kind === "kill-task" && a.pid), [31]);
    assert.equal(r?.decision?.path, "standing", JSON.stringify(r?.decision));
    await t.done();
  });

  test("the cgroup comes empty and the leak joins it later, from another cgroup: the plan names the leak before the trigger fires", async () => {
    const t = await settled(200, LOW);
    // The process exists from the start, small, in /jobs/b: neither /proc's listing nor its own files show it arrive.
    addTask(t.dir, { pid: 31, comm: "leak", cgroup: "/jobs/b", rssAnonKb: 1 * KB });
    for (let i = 0; i < 10; i++) await t.step(500);
    makeLeak(t, 0, undefined);
    for (let i = 0; i < 10; i++) await t.step(500);
    assert.deepEqual(t.victim(), [10]);
    // 31 moves into the leak's cgroup and grows there.
    t.write("sys/fs/cgroup/jobs/b/cgroup.procs", "11\n");
    t.write("sys/fs/cgroup/jobs/leak/cgroup.procs", "31\n");
    t.write("proc/31/cgroup", "0::/jobs/leak\n");
    t.write("proc/31/status", statusText({ pid: 31, comm: "leak", cgroup: "/jobs/leak", rssAnonKb: 420 * KB }));
    t.write("sys/fs/cgroup/jobs/leak/memory.current", `${420 * MB}\n`);
    t.write("sys/fs/cgroup/jobs/memory.current", `${1020 * MB}\n`);
    t.write("proc/meminfo", meminfo(420));
    const waited = await untilNamed(t, 31, soon(REFRESH_INTERVALS_MS.usage));
    assert.ok(waited !== undefined, `the plan names the leak within ${soon(REFRESH_INTERVALS_MS.usage)} ms: ${t.runs().slice(-3).join("\n")}`);
    assert.equal(t.episodes.length, 0, "before any trigger");
    await t.done();
  });
});

describe("a plan made while a policy ahead of it failed", () => {
  test("is made again as soon as a changed one would be, with nothing changed: the policy's own plan then stands, not the kernel's", async () => {
    let calls = 0;
    const cold = definePolicy({
      name: "cold",
      handleOutOfMemory(oc) {
        if (++calls === 1) throw new Error("a cold first call");
        const b = oc.tasks().find((x) => x.comm === "b");
        return b ? oc.killTask(b, "the policy's own choice") : oc.pass("none");
      },
    });
    const t = fixtureDaemon(machine(), `${TRIGGER}[[attach]]\ncgroup = "/"\npolicy = "cold"\n`, { extra: [cold] });
    await t.daemon.start();
    await t.step(100);
    assert.equal(t.daemon.standing()[0]?.plan?.policy, "kernel", "the first run: the kernel's badness stands in");
    for (let i = 0; i < 10 && t.daemon.standing()[0]?.plan?.policy !== "cold"; i++) await t.step(MIN_REDECIDE_MS);
    assert.equal(t.daemon.standing()[0]?.plan?.policy, "cold");
    assert.ok((t.daemon.standing()[0]?.madeAtMonoMs ?? Infinity) < 10_000 + REDECIDE_MS / 2, "well before its age");
    await t.daemon.stop();
    fs.rmSync(t.dir, { recursive: true, force: true });
  });
});

describe("a plan outdated by the machine's figures is made on the cgroups' figures that show why", () => {
  test("a leak whose growth shows first in MemAvailable: the plan made again names the leak, not the bystander it named before", async () => {
    // The VM's daemon-zram on 6.1 (oomkit's pages under thrash): meminfo, re-read while the
    // model's refresh rests, showed the growth before the leak's cgroup usage was re-read; each
    // plan made again for it named the bystander, and the kernel killed the leak. Here every
    // cgroup file is slow to read (3 ms) and twenty quiet cgroups keep the refresh busy.
    const quiet = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`/q${i}`, { current: 1 * MB }]));
    const spec: FixtureSpec = {
      memTotalKb: 1_000_000,
      memAvailableKb: 800_000,
      cgroups: { ...quiet, "/jobs": { current: 48 * MB }, "/jobs/bystander": { current: 40 * MB, anon: 40 * MB }, "/jobs/leak": { current: 8 * MB, anon: 8 * MB } },
      tasks: [
        { pid: 1, comm: "init", cgroup: "/" },
        { pid: 30, comm: "bystander", cgroup: "/jobs/bystander", rssAnonKb: 40 * KB },
        { pid: 31, comm: "leak", cgroup: "/jobs/leak", rssAnonKb: 8 * KB },
      ],
    };
    class SlowCgroupFiles extends HostDecorator {
      override readFile(p: string): string {
        if (p.startsWith("/sys/fs/cgroup/")) spin(3);
        return super.readFile(p);
      }
    }
    const t = fixtureDaemon(spec, TRIGGER, { wrap: (h) => new SlowCgroupFiles(h) });
    const planned = () => t.log.lines.filter((l) => /^debug: standing decision for \/: [a-z-]+: pid/.test(l)).map((l) => Number(/pid ([0-9]+)/.exec(l)?.[1]));
    await t.daemon.start();
    for (let i = 0; i < 200 && planned().length === 0; i++) await t.step(100);
    for (let i = 0; i < 100; i++) await t.step(100);
    assert.deepEqual(planned().slice(-1), [30], "the bystander, the larger");
    const before = planned().length;
    // The leak grows to 600 MiB; the machine shows it.
    t.write("proc/31/status", statusText({ pid: 31, comm: "leak", cgroup: "/jobs/leak", rssAnonKb: 600 * KB }));
    t.write("sys/fs/cgroup/jobs/leak/memory.current", `${600 * MB}\n`);
    t.write("sys/fs/cgroup/jobs/memory.current", `${640 * MB}\n`);
    t.write("proc/meminfo", `MemTotal:       1000000 kB\nMemFree:          10000 kB\nMemAvailable:   ${800_000 - 592 * KB} kB\nSwapTotal:            0 kB\nSwapFree:             0 kB\n`);
    for (let i = 0; i < 600 && planned().length === before; i++) await t.step(100);
    assert.deepEqual(planned().slice(before, before + 1), [31], `the first plan after the growth names the leak: ${planned().slice(before).join(", ")}`);
    await t.daemon.stop();
    fs.rmSync(t.dir, { recursive: true, force: true });
  });
});

/** Holds the thread for `ms` of wall time: a slow read. */
function spin(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    /* slow */
  }
}

/**
 * A machine under thrash: once `slow`, every read costs 400 ms of oomkit's work time (the VM's
 * zram thrash on 6.1: "a read that had taken 407 ms"), so a model refresh slice gets one read
 * and rests long after it. Before, reads cost no work time: every refresh reads all that is due.
 */
class Thrashing extends HostDecorator {
  slow = false;
  readonly readMs = 400;
  #work = 0;
  override get workClock(): Clock {
    return { monotonicMs: () => this.#work, wallMs: () => this.#work };
  }
  override readFile(p: string): string {
    if (this.slow) this.#work += this.readMs;
    return super.readFile(p);
  }
}

describe("a leak that grows step by step past the bystander a plan names (the VM's daemon-zram on 6.1)", () => {
  /** Fires at 1 % available: the leak below stops short of it. */
  const RARE = `${TRIGGER.replace("below_percent = 10", "below_percent = 1")}[[attach]]\ncgroup = "/"\npolicy = "rules"\n`;
  test("the plan names the leak within a couple of seconds of its passing the bystander, as main's does", async () => {
    let thrash: Thrashing | undefined;
    const t = await settled(200, RARE, (h) => (thrash = new Thrashing(h)));
    // A cgroup made just before the leak, and the leak in it, small at first.
    const leak = path.join(t.dir, "sys/fs/cgroup/jobs/leak");
    fs.cpSync(path.join(t.dir, "sys/fs/cgroup/jobs/b"), leak, { recursive: true });
    const grow = (mb: number) => {
      t.write("proc/31/status", statusText({ pid: 31, comm: "leak", cgroup: "/jobs/leak", rssAnonKb: mb * KB }));
      t.write("sys/fs/cgroup/jobs/leak/memory.current", `${mb * MB}\n`);
      t.write("sys/fs/cgroup/jobs/memory.current", `${(600 + mb) * MB}\n`);
      t.write("proc/meminfo", `MemTotal:       1000000 kB\nMemFree:          10000 kB\nMemAvailable:   ${500_000 - mb * KB} kB\nSwapTotal:            0 kB\nSwapFree:             0 kB\n`);
    };
    t.write("sys/fs/cgroup/jobs/leak/cgroup.procs", "");
    addTask(t.dir, { pid: 31, comm: "leak", cgroup: "/jobs/leak", rssAnonKb: 4 * KB });
    grow(4);
    // Its coming makes a plan (the structure changed): the bystander still, the leak being small.
    const came = t.runs().length;
    await t.untilRun(came, soon(REFRESH_INTERVALS_MS.listing));
    assert.deepEqual(t.victim(), [10]);
    // Thrash from here on. On the model alone nothing outdates the plan before the leak's own
    // figures are read again (its cgroup's usage moved first and made them urgent): unless the
    // urgent reads come before the judging, they wait behind one-read refresh slices for seconds.
    (thrash as Thrashing).slow = true;
    // 150 MiB/s, in steps of 100 ms, to 460 MiB: it passes the bystander's 400 MiB after about 2.6 s.
    let passedAt: number | undefined;
    let namedAt: number | undefined;
    for (let ms = 0, mb = 4; ms < 10_000 && namedAt === undefined; ms += 100) {
      mb = Math.min(460, mb + 15);
      grow(mb);
      if (passedAt === undefined && mb > 400) passedAt = ms;
      await t.step(100);
      if (t.victim()?.[0] === 31) namedAt = ms;
    }
    assert.ok(passedAt !== undefined);
    assert.ok(namedAt !== undefined && namedAt - passedAt <= 2_000, `the plan names the leak within 2 s of its passing the bystander (passed at ${passedAt} ms, named at ${namedAt} ms): ${t.runs().slice(-4).join("\n")}`);
    assert.equal(t.episodes.length, 0, "before any trigger");
    await t.done();
  });
});

describe("a scope where no plan stands because its policies found nothing to do (daemon/redecide.ts whyNoneOutdated)", () => {
  /** The machine of `machine()` with an empty cgroup a trigger watches: its chain finds no victim. */
  function emptyScope() {
    const spec = machine();
    const t = fixtureDaemon({ ...spec, cgroups: { ...spec.cgroups, "/jobs/c": { current: 0 } } }, `${TRIGGER}[[trigger]]\nname = "c"\ncgroup = "/jobs/c"\nmemory_events = ["max"]\n`);
    const runs = () => t.log.lines.filter((l) => l.startsWith("debug: standing decision for /jobs/c:"));
    return { ...t, runs };
  }

  test("is not decided again while nothing in it moves (figures breathing elsewhere); once its usage moves, at once", async () => {
    const t = emptyScope();
    await t.daemon.start();
    for (let i = 0; i < 20 && t.runs().length === 0; i++) await t.step(500);
    assert.match(t.runs()[0] ?? "", /none \(deciding ahead, no policy's plan passed the verifier \(kernel: no-victim\)\)/);
    const before = t.runs().length;
    // A minute of the other jobs breathing (news to the model every few seconds), /jobs/c empty.
    for (let ms = 0; ms < 60_000; ms += 500) {
      const breath = 12 * Math.sin((2 * Math.PI * ms) / 7_000);
      t.write("proc/10/status", statusText({ pid: 10, comm: "a", cgroup: "/jobs/a", rssAnonKb: Math.round((400 + breath) * KB) }));
      t.write("sys/fs/cgroup/jobs/a/memory.current", `${Math.round((400 + breath) * MB)}\n`);
      await t.step(500);
    }
    const idle = t.runs().slice(before);
    // Before: "no plan stands" made it due every MIN_REDECIDE_MS..DECISION_REST_MAX_MS (15-30 runs a minute).
    assert.ok(idle.length <= 1, `at most the age bound's run in a minute, not ${idle.length}: ${idle.join("\n")}`);
    assert.ok(idle.every((l) => l.endsWith("(made again: its age)")), idle.join("\n"));
    const after = t.runs().length;
    t.write("sys/fs/cgroup/jobs/c/memory.current", `${50 * MB}\n`);
    let waited = 0;
    for (; waited < REDECIDE_MS && t.runs().length === after; waited += 100) await t.step(100);
    assert.ok(waited < soon(REFRESH_INTERVALS_MS.usage), `decided again within ${soon(REFRESH_INTERVALS_MS.usage)} ms, not ${waited}`);
    assert.match(t.runs()[after] ?? "", /made again: no plan stands, and \S+\/jobs\/c's memory moved\)$/);
    await t.daemon.stop();
    fs.rmSync(t.dir, { recursive: true, force: true });
  });
});
