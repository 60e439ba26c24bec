/**
 * The durable event log: one JSON episode record per line, appended and fsynced after the
 * episode's actions were issued, rotated by size (`oomkit.jsonl`, `oomkit.jsonl.1`, … oldest
 * last). docs/events.md is the reader's guide.
 *
 * Contract:
 * - `append` never waits for the disk: it serialises the record, queues it and returns. A
 *   writer drains the queue in order, in batches: write, then fdatasync, then rotate if due.
 * - A record is durable once `flush()` has resolved after its `append` (or the writer got to it):
 *   a crash after that loses nothing; a crash during a write leaves at most one torn last line,
 *   which `readEventLog` skips and counts.
 * - A full disk (ENOSPC), any write error, or a disk so slow that the queue fills drops records
 *   rather than delaying anyone: each drop is counted, and the first of a run is said once
 *   through the logger (and the recovery after it).
 */
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { EPISODE_SCHEMA, type EpisodeRecord } from "../engine/episode.js";
import { OomkitError, errnoCode } from "../errors.js";
import { type Logger, silentLogger } from "../log.js";
import { checkEpisodeRecord } from "./episode-schema.js";

/** Where the daemon keeps the log unless configured otherwise. */
export const DEFAULT_EVENT_LOG = "/var/log/oomkit/oomkit.jsonl";
/** 10 MiB per file and 5 old files: months of episodes on a busy host, bounded on any disk. */
export const DEFAULT_MAX_BYTES = 10 * 1024 * 1024;
export const DEFAULT_KEEP = 5;
/** Records waiting for the disk before new ones are dropped: an OOM storm, not a backlog. */
export const DEFAULT_MAX_QUEUE = 1024;

export interface EventLogOptions {
  /** Rotate when the current file would grow past this. */
  readonly maxBytes?: number;
  /** Rotated files kept (`.1` … `.keep`); 0 keeps none (the file is truncated at rotation). */
  readonly keep?: number;
  readonly maxQueue?: number;
  readonly logger?: Logger;
}

export interface EventLogStats {
  readonly appended: number;
  /** Records written and fsynced. */
  readonly written: number;
  /** Records dropped because the queue was full (a slow or stuck disk). */
  readonly droppedQueueFull: number;
  /** Records dropped because writing or syncing them failed (ENOSPC, EIO, ...). */
  readonly droppedWriteError: number;
  readonly rotations: number;
  readonly queued: number;
  readonly lastError: string | undefined;
}

export class EventLog {
  readonly path: string;
  readonly #maxBytes: number;
  readonly #keep: number;
  readonly #maxQueue: number;
  readonly #log: Logger;
  #queue: string[] = [];
  #fh: fsp.FileHandle | undefined;
  #sizeBytes: number;
  #running: Promise<void> | undefined;
  #closed = false;
  #failing: string | undefined;
  #queueFullSaid = false;
  #stats = { appended: 0, written: 0, droppedQueueFull: 0, droppedWriteError: 0, rotations: 0, lastError: undefined as string | undefined };

  private constructor(file: string, sizeBytes: number, options: EventLogOptions) {
    this.path = file;
    this.#sizeBytes = sizeBytes;
    this.#maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
    this.#keep = options.keep ?? DEFAULT_KEEP;
    this.#maxQueue = options.maxQueue ?? DEFAULT_MAX_QUEUE;
    this.#log = options.logger ?? silentLogger;
  }

  /**
   * Opens (creating it and its folder) the log at `file`. Runs once at start-up, so it may touch
   * the disk synchronously; throws E_HOST_IO when the file cannot be opened for appending.
   */
  static open(file: string, options: EventLogOptions = {}): EventLog {
    if (!(options.maxBytes === undefined || options.maxBytes > 0)) throw new RangeError("maxBytes must be positive");
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      const fd = openForAppend(file);
      let size = fs.fstatSync(fd).size;
      fs.closeSync(fd);
      const torn = tornTailBytes(file, size);
      if (torn > 0) {
        // The unflushed end of a write a crash cut short: the next record must start a line.
        fs.truncateSync(file, size - torn);
        size -= torn;
        options.logger?.info(`event log ${file}: removed a torn last line (${torn} bytes) left by a crash`);
      }
      return new EventLog(file, size, options);
    } catch (err) {
      throw new OomkitError("E_HOST_IO", `cannot open the event log ${file}: ${errnoCode(err) ?? String(err)}`, { cause: err });
    }
  }

  get stats(): EventLogStats {
    return { ...this.#stats, queued: this.#queue.length };
  }

  /** Queues one record for the disk and returns at once. Never throws for I/O. */
  append(record: EpisodeRecord): void {
    this.#stats.appended += 1;
    if (this.#closed) {
      this.#stats.droppedQueueFull += 1;
      return;
    }
    if (this.#queue.length >= this.#maxQueue) {
      this.#stats.droppedQueueFull += 1;
      if (!this.#queueFullSaid) {
        this.#queueFullSaid = true;
        this.#log.warn(`event log ${this.path}: the disk is not keeping up; dropping records (counted) rather than waiting`);
      }
      return;
    }
    this.#queue.push(`${JSON.stringify(record)}\n`);
    this.#kick();
  }

  /** Resolves when every record appended so far is on disk (fsynced) or was dropped. */
  async flush(): Promise<void> {
    while (this.#running) await this.#running;
  }

  /** Flushes, then closes the file. Later appends are dropped. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.flush();
    const fh = this.#fh;
    this.#fh = undefined;
    await fh?.close().catch(() => {});
  }

  #kick(): void {
    if (this.#running) return;
    // Start on the next microtask: a burst of appends becomes one write and one fsync.
    this.#running = Promise.resolve().then(() => this.#drain()).finally(() => {
      this.#running = undefined;
      if (this.#queue.length > 0) this.#kick();
    });
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue;
      this.#queue = [];
      if (batch.length < this.#maxQueue) this.#queueFullSaid = false;
      const data = Buffer.from(batch.join(""), "utf8");
      try {
        if (this.#sizeBytes > 0 && this.#sizeBytes + data.length > this.#maxBytes) await this.#rotate();
        await this.#write(data);
        this.#stats.written += batch.length;
        if (this.#failing !== undefined) {
          this.#log.info(`event log ${this.path}: writing again after ${this.#failing}`);
          this.#failing = undefined;
        }
      } catch (err) {
        this.#stats.droppedWriteError += batch.length;
        const code = errnoCode(err) ?? String(err);
        this.#stats.lastError = code;
        if (this.#failing === undefined) {
          this.#failing = code;
          this.#log.warn(`event log ${this.path}: cannot write (${code}); dropping records (counted) until it recovers`);
        }
        await this.#reopen();
      }
    }
  }

  async #write(data: Buffer): Promise<void> {
    this.#fh ??= await fsp.open(this.path, APPEND_FLAGS);
    const fh = this.#fh;
    const before = this.#sizeBytes;
    try {
      let off = 0;
      while (off < data.length) {
        const { bytesWritten } = await fh.write(data, off, data.length - off);
        if (bytesWritten <= 0) throw new OomkitError("E_HOST_IO", "short write");
        off += bytesWritten;
      }
      await fh.datasync();
      this.#sizeBytes = before + data.length;
    } catch (err) {
      // A batch cut short would glue the next record onto a torn line: cut the file back.
      await fh.truncate(before).catch(() => {});
      throw err;
    }
  }

  async #reopen(): Promise<void> {
    const fh = this.#fh;
    this.#fh = undefined;
    await fh?.close().catch(() => {});
    try {
      this.#sizeBytes = (await fsp.stat(this.path)).size;
    } catch {
      this.#sizeBytes = 0;
    }
  }

  async #rotate(): Promise<void> {
    await this.#fh?.close().catch(() => {});
    this.#fh = undefined;
    if (this.#keep === 0) {
      await fsp.truncate(this.path, 0);
    } else {
      await fsp.rm(`${this.path}.${this.#keep}`, { force: true });
      for (let i = this.#keep - 1; i >= 1; i--) {
        await fsp.rename(`${this.path}.${i}`, `${this.path}.${i + 1}`).catch((err: unknown) => {
          if (errnoCode(err) !== "ENOENT") throw err;
        });
      }
      await fsp.rename(this.path, `${this.path}.1`);
    }
    this.#sizeBytes = 0;
    this.#stats.rotations += 1;
    await syncDir(path.dirname(this.path));
  }
}

/**
 * Appending, creating the file 0600, never through a symlink: oomkit runs as root, and a link
 * planted at the log's path would have it append to any file (O_NOFOLLOW fails with ELOOP).
 */
const APPEND_FLAGS = fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW;

function openForAppend(file: string): number {
  const fd = fs.openSync(file, APPEND_FLAGS, 0o600);
  const st = fs.fstatSync(fd);
  // A character device (/dev/null to discard) is allowed; a folder or a fifo is a mistake.
  if (!st.isFile() && !st.isCharacterDevice()) {
    fs.closeSync(fd);
    throw Object.assign(new Error(`${file} is not a regular file`), { code: "EINVAL" });
  }
  return fd;
}

/** How many bytes follow the last newline of the file (0 when it ends with one). */
function tornTailBytes(file: string, size: number): number {
  if (size === 0) return 0;
  const fd = fs.openSync(file, "r");
  try {
    const chunk = Buffer.alloc(64 * 1024);
    let end = size;
    while (end > 0) {
      const start = Math.max(0, end - chunk.length);
      const n = fs.readSync(fd, chunk, 0, end - start, start);
      const i = chunk.subarray(0, n).lastIndexOf(0x0a);
      if (i >= 0) return size - (start + i + 1);
      end = start;
    }
    return size;
  } finally {
    fs.closeSync(fd);
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, "r").catch(() => undefined);
  if (!fh) return;
  await fh.sync().catch(() => {});
  await fh.close().catch(() => {});
}

export interface EventLogContents {
  /** Every record, oldest first (rotated files first). */
  readonly records: readonly EpisodeRecord[];
  /** Last lines without their newline: a write cut short by a crash. Skipped. */
  readonly tornLines: number;
  /** Whole lines that are not JSON objects. Skipped. */
  readonly badLines: number;
  /** Records of another schema (a later major version). Skipped. */
  readonly otherSchema: number;
  /** Records of this schema that lack what a reader relies on (a field missing or mistyped). Skipped. */
  readonly invalidRecords: number;
  /** What was wrong with the first invalid record, for the reader's message. */
  readonly firstInvalid: string | undefined;
  /** How many files the log had (0: nothing at that path). */
  readonly files: number;
}

/** Every file of the log at `file`, oldest first: `.N` … `.1`, then the file itself. */
export function eventLogFiles(file: string): string[] {
  const dir = path.dirname(file);
  const base = path.basename(file);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  // Only the names rotation makes (`.1`, `.2`, …): a stray `oomkit.jsonl.0x10` or `.bak` is not the log.
  const rotated = names
    .filter((n) => n.startsWith(`${base}.`) && /^[1-9][0-9]{0,5}$/.test(n.slice(base.length + 1)))
    .sort((a, b) => Number(b.slice(base.length + 1)) - Number(a.slice(base.length + 1)))
    .map((n) => path.join(dir, n));
  return names.includes(base) ? [...rotated, file] : rotated;
}

/** Reads the whole log (for `oomkit events` without a daemon, and tests). */
export function readEventLog(file: string): EventLogContents {
  const records: EpisodeRecord[] = [];
  let tornLines = 0;
  let badLines = 0;
  let otherSchema = 0;
  let invalidRecords = 0;
  let firstInvalid: string | undefined;
  const files = eventLogFiles(file);
  for (const f of files) {
    let text: string;
    try {
      text = fs.readFileSync(f, "utf8");
    } catch (err) {
      // Rotated away between the listing and the read: its records are in the next file now.
      if (errnoCode(err) === "ENOENT") continue;
      throw err;
    }
    const lines = text.split("\n");
    const last = lines.pop() as string;
    if (last !== "") tornLines += 1;
    for (const line of lines) {
      if (line.trim() === "") continue;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        badLines += 1;
        continue;
      }
      if (typeof value !== "object" || value === null || Array.isArray(value)) badLines += 1;
      else if ((value as { schema?: unknown }).schema !== EPISODE_SCHEMA) otherSchema += 1;
      else {
        const checked = checkEpisodeRecord(value);
        if (checked.ok) records.push(checked.record);
        else {
          invalidRecords += 1;
          firstInvalid ??= checked.error;
        }
      }
    }
  }
  return { records, tornLines, badLines, otherSchema, invalidRecords, firstInvalid, files: files.length };
}
