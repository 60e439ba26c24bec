/**
 * One process as a snapshot sees it. Every figure is read on first use and then kept, so a
 * decision that never looks at a task's memory never reads its status file. A process that
 * vanishes between reads is "exiting", never an error.
 */
import { OomkitError } from "../errors.js";
import type { Logger } from "../log.js";
import type { Host } from "../os/host.js";
import { readParsed } from "../os/read.js";
import { PidFile, type CgroupPath, cgroupPath, procPid } from "../os/paths.js";
import { type ProcStat, type ProcStatus, isKernelThreadFlags, parseCmdline, parseExeLink, parseOomScore, parseOomScoreAdj, parseProcCgroup, parseProcStat, parseProcStatus } from "../os/parse/proc.js";

export interface TaskMemory {
  /** RssAnon + RssFile + RssShmem: what the kernel counts as resident. */
  readonly rssBytes: number;
  readonly rssAnonBytes: number;
  readonly rssFileBytes: number;
  readonly rssShmemBytes: number;
  readonly swapBytes: number;
  readonly pageTablesBytes: number;
}

const NO_MEMORY: TaskMemory = Object.freeze({
  rssBytes: 0,
  rssAnonBytes: 0,
  rssFileBytes: 0,
  rssShmemBytes: 0,
  swapBytes: 0,
  pageTablesBytes: 0,
});

export interface TaskContext {
  readonly host: Host;
  readonly log: Logger;
}

export class TaskNode {
  readonly pid: number;
  readonly #ctx: TaskContext;
  readonly #stat: ProcStat;
  #status: ProcStatus | null | undefined;
  #oomScoreAdj: number | undefined;
  #oomScore: number | null | undefined;
  #cmdline: readonly string[] | undefined;
  #exe: string | null | undefined;
  #cgroup: { v2: CgroupPath | undefined; v1Memory: string | undefined } | undefined;
  #gone = false;

  /** Use TaskNode.read: a task exists only if its stat file could be read. */
  private constructor(ctx: TaskContext, stat: ProcStat) {
    this.#ctx = ctx;
    this.#stat = stat;
    this.pid = stat.pid;
    Object.freeze(this);
  }

  /** Reads the task's stat file; undefined when the pid is gone (a normal race). */
  static read(ctx: TaskContext, pid: number): TaskNode | undefined {
    const stat = readParsed(ctx.host, procPid(pid, PidFile.stat), parseProcStat, ctx.log);
    if (stat === undefined) return undefined;
    return new TaskNode(ctx, stat);
  }

  get comm(): string {
    return this.#stat.comm;
  }
  /** The state letter from stat (R, S, D, Z, X, ...). */
  get state(): string {
    return this.#stat.state;
  }
  get ppid(): number {
    return this.#stat.ppid;
  }
  get pgrp(): number {
    return this.#stat.pgrp;
  }
  /** Start time in clock ticks since boot: with the pid, it names this process and no later one. */
  get startTimeTicks(): number {
    return this.#stat.startTimeTicks;
  }
  get kernelThread(): boolean {
    return isKernelThreadFlags(this.#stat.flags);
  }
  /**
   * Zombie or dead (from stat, already read), or seen gone by a later read of its files: killing
   * it frees nothing. Deciding this reads nothing more: a task that vanished unseen is caught by
   * the kill itself (its pidfd cannot be opened, or names another process).
   */
  get exiting(): boolean {
    return this.#stat.state === "Z" || this.#stat.state === "X" || this.#stat.state === "x" || this.#gone;
  }

  #readStatus(): ProcStatus | undefined {
    if (this.#status === undefined) {
      const status = readParsed(this.#ctx.host, procPid(this.pid, PidFile.status), parseProcStatus, this.#ctx.log);
      this.#status = status ?? null;
      if (status === undefined) this.#gone = true;
    }
    return this.#status ?? undefined;
  }

  /** Real uid, or undefined when the task vanished. */
  get uid(): number | undefined {
    return this.#readStatus()?.uid?.real;
  }

  get memory(): TaskMemory {
    const s = this.#readStatus();
    if (s === undefined || s.vmRssBytes === undefined) return NO_MEMORY;
    const rssAnonBytes = s.rssAnonBytes ?? 0;
    const rssFileBytes = s.rssFileBytes ?? 0;
    const rssShmemBytes = s.rssShmemBytes ?? 0;
    // Kernels before 4.5 have no RssAnon/RssFile split: fall back to VmRSS.
    const split = s.rssAnonBytes !== undefined || s.rssFileBytes !== undefined;
    return Object.freeze({
      rssBytes: split ? rssAnonBytes + rssFileBytes + rssShmemBytes : s.vmRssBytes,
      rssAnonBytes,
      rssFileBytes,
      rssShmemBytes,
      swapBytes: s.vmSwapBytes ?? 0,
      pageTablesBytes: s.vmPteBytes ?? 0,
    });
  }

  /** oom_score_adj; 0 when it cannot be read (the kernel's default). */
  get oomScoreAdj(): number {
    if (this.#oomScoreAdj === undefined) {
      const v = readParsed(this.#ctx.host, procPid(this.pid, PidFile.oomScoreAdj), parseOomScoreAdj, this.#ctx.log);
      if (v === undefined) this.#gone = true;
      this.#oomScoreAdj = v ?? 0;
    }
    return this.#oomScoreAdj;
  }

  /** The kernel's own /proc/<pid>/oom_score, or undefined when unreadable. */
  get kernelOomScore(): number | undefined {
    if (this.#oomScore === undefined) {
      this.#oomScore = readParsed(this.#ctx.host, procPid(this.pid, PidFile.oomScore), parseOomScore, this.#ctx.log) ?? null;
    }
    return this.#oomScore ?? undefined;
  }

  get cmdline(): readonly string[] {
    if (this.#cmdline === undefined) {
      const v = readParsed(this.#ctx.host, procPid(this.pid, PidFile.cmdline), parseCmdline, this.#ctx.log);
      this.#cmdline = Object.freeze(v ?? []);
    }
    return this.#cmdline;
  }

  /**
   * The task's executable: the path /proc/<pid>/exe shows, symlinks resolved, as seen in the
   * task's own mount namespace. undefined when it cannot be read (a kernel thread, a zombie, a task
   * gone, no permission, any other error) and when the file was deleted or replaced since the task
   * started it (os/parse/proc.ts, parseExeLink): such a path no longer names what runs.
   *
   * The task chooses it as surely as its comm: it can exec any binary it can read (and load its
   * own code into it with LD_PRELOAD), and inside a user namespace of its own PR_SET_MM_MAP points
   * the link at any executable file. What it cannot choose is its real uid: protections go by a
   * task's executable only for trusted uids (./verify.ts).
   */
  get exe(): string | undefined {
    if (this.#exe === undefined) this.#exe = this.#readExe() ?? null;
    return this.#exe ?? undefined;
  }

  #readExe(): string | undefined {
    if (this.kernelThread) return undefined;
    const link = procPid(this.pid, PidFile.exe);
    try {
      return parseExeLink(this.#ctx.host.readLink(link));
    } catch (err) {
      if (!(err instanceof OomkitError)) throw err;
      // Vanished (a zombie, a task gone), no permission, or an I/O error: unknown, never a stop.
      this.#ctx.log.debug(`ignoring ${link}: ${err.message}`);
      return undefined;
    }
  }

  #readCgroup(): { v2: CgroupPath | undefined; v1Memory: string | undefined } {
    if (this.#cgroup === undefined) {
      const c = readParsed(this.#ctx.host, procPid(this.pid, PidFile.cgroup), parseProcCgroup, this.#ctx.log);
      this.#cgroup = Object.freeze({ v2: this.#v2Path(c?.v2Path), v1Memory: c?.v1.get("memory") });
    }
    return this.#cgroup;
  }

  /**
   * Seen from inside a cgroup namespace (a container that is not in the host's), a task outside
   * it shows a path like "/../../other": it cannot be placed in the tree oomkit reads, so its
   * cgroup is unknown (run oomkit in the host's cgroup namespace; see docs/operations.md).
   */
  #v2Path(raw: string | undefined): CgroupPath | undefined {
    if (raw === undefined) return undefined;
    if (raw.split("/").includes("..")) {
      this.#ctx.log.debug(`ignoring the cgroup of pid ${this.pid}: ${raw} lies outside this cgroup namespace`);
      return undefined;
    }
    return cgroupPath(raw);
  }

  /** The task's cgroup in the v2 hierarchy (from /proc/<pid>/cgroup "0::"), if any. */
  get cgroupPath(): CgroupPath | undefined {
    return this.#readCgroup().v2;
  }
  /** The task's v1 memory cgroup on hybrid and v1 machines. */
  get v1MemoryCgroup(): string | undefined {
    return this.#readCgroup().v1Memory;
  }

  /** Reads everything now: for `record`, benchmarks, and callers that want no later I/O. */
  readAll(): this {
    void this.memory;
    void this.exiting;
    void this.oomScoreAdj;
    void this.kernelOomScore;
    void this.cmdline;
    void this.exe;
    void this.cgroupPath;
    return this;
  }
}
