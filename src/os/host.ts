/**
 * The Host: the only way oomkit touches the operating system. Everything above src/os/ takes a
 * Host and machine paths from ./paths.ts, so the same engine runs on a live machine
 * (LinuxHost), on a folder laid out like one (FixtureHost, for tests), and in a simulator.
 *
 * Contract for every implementation:
 * - Paths are absolute machine paths ("/proc/meminfo").
 * - A file or folder that does not exist, or a pid/cgroup that vanished, throws an OomkitError
 *   with code E_VANISHED (the errno in `cause`). Callers treat that as a normal race.
 * - Permission problems throw E_PERMISSION; anything else E_HOST_IO.
 */
import { OomkitError, errnoCode, isVanished } from "../errors.js";

export interface Clock {
  /** Monotonic milliseconds (for intervals and "sustained for D"). */
  monotonicMs(): number;
  /** Wall-clock milliseconds since the epoch (for records people read). */
  wallMs(): number;
}

export const systemClock: Clock = {
  monotonicMs: () => performance.now(),
  wallMs: () => Date.now(),
};

/** A clock that moves only when told to: for tests and the simulator. */
export class ManualClock implements Clock {
  #mono: number;
  #wallOffset: number;
  constructor(startMonoMs = 0, startWallMs = Date.UTC(2026, 0, 1)) {
    this.#mono = startMonoMs;
    this.#wallOffset = startWallMs - startMonoMs;
  }
  monotonicMs(): number {
    return this.#mono;
  }
  wallMs(): number {
    return this.#mono + this.#wallOffset;
  }
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`a clock cannot go back (advance ${ms})`);
    this.#mono += ms;
  }
}

export interface FileStat {
  readonly sizeBytes: number;
  readonly mtimeMs: number;
  readonly isDirectory: boolean;
  readonly isFile: boolean;
  /** The owner's uid: a cgroup folder's owner decides whose user.* marks count (src/engine/marks.ts). */
  readonly ownerUid: number;
}

export interface DirEntry {
  readonly name: string;
  readonly isDirectory: boolean;
}

/** Facts about the machine that are not files: what a live probe or a recorded fixture says. */
export interface HostFacts {
  readonly pageSizeBytes: number;
  /** Effective uid of this process (0 for root). */
  readonly euid: number;
  /** pid of this process, as the machine's /proc sees it: the engine never kills it. */
  readonly selfPid: number;
  /** Whether pidfd_open works here; undefined when it could not be probed. */
  readonly pidfdOpen: boolean | undefined;
  /** Whether process_mrelease exists (5.15+); undefined when it could not be probed. */
  readonly processMrelease: boolean | undefined;
}

/**
 * What a Host can do beyond reading and writing files. Callers ask these instead of testing
 * which class a Host is, so a wrapper or a simulator answers for itself.
 */
export interface HostCapabilities {
  /**
   * Its /proc is this machine's: every pid it lists is a live process that pidfd_open names, and
   * /proc/self is oomkit itself. Only then may the kill path signal its pids, or oomkit protect
   * itself through it (a fixture's pids are text; signalling them would hit whatever process
   * holds that pid here).
   */
  readonly liveProcesses: boolean;
  /** Its files are the kernel's: their fds can wait on the poll thread (PSI triggers, pidfds). */
  readonly pollableFds: boolean;
}

/** A Host with neither: fixtures, recordings, simulations. */
export const NO_CAPABILITIES: HostCapabilities = Object.freeze({ liveProcesses: false, pollableFds: false });

export type PsiKind = "some" | "full";

/** A trigger as the kernel takes it: `<kind> <stallUsec> <windowUsec>` (./psi-trigger.ts checks the limits). */
export interface PsiTriggerSpec {
  kind: PsiKind;
  stallUsec: number;
  windowUsec: number;
}

export type PsiWaitOutcome = "fired" | "timeout";

/**
 * What a wait needs of an AbortSignal, named here so the Host's declarations need no DOM or
 * Node types (a policy project compiles against them).
 */
export interface AbortSignalLike {
  readonly aborted: boolean;
  addEventListener(type: "abort", listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: "abort", listener: () => void): void;
}

/** A PSI trigger armed on a pressure file: it fires at most once per window (./psi-trigger.ts). */
export interface PsiTriggerHandle {
  readonly file: string;
  readonly spec: PsiTriggerSpec;
  /** "fired" when the stall passed the threshold within the window, "timeout" after timeoutMs (negative: never) or on abort. */
  wait(timeoutMs: number, signal?: AbortSignalLike): Promise<PsiWaitOutcome>;
  close(): void;
}

/**
 * What a Host can wait on: the kernel's PSI triggers and a process's exit. The live machine waits
 * on fds on its poll thread; a simulation fires them in virtual time. A Host without them (a
 * fixture, a recording) leaves `waits` undefined and callers fall back to reading files.
 */
export interface HostWaits {
  /**
   * Arms a trigger on `file` (`/proc/pressure/memory` or a cgroup's `memory.pressure`). Throws
   * OomkitError when refused: E_CONFIG for limits the kernel refuses, E_PERMISSION, E_UNSUPPORTED.
   */
  psiTrigger(file: string, spec: PsiTriggerSpec): PsiTriggerHandle;
  /**
   * Resolves "exited" once process `pid` is gone and its memory freed (its pidfd readable; at
   * once when it is already gone), or "timeout" after timeoutMs or on abort.
   */
  waitExit(pid: number, timeoutMs: number, signal?: AbortSignalLike): Promise<"exited" | "timeout">;
  /**
   * True when an event waited on here (a PSI trigger that fired, a process that exited) has
   * arrived but is not handled yet, because this thread is busy: work that can wait (a decision
   * made ahead) stops for it. Absent: no such events can be seen early.
   */
  eventPending?(): boolean;
}

/** A folder listed a part at a time (Host.openDir). */
export interface DirCursor {
  /**
   * Up to `max` more entries, in the order readDir gives them; an empty array once the listing has
   * ended (it is closed then). Throws E_HOST_IO as readDir does.
   */
  next(max: number): DirEntry[];
  /** Ends the listing early (again: nothing). */
  close(): void;
}

export interface Host {
  /** "linux", "fixture" or "sim": shown in reports so a reader knows where figures came from. */
  readonly kind: "linux" | "fixture" | "sim";
  /** Human description, e.g. "live machine" or "fixture /path". */
  readonly description: string;
  readonly clock: Clock;
  /**
   * The clock oomkit times its own work by on this Host: how long reads, decisions and actions
   * take, and when an action started. The system's (performance.now, Date.now) where absent. A
   * simulated Host counts there the virtual time its reads cost, so every duration a simulated
   * run records is the simulation's, the same on every run (docs/simulator.md, "Determinism").
   */
  readonly workClock?: Clock;
  readonly capabilities: HostCapabilities;
  facts(): HostFacts;
  readFile(path: string): string;
  readDir(path: string): DirEntry[];
  /**
   * Lists a folder a part at a time, where this Host can. /proc on a machine of 10,000 processes is
   * one listing of several ms, during which the thread is not given back: work that gives way to
   * an event (the warm model's refresh) reads it in parts and can stop between them. Absent:
   * readDir, whole.
   */
  openDir?(path: string): DirCursor;
  exists(path: string): boolean;
  /** Size and times of a file, without following a final symlink. */
  stat(path: string): FileStat;
  /** Extended attributes of a file or folder (cgroup folders carry user.* marks). */
  readXattrs(path: string): ReadonlyMap<string, string>;
  /**
   * The text of a symbolic link, not followed (/proc/PID/exe names a task's executable). A path
   * that is not a link throws E_HOST_IO.
   */
  readLink(path: string): string;
  writeFile(path: string, data: string): void;
  /**
   * Writes off the event loop. For writes the kernel serves synchronously in the writing thread
   * (memory.high below usage and memory.reclaim both reclaim before returning).
   */
  writeFileAsync(path: string, data: string): Promise<void>;
  /**
   * Keeps a file open so later reads need no open(2), where this Host can (the files read on
   * every tick and between a trigger and the kill). Returns false where it keeps no files (they
   * are read afresh each time, which is always correct). Throws like readFile when it tries and
   * the file cannot be opened.
   */
  keepOpen(path: string): boolean;
  /** Closes every file kept open (none where keepOpen returns false). */
  closeKept(): void;
  /** PSI triggers and exit waits, where this Host can wait on them. */
  readonly waits?: HostWaits;
  /** Set by a host that keeps parsed files (the warm model): ./read.ts readResult (and readParsed) asks it first. */
  readonly parsedCache?: ParsedCache;
}

/** The clock `host` times oomkit's own work by: its workClock, else the system's. */
export function workClockOf(host: Host): Clock {
  return host.workClock ?? systemClock;
}

/** Reads a file, or returns undefined when it is absent or its owner vanished. */
export function readIfPresent(host: Host, path: string): string | undefined {
  try {
    return host.readFile(path);
  } catch (err) {
    if (isVanished(err)) return undefined;
    throw err;
  }
}

/** Lists a folder, or returns undefined when it is absent or vanished. */
export function listIfPresent(host: Host, path: string): DirEntry[] | undefined {
  try {
    return host.readDir(path);
  } catch (err) {
    if (isVanished(err)) return undefined;
    throw err;
  }
}

/** Wraps an fs error into the Host contract's error codes. */
export function hostIoError(op: string, path: string, err: unknown): OomkitError {
  const code = errnoCode(err);
  if (isVanished(err)) return new OomkitError("E_VANISHED", `${op} ${path}: ${code ?? "gone"}`, { cause: err });
  if (code === "EACCES" || code === "EPERM") {
    return new OomkitError("E_PERMISSION", `${op} ${path}: permission denied (${code})`, { cause: err });
  }
  return new OomkitError("E_HOST_IO", `${op} ${path}: ${code ?? String(err)}`, { cause: err });
}

/**
 * A host that keeps what it read (the daemon's warm model, engine/model.ts) may keep what the
 * parsers made of it too: `parsed` returns the kept result of `parse` for the kept text of
 * `path`, or calls `compute` (which reads and parses) and keeps its result with the text.
 */
export interface ParsedCache {
  parsed<T>(path: string, parse: (text: string) => T, compute: () => T | undefined): T | undefined;
}
