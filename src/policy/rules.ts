/**
 * `rules`: prefer, avoid and omit, by name and by mark, then the kernel's choice.
 *
 * Contract: every task in the scope that the verifier would allow is sorted into one class —
 * omit (never a candidate; recorded as skipped), prefer, normal or avoid — and the victim is the
 * task with the highest kernel badness in the first non-empty class of prefer, normal, avoid.
 * A task's class comes from
 *  - name rules in the options (regular expressions, JavaScript syntax, matching anywhere unless
 *    anchored): `command` against comm, `cmdline` against the arguments joined by spaces,
 *    `cgroup` against the task's cgroup path (v2, and v1 memory on hybrid machines), `user`
 *    against its real uid written in decimal (names are not resolved: policies read no
 *    /etc/passwd);
 *  - prefer/avoid marks on its cgroup or the nearest marked ancestor, when `xattrs` is true (the
 *    default), read by the engine's one mark reader (`oc.preference`, src/engine/marks.ts).
 *    Omit marks are the verifier's: a task under one is protected whatever the options say.
 * omit outranks everything; a task that is both preferred and avoided is normal (the two cancel,
 * as in earlyoom). Among equal badness the higher pid wins, as in the kernel's scan. With options
 * `{}` only the marks act, and with no marks this is exactly the kernel's choice. Its choice so
 * far is offered at every change (oc.bestSoFar): cut short by its deadline, it acts on the tasks
 * it got to rather than handing the decision on.
 */
import { z } from "zod";
import { type KillPreference, type OomControl, type Plan, PREFERENCE_ORDER, type TaskNode, definePolicy, describeMark } from "./face.js";
import { optionsOf, parseOptionsWith, regexSchema } from "./builtin-util.js";

const NAME = "rules";

const matchers = z
  .strictObject({
    command: z.array(regexSchema).default([]),
    cmdline: z.array(regexSchema).default([]),
    cgroup: z.array(regexSchema).default([]),
    user: z.array(regexSchema).default([]),
  })
  .default({ command: [], cmdline: [], cgroup: [], user: [] });

const optionsSchema = z.strictObject({
  prefer: matchers,
  avoid: matchers,
  omit: matchers,
  /** Honour the cgroup marks systemd-oomd and oomd use. */
  xattrs: z.boolean().default(true),
});

export type RulesOptions = z.output<typeof optionsSchema>;
type Matchers = RulesOptions["prefer"];

interface Compiled {
  readonly command: readonly RegExp[];
  readonly cmdline: readonly RegExp[];
  readonly cgroup: readonly RegExp[];
  readonly user: readonly RegExp[];
}

const compiledCache = new WeakMap<Matchers, Compiled>();

function compile(m: Matchers): Compiled {
  let c = compiledCache.get(m);
  if (!c) {
    const re = (list: readonly string[]) => list.map((s) => new RegExp(s));
    c = { command: re(m.command), cmdline: re(m.cmdline), cgroup: re(m.cgroup), user: re(m.user) };
    compiledCache.set(m, c);
  }
  return c;
}

/** The first rule that matches the task, as "command ~ /re/", or undefined. */
function matchRule(task: TaskNode, m: Matchers): string | undefined {
  const c = compile(m);
  const hit = (field: string, values: readonly (string | undefined)[], list: readonly RegExp[]) => {
    if (list.length === 0) return undefined;
    const re = list.find((r) => values.some((v) => v !== undefined && r.test(v)));
    return re ? `${field} ~ ${re}` : undefined;
  };
  return (
    hit("command", [task.comm], c.command) ??
    hit("cmdline", c.cmdline.length > 0 ? [task.cmdline.join(" ")] : [], c.cmdline) ??
    // On hybrid machines the v1 memory cgroup is the one that says where a task runs.
    hit("cgroup", c.cgroup.length > 0 ? [task.cgroupPath, task.v1MemoryCgroup] : [], c.cgroup) ??
    hit("user", c.user.length > 0 ? [task.uid?.toString()] : [], c.user)
  );
}

export interface TaskClass {
  readonly kind: KillPreference | "omit";
  readonly why: string;
}

/** The class a task falls in under these options: omit, prefer, normal or avoid, and why. */
export function classify(oc: OomControl<unknown>, task: TaskNode, opts: RulesOptions): TaskClass {
  const omitRule = matchRule(task, opts.omit);
  if (omitRule) return { kind: "omit", why: `omit: ${omitRule}` };
  const mark = opts.xattrs ? oc.preference(task) : undefined;
  const preferRule = matchRule(task, opts.prefer);
  const avoidRule = matchRule(task, opts.avoid);
  const byMark = (kind: KillPreference) => (mark?.mark && mark.preference === kind ? `${kind}: ${describeMark(mark.mark)}` : undefined);
  const prefer = preferRule ? `prefer: ${preferRule}` : byMark("prefer");
  const avoid = avoidRule ? `avoid: ${avoidRule}` : byMark("avoid");
  if (prefer && avoid) return { kind: "normal", why: `${prefer} and ${avoid} cancel` };
  if (prefer) return { kind: "prefer", why: prefer };
  if (avoid) return { kind: "avoid", why: avoid };
  return { kind: "normal", why: "no rule or mark" };
}

function victim(oc: OomControl<unknown>, best: { readonly task: TaskNode; readonly badness: number; readonly why: string }): Plan {
  return oc.killTask(best.task, `${best.why}; highest badness (${best.badness}) in its class`);
}

export const rules = definePolicy<RulesOptions>({
  name: NAME,
  description: "prefer/avoid/omit by command, command line, cgroup, user and systemd-oomd/oomd xattr marks; then the kernel's badness",
  parseOptions: (raw) => parseOptionsWith(NAME, optionsSchema, raw),
  handleOutOfMemory(oc) {
    const opts = optionsOf(NAME, optionsSchema, oc.options);
    let best: { task: TaskNode; rank: number; badness: number; why: string } | undefined;
    for (const task of oc.tasks()) {
      const prot = oc.protectedReason(task);
      if (prot) {
        if (!task.kernelThread) oc.skip(task, prot);
        continue;
      }
      const cls = classify(oc, task, opts);
      if (cls.kind === "omit") {
        oc.skip(task, cls.why);
        continue;
      }
      const b = oc.badness(task);
      if (!b.killable) {
        oc.skip(task, `unkillable: ${b.reason}`);
        continue;
      }
      oc.consider(task, b.badness, `${cls.kind} (${cls.why}); badness ${b.badness}`);
      const rank = PREFERENCE_ORDER[cls.kind];
      // Tasks come in pid order: ">=" on badness lets the later one win a tie, as the kernel does.
      if (!best || rank < best.rank || (rank === best.rank && b.badness >= best.badness)) {
        best = { task, rank, badness: b.badness, why: cls.why };
        // Cut short by the deadline on a crowded machine, this choice is carried out.
        oc.bestSoFar(victim(oc, best));
      }
    }
    if (!best) return oc.pass("no killable task in the scope that is not omitted");
    return victim(oc, best);
  },
});

export default rules;
