/**
 * oomkit's own footprint, natively: the daemon in dry-run on its built-in default (what
 * `npm start` runs), started, timed to "oomkit: watching", then read from /proc: VmRSS with
 * RssAnon (oomkit's alone) and RssFile (shared with every Node process) apart, Pss, smaps
 * `Locked:`, CPU seconds over a fixed idle window, the peak an episode adds, and whether it
 * stops cleanly. Beside it, for scale and to judge each step: a bare node, what each heavy module
 * costs to load, ways to wait on fds off the event loop, and V8 flags.
 *
 *   node dist/bench/footprint.bench.js [--write] [--window S] [--runs N] [--step "NAME"]
 *
 * --step records this run's daemon figures as a row of bench/footprint-steps.json (the table of
 * what each change saved); --write puts the tables in BENCHMARKS.md. No test asserts on them.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync, spawn } from "node:child_process";
import { parseArgs } from "node:util";
import { replaceSection } from "./markdown.js";
import { DEPLOY_FLAGS, type Footprint, cpuSeconds, episode, footprintOf, median, mib, sleep, startDaemon, stopDaemon } from "./footprint-probe.js";

const HEADING = "## Footprint (native)";
const HERE = path.dirname(new URL(import.meta.url).pathname);
const STEPS_FILE = path.resolve(HERE, "../../bench/footprint-steps.json");
/** After "watching": start-up's garbage collected and its timers settled. */
const SETTLE_MS = 2000;
/** What the tables say; kept here so that --write keeps it with the figures. */
const READING = [
  "What the figures say:",
  "",
  "- The tables above (149df6a: the C heap's thresholds pinned, a process's status kept without its raw lines) were made at a load of 3–6 on 2 cores. The `npm start` row and the step row were measured on a quiet machine (90–102 processes, 17:12–17:14 UTC). From 17:15:15 another session kept ~3,100 `sleep` processes on the machine, and oomkit's warm model grows with a machine's processes: from the `--optimize-for-size` row on, the RssAnon of 35–58 MiB and idle CPU of 2.7–7.2 % are that machine's, not the flags' (a run before this one, on a quiet machine, had 17.3–20.2 MiB for each of those flags; the bullets below quote it for the flags). The rows before it read like a quiet machine's (14.6–15.3 MiB after the idle window). With ~3,000 processes the daemon's live heap after a full GC was 27–39 MiB against 8.1 with ~90, 7–10 KiB per process: a heap snapshot shows the warm model's cache of each process's files, their text (3,003 status texts, 4.2 MiB) and their parsed forms (Maps and arrays under the model's due queue, ~10 MiB). The status's `raw` map is no longer kept (79815b2: 2.2 MiB less live heap at ~3,000 processes, under 0.1 MiB at ~90); what else the model keeps per process is the next lever on a busy host (\"Footprint: builds side by side\").",
  "- The two Worker isolates of the kill path (poll, `process_mrelease`) cost 8–9 MiB of anonymous memory each; one koffi `.async` poll(2) on a libuv pool thread costs nothing measurable over loading koffi (threads table). src/os/poller.ts runs that way: it holds one pool thread while anything is waited on (the unit raises UV_THREADPOOL_SIZE to 5), and reads a failed `process_mrelease`'s cause from the pidfd, since `.async` loses errno.",
  "- `--max-semi-space-size=1` is the V8 flag that pays: 5–8 MiB less anonymous memory idle, and no measured loss in the decision's round trip beyond this machine's noise. `--v8-pool-size=1` drops three idle V8 platform threads for nothing measurable. `--no-opt`, `--lite-mode` and `--jitless` save 1–2 MiB of anonymous memory more, and 4–5 MiB of RssFile (the optimizing compilers' part of node's text is never paged in), but cost a decision over 10,000 tasks 12–70 % more CPU, cold or warm (bench/decision-flags.bench.ts, \"Footprint: V8 flags and a decision\"): not taken. `--single-threaded`, `--single-threaded-gc`, `--optimize-for-size` and `--max-lazy` save nothing over the semi-space alone. No heap limit is set: a cap below what a decision over a large machine needs would end the daemon mid-episode.",
  "- Where the anonymous memory is (smaps of the idle daemon, deploy flags, ranges classed by address and size; \"Footprint: builds side by side\"): V8's heap pages 7–10.5 MiB (8.1 MiB live after two full GCs; the rest start-up's garbage and the young generation, 2 MiB however small the semi-space flag), V8's other ranges 1.4–1.7 (the bundle's source, 984 KiB, kept by V8 for lazy compilation; code space), the C heap 3.5–3.7 since the thresholds are pinned (4.5–4.7 before: glibc had raised its trim threshold after start-up's large frees and kept ~1.8 MiB free; 0.8 MiB of that came back), koffi's addon, thread stacks and small mappings ~1.7. A bare node is 6.3 of it (C heap 2.7, V8 3.0). The V8 heap is spread thin: bytecode, scope and feedback data of the functions start-up ran, the zod schemas start needs, the policy realm's second context (~0.15 MiB), the warm model's files and plans. RssFile (~44 MiB, 34 of it for a bare node) is node's own binary and libraries, shared with every Node process on the host.",
  "- Start-up is most of all Node's and V8's: a bare node here takes ~170–200 ms of CPU to start. Of the rest (node --cpu-prof at 100 µs, spawn to \"watching\", deploy flags, ~285 ms of profile at a load of 5): Node compiling its own modules the daemon imports (fs streams, http, fs/promises, child_process, perf_hooks, net) ~35 ms, compiling the bundle's top level ~35 ms, the ES module loader ~9 ms, loading the configuration ~47 ms (zod checking the built-in default: zod's schemas built and its code compiled on first use; a configuration file costs the same), garbage collection ~13 ms; the first standing decisions run after \"watching\". A V8 start-up snapshot and a V8 code cache were measured and not taken: the snapshot's blob costs nearly what compiling does, the code cache saved ~50 ms of CPU but cost 2 MiB of anonymous memory in the form tried (\"Footprint: builds side by side\"), as did splitting the bundle by command (40 ms more).",
  "- Start-up and idle CPU were not settled in the runs before this one: the machine ran at a load of 4–14 on 2 cores during them (two VM guests beside it), so wall times vary by 2× between rows; \"CPU to watching\" varies less. Rows of the step table differ by ±3 MiB of RssAnon from run to run without flags (the 9d66016 row also held ~1 MiB of smaps parsing garbage, fixed in the next); the last row's RssAnon, read 2 s after \"watching\", is the tree it was built on, not its step: side by side, 1ee0e79 and 55e3bb8 both held 38–39 MiB 7 s after start and 24–28 MiB 62 s after (the first decision runs' garbage not yet collected at 2 s; the previous rows were measured before the redecide and preempt changes of 1ee0e79). \"Footprint: builds side by side\" compares builds with the deploy flags, where RssAnon varies by under 1 MiB.",
  "- Locking the code costs no anonymous memory: ~24 MiB of the node binary and libraries stay resident and locked (smaps `Locked:` is proportional: Node's text is shared with every Node process here, so it counts in part).",
  "- Against the targets (default configuration, idle, triggers armed): an episode adds well under 5 MiB at its peak (met: 0.8–1.1 MiB). VmRSS ≤ 50 MiB is not met (61–65 MiB): 44 MiB of it is RssFile, of which a bare node alone is ~35, node's binary and libraries, shared with every other Node process and beyond what oomkit can shrink short of not being a Node program. RssAnon ≤ 15 MiB is met only once start-up's garbage is collected: `npm start` holds 21.8 MiB 2 s after \"watching\" and 16.1–18.0 at the end of the idle minute (this run and the one before); with the deploy flags 17.1–17.7 MiB at 2 s, 17.3 after a full GC (\"Footprint: builds side by side\"), and 14.4–17 MiB after V8's memory reducer has run (14.6 at the end of this run's 20 s window) (8 s after start; it rises and falls with the old generation's garbage between full GCs). A bare node is ~6.5 of it, the young generation 2, koffi ~1, the C heap ~1 above a bare node's; the 5–6 MiB left are oomkit's code and data. On a host with thousands of processes the warm model's cache of their files outweighs all of that (first bullet). Idle CPU ≤ 1 % of a core is met in this run and the one before: 0.60 % over 60 s (`npm start`, a load of 3–6, a machine of ~90–100 processes), 0.65–0.80 % in the quiet flags rows over 20 s (0.75 % with the deploy flags); it depends on how much the machine changes, and a machine of 3,000 processes took 2.7–9 % (the first bullet). What is left (node --cpu-prof, 60 s idle after start-up, at that load): garbage collection ~30 %, decision runs ~25 % (12 in 60 s, ~25 ms each), the warm model's refresh ~15 %, the pace's own snapshot (meminfo and pressure parsed) ~6 %, the history sample ~5 % (meminfo, vmstat and pressure read live every 2 s). Every decision run left was asked for by the machine: a process that came (this machine's commands, builds and VM runs), or / grown or shrunk by 70–430 MiB outside the plan's targets (the trigger would refuse the plan). The kernel log's reads (~7 % of the profile: a pool job, a promise and an error four times a second) are gone. A rule that made a newcomer count only once it had stayed a second (7 of 8 runs in one minute of an earlier profile were for a shell's commands, gone by then) was measured (decision runs 13–14 → 12–13 a minute here) and taken out again: a plan made in that second skipped a new unit as having no live tasks, and the trigger killed its quiet sibling (the VM's systemd test, TEST-55, on 6.12). A machine where nothing comes, stays or grows makes one decision a minute (REDECIDE_MS); a shared development machine is never that machine. Not done, with the reason: the history sample served from the warm model saves one read and parse each of meminfo and pressure per 2 s on a system-level host (~0.03 % of a core; vmstat would then be kept by the model and re-read at its pace), and on a cgroup v2 host the model keeps a cgroup's figures at different intervals (memory.current 2 s, memory.stat and pressure 10 s), so one sample time per cgroup would misstate the rates without a time per figure. Start-up ≤ 300 ms: 347 ms from spawn to \"watching\" and 180 ms of CPU to it in this run (`npm start`, a load of 3–6; 328 and 210 ms in the run before), 239–534 ms of wall time in the flags rows; a bare `node -e 0` takes 130–190 ms here. In CPU it is under the target at this load; in wall time at the edge, and over it whenever the 2 cores are busy (400–960 ms of CPU in earlier runs at loads of 6–14).",
];

/** V8 flags measured against each other; the deploy flags are chosen from this table. */
const FLAG_VARIANTS: readonly (readonly string[])[] = [
  [],
  ["--max-semi-space-size=1"],
  ["--max-semi-space-size=1", "--v8-pool-size=1"],
  ["--max-semi-space-size=1", "--single-threaded-gc"],
  ["--max-semi-space-size=1", "--optimize-for-size"],
  ["--max-semi-space-size=1", "--max-lazy"],
  ["--max-semi-space-size=1", "--lite-mode"],
  ["--max-semi-space-size=1", "--no-opt"],
  ["--max-semi-space-size=1", "--jitless"],
  ["--max-semi-space-size=1", "--v8-pool-size=1", "--single-threaded"],
  DEPLOY_FLAGS,
].filter((f, i, all) => all.findIndex((g) => g.join(" ") === f.join(" ")) === i);


interface DaemonFigures {
  readonly startMs: number;
  readonly startCpuMs: number;
  readonly idle: Footprint;
  readonly cpuPct: number;
  /** RssAnon at the end of the idle window: V8's memory reducer has collected start-up's garbage
   * by then (~8 s after the first full GC), which the reading 2 s after "watching" still holds. */
  readonly rssAnonIdleEndKiB: number;
  readonly episodeKiB: number;
  /** The manual OOM's round trip (a decision, in dry-run). */
  readonly episodeMs: number;
  readonly stop: string;
}

async function measureDaemon(flags: readonly string[], runs: number, windowS: number): Promise<DaemonFigures> {
  const starts: number[] = [];
  const startCpus: number[] = [];
  const idles: Footprint[] = [];
  let cpuPct = Number.NaN;
  let rssAnonIdleEndKiB = Number.NaN;
  let episodeKiB = Number.NaN;
  let episodeMs = Number.NaN;
  let stop = "";
  for (let i = 0; i < runs; i++) {
    const d = await startDaemon(flags);
    starts.push(d.startMs);
    startCpus.push(d.startCpuMs);
    await sleep(SETTLE_MS);
    idles.push(footprintOf(d.pid));
    if (i === 0) {
      const c0 = cpuSeconds(d.pid);
      await sleep(windowS * 1000);
      cpuPct = ((cpuSeconds(d.pid) - c0) / windowS) * 100;
      rssAnonIdleEndKiB = footprintOf(d.pid).rssAnonKiB;
      ({ peakKiB: episodeKiB, ms: episodeMs } = await episode(d));
    }
    const r = await stopDaemon(d);
    if (i === 0) stop = r.aborted ? `aborted (${r.signal ?? r.code})` : `exit ${r.code}`;
  }
  const pick = (k: keyof Footprint) => median(idles.map((f) => f[k]));
  const idle: Footprint = { vmRssKiB: pick("vmRssKiB"), rssAnonKiB: pick("rssAnonKiB"), rssFileKiB: pick("rssFileKiB"), rssShmemKiB: pick("rssShmemKiB"), pssKiB: pick("pssKiB"), lockedKiB: pick("lockedKiB"), lockedRssKiB: pick("lockedRssKiB"), threads: pick("threads") };
  return { startMs: median(starts), startCpuMs: median(startCpus), idle, cpuPct, rssAnonIdleEndKiB, episodeKiB, episodeMs, stop };
}

/** A child that prints "ready" once set up; its footprint (settled) and CPU over the window. */
async function measureChild(args: readonly string[], windowS: number): Promise<{ fp: Footprint; cpuPct: number; readyMs: number }> {
  const t0 = performance.now();
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (b: Buffer) => b.toString().includes("ready") && resolve());
    child.once("exit", (code) => reject(new Error(`${args.join(" ")} exited ${code}`)));
  });
  const readyMs = performance.now() - t0;
  await sleep(SETTLE_MS);
  const fp = footprintOf(child.pid!);
  const c0 = cpuSeconds(child.pid!);
  await sleep(windowS * 1000);
  const cpuPct = ((cpuSeconds(child.pid!) - c0) / windowS) * 100;
  child.kill("SIGKILL");
  return { fp, cpuPct, readyMs };
}

/** What loading one module costs a fresh node: its time and the RSS it adds (anon, file). */
function moduleCost(spec: string): { ms: number; anon: number; file: number } {
  const script = `const s=()=>{const t=require("fs").readFileSync("/proc/self/status","utf8");const g=k=>+t.match(new RegExp(k+":\\\\s+(\\\\d+)"))[1];return [g("RssAnon"),g("RssFile")]};` +
    `const a=s();const t=performance.now();import(${JSON.stringify(spec)}).then(()=>{const ms=performance.now()-t;const b=s();console.log(JSON.stringify({ms,anon:b[0]-a[0],file:b[1]-a[1]}))})`;
  const runs = [0, 1, 2].map(() => JSON.parse(execFileSync(process.execPath, ["-e", script], { cwd: path.resolve(HERE, "../.."), encoding: "utf8" })) as { ms: number; anon: number; file: number });
  return { ms: median(runs.map((r) => r.ms)), anon: median(runs.map((r) => r.anon)), file: median(runs.map((r) => r.file)) };
}

const row = (cells: readonly (string | number)[]) => `| ${cells.join(" | ")} |`;
const fpCells = (f: Footprint) => [mib(f.vmRssKiB), mib(f.rssAnonKiB), mib(f.rssFileKiB), mib(f.pssKiB), f.threads];

interface Step {
  step: string;
  commit: string;
  startMs: number;
  vmRssKiB: number;
  rssAnonKiB: number;
  rssFileKiB: number;
  lockedKiB: number;
  lockedRssKiB?: number;
  cpuPct: number;
  /** Absent in rows recorded before the column was. */
  rssAnonIdleEndKiB?: number;
  episodeKiB: number;
}

function recordStep(name: string, f: DaemonFigures): Step[] {
  const steps: Step[] = fs.existsSync(STEPS_FILE) ? (JSON.parse(fs.readFileSync(STEPS_FILE, "utf8")) as Step[]) : [];
  let commit = "";
  try {
    commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
  } catch {
    /* not a checkout */
  }
  const s: Step = { step: name, commit, startMs: Math.round(f.startMs), vmRssKiB: f.idle.vmRssKiB, rssAnonKiB: f.idle.rssAnonKiB, rssFileKiB: f.idle.rssFileKiB, lockedKiB: f.idle.lockedKiB, lockedRssKiB: f.idle.lockedRssKiB, cpuPct: Number(f.cpuPct.toFixed(2)), rssAnonIdleEndKiB: f.rssAnonIdleEndKiB, episodeKiB: f.episodeKiB };
  const i = steps.findIndex((x) => x.step === name);
  if (i >= 0) steps[i] = s;
  else steps.push(s);
  fs.writeFileSync(STEPS_FILE, `${JSON.stringify(steps, null, 2)}\n`);
  return steps;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { write: { type: "boolean" }, window: { type: "string" }, runs: { type: "string" }, step: { type: "string" }, quick: { type: "boolean" } } });
  const windowS = Number(values.window ?? 60);
  const runs = Number(values.runs ?? 5);
  const log = (t: string) => process.stderr.write(`${t}\n`);
  const out: string[] = [];

  log(`daemon as npm start runs it, ${runs} start-ups, ${windowS} s idle window`);
  const plain = await measureDaemon([], runs, windowS);
  const steps = values.step ? recordStep(values.step, plain) : fs.existsSync(STEPS_FILE) ? (JSON.parse(fs.readFileSync(STEPS_FILE, "utf8")) as Step[]) : [];

  out.push("| daemon | start → watching | CPU to watching | VmRSS MiB | RssAnon | RssFile | Pss | threads | locked: resident (smaps Locked) | idle CPU | RssAnon after the idle window | episode adds (peak) | SIGTERM |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
  out.push(row(["`npm start` (no flags)", `${plain.startMs.toFixed(0)} ms`, `${plain.startCpuMs.toFixed(0)} ms`, ...fpCells(plain.idle), `${mib(plain.idle.lockedRssKiB)} (${mib(plain.idle.lockedKiB)}) MiB`, `${plain.cpuPct.toFixed(2)} %`, mib(plain.rssAnonIdleEndKiB), `${mib(plain.episodeKiB)} MiB`, plain.stop]));

  if (!values.quick) {
    log("V8 flags");
    out.push("", `V8 flags (${Math.min(runs, 3)} start-ups each, idle CPU over ${Math.min(windowS, 20)} s; "OOM round trip" is one manual OOM at "/" in dry-run, the decision):`, "");
    out.push("| node flags | start → watching | CPU to watching | VmRSS MiB | RssAnon | RssFile | Pss | threads | idle CPU | RssAnon after the idle window | episode adds (peak) | OOM round trip |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (const flags of FLAG_VARIANTS) {
      const f = await measureDaemon(flags, Math.min(runs, 3), Math.min(windowS, 20));
      const deploy = flags.join(" ") === DEPLOY_FLAGS.join(" ") ? " (deploy/)" : "";
      out.push(row([flags.length === 0 ? "(none)" : `\`${flags.join(" ")}\`${deploy}`, `${f.startMs.toFixed(0)} ms`, `${f.startCpuMs.toFixed(0)} ms`, ...fpCells(f.idle), `${f.cpuPct.toFixed(2)} %`, mib(f.rssAnonIdleEndKiB), `${mib(f.episodeKiB)} MiB`, `${f.episodeMs.toFixed(0)} ms`]));
    }

    log("bare node, and ways to wait on fds");
    out.push("", "| process (idle) | ready | VmRSS MiB | RssAnon | RssFile | Pss | threads | idle CPU |", "|---|---:|---:|---:|---:|---:|---:|---:|");
    const bare = await measureChild(["-e", "console.log('ready'); setInterval(() => {}, 1 << 30)"], Math.min(windowS, 20));
    out.push(row(["bare `node`", `${bare.readyMs.toFixed(0)} ms`, ...fpCells(bare.fp), `${bare.cpuPct.toFixed(2)} %`]));
    const probe = path.join(HERE, "threads-probe.js");
    const what = { none: "node + koffi, no thread", async: "koffi `.async` poll(2) on one libuv pool thread", one: "one Worker in a poll(2) loop (today)", two: "two Workers in poll(2) loops (before)" } as const;
    for (const kind of ["none", "async", "one", "two"] as const) {
      const r = await measureChild([probe, kind], Math.min(windowS, 20));
      out.push(row([what[kind], `${r.readyMs.toFixed(0)} ms`, ...fpCells(r.fp), `${r.cpuPct.toFixed(2)} %`]));
    }

    log("module costs");
    out.push("", "| loaded into a fresh node (median of 3) | time | RssAnon added | RssFile added |", "|---|---:|---:|---:|");
    for (const spec of ["koffi", "smol-toml", "zod", "prom-client", "sucrase", "./dist/src/cli/cli.js"]) {
      const c = moduleCost(spec);
      out.push(row([`\`${spec}\``, `${c.ms.toFixed(0)} ms`, `${mib(c.anon)} MiB`, `${mib(c.file)} MiB`]));
    }
  }

  if (steps.length > 0) {
    out.push("", "What each step saved (`--step NAME` rows, each measured when that commit was made; `npm start`, median of the start-ups):", "");
    out.push("| step | commit | start → watching | VmRSS MiB | RssAnon | RssFile | locked: resident (smaps Locked) | idle CPU | RssAnon after the idle window | episode adds |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (const s of steps) out.push(row([s.step, s.commit, `${s.startMs} ms`, mib(s.vmRssKiB), mib(s.rssAnonKiB), mib(s.rssFileKiB), `${mib(s.lockedRssKiB ?? 0)} (${mib(s.lockedKiB)})`, `${s.cpuPct.toFixed(2)} %`, s.rssAnonIdleEndKiB === undefined ? "" : mib(s.rssAnonIdleEndKiB), `${mib(s.episodeKiB)} MiB`]));
  }

  if (!values.quick) out.push("", ...READING);
  const table = out.join("\n");
  process.stdout.write(`${table}\n`);
  if (values.write) {
    const argv = ["node", ...process.argv.slice(1).map((a) => path.relative(process.cwd(), a) || a)].join(" ");
    const intro =
      `Generated by \`${argv}\` (bench/footprint.bench.ts) on ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${os.cpus().length} CPUs, kernel ${os.release()}, natively (not in the VM). ` +
      `The daemon runs \`oomkit run --dry-run\` on the built-in default (metrics, event log and control socket on, in a scratch folder). Start-up is spawn → "oomkit: watching" (median of ${runs}), and "CPU to watching" the CPU time the daemon had used by then (utime + stime; steadier than wall time on a loaded machine, where waiting for a core counts); the footprint is read ${SETTLE_MS / 1000} s later (medians); idle CPU is utime + stime over ${windowS} s of one start-up, as % of one core, and "RssAnon after the idle window" read at its end (V8's memory reducer has collected start-up's garbage by then, which the reading 2 s after "watching" still holds); "episode adds" is VmHWM (reset through clear_refs) after one manual OOM at "/" minus VmRSS before it. ` +
      "RssAnon is oomkit's alone; RssFile (the node binary and libraries) is shared with every Node process on the host. 2 shared cores: compare within a run.";
    replaceSection(path.resolve(HERE, "../../BENCHMARKS.md"), HEADING, `${HEADING}\n\n${intro}\n\n${table}\n`);
  }
}

await main();
