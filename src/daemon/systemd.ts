/**
 * The daemon under systemd: what its watchdog must allow for, and the control socket's `reload`
 * op, which `oomkit reload` (the unit's ExecReload=) calls and waits for, so that `systemctl
 * reload oomkit` fails when the new configuration is refused (systemd 252 has no
 * Type=notify-reload to learn it otherwise).
 */
import * as z from "zod";
import { onFirstUse } from "../on-first-use.js";
import type { CompiledConfig } from "../config/index.js";
import { type ControlHandler, controlOp } from "./control.js";

/**
 * The longest a decision may hold the event loop, in ms, by the configuration's own deadlines:
 * every attached policy of a chain run to its deadline, then the built-in default to its own.
 * Policy calls are synchronous (a realm under a deadline), so no keep-alive is sent meanwhile.
 */
export function loopHoldBoundMs(config: Pick<CompiledConfig, "engine">): number {
  return config.engine.attachments.length * config.engine.policyDeadlineMs + config.engine.defaultPolicyDeadlineMs;
}

/**
 * The warning to give when the unit's WatchdogSec= could kill a daemon that is only busy: a
 * decision that runs to every deadline must fit in the watchdog's period with room to spare
 * (half of it, the period of the keep-alives). Undefined when it fits.
 */
export function watchdogAdvice(watchdogUsec: number, boundMs: number): string | undefined {
  const watchdogMs = watchdogUsec / 1000;
  if (boundMs * 2 <= watchdogMs) return undefined;
  return `WatchdogSec=${Math.round(watchdogMs / 1000)}s is less than twice the longest a decision may run by this configuration's deadlines (${boundMs} ms): a busy oomkit could be killed as wedged; raise WatchdogSec= in a drop-in (systemctl edit oomkit)`;
}

export const RELOAD_REQUEST = onFirstUse(() => z.strictObject({ op: z.literal("reload") }));

/**
 * `{"op":"reload"}` → `{"ok":true,"summary":"..."}` once the new configuration is in force, or
 * the error that refused it (the old one stays). `reload` throws to refuse.
 */
export function reloadOp(reload: () => Promise<string>): Record<string, ControlHandler> {
  return {
    reload: controlOp(RELOAD_REQUEST, async (_req, reply) => {
      reply({ ok: true, summary: await reload() });
    }),
  };
}
