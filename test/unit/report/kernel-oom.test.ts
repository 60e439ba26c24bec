/** The kernel OOM observer: one `kernel` record per kill, whatever saw it, across restarts. */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import type { EpisodeRecord } from "../../../src/engine/episode.js";
import { ManualClock } from "../../../src/os/host.js";
import { KernelOomObserver, type KernelOomObserverOptions } from "../../../src/report/kernel-oom.js";
import { summarize } from "../../../src/report/human.js";

const SUMMARY = (seq: number, pid: number) =>
  `6,${seq},${seq * 1000},-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/oom_test,task_memcg=/oom_test/leaf,task=stress,pid=${pid},uid=0\n`;
const KILLED = (seq: number, pid: number) =>
  `3,${seq},${seq * 1000 + 10},-;Memory cgroup out of memory: Killed process ${pid} (stress) total-vm:112280kB, anon-rss:100348kB, file-rss:1052kB, shmem-rss:0kB, UID:0 pgtables:240kB oom_score_adj:0\n`;
const INVOKED = (seq: number) => `4,${seq},${seq * 1000},-;stress invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0\n`;
const KILL = (seq: number, pid: number) => INVOKED(seq) + SUMMARY(seq + 1, pid) + KILLED(seq + 2, pid);

function observer(extra: Partial<KernelOomObserverOptions> = {}) {
  const records: EpisodeRecord[] = [];
  const clock = new ManualClock(1000);
  const obs = new KernelOomObserver({ onRecord: (r) => records.push(r), clock, ...extra });
  return { obs, records, clock };
}

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-kernel-"));

test("a memcg kill in the log: one kernel record with pid, comm, cgroup and figures", () => {
  const { obs, records } = observer();
  obs.onKmsgRecord(KILL(100, 4242));
  assert.equal(records.length, 1);
  const r = records[0] as EpisodeRecord;
  assert.equal(r.kind, "kernel");
  assert.equal(r.schema, "oomkit.episode/1");
  assert.equal(r.scope, "/oom_test");
  assert.deepEqual(r.kernelKill, {
    seenBy: ["kmsg"], pid: 4242, comm: "stress", uid: 0, cgroup: "/oom_test/leaf", oomMemcg: "/oom_test",
    constraint: "CONSTRAINT_MEMCG", message: "Memory cgroup out of memory",
    totalVmBytes: 112280 * 1024, anonRssBytes: 100348 * 1024, fileRssBytes: 1052 * 1024, shmemRssBytes: 0, pgtablesBytes: 240 * 1024,
    oomScoreAdj: 0, kmsgSeq: 102, kmsgTsUsec: 102010,
  });
  assert.match(summarize(r), /oom_policy=kernel .*oom_memcg=\/oom_test task_memcg=\/oom_test\/leaf.*Killed process 4242 \(stress\)/);
  assert.deepEqual(JSON.parse(JSON.stringify(r)), r);
});

test("dedup by sequence number: a replayed buffer yields nothing twice", () => {
  const { obs, records } = observer();
  obs.onKmsgRecord(KILL(100, 1));
  obs.onKmsgRecord(KILL(100, 1));
  obs.onKmsgRecord(KILL(100, 1) + KILL(200, 2));
  assert.deepEqual(records.map((r) => r.kernelKill?.pid), [1, 2]);
  assert.equal(obs.stats.duplicates, 6);
});

test("dedup across restarts: the state file, for this boot only", async () => {
  const dir = tmp();
  const statePath = path.join(dir, "kmsg.state");
  const first = observer({ statePath, bootId: "boot-a" });
  first.obs.beginBacklog();
  first.obs.onKmsgRecord(KILL(10, 1)); // before the daemon ever ran: history, not reported
  first.obs.markCaughtUp();
  first.obs.onKmsgRecord(KILL(20, 2));
  await first.obs.stop();
  assert.deepEqual(first.records.map((r) => r.kernelKill?.pid), [2]);
  assert.equal(first.obs.stats.historical, 1);

  // Restart: the buffer replays from the start; the kill while oomkit was down is reported.
  const second = observer({ statePath, bootId: "boot-a" });
  second.obs.beginBacklog();
  second.obs.onKmsgRecord(KILL(10, 1) + KILL(20, 2) + KILL(30, 3));
  second.obs.markCaughtUp();
  await second.obs.stop();
  assert.deepEqual(second.records.map((r) => r.kernelKill?.pid), [3]);

  // After a reboot sequence numbers restart: the old state means nothing.
  const third = observer({ statePath, bootId: "boot-b" });
  third.obs.onKmsgRecord(KILL(5, 9));
  assert.deepEqual(third.records.map((r) => r.kernelKill?.pid), [9]);
  await third.obs.stop();
  assert.match(fs.readFileSync(statePath, "utf8"), /"bootId":"boot-b","lastSeq":7/);
});

test("seen by the log and the counters, in either order: one record", () => {
  const { obs, records, clock } = observer();
  const counters = (vm: number, leaf: number) => obs.onCounters({ vmstatOomKill: vm, oomKillLocal: new Map([["/oom_test/leaf", leaf], ["/other", 0]]) });
  counters(5, 0); // baseline
  counters(6, 1); // counters first
  assert.equal(records.length, 0, "waits for the log");
  obs.onKmsgRecord(KILL(100, 7));
  assert.equal(records.length, 1);
  assert.deepEqual(records[0]?.kernelKill?.seenBy, ["kmsg", "memory.events.local", "vmstat"]);
  obs.onKmsgRecord(KILL(200, 8)); // log first
  counters(7, 2);
  clock.advance(60_000);
  obs.tick();
  assert.deepEqual(records.map((r) => r.kernelKill?.pid), [7, 8]);
  assert.equal(obs.stats.matched, 2);
  assert.equal(obs.stats.countersOnly, 0);
});

test("seen by the counters only: one record with the cgroup, after the grace or at once without a log", () => {
  const { obs, records, clock } = observer({ graceMs: 2000 });
  obs.onCounters({ vmstatOomKill: 0, oomKillLocal: new Map([["/a/b", 0]]), oomLocal: new Map([["/a", 0], ["/a/b", 0]]) });
  obs.onCounters({ vmstatOomKill: 1, oomKillLocal: new Map([["/a/b", 1]]), oomLocal: new Map([["/a", 1], ["/a/b", 0]]) });
  assert.equal(records.length, 0);
  clock.advance(2000);
  obs.tick();
  assert.equal(records.length, 1);
  assert.equal(records[0]?.scope, "/a");
  assert.deepEqual(records[0]?.kernelKill, { seenBy: ["memory.events.local", "vmstat"], cgroup: "/a/b", oomMemcg: "/a" });
  assert.match(summarize(records[0] as EpisodeRecord), /oom_policy=kernel kind=kernel scope=\/a .*killed a process/);

  obs.setKmsgAvailable(false);
  obs.onCounters({ vmstatOomKill: 3, oomKillLocal: new Map([["/a/b", 1]]) }); // two kills outside monitored cgroups
  assert.equal(records.length, 3);
  assert.deepEqual(records.slice(1).map((r) => [r.scope, r.kernelKill?.seenBy]), [["/", ["vmstat"]], ["/", ["vmstat"]]]);
});

test("counters read at slightly different times make no phantom kill", () => {
  const { obs, records, clock } = observer();
  obs.setKmsgAvailable(false);
  obs.onCounters({ vmstatOomKill: 10, oomKillLocal: new Map([["/x", 0]]) });
  obs.onCounters({ vmstatOomKill: 10, oomKillLocal: new Map([["/x", 1]]) }); // the cgroup counter was read after the kill, vmstat before
  obs.onCounters({ vmstatOomKill: 11, oomKillLocal: new Map([["/x", 1]]) });
  clock.advance(10_000);
  obs.tick();
  assert.equal(records.length, 1);
  assert.equal(records[0]?.kernelKill?.cgroup, "/x");
});

test("a kill in an unmonitored cgroup is matched with the machine-wide counter", () => {
  const { obs, records, clock } = observer();
  obs.onCounters({ vmstatOomKill: 0, oomKillLocal: new Map([["/watched", 0]]) });
  obs.onKmsgRecord(KILL(100, 5)); // its task_memcg /oom_test/leaf is not watched
  obs.onCounters({ vmstatOomKill: 1, oomKillLocal: new Map([["/watched", 0]]) });
  clock.advance(10_000);
  obs.tick();
  assert.equal(records.length, 1);
});

test("memory.oom.group: every member is one record; a cut summary is joined", () => {
  const { obs, records } = observer();
  const text =
    INVOKED(1) +
    "6,2,2000,c;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0\n" +
    "4,3,2001,-;some other message interleaved\n" +
    "6,4,2002,-;,oom_memcg=/job,task_memcg=/job/w1,task=w1,pid=11,uid=0\n" +
    KILLED(5, 11) +
    "6,6,6000,-;Tasks in /job are going to be killed due to memory.oom.group set\n" +
    KILLED(7, 12) +
    KILLED(8, 13);
  obs.onKmsgRecord(text);
  assert.deepEqual(records.map((r) => [r.kernelKill?.pid, r.kernelKill?.cgroup, r.kernelKill?.oomGroup, r.scope]), [
    [11, "/job/w1", undefined, "/job"],
    [12, undefined, "/job", "/job"],
    [13, undefined, "/job", "/job"],
  ]);
});

test("hostile and broken input: never throws, counts what it could not read", () => {
  const { obs, records } = observer();
  const junk = [
    "garbage without a header",
    "3,notanumber,1,-;Out of memory: Killed process 1 (x)",
    "3,50,1,-;Out of memory: Killed process  (x) total-vm:1kB",
    "3,51,1,-;oom-kill:broken",
    "14,52,1,-;Out of memory: Killed process 66 (fake) total-vm:1kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0",
    "3,53,1,-;Out of memory: Killed process 4242 (cut",
    "\u0000\u0001\u0002",
    "",
  ].join("\n");
  assert.doesNotThrow(() => obs.onKmsgRecord(junk));
  assert.deepEqual(records.map((r) => [r.kernelKill?.pid, r.kernelKill?.comm]), [[4242, undefined]], "the certain pid of a cut line; userspace's fake ignored");
  assert.equal(obs.stats.malformed, 3);
  assert.equal(obs.stats.unparsedOomLines, 2);
  for (const s of ["", "\n\n", "3,1,1,-;", ";;;", "9".repeat(5000)]) obs.onKmsgRecord(s);
});

test("the reader: a recorded log read through startKmsg, the backlog counted as history", async () => {
  const dir = tmp();
  const file = path.join(dir, "kmsg");
  fs.writeFileSync(file, KILL(1, 100) + "3,4,1,-;Out of memory: Killed process 101 (x".repeat(1) + "\n");
  const { obs, records } = observer({ statePath: path.join(dir, "state") });
  assert.equal(await obs.startKmsg({ path: file, intervalMs: 5 }), true);
  while (!obs.kmsgCaughtUp) await new Promise((r) => setTimeout(r, 5));
  assert.equal(obs.lastSeq, 4);
  fs.appendFileSync(file, KILL(10, 200));
  while (records.length < 1) await new Promise((r) => setTimeout(r, 5));
  await obs.stop();
  assert.deepEqual(records.map((r) => r.kernelKill?.pid), [200]);
  assert.equal(obs.stats.historical, 2);

  const none = observer();
  assert.equal(await none.obs.startKmsg({ path: path.join(dir, "missing") }), false);
  await none.obs.stop();
});
