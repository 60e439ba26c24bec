/**
 * One run of daemon-zram.test's "own pages" scenario: `oomkit run` on the built-in default
 * triggers in a cgroup of its own, a bystander and a leak that thrashes the machine's zram
 * swap, and oomkit's own memory sampled throughout (RssFile, RssAnon, VmSwap from
 * /proc/<pid>/status) so the run shows whether its pages were the ones evicted.
 *
 *   const r = await residentRun(tree, "off" | "code-locked" | "code-locked+memory.min")
 *
 * The protections are switched as a host has them, not by a switch in oomkit:
 *   off                     RLIMIT_MEMLOCK 0 and no CAP_IPC_LOCK (prlimit, setpriv): mlock2 locks
 *                           nothing and the daemon warns so; no memory.min
 *   code-locked             the guest's root (CAP_IPC_LOCK): every executable file mapping locked
 *                           with mlock2(MLOCK_ONFAULT); no memory.min (a hybrid or v1 host)
 *   code-locked+memory.min  the same, and `--memory-min` on oomkit's cgroup (cgroup v2)
 */
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { EpisodeRecord } from "../../src/engine/episode.js";
import { lockedResidentBytes, parseKbFields } from "../../src/os/parse/smaps.js";
import type { TestTree } from "./helpers.js";
import { type DaemonProc, decisionOf, defaultConfigWith, figuresOf, kernelRelease, startDaemon, vmstatOomKills } from "./daemon-helpers.js";

export const RESIDENT_MODES = ["off", "code-locked", "code-locked+memory.min"] as const;
export type ResidentMode = (typeof RESIDENT_MODES)[number];

/** memory.min for oomkit's cgroup: above its whole charge (its heap and the pages it faulted in). */
const MEMORY_MIN = "160M";
/** The same leak as the zram test's: more than the RAM left and the swap together. */
const LEAK_MIB = 640 + 512 + 256;

export interface SelfFigures {
  /** At rest just before the leak started (KiB). */
  readonly idle: { readonly rssAnonKiB: number; readonly rssFileKiB: number; readonly swapKiB: number; readonly lockedRssKiB: number };
  /** The least RssFile and RssAnon, the most VmSwap seen from the leak's start to the kill (KiB). */
  readonly low: { readonly rssAnonKiB: number; readonly rssFileKiB: number };
  readonly highSwapKiB: number;
  readonly rssFileFellKiB: number;
  readonly swapRoseKiB: number;
}

export interface ResidentRun {
  readonly mode: ResidentMode;
  readonly kernel: string;
  /** Whose kill ended the leak (oomkit's kill-task on it that succeeded; else the kernel's, if it killed). */
  readonly killedBy: "oomkit" | "kernel" | "none";
  /** /proc/vmstat oom_kill's rise over the run (SETTLE_MS after the kill). */
  readonly kernelOomKills: number;
  /** Whether the bystander died too (by anyone) within SETTLE_MS of the leak's kill: one kill should be enough. */
  readonly bystanderKilled: boolean;
  /** The leak's start to its exit, as the test saw it. */
  readonly leakToKillMs: number;
  readonly trigger: string | undefined;
  readonly decision: string | undefined;
  /** The record's signal → decision, and decision → SIGKILL. */
  readonly signalToDecisionMs: number | undefined;
  readonly signalToKillMs: number | undefined;
  /** The record's kill → the victim's memory freed (its pidfd readable, seen by oomkit). */
  readonly killToFreedMs: number | undefined;
  /** What the daemon said at start-up about locking its code and memory.min. */
  readonly lockNote: string;
  readonly memoryMinNote: string;
  readonly self: SelfFigures;
}

interface StatusNow {
  readonly rssAnonKiB: number;
  readonly rssFileKiB: number;
  readonly swapKiB: number;
}

function statusOf(pid: number): StatusNow {
  const f = parseKbFields(readFileSync(`/proc/${pid}/status`, "utf8"));
  return { rssAnonKiB: f.RssAnon ?? 0, rssFileKiB: f.RssFile ?? 0, swapKiB: f.VmSwap ?? 0 };
}

/** The commands in front of node for a mode: join the cgroup (always), and drop the lock budget (off). */
function prefixFor(mode: ResidentMode, cgroup: string): string[] {
  const join = ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', cgroup];
  return mode === "off" ? ["prlimit", "--memlock=0:0", "setpriv", "--bounding-set", "-ipc_lock", ...join] : join;
}

async function startFor(t: TestTree, mode: ResidentMode): Promise<DaemonProc> {
  const min = mode === "code-locked+memory.min";
  // A child's memory.min is bounded by its parents': the test tree's root gets the same.
  if (min) writeFileSync(path.join(t.root, "memory.min"), MEMORY_MIN);
  const self = t.mk(`self-${mode.replace(/[^a-z]/g, "-")}`);
  return startDaemon({
    name: "resident",
    keepLog: "daemon-resident.log",
    config: defaultConfigWith({ head: "policy_deadline_ms = 2000", tail: '[protect]\ncommands = ["^node$"]' }),
    args: min ? ["--memory-min", MEMORY_MIN] : [],
    prefix: prefixFor(mode, self),
  });
}

export async function residentRun(t: TestTree, mode: ResidentMode): Promise<ResidentRun> {
  const d = await startFor(t, mode);
  const lockNote = d.lines().find((l) => /code (not )?locked in memory|RLIMIT_MEMLOCK/.test(l)) ?? "";
  const memoryMinNote = d.lines().find((l) => /memory\.min/.test(l)) ?? "";
  if (mode === "off" && !/RLIMIT_MEMLOCK/.test(lockNote)) throw new Error(`protections off, yet: ${lockNote}\n${d.lines().join("\n")}`);
  if (mode !== "off" && !/: code locked in memory: /.test(lockNote)) throw new Error(`code not locked: ${lockNote}`);
  if (mode === "code-locked+memory.min" && !/memory\.min \d+ on /.test(memoryMinNote)) throw new Error(`memory.min not set: ${memoryMinNote}`);
  const sfx = mode.replace(/[^a-z]/g, "-");
  t.mk(`jobs-${sfx}`);
  const bystander = t.hog({ cgroup: t.mk(`jobs-${sfx}/bystander`), mib: 32, noHugePages: true });
  await bystander.ready;
  let bystanderKilled = false;
  void bystander.exited.then(() => (bystanderKilled = true));
  await new Promise((r) => setTimeout(r, 2000)); // at rest: its pages the oldest in memory
  const idle = statusOf(d.pid);
  const lockedRssKiB = Math.round(lockedResidentBytes(readFileSync(`/proc/${d.pid}/smaps`, "utf8")) / 1024);
  let low = { rssAnonKiB: idle.rssAnonKiB, rssFileKiB: idle.rssFileKiB };
  let highSwapKiB = idle.swapKiB;
  const timer = setInterval(() => {
    try {
      const s = statusOf(d.pid);
      low = { rssAnonKiB: Math.min(low.rssAnonKiB, s.rssAnonKiB), rssFileKiB: Math.min(low.rssFileKiB, s.rssFileKiB) };
      highSwapKiB = Math.max(highSwapKiB, s.swapKiB);
    } catch {
      /* gone: the figures so far stand */
    }
  }, 50);
  const kernelBefore = vmstatOomKills();
  const t0 = performance.now();
  d.note(`bystander pid ${bystander.pid}; starting the leak`);
  const leak = t.hog({ cgroup: t.mk(`jobs-${sfx}/leak`), mib: LEAK_MIB, rateMibPerS: 150, noHugePages: true });
  d.note(`leak pid ${leak.pid}`);
  let leakToKillMs = Number.NaN;
  const ended = leak.exited.then((x) => (d.note("the leak exited"), (leakToKillMs = Math.round(performance.now() - t0)), x));
  void bystander.exited.then(() => d.note("the bystander exited"));
  // Whoever kills first. oomkit writes its record once the victim's memory is back, and later
  // still when its own pages must be read back in (11 s after the kill in a run with protections
  // off): a leak gone with no record for 60 s was not oomkit's kill.
  const rec = await Promise.race([
    d.waitRecord((r) => r.plan.length > 0, 240_000),
    ended.then(() => d.waitRecord((r) => r.plan.length > 0, 60_000).catch(() => undefined)),
  ]);
  leak.kill();
  await ended;
  clearInterval(timer);
  const found = rec ?? d.records().find((r) => r.plan.length > 0);
  // Long enough for the trouble's tail (refaults as the machine gets its memory back) to have
  // fired the pressure trigger again: a second kill would come within it.
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  const kernelOomKills = vmstatOomKills() - kernelBefore;
  const bystanderDied = bystanderKilled;
  await d.stop();
  bystander.kill();
  await bystander.exited;
  return {
    mode,
    kernel: kernelRelease(),
    killedBy: killer(found, leak.pid, kernelOomKills),
    kernelOomKills,
    bystanderKilled: bystanderDied,
    leakToKillMs,
    trigger: found?.cause.trigger,
    decision: found ? decisionOf(found) : undefined,
    ...times(found),
    lockNote: lockNote.replace(/^.*?oomkit[^:]*: /, ""),
    memoryMinNote: memoryMinNote.replace(/^.*?oomkit[^:]*: /, ""),
    self: { idle: { ...idle, lockedRssKiB }, low, highSwapKiB, rssFileFellKiB: idle.rssFileKiB - low.rssFileKiB, swapRoseKiB: highSwapKiB - idle.swapKiB },
  };
}

/** How long after the leak's kill the run watches for more kills. */
const SETTLE_MS = 6_000;

function killer(r: EpisodeRecord | undefined, leakPid: number, kernelKills: number): ResidentRun["killedBy"] {
  const oomkitKilled = r?.actions.some((a) => a.action.kind === "kill-task" && a.action.pid === leakPid && a.ok) === true;
  return oomkitKilled ? "oomkit" : kernelKills > 0 ? "kernel" : "none";
}

function times(r: EpisodeRecord | undefined): Pick<ResidentRun, "signalToDecisionMs" | "signalToKillMs" | "killToFreedMs"> {
  if (!r) return { signalToDecisionMs: undefined, signalToKillMs: undefined, killToFreedMs: undefined };
  const f = figuresOf(r);
  const kill = f.signalToDecisionMs !== undefined && f.decisionToKillMs !== undefined ? Math.round((f.signalToDecisionMs + f.decisionToKillMs) * 10) / 10 : undefined;
  return { signalToDecisionMs: f.signalToDecisionMs, signalToKillMs: kill, killToFreedMs: f.killToFreedMs };
}
