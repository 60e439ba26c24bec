// The committed fixtures recorded with `oomkit record` inside the VM (test/kernel/README.md,
// "Recording fixtures"): each loads with FixtureHost and shows what its scenario set up on the
// real kernel, and `oomkit explain` decides on it as the scenario expects.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { defaultMakeHost, runCli } from "../../src/cli/cli.js";
import type { CgroupNode } from "../../src/engine/cgroup.js";
import type { EpisodeRecord } from "../../src/engine/episode.js";
import { type Snapshot, takeSnapshot } from "../../src/engine/snapshot.js";
import type { TaskNode } from "../../src/engine/task.js";
import { FixtureHost } from "../../src/os/fixture-host.js";
import { ManualClock } from "../../src/os/host.js";

const FIXTURES = path.join(import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname), "../../../test/fixtures");
const MiB = 1024 * 1024;
/**
 * How far below what a hog touched its RssAnon may read: 6.1 (SPLIT_RSS_COUNTING) leaves up to
 * 64 page-fault events per thread out of the mm's counters until the thread syncs them.
 */
const RSS_LAG_BYTES = 64 * 4096;

/** The files a capture may hold: what oomkit reads, and nothing else of the guest. */
const ALLOWED = [
  /^oomkit-fixture\.json$/,
  /^proc\/(meminfo|vmstat|pressure\/(cpu|io|memory)|self\/(cgroup|mounts|status)|sys\/kernel\/osrelease|sys\/vm\/swappiness)$/,
  /^proc\/\d+\/(cgroup|cmdline|exe|oom_score|oom_score_adj|stat|status)$/,
  /^sys\/fs\/cgroup\/([\w.-]+\/)*(cgroup\.(controllers|events|procs)|(cpu|io|memory)\.pressure|memory\.[a-z_.]+)$/,
];

function filesUnder(dir: string, rel = ""): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...filesUnder(dir, p));
    else out.push(p);
  }
  return out.sort();
}

async function explain(root: string, scope: string): Promise<EpisodeRecord> {
  let stdout = "";
  let stderr = "";
  const clock = new ManualClock(1_000, Date.UTC(2026, 10, 22));
  const code = await runCli({
    argv: ["explain", "--root", root, "--scope", scope, "--json"],
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    makeHost: defaultMakeHost(clock),
    clock,
  });
  assert.equal(code, 0, stderr);
  return JSON.parse(stdout) as EpisodeRecord;
}

/** The plan's single victim pid (the scenarios all end in one task kill). */
function victim(r: EpisodeRecord): number | undefined {
  assert.equal(r.handled, true, JSON.stringify(r.chain));
  assert.equal(r.plan.length, 1);
  const a = r.plan[0]!;
  assert.equal(a.kind, "kill-task");
  return a.kind === "kill-task" ? a.pid : undefined;
}

/** The test tree the scenario built: the only child of the recorded root. */
function tree(snap: Snapshot, scenario: string): CgroupNode {
  const kids = snap.root!.children;
  assert.equal(kids.length, 1, `one recorded tree, got ${kids.map((c) => c.name).join(", ")}`);
  assert.match(kids[0]!.name, new RegExp(`^oomkit-test-${scenario}-\\d+-\\d+$`));
  return kids[0]!;
}

function child(c: CgroupNode, name: string): CgroupNode {
  const found = c.children.find((x) => x.name === name);
  assert.ok(found, `${c.path}/${name}`);
  return found;
}

/** The task of a cgroup with this oom_score_adj (each scenario gives them distinct ones). */
function byAdj(c: CgroupNode, adj: number): TaskNode {
  const found = c.tasks.filter((t) => t.oomScoreAdj === adj);
  assert.equal(found.length, 1, `one task with oom_score_adj ${adj} in ${c.path}`);
  return found[0]!;
}

/** A hog holds at least its size in anonymous memory and is named by its command line. */
function assertHog(t: TaskNode, mib: number, cgroup: CgroupNode): void {
  assert.equal(t.comm, "hog");
  assert.equal(t.cgroupPath, cgroup.path);
  assert.equal(t.exiting, false);
  assert.equal(t.cmdline[t.cmdline.indexOf("-m") + 1], String(mib));
  assert.ok(t.memory.rssAnonBytes >= mib * MiB - RSS_LAG_BYTES, `pid ${t.pid}: RssAnon ${t.memory.rssAnonBytes} >= ${mib} MiB`);
  assert.ok(t.kernelOomScore !== undefined, "the capture has the kernel's oom_score");
}

const SCENARIOS: Record<string, (root: string, snap: Snapshot) => Promise<void>> = {
  async throttled(root, snap) {
    const t = tree(snap, "throttled");
    const web = child(t, "web");
    const batch = child(t, "batch");
    assert.deepEqual(t.children.map((c) => c.name), ["batch", "web"]);

    assert.equal(web.memory.highBytes, 24 * MiB);
    assert.equal(web.memory.maxBytes, Infinity);
    assert.equal(web.memory.swapMaxBytes, 0);
    assert.ok((web.events?.high ?? 0) > 0, "memory.high was hit");
    assert.equal(web.events?.oomKill, 0);
    const p = web.pressure.memory!;
    assert.ok(p.some.avg10 > 0 && p.some.totalUsec > 0, `web is under pressure: ${JSON.stringify(p)}`);
    assert.ok(p.full && p.full.totalUsec > 0);
    assert.equal(web.tasks.length, 1);
    const throttled = web.tasks[0]!;
    assert.equal(throttled.oomScoreAdj, 0);
    assert.equal(throttled.comm, "hog");
    assert.ok(throttled.memory.rssAnonBytes >= 20 * MiB, "held near its memory.high");

    assert.equal(batch.memory.lowBytes, 32 * MiB);
    assert.equal(batch.memory.maxBytes, 256 * MiB);
    assert.equal(batch.memory.swapMaxBytes, 0);
    assert.equal(batch.tasks.length, 2);
    const keen = byAdj(batch, 500);
    const spare = byAdj(batch, -500);
    assertHog(keen, 16, batch);
    assertHog(spare, 8, batch);
    assert.ok(keen.kernelOomScore! > throttled.kernelOomScore! && throttled.kernelOomScore! > spare.kernelOomScore!);

    // In batch, adj +500 (of 65,536 totalpages) outweighs the 8 MiB difference.
    assert.equal(snap.totalPagesFor(batch), (256 * MiB) / 4096);
    assert.equal(victim(await explain(root, batch.path)), keen.pid);
    // In web the throttled hog is all there is.
    assert.equal(victim(await explain(root, web.path)), throttled.pid);
    // Machine-wide the same adj +500 task goes first.
    assert.equal(victim(await explain(root, "/")), keen.pid);
  },

  async "memcg-oom"(root, snap) {
    const t = tree(snap, "memcg-oom");
    const jobs = child(t, "jobs");
    assert.equal(jobs.memory.maxBytes, 64 * MiB);
    assert.equal(jobs.memory.swapMaxBytes, 0);
    assert.equal(jobs.events?.oomKill, 1);
    assert.ok((jobs.events?.oom ?? 0) >= 1);
    assert.ok((jobs.events?.max ?? 0) > 0);
    assert.equal(jobs.eventsLocal?.oomKill, 1);
    assert.equal(t.events?.oomKill, 1, "hierarchical: the tree counts its child's kill");
    assert.equal(t.eventsLocal?.oomKill, 0);
    assert.equal(jobs.populated, true);
    assert.equal(jobs.tasks.length, 3, "the greedy hog is gone, the three others are left");
    const big = byAdj(jobs, 0);
    const small = byAdj(jobs, 100);
    const guarded = byAdj(jobs, -1000);
    assertHog(big, 16, jobs);
    assertHog(small, 8, jobs);
    assertHog(guarded, 4, jobs);
    assert.equal(guarded.kernelOomScore, 0);
    assert.equal(snap.badness(guarded).killable, false);

    // For an OOM in jobs, totalpages is its memory.max: adj +100 adds 1,600 pages, less than
    // the 2,048 by which big outweighs small.
    assert.equal(snap.totalPagesFor(jobs), (64 * MiB) / 4096);
    const inJobs = await explain(root, jobs.path);
    assert.equal(victim(inJobs), big.pid);
    const skipped = inJobs.candidates.find((c) => c.kind === "task" && c.pid === guarded.pid);
    assert.equal(skipped?.skipped, "oom_score_adj -1000");
    // Machine-wide, adj +100 is worth ~100 × MemTotal/1000 pages and small goes first.
    assert.equal(victim(await explain(root, "/")), small.pid);
  },
};

const dirs = fs.existsSync(FIXTURES) ? fs.readdirSync(FIXTURES).filter((d) => /^v2-/.test(d)).sort() : [];

describe("fixtures recorded on real kernels", () => {
  test("there are captures of every scenario from both kernels", () => {
    for (const scenario of Object.keys(SCENARIOS)) {
      for (const kernel of ["6.1", "6.12"]) assert.ok(dirs.includes(`v2-${scenario}-${kernel}`), `test/fixtures/v2-${scenario}-${kernel}`);
    }
  });

  for (const name of dirs) {
    const m = /^v2-(.+)-(\d+\.\d+)$/.exec(name);
    const root = path.join(FIXTURES, name);
    describe(name, () => {
      test("is named v2-<scenario>-<kernel> for a known scenario", () => {
        assert.ok(m && m[1]! in SCENARIOS, `${name}: scenarios are ${Object.keys(SCENARIOS).join(", ")}`);
      });

      test("holds only what oomkit reads, each file as the kernel printed it", () => {
        const files = filesUnder(root);
        for (const f of files) {
          assert.ok(ALLOWED.some((re) => re.test(f)), `${name}/${f} is not a file oomkit reads`);
          const text = fs.readFileSync(path.join(root, f), "utf8");
          if (text === "") continue; // cgroup.procs of a cgroup with no process of its own
          if (f.endsWith("/cmdline")) assert.ok(text.endsWith("\0"), `${f} ends with NUL`);
          else assert.ok(text.endsWith("\n"), `${name}/${f} ends with a newline`);
          assert.doesNotMatch(text, /PRIVATE KEY|passw(or)?d|secret|token=/i, `${name}/${f}`);
        }
      });

      test("reads back as cgroup v2 from the kernel in its name", () => {
        const snap = takeSnapshot(new FixtureHost(root));
        assert.equal(snap.cgroupMode.mode, "v2");
        assert.equal(snap.cgroupMode.perCgroup, true);
        assert.ok(snap.cgroupMode.v2Controllers.includes("memory"));
        assert.ok(snap.system.kernelRelease?.startsWith(`${m?.[2]}.`), `${snap.system.kernelRelease} is ${m?.[2]}`);
        assert.equal(snap.pageSizeBytes, 4096);
        assert.ok(snap.system.meminfo?.memTotalBytes, "MemTotal");
        assert.ok(snap.system.pressure.memory, "/proc/pressure/memory");
      });

      test("shows the scenario, and explain decides as expected", async () => {
        const check = m && SCENARIOS[m[1]!];
        assert.ok(check);
        await check(root, takeSnapshot(new FixtureHost(root)));
      });
    });
  }
});
