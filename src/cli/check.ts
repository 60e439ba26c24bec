import * as fs from "node:fs";
import * as path from "node:path";
import { type CompiledConfig, type KillSettings, compileConfig } from "../config/compile.js";
import { DEFAULT_CONFIG_NAME, DEFAULT_CONFIG_TOML } from "../config/defaults.js";
import { type ConfigIssue, ConfigError, formatIssue } from "../config/issues.js";
import { parseConfig } from "../config/load.js";
import { type SetupOptions, checkFileTrust } from "./setup.js";
import { OomkitError, errnoCode, isVanished } from "../errors.js";
import { BUILTIN_POLICIES } from "../policy/builtins.js";
import { loadPolicyFile } from "../policy/loader.js";
import { type CliContext, type Command, EXIT } from "./command.js";
import { parseFlags } from "./args.js";
import { type TriggerSummary, summarizeTrigger } from "./trigger-summary.js";
import { type PolicyRun, neverConsulted, runOnFixture } from "./check-root.js";
import { type TimelineCheck, type TimelineRun, runOnTimeline } from "./check-timeline.js";
import { Timeline, isTimeline } from "../timeline/index.js";

const USAGE = `usage: oomkit check [--config FILE] [--root DIR|TIMELINE] [--json]

Reads a configuration file and validates it the way the daemon would: the TOML, every key and
value, policy names, each policy's options, and policy files (loaded, each in its own realm, and
refused as the daemon refuses them — not owned by root or you, or writable by group or others —
before any of their code runs). Every error is printed with its place in the file. Without
--config, checks the built-in default configuration. Warns about a policy attached where no
configured trigger can ever consult it.

With --root DIR, also runs the configured policies on that fixture tree (oomkit record, or
writeMachine of oomkit/testing) for an OOM of the machine, in each attachment's cgroup and in
each trigger's, carrying out nothing: a policy that throws, runs past its deadline, returns no
valid plan or has a target refused by the verifier makes the configuration invalid.

With --root TIMELINE (oomkit record --timeline, writeTimeline of oomkit/testing), plays the
timeline frame by frame (docs/timelines.md): rates from the second frame, the online/offline
hooks as cgroups come and go, the configured psi triggers' events to handlePressure, and the
chain for an OOM in each of those scopes at every frame; a fault in any frame or hook is an error.

  --config FILE  the configuration file (TOML; docs/configuration.md)
  --root DIR     run the policies on this fixture folder, or over this timeline
  --json         print the result as JSON (schema "oomkit.check/1")

Exit status: 0 valid (warnings may be printed), 4 invalid (or a timeline that fails its checks),
3 the file or DIR cannot be read.`;

export const CHECK_SCHEMA = "oomkit.check/1";

/** What `oomkit check --json` prints. */
export interface CheckResult {
  readonly schema: typeof CHECK_SCHEMA;
  readonly file: string;
  readonly valid: boolean;
  readonly errors: readonly ConfigIssue[];
  readonly warnings: readonly string[];
  readonly summary: CheckSummary | null;
  /** With --root: what the chain did for an OOM in each scope tried (null without --root, or when invalid). */
  readonly runs: readonly (PolicyRun | TimelineRun)[] | null;
  /** With --root TIMELINE: the frames played and what the hooks did (null otherwise). */
  readonly timeline: TimelineSummary | null;
}

export type TimelineSummary = Omit<TimelineCheck, "runs">;

export interface CheckSummary {
  readonly attachments: readonly { readonly cgroup: string; readonly policy: string; readonly file: string | null }[];
  readonly defaultPolicy: string;
  readonly triggers: readonly TriggerSummary[];
  readonly protections: {
    readonly cgroups: readonly string[];
    readonly commands: readonly string[];
    readonly executables: readonly string[];
    /** The real uids whose tasks commands and executables spare. */
    readonly trustedUids: readonly number[];
    readonly xattrs: readonly string[];
    readonly tmpfsRoots: readonly string[];
  };
  readonly kill: KillSettings;
  readonly dryRun: boolean;
  readonly logLevel: string;
}

export const checkCommand: Command = {
  name: "check",
  summary: "validate a configuration file and report every error with its place",
  usage: USAGE,
  async run(args, ctx) {
    const { values } = parseFlags("check", args, { config: { type: "string" }, root: { type: "string" }, json: { type: "boolean" } });
    const file = values.config;
    const text = file === undefined ? DEFAULT_CONFIG_TOML : readConfig(file);
    const name = file ?? DEFAULT_CONFIG_NAME;
    const timeline = values.root !== undefined && isTimeline(values.root) ? Timeline.open(values.root) : undefined;
    const host = values.root === undefined || timeline !== undefined ? undefined : ctx.makeHost(values.root);
    const { result: checked, compiled } = checkCompiled(text, name, file === undefined ? undefined : path.dirname(path.resolve(file)));
    let result = checked;
    if (timeline !== undefined && compiled !== undefined) {
      const { runs, ...summary } = await runOnTimeline(compiled, timeline);
      result = { ...result, runs, timeline: summary, valid: runs.every((r) => r.faults.length === 0) && summary.hookFaults.length === 0 };
    } else if (host !== undefined && compiled !== undefined) {
      const runs = await runOnFixture(compiled, host);
      result = { ...result, runs, valid: runs.every((r) => r.faults.length === 0) };
    }
    if (values.json) ctx.stdout(`${JSON.stringify(result, null, 2)}\n`);
    else render(result, ctx);
    return result.valid ? EXIT.ok : EXIT.config;
  },
};

function readConfig(file: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (err) {
    if (isVanished(err)) throw new OomkitError("E_NO_SUCH_PATH", `no configuration file ${file}`, { cause: err });
    throw new OomkitError("E_HOST_IO", `cannot read ${file}: ${errnoCode(err) ?? (err as Error).message}`, { cause: err });
  }
}

/** Parse, validate and compile, with the daemon's ownership rules for policy files. */
export function check(text: string, fileName: string, baseDir: string | undefined): CheckResult {
  return checkCompiled(text, fileName, baseDir).result;
}

function checkCompiled(text: string, fileName: string, baseDir: string | undefined): { result: CheckResult; compiled?: CompiledConfig } {
  const warnings: string[] = [];
  try {
    const trust: SetupOptions = { enforceOwnership: false, warn: (m) => warnings.push(m) };
    if (baseDir !== undefined) checkFileTrust(fileName, "configuration file", trust);
    const parsed = parseConfig(text, fileName);
    warnings.push(...parsed.warnings);
    const compiled = compileConfig(parsed.config, { builtins: BUILTIN_POLICIES, loadPolicyFile, enforceOwnership: true, source: parsed.source, baseDir });
    warnings.push(...compiled.warnings);
    const hook = compiled.kill.preKillHook?.command[0];
    if (hook !== undefined) checkFileTrust(hook, "pre-kill hook program", trust);
    warnings.push(...neverConsulted(compiled));
    return { result: { schema: CHECK_SCHEMA, file: fileName, valid: true, errors: [], warnings, summary: summarize(compiled), runs: null, timeline: null }, compiled };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return { result: { schema: CHECK_SCHEMA, file: fileName, valid: false, errors: err.issues, warnings, summary: null, runs: null, timeline: null } };
  }
}

function summarize(c: CompiledConfig): CheckSummary {
  const p = c.engine.protections;
  return {
    attachments: c.engine.attachments.map((a) => ({ cgroup: a.cgroup, policy: a.policy.name, file: a.origin.kind === "file" ? a.origin.file : null })),
    defaultPolicy: c.engine.defaultPolicy.policy.name,
    triggers: c.triggers.map(summarizeTrigger),
    protections: {
      cgroups: p.omitCgroups,
      commands: p.omitCommands.map((r) => r.source),
      executables: p.omitExecutables.map((x) => x.pattern),
      trustedUids: p.trustedUids,
      xattrs: p.omitXattrs,
      tmpfsRoots: p.tmpfsRoots,
    },
    kill: c.kill,
    dryRun: c.dryRun,
    logLevel: c.logLevel,
  };
}

const list = (xs: readonly string[]): string => (xs.length === 0 ? "none" : xs.join(", "));

function render(r: CheckResult, ctx: CliContext): void {
  for (const w of r.warnings) ctx.stderr(`warning: ${w}\n`);
  if (r.summary === null) {
    for (const e of r.errors) ctx.stderr(`${formatIssue(e)}\n`);
    ctx.stderr(`oomkit check: ${r.file}: ${r.errors.length} error${r.errors.length === 1 ? "" : "s"}\n`);
    return;
  }
  if (r.runs !== null) {
    const faults = [...r.runs.flatMap((run) => run.faults.map((f) => `an OOM in ${run.scope}: ${f.message}`)), ...(r.timeline?.hookFaults.map((f) => f.message) ?? [])];
    for (const f of faults) ctx.stderr(`error: ${f}\n`);
    if (!r.valid) {
      ctx.stderr(`oomkit check: ${r.file}: ${faults.length} polic${faults.length === 1 ? "y fault" : "y faults"} on the ${r.timeline ? "timeline" : "fixture"}\n`);
      return;
    }
  }
  const s = r.summary;
  const out = [`oomkit check: ${r.file} is valid${r.warnings.length > 0 ? ` (${r.warnings.length} warning${r.warnings.length === 1 ? "" : "s"})` : ""}`];
  out.push(`policies (nearest attached first, then the default):`);
  for (const a of s.attachments) out.push(`  ${a.cgroup.padEnd(24)} ${a.policy}${a.file === null ? "" : ` (${a.file})`}`);
  out.push(`  ${"(default)".padEnd(24)} ${s.defaultPolicy}`);
  out.push(`triggers:${s.triggers.length === 0 ? " none" : ""}`);
  for (const t of s.triggers) out.push(`  ${t.cgroup.padEnd(24)} ${t.kind}: ${t.name}: ${t.text}`);
  const p = s.protections;
  const byName = p.commands.length + p.executables.length > 0 ? ` (tasks of uid ${p.trustedUids.length === 0 ? "none" : p.trustedUids.join(", ")} only)` : "";
  out.push(`protected: cgroups ${list(p.cgroups)}; commands ${list(p.commands)}; executables ${list(p.executables)}${byName}; xattrs ${list(p.xattrs)}; tmpfs roots ${list(p.tmpfsRoots)}`);
  const k = s.kill;
  out.push(
    `kill: at most ${k.rateLimit.maxKills} per ${k.rateLimit.perMs / 1000} s; ${k.sigtermGraceMs === 0 ? "SIGKILL at once" : `SIGTERM, SIGKILL after ${k.sigtermGraceMs} ms`}; ` +
      `victim timeout ${k.victimTimeoutMs} ms; post-action delay ${k.postActionDelayMs} ms${k.killProcessGroup ? "; whole process group" : ""}` +
      `${k.preKillHook ? `; hook ${k.preKillHook.command.join(" ")} (${k.preKillHook.timeoutMs} ms)` : ""}`,
  );
  out.push(`dry run: ${s.dryRun ? "yes" : "no"}; log level ${s.logLevel}`);
  if (r.runs !== null && r.timeline !== null) renderTimeline(r.runs, r.timeline, out);
  else if (r.runs !== null) {
    out.push("on the fixture (nothing carried out):");
    for (const run of r.runs) out.push(`  an OOM in ${run.scope.padEnd(14)} ${run.decidedBy === null ? "no policy handled it (the kernel would decide)" : `${run.decidedBy}: ${run.plan.join("; ")}`}`);
  }
  ctx.stdout(`${out.join("\n")}\n`);
}

function renderTimeline(runs: readonly (PolicyRun | TimelineRun)[], t: TimelineSummary, out: string[]): void {
  out.push(`over the timeline: ${t.frames} frames in ${(t.durationMs / 1000).toFixed(1)} s (nothing carried out); ${t.hookCalls} hook calls, ${t.pressureEvents} psi events, ${t.declared} OOMs declared by handlePressure`);
  for (const run of runs) {
    const changes = "changes" in run ? run.changes : [];
    out.push(`  an OOM in ${run.scope}:`);
    for (const c of changes) {
      out.push(`    from frame ${String(c.frame).padEnd(4)} (${(c.atMs / 1000).toFixed(1).padStart(6)} s) ${c.decidedBy === null ? "no policy handled it (the kernel would decide)" : `${c.decidedBy}: ${c.plan.join("; ")}`}`);
    }
  }
}
