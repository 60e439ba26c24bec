/**
 * Never act on a stale decision. A decision can take long — on a crowded machine a scan ran for
 * tens of seconds, the kernel's OOM killer killed the leak meanwhile, and the plan then killed a
 * bystander although memory had long recovered — so right before acting the daemon asks two
 * things of the OOM that the plan answers:
 *
 * - did a kill come since the signal? The kernel's show in `oom_kill` (and `oom_group_kill`) of
 *   the hierarchical memory.events of the scope and each ancestor below the root (a kill under
 *   a shared limit resolves the scope's trouble too), in /proc/vmstat's `oom_kill` for a
 *   machine-wide scope, and in the victims the kernel log named (Daemon.noteKernelVictim);
 *   oomkit's own show in the victim registry, in any overlapping scope. The counters are read
 *   when the OOM is declared (a few small files: KillMarks) and again before acting.
 * - does the trigger's condition still hold? Each watch gives its declaration a `cleared` that
 *   re-reads it; a manual OOM has none and is checked for kills only.
 *
 * A kill is looked for first: when both say so, the kill is the reason the condition cleared.
 */
import type { Staleness } from "../engine/episode.js";
import type { PendingVictim, VictimRegistry } from "../engine/victims.js";
import type { CgroupMode } from "../os/cgroup-mode.js";
import type { Host } from "../os/host.js";
import { parseMemoryEvents, parseMemoryStat } from "../os/parse/cgroup.js";
import { parseVmstat } from "../os/parse/vmstat.js";
import { type CgroupPath, CgroupFile, PROC_VMSTAT, ROOT_CGROUP, cgroupContains, cgroupDir, parentCgroup } from "../os/paths.js";

/** A cgroup's kernel OOM kill counters. */
interface KillCounts {
  readonly oomKill: number;
  readonly oomGroupKill: number;
}

/** What a later kill would change, read when an OOM is declared. */
export interface KillMarks {
  readonly scope: CgroupPath;
  /** memory.events of the scope and each ancestor below the root, nearest first (unreadable ones left out). */
  readonly events: ReadonlyMap<CgroupPath, KillCounts>;
  /** /proc/vmstat oom_kill, for a machine-wide scope. */
  readonly vmstatOomKill: number | undefined;
  /** The victim registry's mark. */
  readonly victims: number;
}

export interface KillWitnessDeps {
  readonly host: Host;
  readonly mode: CgroupMode;
  readonly victims: VictimRegistry;
}

const overlap = (a: CgroupPath, b: CgroupPath) => cgroupContains(a, b) || cgroupContains(b, a);

function readCounts(host: Host, file: string): KillCounts | undefined {
  try {
    const e = parseMemoryEvents(host.readFile(file));
    return e.oomKill === undefined ? undefined : { oomKill: e.oomKill, oomGroupKill: e.oomGroupKill ?? 0 };
  } catch {
    return undefined; // a cgroup that went away, or a kernel without the file: nothing to compare
  }
}

function readVmstatOomKill(host: Host): number | undefined {
  try {
    return parseVmstat(host.readFile(PROC_VMSTAT)).oomKill;
  } catch {
    return undefined;
  }
}

/** The memory.events files that count kills that could resolve an OOM in `scope`, nearest first. */
function eventFiles(mode: CgroupMode, scope: CgroupPath): [CgroupPath, string][] {
  const mount = mode.perCgroup ? mode.unifiedMount : undefined;
  if (mount === undefined) return [];
  const out: [CgroupPath, string][] = [];
  for (let p: CgroupPath | undefined = scope; p !== undefined && p !== ROOT_CGROUP; p = parentCgroup(p)) {
    out.push([p, `${cgroupDir(mount, p)}/${CgroupFile.memoryEvents}`]);
  }
  return out;
}

/** Reads the counters a kill in or around `scope` would raise. */
export function markKills(deps: KillWitnessDeps, scope: CgroupPath): KillMarks {
  const events = new Map<CgroupPath, KillCounts>();
  for (const [p, file] of eventFiles(deps.mode, scope)) {
    const c = readCounts(deps.host, file);
    if (c) events.set(p, c);
  }
  // A machine-wide OOM is resolved by a kill anywhere; a cgroup's (with memory.events) by one under it or a shared limit.
  const vmstatOomKill = scope === ROOT_CGROUP || events.size === 0 ? readVmstatOomKill(deps.host) : undefined;
  return { scope, events, vmstatOomKill, victims: deps.victims.mark };
}

function describeVictim(v: PendingVictim): string {
  const what = v.kind === "task" ? `pid ${v.pid}` : `cgroup ${v.cgroup}`;
  return v.kind === "task" && v.cgroup !== undefined ? `${what} in ${v.cgroup}` : what;
}

/**
 * The kill since `marks` were read that may have resolved the OOM, or undefined. oomkit's own
 * victims count only up to `ownUntil` (the registry's mark when this episode began): those of
 * the episode itself are its chain's business (a kill that freed nothing lets the next policy run).
 */
export function killSince(deps: KillWitnessDeps, marks: KillMarks, ownUntil: number): Staleness | undefined {
  for (const [p, file] of eventFiles(deps.mode, marks.scope)) {
    const before = marks.events.get(p);
    const now = before && readCounts(deps.host, file);
    if (!before || !now || (now.oomKill <= before.oomKill && now.oomGroupKill <= before.oomGroupKill)) continue;
    const group = now.oomGroupKill > before.oomGroupKill ? `, oom_group_kill ${before.oomGroupKill}→${now.oomGroupKill}` : "";
    return { clearedBy: "memory.events", reason: `the kernel's OOM killer killed in ${p} since the signal (memory.events oom_kill ${before.oomKill}→${now.oomKill}${group})` };
  }
  if (marks.vmstatOomKill !== undefined) {
    const now = readVmstatOomKill(deps.host);
    if (now !== undefined && now > marks.vmstatOomKill) {
      return { clearedBy: "vmstat", reason: `the kernel's OOM killer killed on this machine since the signal (/proc/vmstat oom_kill ${marks.vmstatOomKill}→${now})` };
    }
  }
  // A victim whose cgroup is unknown (a task in system-level mode) counts for every scope, as in the gate.
  const near = deps.victims.addedSince(marks.victims).filter((v) => v.cgroup === undefined || overlap(marks.scope, v.cgroup));
  const kernel = near.find((v) => v.by === "kernel");
  if (kernel) return { clearedBy: "kmsg", reason: `the kernel's OOM killer killed ${describeVictim(kernel)} since the signal (kernel log)` };
  const own = deps.victims.addedSince(marks.victims, ownUntil).find((v) => v.by === "oomkit" && (v.cgroup === undefined || overlap(marks.scope, v.cgroup)));
  if (own) return { clearedBy: "oomkit", reason: `oomkit killed ${describeVictim(own)} since the signal` };
  return undefined;
}

/**
 * Pages scanned for reclaim in `scope` since boot (the gate's evidence of a shortage after an
 * action): /proc/vmstat's pgscan_kswapd + pgscan_direct (+ pgscan_khugepaged) for the machine or
 * without per-cgroup files, the cgroup's hierarchical memory.stat pgscan otherwise; undefined
 * when it cannot be read.
 */
export function reclaimScanned(deps: Pick<KillWitnessDeps, "host" | "mode">, scope: CgroupPath): number | undefined {
  try {
    const mount = deps.mode.perCgroup ? deps.mode.unifiedMount : undefined;
    if (scope !== ROOT_CGROUP && mount !== undefined) return parseMemoryStat(deps.host.readFile(`${cgroupDir(mount, scope)}/${CgroupFile.memoryStat}`)).pgscan;
    const v = parseVmstat(deps.host.readFile(PROC_VMSTAT));
    if (v.pgscanKswapd === undefined && v.pgscanDirect === undefined) return undefined;
    return (v.pgscanKswapd ?? 0) + (v.pgscanDirect ?? 0) + (v.raw.get("pgscan_khugepaged") ?? 0);
  } catch {
    return undefined; // gone, or not readable: nothing is held back on it
  }
}
