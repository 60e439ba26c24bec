/**
 * The daemon on the simulated machine: each shipped scenario under the configuration it ships
 * with gives the victim the scenario names; batch-before-db shows the default killing the
 * database; runs are deterministic; a decision that reads more is later.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { fileURLToPath } from "node:url";
import { loadEngineSetup } from "../../../src/cli/setup.js";
import { runScenario } from "../../../src/simulate/run.js";
import { parseScenario } from "../../../src/simulate/scenario.js";

const DIR = fileURLToPath(new URL("../../../../scenarios/", import.meta.url));
const scenario = (name: string, patch: (t: string) => string = (t) => t) => parseScenario(patch(fs.readFileSync(`${DIR}${name}.toml`, "utf8")), `${name}.toml`);
const config = (file?: string) => loadEngineSetup(file === undefined ? undefined : `${DIR}${file}`, { enforceOwnership: false, warn: () => {} });

describe("shipped scenarios, each with its configuration", () => {
  const cases: [string, string | undefined][] = [
    ["batch-before-db", "batch-before-db.priority.toml"],
    ["oom-test", undefined],
    ["psi-test", "psi-test.config.toml"],
    ["priority", "priority.config.toml"],
    ["leak-bystanders", undefined],
    ["zram-thrash", undefined],
    ["kubernetes-node", "kubernetes-node.config.toml"],
    ["fork-storm", "fork-storm.config.toml"],
  ];
  for (const [name, cfg] of cases) {
    test(`${name} with ${cfg ?? "the default"}: the expected victim dies first, nothing that must survive dies`, async () => {
      const r = await runScenario(scenario(name), config(cfg), { label: cfg ?? "default" });
      assert.equal(r.summary.expectation.verdict, "right", `${r.summary.expectation.why}; victims: ${r.summary.victims.join("; ")}`);
      // Every series is one value per sample, times strictly increasing (what the report needs).
      for (const s of r.series) assert.equal(s.memoryBytes.length, r.timesMs.length, s.cgroup);
      assert.ok(r.timesMs.every((t, i) => i === 0 || t > (r.timesMs[i - 1] as number)));
      for (const k of r.kills) assert.ok(r.episodes.some((e) => e.id === k.episodeId), `kill ${k.episodeId} has its record`);
    });
  }

  test("batch-before-db: the default kills the database, the priority policy the batch job", async () => {
    const d = await runScenario(scenario("batch-before-db"), config(), { label: "default" });
    assert.equal(d.summary.expectation.verdict, "wrong");
    assert.match(d.summary.victims[0] ?? "", /postgres .* in \/db/);
  });

  test("oom-test without oomkit's trigger there: the kernel's memcg OOM kill, reported as a kernel episode", async () => {
    const r = await runScenario(scenario("oom-test"), config(), { label: "default" });
    assert.equal(r.summary.firstKillBy, "kernel");
    const k = r.kills[0];
    const rec = r.episodes.find((e) => e.id === k?.episodeId);
    assert.equal(rec?.kind, "kernel");
    assert.equal(rec?.kernelKill?.oomMemcg, "/oom_test");
  });
});

describe("determinism and cost", () => {
  test("one scenario and seed give the same kills at the same virtual times", async () => {
    const a = await runScenario(scenario("leak-bystanders"), config(), { label: "a" });
    const b = await runScenario(scenario("leak-bystanders"), config(), { label: "b" });
    assert.deepEqual(a.kills.map(({ episodeId: _, ...k }) => k), b.kills.map(({ episodeId: _, ...k }) => k));
    assert.deepEqual(a.series, b.series);
  });

  test("a decision that reads more is later: the same run with reads 50× dearer kills later", async () => {
    const cheap = await runScenario(scenario("leak-bystanders", (t) => t.replace('memory = "1G"', 'memory = "1G"\nread_cost_us = 20')), config(), { label: "cheap" });
    const dear = await runScenario(scenario("leak-bystanders", (t) => t.replace('memory = "1G"', 'memory = "1G"\nread_cost_us = 1000')), config(), { label: "dear" });
    assert.ok(cheap.summary.firstKillMs !== null && dear.summary.firstKillMs !== null);
    assert.ok(dear.summary.firstKillMs > cheap.summary.firstKillMs, `${dear.summary.firstKillMs} > ${cheap.summary.firstKillMs}`);
  });
});
