import { OomkitError } from "../errors.js";
import { type Clock, ManualClock } from "../os/host.js";
import { writeFixture } from "../os/record.js";
import { captureMachine, recordTimeline } from "../timeline/index.js";
import type { Command } from "./command.js";
import { parseFlags } from "./args.js";
import { parseDurationMs } from "./duration.js";

const USAGE = `usage: oomkit record --fixture DIR [--root DIR] [--cgroup PATH ...] [--pid PID ...] [--no-tasks]
       oomkit record --timeline DIR --every D --for D [--root DIR] [--cgroup PATH ...] [--pid PID ...] [--no-tasks]

Writes what oomkit reads from this machine (system memory and pressure, the cgroup tree's
files, and /proc/<pid> files) into a new folder, so a real situation becomes a test fixture
(read it back with --root DIR on any command), or, with --timeline, a timeline: the same taken
every D for D (docs/timelines.md), for oomkit check --root, oomkit/testing and replay.

  --fixture DIR   the folder to create (must be absent or empty)
  --timeline DIR  record a timeline into this folder (absent or empty) instead
  --every D       with --timeline: the interval between frames (500ms, 1s, 2m; at least 10ms)
  --for D         with --timeline: how long to record (frames at 0, D, 2D, ... up to it);
                  SIGINT stops early and keeps the frames taken
  --root DIR      record from a fixture instead of the live machine (to cut a smaller one)
  --cgroup PATH   record only these cgroups' subtrees (repeatable; default: the whole tree)
  --pid PID       record only these processes (repeatable; default: the processes of the
                  recorded cgroups, or every process in system-level mode)
  --no-tasks      record no /proc/<pid> files`;

export const recordCommand: Command = {
  name: "record",
  summary: "capture what oomkit reads from this machine as a test fixture or a timeline",
  usage: USAGE,
  async run(args, ctx) {
    const { values } = parseFlags("record", args, {
      fixture: { type: "string" },
      timeline: { type: "string" },
      every: { type: "string" },
      for: { type: "string" },
      root: { type: "string" },
      cgroup: { type: "string", multiple: true },
      pid: { type: "string", multiple: true },
      "no-tasks": { type: "boolean" },
    });
    if (values.fixture === undefined && values.timeline === undefined) throw new OomkitError("E_USAGE", "--fixture DIR is required, or --timeline DIR (see oomkit record --help)");
    if (values.fixture !== undefined && values.timeline !== undefined) throw new OomkitError("E_USAGE", "give one of --fixture DIR or --timeline DIR, not both");
    const pids = (values.pid ?? []).map((p) => {
      const n = Number(p);
      if (!Number.isInteger(n) || n <= 0) throw new OomkitError("E_USAGE", `--pid must be a process id, got "${p}"`);
      return n;
    });
    const opts = { cgroups: values.cgroup ?? [], pids, noTasks: values["no-tasks"] ?? false };
    const host = ctx.makeHost(values.root);
    if (values.timeline !== undefined) {
      if (values.every === undefined || values.for === undefined) throw new OomkitError("E_USAGE", "--timeline needs --every D and --for D");
      const everyMs = parseDurationMs("--every", values.every, 10);
      const forMs = parseDurationMs("--for", values.for, 0);
      const stop = new AbortController();
      const onInt = (): void => stop.abort();
      process.once("SIGINT", onInt);
      try {
        const w = await recordTimeline(host, {
          ...opts,
          dir: values.timeline,
          everyMs,
          forMs,
          clock: host.clock,
          signal: stop.signal,
          sleepUntil: (monoMs) => sleepUntil(host.clock, monoMs, stop.signal),
        });
        ctx.stdout(`recorded ${w.frames} frames (${w.bytes} bytes) into ${w.dir}\n`);
      } finally {
        process.off("SIGINT", onInt);
      }
      return 0;
    }
    const { rec, snapshot, cgroups } = captureMachine(host, opts);
    const comment = `recorded by oomkit record from ${rec.description}, kernel ${snapshot.system.kernelRelease ?? "?"}, ${new Date(snapshot.takenAtWallMs).toISOString()}`;
    const result = writeFixture(rec, values.fixture as string, comment);
    ctx.stdout(`recorded ${result.files} files (${cgroups} cgroups) into ${result.dir}\n`);
    return 0;
  },
};

/** Waits until `clock` reads `monoMs`, or the signal aborts. A fixture's manual clock is advanced instead: nothing there moves by itself. */
async function sleepUntil(clock: Clock, monoMs: number, signal: AbortSignal): Promise<void> {
  const ms = monoMs - clock.monotonicMs();
  if (ms <= 0) return;
  if (clock instanceof ManualClock) {
    clock.advance(ms);
    return;
  }
  await new Promise<void>((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
