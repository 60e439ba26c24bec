/**
 * A crowded machine for the kernel tests (daemon-crowd.test.ts, peers.test.ts): thousands of
 * waiting tasks in hundreds of cgroups, as on a busy server, made by test/kernel/crowd.c (one
 * spawn; every task a fork of a tiny static binary).
 *
 *   const c = await startCrowd(t, "crowd", { slices: 30, servicesPerSlice: 10, tasksPerCgroup: 10, kib: 16 })
 *   c.pid, c.tasks, c.cgroups (folders), c.ms (the time to build it), c.count() (tasks in its cgroups now)
 *
 * The cgroups are <base>/slice-NN/svc-NN, with no limits; the crowd's own process waits in
 * <base>/leader. TestTree.teardown kills them all (cgroup.kill of the tree).
 *
 * unprotected(start): the tests that compare handlers run their own node processes at
 * oom_score_adj -1000 (no handler may kill the benchmark), which children inherit; what they
 * start is started with it back at 0 for the moment of the fork.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { type TestTree, waitPopulated } from "./helpers.js";

export const CROWD = process.env.OOMKIT_CROWD ?? "/var/tmp/oomkit-vm/crowd";

export interface CrowdOptions {
  readonly slices: number;
  readonly servicesPerSlice: number;
  readonly tasksPerCgroup: number;
  /** Memory each task touches for itself (KiB). */
  readonly kib: number;
}

/** The crowd of the tests: 300 cgroups (30 slices of 10 services) of 10 waiting tasks, each touching 16 KiB of its own. */
export const CROWD_SHAPE: CrowdOptions = { slices: 30, servicesPerSlice: 10, tasksPerCgroup: 10, kib: 16 };

/**
 * The leak's growth on the crowded machine, MiB/s: slower than the 50 MiB/s of the peers' other
 * scenarios. On this machine under TCG one decision run ahead takes 2-4 s (`rules` runs out of
 * its four deadlines, then `kernel` over 3,000 tasks), 10-20 times what it takes natively, and
 * at 50 MiB/s the last 10 % of memory goes in 3 s.
 */
export const CROWD_LEAK_MIB_S = 20;

export interface Crowd {
  readonly pid: number;
  readonly tasks: number;
  readonly cgroups: readonly string[];
  /** Time to make the cgroups and start every task. */
  readonly ms: number;
  /** The tasks in the crowd's cgroups now. */
  count(): number;
  /**
   * Kills every task of the crowd (cgroup.kill of its base) and waits until they are gone: 3,000
   * exits take tens of seconds under TCG, more than TestTree.teardown waits for a whole tree.
   */
  stop(): Promise<void>;
}

export async function startCrowd(t: TestTree, base: string, o: CrowdOptions): Promise<Crowd> {
  const t0 = performance.now();
  const cgroups: string[] = [];
  for (let s = 0; s < o.slices; s++) {
    for (let v = 0; v < o.servicesPerSlice; v++) cgroups.push(t.mk(`${base}/slice-${pad(s)}/svc-${pad(v)}`));
  }
  const leader = t.mk(`${base}/leader`);
  const args = ["-n", String(o.tasksPerCgroup), "-k", String(o.kib), "-c", leader, ...cgroups];
  const child: ChildProcess = unprotected(() => spawn(CROWD, args, { stdio: ["ignore", "pipe", "pipe"] }));
  if (child.pid === undefined) throw new Error(`cannot start ${CROWD}`);
  let out = "";
  await new Promise<void>((resolve, reject) => {
    child.stdout!.setEncoding("utf8").on("data", (c: string) => {
      out += c;
      if (out.includes("crowd ready")) resolve();
    });
    child.stderr!.setEncoding("utf8").on("data", (c: string) => (out += c));
    child.on("exit", (code, signal) => reject(new Error(`crowd exited (${signal ?? code}) before it was ready: ${out.trim()}`)));
  });
  // The crowd's pipes must not keep the test's process alive once it has said it is ready (a
  // guest whose tests had ended waited for its timeout).
  child.stdout!.destroy();
  child.stderr!.destroy();
  child.unref();
  const tasks = cgroups.length * o.tasksPerCgroup;
  const baseDir = path.join(t.root, base);
  const stop = async () => {
    writeFileSync(path.join(baseDir, "cgroup.kill"), "1");
    await waitPopulated(baseDir, false, 180_000);
  };
  const count = () => cgroups.reduce((n, cg) => n + readFileSync(path.join(cg, "cgroup.procs"), "utf8").split("\n").filter(Boolean).length, 0);
  return { pid: child.pid, tasks, cgroups, ms: Math.round(performance.now() - t0), count, stop };
}

/** Runs `start` (a spawn) with this process's oom_score_adj at 0, then puts it back. */
export function unprotected<T>(start: () => T): T {
  const before = readFileSync("/proc/self/oom_score_adj", "utf8").trim();
  if (before === "0") return start();
  writeFileSync("/proc/self/oom_score_adj", "0");
  try {
    return start();
  } finally {
    writeFileSync("/proc/self/oom_score_adj", before);
  }
}

const pad = (n: number) => String(n).padStart(2, "0");
