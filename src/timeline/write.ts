/**
 * Writing a timeline: one frame at a time, each the delta from the frame before, gzipped. The
 * manifest is rewritten (to a temporary name, then renamed) after every frame, so a recording
 * that is stopped half-way is still a valid timeline of the frames it took.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { OomkitError } from "../errors.js";
import { zlib } from "../os/lazy-builtins.js";
import type { HostFacts } from "../os/host.js";
import type { RecordingHost } from "../os/record.js";
import { FRAMES_DIR, TIMELINE_FORMAT, TIMELINE_MANIFEST, TIMELINE_VERSION, type TimelineManifest, frameFile, machinePathProblem } from "./format.js";
import { EMPTY_STATE, type MachineState, diffStates } from "./state.js";
import { isoTime } from "../iso-time.js";

/** What a RecordingHost read, as a machine state. */
export function stateOfRecording(rec: RecordingHost): MachineState {
  for (const p of [...rec.files.keys(), ...rec.links.keys()]) {
    const problem = machinePathProblem(p);
    if (problem) throw new OomkitError("E_INTERNAL", `recorded ${p}: ${problem}`);
  }
  return { files: new Map(rec.files), links: new Map(rec.links), xattrs: new Map(rec.xattrs), owners: new Map(rec.owners) };
}

export interface TimelineWriterOptions {
  readonly everyMs: number;
  readonly comment: string;
  /** When frame 0 was taken (wall clock, ms since the epoch). */
  readonly startedAtWallMs: number;
  readonly facts: Partial<HostFacts>;
}

export interface FrameWritten {
  readonly index: number;
  /** Bytes of the frame as stored. */
  readonly bytes: number;
  /** Files and links the frame wrote or removed (all of them for frame 0). */
  readonly changed: number;
}

export class TimelineWriter {
  readonly dir: string;
  readonly #options: TimelineWriterOptions;
  readonly #times: number[] = [];
  #last: MachineState = EMPTY_STATE;
  #bytes = 0;

  /** Creates DIR (absent or empty: a recording never mixes with an older one). */
  constructor(dir: string, options: TimelineWriterOptions) {
    const root = path.resolve(dir);
    if (fs.existsSync(root)) {
      if (!fs.statSync(root).isDirectory()) throw new OomkitError("E_NO_SUCH_PATH", `${dir} exists and is not a folder`);
      if (fs.readdirSync(root).length > 0) throw new OomkitError("E_USAGE", `${dir} is not empty: record into a new folder`);
    }
    fs.mkdirSync(path.join(root, FRAMES_DIR), { recursive: true });
    this.dir = root;
    this.#options = options;
  }

  /** Frames written so far. */
  get frames(): number {
    return this.#times.length;
  }

  /** Bytes of frames written so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Adds the machine as it was `atMs` after frame 0 (0 for the first frame; never going back). */
  add(atMs: number, state: MachineState): FrameWritten {
    const index = this.#times.length;
    const last = this.#times[index - 1];
    if (index === 0 ? atMs !== 0 : last !== undefined && atMs < last) throw new OomkitError("E_INTERNAL", `frame ${index} at ${atMs} ms goes back (the one before is at ${last ?? "?"} ms)`);
    const delta = diffStates(this.#last, state);
    const gz = zlib().gzipSync(JSON.stringify(delta), { level: 9 });
    fs.writeFileSync(path.join(this.dir, frameFile(index)), gz, { flag: "wx" });
    this.#times.push(Math.round(atMs));
    this.#last = state;
    this.#bytes += gz.length;
    this.#writeManifest();
    const changed = Object.keys(delta.files ?? {}).length + Object.keys(delta.links ?? {}).length + (delta.removed?.length ?? 0);
    return { index, bytes: gz.length, changed };
  }

  #writeManifest(): void {
    const o = this.#options;
    const manifest: TimelineManifest = {
      format: TIMELINE_FORMAT,
      version: TIMELINE_VERSION,
      comment: o.comment,
      startedAt: isoTime(o.startedAtWallMs),
      everyMs: o.everyMs,
      facts: o.facts,
      frames: this.#times.map((atMs) => ({ atMs })),
    };
    const tmp = path.join(this.dir, `.${TIMELINE_MANIFEST}.tmp`);
    fs.writeFileSync(tmp, `${JSON.stringify(manifest, null, 1)}\n`);
    fs.renameSync(tmp, path.join(this.dir, TIMELINE_MANIFEST));
  }
}
