import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { compileConfig, parseConfig } from "../../../src/config/index.js";
import { AHEAD_DEADLINES } from "../../../src/engine/engine.js";
import { DECISION_REST_MAX_MS, MIN_REDECIDE_MS, REDECIDE_MS, REFRESH_EVERY_MS, REFRESH_REST_MAX_MS } from "../../../src/daemon/standing.js";
import { LARGE_TASK_BYTES, REFRESH_INTERVALS_MS } from "../../../src/engine/model.js";
import { describeTarget } from "../../../src/engine/standing.js";
import { HostDecorator } from "../../../src/os/host-decorator.js";
import type { EpisodeRecord } from "../../../src/engine/episode.js";
import { definePolicy, type Policy } from "../../../src/engine/policy.js";
import { BUILTIN_POLICIES } from "../../../src/policy/builtins.js";
import { loadPolicyFile } from "../../../src/policy/loader.js";
import { summarize } from "../../../src/report/human.js";
import { addTask, buildFixture, type FixtureSpec, statusText } from "../../support/fixture.js";
import { fixtureDaemon } from "../../support/fixture-daemon.js";
import { TWO_JOBS, twoJobsMeminfo } from "../../support/two-jobs.js";

const MB = 1024 * 1024;
const MACHINE: FixtureSpec = TWO_JOBS;
const TRIGGER = `standing_decisions = true\n[[trigger]]\nname = "low"\ncgroup = "/"\nmem_available = { below_percent = 10 }\n`;
const meminfo = twoJobsMeminfo;

const setup = (toml: string, extra: Policy[] = [], machine: FixtureSpec = MACHINE) => fixtureDaemon(machine, toml, { extra });

const victims = (r: EpisodeRecord | undefined) => r?.plan.map((a) => (a.kind === "kill-task" ? a.pid : a.kind));

describe("standing decisions in the daemon (dry-run, manual clock)", () => {
  test("a plan stands for the machine before any trouble; the trigger acts on it and the record says so", async () => {
    const t = setup(TRIGGER);
    await t.daemon.start();
    await t.step(100);
    const standing = t.daemon.standing();
    assert.deepEqual(standing.map((e) => e.scope), ["/"]);
    assert.deepEqual(victims(standing[0]?.record), [10], "decided ahead: the largest task");
    // The trouble: the victim grew (450 MiB) and took the machine's headroom (440 MiB).
    t.write("proc/10/status", statusText({ pid: 10, comm: "a", cgroup: "/jobs/a", rssAnonKb: 850 * 1024 }));
    t.write("proc/meminfo", meminfo(50_000));
    await t.step(100);
    assert.equal(t.episodes.length, 1);
    const r = t.episodes[0];
    assert.equal(r?.decision?.path, "standing", JSON.stringify(r?.decision));
    assert.deepEqual(victims(r), [10]);
    assert.equal(r?.cause.trigger, "low");
    assert.match(r ? summarize(r) : "", /would kill process 10 .*\(decision [0-9.]+ms, standing plan 100ms old\)$/);
    await t.daemon.stop();
  });

  test("standing_decisions = false: every trigger decides afresh, and no plan is kept", async () => {
    const t = setup(TRIGGER.replace("standing_decisions = true", "standing_decisions = false"));
    await t.daemon.start();
    await t.step(100);
    assert.deepEqual(t.daemon.standing(), []);
    t.write("proc/meminfo", meminfo(50_000));
    await t.step(100);
    assert.equal(t.episodes[0]?.decision, undefined);
    assert.deepEqual(victims(t.episodes[0]), [10]);
    await t.daemon.stop();
  });

  test("the standing victim exited: a fresh decision, and the record says why the plan was refused", async () => {
    const t = setup(TRIGGER);
    await t.daemon.start();
    await t.step(100);
    fs.rmSync(path.join(t.dir, "proc/10"), { recursive: true });
    t.write("proc/meminfo", meminfo(50_000));
    await t.step(100);
    const r = t.episodes[0];
    assert.equal(r?.decision?.path, "fresh");
    assert.match(r?.decision?.path === "fresh" ? (r.decision.standingRefused ?? "") : "", /pid 10: no such process/);
    assert.deepEqual(victims(r), [11]);
    await t.daemon.stop();
  });

  test("the trouble grew outside the plan (a task that was small when it was made): refused, and a fresh decision kills the grower", async () => {
    const t = setup(TRIGGER);
    await t.daemon.start();
    await t.step(100);
    assert.deepEqual(victims(t.daemon.standing()[0]?.record), [10], "decided ahead: the largest task then");
    t.write("proc/11/status", statusText({ pid: 11, comm: "b", cgroup: "/jobs/b", rssAnonKb: 650 * 1024 }));
    t.write("proc/meminfo", meminfo(50_000));
    await t.step(100);
    const r = t.episodes[0];
    assert.equal(r?.decision?.path, "fresh", JSON.stringify(r?.decision));
    assert.match(r?.decision?.path === "fresh" ? (r.decision.standingRefused ?? "") : "", /^\/ grew by 439\.5 MiB outside the plan's targets since it was made/);
    assert.deepEqual(victims(r), [11], "the task that grew, not the one the plan named");
    await t.daemon.stop();
  });

  test("a task that grows after the model first read it: the standing plan follows it within one usage re-read, one refresh and one re-decision, not at the small task's interval", async () => {
    // 11 is tiny when the first plan reads it (a small task: its figures are due again only every
    // REFRESH_INTERVALS_MS.task), and no policy reads its cgroup's memory.current.
    const small: FixtureSpec = {
      ...MACHINE,
      cgroups: { "/jobs": { current: 401 * MB }, "/jobs/a": { current: 400 * MB, anon: 400 * MB }, "/jobs/b": { current: 1 * MB, anon: 1 * MB } },
      tasks: [MACHINE.tasks?.[0] ?? { pid: 1, comm: "init", cgroup: "/" }, MACHINE.tasks?.[1] ?? { pid: 10, comm: "a", cgroup: "/jobs/a" }, { pid: 11, comm: "b", cgroup: "/jobs/b", rssAnonKb: 1024 }],
    };
    const t = setup(TRIGGER, [], small);
    await t.daemon.start();
    await t.step(100);
    const standingVictims = () => victims(t.daemon.standing().find((e) => e.scope === "/")?.record);
    assert.deepEqual(standingVictims(), [10], "decided ahead: the largest task then");
    // 11 grows to 650 MiB, and the kernel charges its cgroup; the machine keeps its headroom (pace 1).
    t.write("proc/11/status", statusText({ pid: 11, comm: "b", cgroup: "/jobs/b", rssAnonKb: 650 * 1024 }));
    t.write("sys/fs/cgroup/jobs/b/memory.current", `${651 * MB}\n`);
    t.write("sys/fs/cgroup/jobs/memory.current", `${1051 * MB}\n`);
    // The usage re-read, the refresh after it (upkeep rests a refresh in proportion to the last
    // one's length, at most REFRESH_REST_MAX_MS), and a decision run (its rest at most
    // DECISION_REST_MAX_MS): all ÷ pace 1, and well inside the small task's own interval.
    const within = REFRESH_INTERVALS_MS.usage + Math.max(REFRESH_EVERY_MS, REFRESH_REST_MAX_MS) + Math.max(MIN_REDECIDE_MS, DECISION_REST_MAX_MS);
    assert.ok(within < REFRESH_INTERVALS_MS.task && 1024 * 1024 < LARGE_TASK_BYTES, "the bound is tighter than the small task's own interval");
    let waited = 0;
    for (; waited < within && standingVictims()?.[0] !== 11; waited += 100) await t.step(100);
    assert.deepEqual(standingVictims(), [11], `the grower, within ${within} ms (waited ${waited} ms)`);
    await t.daemon.stop();
  });

  test("a leak that starts after a plan stood: once the model sees its cgroup's usage move, no plan is made on its stale figures (every plan after names the leak)", async () => {
    // The VM's daemon-zram on 6.1: the leak's cgroup usage moved, the change made a plan due, and
    // the plan was made before the refresh had re-read what the move made due (the leak's
    // process list and figures): three plans in a row named the 32 MiB bystander, and so did
    // the trigger. Every read here is slow (3 ms: a slice reads one or two files), and twenty
    // quiet cgroups keep the refresh busy.
    const quiet = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`/q${i}`, { current: 1 * MB }]));
    const spec: FixtureSpec = {
      memTotalKb: 1_000_000,
      memAvailableKb: 800_000,
      cgroups: { ...quiet, "/jobs": { current: 40 * MB }, "/jobs/bystander": { current: 40 * MB, anon: 40 * MB }, "/jobs/leak": { current: 0 } },
      tasks: [
        { pid: 1, comm: "init", cgroup: "/" },
        { pid: 30, comm: "bystander", cgroup: "/jobs/bystander", rssAnonKb: 40 * 1024 },
      ],
    };
    const read = new Set<string>();
    class SlowReads extends HostDecorator {
      override readFile(p: string): string {
        spin(3);
        read.add(p);
        return super.readFile(p);
      }
      override readDir(p: string) {
        spin(3);
        return super.readDir(p);
      }
    }
    const t = fixtureDaemon(spec, TRIGGER, { wrap: (h) => new SlowReads(h) });
    const planned = () => t.log.lines.filter((l) => /^debug: standing decision for \/: [a-z-]+: pid/.test(l)).map((l) => Number(/pid ([0-9]+)/.exec(l)?.[1]));
    await t.daemon.start();
    for (let i = 0; i < 200 && planned().length === 0; i++) await t.step(100);
    assert.deepEqual(planned(), [30], "alone: the bystander");
    // The leak joins its cgroup and is read once, small, by a plan (which still names the bystander).
    addTask(t.dir, { pid: 31, comm: "leak", cgroup: "/jobs/leak", rssAnonKb: 8 * 1024 });
    t.write("sys/fs/cgroup/jobs/leak/memory.current", `${8 * MB}\n`);
    for (let i = 0; i < 400 && !read.has("/proc/31/status"); i++) await t.step(100);
    const before = planned().length;
    assert.ok(planned().slice(-1)[0] === 30, "the leak read small: the bystander still");
    // It grows to 600 MiB.
    t.write("proc/31/status", statusText({ pid: 31, comm: "leak", cgroup: "/jobs/leak", rssAnonKb: 600 * 1024 }));
    t.write("sys/fs/cgroup/jobs/leak/memory.current", `${600 * MB}\n`);
    t.write("sys/fs/cgroup/jobs/memory.current", `${640 * MB}\n`);
    for (let i = 0; i < 600 && planned().length === before; i++) await t.step(100);
    assert.deepEqual(planned().slice(before, before + 1), [31], `every plan after the growth names the leak: ${planned().slice(before).join(", ")}`);
    await t.daemon.stop();
  });

  test(`ahead of time a policy has ${AHEAD_DEADLINES} deadlines: a slow first call (cold code, a cold model) still makes its plan, not the kernel's`, async () => {
    let calls = 0;
    const late = definePolicy({
      name: "late",
      handleOutOfMemory(oc) {
        if (++calls === 1) {
          const until = performance.now() + 300;
          while (performance.now() < until) {
            /* a cold first call: past one deadline (200 ms), within four, with room for a loaded machine */
          }
        }
        const small = oc.tasks().find((x) => x.comm === "b");
        return small ? oc.killTask(small, "the policy's own choice") : oc.pass("none");
      },
    });
    const t = setup(`policy_deadline_ms = 200\n${TRIGGER}[[attach]]\ncgroup = "/"\npolicy = "late"\n`, [late]);
    await t.daemon.start();
    await t.step(100);
    const e = t.daemon.standing()[0];
    assert.equal(e?.plan?.policy, "late", JSON.stringify(e?.record.chain));
    t.write("proc/11/status", statusText({ pid: 11, comm: "b", cgroup: "/jobs/b", rssAnonKb: 650 * 1024 }));
    t.write("proc/meminfo", meminfo(50_000));
    await t.step(100);
    const r = t.episodes[0];
    assert.equal(r?.decision?.path, "standing", JSON.stringify(r?.decision));
    assert.equal(r?.policy, "late");
    assert.deepEqual(victims(r), [11]);
    await t.daemon.stop();
  });

  test("a policy's older plan is not kept standing for it once the machine has outgrown that plan: the fallback's, which saw the growth, stands", async () => {
    let calls = 0;
    const picky = definePolicy({
      name: "picky",
      handleOutOfMemory(oc) {
        if (++calls > 1) {
          const until = performance.now() + 600;
          while (performance.now() < until) {
            /* slow from now on: past four deadlines */
          }
        }
        const b = oc.tasks().find((x) => x.comm === "b");
        return b ? oc.killTask(b, "the policy's own choice") : oc.pass("none");
      },
    });
    const t = setup(`policy_deadline_ms = 100\n${TRIGGER}[[attach]]\ncgroup = "/"\npolicy = "picky"\n`, [picky]);
    await t.daemon.start();
    await t.step(100);
    assert.equal(t.daemon.standing()[0]?.plan?.policy, "picky");
    // a grows by 300 MiB, and the machine with it; picky now runs out of time.
    t.write("proc/10/status", statusText({ pid: 10, comm: "a", cgroup: "/jobs/a", rssAnonKb: 700 * 1024 }));
    t.write("proc/meminfo", meminfo(500_000 - 300 * 1024));
    await t.step(REDECIDE_MS);
    assert.ok(calls >= 2, "decided again");
    const e = t.daemon.standing()[0];
    assert.equal(e?.plan?.policy, "kernel", `not picky's outgrown plan: ${JSON.stringify(e?.record.chain)}`);
    assert.deepEqual(e?.plan?.targets.map((x) => x.action.kind === "kill-task" && x.action.pid), [10]);
    await t.daemon.stop();
  });

  test("a cgroup the model had not listed yet when the plan was made (its figures fresher than its listings): the plan is made again at once, on the newcomer, and the trigger kills it, not the quiet sibling", async () => {
    // TEST-55-OOMD in the systemd guest: a plan made on a model whose listing of the slice
    // predated the hog, read against a live figure that already held the hog's charge, killed the
    // quiet sibling. Here the machine-wide files are slow to read, so every model refresh spends
    // its slice on them and never reaches the cgroup listings.
    const spec = (bloatMb: number | undefined): FixtureSpec => ({
      memTotalKb: 1_000_000,
      memAvailableKb: 500_000,
      cgroups: {
        "/jobs": { current: ((bloatMb ?? 0) + 1) * MB, high: 48 * MB },
        "/jobs/chill": { current: 172 * 1024, anon: 100 * 1024 },
        ...(bloatMb === undefined ? {} : { "/jobs/bloat": { current: bloatMb * MB, anon: bloatMb * MB } }),
      },
      tasks: [
        { pid: 1, comm: "init", cgroup: "/" },
        { pid: 20, comm: "sleep", cgroup: "/jobs/chill", rssAnonKb: 100 },
        ...(bloatMb === undefined ? [] : [{ pid: 30, comm: "hog", cgroup: "/jobs/bloat", rssAnonKb: bloatMb * 1024 }]),
      ],
    });
    class SlowMachineFiles extends HostDecorator {
      override readFile(p: string): string {
        if (p === "/proc/meminfo" || p === "/proc/vmstat" || p.startsWith("/proc/pressure/")) spin(8);
        return super.readFile(p);
      }
      override readDir(p: string) {
        if (p === "/proc") spin(8);
        return super.readDir(p);
      }
    }
    const toml = `standing_decisions = true\n[[attach]]\ncgroup = "/jobs"\npolicy = "pressure"\n[[trigger]]\nname = "jobs"\ncgroup = "/jobs"\nmemory_events = ["high"]\n`;
    const { daemon, episodes, step, dir, log } = fixtureDaemon(spec(undefined), toml, { wrap: (h) => new SlowMachineFiles(h) });
    const jobs = () => daemon.standing().find((e) => e.scope === "/jobs");
    await daemon.start();
    for (let i = 0; i < 100 && !jobs(); i++) await step(100);
    assert.deepEqual(jobs()?.plan?.targets.map((x) => describeTarget(x.action)), ["cgroup /jobs/chill"], "alone in the slice: the quiet one");
    for (let i = 0; i < 100 && !daemon.standing().find((x) => x.scope === "/")?.plan; i++) await step(100);
    const made = jobs()?.madeAtMonoMs ?? 0;
    // The hog starts and grows to 40 MiB; the model's refreshes never get to the listings. Both
    // plans are made again (the machine's first, the older).
    buildFixture(spec(40), dir);
    await step(REDECIDE_MS);
    for (let i = 0; i < 200 && (jobs()?.madeAtMonoMs ?? 0) <= made; i++) await step(100);
    const e = jobs();
    assert.ok(e && e.madeAtMonoMs > made, "decided again");
    // The machine's plan, made first, found the listing changed after its figures were read: it
    // was made again at once, on the newcomer's figures, and names the hog in it.
    const machine = daemon.standing().find((x) => x.scope === "/");
    assert.ok(log.lines.some((l) => /standing decision for \/: a cgroup came or went under it while its plan was made .*deciding again now/.test(l)), log.lines.join("\n"));
    assert.deepEqual(machine?.plan?.targets.map((x) => describeTarget(x.action)), ["pid 30"]);
    assert.deepEqual(e.plan?.targets.map((x) => describeTarget(x.action)), ["cgroup /jobs/bloat"]);
    // The trouble: the hog at the slice's memory.high.
    fs.writeFileSync(path.join(dir, "sys/fs/cgroup/jobs/bloat/memory.current"), String(46 * MB));
    fs.writeFileSync(path.join(dir, "sys/fs/cgroup/jobs/memory.current"), String(47 * MB));
    fs.writeFileSync(path.join(dir, "sys/fs/cgroup/jobs/memory.events"), "low 0\nhigh 1\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n");
    await step(100);
    assert.equal(episodes.length, 1);
    assert.deepEqual(episodes[0]?.plan.map((a) => (a.kind === "kill-cgroup" ? a.cgroup : a.kind)), ["/jobs/bloat"]);
    await daemon.stop();
  });

  test("deciding ahead takes at most half the daemon's time: after a run of D ms the next waits D ms", async () => {
    const slow = definePolicy({
      name: "slow",
      handleOutOfMemory(oc) {
        const until = performance.now() + 300;
        while (performance.now() < until) {
          /* a large machine on a slow one */
        }
        return oc.pass("only slow");
      },
    });
    // Both scopes' chains go through "slow" (attached at "/"), so either run takes ≥ 300 ms.
    const t = setup(`policy_deadline_ms = 1000\n${TRIGGER}[[trigger]]\nname = "jobs"\ncgroup = "/jobs"\nmemory_events = ["high"]\n[[attach]]\ncgroup = "/"\npolicy = "slow"\n`, [slow]);
    await t.daemon.start();
    await t.step(100);
    const scopes = () => t.daemon.standing().map((e) => e.scope).sort();
    assert.equal(scopes().length, 1, "one run, for the machine or /jobs");
    await t.step(100); // 100 ms after a run of ≥ 300 ms
    assert.equal(scopes().length, 1, "not yet");
    // Ticks every 100 ms until the other scope's plan is made: not before the first run's length.
    for (let i = 0; i < 100 && scopes().length < 2; i++) await t.step(100);
    assert.deepEqual(scopes(), ["/", "/jobs"]);
    const [a, b] = t.daemon.standing().map((e) => e.madeAtMonoMs).sort((x, y) => x - y);
    assert.ok((b ?? 0) - (a ?? 0) >= 300, `the second run began ${(b ?? 0) - (a ?? 0)} ms after the first, which took ≥ 300 ms`);
    await t.daemon.stop();
  });

  test("each watched or attached cgroup gets its own plan; plans are made again as they age", async () => {
    const t = setup(`${TRIGGER}[[attach]]\ncgroup = "/jobs"\npolicy = "largest-leaf"\n`);
    await t.daemon.start();
    for (let i = 0; i < 100 && t.daemon.standing().length < 2; i++) await t.step(100);
    const scopes = t.daemon.standing().map((e) => e.scope).sort();
    assert.deepEqual(scopes, ["/", "/jobs"]);
    const jobs = t.daemon.standing().find((e) => e.scope === "/jobs");
    assert.equal(jobs?.plan?.policy, "largest-leaf");
    const made = jobs?.madeAtMonoMs;
    await t.step(REDECIDE_MS);
    // One scope's run at a time, and after a run of D ms (real time) the next waits D ms.
    const again = () => (t.daemon.standing().find((e) => e.scope === "/jobs")?.madeAtMonoMs ?? 0) > (made ?? 0);
    for (let i = 0; i < 100 && !again(); i++) await t.step(100);
    assert.ok(again(), "made again");
    await t.daemon.stop();
  });

  test("a policy that runs out of time on a refresh leaves its previous plan standing, not the kernel's", async () => {
    let calls = 0;
    const flaky = definePolicy({
      name: "flaky",
      handleOutOfMemory(oc) {
        calls++;
        if (calls > 1) {
          const until = performance.now() + 400;
          while (performance.now() < until) {
            /* a slow refresh */
          }
        }
        const small = oc.tasks().find((x) => x.comm === "b");
        return small ? oc.killTask(small, "the policy's own choice") : oc.pass("none");
      },
    });
    const t = setup(`policy_deadline_ms = 100\n${TRIGGER}[[attach]]\ncgroup = "/"\npolicy = "flaky"\n`, [flaky]);
    await t.daemon.start();
    await t.step(100);
    const first = t.daemon.standing()[0];
    assert.equal(first?.plan?.policy, "flaky");
    await t.step(REDECIDE_MS);
    assert.ok(calls >= 2, "decided again");
    const after = t.daemon.standing()[0];
    assert.equal(after?.plan?.policy, "flaky", `still flaky's plan, not ${after?.plan?.policy}`);
    assert.deepEqual(victims(after?.record), [11]);
    await t.daemon.stop();
  });

  test("a stateful policy decides the same with standing decisions on and off", async () => {
    const run = async (standing: boolean) => {
      // Kills the largest task it has not chosen before, remembering its choices in oc.state.
      const roundRobin = definePolicy({
        name: "round-robin",
        handleOutOfMemory(oc) {
          const chosen = (oc.state.get("chosen") as number[] | undefined) ?? [];
          const t = [...oc.tasks()].filter((x) => x.pid !== 1 && !chosen.includes(x.pid)).sort((a, b) => b.memory.rssBytes - a.memory.rssBytes)[0];
          if (!t) return oc.pass("every task chosen once");
          oc.state.set("chosen", [...chosen, t.pid]);
          return oc.killTask(t, "largest not chosen before");
        },
      });
      const t = setup(`${TRIGGER.replace("standing_decisions = true", `standing_decisions = ${standing}`)}[kill]\npost_action_delay_ms = 100\n[[attach]]\ncgroup = "/"\npolicy = "round-robin"\n`, [roundRobin]);
      await t.daemon.start();
      const tasks = { 10: { pid: 10, comm: "a", cgroup: "/jobs/a", rssKb: 400 * 1024 }, 11: { pid: 11, comm: "b", cgroup: "/jobs/b", rssKb: 200 * 1024 } };
      const rss = (pid: 10 | 11, kb: number) => t.write(`proc/${pid}/status`, statusText({ ...tasks[pid], rssAnonKb: kb }));
      // The trouble each time: the task to be chosen grows by 440 MiB (a standing plan is refused
      // when memory grew where it did not look), then it is as it was (a dry run frees nothing).
      for (const pid of [10, 11, 10] as const) {
        for (let j = 0; j < 5; j++) await t.step(700); // upkeep decides ahead, again and again
        rss(pid, tasks[pid].rssKb + 450_000);
        t.write("proc/meminfo", meminfo(50_000));
        await t.step(100);
        rss(pid, tasks[pid].rssKb);
        t.write("proc/meminfo", meminfo(500_000));
      }
      await t.daemon.stop();
      return t.episodes.map((r) => `${r.decision?.path ?? "-"}:${r.policy} ${victims(r)?.join(",")}`);
    };
    const on = await run(true);
    const off = await run(false);
    // Its two choices, then it passes and the kernel's badness decides.
    assert.deepEqual(on.map((x) => x.split(":")[1]), ["round-robin 10", "round-robin 11", "kernel 10"], JSON.stringify({ on, off }));
    assert.deepEqual(on.map((x) => x.split(":")[1]), off.map((x) => x.split(":")[1]));
    assert.ok(on.slice(0, 2).every((x) => x.startsWith("standing:")), JSON.stringify(on));
  });

  test("policy state outlives a configuration reload", async () => {
    const remember = definePolicy({
      name: "remember",
      handleOutOfMemory(oc) {
        const chosen = (oc.state.get("chosen") as number[] | undefined) ?? [];
        const t = [...oc.tasks()].filter((x) => x.pid !== 1 && !chosen.includes(x.pid)).sort((a, b) => b.memory.rssBytes - a.memory.rssBytes)[0];
        if (!t) return oc.pass("none left");
        oc.state.set("chosen", [...chosen, t.pid]);
        return oc.killTask(t, "not chosen before");
      },
    });
    const toml = `${TRIGGER}[kill]\npost_action_delay_ms = 100\n[[attach]]\ncgroup = "/"\npolicy = "remember"\n`;
    const t = setup(toml, [remember]);
    await t.daemon.start();
    t.write("proc/meminfo", meminfo(50_000));
    await t.step(100);
    t.write("proc/meminfo", meminfo(500_000));
    const parsed = parseConfig(toml, "test.toml");
    await t.daemon.reload(compileConfig(parsed.config, { builtins: new Map([...BUILTIN_POLICIES, [remember.name, remember]]), loadPolicyFile, enforceOwnership: false, source: parsed.source }));
    await t.step(1_000);
    t.write("proc/meminfo", meminfo(50_000));
    await t.step(100);
    assert.deepEqual(t.episodes.map((r) => victims(r)?.join(",")), ["10", "11"]);
    await t.daemon.stop();
  });
});

/** Holds the thread for `ms` of wall time: a slow read. */
function spin(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    /* slow */
  }
}
