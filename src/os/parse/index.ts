/** The pure parsers for the kernel text files oomkit reads. Reading the files is the Host's job. */
export {
  parseCgroupEvents,
  parseControllers,
  parseFlag,
  parseMemoryEvents,
  parseMemoryStat,
  parseMemoryValue,
  parsePidList,
} from "./cgroup.js";
export type { CgroupEvents, MemoryEvents, MemoryStat, PidList } from "./cgroup.js";
export { parseMeminfo } from "./meminfo.js";
export type { Meminfo } from "./meminfo.js";
export { parseMounts } from "./mounts.js";
export type { MountEntry } from "./mounts.js";
export {
  PF_KTHREAD,
  isKernelThreadFlags,
  parseCmdline,
  parseExeLink,
  parseOomScore,
  parseOomScoreAdj,
  parseProcCgroup,
  parseProcStat,
  parseProcStatus,
} from "./proc.js";
export type { Ids, ProcCgroup, ProcStat, ProcStatus } from "./proc.js";
export { parsePressure } from "./psi.js";
export type { Pressure, PressureLine } from "./psi.js";
export { parseVmstat } from "./vmstat.js";
export type { Vmstat } from "./vmstat.js";
