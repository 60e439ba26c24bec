/**
 * The set of running watches: each trigger on each cgroup it names now. Re-listing the tree
 * starts watches on new cgroups a glob matches and stops those on cgroups that went; the
 * policies attached above a cgroup that came or went hear of it (handleCgroupOnline/Offline).
 */
import type { TriggerSpec } from "../config/index.js";
import type { CgroupNode } from "../engine/cgroup.js";
import type { History } from "../engine/history.js";
import type { HookCall } from "../engine/hooks.js";
import { takeSnapshot } from "../engine/snapshot.js";
import type { Logger } from "../log.js";
import type { CgroupMode } from "../os/cgroup-mode.js";
import type { Host } from "../os/host.js";
import { type CgroupPath, ROOT_CGROUP, cgroupDir, joinCgroup } from "../os/paths.js";
import { EventsWatch } from "./events-watch.js";
import type { GuardBands } from "./guard-band.js";
import { PsiWatch } from "./psi-watch.js";
import { ThresholdWatch } from "./threshold-watch.js";
import type { Watch, WatchContext } from "./watch.js";

export interface WatchSetDeps {
  readonly host: Host;
  readonly mode: CgroupMode;
  readonly log: Logger;
  readonly guard: GuardBands | undefined;
  readonly history: History;
  context(): WatchContext;
  once(key: string, level: "info" | "warn", message: string): void;
}

/** Where cgroups that came and went are told (the engine: the only caller of policy code). */
export interface CgroupLifecycle {
  cgroupOnline(cgroup: CgroupNode): readonly HookCall[];
  cgroupOffline(cgroup: CgroupPath): readonly HookCall[];
}

/** The tree is walked at least this often, whatever the root's count of cgroups says. */
export const WALK_AT_LEAST_MS = 10_000;

export class WatchSet {
  readonly #d: WatchSetDeps;
  readonly #map = new Map<string, Watch>();
  #cgroups = new Set<CgroupPath>();
  /** The root's count of cgroups below it at the last walk, and when that was. */
  #walked: { readonly count: number; readonly atMs: number } | undefined;

  constructor(deps: WatchSetDeps) {
    this.#d = deps;
  }

  get watches(): Iterable<Watch> {
    return this.#map.values();
  }

  get size(): number {
    return this.#map.size;
  }

  async stopAll(): Promise<void> {
    for (const w of this.#map.values()) await w.stop();
    this.#map.clear();
  }

  /**
   * Starts and stops watches so each trigger watches the cgroups it names now, and tells
   * `lifecycle` of cgroups that came and went; returns the records of the hook calls that made.
   */
  async sync(triggers: readonly TriggerSpec[], lifecycle: CgroupLifecycle): Promise<HookCall[]> {
    const present = this.#present();
    const wanted = new Map<string, { spec: TriggerSpec; target: CgroupPath }>();
    triggers.forEach((spec, i) => {
      for (const target of this.#targets(spec, present)) wanted.set(`${i}|${target}`, { spec, target });
    });
    for (const [key, w] of this.#map) {
      if (wanted.has(key)) continue;
      await w.stop();
      this.#map.delete(key);
      this.#d.log.debug(`stopped ${w.describe()}`);
    }
    for (const [key, { spec, target }] of wanted) {
      if (this.#map.has(key)) continue;
      const w = this.#makeWatch(spec, target);
      if (!w) continue;
      try {
        await w.start();
        this.#map.set(key, w);
      } catch (err) {
        this.#d.log.warn(`cannot watch ${spec.name} on ${target}: ${(err as Error).message}`);
      }
    }
    return this.#onlineOffline(present, lifecycle);
  }

  /**
   * The cgroups there are now: the last walk's while the root's count of cgroups below it
   * (cgroup.stat nr_descendants) stands, for at most WALK_AT_LEAST_MS; a new walk otherwise, and
   * always where the count cannot be read. The walk lists every cgroup, ~20 µs each here: on a
   * machine of 1,000 cgroups, every second, it was 2 % of a core by itself while nothing changed.
   * A cgroup made and another removed within one round leave the count as it was: they are seen
   * at the next walk, WALK_AT_LEAST_MS later at most.
   */
  #present(): Set<CgroupPath> {
    const now = this.#d.host.clock.monotonicMs();
    const count = this.#descendants();
    const w = this.#walked;
    if (count !== undefined && w !== undefined && w.count === count && now - w.atMs < WALK_AT_LEAST_MS && this.#cgroups.size > 0) return this.#cgroups;
    const present = this.#listCgroups();
    this.#walked = count === undefined ? undefined : { count, atMs: now };
    return present;
  }

  /** How many live cgroups there are below the root (its cgroup.stat), or undefined where it cannot be read. */
  #descendants(): number | undefined {
    const mount = this.#d.mode.unifiedMount;
    if (!this.#d.mode.perCgroup || mount === undefined) return undefined;
    try {
      const m = /^nr_descendants ([0-9]+)$/m.exec(this.#d.host.readFile(`${cgroupDir(mount, ROOT_CGROUP)}/cgroup.stat`));
      return m ? Number(m[1]) : undefined;
    } catch {
      return undefined;
    }
  }

  #listCgroups(): Set<CgroupPath> {
    const out = new Set<CgroupPath>();
    const mount = this.#d.mode.unifiedMount;
    if (!this.#d.mode.perCgroup || mount === undefined) return out;
    const walk = (p: CgroupPath, depth: number) => {
      out.add(p);
      if (depth > 32) return;
      let entries;
      try {
        entries = this.#d.host.readDir(cgroupDir(mount, p));
      } catch {
        return; // vanished while listing
      }
      for (const e of entries) if (e.isDirectory) walk(joinCgroup(p, e.name), depth + 1);
    };
    walk(ROOT_CGROUP, 0);
    return out;
  }

  #targets(spec: TriggerSpec, present: ReadonlySet<CgroupPath>): CgroupPath[] {
    const where = spec.where;
    switch (where.kind) {
      case "machine":
        return [ROOT_CGROUP];
      case "cgroup":
        if (!this.#d.mode.perCgroup) {
          this.#d.once(`no-cgroups:${spec.name}`, "warn", `${spec.name} watches ${where.path}, but this machine is in system-level mode (${this.#d.mode.summary}): not watched`);
          return [];
        }
        return present.has(where.path) ? [where.path] : [];
      case "glob":
        return [...present].filter((p) => where.regex.test(p));
      default: {
        const never: never = where;
        return never;
      }
    }
  }

  #makeWatch(spec: TriggerSpec, target: CgroupPath): Watch | undefined {
    const ctx = this.#d.context();
    switch (spec.kind) {
      case "psi":
        return new PsiWatch(spec, target, ctx);
      case "memory-threshold":
        return new ThresholdWatch(spec, target, ctx);
      case "memory-events":
        return new EventsWatch(spec, target, ctx);
      case "guard-band":
        return new EventsWatch(spec, target, ctx, this.#d.guard);
      default: {
        const never: never = spec;
        return never;
      }
    }
  }

  /** Tells lifecycle of each cgroup that came or went since the last listing. */
  #onlineOffline(present: Set<CgroupPath>, lifecycle: CgroupLifecycle): HookCall[] {
    const before = this.#cgroups;
    this.#cgroups = present;
    if (before.size === 0) return []; // the first listing is not news
    const calls: HookCall[] = [];
    const added = [...present].filter((p) => !before.has(p));
    const snap = added.length > 0 ? takeSnapshot(this.#d.host, { cgroupMode: this.#d.mode }) : undefined;
    for (const p of added) {
      const node = snap?.cgroup(p);
      if (node) calls.push(...lifecycle.cgroupOnline(node));
    }
    for (const p of before) {
      if (present.has(p)) continue;
      this.#d.history.forget(p);
      calls.push(...lifecycle.cgroupOffline(p));
    }
    return calls;
  }
}
