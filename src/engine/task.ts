/**
 * One process as a snapshot sees it. Every figure is read on first use and then kept, so a
 * decision that never looks at a task's memory never reads its status file. A process that
 * vanishes between reads is "exiting", never an error. A file that cannot be read for another
 * reason (EIO, ENOMEM, EAGAIN, text that does not parse) makes that figure unknown, never an
 * exception: the task says so in `unreadable`, and where the unknown figure is one a kill must
 * be checked against (oom_score_adj, the cgroup) the verifier refuses the task (./verify.ts).
 */
import { OomkitError } from "../errors.js";
import type { Logger } from "../log.js";
import type { Host } from "../os/host.js";
import { type FaultSink, type ReadResult, faultReason, readResult } from "../os/read.js";
import { PidFile, type CgroupPath, type PidFileName, cgroupPath, procPid } from "../os/paths.js";
import { type ProcStat, type ProcStatus, isKernelThreadFlags, parseCmdline, parseExeLink, parseOomScore, parseOomScoreAdj, parseProcCgroup, parseProcStat, parseProcStatus } from "../os/parse/proc.js";
import { OOM_SCORE_ADJ_MIN } from "./badness.js";

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
  /** Hears each file of a task that could not be read (the snapshot's record of them). */
  readonly faults?: FaultSink;
}

/** A task whose stat file could not be read: no task can be made of it, and this says why. */
export interface UnreadableTask {
  readonly pid: number;
  /** "stat unreadable: EIO". */
  readonly unreadable: string;
  /** The cgroup whose cgroup.procs listed it, when one did. */
  readonly listedIn?: CgroupPath;
}

interface CgroupRead {
  readonly v2: CgroupPath | undefined;
  readonly v1Memory: string | undefined;
  /** Why the v2 cgroup is unknown, when it is and the task is not simply gone. */
  readonly unknown?: string;
}

export class TaskNode {
  readonly pid: number;
  readonly #ctx: TaskContext;
  readonly #stat: ProcStat;
  #status: ProcStatus | null | undefined;
  #memory: TaskMemory | undefined;
  #oomScoreAdj: number | undefined;
  #oomScore: number | null | undefined;
  #cmdline: readonly string[] | undefined;
  #exe: string | null | undefined;
  #cgroup: CgroupRead | undefined;
  #gone = false;
  /** File → why it could not be read, for the files that could not. */
  #faults: Map<PidFileName, string> | undefined;

  /** Use TaskNode.read: a task exists only if its stat file could be read. */
  private constructor(ctx: TaskContext, stat: ProcStat) {
    this.#ctx = ctx;
    this.#stat = stat;
    this.pid = stat.pid;
    Object.freeze(this);
  }

  /**
   * Reads the task's stat file; undefined when the pid is gone (a normal race), and why when the
   * file could not be read or parsed (without its start time no kill can name this process).
   */
  static read(ctx: TaskContext, pid: number): TaskNode | UnreadableTask | undefined {
    const r = readResult(ctx.host, procPid(pid, PidFile.stat), parseProcStat, ctx.log);
    if (r.kind === "ok") return new TaskNode(ctx, r.value);
    if (r.kind === "gone") return undefined;
    ctx.faults?.(r.fault);
    return { pid, unreadable: `${PidFile.stat} unreadable: ${r.fault.error}` };
  }

  /**
   * Why `file` of this task could not be read ("oom_score_adj unreadable: EIO"), or undefined.
   * Static, so that only engine code asks it (the verifier): a task's public face is `unreadable`.
   */
  static faultOf(task: TaskNode, file: PidFileName): string | undefined {
    const error = task.#faults?.get(file);
    return error === undefined ? undefined : `${file} unreadable: ${error}`;
  }

  /**
   * Why this task's v2 cgroup is unknown — a file that could not be read, a path outside this
   * cgroup namespace, no v2 line — or undefined when it is known or the task is gone.
   */
  static cgroupUnknown(task: TaskNode): string | undefined {
    return task.#readCgroup().unknown;
  }

  /**
   * The files of this task that could not be read so far, and why ("status unreadable: EIO"), or
   * undefined. A figure from such a file is unknown: memory reads as 0 (the task ranks last),
   * oom_score_adj as -1000 (the task is never chosen), the cgroup as undefined.
   */
  get unreadable(): string | undefined {
    if (this.#faults === undefined) return undefined;
    return [...this.#faults].map(([file, error]) => `${file} unreadable: ${error}`).join("; ");
  }

  /** A file's result; a fault is noted on the task and reported, a vanished file marks it gone. */
  #read<T>(file: PidFileName, parse: (text: string) => T): ReadResult<T> {
    const r = readResult(this.#ctx.host, procPid(this.pid, file), parse, this.#ctx.log);
    if (r.kind === "gone") this.#gone = true;
    else if (r.kind === "fault") {
      (this.#faults ??= new Map()).set(file, r.fault.error);
      this.#ctx.faults?.(r.fault);
    }
    return r;
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
      const r = this.#read(PidFile.status, parseProcStatus);
      this.#status = r.kind === "ok" ? r.value : null;
    }
    return this.#status ?? undefined;
  }

  /** Real uid, or undefined when the task vanished or its status could not be read. */
  get uid(): number | undefined {
    return this.#readStatus()?.uid?.real;
  }

  get memory(): TaskMemory {
    // Asked several times per task in a decision (protection, ranking, the record): made once.
    return (this.#memory ??= this.#makeMemory());
  }

  #makeMemory(): TaskMemory {
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

  /**
   * oom_score_adj; 0 when the task is gone (the kernel's default, and an exiting task is never
   * chosen). When the file cannot be read it is -1000: an unknown adjustment may be -1000, and
   * reading it as 0 would make such a task killable; the verifier refuses the task with the reason.
   */
  get oomScoreAdj(): number {
    if (this.#oomScoreAdj === undefined) {
      const r = this.#read(PidFile.oomScoreAdj, parseOomScoreAdj);
      this.#oomScoreAdj = r.kind === "ok" ? r.value : r.kind === "gone" ? 0 : OOM_SCORE_ADJ_MIN;
    }
    return this.#oomScoreAdj;
  }

  /** The kernel's own /proc/<pid>/oom_score, or undefined when unreadable. */
  get kernelOomScore(): number | undefined {
    if (this.#oomScore === undefined) {
      const r = readResult(this.#ctx.host, procPid(this.pid, PidFile.oomScore), parseOomScore, this.#ctx.log);
      // oom_score is the kernel's opinion, read only to show it: a fault is reported, not noted on the task.
      if (r.kind === "fault") this.#ctx.faults?.(r.fault);
      this.#oomScore = r.kind === "ok" ? r.value : null;
    }
    return this.#oomScore ?? undefined;
  }

  /** The command line; [] for a kernel thread, a task gone, or one whose cmdline could not be read. */
  get cmdline(): readonly string[] {
    if (this.#cmdline === undefined) {
      const r = this.#read(PidFile.cmdline, parseCmdline);
      this.#cmdline = Object.freeze(r.kind === "ok" ? r.value : []);
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
      // An I/O error is also a fault of this task's (the verifier refuses the task when a
      // protection by executable would need it: ./verify.ts).
      this.#ctx.log.debug(`ignoring ${link}: ${err.message}`);
      if (err.code === "E_HOST_IO") {
        const error = faultReason(err) ?? err.message;
        (this.#faults ??= new Map()).set(PidFile.exe, error);
        this.#ctx.faults?.({ path: link, error });
      }
      return undefined;
    }
  }

  #readCgroup(): CgroupRead {
    if (this.#cgroup === undefined) {
      const r = this.#read(PidFile.cgroup, parseProcCgroup);
      if (r.kind === "ok") {
        const raw = r.value.v2Path;
        const v2 = this.#v2Path(raw);
        const unknown = v2 !== undefined ? undefined : raw === undefined ? "its /proc/<pid>/cgroup has no cgroup v2 line" : `its cgroup ${raw} lies outside this cgroup namespace`;
        this.#cgroup = Object.freeze({ v2, v1Memory: r.value.v1.get("memory"), ...(unknown !== undefined ? { unknown } : {}) });
      } else {
        const unknown = r.kind === "fault" ? `${PidFile.cgroup} unreadable: ${r.fault.error}` : undefined;
        this.#cgroup = Object.freeze({ v2: undefined, v1Memory: undefined, ...(unknown !== undefined ? { unknown } : {}) });
      }
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
