/**
 * The kill path: the kill sequence (pidfd, start-time check, SIGTERM grace, SIGKILL,
 * `process_mrelease`, wait), whole-cgroup kills, reclaim and freezing. This is the only module
 * that sends signals or writes `cgroup.kill`, `memory.reclaim` and `cgroup.freeze`; the engine
 * decides, this module acts. Cgroup operations write through the Host and take the cgroup's
 * folder from the caller (who knows where the hierarchy is mounted).
 *
 * Nothing here blocks the event loop: waiting on a pidfd goes through an FdPoller, and
 * `process_mrelease` runs on one of libuv's pool threads (both in ./poller.ts).
 *
 * Races with the kernel are normal: a victim that is gone before the signal is a `vanished`
 * outcome, not an error; `ESRCH` from `process_mrelease` means the victim already finished
 * exiting and counts as success.
 */
import { constants as osConstants } from "node:os";
import { OomkitError, errnoCode, isVanished } from "../errors.js";
import type { Host } from "./host.js";
import type { MreleaseReport, TaskKillOptions, TaskKillOutcome, TaskTarget } from "./kill-port.js";
import { libc } from "./libc.js";
import { parseProcStat } from "./parse/proc.js";
import { CgroupFile, PidFile, procPid } from "./paths.js";
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
// The kill sequence

export interface KillSequenceOptions extends TaskKillOptions {
  readonly poller?: FdPoller;
}

/**
 * Kills one task: pidfd_open → start-time check → SIGTERM and its grace (when graceMs > 0) →
 * SIGKILL (and the process group, when asked and the victim leads it) → process_mrelease → wait
 * for the pidfd to turn readable. The one sequence: the daemon's backend runs it and the kernel
 * suite tests it. `host` reads /proc/<pid>/stat for the start-time check; it must be this
 * machine's view (capabilities.liveProcesses), since pidfd_open names this machine's pids.
 */
export async function killTask(host: Host, target: Pick<TaskTarget, "pid" | "startTimeTicks">, opts: KillSequenceOptions): Promise<TaskKillOutcome> {
  assertLiveProcesses(host, target.pid);
  const t0 = performance.now();
  const poller = opts.poller ?? defaultPoller();
  let pidfd: Pidfd;
  try {
    pidfd = pidfdOpen(target.pid);
  } catch (err) {
    if (err instanceof OomkitError && err.code === "E_VANISHED") return { kind: "vanished" };
    throw err;
  }
  try {
    // Opened first, then checked: if the pid still has the start time the snapshot saw, the
    // pidfd names that process (a newer one would have started after the open).
    let stat;
    try {
      stat = parseProcStat(host.readFile(procPid(target.pid, PidFile.stat)));
    } catch (err) {
      if (isVanished(err)) return { kind: "vanished" };
      throw err;
    }
    if (stat.startTimeTicks !== target.startTimeTicks) return { kind: "pid-reused" };
    let escalated = false;
    if (opts.graceMs > 0) {
      if (!sendIfAlive(pidfd, "SIGTERM")) return { kind: "vanished" };
      if ((await waitPidfdReadable(pidfd, opts.graceMs, { poller })) === "exited") {
        return { kind: "exited", signalMs: 0, exitMs: performance.now() - t0, escalated: false, mrelease: "skipped" };
      }
      escalated = true;
    }
    if (!sendIfAlive(pidfd, "SIGKILL")) return { kind: "vanished" };
    const signalMs = performance.now() - t0;
    let mrelease: MreleaseReport;
    try {
      mrelease = await processMrelease(pidfd);
    } catch (err) {
      mrelease = err instanceof OomkitError && err.code === "E_UNSUPPORTED" ? "unsupported" : `failed: ${(err as Error).message}`;
    }
    if ((await waitPidfdReadable(pidfd, opts.waitMs, { poller })) === "exited") {
      return { kind: "exited", signalMs, exitMs: performance.now() - t0, escalated, mrelease };
    }
    return { kind: "still-exiting", signalMs, escalated, mrelease };
  } finally {
    closePidfd(pidfd);
  }
}

/** Throws unless the Host's pids are this machine's: a fixture's pid 42 is not our pid 42. */
export function assertLiveProcesses(host: Host, pid: number): void {
  if (!host.capabilities.liveProcesses) {
    throw new OomkitError("E_INTERNAL", `refusing to kill pid ${pid} of ${host.description}: its pids are not this machine's processes`);
  }
}

/** Sends a signal through a pidfd; false when the process is already gone. */
export function sendIfAlive(pidfd: Pidfd, sig: NodeJS.Signals): boolean {
  try {
    pidfdSendSignal(pidfd, sig);
    return true;
  } catch (err) {
    if (err instanceof OomkitError && err.code === "E_VANISHED") return false;
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Cgroup actions, written through the Host (the caller passes the cgroup's folder)

/** The errno behind a Host error (its cause), or of a plain fs error. */
function errnoOf(err: unknown): string | undefined {
  return err instanceof OomkitError ? errnoCode(err.cause) : errnoCode(err);
}

/** Maps a failed control-file write: returns the errno when it is one of `expected`, throws otherwise. */
function controlError(host: Host, err: unknown, cgroupDir: string, file: string, value: string, what: string, expected: readonly string[]): string {
  const code = errnoOf(err);
  if (code !== undefined && expected.includes(code)) return code;
  if (isVanished(err) && !host.exists(cgroupDir)) {
    throw new OomkitError("E_VANISHED", `${what}: cgroup ${cgroupDir} is gone`, { cause: err });
  }
  if (isVanished(err)) throw new OomkitError("E_UNSUPPORTED", `${what}: this kernel has no ${file}`, { cause: err });
  if (code === "EACCES" || code === "EPERM" || (err instanceof OomkitError && err.code === "E_PERMISSION")) {
    throw new OomkitError("E_PERMISSION", `${what}: writing ${cgroupDir}/${file} is not permitted; run oomkit as root`, { cause: err });
  }
  throw new OomkitError("E_SYSCALL", `${what}: writing ${JSON.stringify(value)} to ${cgroupDir}/${file} failed (${code ?? String(err)})`, { cause: err });
}

function writeControl(host: Host, cgroupDir: string, file: string, value: string, what: string, expected: readonly string[] = []): string | undefined {
  try {
    host.writeFile(`${cgroupDir}/${file}`, value);
    return undefined;
  } catch (err) {
    return controlError(host, err, cgroupDir, file, value, what, expected);
  }
}

/** SIGKILLs every task in the cgroup and its descendants at once (`cgroup.kill`, Linux 5.14). */
export function killCgroup(host: Host, cgroupDir: string): void {
  writeControl(host, cgroupDir, CgroupFile.kill, "1", "killing the cgroup");
}

export type ReclaimOutcome = { kind: "reclaimed"; bytes: number } | { kind: "short"; bytes: number };

/**
 * Asks the kernel to reclaim `bytes` from the cgroup (`memory.reclaim`, Linux 5.19). The writing
 * thread does the reclaim before the write returns, so the write goes through the Host's
 * writeFileAsync, off the event loop. The kernel answers EAGAIN when it reclaimed less than
 * asked: that is a `short` outcome, not an error.
 */
export async function reclaim(host: Host, cgroupDir: string, bytes: number, opts: { swappiness?: number } = {}): Promise<ReclaimOutcome> {
  const value = opts.swappiness === undefined ? String(bytes) : `${bytes} swappiness=${opts.swappiness}`;
  let short: string | undefined;
  try {
    await host.writeFileAsync(`${cgroupDir}/${CgroupFile.memoryReclaim}`, value);
  } catch (err) {
    short = controlError(host, err, cgroupDir, CgroupFile.memoryReclaim, value, "reclaiming memory", ["EAGAIN"]);
  }
  return { kind: short ? "short" : "reclaimed", bytes };
}

/** Freezes every task in the cgroup (`cgroup.freeze`, Linux 5.2); `cgroup.events` shows `frozen 1` when done. */
export function freeze(host: Host, cgroupDir: string): void {
  writeControl(host, cgroupDir, CgroupFile.freeze, "1", "freezing the cgroup");
}

export function thaw(host: Host, cgroupDir: string): void {
  writeControl(host, cgroupDir, CgroupFile.freeze, "0", "thawing the cgroup");
}

// ---------------------------------------------------------------------------------------------
// Threads

/**
 * Loads libc's calls and readies the poller now rather than on the first kill (loading koffi and
 * declaring its functions costs tens of ms natively, more under TCG, and allocates: not something
 * to do in the middle of an OOM). Idempotent.
 */
export async function prepareKillPath(): Promise<void> {
  killCalls();
  await startOsThreads();
}
