/**
 * The timeline format, version 1 (docs/timelines.md): a machine's figures over time, as oomkit
 * read them. A folder:
 *
 *   DIR/oomkit-timeline.json   the manifest: format, version, facts, and each frame's time
 *   DIR/frames/000000.json.gz  frame 0: every file, link, mark and owner oomkit read
 *   DIR/frames/000001.json.gz  frame 1 on: only what changed since the frame before
 *
 * Frames are deltas because most of what oomkit reads (limits, controllers, idle cgroups,
 * sleeping processes) does not change from one second to the next; each is gzipped JSON because
 * procfs and cgroupfs text compresses about tenfold. Everything read back is hostile until these
 * schemas and limits pass: a timeline is a file someone handed you.
 */
import * as path from "node:path";
import * as z from "zod";
import { onFirstUse } from "../on-first-use.js";

export const TIMELINE_MANIFEST = "oomkit-timeline.json";
export const TIMELINE_FORMAT = "oomkit-timeline";
export const TIMELINE_VERSION = 1;
export const FRAMES_DIR = "frames";

/** Frame `index`'s file, relative to the timeline's folder. The name is derived, never read. */
export function frameFile(index: number): string {
  return `${FRAMES_DIR}/${String(index).padStart(6, "0")}.json.gz`;
}

/** What a reader accepts. Each bound says what it protects against. */
export interface TimelineLimits {
  /** The manifest: a few bytes per frame; anything near this is not a manifest. */
  readonly manifestBytes: number;
  /** Frames in one timeline (a day at one per second is 86 400). */
  readonly frames: number;
  /** One frame file as stored (gzipped). */
  readonly frameBytes: number;
  /** One frame once gunzipped: bounds a decompression bomb. */
  readonly frameJsonBytes: number;
  /** The machine's whole text at one instant, every file together (the memory a reader holds). */
  readonly stateBytes: number;
  /** Files, links, marks and owners at one instant. */
  readonly stateEntries: number;
}

export const DEFAULT_LIMITS: TimelineLimits = {
  manifestBytes: 4 * 1024 * 1024,
  frames: 100_000,
  frameBytes: 64 * 1024 * 1024,
  frameJsonBytes: 256 * 1024 * 1024,
  stateBytes: 256 * 1024 * 1024,
  stateEntries: 1_000_000,
};

/** The longest machine path or link text accepted (PATH_MAX). */
export const MAX_PATH_CHARS = 4096;

/**
 * A machine path a timeline may hold: absolute, already normal (no "..", ".", "//" or trailing
 * "/"), no NUL, and under /proc or /sys, the only trees oomkit reads. A reader never turns one
 * into a local file name, but a path outside those trees is not something oomkit recorded.
 */
export function machinePathProblem(p: string): string | undefined {
  if (p.length === 0 || p.length > MAX_PATH_CHARS) return `a machine path must have 1 to ${MAX_PATH_CHARS} characters`;
  if (p.includes("\0")) return "a machine path has no NUL";
  if (!p.startsWith("/")) return "a machine path is absolute";
  if (path.posix.normalize(p) !== p || p.endsWith("/")) return "a machine path is normal (no .., ., // or trailing /)";
  if (!p.startsWith("/proc/") && !p.startsWith("/sys/")) return "a timeline holds only /proc and /sys";
  return undefined;
}

/**
 * The first path in a raw (parsed, unchecked) frame that is not a machine path a timeline may
 * hold, with its place. Checked on the raw object, before the schema, so that no key (not even
 * "__proto__", which a schema's record may skip) passes unseen.
 */
export function framePathProblem(raw: unknown): string | undefined {
  if (typeof raw !== "object" || raw === null) return undefined;
  const r = raw as Record<string, unknown>;
  for (const field of ["files", "links", "xattrs", "owners"]) {
    const v = Object.hasOwn(r, field) ? r[field] : undefined;
    if (typeof v !== "object" || v === null) continue;
    for (const key of Object.keys(v)) {
      const problem = machinePathProblem(key);
      if (problem) return `${field}: ${JSON.stringify(key.slice(0, 80))}: ${problem}`;
    }
  }
  const removed = Object.hasOwn(r, "removed") ? r.removed : undefined;
  if (Array.isArray(removed)) {
    for (const p of removed) {
      const problem = typeof p === "string" ? machinePathProblem(p) : undefined;
      if (problem) return `removed: ${JSON.stringify(p.slice(0, 80))}: ${problem}`;
    }
  }
  return undefined;
}

const machinePath = () => z.string().refine((p) => machinePathProblem(p) === undefined, "not a machine path a timeline may hold");

const factsSchema = () =>
  z
    .object({
      pageSizeBytes: z.number().int().positive(),
      euid: z.number().int().nonnegative(),
      selfPid: z.number().int().positive(),
      pidfdOpen: z.boolean(),
      processMrelease: z.boolean(),
    })
    .partial()
    .strict();

export const manifestSchema = onFirstUse(() =>
  z
    .object({
      format: z.literal(TIMELINE_FORMAT),
      version: z.literal(TIMELINE_VERSION),
      comment: z.string().max(4096).optional(),
      /** When frame 0 was taken, as an ISO date. */
      startedAt: z.iso.datetime().optional(),
      /** The interval asked for; frames carry the times they were really taken. */
      everyMs: z.number().int().positive(),
      facts: factsSchema().optional(),
      /** Milliseconds since frame 0, one per frame, never going back; the first is 0. */
      frames: z.array(z.object({ atMs: z.number().int().nonnegative() }).strict()).min(1),
    })
    .strict(),
);

export type TimelineManifest = z.infer<ReturnType<typeof manifestSchema>>;

const texts = () => z.record(machinePath(), z.string());

/**
 * One frame: `files` and `links` written (new or changed) at this instant, `removed` the files and
 * links that were there before and are not now; `xattrs` and `owners`, when present, replace the
 * last ones whole (they are small and rarely change).
 */
export const frameSchema = onFirstUse(() =>
  z
    .object({
      files: texts().optional(),
      /** A link's text (a task's /proc/PID/exe): a machine path, read as text and never followed. */
      links: z.record(machinePath(), z.string().max(MAX_PATH_CHARS)).optional(),
      removed: z.array(machinePath()).optional(),
      /** Machine path → { attribute → value }. */
      xattrs: z.record(machinePath(), z.record(z.string().max(255), z.string().max(64 * 1024))).optional(),
      /** Machine path → owner uid, for folders not owned by root. */
      owners: z.record(machinePath(), z.number().int().nonnegative()).optional(),
    })
    .strict(),
);

export type TimelineFrameData = z.infer<ReturnType<typeof frameSchema>>;
