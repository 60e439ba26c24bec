/**
 * Every machine path oomkit reads or writes, in one place. Paths are "machine paths": absolute
 * paths as they are on a live Linux machine. A Host maps them onto its own storage (LinuxHost
 * reads them as they are; FixtureHost reads them under its folder), so nothing above the os/
 * layer names /proc or /sys/fs/cgroup.
 */
import { OomkitError } from "../errors.js";

export const PROC = "/proc";
/** Where a pure cgroup v2 system mounts its hierarchy. */
export const CGROUP_FS = "/sys/fs/cgroup";
/** Where a hybrid (v1 + v2) system mounts the v2 hierarchy. */
export const CGROUP_UNIFIED = "/sys/fs/cgroup/unified";

export const PROC_MEMINFO = "/proc/meminfo";
export const PROC_VMSTAT = "/proc/vmstat";
export const PROC_MOUNTS = "/proc/self/mounts";
export const PROC_SELF_CGROUP = "/proc/self/cgroup";
export const PROC_SELF_STATUS = "/proc/self/status";
export const PROC_SELF_MAPS = "/proc/self/maps";
export const PROC_SELF_SMAPS = "/proc/self/smaps";
export const PROC_SELF_SMAPS_ROLLUP = "/proc/self/smaps_rollup";
export const PROC_SELF_LIMITS = "/proc/self/limits";
/** oomkit's own oom_score_adj (also written by pre-kill hooks, to drop oomkit's -1000). */
export const PROC_SELF_OOM_SCORE_ADJ = "/proc/self/oom_score_adj";
/** Changes at each boot: a kernel-log position saved before a reboot means nothing after it. */
export const PROC_BOOT_ID = "/proc/sys/kernel/random/boot_id";
export const PROC_OSRELEASE = "/proc/sys/kernel/osrelease";
export const PROC_SWAPPINESS = "/proc/sys/vm/swappiness";
export const PROC_PRESSURE_DIR = "/proc/pressure";

export type PressureResource = "memory" | "cpu" | "io";

export function procPressure(resource: PressureResource): string {
  return `${PROC_PRESSURE_DIR}/${resource}`;
}

/** The per-process files oomkit reads. */
export const PidFile = {
  stat: "stat",
  status: "status",
  oomScore: "oom_score",
  oomScoreAdj: "oom_score_adj",
  cmdline: "cmdline",
  cgroup: "cgroup",
  /** A symbolic link (Host.readLink) to the task's executable. */
  exe: "exe",
} as const;
export type PidFileName = (typeof PidFile)[keyof typeof PidFile];

export function procPid(pid: number, file: PidFileName): string {
  return `${PROC}/${pid}/${file}`;
}

/** A process's /proc folder: present while the process exists (a zombie included). */
export function procPidDir(pid: number): string {
  return `${PROC}/${pid}`;
}

/** The cgroup v2 control files oomkit reads or writes. */
export const CgroupFile = {
  procs: "cgroup.procs",
  controllers: "cgroup.controllers",
  subtreeControl: "cgroup.subtree_control",
  events: "cgroup.events",
  kill: "cgroup.kill",
  freeze: "cgroup.freeze",
  memoryCurrent: "memory.current",
  memoryMin: "memory.min",
  memoryLow: "memory.low",
  memoryHigh: "memory.high",
  memoryMax: "memory.max",
  memoryPeak: "memory.peak",
  memoryStat: "memory.stat",
  memoryEvents: "memory.events",
  memoryEventsLocal: "memory.events.local",
  memoryPressure: "memory.pressure",
  memoryOomGroup: "memory.oom.group",
  memoryReclaim: "memory.reclaim",
  memorySwapCurrent: "memory.swap.current",
  memorySwapHigh: "memory.swap.high",
  memorySwapMax: "memory.swap.max",
  memorySwapPeak: "memory.swap.peak",
  memorySwapEvents: "memory.swap.events",
  cpuPressure: "cpu.pressure",
  ioPressure: "io.pressure",
} as const;
export type CgroupFileName = (typeof CgroupFile)[keyof typeof CgroupFile];

/** A cgroup's path inside the v2 hierarchy: "/" for the root, "/a/b" below it. */
export type CgroupPath = string & { readonly __brand: "CgroupPath" };

/** Already canonical: "/", or "/a/b" with no empty, "." or ".." part (the hot path: most paths are). */
const CANONICAL_CGROUP = /^(?:\/(?!\.{1,2}(?:\/|$))[^/]+)+$/;

export function cgroupPath(path: string): CgroupPath {
  if (path === "/" || CANONICAL_CGROUP.test(path)) return path as CgroupPath;
  if (!path.startsWith("/")) path = `/${path}`;
  const parts = path.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.some((p) => p === "..")) throw new OomkitError("E_USAGE", `a cgroup path may not contain "..": ${path}`);
  return `/${parts.join("/")}` as CgroupPath;
}

export const ROOT_CGROUP = cgroupPath("/");

export function parentCgroup(path: CgroupPath): CgroupPath | undefined {
  if (path === "/") return undefined;
  const i = path.lastIndexOf("/");
  return cgroupPath(path.slice(0, i));
}

export function joinCgroup(parent: CgroupPath, child: string): CgroupPath {
  return cgroupPath(parent === "/" ? `/${child}` : `${parent}/${child}`);
}

/** True when `inner` is `outer` or lies below it. */
export function cgroupContains(outer: CgroupPath, inner: CgroupPath): boolean {
  return outer === "/" || inner === outer || inner.startsWith(`${outer}/`);
}

/** The machine path of a cgroup folder (or one of its files) under a v2 mount point. */
export function cgroupDir(mount: string, path: CgroupPath): string {
  return path === "/" ? mount : `${mount}${path}`;
}
export function cgroupFilePath(mount: string, path: CgroupPath, file: CgroupFileName): string {
  return `${cgroupDir(mount, path)}/${file}`;
}

/**
 * A /proc folder's name as the pid it names: digits alone (as `/^[0-9]+$/`), else undefined.
 * Read off its characters, without a regex: /proc's listing has an entry per process, and a
 * decision made ahead or a refresh reads 10,000 of them in one stretch.
 */
export function pidOfName(name: string): number | undefined {
  if (name.length === 0 || name.length > 15) return undefined;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 48 || c > 57) return undefined;
  }
  return Number(name);
}
