// Figures for BENCHMARKS.md "Kill path (in the VM)": time from pidfd SIGKILL to the pidfd turning
// readable (the victim gone, its memory freed) for 100 MiB and 500 MiB victims, with and without
// process_mrelease, the same through the daemon's whole kill sequence (killTask: pidfd_open,
// start-time check, SIGKILL, process_mrelease, wait), and from a cgroup.kill write to `populated 0`. Printed as test diagnostics
// and written to the run folder as kill-figures.json. Under TCG absolute times are slow and
// noisy: compare within one run. Repetitions: OOMKIT_BENCH_REPS (default 3).
//
// A benchmark, not a check: it runs only with OOMKIT_BENCH_KILL=1 (otherwise it is skipped, so the
// ordinary suite stays fast):
//
//   npx tsc -p tsconfig.json
//   OOMKIT_BENCH_KILL=1 OOMKIT_KERNELS=6.12 OOMKIT_KERNEL_TESTS=kill-figures node scripts/test-kernel.mjs
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { setImmediate as tick } from "node:timers/promises";
import { after, before, describe, test } from "node:test";
import { closePidfd, killCgroup, killTask, pidfdOpen, pidfdSendSignal, prepareKillPath, processMrelease, waitPidfdReadable } from "../../src/os/kill.js";
import { LinuxHost } from "../../src/os/linux-host.js";
import { parseProcStat } from "../../src/os/parse/proc.js";
import { RUN_DIR, TestTree, vmSkip } from "./helpers.js";

const SKIP: string | false = process.env.OOMKIT_BENCH_KILL === "1" ? vmSkip() : "kill path figures: set OOMKIT_BENCH_KILL=1";
const REPS = Number(process.env.OOMKIT_BENCH_REPS ?? 3);
/** Victims: 4 KiB pages (most heaps) and transparent huge pages (Debian's default, "always"). */
const VICTIMS = [
  { mib: 100, thp: false },
  { mib: 500, thp: false },
  { mib: 500, thp: true },
];

type Row = { what: string; samplesMs: number[]; medianMs: number };
const host = new LinuxHost();
const rows: Row[] = [];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function record(what: string, samplesMs: number[]): void {
  const round = (x: number) => Math.round(x * 10) / 10;
  rows.push({ what, samplesMs: samplesMs.map(round), medianMs: round(median(samplesMs)) });
}

describe("kill path figures (OOMKIT_BENCH_KILL=1)", { skip: SKIP }, () => {
  let t: TestTree;
  before(async () => {
    t = await TestTree.create("figures");
    const t0 = performance.now();
    await prepareKillPath();
    record("prepareKillPath (libc + poll and call threads started)", [performance.now() - t0]);
  });
  after(async () => {
    await t?.teardown();
    if (rows.length === 0) return;
    const kernel = readFileSync("/proc/sys/kernel/osrelease", "utf8").trim();
    for (const r of rows) console.log(`# figure: ${r.what}: median ${r.medianMs} ms (${r.samplesMs.join(", ")})`);
    if (RUN_DIR) writeFileSync(path.join(RUN_DIR, "kill-figures.json"), JSON.stringify({ kernel, date: new Date().toISOString(), reps: REPS, rows }, null, 2));
  });

  for (const { mib, thp } of VICTIMS) {
    const pages = thp ? "THP" : "4 KiB pages";
    test(`pidfd SIGKILL to pidfd readable, ${mib} MiB victim (${pages}), with and without process_mrelease`, async () => {
      const samples = {
        plain: [] as number[],
        mrelease: [] as number[],
        mreleaseCall: [] as number[],
        plainUncharged: [] as number[],
        mreleaseUncharged: [] as number[],
        sequenceSignal: [] as number[],
        sequenceExit: [] as number[],
      };
      for (let rep = 0; rep < REPS; rep++) {
        for (const mode of ["plain", "mrelease"] as const) {
          const cg = t.mk(`task-${mib}-${thp ? "thp" : "4k"}-${mode}-${rep}`);
          const hog = t.hog({ cgroup: cg, mib, noHugePages: !thp });
          await hog.ready;
          const pidfd = pidfdOpen(hog.pid);
          try {
            const current = path.join(cg, "memory.current");
            const charged = Number(readFileSync(current, "utf8"));
            const t0 = performance.now();
            pidfdSendSignal(pidfd, "SIGKILL");
            const waiting = waitPidfdReadable(pidfd, 30_000).then((r) => [r, performance.now() - t0] as const);
            const releasing = mode === "mrelease" ? processMrelease(pidfd).then((r) => [r, performance.now() - t0] as const) : undefined;
            // Memory given back, as the cgroup sees it: 90% of the charge gone.
            while (Number(readFileSync(current, "utf8")) > charged / 10) {
              if (performance.now() - t0 > 30_000) assert.fail(`${current} still high after 30 s`);
              await tick();
            }
            samples[`${mode}Uncharged`].push(performance.now() - t0);
            if (releasing) {
              const [outcome, ms] = await releasing;
              assert.match(outcome, /^(released|already-exited)$/);
              samples.mreleaseCall.push(ms);
            }
            const [exited, ms] = await waiting;
            assert.equal(exited, "exited");
            samples[mode].push(ms);
          } finally {
            closePidfd(pidfd);
          }
          await hog.exited;
        }
        // The daemon's path: the whole sequence, from the call to the victim gone.
        const cg = t.mk(`task-${mib}-${thp ? "thp" : "4k"}-sequence-${rep}`);
        const hog = t.hog({ cgroup: cg, mib, noHugePages: !thp });
        await hog.ready;
        const startTimeTicks = parseProcStat(readFileSync(`/proc/${hog.pid}/stat`, "utf8")).startTimeTicks;
        const r = await killTask(host, { pid: hog.pid, startTimeTicks }, { graceMs: 0, waitMs: 30_000 });
        assert.equal(r.kind, "exited", JSON.stringify(r));
        if (r.kind === "exited") {
          assert.match(r.mrelease, /^(released|already-exited)$/);
          samples.sequenceSignal.push(r.signalMs);
          samples.sequenceExit.push(r.exitMs);
        }
        await hog.exited;
      }
      record(`SIGKILL → readable, ${mib} MiB ${pages}, no mrelease`, samples.plain);
      record(`SIGKILL → readable, ${mib} MiB ${pages}, with mrelease`, samples.mrelease);
      record(`SIGKILL → mrelease returned, ${mib} MiB ${pages}`, samples.mreleaseCall);
      record(`SIGKILL → memory.current below 10%, ${mib} MiB ${pages}, no mrelease`, samples.plainUncharged);
      record(`SIGKILL → memory.current below 10%, ${mib} MiB ${pages}, with mrelease`, samples.mreleaseUncharged);
      record(`killTask call → SIGKILL sent, ${mib} MiB ${pages}`, samples.sequenceSignal);
      record(`killTask call → victim gone (pidfd readable), ${mib} MiB ${pages}`, samples.sequenceExit);
    });
  }

  test("cgroup.kill to populated 0, 4 hogs of 25 MiB and 4 of 125 MiB (4 KiB pages)", async () => {
    for (const mib of [25, 125]) {
      const samples: number[] = [];
      for (let rep = 0; rep < REPS; rep++) {
        const cg = t.mk(`group-${mib}-${rep}`);
        const hogs = Array.from({ length: 4 }, () => t.hog({ cgroup: cg, mib, noHugePages: true }));
        await Promise.all(hogs.map((h) => h.ready));
        const events = path.join(cg, "cgroup.events");
        const t0 = performance.now();
        killCgroup(host, cg);
        while (!readFileSync(events, "utf8").includes("populated 0")) {
          if (performance.now() - t0 > 30_000) assert.fail(`${cg} still populated after 30 s`);
          await tick();
        }
        samples.push(performance.now() - t0);
        await Promise.all(hogs.map((h) => h.exited));
      }
      record(`cgroup.kill → populated 0, 4 × ${mib} MiB 4 KiB pages`, samples);
    }
  });
});
