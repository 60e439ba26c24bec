/**
 * Keeping oomkit alive under the pressure it exists to relieve. Node cannot mlockall (V8
 * aborts), so oomkit protects itself the ways the kernel offers: oom_score_adj -1000 (needs
 * CAP_SYS_RESOURCE; refused on the development machines here, so it is reported, not fatal)
 * and, where cgroup v2 allows, memory.min on its own cgroup. Each step says what it achieved.
 */
import { OomkitError } from "../errors.js";
import type { CgroupMode } from "../os/cgroup-mode.js";
import type { Host } from "../os/host.js";
import { parseMemoryValue } from "../os/parse/cgroup.js";
import { parseProcCgroup } from "../os/parse/proc.js";
import { CgroupFile, type CgroupPath, PROC_SELF_CGROUP, PROC_SELF_OOM_SCORE_ADJ, cgroupDir, cgroupPath, parentCgroup } from "../os/paths.js";

export interface SelfProtection {
  readonly oomScoreAdj: { readonly applied: boolean; readonly value: number | undefined; readonly note: string };
  readonly memoryMin: {
    readonly cgroup: CgroupPath | undefined;
    readonly requestedBytes: number | undefined;
    readonly applied: boolean;
    /** The protection the ancestors leave room for (the smallest memory.min above), when it caps ours. */
    readonly cappedAtBytes: number | undefined;
    readonly recursiveProt: boolean;
    readonly note: string;
  };
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function protectSelf(host: Host, mode: CgroupMode, opts: { readonly memoryMinBytes: number | undefined }): SelfProtection {
  let adj: SelfProtection["oomScoreAdj"];
  try {
    host.writeFile(PROC_SELF_OOM_SCORE_ADJ, "-1000");
    adj = { applied: true, value: -1000, note: "oom_score_adj -1000: the kernel's OOM killer will not choose oomkit" };
  } catch (err) {
    const current = Number(safeRead(host, PROC_SELF_OOM_SCORE_ADJ)?.trim());
    const why = err instanceof OomkitError && err.code === "E_PERMISSION" ? "refused: lowering oom_score_adj needs CAP_SYS_RESOURCE" : errMessage(err);
    adj = { applied: false, value: Number.isFinite(current) ? current : undefined, note: `oom_score_adj -1000 ${why}; the kernel may choose oomkit` };
  }
  return { oomScoreAdj: adj, memoryMin: protectMemory(host, mode, opts.memoryMinBytes) };
}

function protectMemory(host: Host, mode: CgroupMode, requested: number | undefined): SelfProtection["memoryMin"] {
  const base = { requestedBytes: requested, recursiveProt: mode.recursiveProt, cappedAtBytes: undefined };
  if (!mode.perCgroup || mode.unifiedMount === undefined) {
    return { ...base, cgroup: undefined, applied: false, note: "no memory.min: system-level mode (no cgroup v2 memory controller)" };
  }
  const text = safeRead(host, PROC_SELF_CGROUP);
  const own = text !== undefined ? parseProcCgroup(text).v2Path : undefined;
  if (own === undefined) return { ...base, cgroup: undefined, applied: false, note: "no memory.min: oomkit's own cgroup is unknown" };
  const cg = cgroupPath(own);
  if (cg === "/") return { ...base, cgroup: cg, applied: false, note: "no memory.min: oomkit runs in the root cgroup, which has none; run it in its own cgroup (the systemd unit does)" };
  if (requested === undefined) return { ...base, cgroup: cg, applied: false, note: "memory.min not requested" };
  let applied = false;
  let note: string;
  try {
    host.writeFile(`${cgroupDir(mode.unifiedMount, cg)}/${CgroupFile.memoryMin}`, String(requested));
    applied = true;
    note = `memory.min ${requested} on ${cg}`;
  } catch (err) {
    note = `memory.min on ${cg} could not be set: ${errMessage(err)}`;
  }
  // Effective protection is bounded by each ancestor's: without memory_recursiveprot an ancestor
  // with a smaller memory.min caps ours; with it, unclaimed protection also flows down to us.
  let cap: number | undefined;
  for (let p = parentCgroup(cg); p !== undefined && p !== "/"; p = parentCgroup(p)) {
    const v = safeRead(host, `${cgroupDir(mode.unifiedMount, p)}/${CgroupFile.memoryMin}`);
    if (v === undefined) continue;
    try {
      const n = parseMemoryValue(v);
      cap = cap === undefined ? n : Math.min(cap, n);
    } catch {
      /* unreadable: no cap known */
    }
  }
  const capped = cap !== undefined && cap < requested ? cap : undefined;
  if (applied && capped !== undefined) {
    note += `, but capped at ${capped} by an ancestor's memory.min${mode.recursiveProt ? " (memory_recursiveprot passes unclaimed protection down, within that cap)" : " (no memory_recursiveprot)"}`;
  } else if (applied) {
    note += mode.recursiveProt ? " (memory_recursiveprot: ancestors' protection also flows down)" : " (ancestors leave room for it)";
  }
  return { ...base, cgroup: cg, applied, cappedAtBytes: capped, note };
}

function safeRead(host: Host, path: string): string | undefined {
  try {
    return host.readFile(path);
  } catch {
    return undefined;
  }
}
