/**
 * What the simulation report page shows, as plain data: the renderer's whole input. A producer
 * (`oomkit simulate --report`) samples the simulated machine along virtual time and hands over
 * the episode records the daemon wrote; nothing here is computed by the page itself except unit
 * conversions. Every string in it (cgroup names, comms, reasons) is treated as hostile by the
 * renderer.
 */
import type { EpisodeRecord } from "../../engine/episode.js";

/** One series sampled at the lane's `timesMs`: same length, one value per sample. */
export type Samples = readonly number[];

/** A cgroup's memory over time; the page stacks these in the order given. */
export interface CgroupSeries {
  /** The cgroup's path ("/batch/job-1"); shown as given, escaped. */
  readonly cgroup: string;
  /** memory.current in bytes at each sample. */
  readonly currentBytes: Samples;
}

/**
 * A trigger's threshold as a horizontal line on one of the charts, in that chart's unit:
 * bytes of memory in use ("memory"), bytes of swap in use ("swap"), or percent of stall per
 * sample interval ("psi"). A MemAvailable threshold is drawn as `memTotalBytes − threshold`.
 */
export interface Threshold {
  readonly chart: "memory" | "swap" | "psi";
  readonly value: number;
  /** What it is, e.g. "psi full 100ms/1s on /" or "MemAvailable < 10%". */
  readonly label: string;
}

/**
 * A moment worth a marker: a kill by oomkit or by the kernel's OOM killer, or an oomkit
 * episode that killed nothing (it reclaimed, was dropped, or passed to the kernel).
 */
export interface Marker {
  /** Virtual time since the run's start, in ms (the lane's time axis). */
  readonly atMs: number;
  readonly by: "oomkit" | "kernel";
  /** Short text on the marker, e.g. "kill leak (pid 104)". */
  readonly label: string;
  /**
   * The record the marker opens: oomkit's episode, or the kernel-kind record the daemon wrote
   * for the kernel's kill. Absent only when the daemon recorded no episode for a kernel kill the
   * model made; the marker then opens its label alone.
   */
  readonly episode?: EpisodeRecord;
}

/** One configuration's run: for `--compare`, one lane each, drawn on a shared time axis. */
export interface Lane {
  /** The configuration's name (its file, or "default"). */
  readonly name: string;
  /** Sample times in ms of virtual time since the run's start, increasing. */
  readonly timesMs: Samples;
  readonly memTotalBytes: number;
  /** The machine's swap size (0 for none); the swap chart is left out when 0. */
  readonly swapTotalBytes: number;
  /** Leaf cgroups (or the ones the scenario names), stacked in this order. */
  readonly cgroups: readonly CgroupSeries[];
  /**
   * MemTotal − MemAvailable at each sample, drawn as a line over the stack (what a MemAvailable
   * threshold compares against); optional.
   */
  readonly memUnavailableBytes?: Samples;
  /** Swap in use (SwapTotal − SwapFree) in bytes at each sample. */
  readonly swapUsedBytes: Samples;
  /**
   * The machine's PSI memory `total=` counters (µs, cumulative, as /proc/pressure/memory shows
   * them) at each sample; the page draws their increase per interval as a percent.
   */
  readonly psiSomeTotalUsec: Samples;
  readonly psiFullTotalUsec: Samples;
  readonly thresholds: readonly Threshold[];
  readonly markers: readonly Marker[];
  /** Lines of text under the lane's name: the run's summary, triggers that have no line on a chart. */
  readonly notes?: readonly string[];
}

export interface ReportInput {
  /** The page's heading: the scenario's name or file. */
  readonly title: string;
  /** A line under the heading (seed, duration, oomkit version...); optional. */
  readonly subtitle?: string;
  /** At least one lane. */
  readonly lanes: readonly Lane[];
}
