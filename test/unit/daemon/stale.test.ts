/**
 * Never act on a stale decision (src/daemon/stale.ts): on a fixture machine and the manual
 * clock, a policy changes the machine while it decides — as the kernel, or memory recovering,
 * would during a slow decision — and the daemon must notice right before acting.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { compileConfig, parseConfig } from "../../../src/config/index.js";
import { Daemon } from "../../../src/daemon/daemon.js";
import type { EpisodeRecord } from "../../../src/engine/episode.js";
import { definePolicy } from "../../../src/engine/policy.js";
import { MemoryLogger } from "../../../src/log.js";
import { detectCgroupMode } from "../../../src/os/cgroup-mode.js";
import { FixtureHost } from "../../../src/os/fixture-host.js";
import { ManualClock } from "../../../src/os/host.js";
import type { KillBackend, TaskKillOutcome } from "../../../src/os/kill-port.js";
import { cgroupPath } from "../../../src/os/paths.js";
import { BUILTIN_POLICIES } from "../../../src/policy/builtins.js";
import { loadPolicyFile } from "../../../src/policy/loader.js";
import { summarize } from "../../../src/report/human.js";
import { buildFixture, type FixtureSpec, statusText } from "../../support/fixture.js";

const MB = 1024 * 1024;

const MACHINE: FixtureSpec = {
  memTotalKb: 1_000_000,
  memAvailableKb: 500_000,
  cgroups: {
    "/jobs": { max: 200 * MB, current: 195 * MB },
    "/jobs/a": { current: 140 * MB, anon: 140 * MB },
    "/jobs/b": { current: 55 * MB, anon: 55 * MB },
  },
  tasks: [
    { pid: 1, comm: "init", cgroup: "/" },
    { pid: 10, comm: "leak", cgroup: "/jobs/a", rssAnonKb: 140 * 1024 },
    { pid: 11, comm: "bystander", cgroup: "/jobs/b", rssAnonKb: 55 * 1024 },
  ],
};

const meminfo = (availKb: number) => `MemTotal:       1000000 kB\nMemFree:          10000 kB\nMemAvailable:   ${availKb} kB\nSwapTotal:            0 kB\nSwapFree:             0 kB\n`;
const events = (e: { max?: number; oomKill?: number } = {}) => `low 0\nhigh 0\nmax ${e.max ?? 0}\noom ${e.oomKill ?? 0}\noom_kill ${e.oomKill ?? 0}\noom_group_kill 0\n`;

interface Options {
  /** What happens on the machine while the policy decides (its first call only). */
  readonly during?: (t: Harness) => void;
  /** Decide ahead (standing decisions); off by default here: these are slow fresh decisions. */
  readonly standing?: boolean;
  /** Runs when a file is read, once armed (Harness.arm): a change on the machine at that moment. */
  readonly onRead?: (file: string, t: Harness) => void;
  /** The task the policy picks: the bystander, as in the crowded guest. */
  readonly victim?: number;
  /** How the fake backend's kills end. */
  readonly outcome?: TaskKillOutcome;
}

interface Harness {
  readonly daemon: Daemon;
  /** From now on, reads call Options.onRead. */
  arm(): void;
  readonly clock: ManualClock;
  readonly episodes: EpisodeRecord[];
  readonly killed: number[];
  readonly log: MemoryLogger;
  write(p: string, text: string): void;
  step(ms: number): Promise<void>;
}

/** A live daemon with a fake kill backend and the policy "slow" attached at "/", which picks `victim`. */
function setup(toml: string, opts: Options = {}): Harness {
  const dir = buildFixture(MACHINE);
  const clock = new ManualClock(10_000);
  let armed = false;
  const host = new (class extends FixtureHost {
    override readFile(p: string): string {
      if (armed) opts.onRead?.(p, t);
      return super.readFile(p);
    }
  })(dir, { clock });
  const killed: number[] = [];
  const outcome: TaskKillOutcome = opts.outcome ?? { kind: "exited", signalMs: 1, exitMs: 2, escalated: false, mrelease: "released" };
  const backend: KillBackend = {
    killTask: async (task) => (killed.push(task.pid), outcome),
    killCgroup: async () => ({ emptied: false }),
    reclaim: async () => {},
    currentBytes: () => undefined,
    removeFile: async () => 0,
  };
  let decided = 0;
  const slow = definePolicy({
    name: "slow",
    handleOutOfMemory(oc) {
      if (decided++ === 0) opts.during?.(t);
      const task = oc.snapshot.task(opts.victim ?? 11);
      return task ? oc.killTask(task, "the bystander") : oc.pass("no such task");
    },
  });
  const parsed = parseConfig(`standing_decisions = ${opts.standing ?? false}\n[[attach]]\ncgroup = "/"\npolicy = "slow"\n${toml}`, "test.toml");
  const config = compileConfig(parsed.config, { builtins: new Map([...BUILTIN_POLICIES, ["slow", slow]]), loadPolicyFile, enforceOwnership: false, source: parsed.source });
  const episodes: EpisodeRecord[] = [];
  const log = new MemoryLogger();
  const daemon = new Daemon({ host, mode: detectCgroupMode(host), config, log, autoTick: false, dryRun: false, backend, onEpisode: (r) => episodes.push(r) });
  const t: Harness = {
    daemon,
    arm: () => {
      armed = true;
    },
    clock,
    episodes,
    killed,
    log,
    write: (p, text) => fs.writeFileSync(path.join(dir, p), text),
    step: async (ms) => {
      clock.advance(ms);
      await daemon.tick();
      await daemon.settled();
    },
  };
  return t;
}

const LOW = `[[trigger]]\nname = "memory-low"\ncgroup = "/"\nmem_available = { below_percent = 10 }\n`;
const JOBS_MAX = `[[trigger]]\nname = "jobs-max"\ncgroup = "/jobs"\nmemory_events = ["max"]\n`;

/** The one episode's outcome, as the record has it. */
function outcome(t: Harness): { chain: [string, string][]; dropped: EpisodeRecord["dropped"]; killed: number[] } {
  assert.equal(t.episodes.length, 1, t.log.lines.join("\n"));
  const r = t.episodes[0] as EpisodeRecord;
  return { chain: r.chain.map((c) => [c.policy, c.outcome]), dropped: r.dropped, killed: t.killed };
}

describe("right before acting, the trouble must still be there", () => {
  test("nothing changed while it decided: the plan is carried out", async () => {
    const t = setup(LOW);
    await t.daemon.start();
    t.write("proc/meminfo", meminfo(80_000));
    await t.step(100);
    assert.deepEqual(outcome(t), { chain: [["slow", "handled"]], dropped: undefined, killed: [11] });
    await t.daemon.stop();
  });

  test("the trigger's condition cleared while it decided (memory recovered): dropped, nothing killed", async () => {
    const t = setup(LOW, { during: (h) => h.write("proc/meminfo", meminfo(500_000)) });
    await t.daemon.start();
    t.write("proc/meminfo", meminfo(80_000));
    await t.step(100);
    const o = outcome(t);
    assert.deepEqual([o.chain, o.killed], [[["slow", "dropped"]], []]);
    assert.deepEqual(o.dropped, { clearedBy: "condition", reason: "memory-low no longer holds: MemAvailable 512000000 bytes (50 %) is above 102400000" });
    const r = t.episodes[0] as EpisodeRecord;
    assert.equal(r.handled, false);
    assert.equal(r.policy, null);
    assert.match(summarize(r), /oom_policy=none kind=system scope=\/ cause=memory-low: not acting: memory-low no longer holds: .*; slow would kill process 11 \(bystander\) task_memcg=\/jobs\/b$/);
    await t.daemon.stop();
  });

  test("the kernel killed in the scope while it decided (memory.events oom_kill rose): dropped, nothing killed", async () => {
    const t = setup(JOBS_MAX, { during: (h) => h.write("sys/fs/cgroup/jobs/memory.events", events({ max: 3, oomKill: 1 })) });
    await t.daemon.start();
    await t.step(100);
    t.write("sys/fs/cgroup/jobs/memory.events", events({ max: 3 }));
    await t.step(100);
    const o = outcome(t);
    assert.deepEqual([o.chain, o.killed], [[["slow", "dropped"]], []]);
    assert.deepEqual(o.dropped, { clearedBy: "memory.events", reason: "the kernel's OOM killer killed in /jobs since the signal (memory.events oom_kill 0→1)" });
    await t.daemon.stop();
  });

  test("a kill under a shared limit counts: an ancestor's oom_kill rose, not the scope's", async () => {
    const trigger = `[[trigger]]\nname = "b-max"\ncgroup = "/jobs/b"\nmemory_events = ["max"]\n`;
    const t = setup(trigger, { during: (h) => h.write("sys/fs/cgroup/jobs/memory.events", events({ oomKill: 1 })) });
    await t.daemon.start();
    await t.step(100);
    t.write("sys/fs/cgroup/jobs/b/memory.events", events({ max: 2 }));
    await t.step(100);
    const o = outcome(t);
    assert.deepEqual([o.chain, o.killed], [[["slow", "dropped"]], []]);
    assert.equal(o.dropped?.reason, "the kernel's OOM killer killed in /jobs since the signal (memory.events oom_kill 0→1)");
    await t.daemon.stop();
  });

  test("a machine-wide OOM: the kernel killed somewhere (/proc/vmstat oom_kill rose): dropped", async () => {
    const t = setup(LOW, { during: (h) => h.write("proc/vmstat", "pgscan_kswapd 0\npgscan_direct 0\noom_kill 4\n") });
    t.write("proc/vmstat", "pgscan_kswapd 0\npgscan_direct 0\noom_kill 3\n");
    await t.daemon.start();
    t.write("proc/meminfo", meminfo(80_000));
    await t.step(100);
    const o = outcome(t);
    assert.deepEqual([o.chain, o.killed], [[["slow", "dropped"]], []]);
    assert.deepEqual(o.dropped, { clearedBy: "vmstat", reason: "the kernel's OOM killer killed on this machine since the signal (/proc/vmstat oom_kill 3→4)" });
    await t.daemon.stop();
  });

  test("a victim the kernel log named in the scope while it decided: dropped", async () => {
    const t = setup(LOW, { victim: 10, during: (h) => h.daemon.noteKernelVictim(11, "/jobs/b") });
    await t.daemon.start();
    t.write("proc/meminfo", meminfo(80_000));
    await t.step(100);
    const o = outcome(t);
    assert.deepEqual([o.chain, o.killed], [[["slow", "dropped"]], []]);
    assert.deepEqual(o.dropped, { clearedBy: "kmsg", reason: "the kernel's OOM killer killed pid 11 in /jobs/b since the signal (kernel log)" });
    await t.daemon.stop();
  });

  test("memory.events: usage fell away from the limit while it decided: the condition cleared", async () => {
    const t = setup(JOBS_MAX, { during: (h) => h.write("sys/fs/cgroup/jobs/memory.current", String(100 * MB)) });
    await t.daemon.start();
    await t.step(100);
    t.write("sys/fs/cgroup/jobs/memory.events", events({ max: 3 }));
    await t.step(100);
    const o = outcome(t);
    assert.deepEqual([o.chain, o.killed], [[["slow", "dropped"]], []]);
    assert.deepEqual(o.dropped, { clearedBy: "condition", reason: `jobs-max no longer holds: memory.current ${100 * MB} is below 90 % of memory.max ${200 * MB}` });
    await t.daemon.stop();
  });

  test("memory.events: usage already far below the limit when it is declared: no episode at all", async () => {
    const t = setup(JOBS_MAX);
    await t.daemon.start();
    await t.step(100);
    t.write("sys/fs/cgroup/jobs/memory.current", String(100 * MB));
    t.write("sys/fs/cgroup/jobs/memory.events", events({ max: 3 }));
    await t.step(100);
    assert.deepEqual([t.episodes.length, t.killed], [0, []]);
    assert.ok(t.log.lines.some((l) => /not deciding on jobs-max in \/jobs: jobs-max no longer holds: memory\.current/.test(l)), t.log.lines.join("\n"));
    await t.daemon.stop();
  });

  test("a manual OOM has no condition to re-read, but a kill since it was asked for still drops it", async () => {
    const t = setup("", { during: (h) => h.write("sys/fs/cgroup/jobs/memory.events", events({ oomKill: 1 })) });
    await t.daemon.start();
    const r = await t.daemon.manual("/jobs", "operator");
    assert.ok(!("skipped" in r));
    assert.equal(r.dropped?.clearedBy, "memory.events");
    assert.deepEqual(t.killed, []);
    // Asked again with nothing changing while it decides (memory is plentiful: no condition applies): it acts.
    const again = await t.daemon.manual("/jobs", "operator");
    assert.ok(!("skipped" in again));
    assert.equal(again.policy, "slow");
    assert.deepEqual(t.killed, [11]);
    await t.daemon.stop();
  });

  test("oomkit's own kill since the signal, in an overlapping scope, drops a declaration that waited", async () => {
    // The first episode kills pid 11; a declaration for /jobs made while it decided waits its turn.
    const cause = { kind: "cgroup" as const, trigger: "other", message: "jobs in trouble", figures: {} };
    const t = setup(`${LOW}[kill]\npost_action_delay_ms = 0\n`, { during: (h) => h.daemon.declare({ scope: cgroupPath("/jobs"), trigger: "other", cause }) });
    await t.daemon.start();
    t.write("proc/meminfo", meminfo(80_000));
    await t.step(100);
    assert.deepEqual(t.killed, [11], "one kill");
    assert.equal(t.episodes.length, 1, "the waiting declaration did not become an episode");
    assert.ok(t.log.lines.some((l) => l.includes("not deciding on other in /jobs: oomkit killed pid 11 in /jobs/b since the signal")), t.log.lines.join("\n"));
    await t.daemon.stop();
  });

  test("a standing plan too: the kernel killed while it was checked against the live machine, so it is dropped, and nothing decided afresh", async () => {
    let bumped = false;
    const t = setup(LOW, {
      standing: true,
      // The standing plan's target is read again at the trigger: the kernel kills somewhere meanwhile.
      onRead: (file, h) => {
        if (file === "/proc/11/stat" && !bumped) {
          bumped = true;
          h.write("proc/vmstat", "pgscan_kswapd 0\npgscan_direct 0\noom_kill 1\n");
        }
      },
    });
    await t.daemon.start();
    await t.step(100);
    assert.deepEqual(t.daemon.standing().map((e) => [e.scope, e.plan?.policy]), [["/", "slow"]], "a plan stands for the machine");
    // The trouble: the plan's target grew (a plan is refused when memory grew where it did not look).
    t.write("proc/11/status", statusText({ pid: 11, comm: "bystander", cgroup: "/jobs/b", rssAnonKb: 475 * 1024 }));
    t.write("proc/meminfo", meminfo(80_000));
    t.arm();
    await t.step(100);
    assert.ok(bumped);
    const o = outcome(t);
    assert.deepEqual([o.chain, o.killed], [[["slow", "dropped"]], []], "no fresh decision after it");
    assert.deepEqual(o.dropped, { clearedBy: "vmstat", reason: "the kernel's OOM killer killed on this machine since the signal (/proc/vmstat oom_kill 0→1)" });
    assert.equal(t.episodes[0]?.decision?.path, "standing");
    await t.daemon.stop();
  });

  test("the episode's own kill that freed nothing does not stop the next policy of its chain", async () => {
    const t = setup(LOW, { outcome: { kind: "still-exiting", signalMs: 1, escalated: false, mrelease: "released" } });
    await t.daemon.start();
    t.write("proc/meminfo", meminfo(80_000));
    await t.step(100);
    const o = outcome(t);
    assert.deepEqual(o.chain, [["slow", "not-freed"], ["kernel", "not-freed"]], "the kernel's badness was carried out too");
    assert.deepEqual(o.killed, [11, 10]);
    await t.daemon.stop();
  });
});
