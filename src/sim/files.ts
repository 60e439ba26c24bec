/**
 * The simulated machine as a file tree: which machine paths exist, what each reads, and what a
 * write to it does to the model. Paths follow src/os/paths.ts: /proc/..., and the v2 hierarchy at
 * /sys/fs/cgroup. Cgroup files are as on a 6.x kernel (the root has no limits, events or
 * cgroup.kill; it has memory.pressure, memory.stat and memory.reclaim).
 */
import { OomkitError } from "../errors.js";
import { CgroupFile, CGROUP_FS, PidFile } from "../os/paths.js";
import type { SimMachine } from "./machine.js";
import { cgroupEvents, memoryEvents, memoryStat, oomScore, procStat, procStatus } from "./render.js";
import type { SimCgroup, SimTask } from "./state.js";

export type Node =
  | { readonly kind: "dir"; readonly entries: () => readonly { name: string; isDirectory: boolean }[]; readonly ownerUid: number; readonly xattrs?: ReadonlyMap<string, string> }
  | { readonly kind: "file"; readonly read: () => string; readonly write?: (data: string) => void; readonly ownerUid: number }
  | { readonly kind: "link"; readonly text: string; readonly ownerUid: number };

/** An errno as the Host contract's error wants it in `cause`. */
export function errno(code: string): Error {
  return Object.assign(new Error(code), { code });
}

export interface SelfProcess {
  readonly pid: number;
  oomScoreAdj: number;
}

const dir = (names: readonly string[], subdirs: readonly string[] = [], ownerUid = 0, xattrs?: ReadonlyMap<string, string>): Node => ({
  kind: "dir",
  entries: () => [...subdirs.map((name) => ({ name, isDirectory: true })), ...names.map((name) => ({ name, isDirectory: false }))],
  ownerUid,
  ...(xattrs ? { xattrs } : {}),
});
const file = (read: () => string, write?: (data: string) => void, ownerUid = 0): Node => ({ kind: "file", read, ownerUid, ...(write ? { write } : {}) });

/** A value written to a limit: bytes or "max", with the newline echo adds. */
export function parseLimitWrite(data: string): number {
  const s = data.trim();
  if (s === "max") return Infinity;
  if (/^\d+$/.test(s)) return Number(s);
  throw new OomkitError("E_HOST_IO", `write ${JSON.stringify(data)}: EINVAL`, { cause: errno("EINVAL") });
}

function parseIntWrite(data: string): number {
  const s = data.trim();
  if (!/^-?\d+$/.test(s)) throw new OomkitError("E_HOST_IO", `write ${JSON.stringify(data)}: EINVAL`, { cause: errno("EINVAL") });
  return Number(s);
}

const limit = (pages: number, pageSize: number) => `${Number.isFinite(pages) ? pages * pageSize : "max"}\n`;

const ZERO_PRESSURE = "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";

/**
 * The files of one cgroup folder. Only the file asked for is built: every read of the engine's
 * comes through here, and building the folder's twenty-odd nodes for each was most of its cost.
 */
function cgroupFile(m: SimMachine, cg: SimCgroup, name: string): Node | undefined {
  return commonFile(m, cg, name) ?? (cg.parent === undefined ? undefined : childFile(m, cg, name));
}

/** The files every cgroup has, the root included. */
function commonFile(m: SimMachine, cg: SimCgroup, name: string): Node | undefined {
  switch (name) {
    case CgroupFile.procs:
      return file(
        () => [...cg.tasks].map((t) => `${t.pid}\n`).join(""),
        (d) => m.moveTask(parseIntWrite(d), cg.path),
      );
    case CgroupFile.controllers:
      return file(() => "cpuset cpu io memory pids\n");
    case CgroupFile.subtreeControl:
      return file(() => (cg.children.size > 0 || cg.parent === undefined ? "memory\n" : ""));
    case CgroupFile.memoryPressure:
      return file(() => cg.psi.render());
    case CgroupFile.cpuPressure:
    case CgroupFile.ioPressure:
      return file(() => ZERO_PRESSURE);
    case CgroupFile.memoryStat:
      return file(() => memoryStat(m.k, cg));
    case CgroupFile.memoryReclaim:
      return file(
        () => "",
        (d) => {
          const want = parseLimitWrite(d.split(/\s+/)[0] ?? "");
          if (m.reclaimBytes(cg.path, want) < want) throw new OomkitError("E_HOST_IO", `memory.reclaim ${want}: EAGAIN`, { cause: errno("EAGAIN") });
        },
      );
    default:
      return undefined;
  }
}

/** The files of a cgroup below the root: its limits, events, usage and kill. */
function childFile(m: SimMachine, cg: SimCgroup, name: string): Node | undefined {
  const ps = m.pageSizeBytes;
  const setter = (which: Parameters<SimMachine["setLimit"]>[1]) => (d: string) => m.setLimit(cg.path, which, parseLimitWrite(d));
  switch (name) {
    case CgroupFile.events:
      return file(() => cgroupEvents(cg));
    case CgroupFile.kill:
      return file(
        () => "",
        (d) => {
          if (d.trim() !== "1") throw new OomkitError("E_HOST_IO", `cgroup.kill ${JSON.stringify(d)}: ERANGE`, { cause: errno("ERANGE") });
          m.killCgroup(cg.path);
        },
      );
    case CgroupFile.memoryCurrent:
      return file(() => `${cg.usage * ps}\n`);
    case CgroupFile.memoryMin:
      return file(() => limit(cg.minPages, ps), setter("min"));
    case CgroupFile.memoryLow:
      return file(() => limit(cg.lowPages, ps), setter("low"));
    case CgroupFile.memoryHigh:
      return file(() => limit(cg.highPages, ps), setter("high"));
    case CgroupFile.memoryMax:
      return file(() => limit(cg.maxPages, ps), setter("max"));
    case CgroupFile.memoryPeak:
      return file(() => `${cg.peakPages * ps}\n`);
    case CgroupFile.memoryEvents:
      return file(() => memoryEvents(cg, false));
    case CgroupFile.memoryEventsLocal:
      return file(() => memoryEvents(cg, true));
    case CgroupFile.memoryOomGroup:
      return file(
        () => `${cg.oomGroup ? 1 : 0}\n`,
        (d) => {
          const v = parseIntWrite(d);
          if (v !== 0 && v !== 1) throw new OomkitError("E_HOST_IO", `memory.oom.group ${v}: EINVAL`, { cause: errno("EINVAL") });
          cg.oomGroup = v === 1;
        },
      );
    case CgroupFile.memorySwapCurrent:
      return file(() => `${cg.swapUsage * ps}\n`);
    case CgroupFile.memorySwapMax:
      return file(() => limit(cg.swapMaxPages, ps), setter("swap.max"));
    case CgroupFile.memorySwapPeak:
      return file(() => `${cg.swapPeakPages * ps}\n`);
    default:
      return undefined;
  }
}

const ROOT_CGROUP_FILES = [CgroupFile.procs, CgroupFile.controllers, CgroupFile.subtreeControl, CgroupFile.memoryPressure, CgroupFile.cpuPressure, CgroupFile.ioPressure, CgroupFile.memoryStat, CgroupFile.memoryReclaim];
const CHILD_CGROUP_FILES = [
  ...ROOT_CGROUP_FILES,
  CgroupFile.events, CgroupFile.kill, CgroupFile.memoryCurrent, CgroupFile.memoryMin, CgroupFile.memoryLow, CgroupFile.memoryHigh,
  CgroupFile.memoryMax, CgroupFile.memoryPeak, CgroupFile.memoryEvents, CgroupFile.memoryEventsLocal, CgroupFile.memoryOomGroup,
  CgroupFile.memorySwapCurrent, CgroupFile.memorySwapMax, CgroupFile.memorySwapPeak,
];

/** A cgroup folder or a file in one; `rel` is the path below the v2 mount. */
export function cgroupNode(m: SimMachine, rel: string): Node | undefined {
  const parts = rel.split("/").filter(Boolean);
  let cg: SimCgroup | undefined = m.root;
  let i = 0;
  for (; i < parts.length; i++) {
    const next: SimCgroup | undefined = cg.children.get(parts[i] as string);
    if (!next) break;
    cg = next;
  }
  if (i === parts.length) {
    const names = cg.parent === undefined ? ROOT_CGROUP_FILES : CHILD_CGROUP_FILES;
    return dir(names, [...cg.children.keys()], cg.ownerUid, cg.xattrs);
  }
  return i === parts.length - 1 ? cgroupFile(m, cg, parts[i] as string) : undefined;
}

const PID_FILES = [PidFile.stat, PidFile.status, PidFile.oomScore, PidFile.oomScoreAdj, PidFile.cmdline, PidFile.cgroup];

/** A /proc/PID folder, or a file or link in it. */
export function pidNode(m: SimMachine, t: SimTask, name: string | undefined): Node | undefined {
  const k = m.k;
  if (name === undefined) return dir(t.exe === undefined ? PID_FILES : [...PID_FILES, PidFile.exe], [], t.uid);
  switch (name) {
    case PidFile.stat:
      return file(() => procStat(k, t), undefined, t.uid);
    case PidFile.status:
      return file(() => procStatus(k, t), undefined, t.uid);
    case PidFile.oomScore:
      return file(() => oomScore(k, t), undefined, t.uid);
    case PidFile.oomScoreAdj:
      return file(() => `${t.oomScoreAdj}\n`, (d) => m.setOomScoreAdj(t.pid, parseIntWrite(d)), t.uid);
    case PidFile.cmdline:
      return file(() => `${t.cmdline.join("\0")}\0`, undefined, t.uid);
    case PidFile.cgroup:
      return file(() => `0::${t.cgroup.path}\n`, undefined, t.uid);
    case PidFile.exe:
      return t.exe === undefined ? undefined : { kind: "link", text: t.exe, ownerUid: t.uid };
    default:
      return undefined;
  }
}

export { CGROUP_FS };
