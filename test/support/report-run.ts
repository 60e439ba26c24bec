/**
 * Report input from real simulated runs, for the report's tests: the model machine (SimMachine,
 * SimHost) in virtual time, the engine with the built-in default deciding live through the
 * simulator's kill port, and episode records made by the engine (and, for the model kernel's own
 * kills, by the report's kernelEpisode). No figure here is written by hand but the scenario.
 *
 * The run comes out in the shape of `oomkit simulate`'s result and reaches the page through the
 * same adapter (reportInputOf). The trigger is the test's, not the daemon's (the simulator's
 * driving of the daemon is another worktree's work): MemAvailable below a share of MemTotal,
 * checked every sample.
 */
import { Engine } from "../../src/engine/engine.js";
import type { EpisodeRecord, KernelKill } from "../../src/engine/episode.js";
import { LiveExecutor } from "../../src/engine/executor.js";
import { takeSnapshot } from "../../src/engine/snapshot.js";
import { VictimRegistry } from "../../src/engine/victims.js";
import { parseMemoryValue } from "../../src/os/parse/cgroup.js";
import { parseMeminfo, parsePressure } from "../../src/os/parse/index.js";
import { CGROUP_FS, CgroupFile, type CgroupFileName, PROC_MEMINFO, cgroupFilePath, cgroupPath, procPressure } from "../../src/os/paths.js";
import { kernelPolicy } from "../../src/policy/kernel.js";
import { type SimKillView, type SimRunView, reportInputOf } from "../../src/report/html/from-sim.js";
import type { ReportInput } from "../../src/report/html/input.js";
import { kernelEpisode } from "../../src/report/kernel-record.js";
import type { KernelKill as SimKernelKill } from "../../src/sim/kernel.js";
import { SimKillBackend } from "../../src/sim/kill-backend.js";
import { SimMachine } from "../../src/sim/machine.js";
import { SimHost } from "../../src/sim/sim-host.js";

const MiB = 1024 * 1024;
/** Hostile names: the page must show them as text. */
export const HOSTILE_COMM = "</script><b>x";
export const HOSTILE_CGROUP = "/batch/<img src=x onerror=alert(1)>";

/** A leak among bystanders on 1 GiB with zram: the leak's comm and cgroup are hostile. */
function machine(): SimMachine {
  const m = new SimMachine({ memTotalBytes: 1024 * MiB, swap: { kind: "zram", totalBytes: 256 * MiB }, seed: 14 });
  m.addCgroup("/system/db", {});
  m.addCgroup("/web", {});
  m.addCgroup(HOSTILE_CGROUP, {});
  m.addTask({ comm: "postgres", cgroup: "/system/db", curve: { kind: "steady", bytes: 260 * MiB } });
  m.addTask({ comm: "nginx", cgroup: "/web", curve: { kind: "steady", bytes: 120 * MiB } });
  m.addTask({ comm: HOSTILE_COMM, cgroup: HOSTILE_CGROUP, curve: { kind: "leak", startBytes: 10 * MiB, bytesPerSec: 40 * MiB } });
  return m;
}

/** The model kernel's kill as the daemon's kernel observer reports it from the kernel log. */
function seenKill(k: SimKernelKill): KernelKill {
  const memcg = k.constraint === "global" ? undefined : k.constraint.memcg;
  return {
    seenBy: ["kmsg"],
    pid: k.pid,
    comm: k.comm,
    cgroup: k.cgroup,
    constraint: memcg ? "CONSTRAINT_MEMCG" : "CONSTRAINT_NONE",
    message: memcg ? "Memory cgroup out of memory" : "Out of memory",
    ...(memcg ? { oomMemcg: memcg } : {}),
    ...(k.group ? { oomGroup: k.group } : {}),
  };
}

export interface RunOptions {
  readonly name: string;
  /** Declare an OOM when MemAvailable falls below this share of MemTotal; no oomkit when absent. */
  readonly memAvailableShare?: number;
  readonly durationMs?: number;
  readonly sampleMs?: number;
}

const CGROUPS = ["/", "/batch", HOSTILE_CGROUP, "/system", "/system/db", "/web"];

/** Reads what `oomkit simulate` samples, through the Host: per cgroup and for the machine ("/"). */
class Sampler {
  readonly timesMs: number[] = [];
  readonly series = CGROUPS.map((cgroup) => ({ cgroup, memoryBytes: [] as number[], swapBytes: [] as number[], psiSomePct: [] as number[], psiFullPct: [] as number[], lastSome: 0, lastFull: 0 }));
  readonly memAvailableBytes: number[] = [];
  constructor(readonly host: SimHost) {}

  sample(): void {
    const h = this.host;
    const now = h.clock.monotonicMs();
    const dtUs = ((now - (this.timesMs.at(-1) ?? now)) || 1) * 1000;
    const mem = parseMeminfo(h.readFile(PROC_MEMINFO));
    this.memAvailableBytes.push(mem.memAvailableBytes ?? 0);
    for (const s of this.series) {
      const root = s.cgroup === "/";
      const file = (f: CgroupFileName) => h.readFile(cgroupFilePath(CGROUP_FS, cgroupPath(s.cgroup), f));
      s.memoryBytes.push(root ? mem.memTotalBytes - (mem.memFreeBytes ?? 0) : parseMemoryValue(file(CgroupFile.memoryCurrent)));
      s.swapBytes.push(root ? (mem.swapTotalBytes ?? 0) - (mem.swapFreeBytes ?? 0) : parseMemoryValue(file(CgroupFile.memorySwapCurrent)));
      const psi = parsePressure(root ? h.readFile(procPressure("memory")) : file(CgroupFile.memoryPressure));
      const some = psi.some.totalUsec;
      const full = psi.full?.totalUsec ?? 0;
      s.psiSomePct.push(this.timesMs.length === 0 ? 0 : ((some - s.lastSome) / dtUs) * 100);
      s.psiFullPct.push(this.timesMs.length === 0 ? 0 : ((full - s.lastFull) / dtUs) * 100);
      s.lastSome = some;
      s.lastFull = full;
    }
    this.timesMs.push(now);
  }
}

/** One configuration's run, in the shape of `oomkit simulate`'s result (src/report/html/from-sim.ts). */
export async function simulatedRun(o: RunOptions): Promise<SimRunView> {
  const m = machine();
  const host = new SimHost(m);
  const sampler = new Sampler(host);
  const engine = new Engine({ defaultPolicy: { policy: kernelPolicy, options: {} } });
  const executor = new LiveExecutor(new SimKillBackend(host), new VictimRegistry(), { sigtermGraceMs: 0, victimTimeoutMs: 2000 }, () => host.clock.monotonicMs());
  const episodes: EpisodeRecord[] = [];
  const kills: SimKillView[] = [];
  const end = o.durationMs ?? 30_000;
  const mem0 = parseMeminfo(host.readFile(PROC_MEMINFO));
  const wallAtZero = host.clock.wallMs();
  sampler.sample();
  while (host.clock.monotonicMs() < end) {
    host.advance(o.sampleMs ?? 250);
    for (const k of m.k.kernelKills.slice(kills.filter((x) => x.by === "kernel").length)) {
      const r = kernelEpisode(seenKill(k), "/", wallAtZero + k.atMs, `k${episodes.length}`);
      episodes.push(r);
      kills.push({ atMs: k.atMs, by: "kernel", pid: k.pid, comm: k.comm, cgroup: k.cgroup, episodeId: r.id });
    }
    const mem = parseMeminfo(host.readFile(PROC_MEMINFO));
    const threshold = mem.memTotalBytes * (o.memAvailableShare ?? 0);
    if (o.memAvailableShare !== undefined && (mem.memAvailableBytes ?? Infinity) < threshold) {
      const cause = { kind: "system" as const, trigger: "memavailable", message: `MemAvailable below ${o.memAvailableShare * 100}% of MemTotal`, figures: { memAvailableBytes: mem.memAvailableBytes ?? 0, thresholdBytes: threshold } };
      const r = await engine.handleOom({ snapshot: takeSnapshot(host), scope: "/", cause, mode: "live", executor });
      episodes.push(r);
      for (const a of r.actions) {
        if (a.ok && a.action.kind === "kill-task") kills.push({ atMs: Date.parse(r.times.decidedAt) - wallAtZero, by: "oomkit", pid: a.action.pid, comm: a.action.comm, cgroup: a.action.cgroup ?? "/", episodeId: r.id });
      }
    }
    sampler.sample();
  }
  const thresholds = o.memAvailableShare === undefined ? [] : [{ kind: "memory-threshold", trigger: "memavailable", cgroup: "/", memAvailableBelowBytes: mem0.memTotalBytes * o.memAvailableShare, swapFreeBelowBytes: null }];
  return {
    label: o.name,
    scenario: { name: "leak among bystanders (zram)", description: "a leak in a hostile-named cgroup beside a database and a web server", seed: m.seed, durationMs: end, memTotalBytes: mem0.memTotalBytes, swapTotalBytes: mem0.swapTotalBytes ?? 0 },
    timesMs: sampler.timesMs,
    series: sampler.series.map(({ lastSome: _s, lastFull: _f, ...s }) => s),
    memAvailableBytes: sampler.memAvailableBytes,
    thresholds,
    kills,
    episodes,
  };
}

/** The kernel alone against oomkit's default with a MemAvailable trigger, on one time axis. */
export async function compareRuns(): Promise<SimRunView[]> {
  return [await simulatedRun({ name: "kernel only" }), await simulatedRun({ name: "oomkit default, MemAvailable < 10%", memAvailableShare: 0.1 })];
}

export async function compareInput(): Promise<ReportInput> {
  return reportInputOf(await compareRuns());
}
