/**
 * From a configuration file (or the built-in default) to what the engine and the daemon run:
 * read → parse and validate → compile with the built-in policies and the policy-file loader.
 * The CLI commands (explain, run, check) share this one path.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { OomkitError } from "../errors.js";
import { type CompiledConfig, compileConfig, defaultConfig, parseConfig } from "../config/index.js";
import { BUILTIN_POLICIES } from "../policy/builtins.js";
import { loadPolicyFile } from "../policy/loader.js";
import { trustProblems } from "../os/trust.js";

export interface SetupOptions {
  /**
   * Refuse policy files that root (or this user) does not own or others may write, before any of
   * their code runs. run, check and explain all pass true: each of them executes policy code.
   */
  readonly enforceOwnership: boolean;
  readonly warn: (message: string) => void;
}

/** Reads, validates and compiles a configuration; undefined means the built-in default. */
export function loadEngineSetup(configFile: string | undefined, opts: SetupOptions): CompiledConfig {
  let parsed;
  let baseDir = process.cwd();
  if (configFile === undefined) {
    parsed = defaultConfig();
  } else {
    let text: string;
    try {
      text = fs.readFileSync(configFile, "utf8");
    } catch (err) {
      throw new OomkitError("E_NO_SUCH_PATH", `configuration file ${configFile} cannot be read: ${(err as Error).message}`, { cause: err });
    }
    checkFileTrust(configFile, "configuration file", opts);
    parsed = parseConfig(text, configFile);
    baseDir = path.dirname(path.resolve(configFile));
  }
  for (const w of parsed.warnings) opts.warn(w);
  const compiled = compileConfig(parsed.config, {
    builtins: BUILTIN_POLICIES,
    loadPolicyFile,
    enforceOwnership: opts.enforceOwnership,
    source: parsed.source,
    baseDir,
  });
  for (const w of compiled.warnings) opts.warn(w);
  const hook = compiled.kill.preKillHook?.command[0];
  if (hook !== undefined) checkFileTrust(hook, "pre-kill hook program", opts);
  return compiled;
}

/**
 * A file oomkit obeys or runs as root must be root's and writable by no one else, up to "/"
 * (src/os/trust.ts): the daemon refuses it; explain and check, which act on nothing, warn.
 */
export function checkFileTrust(file: string, what: string, opts: SetupOptions): void {
  const problems = trustProblems(file);
  if (problems.length === 0) return;
  const message = `${what} ${file}: ${problems.join("; ")}`;
  if (opts.enforceOwnership) throw new OomkitError("E_PERMISSION", `${message}; refusing to run as root with it`);
  opts.warn(`${message} (the daemon would refuse it)`);
}
