/**
 * The live KillBackend (./kill-port.ts): verified actions carried out on this machine through
 * the kill sequence of ./kill.ts, cgroup.kill, memory.reclaim and unlink. Cgroup paths are mapped
 * to folders under the v2 mount given at construction, and every cgroup file is read and
 * written through the Host.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import { OomkitError, errnoCode } from "../errors.js";
import type { Host } from "./host.js";
import { assertLiveProcesses, closePidfd, killCgroup as writeCgroupKill, killTask, pidfdOpen, reclaim, sendIfAlive } from "./kill.js";
import type { CgroupKillOutcome, KillBackend, KillNotice, TaskKillOptions, TaskKillOutcome, TaskTarget } from "./kill-port.js";
import { type FdPoller, defaultPoller } from "./poller.js";
import { parseCgroupEvents, parseMemoryValue, parsePidList } from "./parse/cgroup.js";
import { CgroupFile, type CgroupPath, PROC_SELF_OOM_SCORE_ADJ, cgroupDir } from "./paths.js";

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

  killTask(task: TaskTarget, opts: TaskKillOptions): Promise<TaskKillOutcome> {
    return killTask(this.#o.host, task, { ...opts, poller: this.#poller });
  }

  #populated(cg: CgroupPath): boolean | undefined {
    try {
      return parseCgroupEvents(this.#o.host.readFile(`${this.#dir(cg)}/${CgroupFile.events}`)).populated;
    } catch (err) {
      if (err instanceof OomkitError && err.code === "E_VANISHED") return false;
      throw err;
    }
  }

  async killCgroup(cg: CgroupPath, waitMs: number): Promise<CgroupKillOutcome> {
    const t0 = performance.now();
    const dir = this.#dir(cg);
    let viaFile = true;
    try {
      writeCgroupKill(this.#o.host, dir);
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
      assertLiveProcesses(this.#o.host, pid);
      try {
        const fd = pidfdOpen(pid);
        try {
          sendIfAlive(fd, "SIGKILL");
        } finally {
          closePidfd(fd);
        }
      } catch (err) {
        if (!(err instanceof OomkitError && err.code === "E_VANISHED")) throw err;
      }
    }
  }

  async reclaim(cg: CgroupPath, bytes: number): Promise<void> {
    // A short reclaim (EAGAIN) is no error: what was freed is measured from memory.current.
    await reclaim(this.#o.host, this.#dir(cg), bytes);
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

  async preKillHook(kill: KillNotice): Promise<string | undefined> {
    const hook = this.#o.preKillHook;
    if (!hook || hook.command.length === 0) return undefined;
    const env = {
      ...process.env,
      OOMKIT_ACTION: kill.kind,
      OOMKIT_DESCRIPTION: kill.description,
      OOMKIT_PID: kill.pid === undefined ? "" : String(kill.pid),
      OOMKIT_CGROUP: kill.cgroup ?? "",
    };
    // The hook must not inherit oomkit's protections: it raises its own oom_score_adj back to 0
    // (raising needs no privilege) and leaves oomkit's protected cgroup before it runs.
    const move = this.#o.hookCgroup && this.#o.cgroupMount ? `echo $$ > '${cgroupDir(this.#o.cgroupMount, this.#o.hookCgroup)}/${CgroupFile.procs}' 2>/dev/null; ` : "";
    const script = `echo 0 > ${PROC_SELF_OOM_SCORE_ADJ} 2>/dev/null; ${move}exec "$@"`;
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
