/**
 * Validated plain configuration → what the engine and the daemon run: policies looked up or
 * loaded and their options parsed, regular expressions compiled, triggers as a discriminated
 * union, kill settings in the daemon's units. Errors (an unknown policy, options a policy
 * rejects, a policy file that does not load) are all collected and thrown as one ConfigError,
 * placed in the file when a ConfigSource is given.
 *
 * The policy registry and the file loader are injected: the caller wires the built-ins and the
 * real loader, tests pass their own.
 */
import * as path from "node:path";
import type { Attachment, EngineOptions } from "../engine/engine.js";
import type { Protections } from "../engine/verify.js";
import type { LogLevel } from "../log.js";
import { type CgroupPath, ROOT_CGROUP, cgroupPath } from "../os/paths.js";
import type { Policy } from "../engine/policy.js";
import { kernelPolicy } from "../policy/kernel.js";
import { pathGlobToRegExp, isPathGlob } from "./glob.js";
import { type ConfigIssue, ConfigError, type ConfigSource, issueAt, sortByPlace, warningAt } from "./issues.js";
import type { ConfigPath } from "./locate.js";
import { type AttachConfig, type MemoryEventName, type OomkitConfig, POLICY_FILE_EXTENSIONS, type TriggerConfig } from "./schema.js";
import { didYouMean } from "./suggest.js";

export type LoadPolicyFile = (file: string, opts: { enforceOwnership: boolean; warn: (msg: string) => void }) => Policy;

export interface CompileDeps {
  /** Built-in policies by name (src/policy/builtins.ts's BUILTIN_POLICIES). */
  readonly builtins: ReadonlyMap<string, Policy>;
  readonly loadPolicyFile: LoadPolicyFile;
  /** The daemon refuses policy files with unsafe ownership; check and explain only warn. */
  readonly enforceOwnership: boolean;
  /** From parseConfig: places errors and warnings in the file. */
  readonly source?: ConfigSource;
  /** Relative policy file paths are resolved here (the configuration file's folder); default: the working directory. */
  readonly baseDir?: string;
}

/** Where an attachment's policy came from, for summaries and logs. */
export type PolicyOrigin = { readonly kind: "builtin" } | { readonly kind: "file"; readonly file: string };

export interface CompiledAttachment extends Attachment {
  readonly origin: PolicyOrigin;
  /** `[attach.options]` as written, before parseOptions: what `explain --policy` hands a replacement policy. */
  readonly rawOptions: Readonly<Record<string, unknown>>;
}

/** The EngineOptions the configuration decides (the daemon adds victims, history and logger). */
export interface CompiledEngine extends EngineOptions {
  readonly attachments: readonly CompiledAttachment[];
  readonly defaultPolicy: { readonly policy: Policy; readonly options: unknown };
  readonly protections: Protections;
  readonly policyDeadlineMs: number;
  readonly defaultPolicyDeadlineMs: number;
}

/** Which cgroups a trigger watches. "/" is the whole machine (/proc/pressure/memory, /proc/meminfo). */
export type TriggerWhere =
  | { readonly kind: "machine" }
  | { readonly kind: "cgroup"; readonly path: CgroupPath }
  /** Every cgroup whose path matches, followed as cgroups come and go. */
  | { readonly kind: "glob"; readonly glob: string; readonly regex: RegExp };

/** A MemAvailable or SwapFree threshold; with both given, the lower applies (earlyoom's rule). */
export interface MemoryThreshold {
  readonly belowPercent: number | undefined;
  readonly belowBytes: number | undefined;
}

interface TriggerCommon {
  /** As configured, or made up from the trigger ("psi:memory full 200ms/2000ms"); the cause's `trigger`. */
  readonly name: string;
  readonly where: TriggerWhere;
  /** `trigger[2]` and its place in the file, for logs. */
  readonly origin: string;
}

export type TriggerSpec =
  /** A kernel PSI trigger on memory.pressure ("<stall> <thresholdUsec> <windowUsec>"), waited on with POLLPRI. */
  | (TriggerCommon & {
      readonly kind: "psi";
      readonly stall: "some" | "full";
      readonly thresholdUsec: number;
      readonly windowUsec: number;
      /** The trigger must keep firing for this long before an OOM is declared. */
      readonly sustainedMs: number | undefined;
    })
  /**
   * Machine only. Fires when MemAvailable is at or below its threshold AND SwapFree is at or
   * below its own (earlyoom); the swap condition is ignored when the machine has no swap.
   * A trigger with only swapFree never fires on a machine without swap.
   */
  | (TriggerCommon & {
      readonly kind: "memory-threshold";
      readonly memAvailable: MemoryThreshold | undefined;
      readonly swapFree: MemoryThreshold | undefined;
      readonly sustainedMs: number | undefined;
    })
  /** Fires when any of these memory.events counters rises. */
  | (TriggerCommon & { readonly kind: "memory-events"; readonly events: readonly MemoryEventName[] })
  /**
   * Sets memory.high this far below memory.max (restored when oomkit stops), and fires when the
   * cgroup's memory.events "high" counter rises: oomkit acts while the kernel only throttles.
   */
  | (TriggerCommon & { readonly kind: "guard-band"; readonly margin: { readonly bytes: number } | { readonly percent: number } });

export interface KillSettings {
  /** At most `maxKills` kills in any `perMs` window; beyond it oomkit stands back and the kernel remains the last resort. */
  readonly rateLimit: { readonly maxKills: number; readonly perMs: number };
  /** After an action, no new action in an overlapping scope for this long. */
  readonly postActionDelayMs: number;
  /** A victim is pending until it exits or this passes. */
  readonly victimTimeoutMs: number;
  /** SIGTERM first, then SIGKILL after this long; 0 = SIGKILL at once. */
  readonly sigtermGraceMs: number;
  readonly killProcessGroup: boolean;
  /** Run before each kill (argv, no shell), waited on at most timeoutMs. */
  readonly preKillHook: { readonly command: readonly string[]; readonly timeoutMs: number } | undefined;
}

export interface ReportSettings {
  /** The JSON-lines episode log, or undefined for none. */
  readonly eventLog: { readonly path: string; readonly maxBytes: number; readonly keep: number } | undefined;
  /** Where /metrics is served, or undefined for nowhere. */
  readonly metrics: { readonly host: string; readonly port: number } | undefined;
  readonly kernelKills: boolean;
  readonly maxCgroupLabels: number;
}

export interface CompiledConfig {
  readonly engine: CompiledEngine;
  readonly triggers: readonly TriggerSpec[];
  readonly kill: KillSettings;
  readonly dryRun: boolean;
  /** Decide ahead of the trouble on the warm model, and act on the standing plan (daemon/standing.ts). */
  readonly standingDecisions: boolean;
  /** "follow": the standing victims get oom_score_adj 1000, so the kernel's OOM killer picks them too (daemon/follow.ts). */
  readonly kernelFallback: "off" | "follow";
  readonly logLevel: LogLevel;
  readonly report: ReportSettings;
  /** Placed lines (a policy file's ownership when not enforced, ...). */
  readonly warnings: readonly string[];
}

/** Compiles a validated configuration; throws ConfigError listing every error. */
export function compileConfig(config: OomkitConfig, deps: CompileDeps): CompiledConfig {
  const { source } = deps;
  const issues: ConfigIssue[] = [];
  const warnings: string[] = [];
  const attachments: CompiledAttachment[] = [];
  config.attach.forEach((a, k) => {
    const at = compileAttachment(a, ["attach", k], deps, issues, warnings);
    if (at) attachments.push(at);
  });
  if (config.kernel_fallback === "follow" && !config.standing_decisions) {
    issues.push(issueAt(source, ["kernel_fallback"], 'kernel_fallback = "follow" follows the standing decisions: it needs standing_decisions = true'));
  }
  if (issues.length > 0) throw new ConfigError(source?.fileName ?? "<configuration>", sortByPlace(issues));
  const defaultPolicy = deps.builtins.get("kernel") ?? kernelPolicy;
  return {
    engine: {
      attachments,
      defaultPolicy: { policy: defaultPolicy, options: defaultPolicy.parseOptions ? defaultPolicy.parseOptions({}) : undefined },
      protections: {
        omitCgroups: config.protect.cgroups,
        omitCommands: config.protect.commands.map((re) => new RegExp(re)),
        omitExecutables: config.protect.executables.map((pattern) => ({ pattern, regex: pathGlobToRegExp(pattern) })),
        trustedUids: config.protect.trusted_uids,
        omitXattrs: config.protect.xattrs,
        tmpfsRoots: config.protect.tmpfs_roots.map((r) => path.resolve(r)),
      },
      policyDeadlineMs: config.policy_deadline_ms,
      defaultPolicyDeadlineMs: config.default_policy_deadline_ms,
      killProcessGroup: config.kill.kill_process_group,
    },
    triggers: config.trigger.map((t, k) => compileTrigger(t, k, source)),
    kill: {
      rateLimit: { maxKills: config.kill.max_kills, perMs: config.kill.per_seconds * 1000 },
      postActionDelayMs: config.kill.post_action_delay_ms,
      victimTimeoutMs: config.kill.victim_timeout_ms,
      sigtermGraceMs: config.kill.sigterm_grace_ms,
      killProcessGroup: config.kill.kill_process_group,
      preKillHook: config.kill.pre_kill_hook && { command: config.kill.pre_kill_hook.command, timeoutMs: config.kill.pre_kill_hook.timeout_ms },
    },
    dryRun: config.dry_run,
    standingDecisions: config.standing_decisions,
    kernelFallback: config.kernel_fallback,
    logLevel: config.log_level,
    report: compileReport(config.report),
    warnings,
  };
}

function compileAttachment(a: AttachConfig, at: ConfigPath, deps: CompileDeps, issues: ConfigIssue[], warnings: string[]): CompiledAttachment | undefined {
  const { source } = deps;
  let policy: Policy;
  let origin: PolicyOrigin;
  if (a.policy !== undefined) {
    const builtin = deps.builtins.get(a.policy);
    if (!builtin) {
      const looksLikeFile = a.policy.includes("/") || POLICY_FILE_EXTENSIONS.some((e) => a.policy?.endsWith(e));
      const hint = looksLikeFile ? ` (for a policy file, write file = "${a.policy}")` : didYouMean(a.policy, deps.builtins.keys());
      issues.push(issueAt(source, [...at, "policy"], `unknown policy "${a.policy}"${hint}; built-in policies: ${[...deps.builtins.keys()].join(", ")}`));
      return undefined;
    }
    policy = builtin;
    origin = { kind: "builtin" };
  } else {
    const file = path.resolve(deps.baseDir ?? process.cwd(), a.file ?? "");
    try {
      policy = deps.loadPolicyFile(file, { enforceOwnership: deps.enforceOwnership, warn: (msg) => warnings.push(warningAt(source, [...at, "file"], msg)) });
    } catch (err) {
      const message = (err as Error)?.message ?? String(err);
      // The loader's messages mostly name the file already: name it once.
      issues.push(issueAt(source, [...at, "file"], message.includes(file) ? message : `${file}: ${message}`));
      return undefined;
    }
    origin = { kind: "file", file };
  }
  const optionsAt = a.options === undefined ? at : [...at, "options"];
  let options: unknown = a.options ?? {};
  if (policy.parseOptions) {
    try {
      options = policy.parseOptions(a.options ?? {});
    } catch (err) {
      issues.push(...optionIssues(err, policy, optionsAt, source));
      return undefined;
    }
  } else if (a.options !== undefined && Object.keys(a.options).length > 0) {
    issues.push(issueAt(source, optionsAt, `policy "${policy.name}" takes no options`));
    return undefined;
  }
  return { cgroup: a.cgroup, policy, options, origin, rawOptions: a.options ?? {} };
}

/** A policy's parseOptions error; a zod error (from the policy's own schema) is placed key by key. */
/**
 * The option keys a policy knows at `path` inside its options, read from what its parseOptions
 * makes of no options (the defaults fill every key); none when it refuses no options.
 */
function knownKeys(policy: Policy, path: readonly unknown[]): string[] {
  let v: unknown;
  try {
    v = policy.parseOptions?.({});
  } catch {
    return [];
  }
  for (const k of path) v = typeof v === "object" && v !== null && (typeof k === "string" || typeof k === "number") ? (v as Record<string, unknown>)[k] : undefined;
  return typeof v === "object" && v !== null && !Array.isArray(v) ? Object.keys(v) : [];
}

function optionIssues(err: unknown, p: Policy, at: ConfigPath, source: ConfigSource | undefined): ConfigIssue[] {
  const policy = p.name;
  const e = err as { issues?: unknown; cause?: { issues?: unknown } } | null;
  const zodLike = e?.issues ?? e?.cause?.issues;
  if (Array.isArray(zodLike) && zodLike.length > 0 && zodLike.every((i) => typeof i?.message === "string" && Array.isArray(i?.path))) {
    return zodLike.flatMap((i: { message: string; path: unknown[]; code?: unknown; keys?: unknown }) => {
      const path = [...at, ...i.path.filter((p): p is string | number => typeof p === "string" || typeof p === "number")];
      // An unknown key is placed at its own line, one issue per key.
      if (i.code === "unrecognized_keys" && Array.isArray(i.keys) && i.keys.every((k) => typeof k === "string")) {
        const known = knownKeys(p, i.path);
        return (i.keys as string[]).map((k) => issueAt(source, [...path, k], `policy "${policy}": unknown option "${k}"${didYouMean(k, known)}`));
      }
      return [issueAt(source, path, `policy "${policy}": ${i.message}`)];
    });
  }
  return [issueAt(source, at, `policy "${policy}": ${(err as Error)?.message ?? String(err)}`)];
}

function compileReport(r: OomkitConfig["report"]): ReportSettings {
  let metrics: ReportSettings["metrics"];
  if (r.metrics_listen !== "") {
    const i = r.metrics_listen.lastIndexOf(":");
    metrics = { host: r.metrics_listen.slice(0, i).replace(/^\[|\]$/g, ""), port: Number(r.metrics_listen.slice(i + 1)) };
  }
  return {
    eventLog: r.event_log === "" ? undefined : { path: r.event_log, maxBytes: r.event_log_max_bytes, keep: r.event_log_keep },
    metrics,
    kernelKills: r.kernel_kills,
    maxCgroupLabels: r.max_cgroup_labels,
  };
}

function whereOf(cgroup: string): TriggerWhere {
  if (isPathGlob(cgroup)) return { kind: "glob", glob: cgroup, regex: pathGlobToRegExp(cgroup) };
  const p = cgroupPath(cgroup);
  return p === ROOT_CGROUP ? { kind: "machine" } : { kind: "cgroup", path: p };
}

const percentOrBytes = (t: { below_percent?: number | undefined; below_bytes?: number | undefined }): MemoryThreshold => ({
  belowPercent: t.below_percent,
  belowBytes: t.below_bytes,
});

function thresholdName(label: string, t: MemoryThreshold | undefined): string[] {
  if (!t) return [];
  const parts = [t.belowPercent !== undefined ? `${t.belowPercent}%` : undefined, t.belowBytes !== undefined ? `${t.belowBytes}B` : undefined];
  return [`${label}<=${parts.filter((p) => p !== undefined).join("|")}`];
}

function compileTrigger(t: TriggerConfig, k: number, source: ConfigSource | undefined): TriggerSpec {
  const place = source?.locator.locate(["trigger", k]);
  const common = { where: whereOf(t.cgroup), origin: `trigger[${k}]${place ? ` (${source?.fileName}:${place.line})` : ""}` };
  if (t.psi) {
    return { ...common, kind: "psi", name: t.name ?? `psi:memory ${t.psi.stall} ${t.psi.threshold_ms}ms/${t.psi.window_ms}ms`, stall: t.psi.stall, thresholdUsec: t.psi.threshold_ms * 1000, windowUsec: t.psi.window_ms * 1000, sustainedMs: t.sustained_ms };
  }
  if (t.memory_events) return { ...common, kind: "memory-events", name: t.name ?? `memory.events:${t.memory_events.join(",")}`, events: t.memory_events };
  if (t.guard_band) {
    const margin = t.guard_band.margin_bytes !== undefined ? { bytes: t.guard_band.margin_bytes } : { percent: t.guard_band.margin_percent ?? 0 };
    return { ...common, kind: "guard-band", name: t.name ?? `guard_band:${"bytes" in margin ? `${margin.bytes}B` : `${margin.percent}%`}`, margin };
  }
  const memAvailable = t.mem_available && percentOrBytes(t.mem_available);
  const swapFree = t.swap_free && percentOrBytes(t.swap_free);
  return {
    ...common,
    kind: "memory-threshold",
    name: t.name ?? [...thresholdName("mem_available", memAvailable), ...thresholdName("swap_free", swapFree)].join(","),
    memAvailable,
    swapFree,
    sustainedMs: t.sustained_ms,
  };
}
