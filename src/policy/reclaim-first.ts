/**
 * `reclaim-first`: ask the kernel to reclaim from the scope (memory.reclaim) before anyone is
 * killed.
 *
 * Contract: the plan is one reclaim of the scope: `bytes` when configured, else `share` of the
 * scope's usage (memory.current; MemTotal - MemAvailable for the root), at most `maxBytes`, and
 * no more than memory.stat says is reclaimable (page cache, plus anonymous memory when the scope
 * may still swap). It passes — so the next policy in the chain kills — when
 *  - the machine has no cgroup v2 tree (system-level mode: no memory.reclaim);
 *  - memory.stat shows nothing reclaimable (no page cache and no swap room);
 *  - it already reclaimed in this scope less than `cooldownMs` ago: an OOM that is back so soon
 *    was not solved by reclaim, and reclaiming again would only delay the kill.
 * A reclaim that frees nothing does not count (the bpf_memory_freed rule): the engine runs the
 * next policy at once. The cooldown is the only state, kept per attachment and per scope path;
 * the same snapshot always gets the same answer.
 */
import * as z from "zod";
import { type CgroupNode, type CgroupPath, type OomControl, definePolicy } from "./face.js";
import { MiB, mib, optionsOf, parseOptionsWith, scopeUsageBytes } from "./builtin-util.js";
import { onFirstUse } from "../on-first-use.js";

const NAME = "reclaim-first";

const optionsSchema = onFirstUse(() =>
  z.strictObject({
    /** A fixed amount to reclaim; overrides share. */
    bytes: z.number().int().positive().optional(),
    /** The share of the scope's usage to reclaim: 10 % is about what a guard band below memory.max leaves. */
    share: z.number().gt(0).max(1).default(0.1),
    /** A single memory.reclaim write blocks until done; bigger requests take seconds under pressure. */
    maxBytes: z.number().int().positive().default(1024 * MiB),
    /** After a reclaim, an OOM in the same scope within this time goes straight to the next policy. */
    cooldownMs: z.number().int().nonnegative().default(10_000),
  }),
);

export type ReclaimFirstOptions = z.output<ReturnType<typeof optionsSchema>>;

/** When each scope was last reclaimed (snapshot monotonic ms), per attachment's options object. */
const lastReclaim = new WeakMap<object, Map<CgroupPath, number>>();

/**
 * Whether to reclaim now, given when this scope was last reclaimed. The same instant (a second
 * explain of one snapshot) is the same decision, not a repeat; a clock that went back starts over.
 */
export function reclaimAllowed(lastMonoMs: number | undefined, nowMonoMs: number, cooldownMs: number): boolean {
  if (lastMonoMs === undefined || nowMonoMs <= lastMonoMs) return true;
  return nowMonoMs - lastMonoMs >= cooldownMs;
}

/** What memory.stat says reclaim can reach: page cache, plus anon when swap has room. undefined when unknown. */
export function reclaimableBytes(oc: OomControl<unknown>, c: CgroupNode): number | undefined {
  const stat = c.stat;
  if (stat?.fileBytes === undefined) return undefined;
  const swapFree = oc.snapshot.system.meminfo?.swapFreeBytes ?? 0;
  const m = c.memory;
  const cgroupRoom = m.swapMaxBytes === undefined ? Number.POSITIVE_INFINITY : m.swapMaxBytes - (m.swapCurrentBytes ?? 0);
  const canSwap = swapFree > 0 && cgroupRoom > 0;
  return stat.fileBytes + (canSwap ? (stat.anonBytes ?? 0) : 0);
}

export const reclaimFirst = definePolicy<ReclaimFirstOptions>({
  name: NAME,
  description: "memory.reclaim on the scope before killing; passes to the next policy when reclaim is unavailable, pointless or just failed",
  parseOptions: (raw) => parseOptionsWith(NAME, optionsSchema, raw),
  handleOutOfMemory(oc) {
    const opts = optionsOf(NAME, optionsSchema, oc.options);
    const scope = oc.scope;
    if (!scope) return oc.pass("memory.reclaim needs a cgroup v2 tree (system-level mode)");
    const memo = typeof oc.options === "object" && oc.options !== null ? memoFor(oc.options) : undefined;
    const last = memo?.get(scope.path);
    const now = oc.now.monoMs;
    if (!reclaimAllowed(last, now, opts.cooldownMs)) {
      return oc.pass(`reclaimed ${scope.path} ${Math.round(now - (last ?? now))} ms ago and the OOM is back: leaving it to the next policy`);
    }
    const usage = scopeUsageBytes(oc);
    let amount = opts.bytes ?? Math.floor((usage ?? 0) * opts.share);
    amount = Math.min(amount, opts.maxBytes);
    const reachable = reclaimableBytes(oc, scope);
    if (reachable !== undefined) {
      if (reachable < oc.snapshot.pageSizeBytes) return oc.pass(`nothing reclaimable in ${scope.path}: no page cache and no swap room`);
      amount = Math.min(amount, reachable);
    }
    if (amount < oc.snapshot.pageSizeBytes) return oc.pass(`less than a page to reclaim in ${scope.path} (usage ${usage === undefined ? "unknown" : mib(usage)})`);
    memo?.set(scope.path, now);
    const how = opts.bytes !== undefined ? "configured amount" : `${Math.round(opts.share * 100)}% of ${mib(usage ?? 0)}`;
    return oc.steps(oc.reclaim(scope, amount, `reclaim ${mib(amount)} (${how}) before killing`));
  },
  handleCgroupOffline(cgroup, options) {
    if (typeof options === "object" && options !== null) lastReclaim.get(options)?.delete(cgroup);
  },
});

function memoFor(options: object): Map<CgroupPath, number> {
  let m = lastReclaim.get(options);
  if (!m) {
    m = new Map();
    lastReclaim.set(options, m);
  }
  return m;
}

export default reclaimFirst;
