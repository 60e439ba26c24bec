/**
 * The kernel's own OOM kills, as episode records of kind "kernel": exactly one per kill.
 *
 * Three witnesses, fed by the daemon:
 * - the kernel log (/dev/kmsg, through KmsgReader or `onKmsgRecord`): the victim's pid, comm,
 *   uid, memory figures, and from the report's summary line the constraint, oom_memcg and
 *   task_memcg. Records are deduplicated by sequence number, across restarts too (the last
 *   sequence number is kept in a small state file, with the boot id it belongs to);
 * - `oom_kill` in each monitored cgroup's memory.events.local (a rise names the victim's cgroup);
 * - `oom_kill` in /proc/vmstat (every kill on the machine: the root cgroup, unmonitored cgroups
 *   and hybrid hosts have no memory.events of their own).
 *
 * A kill both the log and a counter saw yields one record (the log's, which knows more); a kill
 * only the counters saw yields one record with what they know, once `graceMs` passed without the
 * log telling (at once when the log is unreadable). A counter rise from the log's kill that came
 * first is absorbed by a "credit" the log's kill left behind.
 */
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import type { EpisodeRecord, KernelKill, KernelKillSource } from "../engine/episode.js";
import { kernelEpisode } from "./kernel-record.js";
import type { Snapshot } from "../engine/snapshot.js";
import { type Logger, silentLogger } from "../log.js";
import { type Clock, systemClock } from "../os/host.js";
import { type KmsgRecord, type OomKilledLine, type OomSummaryLine, parseKmsgText, parseOomLine } from "../os/parse/kmsg.js";
import { KmsgReader, type KmsgReaderOptions } from "./kmsg.js";

export const KMSG_STATE_SCHEMA = "oomkit.kmsg-state/1";
/** How long a counter-only kill waits for the log to name it: the log is read every 250 ms. */
export const DEFAULT_GRACE_MS = 2000;
/** How long a log-seen kill waits for its counter rise (the daemon polls counters far faster). */
export const DEFAULT_CREDIT_TTL_MS = 60_000;
/** A counter that jumps by more than this in one poll is not turned into that many records. */
const MAX_RECORDS_PER_RISE = 64;

export interface KernelCounters {
  /** /proc/vmstat oom_kill; undefined when unreadable. */
  readonly vmstatOomKill?: number;
  /** memory.events.local oom_kill of each monitored cgroup (path → count). */
  readonly oomKillLocal?: ReadonlyMap<string, number>;
  /** memory.events.local oom of each monitored cgroup: a rise says whose limit was hit. */
  readonly oomLocal?: ReadonlyMap<string, number>;
}

/** The counters the observer wants, from a snapshot (the daemon's monitored cgroups). */
export function countersFromSnapshot(snapshot: Snapshot, cgroups: Iterable<string>): KernelCounters {
  const oomKillLocal = new Map<string, number>();
  const oomLocal = new Map<string, number>();
  for (const p of cgroups) {
    const ev = snapshot.cgroup(p)?.eventsLocal;
    if (ev?.oomKill !== undefined) oomKillLocal.set(p, ev.oomKill);
    if (ev?.oom !== undefined) oomLocal.set(p, ev.oom);
  }
  const v = snapshot.vmstat?.oomKill;
  return { ...(v !== undefined ? { vmstatOomKill: v } : {}), oomKillLocal, oomLocal };
}

export interface KernelOomObserverOptions {
  readonly onRecord: (record: EpisodeRecord) => void;
  readonly clock?: Clock;
  /** Where the last sequence number is kept (e.g. /var/lib/oomkit/kmsg.state). */
  readonly statePath?: string;
  /** /proc/sys/kernel/random/boot_id: sequence numbers restart at each boot. */
  readonly bootId?: string;
  readonly graceMs?: number;
  readonly creditTtlMs?: number;
  /** Wall-clock ms of a kmsg timestamp (µs since boot), for backlog records; else receipt time. */
  readonly kmsgTimeToWallMs?: (tsUsec: number) => number | undefined;
  readonly logger?: Logger;
}

export interface KernelOomStats {
  records: number;
  kills: number;
  fromKmsg: number;
  countersOnly: number;
  matched: number;
  duplicates: number;
  historical: number;
  /** Records without a kmsg header (garbage, a cut record). */
  malformed: number;
  /** Lines that look like the OOM killer's but did not parse. */
  unparsedOomLines: number;
  overruns: number;
}

interface CounterKill {
  readonly cgroup: string | undefined;
  readonly scope: string | undefined;
  readonly seenBy: readonly KernelKillSource[];
  readonly atMs: number;
}

interface Credit {
  readonly cgroup: string | undefined;
  readonly under: string | undefined;
  readonly atMs: number;
}

export class KernelOomObserver {
  readonly #o: KernelOomObserverOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #graceMs: number;
  #lastSeq = -1;
  #hadState = false;
  #inBacklog = false;
  #kmsgAvailable = true;
  #summary: { line: OomSummaryLine; text: string } | undefined;
  #group: string | undefined;
  #prevVmstat: number | undefined;
  #prevKill = new Map<string, number>();
  #prevOom = new Map<string, number>();
  #cumVmstat = 0;
  #cumCgroup = 0;
  #machineMade = 0;
  #pending: CounterKill[] = [];
  #credits: Credit[] = [];
  #counterSeq = 0;
  #saving: Promise<void> | undefined;
  #saveAgain = false;
  #reader: KmsgReader | undefined;
  readonly stats: KernelOomStats = { records: 0, kills: 0, fromKmsg: 0, countersOnly: 0, matched: 0, duplicates: 0, historical: 0, malformed: 0, unparsedOomLines: 0, overruns: 0 };

  constructor(options: KernelOomObserverOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#log = options.logger ?? silentLogger;
    this.#graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
    this.#loadState();
  }

  /** The last kmsg sequence number handled (-1 before any). */
  get lastSeq(): number {
    return this.#lastSeq;
  }

  /** True once the kernel log's replayed buffer was read (startKmsg): later kills are live. */
  get kmsgCaughtUp(): boolean {
    return this.#reader?.caughtUp ?? false;
  }

  /** Counter-seen kills waiting for the log to name them. */
  get pendingCounterKills(): number {
    return this.#pending.length;
  }

  // --- the kernel log ----------------------------------------------------------------------

  /** Opens /dev/kmsg (or `path`) and feeds every record in. False when it is unreadable. */
  async startKmsg(options: Partial<Pick<KmsgReaderOptions, "path" | "intervalMs">> = {}): Promise<boolean> {
    this.#reader = new KmsgReader({
      ...options,
      logger: this.#log,
      onRecord: (text) => this.onKmsgRecord(text),
      onBacklogStart: () => this.beginBacklog(),
      onCaughtUp: () => this.markCaughtUp(),
      onOverrun: () => this.noteOverrun(),
    });
    const ok = await this.#reader.start();
    this.setKmsgAvailable(ok);
    return ok;
  }

  /** Stops the reader and writes the state file. */
  async stop(): Promise<void> {
    await this.#reader?.stop();
    this.#reader = undefined;
    await this.saveState();
  }

  /** Records that follow replay the buffer: without state from this boot they are history. */
  beginBacklog(): void {
    this.#inBacklog = true;
  }

  markCaughtUp(): void {
    this.#inBacklog = false;
    void this.saveState();
  }

  /** EPIPE: records were lost; the counters still see every kill. */
  noteOverrun(): void {
    this.stats.overruns += 1;
  }

  /** Whether the log can be read: when not, counter-seen kills are recorded without waiting. */
  setKmsgAvailable(available: boolean): void {
    this.#kmsgAvailable = available;
    if (!available) this.tick();
  }

  /** One or more /dev/kmsg records (one read, or recorded text). Never throws. */
  onKmsgRecord(text: string): void {
    const parsed = parseKmsgText(text);
    this.stats.malformed += parsed.skippedLines;
    for (const rec of parsed.records) this.#onRecord(rec);
  }

  #onRecord(rec: KmsgRecord): void {
    if (rec.seq <= this.#lastSeq) {
      this.stats.duplicates += 1;
      return;
    }
    this.#lastSeq = rec.seq;
    this.stats.records += 1;
    if (rec.facility !== 0) return; // only the kernel's own messages
    const msg = rec.message;
    // A summary cut into pieces (pr_cont interrupted) continues in a record starting with ",".
    if (msg.startsWith(",") && this.#summary && !this.#summary.line.complete) {
      const text = this.#summary.text + msg;
      const line = parseOomLine(text);
      if (line?.kind === "summary") this.#summary = { line, text };
      return;
    }
    const line = parseOomLine(msg);
    if (!line) {
      if (/Killed process|oom-kill:|invoked oom-killer/.test(msg)) this.stats.unparsedOomLines += 1;
      return;
    }
    switch (line.kind) {
      case "invoked":
        this.#summary = undefined;
        this.#group = undefined;
        return;
      case "summary":
        this.#summary = { line, text: msg };
        return;
      case "group":
        this.#group = line.cgroup;
        return;
      case "killed":
        this.#onKill(line, rec);
        return;
      case "reaped":
      case "exiting":
        return;
      default: {
        const never: never = line;
        return never;
      }
    }
  }

  #onKill(line: OomKilledLine, rec: KmsgRecord): void {
    const history = this.#inBacklog && !this.#hadState;
    if (history) {
      this.stats.historical += 1;
      return;
    }
    const s = this.#summary?.line;
    const same = s !== undefined && s.pid === line.pid;
    const oomMemcg = s?.oomMemcg;
    let cgroup = same ? s.taskMemcg : undefined;
    const seenBy: KernelKillSource[] = ["kmsg"];
    const matchAt = this.#inBacklog ? -1 : this.#findPending(cgroup, this.#group ?? oomMemcg);
    if (matchAt >= 0) {
      const p = this.#pending.splice(matchAt, 1)[0] as CounterKill;
      seenBy.push(...p.seenBy);
      cgroup ??= p.cgroup;
      this.stats.matched += 1;
    } else if (!this.#inBacklog) {
      this.#credits.push({ cgroup, under: this.#group ?? oomMemcg, atMs: this.#clock.monotonicMs() });
    }
    const kb = (n: number | undefined) => (n === undefined ? undefined : n * 1024);
    const kill: KernelKill = clean({
      seenBy,
      pid: line.pid,
      comm: line.comm,
      uid: line.uid ?? (same ? s.uid : undefined),
      cgroup,
      oomMemcg,
      constraint: s?.constraint ?? (line.memcg ? "CONSTRAINT_MEMCG" : undefined),
      message: line.message,
      oomGroup: this.#group,
      totalVmBytes: kb(line.totalVmKb),
      anonRssBytes: kb(line.anonRssKb),
      fileRssBytes: kb(line.fileRssKb),
      shmemRssBytes: kb(line.shmemRssKb),
      pgtablesBytes: kb(line.pgtablesKb),
      oomScoreAdj: line.oomScoreAdj,
      kmsgSeq: rec.seq,
      kmsgTsUsec: rec.tsUsec,
    });
    const wall = (this.#inBacklog ? this.#o.kmsgTimeToWallMs?.(rec.tsUsec) : undefined) ?? this.#clock.wallMs();
    this.stats.fromKmsg += 1;
    this.#emit(kill, oomMemcg ?? "/", wall, `k${rec.seq}`);
    void this.saveState();
  }

  // --- the counters ------------------------------------------------------------------------

  /** The latest counter values. The first call sets the baseline. Never throws. */
  onCounters(c: KernelCounters): void {
    const now = this.#clock.monotonicMs();
    const rises: string[] = [];
    const oomRises = new Set<string>();
    if (c.oomKillLocal) {
      for (const [p, v] of c.oomKillLocal) {
        const d = delta(this.#prevKill.get(p), v);
        for (let i = 0; i < Math.min(d, MAX_RECORDS_PER_RISE); i++) rises.push(p);
      }
      this.#prevKill = new Map(c.oomKillLocal);
    }
    if (c.oomLocal) {
      for (const [p, v] of c.oomLocal) if (delta(this.#prevOom.get(p), v) > 0) oomRises.add(p);
      this.#prevOom = new Map(c.oomLocal);
    }
    let machine = 0;
    if (c.vmstatOomKill !== undefined) {
      this.#cumVmstat += delta(this.#prevVmstat, c.vmstatOomKill);
      this.#cumCgroup += rises.length;
      this.#prevVmstat = c.vmstatOomKill;
      machine = Math.max(0, this.#cumVmstat - this.#cumCgroup - this.#machineMade);
      this.#machineMade += machine;
    }
    const vm: KernelKillSource[] = c.vmstatOomKill !== undefined ? ["vmstat"] : [];
    const kills: CounterKill[] = rises.map((p) => ({ cgroup: p, scope: scopeOf(p, oomRises), seenBy: ["memory.events.local", ...vm], atMs: now }));
    for (let i = 0; i < Math.min(machine, MAX_RECORDS_PER_RISE); i++) kills.push({ cgroup: undefined, scope: undefined, seenBy: ["vmstat"], atMs: now });
    for (const k of kills) {
      const at = this.#findCredit(k.cgroup);
      if (at >= 0) {
        this.#credits.splice(at, 1);
        this.stats.matched += 1;
      } else {
        this.#pending.push(k);
      }
    }
    this.tick();
  }

  /** Records counter-only kills whose grace ran out; forgets old credits. Call periodically. */
  tick(): void {
    const now = this.#clock.monotonicMs();
    const ttl = this.#o.creditTtlMs ?? DEFAULT_CREDIT_TTL_MS;
    this.#credits = this.#credits.filter((c) => now - c.atMs < ttl);
    const grace = this.#kmsgAvailable ? this.#graceMs : 0;
    const due = this.#pending.filter((p) => now - p.atMs >= grace);
    if (due.length === 0) return;
    this.#pending = this.#pending.filter((p) => now - p.atMs < grace);
    for (const p of due) {
      this.stats.countersOnly += 1;
      this.#emit(clean({ seenBy: p.seenBy, cgroup: p.cgroup, oomMemcg: p.scope }), p.scope ?? "/", this.#clock.wallMs(), `kc${this.#counterSeq++}`);
    }
  }

  /** A log kill with cgroup C claims a counter kill in C, else one in its OOM's subtree, else a machine one. */
  #findPending(cgroup: string | undefined, under: string | undefined): number {
    if (cgroup !== undefined) {
      const i = this.#pending.findIndex((p) => p.cgroup === cgroup);
      if (i >= 0) return i;
      // An unmonitored cgroup's kill shows only in /proc/vmstat.
      return this.#prevKill.has(cgroup) ? -1 : this.#pending.findIndex((p) => p.cgroup === undefined);
    }
    if (under !== undefined) {
      const i = this.#pending.findIndex((p) => p.cgroup !== undefined && within(under, p.cgroup));
      if (i >= 0) return i;
    }
    const i = this.#pending.findIndex((p) => p.cgroup === undefined);
    if (i >= 0 || cgroup !== undefined) return i;
    return this.#pending.length > 0 ? 0 : -1;
  }

  /** A counter kill in C is the log's kill in C, or one whose cgroup the log did not name. */
  #findCredit(cgroup: string | undefined): number {
    if (cgroup !== undefined) {
      const i = this.#credits.findIndex((c) => c.cgroup === cgroup);
      if (i >= 0) return i;
      return this.#credits.findIndex((c) => c.cgroup === undefined && (c.under === undefined || within(c.under, cgroup)));
    }
    // A machine-only rise: a kill in a cgroup whose counters the daemon does not read.
    return this.#credits.findIndex((c) => c.cgroup === undefined || !this.#prevKill.has(c.cgroup));
  }

  #emit(kill: KernelKill, scope: string, wallMs: number, idSuffix: string): void {
    this.stats.kills += 1;
    const record = kernelEpisode(kill, scope, wallMs, idSuffix);
    try {
      this.#o.onRecord(record);
    } catch (err) {
      this.#log.error(`kernel OOM record handler threw: ${String(err)}`);
    }
  }

  // --- state -------------------------------------------------------------------------------

  #loadState(): void {
    const file = this.#o.statePath;
    if (!file) return;
    let state: { schema?: unknown; bootId?: unknown; lastSeq?: unknown };
    try {
      state = JSON.parse(fs.readFileSync(file, "utf8")) as typeof state;
    } catch {
      return; // none yet, or unreadable: start afresh (the backlog is then history)
    }
    if (state.schema !== KMSG_STATE_SCHEMA || typeof state.lastSeq !== "number") return;
    if ((state.bootId ?? undefined) !== this.#o.bootId) return; // another boot: its numbers mean nothing now
    this.#lastSeq = state.lastSeq;
    this.#hadState = true;
  }

  /** Writes the state file (atomically; coalesced; errors are logged, never thrown). */
  saveState(): Promise<void> {
    const file = this.#o.statePath;
    if (!file) return Promise.resolve();
    if (this.#saving) {
      this.#saveAgain = true;
      return this.#saving;
    }
    this.#saving = (async () => {
      do {
        this.#saveAgain = false;
        const body = JSON.stringify({ schema: KMSG_STATE_SCHEMA, bootId: this.#o.bootId, lastSeq: this.#lastSeq });
        const tmp = `${file}.tmp`;
        try {
          await fsp.mkdir(path.dirname(file), { recursive: true });
          await fsp.writeFile(tmp, `${body}\n`);
          await fsp.rename(tmp, file);
        } catch (err) {
          this.#log.warn(`cannot write ${file}: ${String(err)}`);
        }
      } while (this.#saveAgain);
    })().finally(() => (this.#saving = undefined));
    return this.#saving;
  }
}

/** How much a counter rose; a fall means the cgroup was recreated (its count started at 0). */
function delta(prev: number | undefined, now: number): number {
  if (prev === undefined) return 0;
  return now >= prev ? now - prev : now;
}

function within(outer: string, inner: string): boolean {
  return outer === "/" || inner === outer || inner.startsWith(`${outer}/`);
}

/** The nearest cgroup at or above `p` whose own limit was hit in the same poll. */
function scopeOf(p: string, oomRises: ReadonlySet<string>): string | undefined {
  let best: string | undefined;
  for (const s of oomRises) if (within(s, p) && (best === undefined || s.length > best.length)) best = s;
  return best;
}

function clean<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
