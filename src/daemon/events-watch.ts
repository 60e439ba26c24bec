/**
 * memory.events counters of one cgroup (`high`, `max`, `oom`, `oom_kill`, ...): a rise declares
 * an OOM in that cgroup. The cgroup's own counters (memory.events.local, 5.12+) are used where
 * the kernel has them, so an event below is declared once, in the cgroup it happened in, not
 * again in every ancestor a glob also matches. inotify (fs.watch) wakes the daemon when the file
 * changes; the regular tick re-reads it as a safety net.
 *
 * The guard band is the same watch on the `high` counter, plus memory.high set a margin below
 * memory.max while oomkit runs (guard-band.ts keeps what it changed).
 */
import * as fs from "node:fs";
import type { TriggerSpec } from "../config/index.js";
import { type MemoryEvents, parseMemoryEvents, parseMemoryValue } from "../os/parse/cgroup.js";
import { CGROUP_FS, CgroupFile, type CgroupPath, cgroupDir } from "../os/paths.js";
import type { GuardBands } from "./guard-band.js";
import type { Watch, WatchContext } from "./watch.js";

type EventsSpec = Extract<TriggerSpec, { kind: "memory-events" | "guard-band" }>;

const KEY: Record<string, keyof MemoryEvents> = {
  low: "low",
  high: "high",
  max: "max",
  oom: "oom",
  oom_kill: "oomKill",
  oom_group_kill: "oomGroupKill",
};

const SAFETY_NET_MS = 1000;

/**
 * A counter rise is an event, not a state: "still holds" is read as "usage is still at the limit
 * the event is about" — memory.high for `high` (the guard band's too), memory.max for `max`,
 * `oom`, `oom_kill` and `oom_group_kill`. A cgroup at its limit is reclaimed to just below it
 * between charges, so "at" is a band: within 10 % of the limit. A kill or a burst that ended
 * leaves usage well below it.
 */
export const NEAR_LIMIT = 0.9;

/** The limit file each event is about (`low` is about none). */
const LIMIT_OF: Readonly<Record<string, string>> = {
  high: CgroupFile.memoryHigh,
  max: CgroupFile.memoryMax,
  oom: CgroupFile.memoryMax,
  oom_kill: CgroupFile.memoryMax,
  oom_group_kill: CgroupFile.memoryMax,
};

/**
 * Whether usage has left the band below every limit the risen events are about: what is seen
 * then, else undefined. An unlimited or unreadable limit cannot tell, and holds.
 */
export function usageCleared(currentBytes: number, limits: readonly { readonly file: string; readonly bytes: number | undefined }[]): string | undefined {
  if (limits.length === 0) return undefined;
  for (const l of limits) if (l.bytes === undefined || !Number.isFinite(l.bytes) || currentBytes >= l.bytes * NEAR_LIMIT) return undefined;
  return `memory.current ${currentBytes} is below ${NEAR_LIMIT * 100} % of ${limits.map((l) => `${l.file} ${l.bytes}`).join(" and ")}`;
}

export class EventsWatch implements Watch {
  readonly #ctx: WatchContext;
  readonly #events: readonly string[];
  readonly #dir: string;
  #file: string;
  #last: MemoryEvents | undefined;
  #watcher: fs.FSWatcher | undefined;
  /** The band being set again, awaited by stop() so that no write lands after the restore. */
  #reasserting: Promise<void> | undefined;

  constructor(
    readonly spec: EventsSpec,
    readonly target: CgroupPath,
    ctx: WatchContext,
    private readonly guardBands?: GuardBands,
  ) {
    this.#ctx = ctx;
    this.#events = spec.kind === "guard-band" ? ["high"] : spec.events;
    this.#dir = cgroupDir(ctx.mode.unifiedMount ?? CGROUP_FS, target);
    this.#file = `${this.#dir}/${CgroupFile.memoryEventsLocal}`;
  }

  #read(): MemoryEvents | undefined {
    for (const f of [this.#file, `${this.#dir}/${CgroupFile.memoryEvents}`]) {
      try {
        const e = parseMemoryEvents(this.#ctx.host.readFile(f));
        this.#file = f;
        return e;
      } catch {
        /* try the hierarchical file; a vanished cgroup reads as nothing */
      }
    }
    return undefined;
  }

  async start(): Promise<void> {
    if (this.spec.kind === "guard-band" && this.guardBands) await this.guardBands.apply(this.target, this.spec.margin);
    this.#last = this.#read();
    if (this.#ctx.host.kind === "linux") {
      try {
        this.#watcher = fs.watch(this.#file, { persistent: false }, () => this.#ctx.wake());
        this.#watcher.on("error", () => this.#closeWatcher());
      } catch {
        this.#ctx.once(`inotify:${this.#file}`, "info", `cannot watch ${this.#file} with inotify; reading it every ${SAFETY_NET_MS} ms`);
      }
    }
  }

  #closeWatcher(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
  }

  tick(nowMs: number): number {
    this.#keepBand();
    const now = this.#read();
    const before = this.#last;
    this.#last = now ?? before;
    if (!now || !before) return SAFETY_NET_MS;
    const rose: string[] = [];
    const figures: Record<string, number> = {};
    for (const name of this.#events) {
      const k = KEY[name];
      if (k === undefined) continue;
      const a = before[k];
      const b = now[k];
      if (typeof a === "number" && typeof b === "number" && b > a) {
        rose.push(`${name} ${a}→${b}`);
        figures[`${name}Before`] = a;
        figures[name] = b;
      }
    }
    if (rose.length > 0) {
      const risen = this.#events.filter((name) => figures[name] !== undefined);
      this.#ctx.declare({
        scope: this.target,
        trigger: this.spec.name,
        cleared: () => this.#cleared(risen),
        cause: {
          kind: "cgroup",
          trigger: this.spec.name,
          message: `${this.target}: ${this.#file.endsWith(".local") ? "memory.events.local" : "memory.events"} ${rose.join(", ")}`,
          figures,
          signalAtMonoMs: nowMs,
        },
      });
    }
    return SAFETY_NET_MS;
  }

  /**
   * A guard band raised by someone else (guard-band.ts `reassert`) is set again within a tick;
   * one write at a time, its failure logged, never thrown into the tick.
   */
  #keepBand(): void {
    if (this.spec.kind !== "guard-band" || !this.guardBands || this.#reasserting) return;
    this.#reasserting = this.guardBands
      .reassert(this.target, this.spec.margin)
      .then(
        () => undefined,
        (err: unknown) => this.#ctx.log.warn(`guard band on ${this.target}: cannot be set again (${(err as Error).message})`),
      )
      .finally(() => (this.#reasserting = undefined));
  }

  /** Re-reads usage against the limits the risen events are about (NEAR_LIMIT). */
  #cleared(risen: readonly string[]): string | undefined {
    const files = [...new Set(risen.map((n) => LIMIT_OF[n]).filter((f): f is string => f !== undefined))];
    if (files.length === 0) return undefined;
    const read = (f: string): number | undefined => {
      try {
        return parseMemoryValue(this.#ctx.host.readFile(`${this.#dir}/${f}`));
      } catch {
        return undefined;
      }
    };
    const current = read(CgroupFile.memoryCurrent);
    if (current === undefined) return `${this.#dir}/${CgroupFile.memoryCurrent} can no longer be read`;
    return usageCleared(current, files.map((file) => ({ file, bytes: read(file) })));
  }

  async stop(): Promise<void> {
    this.#closeWatcher();
    await this.#reasserting;
    if (this.spec.kind === "guard-band" && this.guardBands) await this.guardBands.restore(this.target);
  }

  describe(): string {
    const what = this.spec.kind === "guard-band" ? `guard band (memory.high ${"bytes" in this.spec.margin ? `${this.spec.margin.bytes} bytes` : `${this.spec.margin.percent} %`} below memory.max), on "high"` : this.#events.join(", ");
    return `${this.spec.name} on ${this.target}: ${what} (${this.#watcher ? "inotify" : "polled"})`;
  }
}
