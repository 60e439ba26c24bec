/**
 * Waiting on fds without blocking the event loop, and running blocking calls off it. One OS
 * thread ("oomkit-poll") runs one poll(2) over every fd oomkit waits on (pidfds, PSI triggers);
 * a second ("oomkit-calls") runs calls that may block for a while (`process_mrelease`, ~130 ms
 * on a 2 GB victim) so they never hold up the poller. Each thread sleeps in poll(2) on a wake-up
 * eventfd as well, so a new request reaches it at once.
 *
 * koffi's `.async` is not used: it runs on libuv's 4-thread pool, which Node's file I/O shares
 * (one blocking poll per fd soon starves everything), and it loses errno.
 */
import { createRequire } from "node:module";
import { MessageChannel, Worker, type MessagePort } from "node:worker_threads";
import { OomkitError } from "../errors.js";
import { libc } from "./libc.js";

// poll(2) event bits.
export const POLLIN = 0x001;
export const POLLPRI = 0x002;
export const POLLERR = 0x008;
export const POLLHUP = 0x010;
export const POLLNVAL = 0x020;

const O_CLOEXEC = 0o2000000;
const EFD_CLOEXEC = O_CLOEXEC;
const EFD_NONBLOCK = 0o4000;

/** libc calls the main thread needs to run the threads: the wake-up eventfd. */
interface ThreadCalls {
  eventfd(initval: number, flags: number): number;
  write(fd: number, buf: Buffer, n: number): number;
}

let calls: ThreadCalls | undefined;

function threadCalls(): ThreadCalls {
  if (calls) return calls;
  const lib = libc().koffi.load("libc.so.6");
  calls = {
    eventfd: lib.func("int eventfd(unsigned int initval, int flags)") as ThreadCalls["eventfd"],
    write: lib.func("long write(int fd, const void *buf, size_t n)") as ThreadCalls["write"],
  };
  return calls;
}

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

/**
 * Runs `process_mrelease(pidfd, 0)` on the call thread. Returns what the call returned and its
 * errno (ENOSYS when libc lacks the wrapper); interpreting them is the caller's business.
 */
export async function mreleaseOffThread(pidfd: number): Promise<{ ret: number; errno: number }> {
  const reply = await callThread().request({ op: "mrelease", fd: pidfd });
  return { ret: reply.ret, errno: reply.errno ?? 0 };
}

/**
 * Starts both threads now and waits until each answers (starting a worker costs a few ms
 * natively and 0.5–0.6 s under TCG, and allocates). Idempotent.
 */
export async function startOsThreads(): Promise<void> {
  threadCalls();
  defaultPoller();
  await Promise.all([poller!.thread.request({ op: "ping" }), callThread().request({ op: "ping" })]);
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
    threadCalls().write(this.wakeFd, this.wakeBuf, 8);
  }

  private ensure(): void {
    if (this.worker) return;
    this.wakeFd = threadCalls().eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (this.wakeFd < 0) throw eventfdError(libc().errno(), this.name);
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

/** The error for a failed eventfd(2) (EMFILE, ENFILE, ENOMEM): a thread cannot start without one. */
function eventfdError(errno: number, thread: string): OomkitError {
  const name = libc().errnoName(errno);
  const cause = Object.assign(new Error(`eventfd: ${name}`), { code: name, errno });
  return new OomkitError("E_SYSCALL", `starting the ${thread} thread: eventfd failed with ${name}`, { cause });
}
