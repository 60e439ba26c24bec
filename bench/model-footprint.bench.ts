/**
 * What the daemon's warm model (src/engine/model.ts) costs per process, for builds side by side.
 * On a crowded host the model's cache of each process's files is most of oomkit's memory (3,078
 * processes: 25.5 MiB of live heap against 8 at start), so this is measured on a seeded fixture
 * machine of 3,000 tasks (decision.bench.ts's machineSpec, built in /dev/shm), never by starting
 * thousands of processes:
 *
 * - in one process: the live heap after full GCs before the standing decisions exist and after
 *   two simulated minutes of their upkeep (the model warmed by refreshes and a `rules` plan for
 *   "/", its policies given time to read every task): the model and its plan, per task;
 * - natively, the daemon itself (`oomkit run --dry-run --root FIXTURE`, the deploy flags, the
 *   built-in default): its live heap after two full GCs and its RssAnon, 20 s after "watching",
 *   on the 3,000-task machine and on one of 30 tasks; per process is the difference over 2,970.
 *
 * Each twice: with the fixture's own short texts, and with "real" texts (each task's status
 * written from this host's own /proc/self/status, ~1.4 KiB, with the task's figures put in, and
 * a command line of ~60 bytes), which is what a real host's processes cost.
 *
 *   node dist/bench/model-footprint.bench.js [--write] [--runs N] [--no-daemon] LABEL=path/to/dist ...
 *
 * LABEL=DIR names a build's dist folder (an earlier build: `git worktree add DIR COMMIT`,
 * node_modules linked, `npm run build`). --write puts the table in BENCHMARKS.md. No test asserts
 * on these figures.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { buildFixture, type FixtureSpec, type FixtureTask } from "../test/support/fixture.js";
import { machineSpec } from "./decision.bench.js";
import { DEPLOY_FLAGS, footprintOf, median, sleep, startDaemon, stopDaemon } from "./footprint-probe.js";
import { replaceSection } from "./markdown.js";

const HEADING = "## Footprint: the warm model per process";
const HERE = path.dirname(new URL(import.meta.url).pathname);
const TASKS = 3_000;
const CGROUPS = 300;
const SMALL_TASKS = 30;
const SMALL_CGROUPS = 10;
/** Simulated upkeep in the in-process probe, and its step. */
const UPKEEP_MS = 120_000;
const STEP_MS = 250;
/** How long the daemon runs before it is read: its first plans made, the model warmed by refreshes. */
const DAEMON_SETTLE_MS = 20_000;

/** Answers SIGUSR2 with two full GCs and a line: the live heap and RssAnon after them. */
const GC_PROBE = `process.on("SIGUSR2", () => { global.gc(); global.gc(); const m = process.memoryUsage();
  const anon = Number(/RssAnon:\\s+(\\d+)/.exec(require("fs").readFileSync("/proc/self/status", "utf8"))[1]);
  process._rawDebug("GC-HEAP " + JSON.stringify({ used: m.heapUsed / 1024, anon })); });`;

type Flavour = "fixture" | "real";

/** A task's status in this host's own format: /proc/self/status with the task's figures put in. */
function realStatus(template: string, t: FixtureTask): string {
  const rss = (t.rssAnonKb ?? 0) + (t.rssFileKb ?? 0) + (t.rssShmemKb ?? 0);
  const uid = t.uid ?? 0;
  const kb = (n: number) => `${String(n).padStart(8)} kB`;
  const put: Record<string, string> = {
    Name: t.comm, Tgid: String(t.pid), Pid: String(t.pid), PPid: String(t.ppid ?? 1), NStgid: String(t.pid), NSpid: String(t.pid),
    Uid: `${uid}\t${uid}\t${uid}\t${uid}`, VmSize: kb(rss * 2 + 10_000), VmPeak: kb(rss * 2 + 10_000), VmHWM: kb(rss), VmRSS: kb(rss),
    RssAnon: kb(t.rssAnonKb ?? 0), RssFile: kb(t.rssFileKb ?? 0), RssShmem: kb(t.rssShmemKb ?? 0), VmPTE: kb(t.pteKb ?? 48), VmSwap: kb(t.swapKb ?? 0),
  };
  return template.replace(/^([A-Za-z_]+):\t.*$/gm, (line, key: string) => (put[key] !== undefined ? `${key}:\t${put[key]}` : line));
}

/** The machine of `tasks` tasks, in /dev/shm where there is one; memory left ample so that no trigger fires. */
export function buildMachine(tasks: number, cgroups: number, flavour: Flavour): string {
  const m = machineSpec(tasks, cgroups).spec;
  const spec: FixtureSpec = { ...m, memAvailableKb: Math.floor((m.memTotalKb ?? 0) / 2) };
  const shm = fs.existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir();
  const dir = buildFixture(spec, fs.mkdtempSync(path.join(shm, "oomkit-model-fp-")));
  if (flavour === "real") {
    const template = fs.readFileSync("/proc/self/status", "utf8");
    for (const t of spec.tasks ?? []) {
      if (t.kthread) continue;
      fs.writeFileSync(path.join(dir, `proc/${t.pid}/status`), realStatus(template, t));
      fs.writeFileSync(path.join(dir, `proc/${t.pid}/cmdline`), `/usr/bin/${t.comm}\0--config\0/etc/${t.comm}/${t.comm}.conf\0--workers\0${t.pid % 8}\0`);
    }
  }
  return dir;
}

interface InProcess {
  readonly heapKiB: number;
  readonly entries: number;
  readonly parsedValues: number;
}

/** The child of the in-process probe: the model and its plan on `dir`, built from `dist`. */
async function child(dist: string, dir: string): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error("run with --expose-gc");
  const at = (p: string) => import(path.resolve(dist, p));
  const { StandingDecisions } = await at("src/daemon/standing.js");
  const { FixtureHost } = await at("src/os/fixture-host.js");
  const { ManualClock } = await at("src/os/host.js");
  const { detectCgroupMode } = await at("src/os/cgroup-mode.js");
  const { silentLogger } = await at("src/log.js");
  const { engineFor } = await at("bench/decision.bench.js");
  const clock = new ManualClock(1_000_000);
  const host = new FixtureHost(dir, { clock });
  const mode = detectCgroupMode(host);
  // Time enough for every policy to read every task: the model then holds what a whole decision reads.
  const engine = engineFor("rules", 60_000, 60_000);
  const heap = () => {
    for (let i = 0; i < 4; i++) gc();
    return process.memoryUsage().heapUsed / 1024;
  };
  const before = heap();
  const standing = new StandingDecisions({ host, mode, log: silentLogger, engine: () => engine, scopes: () => [] });
  for (let t = 0; t < UPKEEP_MS; t += STEP_MS) {
    await standing.upkeep(clock.monotonicMs());
    clock.advance(STEP_MS);
  }
  if (standing.take("/") === undefined) throw new Error(`no plan stands: ${standing.whyNone("/")}`);
  const after = heap();
  const stats = standing.model.stats as { entries: number; parsedValues: number };
  const out: InProcess = { heapKiB: after - before, entries: stats.entries, parsedValues: stats.parsedValues };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

function inProcess(dist: string, dir: string): InProcess {
  const out = execFileSync(process.execPath, ["--expose-gc", path.join(HERE, "model-footprint.bench.js"), "--child", dist, dir], { encoding: "utf8" });
  return JSON.parse(out.trim().split("\n").pop() as string) as InProcess;
}

/** The daemon on `dir`: live heap after two full GCs and RssAnon (KiB), DAEMON_SETTLE_MS after "watching". */
async function daemonOn(dist: string, dir: string, probe: string): Promise<{ heapKiB: number; anonKiB: number }> {
  const d = await startDaemon([...DEPLOY_FLAGS, "--expose-gc", "--require", probe], ["--root", dir], path.join(dist, "src/cli/main.js"));
  try {
    await sleep(DAEMON_SETTLE_MS);
    const anonKiB = footprintOf(d.pid).rssAnonKiB;
    process.kill(d.pid, "SIGUSR2");
    for (;;) {
      const m = /GC-HEAP (.*)\n/.exec(d.stderr());
      if (m) return { heapKiB: (JSON.parse(m[1] as string) as { used: number }).used, anonKiB };
      await sleep(20);
    }
  } finally {
    await stopDaemon(d);
  }
}

/** What the table says; kept here so that --write keeps it with the figures. */
const READING = [
  "- Where a process's memory went in the model (heap snapshots of the in-process probe, real texts, before this step at f6f6fca): its status text, ~1.4 KiB, twice over for most processes (7.5 MiB of the 17 at 3,000 tasks): a status re-read unchanged replaced the kept string with the one just read, while the parsed value kept from the first (its StatusPairs) held on to the first; then an object per entry for each read's outcome (0.5 MiB), per parsed value (0.55), per due-queue copy (0.5), a Set per process of its entries (0.5 with its table), a Map per process for the v1 cgroups of a pure v2 machine, a uid object per process; the entries themselves (1.2), the parsed stat and status (0.9), the paths as the map's keys (0.4), the /proc listing (0.3).",
  "- What changed (src/engine/model.ts, src/os/parse/proc.ts): a status is kept as only the lines oomkit reads (compactProcStatus: Name, State, the ids, the memory figures, Threads, Kthread, CapEff; ~300 bytes), so it also counts as changed only when one of those did, not with its context switches; a text re-read unchanged keeps the string its parsed values hold; an entry holds its outcome and its parsed value as fields, the due queues keep times in an array beside the entries, a process's entries are an array of their exact length, a pure v2 task's empty v1 map is one shared map, and tasks whose four uids are one share one frozen uid object. The parsed figures are the same (compactProcStatus's tests parse both texts; the simulator's `--json` output is byte for byte the same for every shipped scenario and configuration). Compacting costs ~9 µs per status re-read here (a parse of the whole text ~20 µs, of the compact one ~10).",
  "- The daemon's columns are the daemon as it ships, and vary more than the probe's: its decisions run ahead under the default deadlines (rules: four times 250 ms, at most 1 s a call), and on a loaded host the first plan is cut short and the model holds fewer processes' files until the next (the plan stands, so that is by its age, a minute on): the same build has given 11.9 and 17.2 MiB on the 3,000-task machine in two sittings. Read them as confirming the probe's direction natively, not for their size; RssAnon also holds the garbage between collections. \"before\" is a `git worktree` of f6f6fca built with `npm run build`.",
  "- What is left per process (~2.8 KiB with real texts): the entries (~120 bytes each, four or five a process: stat, status, oom_score_adj, cgroup, and the cmdline where a rule reads it) and their paths as keys, the stat and compact status texts, the parsed ProcStat and ProcStatus, the /proc listing's entry. Keying a process's files by pid rather than by path, or keeping a status's parsed figures without its text, would cut further, at the price of the model's one shape for every file.",
];

const mib = (kib: number) => (kib / 1024).toFixed(2);
const perTask = (kib: number, tasks: number) => (kib / tasks).toFixed(2);

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ options: { write: { type: "boolean" }, runs: { type: "string" }, "no-daemon": { type: "boolean" }, child: { type: "string" } }, allowPositionals: true });
  if (values.child !== undefined) return child(values.child, positionals[0] as string);
  const runs = Number(values.runs ?? 3);
  const builds = positionals.map((p) => ({ label: p.slice(0, p.indexOf("=")), dist: path.resolve(p.slice(p.indexOf("=") + 1)) }));
  if (builds.length === 0 || builds.some((b) => !b.label || !b.dist)) throw new Error("usage: model-footprint.bench.js [--write] [--runs N] [--no-daemon] LABEL=path/to/dist ...");
  const log = (t: string) => process.stderr.write(`${t}\n`);
  const probeDir = fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-model-fp-"));
  const probe = path.join(probeDir, "gc-probe.cjs");
  fs.writeFileSync(probe, GC_PROBE);
  const rows: string[] = [];
  /** The host's 1-minute load average at each build's run: what the daemon's deadlines met. */
  const loads: number[] = [];
  try {
    for (const flavour of ["fixture", "real"] as const) {
      const big = buildMachine(TASKS, CGROUPS, flavour);
      const small = buildMachine(SMALL_TASKS, SMALL_CGROUPS, flavour);
      try {
        const got = new Map(builds.map((b) => [b.label, { model: [] as InProcess[], big: [] as { heapKiB: number; anonKiB: number }[], small: [] as { heapKiB: number; anonKiB: number }[] }]));
        // Round by round, so that every build meets the same machine load.
        for (let i = 0; i < runs; i++) {
          for (const b of builds) {
            const g = got.get(b.label)!;
            log(`${flavour} texts, run ${i + 1}: ${b.label}`);
            loads.push(os.loadavg()[0] ?? Number.NaN);
            g.model.push(inProcess(b.dist, big));
            if (!values["no-daemon"]) {
              g.big.push(await daemonOn(b.dist, big, probe));
              g.small.push(await daemonOn(b.dist, small, probe));
            }
          }
        }
        for (const b of builds) {
          const g = got.get(b.label)!;
          const model = median(g.model.map((m) => m.heapKiB));
          const cells = [`${flavour === "real" ? "real" : "the fixture's"} texts`, b.label, mib(model), perTask(model, TASKS), g.model.map((m) => mib(m.heapKiB)).join(", "), String(g.model[0]?.entries ?? ""), String(g.model[0]?.parsedValues ?? "")];
          if (!values["no-daemon"]) {
            const heapBig = median(g.big.map((x) => x.heapKiB));
            const heapSmall = median(g.small.map((x) => x.heapKiB));
            const anonBig = median(g.big.map((x) => x.anonKiB));
            cells.push(mib(heapSmall), mib(heapBig), perTask(heapBig - heapSmall, TASKS - SMALL_TASKS), mib(anonBig));
          } else cells.push("", "", "", "");
          rows.push(`| ${cells.join(" | ")} |`);
        }
      } finally {
        fs.rmSync(big, { recursive: true, force: true });
        fs.rmSync(small, { recursive: true, force: true });
      }
    }
  } finally {
    fs.rmSync(probeDir, { recursive: true, force: true });
  }
  const table = [
    `| texts | build | model + plan, live heap MiB (median of ${runs}) | KiB per task | each run | model entries | parsed values | daemon, ${SMALL_TASKS} tasks: live heap MiB | daemon, ${TASKS} tasks: live heap MiB | daemon: KiB per process | daemon, ${TASKS} tasks: RssAnon MiB |`,
    "|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ...rows,
  ].join("\n");
  process.stdout.write(`${table}\n`);
  if (values.write) {
    const quoted = (a: string) => (/[\s()]/.test(a) ? `"${a}"` : a);
    const argv = ["node", ...process.argv.slice(1).map((a) => quoted(path.relative(process.cwd(), a) || a))].join(" ");
    const intro =
      `Generated by \`${argv}\` (bench/model-footprint.bench.ts) on ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${os.cpus().length} CPUs, natively, at a host load of ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)} on ${os.cpus().length} CPUs. ` +
      `The machine is decision.bench.ts's seeded fixture of ${TASKS.toLocaleString("en")} tasks in ${CGROUPS} cgroups (no process is started). **model + plan**: in one process, the live heap after full GCs, before the standing decisions exist and after ${UPKEEP_MS / 1000} simulated seconds of their upkeep (refreshes, and a \`rules\` plan for "/" whose policies had time to read every task), over the tasks. ` +
      `**daemon**: \`oomkit run --dry-run --root FIXTURE\` with the deploy flags, the built-in default, its live heap after two full GCs ${DAEMON_SETTLE_MS / 1000} s after "watching" (its own deadlines: a decision cut short holds fewer tasks) on the ${TASKS.toLocaleString("en")}-task machine and on one of ${SMALL_TASKS}; per process is the difference over ${TASKS - SMALL_TASKS}. ` +
      "**real texts**: each task's status written from this host's own /proc/self/status (~1.4 KiB) with the task's figures put in, and a command line of ~60 bytes, as a real host's processes show; the fixture's own status is ~250 bytes. Builds are run round by round.";
    replaceSection(path.resolve(HERE, "../../BENCHMARKS.md"), HEADING, `${HEADING}\n\n${intro}\n\n${table}\n\n${READING.join("\n")}\n`);
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) await main();
