/**
 * The live KillBackend: the engine's executor acting on this machine through pidfds,
 * process_mrelease, cgroup.kill, memory.reclaim and unlink. Cgroup paths are mapped to folders
 * under the v2 mount given at construction.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import { OomkitError, errnoCode } from "../errors.js";
import type { KillBackend, TaskKillOutcome } from "../engine/executor.js";
import type { VerifiedOk } from "../engine/engine.js";
import type { TaskRef } from "../engine/verify.js";
import { describeAction } from "../engine/plan.js";
import type { Host } from "./host.js";
import { type Pidfd, closePidfd, killCgroup as writeCgroupKill, pidfdOpen, pidfdSendSignal, processMrelease, waitPidfdReadable } from "./kill.js";
import { type FdPoller, defaultPoller } from "./poller.js";
import { parseCgroupEvents, parseMemoryValue, parsePidList } from "./parse/cgroup.js";
import { parseProcStat } from "./parse/proc.js";
import { CgroupFile, type CgroupPath, PidFile, cgroupDir, procPid } from "./paths.js";

export interface LinuxBackendOptions {
  readonly host: Host;
  /** The v2 mount (per-cgroup mode); undefined in system-level mode. */
  readonly cgroupMount: string | undefined;
  readonly poller?: FdPoller;
  /** A command run before each kill, with the action in its environment; undefined for none. */
  readonly preKillHook?: { readonly command: readonly string[]; readonly timeoutMs: number };
  /** A cgroup hooks are moved into, so they do not share oomkit's memory protection. */
  readonly hookCgroup?: CgroupPath;
}

/** How often a cgroup's emptiness is re-read while waiting (cgroup.events has no pollable fd here). */
const EMPTY_POLL_MS = 5;

export class LinuxBackend implements KillBackend {
  readonly #o: LinuxBackendOptions;
  readonly #poller: FdPoller;

  constructor(o: LinuxBackendOptions) {
    this.#o = o;
    this.#poller = o.poller ?? defaultPoller();
  }

  #dir(cg: CgroupPath): string {
    if (this.#o.cgroupMount === undefined) throw new OomkitError("E_UNSUPPORTED", "cgroup actions need cgroup v2 with the memory controller");
    return cgroupDir(this.#o.cgroupMount, cg);
  }

  async killTask(task: TaskRef, opts: { graceMs: number; processGroup: boolean; waitMs: number }): Promise<TaskKillOutcome> {
    const t0 = performance.now();
    let pidfd: Pidfd;
    try {
      pidfd = pidfdOpen(task.pid);
    } catch (err) {
      if (err instanceof OomkitError && err.code === "E_VANISHED") return { kind: "vanished" };
      throw err;
    }
    try {
      // Opened first, then checked: if the pid still has the start time the snapshot saw, the
      // pidfd names that process (a newer one would have started after the open).
      let stat;
      try {
        stat = parseProcStat(this.#o.host.readFile(procPid(task.pid, PidFile.stat)));
      } catch (err) {
        if (err instanceof OomkitError && err.code === "E_VANISHED") return { kind: "vanished" };
        throw err;
      }
      if (stat.startTimeTicks !== task.startTimeTicks) return { kind: "pid-reused" };
      let escalated = false;
      if (opts.graceMs > 0) {
        if (!send(pidfd, "SIGTERM")) return { kind: "vanished" };
        const r = await waitPidfdReadable(pidfd, opts.graceMs, { poller: this.#poller });
        if (r === "exited") {
          const ms = performance.now() - t0;
          return { kind: "exited", signalMs: 0, exitMs: ms, escalated: false, mrelease: "skipped" };
        }
        escalated = true;
      }
      if (!send(pidfd, "SIGKILL")) return { kind: "vanished" };
      const signalMs = performance.now() - t0;
      if (opts.processGroup && stat.pgrp > 1 && stat.pgrp !== process.pid && stat.pgrp === task.pid) {
        // The victim leads its group: take the group with it (children it forked to share work).
        try {
          process.kill(-stat.pgrp, "SIGKILL");
        } catch (err) {
          if (errnoCode(err) !== "ESRCH") throw err;
        }
      }
      let mrelease = "skipped";
      try {
        mrelease = await processMrelease(pidfd);
      } catch (err) {
        mrelease = err instanceof OomkitError && err.code === "E_UNSUPPORTED" ? "unsupported" : `failed: ${(err as Error).message}`;
      }
      const r = await waitPidfdReadable(pidfd, opts.waitMs, { poller: this.#poller });
      if (r === "exited") return { kind: "exited", signalMs, exitMs: performance.now() - t0, escalated, mrelease };
      return { kind: "still-exiting", signalMs, escalated, mrelease };
    } finally {
      closePidfd(pidfd);
    }
  }

  #populated(cg: CgroupPath): boolean | undefined {
    try {
      return parseCgroupEvents(this.#o.host.readFile(`${this.#dir(cg)}/${CgroupFile.events}`)).populated;
    } catch (err) {
      if (err instanceof OomkitError && err.code === "E_VANISHED") return false;
      throw err;
    }
  }

  async killCgroup(cg: CgroupPath, waitMs: number): Promise<{ emptied: boolean; emptyMs?: number }> {
    const t0 = performance.now();
    const dir = this.#dir(cg);
    let viaFile = true;
    try {
      writeCgroupKill(dir);
    } catch (err) {
      if (!(err instanceof OomkitError && err.code === "E_UNSUPPORTED")) throw err;
      viaFile = false; // before 5.14: every task by pidfd, again until the cgroup is empty
    }
    while (performance.now() - t0 < waitMs) {
      if (this.#populated(cg) === false) return { emptied: true, emptyMs: performance.now() - t0 };
      if (!viaFile) await this.#killEach(cg);
      await new Promise((r) => setTimeout(r, EMPTY_POLL_MS));
    }
    return { emptied: this.#populated(cg) === false };
  }

  async #killEach(cg: CgroupPath): Promise<void> {
    const walk = (p: CgroupPath, dir: string): number[] => {
      const pids = parsePidList(readOr(this.#o.host, `${dir}/${CgroupFile.procs}`, "")).pids;
      for (const e of safeList(this.#o.host, dir)) if (e.isDirectory) pids.push(...walk(`${p === "/" ? "" : p}/${e.name}` as CgroupPath, `${dir}/${e.name}`));
      return pids;
    };
    for (const pid of walk(cg, this.#dir(cg))) {
      try {
        const fd = pidfdOpen(pid);
        try {
          send(fd, "SIGKILL");
        } finally {
          closePidfd(fd);
        }
      } catch (err) {
        if (!(err instanceof OomkitError && err.code === "E_VANISHED")) throw err;
      }
    }
  }

  async reclaim(cg: CgroupPath, bytes: number): Promise<void> {
    // Writing memory.reclaim makes the writing thread reclaim synchronously: fs.promises runs it
    // on a libuv pool thread, never on the event loop. EAGAIN means it reclaimed less than asked.
    try {
      await fs.promises.writeFile(`${this.#dir(cg)}/${CgroupFile.memoryReclaim}`, String(bytes));
    } catch (err) {
      if (errnoCode(err) === "EAGAIN") return;
      throw new OomkitError("E_SYSCALL", `memory.reclaim of ${cg}: ${errnoCode(err) ?? String(err)}`, { cause: err });
    }
  }

  currentBytes(cg: CgroupPath): number | undefined {
    try {
      return parseMemoryValue(this.#o.host.readFile(`${this.#dir(cg)}/${CgroupFile.memoryCurrent}`));
    } catch {
      return undefined;
    }
  }

  async removeFile(path: string): Promise<number> {
    try {
      const st = await fs.promises.lstat(path);
      if (!st.isFile()) return 0;
      await fs.promises.unlink(path);
      return st.size;
    } catch (err) {
      if (errnoCode(err) === "ENOENT") return 0;
      throw err;
    }
  }

  async preKillHook(action: VerifiedOk): Promise<string | undefined> {
    const hook = this.#o.preKillHook;
    if (!hook || hook.command.length === 0) return undefined;
    const a = action.action;
    const env = {
      ...process.env,
      OOMKIT_ACTION: a.kind,
      OOMKIT_DESCRIPTION: describeAction(a),
      OOMKIT_PID: a.kind === "kill-task" ? String(a.pid) : "",
      OOMKIT_CGROUP: a.kind === "kill-cgroup" ? a.cgroup : a.kind === "kill-task" ? (a.cgroup ?? "") : "",
    };
    // The hook must not inherit oomkit's protections: it raises its own oom_score_adj back to 0
    // (raising needs no privilege) and leaves oomkit's protected cgroup before it runs.
    const move = this.#o.hookCgroup && this.#o.cgroupMount ? `echo $$ > '${cgroupDir(this.#o.cgroupMount, this.#o.hookCgroup)}/${CgroupFile.procs}' 2>/dev/null; ` : "";
    const script = `echo 0 > /proc/self/oom_score_adj 2>/dev/null; ${move}exec "$@"`;
    return await new Promise<string | undefined>((resolve) => {
      const child = spawn("/bin/sh", ["-c", script, "oomkit-hook", ...hook.command], { env, stdio: "ignore" });
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        resolve(`timed out after ${hook.timeoutMs} ms`);
      }, hook.timeoutMs);
      child.once("error", (err) => {
        clearTimeout(timer);
        resolve(err.message);
      });
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        resolve(code === 0 ? undefined : `exited with ${signal ?? code}`);
      });
    });
  }
}

function send(pidfd: Pidfd, sig: NodeJS.Signals): boolean {
  try {
    pidfdSendSignal(pidfd, sig);
    return true;
  } catch (err) {
    if (err instanceof OomkitError && err.code === "E_VANISHED") return false;
    throw err;
  }
}

function readOr(host: Host, path: string, fallback: string): string {
  try {
    return host.readFile(path);
  } catch {
    return fallback;
  }
}

function safeList(host: Host, dir: string) {
  try {
    return host.readDir(dir);
  } catch {
    return [];
  }
}
