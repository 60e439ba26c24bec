/**
 * What a simulated run leaves for people: the series sampled from the model (read from the
 * model directly, so watching costs the daemon nothing), the kills with their episode records,
 * and the summary. Pure bookkeeping: it decides nothing.
 */
import type { EpisodeRecord, KernelKill } from "../engine/episode.js";
import type { CompiledConfig, TriggerSpec } from "../config/index.js";
import type { SimMachine } from "../sim/machine.js";
import type { KernelKill as SimKernelKill } from "../sim/kernel.js";
import { memAvailablePages } from "../sim/render.js";
import type { SimCgroup } from "../sim/state.js";
import type { Scenario } from "./scenario.js";
import { SIM_RESULT_SCHEMA, type SimCgroupSeries, type SimExpectation, type SimKill, type SimRunResult, type SimThreshold } from "./result.js";

interface Series {
  cgroup: string;
  memoryBytes: number[];
  swapBytes: number[];
  psiSomePct: number[];
  psiFullPct: number[];
  maxBytes: number | null;
  lastSome: number;
  lastFull: number;
}

export class RunRecorder {
  readonly #m: SimMachine;
  readonly #series = new Map<string, Series>();
  readonly timesMs: number[] = [];
  readonly memAvailableBytes: number[] = [];
  readonly kills: SimKill[] = [];
  readonly episodes: EpisodeRecord[] = [];
  #lastSampleMs: number | undefined;
  #kernelSeen = 0;

  constructor(machine: SimMachine) {
    this.#m = machine;
  }

  /** Samples every cgroup of the model now; a cgroup created later gets zeros before it existed. */
  sample(): void {
    const m = this.#m;
    const now = m.nowMs;
    const dtUs = this.#lastSampleMs === undefined ? 0 : (now - this.#lastSampleMs) * 1000;
    const page = m.pageSizeBytes;
    const n = this.timesMs.length;
    for (const cg of m.root.subtree()) {
      let s = this.#series.get(cg.path);
      if (!s) {
        s = { cgroup: cg.path, memoryBytes: Array(n).fill(0), swapBytes: Array(n).fill(0), psiSomePct: Array(n).fill(0), psiFullPct: Array(n).fill(0), maxBytes: Number.isFinite(cg.maxPages) ? cg.maxPages * page : null, lastSome: cg.psi.totalUs("some"), lastFull: cg.psi.totalUs("full") };
        this.#series.set(cg.path, s);
      }
      const some = cg.psi.totalUs("some");
      const full = cg.psi.totalUs("full");
      s.memoryBytes.push(this.#memory(cg) * page);
      s.swapBytes.push((cg === m.root ? m.k.ledger.swapUsedPages : cg.swapUsage) * page);
      s.psiSomePct.push(dtUs > 0 ? round2((100 * (some - s.lastSome)) / dtUs) : 0);
      s.psiFullPct.push(dtUs > 0 ? round2((100 * (full - s.lastFull)) / dtUs) : 0);
      s.lastSome = some;
      s.lastFull = full;
    }
    // A cgroup that went away keeps its series, flat at zero from then on.
    for (const s of this.#series.values()) {
      if (s.memoryBytes.length === n) {
        s.memoryBytes.push(0);
        s.swapBytes.push(0);
        s.psiSomePct.push(0);
        s.psiFullPct.push(0);
      }
    }
    this.timesMs.push(now);
    this.memAvailableBytes.push(memAvailablePages(m.k) * page);
    this.#lastSampleMs = now;
  }

  #memory(cg: SimCgroup): number {
    const l = this.#m.k.ledger;
    return cg === this.#m.root ? l.totalPages - l.freePages : cg.usage;
  }

  /** The model's kernel kills not yet seen, each as the kernel log would show it. */
  takeKernelKills(): SimKernelKill[] {
    const all = this.#m.k.kernelKills;
    const fresh = all.slice(this.#kernelSeen);
    this.#kernelSeen = all.length;
    return fresh;
  }

  /** Notes an episode of the kernel's and its kill. */
  kernel(record: EpisodeRecord, kill: SimKernelKill): void {
    this.episodes.push(record);
    this.kills.push({ atMs: kill.atMs, by: "kernel", pid: kill.pid, comm: kill.comm, cgroup: kill.cgroup, episodeId: record.id });
  }

  /** Notes one of oomkit's episodes; its kills happened at the times the kill port saw them. */
  oomkit(record: EpisodeRecord, killedAt: (key: string) => number | undefined, nowMs: number): void {
    this.episodes.push(record);
    for (const r of record.actions) {
      const a = r.action;
      if (r.dryRun || !r.ok) continue;
      if (a.kind === "kill-task") this.kills.push({ atMs: killedAt(`task:${a.pid}`) ?? nowMs, by: "oomkit", pid: a.pid, comm: a.comm, cgroup: a.cgroup ?? "/", episodeId: record.id });
      else if (a.kind === "kill-cgroup") this.kills.push({ atMs: killedAt(`cgroup:${a.cgroup}`) ?? nowMs, by: "oomkit", cgroup: a.cgroup, episodeId: record.id });
    }
  }

  result(scenario: Scenario, label: string, config: CompiledConfig): SimRunResult {
    const series: SimCgroupSeries[] = [...this.#series.values()]
      .sort((a, b) => (a.cgroup === "/" ? -1 : b.cgroup === "/" ? 1 : a.cgroup < b.cgroup ? -1 : 1))
      .map(({ lastSome: _s, lastFull: _f, ...s }) => s);
    const kills = [...this.kills].sort((a, b) => a.atMs - b.atMs);
    const first = kills[0];
    const root = this.#m.root.psi;
    const l = this.#m.k.ledger;
    const page = this.#m.pageSizeBytes;
    return {
      schema: SIM_RESULT_SCHEMA,
      label,
      scenario: { name: scenario.name, description: scenario.description, file: scenario.file, seed: scenario.seed, durationMs: scenario.durationMs, memTotalBytes: l.totalPages * page, swapTotalBytes: l.swapTotalPages * page },
      sampleMs: scenario.sampleMs,
      timesMs: this.timesMs,
      series,
      memAvailableBytes: this.memAvailableBytes,
      thresholds: config.triggers.flatMap((t) => thresholdOf(t, l.totalPages * page, l.swapTotalPages * page)),
      kills,
      episodes: this.episodes,
      summary: {
        firstKillMs: first?.atMs ?? null,
        firstKillBy: first?.by ?? null,
        victims: kills.map(describeKill),
        oomkitKills: kills.filter((k) => k.by === "oomkit").length,
        kernelKills: kills.filter((k) => k.by === "kernel").length,
        stallSomeMs: Math.round(root.totalUs("some") / 1000),
        stallFullMs: Math.round(root.totalUs("full") / 1000),
        episodes: this.episodes.filter((e) => e.kind !== "kernel").length,
        expectation: judge(scenario.expect, kills),
      },
    };
  }
}

const round2 = (x: number) => Math.round(x * 100) / 100;

export function describeKill(k: SimKill): string {
  return `${k.pid !== undefined ? `${k.comm ?? "?"} (${k.pid}) in ${k.cgroup}` : `cgroup ${k.cgroup}`} by ${k.by}`;
}

/** Whether a kill took `name`: a cgroup path (the kill's cgroup at or below it) or a comm. */
function matches(k: SimKill, name: string): boolean {
  if (name.startsWith("/")) return name === "/" || k.cgroup === name || k.cgroup.startsWith(`${name}/`);
  return k.comm === name;
}

export function judge(expect: Scenario["expect"], kills: readonly SimKill[]): SimExpectation {
  const base = { shouldDie: expect.shouldDie, mustSurvive: expect.mustSurvive };
  if (expect.shouldDie.length === 0 && expect.mustSurvive.length === 0) return { ...base, verdict: "unjudged", why: "the scenario names no one" };
  const first = kills[0];
  if (!first) return { ...base, verdict: "no-kill", why: "nothing was killed" };
  const spared = kills.find((k) => expect.mustSurvive.some((n) => matches(k, n)));
  if (spared) return { ...base, verdict: "wrong", why: `${describeKill(spared)}, which must survive` };
  if (expect.shouldDie.length > 0 && !expect.shouldDie.some((n) => matches(first, n))) return { ...base, verdict: "wrong", why: `the first victim was ${describeKill(first)}, not one of ${expect.shouldDie.join(", ")}` };
  return { ...base, verdict: "right", why: `the first victim was ${describeKill(first)}` };
}

/** A kill of the model's kernel as the kernel log would report it (what the kernel observer builds from kmsg). */
export function kernelKillFact(k: SimKernelKill): KernelKill {
  const memcg = typeof k.constraint === "object" ? k.constraint.memcg : undefined;
  return {
    seenBy: ["kmsg"],
    pid: k.pid,
    comm: k.comm,
    cgroup: k.cgroup,
    ...(memcg !== undefined ? { oomMemcg: memcg } : {}),
    constraint: memcg !== undefined ? "CONSTRAINT_MEMCG" : "CONSTRAINT_NONE",
    message: memcg !== undefined ? "Memory cgroup out of memory" : "Out of memory",
    ...(k.group !== undefined ? { oomGroup: k.group } : {}),
  };
}

function where(t: TriggerSpec): string {
  return t.where.kind === "machine" ? "/" : t.where.kind === "cgroup" ? t.where.path : t.where.glob;
}

function below(t: { belowPercent?: number; belowBytes?: number } | undefined, total: number): number | null {
  if (!t) return null;
  const parts = [t.belowPercent !== undefined ? (t.belowPercent / 100) * total : undefined, t.belowBytes].filter((x): x is number => x !== undefined);
  return parts.length > 0 ? Math.min(...parts) : null;
}

function thresholdOf(t: TriggerSpec, memTotal: number, swapTotal: number): SimThreshold[] {
  switch (t.kind) {
    case "psi":
      return [{ kind: "psi", trigger: t.name, cgroup: where(t), stall: t.stall, thresholdMs: t.thresholdUsec / 1000, windowMs: t.windowUsec / 1000, pctOfWindow: round2((100 * t.thresholdUsec) / t.windowUsec) }];
    case "memory-threshold":
      return [{ kind: "memory-threshold", trigger: t.name, cgroup: "/", memAvailableBelowBytes: below(t.memAvailable, memTotal), swapFreeBelowBytes: swapTotal > 0 ? below(t.swapFree, swapTotal) : null }];
    case "memory-events":
      return [{ kind: "memory-events", trigger: t.name, cgroup: where(t), events: [...t.events] }];
    case "guard-band":
      return [{ kind: "guard-band", trigger: t.name, cgroup: where(t), marginBytes: "bytes" in t.margin ? t.margin.bytes : null, marginPercent: "percent" in t.margin ? t.margin.percent : null }];
    default: {
      const never: never = t;
      return never;
    }
  }
}
