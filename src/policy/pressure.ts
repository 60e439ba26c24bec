/**
 * `pressure`: systemd-oomd's choice under memory pressure (oomd_select_by_pgscan_rate).
 *
 * Contract: the candidates are the scope's kill units — leaf cgroups, or `memory.oom.group`
 * cgroups taken whole — as systemd-oomd collects them. Those marked `user.oomd_omit` are never
 * candidates; those marked `user.oomd_avoid` come last. The rest are ordered by reclaim activity,
 * memory.stat pgscan per second over the engine's history — a cgroup without two samples yet (new,
 * or new to oomkit) counts its whole pgscan counter as scanned within the history's window, as
 * systemd-oomd counts a cgroup it first sees (its last pgscan is 0): a hog started moments ago
 * must not lose to a quiet sibling's measured trickle — then by memory.current (its tasks' RssAnon + VmSwap where the kernel has no such
 * file), then by path. A candidate with neither reclaim (pgscan 0)
 * nor usage is passed over: killing it would not relieve pressure. The first killable candidate
 * is killed whole (the verifier spares protected tasks in it). Passes in system-level mode.
 *
 * Differences from systemd-oomd, on purpose: a mark on an ancestor covers the cgroups below it
 * (systemd reads the candidate's own attribute only), and marks are honoured whoever owns the
 * cgroup (systemd ignores them on a cgroup owned by another user than the monitored one; the
 * snapshot does not carry owners).
 */
import * as z from "zod";
import { type CgroupNode, definePolicy } from "./face.js";
import { DEFAULT_HISTORY } from "../engine/history.js";
import { NOT_EXAMINED, byText, desc, firstKillable, killUnits, mib, optionsOf, parseOptionsWith, usageBytes } from "./builtin-util.js";
import { onFirstUse } from "../on-first-use.js";

const NAME = "pressure";

const optionsSchema = onFirstUse(() => z.strictObject({}));

export type PressureOptions = z.output<ReturnType<typeof optionsSchema>>;

interface Candidate {
  readonly unit: CgroupNode;
  readonly avoid: boolean;
  readonly pgscanPerSec: number;
  readonly rateKnown: boolean;
  readonly currentBytes: number;
}

export const pressure = definePolicy<PressureOptions>({
  name: NAME,
  description: "systemd-oomd's way: omit never, avoid last, then the highest reclaim (pgscan) rate, then usage",
  parseOptions: (raw) => parseOptionsWith(NAME, optionsSchema, raw),
  handleOutOfMemory(oc) {
    optionsOf(NAME, optionsSchema, oc.options);
    if (!oc.scope) return oc.pass("no cgroup v2 tree on this machine (system-level mode)");
    const candidates: (Candidate & { readonly note: string })[] = [];
    for (const unit of killUnits(oc)) {
      const pgscan = unit.stat?.pgscan ?? 0;
      // Without memory.current (an old or locked-down kernel), its tasks' anon + swap stand in.
      const current = usageBytes(unit);
      if (pgscan === 0 && current === 0) {
        oc.skip(unit, "no reclaim and no usage: killing it would not relieve pressure");
        continue;
      }
      const rate = oc.rates(unit).pgscanPerSec;
      const avoid = oc.preference(unit).preference === "avoid";
      const perSec = Math.max(0, rate ?? (pgscan * 1000) / DEFAULT_HISTORY.windowMs);
      const scan = rate === undefined ? `pgscan ${pgscan} since first seen (${perSec.toFixed(0)}/s over ${DEFAULT_HISTORY.windowMs / 1000} s; not yet measured)` : `pgscan ${perSec.toFixed(0)}/s`;
      candidates.push({ unit, avoid, pgscanPerSec: perSec, rateKnown: rate !== undefined, currentBytes: current, note: `${avoid ? "avoid; " : ""}${scan}, ${mib(current)} in use` });
    }
    candidates.sort(
      (a, b) => Number(a.avoid) - Number(b.avoid) || desc(a.pgscanPerSec, b.pgscanPerSec) || desc(a.currentBytes, b.currentBytes) || byText(a.unit.path, b.unit.path),
    );
    // Examined from the first (unitRefusal reads every task under a unit) until one can be killed.
    const { pick: best, refused } = firstKillable(oc, candidates, false);
    const left = candidates.filter((c) => !refused.has(c));
    for (const c of left) oc.consider(c.unit, c.pgscanPerSec, c === best ? c.note : `${c.note}; ${NOT_EXAMINED}`);
    oc.ranked(left.map((c) => c.unit));
    if (!best) return oc.pass(`no candidate cgroup under ${oc.scopePath}`);
    const why = `${best.avoid ? "only avoid-marked cgroups left; " : ""}highest reclaim rate (${best.pgscanPerSec.toFixed(0)} pgscan/s${best.rateKnown ? "" : ", its counter since first seen"}) then usage (${mib(best.currentBytes)})`;
    return oc.killCgroup(best.unit, why);
  },
});

export default pressure;
