/**
 * FrameHost: one instant of a timeline as a Host. It serves the frame's files from memory, so
 * nothing a timeline holds ever becomes a local path: a link is text, a ".." is refused by the
 * format, and no frame can reach outside itself. Folders are those that hold something (as in a
 * fixture). Writes are kept in `writes` and change nothing: a recording cannot be made to say
 * what the machine would have done after them.
 */
import { type Clock, type DirEntry, type FileStat, type Host, type HostFacts, NO_CAPABILITIES, hostIoError } from "../os/host.js";
import { DEFAULT_FIXTURE_FACTS, type FixtureWrite } from "../os/fixture-host.js";
import type { MachineState } from "./state.js";

const errno = (code: string): Error => Object.assign(new Error(code), { code });

/** Every folder that holds something in `s`, with its entries. */
function foldersOf(s: MachineState): Map<string, Map<string, boolean>> {
  const folders = new Map<string, Map<string, boolean>>([["/", new Map()]]);
  const add = (p: string, isDirectory: boolean): void => {
    const cut = p.lastIndexOf("/");
    const parent = cut === 0 ? "/" : p.slice(0, cut);
    let entries = folders.get(parent);
    if (entries === undefined) {
      entries = new Map();
      folders.set(parent, entries);
      add(parent, true);
    }
    entries.set(p.slice(cut + 1), isDirectory || (entries.get(p.slice(cut + 1)) ?? false));
  };
  for (const p of s.files.keys()) add(p, false);
  for (const p of s.links.keys()) add(p, false);
  for (const p of [...s.xattrs.keys(), ...s.owners.keys()]) {
    if (!folders.has(p)) folders.set(p, new Map());
    add(p, true);
  }
  return folders;
}

export interface FrameHostOptions {
  readonly clock: Clock;
  readonly facts?: Partial<HostFacts>;
  /** Shown in reports: which timeline and which frame. */
  readonly description: string;
}

export class FrameHost implements Host {
  readonly kind = "fixture" as const;
  readonly description: string;
  readonly clock: Clock;
  readonly capabilities = NO_CAPABILITIES;
  readonly state: MachineState;
  /** Writes asked of this frame (none is carried out). */
  readonly writes: FixtureWrite[] = [];
  readonly #folders: Map<string, Map<string, boolean>>;
  readonly #facts: HostFacts;
  readonly #mtimeMs: number;

  constructor(state: MachineState, options: FrameHostOptions) {
    this.state = state;
    this.clock = options.clock;
    this.description = options.description;
    this.#folders = foldersOf(state);
    this.#facts = { ...DEFAULT_FIXTURE_FACTS, ...options.facts };
    this.#mtimeMs = options.clock.wallMs();
  }

  facts(): HostFacts {
    return this.#facts;
  }

  readFile(p: string): string {
    const text = this.state.files.get(p);
    if (text !== undefined) return text;
    throw hostIoError("read", p, errno(this.#folders.has(p) ? "EISDIR" : "ENOENT"));
  }

  readDir(p: string): DirEntry[] {
    const entries = this.#folders.get(p);
    if (entries === undefined) throw hostIoError("list", p, errno(this.exists(p) ? "ENOTDIR" : "ENOENT"));
    return [...entries].map(([name, isDirectory]) => ({ name, isDirectory }));
  }

  exists(p: string): boolean {
    return this.state.files.has(p) || this.state.links.has(p) || this.#folders.has(p);
  }

  stat(p: string): FileStat {
    const isDirectory = this.#folders.has(p);
    const text = this.state.files.get(p);
    if (!isDirectory && text === undefined && !this.state.links.has(p)) throw hostIoError("stat", p, errno("ENOENT"));
    const sizeBytes = text !== undefined ? Buffer.byteLength(text) : (this.state.links.get(p)?.length ?? 0);
    return { sizeBytes, mtimeMs: this.#mtimeMs, isDirectory, isFile: text !== undefined, ownerUid: this.state.owners.get(p) ?? 0 };
  }

  readXattrs(p: string): ReadonlyMap<string, string> {
    if (!this.exists(p)) throw hostIoError("listxattr", p, errno("ENOENT"));
    return this.state.xattrs.get(p) ?? new Map();
  }

  readLink(p: string): string {
    const target = this.state.links.get(p);
    if (target !== undefined) return target;
    throw hostIoError("readlink", p, errno(this.exists(p) ? "EINVAL" : "ENOENT"));
  }

  writeFile(p: string, data: string): void {
    if (!this.state.files.has(p)) throw hostIoError("open for writing", p, errno("ENOENT"));
    this.writes.push({ path: p, data });
  }

  async writeFileAsync(p: string, data: string): Promise<void> {
    this.writeFile(p, data);
  }

  keepOpen(): boolean {
    return false;
  }

  closeKept(): void {}
}
