/**
 * `oomkit doctor`: what this machine gives oomkit, and what each missing piece means for it.
 * Read-only: every check reads files or probes with harmless calls (pidfd_open on itself).
 */
import type { Host } from "./host.js";
import { readIfPresent } from "./host.js";
import { detectCgroupMode } from "./cgroup-mode.js";
import { parseProcStatus } from "./parse/proc.js";
import { parseMeminfo } from "./parse/meminfo.js";
import { lockCode, mlock2OnFault } from "./residency.js";
import { CgroupFile, PROC_MEMINFO, PROC_OSRELEASE, PROC_SELF_STATUS, procPressure } from "./paths.js";

export type CheckStatus = "ok" | "warn" | "missing" | "unknown";

export interface DoctorCheck {
  readonly id: string;
  readonly title: string;
  readonly status: CheckStatus;
  /** What was found. */
  readonly detail: string;
  /** What it means for oomkit when it is not "ok". */
  readonly meaning: string;
}

export interface DoctorReport {
  readonly schema: "oomkit.doctor/1";
  readonly source: string;
  readonly checks: readonly DoctorCheck[];
  /** True when oomkit can protect this machine at all (system-level mode at least). */
  readonly usable: boolean;
}

/** Capability bit numbers from linux/capability.h. */
export const CAP_KILL = 5;
export const CAP_SYS_RESOURCE = 24;

function hasCap(capEff: bigint | undefined, bit: number): boolean | undefined {
  return capEff === undefined ? undefined : (capEff & (1n << BigInt(bit))) !== 0n;
}

/** oomkit's own effective capabilities (CapEff of /proc/self/status), or undefined when unreadable. */
export function effectiveCapabilities(host: Host): bigint | undefined {
  const statusText = readIfPresent(host, PROC_SELF_STATUS);
  if (statusText === undefined) return undefined;
  try {
    return parseProcStatus(statusText).capEff;
  } catch {
    return undefined;
  }
}

/** Whether oomkit holds capability `bit` (CAP_SYS_RESOURCE, ...); undefined when it cannot be told. */
export function hasCapability(host: Host, bit: number): boolean | undefined {
  return hasCap(effectiveCapabilities(host), bit);
}

export function runDoctor(host: Host): DoctorReport {
  const checks: DoctorCheck[] = [];
  const add = (c: DoctorCheck) => checks.push(c);
  const facts = host.facts();

  const release = readIfPresent(host, PROC_OSRELEASE)?.trim();
  add({
    id: "kernel",
    title: "kernel version",
    status: release ? "ok" : "unknown",
    detail: release ?? "unreadable",
    meaning: "pidfd_open needs 5.3, cgroup.kill 5.14, process_mrelease 5.15, memory.reclaim 5.19",
  });

  const capEff = effectiveCapabilities(host);
  add({
    id: "root",
    title: "running as root",
    status: facts.euid === 0 ? "ok" : "warn",
    detail: facts.euid === 0 ? "euid 0" : `euid ${facts.euid}`,
    meaning: "without root oomkit can watch but not kill other users' processes or write cgroup files (dump, explain and dry-run still work)",
  });
  const sysResource = hasCap(capEff, CAP_SYS_RESOURCE);
  add({
    id: "cap-sys-resource",
    title: "CAP_SYS_RESOURCE",
    status: sysResource === undefined ? "unknown" : sysResource ? "ok" : "warn",
    detail: sysResource === undefined ? "CapEff unreadable" : sysResource ? "present" : "absent",
    meaning:
      "without it PSI trigger windows must be multiples of 2 s (kernels 6.5+; earlier kernels refuse unprivileged triggers) and oomkit cannot lower its own oom_score_adj below 0",
  });

  const mode = detectCgroupMode(host);
  add({
    id: "cgroup-mode",
    title: "cgroup mode",
    status: mode.perCgroup ? "ok" : "warn",
    detail: mode.summary,
    meaning: mode.perCgroup
      ? "per-cgroup triggers, figures and kills are available"
      : "system-level mode: oomkit acts on processes using /proc/pressure and meminfo; per-cgroup policies, cgroup.kill and memory.reclaim are unavailable",
  });
  const memoryController = mode.v2Controllers.includes("memory");
  add({
    id: "memory-controller",
    title: "memory controller on cgroup v2",
    status: memoryController ? "ok" : "missing",
    detail: memoryController ? `enabled at ${mode.unifiedMount}` : mode.v1MemoryMount ? `on cgroup v1 at ${mode.v1MemoryMount}` : "not found",
    meaning: "per-cgroup memory figures, limits and memory.events need the v2 memory controller",
  });

  const psiSystem = readIfPresent(host, procPressure("memory")) !== undefined;
  add({
    id: "psi-system",
    title: "PSI, system-wide",
    status: psiSystem ? "ok" : "missing",
    detail: psiSystem ? "/proc/pressure/memory readable" : "no /proc/pressure/memory (kernel without CONFIG_PSI, or booted with psi=0)",
    meaning: "without PSI oomkit can only act on MemAvailable/SwapFree thresholds, which fire late under swap",
  });
  const rootMemPressure = mode.unifiedMount !== undefined && host.exists(`${mode.unifiedMount}/${CgroupFile.memoryPressure}`);
  const psiCgroup = mode.perCgroup && (rootMemPressure || childHas(host, mode.unifiedMount, CgroupFile.memoryPressure) === true);
  add({
    id: "psi-cgroup",
    title: "PSI per cgroup",
    status: psiCgroup ? "ok" : "missing",
    detail: psiCgroup ? "memory.pressure present in the v2 tree" : "no memory.pressure in a v2 tree with the memory controller",
    meaning: "per-cgroup pressure triggers need it; oomkit falls back to system-wide pressure",
  });
  add({
    id: "psi-trigger-window",
    title: "PSI trigger windows under 2 s",
    status: sysResource === undefined ? "unknown" : sysResource ? "ok" : "warn",
    detail: sysResource ? "allowed (CAP_SYS_RESOURCE)" : "windows must be multiples of 2 s",
    meaning: "short windows catch fast leaks sooner; with 2 s windows oomkit also watches MemAvailable",
  });

  const probe = (v: boolean | undefined) => (v === undefined ? "unknown" : v ? "ok" : "missing");
  add({
    id: "pidfd-open",
    title: "pidfd_open",
    status: probe(facts.pidfdOpen),
    detail: facts.pidfdOpen === undefined ? "could not be probed" : facts.pidfdOpen ? "works" : "not available (ENOSYS)",
    meaning: "without pidfds a kill may hit a recycled pid; oomkit then re-checks the start time before kill(2)",
  });
  add({
    id: "process-mrelease",
    title: "process_mrelease",
    status: probe(facts.processMrelease),
    detail: facts.processMrelease === undefined ? "could not be probed" : facts.processMrelease ? "present" : "not available (ENOSYS)",
    meaning: "without it a victim's memory is freed only as fast as the victim exits",
  });
  // The root cgroup has no cgroup.kill: look in a child, or, on a tree without children, go by
  // the kernel version that brought it.
  const killSeen = mode.perCgroup ? childHas(host, mode.unifiedMount, CgroupFile.kill, true) : undefined;
  const cgroupKill = killSeen ?? (mode.perCgroup && kernelAtLeast(release, 5, 14));
  add({
    id: "cgroup-kill",
    title: "cgroup.kill",
    status: cgroupKill ? "ok" : "missing",
    detail: cgroupKill ? (killSeen === undefined ? "expected (kernel 5.14 or later; no child cgroup to look in)" : "present") : mode.perCgroup ? "absent (kernel before 5.14)" : "no per-cgroup mode",
    meaning: "without it a whole-cgroup kill signals each task by pidfd until the cgroup is empty",
  });
  const reclaim = mode.perCgroup && mode.unifiedMount !== undefined && host.exists(`${mode.unifiedMount}/${CgroupFile.memoryReclaim}`);
  add({
    id: "memory-reclaim",
    title: "memory.reclaim",
    status: reclaim ? "ok" : "missing",
    detail: reclaim ? "present" : mode.perCgroup ? "absent (kernel before 5.19)" : "no per-cgroup mode",
    meaning: "without it reclaim-before-kill plans cannot be carried out",
  });
  const meminfo = readIfPresent(host, PROC_MEMINFO);
  let swapTotal: number | undefined;
  try {
    swapTotal = meminfo === undefined ? undefined : parseMeminfo(meminfo).swapTotalBytes;
  } catch {
    swapTotal = undefined;
  }
  add({
    id: "swap",
    title: "swap",
    status: swapTotal === undefined ? "unknown" : "ok",
    detail: swapTotal === undefined ? "unknown" : swapTotal > 0 ? `${Math.round(swapTotal / 1048576)} MiB` : "none",
    meaning: "with swap, pressure builds long before MemAvailable runs out: PSI triggers matter most there",
  });

  // Locking this process's own code is a harmless probe (it ends right after), and it tells what
  // the daemon gets at start-up under the same limits. A fixture's smaps is judged, not locked.
  const resident = lockCode(host, host.capabilities.liveProcesses ? mlock2OnFault : () => 0);
  add({
    id: "resident-code",
    title: "code kept resident (mlock2 MLOCK_ONFAULT)",
    status: resident.plan === undefined ? "unknown" : resident.complete ? "ok" : "warn",
    detail: resident.note,
    meaning: "the pages oomkit runs from may be evicted when memory runs out, slowing it when it is needed; cgroup v1 and hybrid hosts have no memory.min to fall back on. Run it with LimitMEMLOCK=infinity or CAP_IPC_LOCK (deploy/oomkit.service does)",
  });

  const usable = psiSystem || meminfo !== undefined;
  return { schema: "oomkit.doctor/1", source: host.description, checks, usable };
}

/**
 * True when any first-level child cgroup of the v2 root has this file (the root itself lacks
 * some); with `unknownWithoutChildren`, undefined when there is no child to look in.
 */
function childHas(host: Host, mount: string | undefined, file: string, unknownWithoutChildren = false): boolean | undefined {
  if (mount === undefined) return false;
  try {
    const children = host.readDir(mount).filter((e) => e.isDirectory);
    if (children.length === 0 && unknownWithoutChildren) return undefined;
    return children.some((e) => host.exists(`${mount}/${e.name}/${file}`));
  } catch {
    return false;
  }
}

/** "6.12.57+deb13-amd64" ≥ major.minor? False when unknown. */
export function kernelAtLeast(release: string | undefined, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release ?? "");
  if (!m) return false;
  const [a, b] = [Number(m[1]), Number(m[2])];
  return a > major || (a === major && b >= minor);
}
