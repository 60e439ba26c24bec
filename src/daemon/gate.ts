/**
 * Whether an OOM declared now may become an episode: never while a victim in an overlapping
 * scope is still exiting (no double kills), never within the post-action delay of the last
 * action there (one kill holds off the other rules while pressure decays), never beyond the
 * kill rate limit (past it oomkit stands back and the kernel's OOM killer stays the last
 * resort). State is plain data: scopes with times, kill times.
 */
import type { KillSettings } from "../config/index.js";
import type { VictimRegistry } from "../engine/victims.js";
import { type CgroupPath, cgroupContains } from "../os/paths.js";

const overlap = (a: CgroupPath, b: CgroupPath) => cgroupContains(a, b) || cgroupContains(b, a);

export class ActionGate {
  /** Scope → monotonic ms until which no new action is taken in it or around it. */
  readonly #holdUntil = new Map<CgroupPath, number>();
  #kills: number[] = [];

  constructor(
    private readonly victims: VictimRegistry,
    private settings: KillSettings,
  ) {}

  /** A reload may change the pacing; what was held stays held. */
  reconfigure(settings: KillSettings): void {
    this.settings = settings;
  }

  /** Why an OOM in `scope` must not be acted on now, or undefined. "rate" marks the rate limit. */
  check(scope: CgroupPath, now: number): { readonly why: string; readonly rate: boolean } | undefined {
    // A victim whose cgroup is unknown (a task in system-level mode) holds off every scope.
    const pending = this.victims.pending.find((v) => v.cgroup === undefined || overlap(scope, v.cgroup));
    if (pending) return { why: `a victim (${pending.kind === "task" ? `pid ${pending.pid}` : pending.cgroup}) is still exiting`, rate: false };
    for (const [held, until] of this.#holdUntil) {
      if (until > now && overlap(held, scope)) return { why: `within the post-action delay of the last action in ${held}`, rate: false };
    }
    const { maxKills, perMs } = this.settings.rateLimit;
    this.#kills = this.#kills.filter((t) => now - t < perMs);
    if (this.#kills.length >= maxKills) return { why: "the kill rate limit is reached", rate: true };
    return undefined;
  }

  /** After an episode in `scope` that acted: hold the scope, and count a kill when there was one. */
  acted(scope: CgroupPath, now: number, killed: boolean): void {
    this.#holdUntil.set(scope, now + this.settings.postActionDelayMs);
    for (const [s, until] of this.#holdUntil) if (until <= now) this.#holdUntil.delete(s);
    if (killed) this.#kills.push(now);
  }
}
