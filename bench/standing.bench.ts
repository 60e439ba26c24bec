/**
 * Standing decisions against fresh ones: trigger → the first action handed to the executor (the
 * kill syscall's place), on the seeded fixture machines of decision.bench.ts, for `kernel`,
 * `priority`, `largest-leaf` and `rules`.
 *
 * - Fresh: the daemon's path without a standing plan: a live snapshot and the whole chain
 *   (Engine.handleOom), as decision.bench.ts measures.
 * - Standing: the scope's plan was made ahead on the warm model (engine.prepare); at the trigger
 *   a live snapshot is taken and each target is checked and handed on (engine.carryOut). A
 *   trigger lands at a random moment of the daemon's upkeep, so it first waits for whatever
 *   slice is running: the timeline of upkeep slices (model refreshes and decision runs) over
 *   simulated minutes is recorded, and each trigger's wait is the rest of the slice its random
 *   moment falls in (none when it falls between slices).
 * - Upkeep: CPU spent by StandingDecisions.upkeep per second of (simulated) wall time on an idle
 *   machine — model refresh slices plus the decision runs as plans age — and the longest slice.
 *
 * Writes a Markdown table to stdout (and into BENCHMARKS.md with --write). No test asserts on
 * these times.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { REDECIDE_MS, REFRESH_SLICE_MS, StandingDecisions } from "../src/daemon/standing.js";
import type { Engine } from "../src/engine/engine.js";
import type { OomCause } from "../src/engine/policy.js";
import { takeSnapshot } from "../src/engine/snapshot.js";
import { silentLogger } from "../src/log.js";
import { detectCgroupMode } from "../src/os/cgroup-mode.js";
import { OomkitError } from "../src/errors.js";
import { FixtureHost } from "../src/os/fixture-host.js";
import { HostDecorator } from "../src/os/host-decorator.js";
import { type HostWaits, ManualClock } from "../src/os/host.js";
import { ROOT_CGROUP } from "../src/os/paths.js";
import { buildFixture, type FixtureSpec, type FixtureTask, statLine, statusText } from "../test/support/fixture.js";
import { engineFor, machineSpec } from "./decision.bench.js";
import { replaceSection } from "./markdown.js";
import { mulberry32 } from "../src/sim/rng.js";
import { spawnSync } from "node:child_process";
import { DEPLOY_FLAGS } from "./footprint-probe.js";

const HEADING = "## Standing decisions";
const SIZES = [
  { tasks: 1_000, cgroups: 100 },
  { tasks: 10_000, cgroups: 1_000 },
] as const;
const POLICIES = ["kernel", "priority", "largest-leaf", "rules"] as const;
const TRIGGERS = 200;
const FRESH_RUNS = (tasks: number) => (tasks <= 1_000 ? 50 : 12);
/** Simulated idle time over which upkeep is measured. */
const UPKEEP_SECONDS = 60;
const CAUSE: OomCause = { kind: "system", trigger: "bench", message: "bench", figures: {} };
const SEED = 0x5eed;


const pct = (xs: readonly number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil(p * s.length) - 1)] ?? Number.NaN;
};

interface Row {
  readonly tasks: number;
  readonly cgroups: number;
  readonly policy: string;
  readonly fresh: { p50: number; p99: number };
  readonly standing: { p50: number; p99: number };
  /** Had the trigger waited out the decision run's slice instead of stopping it (before src/engine/preempt.ts). */
  readonly waitedOut: { p99: number };
  /** From an event to the decision run it stopped giving back the thread. */
  readonly unwind: { p50: number; p99: number; samples: number };
  /** From an event to a refresh slice it stopped giving back the thread. */
  readonly refreshUnwind: { p50: number; p99: number; samples: number };
  readonly check: { p50: number };
  readonly upkeepIdlePct: number;
  readonly upkeepPressurePct: number;
  readonly longestSliceMs: number;
  readonly same: boolean;
  /** Churn: how often the standing plan equals a fresh decision at a trigger, and what differed. */
  readonly agreement: { readonly trials: number; readonly same: number; readonly refused: number; readonly otherVictim: number; readonly heldShare: number | undefined };
}

/** Runs upkeep over `seconds` of simulated time; returns the slices it ran and its CPU share. */
async function upkeep(standing: StandingDecisions, clock: ManualClock, seconds: number): Promise<{ slices: number[]; stoppable: boolean[]; refresh: boolean[]; cpuPct: number }> {
  const slices: number[] = [];
  const stoppable: boolean[] = [];
  // Whether each slice is a model refresh (the first of a call that refreshed) or a decision run's.
  const refresh: boolean[] = [];
  let cpu = 0;
  const started = clock.monotonicMs();
  for (let t = 0; t < seconds * 1000; t += 100) {
    const t0 = performance.now();
    const r = await standing.upkeep(clock.monotonicMs());
    const spent = performance.now() - t0;
    cpu += spent;
    // A trigger waits for the slice running when it comes: the stretches between turns of the
    // event loop (a refresh, each policy call of a decision run), not the whole call.
    slices.push(...r.slicesMs);
    stoppable.push(...r.stoppable);
    refresh.push(...r.slicesMs.map((_, k) => k === 0 && r.refreshed > 0));
    clock.advance(100);
  }
  return { slices, stoppable, refresh, cpuPct: (cpu / (clock.monotonicMs() - started)) * 100 };
}

/**
 * From an event to a model refresh slice giving back the thread: the slice stops after the read
 * running when the event comes (src/daemon/standing.ts passes the event to WarmModel.refresh).
 * The event comes at a random moment of the slice's budget; what is due is what the machine in
 * trouble makes due, as upkeep leaves it.
 */
function refreshStops(standing: StandingDecisions, clock: ManualClock, rand: () => number): number[] {
  const out: number[] = [];
  for (let i = 0; i < STOPS * 3 && out.length < STOPS; i++) {
    clock.advance(1000);
    const at = performance.now() + rand() * REFRESH_SLICE_MS;
    standing.model.refresh(REFRESH_SLICE_MS, () => performance.now() >= at);
    const end = performance.now();
    if (at < end) out.push(end - at);
  }
  return out;
}

/** The daemon's event: a trigger that fires at `at` (performance.now), seen as the poller would see its ready fd. */
class Events extends HostDecorator {
  at: number | undefined;
  override get waits(): HostWaits {
    return {
      psiTrigger: () => {
        throw new OomkitError("E_UNSUPPORTED", "bench: no PSI triggers");
      },
      waitExit: async () => "timeout",
      eventPending: () => this.at !== undefined && performance.now() >= this.at,
    };
  }
}

const STOPS = 20;

/**
 * From an event to the thread given back, measured: the plan is made due by its age, the event
 * comes at a random moment of the decision run that follows (within the last complete run's
 * length), and the run stops at its next read. A run between two samples completes (a stopped run
 * leaves the plan due, and runs in a row stopped are bounded).
 */
async function unwinding(standing: StandingDecisions, events: Events, clock: ManualClock, rand: () => number): Promise<number[]> {
  const out: number[] = [];
  let lastRunMs = 0;
  for (let i = 0; out.length < STOPS && i < STOPS * 3; i++) {
    clock.advance(REDECIDE_MS);
    const t0 = performance.now();
    events.at = i % 2 === 1 && lastRunMs > 0 ? t0 + rand() * lastRunMs : undefined;
    const r = await standing.upkeep(clock.monotonicMs());
    const end = performance.now();
    if (events.at === undefined) lastRunMs = end - t0;
    else if (events.at < end && r.decided === undefined) out.push(end - events.at);
    events.at = undefined;
  }
  return out;
}

/** Churn per simulated second, as shares of the tasks: some grow or shrink, some exit, some start. */
const CHURN = { grow: 0.01, exit: 0.002, start: 0.002 } as const;
const CHURN_SECONDS = 60;
const TRIAL_EVERY_S = 3;

/**
 * Runs the machine with churn while upkeep keeps its plan, and at a trigger every few seconds
 * compares the standing plan (as the trigger's path would carry it out) with a fresh decision on
 * the live machine. When they differ: refused (the live check sent it to a fresh decision) or
 * another victim (then how much memory the standing victim held against the fresh one's).
 */
async function churn(dir: string, spec: FixtureSpec, host: FixtureHost, clock: ManualClock, engine: Engine, standing: StandingDecisions, mode: ReturnType<typeof detectCgroupMode>): Promise<Row["agreement"]> {
  const rand = mulberry32(SEED ^ 0xc4);
  const live = new Map<number, FixtureTask>((spec.tasks ?? []).filter((t) => !t.kthread && t.pid > 1 && t.pid !== spec.selfPid).map((t) => [t.pid, t]));
  let nextPid = Math.max(...live.keys()) + 1;
  const pick = () => [...live.values()][Math.floor(rand() * live.size)] as FixtureTask;
  const put = (p: string, text: string) => fs.writeFileSync(path.join(dir, p), text);
  const cgroupDir = (cg: string) => path.join(dir, "sys/fs/cgroup", cg);
  // A task's memory is charged to its cgroup and every ancestor (memory.current, memory.stat's
  // anon), as the kernel does: policies that weigh cgroups see the churn, and the model's
  // "usage moved" re-reads the tasks of a cgroup whose usage moved.
  const charge = (cg: string | undefined, bytes: number) => {
    for (let c = cg ?? "/"; c !== "/" && c !== ""; c = c.slice(0, c.lastIndexOf("/")) || "/") {
      const cur = path.join(cgroupDir(c), "memory.current");
      fs.writeFileSync(cur, `${Math.max(0, (Number(fs.readFileSync(cur, "utf8").trim()) || 0) + bytes)}\n`);
      const stat = path.join(cgroupDir(c), "memory.stat");
      const text = fs.readFileSync(stat, "utf8");
      fs.writeFileSync(stat, text.replace(/^anon ([0-9]+)$/m, (_, n: string) => `anon ${Math.max(0, Number(n) + bytes)}`));
    }
  };
  let trials = 0;
  let same = 0;
  let refused = 0;
  let otherVictim = 0;
  const held: number[] = [];
  for (let s = 1; s <= CHURN_SECONDS; s++) {
    for (let i = 0; i < Math.ceil(live.size * CHURN.grow); i++) {
      const t = pick();
      const grown = { ...t, rssAnonKb: Math.max(1024, Math.round((t.rssAnonKb ?? 1024) * (0.5 + 2.5 * rand()))) };
      live.set(t.pid, grown);
      put(`proc/${t.pid}/status`, statusText(grown));
      charge(t.cgroup, (grown.rssAnonKb - (t.rssAnonKb ?? 0)) * 1024);
    }
    for (let i = 0; i < Math.ceil(live.size * CHURN.exit); i++) {
      const t = pick();
      live.delete(t.pid);
      fs.rmSync(path.join(dir, `proc/${t.pid}`), { recursive: true, force: true });
      charge(t.cgroup, -(t.rssAnonKb ?? 0) * 1024);
      const procs = path.join(cgroupDir(t.cgroup ?? "/"), "cgroup.procs");
      fs.writeFileSync(procs, fs.readFileSync(procs, "utf8").split("\n").filter((l) => l !== String(t.pid)).join("\n"));
    }
    for (let i = 0; i < Math.ceil(live.size * CHURN.start); i++) {
      const like = pick();
      const t: FixtureTask = { ...like, pid: nextPid++, startTime: 1_000_000 + s, rssAnonKb: Math.round(1024 * 2 ** (rand() * 11)) };
      live.set(t.pid, t);
      fs.mkdirSync(path.join(dir, `proc/${t.pid}`), { recursive: true });
      put(`proc/${t.pid}/stat`, statLine(t));
      put(`proc/${t.pid}/status`, statusText(t));
      put(`proc/${t.pid}/oom_score_adj`, `${t.oomScoreAdj ?? 0}\n`);
      put(`proc/${t.pid}/cmdline`, `${t.comm}\0`);
      put(`proc/${t.pid}/cgroup`, `0::${t.cgroup ?? "/"}\n`);
      fs.appendFileSync(path.join(cgroupDir(t.cgroup ?? "/"), "cgroup.procs"), `${t.pid}\n`);
      charge(t.cgroup, (t.rssAnonKb ?? 0) * 1024);
    }
    for (let k = 0; k < 10; k++) {
      await standing.upkeep(clock.monotonicMs());
      clock.advance(100);
    }
    if (s % TRIAL_EVERY_S !== 0) continue;
    const plan = standing.take(ROOT_CGROUP);
    const fresh = await engine.handleOom({ snapshot: takeSnapshot(host, { cgroupMode: mode }), scope: ROOT_CGROUP, cause: CAUSE, mode: "explain" });
    trials++;
    const r = plan ? await engine.carryOut(plan, { snapshot: takeSnapshot(host, { cgroupMode: mode }), cause: CAUSE, mode: "explain", maxAgeMs: Number.POSITIVE_INFINITY }) : { refused: "none" };
    if (!("record" in r)) {
      refused++;
      continue;
    }
    // The same targets (a reason that quotes a score may differ by a refresh).
    const targets = (rec: typeof fresh) => rec.plan.map((a) => (a.kind === "kill-task" ? `pid ${a.pid}` : a.kind === "remove-files" ? a.paths.join(",") : `${a.kind} ${a.cgroup}`)).join("; ");
    if (targets(r.record) === targets(fresh)) {
      same++;
      continue;
    }
    otherVictim++;
    const bytes = (rec: typeof fresh) => rec.plan.reduce((sum, a) => sum + (a.kind === "kill-task" ? ((live.get(a.pid)?.rssAnonKb ?? 0) * 1024) : a.kind === "kill-cgroup" ? sizeOf(dir, a.cgroup) : 0), 0);
    const f = bytes(fresh);
    if (f > 0) held.push(bytes(r.record) / f);
  }
  held.sort((a, b) => a - b);
  return { trials, same, refused, otherVictim, heldShare: held.length > 0 ? pct(held, 0.5) : undefined };
}

function sizeOf(dir: string, cgroup: string): number {
  try {
    return Number(fs.readFileSync(path.join(dir, "sys/fs/cgroup", cgroup, "memory.current"), "utf8").trim()) || 0;
  } catch {
    return 0;
  }
}

async function measure(dir: string, spec: FixtureSpec, host: FixtureHost, clock: ManualClock, engine: Engine, tasks: number): Promise<Omit<Row, "tasks" | "cgroups" | "policy">> {
  const mode = detectCgroupMode(host);
  // Fresh: the whole decision on a live snapshot.
  const fresh: number[] = [];
  let freshPlan = "";
  for (let i = 0; i < FRESH_RUNS(tasks) + 2; i++) {
    const t0 = performance.now();
    const r = await engine.handleOom({ snapshot: takeSnapshot(host, { cgroupMode: mode }), scope: ROOT_CGROUP, cause: CAUSE, mode: "dry-run" });
    if (i >= 2) fresh.push(performance.now() - t0);
    freshPlan = JSON.stringify(r.plan);
  }
  // Upkeep: a first round warms the model (start-up, not upkeep); then idle minutes (half the
  // memory available: pace 1), then the machine in trouble as generated (pace at its highest).
  const events = new Events(host);
  const standing = new StandingDecisions({ host: events, mode, log: silentLogger, engine: () => engine, scopes: () => [] });
  const meminfo = path.join(dir, "proc/meminfo");
  const trouble = fs.readFileSync(meminfo, "utf8");
  fs.writeFileSync(meminfo, trouble.replace(/^MemAvailable:.*$/m, `MemAvailable:   ${128 * 1024 * 1024} kB`));
  await standing.upkeep(clock.monotonicMs());
  clock.advance(100);
  const idle = await upkeep(standing, clock, UPKEEP_SECONDS);
  fs.writeFileSync(meminfo, trouble);
  const pressure = await upkeep(standing, clock, UPKEEP_SECONDS / 2);
  const slices = pressure.slices;
  const wallMs = (UPKEEP_SECONDS / 2) * 1000;
  const plan = standing.take(ROOT_CGROUP);
  if (!plan) throw new Error("no standing plan for /");
  // Standing: a trigger at a random moment of the upkeep timeline, then the check and hand-on.
  const rand = mulberry32(SEED);
  const unwind = await unwinding(standing, events, clock, rand);
  const refreshUnwind = refreshStops(standing, clock, rand);
  if (!standing.take(ROOT_CGROUP)) await upkeep(standing, clock, 1);
  const busyMs = slices.reduce((a, b) => a + b, 0);
  const periodMs = wallMs;
  const standingTimes: number[] = [];
  const waitedOut: number[] = [];
  const checks: number[] = [];
  let standingPlan = "";
  for (let i = 0; i < TRIGGERS; i++) {
    let at = rand() * periodMs;
    let wait = 0;
    let stops = false;
    let refreshing = false;
    // Slices are laid end to end at the start of the period only for the draw: the share of
    // time inside a slice is busyMs / periodMs, and a moment inside one waits for its rest.
    if (at < busyMs) {
      for (const [k, s] of slices.entries()) {
        if (at < s) {
          wait = s - at;
          stops = pressure.stoppable[k] === true;
          refreshing = pressure.refresh[k] === true;
          break;
        }
        at -= s;
      }
    }
    const t0 = performance.now();
    const r = await engine.carryOut(plan, { snapshot: takeSnapshot(host, { cgroupMode: mode }), cause: CAUSE, mode: "dry-run", maxAgeMs: Number.POSITIVE_INFINITY });
    const check = performance.now() - t0;
    if (!("record" in r)) throw new Error(`the standing plan was refused on an unchanged machine: ${r.refused}`);
    standingPlan = JSON.stringify(r.record.plan);
    checks.push(check);
    // A run the event stops gives the thread back in one of the measured unwinding times.
    const sample = refreshing ? refreshUnwind : unwind;
    const stopped = stops && sample.length > 0 ? Math.min(wait, sample[i % sample.length] as number) : wait;
    standingTimes.push(stopped + check);
    waitedOut.push(wait + check);
  }
  return {
    fresh: { p50: pct(fresh, 0.5), p99: pct(fresh, 0.99) },
    standing: { p50: pct(standingTimes, 0.5), p99: pct(standingTimes, 0.99) },
    waitedOut: { p99: pct(waitedOut, 0.99) },
    unwind: { p50: pct(unwind, 0.5), p99: pct(unwind, 0.99), samples: unwind.length },
    refreshUnwind: { p50: pct(refreshUnwind, 0.5), p99: pct(refreshUnwind, 0.99), samples: refreshUnwind.length },
    check: { p50: pct(checks, 0.5) },
    upkeepIdlePct: idle.cpuPct,
    upkeepPressurePct: pressure.cpuPct,
    longestSliceMs: Math.max(...idle.slices, ...pressure.slices),
    agreement: await churn(dir, spec, host, clock, engine, standing, mode),
    same: freshPlan === standingPlan,
  };
}

/**
 * The daemon runs with the V8 flags of deploy/oomkit.service, and the pauses a trigger may wait
 * for are its garbage collector's among them (the young generation's size sets how long a
 * scavenge takes and how often one comes): the benchmark runs under the same flags.
 */
function underDeployFlags(): boolean {
  if (DEPLOY_FLAGS.every((f) => process.execArgv.includes(f))) return true;
  const r = spawnSync(process.execPath, [...DEPLOY_FLAGS, ...process.execArgv, ...process.argv.slice(1)], { stdio: "inherit" });
  process.exitCode = r.status ?? 1;
  return false;
}

async function main(): Promise<void> {
  if (!underDeployFlags()) return;
  // --size=TASKSxCGROUPS narrows the run (never with --write).
  const loadAtStart = os.loadavg()[0]!;
  const only = process.argv.find((a) => a.startsWith("--size="))?.slice("--size=".length);
  // --policy=NAME narrows it to one policy (never with --write either).
  const onlyPolicy = process.argv.find((a) => a.startsWith("--policy="))?.slice("--policy=".length);
  const write = process.argv.includes("--write") && only === undefined && onlyPolicy === undefined;
  const shm = fs.existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir();
  const rows: Row[] = [];
  for (const size of SIZES.filter((x) => only === undefined || only === `${x.tasks}x${x.cgroups}`)) {
    const m = machineSpec(size.tasks, size.cgroups);
    for (const policy of POLICIES.filter((p) => onlyPolicy === undefined || p === onlyPolicy)) {
      // A machine of its own per policy: the churn phase changes it.
      const dir = buildFixture(m.spec, fs.mkdtempSync(path.join(shm, "oomkit-bench-")));
      try {
        const clock = new ManualClock(1_000_000);
        const host = new FixtureHost(dir, { clock });
        const r = await measure(dir, m.spec, host, clock, engineFor(policy, 250), size.tasks);
        rows.push({ ...size, policy, ...r });
        process.stderr.write(`${size.tasks}/${size.cgroups} ${policy}: fresh p50 ${r.fresh.p50.toFixed(1)} ms, standing p50 ${r.standing.p50.toFixed(2)} p99 ${r.standing.p99.toFixed(2)} ms (waited out: ${r.waitedOut.p99.toFixed(2)}; event to thread p50 ${r.unwind.p50.toFixed(2)} p99 ${r.unwind.p99.toFixed(2)} of ${r.unwind.samples}, refresh p50 ${r.refreshUnwind.p50.toFixed(2)} p99 ${r.refreshUnwind.p99.toFixed(2)}), upkeep ${r.upkeepIdlePct.toFixed(2)} % idle, ${r.upkeepPressurePct.toFixed(2)} % in trouble, longest slice ${r.longestSliceMs.toFixed(1)} ms\n`);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  const ms = (x: number) => (x < 10 ? x.toFixed(2) : x.toFixed(1));
  const argv = ["node", ...process.argv.slice(1).map((a) => path.relative(process.cwd(), a) || a)].join(" ");
  const lines = [
    HEADING,
    "",
    `Generated by \`${argv}\` (bench/standing.bench.ts; \`npm run bench\` runs it) on ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${os.cpus().length} CPUs, kernel ${os.release()}, under the daemon's V8 flags (${DEPLOY_FLAGS.map((f) => `\`${f}\``).join(" ")}, deploy/oomkit.service). ` +
      "Trigger → the plan's first action handed to the executor, for an OOM at \"/\" on the seeded fixture machines of the decision table (policies attached at \"/\", the default deadline of 250 ms). " +
      "Fresh: a live snapshot and the whole chain, as without standing decisions. " +
      `Standing: the plan made ahead on the warm model; at the trigger a live snapshot, each target checked (process, scope, protection, victims, drift) and handed on. Each of ${TRIGGERS} triggers lands at a random moment of ${UPKEEP_SECONDS / 2} s of upkeep on the machine in trouble (MemAvailable under 1 %: the highest pace; simulated time, real work) and first waits for the slice running then: a model refresh slice until the read running then ends (WarmModel.refresh stops for an event after each read); a decision run, when a plan stands for its scope, only until the run stops at its next read (src/engine/preempt.ts), or to its end otherwise. The time from the event to the thread given back ("event → thread") is measured over ${STOPS} decision runs and ${STOPS} refresh slices stopped at random moments. "Waited out" is the p99 had every slice run to its end (before slices could be stopped). ` +
      `Upkeep: CPU of model refreshes and decision runs per second of wall time, after the first (warming) round: ${UPKEEP_SECONDS} s idle (half the memory available, pace 1) and ${UPKEEP_SECONDS / 2} s in trouble; a slice is the work between two turns of the event loop (a refresh slice; a policy's call in a decision run, the last one's with its record), and the longest is what a trigger may wait at most. ` +
      "Nothing on the machine changes in the idle minute, so no change asks for a plan (src/daemon/redecide.ts): the idle column is the model's refresh slices and the one decision run the plan's age asks for as the minute ends (REDECIDE_MS ÷ pace), which at 10,000 tasks is 1-2 % of a core by itself; the decisions that changes ask for show under churn, and in bench/sim-daemon.bench.ts. " +
      `Under churn: ${CHURN_SECONDS} s in trouble while, each second, ${CHURN.grow * 100} % of the tasks grow or shrink (×0.5-3), ${CHURN.exit * 100} % exit and ${CHURN.start * 100} % start (1 MiB-2 GiB), each change charged to the task's cgroups (memory.current, memory.stat anon); every ${TRIAL_EVERY_S} s a trigger's standing plan is compared with a fresh decision on the live machine: the same plan, refused by the live check (a fresh decision follows), or another victim (held: the memory the standing victim holds as a share of the fresh one's). ` +
      "FixtureHost reads of a whole machine cost 3-4× what LinuxHost's do (see the decision table); a process's small files, which the check reads, cost about the same (11 µs for a fixture's /proc/PID/stat here, against 15 µs for a live one and 6 µs for a live oom_score_adj). A plan that kills a cgroup (largest-leaf's) is checked by reading each of the cgroup's processes (stat, cgroup, oom_score_adj: 57 processes at 10,000 tasks): its check grows with the victim, not with the machine. " +
      `The p99 columns are the tail of 200 draws on a shared 2-core machine, where a pause of the thread (garbage collection above all, or waiting for a core) lands in them: the load average was ${loadAtStart.toFixed(1)} when this run began and ${os.loadavg()[0]!.toFixed(1)} when it ended. Compare within a run.`,
    "",
    "| tasks | cgroups | policy | fresh p50 | fresh p99 | standing p50 | standing p99 | waited out, p99 | event → thread, p50 / p99: decision run; refresh | check alone, p50 | upkeep CPU, idle | upkeep CPU, in trouble | longest slice | same plan | under churn: same / refused / other victim (held, p50) |",
    "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ...rows.map(
      (r) =>
        `| ${r.tasks.toLocaleString("en")} | ${r.cgroups.toLocaleString("en")} | ${r.policy} | ${ms(r.fresh.p50)} ms | ${ms(r.fresh.p99)} ms | ${ms(r.standing.p50)} ms | ${ms(r.standing.p99)} ms | ${ms(r.waitedOut.p99)} ms | ${r.unwind.samples > 0 ? `${ms(r.unwind.p50)} / ${ms(r.unwind.p99)} ms` : "—"}; ${r.refreshUnwind.samples > 0 ? `${ms(r.refreshUnwind.p50)} / ${ms(r.refreshUnwind.p99)} ms` : "—"} | ${ms(r.check.p50)} ms | ${r.upkeepIdlePct.toFixed(2)} % | ${r.upkeepPressurePct.toFixed(1)} % | ${ms(r.longestSliceMs)} ms | ${r.same ? "yes" : "no"} | ${r.agreement.same} / ${r.agreement.refused} / ${r.agreement.otherVictim}${r.agreement.heldShare !== undefined ? ` (${(r.agreement.heldShare * 100).toFixed(0)} %)` : ""} of ${r.agreement.trials} |`,
    ),
    "",
  ];
  const table = lines.join("\n");
  process.stdout.write(`${table}\n`);
  if (write) replaceSection("BENCHMARKS.md", HEADING, table);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) await main();
