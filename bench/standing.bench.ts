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
import { StandingDecisions } from "../src/daemon/standing.js";
import type { Engine } from "../src/engine/engine.js";
import type { OomCause } from "../src/engine/policy.js";
import { takeSnapshot } from "../src/engine/snapshot.js";
import { silentLogger } from "../src/log.js";
import { detectCgroupMode } from "../src/os/cgroup-mode.js";
import { FixtureHost } from "../src/os/fixture-host.js";
import { ManualClock } from "../src/os/host.js";
import { ROOT_CGROUP } from "../src/os/paths.js";
import { buildFixture } from "../test/support/fixture.js";
import { engineFor, machineSpec } from "./decision.bench.js";
import { replaceSection } from "./markdown.js";

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

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

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
  readonly check: { p50: number };
  readonly upkeepIdlePct: number;
  readonly upkeepPressurePct: number;
  readonly longestSliceMs: number;
  readonly same: boolean;
}

/** Runs upkeep over `seconds` of simulated time; returns the slices it ran and its CPU share. */
async function upkeep(standing: StandingDecisions, clock: ManualClock, seconds: number): Promise<{ slices: number[]; cpuPct: number }> {
  const slices: number[] = [];
  let cpu = 0;
  const started = clock.monotonicMs();
  for (let t = 0; t < seconds * 1000; t += 100) {
    const t0 = performance.now();
    const r = await standing.upkeep(clock.monotonicMs());
    const spent = performance.now() - t0;
    cpu += spent;
    if (r.refreshed > 0 || r.decided !== undefined) slices.push(spent);
    clock.advance(100);
  }
  return { slices, cpuPct: (cpu / (clock.monotonicMs() - started)) * 100 };
}

async function measure(dir: string, host: FixtureHost, clock: ManualClock, engine: Engine, tasks: number): Promise<Omit<Row, "tasks" | "cgroups" | "policy">> {
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
  const standing = new StandingDecisions({ host, mode, log: silentLogger, engine: () => engine, scopes: () => [] });
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
  const rand = rng(SEED);
  const busyMs = slices.reduce((a, b) => a + b, 0);
  const periodMs = wallMs;
  const standingTimes: number[] = [];
  const checks: number[] = [];
  let standingPlan = "";
  for (let i = 0; i < TRIGGERS; i++) {
    let at = rand() * periodMs;
    let wait = 0;
    // Slices are laid end to end at the start of the period only for the draw: the share of
    // time inside a slice is busyMs / periodMs, and a moment inside one waits for its rest.
    if (at < busyMs) {
      for (const s of slices) {
        if (at < s) {
          wait = s - at;
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
    standingTimes.push(wait + check);
  }
  return {
    fresh: { p50: pct(fresh, 0.5), p99: pct(fresh, 0.99) },
    standing: { p50: pct(standingTimes, 0.5), p99: pct(standingTimes, 0.99) },
    check: { p50: pct(checks, 0.5) },
    upkeepIdlePct: idle.cpuPct,
    upkeepPressurePct: pressure.cpuPct,
    longestSliceMs: Math.max(...idle.slices, ...pressure.slices),
    same: freshPlan === standingPlan,
  };
}

async function main(): Promise<void> {
  const write = process.argv.includes("--write");
  const shm = fs.existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir();
  const rows: Row[] = [];
  for (const size of SIZES) {
    const m = machineSpec(size.tasks, size.cgroups);
    const dir = buildFixture(m.spec, fs.mkdtempSync(path.join(shm, "oomkit-bench-")));
    try {
      for (const policy of POLICIES) {
        const clock = new ManualClock(1_000_000);
        const host = new FixtureHost(dir, { clock });
        const r = await measure(dir, host, clock, engineFor(policy, 250), size.tasks);
        rows.push({ ...size, policy, ...r });
        process.stderr.write(`${size.tasks}/${size.cgroups} ${policy}: fresh p50 ${r.fresh.p50.toFixed(1)} ms, standing p50 ${r.standing.p50.toFixed(2)} p99 ${r.standing.p99.toFixed(2)} ms, upkeep ${r.upkeepIdlePct.toFixed(2)} % idle, ${r.upkeepPressurePct.toFixed(2)} % in trouble, longest slice ${r.longestSliceMs.toFixed(1)} ms\n`);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  const ms = (x: number) => (x < 10 ? x.toFixed(2) : x.toFixed(1));
  const argv = ["node", ...process.argv.slice(1).map((a) => path.relative(process.cwd(), a) || a)].join(" ");
  const lines = [
    HEADING,
    "",
    `Generated by \`${argv}\` (bench/standing.bench.ts; \`npm run bench\` runs it) on ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${os.cpus().length} CPUs, kernel ${os.release()}. ` +
      "Trigger → the plan's first action handed to the executor, for an OOM at \"/\" on the seeded fixture machines of the decision table (policies attached at \"/\", the default deadline of 250 ms). " +
      "Fresh: a live snapshot and the whole chain, as without standing decisions. " +
      `Standing: the plan made ahead on the warm model; at the trigger a live snapshot, each target checked (process, scope, protection, victims, drift) and handed on. Each of ${TRIGGERS} triggers lands at a random moment of ${UPKEEP_SECONDS / 2} s of upkeep on the machine in trouble (MemAvailable under 1 %: the highest pace; simulated time, real work) and first waits for the rest of the slice running then. ` +
      `Upkeep: CPU of model refreshes and decision runs per second of wall time, after the first (warming) round: ${UPKEEP_SECONDS} s idle (half the memory available, pace 1) and ${UPKEEP_SECONDS / 2} s in trouble; the longest slice is what a trigger may wait at most (a decision run: one policy call). ` +
      "FixtureHost reads cost 3-4× what LinuxHost's do (see the decision table), so live figures are lower. Compare within a run.",
    "",
    "| tasks | cgroups | policy | fresh p50 | fresh p99 | standing p50 | standing p99 | check alone, p50 | upkeep CPU, idle | upkeep CPU, in trouble | longest slice | same plan |",
    "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ...rows.map(
      (r) =>
        `| ${r.tasks.toLocaleString("en")} | ${r.cgroups.toLocaleString("en")} | ${r.policy} | ${ms(r.fresh.p50)} ms | ${ms(r.fresh.p99)} ms | ${ms(r.standing.p50)} ms | ${ms(r.standing.p99)} ms | ${ms(r.check.p50)} ms | ${r.upkeepIdlePct.toFixed(2)} % | ${r.upkeepPressurePct.toFixed(1)} % | ${ms(r.longestSliceMs)} ms | ${r.same ? "yes" : "no"} |`,
    ),
    "",
  ];
  const table = lines.join("\n");
  process.stdout.write(`${table}\n`);
  if (write) replaceSection("BENCHMARKS.md", HEADING, table);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) await main();
