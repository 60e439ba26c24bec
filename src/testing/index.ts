/**
 * oomkit/testing: what a policy's own tests need. Declare a machine, attach a policy (or a whole
 * configuration), and read the record the engine makes — the one `oomkit explain --json` prints
 * (docs/episode.md). A Bench steps the machine over a manual clock, so rates, handlePressure and
 * the cgroup online/offline hooks can be driven too. docs/testing-a-policy.md walks through it.
 *
 * Nothing reachable from these declarations names Node's own types.
 */
export { Bench, explainOn, type BenchSetup, type ExplainOptions, type PlayOptions, type PressureOptions, type PsiTrigger, type TimelineStep } from "./harness.js";
export { writeTimeline, type TimelineState } from "./timeline.js";
export { sampleTimeline, SAMPLE_TIMELINES } from "./samples.js";
export { writeMachine, type MachineSpec, type CgroupSpec, type TaskSpec, type PressureSpec, type Size } from "./machine.js";
export type { EpisodeRecord, ChainEntry, ChainOutcome, CandidateRecord, Verdict } from "../engine/episode.js";
export type { HookCall, PressureResult, PressureDeclaration } from "../engine/hooks.js";
export type { OomCause, Policy } from "../engine/policy.js";
export type { Action, Plan } from "../engine/plan.js";
