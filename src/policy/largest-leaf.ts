/**
 * `largest-leaf`: kill the biggest workload as a whole, like the kernel's BPF OOM selftest.
 *
 * Contract: among the scope's kill units (leaf cgroups, or `memory.oom.group` cgroups taken as
 * one; the scope itself when it is one), pick the one whose kill frees the most memory that is
 * not page cache — `anon` from memory.stat plus memory.swap.current (with `swap = false`, anon
 * alone; without memory.stat, its tasks' RssAnon + VmSwap) — and kill the whole cgroup. A unit
 * that holds an unkillable task (pid 1, oomkit, a kernel thread, oom_score_adj -1000, omit) is
 * skipped, not half-killed. Ties go to the first path in byte order. Passes in system-level mode
 * (no cgroup v2 tree) and when no unit is killable. Units are examined for unkillable tasks from
 * the largest down, and none smaller than the victim is (their tasks are never read).
 */
import * as z from "zod";
import { type CgroupNode, definePolicy } from "./face.js";
import { NOT_EXAMINED, byText, desc, firstKillable, killUnits, memoryWithoutCache, mib, optionsOf, parseOptionsWith } from "./builtin-util.js";
import { onFirstUse } from "../on-first-use.js";

const NAME = "largest-leaf";

const optionsSchema = onFirstUse(() =>
  z.strictObject({
    /** Count swap in a unit's size (a leak pushed to swap is still the leak). */
    swap: z.boolean().default(true),
    /** Units smaller than this are never chosen (killing a small one rarely ends an OOM). */
    minBytes: z.number().int().nonnegative().default(0),
  }),
);

export type LargestLeafOptions = z.output<ReturnType<typeof optionsSchema>>;

export const largestLeaf = definePolicy<LargestLeafOptions>({
  name: NAME,
  description: "the largest leaf or memory.oom.group cgroup by anon + swap, killed whole; units holding an unkillable task are skipped",
  parseOptions: (raw) => parseOptionsWith(NAME, optionsSchema, raw),
  handleOutOfMemory(oc) {
    const opts = optionsOf(NAME, optionsSchema, oc.options);
    if (!oc.scope) return oc.pass("no cgroup v2 tree on this machine (system-level mode)");
    // Ranked by size first (one memory.stat and swap figure per unit), then examined from the top
    // until one is killable: a unit's tasks are read only when it could be the victim. On a
    // machine of 10,000 tasks that is the largest unit's tasks, not every task in the scope.
    const ranked: { unit: CgroupNode; bytes: number; source: string }[] = [];
    for (const unit of killUnits(oc)) {
      const m = memoryWithoutCache(unit);
      const bytes = opts.swap ? m.bytes : m.bytes - (unit.memory.swapCurrentBytes ?? 0);
      if (bytes < opts.minBytes) {
        oc.skip(unit, `${mib(bytes)} is below minBytes ${mib(opts.minBytes)}`);
        continue;
      }
      ranked.push({ unit, bytes, source: opts.swap ? m.source : "anon" });
    }
    ranked.sort((a, b) => desc(a.bytes, b.bytes) || byText(a.unit.path, b.unit.path));
    const { pick: best, refused } = firstKillable(oc, ranked, true);
    for (const r of ranked) if (!refused.has(r)) oc.consider(r.unit, r.bytes, `${mib(r.bytes)} (${r.source})${r === best ? "" : `; ${NOT_EXAMINED}`}`);
    if (!best) return oc.pass(`no killable leaf or memory.oom.group cgroup under ${oc.scopePath}`);
    return oc.killCgroup(best.unit, `largest unit under ${oc.scopePath}: ${mib(best.bytes)} without page cache`);
  },
});

export default largestLeaf;
