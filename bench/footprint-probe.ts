/**
 * Measuring one oomkit daemon (or any node child) from outside: start-up time to its
 * "oomkit: watching" line, /proc/<pid>/status and smaps_rollup figures, CPU seconds over a
 * window, the peak an episode adds, and how it stops. Used by bench/footprint.bench.ts.
 */
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { type ChildProcess, spawn } from "node:child_process";
import { lockedResidentBytes, parseKbFields } from "../src/os/parse/smaps.js";

export const MAIN_JS = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../src/cli/main.js");
const CLK_TCK = 100;
/** The flags deploy/oomkit.service and the DaemonSet pass (keep in step with them). */
export const DEPLOY_FLAGS = ["--max-semi-space-size=1", "--v8-pool-size=1"];

export interface Footprint {
  readonly vmRssKiB: number;
  readonly rssAnonKiB: number;
  readonly rssFileKiB: number;
  readonly rssShmemKiB: number;
  readonly pssKiB: number;
  /** smaps_rollup Locked: proportional (shared pages count in part). */
  readonly lockedKiB: number;
  /** Rss of the mappings smaps flags "lo". */
  readonly lockedRssKiB: number;
  readonly threads: number;
}

export function footprintOf(pid: number): Footprint {
  const st = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const s = parseKbFields(st);
  const r = parseKbFields(fs.readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"));
  const threads = Number(/^Threads:\s+(\d+)/m.exec(st)?.[1] ?? Number.NaN);
  return { vmRssKiB: s.VmRSS ?? 0, rssAnonKiB: s.RssAnon ?? 0, rssFileKiB: s.RssFile ?? 0, rssShmemKiB: s.RssShmem ?? 0, pssKiB: r.Pss ?? 0, lockedKiB: r.Locked ?? 0, lockedRssKiB: lockedResidentBytes(fs.readFileSync(`/proc/${pid}/smaps`, "utf8")) / 1024, threads };
}

/** utime + stime of a process, in seconds. */
export function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

export interface Daemon {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly dir: string;
  readonly startMs: number;
  /** CPU time (utime + stime) the process had used when it said "watching": steadier than
   * startMs on a loaded machine, where waiting for a core counts in wall time. */
  readonly startCpuMs: number;
  stderr(): string;
}

/**
 * Starts `node <nodeFlags> main.js run --dry-run` on the built-in default configuration, in a
 * scratch folder for its state, socket and event log, with its metrics on a port of the kernel's
 * choosing (several benches may run at once). Resolves once it says "oomkit: watching".
 */
export async function startDaemon(nodeFlags: readonly string[] = [], extraArgs: readonly string[] = [], main: string = MAIN_JS): Promise<Daemon> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-fp-"));
  const args = [...nodeFlags, main, "run", "--dry-run", "--state-dir", dir, "--socket", path.join(dir, "sock"), "--event-log", path.join(dir, "events.jsonl"), "--metrics-listen", "127.0.0.1:0", ...extraArgs];
  const t0 = performance.now();
  const child = spawn(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  let startCpuMs = Number.NaN;
  const startMs = await new Promise<number>((resolve, reject) => {
    child.stderr!.on("data", (d: Buffer) => {
      err += d.toString();
      if (err.includes("oomkit: watching\n") && Number.isNaN(startCpuMs)) {
        startCpuMs = cpuSeconds(child.pid!) * 1000;
        resolve(performance.now() - t0);
      }
    });
    child.once("exit", (code) => reject(new Error(`the daemon exited (${code}) before watching:\n${err}`)));
  });
  return { child, pid: child.pid!, dir, startMs, startCpuMs, stderr: () => err };
}

/** SIGTERM, then how it ended: the exit code, and whether V8 aborted (a `Check failed`). */
export async function stopDaemon(d: Daemon): Promise<{ code: number | null; signal: string | null; aborted: boolean }> {
  const done = new Promise<{ code: number | null; signal: string | null }>((resolve) => d.child.once("exit", (code, signal) => resolve({ code, signal })));
  d.child.kill("SIGTERM");
  const r = await done;
  fs.rmSync(d.dir, { recursive: true, force: true });
  return { ...r, aborted: /Check failed|Fatal error|Aborted/.test(d.stderr()) || r.signal === "SIGABRT" };
}

/** Asks the daemon for a manual OOM at "/" (dry-run: decided, not acted on). */
export function manualOom(d: Daemon): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(path.join(d.dir, "sock"));
    let got = "";
    s.on("data", (b) => {
      got += b.toString();
      if (got.includes("\n")) {
        s.end();
        resolve(got);
      }
    });
    s.on("error", reject);
    s.write(`${JSON.stringify({ op: "oom", scope: "/", reason: "footprint bench" })}\n`);
  });
}

/**
 * One manual OOM: the peak resident memory it adds over the idle figure (VmHWM reset, the OOM,
 * VmHWM read) and the request's round trip (the decision, in dry-run).
 */
export async function episode(d: Daemon): Promise<{ peakKiB: number; ms: number }> {
  const before = footprintOf(d.pid).vmRssKiB;
  fs.writeFileSync(`/proc/${d.pid}/clear_refs`, "5");
  const t0 = performance.now();
  const reply = await manualOom(d);
  const ms = performance.now() - t0;
  if (!reply.includes('"ok":true')) throw new Error(`the manual OOM failed: ${reply}`);
  const hwm = parseKbFields(fs.readFileSync(`/proc/${d.pid}/status`, "utf8")).VmHWM ?? 0;
  return { peakKiB: hwm - before, ms };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const mib = (kib: number) => (kib / 1024).toFixed(1);

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)] ?? Number.NaN;
}
