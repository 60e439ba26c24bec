/**
 * Victims being killed right now, by oomkit or by the kernel. While one is pending, no new
 * victim is chosen for it (no double kills). Plain data keyed by pid + start time or cgroup
 * path, so it survives snapshots; the daemon adds and settles entries.
 */
import { type CgroupPath, cgroupContains } from "../os/paths.js";

export interface PendingVictim {
  readonly kind: "task" | "cgroup";
  readonly pid?: number;
  readonly startTimeTicks?: number;
  /** The cgroup killed, or the one a task victim was in (when known). */
  readonly cgroup?: CgroupPath;
  /** Who killed it: "oomkit" or "kernel". */
  readonly by: "oomkit" | "kernel";
  readonly sinceMonoMs: number;
  /** After this the victim is no longer waited for. */
  readonly deadlineMonoMs: number;
  /**
   * An oomkit kill that began with SIGTERM: when its SIGKILL is due. Saved with the victim, so
   * that a restart during the grace still sends the SIGKILL the kill sequence would have sent.
   */
  readonly sigkillDueMonoMs?: number;
}

/** Additions remembered for addedSince: far more than come while one decision runs. */
const RECENT_ADDITIONS = 256;

export class VictimRegistry {
  #pending: PendingVictim[] = [];
  #listener: ((pending: readonly PendingVictim[]) => void) | undefined;
  /** Every addition numbered, the last RECENT_ADDITIONS kept, settled or not: kills since a mark. */
  #added = 0;
  #recent: { readonly seq: number; readonly victim: PendingVictim }[] = [];

  /**
   * Called, synchronously, after every change: the daemon keeps the list on disk so a restart
   * never chooses a victim that is still exiting. Added before the kill's signal, so a crash
   * between the signal and the victim's exit finds it saved.
   */
  onChange(listener: ((pending: readonly PendingVictim[]) => void) | undefined): void {
    this.#listener = listener;
  }

  #set(next: PendingVictim[]): void {
    const changed = next.length !== this.#pending.length;
    this.#pending = next;
    if (changed) this.#listener?.(next);
  }

  add(v: PendingVictim): void {
    this.#recent.push({ seq: ++this.#added, victim: v });
    if (this.#recent.length > RECENT_ADDITIONS) this.#recent.shift();
    this.#pending = [...this.#pending, v];
    this.#listener?.(this.#pending);
  }

  /** Marks the additions so far, for addedSince. */
  get mark(): number {
    return this.#added;
  }

  /** The victims added after mark `from` and up to mark `to`, oldest first, whether they have exited since or not. */
  addedSince(from: number, to = Number.POSITIVE_INFINITY): readonly PendingVictim[] {
    return this.#recent.filter((r) => r.seq > from && r.seq <= to).map((r) => r.victim);
  }

  /** Drops victims past their deadline; returns the ones dropped. */
  expire(nowMonoMs: number): PendingVictim[] {
    const gone = this.#pending.filter((v) => v.deadlineMonoMs <= nowMonoMs);
    this.#set(this.#pending.filter((v) => v.deadlineMonoMs > nowMonoMs));
    return gone;
  }

  settleTask(pid: number, startTimeTicks?: number): void {
    this.#set(this.#pending.filter((v) => !(v.kind === "task" && v.pid === pid && (startTimeTicks === undefined || v.startTimeTicks === startTimeTicks))));
  }

  settleCgroup(cgroup: CgroupPath): void {
    this.#set(this.#pending.filter((v) => !(v.kind === "cgroup" && v.cgroup === cgroup)));
  }

  get pending(): readonly PendingVictim[] {
    return this.#pending;
  }

  isTaskPending(pid: number, startTimeTicks: number, cgroup: CgroupPath | undefined): boolean {
    return this.#pending.some(
      (v) =>
        (v.kind === "task" && v.pid === pid && (v.startTimeTicks === undefined || v.startTimeTicks === startTimeTicks)) ||
        (v.kind === "cgroup" && cgroup !== undefined && v.cgroup !== undefined && cgroupContains(v.cgroup, cgroup)),
    );
  }

  isCgroupPending(cgroup: CgroupPath): boolean {
    return this.#pending.some((v) => v.kind === "cgroup" && v.cgroup !== undefined && (cgroupContains(v.cgroup, cgroup) || cgroupContains(cgroup, v.cgroup)));
  }
}
