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
import type { Logger } from "../log.js";
import type { Clock, Host } from "../os/host.js";
import type { CgroupMode } from "../os/cgroup-mode.js";
import { isVanished } from "../errors.js";
import { parseCgroupEvents } from "../os/parse/cgroup.js";
import { parseProcStat } from "../os/parse/proc.js";
import { CgroupFile, PidFile, cgroupDir, cgroupPath, procPid } from "../os/paths.js";
import type { PendingVictim, VictimRegistry } from "../engine/victims.js";
import { StateStore, savedCgroupPath } from "./state-store.js";

/** Far longer than any victim timeout: a saved deadline beyond it is not believed. */
const MAX_REMAINING_MS = 10 * 60_000;

const SAVED = z.strictObject({
  version: z.literal(1),
  victims: z
    .array(
      z.strictObject({
        kind: z.enum(["task", "cgroup"]),
        pid: z.number().int().min(2).max(2 ** 22).optional(),
        startTimeTicks: z.number().int().nonnegative().optional(),
        cgroup: savedCgroupPath.optional(),
        by: z.enum(["oomkit", "kernel"]),
        remainingMs: z.number().nonnegative(),
      }),
    )
    .max(10_000),
});

export class VictimStore {
  readonly #store: StateStore<typeof SAVED>;
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

  /** Puts back the victims a previous run was still waiting for, then keeps the file current. */
  attach(registry: VictimRegistry): number {
    const now = this.#clock.monotonicMs();
    let restored = 0;
    for (const v of this.#store.read()?.victims ?? []) {
      // Unknown (a file that could not be read) counts as alive: its deadline bounds the wait.
      if (victimState(this.#host, this.#mode, v) === "gone") continue;
      const cgroup = v.cgroup === undefined ? undefined : cgroupPath(v.cgroup);
      const remaining = Math.min(v.remainingMs, MAX_REMAINING_MS);
      registry.add({ kind: v.kind, pid: v.pid, startTimeTicks: v.startTimeTicks, cgroup, by: v.by, sinceMonoMs: now, deadlineMonoMs: now + remaining });
      restored++;
      this.#log.info(`still waiting for ${v.kind === "task" ? `pid ${v.pid}` : v.cgroup} (killed by ${v.by} before a restart): it is not chosen again`);
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
