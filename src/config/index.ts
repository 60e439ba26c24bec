/**
 * The configuration: file → validated plain form (parseConfig) → compiled (compileConfig).
 * docs/configuration.md documents the file; this is the code's way in.
 */
export type { ReportSettings } from "./compile.js";
export { type ParsedConfig, parseConfig, parseTomlChecked } from "./load.js";
export { DEFAULT_CONFIG_NAME, DEFAULT_CONFIG_TOML, defaultConfig } from "./defaults.js";
export {
  type CompileDeps,
  type CompiledAttachment,
  type CompiledConfig,
  type CompiledEngine,
  type KillSettings,
  type LoadPolicyFile,
  type MemoryThreshold,
  type PolicyOrigin,
  type TriggerSpec,
  type TriggerWhere,
  compileConfig,
} from "./compile.js";
export { type ConfigIssue, ConfigError, type ConfigSource, formatIssue } from "./issues.js";
export { type ConfigPath, type Place } from "./locate.js";
export {
  type AttachConfig,
  type KillConfig,
  type MemoryEventName,
  type OomkitConfig,
  type ProtectConfig,
  type TriggerConfig,
  KILL_DEFAULTS,
  MEMORY_EVENTS,
  PSI_UNPRIVILEGED_WINDOW_STEP_MS,
  PSI_WINDOW_MAX_MS,
  PSI_WINDOW_MIN_MS,
  configSchema,
} from "./schema.js";
export { parseSize } from "./size.js";
export { pathGlobToRegExp } from "./glob.js";
