/**
 * The oomkit command line. `runCli` takes argv and its outputs as arguments (never process.argv),
 * so tests run it in-process with a FixtureHost and a manual clock.
 *
 * Exit codes (docs/cli.md):
 *   0  success
 *   1  internal error: a bug in oomkit (a stack trace is printed)
 *   2  usage error: unknown command, bad flag or argument
 *   3  a path given does not exist, or cannot be read or written
 *   4  invalid configuration, policy or fixture manifest (a missing policy file included)
 *   5  this machine lacks what the command needs (kernel feature, privilege)
 */
import { OomkitError, isUserError } from "../errors.js";
import type { Clock, Host } from "../os/host.js";
import { type CliContext, type Command, EXIT } from "./command.js";
import { FixtureHost } from "../os/fixture-host.js";
import { LinuxHost } from "../os/linux-host.js";
import { checkCommand } from "./check.js";
import { explainCommand } from "./explain.js";
import { dumpCommand } from "./dump.js";
import { doctorCommand } from "./doctor.js";
import { recordCommand } from "./record.js";
import { runCommand } from "./run.js";
import { oomCommand } from "./oom.js";
import { reloadCommand } from "./reload.js";
import { eventsCommand } from "./events.js";
import { installServiceCommand } from "./install-service.js";
import { initPolicyCommand } from "./init-policy.js";
import { simulateCommand } from "./simulate.js";
import { replayCommand } from "./replay.js";
import { VERSION } from "./version.js";
import { isTimeline } from "../timeline/index.js";

export { EXIT, type CliContext, type Command } from "./command.js";
export { VERSION } from "./version.js";

export const COMMANDS: readonly Command[] = [runCommand, oomCommand, reloadCommand, eventsCommand, dumpCommand, doctorCommand, explainCommand, checkCommand, simulateCommand, replayCommand, recordCommand, initPolicyCommand, installServiceCommand];

export function defaultMakeHost(clock?: Clock): (root: string | undefined) => Host {
  return (root) => {
    if (root === undefined) return new LinuxHost(clock ? { clock } : {});
    // A timeline is many instants: only the commands that play it (check --root) take one.
    if (isTimeline(root)) throw new OomkitError("E_USAGE", `${root} is a timeline, not a fixture: oomkit check --root plays it (docs/timelines.md)`);
    return new FixtureHost(root, clock ? { clock } : {});
  };
}

function helpText(): string {
  const lines = ["usage: oomkit <command> [options]", "", "commands:"];
  for (const c of COMMANDS) lines.push(`  ${c.name.padEnd(10)} ${c.summary}`);
  lines.push("", "Run `oomkit <command> --help` for a command's options. Exit codes are listed in docs/cli.md.");
  return `${lines.join("\n")}\n`;
}

export function exitCodeFor(err: OomkitError): number {
  switch (err.code) {
    case "E_USAGE":
      return EXIT.usage;
    case "E_NO_SUCH_PATH":
    case "E_HOST_IO":
    case "E_VANISHED":
      return EXIT.path;
    case "E_CONFIG":
    case "E_PARSE":
      return EXIT.config;
    case "E_UNSUPPORTED":
    case "E_PERMISSION":
      return EXIT.unsupported;
    case "E_SYSCALL":
    case "E_TIMEOUT":
    case "E_PREEMPTED":
    case "E_INTERNAL":
      return EXIT.internal;
    default: {
      const never: never = err.code;
      return never;
    }
  }
}

export async function runCli(ctx: CliContext): Promise<number> {
  const [name, ...rest] = ctx.argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    (name === undefined ? ctx.stderr : ctx.stdout)(helpText());
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  if (name === "--version" || name === "version") {
    ctx.stdout(`oomkit ${VERSION}\n`);
    return EXIT.ok;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    ctx.stderr(`oomkit: unknown command "${name}" (try: ${COMMANDS.map((c) => c.name).join(", ")})\n`);
    return EXIT.usage;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    ctx.stdout(`${command.usage}\n`);
    return EXIT.ok;
  }
  try {
    return await command.run(rest, ctx);
  } catch (err) {
    if (isUserError(err) || (err instanceof OomkitError && err.code !== "E_INTERNAL" && err.code !== "E_SYSCALL")) {
      ctx.stderr(`oomkit ${command.name}: ${err.message}\n`);
      return exitCodeFor(err);
    }
    ctx.stderr(`oomkit ${command.name}: internal error (a bug in oomkit; please report it with this trace)\n${(err as Error)?.stack ?? String(err)}\n`);
    return EXIT.internal;
  }
}

