/**
 * One cgroup v2 as a snapshot sees it. Figures are read on first use and kept. A file this
 * kernel or fixture lacks (memory.peak before 5.19, memory.swap.peak before 6.5, memory.events
 * on the root) is undefined, "unknown", never a reason to drop the cgroup.
 */
import { isVanished } from "../errors.js";
import type { Logger } from "../log.js";
import type { Host } from "../os/host.js";
import { readParsed } from "../os/read.js";
import { CgroupFile, type CgroupFileName, type CgroupPath, cgroupDir, joinCgroup } from "../os/paths.js";
import {
  type CgroupEvents,
  type MemoryEvents,
  type MemoryStat,
  parseCgroupEvents,
  parseControllers,
  parseFlag,
  parseMemoryEvents,
  parseMemoryStat,
  parseMemoryValue,
  parsePidList,
} from "../os/parse/cgroup.js";
import { type Pressure, parsePressure } from "../os/parse/psi.js";
import type { TaskNode } from "./task.js";

/** Limits and usage in bytes; Infinity means "max"; undefined means this kernel has no such file. */
export interface CgroupMemory {
  readonly currentBytes: number | undefined;
  readonly minBytes: number | undefined;
  readonly lowBytes: number | undefined;
  readonly highBytes: number | undefined;
  readonly maxBytes: number | undefined;
  readonly peakBytes: number | undefined;
  readonly swapCurrentBytes: number | undefined;
  readonly swapHighBytes: number | undefined;
  readonly swapMaxBytes: number | undefined;
  readonly swapPeakBytes: number | undefined;
  /** memory.oom.group: the kernel kills the whole cgroup on an OOM. */
  readonly oomGroup: boolean | undefined;
}

export interface CgroupPressure {
  readonly memory: Pressure | undefined;
  readonly cpu: Pressure | undefined;
  readonly io: Pressure | undefined;
}

export interface CgroupContext {
  readonly host: Host;
  readonly log: Logger;
  /** Where the v2 hierarchy is mounted. */
  readonly mount: string;
  task(pid: number): TaskNode | undefined;
}

export class CgroupNode {
  readonly path: CgroupPath;
  readonly name: string;
  readonly parent: CgroupNode | undefined;
  readonly depth: number;
  readonly #ctx: CgroupContext;
  readonly #dir: string;
  readonly #cache = new Map<string, unknown>();

  constructor(ctx: CgroupContext, path: CgroupPath, parent: CgroupNode | undefined) {
    this.#ctx = ctx;
    this.path = path;
    this.parent = parent;
    this.depth = parent ? parent.depth + 1 : 0;
    this.name = path === "/" ? "/" : path.slice(path.lastIndexOf("/") + 1);
    this.#dir = cgroupDir(ctx.mount, path);
    Object.freeze(this);
  }

  get isRoot(): boolean {
    return this.parent === undefined;
  }

  #memo<T>(key: string, compute: () => T): T {
    if (this.#cache.has(key)) return this.#cache.get(key) as T;
    const value = compute();
    this.#cache.set(key, value);
    return value;
  }

  #read<T>(file: CgroupFileName, parse: (text: string) => T): T | undefined {
    return readParsed(this.#ctx.host, `${this.#dir}/${file}`, parse, this.#ctx.log);
  }

  /** The machine path of one of this cgroup's control files (for the engine's actions). */
  filePath(file: CgroupFileName): string {
    return `${this.#dir}/${file}`;
  }

  /** True when the cgroup's folder was gone when its children were listed. */
  get vanished(): boolean {
    void this.children;
    return this.#cache.get("vanished") === true;
  }

  get children(): readonly CgroupNode[] {
    return this.#memo("children", () => {
      let entries;
      try {
        entries = this.#ctx.host.readDir(this.#dir);
      } catch (err) {
        if (!isVanished(err)) throw err;
        this.#ctx.log.debug(`ignoring cgroup ${this.path}: ${(err as Error).message}`);
        this.#cache.set("vanished", true);
        return Object.freeze([]);
      }
      const dirs = entries.filter((e) => e.isDirectory).map((e) => e.name).sort();
      return Object.freeze(dirs.map((name) => new CgroupNode(this.#ctx, joinCgroup(this.path, name), this)));
    });
  }

  /** This cgroup's descendants, depth first, parents before children (not including itself). */
  *descendants(): IterableIterator<CgroupNode> {
    for (const child of this.children) {
      if (child.vanished) continue;
      yield child;
      yield* child.descendants();
    }
  }

  get isLeaf(): boolean {
    return this.children.length === 0;
  }

  /** Each figure is read on first use (a policy asking only for oomGroup reads one file). */
  get memory(): CgroupMemory {
    return this.#memo("memory", () => {
      const field = <T>(file: CgroupFileName, parse: (text: string) => T) => ({
        enumerable: true,
        get: () => this.#memo(file, () => this.#read(file, parse)),
      });
      const value = (file: CgroupFileName) => field(file, parseMemoryValue);
      return Object.freeze(
        Object.defineProperties({} as CgroupMemory, {
          currentBytes: value(CgroupFile.memoryCurrent),
          minBytes: value(CgroupFile.memoryMin),
          lowBytes: value(CgroupFile.memoryLow),
          highBytes: value(CgroupFile.memoryHigh),
          maxBytes: value(CgroupFile.memoryMax),
          peakBytes: value(CgroupFile.memoryPeak),
          swapCurrentBytes: value(CgroupFile.memorySwapCurrent),
          swapHighBytes: value(CgroupFile.memorySwapHigh),
          swapMaxBytes: value(CgroupFile.memorySwapMax),
          swapPeakBytes: value(CgroupFile.memorySwapPeak),
          oomGroup: field(CgroupFile.memoryOomGroup, parseFlag),
        }),
      );
    });
  }

  get stat(): MemoryStat | undefined {
    return this.#memo("stat", () => this.#read(CgroupFile.memoryStat, parseMemoryStat));
  }
  /** memory.events: hierarchical counters (this cgroup and its descendants). */
  get events(): MemoryEvents | undefined {
    return this.#memo("events", () => this.#read(CgroupFile.memoryEvents, parseMemoryEvents));
  }
  /** memory.events.local: counters for this cgroup alone. */
  get eventsLocal(): MemoryEvents | undefined {
    return this.#memo("eventsLocal", () => this.#read(CgroupFile.memoryEventsLocal, parseMemoryEvents));
  }
  get swapEvents(): MemoryEvents | undefined {
    return this.#memo("swapEvents", () => this.#read(CgroupFile.memorySwapEvents, parseMemoryEvents));
  }
  get cgroupEvents(): CgroupEvents | undefined {
    return this.#memo("cgroupEvents", () => this.#read(CgroupFile.events, parseCgroupEvents));
  }
  get populated(): boolean | undefined {
    return this.cgroupEvents?.populated;
  }

  get pressure(): CgroupPressure {
    return this.#memo("pressure", () =>
      Object.freeze({
        memory: this.#read(CgroupFile.memoryPressure, parsePressure),
        cpu: this.#read(CgroupFile.cpuPressure, parsePressure),
        io: this.#read(CgroupFile.ioPressure, parsePressure),
      }),
    );
  }

  get controllers(): readonly string[] {
    return this.#memo("controllers", () => Object.freeze(this.#read(CgroupFile.controllers, parseControllers) ?? []));
  }

  /** Extended attributes (systemd and oomd mark cgroups with user.oomd_omit, user.oomd_avoid, ...). */
  get xattrs(): ReadonlyMap<string, string> {
    return this.#memo("xattrs", () => {
      try {
        return this.#ctx.host.readXattrs(this.#dir);
      } catch (err) {
        if (!isVanished(err)) this.#ctx.log.debug(`ignoring xattrs of ${this.path}: ${(err as Error).message}`);
        return new Map<string, string>();
      }
    });
  }

  /**
   * The uid owning the cgroup's folder (root unless the cgroup was delegated to a user), or
   * undefined when it could not be read. It decides whose user.* marks count (./marks.ts).
   */
  get ownerUid(): number | undefined {
    return this.#memo("ownerUid", () => {
      try {
        return this.#ctx.host.stat(this.#dir).ownerUid;
      } catch (err) {
        if (!isVanished(err)) this.#ctx.log.debug(`ignoring the owner of ${this.path}: ${(err as Error).message}`);
        return undefined;
      }
    });
  }

  /** Process ids in this cgroup alone (cgroup.procs). */
  get pids(): readonly number[] {
    return this.#memo("pids", () => Object.freeze(this.#read(CgroupFile.procs, (t) => parsePidList(t).pids) ?? []));
  }

  /** The processes in this cgroup alone; those that vanished since cgroup.procs was read are left out. */
  get tasks(): readonly TaskNode[] {
    return this.#memo("tasks", () => {
      const out: TaskNode[] = [];
      for (const pid of this.pids) {
        const t = this.#ctx.task(pid);
        if (t) out.push(t);
      }
      return Object.freeze(out);
    });
  }

  /** Reads every figure now: for `record`, and callers that want no later I/O. */
  readAll(): this {
    const m = this.memory;
    for (const k of Object.keys(m) as (keyof CgroupMemory)[]) void m[k];
    void [this.stat, this.events, this.eventsLocal, this.swapEvents, this.cgroupEvents, this.pressure, this.controllers, this.xattrs, this.ownerUid, this.pids];
    return this;
  }

  /** The processes in this cgroup and all its descendants. */
  allTasks(): TaskNode[] {
    const out = [...this.tasks];
    for (const d of this.descendants()) out.push(...d.tasks);
    return out;
  }
}
