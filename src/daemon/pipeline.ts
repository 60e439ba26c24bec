/**
 * The one report pipeline: every episode — oomkit's and the kernel's own OOM kills — goes to
 * the human line on stderr, the durable event log, the live stream (EventBus, served on the
 * control socket) and the metrics; a policy hook that failed outside an episode goes to the log
 * and the metrics' failure counter (inside an episode, the record's chain carries it). Sinks never hold up a kill: records reach them after the
 * episode's actions were issued, the log writes asynchronously and drops (counted) rather than
 * wait, and a slow stream reader loses records rather than slow anyone.
 */
import type { Socket } from "node:net";
import type { ReportSettings } from "../config/index.js";
import type { EpisodeRecord } from "../engine/episode.js";
import { type HookCall, describeHookCall } from "../engine/hooks.js";
import type { Snapshot } from "../engine/snapshot.js";
import type { Logger } from "../log.js";
import type { Host } from "../os/host.js";
import { PROC_BOOT_ID } from "../os/paths.js";
import { EventBus, streamEvents } from "../report/event-bus.js";
import { EventLog } from "../report/event-log.js";
import { summarize } from "../report/human.js";
import { KernelOomObserver, countersFromSnapshot } from "../report/kernel-oom.js";
import { Metrics, type MetricsServer, serveMetrics } from "../report/metrics.js";
import * as z from "zod";
import { onFirstUse } from "../on-first-use.js";
import { type ControlHandler, controlOp } from "./control.js";

export interface PipelineOptions {
  readonly settings: ReportSettings;
  readonly log: Logger;
  /** Where the human line goes (stderr, or the journal with the record's fields). */
  readonly line: (text: string, record: EpisodeRecord) => void;
  readonly host: Host;
  /** Folder for the kernel log's last sequence number (undefined: kept in memory only). */
  readonly stateDir: string | undefined;
  /** Told of each kernel victim, so the daemon waits for it like for its own. */
  readonly onKernelVictim?: (pid: number, cgroup: string | undefined) => void;
}

/** `{"op":"events","since":N|"ep-…","follow":true}` (docs/events.md). */
export const EVENTS_REQUEST = onFirstUse(() =>
  z.strictObject({
    op: z.literal("events"),
    since: z.union([z.number().int().nonnegative(), z.string().min(1).max(200)]).optional(),
    follow: z.boolean().optional(),
  }),
);

export class ReportPipeline {
  readonly bus = new EventBus();
  /**
   * Undefined without a metrics endpoint: nothing could read the counters, so prom-client (and
   * node:http) are never loaded (src/report/metrics.ts). Made here, at start, when there is one.
   */
  readonly metrics: Metrics | undefined;
  readonly #o: PipelineOptions;
  #eventLog: EventLog | undefined;
  #server: MetricsServer | undefined;
  #kernel: KernelOomObserver | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(o: PipelineOptions) {
    this.#o = o;
    this.metrics = o.settings.metrics ? new Metrics({ maxCgroupLabels: o.settings.maxCgroupLabels }) : undefined;
  }

  /** Publishes one episode record to every sink. Never throws, never waits. */
  readonly report = (record: EpisodeRecord): void => {
    try {
      this.#o.line(summarize(record), record);
      this.#eventLog?.append(record);
      this.bus.publish(record);
      this.metrics?.observeEpisode(record);
      if (record.kind === "kernel" && record.kernelKill?.pid !== undefined) this.#o.onKernelVictim?.(record.kernelKill.pid, record.kernelKill.cgroup);
    } catch (err) {
      this.#o.log.error(`report pipeline: ${(err as Error).message}`);
    }
  };

  /** Reports a policy hook call that failed: a warning naming the policy, and the failures counter. Never throws. */
  readonly policyFault = (call: HookCall): void => {
    if (call.outcome === "ok") return;
    try {
      this.#o.log.warn(describeHookCall(call));
      this.metrics?.observePolicyFault(call);
    } catch (err) {
      this.#o.log.error(`report pipeline: ${(err as Error).message}`);
    }
  };

  async start(): Promise<string[]> {
    const said: string[] = [];
    const s = this.#o.settings;
    const log = this.#o.log;
    if (s.eventLog) {
      try {
        this.#eventLog = EventLog.open(s.eventLog.path, { maxBytes: s.eventLog.maxBytes, keep: s.eventLog.keep, logger: log });
        const el = this.#eventLog;
        this.metrics?.addDropSource("event_log", () => el.stats.droppedQueueFull + el.stats.droppedWriteError);
        said.push(`event log ${s.eventLog.path}`);
      } catch (err) {
        log.warn(`no event log at ${s.eventLog.path}: ${(err as Error).message}`);
      }
    }
    this.metrics?.addDropSource("stream", () => this.bus.droppedTotal);
    if (s.metrics && this.metrics) {
      try {
        this.#server = await serveMetrics(this.metrics, s.metrics);
        said.push(`metrics http://${this.#server.host}:${this.#server.port}/metrics`);
      } catch (err) {
        log.warn(`no metrics endpoint on ${s.metrics.host}:${s.metrics.port}: ${(err as Error).message}`);
      }
    }
    if (s.kernelKills) {
      let bootId: string | undefined;
      try {
        bootId = this.#o.host.readFile(PROC_BOOT_ID).trim();
      } catch {
        bootId = undefined;
      }
      // kmsg timestamps count from boot on CLOCK_MONOTONIC (printk's local_clock), which is what
      // process.hrtime reads: a kill replayed after a restart keeps the time it happened.
      const bootWallMs = Date.now() - Number(process.hrtime.bigint() / 1_000_000n);
      const kernel = new KernelOomObserver({
        onRecord: this.report,
        kmsgTimeToWallMs: this.#o.host.kind === "linux" ? (tsUsec) => bootWallMs + tsUsec / 1000 : undefined,
        statePath: this.#o.stateDir ? `${this.#o.stateDir}/kmsg.state` : undefined,
        bootId,
        clock: this.#o.host.clock,
        logger: log,
      });
      this.#kernel = kernel;
      this.metrics?.addDropSource("kmsg", () => kernel.stats.overruns);
      const reading = this.#o.host.kind === "linux" ? await kernel.startKmsg() : false;
      said.push(`the kernel's OOM kills (${reading ? "/dev/kmsg and counters" : "counters only: /dev/kmsg unreadable"})`);
      this.#timer = setInterval(() => kernel.tick(), 500);
      this.#timer.unref();
    }
    return said;
  }

  /** Feeds a fresh snapshot to the kernel observer's counters and the gauges. */
  sample(snapshot: Snapshot, cgroups: readonly string[]): void {
    this.#kernel?.onCounters(countersFromSnapshot(snapshot, cgroups));
    this.metrics?.updateFromSnapshot(snapshot, cgroups);
  }

  /** Control socket ops: `events` streams past and new records. */
  handlers(): Record<string, ControlHandler> {
    return { events: controlOp(EVENTS_REQUEST, (req, _reply, socket: Socket) => streamEvents(this.bus, req, socket)) };
  }

  get kernelObserver(): KernelOomObserver | undefined {
    return this.#kernel;
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.#kernel?.stop();
    await this.#eventLog?.close();
    await this.#server?.close();
  }
}
