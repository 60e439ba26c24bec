/**
 * `oomkit replay DIR`: the configured triggers and policies along a recorded timeline (a dry
 * run), printing the episodes they would have produced and when.
 */
import { OomkitError } from "../errors.js";
import { summarize } from "../report/human.js";
import { replayTimeline } from "../simulate/replay.js";
import { isTimeline } from "../timeline/index.js";
import { parseFlags } from "./args.js";
import type { Command } from "./command.js";
import { loadEngineSetup } from "./setup.js";

const USAGE = `usage: oomkit replay DIR [--config FILE] [--json]

Runs the daemon with a configuration (the built-in default without --config) along a timeline
recorded with \`oomkit record --timeline DIR\` (docs/timelines.md), in the recording's own
time: its triggers read the recorded machine as it stood at each moment, its policies see the
recorded rates. Nothing is acted on. Prints each episode it would have produced, with its time
since the recording began.

  --config FILE  the configuration to replay
  --json         one JSON object per line: {"atMs": …, "record": {oomkit.episode/1}}`;

export const replayCommand: Command = {
  name: "replay",
  summary: "run the configured triggers and policies along a recorded timeline (a dry run)",
  usage: USAGE,
  async run(args, ctx) {
    const { values, positionals } = parseFlags("replay", args, { config: { type: "string" }, json: { type: "boolean" } }, true);
    if (positionals.length !== 1) throw new OomkitError("E_USAGE", "replay takes one timeline folder (see oomkit replay --help)");
    const dir = positionals[0] as string;
    if (!isTimeline(dir)) throw new OomkitError("E_NO_SUCH_PATH", `${dir} holds no timeline (oomkit-timeline.json); record one with oomkit record --timeline`);
    const warn = (m: string) => ctx.stderr(`oomkit replay: warning: ${m}\n`);
    const config = loadEngineSetup(values.config, { enforceOwnership: false, warn });
    const r = await replayTimeline(dir, config, {
      onEpisode: (e) => ctx.stdout(values.json ? `${JSON.stringify(e)}\n` : `+${(e.atMs / 1000).toFixed(2)} s ${summarize(e.record)}\n`),
      onPolicyFault: (call) => warn(`${call.policy}: ${call.hook} ${call.outcome}${call.error ? `: ${call.error}` : ""}`),
    });
    if (!values.json) ctx.stdout(`replayed ${r.frames} frames over ${(r.durationMs / 1000).toFixed(1)} s: ${r.episodes.length} episode${r.episodes.length === 1 ? "" : "s"}\n`);
    return 0;
  },
};
