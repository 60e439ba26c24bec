/**
 * Prometheus metrics (prom-client, in a registry of oomkit's own: embedding oomkit never
 * touches the global one). Every name is a constant in METRIC and documented in
 * docs/metrics.md; a unit test holds the two together.
 *
 * Cardinality: label values drawn from cgroup paths, triggers and verifier reasons are capped
 * (LabelCap): the first `maxCgroupLabels` distinct paths keep their own series, later ones are
 * counted under "other", so thousands of short-lived cgroups cannot grow the scrape without
 * bound. Gauges of monitored cgroups are rebuilt from each snapshot and hold at most that many.
 */
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import type * as Prom from "prom-client";
import type { EpisodeRecord } from "../engine/episode.js";
import type { HookCall } from "../engine/hooks.js";
import type { Snapshot } from "../engine/snapshot.js";
import { onFirstUse } from "../on-first-use.js";
import { http } from "../os/lazy-builtins.js";

// The four classes oomkit uses, from their own files: prom-client's index also loads its push
// gateway (http, https), cluster aggregator, default process metrics and Summary (with
// OpenTelemetry, tdigest and bintrees), which cost the daemon about 3 MiB and 90 ms at start-up
// for nothing it uses (BENCHMARKS.md "Footprint (native)"). A unit test checks these paths
// against the installed prom-client. They are loaded when the first Metrics is made: a daemon
// with no metrics endpoint makes none, and never loads prom-client (or node:http, for the
// endpoint) at all; one with an endpoint makes its Metrics at start, never during an episode.
const prom = onFirstUse(() => {
  const requireProm = createRequire(import.meta.url);
  return {
    Registry: requireProm("prom-client/lib/registry.js") as typeof Prom.Registry,
    Counter: requireProm("prom-client/lib/counter.js") as typeof Prom.Counter,
    Gauge: requireProm("prom-client/lib/gauge.js") as typeof Prom.Gauge,
    Histogram: requireProm("prom-client/lib/histogram.js") as typeof Prom.Histogram,
  };
});

export const METRIC = {
  episodes: "oomkit_episodes_total",
  cgroupOoms: "oomkit_cgroup_ooms_total",
  kills: "oomkit_kills_total",
  freedBytes: "oomkit_freed_bytes_total",
  policyFailures: "oomkit_policy_failures_total",
  verifierRejections: "oomkit_verifier_rejections_total",
  droppedPlans: "oomkit_dropped_plans_total",
  cutShortDecisions: "oomkit_cut_short_decisions_total",
  policyDuration: "oomkit_policy_duration_seconds",
  signalToDecision: "oomkit_signal_to_decision_seconds",
  decisionToKill: "oomkit_decision_to_kill_seconds",
  killToFreed: "oomkit_kill_to_freed_seconds",
  cgroupMemoryCurrent: "oomkit_cgroup_memory_current_bytes",
  cgroupMemoryMax: "oomkit_cgroup_memory_max_bytes",
  cgroupSwapCurrent: "oomkit_cgroup_swap_current_bytes",
  cgroupPressureAvg10: "oomkit_cgroup_memory_pressure_avg10_ratio",
  cgroupPressureStall: "oomkit_cgroup_memory_pressure_stall_seconds",
  memoryAvailable: "oomkit_memory_available_bytes",
  swapFree: "oomkit_swap_free_bytes",
  memoryPressureAvg10: "oomkit_memory_pressure_avg10_ratio",
  labelOverflow: "oomkit_label_overflow_total",
  droppedRecords: "oomkit_dropped_records",
  processResident: "oomkit_process_resident_memory_bytes",
  processHeap: "oomkit_process_heap_used_bytes",
  processCpu: "oomkit_process_cpu_seconds_total",
  processStart: "oomkit_process_start_time_seconds",
} as const;

export type MetricName = (typeof METRIC)[keyof typeof METRIC];

/** Enough for every service cgroup on a large host; short-lived ones beyond it go to "other". */
export const DEFAULT_MAX_CGROUP_LABELS = 100;
export const OTHER = "other";

/** Decisions take ms, kills and exits tens of ms to seconds: buckets from 1 ms to 60 s. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** Admits the first `max` distinct values of a label; later ones become "other". */
export class LabelCap {
  readonly #seen = new Set<string>();
  constructor(
    readonly max: number,
    private readonly onOverflow: () => void = () => {},
  ) {}
  value(v: string): string {
    if (this.#seen.has(v)) return v;
    if (this.#seen.size < this.max) {
      this.#seen.add(v);
      return v;
    }
    this.onOverflow();
    return OTHER;
  }
  get size(): number {
    return this.#seen.size;
  }
}

export interface MetricsOptions {
  readonly maxCgroupLabels?: number;
  /** Cap on distinct triggers and verifier reasons. */
  readonly maxOtherLabels?: number;
}

/** Counts of records that a sink dropped, read at scrape time. */
export type DropSource = () => number;

export class Metrics {
  readonly registry: Prom.Registry;
  readonly #cgroups: LabelCap;
  readonly #causes: LabelCap;
  readonly #reasons: LabelCap;
  readonly #policies: LabelCap;
  readonly #gaugeCap: number;
  readonly #drops = new Map<string, DropSource>();
  readonly #m;

  constructor(options: MetricsOptions = {}) {
    const { Registry, Counter, Gauge, Histogram } = prom();
    this.registry = new Registry();
    const registers = [this.registry];
    const overflow = new Counter({ name: METRIC.labelOverflow, help: "Label values folded into \"other\" by the cardinality cap", labelNames: ["label"], registers });
    const cap = (label: string, max: number) => new LabelCap(max, () => overflow.inc({ label }));
    this.#gaugeCap = options.maxCgroupLabels ?? DEFAULT_MAX_CGROUP_LABELS;
    this.#cgroups = cap("cgroup", this.#gaugeCap);
    this.#causes = cap("cause", options.maxOtherLabels ?? 50);
    this.#reasons = cap("reason", options.maxOtherLabels ?? 50);
    this.#policies = cap("policy", options.maxOtherLabels ?? 50);
    const counter = (name: MetricName, help: string, labelNames: string[]) => new Counter({ name, help, labelNames, registers });
    const gauge = (name: MetricName, help: string, labelNames: string[] = []) => new Gauge({ name, help, labelNames, registers });
    const histogram = (name: MetricName, help: string, labelNames: string[]) => new Histogram({ name, help, labelNames, buckets: LATENCY_BUCKETS, registers });
    this.#m = {
      overflow,
      episodes: counter(METRIC.episodes, "OOM episodes by kind, scope, cause, handling policy and mode", ["kind", "scope", "cause", "policy", "mode"]),
      cgroupOoms: counter(METRIC.cgroupOoms, "OOM episodes per cgroup: local (the scope itself) and hierarchical (the scope and its ancestors)", ["cgroup", "counting"]),
      kills: counter(METRIC.kills, "Processes or cgroups killed, by kind, policy, scope and target", ["kind", "policy", "scope", "target"]),
      freed: counter(METRIC.freedBytes, "Bytes freed by actions that freed memory (kernel kills: the victim's rss)", ["kind", "policy", "scope"]),
      failures: counter(METRIC.policyFailures, "Policy calls (any hook) that threw, ran past their deadline or returned nothing valid", ["policy", "outcome"]),
      rejections: counter(METRIC.verifierRejections, "Actions the verifier refused, by policy and reason", ["policy", "reason"]),
      dropped: counter(METRIC.droppedPlans, "Verified plans not carried out because the trouble was gone right before acting, by what showed it", ["cleared_by"]),
      cutShort: counter(METRIC.cutShortDecisions, "Policy calls that ran past their deadline and had their best so far carried out", ["policy"]),
      policyDuration: histogram(METRIC.policyDuration, "Time a policy took to decide", ["policy"]),
      signalToDecision: histogram(METRIC.signalToDecision, "From the first signal to the verified plan", ["kind"]),
      decisionToKill: histogram(METRIC.decisionToKill, "From the verified plan to the first kill issued", ["kind"]),
      killToFreed: histogram(METRIC.killToFreed, "From a kill issued to its memory freed (victim exited or cgroup emptied)", ["kind"]),
      cgMemCurrent: gauge(METRIC.cgroupMemoryCurrent, "memory.current of a monitored cgroup", ["cgroup"]),
      cgMemMax: gauge(METRIC.cgroupMemoryMax, "memory.max of a monitored cgroup (absent when max)", ["cgroup"]),
      cgSwap: gauge(METRIC.cgroupSwapCurrent, "memory.swap.current of a monitored cgroup", ["cgroup"]),
      cgPsiAvg10: gauge(METRIC.cgroupPressureAvg10, "memory.pressure avg10 of a monitored cgroup, 0..1", ["cgroup", "kind"]),
      cgPsiStall: gauge(METRIC.cgroupPressureStall, "memory.pressure total stall of a monitored cgroup, seconds", ["cgroup", "kind"]),
      memAvailable: gauge(METRIC.memoryAvailable, "MemAvailable of the machine"),
      swapFree: gauge(METRIC.swapFree, "SwapFree of the machine"),
      psiAvg10: gauge(METRIC.memoryPressureAvg10, "/proc/pressure/memory avg10, 0..1", ["kind"]),
    };
    const drops = this.#drops;
    new Gauge({
      name: METRIC.droppedRecords,
      help: "Records a sink dropped rather than delay the kill path (event log, stream readers, kernel log)",
      labelNames: ["sink"],
      registers,
      collect() {
        for (const [sink, read] of drops) this.set({ sink }, read());
      },
    });
    const started = Date.now() / 1000 - process.uptime();
    new Gauge({ name: METRIC.processResident, help: "Resident memory of the oomkit process", registers, collect() { this.set(process.memoryUsage.rss()); } });
    new Gauge({ name: METRIC.processHeap, help: "V8 heap in use by the oomkit process", registers, collect() { this.set(process.memoryUsage().heapUsed); } });
    new Gauge({
      name: METRIC.processStart,
      help: "Start time of the oomkit process, seconds since the epoch",
      registers,
      collect() {
        this.set(started);
      },
    });
    // A counter read from the OS at scrape time: prom-client counters only go up by inc().
    new Gauge({
      name: METRIC.processCpu,
      help: "CPU time used by the oomkit process, seconds",
      labelNames: ["mode"],
      registers,
      collect() {
        const u = process.cpuUsage();
        this.set({ mode: "user" }, u.user / 1e6);
        this.set({ mode: "system" }, u.system / 1e6);
      },
    });
  }

  /** A sink whose dropped-record count the scrape reports (`sink` label). */
  addDropSource(sink: string, read: DropSource): void {
    this.#drops.set(sink, read);
  }

  /** Counts one episode record (oomkit's or the kernel's). Call once per record. */
  observeEpisode(r: EpisodeRecord): void {
    const m = this.#m;
    const live = r.mode === "live";
    const policy = this.#policies.value(r.policy ?? (r.kind === "kernel" ? "kernel" : "none"));
    const scope = this.#cgroups.value(r.scope);
    m.episodes.inc({ kind: r.kind, scope, cause: this.#causes.value(r.cause.trigger), policy, mode: r.mode });
    m.cgroupOoms.inc({ cgroup: scope, counting: "local" });
    for (const p of ancestorsAndSelf(r.scope)) m.cgroupOoms.inc({ cgroup: this.#cgroups.value(p), counting: "hierarchical" });

    for (const c of r.chain) {
      const p = this.#policies.value(c.policy);
      m.policyDuration.observe({ policy: p }, c.durationMs / 1000);
      if (c.outcome === "threw" || c.outcome === "timeout" || c.outcome === "invalid") m.failures.inc({ policy: p, outcome: c.outcome });
      if (c.cutShort !== undefined) m.cutShort.inc({ policy: p });
      for (const v of c.verdicts) if (!v.ok) m.rejections.inc({ policy: p, reason: this.#reasons.value(reasonClass(v.reason ?? "refused")) });
    }
    if (r.times.signalToDecisionMs !== undefined) m.signalToDecision.observe({ kind: r.kind }, r.times.signalToDecisionMs / 1000);
    if (r.dropped) m.dropped.inc({ cleared_by: r.dropped.clearedBy });

    if (r.kind === "kernel") {
      const k = r.kernelKill;
      m.kills.inc({ kind: r.kind, policy, scope, target: "task" });
      const rss = (k?.anonRssBytes ?? 0) + (k?.fileRssBytes ?? 0) + (k?.shmemRssBytes ?? 0);
      if (rss > 0) m.freed.inc({ kind: r.kind, policy, scope }, rss);
      return;
    }
    if (!live) return;
    const decidedAtMs = Date.parse(r.times.decidedAt);
    let firstKill: number | undefined;
    for (const a of r.actions) {
      const isKill = a.action.kind === "kill-task" || a.action.kind === "kill-cgroup";
      if (a.dryRun || !a.ok) continue;
      if (isKill) {
        m.kills.inc({ kind: r.kind, policy, scope, target: a.action.kind === "kill-task" ? "task" : "cgroup" });
        firstKill = Math.min(firstKill ?? a.startedAtMs, a.startedAtMs);
        if (a.freed) m.killToFreed.observe({ kind: r.kind }, Math.max(0, a.finishedAtMs - a.startedAtMs) / 1000);
      }
      if (a.freed && a.freedBytes) m.freed.inc({ kind: r.kind, policy, scope }, a.freedBytes);
    }
    if (firstKill !== undefined && Number.isFinite(decidedAtMs)) m.decisionToKill.observe({ kind: r.kind }, Math.max(0, firstKill - decidedAtMs) / 1000);
  }

  /** Counts a failed call of a hook outside an episode (handlePressure, handleCgroupOnline/Offline). */
  observePolicyFault(call: HookCall): void {
    if (call.outcome === "ok") return;
    this.#m.failures.inc({ policy: this.#policies.value(call.policy), outcome: call.outcome });
  }

  /**
   * Sets the memory and pressure gauges from a snapshot: the machine's, and those of the given
   * cgroups (the monitored ones), at most maxCgroupLabels of them (the first, in order given).
   * Cgroups gone since the last call disappear from the scrape.
   */
  updateFromSnapshot(snapshot: Snapshot, cgroups: Iterable<string>): void {
    const m = this.#m;
    const sys = snapshot.system;
    setOrRemove(m.memAvailable, {}, sys.meminfo?.memAvailableBytes);
    setOrRemove(m.swapFree, {}, sys.meminfo?.swapFreeBytes);
    setOrRemove(m.psiAvg10, { kind: "some" }, pct(sys.pressure.memory?.some.avg10));
    setOrRemove(m.psiAvg10, { kind: "full" }, pct(sys.pressure.memory?.full?.avg10));
    for (const g of [m.cgMemCurrent, m.cgMemMax, m.cgSwap, m.cgPsiAvg10, m.cgPsiStall]) g.reset();
    let n = 0;
    for (const path of cgroups) {
      if (n >= this.#gaugeCap) {
        m.overflow.inc({ label: "cgroup_gauge" });
        continue;
      }
      const node = snapshot.cgroup(path);
      if (!node) continue;
      n += 1;
      const cgroup = node.path;
      const mem = node.memory;
      setOrRemove(m.cgMemCurrent, { cgroup }, mem.currentBytes);
      setOrRemove(m.cgMemMax, { cgroup }, mem.maxBytes);
      setOrRemove(m.cgSwap, { cgroup }, mem.swapCurrentBytes);
      const psi = node.pressure.memory;
      setOrRemove(m.cgPsiAvg10, { cgroup, kind: "some" }, pct(psi?.some.avg10));
      setOrRemove(m.cgPsiAvg10, { cgroup, kind: "full" }, pct(psi?.full?.avg10));
      setOrRemove(m.cgPsiStall, { cgroup, kind: "some" }, usec(psi?.some.totalUsec));
      setOrRemove(m.cgPsiStall, { cgroup, kind: "full" }, usec(psi?.full?.totalUsec));
    }
  }

  /** The exposition text of every metric. */
  scrape(): Promise<string> {
    return this.registry.metrics();
  }
}

const pct = (v: number | undefined) => (v === undefined ? undefined : v / 100);
const usec = (v: number | undefined) => (v === undefined ? undefined : v / 1e6);

function setOrRemove<L extends string>(g: Prom.Gauge<L>, labels: Partial<Record<L, string>>, v: number | undefined): void {
  if (v === undefined || !Number.isFinite(v)) g.remove(labels);
  else g.set(labels, v);
}

function ancestorsAndSelf(path: string): string[] {
  const out = [path];
  let p = path;
  while (p !== "/" && p !== "") {
    const i = p.lastIndexOf("/");
    p = i <= 0 ? "/" : p.slice(0, i);
    out.push(p);
  }
  return out;
}

/** A verifier reason without its paths, pids and patterns: a bounded set of label values. */
export function reasonClass(reason: string): string {
  return reason
    .replace(/(matches )\/.*\/$/, "$1/re/")
    .replace(/(^|\s)\/[^\s]*/g, (m, pre: string) => (m.trim() === "/re/" ? m : `${pre}P`))
    .replace(/-?\d+/g, (d) => (d === "-1000" || d === "1" ? d : "N"))
    .slice(0, 80);
}

export interface MetricsServer {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Serves GET /metrics (HEAD too) on host:port, loopback unless told otherwise; anything else
 * is 405 (other methods) or 404 (other paths). Port 0 picks a free port (see `port`).
 */
export function serveMetrics(metrics: Metrics, options: { readonly host?: string; readonly port: number }): Promise<MetricsServer> {
  const host = options.host ?? "127.0.0.1";
  const server = http().createServer((req, res) => {
    const url = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" }).end("method not allowed\n");
      return;
    }
    if (url !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found: try /metrics\n");
      return;
    }
    metrics.scrape().then(
      (text) => {
        res.writeHead(200, { "content-type": metrics.registry.contentType });
        res.end(req.method === "HEAD" ? undefined : text);
      },
      (err: unknown) => res.writeHead(500, { "content-type": "text/plain" }).end(`${String(err)}\n`),
    );
  });
  server.requestTimeout = 10_000;
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, host, () => {
      server.off("error", reject);
      const addr = server.address() as AddressInfo;
      resolve({
        host,
        port: addr.port,
        close: () => new Promise<void>((res) => {
          server.closeAllConnections();
          server.close(() => res());
        }),
      });
    });
  });
}
