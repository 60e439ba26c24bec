import * as net from "node:net";
import { OomkitError } from "../errors.js";
import { DEFAULT_SOCKET, closedError, connectError, refusal } from "../daemon/control.js";
import { type StreamLine, renderDelivery, renderEvent } from "../report/event-bus.js";
import { DEFAULT_EVENT_LOG, type EventLogContents, readEventLog } from "../report/event-log.js";
import type { Command } from "./command.js";
import { parseFlags } from "./args.js";

const USAGE = `usage: oomkit events [--follow] [--json] [--since ID] [--socket PATH]
       oomkit events --log [FILE] [--json] [--since ID]

Prints OOM episodes — oomkit's and the kernel's own kills — one per line: from the running
daemon's stream (past records it still holds, then with --follow every new one), or with --log
from the durable event log (default ${DEFAULT_EVENT_LOG}), which also works when no daemon runs.

  --follow       keep printing new episodes until interrupted
  --json         print each record as JSON (schema "oomkit.episode/1", docs/episode.md)
  --since ID     only episodes after this one (an episode id like ep-..., or a stream number)
  --socket PATH  the daemon's control socket (default ${DEFAULT_SOCKET})
  --log [FILE]   read the event log instead of asking the daemon`;

export const eventsCommand: Command = {
  name: "events",
  summary: "print OOM episodes (oomkit's and the kernel's), past and new",
  usage: USAGE,
  async run(args, ctx) {
    const { values, positionals } = parseFlags(
      "events",
      args,
      { follow: { type: "boolean" }, json: { type: "boolean" }, since: { type: "string" }, socket: { type: "string" }, log: { type: "boolean" } },
      true,
    );
    const json = values.json === true;
    if (values.log) {
      if (values.follow) throw new OomkitError("E_USAGE", "--follow needs the daemon's stream; drop --log");
      const file = positionals[0] ?? DEFAULT_EVENT_LOG;
      let contents;
      try {
        contents = readEventLog(file);
      } catch (err) {
        throw new OomkitError("E_NO_SUCH_PATH", `event log ${file} cannot be read: ${(err as Error).message}`, { cause: err });
      }
      if (contents.files === 0) throw new OomkitError("E_NO_SUCH_PATH", `no event log at ${file} (nor rotated files beside it)`);
      let records = contents.records;
      if (values.since !== undefined) {
        const i = records.findIndex((r) => r.id === values.since);
        if (i < 0) throw new OomkitError("E_USAGE", `no episode ${values.since} in ${file}`);
        records = records.slice(i + 1);
      }
      for (const r of records) ctx.stdout(`${renderEvent(r, json)}\n`);
      for (const line of skippedLines(contents)) ctx.stderr(`oomkit events: ${line}\n`);
      return 0;
    }
    if (positionals.length > 0) throw new OomkitError("E_USAGE", `unexpected argument "${positionals[0]}" (a file goes with --log)`);
    const since = values.since === undefined ? undefined : /^\d+$/.test(values.since) ? Number(values.since) : values.since;
    const path = values.socket ?? DEFAULT_SOCKET;
    return await new Promise<number>((resolve, reject) => {
      const c = net.connect(path);
      let buf = "";
      let heard = false;
      c.setEncoding("utf8");
      c.once("connect", () => c.write(`${JSON.stringify({ op: "events", since, follow: values.follow === true })}\n`));
      c.on("data", (chunk: string) => {
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          heard = true;
          let msg: StreamLine | { ok: false; error: string };
          try {
            msg = JSON.parse(line) as typeof msg;
          } catch {
            continue;
          }
          if ("ok" in msg && msg.ok === false) {
            c.destroy();
            reject(refusal(msg));
            return;
          }
          if ("type" in msg && msg.type === "end") {
            c.end();
            resolve(0);
            return;
          }
          if ("type" in msg) ctx.stdout(`${renderDelivery(msg, json)}\n`);
        }
      });
      // Once the stream began, the daemon going away ends it; before, it is the same failure `oom` reports.
      c.once("close", () => (heard ? resolve(0) : reject(closedError(path))));
      c.once("error", (err) => reject(connectError(path, err, "(oomkit events --log reads the event log without the daemon)")));
    });
  },
};

/** What reading the log passed over, one line each, for stderr (so --json output stays clean). */
function skippedLines(c: EventLogContents): string[] {
  const out: string[] = [];
  if (c.tornLines > 0) out.push(`skipped ${c.tornLines} torn line(s) left by a crash`);
  if (c.badLines > 0) out.push(`skipped ${c.badLines} line(s) that are not JSON objects`);
  if (c.otherSchema > 0) out.push(`skipped ${c.otherSchema} record(s) of another schema (a newer oomkit?)`);
  if (c.invalidRecords > 0) out.push(`skipped ${c.invalidRecords} record(s) missing what a record must have (first: ${c.firstInvalid})`);
  return out;
}
