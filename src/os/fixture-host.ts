/**
 * FixtureHost: a folder laid out like a machine (DIR/proc/..., DIR/sys/fs/cgroup/...) standing in
 * for the live one in tests, `oomkit dump --root DIR` and replay.
 *
 * Git keeps no extended attributes and /proc has facts that are not files, so a fixture carries
 * a sidecar, DIR/oomkit-fixture.json (see FixtureManifest). Links are links, as on the machine:
 * a task's executable is DIR/proc/PID/exe, a symbolic link whose text is a machine path (read,
 * never followed; a task without one is a kernel thread or one whose executable could not be
 * read). Writes go to the fixture's files and are also kept in `writes`, so tests can assert what
 * the engine would have done.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as z from "zod";
import { OomkitError } from "../errors.js";
import { onFirstUse } from "../on-first-use.js";
import { folderCursor } from "./dir-cursor.js";
import { type Clock, type DirCursor, type DirEntry, type FileStat, type Host, type HostCapabilities, type HostFacts, ManualClock, NO_CAPABILITIES, hostIoError } from "./host.js";

export const FIXTURE_MANIFEST = "oomkit-fixture.json";
export const FIXTURE_MANIFEST_VERSION = 1;

/** The sidecar file of a fixture. Every field is optional; defaults suit an x86-64 root daemon. */
export interface FixtureManifest {
  readonly version: number;
  /** Free text: where and how the fixture was captured. */
  readonly comment?: string;
  readonly facts?: Partial<HostFacts>;
  /** Machine path → { attribute name → value }, e.g. { "/sys/fs/cgroup/a": { "user.oomd_omit": "1" } }. */
  readonly xattrs?: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /**
   * Machine path → owner uid, for folders not owned by root (a delegated cgroup). Everything else
   * in a fixture is owned by root, whoever checked the files out.
   */
  readonly owners?: Readonly<Record<string, number>>;
}

const manifestSchema = onFirstUse(() =>
  z
    .object({
      version: z.literal(FIXTURE_MANIFEST_VERSION),
      comment: z.string().optional(),
      facts: z
        .object({
          pageSizeBytes: z.number().int().positive(),
          euid: z.number().int(),
          selfPid: z.number().int().positive(),
          pidfdOpen: z.boolean().optional(),
          processMrelease: z.boolean().optional(),
        })
        .partial()
        .optional(),
      xattrs: z.record(z.string(), z.record(z.string(), z.string())).optional(),
      owners: z.record(z.string(), z.number().int().nonnegative()).optional(),
    })
    .strict(),
);

/** Facts a fixture (or a timeline) does not state: an x86-64 root daemon. */
export const DEFAULT_FIXTURE_FACTS: HostFacts = {
  pageSizeBytes: 4096,
  euid: 0,
  selfPid: 999999,
  pidfdOpen: true,
  processMrelease: true,
};

export interface FixtureWrite {
  readonly path: string;
  readonly data: string;
}

export class FixtureHost implements Host {
  readonly kind = "fixture" as const;
  readonly description: string;
  readonly clock: Clock;
  /** None: a fixture's pids are text and its files are plain files. */
  readonly capabilities: HostCapabilities = NO_CAPABILITIES;
  readonly root: string;
  readonly writes: FixtureWrite[] = [];
  readonly #manifest: FixtureManifest;

  constructor(root: string, options: { clock?: Clock } = {}) {
    this.root = path.resolve(root);
    let stat: fs.Stats;
    try {
      stat = fs.statSync(this.root);
    } catch (err) {
      throw new OomkitError("E_NO_SUCH_PATH", `fixture folder ${root} does not exist`, { cause: err });
    }
    if (!stat.isDirectory()) throw new OomkitError("E_NO_SUCH_PATH", `fixture root ${root} is not a folder`);
    this.description = `fixture ${this.root}`;
    this.clock = options.clock ?? new ManualClock();
    this.#manifest = readManifest(this.root);
  }

  get manifest(): FixtureManifest {
    return this.#manifest;
  }

  /** Where a machine path lives inside the fixture; refuses paths that would escape it. */
  local(machinePath: string): string {
    if (!machinePath.startsWith("/")) {
      throw new OomkitError("E_INTERNAL", `machine paths are absolute; got ${JSON.stringify(machinePath)}`);
    }
    // Normalising an absolute path resolves every ".." at or below "/", so it stays inside root.
    return path.join(this.root, path.posix.normalize(machinePath));
  }

  readFile(machinePath: string): string {
    const local = this.local(machinePath);
    try {
      return fs.readFileSync(local, "utf8");
    } catch (err) {
      throw hostIoError("read", machinePath, err);
    }
  }

  readDir(machinePath: string): DirEntry[] {
    const local = this.local(machinePath);
    try {
      return fs
        .readdirSync(local, { withFileTypes: true })
        .map((d) => ({ name: d.name, isDirectory: d.isDirectory() }));
    } catch (err) {
      throw hostIoError("list", machinePath, err);
    }
  }

  openDir(machinePath: string): DirCursor {
    return folderCursor(this.local(machinePath), machinePath);
  }

  exists(machinePath: string): boolean {
    return fs.existsSync(this.local(machinePath));
  }

  stat(machinePath: string): FileStat {
    const local = this.local(machinePath);
    try {
      const s = fs.lstatSync(local);
      const ownerUid = this.#manifest.owners?.[path.posix.normalize(machinePath)] ?? 0;
      return { sizeBytes: s.size, mtimeMs: s.mtimeMs, isDirectory: s.isDirectory(), isFile: s.isFile(), ownerUid };
    } catch (err) {
      throw hostIoError("stat", machinePath, err);
    }
  }

  readXattrs(machinePath: string): ReadonlyMap<string, string> {
    if (!this.exists(machinePath)) throw hostIoError("listxattr", machinePath, Object.assign(new Error("ENOENT"), { code: "ENOENT" }));
    const entry = this.#manifest.xattrs?.[path.posix.normalize(machinePath)];
    return new Map(Object.entries(entry ?? {}));
  }

  readLink(machinePath: string): string {
    try {
      return fs.readlinkSync(this.local(machinePath));
    } catch (err) {
      throw hostIoError("readlink", machinePath, err);
    }
  }

  writeFile(machinePath: string, data: string): void {
    const local = this.local(machinePath);
    if (!fs.existsSync(local)) {
      throw hostIoError("open for writing", machinePath, Object.assign(new Error("ENOENT"), { code: "ENOENT" }));
    }
    fs.writeFileSync(local, data);
    this.writes.push({ path: machinePath, data });
  }

  async writeFileAsync(machinePath: string, data: string): Promise<void> {
    this.writeFile(machinePath, data);
  }

  /** A fixture reads its files afresh each time. */
  keepOpen(): boolean {
    return false;
  }

  closeKept(): void {}

  facts(): HostFacts {
    return { ...DEFAULT_FIXTURE_FACTS, ...this.#manifest.facts };
  }
}

function readManifest(root: string): FixtureManifest {
  const file = path.join(root, FIXTURE_MANIFEST);
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    return { version: FIXTURE_MANIFEST_VERSION };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new OomkitError("E_CONFIG", `${file} is not valid JSON`, { cause: err });
  }
  const result = manifestSchema().safeParse(parsed);
  if (!result.success) {
    const first = result.error.issues[0];
    const where = first && first.path.length > 0 ? ` at ${first.path.join(".")}` : "";
    throw new OomkitError("E_CONFIG", `${file}${where}: ${first?.message ?? "invalid"}`, { cause: result.error });
  }
  return result.data;
}
