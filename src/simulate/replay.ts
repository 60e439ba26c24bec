/**
 * Replay: the daemon, with a configuration, along a timeline recorded with `oomkit record
 * --timeline` (src/timeline/). The daemon reads the recorded machine as it stood at each moment
 * — frame after frame, in the recording's own time — on a virtual scheduler, so its triggers
 * (PSI computed from the recorded totals, thresholds, memory.events counters) fire when they
 * would have and its policies see the recorded rates. It acts on nothing: a replay is a dry run,
 * and what it yields is the episodes the configuration would have produced, and when.
 */
import type { CompiledConfig } from "../config/index.js";
import { Daemon } from "../daemon/daemon.js";
import type { EpisodeRecord } from "../engine/episode.js";
import type { HookCall } from "../engine/hooks.js";
import { type Logger, silentLogger } from "../log.js";
import { detectCgroupMode } from "../os/cgroup-mode.js";
import type { DirEntry, FileStat, Host, HostFacts } from "../os/host.js";
import { NO_CAPABILITIES } from "../os/host.js";
import { VirtualScheduler } from "../sim/scheduler.js";
import { Timeline } from "../timeline/index.js";

/** How long past the last frame the daemon is given to stop (it acts on nothing, so little is needed). */
const STOP_GRACE_MS = 10_000;

/** One episode the configuration would have produced, at its time in the recording. */
export interface ReplayedEpisode {
  /** Virtual ms since the recording's first frame. */
  readonly atMs: number;
  readonly record: EpisodeRecord;
}

export interface ReplayResult {
  readonly schema: "oomkit.replay/1";
  readonly dir: string;
  readonly frames: number;
  readonly durationMs: number;
  readonly episodes: readonly ReplayedEpisode[];
}

/** The recorded machine as it stood at the last frame reached: reads go to that frame's Host. */
class FrameByFrameHost implements Host {
  readonly kind = "fixture" as const;
  readonly capabilities = NO_CAPABILITIES;
  current: Host;
  constructor(first: Host, readonly description: string) {
    this.current = first;
  }
  get clock() {
    return this.current.clock;
  }
  /** A recording's reads cost nothing: the daemon's work takes no time in the recording's time. */
  get workClock() {
    return this.current.clock;
  }
  facts(): HostFacts {
    return this.current.facts();
  }
  readFile(p: string): string {
    return this.current.readFile(p);
  }
  readDir(p: string): DirEntry[] {
    return this.current.readDir(p);
  }
  exists(p: string): boolean {
    return this.current.exists(p);
  }
  stat(p: string): FileStat {
    return this.current.stat(p);
  }
  readXattrs(p: string): ReadonlyMap<string, string> {
    return this.current.readXattrs(p);
  }
  readLink(p: string): string {
    return this.current.readLink(p);
  }
  /** A replay changes nothing: writes go to the frame's Host, which keeps them unapplied. */
  writeFile(p: string, data: string): void {
    this.current.writeFile(p, data);
  }
  writeFileAsync(p: string, data: string): Promise<void> {
    return this.current.writeFileAsync(p, data);
  }
  keepOpen(): boolean {
    return false;
  }
  closeKept(): void {}
}

export interface ReplayOptions {
  readonly log?: Logger;
  readonly onEpisode?: (e: ReplayedEpisode) => void;
  readonly onPolicyFault?: (call: HookCall) => void;
}

/** Replays the timeline in `dir` under `config` (always a dry run). Throws like Timeline.open on a bad timeline. */
export async function replayTimeline(dir: string, config: CompiledConfig, opts: ReplayOptions = {}): Promise<ReplayResult> {
  const timeline = Timeline.open(dir);
  const scheduler = new VirtualScheduler(timeline.newClock());
  const frames = timeline.frames(scheduler.clock);
  const first = frames.next();
  if (first.done) return { schema: "oomkit.replay/1", dir, frames: 0, durationMs: 0, episodes: [] };
  const host = new FrameByFrameHost(first.value.host, `timeline ${dir}`);
  const episodes: ReplayedEpisode[] = [];
  const daemon = new Daemon({
    host,
    mode: detectCgroupMode(host),
    config,
    log: opts.log ?? silentLogger,
    dryRun: true,
    scheduler,
    episodeIds: counter(),
    onEpisode: (record) => {
      const e = { atMs: scheduler.clock.monotonicMs(), record };
      episodes.push(e);
      opts.onEpisode?.(e);
    },
    ...(opts.onPolicyFault ? { onPolicyFault: opts.onPolicyFault } : {}),
  });
  await daemon.start();
  // Between frames the daemon's timers run on the frame before; each frame replaces the machine at its time.
  for (const t of timeline.times.slice(1)) {
    await scheduler.runUntil(t);
    const next = frames.next();
    if (next.done) break;
    host.current = next.value.host;
  }
  const end = timeline.times[timeline.times.length - 1] ?? 0;
  await scheduler.runUntil(end + 1);
  // Stopping waits on the daemon's own timers: virtual time goes on until it has stopped.
  let stopped = false;
  const stopping = daemon.stop().then(() => void (stopped = true));
  for (let t = end + 1; !stopped && t < end + STOP_GRACE_MS; t += 100) await scheduler.runUntil(t + 100);
  await stopping;
  return { schema: "oomkit.replay/1", dir, frames: timeline.length, durationMs: end, episodes };
}

/** Episode ids for one run: 0, 1, 2… (base 36), the same on every run. */
export function counter(): () => string {
  let n = 0;
  return () => (n++).toString(36);
}
