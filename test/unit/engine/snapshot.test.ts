import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { takeSnapshot } from "../../../src/engine/snapshot.js";
import { FixtureHost } from "../../../src/os/fixture-host.js";
import { MemoryLogger } from "../../../src/log.js";
import { buildFixture } from "../../support/fixture.js";
import { CountingHost } from "../../support/counting-host.js";
import { FaultyHost } from "../../support/faulty-host.js";
import { TaskNode } from "../../../src/engine/task.js";
import { CgroupNode } from "../../../src/engine/cgroup.js";

const MiB = 1024 * 1024;

function machine() {
  return buildFixture({
    memTotalKb: 2_000_000,
    swapTotalKb: 1_000_000,
    cgroups: {
      "/system.slice": { max: "max", xattrs: { "user.oomd_omit": "1" } },
      "/system.slice/db.service": { max: 512 * MiB, high: 400 * MiB, current: 300 * MiB, anon: 250 * MiB, file: 50 * MiB, pressureSome10: 12.5, events: { oom_kill: 2 } },
      "/batch": { current: 800 * MiB, omit: ["memory.peak", "memory.swap.peak"] },
      "/batch/job1": { current: 600 * MiB, oomGroup: true },
      "/batch/job2": { current: 200 * MiB },
    },
    tasks: [
      { pid: 1, comm: "init", cgroup: "/", rssAnonKb: 4000 },
      { pid: 2, comm: "kthreadd", kthread: true, cgroup: "/" },
      { pid: 100, comm: "postgres", cgroup: "/system.slice/db.service", rssAnonKb: 250_000, oomScoreAdj: -900 },
      { pid: 200, comm: "job one", cgroup: "/batch/job1", rssAnonKb: 600_000, swapKb: 10_000, oomScoreAdj: 500 },
      { pid: 201, comm: "zombie", cgroup: "/batch/job1", state: "Z" },
      { pid: 300, comm: "job2", cgroup: "/batch/job2", rssAnonKb: 200_000, oomScoreAdj: -1000 },
    ],
  });
}

describe("snapshot", () => {
  test("reads the cgroup tree, parents before children", () => {
    const s = takeSnapshot(new FixtureHost(machine()));
    assert.equal(s.cgroupMode.mode, "v2");
    assert.deepEqual(
      [...s.cgroups()].map((c) => c.path),
      ["/", "/batch", "/batch/job1", "/batch/job2", "/system.slice", "/system.slice/db.service"],
    );
    const db = s.cgroup("system.slice/db.service");
    assert.ok(db);
    assert.equal(db.parent?.path, "/system.slice");
    assert.equal(db.depth, 2);
    assert.equal(db.memory.maxBytes, 512 * MiB);
    assert.equal(db.memory.highBytes, 400 * MiB);
    assert.equal(db.memory.currentBytes, 300 * MiB);
    assert.equal(db.stat?.anonBytes, 250 * MiB);
    assert.equal(db.pressure.memory?.some.avg10, 12.5);
    assert.equal(db.events?.oomKill, 2);
    assert.equal(s.cgroup("/system.slice")?.memory.maxBytes, Number.POSITIVE_INFINITY);
    assert.equal(s.cgroup("/system.slice")?.xattrs.get("user.oomd_omit"), "1");
    assert.equal(s.cgroup("/batch/job1")?.memory.oomGroup, true);
    assert.equal(s.cgroup("/nope"), undefined);
  });

  test("tasks per cgroup, with their figures", () => {
    const s = takeSnapshot(new FixtureHost(machine()));
    const job1 = s.cgroup("/batch/job1");
    assert.deepEqual(job1?.tasks.map((t) => t.pid), [200, 201]);
    const t = s.task(200);
    assert.ok(t);
    assert.equal(t.comm, "job one");
    assert.equal(t.memory.rssBytes, 600_000 * 1024);
    assert.equal(t.memory.swapBytes, 10_000 * 1024);
    assert.equal(t.oomScoreAdj, 500);
    assert.equal(t.cgroupPath, "/batch/job1");
    assert.deepEqual(t.cmdline, ["job one"]);
    assert.equal(t.uid, 0);
    assert.deepEqual(s.cgroup("/batch")?.allTasks().map((x) => x.pid), [200, 201, 300]);
    assert.deepEqual(s.tasks.map((x) => x.pid), [1, 2, 100, 200, 201, 300]);
  });

  test("system memory and pressure", () => {
    const s = takeSnapshot(new FixtureHost(machine()));
    assert.equal(s.system.meminfo?.memTotalBytes, 2_000_000 * 1024);
    assert.equal(s.system.meminfo?.swapTotalBytes, 1_000_000 * 1024);
    assert.equal(s.system.pressure.memory?.some.avg10, 0);
    assert.equal(s.system.kernelRelease, "6.12.0-test");
    assert.equal(s.system.swappiness, 60);
    assert.equal(s.systemTotalPages, 750_000);
  });

  test("a decision that looks only at cgroups reads no /proc/<pid> file", () => {
    const host = new CountingHost(new FixtureHost(machine()));
    const s = takeSnapshot(host);
    for (const c of s.cgroups()) {
      void c.memory;
      void c.pressure;
      void c.stat;
    }
    assert.deepEqual(host.reads.filter((r) => /^\/proc\/\d+\//.test(r)), []);
  });

  test("each file is read at most once per snapshot", () => {
    const host = new CountingHost(new FixtureHost(machine()));
    const s = takeSnapshot(host);
    for (let i = 0; i < 3; i++) {
      for (const c of s.cgroups()) for (const t of c.tasks) void [t.memory, t.oomScoreAdj, c.memory];
      void s.system;
    }
    const dup = host.reads.filter((r, i) => host.reads.indexOf(r) !== i);
    assert.deepEqual(dup, []);
  });

  test("a cgroup's memory: frozen, its figures own enumerable getters in a fixed order, each file read when its figure is asked", () => {
    const host = new CountingHost(new FixtureHost(machine()));
    const m = takeSnapshot(host).cgroup("/batch/job1")?.memory;
    assert.ok(m);
    assert.ok(Object.isFrozen(m));
    const keys = ["currentBytes", "minBytes", "lowBytes", "highBytes", "maxBytes", "peakBytes", "swapCurrentBytes", "swapHighBytes", "swapMaxBytes", "swapPeakBytes", "oomGroup"];
    assert.deepEqual(Object.keys(m), keys);
    for (const k of keys) assert.equal(typeof Object.getOwnPropertyDescriptor(m, k)?.get, "function", k);
    const before = host.reads.length;
    assert.equal(m.oomGroup, true);
    assert.deepEqual(host.reads.slice(before), ["/sys/fs/cgroup/batch/job1/memory.oom.group"]);
    assert.equal(m.currentBytes, 600 * MiB);
    assert.equal(JSON.parse(JSON.stringify(m)).currentBytes, 600 * MiB);
  });

  test("is immutable to its readers", () => {
    const s = takeSnapshot(new FixtureHost(machine()));
    const c = s.cgroup("/batch");
    assert.ok(c);
    assert.throws(() => {
      (c as { path: string }).path = "/x";
    }, TypeError);
    assert.throws(() => {
      (c.memory as { maxBytes: number }).maxBytes = 1;
    }, TypeError);
    assert.throws(() => {
      (s.tasks as unknown as number[]).push(1);
    }, TypeError);
    assert.throws(() => {
      (s as { source: string }).source = "x";
    }, TypeError);
  });

  test("a file this kernel lacks is unknown, not a reason to drop the cgroup", () => {
    const s = takeSnapshot(new FixtureHost(machine()));
    const batch = s.cgroup("/batch");
    assert.ok(batch);
    assert.equal(batch.memory.peakBytes, undefined);
    assert.equal(batch.memory.swapPeakBytes, undefined);
    assert.equal(batch.memory.currentBytes, 800 * MiB);
    // The root cgroup has no memory.events or memory.current.
    assert.equal(s.root?.events, undefined);
    assert.equal(s.root?.memory.currentBytes, undefined);
  });

  test("a cgroup or pid that vanishes mid-read is skipped with an 'ignoring' line", () => {
    const dir = machine();
    const log = new MemoryLogger();
    const s = takeSnapshot(new FixtureHost(dir), { logger: log });
    const job2 = s.cgroup("/batch/job2");
    assert.ok(job2);
    // The cgroup and a task go away after the tree was listed.
    fs.rmSync(path.join(dir, "sys/fs/cgroup/batch/job2"), { recursive: true });
    fs.rmSync(path.join(dir, "proc/300"), { recursive: true });
    assert.equal(job2.memory.currentBytes, undefined);
    assert.deepEqual(job2.tasks.map((t) => t.pid), []);
    assert.ok(job2.vanished);
    assert.equal([...s.cgroups()].some((c) => c.path === "/batch/job2"), false);
    assert.ok(log.lines.some((l) => l.startsWith("debug: ignoring")));
  });

  test("a task gone between reads is exiting; zombies are exiting", () => {
    const dir = machine();
    const s = takeSnapshot(new FixtureHost(dir));
    const t = s.task(200);
    assert.ok(t);
    assert.equal(t.comm, "job one");
    fs.rmSync(path.join(dir, "proc/200"), { recursive: true });
    assert.equal(t.memory.rssBytes, 0, "its status is gone: no memory to free");
    assert.equal(t.exiting, true, "and the read that found it gone marked it");
    assert.equal(s.task(201)?.exiting, true);
    assert.equal(s.task(100)?.exiting, false);
    assert.equal(s.task(424242), undefined);
  });

  test("a task's executable: read once, when asked; none for a kernel thread, a task without a link, a deleted file or a task gone", () => {
    const dir = buildFixture({
      tasks: [
        { pid: 2, comm: "kthreadd", kthread: true },
        { pid: 10, comm: "sshd", exe: "/usr/sbin/sshd" },
        { pid: 11, comm: "sshd", exe: "/usr/sbin/sshd (deleted)" },
        { pid: 12, comm: "no-link" },
        { pid: 13, comm: "gone", exe: "/usr/bin/gone" },
      ],
    });
    const host = new CountingHost(new FixtureHost(dir));
    const s = takeSnapshot(host);
    const exeOf = (pid: number) => s.task(pid)?.exe;
    for (const pid of [2, 10, 11, 12]) void s.task(pid)?.memory;
    assert.deepEqual(host.reads.filter((r) => r.startsWith("link:")), [], "no link read until a figure asks");
    fs.rmSync(path.join(dir, "proc/13/exe"));
    assert.deepEqual([2, 10, 11, 12, 13].map(exeOf), [undefined, "/usr/sbin/sshd", undefined, undefined, undefined]);
    assert.equal(exeOf(10), "/usr/sbin/sshd");
    assert.deepEqual(host.reads.filter((r) => r.startsWith("link:")), ["link:/proc/10/exe", "link:/proc/11/exe", "link:/proc/12/exe", "link:/proc/13/exe"], "once each; never for a kernel thread");
  });

  test("a task seen from inside a cgroup namespace, outside it, has an unknown cgroup", () => {
    const dir = machine();
    fs.writeFileSync(path.join(dir, "proc/200/cgroup"), "0::/../../kubepods/pod1/ctr\n");
    const s = takeSnapshot(new FixtureHost(dir));
    assert.equal(s.task(200)?.cgroupPath, undefined);
    assert.equal(s.task(200)?.comm, "job one");
  });

  test("hostile text is unknown with a warning, never a crash", () => {
    const dir = machine();
    fs.writeFileSync(path.join(dir, "sys/fs/cgroup/batch/memory.max"), "lots\n");
    fs.writeFileSync(path.join(dir, "sys/fs/cgroup/batch/memory.pressure"), "garbage\n");
    fs.writeFileSync(path.join(dir, "proc/100/oom_score_adj"), "-5000\n");
    fs.writeFileSync(path.join(dir, "proc/100/stat"), "100 (post");
    const log = new MemoryLogger();
    const s = takeSnapshot(new FixtureHost(dir), { logger: log });
    const batch = s.cgroup("/batch");
    assert.equal(batch?.memory.maxBytes, undefined);
    assert.equal(batch?.pressure.memory, undefined);
    assert.equal(s.task(100), undefined, "a task whose stat cannot be parsed is not offered");
    assert.ok(log.lines.filter((l) => l.startsWith("warn: ignoring")).length >= 2);
  });

  test("system-level mode on a hybrid machine: no tree, tasks from /proc", () => {
    const s = takeSnapshot(
      new FixtureHost(buildFixture({ mode: "hybrid", tasks: [{ pid: 10, comm: "a", cgroup: "/user", rssAnonKb: 1000 }] })),
    );
    assert.equal(s.cgroupMode.mode, "hybrid");
    assert.equal(s.root, undefined);
    assert.deepEqual([...s.cgroups()], []);
    assert.equal(s.tasks.length, 1);
    assert.equal(s.task(10)?.v1MemoryCgroup, "/user");
  });
});

describe("one bad file: unknown, said, never an exception", () => {
  const faulty = (dir = machine()) => new FaultyHost(new FixtureHost(dir));

  test("a task's status unreadable (EIO): memory 0 and said so; the task is not taken for gone", () => {
    const s = takeSnapshot(faulty().fail("/proc/200/status", "EIO"));
    const t = s.task(200);
    assert.ok(t);
    assert.equal(t.memory.rssBytes, 0);
    assert.equal(t.uid, undefined);
    assert.equal(t.exiting, false, "an I/O error is not an exit");
    assert.equal(t.unreadable, "status unreadable: EIO");
    assert.deepEqual(s.faults, [{ path: "/proc/200/status", error: "EIO" }]);
  });

  test("a task's oom_score_adj unreadable (ENOMEM) reads as -1000, never as 0", () => {
    const s = takeSnapshot(faulty().fail("/proc/200/oom_score_adj", "ENOMEM"));
    const t = s.task(200) as TaskNode;
    assert.equal(t.oomScoreAdj, -1000);
    assert.equal(TaskNode.faultOf(t, "oom_score_adj"), "oom_score_adj unreadable: ENOMEM");
    assert.equal(t.exiting, false);
    assert.equal(s.badness(t).killable, false);
  });

  test("a task's cgroup unreadable (EAGAIN): unknown, and why", () => {
    const s = takeSnapshot(faulty().fail("/proc/200/cgroup", "EAGAIN"));
    const t = s.task(200) as TaskNode;
    assert.equal(t.cgroupPath, undefined);
    assert.equal(TaskNode.cgroupUnknown(t), "cgroup unreadable: EAGAIN");
    assert.equal(t.unreadable, "cgroup unreadable: EAGAIN");
  });

  test("a task's stat unreadable (EIO): no task, listed with why and the cgroup that listed it", () => {
    const s = takeSnapshot(faulty().fail("/proc/200/stat", "EIO"));
    assert.deepEqual(s.cgroup("/batch/job1")?.tasks.map((t) => t.pid), [201]);
    assert.equal(s.task(200), undefined);
    assert.deepEqual(s.unreadableTasks, [{ pid: 200, unreadable: "stat unreadable: EIO", listedIn: "/batch/job1" }]);
  });

  test("a cgroup's figures unreadable: unknown and said; its folder or cgroup.procs unreadable: its members are unknown", () => {
    const h = faulty()
      .fail("/sys/fs/cgroup/system.slice/db.service/memory.current", "EIO")
      .fail("/sys/fs/cgroup/batch", "EIO", ["list"])
      .fail("/sys/fs/cgroup/system.slice/db.service/cgroup.procs", "ENOMEM");
    const s = takeSnapshot(h);
    const db = s.cgroup("/system.slice/db.service") as CgroupNode;
    assert.equal(db.memory.currentBytes, undefined);
    assert.equal(db.memory.maxBytes, 512 * MiB, "the other figures are read");
    assert.equal(db.tasks.length, 0);
    assert.equal(db.unreadable, "memory.current unreadable: EIO; cgroup.procs unreadable: ENOMEM");
    assert.equal(CgroupNode.membersUnknown(db), "the cgroup.procs of /system.slice/db.service unreadable: ENOMEM");
    const batch = s.cgroup("/batch") as CgroupNode;
    assert.deepEqual(batch.children, []);
    assert.equal(batch.vanished, false);
    assert.equal(CgroupNode.membersUnknown(batch), "the folder of /batch unreadable: EIO");
    assert.deepEqual([...s.cgroups()].map((c) => c.path), ["/", "/batch", "/system.slice", "/system.slice/db.service"]);
  });

  test("a cgroup's xattrs unreadable: its marks are unknown", () => {
    const s = takeSnapshot(faulty().fail("/sys/fs/cgroup/system.slice", "EIO", ["xattr"]));
    const c = s.cgroup("/system.slice") as CgroupNode;
    assert.equal(c.xattrs.size, 0);
    assert.equal(CgroupNode.marksUnknown(c, ["user.oomd_omit"]), "the xattrs of /system.slice unreadable: EIO");
  });

  test("system files a decision does not need: unknown with a warning (swappiness 60); decisions go on", () => {
    for (const p of ["/proc/pressure/cpu", "/proc/pressure/io", "/proc/pressure/memory", "/proc/sys/kernel/osrelease", "/proc/sys/vm/swappiness", "/proc/vmstat"]) {
      const log = new MemoryLogger();
      const s = takeSnapshot(faulty().fail(p, "EIO"), { logger: log });
      assert.doesNotThrow(() => s.system, p);
      assert.doesNotThrow(() => s.vmstat, p);
      assert.equal(s.system.swappiness, 60, p);
      assert.equal(s.system.meminfo?.memTotalBytes, 2_000_000 * 1024, p);
      assert.equal(s.systemTotalPages, Math.floor((2_000_000 + 1_000_000) / 4), p);
      assert.deepEqual(s.faults, [{ path: p, error: "EIO" }], p);
      assert.ok(log.lines.includes(`warn: ignoring ${p}: cannot read it (EIO)`), p);
    }
  });

  test("meminfo unreadable: what needs MemTotal stops with the file and the errno named", () => {
    const s = takeSnapshot(faulty().fail("/proc/meminfo", "EIO"));
    assert.equal(s.system.meminfo, undefined);
    assert.throws(() => s.systemTotalPages, /MemTotal is unknown \(\/proc\/meminfo unreadable: EIO\); it is needed to weigh oom_score_adj/);
    assert.doesNotThrow(() => s.totalPagesFor(s.cgroup("/system.slice/db.service")), "a cgroup with a limit has its own totalpages");
  });
});

