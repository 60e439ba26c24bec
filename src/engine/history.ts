/**
 * A short history of each cgroup's figures, so snapshots carry rates as well as levels (reclaim
 * per second, growth per second, stall added per second) and policies need no clocks of their
 * own. State is plain data keyed by cgroup path, updated by one function, `appendSample`.
 */
import { ROOT_CGROUP, type CgroupPath } from "../os/paths.js";
import type { CgroupRates } from "./policy.js";
import type { CgroupNode } from "./cgroup.js";
import type { Snapshot } from "./snapshot.js";

export interface Sample {
  readonly monoMs: number;
  readonly currentBytes: number | undefined;
  readonly pgscan: number | undefined;
  readonly someTotalUsec: number | undefined;
  readonly fullTotalUsec: number | undefined;
  readonly swapCurrentBytes: number | undefined;
}

export interface HistoryOptions {
  /** Samples older than this (relative to the newest) are dropped. */
  readonly windowMs: number;
  /** At most this many samples per cgroup. */
  readonly maxSamples: number;
}

/** Ten seconds: long enough to smooth one noisy interval, short enough to follow a fast leak. */
export const DEFAULT_HISTORY: HistoryOptions = { windowMs: 10_000, maxSamples: 32 };

/**
 * Adds a sample to a cgroup's series and drops what fell out of the window. A sample that is
 * not newer than the last one replaces it (a clock that did not move adds no information).
 */
export function appendSample(series: readonly Sample[], sample: Sample, opts: HistoryOptions = DEFAULT_HISTORY): readonly Sample[] {
  const last = series[series.length - 1];
  const base = last && sample.monoMs <= last.monoMs ? series.slice(0, -1) : series;
  const out = [...base, sample].filter((s) => sample.monoMs - s.monoMs <= opts.windowMs);
  return Object.freeze(out.slice(-opts.maxSamples));
}

const perSec = (a: number | undefined, b: number | undefined, ms: number): number | undefined =>
  a === undefined || b === undefined || ms <= 0 ? undefined : ((b - a) * 1000) / ms;

/** Rates between the oldest and newest samples of a series; counters that went back (a new cgroup under the same name) give undefined. */
export function ratesOf(series: readonly Sample[]): CgroupRates {
  const first = series[0];
  const last = series[series.length - 1];
  if (!first || !last || first === last) {
    return { growthBytesPerSec: undefined, pgscanPerSec: undefined, memorySomeStallUsecPerSec: undefined, memoryFullStallUsecPerSec: undefined, swapGrowthBytesPerSec: undefined, windowMs: undefined };
  }
  const ms = last.monoMs - first.monoMs;
  const counter = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined && b < a ? undefined : perSec(a, b, ms));
  return {
    growthBytesPerSec: perSec(first.currentBytes, last.currentBytes, ms),
    pgscanPerSec: counter(first.pgscan, last.pgscan),
    memorySomeStallUsecPerSec: counter(first.someTotalUsec, last.someTotalUsec),
    memoryFullStallUsecPerSec: counter(first.fullTotalUsec, last.fullTotalUsec),
    swapGrowthBytesPerSec: perSec(first.swapCurrentBytes, last.swapCurrentBytes, ms),
    windowMs: ms,
  };
}

export function sampleCgroup(c: CgroupNode, monoMs: number): Sample {
  const p = c.pressure.memory;
  return {
    monoMs,
    currentBytes: c.memory.currentBytes,
    pgscan: c.stat?.pgscan,
    someTotalUsec: p?.some.totalUsec,
    fullTotalUsec: p?.full?.totalUsec,
    swapCurrentBytes: c.memory.swapCurrentBytes,
  };
}

/** The machine as a whole, for the root and for system-level mode. */
export function sampleSystem(s: Snapshot): Sample {
  const m = s.system.meminfo;
  const p = s.system.pressure.memory;
  const v = s.vmstat;
  const scan = v && (v.pgscanKswapd !== undefined || v.pgscanDirect !== undefined) ? (v.pgscanKswapd ?? 0) + (v.pgscanDirect ?? 0) : undefined;
  return {
    monoMs: s.takenAtMonoMs,
    currentBytes: m?.memAvailableBytes !== undefined ? m.memTotalBytes - m.memAvailableBytes : undefined,
    pgscan: scan,
    someTotalUsec: p?.some.totalUsec,
    fullTotalUsec: p?.full?.totalUsec,
    swapCurrentBytes: m?.swapTotalBytes !== undefined && m.swapFreeBytes !== undefined ? m.swapTotalBytes - m.swapFreeBytes : undefined,
  };
}

/**
 * How long a cgroup whose rates were asked for goes on being sampled by `updateAsked` without
 * being asked again: ten standing decisions' worth at the idle pace (REDECIDE_MS), so a policy
 * that asks at each decision made ahead keeps its series.
 */
export const ASKED_TTL_MS = 10 * 60_000;

export class History {
  readonly #series = new Map<CgroupPath, readonly Sample[]>();
  readonly #opts: HistoryOptions;
  /** The cgroups whose rates were asked for, and when (the newest sample's time then). */
  readonly #asked = new Map<CgroupPath, number>();
  #lastSampleMs = Number.NEGATIVE_INFINITY;

  constructor(opts: HistoryOptions = DEFAULT_HISTORY) {
    this.#opts = opts;
  }

  /**
   * Samples the machine and only the cgroups whose rates a policy asked for within
   * ASKED_TTL_MS (`rates`), reading nothing of the others. The daemon samples so while it decides
   * ahead: a policy that weighs rates asks for them in its first decision made ahead, long
   * before a trigger. Sampling every cgroup every two seconds was four reads each (a crowded
   * machine's 300 cgroups: 1,200 reads per sample, seconds under TCG and memory pressure,
   * with the daemon's triggers waiting behind them), for rates that the built-in default never
   * asks for.
   */
  updateAsked(s: Snapshot): void {
    const now = s.takenAtMonoMs;
    const cgroups: CgroupNode[] = [];
    for (const [path, at] of this.#asked) {
      // Asked before any sample was taken: from this one on.
      if (!Number.isFinite(at)) this.#asked.set(path, now);
      const c = Number.isFinite(at) && now - at > ASKED_TTL_MS ? undefined : s.cgroup(path);
      if (c) cgroups.push(c);
      else {
        this.#asked.delete(path);
        this.#series.delete(path);
      }
    }
    this.update(s, cgroups);
  }

  /** Samples the machine and every cgroup in a snapshot; forgets cgroups that are gone. */
  update(s: Snapshot, cgroups: Iterable<CgroupNode> = s.cgroups()): void {
    this.#lastSampleMs = s.takenAtMonoMs;
    const seen = new Set<CgroupPath>([ROOT_CGROUP]);
    this.add(ROOT_CGROUP, sampleSystem(s));
    for (const c of cgroups) {
      if (c.isRoot) continue;
      seen.add(c.path);
      this.add(c.path, sampleCgroup(c, s.takenAtMonoMs));
    }
    for (const p of [...this.#series.keys()]) if (!seen.has(p)) this.#series.delete(p);
    // A cgroup gone is asked of no more (cgroups come and go by the thousand on a busy node).
    for (const p of [...this.#asked.keys()]) if (!seen.has(p)) this.#asked.delete(p);
  }

  add(path: CgroupPath, sample: Sample): void {
    this.#series.set(path, appendSample(this.#series.get(path) ?? [], sample, this.#opts));
  }

  forget(path: CgroupPath): void {
    this.#series.delete(path);
    this.#asked.delete(path);
  }

  series(path: CgroupPath): readonly Sample[] {
    return this.#series.get(path) ?? [];
  }

  /** The rates of a cgroup's series; asking keeps the cgroup sampled by `updateAsked`. */
  rates(path: CgroupPath): CgroupRates {
    if (path !== ROOT_CGROUP) this.#asked.set(path, this.#lastSampleMs);
    return ratesOf(this.series(path));
  }
}
