import * as fs from "node:fs";
import * as path from "node:path";
import { type CompiledConfig, type KillSettings, type TriggerWhere, compileConfig } from "../config/compile.js";
import { DEFAULT_CONFIG_NAME, DEFAULT_CONFIG_TOML } from "../config/defaults.js";
import { type ConfigIssue, ConfigError, formatIssue } from "../config/issues.js";
import { parseConfig } from "../config/load.js";
import { type SetupOptions, checkFileTrust } from "./setup.js";
import { OomkitError, errnoCode, isVanished } from "../errors.js";
import { BUILTIN_POLICIES } from "../policy/builtins.js";
import { loadPolicyFile } from "../policy/loader.js";
import { type CliContext, type Command, EXIT } from "./command.js";
import { parseFlags } from "./args.js";

const USAGE = `usage: oomkit check [--config FILE] [--json]

Reads a configuration file and validates it the way the daemon would: the TOML, every key and
value, policy names, each policy's options, and policy files (loaded, each in its own realm, and
refused as the daemon refuses them — not owned by root or you, or writable by group or others —
before any of their code runs). Every error is printed with its place in the file. Without
--config, checks the built-in default configuration.

  --config FILE  the configuration file (TOML; docs/configuration.md)
  --json         print the result as JSON (schema "oomkit.check/1")

Exit status: 0 valid (warnings may be printed), 4 invalid, 3 the file cannot be read.`;

export const CHECK_SCHEMA = "oomkit.check/1";

/** What `oomkit check --json` prints. */
export interface CheckResult {
  readonly schema: typeof CHECK_SCHEMA;
  readonly file: string;
  readonly valid: boolean;
  readonly errors: readonly ConfigIssue[];
  readonly warnings: readonly string[];
  readonly summary: CheckSummary | null;
}

export interface CheckSummary {
  readonly attachments: readonly { readonly cgroup: string; readonly policy: string; readonly file: string | null }[];
  readonly defaultPolicy: string;
  readonly triggers: readonly { readonly name: string; readonly kind: string; readonly cgroup: string }[];
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
  run(args, ctx) {
    const { values } = parseFlags("check", args, { config: { type: "string" }, json: { type: "boolean" } });
    const file = values.config;
    const text = file === undefined ? DEFAULT_CONFIG_TOML : readConfig(file);
    const name = file ?? DEFAULT_CONFIG_NAME;
    const result = check(text, name, file === undefined ? undefined : path.dirname(path.resolve(file)));
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
    return { schema: CHECK_SCHEMA, file: fileName, valid: true, errors: [], warnings, summary: summarize(compiled) };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return { schema: CHECK_SCHEMA, file: fileName, valid: false, errors: err.issues, warnings, summary: null };
  }
}

const whereText = (w: TriggerWhere): string => (w.kind === "machine" ? "/" : w.kind === "cgroup" ? w.path : w.glob);

function summarize(c: CompiledConfig): CheckSummary {
  const p = c.engine.protections;
  return {
    attachments: c.engine.attachments.map((a) => ({ cgroup: a.cgroup, policy: a.policy.name, file: a.origin.kind === "file" ? a.origin.file : null })),
    defaultPolicy: c.engine.defaultPolicy.policy.name,
    triggers: c.triggers.map((t) => ({ name: t.name, kind: t.kind, cgroup: whereText(t.where) })),
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
  if (!r.valid || r.summary === null) {
    for (const e of r.errors) ctx.stderr(`${formatIssue(e)}\n`);
    ctx.stderr(`oomkit check: ${r.file}: ${r.errors.length} error${r.errors.length === 1 ? "" : "s"}\n`);
    return;
  }
  const s = r.summary;
  const out = [`oomkit check: ${r.file} is valid${r.warnings.length > 0 ? ` (${r.warnings.length} warning${r.warnings.length === 1 ? "" : "s"})` : ""}`];
  out.push(`policies (nearest attached first, then the default):`);
  for (const a of s.attachments) out.push(`  ${a.cgroup.padEnd(24)} ${a.policy}${a.file === null ? "" : ` (${a.file})`}`);
  out.push(`  ${"(default)".padEnd(24)} ${s.defaultPolicy}`);
  out.push(`triggers:${s.triggers.length === 0 ? " none" : ""}`);
  for (const t of s.triggers) out.push(`  ${t.cgroup.padEnd(24)} ${t.kind}: ${t.name}`);
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
  ctx.stdout(`${out.join("\n")}\n`);
}
