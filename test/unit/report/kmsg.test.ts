/** /dev/kmsg records and the OOM killer's lines: real formats (mm/oom_kill.c, 6.1 and 6.12) and hostile input. */
import { test } from "node:test";
import assert from "node:assert/strict";

import { parseKmsgRecord, parseKmsgText, parseOomLine, unescapeKmsg } from "../../../src/os/parse/kmsg.js";

/** A memcg OOM kill as Debian's 6.1 kernel logs it (cgroup v2, one leaf over its memory.max). */
const KMSG_6_1 = [
  "4,1091,6283123456,-;stress invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0",
  "4,1092,6283123470,-;CPU: 1 PID: 4242 Comm: stress Not tainted 6.1.0-18-amd64 #1  Debian 6.1.76-1",
  "4,1093,6283123471,-;Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014",
  "4,1094,6283123472,-;Call Trace:",
  "4,1095,6283123473,-; <TASK>",
  "4,1096,6283123474,-; dump_stack_lvl+0x44/0x5c",
  "4,1097,6283123475,-; dump_header+0x4a/0x211",
  "4,1098,6283123476,-; oom_kill_process.cold+0xb/0x10",
  "4,1099,6283123477,-; </TASK>",
  "6,1100,6283123500,-;memory: usage 102400kB, limit 102400kB, failcnt 1234",
  "6,1101,6283123501,-;swap: usage 0kB, limit 9007199254740988kB, failcnt 0",
  "6,1102,6283123510,-;Memory cgroup stats for /oom_test:",
  "6,1103,6283123511,-;anon 102760448",
  "6,1104,6283123600,-;Tasks state (memory values in pages):",
  "6,1105,6283123601,-;[  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name",
  "6,1106,6283123602,-;[   4242]     0  4242    28070    25350   245760        0             0 stress",
  "6,1107,6283124100,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/oom_test,task_memcg=/oom_test/leaf,task=stress,pid=4242,uid=0",
  "3,1108,6283124110,-;Memory cgroup out of memory: Killed process 4242 (stress) total-vm:112280kB, anon-rss:100348kB, file-rss:1052kB, shmem-rss:0kB, UID:0 pgtables:240kB oom_score_adj:0",
  "6,1109,6283164000,-;oom_reaper: reaped process 4242 (stress), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB",
  "",
].join("\n");

/** A global OOM on Debian's 6.12 (caller ids on, the UID in the CPU line, a dictionary line). */
const KMSG_6_12 = [
  "4,2301,9123000001,-,caller=T917;hog invoked oom-killer: gfp_mask=0x140dca(GFP_HIGHUSER_MOVABLE|__GFP_COMP|__GFP_ZERO), order=0, oom_score_adj=0",
  "4,2302,9123000010,-,caller=T917;CPU: 0 UID: 1000 PID: 917 Comm: hog Not tainted 6.12.12-amd64 #1  Debian 6.12.12-1",
  " SUBSYSTEM=cpu",
  " DEVICE=+cpu:0",
  "4,2303,9123000020,-,caller=T917;Mem-Info:",
  "6,2304,9123000100,-,caller=T917;oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/user.slice/user-1000.slice/session-3.scope,task=hog,pid=917,uid=1000",
  "3,2305,9123000110,-,caller=T917;Out of memory: Killed process 917 (hog) total-vm:1056868kB, anon-rss:901120kB, file-rss:1280kB, shmem-rss:0kB, UID:1000 pgtables:1820kB oom_score_adj:200",
  "",
].join("\n");

test("record header: prio, seq, timestamp, flags; extra header fields and the dictionary", () => {
  const r = parseKmsgRecord("3,2305,9123000110,-,caller=T917;Out of memory: x\n SUBSYSTEM=cpu\n DEVICE=+cpu:0\n");
  assert.ok(r.ok);
  assert.deepEqual(
    { f: r.record.facility, l: r.record.level, seq: r.record.seq, ts: r.record.tsUsec, flags: r.record.flags, m: r.record.message },
    { f: 0, l: 3, seq: 2305, ts: 9123000110, flags: "-", m: "Out of memory: x" },
  );
  assert.equal(r.record.dict.get("SUBSYSTEM"), "cpu");
  const user = parseKmsgRecord("14,7,1,-;from userspace");
  assert.ok(user.ok && user.record.facility === 1 && user.record.level === 6);
});

test("records that are not records", () => {
  for (const bad of ["", "garbage", "3,x,1,-;m", "3,1,2", "-1,2,3,-;m", "3,99999999999999999999,1,-;m"]) {
    assert.equal(parseKmsgRecord(bad).ok, false, bad);
  }
});

test("text of many records: both kernels, dictionary lines attached, garbage counted", () => {
  const a = parseKmsgText(KMSG_6_1);
  assert.equal(a.records.length, 19);
  assert.equal(a.skippedLines, 0);
  const b = parseKmsgText(KMSG_6_12);
  assert.equal(b.records.length, 5);
  assert.equal(b.records[1]?.dict.get("DEVICE"), "+cpu:0");
  const c = parseKmsgText(`junk line\n${KMSG_6_12}\n(cut`);
  assert.equal(c.records.length, 5);
  assert.equal(c.skippedLines, 2);
});

test("the Killed line, 6.1 memcg and 6.12 global", () => {
  const recs = [...parseKmsgText(KMSG_6_1).records, ...parseKmsgText(KMSG_6_12).records];
  const killed = recs.map((r) => parseOomLine(r.message)).filter((l) => l?.kind === "killed");
  assert.deepEqual(killed, [
    {
      kind: "killed", message: "Memory cgroup out of memory", memcg: true, pid: 4242, comm: "stress",
      totalVmKb: 112280, anonRssKb: 100348, fileRssKb: 1052, shmemRssKb: 0, uid: 0, pgtablesKb: 240, oomScoreAdj: 0,
    },
    {
      kind: "killed", message: "Out of memory", memcg: false, pid: 917, comm: "hog",
      totalVmKb: 1056868, anonRssKb: 901120, fileRssKb: 1280, shmemRssKb: 0, uid: 1000, pgtablesKb: 1820, oomScoreAdj: 200,
    },
  ]);
});

test("the summary line: memcg and global, with and without cpusets", () => {
  assert.deepEqual(
    parseOomLine("oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/oom_test,task_memcg=/oom_test/leaf,task=stress,pid=4242,uid=0"),
    {
      kind: "summary", constraint: "CONSTRAINT_MEMCG", nodemask: "(null)", cpuset: "/", memsAllowed: "0",
      oomMemcg: "/oom_test", global: false, taskMemcg: "/oom_test/leaf", comm: "stress", pid: 4242, uid: 0, complete: true,
    },
  );
  const g = parseOomLine("oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),global_oom,task_memcg=/,task=init-ish,pid=77,uid=0");
  assert.ok(g?.kind === "summary");
  assert.equal(g.global, true);
  assert.equal(g.oomMemcg, undefined);
  assert.equal(g.cpuset, undefined);
  assert.equal(g.taskMemcg, "/");
  const numa = parseOomLine("oom-kill:constraint=CONSTRAINT_MEMORY_POLICY,nodemask=0-1,cpuset=/,mems_allowed=0,2-3,global_oom,task_memcg=/a,task=x,pid=5,uid=7");
  assert.ok(numa?.kind === "summary");
  assert.equal(numa.memsAllowed, "0,2-3");
  assert.equal(numa.nodemask, "0-1");
});

test("the other OOM lines", () => {
  assert.deepEqual(parseOomLine("Tasks in /batch/job are going to be killed due to memory.oom.group set"), { kind: "group", cgroup: "/batch/job" });
  assert.deepEqual(parseOomLine("stress invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=-500"), { kind: "invoked", comm: "stress", oomScoreAdj: -500, order: 0 });
  assert.deepEqual(parseOomLine("oom_reaper: reaped process 4242 (stress), now anon-rss:0kB, file-rss:4kB, shmem-rss:0kB"), {
    kind: "reaped", pid: 4242, comm: "stress", anonRssKb: 0, fileRssKb: 4, shmemRssKb: 0,
  });
  assert.deepEqual(parseOomLine("Memory cgroup out of memory: OOM victim 12 (x) is already exiting. Skip killing the task"), {
    kind: "exiting", message: "Memory cgroup out of memory", pid: 12, comm: "x",
  });
  const alloc = parseOomLine("Out of memory (oom_kill_allocating_task): Killed process 9 (a) total-vm:1kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0");
  assert.ok(alloc?.kind === "killed" && alloc.message === "Out of memory (oom_kill_allocating_task)" && !alloc.memcg);
  // An older kernel (4.19) without UID and pgtables.
  const old = parseOomLine("Out of memory: Killed process 33 (x) total-vm:10kB, anon-rss:8kB, file-rss:0kB, shmem-rss:0kB");
  assert.ok(old?.kind === "killed");
  assert.equal(old.uid, undefined);
  assert.equal(old.anonRssKb, 8);
});

test("hostile comms and cgroup names: spaces, parentheses, commas, escapes", () => {
  const k = parseOomLine("Out of memory: Killed process 5 (a) total-vm:9kB (x) total-vm:1kB, anon-rss:2kB, file-rss:3kB, shmem-rss:4kB, UID:0 pgtables:5kB oom_score_adj:1000");
  assert.ok(k?.kind === "killed");
  assert.equal(k.comm, "a) total-vm:9kB (x");
  assert.equal(k.anonRssKb, 2);
  const spaces = parseOomLine("Out of memory: Killed process 6 (Web Content) total-vm:1kB, anon-rss:1kB, file-rss:1kB, shmem-rss:1kB, UID:1 pgtables:1kB oom_score_adj:-17");
  assert.ok(spaces?.kind === "killed" && spaces.comm === "Web Content" && spaces.oomScoreAdj === -17);
  const esc = parseOomLine("Out of memory: Killed process 7 (a\\x0ab\\x5c) total-vm:1kB, anon-rss:1kB, file-rss:1kB, shmem-rss:1kB, UID:1 pgtables:1kB oom_score_adj:0");
  assert.ok(esc?.kind === "killed" && esc.comm === "a\nb\\");
  const s = parseOomLine("oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/x,task_memcg=/x/y,task=a,pid=1,uid=2,pid=99,uid=0");
  assert.ok(s?.kind === "summary");
  assert.equal(s.comm, "a,pid=1,uid=2");
  assert.equal(s.pid, 99);
  const cgEsc = parseOomLine("oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),oom_memcg=/we\\x20ird,task_memcg=/we\\x20ird/j,task=j,pid=3,uid=0");
  assert.ok(cgEsc?.kind === "summary" && cgEsc.oomMemcg === "/we ird" && cgEsc.taskMemcg === "/we ird/j");
  assert.equal(unescapeKmsg("\\xzz\\x41"), "\\xzzA");
});

test("truncated lines: what is certain, nothing guessed", () => {
  const cutFigures = parseOomLine("Memory cgroup out of memory: Killed process 4242 (stress) total-vm:112280kB, anon-rss:1003");
  assert.deepEqual(cutFigures, { kind: "killed", message: "Memory cgroup out of memory", memcg: true, pid: 4242, comm: "stress", totalVmKb: 112280 });
  const cutComm = parseOomLine("Out of memory: Killed process 4242 (str");
  assert.ok(cutComm?.kind === "killed" && cutComm.pid === 4242 && cutComm.comm === undefined);
  assert.equal(parseOomLine("Out of memory: Killed process "), undefined);
  assert.equal(parseOomLine("Out of memory: Killed process 0 (x)"), undefined);
  const cutSummary = parseOomLine("oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/oom_te");
  assert.ok(cutSummary?.kind === "summary");
  assert.equal(cutSummary.complete, false);
  assert.equal(cutSummary.pid, undefined);
  assert.equal(cutSummary.oomMemcg, "/oom_te");
  assert.equal(parseOomLine("oom-kill:"), undefined);
  for (const other of ["", "Killed process 1 (x)", "random kernel chatter", "oom-kill:constraint=lower"]) assert.equal(parseOomLine(other), undefined, other);
});
