/**
 * The set of running watches: each trigger on each cgroup it names now. Re-listing the tree
 * starts watches on new cgroups a glob matches and stops those on cgroups that went; the
 * policies attached above a cgroup that came or went hear of it (handleCgroupOnline/Offline).
 */
import type { CompiledAttachment, TriggerSpec } from "../config/index.js";
import { callWithDeadline } from "../engine/deadline.js";
import type { History } from "../engine/history.js";
import { takeSnapshot } from "../engine/snapshot.js";
import type { Logger } from "../log.js";
import type { CgroupMode } from "../os/cgroup-mode.js";
import type { Host } from "../os/host.js";
import { type CgroupPath, ROOT_CGROUP, cgroupContains, cgroupDir, joinCgroup } from "../os/paths.js";
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

export class WatchSet {
  readonly #d: WatchSetDeps;
  readonly #map = new Map<string, Watch>();
  #cgroups = new Set<CgroupPath>();

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

  /** Starts and stops watches so each trigger watches the cgroups it names now. */
  async sync(triggers: readonly TriggerSpec[], attachments: readonly CompiledAttachment[], deadlineMs: number): Promise<void> {
    const present = this.#listCgroups();
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
    this.#onlineOffline(present, attachments, deadlineMs);
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

  /** handleCgroupOnline/Offline for the policies attached at or above each cgroup that came or went. */
  #onlineOffline(present: Set<CgroupPath>, attachments: readonly CompiledAttachment[], deadlineMs: number): void {
    const before = this.#cgroups;
    this.#cgroups = present;
    if (before.size === 0) return; // the first listing is not news
    const call = (fn: () => void, what: string) => {
      try {
        callWithDeadline(fn, deadlineMs);
      } catch (err) {
        this.#d.log.warn(`${what}: ${(err as Error).message}`);
      }
    };
    const added = [...present].filter((p) => !before.has(p));
    const snap = added.length > 0 ? takeSnapshot(this.#d.host, { cgroupMode: this.#d.mode }) : undefined;
    for (const p of added) {
      const node = snap?.cgroup(p);
      for (const a of attachments) if (node && a.policy.handleCgroupOnline && cgroupContains(a.cgroup, p)) call(() => a.policy.handleCgroupOnline?.(node, a.options), `${a.policy.name}.handleCgroupOnline(${p})`);
    }
    for (const p of before) {
      if (present.has(p)) continue;
      this.#d.history.forget(p);
      for (const a of attachments) if (a.policy.handleCgroupOffline && cgroupContains(a.cgroup, p)) call(() => a.policy.handleCgroupOffline?.(p, a.options), `${a.policy.name}.handleCgroupOffline(${p})`);
    }
  }
}
