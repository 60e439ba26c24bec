/**
 * The daemon's ops on the control socket, each with the schema its requests must pass (the
 * pipeline adds `events`). A request that does not pass is answered with an error and changes
 * nothing: above all, a missing, null, numeric or misspelt `scope` is never read as "/".
 */
import * as z from "zod";
import { onFirstUse } from "../on-first-use.js";
import { OomkitError } from "../errors.js";
import { cgroupPath } from "../os/paths.js";
import { type ControlHandler, controlOp } from "./control.js";
import type { Daemon } from "./daemon.js";

/** A cgroup path as a client may send it: absolute, no "..", not absurdly long. */
const scopeSchema = () =>
  z
    .string()
    .min(1)
    .max(4096)
    .refine((s) => s.startsWith("/"), { error: 'a cgroup path starts with "/" ("/" is the whole machine)' })
    .refine((s) => !s.split("/").includes(".."), { error: 'a cgroup path may not contain ".."' });

export const STATUS_REQUEST = onFirstUse(() => z.strictObject({ op: z.literal("status") }));
export const STANDING_REQUEST = onFirstUse(() => z.strictObject({ op: z.literal("standing"), scope: scopeSchema().optional() }));
export const OOM_REQUEST = onFirstUse(() => z.strictObject({ op: z.literal("oom"), scope: scopeSchema(), reason: z.string().max(500).optional() }));

/**
 * While a manual OOM's episode runs (a SIGTERM grace, a victim slow to exit: minutes, as
 * configured), a `{"ok":true,"pending":...}` line this often tells the client the daemon is at
 * work, so a client waits as long as the daemon does and not a fixed time (request's heartbeats).
 */
export const OOM_HEARTBEAT_MS = 5_000;

export function daemonOps(daemon: Daemon, opts: { heartbeatMs?: number } = {}): Record<string, ControlHandler> {
  const heartbeatMs = opts.heartbeatMs ?? OOM_HEARTBEAT_MS;
  return {
    status: controlOp(STATUS_REQUEST, (_req, reply) => reply({ ok: true, status: daemon.status() })),
    standing: controlOp(STANDING_REQUEST, (req, reply) => {
      const scope = req.scope === undefined ? undefined : cgroupPath(req.scope);
      reply({ ok: true, standing: daemon.standingView().filter((e) => scope === undefined || e.scope === scope) });
    }),
    oom: controlOp(OOM_REQUEST, async (req, reply) => {
      const reason = req.reason !== undefined && req.reason.trim() !== "" ? req.reason : "requested with oomkit oom";
      const scope = cgroupPath(req.scope);
      if (!daemon.hasScope(scope)) throw new OomkitError("E_NO_SUCH_PATH", `no cgroup ${scope} on this machine`);
      const beat = setInterval(() => reply({ ok: true, pending: "the episode is still running" }), heartbeatMs);
      try {
        const r = await daemon.manual(scope, reason);
        reply("skipped" in r ? { ok: true, skipped: r.skipped } : { ok: true, record: r });
      } finally {
        clearInterval(beat);
      }
    }),
  };
}
