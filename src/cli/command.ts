/**
 * What every command shares: its shape, the context it runs in, and the exit codes
 * (docs/cli.md). A leaf: commands import it, and the dispatcher (./cli.ts) imports them.
 */
import type { Clock, Host } from "../os/host.js";

export const EXIT = {
  ok: 0,
  internal: 1,
  usage: 2,
  path: 3,
  config: 4,
  unsupported: 5,
} as const;

export interface CliContext {
  readonly argv: readonly string[];
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** The Host for `--root DIR` (a fixture) or the live machine when root is undefined. */
  readonly makeHost: (root: string | undefined) => Host;
  readonly clock?: Clock;
  /** Where long-running commands (run) hear signals; process.on by default. */
  readonly onSignal?: (signal: "SIGTERM" | "SIGINT" | "SIGHUP", handler: () => void) => void;
}

export interface Command {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  run(args: readonly string[], ctx: CliContext): Promise<number> | number;
}
