import type { DirEntry, FileStat } from "../../src/os/host.js";
import { HostDecorator } from "../../src/os/host-decorator.js";

/** Wraps a Host and counts every read, to prove what a decision did and did not read. */
export class CountingHost extends HostDecorator {
  readonly reads: string[] = [];
  override readFile(p: string): string {
    this.reads.push(p);
    return super.readFile(p);
  }
  override readDir(p: string): DirEntry[] {
    this.reads.push(`${p}/`);
    return super.readDir(p);
  }
  override stat(p: string): FileStat {
    this.reads.push(`stat:${p}`);
    return super.stat(p);
  }
  override readXattrs(p: string): ReadonlyMap<string, string> {
    this.reads.push(`xattr:${p}`);
    return super.readXattrs(p);
  }
  override readLink(p: string): string {
    this.reads.push(`link:${p}`);
    return super.readLink(p);
  }
}
