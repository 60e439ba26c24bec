/**
 * The kill path: pidfd kills with `process_mrelease`, whole-cgroup kills, reclaim and freezing.
 * This is the only module that sends signals or writes `cgroup.kill`, `memory.reclaim` and
 * `cgroup.freeze`; the engine decides, this module acts. Cgroup operations take the cgroup's
 * folder from the caller (the Host knows where the hierarchy is mounted).
 *
 * Nothing here blocks the event loop: waiting on a pidfd goes through an FdPoller (one thread
 * polls every fd oomkit waits on), and `process_mrelease`, which can take ~130 ms on a 2 GB
 * victim, runs on a second thread of the same kind. koffi's `.async` is not used: it runs on
 * libuv's 4-thread pool, which Node's file I/O shares, and it loses errno.
 *
 * Races with the kernel are normal: a victim that is gone before the signal is a `vanished`
 * outcome, not an error; `ESRCH` from `process_mrelease` means the victim already finished
 * exiting and counts as success.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { constants as osConstants } from "node:os";
import { createRequire } from "node:module";
import { MessageChannel, Worker, type MessagePort } from "node:worker_threads";
import { OomkitError, errnoCode } from "../errors.js";
import { libc } from "./libc.js";
import { parseProcStat } from "./parse/proc.js";
import { CgroupFile, procPid } from "./paths.js";

/** A pidfd: an fd that names one process for its whole life (no pid reuse race). */
export type Pidfd = number & { readonly __brand: "Pidfd" };

// poll(2) event bits.
export const POLLIN = 0x001;
export const POLLPRI = 0x002;
export const POLLERR = 0x008;
export const POLLHUP = 0x010;
export const POLLNVAL = 0x020;

const O_CLOEXEC = 0o2000000;
const EFD_CLOEXEC = O_CLOEXEC;
const EFD_NONBLOCK = 0o4000;

// ---------------------------------------------------------------------------------------------
// libc calls this module needs beyond ./libc.ts

interface KillCalls {
  pidfdSendSignal(pidfd: number, sig: number, info: null, flags: number): number;
  eventfd(initval: number, flags: number): number;
  write(fd: number, buf: Buffer, n: number): number;
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
  calls = {
    pidfdSendSignal: send,
    eventfd: lib.func("int eventfd(unsigned int initval, int flags)") as KillCalls["eventfd"],
    write: lib.func("long write(int fd, const void *buf, size_t n)") as KillCalls["write"],
  };
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
  const reply = await callThread().request({ op: "mrelease", fd: pidfd });
  if (reply.ret >= 0) return "released";
  const errno = reply.errno ?? 0;
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
// Waiting on fds without blocking the event loop

export type PollResult = { kind: "ready"; revents: number } | { kind: "timeout" };

/**
 * Waits for events on fds. The daemon will share one poller between pidfds, PSI triggers and
 * anything else it waits on; tests may pass their own.
 */
export interface FdPoller {
  /**
   * Resolves with the fd's revents once it reports one of `events` (POLLERR, POLLHUP and
   * POLLNVAL are always reported), or "timeout" after `timeoutMs` (negative: never). An abort
   * resolves "timeout" early. Do not close the fd while a wait on it is pending.
   */
  wait(fd: number, events: number, timeoutMs: number, signal?: AbortSignal): Promise<PollResult>;
}

/**
 * Loads libc and starts the poll and call threads now rather than on the first kill (starting
 * a worker costs a few ms natively and 0.5–0.6 s under TCG, and allocates: not something to do
 * in the middle of an OOM). Idempotent.
 */
export async function prepareKillPath(): Promise<void> {
  killCalls();
  defaultPoller();
  await Promise.all([poller!.thread.request({ op: "ping" }), callThread().request({ op: "ping" })]);
}

let poller: ThreadPoller | undefined;
let caller: OsThread | undefined;

/** The process-wide poller: one thread, one poll(2) over every fd being waited on. */
export function defaultPoller(): FdPoller {
  poller ??= new ThreadPoller(new OsThread("oomkit-poll"));
  return poller;
}

/** The thread that runs blocking calls (process_mrelease), so they never hold up the poller. */
function callThread(): OsThread {
  caller ??= new OsThread("oomkit-calls");
  return caller;
}

class ThreadPoller implements FdPoller {
  constructor(readonly thread: OsThread) {}

  async wait(fd: number, events: number, timeoutMs: number, signal?: AbortSignal): Promise<PollResult> {
    if (signal?.aborted) return { kind: "timeout" };
    const { id, reply } = this.thread.start({ op: "wait", fd, events, timeoutMs });
    const onAbort = () => this.thread.cancel(id, { ret: 0, timeout: true });
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      const r = await reply;
      return r.timeout ? { kind: "timeout" } : { kind: "ready", revents: r.revents ?? 0 };
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }
}

type Request = { op: "wait"; fd: number; events: number; timeoutMs: number } | { op: "mrelease"; fd: number } | { op: "ping" };
interface Reply {
  ret: number;
  errno?: number;
  revents?: number;
  timeout?: boolean;
}

/**
 * A worker thread running THREAD_SOURCE (below): it polls a wake-up
 * eventfd plus every fd waited on, takes requests from a MessagePort when woken, and runs
 * blocking calls itself. The worker is unref'd while idle, so it never keeps the process alive.
 */
class OsThread {
  private worker: Worker | undefined;
  private port: MessagePort | undefined;
  private wakeFd = -1;
  private nextId = 1;
  private readonly pending = new Map<number, (r: Reply) => void>();
  private readonly wakeBuf = Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]);

  constructor(private readonly name: string) {}

  request(req: Request): Promise<Reply> {
    return this.start(req).reply;
  }

  start(req: Request): { id: number; reply: Promise<Reply> } {
    this.ensure();
    const id = this.nextId++;
    const reply = new Promise<Reply>((resolve) => this.pending.set(id, resolve));
    this.port!.postMessage({ ...req, id });
    this.wake();
    this.worker!.ref();
    return { id, reply };
  }

  cancel(id: number, reply: Reply): void {
    if (!this.pending.has(id)) return;
    this.port?.postMessage({ op: "cancel", id });
    this.wake();
    this.settle(id, reply);
  }

  private settle(id: number, reply: Reply): void {
    const resolve = this.pending.get(id);
    if (!resolve) return;
    this.pending.delete(id);
    if (this.pending.size === 0) this.worker?.unref();
    resolve(reply);
  }

  private wake(): void {
    killCalls().write(this.wakeFd, this.wakeBuf, 8);
  }

  private ensure(): void {
    if (this.worker) return;
    const c = killCalls();
    this.wakeFd = c.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (this.wakeFd < 0) throw syscallError("eventfd", libc().errno(), `starting the ${this.name} thread`);
    const { port1, port2 } = new MessageChannel();
    const koffiPath = createRequire(import.meta.url).resolve("koffi");
    const worker = new Worker(THREAD_SOURCE, {
      eval: true,
      name: this.name,
      workerData: { koffi: koffiPath, wakeFd: this.wakeFd, port: port2 },
      transferList: [port2],
    });
    worker.on("message", (m: Reply & { id: number }) => this.settle(m.id, m));
    worker.on("error", (err) => this.fail(err));
    worker.on("exit", (code) => this.fail(new Error(`the ${this.name} thread exited (code ${code})`)));
    worker.unref();
    this.worker = worker;
    this.port = port1;
    // Tell the thread to leave its poll at exit, so the process does not wait for a timeout.
    process.once("exit", () => this.stop());
  }

  private stop(): void {
    if (!this.worker) return;
    this.port?.postMessage({ op: "stop", id: 0 });
    this.wake();
  }

  private fail(err: unknown): void {
    const pending = [...this.pending.keys()];
    this.worker = undefined;
    this.port?.close();
    this.port = undefined;
    if (this.wakeFd >= 0) libc().close(this.wakeFd);
    this.wakeFd = -1;
    const errno = libc().koffi.os.errno.EIO ?? 5;
    for (const id of pending) this.settle(id, { ret: -1, errno, revents: POLLERR });
    if (pending.length > 0) process.emitWarning(`oomkit: ${String(err)}`);
  }
}

/**
 * The thread's loop (CommonJS, run with `eval`). poll(2) takes an array of
 * `struct pollfd { int fd; short events; short revents; }`, 8 bytes each; entry 0 is the
 * wake-up eventfd. The poll timeout is bounded so a terminating worker gets back to JS soon.
 */
const THREAD_SOURCE = `
"use strict";
const { workerData, parentPort, receiveMessageOnPort } = require("node:worker_threads");
const koffi = require(workerData.koffi);
const lib = koffi.load("libc.so.6");
const poll = lib.func("int poll(void *fds, unsigned long nfds, int timeout)");
const read = lib.func("long read(int fd, void *buf, size_t n)");
let mrelease = null;
try { mrelease = lib.func("int process_mrelease(int pidfd, unsigned int flags)"); } catch {}
const { wakeFd, port } = workerData;
const POLLIN = ${POLLIN}, EINTR = 4, ENOSYS = 38, IDLE_MS = 1000;
const waits = new Map();
const scratch = Buffer.alloc(8);
let fds = Buffer.alloc(8 * 64);
for (;;) {
  let stop = false;
  for (let m; (m = receiveMessageOnPort(port)); ) {
    const r = m.message;
    if (r.op === "wait") waits.set(r.id, { fd: r.fd, events: r.events, deadline: r.timeoutMs < 0 ? Infinity : performance.now() + r.timeoutMs });
    else if (r.op === "cancel") waits.delete(r.id);
    else if (r.op === "mrelease") {
      const ret = mrelease ? mrelease(r.fd, 0) : -1;
      parentPort.postMessage({ id: r.id, ret, errno: ret < 0 ? (mrelease ? koffi.errno() : ENOSYS) : 0 });
    } else if (r.op === "ping") parentPort.postMessage({ id: r.id, ret: 0 });
    else if (r.op === "stop") stop = true;
  }
  if (stop) break;
  const now = performance.now();
  let timeout = IDLE_MS;
  for (const [id, w] of waits) {
    if (w.deadline <= now) { waits.delete(id); parentPort.postMessage({ id, ret: 0, timeout: true }); }
    else timeout = Math.min(timeout, w.deadline - now);
  }
  const entries = [...waits];
  if (fds.length < 8 * (entries.length + 1)) fds = Buffer.alloc(16 * (entries.length + 1));
  fds.writeInt32LE(wakeFd, 0); fds.writeInt16LE(POLLIN, 4); fds.writeInt16LE(0, 6);
  entries.forEach(([, w], i) => {
    const o = 8 * (i + 1);
    fds.writeInt32LE(w.fd, o); fds.writeInt16LE(w.events, o + 4); fds.writeInt16LE(0, o + 6);
  });
  const n = poll(fds, entries.length + 1, Math.ceil(timeout));
  if (n < 0) {
    const errno = koffi.errno();
    if (errno === EINTR) continue;
    for (const [id] of entries) parentPort.postMessage({ id, ret: -1, errno, revents: 8 });
    waits.clear();
    continue;
  }
  if (fds.readInt16LE(6) !== 0) read(wakeFd, scratch, 8);
  entries.forEach(([id], i) => {
    const revents = fds.readUInt16LE(8 * (i + 1) + 6);
    if (revents !== 0) { waits.delete(id); parentPort.postMessage({ id, ret: 1, revents }); }
  });
}
`;
