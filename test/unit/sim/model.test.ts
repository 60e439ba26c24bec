/** The memory model's invariants: conservation, reclaim before OOM, limits, protection, determinism. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { SimMachine, type MachineSpec } from "../../../src/sim/machine.js";
import { SimHost } from "../../../src/sim/sim-host.js";
import { parseMeminfo } from "../../../src/os/parse/meminfo.js";
import { parseMemoryEvents, parseMemoryStat } from "../../../src/os/parse/cgroup.js";
import { parsePressure } from "../../../src/os/parse/psi.js";

const MiB = 1024 * 1024;

/** Recounts every page from the tasks and cgroups; returns what disagrees with the ledger. */
function recount(m: SimMachine): string[] {
  const wrong: string[] = [];
  const l = m.k.ledger;
  let held = 0;
  let swapped = 0;
  for (const cg of m.root.subtree()) {
    held += cg.countOwnPages();
    swapped += cg.countOwnSwapPages();
    let usage = 0;
    let swap = 0;
    for (const d of cg.subtree()) {
      usage += d.countOwnPages();
      swap += d.countOwnSwapPages();
    }
    if (usage !== cg.usage) wrong.push(`${cg.path} usage ${cg.usage} ≠ ${usage}`);
    if (swap !== cg.swapUsage) wrong.push(`${cg.path} swap ${cg.swapUsage} ≠ ${swap}`);
  }
  if (swapped !== l.swapUsedPages) wrong.push(`swap used ${l.swapUsedPages} ≠ ${swapped}`);
  const pool = l.swap?.kind === "zram" ? Math.ceil(swapped / l.swap.compressionRatio) : 0;
  if (pool !== l.zramPoolPages) wrong.push(`zram pool ${l.zramPoolPages} ≠ ${pool}`);
  const free = l.totalPages - l.reservedPages - held - pool;
  if (free !== l.freePages) wrong.push(`free ${l.freePages} ≠ ${free}`);
  if (l.freePages < 0) wrong.push(`free ${l.freePages} < 0`);
  if (l.swapUsedPages > l.swapTotalPages) wrong.push(`swap ${l.swapUsedPages} over its size`);
  return wrong;
}

/** A leak among bystanders, with or without zram, page cache in the way. */
function leakMachine(spec: Partial<MachineSpec> = {}): SimMachine {
  const m = new SimMachine({ memTotalBytes: 1024 * MiB, seed: 3, ...spec });
  m.addCgroup("/bystanders");
  m.addCgroup("/jobs");
  for (let i = 0; i < 3; i++) m.addTask({ comm: `steady${i}`, cgroup: "/bystanders", curve: { kind: "steady", bytes: 120 * MiB }, touchPerSec: 0.2 });
  m.addTask({ comm: "leak", cgroup: "/jobs", curve: { kind: "leak", startBytes: 20 * MiB, bytesPerSec: 60 * MiB }, cacheBytesPerSec: 2 * MiB });
  m.addPageCache("/bystanders", 200 * MiB);
  return m;
}

describe("conservation", () => {
  for (const swap of [undefined, { kind: "zram" as const, totalBytes: 512 * MiB, compressionRatio: 3 }, { kind: "disk" as const, totalBytes: 256 * MiB }]) {
    test(`every page is accounted for at every step (${swap?.kind ?? "no swap"}), through reclaim, OOM kills and reaping`, () => {
      const m = leakMachine(swap ? { swap } : {});
      m.addTask({ comm: "forker", cgroup: "/jobs", curve: { kind: "steady", bytes: 4 * MiB }, fork: { perSec: 20, max: 40, childBytes: 3 * MiB } });
      for (let t = 0; t < 40_000; t += 250) {
        m.advanceTo(t);
        assert.deepEqual(recount(m), [], `at ${t} ms`);
      }
      assert.ok(m.k.kernelKills.length > 0, "the leak ended in a kernel kill");
    });
  }
});

describe("reclaim before OOM", () => {
  test("the kernel kills only once page cache is reclaimed; reclaim is counted in pgscan", () => {
    const m = leakMachine();
    const h = new SimHost(m);
    let cacheAtKill: number | undefined;
    for (let t = 0; t < 30_000 && cacheAtKill === undefined; t += 50) {
      h.advance(50);
      if (m.k.kernelKills.length > 0) cacheAtKill = m.cgroup("/bystanders")?.cachePages;
    }
    assert.ok(cacheAtKill !== undefined, "a kill happened");
    assert.ok(cacheAtKill * 4096 < 5 * MiB, `page cache was reclaimed first (${cacheAtKill} pages left)`);
    assert.equal(m.k.kernelKills[0]?.comm, "leak");
    const stat = parseMemoryStat(h.readFile("/sys/fs/cgroup/bystanders/memory.stat"));
    assert.ok((stat.pgscan ?? 0) >= (stat.pgsteal ?? 0) && (stat.pgsteal ?? 0) > 0, "scanned and stolen");
  });

  test("with zram, anonymous memory goes to swap before anything is killed", () => {
    const m = leakMachine({ swap: { kind: "zram", totalBytes: 512 * MiB, compressionRatio: 3 } });
    const h = new SimHost(m);
    let swapFreeAtKill: number | undefined;
    for (let t = 0; t < 60_000 && swapFreeAtKill === undefined; t += 100) {
      h.advance(100);
      if (m.k.kernelKills.length > 0) swapFreeAtKill = parseMeminfo(h.readFile("/proc/meminfo")).swapFreeBytes;
    }
    assert.ok(swapFreeAtKill !== undefined, "a kill happened");
    assert.ok(swapFreeAtKill < 0.1 * 512 * MiB || m.k.ledger.zramPoolPages > 0, `swap was used first (SwapFree ${swapFreeAtKill})`);
    assert.ok(m.k.vmstat.pswpout > 0);
  });
});

describe("limits", () => {
  test("memory.max is never exceeded; the memcg OOM kills inside it and counts max, oom, oom_kill up the tree", () => {
    const m = new SimMachine({ memTotalBytes: 1024 * MiB });
    m.addCgroup("/svc", {});
    m.addCgroup("/svc/app", { max: 100 * MiB });
    m.addTask({ comm: "app", cgroup: "/svc/app", curve: { kind: "leak", startBytes: 10 * MiB, bytesPerSec: 50 * MiB } });
    m.addTask({ comm: "outside", cgroup: "/svc", curve: { kind: "steady", bytes: 300 * MiB } });
    const h = new SimHost(m);
    for (let t = 0; t < 5000; t += 50) {
      h.advance(50);
      assert.ok((m.cgroup("/svc/app")?.usage ?? 0) * 4096 <= 100 * MiB, `at ${t} ms`);
    }
    assert.deepEqual(m.k.kernelKills.map((k) => [k.comm, k.constraint]), [["app", { memcg: "/svc/app" }]]);
    const local = parseMemoryEvents(h.readFile("/sys/fs/cgroup/svc/app/memory.events.local"));
    assert.ok((local.max ?? 0) > 0 && (local.oom ?? 0) > 0 && local.oomKill === 1);
    const parent = parseMemoryEvents(h.readFile("/sys/fs/cgroup/svc/memory.events"));
    assert.equal(parent.oomKill, 1, "hierarchical");
    assert.equal(parseMemoryEvents(h.readFile("/sys/fs/cgroup/svc/memory.events.local")).oomKill, 0, "not local to the parent");
    assert.ok(m.task(m.tasks().find((t) => t.comm === "outside")?.pid ?? 0), "the task outside the limit lives");
  });

  test("memory.high throttles: usage stays near high, the high event counts, and pressure rises", () => {
    const m = new SimMachine({ memTotalBytes: 2048 * MiB });
    m.addCgroup("/job", { high: 100 * MiB });
    m.addTask({ comm: "grow", cgroup: "/job", curve: { kind: "leak", startBytes: 0, bytesPerSec: 100 * MiB } });
    const h = new SimHost(m);
    h.advance(20_000);
    const current = Number(h.readFile("/sys/fs/cgroup/job/memory.current"));
    assert.ok(current > 90 * MiB && current < 115 * MiB, `held near memory.high (${current / MiB} MiB, wanted 2000)`);
    assert.ok((parseMemoryEvents(h.readFile("/sys/fs/cgroup/job/memory.events")).high ?? 0) > 0);
    assert.ok(parsePressure(h.readFile("/sys/fs/cgroup/job/memory.pressure")).some.avg10 > 10);
    assert.equal(m.k.kernelKills.length, 0, "throttled, not killed");
  });

  test("memory.min protects a cgroup from the machine's reclaim; an unprotected one gives up its cache", () => {
    const m = new SimMachine({ memTotalBytes: 512 * MiB });
    m.addCgroup("/db", { min: 150 * MiB });
    m.addCgroup("/batch");
    m.addPageCache("/db", 120 * MiB);
    m.addPageCache("/batch", 120 * MiB);
    m.addTask({ comm: "grow", cgroup: "/batch", curve: { kind: "leak", startBytes: 0, bytesPerSec: 100 * MiB, capBytes: 250 * MiB } });
    m.advanceTo(10_000);
    assert.equal(m.cgroup("/db")?.cachePages, (120 * MiB) / 4096, "the protected cache is whole");
    assert.ok((m.cgroup("/batch")?.cachePages ?? 0) < (120 * MiB) / 4096);
  });

  test("a limit written below usage reclaims at once, then kills if it must", () => {
    const m = new SimMachine({ memTotalBytes: 512 * MiB });
    m.addCgroup("/c");
    m.addPageCache("/c", 50 * MiB);
    m.addTask({ comm: "big", cgroup: "/c", curve: { kind: "steady", bytes: 60 * MiB } });
    m.advanceTo(100);
    m.setLimit("/c", "max", 80 * MiB);
    assert.ok((m.cgroup("/c")?.usage ?? 0) * 4096 <= 80 * MiB);
    assert.equal(m.k.kernelKills.length, 0, "reclaim sufficed");
    m.setLimit("/c", "max", 20 * MiB);
    assert.deepEqual(m.k.kernelKills.map((k) => k.comm), ["big"]);
  });
});

describe("determinism", () => {
  const run = (seed: number) => {
    const m = new SimMachine({ memTotalBytes: 768 * MiB, seed, swap: { kind: "zram", totalBytes: 256 * MiB } });
    for (let i = 0; i < 6; i++) m.addTask({ comm: `b${i}`, curve: { kind: "bursts", baseBytes: 40 * MiB, burstBytes: 120 * MiB, everyMs: 3000, lengthMs: 1500, jitter: 0.8 } });
    m.addTask({ comm: "storm", curve: { kind: "steady", bytes: MiB }, fork: { perSec: 10, max: 30, childBytes: 8 * MiB } });
    const h = new SimHost(m);
    const seen: string[] = [];
    for (let s = 0; s < 30; s++) {
      h.advance(1000);
      seen.push(h.readFile("/proc/meminfo"), h.readFile("/proc/pressure/memory"), h.readFile("/proc/vmstat"));
    }
    return { seen: seen.join(""), kills: JSON.stringify(m.k.kernelKills) };
  };
  test("one seed, one run; another seed, another run", () => {
    const a = run(11);
    assert.deepEqual(run(11), a);
    assert.notEqual(run(12).seen, a.seen);
  });
});

describe("bad input", () => {
  test("a machine, a task or a curve that cannot be is a clear E_CONFIG", () => {
    assert.throws(() => new SimMachine({ memTotalBytes: 1 }), /memTotalBytes/);
    assert.throws(() => new SimMachine({ memTotalBytes: 64 * MiB, swappiness: 300 }), /swappiness/);
    const m = new SimMachine({ memTotalBytes: 64 * MiB });
    assert.throws(() => m.addTask({ comm: "x", curve: { kind: "steady", bytes: -1 } }), /task "x": curve steady: bytes/);
    assert.throws(() => m.addTask({ comm: "x", curve: { kind: "bursts", baseBytes: 0, burstBytes: 1, everyMs: 10, lengthMs: 20, jitter: 0 } }), /lengthMs/);
    assert.throws(() => m.addTask({ comm: "x", oomScoreAdj: 1001, curve: { kind: "steady", bytes: 0 } }), /oomScoreAdj/);
    m.addTask({ pid: 5, comm: "x", curve: { kind: "steady", bytes: 0 } });
    assert.throws(() => m.addTask({ pid: 5, comm: "y", curve: { kind: "steady", bytes: 0 } }), /pid 5 is taken/);
    assert.throws(() => m.advanceTo(-1), /cannot go back/);
  });
});
