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
  "- The tables above (4024958: the schemas dropped once the daemon has settled) were made on 2026-12-01 from 00:08 to 00:17 UTC at a load of 1–2 on 2 cores, on a machine of 70–86 processes: every row is a quiet machine's (a daemon's warm model grows with a machine's processes: \"Footprint: the warm model per process\"). Wall times are a loaded machine's; \"CPU to watching\" varies less.",
  "- Start-up's garbage given back (src/os/heap-release.ts): once the daemon has settled, its first standing plans made and no episode waiting or running (DaemonOptions.onSettled: ~200 ms after \"watching\" here), it runs one full GC that compacts, then glibc's `malloc_trim(0)`, once. Side by side (\"Footprint: builds side by side\", the two builds in turn, five start-ups each): RssAnon 2 s after \"watching\" 17.1 → 15.4 MiB with the deploy flags (each run 15.4–15.7) and 20.4 → 18.9 without flags; VmRSS 60.7 → 58.9 and 63.9 → 62.4 MiB. 12 s after \"watching\", once V8's memory reducer has run, 14.6–14.8 MiB both ways: the step brings forward by ~8 s what V8 does by itself, and saves nothing later. Start-up does not move (CPU to watching 290/280 ms and 240/240 ms); the collection costs 20–30 ms of CPU once (23–63 ms of the thread, which a trigger arriving then waits for), and nothing recurs, so idle CPU is not touched. In that step's run: `npm start` 18.9 MiB at 2 s against 21.8 in the run before it, the deploy flags 15.3 against 17.6.",
  "- The schemas dropped once the daemon has settled and after each reload (src/on-first-use.ts, `forgetBuilt`; the configuration's schema built on first use, src/config/schema.ts): every value `onFirstUse` built, the configuration's schema and each attached policy's options schema among them, is dropped just before the settle collection, which takes it, and after each reload; the next reload builds them again, the same schemas, so it checks exactly as before (test/unit/config/schema-release.test.ts). A heap snapshot of the idle daemon found them the largest thing it kept and never needed (0.39 MiB of V8 heap jointly; the rest, ranked, in \"Footprint: builds side by side\"). Side by side (five start-ups each, deploy flags): RssAnon 2 s after \"watching\" 15.3 → 14.9 MiB (every run 14.9–15.0), live heap 8.0 → 7.7 MiB. In this run's tables: the deploy flags 15.1 against 15.3 in the run before, `npm start` 18.7 against 18.9; these daemons take their own gc function from a new context (src/os/heap-release.ts), ~0.2 MiB until V8's reducer collects it, which the side-by-side bench's `--expose-gc` preload spares them. What it costs is a reload's: checking the built-in default took 16.7 ms of CPU with the schemas built again against 1.1 ms with them kept (31 ms the first time, zod's code compiled too); start-up and idle CPU do not move.",
  "- What start-up's garbage release does not reach is V8's young generation: 2 MiB with `--max-semi-space-size=1` (both semi-spaces touched by start-up), until a memory-reducing GC uncommits the idle one (0.3–1 MiB after it). Only a memory-reducing GC does that, and Node 20 gives JavaScript none: its `gc()` takes only minor or major; `--optimize-for-size` set around an eager `vm.measureMemory()` still marked without reducing; `node::LowMemoryNotification()` (exported by node for embedders) called through koffi crashed the process (SIGSEGV); `--gc-memory-reducer-start-delay-ms=1` set before a full GC brought no reducing GC within 3 s (the reducer's timer, set at start, stands). A plain full GC (no compaction) gave back ~0.3 MiB rather than 1.6–1.9, malloc_trim 0–0.3 (the pinned trim threshold already returns the heap's top). With the schemas dropped as well (previous bullet), RssAnon ≤ 15 MiB 2 s after \"watching\" is met at the edge with the deploy flags (14.9–15.0 MiB side by side, 15.1 in this run's row) and not without flags (18.7–18.8); it is met, flags or none, once V8's reducer has run (12.9–14.9 MiB at the end of the flags rows' window, 15.5 at the end of `npm start`'s 60 s).",
  "- The two Worker isolates of the kill path (poll, `process_mrelease`) cost 8–9 MiB of anonymous memory each; one koffi `.async` poll(2) on a libuv pool thread costs nothing measurable over loading koffi (threads table). src/os/poller.ts runs that way: it holds one pool thread while anything is waited on (the unit raises UV_THREADPOOL_SIZE to 5), and reads a failed `process_mrelease`'s cause from the pidfd, since `.async` loses errno.",
  "- `--max-semi-space-size=1` is the V8 flag that pays: 3 MiB less anonymous memory idle in this run (5–8 before start-up's garbage was given back, which takes part of the same garbage), and no measured loss in the decision's round trip beyond this machine's noise. `--v8-pool-size=1` drops three idle V8 platform threads for nothing measurable. `--no-opt`, `--lite-mode` and `--jitless` save 0.4–1.1 MiB of anonymous memory more, and 3.5–4.8 MiB of RssFile (TurboFan's code, next bullet but one, is never paged in), but cost a decision over 10,000 tasks 12–70 % more CPU, cold or warm (bench/decision-flags.bench.ts, \"Footprint: V8 flags and a decision\"): not taken. `--single-threaded`, `--single-threaded-gc`, `--optimize-for-size` and `--max-lazy` save nothing over the semi-space alone. No heap limit is set: a cap below what a decision over a large machine needs would end the daemon mid-episode.",
  "- Where the anonymous memory is (smaps of the idle daemon, deploy flags, ranges classed by address and size; \"Footprint: builds side by side\"): V8's heap pages 7–10.5 MiB before this step (8.1 MiB live after two full GCs; the rest start-up's garbage and the young generation), V8's other ranges 1.4–1.7 (the bundle's source, ~1 MiB, kept by V8 for lazy compilation; code space), the C heap 3.5–3.7, koffi's addon, thread stacks and small mappings ~1.7; a bare node is 6.3 of it (C heap 2.7, V8 3.0). After this step, 2 s after \"watching\" (v8.getHeapSpaceStatistics): old space 7.2 MiB resident rather than 8.7, large objects 1.0 rather than 1.3, the young generation 2.0 either way, code space 0.5–0.7. The V8 heap is spread thin: bytecode, scope and feedback data of the functions start-up ran (the zod schemas no longer: dropped once settled, 0.3 MiB of live heap), the policy realm's second context (~0.15 MiB), the warm model's files and plans.",
  "- Which file pages the daemon touches beyond a bare node (deploy flags, 2.5 s after \"watching\": each resident page of /usr/bin/node read from /proc/PID/pagemap and placed by the binary's sections and symbol table, a bare `node` with the same flags beside it): node's own mappings 40.3 MiB against 30.9, and koffi's addon 0.8. Of the 9.4 MiB: TurboFan's code 3.3 (`v8::internal::compiler::*`: a bare node optimizes nothing); other code 1.4 (V8's runtime, GC and parser, ICU's code, builtins); read-only data 4.7: the JavaScript source of the 83 of Node's own modules the daemon loads and a bare node does not (72 without a metrics endpoint: the ES module loader, fs/promises with streams and readline, net with the cluster modules a listening socket loads, child_process, dgram, perf_hooks, vm, util's parseArgs; http) 1.5 MiB, other data 1.8 (Node's code cache for those modules among it), ICU's time-zone data 0.64 MiB with 0.17 of ICU's code (`Date.prototype.toISOString`, which an episode record's timestamps use, src/engine/episode.ts: in a bare node `new Date(0).toISOString()` alone pages in the same, `Date.now()` and `new Date()` nothing), and node's dynamic symbol tables 0.8 MiB (the dynamic linker resolving koffi's addon's N-API imports among node's 74,482 exported symbols). Not paged in here but within reach: `localeCompare`, with which the tmpfs listing's sort breaks a tie (src/engine/snapshot.ts), loads ICU's collator at the first tie, 2.0 MiB of ICU data and 0.4 of its code in a bare node. The ICU pages went after this run (src/iso-time.ts writes toISOString's text from the UTC fields, tested against it; the tmpfs listing breaks ties by code unit): side by side (footprint-builds, 5 start-ups each, deploy flags), RssFile 43.6 → 42.8 MiB and VmRSS 58.5 → 57.7, RssAnon unchanged (14.9). What could still go: Node's modules the idle daemon does not need (fs/promises with its readline, perf_hooks), a few hundred KiB. What stays with a Node daemon: TurboFan (the decision's speed), koffi (1.6 MiB with the symbol lookups: the syscalls), net and child_process (the control socket, hooks), and a bare node's 34.7 MiB.",
  "- Locking the code costs no memory: ~24 MiB of the node binary and libraries stay resident and locked (smaps `Locked:` is proportional: Node's text is shared with every Node process here, so it counts in part), and MLOCK_ONFAULT pages nothing in: with CAP_IPC_LOCK dropped and RLIMIT_MEMLOCK 0 (nothing locked) the idle daemon's RssFile was 44.56–44.62 MiB, with its code locked 44.62–44.68 (three start-ups each). The locked pages are the pages it touched.",
  "- Start-up is most of all Node's and V8's: a bare node here takes ~170–200 ms of CPU to start. Of the rest (node --cpu-prof at 100 µs, spawn to \"watching\", deploy flags, ~285 ms of profile at a load of 5): Node compiling its own modules the daemon imports (fs streams, http, fs/promises, child_process, perf_hooks, net) ~35 ms, compiling the bundle's top level ~35 ms, the ES module loader ~9 ms, loading the configuration ~47 ms (zod checking the built-in default: zod's schemas built and its code compiled on first use; a configuration file costs the same), garbage collection ~13 ms; the first standing decisions, and now the release of start-up's garbage, run after \"watching\". A V8 start-up snapshot and a V8 code cache were measured and not taken: the snapshot's blob costs nearly what compiling does, the code cache saved ~50 ms of CPU but cost 2 MiB of anonymous memory in the form tried (\"Footprint: builds side by side\"), as did splitting the bundle by command (40 ms more).",
  "- Against the targets (default configuration, idle, triggers armed): an episode adds well under 5 MiB at its peak (met: 0.1–0.7 MiB in the flags rows and for `npm start`). RssAnon ≤ 15 MiB: met at the edge 2 s after \"watching\" with the deploy flags (14.9–15.0 MiB side by side, 15.1 in this run's row), not met without flags (18.7), met once V8's memory reducer has run (bullets above); a bare node is ~6.5 of it, the young generation 2, koffi ~1, the C heap ~1 above a bare node's. On a host with thousands of processes the warm model's files outweigh all of that (2.6 KiB per process). VmRSS ≤ 50 MiB is not met (58.8 MiB with the deploy flags, 62.3 for `npm start`), and is out of reach for a Node daemon: a bare node is 41.4 MiB (34.7 of it file-backed); with RssAnon at its 15 MiB target, 50 MiB would leave 0.3 MiB for file pages beyond a bare node's, against 9–10 today, of which TurboFan's 3.3, koffi's 1.6 and Node's own socket, stream and process modules' ~3 come with what the daemon is. The floor is about 34.7 + 3.3 + 1.6 + 2–3 ≈ 42 MiB of RssFile, and VmRSS ≈ 57 MiB at the RssAnon target: locking is not the reason (the bullet above), being a Node program is; 0.8 MiB of ICU pages are the honest saving left (previous bullet but one). Idle CPU ≤ 1 % of a core is met: 0.60 % over 60 s (`npm start`), 0.70–1.30 % in the flags rows over 20 s (0.90 % with the deploy flags); it depends on how much the machine changes (a machine of 3,000 processes took 2.7–9 % before the warm model's per-process work was cut). What is left (node --cpu-prof, 60 s idle after start-up, an earlier run): garbage collection ~30 %, decision runs ~25 % (12 in 60 s, ~25 ms each: each asked for by the machine, a process that came or / grown outside the plan's targets), the warm model's refresh ~15 %, the pace's own snapshot ~6 %, the history sample ~5 %. A machine where nothing comes, stays or grows makes one decision a minute (REDECIDE_MS). Start-up ≤ 300 ms: 212 ms from spawn to \"watching\" and 200 ms of CPU to it for `npm start` at a load of 1–2 (441 and 250 ms in the run before at ~4), 258–348 ms of wall time in the flags rows; a bare `node -e 0` takes 130–190 ms here. In CPU it is under the target; in wall time over it whenever the 2 cores are busy.",
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
