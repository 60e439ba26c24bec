/**
 * Which cgroup layout this machine has, and so what oomkit may do on it.
 *
 * - "v2": one unified hierarchy with the memory controller: per-cgroup mode (triggers, kills
 *   and figures per cgroup).
 * - "hybrid": v1 hierarchies own the controllers (memory among them) and a v2 hierarchy without
 *   memory is mounted beside them (usually /sys/fs/cgroup/unified): system-level mode.
 * - "v1": no v2 hierarchy at all: system-level mode.
 * - "none": no cgroups mounted: system-level mode.
 *
 * In system-level mode oomkit works from processes, /proc/pressure and /proc/meminfo, and it
 * never writes to a v1 hierarchy.
 */
import { OomkitError, isVanished } from "../errors.js";
import { type Host, readIfPresent } from "./host.js";
import { parseControllers } from "./parse/cgroup.js";
import { parseMounts } from "./parse/mounts.js";
import { CGROUP_FS, CGROUP_UNIFIED, CgroupFile, PROC_MOUNTS } from "./paths.js";

export type CgroupModeName = "v2" | "hybrid" | "v1" | "none";

export interface CgroupMode {
  readonly mode: CgroupModeName;
  /** Where the v2 hierarchy is mounted, if there is one. */
  readonly unifiedMount: string | undefined;
  /** The v2 mount has memory_recursiveprot: ancestors' memory.min/low protection passes down to children that claim none. */
  readonly recursiveProt: boolean;
  /** Controllers enabled at the v2 root (cgroup.controllers). */
  readonly v2Controllers: readonly string[];
  /** Where the v1 memory controller is mounted, if it is on v1. */
  readonly v1MemoryMount: string | undefined;
  /** True when oomkit can act per cgroup: v2 with the memory controller. */
  readonly perCgroup: boolean;
  /** How the mode was found: from the mount table, or by looking at the folders. */
  readonly source: "mounts" | "layout";
  /** One sentence for people: what the mode means for oomkit. */
  readonly summary: string;
}

export function detectCgroupMode(host: Host): CgroupMode {
  const mountsText = readIfPresent(host, PROC_MOUNTS);
  let unifiedMount: string | undefined;
  let v1MemoryMount: string | undefined;
  let anyV1 = false;
  let recursiveProt = false;
  let source: CgroupMode["source"] = "mounts";
  if (mountsText !== undefined) {
    for (const m of parseMounts(mountsText)) {
      if (m.fsType === "cgroup2" && unifiedMount === undefined) {
        unifiedMount = m.target;
        recursiveProt = m.options.includes("memory_recursiveprot");
      }
      if (m.fsType === "cgroup") {
        anyV1 = true;
        if (m.options.includes("memory")) v1MemoryMount = m.target;
      }
    }
  } else {
    // A fixture without a mount table: infer the layout from the folders that exist.
    source = "layout";
    if (host.exists(`${CGROUP_FS}/${CgroupFile.controllers}`)) unifiedMount = CGROUP_FS;
    else if (host.exists(`${CGROUP_UNIFIED}/${CgroupFile.controllers}`)) unifiedMount = CGROUP_UNIFIED;
    if (host.exists(`${CGROUP_FS}/memory`)) {
      anyV1 = true;
      v1MemoryMount = `${CGROUP_FS}/memory`;
    }
  }
  let v2Controllers: string[] = [];
  if (unifiedMount !== undefined) {
    const file = `${unifiedMount}/${CgroupFile.controllers}`;
    try {
      v2Controllers = parseControllers(host.readFile(file));
    } catch (err) {
      if (err instanceof OomkitError && err.code === "E_PARSE") throw new OomkitError("E_PARSE", `${file}: ${err.message}`, { cause: err });
      if (!isVanished(err)) throw err;
    }
  }
  const v2Memory = v2Controllers.includes("memory");
  let mode: CgroupModeName;
  if (unifiedMount !== undefined && (v2Memory || !anyV1)) mode = "v2";
  else if (unifiedMount !== undefined) mode = "hybrid";
  else if (anyV1) mode = "v1";
  else mode = "none";
  const perCgroup = mode === "v2" && v2Memory;
  return Object.freeze({
    mode,
    unifiedMount,
    recursiveProt,
    v2Controllers: Object.freeze(v2Controllers),
    v1MemoryMount,
    perCgroup,
    source,
    summary: summarize(mode, perCgroup, unifiedMount, v1MemoryMount),
  });
}

function summarize(mode: CgroupModeName, perCgroup: boolean, unified?: string, v1Memory?: string): string {
  switch (mode) {
    case "v2":
      return perCgroup
        ? `pure cgroup v2 at ${unified}: per-cgroup mode`
        : `cgroup v2 at ${unified} without the memory controller enabled: system-level mode`;
    case "hybrid":
      return `hybrid cgroups: v2 at ${unified}, memory controller on v1${v1Memory ? ` at ${v1Memory}` : ""}: system-level mode (processes, /proc/pressure, meminfo); oomkit never writes to v1`;
    case "v1":
      return "cgroup v1 only: system-level mode (processes, /proc/pressure, meminfo); oomkit never writes to v1";
    case "none":
      return "no cgroup hierarchy mounted: system-level mode";
    default: {
      const never: never = mode;
      return never;
    }
  }
}
