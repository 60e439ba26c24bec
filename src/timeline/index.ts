/**
 * Timelines: a machine's figures over time (docs/timelines.md). The one reader and driver that
 * `oomkit check --root TIMELINE`, oomkit/testing's Bench and the simulator's replay share:
 *
 *   const timeline = Timeline.open(dir);              // manifest read and checked
 *   for (const frame of timeline.frames()) frame.host // each instant as a Host, over a ManualClock
 *   for (const f of playTimeline(timeline, engine))   // or straight into an engine: history,
 *     await engine.explain(f.snapshot, "/", cause);   // online/offline hooks, PSI → handlePressure
 */
export { DEFAULT_LIMITS, FRAMES_DIR, TIMELINE_FORMAT, TIMELINE_MANIFEST, TIMELINE_VERSION, frameFile, machinePathProblem, type TimelineFrameData, type TimelineLimits, type TimelineManifest } from "./format.js";
export { EMPTY_STATE, applyFrame, diffStates, type MachineState } from "./state.js";
export { FrameHost, type FrameHostOptions } from "./frame-host.js";
export { Timeline, isTimeline, type OpenTimelineOptions, type TimelineFrame } from "./read.js";
export { TimelineWriter, stateOfRecording, type FrameWritten, type TimelineWriterOptions } from "./write.js";
export { captureMachine, recordTimeline, type Capture, type CaptureOptions, type RecordTimelineOptions } from "./capture.js";
export { MachineObserver, playTimeline, psiFired, sendPressure, type Observation, type PlayOptions, type PlayedFrame, type PsiTriggerSpec } from "./driver.js";
