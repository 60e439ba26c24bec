/**
 * What a V8 flag costs a decision: the decision of bench/decision.bench.ts (an OOM at "/" over a
 * fixture machine of 1,000 and 10,000 tasks, the `priority` policy attached) run in a fresh node
 * per flag set, the flag sets taking turns round by round so that each meets the same machine
 * load. Each child makes one cold decision first (what an idle daemon does at an episode: its
 * code never compiled for it) and then warm ones; both are reported as wall time and as the CPU
 * time of the child process (user + system), which a loaded machine disturbs less.
 *
 *   node dist/bench/decision-flags.bench.js [--rounds N] [--warm N] -- "FLAGS" ["FLAGS" ...]
 *
 * Each FLAGS is one set of node flags, space-separated ("" for none). Prints a Markdown table;
 * medians over the rounds. No test asserts on these times.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import { parseArgs } from "node:util";
import type { OomCause } from "../src/engine/policy.js";
import { takeSnapshot } from "../src/engine/snapshot.js";
import { FixtureHost } from "../src/os/fixture-host.js";
import { buildFixture } from "../test/support/fixture.js";
import { engineFor, machineSpec } from "./decision.bench.js";
import { median } from "./footprint-probe.js";

const SIZES = [
  { tasks: 1_000, cgroups: 100 },
  { tasks: 10_000, cgroups: 1_000 },
] as const;
/** As bench/decision.bench.ts passes it. */
const CAUSE: OomCause = { kind: "system", trigger: "bench", message: "decision latency benchmark", figures: {} };

interface ChildResult {
  coldMs: number;
  coldCpuMs: number;
  warmMs: number;
  warmCpuMs: number;
}

/** In the child: one cold decision, then `warm` more; wall and CPU (the process's user + system). */
async function child(dir: string, warm: number): Promise<void> {
  const host = new FixtureHost(dir);
  const engine = engineFor("priority");
  const once = async (): Promise<[number, number]> => {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await engine.explain(takeSnapshot(host), "/", CAUSE);
    const c = process.cpuUsage(c0);
    return [performance.now() - t0, (c.user + c.system) / 1000];
  };
  const [coldMs, coldCpuMs] = await once();
  const walls: number[] = [];
  const cpus: number[] = [];
  for (let i = 0; i < warm; i++) {
    const [w, c] = await once();
    walls.push(w);
    cpus.push(c);
  }
  const r: ChildResult = { coldMs, coldCpuMs, warmMs: median(walls), warmCpuMs: median(cpus) };
  process.stdout.write(JSON.stringify(r));
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ options: { rounds: { type: "string" }, warm: { type: "string" }, child: { type: "string" } }, allowPositionals: true });
  const warm = Number(values.warm ?? 10);
  if (values.child !== undefined) return child(values.child, warm);
  const rounds = Number(values.rounds ?? 5);
  const sets = positionals.length > 0 ? positionals : [""];
  const shm = fs.existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir();
  const self = new URL(import.meta.url).pathname;
  console.log(`| node flags | tasks | cold decision | cold, CPU | warm decision (median of ${warm}) | warm, CPU |`);
  console.log("|---|---:|---:|---:|---:|---:|");
  for (const size of SIZES) {
    const dir = buildFixture(machineSpec(size.tasks, size.cgroups).spec, fs.mkdtempSync(path.join(shm, "oomkit-flags-")));
    try {
      const got = new Map(sets.map((s) => [s, [] as ChildResult[]]));
      for (let i = 0; i < rounds; i++) {
        for (const s of sets) {
          const flags = s.split(" ").filter(Boolean);
          const out = execFileSync(process.execPath, [...flags, self, "--child", dir, "--warm", String(warm)], { encoding: "utf8", maxBuffer: 1 << 20 });
          got.get(s)!.push(JSON.parse(out) as ChildResult);
        }
      }
      for (const s of sets) {
        const r = got.get(s)!;
        const m = (k: keyof ChildResult) => `${median(r.map((x) => x[k])).toFixed(0)} ms`;
        console.log(`| ${s ? `\`${s}\`` : "(none)"} | ${size.tasks.toLocaleString("en")} | ${m("coldMs")} | ${m("coldCpuMs")} | ${m("warmMs")} | ${m("warmCpuMs")} |`);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
}

await main();
