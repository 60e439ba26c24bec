/**
 * `oomkit simulate SCENARIO`: the daemon, with a configuration, on a simulated machine in
 * virtual time (src/simulate/). Prints each episode as the daemon reports it and a summary; with
 * --compare, one run per configuration on the same seed, summarised side by side.
 */
import * as fs from "node:fs";
import type { CompiledConfig } from "../config/index.js";
import { OomkitError } from "../errors.js";
import { ROOT_CGROUP } from "../os/paths.js";
import { summarize } from "../report/human.js";
import { compareScenario } from "../simulate/run.js";
import type { SimComparison, SimRunResult } from "../simulate/result.js";
import { type Scenario, parseScenario } from "../simulate/scenario.js";
import { parseFlags } from "./args.js";
import type { Command } from "./command.js";
import { withPolicy } from "./explain.js";
import { formatBytes, table } from "./format.js";
import { loadEngineSetup } from "./setup.js";
import { writeReport } from "./simulate-report.js";

const USAGE = `usage: oomkit simulate SCENARIO [--config FILE] [--policy FILE] [--compare FILE...] [--json] [--report FILE.html]

Runs the daemon on a simulated machine described by SCENARIO (a TOML file; docs/simulator.md),
in virtual time: its triggers, standing decisions, action gate, policies and kill path are the
real ones; the machine, its kernel and its OOM killer are the model's. Prints every episode as
the daemon reports it, then a summary: first kill, victims, whether the scenario's expected
victim died, stall accumulated, the kernel's kills.

  --config FILE     the configuration (default: the built-in default)
  --policy FILE     attach this policy file (.ts/.js) at "/" for the run, replacing the
                    configuration's policy there
  --compare FILE... run once per configuration (each FILE, or "default" for the built-in one)
                    and show the summaries side by side; takes the place of --config
  --json            print the result (oomkit.sim-compare/1: series, thresholds, kills, records)
  --report FILE     write the run (or comparison) as one self-contained HTML page`;

/** `--compare a b c`: the files after --compare up to the next flag; the rest as parseArgs sees it. */
function splitCompare(args: readonly string[]): { rest: string[]; compare: string[] | undefined } {
  const i = args.indexOf("--compare");
  if (i < 0) return { rest: [...args], compare: undefined };
  let j = i + 1;
  while (j < args.length && !(args[j] as string).startsWith("--")) j++;
  const compare = args.slice(i + 1, j);
  return { rest: [...args.slice(0, i), ...args.slice(j)], compare };
}

export const simulateCommand: Command = {
  name: "simulate",
  summary: "run the daemon on a simulated machine (a scenario file) in virtual time",
  usage: USAGE,
  async run(args, ctx) {
    const split = splitCompare(args);
    const { values, positionals } = parseFlags("simulate", split.rest, { config: { type: "string" }, policy: { type: "string" }, json: { type: "boolean" }, report: { type: "string" } }, true);
    if (positionals.length !== 1) throw new OomkitError("E_USAGE", `simulate takes one scenario file${positionals.length > 1 ? ` (got ${positionals.join(", ")}; --compare takes the configurations)` : ""} (see oomkit simulate --help)`);
    if (split.compare !== undefined && split.compare.length === 0) throw new OomkitError("E_USAGE", "--compare needs at least one configuration file (or \"default\")");
    if (split.compare !== undefined && values.config !== undefined) throw new OomkitError("E_USAGE", "--compare names every configuration to run: drop --config, or list it after --compare");
    const file = positionals[0] as string;
    const warn = (m: string) => ctx.stderr(`oomkit simulate: warning: ${m}\n`);
    const scenario = loadScenario(file);
    // Policy files are code that runs here: the ownership rules of explain (warn, not refuse).
    const load = (cfg: string | undefined): CompiledConfig => {
      const c = loadEngineSetup(cfg, { enforceOwnership: false, warn });
      if (values.policy === undefined) return c;
      const attachments = withPolicy(c.engine.attachments, ROOT_CGROUP, values.policy, undefined, warn).map((a) => ({ ...a, origin: { kind: "file" as const, file: values.policy as string }, rawOptions: {} }));
      return { ...c, engine: { ...c.engine, attachments } };
    };
    const names = split.compare ?? [values.config ?? "default"];
    const configs = names.map((n) => ({ label: n, config: load(n === "default" ? undefined : n) }));
    const result = await compareScenario(scenario, configs, {
      onEpisode: values.json ? undefined : (r) => ctx.stdout(`${summarize(r)}\n`),
      onPolicyFault: (call) => warn(`${call.policy}: ${call.hook} ${call.outcome}${call.error ? `: ${call.error}` : ""}`),
    });
    if (values.json) ctx.stdout(`${JSON.stringify(result)}\n`);
    else ctx.stdout(`\n${renderSummary(scenario, result)}\n`);
    if (values.report !== undefined) writeReport(values.report, result);
    return 0;
  },
};

function loadScenario(file: string): Scenario {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    throw new OomkitError("E_NO_SUCH_PATH", `scenario ${file} cannot be read: ${(err as Error).message}`, { cause: err });
  }
  return parseScenario(text, file);
}

/** The first three victims, then how many more (a fork storm has hundreds). */
function victimsText(v: readonly string[]): string {
  if (v.length === 0) return "none";
  return v.length <= 3 ? v.join("; ") : `${v.slice(0, 3).join("; ")}; +${v.length - 3} more`;
}

const secs = (ms: number | null) => (ms === null ? "-" : `${(ms / 1000).toFixed(2)} s`);

/** One column per configuration. */
export function renderSummary(scenario: Scenario, c: SimComparison): string {
  const runs = c.runs;
  const row = (name: string, f: (r: SimRunResult) => string) => [name, ...runs.map(f)];
  const s = (r: SimRunResult) => r.summary;
  const rows = [
    ["", ...runs.map((r) => r.label)],
    row("first kill", (r) => (s(r).firstKillMs === null ? "none" : `${secs(s(r).firstKillMs)} by ${s(r).firstKillBy}`)),
    row("victims", (r) => victimsText(s(r).victims)),
    row("expected", (r) => `${s(r).expectation.verdict}${s(r).expectation.verdict === "unjudged" ? "" : `: ${s(r).expectation.why}`}`),
    row("oomkit kills", (r) => String(s(r).oomkitKills)),
    row("kernel kills", (r) => String(s(r).kernelKills)),
    row("stall some/full", (r) => `${secs(s(r).stallSomeMs)} / ${secs(s(r).stallFullMs)}`),
    row("episodes", (r) => String(s(r).episodes)),
  ];
  const m = runs[0]?.scenario;
  const head = `scenario ${scenario.name} (seed ${scenario.seed}, ${secs(scenario.durationMs)}${m ? `, ${formatBytes(m.memTotalBytes)} RAM, ${m.swapTotalBytes > 0 ? `${formatBytes(m.swapTotalBytes)} swap` : "no swap"}` : ""})`;
  return `${head}\n${table(rows)}`;
}
