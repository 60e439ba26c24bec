/**
 * A simulated run is reproducible: the same scenario, seed and configuration print the same
 * bytes, run after run in one process, for every shipped scenario; so does a replay. What the
 * daemon times is virtual (the read cost), and episode ids count per run.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { defaultMakeHost, runCli } from "../../../src/cli/cli.js";
import type { SimComparison } from "../../../src/simulate/result.js";
import { Timeline } from "../../../src/timeline/index.js";

const ROOT = fileURLToPath(new URL("../../../../", import.meta.url));
const SCENARIOS = path.join(ROOT, "scenarios");
const LEAK = path.join(ROOT, "samples/timelines/leak");

async function cli(argv: string[]): Promise<string> {
  let out = "";
  let err = "";
  const code = await runCli({ argv, stdout: (t) => (out += t), stderr: (t) => (err += t), makeHost: defaultMakeHost() });
  assert.equal(code, 0, err);
  return out;
}

function scratch(name: string, text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-determinism-"));
  const p = path.join(dir, name);
  fs.writeFileSync(p, text);
  return p;
}

/** Every shipped scenario, with the configuration it ships with when it has one. */
function shipped(): { name: string; argv: string[] }[] {
  return fs
    .readdirSync(SCENARIOS)
    .filter((f) => f.endsWith(".toml") && !/\.(config|priority)\.toml$/.test(f))
    .sort()
    .map((f) => {
      const base = f.slice(0, -".toml".length);
      const cfg = [`${base}.config.toml`, `${base}.priority.toml`].find((c) => fs.existsSync(path.join(SCENARIOS, c)));
      return { name: base, argv: ["simulate", path.join(SCENARIOS, f), "--json", ...(cfg ? ["--config", path.join(SCENARIOS, cfg)] : [])] };
    });
}

describe("oomkit simulate is reproducible", () => {
  const all = shipped();
  test("the shipped scenarios are all here", () => assert.equal(all.length, 8, all.map((s) => s.name).join(", ")));
  for (const s of all) {
    test(`${s.name}: two runs print the same bytes`, async () => {
      const a = await cli(s.argv);
      const b = await cli(s.argv);
      assert.ok(a === b, `${s.name}: the two runs' JSON differ`);
      const r = JSON.parse(a) as SimComparison;
      assert.ok((r.runs[0]?.episodes.length ?? 0) > 0, "episodes were recorded");
    });
  }

  // No shipped scenario draws on the seed (it jitters bursts): one with a bursty task does.
  const bursty = (seed: number) =>
    scratch(
      `bursty-${seed}.toml`,
      fs
        .readFileSync(path.join(SCENARIOS, "batch-before-db.toml"), "utf8")
        .replace("seed = 1", `seed = ${seed}`)
        .concat('\n[[task]]\ncomm = "spiky"\ncgroup = "/batch"\ncurve = { kind = "bursts", base = "20M", burst = "60M", every_ms = 3000, length_ms = 1000, jitter = 0.9 }\n'),
    );

  test("another seed gives another run, valid and reproducible in turn", async () => {
    const one = bursty(1);
    const seven = bursty(7);
    const a = await cli(["simulate", one, "--json"]);
    const b = await cli(["simulate", seven, "--json"]);
    assert.equal(await cli(["simulate", seven, "--json"]), b, "seed 7 twice");
    const ra = JSON.parse(a) as SimComparison;
    const rb = JSON.parse(b) as SimComparison;
    assert.notDeepEqual(ra.runs[0]?.series, rb.runs[0]?.series, "the seed moved the bursts");
    for (const run of [...ra.runs, ...rb.runs]) {
      assert.ok(run.kills.length > 0);
      for (const k of run.kills) assert.ok(run.episodes.some((e) => e.id === k.episodeId), `kill ${k.episodeId} has its record`);
      assert.equal(new Set(run.episodes.map((e) => e.id)).size, run.episodes.length, "ids are unique within a run");
    }
  });

  test("what the daemon times is the reads' virtual cost, not the CPU time of the host running it", async () => {
    const dear = scratch("dear.toml", fs.readFileSync(path.join(SCENARIOS, "leak-bystanders.toml"), "utf8").replace('memory = "1G"', 'memory = "1G"\nread_cost_us = 1000'));
    const r = JSON.parse(await cli(["simulate", dear, "--json"])) as SimComparison;
    const ep = r.runs[0]?.episodes.find((e) => e.kind !== "kernel");
    assert.ok(ep, "oomkit's episode");
    // Nothing but reads cost time, each 1 ms: the decision is the reads it made, a whole number of ms.
    assert.ok(ep.times.decisionMs > 0);
    assert.equal(ep.times.decisionMs, ep.times.readMs);
    assert.equal(ep.times.decisionMs, Math.round(ep.times.decisionMs));
  });
});

describe("oomkit replay is reproducible", () => {
  test("the shipped leak timeline, replayed twice with a memory.events trigger, prints the same bytes", async () => {
    let last;
    for (const f of Timeline.open(LEAK).frames()) last = f;
    const events = [...(last?.host.state.files.keys() ?? [])].find((p) => /\/jobs\/leak\/memory\.events$/.test(p));
    assert.ok(events);
    const jobs = events.slice("/sys/fs/cgroup".length, -"/leak/memory.events".length);
    const cfg = scratch("c.toml", `[[trigger]]\nname = "jobs-max"\ncgroup = "${jobs}"\nmemory_events = ["max"]\n`);
    const a = await cli(["replay", LEAK, "--config", cfg, "--json"]);
    const b = await cli(["replay", LEAK, "--config", cfg, "--json"]);
    assert.ok(a.length > 0, "episodes were printed");
    assert.equal(a, b);
  });
});
