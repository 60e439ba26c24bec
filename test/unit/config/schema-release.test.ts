/**
 * The daemon drops the schemas it built at start once it has settled, and again after each
 * reload (on-first-use.ts's forgetBuilt, called by cli/run.ts): they are needed only to check the
 * next configuration. These tests prove that a dropped schema is built again at its next use and
 * checks exactly as before: the configuration's own schema, and the policies' options schemas
 * that compileConfig checks attachments with.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { compileConfig } from "../../../src/config/compile.js";
import { ConfigError } from "../../../src/config/issues.js";
import { parseConfig } from "../../../src/config/load.js";
import { configSchema } from "../../../src/config/schema.js";
import { forgetBuilt, onFirstUse } from "../../../src/on-first-use.js";
import { BUILTIN_POLICIES } from "../../../src/policy/builtins.js";

const GOOD = [
  "dry_run = true",
  "[[attach]]",
  'cgroup = "/"',
  'policy = "rules"',
  "[[trigger]]",
  'cgroup = "/"',
  'psi = { stall = "full", threshold_ms = 150, window_ms = 2000 }',
].join("\n");

/** Errors in the configuration's own keys (parseConfig). */
const BAD = ["dryrun = true", "[protect]", 'tmpfs_roots = ["/etc"]'].join("\n");

/** Errors in two built-in policies' options (compileConfig: parsing passed). */
const BAD_OPTIONS = [
  "[[attach]]",
  'cgroup = "/"',
  'policy = "rules"',
  "options = { nonsense = 1 }",
  "[[attach]]",
  'cgroup = "/x"',
  'policy = "largest-leaf"',
  "options = { min_bytes = -1, other = true }",
].join("\n");

const noFiles = () => {
  throw new Error("no policy files here");
};

/** What checking a configuration gives: the compiled result's plain parts, or every error placed. */
function check(text: string): unknown {
  try {
    const parsed = parseConfig(text, "oomkit.toml");
    const c = compileConfig(parsed.config, { builtins: BUILTIN_POLICIES, loadPolicyFile: noFiles, enforceOwnership: true, source: parsed.source });
    return { config: parsed.config, warnings: parsed.warnings, attachments: c.engine.attachments.map((a) => [a.cgroup, a.policy.name, a.options]) };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return { error: err.message };
  }
}

describe("schemas dropped after start-up are built again", () => {
  test("onFirstUse: a dropped value is built afresh at its next use, and kept again", () => {
    let builds = 0;
    const cell = onFirstUse(() => ({ n: ++builds }));
    assert.equal(cell().n, 1);
    assert.equal(cell().n, 1);
    assert.ok(forgetBuilt() >= 1, "the built cell was dropped");
    assert.equal(builds, 1, "dropping builds nothing");
    assert.equal(cell().n, 2);
    assert.equal(cell().n, 2);
    assert.equal(builds, 2);
  });

  test("a configuration checks the same after the schemas are dropped: valid, and every error", () => {
    const texts = { good: GOOD, bad: BAD, badOptions: BAD_OPTIONS };
    const checkAll = () => Object.fromEntries(Object.entries(texts).map(([k, t]) => [k, check(t)]));
    const before = checkAll();
    assert.ok(!("error" in (before.good as object)), JSON.stringify(before.good));
    const bad = (before.bad as { error?: string }).error ?? "";
    assert.match(bad, /unknown key "dryrun"/);
    assert.match(bad, /tmpfs_roots/);
    const badOptions = (before.badOptions as { error?: string }).error ?? "";
    assert.match(badOptions, /attach\[0\]\.options/);
    assert.match(badOptions, /attach\[1\]\.options/);
    const schema = configSchema();
    forgetBuilt();
    assert.notEqual(configSchema(), schema, "the configuration's schema was dropped and built again");
    // As a reload does: the first use after the drop builds them, the options schemas included.
    for (const order of [["badOptions", "bad", "good"], ["good", "bad", "badOptions"]] as const) {
      forgetBuilt();
      const after = Object.fromEntries(order.map((k) => [k, check(texts[k])]));
      assert.deepEqual(after, before);
    }
  });
});
