/**
 * Capturing a live machine as a fixture. RecordingHost wraps any Host and keeps what was read;
 * `recordFixture` walks a snapshot over it (so the fixture holds exactly the files oomkit reads,
 * no more) and writes them under DIR with the manifest that FixtureHost reads back.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { OomkitError } from "../errors.js";
import { type FileStat, type HostCapabilities, NO_CAPABILITIES } from "./host.js";
import { HostDecorator } from "./host-decorator.js";
import { FIXTURE_MANIFEST, FIXTURE_MANIFEST_VERSION, type FixtureManifest } from "./fixture-host.js";

/** Wraps a Host and keeps every file, link, xattr set and non-root owner it read, for writeFixture. */
export class RecordingHost extends HostDecorator {
  readonly files = new Map<string, string>();
  /** Symbolic links read (a task's /proc/PID/exe) → their text. */
  readonly links = new Map<string, string>();
  readonly xattrs = new Map<string, ReadonlyMap<string, string>>();
  /** Folders seen owned by someone other than root (they decide whose user.* marks count). */
  readonly owners = new Map<string, number>();

  override readFile(p: string): string {
    const text = super.readFile(p);
    this.files.set(p, text);
    return text;
  }
  override stat(p: string): FileStat {
    const s = super.stat(p);
    if (s.isDirectory && s.ownerUid !== 0) this.owners.set(p, s.ownerUid);
    return s;
  }
  override readLink(p: string): string {
    const target = super.readLink(p);
    this.links.set(p, target);
    return target;
  }
  override readXattrs(p: string): ReadonlyMap<string, string> {
    const x = super.readXattrs(p);
    if (x.size > 0) this.xattrs.set(p, x);
    return x;
  }
  override async writeFileAsync(p: string): Promise<void> {
    this.writeFile(p);
  }
  override writeFile(p: string): void {
    throw new OomkitError("E_INTERNAL", `recording is read-only; refused a write to ${p}`);
  }
  /** None: a recording only reads, whatever the Host it wraps could do. */
  override get capabilities(): HostCapabilities {
    return NO_CAPABILITIES;
  }
  /** Every read goes through to be recorded: nothing is kept open. */
  override keepOpen(): boolean {
    return false;
  }
  override closeKept(): void {}
}

export interface WriteFixtureResult {
  readonly files: number;
  readonly dir: string;
}

/**
 * Writes what a RecordingHost saw into DIR. DIR must be absent or empty: a capture never
 * overwrites or mixes with an older one.
 */
export function writeFixture(rec: RecordingHost, dir: string, comment: string): WriteFixtureResult {
  const root = path.resolve(dir);
  if (fs.existsSync(root)) {
    if (!fs.statSync(root).isDirectory()) throw new OomkitError("E_NO_SUCH_PATH", `${dir} exists and is not a folder`);
    if (fs.readdirSync(root).length > 0) throw new OomkitError("E_USAGE", `${dir} is not empty: record into a new folder`);
  }
  fs.mkdirSync(root, { recursive: true });
  const localOf = (machinePath: string): string => {
    const local = path.join(root, path.posix.normalize(machinePath));
    if (!local.startsWith(root + path.sep)) throw new OomkitError("E_INTERNAL", `refusing to write outside the fixture: ${machinePath}`);
    fs.mkdirSync(path.dirname(local), { recursive: true });
    return local;
  };
  for (const [machinePath, text] of rec.files) fs.writeFileSync(localOf(machinePath), text);
  // A link keeps its text, a machine path: FixtureHost reads it and never follows it.
  for (const [machinePath, target] of rec.links) fs.symlinkSync(target, localOf(machinePath));
  // Folders whose xattrs were seen must exist even when none of their files was read.
  for (const p of [...rec.xattrs.keys(), ...rec.owners.keys()]) fs.mkdirSync(path.join(root, path.posix.normalize(p)), { recursive: true });
  const manifest: FixtureManifest = {
    version: FIXTURE_MANIFEST_VERSION,
    comment,
    facts: rec.facts(),
    xattrs: Object.fromEntries([...rec.xattrs].map(([p, x]) => [p, Object.fromEntries(x)])),
    ...(rec.owners.size > 0 ? { owners: Object.fromEntries(rec.owners) } : {}),
  };
  fs.writeFileSync(path.join(root, FIXTURE_MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
  return { files: rec.files.size, dir: root };
}
