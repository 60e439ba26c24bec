/**
 * A Host that counts the time spent reading the machine. The snapshot reads through one, so the
 * engine can tell a policy's own work from the reading its questions cause (a policy's deadline
 * is for the former).
 */
import type { Clock, DirEntry, FileStat, Host, HostCapabilities, HostFacts } from "../os/host.js";

export class MeteredHost implements Host {
  readonly kind: Host["kind"];
  readonly description: string;
  readonly clock: Clock;
  /** Milliseconds spent in reads so far. */
  ioMs = 0;
  readonly #inner: Host;

  constructor(inner: Host) {
    this.#inner = inner;
    this.kind = inner.kind;
    this.description = inner.description;
    this.clock = inner.clock;
  }

  get capabilities(): HostCapabilities {
    return this.#inner.capabilities;
  }

  #timed<T>(fn: () => T): T {
    const t0 = performance.now();
    try {
      return fn();
    } finally {
      this.ioMs += performance.now() - t0;
    }
  }

  facts(): HostFacts {
    return this.#inner.facts();
  }
  readFile(p: string): string {
    return this.#timed(() => this.#inner.readFile(p));
  }
  readDir(p: string): DirEntry[] {
    return this.#timed(() => this.#inner.readDir(p));
  }
  exists(p: string): boolean {
    return this.#timed(() => this.#inner.exists(p));
  }
  stat(p: string): FileStat {
    return this.#timed(() => this.#inner.stat(p));
  }
  readXattrs(p: string): ReadonlyMap<string, string> {
    return this.#timed(() => this.#inner.readXattrs(p));
  }
  writeFile(p: string, d: string): void {
    this.#inner.writeFile(p, d);
  }
  writeFileAsync(p: string, d: string): Promise<void> {
    return this.#inner.writeFileAsync(p, d);
  }
  keepOpen(p: string): boolean {
    return this.#inner.keepOpen(p);
  }
  closeKept(): void {
    this.#inner.closeKept();
  }
}
