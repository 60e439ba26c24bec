/**
 * Report input from real simulated runs, for the report's tests: the model machine (SimMachine,
 * SimHost) in virtual time, the engine with the built-in default deciding live through the
 * simulator's kill port, and episode records made by the engine (and, for the model kernel's own
 * kills, by the report's kernelEpisode). No figure here is written by hand but the scenario.
 *
 * The trigger is the test's, not the daemon's (the simulator's driving of the daemon is another
 * issue's work): MemAvailable below a share of MemTotal, checked every sample.
 */
import { Engine } from "../../src/engine/engine.js";
import type { EpisodeRecord, KernelKill } from "../../src/engine/episode.js";
import { LiveExecutor } from "../../src/engine/executor.js";
import { takeSnapshot } from "../../src/engine/snapshot.js";
import { VictimRegistry } from "../../src/engine/victims.js";
import { parseMeminfo } from "../../src/os/parse/index.js";
import { PROC_MEMINFO } from "../../src/os/paths.js";
import { kernelPolicy } from "../../src/policy/kernel.js";
import type { Lane, Marker, ReportInput } from "../../src/report/html/input.js";
import { LaneSampler, episodeAtMs, markerFor } from "../../src/report/html/sampler.js";
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

/** One configuration's run: its lane, and the records in the order they were made. */
export async function simulatedLane(o: RunOptions): Promise<{ lane: Lane; records: EpisodeRecord[] }> {
  const m = machine();
  const host = new SimHost(m);
  const sampler = new LaneSampler(host);
  const engine = new Engine({ defaultPolicy: { policy: kernelPolicy, options: {} } });
  const victims = new VictimRegistry();
  const executor = new LiveExecutor(new SimKillBackend(host), victims, { sigtermGraceMs: 0, victimTimeoutMs: 2000 }, () => host.clock.monotonicMs());
  const records: EpisodeRecord[] = [];
  const markers: Marker[] = [];
  let kernelSeen = 0;
  const end = o.durationMs ?? 30_000;
  sampler.sample();
  const zero = sampler.wallAtZeroMs ?? 0;
  while (host.clock.monotonicMs() < end) {
    host.advance(o.sampleMs ?? 250);
    sampler.sample();
    for (const k of m.k.kernelKills.slice(kernelSeen)) {
      const r = kernelEpisode(seenKill(k), "/", host.clock.wallMs(), `k${kernelSeen}`);
      records.push(r);
      markers.push(markerFor(r, k.atMs));
      kernelSeen++;
    }
    if (o.memAvailableShare === undefined) continue;
    const mem = parseMeminfo(host.readFile(PROC_MEMINFO));
    const threshold = mem.memTotalBytes * o.memAvailableShare;
    if ((mem.memAvailableBytes ?? Infinity) >= threshold) continue;
    const cause = { kind: "system" as const, trigger: "memavailable", message: `MemAvailable below ${o.memAvailableShare * 100}% of MemTotal`, figures: { memAvailableBytes: mem.memAvailableBytes ?? 0, thresholdBytes: threshold } };
    const r = await engine.handleOom({ snapshot: takeSnapshot(host), scope: "/", cause, mode: "live", executor });
    records.push(r);
    markers.push(markerFor(r, episodeAtMs(r, zero)));
    sampler.sample();
  }
  const memTotal = m.k.ledger.totalPages * m.pageSizeBytes;
  const thresholds = o.memAvailableShare === undefined ? [] : [{ chart: "memory" as const, value: memTotal * (1 - o.memAvailableShare), label: `MemAvailable < ${o.memAvailableShare * 100}%` }];
  return { lane: sampler.lane({ name: o.name, thresholds, markers }), records };
}

/** The kernel alone against oomkit's default with a MemAvailable trigger, on one time axis. */
export async function compareInput(): Promise<ReportInput> {
  const a = await simulatedLane({ name: "kernel only" });
  const b = await simulatedLane({ name: "oomkit default, MemAvailable < 10%", memAvailableShare: 0.1 });
  return { title: "leak among bystanders (zram)", subtitle: "seed 14, 30 s of virtual time, sampled every 250 ms", lanes: [a.lane, b.lane] };
}
