import { OomkitError } from "../errors.js";
import { type Attachment, Engine } from "../engine/engine.js";
import type { EpisodeRecord } from "../engine/episode.js";
import { describeAction } from "../engine/plan.js";
import { takeSnapshot } from "../engine/snapshot.js";
import { type CgroupPath, cgroupPath } from "../os/paths.js";
import type { CompiledAttachment } from "../config/compile.js";
import { DEFAULT_SOCKET, request } from "../daemon/control.js";
import type { StandingView } from "../daemon/daemon.js";
import type { FollowScopeView } from "../daemon/follow.js";
import { loadPolicyFile } from "../policy/loader.js";
import type { Policy } from "../engine/policy.js";
import { type Command, EXIT } from "./command.js";
import { attachedBelow, policyFaults, unconsultedWarning } from "./faults.js";
import { parseFlags } from "./args.js";
import { table } from "./format.js";
import { withBadnessParts } from "../report/badness-parts.js";
import { loadEngineSetup } from "./setup.js";

const USAGE = `usage: oomkit explain [--root DIR] [--config FILE] [--policy FILE [--options JSON]] [--scope PATH] [--strict] [--fresh] [--socket PATH] [--json]

Shows the decision the engine would take right now for an OOM in a scope (the whole machine by
default): the chain of policies tried and each one's outcome, the plan, the candidates with
their scores, and the skipped ones with reasons. Nothing is killed.

On the live machine, with no --config or --policy, a running daemon is asked first: it shows
the standing decision it holds for each scope (or for --scope), made ahead on its warm model,
which is what it would act on. Without a daemon, or with --fresh, explain decides afresh.

  --root DIR     decide on a fixture folder instead of the live machine
  --config FILE  the configuration to use (default: the built-in default)
  --policy FILE  attach this policy file (.ts/.js) to the scope for this call, replacing
                 whatever the configuration attached there; refused, as by the daemon, when
                 it is not owned by root or you or group or others may write it; the
                 configuration's options for that cgroup are handed to it (said on stderr)
                 unless --options replaces them
  --options JSON the options for --policy, as [attach.options] would give them
  --scope PATH   the cgroup that is out of memory (default: /, a system-wide OOM)
  --strict       exit 4 when a policy threw, ran past its deadline, returned no valid plan
                 or had a target refused by the verifier (each is printed on stderr)
  --fresh        decide afresh even when a daemon is running
  --socket PATH  the daemon's control socket (default ${DEFAULT_SOCKET})
  --json         print the episode record (schema "oomkit.episode/1", docs/episode.md)

A policy attached below the scope is never consulted for an OOM in it: explain says so on stderr.`;

export const explainCommand: Command = {
  name: "explain",
  summary: "show what oomkit would do for an OOM right now, and why",
  usage: USAGE,
  async run(args, ctx) {
    const { values } = parseFlags("explain", args, {
      root: { type: "string" },
      config: { type: "string" },
      policy: { type: "string" },
      options: { type: "string" },
      strict: { type: "boolean" },
      scope: { type: "string" },
      fresh: { type: "boolean" },
      socket: { type: "string" },
      json: { type: "boolean" },
    });
    const warn = (m: string) => ctx.stderr(`oomkit explain: warning: ${m}\n`);
    const scope = cgroupPath(values.scope ?? "/");
    if (values.root === undefined && values.config === undefined && values.policy === undefined && values.fresh !== true) {
      const standing = await askDaemon(values.socket ?? DEFAULT_SOCKET, values.scope === undefined ? undefined : scope);
      if (standing !== undefined && standing.length > 0) {
        ctx.stdout(values.json ? `${JSON.stringify(standing, null, 2)}\n` : standing.map(renderStanding).join("\n"));
        return 0;
      }
    }
    // The same ownership rules as `run`, before any policy code runs: explain executes it too.
    const setup = loadEngineSetup(values.config, { enforceOwnership: true, warn });
    let attachments: readonly Attachment[] = setup.engine.attachments;
    if (values.policy !== undefined) {
      attachments = withPolicy(setup.engine.attachments, scope, values.policy, values.options, warn);
    } else if (values.options !== undefined) {
      throw new OomkitError("E_USAGE", "--options goes with --policy FILE (a configuration's policies take theirs from [attach.options])");
    }
    const engine = new Engine({ ...setup.engine, attachments });
    const snapshot = takeSnapshot(ctx.makeHost(values.root));
    const record = await engine.explain(snapshot, scope, {
      kind: "manual",
      trigger: "explain",
      message: `what oomkit would do for an OOM in ${scope} now`,
      figures: {},
    });
    ctx.stdout(values.json ? `${JSON.stringify(withBadnessParts(record, snapshot), null, 2)}\n` : renderExplain(record));
    for (const a of attachedBelow(engine.attachments.values(), scope)) warn(unconsultedWarning(a, scope));
    const faults = policyFaults(record);
    if (values.strict && faults.length > 0) {
      for (const f of faults) ctx.stderr(`oomkit explain: ${f.message}\n`);
      ctx.stderr(`oomkit explain: --strict: ${faults.length} polic${faults.length === 1 ? "y fault" : "y faults"}\n`);
      return EXIT.config;
    }
    return EXIT.ok;
  },
};

/**
 * Loads the file named by --policy. A policy file that does not exist or cannot be read exits 4
 * (invalid policy), as the same file named by a configuration's `file` does: one answer for one
 * mistake, whichever way the file was named (docs/cli.md, exit status).
 */
function loadNamedPolicy(file: string, warn: (m: string) => void): Policy {
  try {
    return loadPolicyFile(file, { enforceOwnership: true, warn });
  } catch (err) {
    if (err instanceof OomkitError && err.code === "E_NO_SUCH_PATH") throw new OomkitError("E_CONFIG", err.message, { cause: err });
    throw err;
  }
}

/**
 * The attachments with `file` attached at `scope`, replacing what the configuration attached
 * there. Its options: --options when given, else the configuration's for that cgroup (so a new
 * version of a configured policy is tried as configured), else none; where they came from is said.
 */
export function withPolicy(configured: readonly CompiledAttachment[], scope: CgroupPath, file: string, optionsJson: string | undefined, warn: (m: string) => void): Attachment[] {
  const policy = loadNamedPolicy(file, warn);
  const replaced = configured.find((a) => a.cgroup === scope);
  let raw: unknown = {};
  let from = "empty options";
  if (optionsJson !== undefined) {
    try {
      raw = JSON.parse(optionsJson) as unknown;
    } catch (err) {
      throw new OomkitError("E_USAGE", `--options is not JSON: ${(err as Error).message}`, { cause: err });
    }
    if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw new OomkitError("E_USAGE", `--options must be a JSON object, as [attach.options] is a table`);
    from = "--options";
  } else if (replaced !== undefined && Object.keys(replaced.rawOptions).length > 0) {
    raw = replaced.rawOptions;
    from = `the configuration's options for ${scope}`;
    warn(`${file} replaces ${replaced.policy.name} at ${scope} and gets the configuration's options for it: ${JSON.stringify(raw)} (--options replaces them)`);
  }
  let options: unknown = raw;
  try {
    if (policy.parseOptions) options = policy.parseOptions(raw);
    else if (Object.keys(raw as object).length > 0) throw new Error(`policy "${policy.name}" takes no options`);
  } catch (err) {
    throw new OomkitError("E_CONFIG", `${file}: its parseOptions rejected ${from}: ${(err as Error).message}`, { cause: err });
  }
  return [...configured.filter((a) => a.cgroup !== scope), { cgroup: scope, policy, options }];
}

/** The daemon's standing decisions, or undefined when no daemon answers (then explain decides afresh). */
async function askDaemon(socket: string, scope: string | undefined): Promise<StandingView[] | undefined> {
  let reply: Record<string, unknown>;
  try {
    reply = await request(socket, scope === undefined ? { op: "standing" } : { op: "standing", scope }, 5_000);
  } catch {
    return undefined;
  }
  // A daemon from before standing decisions answers "unknown op": decide afresh.
  return reply.ok === true && Array.isArray(reply.standing) ? (reply.standing as StandingView[]) : undefined;
}

function renderStanding(v: StandingView): string {
  const head = v.policy === null ? "no plan stands: the next trigger decides afresh" : `the plan of ${v.policy} stands`;
  return `oomkit explain: the running daemon's standing decision for ${v.scope}, made ${(v.ageMs / 1000).toFixed(1)} s ago: ${head}\n${renderExplain(v.record)}${v.follow ? renderFollow(v.follow) : ""}`;
}

/** kernel_fallback = "follow": what the kernel's OOM killer would take in this scope, and where that is not exact. */
function renderFollow(f: FollowScopeView): string {
  const out = ["", "kernel fallback (follow):"];
  const raised = f.raised.map((t) => `pid ${t.pid} (${t.comm}) ${t.original} → 1000${t.inheritedFrom !== undefined ? `, inherited from pid ${t.inheritedFrom}` : ""}`);
  out.push(`  victim: ${f.victims.join(", ") || "none"}`);
  if (raised.length > 0) out.push(`  oom_score_adj: ${raised.join("; ")}`);
  if (f.oomGroup.length > 0) out.push(`  memory.oom.group 1: ${f.oomGroup.join(", ")}`);
  for (const line of f.inexact) out.push(`  not exact: ${line}`);
  return `${out.join("\n")}\n`;
}

export function renderExplain(r: EpisodeRecord): string {
  const out: string[] = [];
  out.push(`oomkit explain: an OOM in ${r.scope} (${r.cause.kind}), ${r.source}, ${r.times.declaredAt}`);
  out.push("");
  out.push("chain:");
  r.chain.forEach((c, i) => {
    const where = c.attachedTo === null ? "built-in default" : `attached to ${c.attachedTo}`;
    const why = c.error ?? c.reason;
    const asks = c.asks !== undefined ? `, asked ${c.asks} times` : "";
    out.push(`  ${i + 1}. ${c.policy} (${where}): ${c.outcome}${why ? ` — ${why}` : ""} [${c.durationMs.toFixed(1)} ms${asks}]`);
    for (const v of c.refused ?? []) out.push(`       refused ${describeAction(v.action)}: ${v.reason} (asked again without it)`);
    for (const v of c.verdicts) {
      const how = v.execution ? ` via ${v.execution.method}${v.execution.method === "per-task" ? `, sparing ${v.execution.spared.map((s) => `${s.pid} (${s.reason})`).join(", ")}` : ""}` : "";
      out.push(`       ${v.ok ? "ok     " : "refused"} ${describeAction(v.action)}${v.ok ? how : `: ${v.reason}`}`);
    }
  });
  out.push("");
  if (r.handled) {
    out.push(`plan (oom_policy=${r.policy}):`);
    for (const a of r.plan) out.push(`  ${describeAction(a)}: ${a.reason}`);
  } else {
    out.push("no policy handled it: the kernel's OOM killer would decide.");
  }
  const scored = r.candidates.filter((c) => c.skipped === undefined);
  if (scored.length > 0) {
    out.push("", "candidates (best first, per policy):");
    const rows = [["POLICY", "SCORE", "TARGET", "NOTE"]];
    for (const c of scored) rows.push([c.policy, c.score === undefined ? "-" : String(c.score), target(c), [c.note, c.unreadable].filter((x) => x !== undefined).join("; ")]);
    out.push(indent(table(rows, new Set([1]))));
  }
  const skipped = r.candidates.filter((c) => c.skipped !== undefined);
  if (skipped.length > 0) {
    out.push("", "passed over:");
    const rows = [["POLICY", "TARGET", "WHY"]];
    for (const c of skipped) rows.push([c.policy, target(c), c.skipped ?? ""]);
    out.push(indent(table(rows)));
  }
  if (r.candidatesTotal > r.candidates.length) out.push(`(${r.candidatesTotal - r.candidates.length} more candidates not shown)`);
  if (r.unreadable !== undefined && r.unreadable.length > 0) {
    out.push("", "could not be read (those figures are unknown):");
    out.push(indent(table([["FILE", "ERROR"], ...r.unreadable.map((u) => [u.path, u.error])])));
    const more = (r.unreadableTotal ?? 0) - r.unreadable.length;
    if (more > 0) out.push(`(${more} more not shown)`);
  }
  return `${out.join("\n")}\n`;
}

function target(c: EpisodeRecord["candidates"][number]): string {
  return c.kind === "task" ? `pid ${c.pid}${c.comm !== undefined ? ` (${c.comm})` : ""}${c.cgroup ? ` in ${c.cgroup}` : ""}` : `cgroup ${c.cgroup}`;
}

const indent = (s: string) => s.split("\n").map((l) => `  ${l}`).join("\n");
