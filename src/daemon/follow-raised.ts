/**
 * What the kernel fallback (./follow.ts) changed on the machine, and how it is changed and put
 * back: the tasks it raised to oom_score_adj 1000 (and the children that inherited the value),
 * the cgroups it set memory.oom.group 1 on, kept in the state file (./follow-store.ts) before each
 * change. A value is put back only where it is still the one oomkit wrote, for the same process;
 * a task whose value someone else changed is forgotten, and not raised again while it is wanted.
 */
import type { TaskRef } from "../engine/verify.js";
import type { Logger } from "../log.js";
import type { CgroupMode } from "../os/cgroup-mode.js";
import type { Host } from "../os/host.js";
import { parseProcStat } from "../os/parse/proc.js";
import { CgroupFile, type CgroupPath, PidFile, cgroupDir, procPid } from "../os/paths.js";
import { type FollowStore, type Leftovers, groupStillOurs, stillOurs } from "./follow-store.js";
import { FOLLOW_ADJ, type RaisedTask } from "./follow-view.js";

export interface Tracked extends RaisedTask {
  readonly comm: string;
  /** The task a standing decision named that this one is (or descends from); undefined: left by a previous run. */
  readonly root: { readonly pid: number; readonly startTimeTicks: number } | undefined;
  readonly inheritedFrom?: number;
}

/** A process by pid and start time. */
export const key = (t: { readonly pid: number; readonly startTimeTicks: number }) => `${t.pid}:${t.startTimeTicks}`;

export class RaisedSet {
  /** pid → the task raised (the machine's view reads original values from it). */
  readonly tasks = new Map<number, Tracked>();
  /** Cgroups whose memory.oom.group oomkit set to 1. */
  readonly groups = new Set<CgroupPath>();
  /** Tasks whose raised value someone else changed: not raised again while they stay wanted. */
  readonly #yielded = new Set<string>();
  readonly #host: Host;
  readonly #mode: CgroupMode;
  readonly #log: Logger;
  readonly #store: FollowStore;

  constructor(opts: { host: Host; mode: CgroupMode; log: Logger; store: FollowStore }) {
    this.#host = opts.host;
    this.#mode = opts.mode;
    this.#log = opts.log;
    this.#store = opts.store;
  }

  /** What a previous run left and start-up could not put back: tried again at each apply. */
  adoptLeftovers(left: Leftovers): void {
    for (const t of left.tasks) this.tasks.set(t.pid, { ...t, comm: "?", root: undefined });
    if (this.#mode.perCgroup) for (const g of left.oomGroups) this.groups.add(g);
  }

  /** Tracks each of `fresh` (new pids) whose parent is raised and that holds the inherited 1000; true when any was. */
  adoptChildren(fresh: readonly number[]): boolean {
    const before = this.tasks.size;
    let left = fresh.filter((p) => !this.tasks.has(p));
    for (let added = true; added && left.length > 0; ) {
      added = false;
      const rest: number[] = [];
      for (const pid of left) {
        const child = this.#readChild(pid);
        if (child) {
          this.tasks.set(pid, child);
          added = true;
          this.#log.debug(`kernel fallback: pid ${pid} (${child.comm}) inherited oom_score_adj ${FOLLOW_ADJ} from pid ${child.inheritedFrom}; tracked`);
        } else rest.push(pid);
      }
      left = rest;
    }
    return this.tasks.size > before;
  }

  #readChild(pid: number): Tracked | undefined {
    try {
      const stat = parseProcStat(this.#host.readFile(procPid(pid, PidFile.stat)));
      const parent = this.tasks.get(stat.ppid);
      if (!parent || parent.root === undefined) return undefined;
      if (Number(this.#host.readFile(procPid(pid, PidFile.oomScoreAdj)).trim()) !== FOLLOW_ADJ) return undefined;
      return { pid, startTimeTicks: stat.startTimeTicks, original: parent.original, comm: stat.comm, root: parent.root, inheritedFrom: stat.ppid };
    } catch {
      return undefined;
    }
  }

  /** Raises what is wanted and not yet raised, puts back what is no longer wanted; true when anything changed. */
  apply(wanted: ReadonlyMap<string, TaskRef>, wantedGroups: ReadonlySet<CgroupPath>): boolean {
    const forgot = this.#forgetNotOurs(wanted);
    const raise = this.#toRaise(wanted);
    const setGroups = this.#mount === undefined ? [] : [...wantedGroups].filter((c) => !this.groups.has(c) && this.#readTrim(this.#groupFile(c)) === "0");
    const drop = [...this.tasks.values()].filter((t) => t.root === undefined || !wanted.has(key(t.root)));
    const clear = [...this.groups].filter((c) => !wantedGroups.has(c));
    if (raise.length + setGroups.length + drop.length + clear.length === 0) {
      if (forgot) this.persist();
      return forgot;
    }
    // Recorded in the state file first, so that a crash between never leaves a change unrecorded.
    if (raise.length + setGroups.length === 0 || this.persist([...this.tasks.values(), ...raise], [...this.groups, ...setGroups])) this.#raise(raise, setGroups);
    this.#putBack(drop, clear);
    this.persist();
    return true;
  }

  get #mount(): string | undefined {
    return this.#mode.perCgroup ? this.#mode.unifiedMount : undefined;
  }

  #groupFile(c: CgroupPath): string {
    return `${cgroupDir(this.#mount ?? "", c)}/${CgroupFile.memoryOomGroup}`;
  }

  /** Tasks that exited, or whose value someone else changed, are no longer oomkit's to put back. */
  #forgetNotOurs(wanted: ReadonlyMap<string, TaskRef>): boolean {
    let forgot = false;
    for (const t of this.tasks.values()) {
      const not = stillOurs(this.#host, t);
      if (not === undefined) continue;
      this.#log.debug(`kernel fallback: pid ${t.pid} no longer tracked (${not.why})`);
      if (!not.gone) this.#yielded.add(key(t));
      this.tasks.delete(t.pid);
      forgot = true;
    }
    for (const y of this.#yielded) if (!wanted.has(y)) this.#yielded.delete(y);
    return forgot;
  }

  /** The wanted tasks to raise now, each with the value it has. */
  #toRaise(wanted: ReadonlyMap<string, TaskRef>): Tracked[] {
    const raise: Tracked[] = [];
    for (const r of wanted.values()) {
      const root = { pid: r.pid, startTimeTicks: r.startTimeTicks };
      const t = this.tasks.get(r.pid);
      if (t?.startTimeTicks === r.startTimeTicks) {
        // A child raised for another victim is now a standing victim itself: it stays, on its own account.
        if (t.root === undefined || !wanted.has(key(t.root))) this.tasks.set(r.pid, { ...t, root });
        continue;
      }
      if (this.#yielded.has(key(r))) continue;
      const adj = this.#currentAdj(r);
      // Never a task at −1000 (never a target anyway), and nothing to do for one at 1000.
      if (adj !== undefined && adj > -1000 && adj < FOLLOW_ADJ) raise.push({ ...root, original: adj, comm: r.comm, root });
    }
    return raise;
  }

  #raise(tasks: readonly Tracked[], groups: readonly CgroupPath[]): void {
    for (const t of tasks) {
      if (!this.#write(procPid(t.pid, PidFile.oomScoreAdj), String(FOLLOW_ADJ), `raise pid ${t.pid} (${t.comm})`)) continue;
      this.tasks.set(t.pid, t);
      this.#log.info(`kernel fallback: pid ${t.pid} (${t.comm}) oom_score_adj ${t.original} → ${FOLLOW_ADJ}`);
    }
    for (const c of groups) {
      if (!this.#write(this.#groupFile(c), "1", `set memory.oom.group on ${c}`)) continue;
      this.groups.add(c);
      this.#log.info(`kernel fallback: memory.oom.group 0 → 1 on ${c}`);
    }
  }

  /** Puts back each value that is still the one oomkit wrote; one that cannot be written now is tried again next time. */
  #putBack(tasks: readonly Tracked[], groups: readonly CgroupPath[]): void {
    for (const t of tasks) {
      if (stillOurs(this.#host, t) === undefined) {
        if (!this.#write(procPid(t.pid, PidFile.oomScoreAdj), String(t.original), `put back pid ${t.pid}`)) continue;
        this.#log.info(`kernel fallback: pid ${t.pid} (${t.comm}) oom_score_adj back to ${t.original}`);
      }
      this.tasks.delete(t.pid);
    }
    for (const c of groups) {
      const why = groupStillOurs(this.#host, this.#groupFile(c));
      if (why === undefined) {
        if (!this.#write(this.#groupFile(c), "0", `put back memory.oom.group on ${c}`)) continue;
        this.#log.info(`kernel fallback: memory.oom.group back to 0 on ${c}`);
      } else this.#log.debug(`kernel fallback: ${c} left as it is (${why})`);
      this.groups.delete(c);
    }
  }

  /** A wanted task's oom_score_adj now, or undefined when it is not the same process any more. */
  #currentAdj(r: TaskRef): number | undefined {
    try {
      if (parseProcStat(this.#host.readFile(procPid(r.pid, PidFile.stat))).startTimeTicks !== r.startTimeTicks) return undefined;
      const adj = Number(this.#host.readFile(procPid(r.pid, PidFile.oomScoreAdj)).trim());
      return Number.isInteger(adj) ? adj : undefined;
    } catch {
      return undefined;
    }
  }

  #readTrim(file: string): string | undefined {
    try {
      return this.#host.readFile(file).trim();
    } catch {
      return undefined;
    }
  }

  #write(file: string, value: string, what: string): boolean {
    try {
      this.#host.writeFile(file, value);
      return true;
    } catch (err) {
      this.#log.warn(`kernel fallback: cannot ${what}: ${(err as Error).message}`);
      return false;
    }
  }

  /** Writes the state file: what is raised now (or about to be). */
  persist(tasks: Iterable<RaisedTask> = this.tasks.values(), groups: Iterable<CgroupPath> = this.groups): boolean {
    try {
      this.#store.write(tasks, groups);
      return true;
    } catch (err) {
      this.#log.warn(`kernel fallback state ${this.#store.file}: cannot be written (${(err as Error).message}); nothing more is raised until it can`);
      return false;
    }
  }
}
