/**
 * SimHost: the Host (src/os/host.ts) over a simulated machine, the third beside LinuxHost and
 * FixtureHost. The engine reads and writes it exactly as it would a live machine; every file is
 * rendered from the model when read, and every write acts on the model (a limit, a reclaim, a
 * kill, an oom_score_adj).
 *
 * Time: the Host's clock drives the model. Before each operation the machine is brought up to
 * the clock's monotonic time, so whoever moves the clock (a test, a virtual scheduler) moves the
 * machine, and reads always see "now". `advance(ms)` moves a ManualClock and the machine together.
 * Once a SimHost wraps a machine, move time through the clock only: a machine run ahead of its
 * clock directly is not wound back, and the clock then lags what the files show.
 */
import * as path from "node:path";
import { OomkitError } from "../errors.js";
import { type Clock, type DirEntry, type FileStat, type Host, type HostCapabilities, type HostFacts, type HostWaits, ManualClock, NO_CAPABILITIES } from "../os/host.js";
import type { Scheduler } from "../os/scheduler.js";
import { CGROUP_FS, PROC_BOOT_ID, PROC_MEMINFO, PROC_MOUNTS, PROC_OSRELEASE, PROC_SELF_CGROUP, PROC_SELF_OOM_SCORE_ADJ, PROC_SELF_STATUS, PROC_SWAPPINESS, PROC_VMSTAT, procPressure } from "../os/paths.js";
import { type Node, cgroupNode, errno, pidNode } from "./files.js";
import type { SimMachine } from "./machine.js";
import { meminfo, vmstat } from "./render.js";
import { simWaits } from "./sim-waits.js";

export interface SimHostOptions {
  /** The clock that drives the machine; a ManualClock at the machine's time when absent. */
  readonly clock?: Clock;
  /** oomkit's own pid as this machine shows it (/proc/self); a task of the model when it has one. */
  readonly selfPid?: number;
  readonly kernelRelease?: string;
  /**
   * The virtual scheduler over `clock`: with it the Host has waits (PSI triggers fired by the
   * model, exit waits in virtual time); without, callers poll the files.
   */
  readonly scheduler?: Scheduler;
  /**
   * Virtual µs each read costs its reader (readFile, readDir, exists, stat, readXattrs,
   * readLink): a decision that reads more is later, as on a machine. Owed until `settle()`
   * (called before every write and by the kill port) moves the clock (default 0: reads are free).
   */
  readonly readCostUs?: number;
}

const NONE = Object.freeze(new Map<string, string>());
/** A path normalize would leave as it is (no empty, "." or ".." part, no trailing "/"): most reads. */
const CANONICAL = /^(?:\/(?!\.{1,2}(?:\/|$))[^/]+)+$/;
const BOOT_ID = "5e1f0000-0000-4000-8000-000000000001";
const zeroPressure = "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";

export class SimHost implements Host {
  readonly kind = "sim" as const;
  readonly description: string;
  readonly clock: Clock;
  readonly capabilities: HostCapabilities = NO_CAPABILITIES;
  readonly machine: SimMachine;
  readonly #selfPid: number;
  readonly #release: string;
  /** oomkit's own oom_score_adj when it is no task of the model. */
  #selfAdj = 0;
  readonly waits?: HostWaits;
  readonly #readCostUs: number;
  /** Virtual µs of reading owed, and reads made (for the record and tests). */
  #owedUs = 0;
  reads = 0;
  /**
   * Virtual time as oomkit's own work sees it: the clock plus the reading owed. What the daemon
   * times on it (a decision, a read, a refresh's budget) is the virtual cost of its reads, never
   * the CPU time of the machine running the simulation: the same on every run.
   */
  readonly workClock: Clock = {
    monotonicMs: () => this.clock.monotonicMs() + this.#owedUs / 1000,
    wallMs: () => this.clock.wallMs() + this.#owedUs / 1000,
  };

  constructor(machine: SimMachine, options: SimHostOptions = {}) {
    this.machine = machine;
    this.clock = options.clock ?? new ManualClock(machine.nowMs);
    this.#selfPid = options.selfPid ?? 999_999;
    this.#release = options.kernelRelease ?? "6.12.0-sim";
    this.description = `simulated machine (seed ${machine.seed})`;
    this.#readCostUs = options.readCostUs ?? 0;
    if (!(this.#readCostUs >= 0)) throw new OomkitError("E_CONFIG", `readCostUs must be ≥ 0 (got ${this.#readCostUs})`);
    if (options.scheduler) {
      if (options.scheduler.clock !== this.clock) throw new OomkitError("E_INTERNAL", "a SimHost's scheduler must run on the SimHost's clock");
      this.waits = simWaits(machine, options.scheduler, () => this.sync());
    }
  }

  /** Counts one read and what it costs. */
  #charge(): void {
    this.reads++;
    this.#owedUs += this.#readCostUs;
  }

  /**
   * Spends the reading owed: moves the clock (a ManualClock) by it and the machine with it.
   * Returns the ms spent.
   */
  settle(): number {
    const ms = this.#owedUs / 1000;
    this.#owedUs = 0;
    if (ms <= 0 || !(this.clock instanceof ManualClock)) return 0;
    this.clock.advance(ms);
    this.sync();
    return ms;
  }

  /** Moves the clock (a ManualClock) and the machine by `ms` of virtual time. */
  advance(ms: number): void {
    if (!(this.clock instanceof ManualClock)) throw new OomkitError("E_INTERNAL", "SimHost.advance needs a ManualClock; move your own clock instead");
    this.clock.advance(ms);
    this.sync();
  }

  /** Brings the machine up to the clock. */
  sync(): void {
    const now = this.clock.monotonicMs();
    if (now > this.machine.nowMs) this.machine.advanceTo(now);
  }

  facts(): HostFacts {
    return { pageSizeBytes: this.machine.pageSizeBytes, euid: 0, selfPid: this.#selfPid, pidfdOpen: true, processMrelease: true };
  }

  /**
   * The file nodes resolved so far, by the path as asked, while the machine's shape stands (a
   * node renders its task's or cgroup's figures when read, so only a task or cgroup coming or
   * going makes it stale). The engine reads the same few hundred files over and over.
   */
  readonly #nodes = new Map<string, Node>();
  #nodesShape = -1;

  #resolve(machinePath: string): Node | undefined {
    if (!machinePath.startsWith("/")) throw new OomkitError("E_INTERNAL", `machine paths are absolute; got ${JSON.stringify(machinePath)}`);
    this.sync();
    const shape = this.machine.shapeGeneration;
    if (shape !== this.#nodesShape) {
      this.#nodes.clear();
      this.#nodesShape = shape;
    }
    const kept = this.#nodes.get(machinePath);
    if (kept) return kept;
    const node = this.#lookup(machinePath);
    if (node?.kind === "file") this.#nodes.set(machinePath, node);
    return node;
  }

  #lookup(machinePath: string): Node | undefined {
    const p = CANONICAL.test(machinePath) ? machinePath : path.posix.normalize(machinePath).replace(/(.)\/$/, "$1");
    if (p === CGROUP_FS || p.startsWith(`${CGROUP_FS}/`)) return cgroupNode(this.machine, p.slice(CGROUP_FS.length));
    if (p === "/proc" || p.startsWith("/proc/")) return this.#proc(p);
    const dirs: Record<string, string[]> = { "/": ["proc", "sys"], "/sys": ["fs"], "/sys/fs": ["cgroup"] };
    const sub = dirs[p];
    return sub ? { kind: "dir", entries: () => sub.map((name) => ({ name, isDirectory: true })), ownerUid: 0 } : undefined;
  }

  /** The machine-wide files, rendered when read; built once (a Map: most lookups are /proc/PID paths that miss). */
  #fixedFiles: ReadonlyMap<string, () => string> | undefined;

  #fixed(): ReadonlyMap<string, () => string> {
    if (this.#fixedFiles) return this.#fixedFiles;
    const k = this.machine.k;
    return (this.#fixedFiles = new Map<string, () => string>([
      [PROC_MEMINFO, () => meminfo(k)],
      [PROC_VMSTAT, () => vmstat(k)],
      [procPressure("memory"), () => this.machine.root.psi.render()],
      [procPressure("cpu"), () => zeroPressure],
      [procPressure("io"), () => zeroPressure],
      [PROC_OSRELEASE, () => `${this.#release}\n`],
      [PROC_SWAPPINESS, () => `${k.swappiness}\n`],
      [PROC_BOOT_ID, () => `${BOOT_ID}\n`],
      [PROC_MOUNTS, () => `proc /proc proc rw 0 0\nsysfs /sys sysfs rw 0 0\ncgroup2 ${CGROUP_FS} cgroup2 rw,nosuid,nodev,noexec,relatime,memory_recursiveprot 0 0\n`],
    ]));
  }

  /** A path under /proc (canonical: "/proc" or "/proc/..."). */
  #proc(full: string): Node | undefined {
    const fixed = this.#fixed();
    const read = fixed.get(full);
    if (read) return { kind: "file", read, ownerUid: 0 };
    const parts = full.slice("/proc/".length).split("/");
    if (full === "/proc") {
      const entries = this.#procEntries();
      return { kind: "dir", entries: () => entries, ownerUid: 0 };
    }
    const [head, ...rest] = parts as [string, ...string[]];
    if (head === "self") return this.#self(rest);
    if (/^[1-9][0-9]*$/.test(head) && rest.length <= 1) {
      const t = this.machine.task(Number(head));
      return t ? pidNode(this.machine, t, rest[0]) : undefined;
    }
    const prefix = `${full}/`;
    const below = [...fixed.keys()].filter((f) => f.startsWith(prefix)).map((f) => f.slice(prefix.length).split("/"));
    if (below.length === 0) return undefined;
    const files = [...new Set(below.filter((b) => b.length === 1).map((b) => b[0] as string))];
    const dirs = [...new Set(below.filter((b) => b.length > 1).map((b) => b[0] as string))];
    return { kind: "dir", entries: () => [...dirs.map((name) => ({ name, isDirectory: true })), ...files.map((name) => ({ name, isDirectory: false }))], ownerUid: 0 };
  }

  /** /proc's listing, made again only when the machine's shape changed (readDir hands out a copy). */
  #procListing: { readonly shape: number; readonly entries: readonly DirEntry[] } | undefined;

  #procEntries(): readonly DirEntry[] {
    const shape = this.machine.shapeGeneration;
    if (this.#procListing?.shape === shape) return this.#procListing.entries;
    const pids = this.machine.tasks().map((t) => String(t.pid));
    const entry = (name: string, isDirectory: boolean): DirEntry => Object.freeze({ name, isDirectory });
    const entries: readonly DirEntry[] = Object.freeze([...[...pids, "self", "pressure", "sys"].map((name) => entry(name, true)), entry("meminfo", false), entry("vmstat", false)]);
    this.#procListing = { shape, entries };
    return entries;
  }

  /** /proc/self: the model's task with selfPid, or a small process of its own. */
  #self(rest: string[]): Node | undefined {
    const t = this.machine.task(this.#selfPid);
    if (t && rest.length === 1 && rest[0] !== "mounts") return pidNode(this.machine, t, rest[0]);
    const own: Record<string, Node> = {
      [PROC_SELF_STATUS]: { kind: "file", read: () => `Name:\toomkit\nState:\tS (sleeping)\nTgid:\t${this.#selfPid}\nPid:\t${this.#selfPid}\nPPid:\t1\nUid:\t0\t0\t0\t0\nVmRSS:\t40960 kB\nCapEff:\t000001ffffffffff\n`, ownerUid: 0 },
      [PROC_SELF_CGROUP]: { kind: "file", read: () => "0::/\n", ownerUid: 0 },
      [PROC_SELF_OOM_SCORE_ADJ]: {
        kind: "file",
        read: () => `${this.#selfAdj}\n`,
        write: (d) => {
          const v = Number(d.trim());
          if (!Number.isInteger(v) || v < -1000 || v > 1000) throw new OomkitError("E_HOST_IO", `oom_score_adj ${d}: EINVAL`, { cause: errno("EINVAL") });
          this.#selfAdj = v;
        },
        ownerUid: 0,
      },
    };
    if (rest.length === 0) return { kind: "dir", entries: () => ["status", "cgroup", "oom_score_adj", "mounts"].map((name) => ({ name, isDirectory: false })), ownerUid: 0 };
    if (rest.length === 1 && rest[0] === "mounts") return { kind: "file", read: this.#fixed().get(PROC_MOUNTS) as () => string, ownerUid: 0 };
    return own[`/proc/self/${rest.join("/")}`];
  }

  #need(op: string, machinePath: string): Node {
    const node = this.#resolve(machinePath);
    if (!node) throw new OomkitError("E_VANISHED", `${op} ${machinePath}: ENOENT`, { cause: errno("ENOENT") });
    return node;
  }

  readFile(machinePath: string): string {
    this.#charge();
    const node = this.#need("read", machinePath);
    if (node.kind === "dir") throw new OomkitError("E_HOST_IO", `read ${machinePath}: EISDIR`, { cause: errno("EISDIR") });
    if (node.kind === "link") throw new OomkitError("E_HOST_IO", `read ${machinePath}: a link to ${node.text}, which this machine has no file for`, { cause: errno("ENOENT") });
    return node.read();
  }

  readDir(machinePath: string): DirEntry[] {
    this.#charge();
    const node = this.#need("list", machinePath);
    if (node.kind !== "dir") throw new OomkitError("E_HOST_IO", `list ${machinePath}: ENOTDIR`, { cause: errno("ENOTDIR") });
    return [...node.entries()];
  }

  exists(machinePath: string): boolean {
    this.#charge();
    return this.#resolve(machinePath) !== undefined;
  }

  stat(machinePath: string): FileStat {
    this.#charge();
    const node = this.#need("stat", machinePath);
    return { sizeBytes: 0, mtimeMs: this.clock.wallMs(), isDirectory: node.kind === "dir", isFile: node.kind === "file", ownerUid: node.ownerUid };
  }

  readXattrs(machinePath: string): ReadonlyMap<string, string> {
    this.#charge();
    const node = this.#need("listxattr", machinePath);
    return new Map(node.kind === "dir" ? (node.xattrs ?? NONE) : NONE);
  }

  readLink(machinePath: string): string {
    this.#charge();
    const node = this.#need("readlink", machinePath);
    if (node.kind !== "link") throw new OomkitError("E_HOST_IO", `readlink ${machinePath}: EINVAL`, { cause: errno("EINVAL") });
    return node.text;
  }

  writeFile(machinePath: string, data: string): void {
    this.settle();
    const node = this.#need("open for writing", machinePath);
    if (node.kind !== "file" || node.write === undefined) throw new OomkitError("E_PERMISSION", `write ${machinePath}: EACCES`, { cause: errno("EACCES") });
    node.write(data);
  }

  async writeFileAsync(machinePath: string, data: string): Promise<void> {
    this.writeFile(machinePath, data);
  }

  /** Files are rendered from the model at each read: nothing to keep open. */
  keepOpen(): boolean {
    return false;
  }

  closeKept(): void {}
}
