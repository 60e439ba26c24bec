/**
 * What one simulated run produced, as plain data: the time series per cgroup and for the
 * machine, the thresholds of the triggers that were armed, every kill (oomkit's and the
 * kernel's, each with its episode record) and the run's summary. `oomkit simulate --json` prints
 * it and the HTML report renders it; `--compare` gives one run per configuration over the same
 * scenario and seed (SimComparison).
 *
 * Contract: every array of a series has one value per entry of `timesMs`; times are virtual
 * milliseconds since the run began; figures are bytes or percent as their names say.
 */
import type { EpisodeRecord } from "../engine/episode.js";

export const SIM_RESULT_SCHEMA = "oomkit.sim-result/1";

/** One sampled cgroup (or the machine, path "/"). */
export interface SimCgroupSeries {
  readonly cgroup: string;
  /** memory.current (for "/": MemTotal − MemFree, the kernel's own use included). */
  readonly memoryBytes: readonly number[];
  /** memory.swap.current (for "/": SwapTotal − SwapFree). */
  readonly swapBytes: readonly number[];
  /** Share of the sample interval in which some task of the group stalled on memory, in percent (from memory.pressure's total). */
  readonly psiSomePct: readonly number[];
  /** Share of the interval in which every task stalled (the `full` line), in percent. */
  readonly psiFullPct: readonly number[];
  /** memory.max at the run's start (null: none). */
  readonly maxBytes: number | null;
}

/** What fires one armed trigger, in the series' units (PSI thresholds as percent of their window). */
export type SimThreshold =
  | { readonly kind: "psi"; readonly trigger: string; readonly cgroup: string; readonly stall: "some" | "full"; readonly thresholdMs: number; readonly windowMs: number; readonly pctOfWindow: number }
  | { readonly kind: "memory-threshold"; readonly trigger: string; readonly cgroup: "/"; readonly memAvailableBelowBytes: number | null; readonly swapFreeBelowBytes: number | null }
  | { readonly kind: "memory-events"; readonly trigger: string; readonly cgroup: string; readonly events: readonly string[] }
  | { readonly kind: "guard-band"; readonly trigger: string; readonly cgroup: string; readonly marginBytes: number | null; readonly marginPercent: number | null };

/** One process (or cgroup) killed, by oomkit or by the model's kernel. */
export interface SimKill {
  /** Virtual ms since the run began. */
  readonly atMs: number;
  readonly by: "oomkit" | "kernel";
  /** A task kill's victim; absent for a cgroup kill. */
  readonly pid?: number;
  readonly comm?: string;
  /** The victim's cgroup, or the cgroup killed. */
  readonly cgroup: string;
  /** The episode record that holds the kill (its `id`), exactly as the daemon reported it. */
  readonly episodeId: string;
}

/** The scenario's word on who should die, and whether the run agreed. */
export interface SimExpectation {
  /** Cgroups or comms that should die (any of them); empty when the scenario names none. */
  readonly shouldDie: readonly string[];
  /** Cgroups or comms that must not die. */
  readonly mustSurvive: readonly string[];
  /** "right": the first victim is in shouldDie and nothing in mustSurvive died; "wrong" otherwise; "no-kill"; "unjudged" when the scenario names nothing. */
  readonly verdict: "right" | "wrong" | "no-kill" | "unjudged";
  readonly why: string;
}

export interface SimSummary {
  /** Virtual ms of the first kill by anyone, or null. */
  readonly firstKillMs: number | null;
  readonly firstKillBy: "oomkit" | "kernel" | null;
  /** Victims in order: "comm (pid) in /cgroup by oomkit". */
  readonly victims: readonly string[];
  readonly oomkitKills: number;
  readonly kernelKills: number;
  /** Machine-wide stall accumulated over the run (memory PSI totals), ms. */
  readonly stallSomeMs: number;
  readonly stallFullMs: number;
  /** Episodes the daemon reported (its own, kills or not). */
  readonly episodes: number;
  readonly expectation: SimExpectation;
}

export interface SimRunResult {
  readonly schema: typeof SIM_RESULT_SCHEMA;
  /** The configuration's label: "default" for the built-in one, else the file as given. */
  readonly label: string;
  readonly scenario: { readonly name: string; readonly description: string; readonly file: string; readonly seed: number; readonly durationMs: number; readonly memTotalBytes: number; readonly swapTotalBytes: number };
  /** Sampling period of the series, virtual ms. */
  readonly sampleMs: number;
  readonly timesMs: readonly number[];
  /** The machine ("/") first, then each cgroup of the scenario in path order. */
  readonly series: readonly SimCgroupSeries[];
  /** MemAvailable of the machine per sample. */
  readonly memAvailableBytes: readonly number[];
  readonly thresholds: readonly SimThreshold[];
  readonly kills: readonly SimKill[];
  /** Every episode record in the order the daemon reported them (the kernel's included). */
  readonly episodes: readonly EpisodeRecord[];
  readonly summary: SimSummary;
}

/** `--compare`: the same scenario and seed under each configuration, in the order given. */
export interface SimComparison {
  readonly schema: "oomkit.sim-compare/1";
  readonly runs: readonly SimRunResult[];
}
