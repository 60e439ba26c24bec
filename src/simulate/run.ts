/**
 * Runs the real daemon on a simulated machine in virtual time: the scenario's machine behind a
 * SimHost, the daemon's timers on a VirtualScheduler, its kills through the kill port over the
 * model, and the model's own kernel OOM kills reported as the kernel log would report them. This
 * module wires and records; every trigger, gate, verdict and decision is the daemon's own.
 */
import type { CompiledConfig } from "../config/index.js";
import { Daemon } from "../daemon/daemon.js";
import type { EpisodeRecord } from "../engine/episode.js";
import type { HookCall } from "../engine/hooks.js";
import { type Logger, silentLogger } from "../log.js";
import { detectCgroupMode } from "../os/cgroup-mode.js";
import type { CgroupKillOutcome, KillBackend, TaskKillOptions, TaskKillOutcome, TaskTarget } from "../os/kill-port.js";
import type { CgroupPath } from "../os/paths.js";
import { sleep } from "../os/scheduler.js";
import { kernelEpisode } from "../report/kernel-record.js";
import { SimKillBackend } from "../sim/kill-backend.js";
import { SimMachine } from "../sim/machine.js";
import { VirtualScheduler } from "../sim/scheduler.js";
import { SimHost } from "../sim/sim-host.js";
import { RunRecorder, kernelKillFact } from "./recorder.js";
import { counter } from "./replay.js";
import type { SimComparison, SimRunResult } from "./result.js";
import type { Scenario } from "./scenario.js";

export interface RunOptions {
  /** The configuration's label in the result ("default", or the file as given). */
  readonly label: string;
  readonly log?: Logger;
  /** Each episode record (oomkit's and the kernel's) as the daemon reports it, in order. */
  readonly onEpisode?: (record: EpisodeRecord) => void;
  readonly onPolicyFault?: (call: HookCall) => void;
}

/** How long, past the scenario's end, the daemon is given to finish an episode in flight. */
const STOP_GRACE_MS = 30_000;

/** Runs one scenario under one configuration. Deterministic for a scenario (its seed) and configuration. */
export async function runScenario(scenario: Scenario, config: CompiledConfig, opts: RunOptions): Promise<SimRunResult> {
  const machine = new SimMachine(scenario.machine);
  for (const c of scenario.cgroups) machine.addCgroup(c.path, c.spec);
  const scheduler = new VirtualScheduler();
  const host = new SimHost(machine, { clock: scheduler.clock, scheduler, readCostUs: scenario.readCostUs });
  const rec = new RunRecorder(machine);
  for (const t of scenario.tasks) {
    if (t.startMs === 0) machine.addTask(t.spec);
    else
      scheduler.after(t.startMs, () => {
        host.sync();
        machine.addTask(t.spec);
      });
  }
  const killedAt = new Map<string, number>();
  // The reading the decision owes is spent before its kill is noted: a slow decision kills later.
  const backend = timedBackend(new SimKillBackend(host, { sleep: (ms) => sleep(scheduler, ms) }), killedAt, () => {
    host.settle();
    return scheduler.clock.monotonicMs();
  });
  let daemon: Daemon | undefined;
  const report = (r: EpisodeRecord) => opts.onEpisode?.(r);
  daemon = new Daemon({
    host,
    mode: detectCgroupMode(host),
    config,
    log: opts.log ?? silentLogger,
    backend,
    scheduler,
    episodeIds: counter(),
    onEpisode: (r) => {
      rec.oomkit(r, (k) => killedAt.get(k), scheduler.clock.monotonicMs());
      report(r);
    },
    ...(opts.onPolicyFault ? { onPolicyFault: opts.onPolicyFault } : {}),
  });
  // The machine steps as virtual time passes, whether or not the daemon reads it: PSI triggers
  // fire at the step they cross their threshold, and the kernel's kills are seen at once.
  let seq = 0;
  const step = () => {
    host.sync();
    host.settle();
    for (const k of rec.takeKernelKills()) {
      const record = kernelEpisode(kernelKillFact(k), typeof k.constraint === "object" ? k.constraint.memcg : "/", scheduler.clock.wallMs() - (scheduler.clock.monotonicMs() - k.atMs), `sim${(seq++).toString(36)}`);
      rec.kernel(record, k);
      report(record);
      // As the report pipeline does: oomkit waits for the kernel's victim like for its own.
      daemon?.noteKernelVictim(k.pid, k.cgroup);
    }
  };
  const every = (ms: number, fn: () => void) => {
    const loop = () => {
      fn();
      scheduler.after(ms, loop);
    };
    scheduler.after(ms, loop);
  };
  every(machine.stepMs, step);
  rec.sample();
  every(scenario.sampleMs, () => {
    step();
    rec.sample();
  });
  // oomkit starts once the machine's first tasks are up, as a daemon started at boot finds its services.
  await scheduler.runUntil(Math.min(scenario.oomkitStartMs, scenario.durationMs));
  await daemon.start();
  await scheduler.runUntil(scenario.durationMs);
  step();
  let stopped = false;
  const stopping = daemon.stop().then(() => void (stopped = true));
  for (let t = scenario.durationMs; !stopped && t < scenario.durationMs + STOP_GRACE_MS; t += 100) await scheduler.runUntil(t + 100);
  await stopping;
  return rec.result(scenario, opts.label, config);
}

/** Runs the scenario under each configuration in turn, on the same seed. */
export async function compareScenario(scenario: Scenario, configs: readonly { readonly label: string; readonly config: CompiledConfig }[], opts: Omit<RunOptions, "label"> = {}): Promise<SimComparison> {
  const runs: SimRunResult[] = [];
  for (const c of configs) runs.push(await runScenario(scenario, c.config, { ...opts, label: c.label }));
  return { schema: "oomkit.sim-compare/1", runs };
}

/** The kill port, noting when each kill was issued (a task's key "task:PID", a cgroup's "cgroup:PATH"). */
function timedBackend(inner: KillBackend, at: Map<string, number>, now: () => number): KillBackend {
  return {
    killTask(task: TaskTarget, o: TaskKillOptions): Promise<TaskKillOutcome> {
      at.set(`task:${task.pid}`, now());
      return inner.killTask(task, o);
    },
    killCgroup(cg: CgroupPath, waitMs: number): Promise<CgroupKillOutcome> {
      at.set(`cgroup:${cg}`, now());
      return inner.killCgroup(cg, waitMs);
    },
    reclaim: (cg, bytes) => inner.reclaim(cg, bytes),
    currentBytes: (cg) => inner.currentBytes(cg),
    removeFile: (p) => inner.removeFile(p),
  };
}
