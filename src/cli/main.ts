#!/usr/bin/env node
import { defaultMakeHost, runCli } from "./cli.js";

const code = await runCli({
  argv: process.argv.slice(2),
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  makeHost: defaultMakeHost(),
});
process.exitCode = code;
