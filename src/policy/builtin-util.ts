/**
 * What the built-in policies share: reading their options with zod, the cgroups a whole-cgroup
 * kill can target, the memory such a kill frees, and whether the verifier would let a kill reach
 * a cgroup. Marks are read by the engine's one reader (src/engine/marks.ts) through
 * `oc.protectedReason` and `oc.preference`. Pure functions of the snapshot; nothing here touches
 * the OS.
 */
import * as z from "zod";
import { OomkitError } from "../errors.js";
import { onFirstUse } from "../on-first-use.js";
import type { CgroupNode, OomControl, TaskNode } from "./face.js";

/**
 * Validates a policy's options; rejects them with every problem named by its place. The schema
 * is built on first use (src/on-first-use.ts): a daemon pays only for the built-ins it attaches.
 */
export function parseOptionsWith<S extends z.ZodType>(policy: string, schema: () => S, raw: unknown): z.output<S> {
  const result = schema().safeParse(raw ?? {});
  if (result.success) {
    const data: unknown = result.data;
    if (typeof data === "object" && data !== null) PARSED.add(data);
    return result.data;
  }
  const problems = result.error.issues.slice(0, 8).map((i) => {
    const where = i.path.length > 0 ? `options.${i.path.map(String).join(".")}` : "options";
    // A record key's problem is nested one level down (zod's "invalid_key").
    const inner = "issues" in i && Array.isArray(i.issues) ? (i.issues[0] as { message?: string } | undefined)?.message : undefined;
    return `${where}: ${inner ?? i.message}`;
  });
  throw new OomkitError("E_CONFIG", `policy ${policy}: ${problems.join("; ")}`, { cause: result.error });
}

const PARSED = new WeakSet<object>();

/**
 * A policy's options as its parseOptions returned them. An attachment made in code with raw
 * options (`options: {}`) is parsed here instead, so defaults apply either way.
 */
export function optionsOf<S extends z.ZodType>(policy: string, schema: () => S, value: unknown): z.output<S> {
  if (typeof value === "object" && value !== null && PARSED.has(value)) return value as z.output<S>;
  return parseOptionsWith(policy, schema, value);
}

/** A regular expression given in configuration (JavaScript syntax, unanchored: it may match anywhere). */
export const regexSchema = onFirstUse(() => z.string().min(1, "an empty pattern would match everything").refine(
  (s) => {
    try {
      new RegExp(s);
      return true;
    } catch {
      return false;
    }
  },
  { error: (i) => `not a valid regular expression: ${JSON.stringify(i.input)}` },
));

/**
 * The cgroups under the scope that a whole-cgroup kill targets, the way systemd-oomd collects
 * candidates: descend from the scope, stop at a leaf or at a `memory.oom.group` cgroup (the
 * kernel kills such a cgroup as one unit). The scope itself is the one unit when it is a leaf or
 * an oom.group cgroup; the root never is. Children come in name order, so the list is stable.
 */
export function killUnits(oc: OomControl<unknown>): CgroupNode[] {
  const out: CgroupNode[] = [];
  const walk = (c: CgroupNode): void => {
    if (c.vanished) return;
    if (!c.isRoot && (c.isLeaf || c.memory.oomGroup === true)) {
      out.push(c);
      return;
    }
    for (const child of c.children) walk(child);
  };
  if (oc.scope) walk(oc.scope);
  return out;
}

export interface UnitTasks {
  /** Live tasks the verifier would let a kill reach. */
  readonly killable: readonly TaskNode[];
  /** Live tasks it would spare, with why. */
  readonly unkillable: readonly { readonly task: TaskNode; readonly reason: string }[];
}

/** A cgroup's live tasks (itself and below), split by whether a kill may reach them. */
export function unitTasks(oc: OomControl<unknown>, cgroup: CgroupNode): UnitTasks {
  const killable: TaskNode[] = [];
  const unkillable: { task: TaskNode; reason: string }[] = [];
  for (const t of cgroup.allTasks()) {
    if (t.exiting) continue;
    const why = oc.protectedReason(t);
    if (why) unkillable.push({ task: t, reason: why });
    else killable.push(t);
  }
  return { killable, unkillable };
}

/**
 * Why a cgroup cannot be a whole-cgroup victim, or undefined when it can. `strict` also refuses
 * a cgroup holding any unkillable task (the kernel's selftest: such a unit is not killed at all);
 * otherwise the verifier kills it task by task, sparing those.
 */
export function unitRefusal(oc: OomControl<unknown>, cgroup: CgroupNode, strict: boolean): string | undefined {
  // The verifier's own answer covers the cgroup, its marks and "every task in it is protected".
  const own = oc.protectedReason(cgroup);
  if (own || !strict) return own;
  const first = unitTasks(oc, cgroup).unkillable[0];
  return first ? `holds an unkillable task: pid ${first.task.pid} (${first.task.comm}): ${first.reason}` : undefined;
}

/**
 * The first of `ranked` (best victim first) that a whole-cgroup kill can take: each is examined
 * in turn (unitRefusal, which reads every task under it) and a refused one is recorded as skipped.
 * Those after the pick are never examined, so a decision reads the tasks of the units down to its
 * victim, not of every unit in the scope. `refused` holds the ones skipped.
 */
export function firstKillable<T extends { readonly unit: CgroupNode }>(oc: OomControl<unknown>, ranked: readonly T[], strict: boolean): { readonly pick: T | undefined; readonly refused: ReadonlySet<T> } {
  const refused = new Set<T>();
  for (const r of ranked) {
    const refusal = unitRefusal(oc, r.unit, strict);
    if (!refusal) return { pick: r, refused };
    oc.skip(r.unit, refusal);
    refused.add(r);
  }
  return { pick: undefined, refused };
}

/** What a candidate's note says when it ranked after the victim and was not examined. */
export const NOT_EXAMINED = "ranks after the choice (its tasks not examined)";

/** Memory a kill would free, without page cache: anonymous memory plus swap. */
export interface UnitMemory {
  readonly bytes: number;
  /** Where the figure came from, for the record. */
  readonly source: string;
}

/**
 * anon (memory.stat) + memory.swap.current. Without a readable memory.stat, the tasks' own
 * RssAnon + VmSwap; a kernel without swap accounting counts swap as 0.
 */
export function memoryWithoutCache(cgroup: CgroupNode): UnitMemory {
  const anon = cgroup.stat?.anonBytes;
  const swap = cgroup.memory.swapCurrentBytes;
  if (anon !== undefined) return { bytes: anon + (swap ?? 0), source: swap === undefined ? "anon" : "anon+swap" };
  let bytes = 0;
  for (const t of cgroup.allTasks()) bytes += t.memory.rssAnonBytes + t.memory.swapBytes;
  return { bytes, source: "tasks' RssAnon+VmSwap (no memory.stat)" };
}

/** memory.current, or where the kernel has no such file its tasks' RssAnon + VmSwap. */
export function usageBytes(cgroup: CgroupNode): number {
  return cgroup.memory.currentBytes ?? memoryWithoutCache(cgroup).bytes;
}

/** A task's counterpart of memoryWithoutCache: RssAnon + VmSwap. */
export function taskMemoryWithoutCache(task: TaskNode): number {
  return task.memory.rssAnonBytes + task.memory.swapBytes;
}

/** Bytes in use in the scope: memory.current, or the machine's MemTotal - MemAvailable for the root. */
export function scopeUsageBytes(oc: OomControl<unknown>): number | undefined {
  const s = oc.scope;
  if (s && !s.isRoot && s.memory.currentBytes !== undefined) return s.memory.currentBytes;
  const m = oc.snapshot.system.meminfo;
  if (m?.memAvailableBytes === undefined) return undefined;
  return Math.max(0, m.memTotalBytes - m.memAvailableBytes);
}

/** Compares numbers descending, treating undefined as the smallest. */
export function desc(a: number | undefined, b: number | undefined): number {
  return (b ?? Number.NEGATIVE_INFINITY) - (a ?? Number.NEGATIVE_INFINITY) || 0;
}

/** Stable string order (code units), independent of locale. */
export function byText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export const MiB = 1024 * 1024;

/** "12.3 MiB", for reasons people read. */
export function mib(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}
