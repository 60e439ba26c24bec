import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { Engine } from "../../../src/engine/engine.js";
import { REFRESH_INTERVALS_MS, WarmModel } from "../../../src/engine/model.js";
import { definePolicy, type OomCause } from "../../../src/engine/policy.js";
import { takeSnapshot } from "../../../src/engine/snapshot.js";
import { UNKNOWN_TASK_BYTES, largestFirst } from "../../../src/engine/visit-order.js";
import { FixtureHost } from "../../../src/os/fixture-host.js";
import { ManualClock } from "../../../src/os/host.js";
import { cgroupPath } from "../../../src/os/paths.js";
import { builtinPolicy } from "../../../src/policy/builtins.js";
import { buildFixture, statusText, type FixtureSpec, type FixtureTask } from "../../support/fixture.js";

const MB = 1024 * 1024;
const CAUSE: OomCause = { kind: "system", trigger: "test", message: "test", figures: {} };

/** 200 small waiting tasks, three bystanders, and a leak: the newest pid. */
function crowd(): FixtureSpec {
  const tasks: FixtureTask[] = [{ pid: 1, comm: "init", cgroup: "/" }];
  for (let i = 0; i < 200; i++) tasks.push({ pid: 100 + i, comm: "crowd", cgroup: `/crowd/svc-${i % 20}`, rssAnonKb: 16 });
  for (let i = 0; i < 3; i++) tasks.push({ pid: 400 + i, comm: "bystander", cgroup: `/jobs/bystander${i}`, rssAnonKb: 40 * 1024 });
  tasks.push({ pid: 900, comm: "leak", cgroup: "/jobs/leak", rssAnonKb: 500 * 1024 });
  return { memTotalKb: 1_000_000, memAvailableKb: 300_000, tasks };
}

function setup(spec: FixtureSpec) {
  const dir = buildFixture(spec);
  const clock = new ManualClock(1_000);
  const model = new WarmModel(new FixtureHost(dir, { clock }), "/sys/fs/cgroup");
  const write = (p: string, text: string) => fs.writeFileSync(path.join(dir, p), text);
  return { dir, clock, model, write };
}

/** Visits tasks in the order given, offering each as its best so far, and stops after `visits`. */
function patient(visits: number) {
  const seen: number[] = [];
  const policy = definePolicy({
    name: "patient",
    handleOutOfMemory(oc) {
      let best: { pid: number; bytes: number } | undefined;
      for (const t of oc.tasks()) {
        if (seen.length >= visits) break; // as a call cut short by its deadline would
        seen.push(t.pid);
        if (oc.protectedReason(t)) continue;
        const bytes = t.memory.rssBytes;
        if (!best || bytes > best.bytes) {
          best = { pid: t.pid, bytes };
          oc.bestSoFar(oc.killTask(t, "largest seen"));
        }
      }
      const chosen = best === undefined ? undefined : oc.tasks().find((t) => t.pid === best?.pid);
      return chosen ? oc.killTask(chosen, "largest seen") : oc.pass("none seen");
    },
  });
  return { policy, seen };
}

const victim = (plan: readonly { kind: string; pid?: number }[]) => plan.map((a) => (a.kind === "kill-task" ? a.pid : a.kind));

describe("visiting tasks largest first (engine/visit-order.ts)", () => {
  test("largestFirst: by size, unknown sizes ranked as large, ties newest first; no sizes, the order given", () => {
    const tasks = [1, 2, 3, 4, 5].map((pid) => ({ pid }) as never);
    const sizes = new Map<number, number>([
      [1, 10 * MB],
      [2, 500 * MB],
      [3, 10 * MB],
      [5, 1 * MB],
    ]);
    const order = (ts: readonly { pid: number }[]) => ts.map((t) => t.pid);
    assert.deepEqual(order(largestFirst(tasks, { taskBytes: (pid) => sizes.get(pid) })), [2, 4, 3, 1, 5]);
    assert.ok(UNKNOWN_TASK_BYTES > 10 * MB && UNKNOWN_TASK_BYTES < 500 * MB);
    assert.deepEqual(order(largestFirst(tasks, undefined)), [1, 2, 3, 4, 5]);
  });

  test("largestFirst's packed keys give the comparison sort's order: sizes in pages, ties newest first, past 8 TiB by pid", () => {
    // Seeded: sizes drawn from a few values so that ties are common, unknowns among them.
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const values = [undefined, 0, 4096, 8192, 10 * MB, UNKNOWN_TASK_BYTES, 2 ** 50, 2 ** 60];
    const pids = [...new Set(Array.from({ length: 3000 }, () => 1 + Math.floor(rand() * 4_000_000)))].sort((a, b) => a - b);
    const sizes = new Map(pids.map((pid) => [pid, values[Math.floor(rand() * values.length)]]));
    const taskBytes = (pid: number) => sizes.get(pid);
    const pages = (pid: number) => Math.min(2 ** 31 - 1, Math.ceil((taskBytes(pid) ?? UNKNOWN_TASK_BYTES) / 4096));
    const expected = [...pids].sort((a, b) => pages(b) - pages(a) || b - a);
    const got = largestFirst(pids.map((pid) => ({ pid })), { taskBytes }).map((t) => t.pid);
    assert.deepEqual(got, expected);
    // 2^50 and 2^60 bytes both rank as 8 TiB: among them the newer pid first.
    const huge = got.filter((pid) => (taskBytes(pid) ?? 0) >= 2 ** 50);
    assert.deepEqual(huge, [...huge].sort((a, b) => b - a));
    // Given out of pid order, or with a size that is not a number, the same order by the general sort.
    const shuffled = [...pids].reverse().map((pid) => ({ pid }));
    assert.deepEqual(largestFirst(shuffled, { taskBytes }).map((t) => t.pid), expected);
    const withNaN = largestFirst([{ pid: 1 }, { pid: 2 }, { pid: 3 }], { taskBytes: (pid) => (pid === 2 ? Number.NaN : pid * MB) }).map((t) => t.pid);
    assert.deepEqual(withNaN, [3, 1, 2]);
  });

  test("a snapshot's pids come in pid order whatever order the listing gives, folders of digits alone", () => {
    const spec = crowd();
    const dir = buildFixture(spec);
    // Names that are no pid: a file of digits, a folder with a sign or letters, an empty-ish one.
    fs.writeFileSync(path.join(dir, "proc/4242"), "");
    for (const name of ["+5", "12a", "self2", "0x10"]) fs.mkdirSync(path.join(dir, "proc", name), { recursive: true });
    // Pids of other lengths, so that the listing's order (by name) is not pid order.
    for (const name of ["7", "50000", "31"]) fs.mkdirSync(path.join(dir, "proc", name), { recursive: true });
    const host = new FixtureHost(dir);
    const listed = host.readDir("/proc").filter((e) => e.isDirectory && /^[0-9]+$/.test(e.name)).map((e) => Number(e.name));
    const inOrder = [...listed].sort((a, b) => a - b);
    assert.notDeepEqual(listed, inOrder, "the fixture's listing is not in pid order (else this test shows nothing)");
    assert.deepEqual(takeSnapshot(host).pids(), inOrder);
    assert.ok(!takeSnapshot(host).pids().includes(4242));
  });

  test("the model knows a task's size from the files it kept (stat for every listed task, status over it), and forgets a pid that left", () => {
    const t = setup(crowd());
    assert.equal(t.model.taskBytes(900), undefined, "nothing read yet");
    void takeSnapshot(t.model).tasks; // the listing: every task's stat
    assert.equal(t.model.taskBytes(900), 500 * MB, "from stat's rss");
    assert.equal(t.model.taskBytes(100), 16 * 1024);
    // A closer look (status, what policies read) and its re-read later replace it.
    const snap = takeSnapshot(t.model);
    assert.equal(snap.task(900)?.memory.rssBytes, 500 * MB);
    t.write("proc/900/status", statusText({ pid: 900, comm: "leak", cgroup: "/jobs/leak", rssAnonKb: 700 * 1024 }));
    t.clock.advance(REFRESH_INTERVALS_MS.task);
    t.model.refresh(10_000);
    assert.equal(t.model.taskBytes(900), 700 * MB);
    fs.rmSync(path.join(t.dir, "proc/900"), { recursive: true });
    t.clock.advance(REFRESH_INTERVALS_MS.listing);
    t.model.refresh(10_000);
    assert.equal(t.model.taskBytes(900), undefined);
  });

  test("a policy cut short on a crowded machine has seen the leak, the newest pid: oc.tasks() comes largest first by the model's sizes", async () => {
    const t = setup(crowd());
    void takeSnapshot(t.model).tasks; // the model has listed the machine once
    const withSizes = patient(5);
    const engine = new Engine({ attachments: [{ cgroup: cgroupPath("/"), policy: withSizes.policy, options: {} }], defaultPolicy: { policy: builtinPolicy("kernel"), options: {} } });
    const r = await engine.explain(takeSnapshot(t.model, { visitSizes: t.model }), "/", CAUSE);
    assert.equal(r.policy, "patient");
    assert.deepEqual(victim(r.plan), [900]);
    assert.deepEqual(withSizes.seen, [900, 402, 401, 400, 299], "the leak, the bystanders, then the crowd (ties: newest first)");
    // Without the model's sizes (pid order), the same five visits never reach it.
    const byPid = patient(5);
    const engine2 = new Engine({ attachments: [{ cgroup: cgroupPath("/"), policy: byPid.policy, options: {} }], defaultPolicy: { policy: builtinPolicy("kernel"), options: {} } });
    const r2 = await engine2.explain(takeSnapshot(t.model), "/", CAUSE);
    assert.deepEqual(byPid.seen, [1, 100, 101, 102, 103]);
    assert.notDeepEqual(victim(r2.plan), [900]);
  });

  test("a task the model has not sized (it started after the last listing) is visited before the known-small ones", async () => {
    const spec = crowd();
    const t = setup({ ...spec, tasks: (spec.tasks ?? []).filter((x) => x.pid !== 900) });
    void takeSnapshot(t.model).tasks;
    // The leak starts; the model has not listed /proc since.
    const leak = buildFixture({ tasks: [{ pid: 900, comm: "leak", cgroup: "/jobs/leak", rssAnonKb: 500 * 1024 }] });
    fs.cpSync(path.join(leak, "proc/900"), path.join(t.dir, "proc/900"), { recursive: true });
    const seen = (pids: readonly number[]) => largestFirst(pids.map((pid) => ({ pid }) as never), t.model).map((x: { pid: number }) => x.pid);
    assert.deepEqual(seen([100, 400, 900, 101]), [900, 400, 101, 100]);
  });

  test("the built-ins choose the same over the whole scope whatever the visiting order: ties go to the higher pid", async () => {
    const spec: FixtureSpec = {
      memTotalKb: 1_000_000,
      memAvailableKb: 300_000,
      tasks: [
        { pid: 1, comm: "init", cgroup: "/" },
        { pid: 10, comm: "twin", cgroup: "/a", rssAnonKb: 100 * 1024 },
        { pid: 20, comm: "twin", cgroup: "/b", rssAnonKb: 100 * 1024 },
        { pid: 30, comm: "small", cgroup: "/c", rssAnonKb: 1024 },
      ],
    };
    const t = setup(spec);
    // Sizes that put the higher twin first, as a stale model might: visited 20 then 10.
    const sizes = { taskBytes: (pid: number) => (pid === 20 ? 200 * MB : pid === 10 ? 100 * MB : 1 * MB) };
    for (const name of ["kernel", "rules"]) {
      const p = builtinPolicy(name);
      const engine = new Engine({ attachments: name === "kernel" ? [] : [{ cgroup: cgroupPath("/"), policy: p, options: p.parseOptions ? p.parseOptions({}) : {} }], defaultPolicy: { policy: builtinPolicy("kernel"), options: {} } });
      const ordered = await engine.explain(takeSnapshot(t.model, { visitSizes: sizes }), "/", CAUSE);
      const plain = await engine.explain(takeSnapshot(t.model), "/", CAUSE);
      assert.deepEqual(victim(ordered.plan), [20], name);
      assert.deepEqual(victim(plain.plan), [20], name);
    }
  });
});
