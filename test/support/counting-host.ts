import type { DirEntry, FileStat, Host, HostCapabilities, HostFacts } from "../../src/os/host.js";

/** Wraps a Host and counts every read, to prove what a decision did and did not read. */
export class CountingHost implements Host {
  readonly kind: Host["kind"];
  readonly description: string;
  readonly clock: Host["clock"];
  readonly reads: string[] = [];
  constructor(private readonly inner: Host) {
    this.kind = inner.kind;
    this.description = inner.description;
    this.clock = inner.clock;
  }
  get capabilities(): HostCapabilities {
    return this.inner.capabilities;
  }
  facts(): HostFacts {
    return this.inner.facts();
  }
  readFile(p: string): string {
    this.reads.push(p);
    return this.inner.readFile(p);
  }
  readDir(p: string): DirEntry[] {
    this.reads.push(`${p}/`);
    return this.inner.readDir(p);
  }
  exists(p: string): boolean {
    return this.inner.exists(p);
  }
  stat(p: string): FileStat {
    this.reads.push(`stat:${p}`);
    return this.inner.stat(p);
  }
  readXattrs(p: string): ReadonlyMap<string, string> {
    this.reads.push(`xattr:${p}`);
    return this.inner.readXattrs(p);
  }
  writeFileAsync(p: string, d: string): Promise<void> {
    return this.inner.writeFileAsync(p, d);
  }
  writeFile(p: string, d: string): void {
    this.inner.writeFile(p, d);
  }
  keepOpen(p: string): boolean {
    return this.inner.keepOpen(p);
  }
  closeKept(): void {
    this.inner.closeKept();
  }
}
