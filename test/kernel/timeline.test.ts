// `oomkit record --timeline` on a real kernel: a leak ramps up beside a job holding page cache
// under one memory.max until the kernel OOM-kills it, while the recorder takes a frame every
// second. The timeline is then read back through the one driver (src/timeline/) and checked
// against what the kernel showed: the leak's growth, its OOM kill in memory.events, its process
// gone, the limits. With OOMKIT_RECORD_FIXTURES set, the timeline is kept as timeline-leak-<kernel>
// (samples/timelines/leak is one of these, docs/timelines.md).
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { release, tmpdir } from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import { defaultMakeHost, runCli } from "../../src/cli/cli.js";
import { Engine } from "../../src/engine/engine.js";
import { kernelPolicy } from "../../src/policy/kernel.js";
import { Timeline, playTimeline } from "../../src/timeline/index.js";
import { CGROUP_ROOT, PAGE_CACHE_FILE, TestTree, readKeyed, readNumber, vmSkip, waitFor } from "./helpers.js";

const MiB = 1024 * 1024;
const KERNEL = /^\d+\.\d+/.exec(release())?.[0] ?? release();
const cgPath = (dir: string) => `/${path.relative(CGROUP_ROOT, dir)}`;

async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await runCli({ argv, stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), makeHost: defaultMakeHost() });
  return { code, stdout, stderr };
}

function timelineDir(): { dir: string; keep: boolean } {
  const out = process.env.OOMKIT_RECORD_FIXTURES;
  if (out) return { dir: path.join(out, `timeline-leak-${KERNEL}`), keep: true };
  return { dir: path.join(mkdtempSync(path.join(tmpdir(), "oomkit-timeline-")), "leak"), keep: false };
}

describe("oomkit record --timeline in the guest", { skip: vmSkip() }, () => {
  test("a leak's ramp to its OOM kill, frame by frame, as the kernel showed it", async () => {
    const t = await TestTree.create("timeline");
    const { dir, keep } = timelineDir();
    try {
      const jobs = t.mk("jobs", { "memory.max": "160M", "memory.swap.max": "0" });
      const steady = t.mk("jobs/steady");
      const leakCg = t.mk("jobs/leak");
      const cache = t.hog({ cgroup: steady, mib: 16, file: PAGE_CACHE_FILE || undefined, noHugePages: true });
      await cache.ready;
      const leak = t.hog({ cgroup: leakCg, mib: 400, rateMibPerS: 12, noHugePages: true });
      // Frame 0 is taken at once: the leak must be in its cgroup by then.
      await waitFor(() => (readFileSync(path.join(leakCg, "cgroup.procs"), "utf8").split("\n").includes(String(leak.pid)) ? true : undefined), { timeoutMs: 10_000, what: "the leak in its cgroup" });
      const recording = cli(["record", "--timeline", dir, "--every", "1s", "--for", "16s", "--cgroup", cgPath(t.root)]);
      const ended = await leak.exited;
      const rec = await recording;
      assert.equal(rec.code, 0, rec.stderr);
      assert.match(rec.stdout, /^recorded \d+ frames \(\d+ bytes\) into /);
      assert.equal(ended.signal, "SIGKILL", "the kernel's OOM killer took the leak");
      const kernelEvents = readKeyed(path.join(jobs, "memory.events"));
      assert.ok((kernelEvents.oom_kill ?? 0) >= 1, JSON.stringify(kernelEvents));

      const timeline = Timeline.open(dir);
      assert.ok(timeline.length >= 5, `${timeline.length} frames`);
      const engine = new Engine({ defaultPolicy: { policy: kernelPolicy, options: {} } });
      const leakCurrent: number[] = [];
      const growth: number[] = [];
      const leakTaskSeen: boolean[] = [];
      let lastOomKill = 0;
      let lastMax: number | undefined;
      for (const f of playTimeline(timeline, engine)) {
        const l = f.snapshot.cgroup(cgPath(leakCg));
        const j = f.snapshot.cgroup(cgPath(jobs));
        leakCurrent.push(l?.memory.currentBytes ?? 0);
        growth.push(l ? (engine.history.rates(l.path).growthBytesPerSec ?? 0) : 0);
        leakTaskSeen.push(f.snapshot.task(leak.pid) !== undefined);
        lastOomKill = j?.events?.oomKill ?? 0;
        lastMax = j?.memory.maxBytes;
      }
      // The ramp: the leak grew to tens of MiB, at a rate the history measured, ...
      assert.ok(Math.max(...leakCurrent) > 32 * MiB, `leak memory.current by frame: ${leakCurrent.map((b) => Math.round(b / MiB)).join(" ")} MiB`);
      assert.ok(Math.max(...growth) > 0, "a growth rate from the frames");
      // ... the kernel's kill, as its files said: the counter the kernel shows now, the process gone.
      assert.equal(lastOomKill, kernelEvents.oom_kill, "memory.events oom_kill in the last frame is the kernel's");
      assert.equal(leakTaskSeen[0], true, "the leak's process is in frame 0");
      assert.equal(leakTaskSeen[leakTaskSeen.length - 1], false, "and gone from the last");
      assert.equal(lastMax, 160 * MiB);
      assert.ok(readNumber(path.join(leakCg, "memory.current")) < Math.max(...leakCurrent), "the kill freed what the frames showed growing");
      // Deltas keep it small: a frame after the first holds far less than the first.
      const sizes = timeline.times.map((_, i) => JSON.stringify(timeline.readFrameData(i)).length);
      const later = sizes.slice(1).reduce((a, b) => a + b, 0) / (sizes.length - 1);
      assert.ok(later < (sizes[0] as number), `frame sizes (JSON characters): ${sizes.join(" ")}`);
    } finally {
      await t.teardown();
      if (!keep) rmSync(path.dirname(dir), { recursive: true, force: true });
    }
  });
});
