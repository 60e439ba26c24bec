/**
 * What the real kernel would show, derived from the model, in the kernel's own text formats:
 * /proc/meminfo, /proc/vmstat, memory.stat, memory.events(.local), cgroup.events and the
 * per-process files. Pure functions of the state; nothing here changes it.
 */
import { EVENT_NAMES, type EventName, type SimCgroup, type SimTask } from "./state.js";
import type { SimKernel } from "./kernel.js";
import { badness } from "./oom-killer.js";

const kb = (k: SimKernel, pages: number) => Math.floor((pages * k.pageSizeBytes) / 1024);

/** Page cache and mapped file pages of the subtree (the model's "file" memory). */
function fileTotals(cg: SimCgroup): { cache: number; mapped: number; anon: number; pt: number } {
  const out = { cache: 0, mapped: 0, anon: 0, pt: 0 };
  for (const c of cg.subtree()) {
    out.cache += c.cachePages;
    for (const t of c.tasks) {
      out.mapped += t.fileResident;
      out.anon += t.anonResident;
      out.pt += t.ptPages;
    }
  }
  return out;
}

/**
 * MemAvailable as si_mem_available() estimates it: free pages above the reserve (the high
 * watermark), plus page cache minus the part reclaim would leave (half of it, at most the low
 * watermark).
 */
export function memAvailablePages(k: SimKernel): number {
  return availableOf(k, fileTotals(k.root));
}

/** memAvailablePages from the machine's totals already summed (meminfo sums them once for both). */
function availableOf(k: SimKernel, f: { readonly cache: number; readonly mapped: number }): number {
  const file = f.cache + f.mapped;
  const avail = k.ledger.freePages - k.watermarks.high + file - Math.min(Math.floor(file / 2), k.watermarks.low);
  return Math.max(0, avail);
}

export function meminfo(k: SimKernel): string {
  const f = fileTotals(k.root);
  const l = k.ledger;
  const rows: [string, number][] = [
    ["MemTotal", l.totalPages],
    ["MemFree", l.freePages],
    ["MemAvailable", availableOf(k, f)],
    ["Buffers", 0],
    ["Cached", f.cache + f.mapped],
    ["SwapCached", 0],
    ["Active(anon)", Math.ceil(f.anon / 2)],
    ["Inactive(anon)", Math.floor(f.anon / 2)],
    ["Active(file)", f.mapped],
    ["Inactive(file)", f.cache],
    ["SwapTotal", l.swapTotalPages],
    ["SwapFree", l.swapFreePages],
    ["AnonPages", f.anon],
    ["Mapped", f.mapped],
    ["Shmem", 0],
    ["PageTables", f.pt],
  ];
  return rows.map(([key, pages]) => `${meminfoKey(key)}${String(kb(k, pages)).padStart(8)} kB\n`).join("");
}

/** "Key:" padded to meminfo's column, made once per key (the daemon reads meminfo every few hundred ms). */
const MEMINFO_KEYS = new Map<string, string>();
function meminfoKey(key: string): string {
  let padded = MEMINFO_KEYS.get(key);
  if (padded === undefined) MEMINFO_KEYS.set(key, (padded = `${key}:`.padEnd(16)));
  return padded;
}

export function vmstat(k: SimKernel): string {
  const rows: [string, number][] = [["nr_free_pages", k.ledger.freePages], ...Object.entries(k.vmstat)];
  return rows.map(([key, n]) => `${key} ${n}\n`).join("");
}

/** memory.stat: byte figures and event counters of the subtree, as v2 prints them. */
export function memoryStat(k: SimKernel, cg: SimCgroup): string {
  const f = fileTotals(cg);
  const c = { pgscan: 0, pgsteal: 0, pgfault: 0, pgmajfault: 0, workingsetRefaultAnon: 0, workingsetRefaultFile: 0 };
  for (const d of cg.subtree()) for (const key of Object.keys(c) as (keyof typeof c)[]) c[key] += d.counters[key];
  const b = (pages: number) => pages * k.pageSizeBytes;
  const rows: [string, number][] = [
    ["anon", b(f.anon)],
    ["file", b(f.cache + f.mapped)],
    ["kernel", b(f.pt)],
    ["pagetables", b(f.pt)],
    ["shmem", 0],
    ["file_mapped", b(f.mapped)],
    ["swapcached", 0],
    ["inactive_anon", b(Math.floor(f.anon / 2))],
    ["active_anon", b(Math.ceil(f.anon / 2))],
    ["inactive_file", b(f.cache)],
    ["active_file", b(f.mapped)],
    ["unevictable", 0],
    ["pgscan", c.pgscan],
    ["pgsteal", c.pgsteal],
    ["pgfault", c.pgfault],
    ["pgmajfault", c.pgmajfault],
    ["workingset_refault_anon", c.workingsetRefaultAnon],
    ["workingset_refault_file", c.workingsetRefaultFile],
  ];
  return rows.map(([key, n]) => `${key} ${n}\n`).join("");
}

/** memory.events (the subtree's counts) or memory.events.local (the cgroup's own). */
export function memoryEvents(cg: SimCgroup, local: boolean): string {
  const sum = { ...cg.eventsLocal };
  if (!local) for (const d of cg.subtree()) if (d !== cg) for (const e of EVENT_NAMES) sum[e] += d.eventsLocal[e];
  return EVENT_NAMES.map((e: EventName) => `${e} ${sum[e]}\n`).join("");
}

export function cgroupEvents(cg: SimCgroup): string {
  let populated = false;
  for (const d of cg.subtree()) if (d.tasks.size > 0) populated = true;
  return `populated ${populated ? 1 : 0}\nfrozen 0\n`;
}

/** The state letter: a killed task whose memory has not come back is in the exit path (D). */
const stateLetter = (t: SimTask) => (t.state === "dying" ? "D" : t.stallShare > 0 ? "D" : "S");

/** /proc/PID/stat, rendered from the task's figures now (no cache). */
export function renderProcStat(k: SimKernel, t: SimTask): string {
  const rss = t.anonResident + t.fileResident;
  const startTicks = Math.floor(t.startMs / 10);
  const vsize = (t.footprintPages() + t.anonSwapped + t.fileEvicted) * k.pageSizeBytes;
  // Fields after comm, as proc(5) numbers them from 3 (state) to 52: the last 27 are zeros. One
  // template, not an array joined: a task's stat is rendered again whenever its figures move.
  return `${t.pid} (${t.comm}) ${stateLetter(t)} ${t.ppid} ${t.pid} ${t.pid} 0 -1 ${0x00400100} 0 0 0 0 0 0 0 0 20 0 1 0 ${startTicks} ${vsize} ${rss} 18446744073709551615${STAT_ZEROS}\n`;
}

/** The 27 trailing zero fields of a stat line (fields 26 to 52), each with its leading space. */
const STAT_ZEROS = " 0".repeat(27);

/** /proc/PID/status, rendered from the task's figures now (no cache). */
export function renderProcStatus(k: SimKernel, t: SimTask): string {
  // One template, not lines joined: a task's status is rendered again whenever its figures move.
  const kB = (pages: number) => `${kb(k, pages)} kB`;
  const letter = stateLetter(t);
  return (
    `Name:\t${t.comm}\nUmask:\t0022\nState:\t${letter} (${letter === "D" ? "disk sleep" : "sleeping"})\n` +
    `Tgid:\t${t.pid}\nPid:\t${t.pid}\nPPid:\t${t.ppid}\nUid:\t${t.uid}\t${t.uid}\t${t.uid}\t${t.uid}\nGid:\t0\t0\t0\t0\n` +
    `VmSize:\t${kB(t.footprintPages() + t.anonSwapped + t.fileEvicted)}\nVmRSS:\t${kB(t.anonResident + t.fileResident)}\n` +
    `RssAnon:\t${kB(t.anonResident)}\nRssFile:\t${kB(t.fileResident)}\nRssShmem:\t${kB(0)}\nVmPTE:\t${kB(t.ptPages)}\nVmSwap:\t${kB(t.anonSwapped)}\n` +
    "Threads:\t1\nCapEff:\t0000000000000000\nKthread:\t0\n"
  );
}

/**
 * The figures a task's stat and status texts are rendered from (its pid, comm, parent, uid and
 * start never change), and the texts last rendered from them. The engine reads each task's
 * files every second or so and most reads find the figures as they were: the text is kept, and
 * the same string handed out again.
 */
interface TaskTexts {
  readonly letter: string;
  readonly anonResident: number;
  readonly anonSwapped: number;
  readonly fileResident: number;
  readonly fileEvicted: number;
  readonly ptPages: number;
  stat: string | undefined;
  status: string | undefined;
}
const lastTexts = new WeakMap<SimTask, TaskTexts>();

/** The kept texts of `t`, emptied when one of the figures they are rendered from moved. */
function textsOf(t: SimTask): TaskTexts {
  const letter = stateLetter(t);
  const c = lastTexts.get(t);
  if (c !== undefined && c.letter === letter && c.anonResident === t.anonResident && c.anonSwapped === t.anonSwapped && c.fileResident === t.fileResident && c.fileEvicted === t.fileEvicted && c.ptPages === t.ptPages) return c;
  const fresh: TaskTexts = { letter, anonResident: t.anonResident, anonSwapped: t.anonSwapped, fileResident: t.fileResident, fileEvicted: t.fileEvicted, ptPages: t.ptPages, stat: undefined, status: undefined };
  lastTexts.set(t, fresh);
  return fresh;
}

export function procStat(k: SimKernel, t: SimTask): string {
  const c = textsOf(t);
  return (c.stat ??= renderProcStat(k, t));
}

export function procStatus(k: SimKernel, t: SimTask): string {
  const c = textsOf(t);
  return (c.status ??= renderProcStatus(k, t));
}

/** /proc/PID/oom_score: (1000 + badness × 1000 / totalpages) × 2 / 3 with the machine's totalpages. */
export function oomScore(k: SimKernel, t: SimTask): string {
  const total = k.ledger.totalPages + k.ledger.swapTotalPages;
  const b = badness(t, total);
  if (b === undefined || t.state !== "running") return "0\n";
  return `${Math.trunc(((1000 + Math.trunc((b * 1000) / total)) * 2) / 3)}\n`;
}
