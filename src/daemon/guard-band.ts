/**
 * Guard bands: memory.high set a margin below memory.max, so a cgroup's tasks are throttled (and
 * oomkit acts on the `high` events) before the kernel's OOM killer would. What oomkit changed is
 * kept in a state file, written before each change, so the old values come back when oomkit
 * stops — and, after a crash, when it next starts.
 *
 * Writing memory.high below usage makes the writing thread reclaim synchronously: the writes go
 * through Host.writeFileAsync, off the event loop.
 */
import * as z from "zod";
import { onFirstUse } from "../on-first-use.js";
import type { Logger } from "../log.js";
import type { Host } from "../os/host.js";
import { parseMemoryValue } from "../os/parse/cgroup.js";
import { CgroupFile, type CgroupPath, cgroupDir } from "../os/paths.js";
import { StateStore, savedCgroupPath } from "./state-store.js";

/** memory.high as the kernel shows it: "max" or a number of bytes. */
const savedHigh = () => z.string().regex(/^(max|[0-9]{1,20})$/, "not a memory.high value");

const STATE = onFirstUse(() => z.strictObject({ version: z.literal(1), memoryHigh: z.record(savedCgroupPath(), savedHigh()) }));

export type Margin = { readonly bytes: number } | { readonly percent: number };

/** Where memory.high goes for a memory.max and margin; undefined when max is unlimited. */
export function guardHigh(maxBytes: number, margin: Margin, pageBytes = 4096): number | undefined {
  if (!Number.isFinite(maxBytes)) return undefined;
  const m = "bytes" in margin ? margin.bytes : Math.floor((maxBytes * margin.percent) / 100);
  const high = Math.max(0, maxBytes - m);
  return high - (high % pageBytes);
}

export class GuardBands {
  readonly #host: Host;
  readonly #mount: string;
  readonly #state: StateStore<ReturnType<typeof STATE>> | undefined;
  readonly #log: Logger;
  /** cgroup → the memory.high text it had before oomkit changed it. */
  readonly #saved = new Map<CgroupPath, string>();

  readonly #dryRun: boolean;

  constructor(opts: { host: Host; mount: string; stateFile: string | undefined; log: Logger; dryRun?: boolean }) {
    this.#dryRun = opts.dryRun ?? false;
    this.#host = opts.host;
    this.#mount = opts.mount;
    this.#state = opts.stateFile === undefined ? undefined : new StateStore({ file: opts.stateFile, schema: STATE, log: opts.log, readOnly: this.#dryRun });
    this.#log = opts.log;
  }

  #file(cg: CgroupPath, f: string): string {
    return `${cgroupDir(this.#mount, cg)}/${f}`;
  }

  #persist(): void {
    try {
      this.#state?.write({ version: 1, memoryHigh: Object.fromEntries(this.#saved) });
    } catch (err) {
      this.#log.warn(`guard band state ${this.#state?.file}: cannot be written (${(err as Error).message}); a crash now would leave memory.high lowered`);
    }
  }

  /**
   * After a crash: puts back what a previous run changed and did not restore. In a dry run it
   * says what it would put back and writes nothing.
   */
  async recover(): Promise<CgroupPath[]> {
    const saved = this.#state?.read()?.memoryHigh ?? {};
    const restored: CgroupPath[] = [];
    for (const [cg, value] of Object.entries(saved)) {
      if (this.#dryRun) {
        this.#log.info(`guard band (dry-run, not restored): a previous run left memory.high on ${cg}; it would be set back to ${value}`);
        continue;
      }
      try {
        await this.#host.writeFileAsync(this.#file(cg as CgroupPath, CgroupFile.memoryHigh), value);
        restored.push(cg as CgroupPath);
        this.#log.info(`restored memory.high ${value.trim()} on ${cg} (left by a previous run)`);
      } catch (err) {
        this.#log.debug(`ignoring guard band of ${cg}: ${(err as Error).message}`);
      }
    }
    if (this.#dryRun) return restored;
    this.#saved.clear();
    this.#persist();
    return restored;
  }

  /** Lowers memory.high to memory.max minus the margin (never raises it). */
  async apply(cg: CgroupPath, margin: Margin): Promise<void> {
    let max: number;
    let high: string;
    try {
      max = parseMemoryValue(this.#host.readFile(this.#file(cg, CgroupFile.memoryMax)));
      high = this.#host.readFile(this.#file(cg, CgroupFile.memoryHigh));
    } catch (err) {
      this.#log.debug(`ignoring guard band on ${cg}: ${(err as Error).message}`);
      return;
    }
    const target = guardHigh(max, margin);
    if (target === undefined) {
      this.#log.warn(`guard band on ${cg}: memory.max is "max", so there is nothing to stay below; not set`);
      return;
    }
    if (parseMemoryValue(high) <= target) return;
    if (this.#dryRun) {
      this.#log.info(`guard band (dry-run, not set): would set memory.high ${target} on ${cg} (memory.max ${max}; now ${high.trim()}); watching its "high" events as they are`);
      return;
    }
    if (!this.#saved.has(cg)) {
      this.#saved.set(cg, high.trim());
      this.#persist();
    }
    await this.#host.writeFileAsync(this.#file(cg, CgroupFile.memoryHigh), String(target));
    this.#log.info(`guard band: memory.high ${target} on ${cg} (memory.max ${max}; was ${high.trim()})`);
  }

  /**
   * Puts the band back when something else raised memory.high above it while oomkit runs —
   * systemd writes a unit's MemoryHigh= (`max` when unset) on every `systemctl daemon-reload`
   * and `set-property`, and an admin may write the file. The value found is what the cgroup
   * would have without oomkit now, so it becomes the one restored on stop. Returns whether it
   * wrote. A memory.high at or below the band is left alone, as is everything in a dry run and
   * under an unlimited memory.max.
   */
  async reassert(cg: CgroupPath, margin: Margin): Promise<boolean> {
    if (this.#dryRun) return false;
    let max: number;
    let high: string;
    try {
      max = parseMemoryValue(this.#host.readFile(this.#file(cg, CgroupFile.memoryMax)));
      high = this.#host.readFile(this.#file(cg, CgroupFile.memoryHigh)).trim();
    } catch (err) {
      this.#log.debug(`ignoring guard band on ${cg}: ${(err as Error).message}`);
      return false;
    }
    const target = guardHigh(max, margin);
    if (target === undefined || parseMemoryValue(high) <= target) return false;
    this.#saved.set(cg, high);
    this.#persist();
    await this.#host.writeFileAsync(this.#file(cg, CgroupFile.memoryHigh), String(target));
    this.#log.warn(`guard band: memory.high on ${cg} was raised to ${high} by someone else (systemd does on daemon-reload); set to ${target} again, ${high} is restored on stop`);
    return true;
  }

  async restore(cg: CgroupPath): Promise<void> {
    const old = this.#saved.get(cg);
    if (old === undefined) return;
    try {
      await this.#host.writeFileAsync(this.#file(cg, CgroupFile.memoryHigh), old);
    } catch (err) {
      this.#log.debug(`ignoring restore of ${cg}: ${(err as Error).message}`);
    }
    this.#saved.delete(cg);
    this.#persist();
  }

  async restoreAll(): Promise<void> {
    for (const cg of [...this.#saved.keys()]) await this.restore(cg);
  }

  get changed(): ReadonlyMap<CgroupPath, string> {
    return this.#saved;
  }
}
