/**
 * A decision made ahead that an event can stop in the middle. A policy's call is synchronous: a
 * trigger that fires while one runs over 10,000 tasks waited for all of it (up to the call's cap,
 * a second), though a plan made before stood ready for it. Policies read the machine all the
 * time, through the Host; this Host asks, before each read, whether an event is waiting for the
 * thread (HostWaits.eventPending: the poller sees a ready fd before its completion can run). Once
 * one is, every read throws E_PREEMPTED — the policy cannot read on past it, even by catching —
 * and the caller drops the run and lets the event loop turn. Reads the warm model answers from
 * memory (ParsedCache hits) ask too: on a warm model they are most of a decision's reads.
 *
 * Only work whose result can be dropped runs on this Host: a fresh decision at a trigger never does.
 */
import { OomkitError } from "../errors.js";
import { HostDecorator } from "../os/host-decorator.js";
import type { DirEntry, FileStat, Host, ParsedCache } from "../os/host.js";

export class PreemptibleHost extends HostDecorator implements ParsedCache {
  readonly #pending: () => boolean;
  #stopped: OomkitError | undefined;
  #checks = 0;

  /** `pending`: true when an event waits for the thread (asked before every read until it is). */
  constructor(inner: Host, pending: () => boolean) {
    super(inner);
    this.#pending = pending;
  }

  /** True once a read found an event waiting: the run's result is to be dropped. */
  get stopped(): boolean {
    return this.#stopped !== undefined;
  }

  /** How many reads asked (the benchmark's and tests' figure). */
  get checks(): number {
    return this.#checks;
  }

  #check(): void {
    this.#checks++;
    if (this.#stopped === undefined && !this.#pending()) return;
    // One error, thrown again by every later read: code that catches each read's error and goes
    // on (a loop over thousands of tasks) would otherwise pay for a new error and its stack trace
    // each time, and the thread would come back tens of milliseconds later.
    this.#stopped ??= new OomkitError("E_PREEMPTED", "an event is waiting for the daemon's thread: the decision made ahead stops here");
    throw this.#stopped;
  }

  override readFile(p: string): string {
    this.#check();
    return super.readFile(p);
  }
  override readDir(p: string): DirEntry[] {
    this.#check();
    return super.readDir(p);
  }
  override exists(p: string): boolean {
    this.#check();
    return super.exists(p);
  }
  override stat(p: string): FileStat {
    this.#check();
    return super.stat(p);
  }
  override readXattrs(p: string): ReadonlyMap<string, string> {
    this.#check();
    return super.readXattrs(p);
  }
  override readLink(p: string): string {
    this.#check();
    return super.readLink(p);
  }

  /** This Host answers parsed reads itself (asking first) when the Host below keeps them. */
  override get parsedCache(): ParsedCache | undefined {
    return this.inner.parsedCache === undefined ? undefined : this;
  }

  parsed<T>(path: string, parse: (text: string) => T, compute: () => T | undefined): T | undefined {
    this.#check();
    const inner = this.inner.parsedCache;
    return inner === undefined ? compute() : inner.parsed(path, parse, compute);
  }
}
