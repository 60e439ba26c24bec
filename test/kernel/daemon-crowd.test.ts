// `oomkit run` on a crowded machine: thousands of waiting tasks in hundreds of cgroups (as on a
// busy server), three steady bystanders and a leak, and oomkit's built-in default configuration
// as it ships (rules → the kernel's badness, default policy_deadline_ms; MemAvailable/SwapFree
// 10 %, machine PSI full 200 ms / 2 s). oomkit must kill the leak, before the kernel's OOM killer
// (/proc/vmstat oom_kill unchanged), and nothing else: every bystander and every crowd task
// lives. Before standing decisions, one decision here read every task at the trigger: on a
// 1 GiB guest under TCG it took 48–59 s, the kernel killed the leak first, and oomkit then
// carried out its stale decision on an unrelated process (issue 11). The trigger's path now only
// checks the plan that stands, so the record must say "standing".
//
// Until decisions visited tasks largest first (run of 2026-11-29 23:39, 6.12 under TCG at host
// load 7-12) `rules` ranked only 21-151 of the 3,069 tasks within its time ahead, in pid order,
// so its plan, cut short, named an early process, never the leak, the newest pid; the kernel's
// OOM killer killed the leak first. Now oc.tasks() comes largest first by the warm model's sizes
// (src/engine/visit-order.ts), and a call cut short has seen the leak and the bystanders first.
// Run of 2026-11-30 02:26 (6.12, host load 12.8-16.7): passed in 246 s of guest time; `rules`
// still ran out of its 1 s ahead while listing the 3,069 tasks, and the kernel's badness, cut
// short after 69 of them, named the leak. On 6.1 (03:08, load 10-14) no plan stood within 240 s:
// each run ahead ran out of its 1 s reading the cold model, and a scope without a plan was tried
// again only every 60 s (now every 2 s ÷ pace). On 6.1 (03:19, load 4.5-9.4) a plan stood after
// 148 s, but it flipped between the leak and the test's own node (25 MiB): the warm model read
// the leak once, small, and re-read it only at its own interval, so the visit by size reached it
// only sometimes; the trigger then had no plan on the leak and the kernel killed it first. Since
// the model watches every known cgroup's memory.current itself, the leak's growth makes its
// figures due at once (6.1, 04:43, load 8.3-10.8: first plan after 71 s, the leak killed on a
// plan made when it held 88 MB; 180 s of guest time, passed). Since 2026-11-30 it is part of the
// default run (480 s of budget; 81-99 s of guest time at host load 2-5, both kernels, in three
// runs of each that day): it proves issue 11's claim on every CI run. OOMKIT_BENCH_CROWD=0 skips it.
// Its first failure in CI (6.1, 2026-11-30 19:05, load 1.0-1.4): the plan standing at the trigger
// (the leak, named 29 s earlier when it held ~230 MiB) was refused, and the fresh decision
// after it had nothing: `rules` (250 ms) and the kernel's badness (1 s) both ran out of time
// reading the 3,062 processes before ranking the first (one read took 387 ms), so no policy
// handled it and the kernel killed the leak. The refusal's reason was not logged then (it is
// now, and a timeout here lists every record's decision path). Since then a decision reads each
// process only when it reaches it (oc.visitTasks), so the fresh path acts on the largest it got
// to, and a plan's growth bound counts what its targets hold now when they grew (a young leak's
// plan was judged against its size when named). 7 more runs on 6.1 that evening passed (4
// before, 3 after the change; the first plan now comes 12-21 s after start, 25-36 s before).
//
// The machine: the crowd is built first, then most of the free memory is reserved as huge pages
// (vm.nr_hugepages, as daemon-zram.test does), leaving LEFT_MIB for the bystanders and the leak,
// so that the leak fills it in seconds under TCG. The test's own node process runs at
// oom_score_adj -1000 (so no killer takes the test runner); what it starts is at 0. Outcomes are
// asserted, never timings: the figures go to daemon-figures-crowd.json (BENCHMARKS.md).
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { TestTree, type Hog, vmSkip, meminfo } from "./helpers.js";
import { CROWD_LEAK_MIB_S, CROWD_SHAPE, startCrowd, unprotected, type Crowd } from "./crowd.js";
import { addFigure, decisionOf, defaultConfigWith, exists, idleUsage, startDaemon, stopAllDaemons, vmstatOomKills, writeFigures } from "./daemon-helpers.js";

/** Memory left outside the huge-page reservation once the crowd stands, MiB. */
const LEFT_MIB = 768;

const SKIP: string | false = process.env.OOMKIT_BENCH_CROWD === "0" ? "the crowded machine: OOMKIT_BENCH_CROWD=0" : vmSkip();

describe("oomkit run on a crowded machine", { skip: SKIP }, () => {
  let t: TestTree;
  let hugeBefore = 0;
  let adjBefore = "0";
  let crowd: Crowd | undefined;
  before(async () => {
    t = await TestTree.create("daemon-crowd");
    hugeBefore = Number(readFileSync("/proc/sys/vm/nr_hugepages", "utf8").trim());
    adjBefore = readFileSync("/proc/self/oom_score_adj", "utf8").trim();
    writeFileSync("/proc/self/oom_score_adj", "-1000");
  });
  after(async () => {
    await stopAllDaemons();
    await crowd?.stop();
    await t?.teardown();
    writeFileSync("/proc/sys/vm/nr_hugepages", String(hugeBefore));
    writeFileSync("/proc/self/oom_score_adj", adjBefore);
    writeFigures("crowd");
  });

  test("3,000 waiting tasks in 300 cgroups, bystanders and a leak, the default configuration: oomkit kills the leak on its standing plan, before the kernel, and nothing else", async () => {
    crowd = await startCrowd(t, "crowd", CROWD_SHAPE);
    assert.equal(crowd.count(), crowd.tasks, "every crowd task in place");
    const bystanders: Hog[] = [];
    for (let i = 0; i < 3; i++) bystanders.push(unprotected(() => t.hog({ cgroup: t.mk(`jobs/bystander${i}`), mib: 40, noHugePages: true })));
    await Promise.all(bystanders.map((b) => b.ready));
    const m0 = meminfo();
    const want = Math.max(0, Math.floor((m0.MemFree! - LEFT_MIB * 1024) / m0.Hugepagesize!));
    writeFileSync("/proc/sys/vm/nr_hugepages", String(hugeBefore + want));
    const m = meminfo();
    console.log(
      `# crowd: ${crowd.tasks} tasks in ${crowd.cgroups.length} cgroups, started in ${(crowd.ms / 1000).toFixed(1)} s; ` +
        `${m.HugePages_Total} huge pages reserved; MemTotal ${Math.round(m.MemTotal! / 1024)} MiB, MemAvailable ${Math.round(m.MemAvailable! / 1024)} MiB`,
    );

    const started = performance.now();
    const d = await unprotected(() => startDaemon({ name: "crowd", keepLog: "daemon-crowd.log", config: defaultConfigWith({}), readyTimeoutMs: 120_000 }));
    // The daemon's first plan for the machine, made on its warm model while nothing is wrong.
    const first = await d.waitStanding("/", (v) => v.policy !== null, 240_000);
    const warmMs = Math.round(performance.now() - started);
    console.log(`# crowd: the first standing plan for / (${first.policy}) ${(warmMs / 1000).toFixed(1)} s after oomkit started: ${JSON.stringify(first.record.plan.map((a) => (a.kind === "kill-task" ? `${a.pid} (${a.comm})` : a.kind)))}`);
    const idle = await idleUsage(d, 3000);

    const kernelBefore = vmstatOomKills();
    const during = d.sample();
    const leakStart = performance.now();
    const leak = unprotected(() => t.hog({ cgroup: t.mk("jobs/leak"), mib: LEFT_MIB + 512, rateMibPerS: CROWD_LEAK_MIB_S, noHugePages: true }));
    const rec = await d.waitRecord((r) => r.plan.length > 0, 180_000);
    const episode = during.stop();
    const exit = await leak.exited;
    const leakMs = Math.round(performance.now() - leakStart);

    assert.deepEqual(
      rec.plan.map((a) => (a.kind === "kill-task" ? a.pid : a.kind)),
      [leak.pid],
      `the leak (${leak.pid}) is the victim: ${JSON.stringify({ cause: rec.cause, chain: rec.chain, decision: rec.decision, candidates: rec.candidates.slice(0, 5) })}`,
    );
    assert.equal(exit.signal, "SIGKILL");
    assert.equal(rec.decision?.path, "standing", decisionOf(rec));
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(vmstatOomKills(), kernelBefore, "the kernel's OOM killer never ran");
    for (const b of bystanders) assert.ok(exists(b.pid), `bystander ${b.pid} lives`);
    assert.equal(crowd.count(), crowd.tasks, "every crowd task lives");
    assert.equal(d.records().filter((r) => r.plan.length > 0).length, 1, `one action: ${d.episodeLines().join("\n")}`);
    console.log(`# crowd: leak start → leak gone ${(leakMs / 1000).toFixed(1)} s (${rec.cause.trigger}; ${decisionOf(rec)})`);
    addFigure(`crowded: ${crowd.tasks} tasks in ${crowd.cgroups.length} cgroups, default configuration`, rec, { idle, episode });
    await d.stop();
  });
});
