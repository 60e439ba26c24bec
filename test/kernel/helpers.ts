/**
 * Helpers for the kernel tests, which run as root inside the oomkit VM (`npm run test:kernel`)
 * against a pure cgroup v2 hierarchy. Everything that writes refuses to run anywhere else.
 *
 * Guard
 *   inVm(): boolean              OOMKIT_IN_VM=1 (set by the guest) and /sys/fs/cgroup is a cgroup2 root
 *   vmSkip(): string | false     for `test(name, { skip: vmSkip() }, ...)`: "not inside the oomkit VM"
 *   assertInVm()                 throws unless inVm(); every writing helper calls it
 *
 * Cgroups (paths are absolute folders under /sys/fs/cgroup)
 *   const t = await TestTree.create("kill")      a fresh /sys/fs/cgroup/oomkit-test-kill-<pid>-<n>
 *   t.root                                         that folder (holds no processes: only children)
 *   t.mk("app/worker", { "memory.max": "64M" })    creates the cgroup and missing parents, enables the
 *                                                  controllers in each parent's subtree_control, then
 *                                                  writes the given control files in order; returns
 *                                                  the folder
 *   t.hog({ cgroup, mib, ... })                    startHog() tracked for teardown
 *   await t.teardown()                             kills what is left (cgroup.kill), waits until empty,
 *                                                  removes the cgroups bottom-up; safe to call twice
 *   Use it as `const t = await TestTree.create("x"); after(() => t.teardown());` or in try/finally.
 *
 * Environment set by the guest
 *   HOG                          the hog binary (OOMKIT_HOG)
 *   PAGE_CACHE_FILE              a big file nothing else reads (OOMKIT_PAGE_CACHE_FILE): a hog
 *                                started with { file: PAGE_CACHE_FILE } holds reclaimable page cache
 *   RUN_DIR                      the run folder shared with the host (OOMKIT_RUN_DIR), for results
 *
 * Hog (test/kernel/hog.c, compiled by the harness; path in OOMKIT_HOG)
 *   const h = startHog({ cgroup, mib: 100, rateMibPerS: 200, file?, ignoreTerm?, slowExit?, noHugePages?, stopWhenDead? })
 *     slowExit: each SIGTERM prints "hog term N" and the hog exits
 *     (code 0, "hog done") only on SIGUSR1, so the test decides when a victim finishes exiting
 *   h.pid; await h.ready (rejects if it exits first); await h.exited -> { code, signal };
 *   h.kill("SIGKILL"); h.output() (stdout + stderr so far)
 *
 * Waiting (polling with a timeout; rejects with a message naming the file and the last value)
 *   readKeyed(file) -> Record<string, number>           memory.events, memory.stat, cgroup.events
 *   readNumber(file) -> number                          memory.current ("max" -> Infinity)
 *   readPressure(file) -> { some: {avg10, total}, full?: {...} }
 *   await waitFor(() => value | undefined, { timeoutMs, what })
 *   await waitForKey(file, key, (v) => boolean, timeoutMs)
 *   await waitPopulated(cgroup, false, timeoutMs)        cgroup.events "populated 0"
 *   await waitMemoryEvent(cgroup, "oom_kill", 1, timeoutMs)   memory.events counter >= n
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync, readdirSync, rmdirSync, writeFileSync, mkdirSync, statfsSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

export const CGROUP_ROOT = "/sys/fs/cgroup";
export const HOG = process.env.OOMKIT_HOG ?? "/var/tmp/oomkit-vm/hog";
export const PAGE_CACHE_FILE = process.env.OOMKIT_PAGE_CACHE_FILE ?? "";
export const RUN_DIR = process.env.OOMKIT_RUN_DIR ?? "";
const CGROUP2_SUPER_MAGIC = 0x63677270;
/** Controllers a test tree enables for its children (the guest enables them all at the root). */
const CONTROLLERS = "+cpu +io +memory +pids";
/** How often the wait helpers re-read a file: short enough to time kills in tens of ms. */
const POLL_MS = 5;

let cachedInVm: boolean | undefined;

export function inVm(): boolean {
  if (cachedInVm === undefined) {
    let cgroup2 = false;
    try {
      cgroup2 = statfsSync(CGROUP_ROOT).type === CGROUP2_SUPER_MAGIC && existsSync(`${CGROUP_ROOT}/cgroup.subtree_control`);
    } catch {
      cgroup2 = false;
    }
    cachedInVm = process.env.OOMKIT_IN_VM === "1" && cgroup2 && process.getuid?.() === 0;
  }
  return cachedInVm;
}

export function vmSkip(): string | false {
  return inVm() ? false : "not inside the oomkit VM";
}

export function assertInVm(): void {
  if (!inVm()) throw new Error("refusing to touch cgroups: not inside the oomkit VM (run `npm run test:kernel`)");
}

// ---------------------------------------------------------------------------------------------
// Reading control files

/** Parses `key value` lines (memory.events, memory.stat, cgroup.events) into numbers. */
export function readKeyed(file: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const [key, value] = line.trim().split(/\s+/);
    if (key && value !== undefined) out[key] = Number(value);
  }
  return out;
}

/** /proc/meminfo as kB figures by name (MemAvailable, SwapFree, ...). */
export function meminfo(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of readFileSync("/proc/meminfo", "utf8").split("\n")) {
    const m = /^(\S+):\s+(\d+)/.exec(line);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

export function readNumber(file: string): number {
  const text = readFileSync(file, "utf8").trim();
  return text === "max" ? Infinity : Number(text);
}

export interface PressureLine {
  avg10: number;
  avg60: number;
  avg300: number;
  total: number;
}

export function readPressure(file: string): { some: PressureLine; full?: PressureLine } {
  const lines: Record<string, PressureLine> = {};
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const m = /^(some|full) avg10=([\d.]+) avg60=([\d.]+) avg300=([\d.]+) total=(\d+)/.exec(line);
    if (m) lines[m[1]!] = { avg10: Number(m[2]), avg60: Number(m[3]), avg300: Number(m[4]), total: Number(m[5]) };
  }
  if (!lines.some) throw new Error(`${file}: no "some" line`);
  return lines.full ? { some: lines.some, full: lines.full } : { some: lines.some };
}

// ---------------------------------------------------------------------------------------------
// Waiting

/** Polls `probe` until it returns something other than undefined; rejects after timeoutMs. */
export async function waitFor<T>(probe: () => T | undefined, opts: { timeoutMs: number; what: string; last?: () => string }): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${opts.what}${opts.last ? ` (last: ${opts.last()})` : ""}`);
    }
    await sleep(POLL_MS);
  }
}

export function waitForKey(file: string, key: string, ok: (v: number) => boolean, timeoutMs: number): Promise<number> {
  return waitFor(
    () => {
      const v = readKeyed(file)[key];
      return v !== undefined && ok(v) ? v : undefined;
    },
    { timeoutMs, what: `${key} in ${file}`, last: () => readFileSync(file, "utf8").trim().replace(/\n/g, ", ") },
  );
}

export async function waitPopulated(cgroup: string, populated: boolean, timeoutMs: number): Promise<void> {
  await waitForKey(path.join(cgroup, "cgroup.events"), "populated", (v) => v === (populated ? 1 : 0), timeoutMs);
}

export function waitMemoryEvent(cgroup: string, key: string, atLeast: number, timeoutMs: number): Promise<number> {
  return waitForKey(path.join(cgroup, "memory.events"), key, (v) => v >= atLeast, timeoutMs);
}

// ---------------------------------------------------------------------------------------------
// The hog

export interface HogOptions {
  /** Folder of the cgroup the hog joins before it allocates. */
  cgroup?: string;
  /** Anonymous memory to allocate and touch. */
  mib?: number;
  /** Allocation rate; 0 or absent: as fast as possible. */
  rateMibPerS?: number;
  /** A file to read to the end first (page cache, which memory.reclaim can drop). */
  file?: string;
  ignoreTerm?: boolean;
  /** SIGTERM starts a shutdown that ends only on SIGUSR1 (prints "hog term N" for each SIGTERM). */
  slowExit?: boolean;
  /** 4 KiB pages only (MADV_NOHUGEPAGE); Debian's kernels otherwise use THP for big hogs. */
  noHugePages?: boolean;
  /** Stop allocating (and be ready) once any of these is killed, a zombie or gone: one OOM, not two. */
  stopWhenDead?: readonly number[];
}

export interface Hog {
  readonly pid: number;
  /** Resolves once everything is allocated; rejects if the hog exits first. */
  readonly ready: Promise<void>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): void;
  output(): string;
}

export function startHog(opts: HogOptions): Hog {
  assertInVm();
  const args: string[] = [];
  if (opts.cgroup) args.push("-c", opts.cgroup);
  if (opts.mib) args.push("-m", String(opts.mib));
  if (opts.rateMibPerS) args.push("-r", String(opts.rateMibPerS));
  if (opts.file) args.push("-f", opts.file);
  if (opts.ignoreTerm) args.push("-t");
  if (opts.slowExit) args.push("-w");
  if (opts.noHugePages) args.push("-n");
  for (const pid of opts.stopWhenDead ?? []) args.push("-s", String(pid));
  const child: ChildProcess = spawn(HOG, args, { stdio: ["ignore", "pipe", "pipe"] });
  if (child.pid === undefined) throw new Error(`cannot start the hog ${HOG}`);
  let out = "";
  let exitedYet = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on("exit", (code, signal) => {
      exitedYet = true;
      resolve({ code, signal });
    });
  });
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk;
      if (out.includes("hog ready")) resolve();
    });
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
    void exited.then(({ code, signal }) => reject(new Error(`hog ${child.pid} exited before ready (code ${code}, signal ${signal}): ${out.trim()}`)));
  });
  ready.catch(() => {}); // a hog killed by an OOM never gets ready; only awaiting callers care
  return {
    pid: child.pid,
    ready,
    exited,
    kill(signal = "SIGKILL") {
      if (!exitedYet) child.kill(signal);
    },
    output: () => out,
  };
}

// ---------------------------------------------------------------------------------------------
// Cgroup trees

let treeCount = 0;

export class TestTree {
  readonly root: string;
  private readonly hogs: Hog[] = [];
  private torn = false;

  private constructor(root: string) {
    this.root = root;
  }

  static async create(name: string): Promise<TestTree> {
    assertInVm();
    const root = path.join(CGROUP_ROOT, `oomkit-test-${name}-${process.pid}-${++treeCount}`);
    mkdirSync(root);
    return new TestTree(root);
  }

  /** Creates `rel` (and missing parents) under the root and writes its control files in order. */
  mk(rel: string, files: Record<string, string | number> = {}): string {
    assertInVm();
    const dir = path.join(this.root, rel);
    if (!dir.startsWith(`${this.root}/`)) throw new Error(`${rel} is outside the test tree`);
    let parent = this.root;
    for (const part of path.relative(this.root, dir).split("/")) {
      enableControllers(parent);
      parent = path.join(parent, part);
      if (!existsSync(parent)) mkdirSync(parent);
    }
    for (const [file, value] of Object.entries(files)) writeFileSync(path.join(dir, file), String(value));
    return dir;
  }

  hog(opts: HogOptions): Hog {
    const h = startHog(opts);
    this.hogs.push(h);
    return h;
  }

  async teardown(): Promise<void> {
    if (this.torn) return;
    this.torn = true;
    for (const h of this.hogs) h.kill("SIGKILL");
    if (!existsSync(this.root)) return;
    killTree(this.root);
    await waitPopulated(this.root, false, 10_000);
    await Promise.all(this.hogs.map((h) => h.exited));
    removeBottomUp(this.root);
  }
}

function enableControllers(dir: string): void {
  const control = path.join(dir, "cgroup.subtree_control");
  if (!readFileSync(control, "utf8").includes("memory")) writeFileSync(control, CONTROLLERS);
}

function killTree(dir: string): void {
  const kill = path.join(dir, "cgroup.kill");
  if (existsSync(kill)) {
    writeFileSync(kill, "1");
    return;
  }
  // Before 5.14 there is no cgroup.kill: signal every task, bottom-up.
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) killTree(path.join(dir, e.name));
  for (const pid of readFileSync(path.join(dir, "cgroup.procs"), "utf8").split("\n").filter(Boolean)) {
    try {
      process.kill(Number(pid), "SIGKILL");
    } catch {
      /* gone already */
    }
  }
}

function removeBottomUp(dir: string): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeBottomUp(path.join(dir, e.name));
  rmdirSync(dir);
}
