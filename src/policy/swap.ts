/**
 * `swap`: kill the largest swap user (systemd-oomd's swap rule, oomd's kill_by_swap_usage).
 *
 * Contract: with a cgroup v2 tree, the candidates are the scope's kill units (leaf cgroups, or
 * `memory.oom.group` cgroups taken whole) ordered by memory.swap.current — or, where the kernel
 * has no swap accounting, their tasks' VmSwap summed — with `user.oomd_avoid`-marked ones last
 * and `user.oomd_omit`-marked ones never; the first is killed whole. In system-level mode (no v2
 * tree) the candidates are tasks by VmSwap, and the largest is killed. Only swap above `minBytes`
 * (default: any) counts. Ties go to the first path, or the lower pid. Passes when nothing in the
 * scope uses swap: then swap is not what is short, and the next policy decides.
 */
import * as z from "zod";
import { type CgroupNode, type TaskNode, definePolicy } from "./face.js";
import { NOT_EXAMINED, byText, desc, firstKillable, killUnits, mib, optionsOf, parseOptionsWith } from "./builtin-util.js";
import { onFirstUse } from "../on-first-use.js";

const NAME = "swap";

const optionsSchema = onFirstUse(() =>
  z.strictObject({
    /** Swap use at or below this does not make a candidate (systemd-oomd uses 5 % of SwapTotal). */
    minBytes: z.number().int().nonnegative().default(0),
  }),
);

export type SwapOptions = z.output<ReturnType<typeof optionsSchema>>;

function cgroupSwapBytes(c: CgroupNode): { bytes: number; source: string } {
  const own = c.memory.swapCurrentBytes;
  if (own !== undefined) return { bytes: own, source: "memory.swap.current" };
  let bytes = 0;
  for (const t of c.allTasks()) bytes += t.memory.swapBytes;
  return { bytes, source: "tasks' VmSwap (no memory.swap.current)" };
}

export const swap = definePolicy<SwapOptions>({
  name: NAME,
  description: "the largest swap user: a cgroup by memory.swap.current, or a task by VmSwap in system-level mode",
  parseOptions: (raw) => parseOptionsWith(NAME, optionsSchema, raw),
  handleOutOfMemory(oc) {
    const { minBytes } = optionsOf(NAME, optionsSchema, oc.options);
    if (!oc.scope) {
      let best: { task: TaskNode; bytes: number } | undefined;
      for (const task of oc.tasks()) {
        const bytes = task.memory.swapBytes;
        if (bytes <= minBytes) continue;
        const prot = oc.protectedReason(task);
        if (prot) {
          oc.skip(task, prot);
          continue;
        }
        oc.consider(task, bytes, `VmSwap ${mib(bytes)}`);
        // A tie goes to the lower pid, whatever the order of the visit (oc.tasks()).
        if (!best || bytes > best.bytes || (bytes === best.bytes && task.pid < best.task.pid)) best = { task, bytes };
      }
      if (!best) return oc.pass(`no killable task uses more than ${mib(minBytes)} of swap`);
      return oc.killTask(best.task, `largest swap user: VmSwap ${mib(best.bytes)}`);
    }
    const ranked: { unit: CgroupNode; bytes: number; avoid: boolean; note: string }[] = [];
    for (const unit of killUnits(oc)) {
      const s = cgroupSwapBytes(unit);
      if (s.bytes <= minBytes) continue;
      const avoid = oc.preference(unit).preference === "avoid";
      ranked.push({ unit, bytes: s.bytes, avoid, note: `${avoid ? "avoid; " : ""}${mib(s.bytes)} from ${s.source}` });
    }
    ranked.sort((a, b) => Number(a.avoid) - Number(b.avoid) || desc(a.bytes, b.bytes) || byText(a.unit.path, b.unit.path));
    const { pick: best, refused } = firstKillable(oc, ranked, false);
    for (const r of ranked) if (!refused.has(r)) oc.consider(r.unit, r.bytes, r === best ? r.note : `${r.note}; ${NOT_EXAMINED}`);
    if (!best) return oc.pass(`no killable cgroup under ${oc.scopePath} uses more than ${mib(minBytes)} of swap`);
    return oc.killCgroup(best.unit, `largest swap user: ${mib(best.bytes)}${best.avoid ? " (only avoid-marked cgroups use swap)" : ""}`);
  },
});

export default swap;
