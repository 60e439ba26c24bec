/**
 * Whole-engine tests of who gets chosen: the kernel's BPF OOM selftest (oom_test), strict
 * priorities against the kernel's size-first choice, and an evaluateTask policy.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Engine } from "../../../src/engine/engine.js";
import { cgroupPath } from "../../../src/os/paths.js";
import { definePolicy, type OomControl, type TaskVerdict } from "../../../src/engine/policy.js";
import { kernelPolicy } from "../../../src/policy/kernel.js";
import { largestLeaf } from "../../../src/policy/largest-leaf.js";
import { parsePriorityXattr, priority } from "../../../src/policy/priority.js";
import type { FixtureSpec } from "../../support/fixture.js";
import { KB_PER_MB, MB, OOM_TEST, cause, chainOf, engineWith, machine, snapshotNotingReads, snapshotOf } from "./machines.js";

describe("oom_test", () => {
  const dir = machine(OOM_TEST);

  test("largest-leaf attached to /oom_test picks cg3/cg4 (cg2 holds an oom_score_adj -1000 task)", async () => {
    const engine = new Engine({
      attachments: [{ cgroup: cgroupPath("/oom_test"), policy: largestLeaf, options: largestLeaf.parseOptions?.({}) ?? {} }],
      defaultPolicy: { policy: kernelPolicy, options: {} },
    });
    const record = await engine.explain(snapshotOf(dir), "/oom_test", cause);
    assert.equal(record.policy, "largest-leaf");
    assert.deepEqual(chainOf(record), ["largest-leaf:handled"]);
    assert.deepEqual(
      record.plan.map((a) => ({ kind: a.kind, cgroup: "cgroup" in a ? a.cgroup : undefined })),
      [{ kind: "kill-cgroup", cgroup: "/oom_test/cg3/cg4" }],
    );
    const skipped = record.candidates.find((c) => c.cgroup === "/oom_test/cg2");
    assert.match(skipped?.skipped ?? "", /every task in it is protected/);
  });

  test("the default kernel policy (no attachment) picks cg1's oom_score_adj +1000 task", async () => {
    const engine = new Engine({ defaultPolicy: { policy: kernelPolicy, options: {} } });
    const record = await engine.explain(snapshotOf(dir), "/oom_test", cause);
    assert.equal(record.policy, "kernel");
    assert.deepEqual(record.chain.map((c) => [c.policy, c.attachedTo, c.outcome]), [["kernel", null, "handled"]]);
    assert.deepEqual(
      record.plan.map((a) => ({ kind: a.kind, pid: "pid" in a ? a.pid : undefined })),
      [{ kind: "kill-task", pid: 101 }],
    );
  });

  test("largest-leaf reads the tasks of the units it examines, from the largest down to its victim, and of no smaller one", async () => {
    const { snapshot, pidsRead: readNow } = snapshotNotingReads(dir);
    const record = await engineWith(largestLeaf, "/oom_test").explain(snapshot, "/oom_test", cause);
    assert.deepEqual(record.plan.map((a) => ("cgroup" in a ? a.cgroup : undefined)), ["/oom_test/cg3/cg4"]);
    const pidsRead = readNow();
    // cg2 (40 MB, its task protected) was examined and refused, cg4 (30 MB) chosen; cg5 (20 MB) and cg1 (10 MB) are smaller.
    assert.ok(pidsRead.has(102) && pidsRead.has(104), `read: ${[...pidsRead].join(", ")}`);
    assert.ok(!pidsRead.has(105) && !pidsRead.has(101), `a smaller unit's task was read: ${[...pidsRead].join(", ")}`);
    assert.match(record.candidates.find((c) => c.cgroup === "/oom_test/cg2")?.skipped ?? "", /every task in it is protected/);
    assert.match(record.candidates.find((c) => c.cgroup === "/oom_test/cg3/cg5")?.note ?? "", /ranks after the choice \(its tasks not examined\)/);
  });

  test("largest-leaf without swap counting, and minBytes", async () => {
    const r = await engineWith(largestLeaf, "/oom_test", { swap: false, minBytes: 35 * MB }).explain(snapshotOf(dir), "/oom_test", cause);
    assert.deepEqual(chainOf(r), ["largest-leaf:passed", "kernel:handled"], "nothing killable is 35 MB or more");
  });
});

/**
 * A job machine: the important job is the biggest, so the kernel would kill it; the batch jobs
 * are less important, set by configuration (/jobs/batch) and by xattr (important, batch/b).
 */
const JOBS: FixtureSpec = {
  cgroups: {
    "/jobs": { max: 1024 * MB, anon: 950 * MB },
    "/jobs/important": { anon: 700 * MB, xattrs: { "user.oomkit.priority": "100" } },
    "/jobs/batch": { anon: 250 * MB },
    "/jobs/batch/a": { anon: 100 * MB },
    "/jobs/batch/b": { anon: 150 * MB, xattrs: { "user.oomkit.priority": "50" } },
  },
  tasks: [
    { pid: 1, comm: "init", cgroup: "/" },
    { pid: 10, comm: "trainer", cgroup: "/jobs/important", rssAnonKb: 700 * KB_PER_MB },
    { pid: 20, comm: "etl-a", cgroup: "/jobs/batch/a", rssAnonKb: 100 * KB_PER_MB },
    { pid: 21, comm: "etl-b", cgroup: "/jobs/batch/b", rssAnonKb: 150 * KB_PER_MB },
  ],
};
const BATCH_LOW = { cgroups: { "/jobs/batch": 10 } };

describe("priority", () => {
  test("the kernel kills the biggest, high-priority job; priority kills the low-priority one", async () => {
    const dir = machine(JOBS);
    const kernel = await engineWith(undefined, "/jobs").explain(snapshotOf(dir), "/jobs", cause);
    assert.deepEqual(kernel.plan.map((a) => "pid" in a && a.pid), [10]);
    const r = await engineWith(priority, "/jobs", BATCH_LOW).explain(snapshotOf(dir), "/jobs", cause);
    assert.equal(r.policy, "priority");
    // /jobs: important (100, xattr) vs batch (10, configured) → batch; a (10, inherited) vs b (50, xattr) → a.
    assert.deepEqual(r.plan.map((a) => [a.kind, "pid" in a && a.pid]), [["kill-task", 20]]);
    assert.match(r.plan[0]?.reason ?? "", /batch \(10\) > a \(10\) > pid 20/);
  });

  test("a child cgroup's tasks are read only when it is the least important choice left; a refused one gives way to the next", async () => {
    const jobs = snapshotNotingReads(machine(JOBS));
    const pidsRead = jobs.pidsRead;
    const r = await engineWith(priority, "/jobs", BATCH_LOW).explain(jobs.snapshot, "/jobs", cause);
    assert.deepEqual(r.plan.map((a) => "pid" in a && a.pid), [20]);
    // important (100) ranks after batch (10): its task is not read (batch's are, to know it holds a killable one).
    assert.ok(!pidsRead().has(10) && pidsRead().has(20), `read: ${[...pidsRead()].join(", ")}`);
    assert.match(r.candidates.find((c) => c.cgroup === "/jobs/important")?.note ?? "", /ranks after the choice \(its tasks not examined\)/);
    // /jobs/batch/a holds only a protected task: examined, refused, and b (50) is next.
    const guarded = snapshotNotingReads(machine({ ...JOBS, tasks: (JOBS.tasks ?? []).map((t) => (t.pid === 20 ? { ...t, oomScoreAdj: -1000 } : t)) }));
    const g = await engineWith(priority, "/jobs", BATCH_LOW).explain(guarded.snapshot, "/jobs", cause);
    assert.deepEqual(g.plan.map((a) => "pid" in a && a.pid), [21]);
    assert.match(g.candidates.find((c) => c.cgroup === "/jobs/batch/a")?.skipped ?? "", /every task in it is protected/);
    assert.ok(!guarded.pidsRead().has(10), "important still ranks after batch: its task is not read");
  });

  test("a task whose priority is below every sibling cgroup's goes first", async () => {
    const spec: FixtureSpec = { ...JOBS, tasks: [...(JOBS.tasks ?? []), { pid: 30, comm: "cron", cgroup: "/jobs", rssAnonKb: 1024 }] };
    const dir = machine(spec);
    const r = await engineWith(priority, "/jobs", { ...BATCH_LOW, commands: { "^cron$": 5 } }).explain(snapshotOf(dir), "/jobs", cause);
    assert.deepEqual(r.plan.map((a) => "pid" in a && a.pid), [30]);
    const tie = await engineWith(priority, "/jobs", { ...BATCH_LOW, commands: { "^cron$": 10 } }).explain(snapshotOf(dir), "/jobs", cause);
    assert.deepEqual(tie.plan.map((a) => "pid" in a && a.pid), [20], "a tie with /jobs/batch goes to the larger: the cgroup");
  });

  test("ties go to the larger; a memory.oom.group cgroup is killed whole", async () => {
    const spec: FixtureSpec = {
      ...JOBS,
      cgroups: { ...JOBS.cgroups, "/jobs/batch/b": { anon: 150 * MB, oomGroup: true } },
    };
    const dir = machine(spec);
    const r = await engineWith(priority, "/jobs", BATCH_LOW).explain(snapshotOf(dir), "/jobs", cause);
    assert.deepEqual(r.plan.map((a) => [a.kind, "cgroup" in a ? a.cgroup : undefined]), [["kill-cgroup", "/jobs/batch/b"]]);
  });

  test("without any priority the default (0) applies everywhere, so size decides at each level", async () => {
    const dir = machine({ ...JOBS, cgroups: { ...JOBS.cgroups, "/jobs/important": { anon: 700 * MB }, "/jobs/batch/b": { anon: 150 * MB } } });
    const r = await engineWith(priority, "/jobs").explain(snapshotOf(dir), "/jobs", cause);
    assert.deepEqual(r.plan.map((a) => "pid" in a && a.pid), [10]);
    const cfg = await engineWith(priority, "/jobs", { default: 5, cgroups: { "/jobs/important": 6 } }).explain(snapshotOf(dir), "/jobs", cause);
    assert.deepEqual(cfg.plan.map((a) => "pid" in a && a.pid), [21], "batch has the default 5, below important's 6; b is larger than a");
  });

  test("protected tasks and omit-marked cgroups are never descended into", async () => {
    const spec: FixtureSpec = {
      ...JOBS,
      cgroups: { ...JOBS.cgroups, "/jobs/batch/a": { anon: 100 * MB, xattrs: { "user.oomd_omit": "1" } } },
      tasks: [...(JOBS.tasks ?? []).filter((t) => t.pid !== 21), { pid: 21, comm: "etl-b", cgroup: "/jobs/batch/b", oomScoreAdj: -1000 }],
    };
    const r = await engineWith(priority, "/jobs", BATCH_LOW).explain(snapshotOf(machine(spec)), "/jobs", cause);
    assert.deepEqual(r.plan.map((a) => "pid" in a && a.pid), [10], "all of batch is protected, so the important job is what is left");
  });

  test("options and xattr values are validated", () => {
    assert.throws(() => priority.parseOptions?.({ cgroups: { "jobs": 1 } }), /options\.cgroups\.jobs: not an absolute cgroup path/);
    assert.throws(() => priority.parseOptions?.({ commands: { "(": 1 } }), /not a valid regular expression/);
    assert.throws(() => priority.parseOptions?.({ default: 1.5 }), /options\.default/);
    assert.equal(parsePriorityXattr(" 42\n"), 42);
    assert.equal(parsePriorityXattr("-3"), -3);
    assert.equal(parsePriorityXattr("high"), undefined);
    assert.equal(parsePriorityXattr("1e9"), undefined);
  });
});

describe("evaluateTask", () => {
  /** Per-cgroup priorities for the default selection loop; higher is more important. */
  const CGROUP_PRIORITY: Readonly<Record<string, number>> = { "/jobs/important": 100, "/jobs/batch/a": 10, "/jobs/batch/b": 50 };
  const prio = (cg: string | undefined) => CGROUP_PRIORITY[cg ?? ""] ?? 0;

  function skipsFirstOom() {
    const seen = new WeakSet<object>();
    let episodes = 0;
    return definePolicy({
      name: "cgroup-priority",
      evaluateTask(task, chosen, oc: OomControl): TaskVerdict {
        if (!seen.has(oc)) {
          seen.add(oc);
          episodes++;
        }
        if (episodes === 1) return "skip";
        return !chosen || prio(task.cgroupPath) < prio(chosen.cgroupPath) ? "select" : "skip";
      },
    });
  }

  test("skips everything on the first OOM (no-victim, the default acts), then selects by cgroup priority", async () => {
    const dir = machine(JOBS);
    const policy = skipsFirstOom();
    const engine = new Engine({ attachments: [{ cgroup: cgroupPath("/jobs"), policy, options: {} }], defaultPolicy: { policy: kernelPolicy, options: {} } });
    const first = await engine.explain(snapshotOf(dir), "/jobs", cause);
    assert.deepEqual(chainOf(first), ["cgroup-priority:no-victim", "kernel:handled"]);
    assert.equal(first.policy, "kernel");
    assert.deepEqual(first.plan.map((a) => "pid" in a && a.pid), [10]);
    const skips = first.candidates.filter((c) => c.policy === "cgroup-priority");
    assert.deepEqual(skips.map((c) => [c.pid, c.skipped]), [[10, "evaluateTask: skip"], [20, "evaluateTask: skip"], [21, "evaluateTask: skip"]]);

    const second = await engine.explain(snapshotOf(dir), "/jobs", cause);
    assert.deepEqual(chainOf(second), ["cgroup-priority:handled"]);
    assert.deepEqual(second.plan.map((a) => "pid" in a && a.pid), [20]);
  });
});
