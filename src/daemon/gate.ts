/**
 * Whether an OOM declared now may become an episode: never while a victim in an overlapping
 * scope is still exiting (no double kills), never within the post-action delay of the last
 * action there (one kill holds off the other rules while pressure decays), never beyond the
 * kill rate limit (past it oomkit stands back and the kernel's OOM killer stays the last
 * resort). State is plain data: scopes with times, kill times.
 *
 * A declaration whose evidence spans a window (a PSI trigger's: the stall counted over its
 * last window_ms) is held as long as that window began before the hold ended: stall counted
 * while the last kill was still taking effect — the refaults of a machine that has just got its
 * memory back — is not evidence of a new shortage. PEERS.md saw oomd's pressure rule fire 1.6 s
 * after its swap rule killed the leak and kill a bystander on pressure that had not decayed;
 * oomkit did the same under zram in the VM (a 32 MiB bystander, 2 s after the leak). When the
 * stall goes on, the trigger fires again within one window, and its window then lies after.
 *
 * Stall can outlast the window too: with its pages in zram or swap, a process (oomkit's own,
 * when nothing keeps them resident) reads them back for seconds after the kill, and every
 * swap-in counts as memory stall although memory is plentiful (the VM's daemon-zram on 6.12:
 * the bystander killed 4 s after the leak, on a window that began after the delay). A machine
 * short of memory reclaims; one reading its pages back does not. So for as long as the hold is
 * remembered, a PSI declaration in or around its scope is taken only when the scope reclaimed
 * (pgscan: /proc/vmstat's for the machine, memory.stat's for a cgroup) since the action took
 * effect — as systemd-oomd acts on pressure only for cgroups with reclaim activity. A counter
 * that cannot be read holds nothing back.
 */
import type { KillSettings } from "../config/index.js";
import type { VictimRegistry } from "../engine/victims.js";
import { type CgroupPath, cgroupContains } from "../os/paths.js";

const overlap = (a: CgroupPath, b: CgroupPath) => cgroupContains(a, b) || cgroupContains(b, a);

/** How long a hold is remembered past its end: longer than any PSI window the kernel takes (10 s). */
const HOLD_MEMORY_MS = 60_000;

/** Pages the kernel scanned to reclaim in a scope since boot, or undefined when unknown. */
export type ReclaimReader = (scope: CgroupPath) => number | undefined;

export class ActionGate {
  /** Scope → monotonic ms until which no new action is taken in it or around it. */
  readonly #holdUntil = new Map<CgroupPath, number>();
  /** Scope → its reclaim counter when its last action took effect (ActionGate.acted). */
  readonly #scannedThen = new Map<CgroupPath, number>();
  #kills: number[] = [];

  constructor(
    private readonly victims: VictimRegistry,
    private settings: KillSettings,
  ) {}

  /** A reload may change the pacing; what was held stays held. */
  reconfigure(settings: KillSettings): void {
    this.settings = settings;
  }

  /**
   * Why an OOM in `scope` must not be acted on now, or undefined. "rate" marks the rate limit.
   * `evidenceSinceMs`: when the declaration's evidence began (a PSI event's time less its
   * window), when it spans one; it must lie after the hold, and the held scope must have
   * reclaimed since its action (`scanned`, the counters now).
   */
  check(scope: CgroupPath, now: number, evidenceSinceMs?: number, scanned?: ReclaimReader): { readonly why: string; readonly rate: boolean } | undefined {
    // A victim whose cgroup is unknown (a task in system-level mode) holds off every scope.
    const pending = this.victims.pending.find((v) => v.cgroup === undefined || overlap(scope, v.cgroup));
    if (pending) return { why: `a victim (${pending.kind === "task" ? `pid ${pending.pid}` : pending.cgroup}) is still exiting`, rate: false };
    for (const [held, until] of this.#holdUntil) {
      if (!overlap(held, scope)) continue;
      if (until > now) return { why: `within the post-action delay of the last action in ${held}`, rate: false };
      if (evidenceSinceMs !== undefined && until > evidenceSinceMs) {
        return { why: `its pressure window began ${Math.round(until - evidenceSinceMs)} ms before the post-action delay of the last action in ${held} ended: stall while that action took effect`, rate: false };
      }
      const then = this.#scannedThen.get(held);
      if (evidenceSinceMs !== undefined && then !== undefined && scanned !== undefined && now < until + HOLD_MEMORY_MS) {
        const nowScanned = scanned(held);
        if (nowScanned !== undefined && nowScanned <= then) {
          return { why: `no reclaim in ${held} since the last action there took effect (pgscan ${then} → ${nowScanned}): stall from pages read back in, not a shortage`, rate: false };
        }
      }
    }
    const { maxKills, perMs } = this.settings.rateLimit;
    this.#kills = this.#kills.filter((t) => now - t < perMs);
    if (this.#kills.length >= maxKills) return { why: "the kill rate limit is reached", rate: true };
    return undefined;
  }

  /**
   * After an episode in `scope` that acted (its victims' memory back): hold the scope, remember
   * its reclaim counter (`scanned`, undefined when unknown), and count a kill when there was one.
   */
  acted(scope: CgroupPath, now: number, killed: boolean, scanned?: number): void {
    // Kept a while past its end: a pressure window that began within it is judged against it.
    for (const [s, until] of this.#holdUntil) {
      if (until + HOLD_MEMORY_MS > now) continue;
      this.#holdUntil.delete(s);
      this.#scannedThen.delete(s);
    }
    this.#holdUntil.set(scope, now + this.settings.postActionDelayMs);
    if (scanned === undefined) this.#scannedThen.delete(scope);
    else this.#scannedThen.set(scope, scanned);
    if (killed) this.#kills.push(now);
  }
}
