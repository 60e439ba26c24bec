/**
 * Keeping oomkit's code resident: mlock2(MLOCK_ONFAULT) on the executable file mappings of the
 * process (the Node binary's text, libc, libstdc++, koffi's library...), so the kernel cannot
 * evict the pages oomkit runs from when memory runs out, whatever the cgroup setup (cgroup v1
 * and hybrid hosts have no memory.min). ONFAULT locks the pages already in memory and each page
 * as it is first touched, so nothing is read in up front.
 *
 * Never V8's anonymous ranges (heap, code space): V8 changes their permissions and decommits
 * them, and aborts at exit (`Check failed` in `OS::SetPermissions`) when a locked range refuses,
 * as it does under mlockall.
 *
 * The kernel counts a locked range's whole length against RLIMIT_MEMLOCK (not what is resident),
 * unless the process has CAP_IPC_LOCK; the default limit (8 MiB) is smaller than Node's text
 * alone. Under a limit, the smallest mappings go first, so the most libraries fit.
 */
import { isVanished } from "../errors.js";
import type { Host } from "./host.js";
import { libc as libcRef } from "./libc.js";
import { parseLimit } from "./parse/limits.js";
import { parseProcStatus } from "./parse/proc.js";
import { type SmapsEntry, entryBytes, isExecutableFileMapping, lockedResidentBytes, parseKbFields, parseSmaps } from "./parse/smaps.js";
import { PROC_SELF_LIMITS, PROC_SELF_MAPS, PROC_SELF_SMAPS, PROC_SELF_SMAPS_ROLLUP, PROC_SELF_STATUS } from "./paths.js";

export const MLOCK_ONFAULT = 1;
/** Capability bit number from linux/capability.h. */
export const CAP_IPC_LOCK = 14;

/** What bounds locking: the soft RLIMIT_MEMLOCK, CAP_IPC_LOCK, and what is locked already (VmLck). */
export interface LockBudget {
  readonly limitBytes: number | "unlimited" | undefined;
  readonly capIpcLock: boolean | undefined;
  readonly lockedBytes: number;
}

export interface LockPlan {
  /** The mappings to lock, smallest first. */
  readonly chosen: readonly SmapsEntry[];
  /** Executable file mappings that do not fit the budget. */
  readonly left: readonly SmapsEntry[];
  /** The length of every executable file mapping (what an unlimited lock covers). */
  readonly codeBytes: number;
  readonly chosenBytes: number;
  /** Bytes the limit leaves; Infinity with CAP_IPC_LOCK or an unlimited limit. */
  readonly budgetBytes: number;
}

/** Which mappings to lock under a budget (pure). An unknown limit is taken as the kernel's default, 8 MiB. */
export function planLocks(entries: readonly SmapsEntry[], budget: LockBudget): LockPlan {
  const code = entries.filter(isExecutableFileMapping).sort((a, b) => entryBytes(a) - entryBytes(b));
  const limit = budget.limitBytes ?? 8 * 1024 * 1024;
  const budgetBytes = budget.capIpcLock === true || limit === "unlimited" ? Infinity : Math.max(0, limit - budget.lockedBytes);
  const chosen: SmapsEntry[] = [];
  const left: SmapsEntry[] = [];
  let chosenBytes = 0;
  for (const e of code) {
    if (chosenBytes + entryBytes(e) <= budgetBytes) {
      chosen.push(e);
      chosenBytes += entryBytes(e);
    } else left.push(e);
  }
  return { chosen, left, codeBytes: code.reduce((n, e) => n + entryBytes(e), 0), chosenBytes, budgetBytes };
}

/**
 * What is locked, from smaps: `Locked:` is proportional (a page shared with N processes counts
 * 1/N, and Node's text is shared with every Node process on the host), so the resident size of
 * the locked mappings is given too. (VmLck counts whole ranges, resident or not: 0.7 GiB for a
 * 43 MiB process under mlockall.)
 */
export interface LockedFigures {
  /** smaps_rollup `Locked:`. */
  readonly lockedPssBytes: number;
  /** Rss of the mappings whose VmFlags say "lo". */
  readonly lockedRssBytes: number;
}

export interface Residency {
  readonly locked: LockedFigures | undefined;
  readonly plan: LockPlan | undefined;
  /** Mappings mlock2 refused, with its errno name. */
  readonly failed: readonly { readonly path: string; readonly errno: string }[];
  /** True when every executable file mapping is locked. */
  readonly complete: boolean;
  readonly note: string;
}

/** The call that locks one range: 0, or the errno's name. */
export type LockCall = (start: number, length: number) => 0 | string;

const MIB = 1024 * 1024;
const mib = (bytes: number) => `${(bytes / MIB).toFixed(1)} MiB`;

/** The budget this process has, from /proc/self/limits and status. */
export function lockBudget(host: Host): LockBudget {
  const limit = read(host, PROC_SELF_LIMITS);
  const status = read(host, PROC_SELF_STATUS);
  const parsed = status === undefined ? undefined : safe(() => parseProcStatus(status));
  const capIpcLock = parsed?.capEff === undefined ? undefined : (parsed.capEff & (1n << BigInt(CAP_IPC_LOCK))) !== 0n;
  const vmLckKiB = status === undefined ? 0 : (parseKbFields(status).VmLck ?? 0);
  return { limitBytes: limit === undefined ? undefined : parseLimit(limit, "Max locked memory")?.soft, capIpcLock, lockedBytes: vmLckKiB * 1024 };
}

/** What smaps says this process has locked, or undefined when unreadable. */
export function lockedNow(host: Host): LockedFigures | undefined {
  const rollup = read(host, PROC_SELF_SMAPS_ROLLUP);
  const smaps = read(host, PROC_SELF_SMAPS);
  const kb = rollup === undefined ? undefined : parseKbFields(rollup).Locked;
  if (kb === undefined || smaps === undefined) return undefined;
  return { lockedPssBytes: kb * 1024, lockedRssBytes: lockedResidentBytes(smaps) };
}

/**
 * Locks this process's executable file mappings (within the budget) with `lock`, then reads
 * back what smaps says is locked. Never throws: a failure is reported in the note.
 */
export function lockCode(host: Host, lock: LockCall): Residency {
  const maps = read(host, PROC_SELF_MAPS);
  if (maps === undefined) return { locked: undefined, plan: undefined, failed: [], complete: false, note: "code not locked in memory: /proc/self/maps is unreadable" };
  const budget = lockBudget(host);
  const plan = planLocks(parseSmaps(maps), budget);
  const failed: { path: string; errno: string }[] = [];
  for (const e of plan.chosen) {
    const r = lock(Number(e.start), entryBytes(e));
    if (r !== 0) failed.push({ path: e.path, errno: r });
  }
  const locked = lockedNow(host);
  const complete = plan.left.length === 0 && failed.length === 0;
  return { locked, plan, failed, complete, note: residencyNote(plan, budget, failed, locked) };
}

/** The start-up and doctor line: what is locked, and what to change when it is not everything. */
export function residencyNote(plan: LockPlan, budget: LockBudget, failed: readonly { path: string; errno: string }[], figures: LockedFigures | undefined): string {
  const all = plan.chosen.length + plan.left.length;
  const locked = figures === undefined ? "smaps unreadable" : `${mib(figures.lockedRssBytes)} resident and locked (smaps Locked, proportional: ${mib(figures.lockedPssBytes)})`;
  if (all === 0) return "code not locked in memory: no executable file mappings found";
  if (failed.length > 0) {
    const errnos = [...new Set(failed.map((f) => f.errno))].join(", ");
    return `code locked in memory only in part: mlock2 failed (${errnos}) on ${failed.length} of ${all} executable mappings; ${locked}`;
  }
  if (plan.left.length > 0) {
    const limit = budget.limitBytes === undefined ? "unknown (taken as 8 MiB)" : budget.limitBytes === "unlimited" ? "unlimited" : mib(budget.limitBytes);
    const missing = [...new Set(plan.left.map((e) => e.path))].join(", ");
    return `RLIMIT_MEMLOCK (${limit}) is too small to lock oomkit's code in memory: it needs ${mib(plan.codeBytes)} of executable mappings and oomkit lacks CAP_IPC_LOCK; locked ${plan.chosen.length} of ${all} mappings, not ${missing}; ${locked}. Give it LimitMEMLOCK=infinity (systemd) or CAP_IPC_LOCK`;
  }
  return `code locked in memory: ${all} executable file mappings (${mib(plan.codeBytes)}) with mlock2(MLOCK_ONFAULT); ${locked}`;
}

function read(host: Host, path: string): string | undefined {
  try {
    return host.readFile(path);
  } catch (err) {
    if (isVanished(err) || err instanceof Error) return undefined;
    throw err;
  }
}

function safe<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}

/** The LockCall of a live process: mlock2(MLOCK_ONFAULT) through libc. */
export const mlock2OnFault: LockCall = (start, length) => {
  // libc() loads koffi on first use only, so a FixtureHost never does.
  const c = libcRef();
  return c.mlock2(start, length, MLOCK_ONFAULT) === 0 ? 0 : c.errnoName(c.errno());
};
