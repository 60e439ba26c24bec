/**
 * Helpers for the daemon tests (test/kernel/daemon-*.test.ts): `oomkit run` started as a child
 * process of the test, inside the VM, with a configuration of the test's own.
 *
 *   const d = await startDaemon({ config: `...toml...`, args?: ["--dry-run"] })
 *     options: name (of the temp folder), dir (a folder to reuse: same state and event log across
 *     a restart), metricsListen ("none" by default), keepLog (a file name: the daemon's output is
 *     appended to $RUN_DIR/<keepLog> when it exits, its event log to <keepLog without .log>.events.jsonl), readyTimeoutMs, prefix (commands that exec
 *     node in the end: prlimit, setpriv, a shell joining a cgroup)
 *   d.pid, d.dir (a root-owned 0700 temp folder: config, socket, state), d.configFile, d.socket,
 *   d.stateDir, d.eventLog
 *   d.lines() / d.episodeLines()        stderr lines so far / the episode lines ("oomkit ep-...: oom_policy=...")
 *   d.records()                         every episode record the daemon made (see "The tap")
 *   await d.waitLine(/re/, timeoutMs)   the first stderr line matching (rejects with the tail)
 *   await d.waitRecord((r) => bool, timeoutMs)
 *   await d.status() / d.oom(scope, reason)   the control socket ({"op":"status"}, {"op":"oom"})
 *   await d.standing(scope)             the daemon's standing decision for a scope ({"op":"standing"})
 *   await d.waitStanding(scope, ok, ms) until the standing plan for `scope` satisfies `ok`
 *   d.usage()                           { rssKiB, cpuMs } from /proc/<pid>/status and stat
 *   d.sample() -> Sampler               samples usage every 50 ms until .stop(): peak RSS, CPU ms
 *   d.hup(); await d.stop()             SIGHUP; SIGTERM (then SIGKILL after 10 s), by pid
 *
 * Configuration. defaultConfigWith({ head, tail }) is the built-in default (DEFAULT_CONFIG_TOML,
 * src/config/defaults.ts) with top-level keys before it and tables after it, for the tests that
 * need the default triggers: they test what a user running oomkit without a file gets.
 *
 * Episode records. The daemon runs with `--event-log DIR/events.jsonl` (and no metrics endpoint):
 * records() reads that log, one record per line as the daemon wrote it — its own episodes and
 * the kernel's OOM kills it saw (kind "kernel"). `{"op":"oom"}` also returns its record.
 *
 * Figures. figuresOf(record) derives, from one record, the time from the trigger's signal to
 * the decision, from the decision to the kill signal, and from the kill to the victim's memory
 * being freed (pidfd readable, or `populated 0` after cgroup.kill). addFigure() collects rows;
 * writeFigures(name) prints them as `# figure:` diagnostics and writes
 * $RUN_DIR/daemon-figures-<name>.json (BENCHMARKS.md "The daemon in the VM").
 */
import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { DEFAULT_CONFIG_TOML } from "../../src/config/defaults.js";
import type { EpisodeRecord } from "../../src/engine/episode.js";
import { request } from "../../src/daemon/control.js";
import { RUN_DIR, waitFor } from "./helpers.js";

// ---------------------------------------------------------------------------------------------
// The daemon

const HERE = fileURLToPath(import.meta.url); // dist/test/kernel/daemon-helpers.js
export const REPO = path.resolve(path.dirname(HERE), "../../..");
export const OOMKIT_MAIN = path.join(REPO, "dist/src/cli/main.js");
const CLK_TCK = 100; // USER_HZ on Linux

export interface Usage {
  readonly rssKiB: number;
  /** RssAnon and RssFile (the process's own memory, and file pages it shares): NaN where the kernel lacks them. */
  readonly rssAnonKiB: number;
  readonly rssFileKiB: number;
  readonly cpuMs: number;
}

export interface Sampler {
  /** Stops sampling: the peak RSS seen and the CPU used since sampling began. */
  stop(): { peakRssKiB: number; cpuMs: number; wallMs: number };
}

export interface DaemonProc {
  readonly pid: number;
  readonly dir: string;
  readonly configFile: string;
  readonly socket: string;
  readonly stateDir: string;
  readonly eventLog: string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  lines(): string[];
  /** Adds a line of the test's own to the kept log (stamped like the daemon's): what it did when. */
  note(text: string): void;
  episodeLines(): string[];
  records(): EpisodeRecord[];
  waitLine(re: RegExp, timeoutMs: number): Promise<string>;
  waitRecord(ok: (r: EpisodeRecord) => boolean, timeoutMs: number): Promise<EpisodeRecord>;
  status(): Promise<DaemonStatusReply>;
  oom(scope: string, reason: string): Promise<EpisodeRecord | { skipped: string }>;
  standing(scope: string): Promise<StandingView | undefined>;
  waitStanding(scope: string, ok: (v: StandingView) => boolean, timeoutMs: number): Promise<StandingView>;
  usage(): Usage;
  sample(): Sampler;
  hup(): void;
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** One scope's standing decision as the control socket shows it (Daemon.standingView). */
export interface StandingView {
  readonly scope: string;
  readonly ageMs: number;
  /** Whose plan stands; null: none. */
  readonly policy: string | null;
  /** The record of the run the plan came from (what it would do, and why). */
  readonly record: EpisodeRecord;
}

/** A record in a line, for a failure's message: its cause, its path (and why a standing plan was refused), its plan. */
export function recordLine(r: EpisodeRecord): string {
  return `${r.id} ${r.kind} ${r.cause.trigger}: ${JSON.stringify({ decision: r.decision, chain: r.chain.map((c) => `${c.policy} ${c.outcome}`), plan: planPids(r) })}`;
}

/** The pids a standing plan (or any record) would kill. */
export function planPids(r: EpisodeRecord): number[] {
  return r.plan.flatMap((a) => (a.kind === "kill-task" ? [a.pid] : []));
}

export interface DaemonStatusReply {
  readonly dryRun: boolean;
  readonly watches: readonly string[];
  readonly attachments: readonly string[];
  readonly pendingVictims: number;
  readonly episodes: number;
}

const running = new Set<DaemonProc>();

/** A root-owned 0700 folder for one daemon (config, socket, state, policy files). */
export function tempDir(name: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `oomkit-${name}-`));
  chmodSync(dir, 0o700);
  return dir;
}

/** Writes a policy file that the daemon will accept (root-owned, 0644, in a 0755 folder). */
export function writePolicy(dir: string, name: string, source: string): string {
  const folder = path.join(dir, "policies");
  mkdirSync(folder, { recursive: true });
  chmodSync(folder, 0o755);
  const file = path.join(folder, name);
  writeFileSync(file, source);
  chmodSync(file, 0o644);
  return file;
}

/**
 * How the shipped systemd unit (deploy/oomkit.service) runs node: the flags on its ExecStart
 * line before the script, and its Environment= settings. A comparison with other daemons runs
 * oomkit as it ships: without the flags its young generation alone grows by tens of MiB on a
 * crowded machine (3,000 tasks: RssAnon 56-105 MiB against 45-47 MiB with them, natively).
 */
export function shippedNode(): { readonly flags: readonly string[]; readonly env: Readonly<Record<string, string>> } {
  const unit = readFileSync(path.join(REPO, "deploy/oomkit.service"), "utf8").split("\n");
  const exec = unit.find((l) => l.startsWith("ExecStart="))?.slice("ExecStart=".length).trim().split(/\s+/) ?? [];
  const script = exec.findIndex((w) => w.endsWith("/cli/main.js"));
  if (script < 1) throw new Error("deploy/oomkit.service: no ExecStart= running node on cli/main.js");
  const env: Record<string, string> = {};
  for (const l of unit) {
    const m = /^Environment=([A-Z_][A-Z0-9_]*)=(\S*)$/.exec(l.trim());
    if (m) env[m[1]!] = m[2]!;
  }
  return { flags: exec.slice(1, script), env };
}

export interface DaemonOptions {
  readonly config: string;
  readonly args?: readonly string[];
  /** As the shipped unit runs it (shippedNode): its node flags and environment. Default: plain node. */
  readonly shipped?: boolean;
  readonly name?: string;
  readonly dir?: string;
  readonly metricsListen?: string;
  readonly keepLog?: string;
  readonly readyTimeoutMs?: number;
  /**
   * A command that ends by exec'ing its arguments (prlimit, setpriv, a shell that joins a cgroup
   * and execs), run in front of node: the daemon keeps the pid spawned.
   */
  readonly prefix?: readonly string[];
}

export async function startDaemon(opts: DaemonOptions): Promise<DaemonProc> {
  const dir = opts.dir ?? tempDir(opts.name ?? "daemon");
  const configFile = path.join(dir, "oomkit.toml");
  const socket = path.join(dir, "run", "oomkit.sock");
  const stateDir = path.join(dir, "state");
  writeFileSync(configFile, opts.config);
  chmodSync(configFile, 0o600);
  const eventLog = path.join(dir, "events.jsonl");
  const args = [OOMKIT_MAIN, "run", "--config", configFile, "--socket", socket, "--state-dir", stateDir, "--log-level", "debug"];
  args.push("--event-log", eventLog, "--metrics-listen", opts.metricsListen ?? "none", ...(opts.args ?? []));
  const [cmd, ...pre] = [...(opts.prefix ?? []), process.execPath];
  const node = opts.shipped ? shippedNode() : { flags: [], env: {} };
  const child: ChildProcess = spawn(cmd!, [...pre, ...node.flags, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...node.env } });
  if (child.pid === undefined) throw new Error("cannot start oomkit run");
  const pid = child.pid;
  const all: string[] = [];
  // The kept log stamps each line with the seconds since the spawn: what came when, in a failed run.
  const t0 = performance.now();
  const stamped: string[] = [];
  const stamp = (line: string) => stamped.push(`+${((performance.now() - t0) / 1000).toFixed(3)}s ${line}`);
  const readRecords = (): EpisodeRecord[] => {
    let text = "";
    try {
      text = readFileSync(eventLog, "utf8");
    } catch {
      return [];
    }
    const out: EpisodeRecord[] = [];
    for (const line of text.split("\n")) {
      if (!line.trim()) continue;
      try {
        out.push(JSON.parse(line) as EpisodeRecord);
      } catch {
        /* a torn last line: the next read has it whole */
      }
    }
    return out;
  };
  let partial = "";
  let exitedYet = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => {
      exitedYet = true;
      if (opts.keepLog && RUN_DIR) {
        appendFileSync(path.join(RUN_DIR, opts.keepLog), `${stamped.join("\n")}\n`);
        // Its episode records too (their times say where signal → decision went), beside the log.
        try {
          appendFileSync(path.join(RUN_DIR, `${opts.keepLog.replace(/\.log$/, "")}.events.jsonl`), readFileSync(eventLog, "utf8"));
        } catch {
          /* no episode, no event log */
        }
      }
      resolve({ code, signal });
    }),
  );
  const onData = (chunk: string) => {
    partial += chunk;
    let nl: number;
    while ((nl = partial.indexOf("\n")) >= 0) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      all.push(line);
      stamp(line);
    }
  };
  child.stderr!.setEncoding("utf8").on("data", onData);
  child.stdout!.setEncoding("utf8").on("data", onData);
  const tail = () => all.slice(-25).join("\n");

  const d: DaemonProc = {
    pid,
    dir,
    configFile,
    socket,
    stateDir,
    eventLog,
    exited,
    lines: () => [...all],
    note: (text: string) => stamp(`# test: ${text}`),
    episodeLines: () => all.filter((l) => / oom_policy=/.test(l)),
    records: readRecords,
    waitLine: (re, timeoutMs) =>
      waitFor(
        () => {
          if (exitedYet && !all.some((l) => re.test(l))) throw new Error(`oomkit run (pid ${pid}) exited; its output:\n${tail()}`);
          return all.find((l) => re.test(l));
        },
        { timeoutMs, what: `a line matching ${re} from oomkit run`, last: () => `\n${tail()}` },
      ),
    waitRecord: (ok, timeoutMs) =>
      waitFor(() => readRecords().find(ok), { timeoutMs, what: "an episode record from oomkit run", last: () => `${readRecords().length} records (${readRecords().map(recordLine).join("; ")}); output:\n${tail()}` }),
    status: async () => {
      const r = await request(socket, { op: "status" }, 20_000);
      if (r.ok !== true) throw new Error(`status refused: ${JSON.stringify(r)}`);
      return r.status as DaemonStatusReply;
    },
    oom: async (scope, reason) => {
      const r = await request(socket, { op: "oom", scope, reason }, 60_000);
      if (r.ok !== true) throw new Error(`oom refused: ${JSON.stringify(r)}`);
      return typeof r.skipped === "string" ? { skipped: r.skipped } : (r.record as EpisodeRecord);
    },
    standing: async (scope) => {
      // The daemon answers between slices of its upkeep: its first decision on a cold model of a
      // crowded machine reads every task (21 s for 3,000 under TCG).
      const r = await request(socket, { op: "standing", scope }, 60_000);
      if (r.ok !== true || !Array.isArray(r.standing)) throw new Error(`standing refused: ${JSON.stringify(r)}`);
      return (r.standing as StandingView[])[0];
    },
    waitStanding: async (scope, ok, timeoutMs) => {
      const deadline = Date.now() + timeoutMs;
      let last: StandingView | undefined;
      for (;;) {
        last = await d.standing(scope);
        if (last && ok(last)) return last;
        if (Date.now() > deadline) throw new Error(`no standing plan for ${scope} as wanted within ${timeoutMs} ms; last: ${JSON.stringify(last && { ageMs: last.ageMs, policy: last.policy, plan: last.record.plan, chain: last.record.chain })}\n${tail()}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    },
    usage: () => usageOf(pid),
    sample: () => {
      const first = usageOf(pid);
      const t0 = performance.now();
      let peak = first.rssKiB;
      let last = first;
      const timer = setInterval(() => {
        try {
          last = usageOf(pid);
          peak = Math.max(peak, last.rssKiB);
        } catch {
          /* exited */
        }
      }, 50);
      return {
        stop() {
          clearInterval(timer);
          try {
            last = usageOf(pid);
            peak = Math.max(peak, last.rssKiB);
          } catch {
            /* exited */
          }
          return { peakRssKiB: peak, cpuMs: last.cpuMs - first.cpuMs, wallMs: Math.round(performance.now() - t0) };
        },
      };
    },
    hup: () => {
      if (!exitedYet) process.kill(pid, "SIGHUP");
    },
    stop: async () => {
      running.delete(d);
      if (!exitedYet) {
        process.kill(pid, "SIGTERM");
        const t = setTimeout(() => {
          if (!exitedYet) process.kill(pid, "SIGKILL");
        }, 10_000);
        const r = await exited;
        clearTimeout(t);
        return r;
      }
      return exited;
    },
  };
  running.add(d);
  await d.waitLine(/^oomkit: watching$/, opts.readyTimeoutMs ?? 60_000);
  return d;
}

/** The built-in default configuration with `head` (top-level keys) before it and `tail` (tables) after it. */
export function defaultConfigWith(extra: { head?: string; tail?: string }): string {
  return `${extra.head ?? ""}\n${DEFAULT_CONFIG_TOML}\n${extra.tail ?? ""}\n`;
}

/** Stops every daemon still running (for `after` hooks). */
export async function stopAllDaemons(): Promise<void> {
  await Promise.all([...running].map((d) => d.stop()));
}

export function usageOf(pid: number): Usage {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? NaN);
  const rssKiB = kib("VmRSS");
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state): utime is field 14, stime 15
  const ticks = Number(fields[11]) + Number(fields[12]);
  return { rssKiB, rssAnonKiB: kib("RssAnon"), rssFileKiB: kib("RssFile"), cpuMs: (ticks * 1000) / CLK_TCK };
}

/** Samples the daemon at rest for `ms` (after 1 s to settle from its start): RSS and CPU. */
export async function idleUsage(d: DaemonProc, ms: number): Promise<{ rssKiB: number; cpuMs: number; wallMs: number }> {
  await new Promise((r) => setTimeout(r, 1000));
  const s = d.sample();
  await new Promise((r) => setTimeout(r, ms));
  const r = s.stop();
  return { rssKiB: d.usage().rssKiB, cpuMs: r.cpuMs, wallMs: r.wallMs };
}

// ---------------------------------------------------------------------------------------------
// Figures

export interface EpisodeFigures {
  /** Trigger's signal seen → verified plan (times.signalToDecisionMs); undefined for manual. */
  readonly signalToDecisionMs: number | undefined;
  /** Verified plan → the kill signal (SIGKILL, or the cgroup.kill write). */
  readonly decisionToKillMs: number | undefined;
  /** Kill signal → the victim's memory freed (pidfd readable, or populated 0). */
  readonly killToFreedMs: number | undefined;
  readonly escalated?: boolean;
  /** The handling policy's own call (chain[].durationMs), inside signal→decision. */
  readonly policyMs?: number;
}

export function figuresOf(r: EpisodeRecord): EpisodeFigures {
  const a = r.actions.find((x) => x.action.kind === "kill-task" || x.action.kind === "kill-cgroup");
  const decided = Date.parse(r.times.decidedAt);
  let decisionToKillMs: number | undefined;
  let killToFreedMs: number | undefined;
  let escalated: boolean | undefined;
  if (a && !a.dryRun) {
    const det = (a.details ?? {}) as Record<string, unknown>;
    const startGap = a.startedAtMs - decided;
    if (a.action.kind === "kill-task" && typeof det.signalMs === "number") {
      decisionToKillMs = startGap + det.signalMs;
      if (typeof det.exitMs === "number") killToFreedMs = det.exitMs - det.signalMs;
      escalated = det.escalated === true;
    } else if (a.action.kind === "kill-cgroup") {
      decisionToKillMs = startGap;
      if (typeof det.emptyMs === "number" && det.emptyMs >= 0) killToFreedMs = det.emptyMs;
    }
  }
  const round = (x: number | undefined) => (x === undefined ? undefined : Math.round(x * 10) / 10);
  const handling = r.chain.find((c) => c.outcome === "handled");
  return {
    signalToDecisionMs: round(r.times.signalToDecisionMs),
    decisionToKillMs: round(decisionToKillMs),
    killToFreedMs: round(killToFreedMs),
    ...(escalated !== undefined ? { escalated } : {}),
    ...(handling ? { policyMs: handling.durationMs } : {}),
  };
}

export interface FigureRow {
  readonly scenario: string;
  /** The decision's path (record.decision): a standing plan carried out, or a fresh decision. */
  readonly decision: "standing" | "fresh" | "none";
  /** For a fresh decision, why no standing plan was carried out. */
  readonly standingRefused?: string;
  /** For a standing plan, its age at the trigger (ms). */
  readonly standingAgeMs?: number;
  readonly kernel: string;
  readonly date: string;
  readonly policy: string | null;
  readonly trigger: string;
  readonly victim: string;
  readonly figures: EpisodeFigures;
  readonly idle?: { rssKiB: number; cpuMs: number; wallMs: number };
  readonly episode?: { peakRssKiB: number; cpuMs: number; wallMs: number };
}

const rows: FigureRow[] = [];

export function kernelRelease(): string {
  return readFileSync("/proc/sys/kernel/osrelease", "utf8").trim();
}

export function addFigure(scenario: string, r: EpisodeRecord, usage: { idle?: FigureRow["idle"]; episode?: FigureRow["episode"] } = {}): FigureRow {
  const a = r.plan[0];
  const victim = a === undefined ? "none" : a.kind === "kill-task" ? `pid ${a.pid} (${a.comm})` : a.kind === "kill-cgroup" ? a.cgroup : a.kind;
  const dec = r.decision;
  const how = dec === undefined ? { decision: "none" as const } : dec.path === "standing" ? { decision: "standing" as const, standingAgeMs: dec.ageMs } : { decision: "fresh" as const, ...(dec.standingRefused !== undefined ? { standingRefused: dec.standingRefused } : {}) };
  const row: FigureRow = { scenario, ...how, kernel: kernelRelease(), date: new Date().toISOString(), policy: r.policy, trigger: r.cause.trigger, victim, figures: figuresOf(r), ...usage };
  rows.push(row);
  return row;
}

export function writeFigures(name: string): void {
  if (rows.length === 0) return;
  for (const r of rows) {
    const f = r.figures;
    const how = r.decision === "standing" ? `standing plan ${r.standingAgeMs} ms old` : r.decision === "fresh" ? `fresh (${r.standingRefused ?? "standing decisions off"})` : "no decision path";
    const parts = [
      how,
      `signal→decision ${f.signalToDecisionMs ?? "-"} ms`,
      `decision→kill ${f.decisionToKillMs ?? "-"} ms`,
      `kill→freed ${f.killToFreedMs ?? "-"} ms`,
      `policy call ${f.policyMs ?? "-"} ms`,
      ...(r.idle ? [`idle RSS ${(r.idle.rssKiB / 1024).toFixed(1)} MiB, CPU ${r.idle.cpuMs} ms in ${r.idle.wallMs} ms`] : []),
      ...(r.episode ? [`episode peak RSS ${(r.episode.peakRssKiB / 1024).toFixed(1)} MiB, CPU ${r.episode.cpuMs} ms in ${r.episode.wallMs} ms`] : []),
    ];
    console.log(`# figure: ${r.kernel} ${r.scenario} (${r.policy ?? "none"}, ${r.trigger}, victim ${r.victim}): ${parts.join("; ")}`);
  }
  if (RUN_DIR) writeFileSync(path.join(RUN_DIR, `daemon-figures-${name}.json`), `${JSON.stringify({ kernel: kernelRelease(), date: new Date().toISOString(), rows }, null, 2)}\n`);
  rows.length = 0;
}

// ---------------------------------------------------------------------------------------------
// Small things the scenarios share

/** How the record's decision was reached, for assertion messages: "standing (... ms old)" or "fresh: <why>". */
export function decisionOf(r: EpisodeRecord): string {
  const d = r.decision;
  if (d === undefined) return "no decision path (standing decisions off)";
  return d.path === "standing" ? `standing (${d.ageMs} ms old, made in ${d.decisionMs} ms; rechecked ${JSON.stringify(d.rechecked)})` : `fresh: ${d.standingRefused ?? "-"}`;
}

/** A cgroup path relative to /sys/fs/cgroup ("/oomkit-test-.../oom_test") for a config file. */
export function rel(dir: string): string {
  return dir.replace(/^\/sys\/fs\/cgroup/, "");
}

export function setOomScoreAdj(pid: number, adj: number): void {
  writeFileSync(`/proc/${pid}/oom_score_adj`, String(adj));
}

/** The machine's oom_kill counter (/proc/vmstat): kernel OOM kills since boot. */
export function vmstatOomKills(): number {
  return Number(/^oom_kill (\d+)/m.exec(readFileSync("/proc/vmstat", "utf8"))?.[1] ?? NaN);
}

export function exists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
