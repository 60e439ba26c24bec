/**
 * A Host that counts the time spent reading the machine. The snapshot reads through one, so the
 * engine can tell a policy's own work from the reading its questions cause (a policy's deadline
 * is for the former).
 */
import { type Clock, type DirEntry, type FileStat, type Host, workClockOf } from "../os/host.js";
import { HostDecorator } from "../os/host-decorator.js";

export class MeteredHost extends HostDecorator {
  /** Milliseconds spent in reads so far, on the Host's work clock. */
  ioMs = 0;
  /** What the reads are timed by (the Host's work clock: virtual in a simulation). */
  readonly work: Clock;

  constructor(inner: Host) {
    super(inner);
    this.work = workClockOf(inner);
  }

  /**
   * When the read in progress began. A deadline's watchdog ends a stuck read without running its
   * `finally`, so this is still set after it: how a timeout tells slow reading from a busy loop.
   */
  #readingSinceMs: number | undefined;

  #timed<T>(fn: () => T): T {
    const t0 = this.work.monotonicMs();
    this.#readingSinceMs = t0;
    try {
      return fn();
    } finally {
      this.#readingSinceMs = undefined;
      this.ioMs += this.work.monotonicMs() - t0;
    }
  }

  /** How long a read cut off by a watchdog had run (0 when none was), counted in ioMs from now on. */
  takeCutOffReadMs(): number {
    if (this.#readingSinceMs === undefined) return 0;
    const ms = this.work.monotonicMs() - this.#readingSinceMs;
    this.#readingSinceMs = undefined;
    this.ioMs += ms;
    return ms;
  }

  override readFile(p: string): string {
    return this.#timed(() => super.readFile(p));
  }
  override readDir(p: string): DirEntry[] {
    return this.#timed(() => super.readDir(p));
  }
  override exists(p: string): boolean {
    return this.#timed(() => super.exists(p));
  }
  override stat(p: string): FileStat {
    return this.#timed(() => super.stat(p));
  }
  override readXattrs(p: string): ReadonlyMap<string, string> {
    return this.#timed(() => super.readXattrs(p));
  }
  override readLink(p: string): string {
    return this.#timed(() => super.readLink(p));
  }
}
