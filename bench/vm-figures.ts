/**
 * BENCHMARKS.md tables from the kernel suite's run folders (the VM writes its figures there; a
 * guest cannot write to the repository):
 *
 * - "Standing against fresh in the VM": the daemon scenarios (daemon-figures-{oom,zram}.json),
 *   each run on the standing path and again with `standing_decisions = false` in the same guest
 *   (OOMKIT_BENCH_KILL=1): signal → decision → kill, side by side.
 * - "A crowded machine (in the VM)": daemon-crowd.test (daemon-figures-crowd.json) and the peers
 *   comparison's crowded scenario (peers.json, OOMKIT_BENCH_PEERS=1): oomkit against the kernel,
 *   earlyoom and nohang on 3,000 waiting tasks in 300 cgroups.
 * - "Against the peers, re-run (in the VM)": every scenario of the peers comparison (peers.json)
 *   as one table, the way "Against the peers (in the VM)" was written by hand from its first run.
 *
 *   OOMKIT_BENCH_KILL=1 OOMKIT_KERNEL_TESTS=daemon- npm run test:kernel
 *   OOMKIT_BENCH_PEERS=1 OOMKIT_BENCH_PEERS_SCENARIOS=crowd OOMKIT_KERNEL_TESTS=peers npm run test:kernel
 *   node dist/bench/vm-figures.js [--write] [--section=standing|crowd|peers|footprint] [KERNEL_RUN_FOLDER...]
 *
 * Without folders it takes, for each kernel, the newest run folder (under $OOMKIT_VM_CACHE/runs)
 * with fresh rows for the first table and the newest with crowd figures for the second. No test
 * asserts on these times; the tests assert the outcomes.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { replaceSection } from "./markdown.js";

const STANDING_HEADING = "## Standing against fresh in the VM";
const CROWD_HEADING = "## A crowded machine (in the VM)";
const PEERS_HEADING = "## Against the peers, re-run (in the VM)";
const FOOTPRINT_HEADING = "## oomkit's footprint and the kill without swap (in the VM)";
const RUNS = path.join(process.env.OOMKIT_VM_CACHE ?? "/var/tmp/oomkit-vm", "runs");

interface Figures {
  readonly signalToDecisionMs?: number;
  readonly decisionToKillMs?: number;
  readonly killToFreedMs?: number;
  readonly policyMs?: number;
  readonly escalated?: boolean;
}

interface FigureRow {
  readonly scenario: string;
  readonly decision?: "standing" | "fresh" | "none";
  readonly standingRefused?: string;
  readonly standingAgeMs?: number;
  readonly kernel: string;
  readonly policy: string | null;
  readonly trigger: string;
  readonly victim: string;
  readonly figures: Figures;
}

interface PeerResult {
  readonly scenario: string;
  readonly handler: string;
  readonly rep: number;
  readonly firstKillMs?: number;
  readonly victim: string;
  readonly right: boolean;
  readonly fullStallMs: number;
  readonly kernelKillsAtFirst: number;
  readonly killedBy: string;
  readonly minMemAvailableKiB: number;
  readonly minSwapFreeKiB?: number;
  readonly othersKilled?: number;
  readonly decision?: string;
  readonly idleRssKiB?: number;
  readonly idleRssAnonKiB?: number;
  readonly idleRssFileKiB?: number;
  readonly peakRssKiB?: number;
}

/** A kernel's run folder: its guests' folders inside. */
interface KernelRun {
  readonly dir: string;
  readonly kernel: string;
  readonly figures: FigureRow[];
  readonly peers: PeerResult[];
  readonly date: string;
  /** The leak's growth in the peers comparison, MiB/s (peers.json's rate). */
  readonly rate?: number;
  /** Each peers guest's folder: oomkit's episode records are kept there (peers-oomkit-SCENARIO.events.jsonl). */
  readonly peerDirs: readonly string[];
  /** The host's 1-minute load average while each guest ran (host-load.json, by the harness). */
  readonly loads: readonly GuestLoad[];
}

interface GuestLoad {
  readonly guest: string;
  readonly cpus: number;
  readonly min: number;
  readonly max: number;
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as T;
  } catch {
    return undefined;
  }
}

function loadRun(dir: string): KernelRun {
  const figures: FigureRow[] = [];
  const peers: PeerResult[] = [];
  const loads: GuestLoad[] = [];
  const peerDirs: string[] = [];
  let rate: number | undefined;
  let kernel = path.basename(dir).replace(/^[0-9T]+-/, "").replace(/-[0-9]+$/, "");
  let date = "";
  for (const guest of fs.existsSync(dir) ? fs.readdirSync(dir).sort() : []) {
    const g = path.join(dir, guest);
    if (!fs.statSync(g).isDirectory()) continue;
    const load = readJson<{ cpus: number; load1: { min: number; max: number } }>(path.join(g, "host-load.json"));
    if (load) loads.push({ guest: guest.replace(/^\d+-/, ""), cpus: load.cpus, min: load.load1.min, max: load.load1.max });
    for (const f of fs.readdirSync(g).sort()) {
      if (/^daemon-figures-.*\.json$/.test(f)) {
        const j = readJson<{ kernel: string; date: string; rows: FigureRow[] }>(path.join(g, f));
        if (!j) continue;
        kernel = j.kernel;
        date ||= j.date;
        figures.push(...(Array.isArray(j.rows) ? j.rows : []));
      } else if (f === "peers.json") {
        const j = readJson<{ kernel: string; date: string; rate?: number; results: PeerResult[] }>(path.join(g, f));
        if (!j) continue;
        kernel = j.kernel;
        date ||= j.date;
        if (typeof j.rate === "number") rate = j.rate;
        peerDirs.push(g);
        peers.push(...(Array.isArray(j.results) ? j.results : []));
      }
    }
  }
  return { dir, kernel, figures, peers, date, loads, peerDirs, ...(rate !== undefined ? { rate } : {}) };
}

/** The newest run folder per kernel for which `has` holds. */
function newest(has: (r: KernelRun) => boolean): KernelRun[] {
  if (!fs.existsSync(RUNS)) return [];
  const byKernel = new Map<string, KernelRun>();
  for (const d of fs.readdirSync(RUNS).sort().reverse()) {
    const r = loadRun(path.join(RUNS, d));
    if (!has(r) || byKernel.has(r.kernel)) continue;
    byKernel.set(r.kernel, r);
  }
  return [...byKernel.values()].sort((a, b) => a.kernel.localeCompare(b.kernel, "en", { numeric: true }));
}

const ms = (x: number | undefined) => (x === undefined ? "—" : x < 10 ? `${x.toFixed(1)} ms` : `${Math.round(x)} ms`);
const signalToKill = (f: Figures) => (f.signalToDecisionMs !== undefined && f.decisionToKillMs !== undefined ? f.signalToDecisionMs + f.decisionToKillMs : undefined);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length === 0 ? undefined : s.length % 2 ? s[m] : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
/** "host load (1-min average, 2 CPUs): daemon-oom 7.1–9.0, …" for the guests that wrote figures. */
function loadNote(runs: KernelRun[], guest: (name: string) => boolean): string {
  const parts = runs.flatMap((r) => r.loads.filter((l) => guest(l.guest)).map((l) => `${short(r.kernel)} ${l.guest} ${l.min.toFixed(1)}–${l.max.toFixed(1)} on ${l.cpus} CPUs`));
  return parts.length ? `The host's load while the guests ran (1-minute average, from the harness's host-load.json): ${parts.join("; ")}.` : "The host's load was not recorded for these runs.";
}
const short = (k: string) => k.replace(/^(\d+\.\d+\.\d+)[^ ]*$/, "$1").replace(/^6\.1\.0-\d+-amd64$/, k);

function standingTable(runs: KernelRun[]): string {
  const lines = [
    STANDING_HEADING,
    "",
    `Generated by \`node dist/bench/vm-figures.js --write\` (bench/vm-figures.ts) from the run folders of \`OOMKIT_BENCH_KILL=1 OOMKIT_KERNEL_TESTS=daemon- npm run test:kernel\` (${runs.map((r) => `${r.kernel}: ${r.date.slice(0, 10)}, ${path.basename(r.dir)}`).join("; ")}). ` +
      "QEMU TCG, 2 vCPUs, 1.5 GiB. With OOMKIT_BENCH_KILL=1 each daemon scenario of test/kernel/daemon-oom.test.ts and daemon-zram.test.ts runs twice in the same guest, one after the other: as it ships (`standing_decisions = true`: the plan made ahead on the warm model, checked against the live machine at the trigger) and with `standing_decisions = false` (the chain run at the trigger on a live snapshot, as before issue 11). " +
      "Every figure is from the episode record: **signal → decision** is `times.signalToDecisionMs` (the trigger's signal seen to the verified plan: on the standing path the live check of the plan's targets), **decision → kill** the step to SIGKILL or the `cgroup.kill` write, **signal → kill** their sum, **kill → freed** the victim's memory back; **policy call** is the handling policy's `chain[].durationMs`, made ahead (off the trigger's path) on the standing path. " +
      "psi_test and priority start their victim in a frozen cgroup and thaw it once a standing plan names it (the trouble starts after a plan could be made); oom_test's units all grow from nothing at the thaw, so its standing run may decide afresh (the reason is in the last column). One run each; TCG times vary by up to ~50 % between runs: read them within a run, as ratios. " +
      loadNote(runs, (g) => /^daemon-(oom|zram)/.test(g)),
    "",
    "| kernel | scenario | path | signal → decision | decision → kill | signal → kill | vs fresh | kill → freed | policy call | plan age, or why fresh |",
    "|---|---|---|---:|---:|---:|---:|---:|---:|---|",
  ];
  for (const run of runs) {
    const rows = run.figures.filter((r) => r.decision === "standing" || r.decision === "fresh" || r.decision === "none");
    // The scenarios run both ways (the others, daemon-kill's, ran only as they ship).
    const scenarios = [...new Set(rows.filter((r) => r.decision === "none").map((r) => r.scenario))];
    for (const sc of scenarios) {
      const of = rows.filter((r) => r.scenario === sc);
      // "none": standing decisions off (no path in the record); "fresh" with a reason: refused.
      const off = of.find((r) => r.decision === "none");
      const offKill = off ? signalToKill(off.figures) : undefined;
      for (const r of [...of.filter((x) => x.decision !== "none"), ...(off ? [off] : [])]) {
        const f = r.figures;
        const path = r.decision === "standing" ? "standing" : r.decision === "fresh" ? "fresh (refused)" : "`standing_decisions = false`";
        const kill = signalToKill(f);
        const ratio = r.decision !== "none" && kill !== undefined && offKill !== undefined && offKill > 0 ? `${(kill / offKill).toFixed(2)}×` : r.decision === "none" ? "1.00×" : "—";
        const why = r.decision === "standing" ? `${ms(r.standingAgeMs)} old` : r.decision === "fresh" ? (r.standingRefused ?? "").replace(/\/oomkit-test-[^ ]*/g, "the scope") : "";
        lines.push(`| ${short(run.kernel)} | ${sc} | ${path} | ${ms(f.signalToDecisionMs)} | ${ms(f.decisionToKillMs)} | ${ms(kill)} | ${ratio} | ${ms(f.killToFreedMs)} | ${ms(f.policyMs)} | ${why} |`);
      }
    }
  }
  lines.push("");
  return lines.join("\n");
}

/** One handler's runs of one scenario, summed up for a table row (medians over the runs). */
function summary(rs: readonly PeerResult[]) {
  const med = (f: (r: PeerResult) => number | undefined) => median(rs.flatMap((r) => (f(r) === undefined ? [] : [f(r) as number])));
  return {
    kills: rs.flatMap((r) => (r.firstKillMs !== undefined ? [r.firstKillMs / 1000] : [])),
    victims: [...new Set(rs.map((r) => r.victim.replace(/ \(.*$/, "")))].join(", "),
    right: rs.filter((r) => r.right).length,
    by: [...new Set(rs.map((r) => r.killedBy))].join(", "),
    others: rs.map((r) => r.othersKilled ?? 0).join(", "),
    stall: med((r) => r.fullStallMs),
    avail: med((r) => r.minMemAvailableKiB / 1024),
    swap: med((r) => (r.minSwapFreeKiB === undefined ? undefined : r.minSwapFreeKiB / 1024)),
    idle: med((r) => (r.idleRssKiB === undefined ? undefined : r.idleRssKiB / 1024)),
    peak: med((r) => (r.peakRssKiB === undefined ? undefined : r.peakRssKiB / 1024)),
    anon: med((r) => (r.idleRssAnonKiB === undefined ? undefined : r.idleRssAnonKiB / 1024)),
    file: med((r) => (r.idleRssFileKiB === undefined ? undefined : r.idleRssFileKiB / 1024)),
    decision: [...new Set(rs.flatMap((r) => (r.decision ? [r.decision.replace(/ \d+ ms old/, "").replace(/signal→decision ([\d.]+) ms/, "signal → decision $1 ms")] : [])))].join("; "),
  };
}

function crowdTable(runs: KernelRun[]): string {
  const lines = [
    CROWD_HEADING,
    "",
    `Generated by \`node dist/bench/vm-figures.js --write\` (bench/vm-figures.ts) from the run folders of \`OOMKIT_KERNEL_TESTS=daemon-crowd npm run test:kernel\` and \`OOMKIT_BENCH_PEERS=1 OOMKIT_BENCH_PEERS_SCENARIOS=crowd OOMKIT_KERNEL_TESTS=peers npm run test:kernel\` (${runs.map((r) => `${r.kernel}: ${r.date.slice(0, 10)}, ${path.basename(r.dir)}`).join("; ")}). ` +
      "QEMU TCG, 2 vCPUs, 1.5 GiB guest. The machine (test/kernel/crowd.ts): 3,000 waiting tasks in 300 cgroups (30 slices of 10 services, 10 tasks each touching 16 KiB), three 40 MiB bystanders and a leak of 20 MiB/s (CROWD_LEAK_MIB_S), each in a cgroup of its own, no swap; most of the rest of the guest's memory reserved as huge pages (as in \"Against the peers\" above, so every 10 % threshold is of the whole 1.5 GiB). " +
      "oomkit runs its built-in default configuration as it ships (`rules` → the kernel's badness, `policy_deadline_ms` 250, `default_policy_deadline_ms` 1000; MemAvailable/SwapFree 10 %, machine PSI full 200 ms / 2 s), and once more with `standing_decisions = false` (**oomkit-fresh**: deciding at the trigger, as before issue 11); earlyoom and nohang as in \"Against the peers\". oomkit (standing) is given the time to make its first plan before the leak starts (**warm-up** below), as a daemon that has been running would have. " +
      "**leak start → first kill** as in \"Against the peers\"; **others killed**: processes besides the victim dead 2 s after the first kill (bystanders and crowd tasks); **decision**: how oomkit's kill was decided (its record). A negative time is a kill before the leak started: the handler's trigger fired while it waited for the leak (with oomkit, while it warmed up, its own memory among what brought MemAvailable under its threshold). The `daemon-crowd` rows are the kernel test, which asserts the outcome (the leak killed by oomkit on its standing plan, before the kernel, nothing else killed). Until the run of 2026-11-30 22:00 (included) **others killed** counted the crowd tasks dead since the crowd started, not in that run: there the counts went 0 (earlyoom #1, oomkit #1), 1 (earlyoom #2, oomkit #2) and 2 (earlyoom #3, oomkit #3), so each of oomkit's runs added none and the two deaths came during or after earlyoom's second and third runs; each run now counts its own. " +
      loadNote(runs, (g) => /^(daemon-crowd|peers)/.test(g)),
    "",
    "| kernel | handler | leak start → first kill (median; runs) | victim (right / runs) | killed by | others killed | full stall to the kill | lowest MemAvailable | idle RSS | oomkit's decision |",
    "|---|---|---:|---|---|---:|---:|---:|---:|---|",
  ];
  for (const run of runs) {
    const crowd = run.peers.filter((p) => p.scenario === "crowd");
    for (const handler of [...new Set(crowd.map((p) => p.handler))]) {
      const rs = crowd.filter((p) => p.handler === handler);
      const x = summary(rs);
      lines.push(
        `| ${short(run.kernel)} | ${handler} | ${median(x.kills)?.toFixed(1) ?? "—"} s (${x.kills.map((k) => k.toFixed(1)).join(", ")}) | ${x.victims} (${x.right}/${rs.length}) | ${x.by} | ${x.others} | ${x.stall ?? "—"} ms | ${x.avail === undefined ? "—" : Math.round(x.avail)} MiB | ${x.idle === undefined ? "—" : `${x.idle.toFixed(1)} MiB${x.anon !== undefined && x.file !== undefined ? ` (RssAnon ${x.anon.toFixed(1)}, RssFile ${x.file.toFixed(1)})` : ""}`} | ${x.decision || "—"} |`,
      );
    }
    for (const r of run.figures.filter((x) => /^crowded/.test(x.scenario))) {
      const f = r.figures;
      const how = r.decision === "standing" ? `standing (${ms(r.standingAgeMs)} old)` : r.decision === "fresh" ? `fresh: ${r.standingRefused}` : "standing decisions off";
      lines.push(`| ${short(run.kernel)} | oomkit (daemon-crowd test) | — | ${r.victim} | handler | 0 | — | — | — | ${how}, ${r.trigger}: signal → decision ${ms(f.signalToDecisionMs)}, decision → kill ${ms(f.decisionToKillMs)}, policy (ahead) ${ms(f.policyMs)} |`);
    }
  }
  lines.push("");
  return lines.join("\n");
}

const SCENARIO_TITLES: Readonly<Record<string, string>> = {
  leak: "1. leak among bystanders, no swap",
  "leak-zram": "2. leak among bystanders, zram swap",
  priority: "3. two growing jobs (important, batch), no swap",
  crowd: "4. crowded machine (3,000 waiting tasks), leak among bystanders, no swap",
};

/** Every scenario and handler of the newest peers run, with the kernel's median as the ratio's base. */
function peersTable(runs: KernelRun[]): string {
  const lines = [
    PEERS_HEADING,
    "",
    `Generated by \`node dist/bench/vm-figures.js --write\` (bench/vm-figures.ts) from the run folder of \`OOMKIT_BENCH_PEERS=1 OOMKIT_KERNEL_TESTS=peers npm run test:kernel\` (${runs.map((r) => `${r.kernel}: ${r.date.slice(0, 10)}, ${path.basename(r.dir)}`).join("; ")}). ` +
      "The method, machine and handlers are those of \"Against the peers (in the VM)\" above (its first run, 2026-11-22, is kept there with what its figures said); this run adds the crowded machine of \"A crowded machine (in the VM)\" and oomkit as it ships now: standing decisions (the plan made ahead on the warm model; **oomkit-fresh** is the same daemon with `standing_decisions = false`, deciding at the trigger), a decision run ahead that a trigger stops, and the smaller daemon of \"Footprint (native)\", run with the node flags and environment of deploy/oomkit.service. A negative time is a kill before the leak started (see \"A crowded machine (in the VM)\"). Runs per handler and scenario: as the run folder says (OOMKIT_BENCH_PEERS_REPS, 1 by default), so one run's times vary by up to ~50 % under TCG: read them within a scenario, as ratios to the kernel alone (**vs kernel**). " +
      loadNote(runs, (g) => /^peers/.test(g)),
    "",
    "| kernel | scenario | handler | leak start → first kill, s (median; runs) | vs kernel | victim (right / runs) | killed by | others killed | full stall to the kill, ms (median) | lowest MemAvailable / SwapFree, MiB (median) | handler RSS idle / peak, MiB | oomkit's decision |",
    "|---|---|---|---:|---:|---|---|---:|---:|---:|---:|---|",
  ];
  for (const run of runs) {
    for (const sc of Object.keys(SCENARIO_TITLES).filter((k) => run.peers.some((p) => p.scenario === k))) {
      const of = run.peers.filter((p) => p.scenario === sc);
      const base = median(summary(of.filter((p) => p.handler === "kernel")).kills);
      for (const handler of [...new Set(of.map((p) => p.handler))]) {
        const rs = of.filter((p) => p.handler === handler);
        const x = summary(rs);
        const m = median(x.kills);
        const ratio = m !== undefined && base !== undefined && base > 0 ? `${(m / base).toFixed(2)}` : "—";
        lines.push(
          `| ${short(run.kernel)} | ${SCENARIO_TITLES[sc]} | ${handler} | ${m?.toFixed(1) ?? "—"} (${x.kills.map((k) => k.toFixed(1)).join(", ")}) | ${ratio} | ${x.victims} (${x.right}/${rs.length}) | ${x.by} | ${x.others} | ${x.stall === undefined ? "—" : Math.round(x.stall)} | ${x.avail === undefined ? "—" : Math.round(x.avail)} / ${x.swap === undefined ? "—" : Math.round(x.swap)} | ${x.idle === undefined ? "—" : `${x.idle.toFixed(1)} / ${x.peak?.toFixed(1) ?? "—"}${x.anon !== undefined && x.file !== undefined ? ` (idle: RssAnon ${x.anon.toFixed(1)}, RssFile ${x.file.toFixed(1)})` : ""}`} | ${x.decision || "—"} |`,
        );
      }
    }
  }
  lines.push("");
  return lines.join("\n");
}

/** What oomkit's episode record says of the way from the trouble to the kill (the fields read here). */
interface EpisodeTimes {
  readonly cause?: { readonly figures?: Record<string, number> };
  readonly times?: { readonly signalAt?: string; readonly declaredAt?: string; readonly signalToDecisionMs?: number };
  readonly actions?: readonly { readonly details?: { readonly signalMs?: number; readonly exitMs?: number } }[];
}

/** oomkit's first episode record in a peers scenario, where the harness kept it. */
function firstEpisode(run: KernelRun, scenario: string): EpisodeTimes | undefined {
  for (const g of run.peerDirs) {
    const f = path.join(g, `peers-oomkit-${scenario}.events.jsonl`);
    if (!fs.existsSync(f)) continue;
    const line = fs.readFileSync(f, "utf8").split("\n").find((l) => l.trim() !== "");
    if (line) return JSON.parse(line) as EpisodeTimes;
  }
  return undefined;
}

/**
 * Without swap a handler's own memory brings the machine to a threshold sooner: how much of
 * oomkit's time against earlyoom's (the same 10 % MemAvailable threshold) its larger footprint
 * explains, from the newest peers runs with both in a no-swap scenario (issue 12's question).
 */
function footprintSection(runs: KernelRun[]): string | undefined {
  const rows: string[] = [];
  const growth: Readonly<Record<string, (rate: number) => number>> = { leak: (r) => r, priority: (r) => r * 1.5 };
  for (const run of runs) {
    if (run.rate === undefined) continue;
    for (const sc of Object.keys(growth)) {
      const of = (h: string) => summary(run.peers.filter((p) => p.scenario === sc && p.handler === h));
      const o = of("oomkit");
      const e = of("earlyoom");
      const ok = median(o.kills);
      const ek = median(e.kills);
      if (ok === undefined || ek === undefined || o.idle === undefined || e.idle === undefined) continue;
      const mibS = (growth[sc] as (r: number) => number)(run.rate);
      const extra = o.idle - e.idle;
      const sooner = extra / mibS;
      const onTheirs = ok + sooner - ek;
      const ep = firstEpisode(run, sc);
      const f = ep?.cause?.figures;
      const sig = ep?.times?.signalAt !== undefined && ep.times.declaredAt !== undefined ? Date.parse(ep.times.declaredAt) - Date.parse(ep.times.signalAt) : undefined;
      const act = ep?.actions?.[0]?.details;
      const way =
        f?.memAvailableBytes !== undefined && f.memAvailableThresholdBytes !== undefined
          ? `signal at MemAvailable ${(f.memAvailableBytes / 2 ** 20).toFixed(0)} MiB (threshold ${(f.memAvailableThresholdBytes / 2 ** 20).toFixed(0)}), signal → live check ${sig === undefined ? "—" : `${Math.round(sig)} ms`}, signal → decision ${ep?.times?.signalToDecisionMs === undefined ? "—" : `${Math.round(ep.times.signalToDecisionMs)} ms`}, SIGKILL ${act?.signalMs === undefined ? "—" : `${Math.round(act.signalMs)} ms`} after the decision, exit ${act?.exitMs === undefined ? "—" : `${Math.round(act.exitMs)} ms`} after that`
          : "—";
      rows.push(
        `| ${short(run.kernel)} | ${SCENARIO_TITLES[sc]} | ${ok.toFixed(1)} s / ${ek.toFixed(1)} s | ${(ok - ek).toFixed(1)} s | ${o.idle.toFixed(1)} / ${e.idle.toFixed(1)} MiB | ${mibS} MiB/s | ${sooner.toFixed(2)} s | ${onTheirs >= 0 ? "+" : ""}${onTheirs.toFixed(1)} s | ${o.avail === undefined || e.avail === undefined ? "—" : `${Math.round(o.avail)} / ${Math.round(e.avail)} MiB`} | ${way} |`,
      );
    }
  }
  if (rows.length === 0) return undefined;
  return [
    FOOTPRINT_HEADING,
    "",
    `Generated by \`node dist/bench/vm-figures.js --write\` (bench/vm-figures.ts) from the newest run folders of \`OOMKIT_BENCH_PEERS=1 OOMKIT_KERNEL_TESTS=peers npm run test:kernel\` with oomkit and earlyoom in a scenario without swap (${runs.map((r) => `${r.kernel}: ${r.date.slice(0, 10)}, ${path.basename(r.dir)}`).join("; ")}). ` +
      "Both act at MemAvailable 10 %, so a handler's own resident memory is memory the growth does not get: the threshold comes sooner by the handler's idle RSS over the growth rate (the leak's, or both jobs' together in \"priority\"). **on earlyoom's footprint**: oomkit's time with that head start given back, against earlyoom's (+ is later): where it is +, oomkit's earlier kill without swap is its footprint's doing, not a faster way to the kill. The last column is oomkit's episode record: where its time from the threshold goes (the poll that saw the threshold crossed, the wait before the live check of the standing plan, the check, the signal and the victim's exit). One run each (TCG times vary by up to ~50 %): a sign, not a measure.",
    "",
    "| kernel | scenario | oomkit / earlyoom, leak start → first kill | oomkit − earlyoom | idle RSS, oomkit / earlyoom | growth | threshold sooner by oomkit's extra RSS | on earlyoom's footprint | lowest MemAvailable, oomkit / earlyoom | oomkit's way from the threshold to the kill |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ...rows,
    "",
  ].join("\n");
}

/**
 * The crowd table's peers runs: where a kernel has a folder of the crowded scenario alone
 * (OOMKIT_BENCH_PEERS_SCENARIOS=crowd, usually with more runs), the whole comparison's folders of
 * that kernel are left to "Against the peers, re-run", which shows their crowded rows already.
 */
function dedicatedCrowd(runs: readonly KernelRun[]): KernelRun[] {
  const crowdOnly = (r: KernelRun) => r.peers.length > 0 && r.peers.every((p) => p.scenario === "crowd");
  return runs.filter((r) => r.peers.length === 0 || crowdOnly(r) || !runs.some((o) => o.kernel === r.kernel && crowdOnly(o)));
}

function main(): void {
  const args = process.argv.slice(2);
  // --section=standing|crowd|peers|footprint: that section alone (the others are left as they are).
  const section = args.find((a) => a.startsWith("--section="))?.slice("--section=".length);
  const wants = (name: string) => section === undefined || section === name;
  const write = args.includes("--write");
  const dirs = args.filter((a) => !a.startsWith("--"));
  const given = dirs.map((d) => loadRun(path.resolve(d)));
  const standingRuns = given.length ? given.filter((r) => r.figures.some((f) => f.decision === "none")) : newest((r) => r.figures.some((f) => f.decision === "none"));
  const crowdRuns = given.length ? dedicatedCrowd(given.filter((r) => r.peers.some((p) => p.scenario === "crowd") || r.figures.some((f) => /^crowded/.test(f.scenario)))) : newest((r) => r.peers.some((p) => p.scenario === "crowd"));
  /** Prints a section and writes it into BENCHMARKS.md; `missing` says why there is none. */
  const emit = (name: string, heading: string, make: () => string | undefined, missing: string) => {
    if (!wants(name)) return;
    const t = make();
    if (t === undefined) {
      process.stderr.write(`vm-figures: ${missing}\n`);
      return;
    }
    process.stdout.write(`${t}\n`);
    if (write) replaceSection("BENCHMARKS.md", heading, t);
  };
  emit("standing", STANDING_HEADING, () => (standingRuns.length ? standingTable(standingRuns) : undefined), "no run folder with fresh figures (run the daemon scenarios with OOMKIT_BENCH_KILL=1)");
  emit(
    "crowd",
    CROWD_HEADING,
    () => {
      if (!crowdRuns.length) return undefined;
      // The kernel test's figures may come from another folder than the peers': take the newest of each.
      const withTest = given.length ? crowdRuns : crowdRuns.map((r) => (r.figures.some((f) => /^crowded/.test(f.scenario)) ? r : { ...r, figures: newest((x) => x.kernel === r.kernel && x.figures.some((f) => /^crowded/.test(f.scenario)))[0]?.figures ?? [] }));
      return crowdTable(withTest);
    },
    "no run folder with the crowded scenario (OOMKIT_BENCH_PEERS=1 OOMKIT_BENCH_PEERS_SCENARIOS=crowd)",
  );
  // The whole comparison: the newest run that holds more than the crowded scenario.
  const peersRuns = given.length ? given.filter((r) => r.peers.some((p) => p.scenario !== "crowd")) : newest((r) => r.peers.some((p) => p.scenario !== "crowd"));
  emit("peers", PEERS_HEADING, () => (peersRuns.length ? peersTable(peersRuns) : undefined), "no run folder with the peers comparison (OOMKIT_BENCH_PEERS=1)");
  // The footprint's share: the newest run with oomkit and earlyoom in a scenario without swap.
  const noSwap = (r: KernelRun) => ["leak", "priority"].some((sc) => ["oomkit", "earlyoom"].every((h) => r.peers.some((p) => p.scenario === sc && p.handler === h)));
  emit("footprint", FOOTPRINT_HEADING, () => footprintSection(given.length ? given.filter(noSwap) : newest(noSwap)), "no run folder with oomkit and earlyoom in a scenario without swap");
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) main();
