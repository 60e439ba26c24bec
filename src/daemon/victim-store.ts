/**
 * Pending victims across a restart. A victim oomkit killed may take seconds to exit (a large
 * address space, a process stuck in the kernel); if oomkit itself dies and restarts meanwhile,
 * the victim still looks like the largest task and would be chosen — and signalled — again. So
 * the registry is kept in a state file, written whenever it changes (the entry is added before
 * the signal is sent), and read back at start: each entry still alive (same pid and start time,
 * or a cgroup still populated) is pending again, until it exits or what is left of its deadline
 * passes. A victim put back this way has no pidfd waited on for it, so `settleExited` (called on
 * every tick) is what notices its exit, as it does for the kernel's own victims.
 */
import * as z from "zod";
import { onFirstUse } from "../on-first-use.js";
import type { Logger } from "../log.js";
import type { Clock, Host } from "../os/host.js";
import type { CgroupMode } from "../os/cgroup-mode.js";
import { isVanished } from "../errors.js";
import { parseCgroupEvents } from "../os/parse/cgroup.js";
import { parseProcStat } from "../os/parse/proc.js";
import { CgroupFile, PidFile, cgroupDir, cgroupPath, procPid } from "../os/paths.js";
import type { PendingVictim, VictimRegistry } from "../engine/victims.js";
import type { KillBackend } from "../os/kill-port.js";
import { StateStore, savedCgroupPath } from "./state-store.js";

/** Far longer than any victim timeout: a saved deadline beyond it is not believed. */
const MAX_REMAINING_MS = 10 * 60_000;

const SAVED = onFirstUse(() =>
  z.strictObject({
    version: z.literal(1),
    victims: z
      .array(
        z.strictObject({
          kind: z.enum(["task", "cgroup"]),
          pid: z.number().int().min(2).max(2 ** 22).optional(),
          startTimeTicks: z.number().int().nonnegative().optional(),
          cgroup: savedCgroupPath().optional(),
          by: z.enum(["oomkit", "kernel"]),
          remainingMs: z.number().nonnegative(),
          /** An oomkit task kill still in its SIGTERM grace when saved: its SIGKILL is due in this many ms. */
          sigkillInMs: z.number().nonnegative().optional(),
        }),
      )
      .max(10_000),
  }),
);

export class VictimStore {
  readonly #store: StateStore<ReturnType<typeof SAVED>>;
  readonly #host: Host;
  readonly #clock: Clock;
  readonly #mode: CgroupMode;
  readonly #log: Logger;

  constructor(opts: { host: Host; mode: CgroupMode; file: string; log: Logger }) {
    this.#host = opts.host;
    this.#clock = opts.host.clock;
    this.#mode = opts.mode;
    this.#log = opts.log;
    this.#store = new StateStore({ file: opts.file, schema: SAVED, log: opts.log, durable: false });
  }

  /**
   * Puts back the victims a previous run was still waiting for, then keeps the file current.
   * Returns them; those with `sigkillDueMonoMs` were cut off in their SIGTERM grace, and nothing
   * in this run will send their SIGKILL unless the caller does (Daemon: `#finishGraces`).
   */
  attach(registry: VictimRegistry): PendingVictim[] {
    const now = this.#clock.monotonicMs();
    const restored: PendingVictim[] = [];
    for (const v of this.#store.read()?.victims ?? []) {
      // Unknown (a file that could not be read) counts as alive: its deadline bounds the wait.
      if (victimState(this.#host, this.#mode, v) === "gone") continue;
      const cgroup = v.cgroup === undefined ? undefined : cgroupPath(v.cgroup);
      const remaining = Math.min(v.remainingMs, MAX_REMAINING_MS);
      // Only an oomkit task kill has a grace, and only a verifiable one (a start time) is finished.
      const grace = v.sigkillInMs !== undefined && v.kind === "task" && v.by === "oomkit" && v.startTimeTicks !== undefined ? Math.min(v.sigkillInMs, remaining) : undefined;
      const victim: PendingVictim = { kind: v.kind, pid: v.pid, startTimeTicks: v.startTimeTicks, cgroup, by: v.by, sinceMonoMs: now, deadlineMonoMs: now + remaining, ...(grace === undefined ? {} : { sigkillDueMonoMs: now + grace }) };
      registry.add(victim);
      restored.push(victim);
      const what = v.kind === "task" ? `pid ${v.pid}` : v.cgroup;
      this.#log.info(`still waiting for ${what} (killed by ${v.by} before a restart): it is not chosen again${grace === undefined ? "" : `; its SIGTERM grace was cut short, SIGKILL in ${Math.round(grace)} ms`}`);
    }
    registry.onChange((pending) => this.#save(pending));
    this.#save(registry.pending);
    return restored;
  }

  #save(pending: readonly PendingVictim[]): void {
    const now = this.#clock.monotonicMs();
    try {
      this.#store.write({
        version: 1,
        victims: pending.map((v) => ({
          kind: v.kind,
          ...(v.pid === undefined ? {} : { pid: v.pid }),
          ...(v.startTimeTicks === undefined ? {} : { startTimeTicks: v.startTimeTicks }),
          ...(v.cgroup === undefined || v.cgroup === "/" ? {} : { cgroup: v.cgroup }),
          by: v.by,
          remainingMs: Math.max(0, Math.round(v.deadlineMonoMs - now)),
          ...(v.sigkillDueMonoMs === undefined ? {} : { sigkillInMs: Math.max(0, Math.round(v.sigkillDueMonoMs - now)) }),
        })),
      });
    } catch (err) {
      this.#log.warn(`pending victims ${this.#store.file}: cannot be written (${(err as Error).message}); a restart now could pick one again`);
    }
  }
}

type VictimRef = Pick<PendingVictim, "kind" | "pid" | "startTimeTicks"> & { readonly cgroup?: string };

/**
 * Whether a victim is still there to wait for: the same process (pid and start time) not yet a
 * zombie — its memory is freed by then, as when its pidfd turns readable — or a cgroup still
 * populated. "unknown" when its files could not be read for another reason than its going
 * away (EIO, EAGAIN during an OOM): never taken as an exit, so it is never chosen twice.
 */
export function victimState(host: Host, mode: CgroupMode, v: VictimRef): "alive" | "gone" | "unknown" {
  try {
    if (v.kind === "task") {
      if (v.pid === undefined) return "gone";
      const stat = parseProcStat(host.readFile(procPid(v.pid, PidFile.stat)));
      if (v.startTimeTicks !== undefined && stat.startTimeTicks !== v.startTimeTicks) return "gone";
      return stat.state === "Z" || stat.state === "X" ? "gone" : "alive";
    }
    const mount = mode.perCgroup ? mode.unifiedMount : undefined;
    if (v.cgroup === undefined || mount === undefined) return "gone";
    return parseCgroupEvents(host.readFile(`${cgroupDir(mount, cgroupPath(v.cgroup))}/${CgroupFile.events}`)).populated === false ? "gone" : "alive";
  } catch (err) {
    return isVanished(err) ? "gone" : "unknown";
  }
}

/**
 * Settles every pending victim that has exited. oomkit's own kills also settle when their pidfd
 * turns readable; this is what settles the ones nothing waits on: the kernel's victims, and
 * those a previous run killed before it crashed. Returns the ones settled.
 */
export function settleExited(host: Host, mode: CgroupMode, registry: VictimRegistry): PendingVictim[] {
  const gone = registry.pending.filter((v) => victimState(host, mode, v) === "gone");
  for (const v of gone) {
    if (v.kind === "task" && v.pid !== undefined) registry.settleTask(v.pid, v.startTimeTicks);
    else if (v.cgroup !== undefined) registry.settleCgroup(v.cgroup);
  }
  return gone;
}

/**
 * Sends the SIGKILL that a restart cut off: a restored oomkit victim that was in its SIGTERM
 * grace gets it once the grace is over, through the kill backend (pidfd and start-time check,
 * then SIGKILL and process_mrelease), unless it has exited or stopped being waited for. The
 * kill's wait runs in the background; its exit settles the victim. Returns the victims whose
 * SIGKILL is not due yet.
 */
export function finishCutGraces(o: { host: Host; mode: CgroupMode; registry: VictimRegistry; backend: KillBackend; log: Logger }, waiting: readonly PendingVictim[], nowMonoMs: number): PendingVictim[] {
  const later: PendingVictim[] = [];
  for (const v of waiting) {
    if (!o.registry.pending.includes(v)) continue; // exited or expired meanwhile
    if ((v.sigkillDueMonoMs ?? nowMonoMs) > nowMonoMs) {
      later.push(v);
      continue;
    }
    if (v.pid === undefined || v.startTimeTicks === undefined || victimState(o.host, o.mode, v) === "gone") continue;
    const pid = v.pid;
    const target = { pid, startTimeTicks: v.startTimeTicks, comm: "", ...(v.cgroup === undefined ? {} : { cgroup: v.cgroup }) };
    o.log.warn(`pid ${pid}: its SIGTERM grace, cut short by a restart, is over: SIGKILL`);
    o.backend
      .killTask(target, { graceMs: 0, waitMs: Math.max(0, v.deadlineMonoMs - nowMonoMs) })
      .then((out) => {
        if (out.kind === "still-exiting") return;
        o.registry.settleTask(pid, v.startTimeTicks);
        if (out.kind === "pid-reused") o.log.info(`pid ${pid} now names another process: not killed`);
      })
      .catch((err: unknown) => o.log.error(`pid ${pid}: SIGKILL after its cut grace failed: ${err instanceof Error ? err.message : String(err)}`));
  }
  return later;
}
