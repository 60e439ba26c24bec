/**
 * The kill port: what carrying out a verified action needs from the OS, declared in the OS
 * layer's own terms (a task target, outcomes, a description of the action for a hook), so the
 * OS layer implements it without knowing the engine. The engine's executor (LiveExecutor) acts
 * through it; LinuxBackend (./backend.ts) is the live implementation and tests use fakes.
 */
import type { CgroupPath } from "./paths.js";

/** One process to kill, as a snapshot saw it. */
export interface TaskTarget {
  readonly pid: number;
  /** From /proc/<pid>/stat when it was seen: a later process that reuses the pid is not killed. */
  readonly startTimeTicks: number;
  readonly comm: string;
  /** Its v2 cgroup, when known. */
  readonly cgroup?: CgroupPath;
}

export interface TaskKillOptions {
  /** SIGTERM first and wait this long for the victim to go before SIGKILL (0: SIGKILL at once). */
  readonly graceMs: number;
  /** After the SIGKILL, wait this long for the victim to be gone (its pidfd readable). */
  readonly waitMs: number;
}

/**
 * What `process_mrelease` did after the SIGKILL: released the memory, found the victim already
 * gone (success too), was not called (the victim left on SIGTERM), does not exist on this kernel,
 * or failed (the message says why).
 */
export type MreleaseReport = "released" | "already-exited" | "skipped" | "unsupported" | `failed: ${string}`;

/** Times are milliseconds since the kill began. */
export type TaskKillOutcome =
  | { readonly kind: "exited"; readonly signalMs: number; readonly exitMs: number; readonly escalated: boolean; readonly mrelease: MreleaseReport }
  | { readonly kind: "still-exiting"; readonly signalMs: number; readonly escalated: boolean; readonly mrelease: MreleaseReport }
  /** Gone before the signal. */
  | { readonly kind: "vanished" }
  /** The pid now names another process (its start time differs): nothing was signalled. */
  | { readonly kind: "pid-reused" };

export interface CgroupKillOutcome {
  /** The cgroup reported `populated 0` within the wait. */
  readonly emptied: boolean;
  /** Milliseconds from the kill to empty. */
  readonly emptyMs?: number;
}

/** A kill about to happen, as a pre-kill hook is told of it (OOMKIT_ACTION, OOMKIT_DESCRIPTION, ...). */
export interface KillNotice {
  readonly kind: "kill-task" | "kill-cgroup";
  /** One line for people: "kill pid 42 (leak)". */
  readonly description: string;
  /** The victim, for a task kill. */
  readonly pid?: number;
  /** The cgroup killed, or the victim's cgroup when known. */
  readonly cgroup?: CgroupPath;
}

export interface KillBackend {
  /** Kills one task (SIGTERM first when graceMs > 0, then SIGKILL + process_mrelease) and waits up to waitMs for it to be gone. */
  killTask(task: TaskTarget, opts: TaskKillOptions): Promise<TaskKillOutcome>;
  /** Kills every task of a cgroup with cgroup.kill; resolves whether it emptied within waitMs. */
  killCgroup(cgroup: CgroupPath, waitMs: number): Promise<CgroupKillOutcome>;
  /** memory.reclaim, off the main thread; reclaiming less than asked is not an error. */
  reclaim(cgroup: CgroupPath, bytes: number): Promise<void>;
  /** memory.current now (not from a snapshot), or undefined. */
  currentBytes(cgroup: CgroupPath): number | undefined;
  /** Removes a file; returns its size before removal (0 when already gone). */
  removeFile(path: string): Promise<number>;
  /** Runs the pre-kill hook, if configured; never throws (failures are returned). */
  preKillHook?(kill: KillNotice): Promise<string | undefined>;
}
