/**
 * A machine declared in a few lines, for a policy's tests: cgroups with their limits and
 * memory.stat, tasks with their sizes, oom_score_adj and marks. It is written as a fixture tree
 * (the same files `oomkit record` captures and FixtureHost reads), so a policy under test reads
 * exactly what it would read on a machine. Sizes are bytes, or strings such as "512M" (powers of
 * 1024, as in the configuration file).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { OomkitError } from "../errors.js";
import { parseSize } from "../config/size.js";
import { type FixtureCgroup, type FixtureSpec, type FixtureTask, buildFixture } from "../os/fixture-build.js";

/** Bytes, or a string with a binary suffix: "512M", "1.5G". */
export type Size = number | string;

/** A memory.pressure file: the 10-second averages (percent) and the cumulative stall counters (µs). */
export interface PressureSpec {
  readonly some10?: number;
  readonly full10?: number;
  readonly someTotalUsec?: number;
  readonly fullTotalUsec?: number;
}

export interface CgroupSpec {
  /** memory.current; anon + file of memory.stat when absent. */
  readonly current?: Size;
  readonly max?: Size | "max";
  readonly high?: Size | "max";
  readonly low?: Size;
  readonly min?: Size;
  /** memory.swap.current. */
  readonly swap?: Size;
  readonly swapMax?: Size | "max";
  readonly oomGroup?: boolean;
  /** memory.stat fields in memory.stat's units (bytes, or counts such as pgscan): anon, file, shmem, pgscan, ... */
  readonly stat?: Readonly<Record<string, Size>>;
  /** memory.events counters: high, max, oom, oom_kill, ... */
  readonly events?: Readonly<Record<string, number>>;
  readonly pressure?: PressureSpec;
  /** Extended attributes, the marks oomkit reads: { "user.oomd_avoid": "1", "user.oomkit.priority": "10" }. */
  readonly marks?: Readonly<Record<string, string>>;
  /** The folder's owner uid (a delegated cgroup); root when absent. */
  readonly owner?: number;
  /** cgroup.events populated (true unless given). */
  readonly populated?: boolean;
}

export interface TaskSpec {
  readonly pid: number;
  readonly comm: string;
  /** Its cgroup ("/" when absent); it is declared for you when the machine lacks it. */
  readonly cgroup?: string;
  /** Resident anonymous memory. */
  readonly rss?: Size;
  readonly rssFile?: Size;
  readonly rssShmem?: Size;
  readonly swap?: Size;
  /** Page tables (VmPTE); 48K when absent. */
  readonly pageTables?: Size;
  /** oom_score_adj, -1000 to 1000. */
  readonly adj?: number;
  /** Its real uid (0 when absent). */
  readonly uid?: number;
  readonly cmdline?: readonly string[];
  /** Its executable's path. */
  readonly exe?: string;
  readonly ppid?: number;
  /** A kernel thread (never killable). */
  readonly kthread?: boolean;
  /** Its state letter ("S" when absent; "Z" a zombie, "X" exiting). */
  readonly state?: string;
}

export interface MachineSpec {
  /** MemTotal; 4G when absent. */
  readonly memory?: Size;
  /** MemAvailable; half of memory when absent. */
  readonly available?: Size;
  /** SwapTotal and SwapFree (all free unless given). */
  readonly swap?: Size;
  readonly swapFree?: Size;
  /** The machine's /proc/pressure/memory. */
  readonly pressure?: PressureSpec;
  /** By path: "/jobs", "/jobs/a". Parents missing from the list are declared empty. */
  readonly cgroups?: Readonly<Record<string, CgroupSpec>>;
  readonly tasks?: readonly TaskSpec[];
}

function bytes(what: string, v: Size): number {
  const r = parseSize(v);
  if (!r.ok) throw new OomkitError("E_CONFIG", `${what}: ${r.error}`);
  return r.bytes;
}
const opt = (what: string, v: Size | undefined) => (v === undefined ? undefined : bytes(what, v));
const optMax = (what: string, v: Size | "max" | undefined) => (v === "max" ? "max" : opt(what, v));
const kb = (what: string, v: Size | undefined) => (v === undefined ? undefined : Math.floor(bytes(what, v) / 1024));

function cgroupFixture(p: string, c: CgroupSpec): FixtureCgroup {
  const at = (k: string) => `cgroup ${p} ${k}`;
  const stat: Record<string, number> = {};
  for (const [k, v] of Object.entries(c.stat ?? {})) stat[k] = bytes(at(`stat.${k}`), v);
  const { anon, file, pgscan, ...rest } = stat;
  return {
    current: opt(at("current"), c.current),
    max: optMax(at("max"), c.max),
    high: optMax(at("high"), c.high),
    low: opt(at("low"), c.low),
    min: opt(at("min"), c.min),
    swapCurrent: opt(at("swap"), c.swap),
    swapMax: optMax(at("swapMax"), c.swapMax),
    oomGroup: c.oomGroup,
    anon,
    file,
    pgscan,
    stat: rest,
    events: c.events,
    pressureSome10: c.pressure?.some10,
    pressureFull10: c.pressure?.full10,
    pressureSomeTotalUsec: c.pressure?.someTotalUsec,
    pressureFullTotalUsec: c.pressure?.fullTotalUsec,
    populated: c.populated,
    xattrs: c.marks,
    owner: c.owner,
  };
}

function taskFixture(t: TaskSpec): FixtureTask {
  const at = (k: string) => `task ${t.pid} ${k}`;
  if (!Number.isSafeInteger(t.pid) || t.pid <= 0) throw new OomkitError("E_CONFIG", `a task's pid must be a positive whole number, got ${t.pid}`);
  return {
    pid: t.pid,
    comm: t.comm,
    cgroup: t.cgroup,
    rssAnonKb: kb(at("rss"), t.rss),
    rssFileKb: kb(at("rssFile"), t.rssFile),
    rssShmemKb: kb(at("rssShmem"), t.rssShmem),
    swapKb: kb(at("swap"), t.swap),
    pteKb: kb(at("pageTables"), t.pageTables),
    oomScoreAdj: t.adj,
    uid: t.uid,
    cmdline: t.cmdline,
    exe: t.exe,
    ppid: t.ppid,
    kthread: t.kthread,
    state: t.state,
  };
}

/** The declaration in the fixture builder's terms; every ancestor of a declared cgroup is declared. */
export function fixtureSpecOf(m: MachineSpec): FixtureSpec {
  const cgroups: Record<string, FixtureCgroup> = {};
  const declare = (p: string) => {
    if (!p.startsWith("/")) throw new OomkitError("E_CONFIG", `cgroup paths are absolute ("/jobs/a"), got ${JSON.stringify(p)}`);
    const parts = p.split("/").filter(Boolean);
    for (let i = 1; i < parts.length; i++) cgroups[`/${parts.slice(0, i).join("/")}`] ??= {};
  };
  for (const [p, c] of Object.entries(m.cgroups ?? {})) {
    declare(p);
    if (p !== "/") cgroups[p] = cgroupFixture(p, c);
  }
  for (const t of m.tasks ?? []) {
    if (t.cgroup !== undefined && t.cgroup !== "/") {
      declare(t.cgroup);
      cgroups[t.cgroup] ??= {};
    }
  }
  // Parents first, so the listing reads like the tree.
  const ordered = Object.fromEntries(Object.entries(cgroups).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const memTotalKb = kb("memory", m.memory);
  return {
    memTotalKb,
    memAvailableKb: kb("available", m.available),
    swapTotalKb: kb("swap", m.swap),
    swapFreeKb: kb("swapFree", m.swapFree),
    memPressureSome10: m.pressure?.some10,
    memPressureFull10: m.pressure?.full10,
    memPressureSomeTotalUsec: m.pressure?.someTotalUsec,
    memPressureFullTotalUsec: m.pressure?.fullTotalUsec,
    cgroups: ordered,
    tasks: (m.tasks ?? []).map(taskFixture),
  };
}

/**
 * Writes the machine as a fixture tree into `dir` (a new temporary folder when absent) and
 * returns the folder: `oomkit explain --root DIR` and `oomkit check --root DIR` read it.
 */
export function writeMachine(m: MachineSpec, dir?: string): string {
  const spec = fixtureSpecOf(m);
  const into = dir ?? fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-machine-"));
  if (dir !== undefined) fs.mkdirSync(dir, { recursive: true });
  return buildFixture(spec, into);
}
