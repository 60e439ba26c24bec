import { DEFAULT_SOCKET, refusal, request } from "../daemon/control.js";
import type { Command } from "./command.js";
import { parseFlags } from "./args.js";

const USAGE = `usage: oomkit reload [--socket PATH]

Asks the running daemon (over its control socket) to read its configuration again, and waits
until the new one is in force. Exits 0 when it is; when the daemon refuses it (it does not
parse, names a policy that does not load, ...) prints why and exits non-zero, and the daemon
keeps the configuration it had. This is the systemd unit's ExecReload=, so \`systemctl reload
oomkit\` fails on a configuration that was refused (docs/operations.md).

  --socket PATH  the daemon's control socket (default ${DEFAULT_SOCKET})`;

/** Reading a policy file, compiling it and rescanning may take long on a loaded machine. */
const RELOAD_TIMEOUT_MS = 120_000;

export const reloadCommand: Command = {
  name: "reload",
  summary: "have the running daemon read its configuration again, and wait for the outcome",
  usage: USAGE,
  async run(args, ctx) {
    const { values } = parseFlags("reload", args, { socket: { type: "string" } });
    const reply = await request(values.socket ?? DEFAULT_SOCKET, { op: "reload" }, RELOAD_TIMEOUT_MS);
    if (reply.ok !== true) throw refusal(reply);
    ctx.stdout(`${String(reply.summary)}\n`);
    return 0;
  },
};
