import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import { cgroupTotalPages, kernelOomScore, oomBadness, systemTotalPages, type BadnessInput } from "../../../src/engine/badness.js";
import { takeSnapshot } from "../../../src/engine/snapshot.js";
import { LinuxHost } from "../../../src/os/linux-host.js";

const PAGE = 4096;
const base: BadnessInput = { pid: 1234, kernelThread: false, exiting: false, oomScoreAdj: 0, rssBytes: 0, swapBytes: 0, pageTablesBytes: 0 };

describe("oom_badness as mm/oom_kill.c computes it", () => {
  const rows: { name: string; t: Partial<BadnessInput>; total: number; badness: number | string }[] = [
    { name: "rss only", t: { rssBytes: 100 * PAGE }, total: 1_000_000, badness: 100 },
    { name: "rss + swap + page tables", t: { rssBytes: 100 * PAGE, swapBytes: 50 * PAGE, pageTablesBytes: 3 * PAGE }, total: 1_000_000, badness: 153 },
    { name: "positive adj scales with totalpages/1000", t: { rssBytes: 10 * PAGE, oomScoreAdj: 500 }, total: 1_000_000, badness: 10 + 500 * 1000 },
    { name: "integer division before multiplying", t: { rssBytes: 0, oomScoreAdj: 1 }, total: 1999, badness: 1 },
    { name: "negative adj can go below zero", t: { rssBytes: 10 * PAGE, oomScoreAdj: -999 }, total: 1_000_000, badness: 10 - 999 * 1000 },
    { name: "-1000 is unkillable", t: { rssBytes: 10 * PAGE, oomScoreAdj: -1000 }, total: 1_000_000, badness: "oom-score-adj-min" },
    { name: "init is unkillable", t: { pid: 1, rssBytes: 10 * PAGE }, total: 1_000_000, badness: "init" },
    { name: "kernel threads are unkillable", t: { kernelThread: true }, total: 1_000_000, badness: "kernel-thread" },
    { name: "zombies have no mm", t: { exiting: true, rssBytes: PAGE }, total: 1_000_000, badness: "no-mm" },
  ];
  for (const r of rows) {
    test(r.name, () => {
      const b = oomBadness({ ...base, ...r.t }, r.total, PAGE);
      if (typeof r.badness === "string") assert.deepEqual(b, { killable: false, reason: r.badness });
      else assert.equal(b.killable && b.badness, r.badness);
    });
  }

  test("/proc/<pid>/oom_score formula, C integer division toward zero", () => {
    const total = 6_000_000;
    assert.equal(kernelOomScore({ killable: true, points: 0, adj: 0, badness: 0 }, total), 666);
    assert.equal(kernelOomScore({ killable: true, points: 6_000_000, adj: 0, badness: 6_000_000 }, total), 1333);
    // badness * 1000 / total = -1.5 truncates to -1 (666), where flooring would give -2 (665)
    assert.equal(kernelOomScore({ killable: true, points: 0, adj: -9000, badness: -9000 }, total), 666);
    assert.equal(kernelOomScore({ killable: false, reason: "init" }, total), 0);
  });

  test("totalpages: system-wide and per cgroup (mem_cgroup_get_max)", () => {
    assert.equal(systemTotalPages(4096 * 1000, 4096 * 500, PAGE), 1500);
    const swapTotal = 4096 * 100;
    assert.equal(cgroupTotalPages({ memoryMaxBytes: 4096 * 1000, swapMaxBytes: Number.POSITIVE_INFINITY }, swapTotal, 60, PAGE), 1100);
    assert.equal(cgroupTotalPages({ memoryMaxBytes: 4096 * 1000, swapMaxBytes: 4096 * 20 }, swapTotal, 60, PAGE), 1020);
    assert.equal(cgroupTotalPages({ memoryMaxBytes: 4096 * 1000, swapMaxBytes: 4096 * 20 }, swapTotal, 0, PAGE), 1000, "swappiness 0 adds no swap");
    assert.equal(cgroupTotalPages({ memoryMaxBytes: 0, swapMaxBytes: 0 }, 0, 60, PAGE), 1, "never zero");
  });
});

describe("against the kernel's own /proc/<pid>/oom_score on this machine", () => {
  const children: ChildProcess[] = [];
  after(() => {
    for (const c of children) if (c.exitCode === null && c.pid !== undefined) process.kill(c.pid, "SIGKILL");
  });

  function start(args: string[], adj: number): Promise<number> {
    const c = spawn(args[0] as string, args.slice(1), { stdio: ["ignore", "pipe", "ignore"] });
    children.push(c);
    return new Promise((resolve, reject) => {
      c.once("error", reject);
      c.stdout?.once("data", () => {
        // Raising oom_score_adj needs no privilege.
        fs.writeFileSync(`/proc/${c.pid}/oom_score_adj`, String(adj));
        resolve(c.pid as number);
      });
    });
  }

  test("oomkit's score equals the kernel's for processes we start", async () => {
    const holder = "const b = Buffer.alloc(48 << 20, 1); console.log('ready'); setInterval(() => b[0]++, 60000);";
    const pids = await Promise.all([
      start([process.execPath, "-e", holder], 0),
      start([process.execPath, "-e", holder], 300),
      start(["sh", "-c", "echo ready; exec sleep 60"], 0),
      start(["sh", "-c", "echo ready; exec sleep 60"], 1000),
    ]);
    // RSS counters may move between reading status and reading oom_score (a GC, a page fault):
    // take a fresh snapshot and compare again, up to a few times, before calling it a mismatch.
    let mismatches: string[] = [];
    for (let attempt = 0; attempt < 5; attempt++) {
      const s = takeSnapshot(new LinuxHost());
      const total = s.systemTotalPages;
      mismatches = [];
      for (const pid of pids) {
        const t = s.task(pid);
        assert.ok(t, `task ${pid} is visible`);
        const ours = kernelOomScore(s.badness(t), total);
        const kernels = t.kernelOomScore;
        if (ours !== kernels) mismatches.push(`pid ${pid} (${t.comm}, adj ${t.oomScoreAdj}): oomkit ${ours}, kernel ${kernels}`);
      }
      if (mismatches.length === 0) break;
    }
    assert.deepEqual(mismatches, []);
  });
});
