/**
 * What starts a simulated task, checked: a hostile or mistaken figure is an E_CONFIG that names
 * the task and the field, before anything enters the model.
 */
import { OomkitError } from "../errors.js";
import { checkCurve, type MemoryCurve } from "./curve.js";
import type { ForkStorm, TaskBehaviour } from "./state.js";

const MiB = 1024 * 1024;
/** The kernel's highest pid (PID_MAX_LIMIT on 64-bit). */
export const PID_MAX_LIMIT = 4_194_304;

export interface TaskSpec {
  readonly comm: string;
  readonly cgroup?: string;
  readonly curve: MemoryCurve;
  /** Default: the next free pid from 100. */
  readonly pid?: number;
  readonly ppid?: number;
  readonly uid?: number;
  readonly oomScoreAdj?: number;
  readonly touchPerSec?: number;
  readonly fileBytes?: number;
  readonly fileTouchPerSec?: number;
  readonly cacheBytesPerSec?: number;
  /** What the task does on SIGTERM (default: exits 10 ms later). */
  readonly onTerm?: { readonly exitAfterMs: number } | "ignore";
  readonly fork?: ForkStorm;
  /** Its executable (/proc/PID/exe); absent for none. */
  readonly exe?: string;
  readonly cmdline?: readonly string[];
}

/** The task's behaviour from its spec, with defaults; throws E_CONFIG on a bad figure. */
export function taskBehaviour(spec: TaskSpec, pageSizeBytes: number): TaskBehaviour {
  const where = `task ${JSON.stringify(spec.comm)}`;
  const bad = (field: string, why: string): never => {
    throw new OomkitError("E_CONFIG", `${where}: ${field} ${why}`);
  };
  if (typeof spec.comm !== "string" || spec.comm === "") bad("comm", "must be a non-empty name");
  checkCurve(spec.curve, where);
  const adj = spec.oomScoreAdj ?? 0;
  if (!(Number.isInteger(adj) && adj >= -1000 && adj <= 1000)) bad("oomScoreAdj", "must be an integer in -1000..1000");
  for (const [f, v] of [["touchPerSec", spec.touchPerSec], ["fileBytes", spec.fileBytes], ["fileTouchPerSec", spec.fileTouchPerSec], ["cacheBytesPerSec", spec.cacheBytesPerSec]] as const) {
    if (v !== undefined && !(Number.isFinite(v) && v >= 0)) bad(f, "must be a finite number ≥ 0");
  }
  if (spec.onTerm !== undefined && spec.onTerm !== "ignore" && !(spec.onTerm.exitAfterMs >= 0)) bad("onTerm.exitAfterMs", "must be ≥ 0");
  if (spec.fork && !(spec.fork.perSec > 0 && Number.isInteger(spec.fork.max) && spec.fork.max >= 0 && spec.fork.childBytes >= 0)) bad("fork", "needs perSec > 0, an integer max ≥ 0 and childBytes ≥ 0");
  return {
    curve: spec.curve,
    touchPerSec: spec.touchPerSec ?? 0.02,
    filePages: Math.ceil((spec.fileBytes ?? 2 * MiB) / pageSizeBytes),
    fileTouchPerSec: spec.fileTouchPerSec ?? 0.5,
    cachePagesPerSec: (spec.cacheBytesPerSec ?? 0) / pageSizeBytes,
    onTerm: spec.onTerm ?? { exitAfterMs: 10 },
    ...(spec.fork ? { fork: spec.fork } : {}),
  };
}
