/**
 * A Host that hands every call to another. The hosts that watch a host — metering the time
 * reads take (engine/metered-host.ts), recording what was read (./record.ts), counting reads in
 * tests — extend it and override only what they watch, so a new Host operation is passed on in
 * this one place.
 */
import type { Clock, DirCursor, DirEntry, FileStat, Host, HostCapabilities, HostFacts, HostWaits, ParsedCache } from "./host.js";

export class HostDecorator implements Host {
  readonly kind: Host["kind"];
  readonly description: string;
  readonly clock: Clock;
  protected readonly inner: Host;

  constructor(inner: Host) {
    this.inner = inner;
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
    return this.inner.readFile(p);
  }
  readDir(p: string): DirEntry[] {
    return this.inner.readDir(p);
  }
  /**
   * In parts from the Host below, where it lists in parts and this decorator does not watch
   * listings (override readDir): one that does sees every listing whole, through its readDir (a
   * fault injected, a read counted or metered), and offers no parts.
   */
  get openDir(): ((p: string) => DirCursor) | undefined {
    const inner = this.inner;
    const open = inner.openDir;
    if (open === undefined || this.readDir !== HostDecorator.prototype.readDir) return undefined;
    return (p: string) => open.call(inner, p);
  }
  exists(p: string): boolean {
    return this.inner.exists(p);
  }
  stat(p: string): FileStat {
    return this.inner.stat(p);
  }
  readXattrs(p: string): ReadonlyMap<string, string> {
    return this.inner.readXattrs(p);
  }
  readLink(p: string): string {
    return this.inner.readLink(p);
  }
  writeFile(p: string, data: string): void {
    this.inner.writeFile(p, data);
  }
  writeFileAsync(p: string, data: string): Promise<void> {
    return this.inner.writeFileAsync(p, data);
  }
  get workClock(): Clock | undefined {
    return this.inner.workClock;
  }
  get waits(): HostWaits | undefined {
    return this.inner.waits;
  }
  get parsedCache(): ParsedCache | undefined {
    return this.inner.parsedCache;
  }
  keepOpen(p: string): boolean {
    return this.inner.keepOpen(p);
  }
  closeKept(): void {
    this.inner.closeKept();
  }
}
