/** Scenario files: checked like a configuration (placed errors, all at once), turned into the model's specs. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { fileURLToPath } from "node:url";
import { ConfigError } from "../../../src/config/index.js";
import { parseScenario } from "../../../src/simulate/scenario.js";

const SCENARIOS = fileURLToPath(new URL("../../../../scenarios/", import.meta.url));

const GOOD = `name = "t"
duration_ms = 5000
[machine]
memory = "512M"
swap = { kind = "zram", size = "256M" }
[[cgroup]]
path = "/a/"
max = "100M"
oom_group = true
[[task]]
comm = "leak"
cgroup = "/a"
count = 3
start_ms = 100
curve = { kind = "leak", start = "1M", per_sec = "10M", cap = "50M" }
[expect]
should_die = ["/a"]
`;

describe("parseScenario", () => {
  test("sizes, defaults and counts come out in the model's terms", () => {
    const s = parseScenario(GOOD, "t.toml");
    assert.equal(s.machine.memTotalBytes, 512 * 1024 * 1024);
    assert.deepEqual(s.machine.swap, { kind: "zram", totalBytes: 256 * 1024 * 1024 });
    assert.equal(s.seed, 1);
    assert.equal(s.sampleMs, 250);
    assert.equal(s.oomkitStartMs, 2000);
    assert.equal(s.readCostUs, 20);
    assert.deepEqual(s.cgroups, [{ path: "/a", spec: { max: 100 * 1024 * 1024, oomGroup: true } }]);
    assert.equal(s.tasks.length, 3);
    assert.deepEqual(s.tasks[0], { startMs: 100, spec: { comm: "leak", cgroup: "/a", oomScoreAdj: 0, curve: { kind: "leak", startBytes: 1024 * 1024, bytesPerSec: 10 * 1024 * 1024, capBytes: 50 * 1024 * 1024 } } });
    assert.deepEqual(s.expect, { shouldDie: ["/a"], mustSurvive: [] });
  });

  test("every error is reported at its key's line, all at once", () => {
    const bad = GOOD.replace('memory = "512M"', 'memory = "512Q"').replace("count = 3", "cuont = 3").replace('kind = "leak"', 'kind = "leek"');
    assert.throws(
      () => parseScenario(bad, "bad.toml"),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, /bad\.toml: \d errors in the scenario/);
        const byLine = err.issues.map((i) => `${i.line}:${i.path}`);
        assert.ok(byLine.includes("4:machine.memory"), byLine.join(", "));
        assert.ok(byLine.includes("13:task[0].cuont"), byLine.join(", "));
        assert.ok(err.issues.some((i) => i.path.startsWith("task[0].curve") && i.line === 15), byLine.join(", "));
        assert.match(err.message, /did you mean "count"/);
        return true;
      },
    );
  });

  test("hostile input is refused: no tasks, a comm with '/', a key __proto__, TOML syntax", () => {
    assert.throws(() => parseScenario(GOOD.replace(/\[\[task\]\][^]*?\[expect\]/, "[expect]"), "x.toml"), /task: missing/);
    assert.throws(() => parseScenario(GOOD.replace('comm = "leak"', 'comm = "a/b"'), "x.toml"), /task\[0\]\.comm/);
    assert.throws(() => parseScenario(GOOD.replace("[expect]", '[expect]\n__proto__ = 1'), "x.toml"), /__proto__/);
    assert.throws(() => parseScenario("name = ", "x.toml"), /x\.toml:1:\d+: TOML syntax/);
  });

  test("every shipped scenario and configuration parses", () => {
    const names = fs.readdirSync(SCENARIOS).filter((n) => n.endsWith(".toml") && !n.includes(".config.") && !n.includes(".priority."));
    assert.ok(names.length >= 8, names.join(", "));
    for (const n of names) parseScenario(fs.readFileSync(`${SCENARIOS}${n}`, "utf8"), n);
  });
});
