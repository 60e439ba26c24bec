/**
 * Simulation scenarios: TOML files describing a machine, its cgroups and tasks (each with a
 * memory curve), how long to run, and optionally who should die. Checked like a configuration
 * (zod, every error at its key's line, all at once) and turned into the model's specs.
 * docs/simulator.md ("Scenario files") documents every key; keep the two in step.
 */
import * as z from "zod";
import { parseTomlChecked } from "../config/index.js";
import { cgroupPathSchema, sizeSchema, strict } from "../config/schema.js";
import type { CgroupSpec, MachineSpec, TaskSpec } from "../sim/machine.js";
import type { MemoryCurve } from "../sim/curve.js";
import type { Costs } from "../sim/kernel.js";
import { onFirstUse } from "../on-first-use.js";

const ms = () => z.number().int().nonnegative();
const cost = () => z.number().min(0).max(1_000_000).optional();
const positiveMs = () => z.number().int().positive();

const curveSchema = () => z.discriminatedUnion("kind", [
  strict({ kind: z.literal("steady"), bytes: sizeSchema }),
  strict({ kind: z.literal("leak"), start: sizeSchema.optional(), per_sec: sizeSchema, cap: sizeSchema.optional() }),
  strict({ kind: z.literal("steps"), start: sizeSchema.optional(), steps: z.array(strict({ after_ms: ms(), bytes: sizeSchema })).min(1).max(1000) }),
  strict({ kind: z.literal("bursts"), base: sizeSchema, burst: sizeSchema, every_ms: positiveMs(), length_ms: positiveMs(), jitter: z.number().min(0).max(1).default(0) }),
]);

const taskSchema = () => strict({
  comm: z.string().min(1).max(15).regex(/^[^\n/]+$/, "a comm is one line without '/'"),
  cgroup: cgroupPathSchema.default("/" as never),
  curve: curveSchema(),
  /** Identical tasks to start (bystanders); each gets its own pid. */
  count: z.number().int().min(1).max(10_000).default(1),
  /** Virtual ms after the run begins when the task starts. */
  start_ms: ms().default(0),
  uid: z.number().int().nonnegative().optional(),
  oom_score_adj: z.number().int().min(-1000).max(1000).default(0),
  touch_per_sec: z.number().min(0).max(100).optional(),
  file: sizeSchema.optional(),
  file_touch_per_sec: z.number().min(0).max(100).optional(),
  cache_per_sec: sizeSchema.optional(),
  on_term: z.union([z.literal("ignore"), strict({ exit_after_ms: ms() })]).optional(),
  fork: strict({ per_sec: z.number().positive().max(100_000), max: z.number().int().nonnegative().max(100_000), child: sizeSchema }).optional(),
  exe: z.string().startsWith("/").optional(),
});

const cgroupSchema = () => strict({
  path: cgroupPathSchema,
  max: sizeSchema.optional(),
  high: sizeSchema.optional(),
  low: sizeSchema.optional(),
  min: sizeSchema.optional(),
  swap_max: sizeSchema.optional(),
  oom_group: z.boolean().optional(),
  xattrs: z.record(z.string().regex(/^(user|trusted)\.[A-Za-z0-9_.-]+$/, "an xattr name is user.* or trusted.*"), z.string().max(256)).optional(),
  owner_uid: z.number().int().nonnegative().optional(),
});

export const scenarioSchema = onFirstUse(() =>
  strict({
    name: z.string().min(1).max(100),
    description: z.string().max(2000).default(""),
    /** How long to simulate, virtual ms. */
    duration_ms: positiveMs().max(24 * 3600 * 1000),
    seed: z.number().int().nonnegative().max(2 ** 32 - 1).default(1),
    /** When oomkit starts, virtual ms after the machine (its tasks already running). */
    oomkit_start_ms: ms().default(2000),
    /** The series' sampling period. */
    sample_ms: positiveMs().max(60_000).default(250),
    machine: strict({
      memory: sizeSchema,
      swap: strict({ kind: z.enum(["disk", "zram"]), size: sizeSchema, compression_ratio: z.number().min(1).max(20).optional() }).optional(),
      swappiness: z.number().int().min(0).max(200).optional(),
      kernel_reserved: sizeSchema.optional(),
      step_ms: z.number().positive().max(1000).optional(),
      /** The model's costs in µs per page (src/sim/kernel.ts Costs); unset ones keep their defaults. */
      costs: strict({
        reclaim_cache_us: cost(),
        evict_file_us: cost(),
        swap_out_zram_us: cost(),
        swap_out_disk_us: cost(),
        swap_in_zram_us: cost(),
        swap_in_disk_us: cost(),
        refault_file_us: cost(),
        failed_scan_us: cost(),
        fault_us: cost(),
      }).optional(),
      /** Virtual µs each of the daemon's reads costs it (docs/simulator.md, "A decision's cost"). */
      read_cost_us: z.number().min(0).max(100_000).default(20),
    }),
    cgroup: z.array(cgroupSchema()).max(10_000).default([]),
    task: z.array(taskSchema()).min(1).max(10_000),
    expect: strict({
      /** Cgroup paths ("/batch", counting what lies below) or comms: the first victim should be one of them. */
      should_die: z.array(z.string().min(1)).default([]),
      must_survive: z.array(z.string().min(1)).default([]),
    }).default({ should_die: [], must_survive: [] }),
  }),
);

export type ScenarioFile = z.output<ReturnType<typeof scenarioSchema>>;

/** A scenario checked and turned into the model's terms. */
export interface Scenario {
  readonly name: string;
  readonly description: string;
  readonly file: string;
  readonly durationMs: number;
  readonly seed: number;
  readonly sampleMs: number;
  readonly oomkitStartMs: number;
  readonly readCostUs: number;
  readonly machine: MachineSpec;
  readonly cgroups: readonly { readonly path: string; readonly spec: CgroupSpec }[];
  /** Tasks with when they start. */
  readonly tasks: readonly { readonly startMs: number; readonly spec: TaskSpec }[];
  readonly expect: { readonly shouldDie: readonly string[]; readonly mustSurvive: readonly string[] };
}

/** Parses a scenario's text; throws ConfigError with every problem placed. */
export function parseScenario(text: string, fileName: string): Scenario {
  const { data } = parseTomlChecked(text, fileName, scenarioSchema(), "the scenario");
  return toScenario(data, fileName);
}

function curveOf(c: ScenarioFile["task"][number]["curve"]): MemoryCurve {
  switch (c.kind) {
    case "steady":
      return { kind: "steady", bytes: c.bytes };
    case "leak":
      return { kind: "leak", startBytes: c.start ?? 0, bytesPerSec: c.per_sec, ...(c.cap !== undefined ? { capBytes: c.cap } : {}) };
    case "steps":
      return { kind: "steps", startBytes: c.start ?? 0, steps: c.steps.map((s) => ({ afterMs: s.after_ms, bytes: s.bytes })) };
    case "bursts":
      return { kind: "bursts", baseBytes: c.base, burstBytes: c.burst, everyMs: c.every_ms, lengthMs: c.length_ms, jitter: c.jitter };
    default: {
      const never: never = c;
      return never;
    }
  }
}

function costsOf(c: NonNullable<ScenarioFile["machine"]["costs"]>): Partial<Costs> {
  const names: Record<keyof typeof c, keyof Costs> = {
    reclaim_cache_us: "reclaimCacheUs",
    evict_file_us: "evictFileUs",
    swap_out_zram_us: "swapOutZramUs",
    swap_out_disk_us: "swapOutDiskUs",
    swap_in_zram_us: "swapInZramUs",
    swap_in_disk_us: "swapInDiskUs",
    refault_file_us: "refaultFileUs",
    failed_scan_us: "failedScanUs",
    fault_us: "faultUs",
  };
  const out: Partial<Record<keyof Costs, number>> = {};
  for (const [k, v] of Object.entries(c)) if (typeof v === "number") out[names[k as keyof typeof c]] = v;
  return out;
}

function toScenario(s: ScenarioFile, file: string): Scenario {
  const m = s.machine;
  const machine: MachineSpec = {
    memTotalBytes: m.memory,
    seed: s.seed,
    ...(m.swap ? { swap: { kind: m.swap.kind, totalBytes: m.swap.size, ...(m.swap.compression_ratio !== undefined ? { compressionRatio: m.swap.compression_ratio } : {}) } } : {}),
    ...(m.swappiness !== undefined ? { swappiness: m.swappiness } : {}),
    ...(m.kernel_reserved !== undefined ? { kernelReservedBytes: m.kernel_reserved } : {}),
    ...(m.step_ms !== undefined ? { stepMs: m.step_ms } : {}),
    ...(m.costs ? { costs: costsOf(m.costs) } : {}),
  };
  const cgroups = s.cgroup.map((c) => ({
    path: c.path,
    spec: {
      ...(c.max !== undefined ? { max: c.max } : {}),
      ...(c.high !== undefined ? { high: c.high } : {}),
      ...(c.low !== undefined ? { low: c.low } : {}),
      ...(c.min !== undefined ? { min: c.min } : {}),
      ...(c.swap_max !== undefined ? { swapMax: c.swap_max } : {}),
      ...(c.oom_group !== undefined ? { oomGroup: c.oom_group } : {}),
      ...(c.xattrs ? { xattrs: c.xattrs } : {}),
      ...(c.owner_uid !== undefined ? { ownerUid: c.owner_uid } : {}),
    } satisfies CgroupSpec,
  }));
  const tasks = s.task.flatMap((t) =>
    Array.from({ length: t.count }, () => ({
      startMs: t.start_ms,
      spec: {
        comm: t.comm,
        cgroup: t.cgroup,
        curve: curveOf(t.curve),
        oomScoreAdj: t.oom_score_adj,
        ...(t.uid !== undefined ? { uid: t.uid } : {}),
        ...(t.touch_per_sec !== undefined ? { touchPerSec: t.touch_per_sec } : {}),
        ...(t.file !== undefined ? { fileBytes: t.file } : {}),
        ...(t.file_touch_per_sec !== undefined ? { fileTouchPerSec: t.file_touch_per_sec } : {}),
        ...(t.cache_per_sec !== undefined ? { cacheBytesPerSec: t.cache_per_sec } : {}),
        ...(t.on_term !== undefined ? { onTerm: t.on_term === "ignore" ? ("ignore" as const) : { exitAfterMs: t.on_term.exit_after_ms } } : {}),
        ...(t.fork ? { fork: { perSec: t.fork.per_sec, max: t.fork.max, childBytes: t.fork.child } } : {}),
        ...(t.exe !== undefined ? { exe: t.exe } : {}),
      } satisfies TaskSpec,
    })),
  );
  return {
    name: s.name,
    description: s.description,
    file,
    durationMs: s.duration_ms,
    seed: s.seed,
    sampleMs: s.sample_ms,
    oomkitStartMs: s.oomkit_start_ms,
    readCostUs: m.read_cost_us,
    machine,
    cgroups,
    tasks,
    expect: { shouldDie: s.expect.should_die, mustSurvive: s.expect.must_survive },
  };
}
