/**
 * What a recording reads: exactly the files a snapshot reads, for the cgroups and processes asked
 * for, through a RecordingHost. One capture is a fixture (`oomkit record --fixture`); captures
 * taken at intervals are a timeline (`oomkit record --timeline`).
 */
import { OomkitError } from "../errors.js";
import type { CgroupNode } from "../engine/cgroup.js";
import { type Snapshot, takeSnapshot } from "../engine/snapshot.js";
import { type Clock, type Host, readIfPresent } from "../os/host.js";
import { PROC_SELF_CGROUP, PROC_SELF_STATUS } from "../os/paths.js";
import { RecordingHost } from "../os/record.js";
import { type FrameWritten, TimelineWriter, stateOfRecording } from "./write.js";

export interface CaptureOptions {
  /** Only these cgroups' subtrees (default: the whole tree). */
  readonly cgroups?: readonly string[];
  /** Only these processes (default: the processes of the recorded cgroups, or all in system-level mode). */
  readonly pids?: readonly number[];
  /** No /proc/<pid> files at all. */
  readonly noTasks?: boolean;
}

export interface Capture {
  readonly rec: RecordingHost;
  readonly snapshot: Snapshot;
  /** Cgroups recorded. */
  readonly cgroups: number;
}

/** Reads everything a snapshot of `host` reads for what `opts` asks, into a new RecordingHost. */
export function captureMachine(host: Host, opts: CaptureOptions = {}): Capture {
  const rec = new RecordingHost(host);
  const snap = takeSnapshot(rec);
  void snap.system;
  void snap.vmstat;
  readIfPresent(rec, PROC_SELF_STATUS);
  readIfPresent(rec, PROC_SELF_CGROUP);
  const roots: CgroupNode[] = [];
  for (const p of opts.cgroups ?? []) {
    const c = snap.cgroup(p);
    if (!c) throw new OomkitError("E_NO_SUCH_PATH", `no cgroup ${p}${snap.cgroupMode.perCgroup ? "" : ` (${snap.cgroupMode.summary})`}`);
    roots.push(c);
  }
  if (roots.length === 0 && snap.root) roots.push(snap.root);
  const pids = opts.pids ?? [];
  const withTasks = !opts.noTasks && pids.length === 0;
  let cgroups = 0;
  for (const root of roots) {
    for (const c of [root, ...root.descendants()]) {
      cgroups++;
      c.readAll();
      if (withTasks) for (const t of c.tasks) t.readAll();
    }
  }
  if (withTasks && !snap.root) for (const t of snap.tasks) t.readAll();
  for (const pid of pids) {
    const t = snap.task(pid);
    if (!t) throw new OomkitError("E_NO_SUCH_PATH", `no process ${pid}`);
    t.readAll();
  }
  return { rec, snapshot: snap, cgroups };
}

export interface RecordTimelineOptions extends CaptureOptions {
  readonly dir: string;
  readonly everyMs: number;
  /** Frames are taken at 0, everyMs, 2 × everyMs, … up to and including forMs. */
  readonly forMs: number;
  /** Where time comes from (the host's clock for a live machine). */
  readonly clock: Clock;
  /** Waits until the clock reads `monoMs` (a timer on a live machine; advancing a manual clock in tests). */
  readonly sleepUntil: (monoMs: number) => Promise<void>;
  /** Told of each frame as it is written. */
  readonly onFrame?: (frame: FrameWritten & { readonly atMs: number; readonly cgroups: number }) => void;
  /** Stops the recording early (the frames so far stay a valid timeline). */
  readonly signal?: AbortSignal;
}

/**
 * Records a timeline of `host`: a capture every `everyMs` for `forMs`. A capture that overruns
 * its interval makes the next one late rather than two at once; each frame carries the time it
 * was really taken, so rates are measured over the true interval.
 */
export async function recordTimeline(host: Host, opts: RecordTimelineOptions): Promise<TimelineWriter> {
  const startMono = opts.clock.monotonicMs();
  const first = captureMachine(host, opts);
  const facts = first.rec.facts();
  const comment = `recorded by oomkit record --timeline from ${host.description}, kernel ${first.snapshot.system.kernelRelease ?? "?"}, every ${opts.everyMs} ms for ${opts.forMs} ms`;
  const writer = new TimelineWriter(opts.dir, { everyMs: opts.everyMs, comment, startedAtWallMs: opts.clock.wallMs(), facts });
  let capture = first;
  let atMs = 0;
  for (let k = 1; ; k++) {
    const written = writer.add(atMs, stateOfRecording(capture.rec));
    opts.onFrame?.({ ...written, atMs, cgroups: capture.cgroups });
    // The next tick on the grid that is still ahead of the clock.
    let due = k * opts.everyMs;
    while (due <= opts.clock.monotonicMs() - startMono) due += opts.everyMs;
    if (due > opts.forMs || opts.signal?.aborted) break;
    await opts.sleepUntil(startMono + due);
    if (opts.signal?.aborted) break;
    atMs = Math.max(atMs, Math.round(opts.clock.monotonicMs() - startMono));
    capture = captureMachine(host, opts);
    k = Math.round(due / opts.everyMs);
  }
  return writer;
}
