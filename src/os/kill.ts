/**
 * The kill path: pidfd kills with `process_mrelease`, whole-cgroup kills, reclaim and freezing.
 * This is the only module that sends signals or writes `cgroup.kill`, `memory.reclaim` and
 * `cgroup.freeze`; the engine decides, this module acts. Cgroup operations take the cgroup's
 * folder from the caller (the Host knows where the hierarchy is mounted).
 *
 * Nothing here blocks the event loop: waiting on a pidfd goes through an FdPoller, and
 * `process_mrelease` runs on a thread of its own (both in ./poller.ts).
 *
 * Races with the kernel are normal: a victim that is gone before the signal is a `vanished`
 * outcome, not an error; `ESRCH` from `process_mrelease` means the victim already finished
 * exiting and counts as success.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { constants as osConstants } from "node:os";
import { OomkitError, errnoCode } from "../errors.js";
import { libc } from "./libc.js";
import { parseProcStat } from "./parse/proc.js";
import { CgroupFile, procPid } from "./paths.js";
import { type FdPoller, POLLIN, POLLNVAL, defaultPoller, mreleaseOffThread, startOsThreads } from "./poller.js";

// The poller lived here before it had a module of its own; importers may still take it from here.
export { POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLPRI, defaultPoller, type FdPoller, type PollResult } from "./poller.js";

/** A pidfd: an fd that names one process for its whole life (no pid reuse race). */
export type Pidfd = number & { readonly __brand: "Pidfd" };

// ---------------------------------------------------------------------------------------------
// libc calls this module needs beyond ./libc.ts

interface KillCalls {
  pidfdSendSignal(pidfd: number, sig: number, info: null, flags: number): number;
}

let calls: KillCalls | undefined;

function killCalls(): KillCalls {
  if (calls) return calls;
  const lib = libc().koffi.load("libc.so.6");
  let send: KillCalls["pidfdSendSignal"];
  try {
    send = lib.func("int pidfd_send_signal(int pidfd, int sig, void *info, unsigned int flags)") as KillCalls["pidfdSendSignal"];
  } catch {
    send = () => {
      (libc().koffi as unknown as { errno(set: number): number }).errno(38 /* ENOSYS */);
      return -1;
    };
  }
  calls = { pidfdSendSignal: send };
  return calls;
}

/** An OomkitError for a failed call: ESRCH → E_VANISHED, ENOSYS → E_UNSUPPORTED, EPERM → E_PERMISSION. */
function syscallError(call: string, errno: number, what: string): OomkitError {
  const name = libc().errnoName(errno);
  const cause = Object.assign(new Error(`${call}: ${name}`), { code: name, errno });
  switch (name) {
    case "ESRCH":
      return new OomkitError("E_VANISHED", `${what}: the process is gone (${call}: ESRCH)`, { cause });
    case "ENOSYS":
      return new OomkitError("E_UNSUPPORTED", `${what}: this kernel or libc lacks ${call} (ENOSYS)`, { cause });
    case "EPERM":
    case "EACCES":
      return new OomkitError("E_PERMISSION", `${what}: not permitted (${call}: ${name}); run oomkit as root`, { cause });
    default:
      return new OomkitError("E_SYSCALL", `${what}: ${call} failed with ${name}`, { cause });
  }
}

// ---------------------------------------------------------------------------------------------
// pidfd primitives

export function pidfdOpen(pid: number): Pidfd {
  const fd = libc().pidfd_open(pid, 0);
  if (fd < 0) throw syscallError("pidfd_open", libc().errno(), `opening pid ${pid}`);
  return fd as Pidfd;
}

export function pidfdSendSignal(pidfd: Pidfd, signal: NodeJS.Signals = "SIGKILL"): void {
  const sig = osConstants.signals[signal];
  const c = killCalls();
  if (c.pidfdSendSignal(pidfd, sig, null, 0) < 0) {
    throw syscallError("pidfd_send_signal", libc().errno(), `sending ${signal}`);
  }
}

export function closePidfd(pidfd: Pidfd): void {
  libc().close(pidfd);
}

export type MreleaseOutcome = "released" | "already-exited";

/**
 * Reaps a dying victim's memory now instead of when its last thread exits. Call it after a
 * SIGKILL: the kernel refuses (EINVAL → E_SYSCALL) a process that is not exiting. ESRCH means
 * the victim already finished exiting, which is what we wanted. Runs off the main thread.
 */
export async function processMrelease(pidfd: Pidfd): Promise<MreleaseOutcome> {
  const reply = await mreleaseOffThread(pidfd);
  if (reply.ret >= 0) return "released";
  const errno = reply.errno;
  if (libc().errnoName(errno) === "ESRCH") return "already-exited";
  const err = syscallError("process_mrelease", errno, "releasing the victim's memory");
  if (err.code === "E_SYSCALL" && libc().errnoName(errno) === "EINVAL") {
    err.message = "releasing the victim's memory: process_mrelease refused (EINVAL): the process is not exiting; send SIGKILL first";
  }
  throw err;
}

/** Resolves "exited" once the process behind `pidfd` is gone and its memory freed, or "timeout". */
export async function waitPidfdReadable(pidfd: Pidfd, timeoutMs: number, opts: { poller?: FdPoller; signal?: AbortSignal } = {}): Promise<"exited" | "timeout"> {
  const r = await (opts.poller ?? defaultPoller()).wait(pidfd, POLLIN, timeoutMs, opts.signal);
  if (r.kind === "timeout") return "timeout";
  if (r.revents & POLLNVAL) throw new OomkitError("E_INTERNAL", `pidfd ${pidfd} was closed while being waited on`);
  return "exited";
}

// ---------------------------------------------------------------------------------------------
// killTask

export interface KillTaskOptions {
  /** `startTimeTicks` from the snapshot: a different process with the same pid is not killed. */
  expectedStartTimeTicks?: number;
  signal?: NodeJS.Signals;
  /** Call process_mrelease after a SIGKILL (default true). */
  mrelease?: boolean;
  /** Wait this long for the victim to be gone (0, the default: do not wait). */
  waitMs?: number;
  poller?: FdPoller;
}

export type MreleaseResult = MreleaseOutcome | "skipped" | "unsupported" | { failed: OomkitError };

export type KillTaskResult =
  | {
      kind: "killed";
      pid: number;
      mrelease: MreleaseResult;
      /** Only when waitMs > 0: the victim's pidfd turned readable in time. */
      exited?: boolean;
      /** Milliseconds from the call to the signal, to mrelease's return, to the victim gone. */
      timings: { signalMs: number; mreleaseMs?: number; exitMs?: number };
    }
  | { kind: "vanished"; pid: number }
  | { kind: "pid-reused"; pid: number; expectedStartTimeTicks: number; actualStartTimeTicks: number };

export async function killTask(pid: number, opts: KillTaskOptions = {}): Promise<KillTaskResult> {
  const t0 = performance.now();
  const since = () => Math.round((performance.now() - t0) * 100) / 100;
  const signal = opts.signal ?? "SIGKILL";
  let pidfd: Pidfd;
  try {
    pidfd = pidfdOpen(pid);
  } catch (err) {
    if (err instanceof OomkitError && err.code === "E_VANISHED") return { kind: "vanished", pid };
    throw err;
  }
  try {
    if (opts.expectedStartTimeTicks !== undefined) {
      // The pidfd was opened first: if the pid now has the expected start time, it is the same
      // process the pidfd names (a newer one would have started after the open).
      let actual: number;
      try {
        actual = parseProcStat(readFileSync(procPid(pid, "stat"), "utf8")).startTimeTicks;
      } catch (err) {
        if (errnoCode(err) === "ENOENT" || errnoCode(err) === "ESRCH") return { kind: "vanished", pid };
        throw err;
      }
      if (actual !== opts.expectedStartTimeTicks) {
        return { kind: "pid-reused", pid, expectedStartTimeTicks: opts.expectedStartTimeTicks, actualStartTimeTicks: actual };
      }
    }
    try {
      pidfdSendSignal(pidfd, signal);
    } catch (err) {
      if (err instanceof OomkitError && err.code === "E_VANISHED") return { kind: "vanished", pid };
      throw err;
    }
    const timings: { signalMs: number; mreleaseMs?: number; exitMs?: number } = { signalMs: since() };
    let mrelease: MreleaseResult = "skipped";
    if ((opts.mrelease ?? true) && signal === "SIGKILL") {
      try {
        mrelease = await processMrelease(pidfd);
      } catch (err) {
        if (!(err instanceof OomkitError)) throw err;
        mrelease = err.code === "E_UNSUPPORTED" ? "unsupported" : { failed: err };
      }
      timings.mreleaseMs = since();
    }
    const result: KillTaskResult = { kind: "killed", pid, mrelease, timings };
    if (opts.waitMs && opts.waitMs > 0) {
      const waited = await waitPidfdReadable(pidfd, opts.waitMs, opts.poller ? { poller: opts.poller } : {});
      result.exited = waited === "exited";
      if (result.exited) timings.exitMs = since();
    }
    return result;
  } finally {
    closePidfd(pidfd);
  }
}

// ---------------------------------------------------------------------------------------------
// Cgroup actions (the caller passes the cgroup's folder)

/** Writes a control file; returns the errno code when it is one of `expected`, throws otherwise. */
function writeControl(cgroupDir: string, file: string, value: string, what: string, expected: readonly string[] = []): string | undefined {
  try {
    writeFileSync(`${cgroupDir}/${file}`, value);
    return undefined;
  } catch (err) {
    const code = errnoCode(err);
    if (code !== undefined && expected.includes(code)) return code;
    if (code === "ENOENT" && !existsDir(cgroupDir)) {
      throw new OomkitError("E_VANISHED", `${what}: cgroup ${cgroupDir} is gone`, { cause: err });
    }
    if (code === "ENOENT") throw new OomkitError("E_UNSUPPORTED", `${what}: this kernel has no ${file}`, { cause: err });
    if (code === "EACCES" || code === "EPERM") {
      throw new OomkitError("E_PERMISSION", `${what}: writing ${cgroupDir}/${file} is not permitted; run oomkit as root`, { cause: err });
    }
    throw new OomkitError("E_SYSCALL", `${what}: writing ${JSON.stringify(value)} to ${cgroupDir}/${file} failed (${code ?? err})`, { cause: err });
  }
}

function existsDir(dir: string): boolean {
  try {
    readFileSync(`${dir}/${CgroupFile.procs}`);
    return true;
  } catch {
    return false;
  }
}

/** SIGKILLs every task in the cgroup and its descendants at once (`cgroup.kill`, Linux 5.14). */
export function killCgroup(cgroupDir: string): void {
  writeControl(cgroupDir, CgroupFile.kill, "1", "killing the cgroup");
}

export type ReclaimOutcome = { kind: "reclaimed"; bytes: number } | { kind: "short"; bytes: number };

/**
 * Asks the kernel to reclaim `bytes` from the cgroup (`memory.reclaim`, Linux 5.19). The kernel
 * answers EAGAIN when it reclaimed less than asked: that is a `short` outcome, not an error.
 */
export function reclaim(cgroupDir: string, bytes: number, opts: { swappiness?: number } = {}): ReclaimOutcome {
  const value = opts.swappiness === undefined ? String(bytes) : `${bytes} swappiness=${opts.swappiness}`;
  const short = writeControl(cgroupDir, CgroupFile.memoryReclaim, value, "reclaiming memory", ["EAGAIN"]);
  return { kind: short ? "short" : "reclaimed", bytes };
}

/** Freezes every task in the cgroup (`cgroup.freeze`, Linux 5.2); `cgroup.events` shows `frozen 1` when done. */
export function freeze(cgroupDir: string): void {
  writeControl(cgroupDir, CgroupFile.freeze, "1", "freezing the cgroup");
}

export function thaw(cgroupDir: string): void {
  writeControl(cgroupDir, CgroupFile.freeze, "0", "thawing the cgroup");
}

// ---------------------------------------------------------------------------------------------
// Threads

/**
 * Loads libc and starts the poll and call threads now rather than on the first kill (starting
 * a worker costs a few ms natively and 0.5–0.6 s under TCG, and allocates: not something to do
 * in the middle of an OOM). Idempotent.
 */
export async function prepareKillPath(): Promise<void> {
  killCalls();
  await startOsThreads();
}
