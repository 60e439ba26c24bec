import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import type { CgroupNode } from "../../../src/engine/cgroup.js";
import { Engine } from "../../../src/engine/engine.js";
import { LISTING_PART, MAX_PARSERS_PER_FILE, REFRESH_INTERVALS_MS, WarmModel } from "../../../src/engine/model.js";
import type { OomCause } from "../../../src/engine/policy.js";
import { takeSnapshot } from "../../../src/engine/snapshot.js";
import { OomkitError } from "../../../src/errors.js";
import { FixtureHost } from "../../../src/os/fixture-host.js";
import { HostDecorator } from "../../../src/os/host-decorator.js";
import { type DirCursor, type DirEntry, ManualClock } from "../../../src/os/host.js";
import { builtinPolicy } from "../../../src/policy/builtins.js";
import { readResult } from "../../../src/os/read.js";
import { MemoryLogger } from "../../../src/log.js";
import { CountingHost } from "../../support/counting-host.js";
import { FaultyHost } from "../../support/faulty-host.js";
import { addTask, buildFixture, statusText, type FixtureSpec } from "../../support/fixture.js";

const MB = 1024 * 1024;
const MACHINE: FixtureSpec = {
  cgroups: {
    "/a": { current: 300 * MB, anon: 300 * MB },
    "/b": { current: 100 * MB, anon: 100 * MB },
  },
  tasks: [
    { pid: 1, comm: "init", cgroup: "/" },
    { pid: 10, comm: "a", cgroup: "/a", rssAnonKb: 300 * 1024 },
    { pid: 20, comm: "b", cgroup: "/b", rssAnonKb: 100 * 1024 },
    { pid: 21, comm: "b2", cgroup: "/b", rssAnonKb: 1024 },
  ],
};
const CAUSE: OomCause = { kind: "system", trigger: "test", message: "test", figures: {} };
const engine = new Engine({ defaultPolicy: { policy: builtinPolicy("kernel"), options: {} } });

function setup(spec: FixtureSpec = MACHINE) {
  const dir = buildFixture(spec);
  const clock = new ManualClock(1_000);
  const counting = new CountingHost(new FixtureHost(dir, { clock }));
  const model = new WarmModel(counting, "/sys/fs/cgroup");
  const decide = () => engine.explain(takeSnapshot(model), "/", CAUSE);
  const write = (p: string, text: string) => fs.writeFileSync(path.join(dir, p), text);
  return { dir, clock, counting, model, decide, write };
}

const status = (pid: number, comm: string, rssKb: number) => statusText({ pid, comm, cgroup: "/", rssAnonKb: rssKb });

describe("the warm model", () => {
  test("a second decision reads nothing from the machine: every file it needs is kept", async () => {
    const t = setup();
    const first = await t.decide();
    const reads = t.counting.reads.length;
    assert.ok(reads > 10, `the first decision reads the machine (${reads} reads)`);
    const second = await t.decide();
    assert.equal(t.counting.reads.length, reads, `no reads: ${t.counting.reads.slice(reads).join(", ")}`);
    assert.deepEqual(second.plan, first.plan);
    assert.equal(t.model.stats.misses, reads);
  });

  test("what a parser made of a kept text is kept too, and made again only when the text changed", () => {
    const t = setup();
    let calls = 0;
    const parse = (text: string) => {
      calls++;
      return text.length;
    };
    const p = t.model.parsedCache;
    const read = () => p.parsed("/proc/meminfo", parse, () => parse(t.model.readFile("/proc/meminfo")));
    const n = read();
    assert.equal(read(), n);
    assert.equal(calls, 1);
    t.write("proc/meminfo", "MemTotal: 1 kB\n");
    t.clock.advance(REFRESH_INTERVALS_MS.machine);
    t.model.refresh(1_000);
    assert.equal(read(), "MemTotal: 1 kB\n".length);
    assert.equal(calls, 2);
  });

  test("decisions made one after another keep no more parsed values than the first did: a parser is not a new key each time (nor is what it closed over kept)", async () => {
    const t = setup();
    const everything = (snap: ReturnType<typeof takeSnapshot>) => {
      const visit = (c: CgroupNode): number => c.pids.length + c.children.reduce((n, k) => n + visit(k), 0);
      assert.ok(snap.root);
      return visit(snap.root) + (snap.system.kernelRelease?.length ?? 0);
    };
    await t.decide();
    everything(takeSnapshot(t.model));
    const kept = t.model.stats.parsedValues;
    assert.ok(kept > 0, "parsed values are kept");
    for (let i = 1; i <= 20; i++) {
      await t.decide();
      everything(takeSnapshot(t.model));
      assert.equal(t.model.stats.parsedValues, kept, `${i} decisions later, the same values`);
    }
  });

  test("a file keeps at most MAX_PARSERS_PER_FILE parsed values, however many parsers ask", () => {
    const t = setup();
    t.model.readFile("/proc/meminfo");
    for (let i = 0; i < 50; i++) {
      const parse = (text: string) => text.length + i;
      assert.equal(t.model.parsedCache.parsed("/proc/meminfo", parse, () => parse(t.model.readFile("/proc/meminfo"))), t.model.readFile("/proc/meminfo").length + i);
    }
    assert.ok(t.model.stats.parsedValues <= MAX_PARSERS_PER_FILE, `${t.model.stats.parsedValues} kept`);
  });

  test("refresh re-reads only what is due: nothing before its interval, then the change is seen and the generation rises", async () => {
    const t = setup();
    await t.decide();
    const gen = t.model.generation;
    t.write("proc/20/status", status(20, "b", 900 * 1024));
    assert.equal(t.model.refresh(1_000).reads, 0, "nothing is due yet");
    t.clock.advance(REFRESH_INTERVALS_MS.task);
    const r = t.model.refresh(1_000);
    assert.ok(r.reads > 0 && r.changed >= 1, JSON.stringify(r));
    assert.ok(t.model.generation > gen);
    const after = await t.decide();
    assert.deepEqual(after.plan.map((a) => a.kind === "kill-task" && a.pid), [20], "the grown task is now the victim");
  });

  test("a pid gone from /proc takes its entries along at the next listing", async () => {
    const t = setup();
    await t.decide();
    const before = t.model.stats.entries;
    fs.rmSync(path.join(t.dir, "proc/21"), { recursive: true });
    t.clock.advance(REFRESH_INTERVALS_MS.listing);
    const r = t.model.refresh(1_000);
    assert.ok(r.dropped > 0, JSON.stringify(r));
    assert.equal(t.model.stats.entries, before - r.dropped);
    assert.equal(takeSnapshot(t.model).task(21), undefined);
  });

  test("a cgroup whose usage moved has its tasks' figures re-read at once, ahead of their interval", async () => {
    const t = setup();
    await t.decide();
    assert.equal(takeSnapshot(t.model).cgroup("/b")?.memory.currentBytes, 100 * MB);
    t.write("proc/20/status", status(20, "b", 700 * 1024));
    t.write("sys/fs/cgroup/b/memory.current", `${800 * MB}\n`);
    t.clock.advance(REFRESH_INTERVALS_MS.usage);
    t.model.refresh(1_000); // sees the usage move: cgroup.procs and the tasks' status become due
    t.model.refresh(1_000);
    const snap = takeSnapshot(t.model);
    assert.equal(snap.task(20)?.memory.rssBytes, 700 * MB, "re-read well before the task interval");
    assert.ok(REFRESH_INTERVALS_MS.usage < REFRESH_INTERVALS_MS.task);
  });

  test("a usage move re-reads a task's stat at once only where no status sizes the task (its stat is then the visit order's size)", () => {
    const t = setup();
    // 20 read as a decision reads it (stat, status, cgroup); 21 only listed (stat and cgroup).
    for (const f of ["stat", "status", "cgroup"]) t.model.readFile(`/proc/20/${f}`);
    for (const f of ["stat", "cgroup"]) t.model.readFile(`/proc/21/${f}`);
    t.write("proc/20/status", status(20, "b", 500 * 1024));
    t.write("sys/fs/cgroup/b/memory.current", `${600 * MB}\n`);
    t.clock.advance(REFRESH_INTERVALS_MS.usage);
    const n = t.counting.reads.length;
    for (let i = 0; i < 20 && !t.counting.reads.slice(n).includes("/sys/fs/cgroup/b/memory.current"); i++) t.model.refresh(0);
    t.model.refreshUrgent(1_000);
    const read = t.counting.reads.slice(n);
    assert.ok(read.includes("/proc/20/status") && read.includes("/proc/21/stat"), read.join(", "));
    assert.ok(!read.includes("/proc/20/stat"), `20 is sized by its status: its stat waits for its own interval (${read.join(", ")})`);
    assert.equal(t.model.taskBytes(20), 500 * MB);
  });

  test("a task that grows after the model first read it is re-read within one usage refresh, though no policy read its cgroup's usage: the plan follows it", async () => {
    const t = setup();
    const victim = async () => (await t.decide()).plan.map((a) => a.kind === "kill-task" && a.pid);
    assert.deepEqual(await victim(), [10]);
    assert.ok(t.model.stats.entries > 0);
    // 21 was read at 1 MiB (a small task: due again only every REFRESH_INTERVALS_MS.task); it grows
    // to 900 MiB and the kernel charges /b. The model watches /b's usage on its own account.
    t.write("proc/21/status", status(21, "b2", 900 * 1024));
    t.write("sys/fs/cgroup/b/memory.current", `${1000 * MB}\n`);
    t.clock.advance(REFRESH_INTERVALS_MS.usage);
    t.model.refresh(1_000); // the usage move: /b's processes and their figures become due
    t.model.refresh(1_000);
    assert.deepEqual(await victim(), [21], "the grower, well before its task interval");
    assert.ok(REFRESH_INTERVALS_MS.usage < REFRESH_INTERVALS_MS.task);
  });

  test("a cgroup whose usage moved has its memory.stat and swap re-read at once too: what policies weigh it by", async () => {
    const t = setup();
    await t.decide();
    const b = takeSnapshot(t.model).cgroup("/b");
    assert.equal(b?.memory.currentBytes, 100 * MB);
    assert.equal(b?.stat?.anonBytes, 100 * MB, "memory.stat now kept");
    t.write("sys/fs/cgroup/b/memory.stat", `anon ${700 * MB}\nfile 0\npgscan 0\n`);
    t.write("sys/fs/cgroup/b/memory.current", `${700 * MB}\n`);
    t.clock.advance(REFRESH_INTERVALS_MS.usage);
    t.model.refresh(1_000); // the usage move makes memory.stat due
    t.model.refresh(1_000);
    assert.equal(takeSnapshot(t.model).cgroup("/b")?.stat?.anonBytes, 700 * MB, "re-read well before the cgroup interval");
    assert.ok(REFRESH_INTERVALS_MS.usage < REFRESH_INTERVALS_MS.cgroup);
  });

  test("the generation rises for changes that can alter a decision, not for figures that move all the time", async () => {
    const t = setup();
    await t.decide();
    const gen = t.model.generation;
    // meminfo moves, a task's memory moves by 100 kB, its CPU times move: no news to a decision.
    t.write("proc/meminfo", "MemTotal:       1000000 kB\nMemFree:          10000 kB\nMemAvailable:   123456 kB\n");
    t.write("proc/20/status", status(20, "b", 100 * 1024 + 100));
    const stat = fs.readFileSync(path.join(t.dir, "proc/20/stat"), "utf8");
    const cut = stat.lastIndexOf(")") + 2;
    const fields = stat.slice(cut).split(" ");
    fields[11] = "77"; // utime
    fields[12] = "88"; // stime
    t.write("proc/20/stat", stat.slice(0, cut) + fields.join(" "));
    assert.notEqual(fs.readFileSync(path.join(t.dir, "proc/20/stat"), "utf8"), stat, "the CPU times moved");
    t.clock.advance(REFRESH_INTERVALS_MS.task);
    const r = t.model.refresh(1_000);
    assert.ok(r.changed >= 3, JSON.stringify(r));
    assert.equal(t.model.generation, gen, "nothing that can change a decision");
    // The task grows by 9 MiB: that can.
    t.write("proc/20/status", status(20, "b", 109 * 1024));
    t.clock.advance(REFRESH_INTERVALS_MS.task);
    t.model.refresh(1_000);
    assert.equal(t.model.generation, gen + 1);
  });

  test("a status is kept with only the lines oomkit reads: a snapshot over the model reads the same figures, and a change to another line (a context switch) is no change", async () => {
    const t = setup();
    const full = (switches: number) => `${status(20, "b", 100 * 1024)}SigQ:\t0/96365\nCpus_allowed_list:\t0-1\nvoluntary_ctxt_switches:\t${switches}\n`;
    t.write("proc/20/status", full(1));
    const live = takeSnapshot(new FixtureHost(t.dir)).task(20);
    const served = takeSnapshot(t.model).task(20);
    assert.deepEqual(served?.memory, live?.memory);
    assert.equal(served?.uid, live?.uid);
    const kept = t.model.keptText("/proc/20/status") ?? "";
    assert.ok(!kept.includes("ctxt") && !kept.includes("SigQ") && kept.includes("VmRSS:"), kept);
    assert.equal(t.model.readFile("/proc/20/status"), kept, "a read served from the model is the text it keeps");
    const version = t.model.version;
    t.write("proc/20/status", full(2));
    t.clock.advance(REFRESH_INTERVALS_MS.task);
    t.model.refresh(1_000);
    assert.equal(t.model.version, version, "only its context switches moved");
    t.write("proc/20/status", `${status(20, "b", 100 * 1024 + 4)}voluntary_ctxt_switches:\t3\n`);
    t.clock.advance(REFRESH_INTERVALS_MS.task);
    t.model.refresh(1_000);
    assert.equal(t.model.version, version + 1, "its memory moved");
    assert.equal(takeSnapshot(t.model).task(20)?.memory.rssAnonBytes, (100 * 1024 + 4) * 1024);
  });

  test("a stat's figures follow its text: rss moved is the task's new size, a start time moved is structure (the pid names another process)", async () => {
    const t = setup();
    void takeSnapshot(t.model).tasks; // every listed task's stat, kept
    const stat = fs.readFileSync(path.join(t.dir, "proc/21/stat"), "utf8");
    const cut = stat.lastIndexOf(")") + 2;
    const withFields = (edit: (f: string[]) => void) => {
      const fields = stat.slice(cut).split(" ");
      edit(fields);
      return stat.slice(0, cut) + fields.join(" ");
    };
    const structure = t.model.structureGeneration;
    // rss (field 24) moves, the start time (field 22) stands: a size, no structure.
    t.write("proc/21/stat", withFields((f) => void (f[21] = String((40 * MB) / 4096))));
    t.clock.advance(REFRESH_INTERVALS_MS.task);
    t.model.refresh(1_000);
    assert.equal(t.model.taskBytes(21), 40 * MB, "the size read off the new text");
    assert.equal(t.model.structureGeneration, structure, "the same process");
    // Re-read unchanged: nothing moves.
    t.clock.advance(REFRESH_INTERVALS_MS.task);
    t.model.refresh(1_000);
    assert.equal(t.model.taskBytes(21), 40 * MB);
    assert.equal(t.model.structureGeneration, structure);
    // Another start time: another process under the same pid.
    t.write("proc/21/stat", withFields((f) => void ((f[21] = String((40 * MB) / 4096)), (f[19] = "987654"))));
    t.clock.advance(REFRESH_INTERVALS_MS.task);
    t.model.refresh(1_000);
    assert.equal(t.model.structureGeneration, structure + 1, "the start time moved");
  });

  test("a process new since the last listing, and a task that grew, are re-read at the large-task interval; a small steady one is not", async () => {
    const t = setup();
    await t.decide();
    buildFixture({ ...MACHINE, tasks: [...(MACHINE.tasks ?? []), { pid: 30, comm: "new", cgroup: "/b", rssAnonKb: 1024 }] }, t.dir);
    t.clock.advance(REFRESH_INTERVALS_MS.listing);
    t.model.refresh(1_000); // the listing shows pid 30: young
    await t.decide(); // reads its files
    t.write("proc/30/status", status(30, "new", 3 * 1024));
    t.write("proc/21/status", status(21, "b2", 3 * 1024));
    t.clock.advance(REFRESH_INTERVALS_MS.taskLarge);
    t.model.refresh(1_000);
    const snap = takeSnapshot(t.model);
    assert.equal(snap.task(30)?.memory.rssBytes, 3 * MB, "the new process, re-read at the large-task interval");
    assert.equal(snap.task(21)?.memory.rssBytes, 1 * MB, "an old small one waits for its own");
    // 21 grows by 9 MiB: seen at its interval, and from then on it is re-read as often as a large one.
    t.write("proc/21/status", status(21, "b2", 12 * 1024));
    t.clock.advance(REFRESH_INTERVALS_MS.task);
    t.model.refresh(1_000);
    t.write("proc/21/status", status(21, "b2", 24 * 1024));
    t.clock.advance(REFRESH_INTERVALS_MS.taskLarge);
    t.model.refresh(1_000);
    assert.equal(takeSnapshot(t.model).task(21)?.memory.rssBytes, 24 * MB, "growing: re-read at the large-task interval");
  });

  test("the process list and the machine's figures, then large tasks, come before the cgroup tree's listings", async () => {
    const t = setup();
    await t.decide();
    t.clock.advance(REFRESH_INTERVALS_MS.taskLarge);
    const n = t.counting.reads.length;
    for (let i = 0; i < 12; i++) t.model.refresh(0);
    const order = t.counting.reads.slice(n);
    const large = order.indexOf("/proc/10/status");
    const firstCgroupListing = order.findIndex((r) => r.startsWith("/sys/fs/cgroup") && r.endsWith("/"));
    assert.equal(order[0], "/proc/");
    assert.ok(large > 0, order.join(", "));
    assert.ok(firstCgroupListing < 0 || large < firstCgroupListing, order.join(", "));
  });

  test("slices that cannot keep up with the cgroups' usage still reach the cgroup listings: no rank starves", async () => {
    // 40 cgroups' usage (due every 2 s) against one read per refresh, two refreshes a second.
    const cgroups = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`/c${i}`, { current: 10 * MB }]));
    const t = setup({ cgroups: { ...cgroups, "/jobs": { current: 10 * MB } }, tasks: [{ pid: 1, comm: "init", cgroup: "/" }] });
    await t.decide();
    assert.equal(t.model.readDir("/sys/fs/cgroup").length > 40, true, "the tree's listing: the model watches each cgroup's usage");
    assert.ok(t.model.readDir("/sys/fs/cgroup/jobs").every((d) => d.name !== "new"));
    fs.mkdirSync(path.join(t.dir, "sys/fs/cgroup/jobs/new"));
    let seen = -1;
    for (let i = 0; i < 600 && seen < 0; i++) {
      t.clock.advance(500);
      t.model.refresh(0);
      if (t.model.readDir("/sys/fs/cgroup/jobs").some((d) => d.name === "new")) seen = i;
    }
    assert.ok(seen >= 0, "the new cgroup was seen within five minutes of slices (strict rank order: never)");
  });

  test("a process that joins a cgroup after its empty cgroup.procs was kept is seen as soon as the cgroup's usage moves, ahead of every other due read", async () => {
    // The VM's daemon-zram on 6.1: a plan read the leak's new cgroup between its mkdir and the
    // leak joining it; the empty list was kept, and its re-read waited behind the other
    // cgroups' usage (its rank's grace) while plans named the bystander.
    const cgroups = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`/jobs/c${i}`, { current: 1 * MB }]));
    const t = setup({
      cgroups: { "/jobs": { current: 80 * MB }, ...cgroups, "/jobs/bystander": { current: 40 * MB, anon: 40 * MB }, "/jobs/leak": { current: 0 } },
      tasks: [
        { pid: 1, comm: "init", cgroup: "/" },
        { pid: 30, comm: "bystander", cgroup: "/jobs/bystander", rssAnonKb: 40 * 1024 },
      ],
    });
    const victim = async () => (await engine.explain(takeSnapshot(t.model), "/jobs", CAUSE)).plan.map((a) => a.kind === "kill-task" && a.pid);
    assert.deepEqual(await victim(), [30]);
    assert.equal(t.model.readFile("/sys/fs/cgroup/jobs/leak/cgroup.procs"), "", "the leak's cgroup, kept empty");
    addTask(t.dir, { pid: 31, comm: "leak", cgroup: "/jobs/leak", rssAnonKb: 600 * 1024 });
    t.write("sys/fs/cgroup/jobs/leak/memory.current", `${600 * MB}\n`);
    // Every cgroup's usage is due at once, one read a slice: the leak's usage move must bring its
    // process list and the new process's figures next, not after the other forty cgroups' usage.
    t.clock.advance(REFRESH_INTERVALS_MS.usage);
    let slices = 0;
    for (; slices < 200 && (await victim())[0] !== 31; slices++) t.model.refresh(0);
    assert.ok(slices < 20, `the leak named after ${slices} one-read slices`);
  });

  test("refreshUrgent re-reads what a usage move made due, down the tree (a parent's move makes its children's usage due), and nothing else", async () => {
    const t = setup({
      cgroups: { "/jobs": { current: 40 * MB }, "/jobs/a": { current: 40 * MB, anon: 40 * MB }, "/jobs/b": { current: 1 * MB, anon: 1 * MB }, "/other": { current: 1 * MB } },
      tasks: [
        { pid: 1, comm: "init", cgroup: "/" },
        { pid: 10, comm: "a", cgroup: "/jobs/a", rssAnonKb: 40 * 1024 },
        { pid: 11, comm: "b", cgroup: "/jobs/b", rssAnonKb: 1024 },
      ],
    });
    assert.deepEqual((await t.decide()).plan.map((a) => a.kind === "kill-task" && a.pid), [10]);
    // /jobs/b's usage is kept afresh later than the rest, so it is not due when /jobs's is: only
    // the parent's move can make it due.
    const b = "/sys/fs/cgroup/jobs/b/memory.current";
    t.clock.advance(REFRESH_INTERVALS_MS.usage / 2);
    t.model.writeFile(b, `${1 * MB}\n`);
    t.model.readFile(b);
    t.write("proc/11/status", status(11, "b", 500 * 1024));
    t.write("sys/fs/cgroup/jobs/b/memory.current", `${501 * MB}\n`);
    t.write("sys/fs/cgroup/jobs/memory.current", `${541 * MB}\n`);
    assert.equal(t.model.refreshUrgent(1_000).reads, 0, "nothing is urgent before a move is seen");
    // One-read slices until the one that reads /jobs's usage and sees it move.
    t.clock.advance(REFRESH_INTERVALS_MS.usage / 2);
    const jobs = "/sys/fs/cgroup/jobs/memory.current";
    const m = t.counting.reads.length;
    for (let i = 0; i < 50 && !t.counting.reads.slice(m).includes(jobs); i++) t.model.refresh(0);
    assert.ok(t.counting.reads.slice(m).includes(jobs));
    assert.ok(!t.counting.reads.slice(m).includes(b), "b's usage was not due");
    // An event waiting for the thread (the daemon's stop) ends the urgent reads before the first.
    let asked = 0;
    assert.equal(t.model.refreshUrgent(1_000, () => ++asked > 0).reads, 0, "stopped: nothing read");
    assert.equal(asked, 1);
    const n = t.counting.reads.length;
    const r = t.model.refreshUrgent(1_000, () => false);
    const read = t.counting.reads.slice(n);
    assert.ok(read.includes("/sys/fs/cgroup/jobs/b/memory.current") && read.includes("/proc/11/status"), read.join(", "));
    assert.ok(!read.some((p) => p.startsWith("/sys/fs/cgroup/other")), read.join(", "));
    assert.ok(r.reads > 0 && !r.behind);
    assert.deepEqual((await t.decide()).plan.map((a) => a.kind === "kill-task" && a.pid), [11], "the grower, with no other refresh");
  });

  test("a cgroup made after its parent's listing was kept: the parent's move reads the listing, and the newcomer's process and figures, before the next plan", async () => {
    // The VM's daemon-zram on 6.1 (CI): the leak's cgroup was made after the tree was listed;
    // the parent's usage moved with it, but only the children the kept listing held were
    // re-read, and plans for the machine named the 32 MiB bystander until the trigger fired.
    const t = setup({
      cgroups: { "/jobs": { current: 40 * MB }, "/jobs/bystander": { current: 40 * MB, anon: 40 * MB } },
      tasks: [
        { pid: 1, comm: "init", cgroup: "/" },
        { pid: 30, comm: "bystander", cgroup: "/jobs/bystander", rssAnonKb: 40 * 1024 },
      ],
    });
    const victim = async () => (await t.decide()).plan.map((a) => a.kind === "kill-task" && a.pid);
    assert.deepEqual(await victim(), [30]);
    t.model.readDir("/sys/fs/cgroup/jobs");
    // Everything is due; one-read slices until the process list has been read (it goes first).
    t.clock.advance(REFRESH_INTERVALS_MS.usage);
    const l = t.counting.reads.length;
    for (let i = 0; i < 50 && !t.counting.reads.slice(l).includes("/proc/"); i++) t.model.refresh(0);
    // Then the leak's cgroup is made, the leak joins it and grows.
    fs.mkdirSync(path.join(t.dir, "sys/fs/cgroup/jobs/leak"));
    t.write("sys/fs/cgroup/jobs/leak/cgroup.procs", "");
    t.write("sys/fs/cgroup/jobs/leak/memory.current", `${600 * MB}\n`);
    addTask(t.dir, { pid: 31, comm: "leak", cgroup: "/jobs/leak", rssAnonKb: 600 * 1024 });
    t.write("sys/fs/cgroup/jobs/memory.current", `${640 * MB}\n`);
    // One-read slices until the one that sees /jobs's usage move.
    const jobs = "/sys/fs/cgroup/jobs/memory.current";
    const m = t.counting.reads.length;
    for (let i = 0; i < 50 && !t.counting.reads.slice(m).includes(jobs); i++) t.model.refresh(0);
    assert.ok(t.counting.reads.slice(m).includes(jobs));
    assert.ok(!t.counting.reads.slice(m).includes("/proc/"), "the process list was read before the leak began");
    assert.ok(!t.counting.reads.slice(m).includes("/sys/fs/cgroup/jobs/"), "so was /jobs's listing");
    t.model.refreshUrgent(1_000);
    assert.deepEqual(await victim(), [31], "the newcomer, with no other refresh");
  });

  test("a process that joins a cgroup, seen by the read of its process list that the cgroup's usage move makes at once, is structure news (standing plans depend on it)", async () => {
    const t = setup({
      cgroups: { "/jobs": { current: 40 * MB }, "/jobs/bystander": { current: 40 * MB, anon: 40 * MB }, "/jobs/leak": { current: 0 } },
      tasks: [
        { pid: 1, comm: "init", cgroup: "/" },
        { pid: 30, comm: "bystander", cgroup: "/jobs/bystander", rssAnonKb: 40 * 1024 },
        { pid: 31, comm: "leak", cgroup: "/", rssAnonKb: 1024 },
      ],
    });
    assert.deepEqual((await t.decide()).plan.map((a) => a.kind === "kill-task" && a.pid), [30]);
    // The leak's (empty) process list is kept afresh later than its usage: when the usage is due
    // again, only the move's own read can see who joined.
    const procs = "/sys/fs/cgroup/jobs/leak/cgroup.procs";
    t.clock.advance(REFRESH_INTERVALS_MS.usage / 2);
    t.model.writeFile(procs, "");
    assert.equal(t.model.readFile(procs), "");
    t.model.takeMoved();
    const before = t.model.structureGeneration;
    // 31 joins the leak's cgroup and grows there.
    t.write("sys/fs/cgroup/jobs/leak/cgroup.procs", "31\n");
    t.write("proc/31/cgroup", "0::/jobs/leak\n");
    t.write("proc/31/status", statusText({ pid: 31, comm: "leak", cgroup: "/jobs/leak", rssAnonKb: 600 * 1024 }));
    t.write("sys/fs/cgroup/jobs/leak/memory.current", `${600 * MB}\n`);
    t.clock.advance(REFRESH_INTERVALS_MS.usage / 2);
    const n = t.counting.reads.length;
    t.model.refresh(1_000);
    const read = t.counting.reads.slice(n);
    assert.ok(read.includes("/sys/fs/cgroup/jobs/leak/memory.current") && read.includes(procs), read.join(", "));
    // /proc's listing held 31 from the start, and its /proc/31/cgroup is not due: nothing else shows the join.
    assert.ok(!read.includes("/proc/31/cgroup"), read.join(", "));
    assert.ok(t.model.structureGeneration > before, "the join raised the structure generation");
    const moved = t.model.takeMoved();
    assert.ok(moved.pids.has(31) && moved.cgroups.has("/sys/fs/cgroup/jobs/leak"), `moved: ${[...moved.pids].join(", ")}; ${[...moved.cgroups].join(", ")}`);
  });

  test("a cgroup made after its parent's listing was kept is structure news, and a move from nothing for takeMoved", async () => {
    const t = setup({
      cgroups: { "/jobs": { current: 40 * MB }, "/jobs/bystander": { current: 40 * MB, anon: 40 * MB } },
      tasks: [
        { pid: 1, comm: "init", cgroup: "/" },
        { pid: 30, comm: "bystander", cgroup: "/jobs/bystander", rssAnonKb: 40 * 1024 },
      ],
    });
    await t.decide();
    t.model.readDir("/sys/fs/cgroup/jobs");
    t.model.takeMoved();
    const before = t.model.structureGeneration;
    fs.mkdirSync(path.join(t.dir, "sys/fs/cgroup/jobs/leak"));
    t.write("sys/fs/cgroup/jobs/leak/cgroup.procs", "");
    t.write("sys/fs/cgroup/jobs/leak/memory.current", `${600 * MB}\n`);
    t.clock.advance(REFRESH_INTERVALS_MS.listing);
    t.model.refresh(1_000);
    assert.ok(t.model.readDir("/sys/fs/cgroup/jobs").some((d) => d.name === "leak"));
    assert.ok(t.model.structureGeneration > before);
    assert.ok(t.model.takeMoved().cgroups.has("/sys/fs/cgroup/jobs/leak"), "the newcomer's usage counts as moved");
  });

  test("urgent reads never starve the rest: a parent whose usage moves at every re-read, over a hundred children, still lets the process list through", async () => {
    const children = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`/jobs/c${i}`, { current: 1 * MB }]));
    const t = setup({ cgroups: { "/jobs": { current: 100 * MB }, ...children }, tasks: [{ pid: 1, comm: "init", cgroup: "/" }] });
    await t.decide();
    // The tree as a cgroup-walking policy would have it: every child's usage watched.
    t.model.readDir("/sys/fs/cgroup");
    t.model.readDir("/sys/fs/cgroup/jobs");
    assert.ok(t.model.stats.entries > 100);
    let seen = -1;
    for (let i = 0; i < 400 && seen < 0; i++) {
      // The parent moves by 50 MiB at every one of its re-reads; each move makes the children urgent.
      t.write("sys/fs/cgroup/jobs/memory.current", `${(100 + 50 * (i + 1)) * MB}\n`);
      if (i === 60) addTask(t.dir, { pid: 77, comm: "new", cgroup: "/", rssAnonKb: 1024 });
      t.clock.advance(100);
      t.model.refresh(0);
      if (i >= 60 && t.model.readDir("/proc").some((d) => d.name === "77")) seen = i - 60;
    }
    // The listing is due every 20 slices; with urgent reads first and nothing else it waited 81.
    assert.ok(seen >= 0 && seen <= 40, `the new process seen after ${seen} one-read slices`);
  });

  test("refreshMachine re-reads only the machine's due figures (what the daemon's pace comes from), nothing else", async () => {
    const t = setup();
    await t.decide();
    t.model.readFile("/proc/meminfo");
    t.write("proc/meminfo", "MemTotal: 1000 kB\nMemAvailable: 10 kB\n");
    assert.equal(t.model.refreshMachine(), 0, "nothing due yet");
    t.clock.advance(REFRESH_INTERVALS_MS.task);
    const n = t.counting.reads.length;
    assert.ok(t.model.refreshMachine() >= 1);
    const read = t.counting.reads.slice(n);
    assert.ok(read.every((p) => p === "/proc/meminfo" || p === "/proc/vmstat" || p.startsWith("/proc/pressure/")), read.join(", "));
    assert.match(t.model.readFile("/proc/meminfo"), /MemAvailable: 10 kB/);
  });

  test("a budget of zero still makes one read, listings first", async () => {
    const t = setup();
    await t.decide();
    t.clock.advance(REFRESH_INTERVALS_MS.task);
    const n = t.counting.reads.length;
    const r = t.model.refresh(0);
    assert.equal(r.reads, 1);
    assert.ok(r.behind);
    assert.equal(t.counting.reads[n], "/proc/", "the process list goes first");
  });

  test("an event ends a refresh slice after the read running then; what is still due stays first in line", async () => {
    const t = setup();
    await t.decide();
    t.clock.advance(REFRESH_INTERVALS_MS.task);
    const n = t.counting.reads.length;
    let asked = 0;
    const r = t.model.refresh(1_000, () => ++asked > 0);
    assert.equal(r.reads, 1, "one read, then the event ends the slice");
    assert.ok(r.behind, "more was due");
    assert.equal(t.counting.reads[n], "/proc/", "the first in line was read");
    const next = t.model.refresh(1_000);
    assert.ok(next.reads > 1, "the next slice reads on");
    assert.equal(asked, 1, "asked after the read, not before it");
  });

  test("pace divides every interval", async () => {
    const t = setup();
    await t.decide();
    t.model.pace = 10;
    t.clock.advance(REFRESH_INTERVALS_MS.task / 10);
    assert.ok(t.model.refresh(1_000).reads > 0);
    t.model.pace = Number.NaN;
    assert.equal(t.model.pace, 1);
  });

  test("a passing I/O error is not kept (the next read tries again); a file that is gone is", () => {
    const t = setup();
    let fail = true;
    const flaky = new (class extends HostDecorator {
      override readFile(p: string): string {
        if (fail && p === "/proc/vmstat") throw new OomkitError("E_HOST_IO", "read /proc/vmstat: EIO");
        return super.readFile(p);
      }
    })(t.counting);
    const m = new WarmModel(flaky, "/sys/fs/cgroup");
    assert.throws(() => m.readFile("/proc/vmstat"), /EIO/);
    fail = false;
    assert.match(m.readFile("/proc/vmstat"), /oom_kill/);
    assert.throws(() => m.readFile("/proc/4242/status"));
    const n = t.counting.reads.length;
    assert.throws(() => m.readFile("/proc/4242/status"));
    assert.equal(t.counting.reads.length, n, "absent: answered from memory");
  });

  test("a write goes through and forgets what was kept of that file", () => {
    const t = setup();
    const p = "/sys/fs/cgroup/a/memory.high";
    void t.model.readFile(p);
    t.model.writeFile(p, `${100 * MB}`);
    assert.equal(t.model.readFile(p).trim(), `${100 * MB}`);
  });

  test("readDir hands out a copy: a caller that sorts it changes nothing kept", () => {
    const t = setup();
    const a = t.model.readDir("/proc");
    a.reverse();
    assert.notDeepEqual(t.model.readDir("/proc"), a);
  });
});

describe("the warm model and read faults", () => {
  test("readResult over the model parses a kept text once, and a fault stays a fault at every read", () => {
    const dir = buildFixture(MACHINE);
    const model = new WarmModel(new FaultyHost(new FixtureHost(dir)).fail("/proc/10/oom_score_adj", "EIO"), "/sys/fs/cgroup");
    let calls = 0;
    const parse = (text: string) => {
      calls++;
      return text.length;
    };
    const log = new MemoryLogger();
    const first = readResult(model, "/proc/meminfo", parse, log);
    assert.equal(first.kind, "ok");
    assert.deepEqual(readResult(model, "/proc/meminfo", parse, log), first);
    assert.equal(calls, 1, "the second read is the kept parse");
    for (let i = 0; i < 2; i++) {
      assert.deepEqual(readResult(model, "/proc/10/oom_score_adj", Number, log), { kind: "fault", fault: { path: "/proc/10/oom_score_adj", error: "EIO" } }, `read ${i + 1}`);
    }
  });

  test("a decision over the model records what could not be read each time, as the first did", async () => {
    const dir = buildFixture(MACHINE);
    fs.writeFileSync(path.join(dir, "proc/20/oom_score_adj"), "not a number\n");
    const model = new WarmModel(new FaultyHost(new FixtureHost(dir)).fail("/proc/10/oom_score_adj", "EIO"), "/sys/fs/cgroup");
    for (let i = 0; i < 2; i++) {
      const r = await engine.explain(takeSnapshot(model), "/", CAUSE);
      assert.deepEqual(
        r.unreadable?.map((f) => f.path),
        ["/proc/10/oom_score_adj", "/proc/20/oom_score_adj"],
        `decision ${i + 1}`,
      );
      assert.match(r.unreadable?.[1]?.error ?? "", /^did not parse/);
      assert.deepEqual(r.plan.map((a) => a.kind === "kill-task" && a.pid), [21], `decision ${i + 1}: pids 10 and 20 are passed over`);
    }
  });

  for (const seen of ["its memory.current vanishing", "its name leaving its parent's listing"]) {
    test(`a cgroup that is gone takes what was kept about it along (seen by ${seen}): a new one at its path is read afresh`, () => {
      const t = setup();
      const b = "/sys/fs/cgroup/b";
      t.model.readDir("/sys/fs/cgroup");
      if (seen.startsWith("its memory.current")) t.model.readFile(`${b}/memory.current`);
      t.model.readXattrs(b);
      t.model.readFile(`${b}/memory.max`);
      const kept = path.join(t.dir, "kept-b");
      fs.cpSync(path.join(t.dir, b), kept, { recursive: true });
      fs.rmSync(path.join(t.dir, b), { recursive: true });
      t.clock.advance(REFRESH_INTERVALS_MS.listing);
      const r = t.model.refresh(60_000);
      assert.ok(r.dropped >= 2, `dropped ${r.dropped}`);
      // A unit started again: a new cgroup at the same path (systemd marks it as it starts it).
      fs.cpSync(kept, path.join(t.dir, b), { recursive: true });
      const before = t.counting.reads.length;
      t.model.readXattrs(b);
      t.model.readFile(`${b}/memory.max`);
      // Read from the machine, not served from the old cgroup's entries (and the new cgroup's usage
      // is watched again, as every known cgroup's is).
      assert.deepEqual(t.counting.reads.slice(before).filter((r) => !r.endsWith("/memory.current")), [`xattr:${b}`, `${b}/memory.max`], "read from the machine, not served from the old cgroup's entries");
    });
  }
});

describe("the warm model re-reads /proc's listing in parts", () => {
  /** A machine of five parts of LISTING_PART processes and some, its /proc listed by a Host that counts its listings. */
  function crowdedModel() {
    const tasks = [{ pid: 1, comm: "init", cgroup: "/" }, ...Array.from({ length: 5 * LISTING_PART + 20 }, (_, i) => ({ pid: 100 + i, comm: `w${i}`, cgroup: "/", rssAnonKb: 1024 }))];
    const dir = buildFixture({ tasks });
    const clock = new ManualClock(1_000);
    const counts = { opened: 0, whole: 0 };
    class Listing extends FixtureHost {
      override openDir(p: string): DirCursor {
        if (p === "/proc") counts.opened++;
        return super.openDir(p);
      }
      override readDir(p: string): DirEntry[] {
        if (p === "/proc") counts.whole++;
        return super.readDir(p);
      }
    }
    const model = new WarmModel(new Listing(dir, { clock }), "/sys/fs/cgroup");
    const pids = () => takeSnapshot(model).pids();
    return { dir, clock, counts, model, pids };
  }

  test("a refresh stopped between two parts goes on where it was at the next, and the new listing is kept only when it is whole", () => {
    const t = crowdedModel();
    assert.equal(t.pids().length, 5 * LISTING_PART + 21, "the first listing, kept");
    assert.deepEqual([t.counts.opened, t.counts.whole], [1, 0], "listed in parts, read whole at once");
    addTask(t.dir, { pid: 5_000, comm: "new", cgroup: "/" });
    t.clock.advance(REFRESH_INTERVALS_MS.listing + 1);
    const structure = t.model.structureGeneration;
    const stopAlways = () => true;
    const first = t.model.refresh(1_000, stopAlways);
    assert.equal(first.behind, true, "stopped after the first part");
    assert.equal(first.reads, 1);
    assert.ok(!t.pids().includes(5_000), "the listing kept is the old one while the new one is partly read");
    const second = t.model.refresh(1_000, stopAlways);
    assert.equal(second.behind, true, "one part more, then stopped again");
    assert.ok(!t.pids().includes(5_000));
    assert.equal(t.model.structureGeneration, structure, "nothing seen yet");
    const third = t.model.refresh(1_000);
    assert.ok(t.pids().includes(5_000), "whole: the new process is in the listing kept");
    assert.equal(t.model.structureGeneration, structure + 1, "a process that came is structure");
    assert.ok(third.changed >= 1);
    assert.deepEqual([t.counts.opened, t.counts.whole], [2, 0], "one listing, opened once, over three refreshes");
  });

  test("a listing in parts after another compares part by part with the names that one left: who came is structure, who went is forgotten", () => {
    const t = crowdedModel();
    t.pids();
    const relist = (stops: boolean) => {
      t.clock.advance(REFRESH_INTERVALS_MS.listing + 1);
      for (let i = 0; i < 100 && t.model.refresh(1_000, () => stops).behind; i++);
    };
    relist(true); // the first re-read in parts: it leaves the names it listed
    void takeSnapshot(t.model).tasks; // every task's stat kept: a size known for each
    assert.ok(t.model.taskBytes(100) !== undefined);
    const structure = t.model.structureGeneration;
    relist(true);
    assert.equal(t.model.structureGeneration, structure, "the same listing again: nothing came");
    fs.rmSync(path.join(t.dir, "proc/100"), { recursive: true });
    relist(true);
    assert.equal(t.model.structureGeneration, structure, "one that went is no news by itself");
    assert.equal(t.model.taskBytes(100), undefined, "and what was kept of it is gone");
    addTask(t.dir, { pid: 6_000, comm: "late", cgroup: "/" });
    relist(true);
    assert.equal(t.model.structureGeneration, structure + 1, "one that came is");
    assert.ok(t.pids().includes(6_000) && !t.pids().includes(100));
  });

  test("a listing left between parts for too long, or read whole meanwhile, is not gone on with", () => {
    const t = crowdedModel();
    t.pids();
    addTask(t.dir, { pid: 5_000, comm: "new", cgroup: "/" });
    t.clock.advance(REFRESH_INTERVALS_MS.listing + 1);
    t.model.refresh(1_000, () => true);
    assert.equal(t.counts.opened, 2);
    // Seconds later the parts read are stale: the listing starts over.
    t.clock.advance(5_000);
    t.model.refresh(1_000);
    assert.equal(t.counts.opened, 3, "opened again");
    assert.ok(t.pids().includes(5_000));
    // Stopped again, then read whole by another path (a cgroup's listings re-read at once): the parts are dropped.
    addTask(t.dir, { pid: 5_001, comm: "newer", cgroup: "/" });
    t.clock.advance(REFRESH_INTERVALS_MS.listing + 1);
    t.model.refresh(1_000, () => true);
    assert.equal(t.counts.opened, 4);
    fs.rmSync(path.join(t.dir, "proc/5001"), { recursive: true });
    t.model.refreshListingsUnder("/proc");
    t.model.refresh(1_000);
    assert.ok(!t.pids().includes(5_001), "the listing read whole stands: the parts read before it did not overwrite it");
  });

  test("through a Host that watches listings (a counting or faulty one), /proc is read whole, as before", () => {
    const tasks = [{ pid: 1, comm: "init", cgroup: "/" }, ...Array.from({ length: 3 * LISTING_PART }, (_, i) => ({ pid: 100 + i, comm: `w${i}`, cgroup: "/" }))];
    const dir = buildFixture({ tasks });
    const clock = new ManualClock(1_000);
    const counting = new CountingHost(new FixtureHost(dir, { clock }));
    const model = new WarmModel(counting, "/sys/fs/cgroup");
    takeSnapshot(model).pids();
    clock.advance(REFRESH_INTERVALS_MS.listing + 1);
    const r = model.refresh(1_000, () => true);
    assert.equal(r.behind, false, "one read, whole: nothing left to go on with");
    assert.equal(counting.reads.filter((x) => x === "/proc/").length, 2);
  });
});
