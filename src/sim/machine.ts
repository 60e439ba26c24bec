/**
 * SimMachine: the simulated machine's public face. It owns the state (./state.ts), the ledger
 * and the virtual time, and offers what a kernel offers from outside: create cgroups and set
 * their limits, start tasks, send signals, kill a cgroup, reclaim on request, register PSI
 * triggers, and advance time. Everything is deterministic for a given spec (its seed included).
 */
import { OomkitError } from "../errors.js";
import { type CgroupPath, ROOT_CGROUP, cgroupPath, parentCgroup } from "../os/paths.js";
import { DEFAULT_COSTS, type Costs, type KernelKill, type SimKernel, type Vmstat, type Watermarks, newVmstat, watermarksFor } from "./kernel.js";
import { Ledger, type SwapDevice } from "./ledger.js";
import { outOfMemory } from "./oom-killer.js";
import type { SimPsiTrigger, StallKind } from "./psi.js";
import { hashSeed } from "./rng.js";
import { reclaim } from "./reclaim.js";
import { SimCgroup, SimTask } from "./state.js";
import { PID_MAX_LIMIT, type TaskSpec, taskBehaviour } from "./task-spec.js";
import { step } from "./step.js";

export type { TaskSpec } from "./task-spec.js";

const MiB = 1024 * 1024;

export interface MachineSpec {
  readonly memTotalBytes: number;
  readonly swap?: { readonly kind: "disk" | "zram"; readonly totalBytes: number; readonly compressionRatio?: number };
  /** vm.swappiness, 0..200 (default 60). */
  readonly swappiness?: number;
  /** Memory the kernel holds for itself (default 4% of RAM). */
  readonly kernelReservedBytes?: number;
  /** Length of a step of virtual time (default 50 ms: a tenth of the shortest PSI window). */
  readonly stepMs?: number;
  readonly seed?: number;
  readonly costs?: Partial<Costs>;
  /** A killed task's memory returns after baseMs + msPerMiB × its footprint (defaults 5 and 0.4: the VM's kill figures). */
  readonly reap?: { readonly baseMs: number; readonly msPerMiB: number };
  readonly pageSizeBytes?: number;
}

/** Limits and marks of a cgroup, in bytes (Infinity for "max"). */
export interface CgroupSpec {
  readonly max?: number;
  readonly high?: number;
  readonly low?: number;
  readonly min?: number;
  readonly swapMax?: number;
  readonly oomGroup?: boolean;
  readonly xattrs?: Readonly<Record<string, string>>;
  readonly ownerUid?: number;
}

export type LimitName = "max" | "high" | "low" | "min" | "swap.max";

export class SimMachine {
  readonly pageSizeBytes: number;
  readonly stepMs: number;
  readonly seed: number;
  readonly k: SimKernel;
  #now = 0;
  #nextPid = 100;
  #cgSeq = 0;
  readonly #tasks = new Map<number, SimTask>();
  /** The tasks in pid order, kept until one starts or leaves (the step walks it twice). */
  #sorted: SimTask[] | undefined;
  readonly #root: SimCgroup;
  readonly #reap: { baseMs: number; msPerMiB: number };
  /** Rises whenever a cgroup or a task comes or goes (see shapeGeneration). */
  #shape = 0;

  constructor(spec: MachineSpec) {
    this.pageSizeBytes = spec.pageSizeBytes ?? 4096;
    this.stepMs = spec.stepMs ?? 50;
    this.seed = spec.seed ?? 1;
    if (!(spec.memTotalBytes >= 16 * MiB)) throw new OomkitError("E_CONFIG", `memTotalBytes must be at least 16 MiB (got ${spec.memTotalBytes})`);
    if (!(this.stepMs > 0 && this.stepMs <= 1000)) throw new OomkitError("E_CONFIG", `stepMs must be in (0, 1000] (got ${this.stepMs})`);
    const swappiness = spec.swappiness ?? 60;
    if (!(Number.isInteger(swappiness) && swappiness >= 0 && swappiness <= 200)) throw new OomkitError("E_CONFIG", `swappiness must be 0..200 (got ${swappiness})`);
    const pages = (b: number) => Math.floor(b / this.pageSizeBytes);
    const totalPages = pages(spec.memTotalBytes);
    const swap: SwapDevice | undefined = spec.swap && {
      kind: spec.swap.kind,
      totalPages: pages(spec.swap.totalBytes),
      compressionRatio: spec.swap.kind === "zram" ? (spec.swap.compressionRatio ?? 3) : 1,
    };
    if (swap && !(swap.compressionRatio >= 1)) throw new OomkitError("E_CONFIG", `zram compressionRatio must be ≥ 1`);
    const ledger = new Ledger(totalPages, pages(spec.kernelReservedBytes ?? spec.memTotalBytes * 0.04), swap);
    this.#root = new SimCgroup(ROOT_CGROUP, undefined, 0, this.#cgSeq++);
    this.#reap = { baseMs: 5, msPerMiB: 0.4, ...spec.reap };
    const costs: Costs = { ...DEFAULT_COSTS, ...spec.costs };
    const kernelKills: KernelKill[] = [];
    const vmstat: Vmstat = newVmstat();
    const watermarks: Watermarks = watermarksFor(totalPages, this.pageSizeBytes);
    this.k = {
      ledger,
      costs,
      swappiness,
      root: this.#root,
      vmstat,
      watermarks,
      kernelKills,
      pageSizeBytes: this.pageSizeBytes,
      reapDelayMs: (t) => this.#reap.baseMs + (this.#reap.msPerMiB * t.footprintPages() * this.pageSizeBytes) / MiB,
      nowMs: () => this.#now,
    };
  }

  get nowMs(): number {
    return this.#now;
  }

  get root(): SimCgroup {
    return this.#root;
  }

  /**
   * Rises whenever a cgroup is made or removed and whenever a task starts or leaves: while it
   * stands, every path names the same cgroup or task object (what a reader may keep per path).
   */
  get shapeGeneration(): number {
    return this.#shape;
  }

  /** Runs the machine to `ms` of virtual time, in steps of stepMs (the last one shorter). */
  advanceTo(ms: number): void {
    if (!(ms >= this.#now)) throw new OomkitError("E_INTERNAL", `the simulation cannot go back (${this.#now} → ${ms} ms)`);
    const world = {
      k: this.k,
      tasks: () => this.tasks(),
      fork: (parent: SimTask) => void this.#fork(parent),
      reap: (t: SimTask) => this.#reapTask(t),
    };
    while (this.#now < ms) {
      const dt = Math.min(this.stepMs, ms - this.#now);
      step(world, this.#now, dt);
      this.#now += dt;
    }
  }

  cgroup(path: string): SimCgroup | undefined {
    let cg: SimCgroup | undefined = this.#root;
    for (const part of cgroupPath(path).split("/").filter(Boolean)) cg = cg?.children.get(part);
    return cg;
  }

  /** Creates a cgroup (and its missing parents) and applies `spec`; an existing one is updated. */
  addCgroup(path: string, spec: CgroupSpec = {}): SimCgroup {
    const p = cgroupPath(path);
    let cg = this.cgroup(p);
    if (!cg) {
      const parent = this.addCgroup(parentCgroup(p) ?? ROOT_CGROUP);
      cg = new SimCgroup(p, parent, this.#now, this.#cgSeq++);
      parent.children.set(cg.name, cg);
      this.#shape++;
    }
    if (cg !== this.#root) this.#applyCgroup(cg, spec);
    return cg;
  }

  #applyCgroup(cg: SimCgroup, spec: CgroupSpec): void {
    const limits: [LimitName, number | undefined][] = [["min", spec.min], ["low", spec.low], ["high", spec.high], ["swap.max", spec.swapMax], ["max", spec.max]];
    for (const [name, v] of limits) if (v !== undefined) this.setLimit(cg.path, name, v);
    if (spec.oomGroup !== undefined) cg.oomGroup = spec.oomGroup;
    for (const [k, v] of Object.entries(spec.xattrs ?? {})) cg.xattrs.set(k, v);
    if (spec.ownerUid !== undefined) cg.ownerUid = spec.ownerUid;
  }

  /** Removes an empty cgroup (EBUSY, as the kernel says, while it has tasks or children). */
  removeCgroup(path: string): void {
    const cg = this.#need(path);
    if (cg === this.#root || cg.tasks.size > 0 || cg.children.size > 0) throw new OomkitError("E_HOST_IO", `rmdir ${cg.path}: EBUSY`);
    if (cg.cachePages > 0) this.k.ledger.dropCache(cg, cg.cachePages);
    cg.parent?.children.delete(cg.name);
    this.#shape++;
  }

  #need(path: string): SimCgroup {
    const cg = this.cgroup(path);
    if (!cg) throw new OomkitError("E_VANISHED", `no cgroup ${path}`, { cause: Object.assign(new Error("ENOENT"), { code: "ENOENT" }) });
    return cg;
  }

  /**
   * Sets a limit in bytes (rounded down to pages; Infinity for "max"). Lowering memory.max or
   * memory.high below usage reclaims at once, as the kernel's write does; a memory.max still
   * exceeded after that runs the OOM killer for the cgroup.
   */
  setLimit(path: string, name: LimitName, bytes: number): void {
    const cg = this.#need(path);
    if (cg === this.#root) throw new OomkitError("E_PERMISSION", `the root cgroup has no memory.${name}`);
    if (!(bytes >= 0)) throw new OomkitError("E_CONFIG", `memory.${name} must be ≥ 0 bytes or max (got ${bytes})`);
    const pages = Number.isFinite(bytes) ? Math.floor(bytes / this.pageSizeBytes) : Infinity;
    if (name === "max") cg.maxPages = pages;
    else if (name === "high") cg.highPages = pages;
    else if (name === "low") cg.lowPages = pages;
    else if (name === "min") cg.minPages = pages;
    else cg.swapMaxPages = pages;
    if ((name === "max" || name === "high") && cg.usage > pages) reclaim(this.k, cg, cg.usage - pages, "proactive");
    if (name === "max" && cg.usage > pages) {
      cg.eventsLocal.max++;
      cg.eventsLocal.oom++;
      outOfMemory(this.k, cg);
    }
  }

  /** Starts a task. Its curve and figures are checked; a bad one is an E_CONFIG naming the task. */
  addTask(spec: TaskSpec): SimTask {
    const behaviour = taskBehaviour(spec, this.pageSizeBytes);
    const pid = spec.pid ?? this.#nextFreePid();
    if (!(Number.isInteger(pid) && pid > 0 && pid < PID_MAX_LIMIT)) throw new OomkitError("E_CONFIG", `task ${JSON.stringify(spec.comm)}: pid ${pid} out of range`);
    if (this.#tasks.has(pid)) throw new OomkitError("E_CONFIG", `task ${JSON.stringify(spec.comm)}: pid ${pid} is taken`);
    const cg = this.addCgroup(spec.cgroup ?? "/");
    const t = new SimTask(pid, spec.comm.slice(0, 15), cg, spec.ppid ?? 1, spec.uid ?? 0, spec.oomScoreAdj ?? 0, this.#now, behaviour, hashSeed(this.seed, pid), spec.exe, spec.cmdline ?? [spec.comm]);
    t.fileEvicted = behaviour.filePages;
    cg.tasks.add(t);
    this.#tasks.set(pid, t);
    this.#sorted = undefined;
    this.#shape++;
    this.#nextPid = Math.max(this.#nextPid, pid + 1);
    return t;
  }

  #nextFreePid(): number {
    while (this.#tasks.has(this.#nextPid)) this.#nextPid++;
    return this.#nextPid;
  }

  #fork(parent: SimTask): SimTask {
    return this.addTask({
      comm: parent.comm,
      cgroup: parent.cgroup.path,
      ppid: parent.pid,
      uid: parent.uid,
      oomScoreAdj: parent.oomScoreAdj,
      curve: { kind: "steady", bytes: parent.behaviour.fork?.childBytes ?? 0 },
      fileBytes: 0,
      ...(parent.exe ? { exe: parent.exe } : {}),
    });
  }

  #reapTask(t: SimTask): void {
    this.k.ledger.release(t);
    this.#tasks.delete(t.pid);
    this.#sorted = undefined;
    this.#shape++;
  }

  task(pid: number): SimTask | undefined {
    return this.#tasks.get(pid);
  }

  /** Tasks on the machine (running and dying), pid order. */
  tasks(): readonly SimTask[] {
    this.#sorted ??= [...this.#tasks.values()].sort((a, b) => a.pid - b.pid);
    return this.#sorted;
  }

  /**
   * Sends a signal. SIGKILL: the task dies now and its memory returns after the reap delay
   * (`mrelease` halves it: process_mrelease frees in the caller's context). SIGTERM: the task
   * exits after its own delay, or ignores it. A task already dying is left alone.
   */
  signal(pid: number, sig: "SIGTERM" | "SIGKILL", opts: { mrelease?: boolean } = {}): void {
    const t = this.#tasks.get(pid);
    if (!t) throw new OomkitError("E_VANISHED", `no process ${pid}`, { cause: Object.assign(new Error("ESRCH"), { code: "ESRCH" }) });
    if (t.state !== "running") return;
    if (sig === "SIGTERM") {
      if (t.behaviour.onTerm !== "ignore") t.termExitAtMs ??= this.#now + t.behaviour.onTerm.exitAfterMs;
      return;
    }
    t.state = "dying";
    t.killedBy = "signal";
    t.reapAtMs = this.#now + this.k.reapDelayMs(t) * (opts.mrelease ? 0.5 : 1);
  }

  /** cgroup.kill: SIGKILL to every task of the subtree. */
  killCgroup(path: string): void {
    for (const c of this.#need(path).subtree()) for (const t of [...c.tasks]) this.signal(t.pid, "SIGKILL");
  }

  /** memory.reclaim: returns bytes reclaimed (less than asked is no error here; the kernel says EAGAIN). */
  reclaimBytes(path: string, bytes: number): number {
    const cg = this.#need(path);
    const before = cg.usage;
    reclaim(this.k, cg, Math.ceil(bytes / this.pageSizeBytes), "proactive", cg === this.#root);
    return Math.max(0, before - cg.usage) * this.pageSizeBytes;
  }

  setOomScoreAdj(pid: number, adj: number): void {
    const t = this.#tasks.get(pid);
    if (!t) throw new OomkitError("E_VANISHED", `no process ${pid}`, { cause: Object.assign(new Error("ESRCH"), { code: "ESRCH" }) });
    if (!(Number.isInteger(adj) && adj >= -1000 && adj <= 1000)) throw new OomkitError("E_HOST_IO", `oom_score_adj ${adj}: EINVAL`, { cause: Object.assign(new Error("EINVAL"), { code: "EINVAL" }) });
    t.oomScoreAdj = adj;
  }

  /** Moves a task to another cgroup (a write to cgroup.procs). */
  moveTask(pid: number, path: string): void {
    const t = this.#tasks.get(pid);
    if (!t) throw new OomkitError("E_VANISHED", `no process ${pid}`, { cause: Object.assign(new Error("ESRCH"), { code: "ESRCH" }) });
    this.k.ledger.moveTask(t, this.#need(path));
  }

  /** A PSI trigger on a cgroup's memory.pressure (the root's is the machine's). */
  psiTrigger(path: CgroupPath | string, kind: StallKind, stallUs: number, windowUs: number): SimPsiTrigger {
    return this.#need(path).psi.addTrigger(kind, stallUs, windowUs, this.#now);
  }

  /** Adds cold page cache to a cgroup (a file read), as far as free memory allows. */
  addPageCache(path: string, bytes: number): void {
    const room = Math.max(0, this.k.ledger.freePages - this.k.watermarks.high);
    this.k.ledger.addCache(this.#need(path), Math.min(room, Math.floor(bytes / this.pageSizeBytes)));
  }
}
