/**
 * A snapshot of the machine for one decision: system memory and pressure, the cgroup v2 tree,
 * and the processes. Immutable to its readers; reads are lazy and memoised, so a decision that
 * looks only at cgroups never reads a /proc/<pid> file, and nothing is read twice.
 *
 * One bad file never stops a decision by itself: a file that cannot be read (EIO, ENOMEM,
 * EAGAIN, text that does not parse) makes its figure unknown, its task or cgroup says so, and
 * the snapshot keeps the list (`faults`) for the episode record. Only what a decision truly
 * needs stops it, with a message that names the file: MemTotal for a machine-wide OOM's
 * totalpages (systemTotalPages), and the /proc listing of a machine-wide OOM's tasks.
 */
import { OomkitError } from "../errors.js";
import { type Logger, silentLogger } from "../log.js";
import { type CgroupMode, detectCgroupMode } from "../os/cgroup-mode.js";
import type { Clock, Host, HostFacts } from "../os/host.js";
import { type Meminfo, parseMeminfo } from "../os/parse/meminfo.js";
import { type Pressure, parsePressure } from "../os/parse/psi.js";
import { type Vmstat, parseVmstat } from "../os/parse/vmstat.js";
import { PROC, PROC_MEMINFO, PROC_OSRELEASE, PROC_SWAPPINESS, PROC_VMSTAT, ROOT_CGROUP, type CgroupPath, cgroupPath, pidOfName, procPressure } from "../os/paths.js";
import { type ReadFault, readParsed } from "../os/read.js";
import { type Badness, cgroupTotalPages, oomBadness, systemTotalPages } from "./badness.js";
import { CgroupNode } from "./cgroup.js";
import { TaskNode, type UnreadableTask } from "./task.js";
import { MeteredHost } from "./metered-host.js";
import type { VisitSizes } from "./visit-order.js";

/** A file under a configured tmpfs root, for policies that free memory without killing. */
export interface FileInfo {
  readonly path: string;
  readonly sizeBytes: number;
  readonly mtimeMs: number;
}

export interface SystemState {
  readonly meminfo: Meminfo | undefined;
  readonly pressure: { readonly memory: Pressure | undefined; readonly cpu: Pressure | undefined; readonly io: Pressure | undefined };
  /** vm.swappiness; the kernel's default 60 when unreadable. */
  readonly swappiness: number;
  readonly kernelRelease: string | undefined;
}

export interface SnapshotOptions {
  readonly logger?: Logger;
  /** Skip mode detection (the daemon detects once at start). */
  readonly cgroupMode?: CgroupMode;
  /** Sizes known before reading (the warm model's): decisions visit tasks largest first by them (./visit-order.ts). */
  readonly visitSizes?: VisitSizes;
}

const DEFAULT_SWAPPINESS = 60;
/** Bounds on a tmpfs listing: a policy choosing files to remove needs the big ones, not all. */
const MAX_FILES = 10_000;
const MAX_FILE_DEPTH = 16;

export class Snapshot {
  readonly takenAtMonoMs: number;
  readonly takenAtWallMs: number;
  readonly cgroupMode: CgroupMode;
  readonly facts: HostFacts;
  /** Where the figures came from: "live machine", "fixture DIR", ... */
  readonly source: string;
  /** The sizes decisions visit tasks by, largest first; undefined: by pid (./visit-order.ts). */
  readonly visitSizes: VisitSizes | undefined;
  readonly #host: MeteredHost;
  readonly #log: Logger;
  readonly #tasks = new Map<number, TaskNode | UnreadableTask | null>();
  readonly #faults: ReadFault[] = [];
  readonly #unreadableTasks: UnreadableTask[] = [];
  readonly #noteFault = (f: ReadFault): void => void this.#faults.push(f);
  #allTasks: readonly TaskNode[] | undefined;
  #pids: readonly number[] | undefined;
  #system: SystemState | undefined;
  #vmstat: Vmstat | null | undefined;
  #root: CgroupNode | null | undefined;
  readonly #cgroupIndex = new Map<CgroupPath, CgroupNode | null>();
  readonly #files = new Map<string, readonly FileInfo[]>();

  constructor(host: Host, options: SnapshotOptions = {}) {
    this.#host = new MeteredHost(host);
    this.#log = options.logger ?? silentLogger;
    this.takenAtMonoMs = host.clock.monotonicMs();
    this.takenAtWallMs = host.clock.wallMs();
    this.cgroupMode = options.cgroupMode ?? detectCgroupMode(host);
    this.facts = host.facts();
    this.source = host.description;
    this.visitSizes = options.visitSizes;
    Object.freeze(this);
  }

  /** The clock its reads are timed by (its Host's work clock): a policy's own time is measured on it too. */
  get workClock(): Clock {
    return this.#host.work;
  }

  /** Milliseconds this snapshot has spent reading the machine so far. */
  get ioMs(): number {
    return this.#host.ioMs;
  }

  /** After a deadline cut a call short: how long a read it cut off had run (0 when it cut off none). */
  takeCutOffReadMs(): number {
    return this.#host.takeCutOffReadMs();
  }

  get pageSizeBytes(): number {
    return this.facts.pageSizeBytes;
  }

  /**
   * The files this snapshot could not read so far, and why, in the order it met them: what an
   * episode record lists under `unreadable`.
   */
  get faults(): readonly ReadFault[] {
    return this.#faults;
  }

  /** Each figure is unknown (undefined; swappiness the kernel's default) when its file cannot be read. */
  get system(): SystemState {
    if (this.#system === undefined) {
      const h = this.#host;
      const log = this.#log;
      const f = this.#noteFault;
      this.#system = Object.freeze({
        meminfo: readParsed(h, PROC_MEMINFO, parseMeminfo, log, f),
        pressure: Object.freeze({
          memory: readParsed(h, procPressure("memory"), parsePressure, log, f),
          cpu: readParsed(h, procPressure("cpu"), parsePressure, log, f),
          io: readParsed(h, procPressure("io"), parsePressure, log, f),
        }),
        swappiness: readParsed(h, PROC_SWAPPINESS, parseSwappiness, log, f) ?? DEFAULT_SWAPPINESS,
        kernelRelease: readParsed(h, PROC_OSRELEASE, parseRelease, log, f),
      });
    }
    return this.#system;
  }

  /** /proc/vmstat: the machine-wide reclaim and OOM-kill counters. */
  get vmstat(): Vmstat | undefined {
    if (this.#vmstat === undefined) this.#vmstat = readParsed(this.#host, PROC_VMSTAT, parseVmstat, this.#log, this.#noteFault) ?? null;
    return this.#vmstat ?? undefined;
  }

  /** The root of the v2 tree, or undefined in system-level mode (hybrid, v1, no memory controller). */
  get root(): CgroupNode | undefined {
    if (this.#root === undefined) {
      const mount = this.cgroupMode.unifiedMount;
      this.#root =
        this.cgroupMode.perCgroup && mount !== undefined
          ? new CgroupNode({ host: this.#host, log: this.#log, mount, task: (pid, listedIn) => this.task(pid, listedIn), faults: this.#noteFault }, ROOT_CGROUP, undefined)
          : null;
    }
    return this.#root ?? undefined;
  }

  /** Every cgroup, root first, parents before children. */
  *cgroups(): IterableIterator<CgroupNode> {
    const root = this.root;
    if (!root) return;
    yield root;
    yield* root.descendants();
  }

  /** The cgroup at a path, walking only the folders on the way to it. */
  cgroup(path: string): CgroupNode | undefined {
    const key = cgroupPath(path);
    const hit = this.#cgroupIndex.get(key);
    if (hit !== undefined) return hit ?? undefined;
    let node = this.root;
    for (const part of key.split("/").filter(Boolean)) {
      node = node?.children.find((c) => c.name === part);
      if (!node) break;
    }
    this.#cgroupIndex.set(key, node ?? null);
    return node;
  }

  /**
   * The process with this pid, or undefined when there is none (or it vanished) or its stat file
   * could not be read (unreadableTask says why).
   */
  task(pid: number, listedIn?: CgroupPath): TaskNode | undefined {
    let t = this.#tasks.get(pid);
    if (t === undefined) {
      t = TaskNode.read({ host: this.#host, log: this.#log, faults: this.#noteFault }, pid) ?? null;
      if (t !== null && !(t instanceof TaskNode)) {
        t = listedIn === undefined ? t : { ...t, listedIn };
        this.#unreadableTasks.push(t);
      }
      this.#tasks.set(pid, t);
    }
    return t instanceof TaskNode ? t : undefined;
  }

  /** Why the process with this pid was left out ("stat unreadable: EIO"), when it was asked for and could not be read. */
  unreadableTask(pid: number): string | undefined {
    const t = this.#tasks.get(pid);
    return t === undefined || t === null || t instanceof TaskNode ? undefined : t.unreadable;
  }

  /**
   * The processes left out so far because their stat file could not be read, each with why and
   * the cgroup whose cgroup.procs listed it (none when /proc did): the record's skipped tasks.
   */
  get unreadableTasks(): readonly UnreadableTask[] {
    return this.#unreadableTasks;
  }

  /**
   * The pids of every process on the machine, in pid order, from /proc's listing alone: nothing
   * of any process is read (`task(pid)` reads it, when it is visited).
   */
  pids(): readonly number[] {
    if (this.#pids === undefined) {
      const pids: number[] = [];
      let ordered = true;
      for (const e of this.#host.readDir(PROC)) {
        const pid = e.isDirectory ? pidOfName(e.name) : undefined;
        if (pid === undefined) continue;
        if (ordered && pids.length > 0 && pid < (pids[pids.length - 1] as number)) ordered = false;
        pids.push(pid);
      }
      // /proc lists in pid order; another listing (a fixture's folder) is sorted as numbers, not
      // by a comparison function: 10,000 of them are one stretch a decision cannot be stopped in.
      if (!ordered) Float64Array.from(pids).sort().forEach((pid, i) => (pids[i] = pid));
      this.#pids = Object.freeze(pids);
    }
    return this.#pids;
  }

  /** Every process on the machine (thread-group leaders), in pid order. */
  get tasks(): readonly TaskNode[] {
    if (this.#allTasks === undefined) {
      const out: TaskNode[] = [];
      for (const pid of this.pids()) {
        const t = this.task(pid);
        if (t) out.push(t);
      }
      this.#allTasks = Object.freeze(out);
    }
    return this.#allTasks;
  }

  /**
   * Regular files under a folder (a tmpfs root), largest first (ties by path); at most MAX_FILES of them.
   * Symlinks are not followed. A folder that vanished or cannot be read gives what was seen.
   */
  files(root: string): readonly FileInfo[] {
    const hit = this.#files.get(root);
    if (hit) return hit;
    const out: FileInfo[] = [];
    const walk = (dir: string, depth: number) => {
      if (out.length >= MAX_FILES || depth > MAX_FILE_DEPTH) return;
      let entries;
      try {
        entries = this.#host.readDir(dir);
      } catch (err) {
        this.#log.debug(`ignoring ${dir}: ${(err as Error).message}`);
        return;
      }
      for (const e of entries) {
        if (out.length >= MAX_FILES) return;
        const p = dir.endsWith("/") ? `${dir}${e.name}` : `${dir}/${e.name}`;
        if (e.isDirectory) {
          walk(p, depth + 1);
          continue;
        }
        try {
          const st = this.#host.stat(p);
          if (st.isFile) out.push(Object.freeze({ path: p, sizeBytes: st.sizeBytes, mtimeMs: st.mtimeMs }));
        } catch (err) {
          this.#log.debug(`ignoring ${p}: ${(err as Error).message}`);
        }
      }
    };
    walk(root, 0);
    // Ties by path in code-unit order, as the built-ins break theirs: localeCompare would page in
    // ICU's collator (~2.6 MiB of a bare node's file pages) for an order no one reads as a locale's.
    out.sort((a, b) => b.sizeBytes - a.sizeBytes || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const frozen = Object.freeze(out);
    this.#files.set(root, frozen);
    return frozen;
  }

  /**
   * totalpages of a system-wide OOM: MemTotal + SwapTotal in pages. A decision cannot weigh
   * oom_score_adj without it, so an unknown MemTotal stops the decision that needs it, with an
   * error that names the file and why.
   */
  get systemTotalPages(): number {
    const m = this.system.meminfo;
    if (m?.memTotalBytes === undefined) {
      const fault = this.#faults.find((f) => f.path === PROC_MEMINFO);
      const why = fault ? `${PROC_MEMINFO} unreadable: ${fault.error}` : `${PROC_MEMINFO} is absent or has no MemTotal`;
      throw new OomkitError(fault ? "E_HOST_IO" : "E_UNSUPPORTED", `${this.source}: MemTotal is unknown (${why}); it is needed to weigh oom_score_adj (totalpages)`);
    }
    return systemTotalPages(m.memTotalBytes, m.swapTotalBytes ?? 0, this.pageSizeBytes);
  }

  /**
   * totalpages of an OOM in `scope` as the kernel computes it: the system's for the root (or no
   * scope), mem_cgroup_get_max() for a cgroup with a limit. A cgroup without a memory.max can
   * only run out on behalf of an ancestor or the machine: its nearest limited ancestor's figure
   * is used, and the system's when there is none.
   */
  totalPagesFor(scope: CgroupNode | undefined): number {
    for (let c = scope; c && !c.isRoot; c = c.parent) {
      const max = c.memory.maxBytes;
      if (max !== undefined && Number.isFinite(max)) {
        return cgroupTotalPages(
          { memoryMaxBytes: max, swapMaxBytes: c.memory.swapMaxBytes },
          this.system.meminfo?.swapTotalBytes ?? 0,
          this.system.swappiness,
          this.pageSizeBytes,
        );
      }
    }
    return this.systemTotalPages;
  }

  /** The kernel's oom_badness of a task for an OOM in `scope` (system-wide by default). */
  badness(task: TaskNode, scope?: CgroupNode): Badness {
    const m = task.memory;
    return oomBadness(
      {
        pid: task.pid,
        kernelThread: task.kernelThread,
        exiting: task.exiting,
        oomScoreAdj: task.oomScoreAdj,
        rssBytes: m.rssBytes,
        swapBytes: m.swapBytes,
        pageTablesBytes: m.pageTablesBytes,
      },
      this.totalPagesFor(scope),
      this.pageSizeBytes,
    );
  }
}

/** The kernel's release, or undefined when the file is empty. A module-level parser: see cgroup.ts parseProcsPids. */
function parseRelease(text: string): string | undefined {
  return text.trim() || undefined;
}

function parseSwappiness(text: string): number {
  const n = Number(text.trim());
  if (!Number.isInteger(n) || n < 0 || n > 200) throw new OomkitError("E_PARSE", `vm.swappiness is not 0..200: ${text.slice(0, 60)}`);
  return n;
}

export function takeSnapshot(host: Host, options: SnapshotOptions = {}): Snapshot {
  return new Snapshot(host, options);
}

export type { CgroupNode } from "./cgroup.js";
export type { TaskNode } from "./task.js";
