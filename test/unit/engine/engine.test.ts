import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Engine, type Executor } from "../../../src/engine/engine.js";
import { takeSnapshot } from "../../../src/engine/snapshot.js";
import type { ActionResult, Staleness } from "../../../src/engine/episode.js";
import { NO_PROTECTIONS } from "../../../src/engine/verify.js";
import { FixtureHost } from "../../../src/os/fixture-host.js";
import { HostDecorator } from "../../../src/os/host-decorator.js";
import type { Host } from "../../../src/os/host.js";
import { cgroupPath } from "../../../src/os/paths.js";
import { definePolicy, type OomCause, type Policy } from "../../../src/engine/policy.js";
import { kernelPolicy } from "../../../src/policy/kernel.js";
import { rules } from "../../../src/policy/rules.js";
import { OomkitError } from "../../../src/errors.js";
import { buildFixture, type FixtureSpec } from "../../support/fixture.js";
import { OOM_TEST } from "../../support/machines.js";

const cause: OomCause = { kind: "cgroup", trigger: "test", message: "test", figures: {} };
const attach = (cgroup: string, policy: Policy, options: unknown = {}) => ({ cgroup: cgroupPath(cgroup), policy, options });


function snap(spec: FixtureSpec = OOM_TEST) {
  return takeSnapshot(new FixtureHost(buildFixture(spec)));
}

/** A policy that kills a fixed pid or cgroup: for testing the chain and the verifier. */
function killer(name: string, what: { pid?: number; cgroup?: string }): Policy {
  return definePolicy({
    name,
    handleOutOfMemory(oc) {
      if (what.pid !== undefined) {
        const t = oc.snapshot.task(what.pid);
        return t ? oc.killTask(t, "test") : oc.pass("no such task");
      }
      const c = oc.snapshot.cgroup(what.cgroup ?? "/");
      return c ? oc.killCgroup(c, "test") : oc.pass("no such cgroup");
    },
  });
}

describe("dispatch", () => {
  test("oom_test: the default kernel policy picks the +1000 task", async () => {
    const engine = new Engine({ defaultPolicy: { policy: kernelPolicy, options: {} } });
    const r = await engine.explain(snap(), "/oom_test", cause);
    assert.equal(r.handled, true);
    assert.equal(r.policy, "kernel");
    assert.deepEqual(r.plan.map((a) => a.kind === "kill-task" && a.pid), [101]);
    const skipped = r.candidates.find((c) => c.pid === 102);
    assert.equal(skipped?.skipped, "oom_score_adj -1000");
    assert.ok(r.candidates.some((c) => c.pid === 104 && typeof c.score === "number"));
    assert.equal(r.schema, "oomkit.episode/1");
  });

  test("the chain: scope's policy, then ancestors', then the default; passes fall through", async () => {
    const calls: string[] = [];
    const passer = (name: string) =>
      definePolicy({
        name,
        handleOutOfMemory(oc) {
          calls.push(name);
          return oc.pass(`${name} declines`);
        },
      });
    const engine = new Engine({
      attachments: [attach("/oom_test/cg3", passer("inner")), attach("/oom_test", passer("outer")), attach("/", passer("machine")), attach("/oom_test/cg1", passer("sibling"))],
      defaultPolicy: { policy: kernelPolicy, options: {} },
    });
    const r = await engine.explain(snap(), "/oom_test/cg3", cause);
    assert.deepEqual(calls, ["inner", "outer", "machine"]);
    assert.deepEqual(r.chain.map((c) => [c.policy, c.attachedTo, c.outcome]), [
      ["inner", "/oom_test/cg3", "passed"],
      ["outer", "/oom_test", "passed"],
      ["machine", "/", "passed"],
      ["kernel", null, "handled"],
    ]);
    assert.equal(r.chain[0]?.reason, "inner declines");
    assert.deepEqual(r.plan.map((a) => a.kind === "kill-task" && a.pid), [104], "the kernel's choice within cg3");
  });

  test("at most one policy per cgroup", () => {
    assert.throws(
      () => new Engine({ attachments: [attach("/a", kernelPolicy), attach("/a/", killer("x", { pid: 1 }))], defaultPolicy: { policy: kernelPolicy, options: {} } }),
      (e: unknown) => e instanceof OomkitError && e.code === "E_CONFIG" && /two policies attached \(kernel and x\)/.test(e.message),
    );
  });

  test("an unknown scope, and a cgroup scope in system-level mode, are clear errors", async () => {
    const engine = new Engine({ defaultPolicy: { policy: kernelPolicy, options: {} } });
    await assert.rejects(engine.explain(snap(), "/nope", cause), (e: unknown) => e instanceof OomkitError && e.code === "E_NO_SUCH_PATH");
    const hybrid = takeSnapshot(new FixtureHost(buildFixture({ mode: "hybrid", tasks: [{ pid: 5, comm: "a", rssAnonKb: 100 }] })));
    await assert.rejects(engine.explain(hybrid, "/a", cause), (e: unknown) => e instanceof OomkitError && e.code === "E_UNSUPPORTED");
    const r = await engine.explain(hybrid, "/", { ...cause, kind: "system" });
    assert.deepEqual(r.plan.map((a) => a.kind === "kill-task" && a.pid), [5]);
  });
});

describe("fault isolation: each faulty policy is recorded and the next one acts", () => {
  const faulty: [string, Policy, RegExp][] = [
    ["throws", definePolicy({ name: "thrower", handleOutOfMemory: () => { throw new RangeError("bad index"); } }), /^RangeError: bad index$/],
    // eslint-disable-next-line no-constant-condition
    ["loops forever", definePolicy({ name: "looper", handleOutOfMemory: () => { for (;;) { /* spin */ } } }), /deadline of 50 ms/],
    ["returns garbage", definePolicy({ name: "garbage", handleOutOfMemory: () => ({ kind: "act", actions: [{ kind: "kill-task", pid: 104 }] }) as never }), /not a plan/],
    ["returns nothing", definePolicy({ name: "nothing", handleOutOfMemory: () => undefined as never }), /returned undefined/],
    ["returns a promise", definePolicy({ name: "async", handleOutOfMemory: (async () => undefined) as never }), /promise/],
    ["bad verdict", definePolicy({ name: "verdict", evaluateTask: () => "kill-it" as never }), /expected "select"/],
    ["fakes a task", definePolicy({ name: "faker", handleOutOfMemory: (oc) => oc.killTask({ pid: 104 } as never, "fake") }), /killTask takes a task/],
  ];
  for (const [what, policy, error] of faulty) {
    test(what, async () => {
      // Only the looper needs to meet its deadline; the others fail at once, and a loaded machine
      // must not turn their quick failure into a timeout.
      const deadline = policy.name === "looper" ? 50 : 10_000;
      const engine = new Engine({ attachments: [attach("/oom_test", policy)], defaultPolicy: { policy: kernelPolicy, options: {} }, policyDeadlineMs: deadline });
      const r = await engine.explain(snap(), "/oom_test", cause);
      const first = r.chain[0];
      assert.equal(first?.policy, policy.name);
      assert.ok(first && ["threw", "timeout", "invalid"].includes(first.outcome), `outcome ${first?.outcome}`);
      assert.match(first?.error ?? "", error);
      assert.equal(r.policy, "kernel");
      assert.deepEqual(r.plan.map((a) => a.kind === "kill-task" && a.pid), [101]);
    });
  }
  test("a policy that runs past its deadline leaves the process healthy", async () => {
    const looper = definePolicy({ name: "looper", handleOutOfMemory: () => { for (;;) { /* spin */ } } });
    const engine = new Engine({ attachments: [attach("/", looper)], defaultPolicy: { policy: kernelPolicy, options: {} }, policyDeadlineMs: 20 });
    for (let i = 0; i < 3; i++) assert.equal((await engine.explain(snap(), "/oom_test", cause)).chain[0]?.outcome, "timeout");
    assert.equal(await new Promise((r) => setImmediate(() => r("event loop turns"))), "event loop turns");
  });
});

describe("the verifier", () => {
  const engineWith = (p: Policy, protections = NO_PROTECTIONS) => new Engine({ attachments: [attach("/oom_test", p)], defaultPolicy: { policy: kernelPolicy, options: {} }, protections });
  const rows: [string, string, { pid?: number; cgroup?: string }, RegExp][] = [
    ["a task outside the scope (pid 1 in /)", "/oom_test", { pid: 1 }, /^outside the scope \/oom_test: \/proc\/1\/cgroup says \/$/],
    ["a task in a sibling cgroup", "/oom_test/cg3", { pid: 101 }, /^outside the scope \/oom_test\/cg3: \/proc\/101\/cgroup says \/oom_test\/cg1$/],
    ["a -1000 task", "/oom_test", { pid: 102 }, /^oom_score_adj -1000$/],
    ["the root cgroup", "/", { cgroup: "/" }, /^the root cgroup$/],
    ["a cgroup above the scope", "/oom_test/cg3", { cgroup: "/oom_test" }, /^outside the scope \/oom_test\/cg3$/],
    ["a cgroup whose every task is protected", "/oom_test", { cgroup: "/oom_test/cg2" }, /^every task in it is protected$/],
  ];
  for (const [what, scope, target, reason] of rows) {
    test(`refuses ${what}, records why, and the next policy acts`, async () => {
      const engine = new Engine({ attachments: [attach(scope, killer("bad", target))], defaultPolicy: { policy: kernelPolicy, options: {} } });
      const r = await engine.explain(snap(), scope, cause);
      const first = r.chain[0];
      assert.equal(first?.outcome, "rejected");
      assert.equal(first?.verdicts[0]?.ok, false);
      assert.match(first?.verdicts[0]?.reason ?? "", reason);
      assert.equal(r.policy, "kernel");
    });
  }
  test("pid 1 in a system-wide OOM: refused as init", async () => {
    const engine = new Engine({ attachments: [attach("/", killer("bad", { pid: 1 }))], defaultPolicy: { policy: kernelPolicy, options: {} } });
    const r = await engine.explain(snap(), "/", { ...cause, kind: "system" });
    assert.equal(r.chain[0]?.verdicts[0]?.reason, "pid 1 (init)");
  });
  test("oomkit itself is never a target, nor the cgroup holding it", async () => {
    const spec: FixtureSpec = { ...OOM_TEST, selfPid: 105 };
    const r1 = await engineWith(killer("self", { pid: 105 })).explain(snap(spec), "/oom_test", cause);
    assert.equal(r1.chain[0]?.verdicts[0]?.reason, "oomkit itself");
    const r2 = await engineWith(killer("selfcg", { cgroup: "/oom_test/cg3" })).explain(snap(spec), "/oom_test", cause);
    assert.equal(r2.chain[0]?.verdicts[0]?.reason, "holds oomkit itself");
  });
  test("a cgroup holding a protected task is killed task by task, sparing it", async () => {
    const spec: FixtureSpec = { ...OOM_TEST, tasks: [...(OOM_TEST.tasks ?? []), { pid: 106, comm: "guard", cgroup: "/oom_test/cg3/cg5", oomScoreAdj: -1000 }] };
    const r = await engineWith(killer("cg3", { cgroup: "/oom_test/cg3" })).explain(snap(spec), "/oom_test", cause);
    assert.equal(r.policy, "cg3");
    const exec = r.chain[0]?.verdicts[0]?.execution;
    assert.equal(exec?.method, "per-task");
    assert.ok(exec?.method === "per-task");
    assert.deepEqual(exec.tasks.map((t) => t.pid), [104, 105]);
    assert.deepEqual(exec.spared, [{ pid: 106, reason: "oom_score_adj -1000" }]);
    const clean = await engineWith(killer("cg4", { cgroup: "/oom_test/cg3/cg4" })).explain(snap(spec), "/oom_test", cause);
    assert.equal(clean.chain[0]?.verdicts[0]?.execution?.method, "cgroup.kill");
  });
  test("kill_process_group: the leader's group members are verified one by one; only the verified are killed", async () => {
    const spec: FixtureSpec = {
      cgroups: { "/jobs": {}, "/jobs/a": {}, "/other": {} },
      tasks: [
        { pid: 100, comm: "leader", cgroup: "/jobs/a", rssAnonKb: 1000 },
        { pid: 101, comm: "worker", cgroup: "/jobs/a", pgrp: 100 },
        { pid: 102, comm: "guarded", cgroup: "/jobs/a", pgrp: 100, oomScoreAdj: -1000 },
        { pid: 103, comm: "elsewhere", cgroup: "/other", pgrp: 100 },
        { pid: 104, comm: "unrelated", cgroup: "/jobs/a" },
      ],
    };
    const engine = (killProcessGroup: boolean) =>
      new Engine({ attachments: [attach("/jobs", killer("lead", { pid: 100 }))], defaultPolicy: { policy: kernelPolicy, options: {} }, killProcessGroup });
    const r = await engine(true).explain(snap(spec), "/jobs", cause);
    const v = r.chain[0]?.verdicts[0];
    assert.equal(v?.ok, true);
    assert.equal(v?.execution?.method, "per-task");
    const ex = v?.execution?.method === "per-task" ? v.execution : undefined;
    assert.deepEqual(ex?.tasks.map((t) => t.pid), [100, 101], "the leader and its verified member");
    assert.deepEqual(ex?.spared, [
      { pid: 102, reason: "oom_score_adj -1000" },
      { pid: 103, reason: "in its group but outside the scope /jobs" },
    ]);
    const off = await engine(false).explain(snap(spec), "/jobs", cause);
    assert.equal(off.chain[0]?.verdicts[0]?.execution?.method, "signal-task", "without the option: the victim alone");
  });
  test("omit by configuration, by command and by extended attribute", async () => {
    const marked: FixtureSpec = { ...OOM_TEST, cgroups: { ...OOM_TEST.cgroups, "/oom_test/cg3": { xattrs: { "user.oomd_omit": "1" } } } };
    const r1 = await engineWith(killer("x", { pid: 104 })).explain(snap(marked), "/oom_test", cause);
    assert.equal(r1.chain[0]?.verdicts[0]?.reason, "omit: /oom_test/cg3 has user.oomd_omit=1");
    const r2 = await engineWith(killer("x", { pid: 104 }), { ...NO_PROTECTIONS, omitCommands: [/^cg4$/] }).explain(snap(), "/oom_test", cause);
    assert.match(r2.chain[0]?.verdicts[0]?.reason ?? "", /omit: command matches/);
    const r3 = await engineWith(killer("x", { cgroup: "/oom_test/cg3/cg4" }), { ...NO_PROTECTIONS, omitCgroups: [cgroupPath("/oom_test/cg3")] }).explain(snap(), "/oom_test", cause);
    assert.match(r3.chain[0]?.verdicts[0]?.reason ?? "", /protected by configuration/);
    // The default loop honours the same protections: with cg1's task omitted, cg4's is next.
    const r4 = await new Engine({ defaultPolicy: { policy: kernelPolicy, options: {} }, protections: { ...NO_PROTECTIONS, omitCommands: [/^cg1$/] } }).explain(snap(), "/oom_test", cause);
    assert.deepEqual(r4.plan.map((a) => a.kind === "kill-task" && a.pid), [104]);
  });
  test("no double kills: a pending victim is not chosen again", async () => {
    const engine = new Engine({ defaultPolicy: { policy: kernelPolicy, options: {} } });
    engine.victims.add({ kind: "task", pid: 101, startTimeTicks: 1101, by: "oomkit", sinceMonoMs: 0, deadlineMonoMs: 1e12 });
    const r = await engine.explain(snap(), "/oom_test", cause);
    assert.deepEqual(r.plan.map((a) => a.kind === "kill-task" && a.pid), [104]);
    assert.equal(r.candidates.find((c) => c.pid === 101)?.skipped, "already a victim being killed");
  });
});

describe("evaluateTask", () => {
  test("skip everything: selection fails (recorded) and the default acts; select wins over badness", async () => {
    let calls = 0;
    const picky = definePolicy({
      name: "picky",
      evaluateTask(task) {
        calls++;
        return task.comm === "cg5" ? "select" : "default";
      },
    });
    const skipper = definePolicy({ name: "skipper", evaluateTask: () => "skip" });
    const aborter = definePolicy({ name: "aborter", evaluateTask: () => "abort" });
    const def = { policy: kernelPolicy, options: {} };
    const r1 = await new Engine({ attachments: [attach("/oom_test", skipper)], defaultPolicy: def }).explain(snap(), "/oom_test", cause);
    assert.equal(r1.chain[0]?.outcome, "no-victim");
    assert.equal(r1.policy, "kernel");
    const r2 = await new Engine({ attachments: [attach("/oom_test", aborter)], defaultPolicy: def }).explain(snap(), "/oom_test", cause);
    assert.match(r2.chain[0]?.reason ?? "", /aborted the selection/);
    const r3 = await new Engine({ attachments: [attach("/oom_test", picky)], defaultPolicy: def }).explain(snap(), "/oom_test", cause);
    assert.equal(r3.policy, "picky");
    assert.deepEqual(r3.plan.map((a) => a.kind === "kill-task" && a.pid), [105]);
    assert.equal(calls, 3, "asked about each killable task once (cg2's -1000 task is passed over first)");
  });
});

describe("live mode: only freed memory counts (bpf_memory_freed)", () => {
  function executor(freed: (pid: number | undefined) => boolean): Executor & { calls: string[] } {
    const calls: string[] = [];
    return {
      dryRun: false,
      calls,
      async execute(v): Promise<ActionResult> {
        const pid = v.action.kind === "kill-task" ? v.action.pid : undefined;
        calls.push(`${v.action.kind}:${pid ?? ""}`);
        return { action: v.action, ok: true, freed: freed(pid), dryRun: false, startedAtMs: 0, finishedAtMs: 0 };
      },
    };
  }
  test("a plan whose actions free nothing falls through to the next policy", async () => {
    const engine = new Engine({ attachments: [attach("/oom_test", killer("first", { pid: 104 }))], defaultPolicy: { policy: kernelPolicy, options: {} } });
    const ex = executor((pid) => pid !== 104);
    const r = await engine.handleOom({ snapshot: snap(), scope: "/oom_test", cause, mode: "live", executor: ex });
    assert.deepEqual(r.chain.map((c) => c.outcome), ["not-freed", "handled"]);
    assert.deepEqual(ex.calls, ["kill-task:104", "kill-task:101"]);
    assert.equal(r.policy, "kernel");
    assert.equal(r.actions.length, 2, "both attempts are in the record");
  });
  test("dry-run counts a verified plan without acting", async () => {
    const engine = new Engine({ defaultPolicy: { policy: kernelPolicy, options: {} } });
    const r = await engine.handleOom({ snapshot: snap(), scope: "/oom_test", cause, mode: "dry-run" });
    assert.equal(r.handled, true);
    assert.equal(r.actions[0]?.dryRun, true);
  });
});

describe("deadlines measure the policy's work, not the reading it causes", () => {
  // Reads of about 250 ms in all against a 100 ms deadline: retries are needed, and the budget of
  // ten deadlines leaves room for a loaded machine (the reads are wall time; the rest slows down).
  /** A host whose every read takes a while, as on a loaded machine. */
  class SlowHost extends FixtureHost {
    override readFile(p: string): string {
      const until = performance.now() + 10;
      while (performance.now() < until) {
        /* a slow /proc */
      }
      return super.readFile(p);
    }
  }
  const many: FixtureSpec = {
    cgroups: { "/big": {} },
    tasks: Array.from({ length: 60 }, (_, i) => ({ pid: 1000 + i, comm: `t${i}`, cgroup: "/big", rssAnonKb: 1000 + i })),
  };
  const largestTask = definePolicy({
    name: "largest-task",
    handleOutOfMemory(oc) {
      let best: (typeof oc.tasks extends () => readonly (infer T)[] ? T : never) | undefined;
      for (const t of oc.tasks()) if (!best || t.memory.rssBytes > best.memory.rssBytes) best = t;
      return best ? oc.killTask(best, "largest") : oc.pass("none");
    },
  });

  test("a policy slowed by reads (past its deadline) is run again with what was read, and decides", async () => {
    const snapshot = takeSnapshot(new SlowHost(buildFixture(many)));
    // 60 tasks × 3 files or more × 10 ms: at least 1.8 s of reading against a 1 s deadline; the
    // run again, on what was read, is pure computation with a whole second of room for a loaded
    // machine (250 ms was too little under a load of 9).
    const engine = new Engine({ attachments: [attach("/big", largestTask)], defaultPolicy: { policy: kernelPolicy, options: {} }, policyDeadlineMs: 1000 });
    const r = await engine.explain(snapshot, "/big", cause);
    assert.equal(r.policy, "largest-task", JSON.stringify(r.chain));
    assert.deepEqual(r.plan.map((a) => a.kind === "kill-task" && a.pid), [1059]);
    assert.ok((r.times.readMs ?? 0) > 1000, `the reads took ${r.times.readMs} ms, more than the deadline`);
  });

  test("a policy that loops is not run again: reading is not what kept it", async () => {
    let calls = 0;
    const looper = definePolicy({ name: "looper", handleOutOfMemory: () => { calls++; for (;;) { /* spin */ } } });
    const engine = new Engine({ attachments: [attach("/big", looper)], defaultPolicy: { policy: kernelPolicy, options: {} }, policyDeadlineMs: 30 });
    const r = await engine.explain(snap(many), "/big", cause);
    assert.equal(r.chain[0]?.outcome, "timeout");
    assert.equal(calls, 1);
  });
});

describe("right before acting: a plan whose trouble is gone is dropped", () => {
  function recording(): Executor & { calls: string[] } {
    const calls: string[] = [];
    return {
      dryRun: false,
      calls,
      async execute(v): Promise<ActionResult> {
        calls.push(`${v.action.kind}:${v.action.kind === "kill-task" ? v.action.pid : ""}`);
        return { action: v.action, ok: true, freed: true, dryRun: false, startedAtMs: 0, finishedAtMs: 0 };
      },
    };
  }
  const gone: Staleness = { clearedBy: "memory.events", reason: "the kernel's OOM killer killed in /oom_test since the signal (memory.events oom_kill 0→1)" };

  test("a stale plan is not carried out, no other policy runs, and the record says why", async () => {
    const engine = new Engine({ attachments: [attach("/oom_test", killer("first", { pid: 104 }))], defaultPolicy: { policy: kernelPolicy, options: {} } });
    const ex = recording();
    const asked: string[] = [];
    const r = await engine.handleOom({ snapshot: snap(), scope: "/oom_test", cause, mode: "live", executor: ex, whyStale: () => (asked.push("asked"), gone) });
    assert.deepEqual(asked, ["asked"]);
    assert.deepEqual(ex.calls, [], "nothing was killed");
    assert.deepEqual(r.chain.map((c) => [c.policy, c.outcome, c.reason]), [["first", "dropped", gone.reason]], "the default did not run either");
    assert.deepEqual(r.dropped, gone);
    assert.equal(r.handled, false);
    assert.equal(r.policy, null);
    assert.deepEqual(r.plan, []);
    assert.deepEqual(r.chain[0]?.verdicts.map((v) => v.ok), [true], "the plan had passed the verifier");
  });

  test("still needed: the plan is carried out", async () => {
    const engine = new Engine({ attachments: [attach("/oom_test", killer("first", { pid: 104 }))], defaultPolicy: { policy: kernelPolicy, options: {} } });
    const ex = recording();
    const r = await engine.handleOom({ snapshot: snap(), scope: "/oom_test", cause, mode: "live", executor: ex, whyStale: async () => undefined });
    assert.deepEqual(ex.calls, ["kill-task:104"]);
    assert.equal(r.policy, "first");
    assert.equal("dropped" in r, false);
  });

  test("a standing plan is asked too: dropped, not carried out", async () => {
    const engine = new Engine({ attachments: [attach("/oom_test", killer("first", { pid: 104 }))], defaultPolicy: { policy: kernelPolicy, options: {} } });
    const { plan } = await engine.prepare({ snapshot: snap(), scope: "/oom_test", cause });
    assert.ok(plan);
    const ex = recording();
    const r = await engine.carryOut(plan, { snapshot: snap(), cause, mode: "live", executor: ex, maxAgeMs: 60_000, whyStale: () => gone });
    assert.ok("record" in r);
    assert.deepEqual(ex.calls, []);
    assert.deepEqual(r.record.chain.map((c) => [c.policy, c.outcome]), [["first", "dropped"]]);
    assert.deepEqual(r.record.dropped, gone);
    assert.equal(r.record.decision?.path, "standing");
    const carried = await engine.carryOut(plan, { snapshot: snap(), cause, mode: "live", executor: ex, maxAgeMs: 60_000, whyStale: () => undefined });
    assert.ok("record" in carried && carried.record.handled);
    assert.deepEqual(ex.calls, ["kill-task:104"]);
  });

  test("asked only for a plan that passed the verifier, before each policy's first action", async () => {
    // pid 102 is oom_score_adj -1000: refused; the default then decides, and is asked about.
    const engine = new Engine({ attachments: [attach("/oom_test", killer("refused", { pid: 102 }))], defaultPolicy: { policy: kernelPolicy, options: {} } });
    const ex = recording();
    let asked = 0;
    const r = await engine.handleOom({ snapshot: snap(), scope: "/oom_test", cause, mode: "live", executor: ex, whyStale: () => (asked++, undefined) });
    assert.deepEqual(r.chain.map((c) => c.outcome), ["rejected", "handled"]);
    assert.equal(asked, 1);
  });
});

describe("cut short by a deadline: the best so far is carried out", () => {
  /** A host on which reading `file` never ends: only a deadline's watchdog stops it (a stuck /proc read). */
  class StuckRead extends HostDecorator {
    stuck = 0;
    constructor(
      inner: Host,
      readonly file: string,
      readonly every = false,
    ) {
      super(inner);
    }
    override readFile(p: string): string {
      if (p === this.file && (this.every || this.stuck === 0)) {
        this.stuck++;
        const giveUp = Date.now() + 20_000;
        while (Date.now() < giveUp) {
          /* stuck */
        }
        throw new Error(`nothing stopped the read of ${p}`);
      }
      return super.readFile(p);
    }
  }
  // Forty tasks; by pid, the largest of the first twenty is 2010, the largest of all 2039.
  const crowd: FixtureSpec = {
    cgroups: { "/big": {} },
    tasks: Array.from({ length: 40 }, (_, i) => ({ pid: 2000 + i, comm: `t${i}`, cgroup: "/big", rssAnonKb: i === 10 ? 50_000 : i === 39 ? 90_000 : 1000 + i })),
  };
  const stuckAt = (pid: number, every = false) => takeSnapshot(new StuckRead(new FixtureHost(buildFixture(crowd)), `/proc/${pid}/status`, every));
  // Deadlines far longer than reading the tasks before the stuck one takes on a loaded machine:
  // what stops the scan is the stuck read, not the machine's speed. (A stuck read is not counted
  // as reading — the watchdog ends it before its time is metered — so it is not tried again.)
  const DEFAULT_MS = 1000;
  const POLICY_MS = 300;

  test("the built-in default has a deadline of its own: it kills the best task it got to, and says how far it got", async () => {
    const engine = new Engine({ defaultPolicy: { policy: kernelPolicy, options: {} }, defaultPolicyDeadlineMs: DEFAULT_MS });
    const r = await engine.explain(stuckAt(2020), "/big", cause);
    assert.deepEqual(r.chain.map((c) => [c.policy, c.outcome]), [["kernel", "handled"]]);
    assert.deepEqual(r.plan.map((a) => a.kind === "kill-task" && a.pid), [2010], "the largest of the tasks before the stuck one");
    assert.equal(r.chain[0]?.cutShort, `ran past its deadline of ${DEFAULT_MS} ms after 20 of the 40 tasks; acting on its best so far`);
  });

  test("each process is read only when the default's loop reaches it: a stuck read among the small ones, visited last, leaves it the largest", async () => {
    // The daemon's model knows the sizes: 2039 and 2010 come first, the rest by size, 2000 last.
    const sizes = { taskBytes: (pid: number) => (crowd.tasks?.find((t) => t.pid === pid)?.rssAnonKb ?? 0) * 1024 };
    const snapshot = takeSnapshot(new StuckRead(new FixtureHost(buildFixture(crowd)), "/proc/2000/stat", true), { visitSizes: sizes });
    const engine = new Engine({ defaultPolicy: { policy: kernelPolicy, options: {} }, defaultPolicyDeadlineMs: DEFAULT_MS });
    const r = await engine.explain(snapshot, "/big", cause);
    assert.deepEqual(r.chain.map((c) => [c.policy, c.outcome]), [["kernel", "handled"]], "not timed out while listing the scope's processes");
    assert.deepEqual(r.plan.map((a) => a.kind === "kill-task" && a.pid), [2039]);
    assert.equal(r.chain[0]?.cutShort, `ran past its deadline of ${DEFAULT_MS} ms after 39 of the 40 tasks; acting on its best so far`);
  });

  test("unstuck, the default scans every task", async () => {
    const engine = new Engine({ defaultPolicy: { policy: kernelPolicy, options: {} }, defaultPolicyDeadlineMs: DEFAULT_MS });
    const r = await engine.explain(snap(crowd), "/big", cause);
    assert.deepEqual(r.plan.map((a) => a.kind === "kill-task" && a.pid), [2039]);
    assert.equal(r.chain[0]?.cutShort, undefined);
  });

  test("cut short before it chose anything, the default times out and the kernel is the last resort", async () => {
    const engine = new Engine({ defaultPolicy: { policy: kernelPolicy, options: {} }, defaultPolicyDeadlineMs: DEFAULT_MS });
    const r = await engine.explain(stuckAt(2000), "/big", cause);
    assert.deepEqual(r.chain.map((c) => c.outcome), ["timeout"]);
    assert.match(r.chain[0]?.error ?? "", /^ran past its deadline of 1000 ms \(.*raise default_policy_deadline_ms/);
    assert.equal(r.handled, false);
  });

  test("an attached policy that offered its best so far has it carried out rather than the next policy's choice", async () => {
    const offers = definePolicy({
      name: "offers",
      handleOutOfMemory(oc) {
        const t = oc.snapshot.task(2005);
        if (t) oc.bestSoFar(oc.killTask(t, "the first I liked"));
        for (;;) {
          /* a long think */
        }
      },
    });
    // 300 ms: room for a loaded machine to reach the offer before the deadline; the loop runs past it anyway.
    const engine = new Engine({ attachments: [attach("/big", offers)], defaultPolicy: { policy: kernelPolicy, options: {} }, policyDeadlineMs: 300 });
    const r = await engine.explain(snap(crowd), "/big", cause);
    assert.deepEqual(r.chain.map((c) => [c.policy, c.outcome]), [["offers", "handled"]]);
    assert.deepEqual(r.plan.map((a) => a.kind === "kill-task" && [a.pid, a.reason]), [[2005, "the first I liked"]]);
    assert.equal(r.chain[0]?.cutShort, "ran past its deadline of 300 ms; acting on its best so far", "it recorded no candidates: no progress to tell");
  });

  test("rules offers its choice as it scans: stuck on a read, it acts on the tasks it got to", async () => {
    // Stuck on every read of 2020's status: the retries for reading end too, and rules is cut short.
    const engine = new Engine({ attachments: [attach("/big", rules, rules.parseOptions?.({}))], defaultPolicy: { policy: kernelPolicy, options: {} }, policyDeadlineMs: POLICY_MS });
    const r = await engine.explain(stuckAt(2020, true), "/big", cause);
    assert.deepEqual(r.chain.map((c) => [c.policy, c.outcome]), [["rules", "handled"]], "not handed on to the kernel's badness");
    assert.deepEqual(r.plan.map((a) => a.kind === "kill-task" && a.pid), [2010]);
    assert.equal(r.chain[0]?.cutShort, `ran past its deadline of ${POLICY_MS} ms after 20 of the 40 tasks; acting on its best so far`);
  });
});
