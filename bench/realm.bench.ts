/**
 * What a policy file's realm costs (src/engine/realm.ts): one decision by the same policy file
 * loaded into its realm and — the way oomkit loaded files before realms — as a function of the
 * engine's own realm, on the decision benchmark's machines with 1,000 and 10,000 tasks; the
 * memory one realm adds; and what an entry into a vm context costs with and without a watchdog
 * of its own. Writes a Markdown table to stdout (and to BENCHMARKS.md with --write). No test
 * asserts on these figures.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import * as vm from "node:vm";
import { Engine } from "../src/engine/engine.js";
import type { OomCause, Policy } from "../src/engine/policy.js";
import { takeSnapshot } from "../src/engine/snapshot.js";
import { FixtureHost } from "../src/os/fixture-host.js";
import { cgroupPath } from "../src/os/paths.js";
import { builtinPolicy } from "../src/policy/builtins.js";
import { loadPolicyFile } from "../src/policy/loader.js";
import { buildFixture } from "../test/support/fixture.js";
import { loadInMainRealm, policyFile, strict } from "../test/support/policy-files.js";
import { workedExampleFile } from "../test/support/worked-example.js";
import { machineSpec } from "./decision.bench.js";
import { replaceSection } from "./markdown.js";

const HEADING = "## Policy realm";
const SIZES = [
  { tasks: 1_000, cgroups: 100, runs: 100 },
  { tasks: 10_000, cgroups: 1_000, runs: 30 },
] as const;
const CAUSE: OomCause = { kind: "system", trigger: "bench", message: "realm benchmark", figures: {} };
const DEADLINE_MS = 60_000;

/** Three shapes of policy file: few crossings into the engine, one per task, several per task. */
const POLICIES: Record<string, { file: string; options: unknown; what: string }> = {
  "batch-first": { file: workedExampleFile(), options: { marker: "/batch.slice/" }, what: "the worked example: leaf cgroups, their memory.stat, protectedReason of each candidate" },
  "evaluate-task": {
    file: policyFile(`import { definePolicy } from "oomkit/policy";\nexport default definePolicy({ name: "evaluate-task", evaluateTask: (task) => (task.comm === "java" && task.oomScoreAdj > 0 ? "select" : "default") });\n`),
    options: {},
    what: "evaluateTask only: the default loop asks the realm about every task",
  },
  "every-task": {
    file: policyFile(`import { definePolicy, type TaskNode } from "oomkit/policy";
export default definePolicy({ name: "every-task", handleOutOfMemory(oc) {
  let best: TaskNode | undefined;
  let most = -1;
  for (const t of oc.tasks()) {
    if (t.kernelThread || oc.protectedReason(t)) continue;
    const m = t.memory;
    if (m.rssAnonBytes + m.swapBytes > most) { best = t; most = m.rssAnonBytes + m.swapBytes; }
  }
  return best ? oc.killTask(best, "most anonymous memory") : oc.pass("none");
} });
`),
    options: {},
    what: "handleOutOfMemory over every task: memory and protectedReason of each",
  },
};

/** Why the mechanism is a vm context per file; the figures above are what it costs. */
const WHY = [
  "Why a `node:vm` context per policy file, entered under the engine's one deadline (src/engine/realm.ts):",
  "",
  "- It keeps the engine's lazy snapshot: a policy's view asks for a figure when it is read, in the same thread, so a decision reads what it did before. The cost is the crossings: 2-3× the policy's own work when every figure is already read, and 1.0-1.15× the policy's call on a fresh snapshot, where reads dominate (tables above). Memory: a fraction of a MiB per file, a few MiB for the first (sucrase, loaded for any policy file anyway).",
  "- Entering a context costs little inside the engine's deadline; with a watchdog of its own it costs a thread start, so the realm shares the engine's watchdog, which stops a busy loop and a self-requeueing promise loop alike.",
  "- Measured on the way, and built around: a context made from an ordinary object gives `this.constructor.constructor`, the engine's `Function` (so the context is made from a null-prototype object); `import()` in a context rejects with an error of the engine's realm (refused at load); an unhandled rejection in a context ends the process with status 1, and with async hooks on, the watchdog stopping a promise loop aborts Node (so a realm has no promises, and `async` is refused at load).",
  "- Not built: `ses` lockdown inside the context (reported to freeze the whole realm, not to stop a busy loop, and to add about 7 MiB) guards intrinsics within one shared realm, which a realm per file already makes moot; a worker around the context (about 10 MiB, against the footprint budget of VmRSS ≤ 50 MiB) would add a heap limit, the one thing a context lacks — a policy can still exhaust the shared heap — but the snapshot's lazy reads would be copied or redone across threads on every decision; a WebAssembly JavaScript engine would isolate heap and time completely but run policies in an interpreter many times slower, with every figure copied in.",
];

const percentile = (sorted: readonly number[], p: number) => sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)] ?? Number.NaN;

interface Timing {
  readonly p50: number;
  readonly p99: number;
}
interface Pair {
  readonly main: Timing;
  readonly realm: Timing;
  /** Median of run-by-run ratios (realm / engine's realm): the two ran alternately, under the same load. */
  readonly ratio: number;
  readonly by: string;
}

/**
 * Decisions by the two loads of one policy, alternating run by run so that both meet the same
 * machine load. `fresh` takes a new snapshot per decision (reads included, as in the daemon);
 * otherwise one snapshot with every figure already read is reused, leaving the policy's own
 * work and the realm's crossings. Timed: the policy's chain entry (its call, reads it causes).
 */
async function pair(host: FixtureHost, policies: readonly [Policy, Policy], options: readonly [unknown, unknown], runs: number, fresh: boolean): Promise<Pair> {
  const engines = policies.map(
    (policy, i) => new Engine({ attachments: [{ cgroup: cgroupPath("/"), policy, options: options[i] }], defaultPolicy: { policy: builtinPolicy("kernel"), options: {} }, policyDeadlineMs: DEADLINE_MS }),
  );
  const warm = takeSnapshot(host);
  if (!fresh) for (const c of warm.cgroups()) for (const t of c.readAll().tasks) t.readAll();
  const once = async (i: number) => {
    const r = await (engines[i] as Engine).explain(fresh ? takeSnapshot(host) : warm, "/", CAUSE);
    return { ms: r.chain[0]?.durationMs ?? Number.NaN, by: r.chain.map((c) => `${c.policy}: ${c.outcome}`).join(", ") };
  };
  for (let i = 0; i < Math.ceil(runs / 5); i++) for (const k of [0, 1]) await once(k);
  const times: [number[], number[]] = [[], []];
  const ratios: number[] = [];
  const by = ["", ""];
  for (let i = 0; i < runs; i++) {
    const order = i % 2 === 0 ? [0, 1] : [1, 0];
    const got: number[] = [];
    for (const k of order) {
      const r = await once(k);
      times[k as 0 | 1].push(r.ms);
      got[k] = r.ms;
      by[k] = r.by;
    }
    ratios.push((got[1] as number) / (got[0] as number));
  }
  if (by[0] !== by[1]) throw new Error(`the realm decided "${by[1]}", the engine's realm "${by[0]}"`);
  const stat = (xs: number[]): Timing => {
    xs.sort((a, b) => a - b);
    return { p50: percentile(xs, 0.5), p99: percentile(xs, 0.99) };
  };
  ratios.sort((a, b) => a - b);
  return { main: stat(times[0]), realm: stat(times[1]), ratio: percentile(ratios, 0.5), by: by[1] as string };
}

/**
 * RSS and V8 heap, after GC, in a fresh process: before any policy file, after the first (which
 * also loads sucrase and compiles the shim once per process), and per realm over `n` more.
 */
function realmMemory(n: number): { firstRssMiB: number; firstHeapMiB: number; eachRssMiB: number; eachHeapMiB: number } {
  const here = (p: string) => JSON.stringify(new URL(p, import.meta.url).href);
  const script = `
    import { loadPolicyFile } from ${here("../src/policy/loader.js")};
    import { workedExampleFile } from ${here("../test/support/worked-example.js")};
    const file = workedExampleFile();
    const opts = { enforceOwnership: true, warn() {} };
    const at = () => { for (let i = 0; i < 4; i++) gc(); const m = process.memoryUsage(); return [m.rss, m.heapUsed]; };
    const m0 = at();
    const kept = [loadPolicyFile(file, opts)];
    const m1 = at();
    for (let i = 0; i < ${n}; i++) kept.push(loadPolicyFile(file, opts));
    const m2 = at();
    console.log(JSON.stringify({ m0, m1, m2, kept: kept.length }));`;
  const out = JSON.parse(execFileSync(process.execPath, ["--expose-gc", "--input-type=module", "-e", script], { encoding: "utf8" })) as { m0: [number, number]; m1: [number, number]; m2: [number, number] };
  const { m0, m1, m2 } = out;
  const mib = (b: number) => b / 1024 / 1024;
  return { firstRssMiB: mib(m1[0] - m0[0]), firstHeapMiB: mib(m1[1] - m0[1]), eachRssMiB: mib((m2[0] - m1[0]) / n), eachHeapMiB: mib((m2[1] - m1[1]) / n) };
}

/** Microseconds per entry into a vm context: runInContext with a timeout (a watchdog thread) and without. */
function entryCost(): { withWatchdogUs: number; withoutUs: number } {
  const ctx = vm.createContext(Object.create(null) as object, { microtaskMode: "afterEvaluate" });
  const script = new vm.Script("1");
  const time = (opts: vm.RunningScriptOptions | undefined, n: number) => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) script.runInContext(ctx, opts);
    return ((performance.now() - t0) / n) * 1000;
  };
  time({ timeout: 1000 }, 100);
  return { withWatchdogUs: time({ timeout: 1000 }, 2000), withoutUs: time(undefined, 20000) };
}

async function main(): Promise<void> {
  const shm = fs.existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir();
  const rows: string[] = [];
  for (const size of SIZES) {
    const dir = buildFixture(machineSpec(size.tasks, size.cgroups).spec, fs.mkdtempSync(path.join(shm, "oomkit-bench-")));
    try {
      const host = new FixtureHost(dir);
      for (const [name, p] of Object.entries(POLICIES)) {
        const loads = [loadInMainRealm(p.file), loadPolicyFile(p.file, strict)] as const;
        const options = [loads[0].parseOptions?.(p.options) ?? p.options, loads[1].parseOptions?.(p.options) ?? p.options] as const;
        const ms = (x: number) => (x < 10 ? x.toFixed(2) : x.toFixed(1));
        const cells = [];
        for (const fresh of [true, false]) {
          const r = await pair(host, loads, options, size.runs, fresh);
          cells.push(`${ms(r.main.p50)} / ${ms(r.main.p99)} ms`, `${ms(r.realm.p50)} / ${ms(r.realm.p99)} ms`, `${r.ratio.toFixed(2)}×`);
          if (!fresh) cells.push(r.by);
        }
        rows.push(`| ${size.tasks.toLocaleString("en")} | ${name} | ${size.runs} | ${cells.join(" | ")} |`);
        process.stderr.write(`${rows[rows.length - 1]}\n`);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  const mem = realmMemory(20);
  const entry = entryCost();
  const argv = ["node", ...process.argv.slice(1).map((a) => path.relative(process.cwd(), a) || a)].join(" ");
  const table = [
    HEADING,
    "",
    `Generated by \`${argv}\` (bench/realm.bench.ts) on ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${os.cpus().length} CPUs, kernel ${os.release()}. ` +
      "Each policy file is loaded twice: into its own realm (the loader), and as a function of the engine's own realm (the loader before realms; test/support/policy-files.ts), and decides the same OOM at \"/\" on the decision benchmark's machines (1,000 tasks in 100 cgroups, 10,000 in 1,000). " +
      "Timed is the policy's call in `Engine.explain` (its chain entry: the call, and the reads it causes), p50 / p99 nearest-rank after a warm-up. The two loads run alternately, decision by decision, so both meet the same machine load; the ratio is the median of the run-by-run ratios (own realm / engine's realm). " +
      "\"Fresh snapshot\" is the daemon's case: a new lazy snapshot per decision, so reads are included; \"figures already read\" reuses one snapshot whose files were all read, leaving the policy's own work and, in the realm, its crossings. Both loads must decide alike or the bench fails.",
    "",
    ...Object.entries(POLICIES).map(([n, p]) => `- \`${n}\`: ${p.what}.`),
    "",
    "| tasks | policy file | runs | fresh snapshot: engine's realm p50 / p99 | own realm | ratio | figures already read: engine's realm p50 / p99 | own realm | ratio | chain |",
    "|---:|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ...rows,
    "",
    "| memory, after GC, in a fresh process | RSS | V8 heap used |",
    "|---|---:|---:|",
    `| the first policy file (its realm, sucrase, the shim compiled once per process) | ${mem.firstRssMiB.toFixed(2)} MiB | ${mem.firstHeapMiB.toFixed(2)} MiB |`,
    `| each further policy file (mean of 20) | ${mem.eachRssMiB.toFixed(2)} MiB | ${mem.eachHeapMiB.toFixed(2)} MiB |`,
    "",
    "| one entry into a vm context | |",
    "|---|---:|",
    `| one \`runInContext\` with \`timeout\` (starts a watchdog thread) | ${entry.withWatchdogUs.toFixed(0)} µs |`,
    `| one \`runInContext\` without (inside the engine's deadline, which has one) | ${entry.withoutUs.toFixed(1)} µs |`,
    "",
    ...WHY,
    "",
  ].join("\n");
  process.stdout.write(`${table}\n`);
  if (process.argv.includes("--write")) replaceSection("BENCHMARKS.md", HEADING, table);
}

await main();
