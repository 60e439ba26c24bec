/**
 * The report's input, checked before anything is rendered: a producer's mistake (series of
 * different lengths, time going back, a figure that is not a number) is an E_USAGE naming the
 * lane and the field, not a page that draws nonsense.
 */
import { OomkitError } from "../../errors.js";
import type { Lane, ReportInput, Samples } from "./input.js";

function bad(where: string, why: string): never {
  throw new OomkitError("E_USAGE", `report input: ${where} ${why}`);
}

function finiteSeries(where: string, s: Samples, n: number): void {
  if (!Array.isArray(s)) bad(where, "must be an array of numbers");
  if (s.length !== n) bad(where, `has ${s.length} samples where the lane has ${n} times`);
  s.forEach((v, i) => {
    if (typeof v !== "number" || !Number.isFinite(v)) bad(`${where}[${i}]`, `is ${String(v)}, not a finite number`);
  });
}

function checkLane(lane: Lane, li: number): void {
  const at = `lane ${li} (${JSON.stringify(lane.name)})`;
  if (typeof lane.name !== "string" || lane.name === "") bad(`lane ${li}: name`, "must be a non-empty string");
  const n = lane.timesMs.length;
  if (n < 2) bad(`${at}: timesMs`, "needs at least two samples");
  finiteSeries(`${at}: timesMs`, lane.timesMs, n);
  for (let i = 1; i < n; i++) if (!((lane.timesMs[i] as number) > (lane.timesMs[i - 1] as number))) bad(`${at}: timesMs[${i}]`, "does not increase");
  if (!(lane.memTotalBytes > 0)) bad(`${at}: memTotalBytes`, "must be > 0");
  if (!(lane.swapTotalBytes >= 0)) bad(`${at}: swapTotalBytes`, "must be ≥ 0");
  lane.cgroups.forEach((c, i) => {
    if (typeof c.cgroup !== "string") bad(`${at}: cgroups[${i}].cgroup`, "must be a string");
    finiteSeries(`${at}: cgroups[${i}] (${JSON.stringify(c.cgroup)})`, c.currentBytes, n);
  });
  if (lane.memUnavailableBytes !== undefined) finiteSeries(`${at}: memUnavailableBytes`, lane.memUnavailableBytes, n);
  if (lane.notes !== undefined && !(Array.isArray(lane.notes) && lane.notes.every((x) => typeof x === "string"))) bad(`${at}: notes`, "must be an array of strings");
  finiteSeries(`${at}: swapUsedBytes`, lane.swapUsedBytes, n);
  finiteSeries(`${at}: psiSomeTotalUsec`, lane.psiSomeTotalUsec, n);
  finiteSeries(`${at}: psiFullTotalUsec`, lane.psiFullTotalUsec, n);
  lane.thresholds.forEach((t, i) => {
    if (!["memory", "swap", "psi"].includes(t.chart)) bad(`${at}: thresholds[${i}].chart`, `is ${JSON.stringify(t.chart)}, not memory, swap or psi`);
    if (!Number.isFinite(t.value)) bad(`${at}: thresholds[${i}].value`, "must be a finite number");
  });
  lane.markers.forEach((m, i) => {
    if (!Number.isFinite(m.atMs)) bad(`${at}: markers[${i}].atMs`, "must be a finite number");
    if (m.by !== "oomkit" && m.by !== "kernel") bad(`${at}: markers[${i}].by`, "must be oomkit or kernel");
    if (typeof m.label !== "string") bad(`${at}: markers[${i}].label`, "must be a string");
  });
}

/** Throws E_USAGE on the first thing wrong with the input. */
export function checkReportInput(input: ReportInput): void {
  if (typeof input.title !== "string") bad("title", "must be a string");
  if (!Array.isArray(input.lanes) || input.lanes.length === 0) bad("lanes", "must hold at least one lane");
  input.lanes.forEach(checkLane);
}
