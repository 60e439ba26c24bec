/**
 * Waiting on fds without blocking the event loop, and running blocking calls off it, with no
 * thread of oomkit's own: one poll(2) over every fd oomkit waits on (pidfds, PSI triggers) runs
 * as a koffi `.async` call on one of libuv's pool threads, and `process_mrelease` (~130 ms on a
 * 2 GB victim) likewise on another. The poll includes a wake-up eventfd, so a new wait (or an
 * abort, or the process's exit) reaches it at once: the poll returns and is re-armed.
 *
 * Why not Workers (what this module ran before): each Worker is a V8 isolate of its own, about
 * 8–9 MiB of anonymous memory idle (BENCHMARKS.md, "Footprint"), taken from the workload oomkit
 * protects. What the pool costs instead: the poll holds one of libuv's pool threads whenever
 * anything is waited on (the daemon always waits on its PSI triggers), so file I/O through the
 * pool has one thread fewer (deploy/ raises UV_THREADPOOL_SIZE to 5; oomkit's own file reads are
 * synchronous); and `.async` loses errno, so a failed `process_mrelease` is read from its pidfd
 * instead (see mreleaseOffThread).
 */
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
const ENOSYS = 38;
/** The longest one poll sleeps: a bound, so a missed wake-up (or a deadline) costs at most this. */
const IDLE_MS = 1000;
/** struct pollfd { int fd; short events; short revents; }: 8 bytes. */
const POLLFD_BYTES = 8;

type AsyncFn = ((...args: unknown[]) => number) & { async(...args: unknown[]): void };

/** The libc calls this module makes, loaded once. */
interface PollCalls {
  eventfd(initval: number, flags: number): number;
  write(fd: number, buf: Buffer, n: number): number;
  read(fd: number, buf: Buffer, n: number): number;
  poll: AsyncFn;
  /** Undefined when libc lacks the wrapper (glibc before 2.36 or so): ENOSYS. */
  mrelease: AsyncFn | undefined;
}

let calls: PollCalls | undefined;

function pollCalls(): PollCalls {
  if (calls) return calls;
  const lib = libc().koffi.load("libc.so.6") as unknown as { func(sig: string): AsyncFn };
  let mrelease: AsyncFn | undefined;
  try {
    mrelease = lib.func("int process_mrelease(int pidfd, unsigned int flags)");
  } catch {
    mrelease = undefined;
  }
  calls = {
    eventfd: lib.func("int eventfd(unsigned int initval, int flags)"),
    write: lib.func("long write(int fd, const void *buf, size_t n)"),
    read: lib.func("long read(int fd, void *buf, size_t n)"),
    poll: lib.func("int poll(void *fds, unsigned long nfds, int timeout)"),
    mrelease,
  };
  return calls;
}

export type PollResult = { kind: "ready"; revents: number } | { kind: "timeout" };

/**
 * Waits for events on fds. The daemon shares one poller between pidfds, PSI triggers and
 * anything else it waits on; tests may pass their own.
 */
export interface FdPoller {
  /**
   * Resolves with the fd's revents once it reports one of `events` (POLLERR, POLLHUP and
   * POLLNVAL are always reported), or "timeout" after `timeoutMs` (negative: never). An abort
   * resolves "timeout" early. Do not close the fd while a wait on it is pending.
   */
  wait(fd: number, events: number, timeoutMs: number, signal?: AbortSignal): Promise<PollResult>;
  /**
   * True when a waited-on fd is ready but its wait has not been settled yet: the event loop is
   * busy, and the event waits for it. Cheap enough to ask between two reads of a decision.
   */
  pending?(): boolean;
}

let poller: PoolPoller | undefined;

/** The process-wide poller: one poll(2) at a time over every fd being waited on. */
export function defaultPoller(): FdPoller {
  poller ??= new PoolPoller();
  return poller;
}

interface Wait {
  readonly fd: number;
  readonly events: number;
  readonly deadline: number;
  readonly settle: (r: PollResult) => void;
}

/**
 * One poll(2) in flight at most, over the wake-up eventfd and every pending wait. While nothing
 * is waited on, nothing is in flight, so the poller never keeps the process alive by itself.
 */
class PoolPoller implements FdPoller {
  private readonly waits = new Map<number, Wait>();
  private nextId = 1;
  private wakeFd = -1;
  private inFlight = false;
  /** How many waits the poll in flight covers (entries 1..armed of `fds`; entry 0 is the wake-up fd). */
  private armed = 0;
  private fds = Buffer.alloc(POLLFD_BYTES * 16);
  private readonly scratch = Buffer.alloc(8);
  private readonly one = Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]);

  /** Creates the eventfd (once); a poller without one cannot be woken. */
  ready(): void {
    if (this.wakeFd >= 0) return;
    const fd = pollCalls().eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0) throw eventfdError(libc().errno());
    this.wakeFd = fd;
    // Let an in-flight poll return at exit, so libuv's pool is not left waiting on it.
    process.once("exit", () => this.wake());
  }

  wait(fd: number, events: number, timeoutMs: number, signal?: AbortSignal): Promise<PollResult> {
    if (signal?.aborted) return Promise.resolve({ kind: "timeout" });
    this.ready();
    const id = this.nextId++;
    return new Promise<PollResult>((resolve) => {
      const onAbort = () => this.finish(id, { kind: "timeout" });
      signal?.addEventListener("abort", onAbort, { once: true });
      const settle = (r: PollResult) => {
        signal?.removeEventListener("abort", onAbort);
        resolve(r);
      };
      this.waits.set(id, { fd, events, deadline: timeoutMs < 0 ? Infinity : performance.now() + timeoutMs, settle });
      if (this.inFlight) this.wake();
      else this.arm();
    });
  }

  /**
   * koffi hands poll(2) the buffer's own memory, so the kernel's revents are visible here as soon
   * as the poll returns on its pool thread, while the main thread is still busy and before the
   * completion runs. The wake-up fd is left out: only this thread writes to it.
   */
  pending(): boolean {
    if (!this.inFlight) return false;
    for (let i = 1; i <= this.armed; i++) if (this.fds.readUInt16LE(POLLFD_BYTES * i + 6) !== 0) return true;
    return false;
  }

  private finish(id: number, r: PollResult): void {
    const w = this.waits.get(id);
    if (!w) return;
    this.waits.delete(id);
    w.settle(r);
    if (this.inFlight) this.wake();
  }

  private wake(): void {
    if (this.wakeFd >= 0) pollCalls().write(this.wakeFd, this.one, 8);
  }

  /** Starts one poll over the wake-up fd and the waits, unless nothing is waited on. */
  private arm(failures = 0): void {
    const now = performance.now();
    let timeout = IDLE_MS;
    for (const [id, w] of this.waits) {
      if (w.deadline <= now) this.finish(id, { kind: "timeout" });
      else timeout = Math.min(timeout, w.deadline - now);
    }
    if (this.waits.size === 0) return;
    const entries = [...this.waits];
    if (this.fds.length < POLLFD_BYTES * (entries.length + 1)) this.fds = Buffer.alloc(POLLFD_BYTES * 2 * (entries.length + 1));
    const fds = this.fds;
    const put = (i: number, fd: number, events: number) => {
      fds.writeInt32LE(fd, POLLFD_BYTES * i);
      fds.writeInt16LE(events, POLLFD_BYTES * i + 4);
      fds.writeInt16LE(0, POLLFD_BYTES * i + 6);
    };
    put(0, this.wakeFd, POLLIN);
    entries.forEach(([, w], i) => put(i + 1, w.fd, w.events));
    this.inFlight = true;
    this.armed = entries.length;
    pollCalls().poll.async(fds, entries.length + 1, Math.ceil(timeout), (err: unknown, n: number) => {
      this.inFlight = false;
      this.done(entries, err ? -1 : n, failures);
    });
  }

  private done(entries: readonly (readonly [number, Wait])[], n: number, failures: number): void {
    if (n < 0) {
      // errno stayed on the pool thread. EINTR passes; anything twice running (ENOMEM, EINVAL
      // for more fds than RLIMIT_NOFILE) fails the waits rather than spinning.
      if (failures >= 1) for (const [id] of entries) this.finish(id, { kind: "ready", revents: POLLERR });
      this.arm(failures + 1);
      return;
    }
    if (this.fds.readInt16LE(6) !== 0) pollCalls().read(this.wakeFd, this.scratch, 8);
    entries.forEach(([id], i) => {
      const revents = this.fds.readUInt16LE(POLLFD_BYTES * (i + 1) + 6);
      if (revents !== 0) this.finish(id, { kind: "ready", revents });
    });
    this.arm();
  }
}

/**
 * Runs `process_mrelease(pidfd, 0)` on a pool thread. Returns what the call returned and an
 * errno (ENOSYS when libc lacks the wrapper); interpreting them is the caller's business.
 * `.async` loses the pool thread's errno, so a failed call is made once more on this thread,
 * where errno survives. Reading the failure from the pidfd instead (readable: ESRCH, else
 * EINVAL) was wrong: a victim that had just finished exiting gave ESRCH while its pidfd was
 * not yet readable (measured here and on 6.1 in the VM), and was reported as "not exiting".
 * The second call costs nothing when the first failed for good (ESRCH, EINVAL); when the
 * first raced the victim's exit, the second either releases what is left or says it is gone.
 */
export async function mreleaseOffThread(pidfd: number): Promise<{ ret: number; errno: number }> {
  const fn = pollCalls().mrelease;
  if (!fn) return { ret: -1, errno: ENOSYS };
  const ret = await new Promise<number>((resolve) => fn.async(pidfd, 0, (err: unknown, r: number) => resolve(err ? -1 : r)));
  if (ret >= 0) return { ret, errno: 0 };
  const again = libc().process_mrelease(pidfd, 0);
  return again >= 0 ? { ret: again, errno: 0 } : { ret: again, errno: libc().errno() };
}

/**
 * Loads libc's calls and creates the poller's eventfd now, and runs one call on the pool, so the
 * first wait in an OOM starts nothing (loading koffi costs tens of ms natively, more under TCG).
 * Idempotent. (The name is from when it started two Worker threads.)
 */
export async function startOsThreads(): Promise<void> {
  pollCalls();
  (defaultPoller() as PoolPoller).ready();
  const fds = Buffer.alloc(POLLFD_BYTES);
  fds.writeInt32LE(-1, 0);
  await new Promise<void>((resolve) => pollCalls().poll.async(fds, 1, 0, () => resolve()));
}

/** The error for a failed eventfd(2) (EMFILE, ENFILE, ENOMEM): the poller cannot be woken without one. */
function eventfdError(errno: number): OomkitError {
  const name = libc().errnoName(errno);
  const cause = Object.assign(new Error(`eventfd: ${name}`), { code: name, errno });
  return new OomkitError("E_SYSCALL", `starting the poller: eventfd failed with ${name}`, { cause });
}
