/**
 * The simulator's result (`oomkit simulate`'s SimRunResult, src/simulate/result.ts) as the
 * report's input. The report layer sits below the simulator's, so it names here, structurally,
 * only the fields it reads: a SimRunResult is a SimRunView as it stands, and the simulator's
 * types stay its own.
 *
 * What the page draws from a run: the leaf cgroups stacked, with the rest of the machine's use
 * ("/" less the leaves: the kernel, page cache outside them) on top; the machine's swap and PSI;
 * MemTotal − MemAvailable as a line; PSI and MemAvailable/SwapFree thresholds as lines, and every
 * armed trigger as a note; one marker per kill, opening the episode record that holds it.
 */
import type { EpisodeRecord } from "../../engine/episode.js";
import type { CgroupSeries, Lane, Marker, ReportInput, Threshold } from "./input.js";

export interface SimSeriesView {
  readonly cgroup: string;
  readonly memoryBytes: readonly number[];
  readonly swapBytes: readonly number[];
  readonly psiSomePct: readonly number[];
  readonly psiFullPct: readonly number[];
}

/** An armed trigger; each kind brings its own fields (absent ones are simply not drawn). */
export interface SimThresholdView {
  readonly kind: string;
  readonly trigger: string;
  readonly cgroup: string;
  readonly stall?: string;
  readonly thresholdMs?: number;
  readonly windowMs?: number;
  readonly pctOfWindow?: number;
  readonly memAvailableBelowBytes?: number | null;
  readonly swapFreeBelowBytes?: number | null;
  readonly events?: readonly string[];
  readonly marginBytes?: number | null;
  readonly marginPercent?: number | null;
}

export interface SimKillView {
  readonly atMs: number;
  readonly by: "oomkit" | "kernel";
  readonly pid?: number;
  readonly comm?: string;
  readonly cgroup: string;
  readonly episodeId: string;
}

export interface SimRunView {
  readonly label: string;
  readonly scenario: { readonly name: string; readonly description: string; readonly seed: number; readonly durationMs: number; readonly memTotalBytes: number; readonly swapTotalBytes: number };
  readonly timesMs: readonly number[];
  /** The machine ("/") first, then the scenario's cgroups. */
  readonly series: readonly SimSeriesView[];
  readonly memAvailableBytes: readonly number[];
  readonly thresholds: readonly SimThresholdView[];
  readonly kills: readonly SimKillView[];
  readonly episodes: readonly EpisodeRecord[];
  readonly summary?: { readonly victims: readonly string[]; readonly stallSomeMs: number; readonly stallFullMs: number; readonly expectation?: { readonly verdict: string; readonly why: string } };
}

const MiB = 1024 * 1024;
const mib = (b: number): string => `${Math.round(b / MiB)} MiB`;

/** A percent of each interval back to the cumulative µs counter the lane holds (its first interval is unknown: 0). */
function totalsOf(pct: readonly number[], timesMs: readonly number[]): number[] {
  let total = 0;
  return pct.map((p, i) => (total += i === 0 ? 0 : (p / 100) * ((timesMs[i] as number) - (timesMs[i - 1] as number)) * 1000));
}

/** The series with no other series below them, and the machine's use beyond theirs. */
function stack(run: SimRunView): CgroupSeries[] {
  const others = run.series.filter((s) => s.cgroup !== "/");
  const leaves = others.filter((s) => !others.some((o) => o !== s && o.cgroup.startsWith(`${s.cgroup}/`)));
  const out: CgroupSeries[] = leaves.map((s) => ({ cgroup: s.cgroup, currentBytes: s.memoryBytes }));
  const root = run.series.find((s) => s.cgroup === "/");
  if (root) {
    const rest = root.memoryBytes.map((v, i) => Math.max(0, v - leaves.reduce((sum, l) => sum + (l.memoryBytes[i] ?? 0), 0)));
    out.push({ cgroup: "(rest of the machine: kernel, page cache, other cgroups)", currentBytes: rest });
  }
  return out;
}

function thresholdLines(run: SimRunView): { lines: Threshold[]; notes: string[] } {
  const lines: Threshold[] = [];
  const notes: string[] = [];
  for (const t of run.thresholds) {
    const on = t.cgroup === "/" ? "" : ` on ${t.cgroup}`;
    if (t.kind === "psi" && t.pctOfWindow !== undefined) {
      const text = `${t.trigger}: ${t.stall ?? ""} ${t.thresholdMs ?? "?"} ms in ${t.windowMs ?? "?"} ms${on}`;
      // The chart shows the machine's PSI: a cgroup's trigger is listed, not drawn against it.
      if (t.cgroup === "/") lines.push({ chart: "psi", value: t.pctOfWindow, label: text });
      notes.push(`trigger ${text} (${t.pctOfWindow.toFixed(1)} % of its window)`);
    } else if (t.kind === "memory-threshold") {
      const parts: string[] = [];
      if (typeof t.memAvailableBelowBytes === "number") {
        lines.push({ chart: "memory", value: run.scenario.memTotalBytes - t.memAvailableBelowBytes, label: `${t.trigger}: MemAvailable < ${mib(t.memAvailableBelowBytes)}` });
        parts.push(`MemAvailable < ${mib(t.memAvailableBelowBytes)}`);
      }
      if (typeof t.swapFreeBelowBytes === "number" && run.scenario.swapTotalBytes > 0) {
        lines.push({ chart: "swap", value: run.scenario.swapTotalBytes - t.swapFreeBelowBytes, label: `${t.trigger}: SwapFree < ${mib(t.swapFreeBelowBytes)}` });
        parts.push(`SwapFree < ${mib(t.swapFreeBelowBytes)}`);
      }
      notes.push(`trigger ${t.trigger}: ${parts.join(" and ") || "armed"}`);
    } else if (t.kind === "memory-events") {
      notes.push(`trigger ${t.trigger}: memory.events ${(t.events ?? []).join(", ")}${on}`);
    } else if (t.kind === "guard-band") {
      const margin = typeof t.marginBytes === "number" ? mib(t.marginBytes) : typeof t.marginPercent === "number" ? `${t.marginPercent} %` : "?";
      notes.push(`guard band ${t.trigger}: memory.high ${margin} below memory.max${on}`);
    } else {
      notes.push(`trigger ${t.trigger} (${t.kind})${on}`);
    }
  }
  return { lines, notes };
}

function markersOf(run: SimRunView): Marker[] {
  const byId = new Map(run.episodes.map((e) => [e.id, e]));
  return run.kills.map((k) => {
    const who = k.comm !== undefined ? `${k.comm}${k.pid !== undefined ? ` (pid ${k.pid})` : ""} in ${k.cgroup}` : `cgroup ${k.cgroup}`;
    const episode = byId.get(k.episodeId);
    return { atMs: k.atMs, by: k.by, label: `kill ${who}`, ...(episode ? { episode } : {}) };
  });
}

/** One run as a lane. */
export function laneOf(run: SimRunView): Lane {
  const root = run.series.find((s) => s.cgroup === "/");
  const zeros = run.timesMs.map(() => 0);
  const { lines, notes } = thresholdLines(run);
  const s = run.summary;
  const head = s ? [`${s.expectation && s.expectation.verdict !== "unjudged" ? `${s.expectation.verdict}: ${s.expectation.why}. ` : ""}victims: ${s.victims.join("; ") || "none"}; stall some ${(s.stallSomeMs / 1000).toFixed(1)} s, full ${(s.stallFullMs / 1000).toFixed(1)} s`] : [];
  return {
    name: run.label,
    timesMs: run.timesMs,
    memTotalBytes: run.scenario.memTotalBytes,
    swapTotalBytes: run.scenario.swapTotalBytes,
    cgroups: stack(run),
    memUnavailableBytes: run.memAvailableBytes.map((a) => run.scenario.memTotalBytes - a),
    swapUsedBytes: root?.swapBytes ?? zeros,
    psiSomeTotalUsec: totalsOf(root?.psiSomePct ?? zeros, run.timesMs),
    psiFullTotalUsec: totalsOf(root?.psiFullPct ?? zeros, run.timesMs),
    thresholds: lines,
    markers: markersOf(run),
    notes: [...head, ...notes],
  };
}

/** `oomkit simulate [--compare]`'s runs (one per configuration, same scenario) as one report. */
export function reportInputOf(runs: readonly SimRunView[]): ReportInput {
  const first = runs[0];
  const sc = first?.scenario;
  return {
    title: sc ? sc.name : "simulation",
    ...(sc ? { subtitle: `${sc.description ? `${sc.description} — ` : ""}seed ${sc.seed}, ${(sc.durationMs / 1000).toFixed(0)} s of virtual time, ${mib(sc.memTotalBytes)} RAM${sc.swapTotalBytes > 0 ? `, ${mib(sc.swapTotalBytes)} swap` : ""}` } : {}),
    lanes: runs.map(laneOf),
  };
}
