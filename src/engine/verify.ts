/**
 * The verifier: every target a plan names must lie inside the OOM's scope and be killable, like
 * the BPF verifier and the kfuncs' own checks. It decides how each action will be carried out
 * (a whole-cgroup kill that would hit a protected task becomes task-by-task, sparing it), and
 * records each refusal with its reason. Pure: it reads the snapshot and decides; it acts on
 * nothing.
 *
 * What it cannot check, it refuses: a task whose oom_score_adj or cgroup could not be read (it
 * may be -1000, or under an omit mark), a cgroup whose members or marks could not be read (a kill
 * could reach what no check has seen). The reason names the file and the error.
 */
import * as path from "node:path";
import type { TaskTarget } from "../os/kill-port.js";
import { type CgroupPath, PidFile, cgroupContains, parentCgroup } from "../os/paths.js";
import { CgroupNode } from "./cgroup.js";
import type { Action } from "./plan.js";
import type { Snapshot } from "./snapshot.js";
import { TaskNode } from "./task.js";
import { OOM_SCORE_ADJ_MIN } from "./badness.js";
import { OMIT_MARKS, describeMark, omitMark } from "./marks.js";
import type { VictimRegistry } from "./victims.js";

/** A path or path pattern as configured, and the expression that matches it (config/glob.ts). */
export interface PathPattern {
  readonly pattern: string;
  readonly regex: RegExp;
}

export interface Protections {
  /** Cgroups never killed, nor any task in them or below them. */
  readonly omitCgroups: readonly CgroupPath[];
  /** Tasks of a trusted uid whose command (comm) matches are never killed. */
  readonly omitCommands: readonly RegExp[];
  /** Tasks of a trusted uid whose executable (TaskNode.exe) matches one of these are never killed. */
  readonly omitExecutables: readonly PathPattern[];
  /**
   * The real uids whose tasks a name may spare: omitCommands, omitExecutables, and the `rules`
   * policy's omit and avoid by command, command line and executable. A task's comm, arguments
   * and executable are its own to choose (TaskNode.exe says how); its real uid is not — a user
   * cannot start a process of another uid, and a user namespace maps theirs back to their own.
   */
  readonly trustedUids: readonly number[];
  /** Extended attributes that mark a cgroup (and its subtree) omit, read by ./marks.ts. */
  readonly omitXattrs: readonly string[];
  /** Folders under which removeFiles may delete (tmpfs mounts). */
  readonly tmpfsRoots: readonly string[];
}

/** The omit marks of ./marks.ts: systemd-oomd's, their trusted.* counterpart, and oomkit's own. */
export const DEFAULT_OMIT_XATTRS: readonly string[] = OMIT_MARKS;

/** Root's: the one uid no user can start a process as (a setuid program keeps the caller's real uid). */
export const DEFAULT_TRUSTED_UIDS: readonly number[] = Object.freeze([0]);

export const NO_PROTECTIONS: Protections = Object.freeze({
  omitCgroups: [],
  omitCommands: [],
  omitExecutables: [],
  trustedUids: DEFAULT_TRUSTED_UIDS,
  omitXattrs: DEFAULT_OMIT_XATTRS,
  tmpfsRoots: [],
});

/**
 * Whether names (comm, arguments, executable) may spare this task: only when its real uid is
 * trusted. Reads the task's status file, which ranking reads anyway.
 */
function namesCount(task: TaskNode, trustedUids: readonly number[]): boolean {
  const uid = task.uid;
  return uid !== undefined && trustedUids.includes(uid);
}

/** Why [protect] commands or executables spare this task, or undefined. */
function nameProtection(task: TaskNode, p: Protections): string | undefined {
  if (p.omitCommands.length === 0 && p.omitExecutables.length === 0) return undefined;
  const re = p.omitCommands.find((r) => r.test(task.comm));
  if (re === undefined && p.omitExecutables.length === 0) return undefined;
  if (!namesCount(task, p.trustedUids)) {
    // A uid unknown because the status file could not be read: whether the name counts is unknown.
    const statusFault = task.uid === undefined ? TaskNode.faultOf(task, PidFile.status) : undefined;
    return statusFault !== undefined ? `${statusFault}: whether [protect] names spare it cannot be checked` : undefined;
  }
  if (re) return `omit: command matches ${re}`;
  const exe = task.exe;
  if (exe !== undefined && p.omitExecutables.some((x) => x.regex.test(exe))) return `omit: executable ${exe} is protected by configuration`;
  const exeFault = exe === undefined ? TaskNode.faultOf(task, PidFile.exe) : undefined;
  if (exeFault !== undefined) return `${exeFault}: whether [protect] executables spare it cannot be checked`;
  return undefined;
}

export interface VerifyContext {
  readonly snapshot: Snapshot;
  /** The OOM's scope; undefined (or the root) for a system-wide OOM. */
  readonly scope: CgroupNode | undefined;
  readonly protections: Protections;
  readonly victims: VictimRegistry;
  /**
   * `kill_process_group`: a task that leads its process group is killed with the group's other
   * members — each one verified like the victim, and only the verified ones killed.
   */
  readonly processGroups?: boolean;
}

/** A task the verifier cleared for killing: the kill port's target (os/kill-port.ts). */
export type TaskRef = TaskTarget;

export type Execution =
  | { readonly method: "signal-task"; readonly task: TaskRef }
  | { readonly method: "cgroup.kill" }
  | { readonly method: "per-task"; readonly tasks: readonly TaskRef[]; readonly spared: readonly { readonly pid: number; readonly reason: string }[] }
  | { readonly method: "memory.reclaim" }
  | { readonly method: "unlink"; readonly paths: readonly string[] };

export type VerifiedAction =
  | { readonly ok: true; readonly action: Action; readonly execution: Execution }
  | { readonly ok: false; readonly action: Action; readonly reason: string };

/** Why a task may never be chosen, or undefined when it may. */
export function taskProtection(task: TaskNode, ctx: VerifyContext): string | undefined {
  // What the snapshot says is kept per context (a policy asks it of every task, a cgroup's kill
  // plan again for each of its tasks, each policy of the chain again); whether the task is a
  // victim already is asked each time: a kill carried out by an earlier policy makes it one.
  let memo = protectionMemo.get(ctx);
  if (memo === undefined) protectionMemo.set(ctx, (memo = new WeakMap()));
  let why = memo.get(task);
  if (why === undefined) memo.set(task, (why = staticProtection(task, ctx) ?? null));
  if (why !== null) return why;
  // Seen gone by a read since (another file of it vanished): exiting now.
  if (task.exiting) return "already exiting";
  if (ctx.victims.isTaskPending(task.pid, task.startTimeTicks, task.cgroupPath)) return "already a victim being killed";
  return undefined;
}

const protectionMemo = new WeakMap<VerifyContext, WeakMap<TaskNode, string | null>>();

/** taskProtection less the victims: what the snapshot alone says. */
function staticProtection(task: TaskNode, ctx: VerifyContext): string | undefined {
  const { snapshot, protections } = ctx;
  if (task.pid === 1) return "pid 1 (init)";
  if (task.pid === snapshot.facts.selfPid) return "oomkit itself";
  if (task.kernelThread) return "kernel thread";
  if (task.exiting) return "already exiting";
  // An unreadable oom_score_adj reads as -1000: say which it was.
  if (task.oomScoreAdj === OOM_SCORE_ADJ_MIN) return TaskNode.faultOf(task, PidFile.oomScoreAdj) ?? "oom_score_adj -1000";
  const byName = nameProtection(task, protections);
  if (byName) return byName;
  const cg = task.cgroupPath;
  if (snapshot.cgroupMode.perCgroup) {
    if (cg === undefined) return task.exiting ? "already exiting" : `its cgroup is unknown (${TaskNode.cgroupUnknown(task) ?? "no cgroup v2 line"}): omit rules cannot be checked`;
    const why = cgroupOmitReason(cg, ctx);
    if (why) return why;
  }
  return undefined;
}

/**
 * Why a task the OOM's scope lists may not be killed in it: its cgroup (from /proc/<pid>/cgroup,
 * read after the scope's cgroup.procs listed it) is outside the scope — it migrated, or the line
 * did not parse — or unknown. Undefined for a machine-wide OOM, or when it is inside.
 */
export function taskScopeRefusal(task: TaskNode, ctx: VerifyContext): string | undefined {
  const scope = ctx.scope;
  if (!scope || scope.isRoot) return undefined;
  const cg = task.cgroupPath;
  if (cg === undefined) return task.exiting ? "already exiting" : `outside the scope ${scope.path}: its cgroup is unknown (${TaskNode.cgroupUnknown(task) ?? "no cgroup v2 line"})`;
  return cgroupContains(scope.path, cg) ? undefined : `outside the scope ${scope.path}: /proc/${task.pid}/cgroup says ${cg}`;
}

/**
 * Why a cgroup (or an ancestor) is protected by configuration or an omit mark, or undefined.
 * Marks that could not be read protect too: they may say omit.
 */
export function cgroupOmitReason(cgroup: CgroupPath, ctx: VerifyContext): string | undefined {
  // Asked for every task of a cgroup, and for every task again by each policy of the chain: the
  // answer is kept per context (one snapshot, scope and set of protections). It cannot change
  // within one: the marks it reads are read once per snapshot, and a mark read later that fails
  // is another cgroup's, which the kept answer did not depend on.
  let memo = omitMemo.get(ctx);
  if (memo === undefined) omitMemo.set(ctx, (memo = new Map()));
  const hit = memo.get(cgroup);
  if (hit !== undefined) return hit ?? undefined;
  const why = omitReasonOf(cgroup, ctx);
  memo.set(cgroup, why ?? null);
  return why;
}

const omitMemo = new WeakMap<VerifyContext, Map<CgroupPath, string | null>>();

function omitReasonOf(cgroup: CgroupPath, ctx: VerifyContext): string | undefined {
  for (let p: CgroupPath | undefined = cgroup; p !== undefined; p = parentCgroup(p)) {
    if (ctx.protections.omitCgroups.includes(p)) return `omit: cgroup ${p} is protected by configuration`;
  }
  // A cgroup the snapshot did not list (made since, or under a folder that could not be read):
  // the marks of its nearest listed ancestor cover it.
  let node: CgroupNode | undefined;
  for (let p: CgroupPath | undefined = cgroup; p !== undefined && node === undefined; p = parentCgroup(p)) {
    node = ctx.snapshot.cgroup(p);
    if (node === undefined) continue;
    if (p !== cgroup) {
      const unseen = CgroupNode.membersUnknown(node);
      if (unseen) return `omit marks unknown: ${cgroup} is not in the snapshot (${unseen})`;
    }
  }
  const mark = omitMark(node, ctx.scope, ctx.protections.omitXattrs);
  if (mark) return `omit: ${describeMark(mark)}`;
  // omitMark has read every mark (and owner) that could apply: with no read failed, none is unknown.
  if (ctx.snapshot.faults.length === 0) return undefined;
  for (let c = node; c; c = c.parent) {
    const unknown = CgroupNode.marksUnknown(c, ctx.protections.omitXattrs);
    if (unknown) return `omit marks unknown: ${unknown}`;
  }
  return undefined;
}

/** Why the cgroup itself may never be a victim, before its tasks are looked at, or undefined. */
export function cgroupProtection(cgroup: CgroupNode, ctx: VerifyContext): string | undefined {
  if (cgroup.isRoot) return "the root cgroup";
  const self = ctx.snapshot.task(ctx.snapshot.facts.selfPid)?.cgroupPath;
  if (self !== undefined && cgroupContains(cgroup.path, self)) return "holds oomkit itself";
  const omit = cgroupOmitReason(cgroup.path, ctx);
  if (omit) return omit;
  if (ctx.victims.isCgroupPending(cgroup.path)) return "already a victim being killed";
  return undefined;
}

/** How a whole-cgroup kill would go: refused with a reason, or the tasks it reaches and spares. */
export type CgroupKillPlan =
  | { readonly ok: false; readonly reason: string }
  | { readonly ok: true; readonly victims: readonly TaskRef[]; readonly spared: readonly { readonly pid: number; readonly reason: string }[] };

/**
 * The verifier's whole answer for killing a cgroup: its own protection, then its live tasks —
 * refused when every one is protected or there are none. `oc.protectedReason` gives policies
 * this same answer, so a policy never proposes what the verifier would refuse.
 */
export function cgroupKillPlan(cgroup: CgroupNode, ctx: VerifyContext): CgroupKillPlan {
  const own = cgroupProtection(cgroup, ctx);
  if (own) return { ok: false, reason: own };
  // allTasks lists every member cgroup and reads each one's cgroup.procs and stat files.
  const tasks = cgroup.allTasks();
  const spared: { pid: number; reason: string }[] = [];
  if (ctx.snapshot.faults.length > 0) {
    for (const c of [cgroup, ...cgroup.descendants()]) {
      const unseen = CgroupNode.membersUnknown(c);
      if (unseen) return { ok: false, reason: `cannot see every task in it: ${unseen}` };
      // A member whose stat could not be read is no task of the snapshot's and cannot be
      // checked: spared, so the kill goes task by task, never by cgroup.kill.
      for (const pid of c.pids) {
        const why = ctx.snapshot.unreadableTask(pid);
        if (why) spared.push({ pid, reason: why });
      }
    }
  }
  const victims: TaskRef[] = [];
  for (const t of tasks) {
    if (t.exiting) continue;
    const why = taskProtection(t, ctx) ?? memberElsewhere(t, cgroup, ctx);
    if (why) spared.push({ pid: t.pid, reason: why });
    else victims.push(ref(t));
  }
  if (victims.length === 0) return { ok: false, reason: spared.length > 0 ? "every task in it is protected" : "it has no live tasks: killing it frees nothing" };
  return { ok: true, victims, spared };
}

/**
 * The victim and the other members of the process group it leads, each verified as a victim of
 * its own would be (in the scope, not protected); undefined when it leads no group with others
 * in it. No signal ever goes to a whole group: the verifier never saw the members that joined it
 * after the snapshot.
 */
function groupKill(leader: TaskNode, ctx: VerifyContext): Extract<CgroupKillPlan, { ok: true }> | undefined {
  if (leader.pgrp !== leader.pid || leader.pid <= 1) return undefined;
  const members = ctx.snapshot.tasks.filter((t) => t.pid !== leader.pid && t.pgrp === leader.pid && !t.exiting);
  if (members.length === 0) return undefined;
  const victims: TaskRef[] = [ref(leader)];
  const spared: { pid: number; reason: string }[] = [];
  for (const m of members) {
    const why = !inScope(ctx, m.cgroupPath) ? `in its group but outside the scope ${ctx.scope?.path ?? "/"}` : taskProtection(m, ctx);
    if (why) spared.push({ pid: m.pid, reason: why });
    else victims.push(ref(m));
  }
  return { ok: true, victims, spared };
}

/** A task cgroup.procs lists under `cgroup` whose /proc/<pid>/cgroup, read later, says it left. */
function memberElsewhere(t: TaskNode, cgroup: CgroupNode, ctx: VerifyContext): string | undefined {
  const cg = t.cgroupPath;
  if (!ctx.snapshot.cgroupMode.perCgroup || cg === undefined || cgroupContains(cgroup.path, cg)) return undefined;
  return `listed in ${cgroup.path}, but /proc/${t.pid}/cgroup says ${cg}`;
}

function inScope(ctx: VerifyContext, cgroup: CgroupPath | undefined): boolean {
  const scope = ctx.scope;
  if (!scope || scope.isRoot) return true;
  return cgroup !== undefined && cgroupContains(scope.path, cgroup);
}

export function verifyAction(action: Action, ctx: VerifyContext): VerifiedAction {
  const no = (reason: string): VerifiedAction => ({ ok: false, action, reason });
  switch (action.kind) {
    case "kill-task": {
      const task = ctx.snapshot.task(action.pid);
      if (!task || task.startTimeTicks !== action.startTimeTicks) return no("no such process (it exited, or the pid was reused)");
      const outside = taskScopeRefusal(task, ctx);
      if (outside) return no(outside);
      const p = taskProtection(task, ctx);
      if (p) return no(p);
      const group = ctx.processGroups ? groupKill(task, ctx) : undefined;
      if (group) return { ok: true, action, execution: { method: "per-task", tasks: group.victims, spared: group.spared } };
      return { ok: true, action, execution: { method: "signal-task", task: ref(task) } };
    }
    case "kill-cgroup": {
      const cg = ctx.snapshot.cgroup(action.cgroup);
      if (!cg || cg.vanished) return no("no such cgroup");
      if (!inScope(ctx, cg.path)) return no(`outside the scope ${ctx.scope?.path ?? "/"}`);
      const k = cgroupKillPlan(cg, ctx);
      if (!k.ok) return no(k.reason);
      if (k.spared.length > 0) return { ok: true, action, execution: { method: "per-task", tasks: k.victims, spared: k.spared } };
      return { ok: true, action, execution: { method: "cgroup.kill" } };
    }
    case "reclaim": {
      const cg = ctx.snapshot.cgroup(action.cgroup);
      if (!cg || cg.vanished) return no("no such cgroup");
      if (!inScope(ctx, cg.path)) return no(`outside the scope ${ctx.scope?.path ?? "/"}`);
      if (!Number.isSafeInteger(action.bytes) || action.bytes <= 0) return no(`bytes must be a positive integer, got ${action.bytes}`);
      return { ok: true, action, execution: { method: "memory.reclaim" } };
    }
    case "remove-files": {
      if (action.paths.length === 0) return no("no files named");
      for (const p of action.paths) {
        if (!path.isAbsolute(p) || path.normalize(p) !== p) return no(`not a plain absolute path: ${p}`);
        const root = ctx.protections.tmpfsRoots.find((r) => p.startsWith(r.endsWith("/") ? r : `${r}/`));
        if (!root) return no(`${p} is not under a configured tmpfs root`);
      }
      return { ok: true, action, execution: { method: "unlink", paths: action.paths } };
    }
    default: {
      const never: never = action;
      return never;
    }
  }
}

function ref(t: TaskNode): TaskRef {
  const cgroup = t.cgroupPath;
  return cgroup === undefined ? { pid: t.pid, startTimeTicks: t.startTimeTicks, comm: t.comm } : { pid: t.pid, startTimeTicks: t.startTimeTicks, comm: t.comm, cgroup };
}
