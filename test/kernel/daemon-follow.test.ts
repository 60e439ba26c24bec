// kernel_fallback = "follow" in the VM (docs/operations.md, "Kernel fallback"): with oomkit paused
// (SIGSTOP), the kernel's own OOM killer decides — for a machine-wide OOM and for an OOM under a
// parent cgroup's memory.max. With follow mode it kills the batch job the standing decision
// named (oom_score_adj 1000), not the larger, important one; with the option off it kills the
// important one. After oomkit is killed with SIGKILL and started again, every changed value
// (oom_score_adj, memory.oom.group) is back.
//
// The workload: an important job (larger) and a batch job, ranked by `priority` attached at "/",
// and a pusher that allocates more than the machine (or the limit) has left, and stops as soon
// as either job is killed (hog -s): one OOM, never a second. The pusher and the test's own node
// processes are at oom_score_adj -1000, so the kernel chooses between the two jobs alone. No
// trigger is configured: oomkit never acts itself here, only its kernel fallback does.
//
// The machine-wide OOM runs on a smaller machine: most free memory is reserved as huge pages
// (vm.nr_hugepages, as daemon-zram.test does), leaving LEFT_MIB for the test, oomkit and the jobs.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { type Hog, TestTree, readKeyed, vmSkip, waitFor, meminfo } from "./helpers.js";
import { type DaemonProc, exists, rel, setOomScoreAdj, startDaemon, stopAllDaemons, vmstatOomKills } from "./daemon-helpers.js";

const GENEROUS_MS = 90_000;
/** Memory left outside the huge-page reservation for the machine-wide OOM, MiB. */
const LEFT_MIB = 768;
/** How much more than MemAvailable the pusher asks for in the machine-wide OOM, MiB. */
const PUSH_OVER_MIB = 256;

const t0 = performance.now();
/** A diagnostic line with the time since the file started (where the minutes of a slow run go). */
const note = (what: string) => console.log(`# follow: ${((performance.now() - t0) / 1000).toFixed(1)} s: ${what}`);

const adjOf = (pid: number) => Number(readFileSync(`/proc/${pid}/oom_score_adj`, "utf8").trim());
const oomGroupOf = (cg: string) => readFileSync(path.join(cg, "memory.oom.group"), "utf8").trim();

/** The test's node process runs at -1000, which children inherit: jobs are started at 0. */
function unprotected<T>(start: () => T): T {
  writeFileSync("/proc/self/oom_score_adj", "0");
  try {
    return start();
  } finally {
    writeFileSync("/proc/self/oom_score_adj", "-1000");
  }
}

async function waitAdj(pid: number, value: number, what: string, d?: DaemonProc): Promise<void> {
  await waitFor(() => (adjOf(pid) === value ? true : undefined), {
    timeoutMs: GENEROUS_MS,
    what: `${what}: oom_score_adj ${value}`,
    last: () => ` (now ${adjOf(pid)})${d ? `\n${d.lines().filter((l) => /fallback|standing|error/.test(l)).slice(-20).join("\n")}` : ""}`,
  });
}

function config(opts: { follow: boolean; priorities: Record<string, number>; tail?: string }): string {
  const prio = Object.entries(opts.priorities)
    .map(([cg, p]) => `"${rel(cg)}" = ${p}`)
    .join("\n");
  return `policy_deadline_ms = 2000
standing_decisions = true
${opts.follow ? 'kernel_fallback = "follow"' : ""}

[[attach]]
cgroup = "/"
policy = "priority"
[attach.options.cgroups]
${prio}
${opts.tail ?? ""}
`;
}

describe("kernel_fallback = \"follow\": the kernel's OOM killer follows the standing decision", { skip: vmSkip() }, () => {
  let t: TestTree;
  let hugeBefore = 0;
  before(async () => {
    t = await TestTree.create("follow");
    for (const pid of [process.pid, process.ppid]) {
      try {
        writeFileSync(`/proc/${pid}/oom_score_adj`, "-1000");
      } catch {
        /* not ours to protect */
      }
    }
    hugeBefore = Number(readFileSync("/proc/sys/vm/nr_hugepages", "utf8").trim());
  });
  after(async () => {
    await stopAllDaemons();
    await t?.teardown();
    writeFileSync("/proc/sys/vm/nr_hugepages", String(hugeBefore));
  });

  interface Scenario {
    readonly name: string;
    readonly follow: boolean;
    readonly importantMib: number;
    readonly batchMib: number;
    /** The parent cgroup's limit files (an OOM under its memory.max); none: a machine-wide OOM. */
    readonly limit?: Record<string, string>;
  }

  /**
   * One OOM with oomkit paused: the jobs start, oomkit's fallback is given time to act (or not),
   * oomkit is stopped with SIGSTOP, the pusher allocates until the kernel kills. Returns which job
   * died first; on a failure everything it started is stopped.
   */
  async function pausedOom(s: Scenario): Promise<{ first: string; imp: Hog; bat: Hog; d: DaemonProc }> {
    const top = t.mk(s.name, s.limit ?? {});
    const important = t.mk(`${s.name}/important`);
    const batch = t.mk(`${s.name}/batch`);
    const imp = unprotected(() => t.hog({ cgroup: important, mib: s.importantMib, noHugePages: true }));
    const bat = unprotected(() => t.hog({ cgroup: batch, mib: s.batchMib, noHugePages: true }));
    await Promise.all([imp.ready, bat.ready]);
    note(`${s.name}: jobs ready; starting oomkit`);
    const d = await startDaemon({ name: `follow-${s.name}`, keepLog: "daemon-follow.log", config: config({ follow: s.follow, priorities: { [top]: -5, [important]: 10, [batch]: -10 } }) });
    try {
      await followed(s, d, top, imp, bat);
      return { first: await kernelOom(s, d, top, imp, bat), imp, bat, d };
    } catch (err) {
      imp.kill();
      bat.kill();
      await d.stop();
      throw err;
    }
  }

  /** Waits until oomkit's fallback raised the batch job (follow), or long enough that it would have (off). */
  async function followed(s: Scenario, d: DaemonProc, top: string, imp: Hog, bat: Hog): Promise<void> {
    assert.equal(((await d.status()) as unknown as { kernelFallback: string }).kernelFallback, s.follow ? "follow" : "off");
    if (s.follow) {
      await waitAdj(bat.pid, 1000, "the batch job, the standing victim", d);
      // The limited parent is a scope of its own, with the same victim.
      if (s.limit) await d.waitLine(new RegExp(`kernel fallback: for ${rel(top).replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}, the standing victim pid ${bat.pid} `), GENEROUS_MS);
    } else {
      await new Promise((r) => setTimeout(r, 3000));
      assert.equal(adjOf(bat.pid), 0, "the option off: nothing raised");
    }
    assert.equal(adjOf(imp.pid), 0, "the important job keeps its value");
    note(`${s.name}: oomkit ready${s.follow ? ", the batch job at 1000" : ""}; SIGSTOP`);
  }

  /** Pauses oomkit and drives the machine (or the parent) into one OOM; returns whose job died first. */
  async function kernelOom(s: Scenario, d: DaemonProc, top: string, imp: Hog, bat: Hog): Promise<string> {
    const kernelBefore = vmstatOomKills();
    process.kill(d.pid, "SIGSTOP");
    let pusher: Hog | undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      // Started with the test's -1000: the kernel never takes it. More than is left, whatever the
      // page cache gives back (the whole limit; MemAvailable and PUSH_OVER_MIB more: a single
      // mapping beyond the memory outside the huge pages is refused by the overcommit heuristic);
      // it stops at the kill.
      const limitMib = s.limit ? Number(/^(\d+)M$/.exec(s.limit["memory.max"] ?? "")?.[1]) : undefined;
      const pushMib = limitMib ?? Math.ceil(meminfo().MemAvailable! / 1024) + PUSH_OVER_MIB;
      note(`${s.name}: MemAvailable ${Math.round(meminfo().MemAvailable! / 1024)} MiB; the pusher asks for ${pushMib} MiB`);
      pusher = t.hog({ cgroup: t.mk(`${s.name}/pusher`), mib: pushMib, noHugePages: true, stopWhenDead: [imp.pid, bat.pid] });
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no OOM kill within ${GENEROUS_MS} ms: ${readFileSync("/proc/meminfo", "utf8").split("\n").slice(0, 3).join("; ")}`)), GENEROUS_MS);
      });
      const first = await Promise.race([imp.exited.then(() => "important"), bat.exited.then(() => "batch"), late]);
      note(`${s.name}: the kernel killed the ${first} job`);
      await Promise.race([pusher.ready, pusher.exited]);
      assert.ok(vmstatOomKills() > kernelBefore, "the kernel's OOM killer ran");
      if (s.limit) assert.ok(readKeyed(path.join(top, "memory.events")).oom_kill! >= 1, "an OOM of the limited parent");
      assert.equal((await (first === "important" ? imp : bat).exited).signal, "SIGKILL");
      return first;
    } finally {
      clearTimeout(timer);
      pusher?.kill("SIGKILL");
      process.kill(d.pid, "SIGCONT");
    }
  }

  /** The OOM with oomkit paused, and which job the kernel killed; everything stopped after. */
  async function scenario(opts: Scenario, expect: "batch" | "important"): Promise<void> {
    const r = await pausedOom(opts);
    try {
      assert.equal(r.first, expect, `the kernel killed the ${r.first} job`);
      const other = expect === "batch" ? r.imp : r.bat;
      await new Promise((res) => setTimeout(res, 500));
      assert.ok(exists(other.pid), `the ${expect === "batch" ? "important" : "batch"} job lives`);
    } finally {
      r.imp.kill();
      r.bat.kill();
      await r.d.stop();
    }
  }

  test("machine-wide OOM, follow: the kernel kills the batch job the policy chose, not the larger important one", async () => {
    writeFileSync("/proc/sys/vm/drop_caches", "3");
    const free = meminfo().MemFree!;
    writeFileSync("/proc/sys/vm/nr_hugepages", String(hugeBefore + Math.max(0, Math.floor((free - LEFT_MIB * 1024) / meminfo().Hugepagesize!))));
    await scenario({ name: "machine-follow", follow: true, importantMib: 200, batchMib: 100 }, "batch");
  });

  test("machine-wide OOM, option off: the kernel kills the important job", async () => {
    try {
      await scenario({ name: "machine-off", follow: false, importantMib: 200, batchMib: 100 }, "important");
    } finally {
      writeFileSync("/proc/sys/vm/nr_hugepages", String(hugeBefore));
    }
  });

  const LIMIT = { "memory.max": "300M", "memory.swap.max": "0" };

  test("OOM under a parent's memory.max, follow: the kernel kills the batch job", async () => {
    await scenario({ name: "limit-follow", follow: true, importantMib: 150, batchMib: 60, limit: LIMIT }, "batch");
  });

  test("OOM under a parent's memory.max, option off: the kernel kills the important job", async () => {
    await scenario({ name: "limit-off", follow: false, importantMib: 150, batchMib: 60, limit: LIMIT }, "important");
  });

  test("oomkit stopped puts every changed value back; killed with SIGKILL and started again, too", async () => {
    const top = t.mk("restart");
    const batch = t.mk("restart/batch");
    const limited = t.mk("restart/limited", { "memory.max": "200M" });
    const x = t.mk("restart/limited/x");
    const y = t.mk("restart/limited/y");
    const bat = unprotected(() => t.hog({ cgroup: batch, mib: 20, noHugePages: true }));
    const hx = unprotected(() => t.hog({ cgroup: x, mib: 30, noHugePages: true }));
    const hy = unprotected(() => t.hog({ cgroup: y, mib: 10, noHugePages: true }));
    await Promise.all([bat.ready, hx.ready, hy.ready]);
    setOomScoreAdj(bat.pid, 100);
    // "/": priority's victim is the batch job; /limited (it has a memory.max): largest-leaf's is the cgroup x.
    const cfg = (follow: boolean) => config({ follow, priorities: { [top]: -5, [batch]: -10 }, tail: `\n[[attach]]\ncgroup = "${rel(limited)}"\npolicy = "largest-leaf"\n` });
    const raised = async (d: DaemonProc) => {
      await waitAdj(bat.pid, 1000, "the machine's standing victim", d);
      await waitAdj(hx.pid, 1000, "the task of /limited's standing victim, the cgroup x", d);
      await waitFor(() => (oomGroupOf(x) === "1" ? true : undefined), { timeoutMs: GENEROUS_MS, what: "memory.oom.group 1 on x" });
      assert.equal(adjOf(hy.pid), 0);
      assert.equal(oomGroupOf(y), "0");
    };
    const back = (what: string) => {
      assert.equal(adjOf(bat.pid), 100, `${what}: the batch job back to its value before`);
      assert.equal(adjOf(hx.pid), 0, what);
      assert.equal(oomGroupOf(x), "0", what);
    };
    const running: DaemonProc[] = [];
    try {
      const d = await startDaemon({ name: "follow-restart", config: cfg(true) });
      running.push(d);
      await raised(d);
      await d.waitLine(/kernel fallback for \/ is not exact: .*at 1000 too, for the standing victim of /, GENEROUS_MS);
      await d.stop();
      back("after SIGTERM");
      note("restart: values back after SIGTERM");

      const crashed = await startDaemon({ dir: d.dir, config: cfg(true) });
      running.push(crashed);
      await raised(crashed);
      process.kill(crashed.pid, "SIGKILL");
      await crashed.exited;
      assert.equal(adjOf(bat.pid), 1000, "a crash leaves the values raised: the kernel needs them now");
      assert.equal(oomGroupOf(x), "1");

      const again = await startDaemon({ dir: d.dir, config: cfg(false) });
      running.push(again);
      back("after SIGKILL and a start with the option off");
      assert.ok(again.lines().some((l) => /restored oom_score_adj 1000 on pid \d+ to 100 \(left by a previous run\)/.test(l)), again.lines().join("\n"));
      note("restart: values back after SIGKILL and a new start");
    } finally {
      await Promise.all(running.map((r) => r.stop()));
      for (const h of [bat, hx, hy]) h.kill();
    }
  });
});
