#!/usr/bin/env node
import { defaultMakeHost, runCli } from "./cli.js";

const code = await runCli({
  argv: process.argv.slice(2),
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  makeHost: defaultMakeHost(),
});
process.exitCode = code;
// The process ends by itself once the command has closed what it opened (run undoes every
// start-up step, even after a fatal error). Should anything still hold it, it exits anyway after
// a grace period; the timer itself holds nothing. (A forced exit at once could tear the process
// down while a pool thread is inside poll(2).)
setTimeout(() => process.exit(code), 5000).unref();
