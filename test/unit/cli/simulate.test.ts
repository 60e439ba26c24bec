/** `oomkit simulate`: the summary side by side, --json, and clear errors for bad input. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { EXIT, defaultMakeHost, runCli } from "../../../src/cli/cli.js";
import type { SimComparison } from "../../../src/simulate/result.js";

const DIR = fileURLToPath(new URL("../../../../scenarios/", import.meta.url));

async function cli(argv: string[]) {
  let stdout = "";
  let stderr = "";
  const code = await runCli({ argv, stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), makeHost: defaultMakeHost() });
  return { code, stdout, stderr };
}

describe("oomkit simulate", () => {
  test("--compare runs each configuration and sets their summaries side by side, after each episode's line", async () => {
    const r = await cli(["simulate", `${DIR}batch-before-db.toml`, "--compare", "default", `${DIR}batch-before-db.priority.toml`]);
    assert.equal(r.code, EXIT.ok, r.stderr);
    assert.match(r.stdout, /^oomkit ep-\S+: oom_policy=rules .*Killed process \d+ \(postgres\)/m, "the daemon's own line for each episode");
    assert.match(r.stdout, /oom_policy=priority .*Killed process \d+ \(batch-job\)/);
    const expected = r.stdout.split("\n").find((l) => l.startsWith("expected"));
    assert.match(expected ?? "", /wrong: .*postgres.* right: .*batch-job/);
    assert.match(r.stdout, /^\s+default\s+.*batch-before-db\.priority\.toml$/m);
  });

  test("--json gives the comparison with its series and the records as the daemon reported them", async () => {
    const r = await cli(["simulate", `${DIR}oom-test.toml`, "--json"]);
    assert.equal(r.code, EXIT.ok, r.stderr);
    const c = JSON.parse(r.stdout) as SimComparison;
    assert.equal(c.schema, "oomkit.sim-compare/1");
    const run = c.runs[0];
    assert.ok(run);
    assert.equal(run.label, "default");
    assert.ok(run.series.some((s) => s.cgroup === "/oom_test" && s.maxBytes === 100 * 1024 * 1024));
    assert.equal(run.episodes[0]?.schema, "oomkit.episode/1");
    assert.ok(run.thresholds.some((t) => t.kind === "psi" && t.pctOfWindow === 10));
  });

  test("a bad scenario exits 4 with the key's line; a missing one exits 3; bad usage exits 2", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-sim-"));
    const bad = path.join(dir, "bad.toml");
    fs.writeFileSync(bad, 'name = "x"\nduration_ms = -1\n[machine]\nmemory = "1G"\n[[task]]\ncomm = "a"\ncurve = { kind = "steady", bytes = "1M" }\n');
    const r = await cli(["simulate", bad]);
    assert.equal(r.code, EXIT.config);
    assert.match(r.stderr, /bad\.toml:2:\d+: duration_ms/);
    assert.equal((await cli(["simulate", path.join(dir, "none.toml")])).code, EXIT.path);
    assert.equal((await cli(["simulate"])).code, EXIT.usage);
    assert.equal((await cli(["simulate", bad, "--compare"])).code, EXIT.usage);
    assert.equal((await cli(["simulate", bad, "--config", "a.toml", "--compare", "b.toml"])).code, EXIT.usage);
  });
});
