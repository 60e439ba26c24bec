/**
 * The model against the VM: the kernel suite's three peers scenarios (BENCHMARKS.md, "Against
 * the peers (in the VM)", run of 2026-11-22, 6.12 under TCG), rebuilt as scenarios in
 * test/fixtures/sim-calibration/. For each: the same victims as the VM (the kernel's own and
 * oomkit's), the same order (oomkit's kill comes before the kernel's OOM killer acts, which never
 * acts first), the same trigger, and oomkit's first-kill time as a ratio to the kernel's within
 * CALIBRATION_FACTOR of the VM's ratio (docs/simulator.md, "Calibration").
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { fileURLToPath } from "node:url";
import { loadEngineSetup } from "../../../src/cli/setup.js";
import type { SimRunResult } from "../../../src/simulate/result.js";
import { runScenario } from "../../../src/simulate/run.js";
import { parseScenario } from "../../../src/simulate/scenario.js";

const DIR = fileURLToPath(new URL("../../../../test/fixtures/sim-calibration/", import.meta.url));

/** The simulated ratio may be this many times the VM's, or the VM's this many times the simulated one. */
const CALIBRATION_FACTOR = 2;
/** The leak (or the two jobs) start this long after the run does (start_ms in the fixtures). */
const LOAD_STARTS_MS = 3000;

/** The VM's figures: median leak start → first kill, s; the victims; what fired oomkit. */
const VM = {
  "leak-noswap": { kernelS: 15.9, oomkitS: 7.3, kernelVictim: "leak", oomkitVictim: "leak", cause: "memory-low", config: undefined },
  "leak-zram": { kernelS: 22.2, oomkitS: 10.3, kernelVictim: "leak", oomkitVictim: "leak", cause: "machine-full-stall", config: undefined },
  "two-jobs": { kernelS: 13.4, oomkitS: 6.3, kernelVictim: "important", oomkitVictim: "batch", cause: "memory-low", config: "two-jobs.config.toml" },
} as const;

const load = (file: string | undefined) => loadEngineSetup(file === undefined ? undefined : `${DIR}${file}`, { enforceOwnership: false, warn: () => {} });
const run = async (name: string, config: string | undefined): Promise<SimRunResult> =>
  runScenario(parseScenario(fs.readFileSync(`${DIR}${name}.toml`, "utf8"), `${name}.toml`), load(config), { label: config ?? "default" });
const firstKillS = (r: SimRunResult) => ((r.summary.firstKillMs ?? Number.NaN) - LOAD_STARTS_MS) / 1000;

describe("calibration against the VM's peers scenarios", () => {
  for (const [name, vm] of Object.entries(VM)) {
    test(`${name}: same victims, same order and trigger, first-kill ratio within ${CALIBRATION_FACTOR}× of the VM's`, async () => {
      const kernel = await run(name, "kernel-only.config.toml");
      const oomkit = await run(name, vm.config);
      const k = kernel.kills[0];
      const o = oomkit.kills[0];
      assert.equal(k?.by, "kernel");
      assert.equal(k?.comm, vm.kernelVictim, "the kernel's victim");
      assert.equal(o?.by, "oomkit", "oomkit acts before the kernel's OOM killer");
      assert.equal(o?.comm, vm.oomkitVictim, "oomkit's victim");
      assert.equal(oomkit.summary.kernelKills === 0 || (oomkit.kills.find((x) => x.by === "kernel")?.atMs ?? Infinity) > (o?.atMs ?? 0), true, "no kernel kill before oomkit's");
      assert.equal(oomkit.episodes.find((e) => e.id === o?.episodeId)?.cause.trigger, vm.cause, "the trigger that fired");
      const simRatio = firstKillS(oomkit) / firstKillS(kernel);
      const vmRatio = vm.oomkitS / vm.kernelS;
      const factor = Math.max(simRatio / vmRatio, vmRatio / simRatio);
      assert.ok(factor <= CALIBRATION_FACTOR, `simulated ratio ${simRatio.toFixed(2)} vs the VM's ${vmRatio.toFixed(2)}: ${factor.toFixed(2)}×`);
    });
  }
});
