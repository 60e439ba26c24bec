// oomkit against the peer daemons in the VM (BENCHMARKS.md "Against the peers (in the VM)").
// Runs only with OOMKIT_BENCH_PEERS=1; otherwise every test here is skipped, so the ordinary
// suite stays fast:
//
//   npx tsc -p tsconfig.json
//   OOMKIT_BENCH_PEERS=1 OOMKIT_KERNELS=6.12 OOMKIT_KERNEL_TESTS=peers node scripts/test-kernel.mjs
//
// For each handler — the kernel alone, earlyoom, nohang, `oomkit run` — and each scenario of
// /work/shared/PEERS.md (a leak among steady bystanders without swap; the same with zram swap;
// two growing jobs of different importance), and a crowded machine (the leak among bystanders
// with 3,000 waiting tasks in 300 cgroups beside them, crowd.ts; there also oomkit with
// `standing_decisions = false`, as before issue 11), one run (OOMKIT_BENCH_PEERS_REPS for more)
// measures from the leak's start to the first kill: the time, the victim, the `full` stall
// accumulated in /proc/pressure/memory, whether the kernel's OOM killer acted
// (/proc/vmstat oom_kill) and the handler's resident memory (idle, and peak during the run).
//
// The machine. The guest has 1.5 GiB; most of its free memory is reserved as huge pages
// (vm.nr_hugepages, as daemon-zram.test does) so that a leak of tens of MiB/s fills the rest in
// seconds under TCG. MemTotal still counts the reservation, so the "10 %" thresholds of earlyoom
// and oomkit (and nohang's 5 %) are fractions of the whole 1.5 GiB: they leave more headroom
// than on a machine of that size. The same for every handler.
//
// The processes are copies of the hog (test/kernel/hog.c) under names that say their role
// (`leak`, `bystander`, `important`, `batch`: the comm that earlyoom's --prefer/--avoid, nohang's
// @BADNESS_ADJ_RE_NAME and oomkit's rules match), each in a cgroup of its own with no limits. The
// test's own node processes get oom_score_adj -1000 for every handler alike, so no handler can
// kill the benchmark itself. Each handler is started as a child of the test and stopped by pid.
import assert from "node:assert/strict";
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { HOG, RUN_DIR, TestTree, vmSkip, meminfo } from "./helpers.js";
import { defaultConfigWith, figuresOf, kernelRelease, startDaemon, usageOf, type DaemonProc } from "./daemon-helpers.js";
import { CROWD_LEAK_MIB_S, CROWD_SHAPE, type Crowd, startCrowd } from "./crowd.js";

const ENABLED = process.env.OOMKIT_BENCH_PEERS === "1";
const SKIP: string | false = ENABLED ? vmSkip() : "peer comparison: set OOMKIT_BENCH_PEERS=1";
const REPS = Math.max(1, Number(process.env.OOMKIT_BENCH_PEERS_REPS ?? 1));
/** The leak's growth, MiB/s. */
const RATE = Number(process.env.OOMKIT_BENCH_PEERS_RATE ?? 50);
/** Memory left outside the huge-page reservation, MiB. */
const LEFT_MIB = Number(process.env.OOMKIT_BENCH_PEERS_LEFT_MIB ?? 768);
const ZRAM_MIB = Number(process.env.OOMKIT_BENCH_PEERS_ZRAM_MIB ?? 384);
/** Which handlers (comma-separated) run; all by default. */
const ONLY = (process.env.OOMKIT_BENCH_PEERS_HANDLERS ?? "kernel,earlyoom,nohang,oomkit,oomkit-fresh").split(",");
/** Which scenarios (comma-separated) run; all by default. */
const SCENARIOS = (process.env.OOMKIT_BENCH_PEERS_SCENARIOS ?? "leak,priority,leak-zram,crowd").split(",");
const BIN_DIR = "/run/oomkit-peers";
/** How long the harness waits for oomkit's record of its first kill, once the kill is seen. */
const RECORD_WAIT_MS = 15_000;
/** Where the peers' packages are unpacked in the guest (unpackPeers), and nohang's packaged configuration. */
const PEER_ROOT = "/run/oomkit-peers-root";
let nohangConf = "/etc/nohang/nohang.conf";

type HandlerName = "kernel" | "earlyoom" | "nohang" | "oomkit" | "oomkit-fresh";
type ScenarioName = "leak" | "leak-zram" | "priority" | "crowd";

// ---------------------------------------------------------------------------------------------
// The machine

/** /proc/pressure/memory `full total`, in µs. */
function fullTotalUs(): number {
  return Number(/^full .*total=(\d+)/m.exec(readFileSync("/proc/pressure/memory", "utf8"))?.[1] ?? NaN);
}

function vmstatOomKills(): number {
  return Number(/^oom_kill (\d+)/m.exec(readFileSync("/proc/vmstat", "utf8"))?.[1] ?? NaN);
}

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** The kernel's "Killed process PID (comm)" lines so far. */
function kernelKills(): { pid: number; comm: string }[] {
  let text = "";
  try {
    text = sh("dmesg", []);
  } catch {
    return [];
  }
  return [...text.matchAll(/Killed process (\d+) \(([^)]*)\)/g)].map((m) => ({ pid: Number(m[1]), comm: m[2]! }));
}

function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state === "Z" || state === "X";
  } catch {
    return true;
  }
}

/**
 * The peer daemons, from Debian's packages the harness downloaded (OOMKIT_PEER_DEBS, a colon list
 * of .deb paths on the host's root, which the guest sees read-only), unpacked into a folder of the
 * guest's own (PEER_ROOT, on its tmpfs) and put first on PATH: nothing is installed on the host
 * and no maintainer script runs. Not into "/": there the first package's ./usr/bin/ entry hid the
 * host's /usr/bin in the guest's overlay, and dpkg-deb itself was gone for the second. A daemon
 * already on the guest's PATH is left as it is.
 */
function unpackPeers(): void {
  for (const deb of (process.env.OOMKIT_PEER_DEBS ?? "").split(":").filter(Boolean)) {
    const pkg = path.basename(deb).replace(/_.*$/, "");
    try {
      sh("sh", ["-c", `command -v ${pkg}`]);
      continue;
    } catch {
      /* not there: unpack it */
    }
    mkdirSync(PEER_ROOT, { recursive: true });
    sh("dpkg-deb", ["-x", deb, PEER_ROOT]);
    process.env.PATH = `${PEER_ROOT}/usr/sbin:${PEER_ROOT}/usr/bin:${process.env.PATH ?? ""}`;
    console.log(`# peers: unpacked ${path.basename(deb)} into ${PEER_ROOT}`);
  }
  const unpacked = path.join(PEER_ROOT, "etc/nohang/nohang.conf");
  if (!existsSync(nohangConf) && existsSync(unpacked)) nohangConf = unpacked;
}

// ---------------------------------------------------------------------------------------------
// The workload: hogs under role names

interface Proc {
  readonly role: string;
  readonly pid: number;
  readonly ready: Promise<void>;
  readonly exited: Promise<void>;
  /** performance.now() when the exit was seen, and how it ended. */
  exitAt?: number;
  /** performance.now() when the poll first saw it a zombie (before node's exit event). */
  deadAt?: number;
  signal?: string | null;
  code?: number | null;
  kill(): void;
}

function roleBinary(role: string): string {
  const bin = path.join(BIN_DIR, role);
  if (!existsSync(bin)) {
    mkdirSync(BIN_DIR, { recursive: true });
    copyFileSync(HOG, bin);
    chmodSync(bin, 0o755);
  }
  return bin;
}

/**
 * The test's own node process runs at oom_score_adj -1000, which children inherit: what it
 * starts (hogs, handlers) is started with it back at 0 for the moment of the fork.
 */
function unprotected<T>(start: () => T): T {
  writeFileSync("/proc/self/oom_score_adj", "0");
  try {
    return start();
  } finally {
    writeFileSync("/proc/self/oom_score_adj", "-1000");
  }
}

function launch(role: string, cgroup: string, mib: number, rate: number): Proc {
  const args = ["-c", cgroup, "-m", String(mib), "-n"];
  if (rate > 0) args.push("-r", String(rate));
  const child: ChildProcess = unprotected(() => spawn(roleBinary(role), args, { stdio: ["ignore", "pipe", "pipe"] }));
  if (child.pid === undefined) throw new Error(`cannot start ${role}`);
  let out = "";
  let resolveReady!: () => void;
  let rejectReady!: (e: Error) => void;
  const ready = new Promise<void>((res, rej) => {
    resolveReady = res;
    rejectReady = rej;
  });
  ready.catch(() => undefined);
  child.stdout!.setEncoding("utf8").on("data", (c: string) => {
    out += c;
    if (out.includes("hog ready")) resolveReady();
  });
  child.stderr!.setEncoding("utf8").on("data", (c: string) => (out += c));
  const p: Proc = {
    role,
    pid: child.pid,
    ready,
    exited: new Promise<void>((res) =>
      child.on("exit", (code, signal) => {
        p.exitAt = performance.now();
        p.code = code;
        p.signal = signal;
        rejectReady(new Error(`${role} exited (${signal ?? code}) before it was ready: ${out}`));
        res();
      }),
    ),
    kill: () => {
      if (p.exitAt === undefined) {
        try {
          process.kill(child.pid!, "SIGKILL");
        } catch {
          /* gone */
        }
      }
    },
  };
  return p;
}

// ---------------------------------------------------------------------------------------------
// The handlers

interface Handler {
  readonly pid: number | undefined;
  lines(): string[];
  /**
   * oomkit: how its first kill was decided (the record's decision path, and how long from the
   * signal). The record is written once the victim's memory is freed, which under TCG on the
   * crowded machine took up to 7 s after the kill: it is waited for (at most RECORD_WAIT_MS).
   */
  decision?(): Promise<string | undefined>;
  alive(): boolean;
  stop(): Promise<void>;
}

function spawnPeer(cmd: string, args: string[], ready: RegExp): Promise<Handler> {
  const child = unprotected(() => spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, PYTHONUNBUFFERED: "1" } }));
  // A daemon that cannot be started (not installed: ENOENT) says so through "error", later: left
  // unheard, that event failed the whole scenario and left the previous handler running into the
  // next one (a run of 2026-11-30 without earlyoom). Heard, the handler is reported as not run.
  let failed: Error | undefined;
  child.on("error", (e) => (failed = e));
  if (child.pid === undefined) throw new Error(`cannot start ${cmd}${failed ? `: ${failed.message}` : ""}`);
  const all: string[] = [];
  let partial = "";
  let exited = false;
  const done = new Promise<void>((res) =>
    child.on("exit", () => {
      exited = true;
      res();
    }),
  );
  const onData = (c: string) => {
    partial += c;
    let nl: number;
    while ((nl = partial.indexOf("\n")) >= 0) {
      all.push(partial.slice(0, nl));
      partial = partial.slice(nl + 1);
    }
  };
  child.stdout!.setEncoding("utf8").on("data", onData);
  child.stderr!.setEncoding("utf8").on("data", onData);
  const h: Handler = {
    pid: child.pid,
    lines: () => [...all],
    alive: () => !exited,
    stop: async () => {
      if (exited) return;
      process.kill(child.pid!, "SIGTERM");
      const t = setTimeout(() => {
        if (!exited) process.kill(child.pid!, "SIGKILL");
      }, 5000);
      await done;
      clearTimeout(t);
    },
  };
  return (async () => {
    const deadline = Date.now() + 60_000;
    while (!all.some((l) => ready.test(l))) {
      if (exited) throw new Error(`${cmd} exited at start:\n${all.join("\n")}`);
      if (Date.now() > deadline) {
        await h.stop();
        throw new Error(`${cmd} did not print ${ready} within 60 s:\n${all.join("\n")}`);
      }
      await sleep(20);
    }
    return h;
  })();
}

/**
 * oomkit's built-in default (DEFAULT_CONFIG_TOML), as it ships; in "priority" two name rules
 * added to its one attachment (a sub-table after it names the last [[attach]]).
 */
function oomkitConfig(scenario: ScenarioName): string {
  if (scenario !== "priority") return defaultConfigWith({});
  return defaultConfigWith({
    tail: `
[attach.options.prefer]
command = ["^batch$"]
[attach.options.avoid]
command = ["^important$"]
`,
  });
}

async function startHandler(name: HandlerName, scenario: ScenarioName, dir: string): Promise<Handler | undefined> {
  switch (name) {
    case "kernel":
      return undefined;
    case "earlyoom": {
      // Debian's earlyoom with its defaults (-m 10 -s 10); in "priority" its name rules.
      const args = ["-m", "10", "-s", "10", "-r", "0"];
      if (scenario === "priority") args.push("--prefer", "^batch$", "--avoid", "^important$");
      return spawnPeer("earlyoom", args, /sending SIGKILL when|SIGTERM when/);
    }
    case "nohang": {
      // Debian's packaged configuration as it ships; in "priority" two name rules added.
      let conf = readFileSync(nohangConf, "utf8");
      if (scenario === "priority") conf += "\n@BADNESS_ADJ_RE_NAME 1000 /// ^batch$\n@BADNESS_ADJ_RE_NAME -1000 /// ^important$\n";
      const file = path.join(dir, `nohang-${scenario}.conf`);
      writeFileSync(file, conf);
      return spawnPeer("nohang", ["--monitor", "--config", file], /Monitoring has started/);
    }
    case "oomkit":
    case "oomkit-fresh": {
      // startDaemon forks before its first await: oomkit starts at 0 and lowers its own
      // oom_score_adj to -1000 (src/daemon/self-protect.ts), as it does in production.
      const config = name === "oomkit-fresh" ? `standing_decisions = false\n${oomkitConfig(scenario)}` : oomkitConfig(scenario);
      // As it ships: the systemd unit's node flags and environment (deploy/oomkit.service).
      const d: DaemonProc = await unprotected(() => startDaemon({ name: `peers-${scenario}`, config, readyTimeoutMs: 120_000, shipped: true, keepLog: `peers-oomkit-${scenario}.log` }));
      // A daemon that has been running a while has a plan standing for the machine: wait for
      // its first (on the crowded machine, its warm-up takes a while under TCG). Where nothing
      // the policy may kill runs yet ("priority": batch and important start with the leak, and
      // rules' name rules pass over the rest), its first decision run stands with no plan, and
      // the plan comes once they run.
      if (name === "oomkit") {
        const t0 = performance.now();
        const first = await d.waitStanding("/", (v) => v.policy !== null || scenario === "priority", 240_000);
        console.log(`# peers: ${scenario} oomkit: the first standing decision for / after ${Math.round(performance.now() - t0)} ms (${first.policy === null ? "no plan" : `a plan by ${first.policy}`})`);
      }
      let stopped = false;
      void d.exited.then(() => (stopped = true));
      const decision = async () => {
        const r = await d.waitRecord((x) => x.plan.length > 0, RECORD_WAIT_MS).catch(() => undefined);
        if (!r) return undefined;
        const path = r.decision === undefined ? "fresh (standing off)" : r.decision.path === "standing" ? `standing (${Math.round(r.decision.ageMs)} ms old)` : `fresh: ${r.decision.standingRefused}`;
        const f = figuresOf(r);
        const kill = f.signalToDecisionMs !== undefined && f.decisionToKillMs !== undefined ? Math.round(f.signalToDecisionMs + f.decisionToKillMs) : "-";
        // The chain as it ran (a policy that timed out and the one that acted instead).
        const chain = r.chain.map((c) => `${c.policy} ${c.outcome} ${Math.round(c.durationMs)} ms`).join(" > ");
        return `${path}, ${r.cause.trigger}, signal→decision ${f.signalToDecisionMs ?? "-"} ms, signal→kill ${kill} ms [${chain}]`;
      };
      return { pid: d.pid, lines: () => d.lines(), alive: () => !stopped, stop: async () => void (await d.stop()), decision };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// One run

interface RunResult {
  scenario: ScenarioName;
  handler: HandlerName;
  rep: number;
  /** Leak start → the first process gone (ms); undefined when nothing died before the deadline. */
  firstKillMs?: number;
  victim: string;
  right: boolean;
  /** /proc/pressure/memory full total, leak start → first kill (ms). */
  fullStallMs: number;
  /** /proc/vmstat oom_kill at the first kill and 2 s later, minus the count before the leak. */
  kernelKillsAtFirst: number;
  kernelKillsAfter: number;
  killedBy: "kernel" | "handler" | "none";
  idleRssKiB?: number;
  /** The idle RSS's anonymous and file-backed parts (RssAnon is the handler's alone; RssFile is shared with whatever maps the same files). */
  idleRssAnonKiB?: number;
  idleRssFileKiB?: number;
  peakRssKiB?: number;
  handlerCpuMs?: number;
  /** The lowest MemAvailable and SwapFree seen from the leak's start to the kill. */
  minMemAvailableKiB: number;
  minSwapFreeKiB: number;
  handlerSaid: string[];
  /** Processes of the run besides the victim that died by 2 s after the first kill (crowd tasks included). */
  othersKilled: number;
  /** oomkit: how its first kill was decided. */
  decision?: string;
}

const results: RunResult[] = [];

async function settle(): Promise<void> {
  // The previous run's memory back (swap drained), and a moment for the PSI averages.
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const m = meminfo();
    if (m.SwapTotal! - m.SwapFree! < 8 * 1024) break;
    await sleep(200);
  }
  await sleep(1500);
}

async function runOne(t: TestTree, scenario: ScenarioName, handler: HandlerName, rep: number, dir: string, crowd?: Crowd): Promise<RunResult> {
  await settle();
  const base = t.mk(`${scenario}-${handler}-${rep}`);
  const procs: Proc[] = [];
  // The crowd stands through every run of the scenario: what an earlier run killed of it is not this one's.
  const crowdBefore = crowd?.count();
  const swapMib = scenario === "leak-zram" ? ZRAM_MIB : 0;
  const hugeMib = LEFT_MIB + swapMib + 512; // more than the machine holds: someone must die
  let right: (p: Proc) => boolean;
  const growers: (() => Proc)[] = [];
  if (scenario === "priority") {
    // The important job grows twice as fast as the batch job, so it is the larger when memory
    // runs out: the kernel's badness picks it.
    growers.push(() => launch("important", t.mk(`${path.basename(base)}/important`), hugeMib, RATE));
    growers.push(() => launch("batch", t.mk(`${path.basename(base)}/batch`), hugeMib, RATE / 2));
    right = (p) => p.role === "batch";
  } else {
    // "leak", "leak-zram", "crowd" (the crowd of waiting tasks stands beside them throughout).
    for (let i = 0; i < 3; i++) procs.push(launch("bystander", t.mk(`${path.basename(base)}/bystander${i}`), 40, 0));
    await Promise.all(procs.map((p) => p.ready));
    growers.push(() => launch("leak", t.mk(`${path.basename(base)}/leak`), hugeMib, scenario === "crowd" ? CROWD_LEAK_MIB_S : RATE));
    right = (p) => p.role === "leak";
  }

  let h: Handler | undefined;
  try {
    h = await startHandler(handler, scenario, dir);
  } catch (e) {
    // Not run: its bystanders must not live on into the next handler's run (they did, and that
    // handler killed them).
    for (const p of procs) p.kill();
    await Promise.all(procs.map((p) => p.exited));
    throw e;
  }
  let idleRssKiB: number | undefined;
  let idleParts: { idleRssAnonKiB: number; idleRssFileKiB: number } | undefined;
  let cpu0 = 0;
  if (h?.pid !== undefined) {
    await sleep(2000);
    const u = usageOf(h.pid);
    idleRssKiB = u.rssKiB;
    if (Number.isFinite(u.rssAnonKiB) && Number.isFinite(u.rssFileKiB)) idleParts = { idleRssAnonKiB: u.rssAnonKiB, idleRssFileKiB: u.rssFileKiB };
    cpu0 = u.cpuMs;
  }
  const kills0 = vmstatOomKills();
  const full0 = fullTotalUs();
  const kmsg0 = kernelKills().length;
  const t0 = performance.now();
  for (const g of growers) procs.push(g());
  const deadlineMs = scenario === "leak-zram" || scenario === "crowd" ? 150_000 : 75_000;
  let peak = idleRssKiB ?? 0;
  let lastSample = 0;
  let firstAt: number | undefined;
  let killsAtFirst = 0;
  let fullAtFirst = 0;
  let handlerDied = false;
  // The lowest MemAvailable and SwapFree seen from the leak's start to the kill: how far the
  // handler let the machine go (a sample taken after the kill would show the victim's memory back).
  let minAvail = Infinity;
  let minSwapFree = Infinity;
  for (;;) {
    const now = performance.now();
    const mem = meminfo();
    minAvail = Math.min(minAvail, mem.MemAvailable!);
    minSwapFree = Math.min(minSwapFree, mem.SwapFree!);
    const kills = vmstatOomKills() - kills0;
    // A victim is gone once it is a zombie (its memory is freed before that): sooner than
    // node's exit event.
    for (const p of procs) if (p.exitAt === undefined && p.deadAt === undefined && isZombie(p.pid)) p.deadAt = now;
    const gone = procs.some((p) => p.exitAt !== undefined || p.deadAt !== undefined);
    if (h && !h.alive()) handlerDied = true;
    if (kills > 0 || gone || handlerDied) {
      firstAt = Math.min(now, ...procs.map((p) => Math.min(p.exitAt ?? Infinity, p.deadAt ?? Infinity)));
      killsAtFirst = kills;
      fullAtFirst = fullTotalUs();
      break;
    }
    if (now - t0 > deadlineMs) break;
    if (h?.pid !== undefined && now - lastSample > 100) {
      lastSample = now;
      try {
        peak = Math.max(peak, usageOf(h.pid).rssKiB);
      } catch {
        /* exiting */
      }
    }
    await sleep(10);
  }
  let cpuMs: number | undefined;
  if (h?.pid !== undefined && h.alive()) {
    try {
      const u = usageOf(h.pid);
      peak = Math.max(peak, u.rssKiB);
      cpuMs = u.cpuMs - cpu0;
    } catch {
      /* exiting */
    }
  }
  await sleep(2000);
  const killsAfter = vmstatOomKills() - kills0;
  const decision = await h?.decision?.();
  // The victim: the first of our processes gone, else what the kernel says it killed.
  const goneAt = (p: Proc) => Math.min(p.exitAt ?? Infinity, p.deadAt ?? Infinity);
  const first = procs.filter((p) => goneAt(p) < Infinity).sort((a, b) => goneAt(a) - goneAt(b))[0];
  let victim = "none";
  let isRight = false;
  if (first && goneAt(first) <= (firstAt ?? Infinity) + 1) {
    victim = `${first.role} (${first.signal ?? `exit ${first.code}`})`;
    isRight = right(first);
  } else if (killsAtFirst > 0) {
    const k = kernelKills().slice(kmsg0)[0];
    const ours = k && procs.find((p) => p.pid === k.pid);
    victim = k ? `${ours ? ours.role : k.comm} (kernel, pid ${k.pid})` : "unknown (kernel)";
    isRight = ours !== undefined && right(ours);
  } else if (handlerDied) {
    victim = `${handler} itself`;
  } else if (first) {
    victim = `${first.role} (${first.signal ?? `exit ${first.code}`})`;
    isRight = right(first);
  }
  // Everything else that died by now: our other processes, and crowd tasks.
  const othersKilled = procs.filter((p) => p !== first && goneAt(p) < Infinity).length + (crowd && crowdBefore !== undefined ? crowdBefore - crowd.count() : 0);
  const said = (h?.lines() ?? []).filter((l) => /kill|SIGTERM|SIGKILL|victim|sending|oom_policy=|corrective/i.test(l) && !/not acting|when mem|threshold/i.test(l)).slice(0, 6);
  await h?.stop();
  for (const p of procs) p.kill();
  await Promise.all(procs.map((p) => p.exited));
  const r: RunResult = {
    scenario,
    handler,
    rep,
    ...(firstAt !== undefined ? { firstKillMs: Math.round(firstAt - t0) } : {}),
    victim,
    right: isRight,
    fullStallMs: Math.round(((firstAt !== undefined ? fullAtFirst : fullTotalUs()) - full0) / 1000),
    kernelKillsAtFirst: killsAtFirst,
    kernelKillsAfter: killsAfter,
    killedBy: firstAt === undefined ? "none" : killsAtFirst > 0 ? "kernel" : "handler",
    ...(idleRssKiB !== undefined ? { idleRssKiB, ...idleParts, peakRssKiB: peak } : {}),
    ...(cpuMs !== undefined ? { handlerCpuMs: cpuMs } : {}),
    minMemAvailableKiB: minAvail,
    minSwapFreeKiB: minSwapFree,
    handlerSaid: said,
    othersKilled,
    ...(decision !== undefined ? { decision } : {}),
  };
  results.push(r);
  const parts = r.idleRssAnonKiB !== undefined && r.idleRssFileKiB !== undefined ? ` (RssAnon ${(r.idleRssAnonKiB / 1024).toFixed(1)}, RssFile ${(r.idleRssFileKiB / 1024).toFixed(1)})` : "";
  const rss = r.idleRssKiB !== undefined ? `; RSS idle ${(r.idleRssKiB / 1024).toFixed(1)} MiB${parts}, peak ${(r.peakRssKiB! / 1024).toFixed(1)} MiB` : "";
  console.log(
    `# peers: ${kernelRelease()} ${scenario} ${handler} #${rep}: first kill ${r.firstKillMs ?? "-"} ms, victim ${victim}${isRight ? " (right)" : " (WRONG)"}, ` +
      `by ${r.killedBy}, full stall ${r.fullStallMs} ms, kernel oom_kill +${killsAtFirst} (+${killsAfter} after 2 s)${rss}; ` +
      `lowest before the kill: MemAvailable ${Math.round(minAvail / 1024)} MiB, SwapFree ${Math.round(minSwapFree / 1024)} MiB; ` +
      `${othersKilled} other process(es) killed${decision ? `; ${decision}` : ""}`,
  );
  for (const l of said) console.log(`#   ${handler}: ${l.slice(0, 200)}`);
  return r;
}

// ---------------------------------------------------------------------------------------------

function handlersToRun(scenario: ScenarioName): HandlerName[] {
  // On the crowded machine, also oomkit deciding at the trigger as before standing decisions.
  const all: HandlerName[] = scenario === "crowd" ? ["kernel", "earlyoom", "nohang", "oomkit", "oomkit-fresh"] : ["kernel", "earlyoom", "nohang", "oomkit"];
  return all.filter((h) => ONLY.includes(h));
}

describe("oomkit against the peer daemons (OOMKIT_BENCH_PEERS=1)", () => {
  let t: TestTree | undefined;
  let dir = "";
  let hugeBefore = 0;
  let zramOn = false;
  const protectedPids: number[] = [];

  before(async () => {
    if (SKIP) return;
    t = await TestTree.create("peers");
    unpackPeers();
    dir = path.join("/run", "oomkit-peers-conf");
    mkdirSync(dir, { recursive: true });
    // The benchmark itself is no candidate for any handler (children are started at 0).
    for (const pid of [process.pid, process.ppid]) {
      try {
        writeFileSync(`/proc/${pid}/oom_score_adj`, "-1000");
        protectedPids.push(pid);
      } catch {
        /* not ours to protect */
      }
    }
    hugeBefore = Number(readFileSync("/proc/sys/vm/nr_hugepages", "utf8").trim());
    sh("sync", []);
    writeFileSync("/proc/sys/vm/drop_caches", "3");
    const m0 = meminfo();
    const want = Math.max(0, Math.floor((m0.MemFree! - LEFT_MIB * 1024) / m0.Hugepagesize!));
    writeFileSync("/proc/sys/vm/nr_hugepages", String(hugeBefore + want));
    const m = meminfo();
    console.log(
      `# peers: ${kernelRelease()}, ${new Date().toISOString()}: MemTotal ${Math.round(m.MemTotal! / 1024)} MiB, ` +
        `${m.HugePages_Total} huge pages reserved (${Math.round((m.HugePages_Total! * m.Hugepagesize!) / 1024)} MiB), ` +
        `MemFree ${Math.round(m.MemFree! / 1024)} MiB, MemAvailable ${Math.round(m.MemAvailable! / 1024)} MiB; leak ${RATE} MiB/s, zram ${ZRAM_MIB} MiB, ${REPS} run(s) each`,
    );
  });

  after(async () => {
    if (SKIP) return;
    await t?.teardown();
    if (zramOn) {
      try {
        sh("swapoff", ["/dev/zram0"]);
        writeFileSync("/sys/block/zram0/reset", "1");
      } catch {
        /* left as it is */
      }
    }
    writeFileSync("/proc/sys/vm/nr_hugepages", String(hugeBefore));
    // What would keep this process from ending (a child not reaped, a socket): a guest once
    // waited out its timeout after these tests had ended (the runner now forces the exit).
    const left = process.getActiveResourcesInfo().filter((r) => r !== "TTYWrap" && r !== "Timeout");
    if (left.length > 0) console.log(`# peers: still open as the tests end: ${left.join(", ")}`);
    if (RUN_DIR && results.length > 0) {
      writeFileSync(
        path.join(RUN_DIR, "peers.json"),
        `${JSON.stringify({ kernel: kernelRelease(), date: new Date().toISOString(), rate: RATE, leftMib: LEFT_MIB, zramMib: ZRAM_MIB, results }, null, 2)}\n`,
      );
    }
  });

  const scenario = (name: ScenarioName, title: string) =>
    test(title, { skip: SKIP || (SCENARIOS.includes(name) ? false : `not in OOMKIT_BENCH_PEERS_SCENARIOS`) }, async () => {
      if (name === "leak-zram" && !zramOn) {
        sh("modprobe", ["zram", "num_devices=1"]);
        writeFileSync("/sys/block/zram0/disksize", `${ZRAM_MIB}M`);
        sh("mkswap", ["/dev/zram0"]);
        sh("swapon", ["/dev/zram0"]);
        zramOn = true;
        assert.ok(meminfo().SwapTotal! >= (ZRAM_MIB - 1) * 1024, "zram swap on");
      }
      let crowd: Crowd | undefined;
      if (name === "crowd") {
        crowd = await startCrowd(t!, "crowd", CROWD_SHAPE);
        const m = meminfo();
        console.log(`# peers: crowd: ${crowd.tasks} waiting tasks in ${crowd.cgroups.length} cgroups, started in ${(crowd.ms / 1000).toFixed(1)} s; MemAvailable now ${Math.round(m.MemAvailable! / 1024)} MiB`);
      }
      for (let rep = 1; rep <= REPS; rep++) {
        for (const h of handlersToRun(name)) {
          try {
            await runOne(t!, name, h, rep, dir, crowd);
          } catch (e) {
            console.log(`# peers: ${name} ${h} #${rep}: not run: ${(e as Error).message.split("\n").slice(0, 6).join(" | ")}`);
            results.push({ scenario: name, handler: h, rep, victim: `not run: ${(e as Error).message.split("\n")[0]}`, right: false, fullStallMs: 0, kernelKillsAtFirst: 0, kernelKillsAfter: 0, killedBy: "none", minMemAvailableKiB: 0, minSwapFreeKiB: 0, handlerSaid: [], othersKilled: 0 });
          }
        }
      }
      if (crowd) await crowd.stop();
      if (name === "leak-zram") {
        sh("swapoff", ["/dev/zram0"]);
        writeFileSync("/sys/block/zram0/reset", "1");
        zramOn = false;
      }
      assert.ok(results.some((r) => r.scenario === name && r.firstKillMs !== undefined), `some handler of ${name} ran`);
    });

  scenario("leak", "a leak among steady bystanders, no swap");
  scenario("priority", "two growing jobs of different importance, no swap");
  scenario("leak-zram", "a leak among steady bystanders, zram swap");
  scenario("crowd", "a crowded machine: 3,000 waiting tasks in 300 cgroups, a leak among bystanders, no swap");
});
