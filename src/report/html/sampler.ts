/**
 * Makes a report lane from a machine seen through a Host, as the daemon sees it: at each
 * `sample()` it reads memory.current of the cgroups, /proc/meminfo and /proc/pressure/memory with
 * the real parsers. Any Host will do (a SimHost in virtual time, a fixture, a live machine); the
 * time axis is the Host clock's monotonic time since the first sample.
 */
import { OomkitError } from "../../errors.js";
import type { EpisodeRecord } from "../../engine/episode.js";
import { describeAction } from "../../engine/plan.js";
import type { Host } from "../../os/host.js";
import { parseMeminfo, parsePressure } from "../../os/parse/index.js";
import { parseMemoryValue } from "../../os/parse/cgroup.js";
import { CGROUP_FS, CgroupFile, PROC_MEMINFO, cgroupFilePath, cgroupPath, procPressure } from "../../os/paths.js";
import type { CgroupSeries, Lane, Marker, Threshold } from "./input.js";

export interface SamplerOptions {
  /** The cgroups to stack, in order; the leaf cgroups found at each sample when absent. */
  readonly cgroups?: readonly string[];
}

/** The leaf cgroups under `dir` (machine path) as cgroup paths, sorted. */
function leafCgroups(host: Host, dir: string, rel: string, out: string[]): void {
  let subdirs: string[];
  try {
    subdirs = host.readDir(dir).filter((e) => e.isDirectory).map((e) => e.name).sort();
  } catch (e) {
    if (e instanceof OomkitError && e.code === "E_VANISHED") return; // removed while we looked: ignoring
    throw e;
  }
  if (subdirs.length === 0 && rel !== "") out.push(rel);
  for (const s of subdirs) leafCgroups(host, `${dir}/${s}`, `${rel}/${s}`, out);
}

export class LaneSampler {
  readonly #host: Host;
  readonly #fixed: readonly string[] | undefined;
  readonly #times: number[] = [];
  readonly #series = new Map<string, number[]>();
  readonly #swapUsed: number[] = [];
  readonly #some: number[] = [];
  readonly #full: number[] = [];
  #t0: number | undefined;
  #wallAtZero: number | undefined;
  #memTotal = 0;
  #swapTotal = 0;

  constructor(host: Host, options: SamplerOptions = {}) {
    this.#host = host;
    this.#fixed = options.cgroups?.map((c) => cgroupPath(c));
  }

  /** The Host clock's wall time at the first sample (to place episode records on the axis). */
  get wallAtZeroMs(): number | undefined {
    return this.#wallAtZero;
  }

  #current(cg: string): number {
    try {
      return parseMemoryValue(this.#host.readFile(cgroupFilePath(CGROUP_FS, cgroupPath(cg), CgroupFile.memoryCurrent)));
    } catch (e) {
      if (e instanceof OomkitError && e.code === "E_VANISHED") return 0; // a cgroup gone holds nothing
      throw e;
    }
  }

  /** Reads the machine now. A second sample at the same clock time is ignored. */
  sample(): void {
    const now = this.#host.clock.monotonicMs();
    if (this.#t0 === undefined) {
      this.#t0 = now;
      this.#wallAtZero = this.#host.clock.wallMs();
    } else if (now - this.#t0 <= (this.#times.at(-1) ?? -1)) return;
    const n = this.#times.length;
    const names = this.#fixed ?? (() => {
      const out: string[] = [];
      leafCgroups(this.#host, CGROUP_FS, "", out);
      return out;
    })();
    for (const cg of names) if (!this.#series.has(cg)) this.#series.set(cg, new Array<number>(n).fill(0));
    for (const [cg, values] of this.#series) values.push(names.includes(cg) ? this.#current(cg) : 0);
    const mem = parseMeminfo(this.#host.readFile(PROC_MEMINFO));
    this.#memTotal = mem.memTotalBytes;
    this.#swapTotal = mem.swapTotalBytes ?? 0;
    this.#swapUsed.push(Math.max(0, this.#swapTotal - (mem.swapFreeBytes ?? this.#swapTotal)));
    const psi = parsePressure(this.#host.readFile(procPressure("memory")));
    this.#some.push(psi.some.totalUsec);
    this.#full.push(psi.full?.totalUsec ?? 0);
    this.#times.push(now - this.#t0);
  }

  /** The lane so far: the samples taken, with the run's thresholds and markers. */
  lane(opts: { readonly name: string; readonly thresholds?: readonly Threshold[]; readonly markers?: readonly Marker[] }): Lane {
    const cgroups: CgroupSeries[] = [...this.#series].map(([cgroup, values]) => ({ cgroup, currentBytes: [...values] }));
    return {
      name: opts.name,
      timesMs: [...this.#times],
      memTotalBytes: this.#memTotal,
      swapTotalBytes: this.#swapTotal,
      cgroups,
      swapUsedBytes: [...this.#swapUsed],
      psiSomeTotalUsec: [...this.#some],
      psiFullTotalUsec: [...this.#full],
      thresholds: opts.thresholds ?? [],
      markers: opts.markers ?? [],
    };
  }
}

/** The record's place on a lane's axis: its decision's wall time less the wall time at the first sample. */
export function episodeAtMs(record: EpisodeRecord, wallAtZeroMs: number): number {
  const at = Date.parse(record.times.decidedAt);
  if (!Number.isFinite(at)) throw new OomkitError("E_USAGE", `episode ${record.id}: decidedAt ${JSON.stringify(record.times.decidedAt)} is not a time`);
  return at - wallAtZeroMs;
}

/** A marker for an episode record: the kernel's kill, or what oomkit's plan did. */
export function markerFor(record: EpisodeRecord, atMs: number): Marker {
  if (record.kind === "kernel") {
    const k = record.kernelKill;
    const who = k?.comm !== undefined ? `kill ${k.comm}${k.pid !== undefined ? ` (pid ${k.pid})` : ""}` : `kill in ${k?.cgroup ?? record.scope}`;
    return { atMs, by: "kernel", label: who, episode: record };
  }
  const done = record.actions.filter((a) => a.ok).map((a) => describeAction(a.action));
  const label = done.length > 0 ? done.join(", ") : record.dropped ? "dropped: trouble gone" : `no action (${record.chain.at(-1)?.outcome ?? "no policy"})`;
  return { atMs, by: "oomkit", label, episode: record };
}
