/**
 * `rules`: prefer, avoid and omit, by name and by mark, then the kernel's choice.
 *
 * Contract: every task in the scope that the verifier would allow is sorted into one class —
 * omit (never a candidate; recorded as skipped), prefer, normal or avoid — and the victim is the
 * task with the highest kernel badness in the first non-empty class of prefer, normal, avoid.
 * A task's class comes from
 *  - name rules in the options (regular expressions, JavaScript syntax, matching anywhere unless
 *    anchored): `command` against comm, `cmdline` against the arguments joined by spaces, `exe`
 *    against the executable's path (TaskNode.exe: none for a deleted one), `cgroup` against the
 *    task's cgroup path (v2, and v1 memory on hybrid machines), `user` against its real uid
 *    written in decimal (names are not resolved: policies read no /etc/passwd). omit and avoid
 *    by command, cmdline or exe count only for tasks of a trusted uid (`oc.trustedUids`, root's
 *    by default): those three are the task's own to choose, its uid is not;
 *  - prefer/avoid marks on its cgroup or the nearest marked ancestor, when `xattrs` is true (the
 *    default), read by the engine's one mark reader (`oc.preference`, src/engine/marks.ts).
 *    Omit marks are the verifier's: a task under one is protected whatever the options say.
 * omit outranks everything; a task that is both preferred and avoided is normal (the two cancel,
 * as in earlyoom). Among equal badness the higher pid wins, as in the kernel's scan. With options
 * `{}` only the marks act, and with no marks this is exactly the kernel's choice. Its choice so
 * far is offered at every change (oc.bestSoFar): cut short by its deadline, it acts on the tasks
 * it got to rather than handing the decision on — in the daemon the largest ones, which
 * oc.visitTasks() gives first, each read only when reached.
 */
import * as z from "zod";
import { type KillPreference, type OomControl, type Plan, PREFERENCE_ORDER, type TaskNode, definePolicy, describeMark } from "./face.js";
import { optionsOf, parseOptionsWith, regexSchema } from "./builtin-util.js";
import { onFirstUse } from "../on-first-use.js";

const NAME = "rules";

const matchers = () =>
  z
    .strictObject({
      command: z.array(regexSchema()).default([]),
      cmdline: z.array(regexSchema()).default([]),
      exe: z.array(regexSchema()).default([]),
      cgroup: z.array(regexSchema()).default([]),
      user: z.array(regexSchema()).default([]),
    })
    .default({ command: [], cmdline: [], exe: [], cgroup: [], user: [] });

const optionsSchema = onFirstUse(() =>
  z.strictObject({
    prefer: matchers(),
    avoid: matchers(),
    omit: matchers(),
    /** Honour the cgroup marks systemd-oomd and oomd use. */
    xattrs: z.boolean().default(true),
  }),
);

export type RulesOptions = z.output<ReturnType<typeof optionsSchema>>;
type Matchers = RulesOptions["prefer"];

interface Compiled {
  readonly command: readonly RegExp[];
  readonly cmdline: readonly RegExp[];
  readonly exe: readonly RegExp[];
  readonly cgroup: readonly RegExp[];
  readonly user: readonly RegExp[];
}

const compiledCache = new WeakMap<Matchers, Compiled>();

function compile(m: Matchers): Compiled {
  let c = compiledCache.get(m);
  if (!c) {
    const re = (list: readonly string[]) => list.map((s) => new RegExp(s));
    c = { command: re(m.command), cmdline: re(m.cmdline), exe: re(m.exe), cgroup: re(m.cgroup), user: re(m.user) };
    compiledCache.set(m, c);
  }
  return c;
}

/** A rule that matched the task, as "command ~ /re/", and whether it counts for this task. */
interface RuleMatch {
  readonly rule: string;
  readonly counts: boolean;
}

/**
 * The first rule that matches the task and counts, else the first name rule that matched but
 * does not count (for the record), else undefined. Name rules (command, cmdline, exe) count only
 * where `namesCount()` says so; cgroup and user rules always count.
 */
function matchRule(task: TaskNode, m: Matchers, namesCount: () => boolean): RuleMatch | undefined {
  const c = compile(m);
  const hit = (field: string, list: readonly RegExp[], values: () => readonly (string | undefined)[]) => {
    if (list.length === 0) return undefined;
    const vs = values();
    const re = list.find((r) => vs.some((v) => v !== undefined && r.test(v)));
    return re ? `${field} ~ ${re}` : undefined;
  };
  const byName = hit("command", c.command, () => [task.comm]) ?? hit("cmdline", c.cmdline, () => [task.cmdline.join(" ")]) ?? hit("exe", c.exe, () => [task.exe]);
  if (byName !== undefined && namesCount()) return { rule: byName, counts: true };
  // On hybrid machines the v1 memory cgroup is the one that says where a task runs.
  const other = hit("cgroup", c.cgroup, () => [task.cgroupPath, task.v1MemoryCgroup]) ?? hit("user", c.user, () => [task.uid?.toString()]);
  if (other !== undefined) return { rule: other, counts: true };
  return byName === undefined ? undefined : { rule: byName, counts: false };
}

export interface TaskClass {
  readonly kind: KillPreference | "omit";
  readonly why: string;
}

/**
 * The class a task falls in under these options: omit, prefer, normal or avoid, and why. A
 * task's comm, arguments and executable are its own to choose, so omit and avoid by those count
 * only for tasks of the trusted uids (`oc.trustedUids`); prefer counts for every task (a user who
 * names their task to be killed first harms no one else).
 */
export function classify(oc: OomControl<unknown>, task: TaskNode, opts: RulesOptions): TaskClass {
  let trusted: boolean | undefined;
  const namesCount = () => {
    if (trusted === undefined) {
      const uid = task.uid;
      trusted = uid !== undefined && oc.trustedUids.includes(uid);
    }
    return trusted;
  };
  const omitRule = matchRule(task, opts.omit, namesCount);
  if (omitRule?.counts) return { kind: "omit", why: `omit: ${omitRule.rule}` };
  const mark = opts.xattrs ? oc.preference(task) : undefined;
  const preferRule = matchRule(task, opts.prefer, () => true);
  const avoidRule = matchRule(task, opts.avoid, namesCount);
  const byMark = (kind: KillPreference) => (mark?.mark && mark.preference === kind ? `${kind}: ${describeMark(mark.mark)}` : undefined);
  const prefer = preferRule ? `prefer: ${preferRule.rule}` : byMark("prefer");
  const avoid = avoidRule?.counts ? `avoid: ${avoidRule.rule}` : byMark("avoid");
  // A name rule that matched a task it may not spare is said, so the record explains the class.
  const uncounted = [omitRule && `omit: ${omitRule.rule}`, avoidRule && !avoidRule.counts && `avoid: ${avoidRule.rule}`].filter((x): x is string => typeof x === "string");
  const note = uncounted.length === 0 ? "" : `; ${uncounted.join(", ")} not counted: uid ${task.uid ?? "unknown"} is not trusted`;
  if (prefer && avoid) return { kind: "normal", why: `${prefer} and ${avoid} cancel${note}` };
  if (prefer) return { kind: "prefer", why: prefer + note };
  if (avoid) return { kind: "avoid", why: avoid + note };
  return { kind: "normal", why: `no rule or mark${note}` };
}

function victim(oc: OomControl<unknown>, best: { readonly task: TaskNode; readonly badness: number; readonly why: string }): Plan {
  return oc.killTask(best.task, `${best.why}; highest badness (${best.badness}) in its class`);
}

export const rules = definePolicy<RulesOptions>({
  name: NAME,
  description: "prefer/avoid/omit by command, command line, executable, cgroup, user and systemd-oomd/oomd xattr marks; then the kernel's badness",
  parseOptions: (raw) => parseOptionsWith(NAME, optionsSchema, raw),
  handleOutOfMemory(oc) {
    const opts = optionsOf(NAME, optionsSchema, oc.options);
    let best: { task: TaskNode; rank: number; badness: number; why: string } | undefined;
    // Each process read as it is reached: cut short, its best so far cost only what it visited.
    for (const task of oc.visitTasks()) {
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
      // Tasks come largest first where sizes are known (oc.visitTasks()): a tie goes to the higher
      // pid, as in the kernel's scan in pid order, whatever the order of the visit.
      if (!best || rank < best.rank || (rank === best.rank && (b.badness > best.badness || (b.badness === best.badness && task.pid > best.task.pid)))) {
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
