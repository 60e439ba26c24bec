/**
 * One cgroup v2 as a snapshot sees it. Figures are read on first use and kept. A file this
 * kernel or fixture lacks (memory.peak before 5.19, memory.swap.peak before 6.5, memory.events
 * on the root) is undefined, "unknown", never a reason to drop the cgroup. A file that cannot be
 * read for another reason (EIO, ENOMEM, text that does not parse) is unknown too, and the cgroup
 * says so in `unreadable`; when what could not be read is who is in it (its folder, cgroup.procs)
 * or how it is marked (its xattrs), the verifier refuses to kill it (./verify.ts).
 */
import { isVanished } from "../errors.js";
import type { Logger } from "../log.js";
import type { Host } from "../os/host.js";
import { type FaultSink, faultReason, readResult } from "../os/read.js";
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
  /** The process with this pid, listed in cgroup.procs of `listedIn`. */
  task(pid: number, listedIn: CgroupPath): TaskNode | undefined;
  /** Hears each file of a cgroup that could not be read (the snapshot's record of them). */
  readonly faults?: FaultSink;
}

/** What of a cgroup could not be read, by what it is: a control file's name, or one of these. */
const FOLDER = "folder";
const XATTRS = "xattrs";
const OWNER = "owner";
/**
 * cgroup.procs' pids. Parsers are module-level: the warm model keeps parsed values by parser
 * (model.ts ParsedCache), and a closure made per call would be a new key, holding its node.
 */
const parseProcsPids = (text: string): readonly number[] => parsePidList(text).pids;

export class CgroupNode {
  readonly path: CgroupPath;
  readonly name: string;
  readonly parent: CgroupNode | undefined;
  readonly depth: number;
  readonly #ctx: CgroupContext;
  readonly #dir: string;
  readonly #cache = new Map<string, unknown>();
  /** What could not be read → why (the errno, or why it did not parse). */
  #faults: Map<string, string> | undefined;

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
    const r = readResult(this.#ctx.host, `${this.#dir}/${file}`, parse, this.#ctx.log);
    if (r.kind === "ok") return r.value;
    if (r.kind === "fault") this.#fault(file, r.fault.error, r.fault.path);
    return undefined;
  }

  #fault(what: string, error: string, path: string): void {
    (this.#faults ??= new Map()).set(what, error);
    this.#ctx.faults?.({ path, error });
  }

  /** An error from the Host that is a fault (noted, and undefined returned), or thrown again (a bug). */
  #hostFault(what: string, err: unknown): void {
    const error = faultReason(err);
    if (error === undefined) throw err;
    this.#ctx.log.warn(`ignoring the ${what} of cgroup ${this.path}: cannot read it (${error})`);
    this.#fault(what, error, this.#dir);
  }

  /**
   * What of this cgroup could not be read so far, and why ("memory.current unreadable: EIO"), or
   * undefined. Those figures are unknown (undefined), as a file this kernel lacks would be.
   */
  get unreadable(): string | undefined {
    if (this.#faults === undefined) return undefined;
    return [...this.#faults].map(([what, error]) => `${what} unreadable: ${error}`).join("; ");
  }

  /**
   * Why who is in this cgroup is unknown — its folder could not be listed or its cgroup.procs
   * read — or undefined. A kill of it could reach tasks (and cgroups) no check has seen.
   * Static, so that only engine code asks it (the verifier).
   */
  static membersUnknown(c: CgroupNode): string | undefined {
    void c.children;
    void c.pids;
    const f = c.#faults;
    if (f === undefined) return undefined;
    for (const what of [FOLDER, CgroupFile.procs]) {
      const error = f.get(what);
      if (error !== undefined) return `the ${what} of ${c.path} unreadable: ${error}`;
    }
    return undefined;
  }

  /**
   * Why this cgroup's marks among `names` are unknown — its xattrs could not be read, or it has a
   * user.* one and its owner (who decides whether it counts, ./marks.ts) could not be read — or
   * undefined.
   */
  static marksUnknown(c: CgroupNode, names: readonly string[]): string | undefined {
    const x = c.xattrs;
    const error = c.#faults?.get(XATTRS);
    if (error !== undefined) return `the xattrs of ${c.path} unreadable: ${error}`;
    if (x.size === 0 || !names.some((n) => n.startsWith("user.") && x.has(n))) return undefined;
    void c.ownerUid;
    const owner = c.#faults?.get(OWNER);
    return owner === undefined ? undefined : `the owner of ${c.path} unreadable: ${owner}`;
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
        if (!isVanished(err)) {
          this.#hostFault(FOLDER, err);
          return Object.freeze([]);
        }
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
      const value = (file: CgroupFileName): number | undefined => this.#memo(file, () => this.#read(file, parseMemoryValue));
      const flag = (file: CgroupFileName): boolean | undefined => this.#memo(file, () => this.#read(file, parseFlag));
      // Getters written in the literal (own, enumerable, frozen, as Object.defineProperties made
      // them): half the cost, and a snapshot makes one of these for each cgroup asked about
      // (22,611 in the busy run of bench/sim-daemon.bench.ts).
      return Object.freeze({
        get currentBytes() {
          return value(CgroupFile.memoryCurrent);
        },
        get minBytes() {
          return value(CgroupFile.memoryMin);
        },
        get lowBytes() {
          return value(CgroupFile.memoryLow);
        },
        get highBytes() {
          return value(CgroupFile.memoryHigh);
        },
        get maxBytes() {
          return value(CgroupFile.memoryMax);
        },
        get peakBytes() {
          return value(CgroupFile.memoryPeak);
        },
        get swapCurrentBytes() {
          return value(CgroupFile.memorySwapCurrent);
        },
        get swapHighBytes() {
          return value(CgroupFile.memorySwapHigh);
        },
        get swapMaxBytes() {
          return value(CgroupFile.memorySwapMax);
        },
        get swapPeakBytes() {
          return value(CgroupFile.memorySwapPeak);
        },
        get oomGroup() {
          return flag(CgroupFile.memoryOomGroup);
        },
      });
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
        if (isVanished(err)) this.#ctx.log.debug(`ignoring xattrs of ${this.path}: ${(err as Error).message}`);
        else this.#hostFault(XATTRS, err);
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
        if (isVanished(err)) this.#ctx.log.debug(`ignoring the owner of ${this.path}: ${(err as Error).message}`);
        else this.#hostFault(OWNER, err);
        return undefined;
      }
    });
  }

  /** Process ids in this cgroup alone (cgroup.procs). */
  get pids(): readonly number[] {
    return this.#memo("pids", () => Object.freeze(this.#read(CgroupFile.procs, parseProcsPids) ?? []));
  }

  /** The processes in this cgroup alone; those that vanished since cgroup.procs was read are left out. */
  get tasks(): readonly TaskNode[] {
    return this.#memo("tasks", () => {
      const out: TaskNode[] = [];
      for (const pid of this.pids) {
        const t = this.#ctx.task(pid, this.path);
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
