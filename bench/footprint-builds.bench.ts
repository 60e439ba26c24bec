/**
 * Builds of the daemon side by side, in one run: each main.js given is started in turn (round
 * by round, so every build meets the same machine load) with the deploy flags, and measured like
 * bench/footprint.bench.ts measures the daemon: spawn → "oomkit: watching" (wall time, and the CPU
 * time the daemon had used by then), then VmRSS, RssAnon
 * and RssFile 2 s later. Medians per build. For a step whose saving is smaller than the run-to-run
 * spread of the steps table (a few MiB of RssAnon without --max-semi-space-size).
 *
 *   node dist/bench/footprint-builds.bench.js --runs 5 LABEL=path/to/dist/src/cli/main.js ...
 *
 * Earlier builds come from `git archive COMMIT | tar -x -C DIR`, node_modules linked, `npm run build`.
 */
import { parseArgs } from "node:util";
import { DEPLOY_FLAGS, footprintOf, median, mib, sleep, startDaemon, stopDaemon } from "./footprint-probe.js";

const SETTLE_MS = 2000;

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ options: { runs: { type: "string" } }, allowPositionals: true });
  const runs = Number(values.runs ?? 5);
  const builds = positionals.map((p) => ({ label: p.slice(0, p.indexOf("=")), main: p.slice(p.indexOf("=") + 1) }));
  if (builds.length === 0 || builds.some((b) => !b.label || !b.main)) throw new Error("usage: footprint-builds.bench.js [--runs N] LABEL=main.js ...");
  const got = new Map(builds.map((b) => [b.label, [] as { ms: number; cpuMs: number; rss: number; anon: number; file: number }[]]));
  for (let i = 0; i < runs; i++) {
    for (const b of builds) {
      const d = await startDaemon(DEPLOY_FLAGS, [], b.main);
      await sleep(SETTLE_MS);
      const f = footprintOf(d.pid);
      got.get(b.label)!.push({ ms: d.startMs, cpuMs: d.startCpuMs, rss: f.vmRssKiB, anon: f.rssAnonKiB, file: f.rssFileKiB });
      await stopDaemon(d);
    }
  }
  console.log("| build | start → watching | CPU to watching | VmRSS MiB | RssAnon | RssFile | RssAnon of each run |");
  console.log("|---|---:|---:|---:|---:|---:|---|");
  for (const b of builds) {
    const r = got.get(b.label)!;
    console.log(`| ${b.label} | ${median(r.map((x) => x.ms)).toFixed(0)} ms | ${median(r.map((x) => x.cpuMs)).toFixed(0)} ms | ${mib(median(r.map((x) => x.rss)))} | ${mib(median(r.map((x) => x.anon)))} | ${mib(median(r.map((x) => x.file)))} | ${r.map((x) => mib(x.anon)).join(", ")} |`);
  }
}

await main();
