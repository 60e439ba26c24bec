/**
 * The thin reader of /dev/kmsg (parsing is src/os/parse/kmsg.ts). It opens the device
 * non-blocking and reads every record until EAGAIN, then again every `intervalMs`: a read
 * never parks a thread, and the daemon's counters (memory.events, /proc/vmstat) catch a kill
 * between two polls anyway. The reads are synchronous: on a non-blocking descriptor one returns
 * at once (a record, or EAGAIN), so sending it through libuv's thread pool (fs/promises) bought
 * nothing but its cost — a queued job, a promise and an error object four times a second, about a
 * tenth of the idle daemon's CPU (node --cpu-prof) — and a wait behind the pool's other jobs,
 * one of whose threads the kill path's poll(2) holds (src/os/poller.ts).
 *
 * /dev/kmsg replays its whole ring buffer on open (the "backlog", up to the first EAGAIN), and a
 * read returns EPIPE when records were overwritten before they were read (the position then
 * moves to the oldest one left): both are reported to the caller, which deduplicates by
 * sequence number. A regular file works too (tests, recorded logs): its end counts as EAGAIN.
 */
import * as fs from "node:fs";
import { errnoCode } from "../errors.js";
import { type Logger, silentLogger } from "../log.js";

/** The kernel log device. (Machine path: kept here, the one module that opens it.) */
export const DEV_KMSG = "/dev/kmsg";
/** A quarter second: well inside the counters' grace period, and idle otherwise. */
export const DEFAULT_KMSG_INTERVAL_MS = 250;
/** A record is at most LOG_LINE_MAX (1024) bytes plus its dictionary; 16 KiB holds any. */
const READ_BYTES = 16 * 1024;
/** While catching up (the backlog, a burst), the event loop turns after this many records. */
const RECORDS_PER_TURN = 64;

export interface KmsgReaderOptions {
  readonly path?: string;
  readonly intervalMs?: number;
  /** One or more whole records (one per read on the device). */
  readonly onRecord: (text: string) => void;
  /** Called once when the file is open, before the backlog is read. */
  readonly onBacklogStart?: () => void;
  /** Called once, at the first EAGAIN (or end of a regular file). */
  readonly onCaughtUp?: () => void;
  /** Called on each EPIPE: records were lost to the ring buffer wrapping. */
  readonly onOverrun?: () => void;
  readonly logger?: Logger;
}

export interface KmsgReaderStats {
  readonly reads: number;
  readonly overruns: number;
  readonly errors: number;
}

export class KmsgReader {
  readonly path: string;
  readonly #o: KmsgReaderOptions;
  readonly #log: Logger;
  #fd: number | undefined;
  #loop: Promise<void> | undefined;
  #stopping = false;
  #timer: NodeJS.Timeout | undefined;
  #wake: (() => void) | undefined;
  #caughtUp = false;
  #carry = "";
  #stats = { reads: 0, overruns: 0, errors: 0 };

  constructor(options: KmsgReaderOptions) {
    this.#o = options;
    this.path = options.path ?? DEV_KMSG;
    this.#log = options.logger ?? silentLogger;
  }

  get stats(): KmsgReaderStats {
    return { ...this.#stats };
  }

  get caughtUp(): boolean {
    return this.#caughtUp;
  }

  /** Opens the log and starts reading. False (said once) when it cannot be opened. */
  async start(): Promise<boolean> {
    if (this.#loop) return true;
    try {
      this.#fd = fs.openSync(this.path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    } catch (err) {
      this.#log.warn(`cannot read the kernel log ${this.path} (${errnoCode(err) ?? String(err)}): kernel OOM kills are seen by counters only`);
      return false;
    }
    this.#stopping = false;
    this.#o.onBacklogStart?.();
    this.#loop = this.#run();
    return true;
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#timer);
    this.#wake?.();
    await this.#loop;
    this.#loop = undefined;
    if (this.#fd !== undefined) {
      try {
        fs.closeSync(this.#fd);
      } catch {
        /* closing a log we only read: nothing to lose */
      }
    }
    this.#fd = undefined;
  }

  async #run(): Promise<void> {
    const buf = Buffer.alloc(READ_BYTES);
    let failing: string | undefined;
    let burst = 0;
    while (!this.#stopping) {
      let idle = false;
      try {
        const bytesRead = fs.readSync(this.#fd as number, buf, 0, buf.length, null);
        if (bytesRead === 0) idle = true;
        else {
          this.#stats.reads += 1;
          this.#deliver(buf.toString("utf8", 0, bytesRead));
        }
        failing = undefined;
      } catch (err) {
        const code = errnoCode(err);
        if (code === "EAGAIN" || code === "EWOULDBLOCK") idle = true;
        else if (code === "EPIPE") {
          this.#stats.overruns += 1;
          this.#o.onOverrun?.();
        } else {
          this.#stats.errors += 1;
          if (failing !== code) this.#log.warn(`reading the kernel log ${this.path}: ${code ?? String(err)}; retrying`);
          failing = code;
          idle = true;
        }
      }
      if (!idle && ++burst >= RECORDS_PER_TURN) {
        burst = 0;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      if (idle) {
        burst = 0;
        if (!this.#caughtUp) {
          this.#caughtUp = true;
          this.#o.onCaughtUp?.();
        }
        await this.#sleep();
      }
    }
  }

  /** Hands over whole lines only: a regular file may end a read inside a record. */
  #deliver(text: string): void {
    const all = this.#carry + text;
    const end = all.lastIndexOf("\n");
    if (end < 0) {
      this.#carry = all.length > READ_BYTES * 4 ? "" : all;
      return;
    }
    this.#carry = all.slice(end + 1);
    try {
      this.#o.onRecord(all.slice(0, end + 1));
    } catch (err) {
      this.#log.error(`kernel log record handler threw: ${String(err)}`);
    }
  }

  #sleep(): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = resolve;
      this.#timer = setTimeout(resolve, this.#o.intervalMs ?? DEFAULT_KMSG_INTERVAL_MS);
    });
  }
}
