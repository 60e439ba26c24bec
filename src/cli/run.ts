import { OomkitError } from "../errors.js";
import { type LogLevel, streamLogger } from "../log.js";
import { LinuxBackend } from "../os/backend.js";
import { type CgroupMode, detectCgroupMode } from "../os/cgroup-mode.js";
import type { Host } from "../os/host.js";
import { prepareKillPath } from "../os/kill.js";
import type { KillBackend } from "../os/kill-port.js";
import { type FdPoller, defaultPoller } from "../os/poller.js";
import { PROC_MEMINFO, PROC_SELF_STATUS, ROOT_CGROUP, procPressure } from "../os/paths.js";
import { parseSize } from "../config/index.js";
import { Daemon } from "../daemon/daemon.js";
import { ReportPipeline } from "../daemon/pipeline.js";
import type { CompiledConfig, KillSettings } from "../config/index.js";
import { ControlServer, DEFAULT_SOCKET } from "../daemon/control.js";
import { daemonOps } from "../daemon/control-ops.js";
import { protectSelf } from "../daemon/self-protect.js";
import { lockCode, mlock2OnFault } from "../os/residency.js";
import { pinMallocThresholds } from "../os/malloc-tuning.js";
import { forgetBuilt } from "../on-first-use.js";
import { compactingGc, heapUsedBytes, releaseFreedMemory } from "../os/heap-release.js";
import { libc } from "../os/libc.js";
import { InstanceLock } from "../os/instance-lock.js";
import type { Command } from "./command.js";
import { parseFlags } from "./args.js";
import { loadEngineSetup } from "./setup.js";
import { type Notifier, systemdNotifier } from "../os/sd-notify.js";
import { UnixDgramSender } from "../os/unix-dgram.js";
import { JOURNAL_SOCKET, JournalWriter, PRIORITY, episodeFields, stderrIsJournal } from "../report/journal.js";
import type { EpisodeRecord } from "../engine/episode.js";
import { loopHoldBoundMs, reloadOp, watchdogAdvice } from "../daemon/systemd.js";
import type { Logger } from "../log.js";

const USAGE = `usage: oomkit run [--config FILE] [--dry-run] [--root DIR] [--socket PATH] [--state-dir DIR]
                  [--memory-min SIZE] [--log-level debug|info|warn|error]
                  [--event-log PATH|none] [--metrics-listen HOST:PORT|none]

Runs the daemon: watches the configured triggers (the built-in default without --config) and
handles each OOM through the policy chain. Stops cleanly on SIGTERM/SIGINT (guard bands
restored, no victim half-handled); SIGHUP or \`oomkit reload\` reloads the configuration (a bad
one is refused and the old one stays). Under systemd (docs/operations.md) it says READY=1 once it
watches, sends the watchdog's keep-alives, and logs to the journal with a priority per line.

  --config FILE    the configuration (docs/configuration.md); default: the built-in default
  --dry-run        decide and log, but kill, reclaim and remove nothing (overrides dry_run)
  --root DIR       watch a fixture folder instead of the live machine (needs --dry-run)
  --socket PATH    the control socket (default ${DEFAULT_SOCKET}; "none" for none)
  --state-dir DIR  where guard-band state is kept (default /var/lib/oomkit)
  --memory-min SIZE  memory.min for oomkit's own cgroup (e.g. 64M; default: none)
  --log-level L    overrides log_level
  --event-log P    overrides [report] event_log ("none": keep no log)
  --metrics-listen A  overrides [report] metrics_listen ("none": no endpoint; port 0: any)`;

const LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];


/** The --event-log and --metrics-listen flags over the configuration's [report]. */
function withReportFlags(c: CompiledConfig, eventLog: string | undefined, listen: string | undefined): CompiledConfig {
  let report = c.report;
  if (eventLog !== undefined) report = { ...report, eventLog: eventLog === "none" ? undefined : { path: eventLog, maxBytes: report.eventLog?.maxBytes ?? 10 * 1024 * 1024, keep: report.eventLog?.keep ?? 5 } };
  if (listen !== undefined) {
    if (listen === "none") report = { ...report, metrics: undefined };
    else {
      const i = listen.lastIndexOf(":");
      const port = Number(listen.slice(i + 1));
      if (i <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) throw new OomkitError("E_USAGE", `--metrics-listen must be HOST:PORT or "none", got "${listen}"`);
      report = { ...report, metrics: { host: listen.slice(0, i).replace(/^\[|\]$/g, ""), port } };
    }
  }
  return { ...c, report };
}

/** What the daemon acts through on this Host, decided once: the cgroup mode, then the kill path for it. */
export interface DaemonWiring {
  readonly mode: CgroupMode;
  /** Undefined where the Host's pids are not this machine's processes (a fixture): dry-run only. */
  readonly backend: KillBackend | undefined;
  /** The poll thread for PSI triggers and pidfds, where the Host's fds are the kernel's. */
  readonly poller: FdPoller | undefined;
}

export function wireDaemon(host: Host, kill: Pick<KillSettings, "preKillHook">): DaemonWiring {
  const mode = detectCgroupMode(host);
  const mount = mode.perCgroup ? mode.unifiedMount : undefined;
  // Hooks leave oomkit's protected cgroup for the root cgroup (always allowed: no "internal
  // processes" rule applies there) and reset their oom_score_adj.
  const backend = host.capabilities.liveProcesses
    ? new LinuxBackend({ host, cgroupMount: mount, preKillHook: kill.preKillHook, hookCgroup: mount ? ROOT_CGROUP : undefined })
    : undefined;
  return { mode, backend, poller: host.capabilities.pollableFds ? defaultPoller() : undefined };
}

/** Start-up's garbage back to the kernel, once the daemon has settled (os/heap-release.ts). */
function releaseStartupGarbage(host: Host) {
  return releaseFreedMemory({
    gc: compactingGc(),
    mallocTrim: (pad) => {
      const r = libc().malloc_trim(pad);
      return r < 0 ? undefined : r;
    },
    status: () => {
      try {
        return host.readFile(PROC_SELF_STATUS);
      } catch {
        return undefined;
      }
    },
    heapUsedBytes,
    nowMs: () => performance.now(),
  });
}

/** Journal entries through its native socket, stderr for what it does not take. */
function journalWriter(stderr: (text: string) => void): JournalWriter {
  const socket = new UnixDgramSender(JOURNAL_SOCKET);
  return new JournalWriter({ send: (entry) => socket.send(entry), fallback: stderr });
}

/** The single-instance lock, in the state folder. */
export const LOCK_FILE = "oomkit.lock";

export const runCommand: Command = {
  name: "run",
  summary: "run the daemon (use --dry-run to watch and decide without acting)",
  usage: USAGE,
  async run(args, ctx) {
    const { values } = parseFlags("run", args, {
      config: { type: "string" },
      "dry-run": { type: "boolean" },
      root: { type: "string" },
      socket: { type: "string" },
      "state-dir": { type: "string" },
      "memory-min": { type: "string" },
      "log-level": { type: "string" },
      "event-log": { type: "string" },
      "metrics-listen": { type: "string" },
    });
    if (values.root !== undefined && !values["dry-run"]) throw new OomkitError("E_USAGE", "--root watches a fixture: add --dry-run (a fixture has no processes to kill)");
    if (values["log-level"] !== undefined && !LEVELS.includes(values["log-level"] as LogLevel)) {
      throw new OomkitError("E_USAGE", `--log-level must be one of ${LEVELS.join(", ")}`);
    }
    let memoryMinBytes: number | undefined;
    if (values["memory-min"] !== undefined) {
      const r = parseSize(values["memory-min"]);
      if (!r.ok) throw new OomkitError("E_USAGE", `--memory-min: ${r.error}`);
      memoryMinBytes = r.bytes;
    }
    // Under systemd, with stderr going to the journal: entries through the journal's own socket,
    // each with its priority and an episode's fields; anywhere else, lines on stderr.
    const journal = stderrIsJournal() ? journalWriter(ctx.stderr) : undefined;
    const out = (line: string) => (journal ? journal.write(6, line) : ctx.stderr(`${line}\n`));
    const load = () => withReportFlags(loadEngineSetup(values.config, { enforceOwnership: true, warn: (m) => (journal ? journal.write(PRIORITY.warn, `oomkit: warning: ${m}`) : out(`oomkit: warning: ${m}`)) }), values["event-log"], values["metrics-listen"]);
    const config = load();
    const level = (values["log-level"] as LogLevel | undefined) ?? config.logLevel;
    const log: Logger = journal ? journal.logger(level) : streamLogger(level, ctx.stderr);
    const episodeLine = (text: string, record: EpisodeRecord) => (journal ? journal.write(5, text, episodeFields(record)) : out(text));
    const notifier: Notifier = systemdNotifier(process.env, process.pid, (why) => log.warn(why));
    const host = ctx.makeHost(values.root);
    const live = host.capabilities.liveProcesses;
    const dryRun = values["dry-run"] === true ? true : config.dryRun;
    const stateDir = values["state-dir"] ?? (values.root === undefined ? "/var/lib/oomkit" : undefined);
    // Everything started is undone, in reverse, if start-up fails: a half-started daemon that
    // stays alive (its metrics server, kernel log reader or watches holding the process) and
    // goes on acting beside the real one is worse than none.
    const undo: (() => Promise<void> | void)[] = [];
    const unwind = async () => {
      for (const u of undo.reverse()) await Promise.resolve().then(u).catch(() => {});
      undo.length = 0;
    };
    try {
      // One oomkit per machine, decided before anything acts.
      if (live && stateDir !== undefined) {
        const lock = InstanceLock.acquire(`${stateDir}/${LOCK_FILE}`);
        undo.push(() => lock.release());
      }
      return await startAndServe();
    } catch (err) {
      await unwind();
      throw err;
    }

    async function startAndServe(): Promise<number> {
      if (live) {
        // First, so that start-up's own large blocks already go back to the kernel when freed.
        const tuned = pinMallocThresholds((param, value) => libc().mallopt(param, value));
        if (tuned.pinned) log.info(tuned.note);
        else log.warn(tuned.note);
        await prepareKillPath();
      }
      const { mode, backend } = wireDaemon(host, config.kill);
      let daemonRef: Daemon | undefined;
      const pipeline = new ReportPipeline({
        settings: config.report,
        log,
        line: episodeLine,
        host,
        stateDir,
        onKernelVictim: (pid, cgroup) => daemonRef?.noteKernelVictim(pid, cgroup),
      });
      const daemon = new Daemon({
        host,
        mode,
        config,
        log,
        dryRun,
        backend,
        stateDir,
        onEpisode: pipeline.report,
        onPolicyFault: pipeline.policyFault,
        onSample: (snap, watched) => pipeline.sample(snap, watched),
        // Where /proc/self is oomkit itself (and koffi is loaded): what start-up left is given back.
        // The configuration's and the policies' options schemas are dropped first, so that the
        // collection takes them: the next reload builds them again (on-first-use.ts).
        ...(live
          ? {
              onSettled: () => {
                forgetBuilt();
                log.info(releaseStartupGarbage(host).note);
              },
            }
          : {}),
      });
      daemonRef = daemon;
      undo.push(() => pipeline.stop());
      const sinks = await pipeline.start();
      undo.push(() => host.closeKept());
      undo.push(() => daemon.stop());
      await daemon.start();
      if (live) {
        // Only where /proc/self is oomkit itself.
        const sp = protectSelf(host, mode, { memoryMinBytes });
        log.info(sp.oomScoreAdj.note);
        log.info(sp.memoryMin.note);
        // Last of the start-up steps: every library oomkit runs from is mapped by now.
        const resident = lockCode(host, mlock2OnFault);
        if (resident.complete) log.info(resident.note);
        else log.warn(resident.note);
      }
      for (const f of [PROC_MEMINFO, procPressure("memory")]) {
        try {
          host.keepOpen(f);
        } catch {
          /* absent on this kernel: read on demand */
        }
      }
      // One reload at a time, whether asked by SIGHUP or by `oomkit reload`; a refusal is logged and
      // thrown (to the control socket's caller), and the old configuration stays.
      let reloading: Promise<unknown> = Promise.resolve();
      const reloadNow = (): Promise<string> => {
        const next = reloading.then(async () => {
          notifier.notify({ RELOADING: 1, STATUS: "reloading the configuration" });
          try {
            const c = load();
            await daemon.reload(c);
            const summary = `configuration reloaded: ${daemon.status().watches.length} watches, ${c.engine.attachments.length} attachments`;
            adviseWatchdog(c);
            return summary;
          } catch (err) {
            log.error(`refused the new configuration, keeping the old one: ${(err as Error).message}`);
            throw err;
          } finally {
            // What checking the new configuration built is not kept until the next reload.
            forgetBuilt();
            notifier.notify({ READY: 1, STATUS: "watching" });
          }
        });
        reloading = next.catch(() => {});
        return next;
      };
      let watchdogUsec: number | undefined;
      const adviseWatchdog = (c: CompiledConfig) => {
        const advice = watchdogUsec === undefined ? undefined : watchdogAdvice(watchdogUsec, loopHoldBoundMs(c));
        if (advice) log.warn(advice);
      };
      let control: ControlServer | undefined;
      const socketPath = values.socket ?? DEFAULT_SOCKET;
      if (socketPath !== "none") {
        try {
          control = await ControlServer.listen(
            socketPath,
            {
              ...pipeline.handlers(),
              ...daemonOps(daemon),
              ...reloadOp(reloadNow),
            },
            log,
          );
        } catch (err) {
          if (err instanceof OomkitError && err.code === "E_USAGE") throw err;
          log.warn(`no control socket at ${socketPath}: ${(err as Error).message} (oomkit oom will not reach this daemon)`);
        }
        const c = control;
        if (c) undo.push(() => c.close());
      }
      // Signals are heard before "watching" is said: whoever waits for that line may stop us at once.
      const stopped = new Promise<number>((resolve) => {
        let stopping = false;
        const stop = async (sig: string) => {
          if (stopping) return;
          stopping = true;
          out(`oomkit: ${sig}: stopping`);
          notifier.notify({ STOPPING: 1, STATUS: `${sig}: stopping` });
          await unwind();
          resolve(0);
        };
        const reload = async () => {
          try {
            await reloadNow();
          } catch {
            /* said by reloadNow */
          }
        };
        const on = ctx.onSignal ?? ((sig, fn) => process.on(sig, fn));
        on("SIGTERM", () => void stop("SIGTERM"));
        on("SIGINT", () => void stop("SIGINT"));
        on("SIGHUP", () => void reload());
      });
      const s = daemon.status();
      out(`oomkit: running${s.dryRun ? " in dry-run (nothing will be killed)" : ""} on ${host.description}: ${s.mode.summary}`);
      for (const a of s.attachments) out(`oomkit:   policy ${a}; then the kernel's badness`);
      if (s.attachments.length === 0) out("oomkit:   policy: the kernel's badness");
      for (const w of s.watches) out(`oomkit:   watching ${w}`);
      for (const sink of sinks) out(`oomkit:   reporting to ${sink}`);
      if (control) out(`oomkit:   control socket ${control.path}`);
      out("oomkit: watching");
      notifier.notify({ READY: 1, STATUS: "watching" });
      const keepAliveMs = notifier.startWatchdog();
      if (keepAliveMs !== undefined) {
        watchdogUsec = keepAliveMs * 2000;
        log.info(`systemd watchdog: a keep-alive every ${keepAliveMs} ms`);
        adviseWatchdog(config);
      }
      undo.push(() => notifier.stop());

      return await stopped;
    }
  },
};
