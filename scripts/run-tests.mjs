#!/usr/bin/env node
// Runs the compiled unit tests with Node's built-in runner. Node 20 takes no globs and Node 22
// changed how folders are searched, so the files are listed here explicitly.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";

const suite = process.argv[2] ?? "unit";
const root = join("dist", "test", suite);
const files = [];
const walk = (dir) => {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith(".test.js")) files.push(p);
  }
};
walk(root);
if (files.length === 0) {
  console.error(`no test files under ${root}: run npm run build first`);
  process.exit(1);
}
const reporter = process.env.OOMKIT_TEST_REPORTER ?? "spec";
// One scratch folder for the whole run, shared by the test files (test/support/pack.ts installs
// the packed package there once) and removed at the end. It is the tests' TMPDIR too: every
// fixture tree, state folder and socket a test makes with os.tmpdir() goes with it, whether or
// not the test removed it (a run left ~1 GiB of fixture trees in /tmp before, and the disk of
// a machine that runs the suite many times filled up).
const scratch = mkdtempSync(join(tmpdir(), "oomkit-test-run-"));
const tmp = join(scratch, "tmp");
mkdirSync(tmp);
const r = spawnSync(process.execPath, ["--test", `--test-reporter=${reporter}`, ...process.argv.slice(3), ...files], {
  stdio: "inherit",
  env: { ...process.env, OOMKIT_TEST_SCRATCH: scratch, TMPDIR: tmp },
});
rmSync(scratch, { recursive: true, force: true });
process.exit(r.status ?? 1);
