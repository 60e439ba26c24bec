/**
 * Reading a timeline, as hostile input: the manifest and each frame are regular files inside the
 * timeline's own folder (opened with O_NOFOLLOW, the frames folder not a link), within size
 * limits before and after gunzip, and pass the format's schemas; frame times never go back and a
 * frame removes only what was there. Frames are read one at a time, when they are reached.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { OomkitError, errnoCode } from "../errors.js";
import { zlib } from "../os/lazy-builtins.js";
import { type Clock, ManualClock } from "../os/host.js";
import { DEFAULT_LIMITS, FRAMES_DIR, TIMELINE_FORMAT, TIMELINE_MANIFEST, TIMELINE_VERSION, type TimelineFrameData, type TimelineLimits, type TimelineManifest, frameFile, framePathProblem, frameSchema, manifestSchema } from "./format.js";
import { FrameHost } from "./frame-host.js";
import { EMPTY_STATE, type MachineState, applyFrame } from "./state.js";

/** Whether DIR is a timeline (it holds a manifest), as opposed to a fixture tree. */
export function isTimeline(dir: string): boolean {
  try {
    fs.lstatSync(path.join(dir, TIMELINE_MANIFEST));
    return true;
  } catch {
    return false;
  }
}

const bad = (message: string, cause?: unknown): OomkitError => new OomkitError("E_CONFIG", message, cause === undefined ? undefined : { cause });

/** A regular file's bytes, not through a link, at most `max` of them. */
function readRegular(file: string, max: number, what: string): Buffer {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (err) {
    const code = errnoCode(err);
    if (code === "ELOOP") throw bad(`${what} ${file} is a symbolic link: a timeline's files are its own`, err);
    if (code === "ENOENT") throw new OomkitError("E_NO_SUCH_PATH", `${what} ${file} does not exist`, { cause: err });
    throw new OomkitError("E_HOST_IO", `cannot open ${what} ${file}: ${code ?? String(err)}`, { cause: err });
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw bad(`${what} ${file} is not a regular file`);
    if (st.size > max) throw bad(`${what} ${file} has ${st.size} bytes, over the limit of ${max}`);
    const buf = Buffer.alloc(st.size);
    let got = 0;
    while (got < st.size) {
      const n = fs.readSync(fd, buf, got, st.size - got, got);
      if (n === 0) break;
      got += n;
    }
    return buf.subarray(0, got);
  } finally {
    fs.closeSync(fd);
  }
}

function firstIssue(file: string, error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] }): string {
  const first = error.issues[0];
  const where = first && first.path.length > 0 ? ` at ${first.path.map(String).join(".")}` : "";
  return `${file}${where}: ${first?.message ?? "invalid"}`;
}

function parseManifest(file: string, buf: Buffer, limits: TimelineLimits): TimelineManifest {
  let raw: unknown;
  try {
    raw = JSON.parse(buf.toString("utf8"));
  } catch (err) {
    throw bad(`${file} is not valid JSON`, err);
  }
  const head = raw as { format?: unknown; version?: unknown } | null;
  if (head?.format === TIMELINE_FORMAT && typeof head.version === "number" && head.version > TIMELINE_VERSION) {
    throw bad(`${file} is timeline format version ${head.version}; this oomkit reads version ${TIMELINE_VERSION}: use a newer oomkit`);
  }
  const r = manifestSchema().safeParse(raw);
  if (!r.success) throw bad(firstIssue(file, r.error), r.error);
  const m = r.data;
  if (m.frames.length > limits.frames) throw bad(`${file} lists ${m.frames.length} frames, over the limit of ${limits.frames}`);
  if (m.frames[0]?.atMs !== 0) throw bad(`${file}: the first frame is at 0 ms`);
  m.frames.forEach((f, i) => {
    const prev = m.frames[i - 1];
    if (prev !== undefined && f.atMs < prev.atMs) throw bad(`${file}: frame ${i} at ${f.atMs} ms is before frame ${i - 1} at ${prev.atMs} ms`);
  });
  return m;
}

/** One instant of a timeline: its place, its time, and the machine as a Host. */
export interface TimelineFrame {
  readonly index: number;
  /** Milliseconds since frame 0. */
  readonly atMs: number;
  readonly host: FrameHost;
}

export interface OpenTimelineOptions {
  /** Tighter (or looser) bounds than DEFAULT_LIMITS. */
  readonly limits?: Partial<TimelineLimits>;
}

/** A timeline on disk. Open it (the manifest is read and checked), then walk its frames. */
export class Timeline {
  readonly dir: string;
  readonly manifest: TimelineManifest;
  readonly limits: TimelineLimits;

  private constructor(dir: string, manifest: TimelineManifest, limits: TimelineLimits) {
    this.dir = dir;
    this.manifest = manifest;
    this.limits = limits;
  }

  /** Reads and checks DIR's manifest; frames are read as they are reached. */
  static open(dir: string, options: OpenTimelineOptions = {}): Timeline {
    const root = path.resolve(dir);
    const limits = { ...DEFAULT_LIMITS, ...options.limits };
    const file = path.join(root, TIMELINE_MANIFEST);
    const manifest = parseManifest(file, readRegular(file, limits.manifestBytes, "the timeline manifest"), limits);
    const frames = path.join(root, FRAMES_DIR);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(frames);
    } catch (err) {
      throw new OomkitError("E_NO_SUCH_PATH", `${frames} does not exist: the timeline has a manifest but no frames`, { cause: err });
    }
    if (!st.isDirectory()) throw bad(`${frames} is ${st.isSymbolicLink() ? "a symbolic link" : "not a folder"}: a timeline's files are its own`);
    return new Timeline(root, manifest, limits);
  }

  /** How many frames. */
  get length(): number {
    return this.manifest.frames.length;
  }

  /** Each frame's time, milliseconds since frame 0. */
  get times(): readonly number[] {
    return this.manifest.frames.map((f) => f.atMs);
  }

  /** Frame `index`'s delta, read and checked (not applied). */
  readFrameData(index: number): TimelineFrameData {
    const file = path.join(this.dir, frameFile(index));
    const gz = readRegular(file, this.limits.frameBytes, `frame ${index}`);
    let json: Buffer;
    try {
      json = zlib().gunzipSync(gz, { maxOutputLength: this.limits.frameJsonBytes });
    } catch (err) {
      const tooBig = (err as { code?: string }).code === "ERR_BUFFER_TOO_LARGE";
      throw bad(tooBig ? `${file} unpacks to over ${this.limits.frameJsonBytes} bytes, the limit` : `${file} is not gzip data: ${(err as Error).message}`, err);
    }
    let raw: unknown;
    try {
      raw = JSON.parse(json.toString("utf8"));
    } catch (err) {
      throw bad(`${file} is not valid JSON once unpacked`, err);
    }
    const pathProblem = framePathProblem(raw);
    if (pathProblem) throw bad(`${file}: ${pathProblem}`);
    const r = frameSchema().safeParse(raw);
    if (!r.success) throw bad(firstIssue(file, r.error), r.error);
    if (index === 0 && r.data.removed !== undefined && r.data.removed.length > 0) throw bad(`${file}: frame 0 removes nothing`);
    return r.data;
  }

  /**
   * The frames in order, each a Host over `clock`: the clock is advanced to the frame's time
   * before it is yielded (a ManualClock starting at 0 unless given; the wall clock starts at
   * the recording's start when the manifest says it).
   */
  *frames(clock: ManualClock = this.newClock()): Generator<TimelineFrame, void, undefined> {
    let state: MachineState = EMPTY_STATE;
    const start = clock.monotonicMs();
    for (let i = 0; i < this.length; i++) {
      const atMs = this.manifest.frames[i]?.atMs as number;
      state = applyFrame(state, this.readFrameData(i), this.limits, path.join(this.dir, frameFile(i)));
      clock.advance(start + atMs - clock.monotonicMs());
      yield { index: i, atMs, host: this.hostOf(state, clock, i) };
    }
  }

  /** A clock for walking this timeline: monotonic 0 at frame 0, wall time the recording's. */
  newClock(): ManualClock {
    const wall = this.manifest.startedAt !== undefined ? Date.parse(this.manifest.startedAt) : undefined;
    return wall !== undefined ? new ManualClock(0, wall) : new ManualClock();
  }

  hostOf(state: MachineState, clock: Clock, index: number): FrameHost {
    const atMs = this.manifest.frames[index]?.atMs ?? 0;
    return new FrameHost(state, {
      clock,
      ...(this.manifest.facts ? { facts: this.manifest.facts } : {}),
      description: `timeline ${this.dir}, frame ${index} of ${this.length} (${(atMs / 1000).toFixed(1)} s)`,
    });
  }
}
