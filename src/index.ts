/**
 * oomkit's public API. Everything a policy author, an embedder or a test needs is re-exported
 * here by name; modules not named here are internal and may change without notice.
 */
export { OomkitError, isUserError, type ErrorCode } from "./errors.js";
export { type Logger, type LogLevel, streamLogger, silentLogger, MemoryLogger } from "./log.js";

// The Host layer: the only code that touches the OS.
export {
  type Host,
  type HostFacts,
  type HostCapabilities,
  type Clock,
  type DirEntry,
  type DirCursor,
  type FileStat,
  ManualClock,
  systemClock,
  NO_CAPABILITIES,
  readIfPresent,
  listIfPresent,
} from "./os/host.js";
export { LinuxHost } from "./os/linux-host.js";
export { FixtureHost, FIXTURE_MANIFEST, type FixtureManifest, type FixtureWrite } from "./os/fixture-host.js";
export { RecordingHost, writeFixture } from "./os/record.js";
export { detectCgroupMode, type CgroupMode, type CgroupModeName } from "./os/cgroup-mode.js";
export { runDoctor, type DoctorReport, type DoctorCheck, type CheckStatus } from "./os/doctor.js";
export { type CgroupPath, cgroupPath, cgroupContains, parentCgroup, ROOT_CGROUP, CgroupFile, PidFile } from "./os/paths.js";
export * as parse from "./os/parse/index.js";

// Snapshots and the kernel's ranking.
export { Snapshot, takeSnapshot, type SnapshotOptions, type SystemState } from "./engine/snapshot.js";
export { CgroupNode, type CgroupMemory, type CgroupPressure } from "./engine/cgroup.js";
export { TaskNode, type TaskMemory } from "./engine/task.js";
export {
  oomBadness,
  kernelOomScore,
  systemTotalPages,
  cgroupTotalPages,
  OOM_SCORE_ADJ_MIN,
  OOM_SCORE_ADJ_MAX,
  type Badness,
  type BadnessInput,
  type UnkillableReason,
} from "./engine/badness.js";

// Policies: the userspace struct_ops. Everything a policy file sees (oomkit/policy) is public here
// too; the names above and below that the face also has (CgroupNode, ...) are the fuller ones.
export * from "./policy/face.js";
export { kernelPolicy } from "./policy/kernel.js";
export { BUILTIN_POLICIES } from "./policy/builtins.js";
export { loadPolicyFile, checkTrust, type LoadPolicyOptions } from "./policy/loader.js";
export { type Action, type ActionKind, type Plan, describeAction } from "./engine/plan.js";
export { Engine, type Attachment, type EngineOptions, type Executor, type VerifiedOk, type ChainLink, type OomRequest, type WhyStale, DryRunExecutor, DEFAULT_POLICY_DEADLINE_MS, DEFAULT_DEFAULT_POLICY_DEADLINE_MS } from "./engine/engine.js";
export { type HookCall, type HookName, type HookOutcome, type PressureRequest, type PressureResult, type PressureDeclaration, describeHookCall } from "./engine/hooks.js";
export {
  EPISODE_SCHEMA,
  type EpisodeRecord,
  type EpisodeMode,
  type ChainEntry,
  type ChainOutcome,
  type CandidateRecord,
  type ActionResult,
  type Verdict,
  type Staleness,
  type StaleWitness,
} from "./engine/episode.js";
export { type Protections, type PathPattern, NO_PROTECTIONS, DEFAULT_OMIT_XATTRS, DEFAULT_TRUSTED_UIDS, type Execution, type VerifiedAction } from "./engine/verify.js";
export { History, appendSample, ratesOf, type Sample, type HistoryOptions } from "./engine/history.js";
export { VictimRegistry, type PendingVictim } from "./engine/victims.js";

// Configuration: file → validated plain form → compiled engine.
export {
  parseConfig,
  compileConfig,
  defaultConfig,
  DEFAULT_CONFIG_TOML,
  ConfigError,
  type ParsedConfig,
  type CompiledConfig,
  type TriggerSpec,
  type KillSettings,
  type ConfigIssue,
} from "./config/index.js";

// The daemon and its kill path.
export { Daemon, type DaemonOptions, type DaemonStatus } from "./daemon/daemon.js";
export { type Declaration } from "./daemon/watch.js";
export { LiveExecutor, type ExecutorSettings } from "./engine/executor.js";
export {
  type KillBackend,
  type TaskTarget,
  type TaskKillOptions,
  type TaskKillOutcome,
  type CgroupKillOutcome,
  type KillNotice,
  type MreleaseReport,
} from "./os/kill-port.js";
export { LinuxBackend } from "./os/backend.js";
export { protectSelf, type SelfProtection } from "./daemon/self-protect.js";

// Reports.
export { dumpSnapshot, rankTasks, DUMP_SCHEMA, type Dump, type DumpCgroup, type DumpTask, type RankedTask } from "./report/dump.js";

// The command line, for embedding and tests.
export { runCli, EXIT, type CliContext } from "./cli/cli.js";
