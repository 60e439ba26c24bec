/**
 * The kill port (src/os/kill-port.ts) over the simulated machine: what the engine's executor
 * asks of the OS, carried out on the model. A kill marks the task dying at once and its memory
 * returns after the modelled reap delay; the waits a live backend spends polling a pidfd are
 * spent in virtual time through `sleep`, which by default advances the SimHost's own clock (a
 * virtual scheduler will pass its own).
 */
import * as path from "node:path";
import { OomkitError, isVanished } from "../errors.js";
import type { CgroupKillOutcome, KillBackend, TaskKillOptions, TaskKillOutcome, TaskTarget } from "../os/kill-port.js";
import type { CgroupPath } from "../os/paths.js";
import type { SimHost } from "./sim-host.js";

/** How often a wait looks again, in virtual ms (a live backend polls cgroup.events every 5 ms). */
const POLL_MS = 5;

export class SimKillBackend implements KillBackend {
  readonly #host: SimHost;
  readonly #sleep: (ms: number) => Promise<void>;
  /** Every action asked of it, for the record and for tests. */
  readonly actions: string[] = [];

  constructor(host: SimHost, opts: { sleep?: (ms: number) => Promise<void> } = {}) {
    this.#host = host;
    this.#sleep = opts.sleep ?? (async (ms) => host.advance(ms));
  }

  get #m() {
    this.#host.sync();
    return this.#host.machine;
  }

  #now(): number {
    return this.#host.clock.monotonicMs();
  }

  /** Waits in virtual time until `done` or `ms` pass; returns the ms waited when done, else undefined. */
  async #waitFor(done: () => boolean, ms: number): Promise<number | undefined> {
    const t0 = this.#now();
    for (;;) {
      if (done()) return this.#now() - t0;
      if (this.#now() - t0 >= ms) return undefined;
      await this.#sleep(Math.min(POLL_MS, ms - (this.#now() - t0)));
    }
  }

  async killTask(task: TaskTarget, opts: TaskKillOptions): Promise<TaskKillOutcome> {
    this.#host.settle();
    this.actions.push(`kill-task ${task.pid}`);
    const t = this.#m.task(task.pid);
    if (!t) return { kind: "vanished" };
    if (Math.floor(t.startMs / 10) !== task.startTimeTicks) return { kind: "pid-reused" };
    const t0 = this.#now();
    const gone = () => this.#m.task(task.pid) !== t;
    // The Host's exit wait where it has one (a pidfd's on a machine); else look every few ms.
    const waits = this.#host.waits;
    const waitGone = async (ms: number): Promise<number | undefined> => {
      if (!waits) return this.#waitFor(gone, ms);
      const w0 = this.#now();
      return (await waits.waitExit(task.pid, ms)) === "exited" && gone() ? this.#now() - w0 : undefined;
    };
    if (t.state === "dying") {
      // Already on its way out (the kernel's victim, or an earlier kill): a signal changes nothing; wait.
      const waited = await waitGone(opts.waitMs);
      return waited === undefined ? { kind: "still-exiting", signalMs: 0, escalated: false, mrelease: "skipped" } : { kind: "exited", signalMs: 0, exitMs: waited, escalated: false, mrelease: "skipped" };
    }
    let escalated = false;
    if (opts.graceMs > 0) {
      this.#m.signal(t.pid, "SIGTERM");
      // Left on SIGTERM: its memory came back within the grace period.
      if ((await waitGone(opts.graceMs)) !== undefined) {
        return { kind: "exited", signalMs: 0, exitMs: this.#now() - t0, escalated: false, mrelease: "skipped" };
      }
      escalated = true;
    }
    const signalMs = this.#now() - t0;
    if (!gone()) this.#m.signal(t.pid, "SIGKILL", { mrelease: true });
    const waited = await waitGone(opts.waitMs);
    if (waited === undefined) return { kind: "still-exiting", signalMs, escalated, mrelease: "released" };
    return { kind: "exited", signalMs, exitMs: this.#now() - t0, escalated, mrelease: "released" };
  }

  async killCgroup(cgroup: CgroupPath, waitMs: number): Promise<CgroupKillOutcome> {
    this.#host.settle();
    this.actions.push(`kill-cgroup ${cgroup}`);
    const t0 = this.#now();
    this.#m.killCgroup(cgroup);
    const empty = () => {
      const cg = this.#m.cgroup(cgroup);
      if (!cg) return true;
      for (const c of cg.subtree()) if (c.tasks.size > 0) return false;
      return true;
    };
    const waited = await this.#waitFor(empty, waitMs);
    return waited === undefined ? { emptied: false } : { emptied: true, emptyMs: this.#now() - t0 };
  }

  async reclaim(cgroup: CgroupPath, bytes: number): Promise<void> {
    this.#host.settle();
    this.actions.push(`reclaim ${cgroup} ${bytes}`);
    try {
      this.#m.reclaimBytes(cgroup, bytes);
    } catch (err) {
      if (isVanished(err)) throw new OomkitError("E_VANISHED", `reclaiming memory: cgroup ${cgroup} is gone`, { cause: err });
      throw err;
    }
  }

  currentBytes(cgroup: CgroupPath): number | undefined {
    const cg = this.#m.cgroup(cgroup);
    return cg ? cg.usage * this.#m.pageSizeBytes : undefined;
  }

  /** The model has no files (tmpfs is not modelled yet): every path is already gone. */
  async removeFile(file: string): Promise<number> {
    this.actions.push(`remove ${path.posix.normalize(file)}`);
    return 0;
  }
}
