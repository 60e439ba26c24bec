/**
 * Builds of the daemon side by side, in one run: each main.js given is started in turn (round
 * by round, so every build meets the same machine load) with the deploy flags, and measured like
 * bench/footprint.bench.ts measures the daemon: spawn → "oomkit: watching" (wall time, and the CPU
 * time the daemon had used by then), then VmRSS, RssAnon
 * and RssFile 2 s later. Medians per build. For a step whose saving is smaller than the run-to-run
 * spread of the steps table (a few MiB of RssAnon without --max-semi-space-size).
 *
 *   node dist/bench/footprint-builds.bench.js --runs 5 [--daemon-args="--metrics-listen none"] LABEL=path/to/dist/src/cli/main.js ...
 *
 * Earlier builds come from `git archive COMMIT | tar -x -C DIR`, node_modules linked, `npm run build`.
 *
 * Beside the figures read from outside, each daemon reports its live heap after a full GC at the
 * moment its footprint is read (an --expose-gc preload that answers SIGUSR2 with gc() and a line
 * on stderr: heapUsed, heapTotal, RssAnon): RssAnon alone moves by 1–1.5 MiB between runs of one
 * build as collections fall, the live heap by under 0.2 MiB.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { DEPLOY_FLAGS, footprintOf, median, mib, sleep, startDaemon, stopDaemon } from "./footprint-probe.js";

const SETTLE_MS = 2000;

/** Answers SIGUSR2 with two full GCs and a line: the live heap and RssAnon after them. */
const GC_PROBE = `process.on("SIGUSR2", () => { global.gc(); global.gc(); const m = process.memoryUsage();
  const anon = Number(/RssAnon:\\s+(\\d+)/.exec(require("fs").readFileSync("/proc/self/status", "utf8"))[1]);
  process._rawDebug("GC-HEAP " + JSON.stringify({ used: m.heapUsed / 1024, total: m.heapTotal / 1024, anon })); });`;

async function heapAfterGc(d: { pid: number; stderr(): string }): Promise<{ used: number; total: number; anon: number }> {
  process.kill(d.pid, "SIGUSR2");
  for (;;) {
    const m = /GC-HEAP (.*)\n/.exec(d.stderr());
    if (m) return JSON.parse(m[1] as string) as { used: number; total: number; anon: number };
    await sleep(20);
  }
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ options: { runs: { type: "string" }, "daemon-args": { type: "string" } }, allowPositionals: true });
  const runs = Number(values.runs ?? 5);
  // After startDaemon's own flags: a repeated option's last value wins.
  const daemonArgs = (values["daemon-args"] ?? "").split(" ").filter(Boolean);
  const builds = positionals.map((p) => ({ label: p.slice(0, p.indexOf("=")), main: p.slice(p.indexOf("=") + 1) }));
  if (builds.length === 0 || builds.some((b) => !b.label || !b.main)) throw new Error("usage: footprint-builds.bench.js [--runs N] [--daemon-args=ARGS] LABEL=main.js ...");
  const probe = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-fpb-")), "gc-probe.cjs");
  fs.writeFileSync(probe, GC_PROBE);
  const got = new Map(builds.map((b) => [b.label, [] as { ms: number; cpuMs: number; rss: number; anon: number; file: number; heap: number; heapTotal: number; gcAnon: number }[]]));
  for (let i = 0; i < runs; i++) {
    for (const b of builds) {
      const d = await startDaemon([...DEPLOY_FLAGS, "--expose-gc", "--require", probe], daemonArgs, b.main);
      await sleep(SETTLE_MS);
      const f = footprintOf(d.pid);
      const h = await heapAfterGc(d);
      got.get(b.label)!.push({ ms: d.startMs, cpuMs: d.startCpuMs, rss: f.vmRssKiB, anon: f.rssAnonKiB, file: f.rssFileKiB, heap: h.used, heapTotal: h.total, gcAnon: h.anon });
      await stopDaemon(d);
    }
  }
  fs.rmSync(path.dirname(probe), { recursive: true, force: true });
  console.log("| build | start → watching | CPU to watching | VmRSS MiB | RssAnon | RssFile | RssAnon of each run | after a full GC: live heap | heap total | RssAnon |");
  console.log("|---|---:|---:|---:|---:|---:|---|---:|---:|---:|");
  for (const b of builds) {
    const r = got.get(b.label)!;
    const med = (k: keyof (typeof r)[number]) => mib(median(r.map((x) => x[k])));
    console.log(`| ${b.label} | ${median(r.map((x) => x.ms)).toFixed(0)} ms | ${median(r.map((x) => x.cpuMs)).toFixed(0)} ms | ${med("rss")} | ${med("anon")} | ${med("file")} | ${r.map((x) => mib(x.anon)).join(", ")} | ${med("heap")} | ${med("heapTotal")} | ${med("gcAnon")} |`);
  }
}

await main();
