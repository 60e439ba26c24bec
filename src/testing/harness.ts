/**
 * A policy's test bench: the engine the daemon runs, on machines declared in a test, over a
 * manual clock. Each `at` writes a new state of the machine and feeds the engine's history (so
 * `oc.rates()` has figures, as in the daemon's warm model), and reports the cgroups that came and
 * went to the policies' online/offline hooks, as the daemon's rescan does. `explain` returns the
 * very record `oomkit explain --json` prints; `pressure` drives handlePressure.
 *
 * Policy files load into a realm of their own, as in the daemon; ownership is not enforced (a
 * test's files are the author's own), but what the daemon would refuse is kept in `warnings`.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { OomkitError } from "../errors.js";
import { compileConfig, parseConfig } from "../config/index.js";
import { type Attachment, Engine, type EngineOptions } from "../engine/engine.js";
import type { EpisodeRecord } from "../engine/episode.js";
import type { HookCall, PressureResult } from "../engine/hooks.js";
import { type OomCause, type Policy, isPolicy } from "../engine/policy.js";
import type { Snapshot } from "../engine/snapshot.js";
import { FixtureHost } from "../os/fixture-host.js";
import { MachineObserver, type PsiTriggerSpec, Timeline, isTimeline, psiFired, sendPressure } from "../timeline/index.js";
import { ManualClock } from "../os/host.js";
import { ROOT_CGROUP, cgroupPath } from "../os/paths.js";
import { BUILTIN_POLICIES } from "../policy/builtins.js";
import { kernelPolicy } from "../policy/kernel.js";
import { loadPolicyFile } from "../policy/loader.js";
import { type MachineSpec, writeMachine } from "./machine.js";

/** What runs: a policy (a file, or a built-in's name, or a Policy), a configuration, or both. */
export interface BenchSetup {
  /** A policy file (.ts/.js), a built-in policy's name ("rules", "largest-leaf", ...), or a Policy. */
  readonly policy?: string | Policy;
  /** The policy's options, as `[attach.options]` would give them (its parseOptions checks them). */
  readonly options?: unknown;
  /** Where the policy is attached ("/" when absent). */
  readonly attachTo?: string;
  /** A configuration file; with `policy`, the policy replaces what the file attached at attachTo. */
  readonly config?: string;
  /** A configuration's text instead of a file (relative policy paths resolve from the working directory). */
  readonly configText?: string;
  /** How long one policy call may run (250 ms as in the daemon, unless the configuration says). */
  readonly policyDeadlineMs?: number;
}

export interface ExplainOptions {
  /** The cgroup that is out of memory; "/" (the whole machine) when absent. */
  readonly scope?: string;
  /** What declared the OOM; a manual OOM, as `oomkit explain` declares, when absent. */
  readonly cause?: OomCause;
}

/** A PSI trigger for Bench.play, as a `[[trigger]] psi` would watch: a stall of thresholdUsec within windowUsec. */
export interface PsiTrigger {
  /** Its name in the records ("psi-0", "psi-1", ... when absent). */
  readonly name?: string;
  /** The cgroup whose memory.pressure it watches; "/" (the machine's /proc/pressure/memory) when absent. */
  readonly cgroup?: string;
  readonly stall?: "some" | "full";
  /** 150 000 (150 ms) when absent. */
  readonly thresholdUsec?: number;
  /** 1 000 000 (1 s) when absent. */
  readonly windowUsec?: number;
}

export interface PlayOptions {
  /** PSI triggers evaluated between frames; their events go to handlePressure. */
  readonly psi?: readonly PsiTrigger[];
}

/** One frame of a timeline, played into a Bench. */
export interface TimelineStep {
  readonly index: number;
  /** Milliseconds since the timeline's frame 0. */
  readonly atMs: number;
  /** Frames in the timeline. */
  readonly of: number;
  /** The online/offline hook calls this frame brought. */
  readonly hooks: HookCall[];
  /** What handlePressure did with each PSI trigger that fired since the frame before. */
  readonly pressure: PressureResult[];
}

export interface PressureOptions {
  /** The cgroup the PSI event is about; "/" when absent. */
  readonly cgroup?: string;
  readonly stall?: "some" | "full";
  readonly stallUsec?: number;
  readonly windowUsec?: number;
}

function isPolicyFile(s: string): boolean {
  return s.includes("/") || /\.(m?ts|m?js)$/.test(s);
}

/** The policy a setup names, with its options parsed. */
function attachmentOf(setup: BenchSetup, warn: (m: string) => void): Attachment | undefined {
  const p = setup.policy;
  if (p === undefined) {
    if (setup.options !== undefined) throw new OomkitError("E_USAGE", "options were given without a policy");
    return undefined;
  }
  let policy: Policy;
  if (typeof p !== "string") {
    if (!isPolicy(p)) throw new OomkitError("E_USAGE", "policy must be a file, a built-in policy's name or a policy made with definePolicy()");
    policy = p;
  } else if (isPolicyFile(p)) {
    policy = loadPolicyFile(p, { enforceOwnership: false, warn });
  } else {
    const builtin = BUILTIN_POLICIES.get(p);
    if (!builtin) throw new OomkitError("E_USAGE", `no built-in policy ${JSON.stringify(p)} (${[...BUILTIN_POLICIES.keys()].join(", ")}); a file's path has a / or an extension`);
    policy = builtin;
  }
  let options: unknown = setup.options ?? {};
  if (policy.parseOptions) {
    try {
      options = policy.parseOptions(setup.options ?? {});
    } catch (err) {
      throw new OomkitError("E_CONFIG", `${policy.name}: its parseOptions rejected the options: ${(err as Error).message}`, { cause: err });
    }
  }
  return { cgroup: cgroupPath(setup.attachTo ?? "/"), policy, options };
}

/** The engine's options for a setup: the configuration's, with the policy attached on top. */
export function engineOptionsOf(setup: BenchSetup, warn: (m: string) => void): EngineOptions {
  let base: EngineOptions = { defaultPolicy: { policy: kernelPolicy, options: {} } };
  if (setup.config !== undefined || setup.configText !== undefined) {
    const file = setup.config;
    const text = setup.configText ?? fs.readFileSync(file as string, "utf8");
    const parsed = parseConfig(text, file ?? "<configText>");
    parsed.warnings.forEach(warn);
    const compiled = compileConfig(parsed.config, {
      builtins: BUILTIN_POLICIES,
      loadPolicyFile,
      enforceOwnership: false,
      source: parsed.source,
      baseDir: file !== undefined ? path.dirname(path.resolve(file)) : process.cwd(),
    });
    compiled.warnings.forEach(warn);
    base = compiled.engine;
  }
  const mine = attachmentOf(setup, warn);
  const attachments = mine ? [...(base.attachments ?? []).filter((a) => a.cgroup !== mine.cgroup), mine] : base.attachments;
  return { ...base, attachments, ...(setup.policyDeadlineMs !== undefined ? { policyDeadlineMs: setup.policyDeadlineMs } : {}) };
}

const MANUAL = (scope: string): OomCause => ({ kind: "manual", trigger: "explain", message: `what oomkit would do for an OOM in ${scope} now`, figures: {} });

/**
 * A machine over time, with a policy (or a configuration) attached. Call `at` for each state,
 * then ask. `close()` removes the fixture folders it wrote.
 */
export class Bench {
  readonly engine: Engine;
  readonly clock = new ManualClock();
  /** What the daemon would warn about the setup (a policy file's ownership, configuration warnings). */
  readonly warnings: string[] = [];
  readonly #dirs: string[] = [];
  readonly #observer: MachineObserver;

  constructor(setup: BenchSetup) {
    this.engine = new Engine(engineOptionsOf(setup, (m) => this.warnings.push(m)));
    this.#observer = new MachineObserver(this.engine);
  }

  /**
   * The machine's next state, `afterMs` after the last one (0 for the first). Feeds the history
   * rates are measured from and returns the online/offline hook calls for cgroups that came or
   * went since the last state (none for the first: the first look is not news).
   */
  at(afterMs: number, machine: MachineSpec | string): HookCall[] {
    if (this.#observer.snapshot === undefined && afterMs !== 0) throw new OomkitError("E_USAGE", "the first state is at 0 ms");
    if (typeof machine === "string" && isTimeline(machine)) throw new OomkitError("E_USAGE", `${machine} is a timeline: play it with bench.play(dir)`);
    this.clock.advance(afterMs);
    const dir = typeof machine === "string" ? machine : writeMachine(machine);
    if (typeof machine !== "string") this.#dirs.push(dir);
    return [...this.#observer.observe(new FixtureHost(dir, { clock: this.clock })).hooks];
  }

  /**
   * Plays a recorded timeline (oomkit record --timeline, or sampleTimeline()) into the bench, one
   * frame at a time: each frame is a state as `at` makes one, its time the recording's, after
   * whatever states came before. Between frames, ask as after `at`. With `psi`, the triggers that
   * fired since the frame before (their stall accrued at their rate) go to handlePressure, and
   * each frame says what came of them.
   */
  *play(timelineDir: string, opts: PlayOptions = {}): Generator<TimelineStep, void, undefined> {
    const timeline = Timeline.open(timelineDir);
    const triggers: PsiTriggerSpec[] = (opts.psi ?? []).map((t, i) => ({
      name: t.name ?? `psi-${i}`,
      cgroup: cgroupPath(t.cgroup ?? "/"),
      stall: t.stall ?? "some",
      thresholdUsec: t.thresholdUsec ?? 150_000,
      windowUsec: t.windowUsec ?? 1_000_000,
    }));
    for (const frame of timeline.frames(this.clock)) {
      const before = this.#observer.snapshot;
      const seen = this.#observer.observe(frame.host);
      const pressure: PressureResult[] = [];
      for (const t of before === undefined ? [] : triggers) {
        const event = psiFired(t, before as Snapshot, seen.snapshot);
        const r = event && sendPressure(this.engine, seen.snapshot, t.name, event);
        if (r) pressure.push(r);
      }
      yield { index: frame.index, atMs: frame.atMs, of: timeline.length, hooks: [...seen.hooks], pressure };
    }
  }

  /** The current state's snapshot. */
  get snapshot(): Snapshot {
    const s = this.#observer.snapshot;
    if (s === undefined) throw new OomkitError("E_USAGE", "no state yet: call at(0, machine) first, or play(dir)");
    return s;
  }

  /** What the engine would do for an OOM now: the record `oomkit explain --json` prints. Nothing is kept. */
  explain(opts: ExplainOptions = {}): Promise<EpisodeRecord> {
    const scope = opts.scope ?? ROOT_CGROUP;
    return this.engine.explain(this.snapshot, scope, opts.cause ?? MANUAL(scope));
  }

  /**
   * As `explain`, but as a dry-run daemon decides: what the deciding policy wrote to its state
   * counts, as if its plan had been carried out, so the next decision sees it.
   */
  decide(opts: ExplainOptions = {}): Promise<EpisodeRecord> {
    const scope = opts.scope ?? ROOT_CGROUP;
    return this.engine.handleOom({ snapshot: this.snapshot, scope, cause: opts.cause ?? MANUAL(scope), mode: "dry-run" });
  }

  /**
   * A PSI event, as a PSI trigger on the cgroup hands it to the nearest policy with a
   * handlePressure; undefined when no policy in the chain has one.
   */
  pressure(opts: PressureOptions = {}): PressureResult | undefined {
    const cgroup = cgroupPath(opts.cgroup ?? "/");
    const snapshot = this.snapshot;
    const node = snapshot.cgroup(cgroup);
    const stall = opts.stall ?? "some";
    const stallUsec = opts.stallUsec ?? 150_000;
    const windowUsec = opts.windowUsec ?? 1_000_000;
    const trigger = `psi:memory ${stall} ${stallUsec / 1000}ms/${windowUsec / 1000}ms`;
    return this.engine.handlePressure({
      event: { cgroup, resource: "memory", stall, stallUsec, windowUsec, pressure: node?.pressure.memory, atMonoMs: this.clock.monotonicMs() },
      snapshot,
      trigger,
      cause: { kind: "pressure", trigger, message: `memory ${stall} stall in ${cgroup}`, figures: { stallUsec, windowUsec } },
    });
  }

  /** Removes the fixture folders this bench wrote. */
  close(): void {
    for (const d of this.#dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  }
}

/** One machine, one question: the record of what the engine would do for an OOM in `opts.scope`. */
export async function explainOn(machine: MachineSpec | string, setup: BenchSetup, opts: ExplainOptions = {}): Promise<EpisodeRecord> {
  const bench = new Bench(setup);
  try {
    bench.at(0, machine);
    return await bench.explain(opts);
  } finally {
    bench.close();
  }
}
