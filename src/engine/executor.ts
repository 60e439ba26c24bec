/**
 * Carrying out verified actions, and measuring what each freed. The OS work goes through the
 * kill port, a KillBackend (os/kill-port.ts; the live one is os/backend.ts, tests use fakes), so
 * the rules here — grace
 * periods, waiting for the victim, what counts as freed — are written once and tested without
 * root.
 *
 * What counts as freed (the kernel's bpf_memory_freed rule): a task kill whose victim's pidfd
 * turned readable; a cgroup kill after which the cgroup reports populated 0; a reclaim or a
 * removal after which usage is lower. A victim still exiting when the wait ends stays pending
 * in the VictimRegistry until its own deadline.
 */
import type { KillBackend, KillNotice } from "../os/kill-port.js";
import type { ActionResult } from "./episode.js";
import type { Executor, VerifiedOk } from "./engine.js";
import { type Action, describeAction } from "./plan.js";
import type { Snapshot } from "./snapshot.js";
import type { TaskRef } from "./verify.js";
import type { VictimRegistry } from "./victims.js";

export interface ExecutorSettings {
  /** SIGTERM first and wait this long before SIGKILL (0: SIGKILL at once). */
  readonly sigtermGraceMs: number;
  /** How long a victim is waited for (and then kept pending in the registry). */
  readonly victimTimeoutMs: number;
}

export const DEFAULT_EXECUTOR_SETTINGS: ExecutorSettings = { sigtermGraceMs: 0, victimTimeoutMs: 10_000 };

export class LiveExecutor implements Executor {
  readonly dryRun = false;
  readonly #backend: KillBackend;
  readonly #settings: ExecutorSettings;
  readonly #victims: VictimRegistry;
  readonly #now: () => number;

  constructor(backend: KillBackend, victims: VictimRegistry, settings: ExecutorSettings = DEFAULT_EXECUTOR_SETTINGS, now: () => number = () => performance.now()) {
    this.#backend = backend;
    this.#settings = settings;
    this.#victims = victims;
    this.#now = now;
  }

  async execute(v: VerifiedOk, snapshot: Snapshot): Promise<ActionResult> {
    const startedAtMs = Date.now();
    const t0 = this.#now();
    const done = (r: Omit<ActionResult, "action" | "dryRun" | "startedAtMs" | "finishedAtMs">): ActionResult => ({
      action: v.action,
      dryRun: false,
      startedAtMs,
      finishedAtMs: Date.now(),
      ...r,
    });
    const notice = killNotice(v.action);
    const hookError = this.#backend.preKillHook && notice ? await this.#backend.preKillHook(notice) : undefined;
    try {
      switch (v.execution.method) {
        case "signal-task": {
          const task = v.execution.task;
          const size = taskBytes(snapshot, task.pid);
          const out = await this.#killOne(task, t0);
          return done({ ...out, freedBytes: out.freed ? size : undefined, ...(hookError ? { error: `pre-kill hook: ${hookError}` } : {}) });
        }
        case "per-task": {
          let freed = false;
          let bytes = 0;
          for (const task of v.execution.tasks) {
            const out = await this.#killOne(task, t0);
            if (out.freed) {
              freed = true;
              bytes += taskBytes(snapshot, task.pid) ?? 0;
            }
          }
          return done({ ok: true, freed, freedBytes: freed ? bytes : undefined, details: { tasks: v.execution.tasks.length, spared: v.execution.spared.length } });
        }
        case "cgroup.kill": {
          if (v.action.kind !== "kill-cgroup") break;
          const cg = v.action.cgroup;
          const before = snapshot.cgroup(cg)?.memory.currentBytes;
          const since = this.#now();
          this.#victims.add({ kind: "cgroup", cgroup: cg, by: "oomkit", sinceMonoMs: since, deadlineMonoMs: since + this.#settings.victimTimeoutMs });
          const r = await this.#backend.killCgroup(cg, this.#settings.victimTimeoutMs);
          if (r.emptied) this.#victims.settleCgroup(cg);
          return done({ ok: true, freed: r.emptied, freedBytes: r.emptied ? before : undefined, details: { emptyMs: r.emptyMs ?? -1 } });
        }
        case "memory.reclaim": {
          if (v.action.kind !== "reclaim") break;
          const cg = v.action.cgroup;
          const before = this.#backend.currentBytes(cg);
          await this.#backend.reclaim(cg, v.action.bytes);
          const after = this.#backend.currentBytes(cg);
          const freedBytes = before !== undefined && after !== undefined ? Math.max(0, before - after) : undefined;
          return done({ ok: true, freed: (freedBytes ?? 0) > 0, freedBytes });
        }
        case "unlink": {
          let bytes = 0;
          for (const p of v.execution.paths) bytes += await this.#backend.removeFile(p);
          return done({ ok: true, freed: bytes > 0, freedBytes: bytes });
        }
        default: {
          const never: never = v.execution;
          return never;
        }
      }
      return done({ ok: false, freed: false, error: `execution ${v.execution.method} does not fit action ${v.action.kind}` });
    } catch (err) {
      return done({ ok: false, freed: false, error: err instanceof Error ? err.message : String(err) });
    }
  }

  async #killOne(task: TaskRef, t0: number): Promise<Pick<ActionResult, "ok" | "freed" | "details" | "error">> {
    const since = this.#now();
    // Pending for as long as the kill sequence may wait (the SIGTERM grace, then the timeout):
    // an entry that lapsed during the grace would leave the victim unsaved for a restart.
    const grace = this.#settings.sigtermGraceMs;
    const deadlineMonoMs = since + grace + this.#settings.victimTimeoutMs;
    this.#victims.add({ kind: "task", pid: task.pid, startTimeTicks: task.startTimeTicks, cgroup: task.cgroup, by: "oomkit", sinceMonoMs: since, deadlineMonoMs, ...(grace > 0 ? { sigkillDueMonoMs: since + grace } : {}) });
    const out = await this.#backend.killTask(task, { graceMs: grace, waitMs: this.#settings.victimTimeoutMs });
    switch (out.kind) {
      case "exited":
        this.#victims.settleTask(task.pid, task.startTimeTicks);
        return { ok: true, freed: true, details: { pid: task.pid, signalMs: round(out.signalMs + since - t0), exitMs: round(out.exitMs + since - t0), escalated: out.escalated, mrelease: out.mrelease } };
      case "still-exiting":
        // Stays pending until its deadline: no second victim meanwhile.
        return { ok: true, freed: false, details: { pid: task.pid, signalMs: round(out.signalMs), escalated: out.escalated, mrelease: out.mrelease }, error: "the victim had not exited when the wait ended" };
      case "vanished":
        this.#victims.settleTask(task.pid, task.startTimeTicks);
        return { ok: false, freed: false, error: `pid ${task.pid} was gone before the signal` };
      case "pid-reused":
        this.#victims.settleTask(task.pid, task.startTimeTicks);
        return { ok: false, freed: false, error: `pid ${task.pid} now names another process: not killed` };
      default: {
        const never: never = out;
        return never;
      }
    }
  }
}

const round = (ms: number) => Math.round(ms * 100) / 100;

/** What a pre-kill hook is told of a kill; undefined for actions that kill nothing. */
function killNotice(a: Action): KillNotice | undefined {
  switch (a.kind) {
    case "kill-task":
      return { kind: a.kind, description: describeAction(a), pid: a.pid, ...(a.cgroup !== null ? { cgroup: a.cgroup } : {}) };
    case "kill-cgroup":
      return { kind: a.kind, description: describeAction(a), cgroup: a.cgroup };
    case "reclaim":
    case "remove-files":
      return undefined;
    default: {
      const never: never = a;
      return never;
    }
  }
}

function taskBytes(s: Snapshot, pid: number): number | undefined {
  const t = s.task(pid);
  if (!t) return undefined;
  const m = t.memory;
  return m.rssAnonBytes + m.rssShmemBytes + m.swapBytes + m.pageTablesBytes;
}
