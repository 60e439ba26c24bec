import { OomkitError } from "../errors.js";
import type { EpisodeRecord } from "../engine/episode.js";
import { DEFAULT_SOCKET, refusal, request } from "../daemon/control.js";
import type { Command } from "./command.js";
import { parseFlags } from "./args.js";
import { summarize } from "../report/human.js";

const USAGE = `usage: oomkit oom [SCOPE] [--reason TEXT] [--socket PATH] [--json]

Asks the running daemon (over its control socket, which only root can use) to handle an OOM
in SCOPE (a cgroup path; "/" — the whole machine — by default) now, through its policy chain.
Prints the episode, or why the daemon did not act (a victim still exiting, the post-action
delay, the kill rate limit).

  --reason TEXT  recorded as the cause's message
  --socket PATH  the daemon's control socket (default ${DEFAULT_SOCKET})
  --json         print the episode record`;

export const oomCommand: Command = {
  name: "oom",
  summary: "ask the running daemon to handle an OOM in a scope now",
  usage: USAGE,
  async run(args, ctx) {
    const { values, positionals } = parseFlags("oom", args, { reason: { type: "string" }, socket: { type: "string" }, json: { type: "boolean" } }, true);
    if (positionals.length > 1) throw new OomkitError("E_USAGE", "oomkit oom takes one scope");
    // As long as the daemon works (a kill's grace and wait may take minutes): 30 s of silence ends it.
    const reply = await request(values.socket ?? DEFAULT_SOCKET, { op: "oom", scope: positionals[0] ?? "/", reason: values.reason ?? "requested with oomkit oom" }, 30_000, { heartbeats: true });
    if (reply.ok !== true) throw refusal(reply);
    if (typeof reply.skipped === "string") {
      ctx.stdout(values.json ? `${JSON.stringify({ skipped: reply.skipped })}\n` : `the daemon did not act: ${reply.skipped}\n`);
      return 0;
    }
    const record = reply.record as EpisodeRecord;
    ctx.stdout(values.json ? `${JSON.stringify(record, null, 2)}\n` : `${summarize(record)}\n`);
    return 0;
  },
};
