#!/usr/bin/env node
import { defaultMakeHost, runCli } from "./cli.js";

const code = await runCli({
  argv: process.argv.slice(2),
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  makeHost: defaultMakeHost(),
});
// Exit now: nothing a failed or finished command left open (a server, a watch, a poll thread)
// may keep the process alive. Pipes and files are written synchronously on Linux, so no output is lost.
process.exit(code);
