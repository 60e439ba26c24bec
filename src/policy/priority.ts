/**
 * `priority`: strict priorities for cgroups and tasks; the least important goes first, whatever
 * its size.
 *
 * Contract. A priority is an integer; higher means more important (killed later).
 *  - A cgroup's priority: `cgroups["/path"]` in the options (exact path), else its extended
 *    attribute `user.oomkit.priority` (an integer), else its parent's priority — a priority on
 *    a slice covers everything in it — and `default` (0 unless configured) at the top.
 *  - A task's priority: the highest of the `commands` patterns that match its comm (regular
 *    expressions; the highest so that one rule saying "important" is enough), else the priority
 *    of its cgroup.
 * On an OOM the policy walks down from the scope. At each level it compares the cgroup's own
 * killable tasks and its child cgroups (those with a killable task somewhere below), and takes
 * the lowest priority; a tie goes to the larger (anon + swap: a cgroup's memory.stat anon +
 * memory.swap.current, a task's RssAnon + VmSwap), then the first by path or pid. A chosen task
 * is killed; a chosen cgroup is descended into — unless it is a `memory.oom.group` unit, which is
 * killed whole (as is the scope itself when it is one). So a task whose priority is lower than
 * every sibling cgroup's goes before any of them. In system-level mode (no cgroup v2 tree) only
 * `commands` and `default` apply, across all tasks.
 */
import * as z from "zod";
import { type CgroupNode, type OomControl, type Plan, type TaskNode, cgroupPath, definePolicy, markIgnoredBecause, scopeOwnerOf } from "./face.js";
import {
  NOT_EXAMINED,
  byText,
  desc,
  memoryWithoutCache,
  mib,
  optionsOf,
  parseOptionsWith,
  regexSchema,
  taskMemoryWithoutCache,
  unitRefusal,
} from "./builtin-util.js";
import { onFirstUse } from "../on-first-use.js";

const NAME = "priority";

/** The attribute that carries a cgroup's priority, for tools that cannot edit oomkit's config. */
export const PRIORITY_XATTR = "user.oomkit.priority";

const priorityValue = () => z.number().int().min(-1_000_000).max(1_000_000);

const optionsSchema = onFirstUse(() =>
  z.strictObject({
    cgroups: z
      .record(
        z.string().refine((p) => p.startsWith("/") && !p.split("/").includes(".."), { error: (i) => `not an absolute cgroup path: ${JSON.stringify(i.input)}` }),
        priorityValue(),
      )
      .default({}),
    commands: z.record(regexSchema(), priorityValue()).default({}),
    default: priorityValue().default(0),
    /** Read user.oomkit.priority from cgroups. */
    xattrs: z.boolean().default(true),
  }),
);

export type PriorityOptions = z.output<ReturnType<typeof optionsSchema>>;

interface Resolved {
  readonly cgroups: ReadonlyMap<string, number>;
  readonly commands: readonly { readonly re: RegExp; readonly priority: number }[];
  readonly dflt: number;
  readonly xattrs: boolean;
}

const resolvedCache = new WeakMap<PriorityOptions, Resolved>();

function resolve(opts: PriorityOptions): Resolved {
  let r = resolvedCache.get(opts);
  if (!r) {
    r = {
      cgroups: new Map(Object.entries(opts.cgroups).map(([p, n]) => [cgroupPath(p), n])),
      commands: Object.entries(opts.commands).map(([re, priority]) => ({ re: new RegExp(re), priority })),
      dflt: opts.default,
      xattrs: opts.xattrs,
    };
    resolvedCache.set(opts, r);
  }
  return r;
}

/** An xattr value as a priority: an integer, or undefined when absent or malformed. */
export function parsePriorityXattr(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const t = value.trim();
  if (!/^[+-]?[0-9]{1,7}$/.test(t)) return undefined;
  return Number(t);
}

/**
 * A cgroup's priority and where it came from. The attribute is a user.* mark: it counts only
 * where the engine's mark reader says a user.* mark counts (the cgroup is owned by root or by the
 * owner of the scope), so a user cannot raise their delegated cgroup above others.
 */
export function cgroupPriority(c: CgroupNode | undefined, r: Resolved, scope: CgroupNode | undefined): { priority: number; source: string } {
  const scopeOwner = scopeOwnerOf(scope);
  for (let n = c; n; n = n.parent) {
    const configured = r.cgroups.get(n.path);
    if (configured !== undefined) return { priority: configured, source: n === c ? "configured" : `configured on ${n.path}` };
    if (r.xattrs && markIgnoredBecause(PRIORITY_XATTR, n.ownerUid, scopeOwner) === undefined) {
      const x = parsePriorityXattr(n.xattrs.get(PRIORITY_XATTR));
      if (x !== undefined) return { priority: x, source: n === c ? PRIORITY_XATTR : `${PRIORITY_XATTR} on ${n.path}` };
    }
  }
  return { priority: r.dflt, source: "default" };
}

function taskPriority(t: TaskNode, own: CgroupNode | undefined, r: Resolved, scope: CgroupNode | undefined): { priority: number; source: string } {
  let best: { priority: number; source: string } | undefined;
  for (const { re, priority } of r.commands) {
    if (re.test(t.comm) && (!best || priority > best.priority)) best = { priority, source: `command ~ ${re}` };
  }
  return best ?? cgroupPriority(own, r, scope);
}

type Choice =
  | { readonly kind: "task"; readonly task: TaskNode; readonly priority: number; readonly bytes: number; readonly key: string }
  | { readonly kind: "cgroup"; readonly cgroup: CgroupNode; readonly priority: number; readonly bytes: number; readonly key: string };

/** Least important first: the lowest priority, then the larger, then by path (pids after paths). */
const order = (a: Choice, b: Choice): number => a.priority - b.priority || desc(a.bytes, b.bytes) || byText(a.key, b.key);

function ranked(choices: readonly Choice[]): Choice[] {
  return [...choices].sort(order);
}

function lowest(choices: readonly Choice[]): Choice | undefined {
  return ranked(choices)[0];
}

function taskChoice(oc: OomControl<unknown>, t: TaskNode, own: CgroupNode | undefined, r: Resolved): Choice | undefined {
  if (t.exiting) return undefined;
  const prot = oc.protectedReason(t);
  if (prot) {
    if (!t.kernelThread) oc.skip(t, prot);
    return undefined;
  }
  const p = taskPriority(t, own, r, oc.scope);
  const bytes = taskMemoryWithoutCache(t);
  oc.consider(t, -p.priority, `priority ${p.priority} (${p.source}), ${mib(bytes)}`);
  // Pids sort after paths ("~" follows "/" and letters) and among themselves by number.
  return { kind: "task", task: t, priority: p.priority, bytes, key: `~${String(t.pid).padStart(10, "0")}` };
}

/** Walks down from the scope; returns the plan for the least important thing found. */
function descend(oc: OomControl<unknown>, scope: CgroupNode, r: Resolved): Plan {
  const path: string[] = [];
  for (let node = scope; ; ) {
    if (node.memory.oomGroup === true && !node.isRoot) {
      const refusal = unitRefusal(oc, node, false);
      if (refusal) return oc.pass(`${node.path} is a memory.oom.group unit that cannot be killed: ${refusal}`);
      return oc.killCgroup(node, `lowest priority ${describePath(path)}; a memory.oom.group unit, killed whole`);
    }
    const choices: Choice[] = [];
    for (const t of node.tasks) {
      const c = taskChoice(oc, t, node, r);
      if (c) choices.push(c);
    }
    const notes = new Map<CgroupNode, string>();
    for (const child of node.children) {
      if (child.vanished) continue;
      const p = cgroupPriority(child, r, oc.scope);
      const m = memoryWithoutCache(child);
      notes.set(child, `priority ${p.priority} (${p.source}), ${mib(m.bytes)} ${m.source}`);
      choices.push({ kind: "cgroup", cgroup: child, priority: p.priority, bytes: m.bytes, key: child.path });
    }
    // A child cgroup is examined (every task under it read, to know whether anything in it can be
    // killed) only when it is the least important choice left: on a machine of 10,000 tasks the
    // path down to the victim is read, not every task under the scope.
    let pick: Choice | undefined;
    for (const c of ranked(choices)) {
      if (c.kind === "cgroup") {
        const refusal = unitRefusal(oc, c.cgroup, false);
        if (refusal) {
          oc.skip(c.cgroup, refusal);
          notes.delete(c.cgroup);
          continue;
        }
      }
      pick = c;
      break;
    }
    // Every child left is the choice or ranks after it (one before it would have been chosen).
    for (const c of choices) {
      if (c.kind !== "cgroup") continue;
      const note = notes.get(c.cgroup);
      if (note !== undefined) oc.consider(c.cgroup, -c.priority, c === pick ? note : `${note}; ${NOT_EXAMINED}`);
    }
    if (!pick) return oc.pass(`nothing killable under ${node.path}`);
    path.push(pick.kind === "task" ? `pid ${pick.task.pid} (${pick.priority})` : `${pick.cgroup.name} (${pick.priority})`);
    if (pick.kind === "task") return oc.killTask(pick.task, `lowest priority ${describePath(path)}`);
    node = pick.cgroup;
  }
}

function describePath(steps: readonly string[]): string {
  return steps.length === 0 ? "at the scope" : `along ${steps.join(" > ")}`;
}

export const priority = definePolicy<PriorityOptions>({
  name: NAME,
  description: "strict priorities for cgroups and tasks, compared among siblings level by level from the scope down; ties go to the larger",
  parseOptions: (raw) => parseOptionsWith(NAME, optionsSchema, raw),
  handleOutOfMemory(oc) {
    const r = resolve(optionsOf(NAME, optionsSchema, oc.options));
    if (oc.scope) return descend(oc, oc.scope, r);
    const choices: Choice[] = [];
    for (const t of oc.tasks()) {
      const c = taskChoice(oc, t, undefined, r);
      if (c) choices.push(c);
    }
    const pick = lowest(choices);
    if (!pick || pick.kind !== "task") return oc.pass("no killable task on the machine");
    return oc.killTask(pick.task, `lowest priority (${pick.priority}) on the machine, largest among equals`);
  },
});

export default priority;
