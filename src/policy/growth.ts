/**
 * `growth`: oomd's size-or-growth ranking (kill_by_memory_size_or_growth).
 *
 * Contract: the candidates are the scope's kill units (leaf cgroups, or `memory.oom.group`
 * cgroups taken whole). Each falls in one of three phases, earlier phases first:
 *  1. size: memory.current at least `sizeThresholdPercent` % of all candidates' usage together,
 *     ranked by effective usage;
 *  2. growth: grown by at least `minGrowthRatio` over the engine's history and among the
 *     largest `100 - growingSizePercentile` % of candidates by effective usage, ranked by growth;
 *  3. the rest, ranked by effective usage.
 * Usage is memory.current (its tasks' RssAnon + VmSwap where the kernel has no such file).
 * Effective usage is usage less its protection, min(memory.current, max(memory.min,
 * memory.low)). Growth is memory.current now over memory.current at the start of the history
 * window (oomd divides by a decaying average); a cgroup without two samples has no growth.
 * Marks come before phases, as in oomd: `trusted.oomd_prefer` first, `trusted.oomd_avoid` /
 * `user.oomd_avoid` last, omit-marked never. Ties go to the first path. The first killable
 * candidate is killed whole. Passes in system-level mode.
 */
import * as z from "zod";
import { type CgroupNode, type OomControl, PREFERENCE_ORDER, definePolicy } from "./face.js";
import { byText, desc, killUnits, mib, optionsOf, parseOptionsWith, unitRefusal, usageBytes } from "./builtin-util.js";
import { onFirstUse } from "../on-first-use.js";

const NAME = "growth";

const percent = () => z.number().min(0).max(100);

const optionsSchema = onFirstUse(() =>
  z.strictObject({
    /** oomd's size_threshold: a cgroup this share of the candidates' total usage goes first. */
    sizeThresholdPercent: percent().default(50),
    /** oomd's growing_size_percentile: only cgroups above this percentile by size may be killed for growth. */
    growingSizePercentile: percent().default(80),
    /** oomd's min_growth_ratio: current usage over earlier usage. */
    minGrowthRatio: z.number().min(1).default(1.25),
  }),
);

export type GrowthOptions = z.output<ReturnType<typeof optionsSchema>>;

export type GrowthPhase = "size" | "growth" | "rest";
const PHASE_ORDER: Readonly<Record<GrowthPhase, number>> = { size: 0, growth: 1, rest: 2 };

export interface GrowthFigures {
  readonly currentBytes: number;
  readonly effectiveBytes: number;
  /** current / earlier; undefined without history. */
  readonly ratio: number | undefined;
}

/** Usage, effective usage and growth ratio of one cgroup. */
export function growthFigures(oc: OomControl<unknown>, c: CgroupNode): GrowthFigures {
  const m = c.memory;
  const current = usageBytes(c);
  const protection = Math.min(current, Math.max(m.minBytes ?? 0, m.lowBytes ?? 0));
  const r = oc.rates(c);
  let ratio: number | undefined;
  if (r.growthBytesPerSec !== undefined && r.windowMs !== undefined && r.windowMs > 0) {
    const earlier = current - (r.growthBytesPerSec * r.windowMs) / 1000;
    ratio = earlier > 0 ? current / earlier : current > 0 ? Number.POSITIVE_INFINITY : 1;
  }
  return { currentBytes: current, effectiveBytes: current - protection, ratio };
}

/**
 * The phase of each candidate, as oomd decides it: thresholds from the whole candidate set.
 * The growth cut is the effective usage of the candidate at index ceil(n × (100 - P) / 100) - 1
 * in descending order.
 */
export function phases(figures: readonly GrowthFigures[], opts: GrowthOptions): GrowthPhase[] {
  const total = figures.reduce((s, f) => s + f.currentBytes, 0);
  const sizeCut = (total * opts.sizeThresholdPercent) / 100;
  const byEffective = figures.map((f) => f.effectiveBytes).sort((a, b) => b - a);
  const nth = Math.max(0, Math.ceil((figures.length * (100 - opts.growingSizePercentile)) / 100) - 1);
  const growthCut = byEffective[Math.min(nth, byEffective.length - 1)] ?? 0;
  return figures.map((f) => {
    if (f.currentBytes >= sizeCut) return "size";
    if (f.ratio !== undefined && f.ratio >= opts.minGrowthRatio && f.effectiveBytes >= growthCut) return "growth";
    return "rest";
  });
}

export const growth = definePolicy<GrowthOptions>({
  name: NAME,
  description: "oomd's size-or-growth: a cgroup above a share of the total first, else the fastest grower among the largest, else the largest",
  parseOptions: (raw) => parseOptionsWith(NAME, optionsSchema, raw),
  handleOutOfMemory(oc) {
    const opts = optionsOf(NAME, optionsSchema, oc.options);
    if (!oc.scope) return oc.pass("no cgroup v2 tree on this machine (system-level mode)");
    const units: CgroupNode[] = [];
    for (const unit of killUnits(oc)) {
      const refusal = unitRefusal(oc, unit, false);
      if (refusal) oc.skip(unit, refusal);
      else units.push(unit);
    }
    const figures = units.map((u) => growthFigures(oc, u));
    const phase = phases(figures, opts);
    const ranked = units.map((unit, i) => {
      const f = figures[i] as GrowthFigures;
      const p = phase[i] as GrowthPhase;
      const pref = oc.preference(unit).preference;
      const key = p === "growth" ? f.ratio : f.effectiveBytes;
      const ratio = f.ratio === undefined ? "no growth figure yet" : `growth ×${f.ratio.toFixed(2)}`;
      oc.consider(unit, f.effectiveBytes, `${pref === "normal" ? "" : `${pref}; `}phase ${p}; ${mib(f.effectiveBytes)} effective; ${ratio}`);
      return { unit, f, p, key, pref };
    });
    ranked.sort(
      (a, b) =>
        PREFERENCE_ORDER[a.pref] - PREFERENCE_ORDER[b.pref] ||
        PHASE_ORDER[a.p] - PHASE_ORDER[b.p] ||
        desc(a.key, b.key) ||
        desc(a.f.effectiveBytes, b.f.effectiveBytes) ||
        byText(a.unit.path, b.unit.path),
    );
    oc.ranked(ranked.map((r) => r.unit));
    const best = ranked[0];
    if (!best) return oc.pass(`no killable cgroup under ${oc.scopePath}`);
    const why =
      best.p === "size"
        ? `${mib(best.f.currentBytes)} is at least ${opts.sizeThresholdPercent}% of the candidates' usage`
        : best.p === "growth"
          ? `grew ×${(best.f.ratio ?? 0).toFixed(2)} (at least ×${opts.minGrowthRatio}) among the largest`
          : `largest effective usage (${mib(best.f.effectiveBytes)})`;
    return oc.killCgroup(best.unit, `${best.pref === "prefer" ? "preferred; " : ""}${why}`);
  },
});

export default growth;
