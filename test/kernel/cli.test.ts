// The CLI on a real kernel, run in-process: `oomkit doctor` reports everything present, and
// `oomkit record` captures a real tree under pressure that `dump --root` reads back as the live
// dump showed it. With OOMKIT_RECORD_FIXTURES set (the harness points it at the run folder,
// test/kernel/README.md), the captures are kept as fixtures named v2-<scenario>-<kernel>.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { release, tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { defaultMakeHost, runCli } from "../../src/cli/cli.js";
import type { DoctorReport } from "../../src/os/doctor.js";
import type { Dump } from "../../src/report/dump.js";
import { CGROUP_ROOT, TestTree, readPressure, vmSkip, waitFor, waitMemoryEvent } from "./helpers.js";

async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await runCli({ argv, stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), makeHost: defaultMakeHost() });
  return { code, stdout, stderr };
}

const cgPath = (dir: string) => `/${path.relative(CGROUP_ROOT, dir)}`;
const setAdj = (pid: number, adj: number) => writeFileSync(`/proc/${pid}/oom_score_adj`, String(adj));
/** "6.12" from "6.12.117+deb12-amd64". */
const KERNEL = /^\d+\.\d+/.exec(release())?.[0] ?? release();

describe("oomkit doctor in the guest", { skip: vmSkip() }, () => {
  test("--json: pure v2, the memory controller, PSI, CAP_SYS_RESOURCE and every kill primitive", async () => {
    // doctor looks for cgroup.kill in a child of the root, as a real machine always has one.
    const t = await TestTree.create("doctor");
    try {
      const r = await cli(["doctor", "--json"]);
      assert.equal(r.code, 0, r.stderr);
      const report = JSON.parse(r.stdout) as DoctorReport;
      assert.equal(report.schema, "oomkit.doctor/1");
      assert.equal(report.usable, true);
      const check = (id: string) => {
        const c = report.checks.find((x) => x.id === id);
        assert.ok(c, `a "${id}" check`);
        return c;
      };
      for (const id of ["kernel", "root", "cap-sys-resource", "cgroup-mode", "memory-controller", "psi-system", "psi-cgroup", "psi-trigger-window", "pidfd-open", "process-mrelease", "cgroup-kill", "memory-reclaim"]) {
        assert.equal(check(id).status, "ok", `${id}: ${check(id).detail}`);
      }
      assert.match(check("cgroup-mode").detail, /pure cgroup v2 at \/sys\/fs\/cgroup/);
      assert.equal(check("kernel").detail, release());
      assert.equal(check("cap-sys-resource").detail, "present");
      assert.equal(check("memory-controller").detail, `enabled at ${CGROUP_ROOT}`);
    } finally {
      await t.teardown();
    }
  });
});

/** The parts of a dump that do not move between two reads a moment apart. */
function stable(d: Dump) {
  return {
    schema: d.schema,
    kernelRelease: d.kernelRelease,
    cgroupMode: d.cgroupMode,
    scope: d.scope,
    system: {
      memTotalBytes: d.system.memTotalBytes,
      swapTotalBytes: d.system.swapTotalBytes,
      pageSizeBytes: d.system.pageSizeBytes,
      totalPages: d.system.totalPages,
      swappiness: d.system.swappiness,
    },
    cgroups: d.cgroups.map((c) => ({
      path: c.path,
      depth: c.depth,
      limits: {
        min: c.memory.minBytes,
        low: c.memory.lowBytes,
        high: c.memory.highBytes,
        max: c.memory.maxBytes,
        swapMax: c.memory.swapMaxBytes,
        oomGroup: c.memory.oomGroup,
      },
      oom: c.events && { oom: c.events.oom, oomKill: c.events.oomKill },
      populated: c.populated,
      pids: c.pids,
      xattrs: c.xattrs,
    })),
    tasks: d.tasks.map((x) => ({ pid: x.pid, comm: x.comm, uid: x.uid, cgroup: x.cgroup, oomScoreAdj: x.oomScoreAdj })).sort((a, b) => a.pid - b.pid),
  };
}

/** Where a capture goes: the fixture folder the harness asked for, or a scratch folder. */
function captureDir(scenario: string): { dir: string; keep: boolean } {
  const out = process.env.OOMKIT_RECORD_FIXTURES;
  if (out) return { dir: path.join(out, `v2-${scenario}-${KERNEL}`), keep: true };
  return { dir: path.join(mkdtempSync(path.join(tmpdir(), "oomkit-record-")), "fixture"), keep: false };
}

/**
 * Records the tree with `oomkit record --cgroup`, takes the live dump right after, and checks
 * that `dump --root` of the capture shows the same structure, limits, counters and tasks.
 */
async function recordAndCompare(t: TestTree, scenario: string): Promise<Dump> {
  const scope = cgPath(t.root);
  const { dir, keep } = captureDir(scenario);
  try {
    const rec = await cli(["record", "--fixture", dir, "--cgroup", scope]);
    assert.equal(rec.code, 0, rec.stderr);
    assert.match(rec.stdout, /^recorded \d+ files \(\d+ cgroups\) into /);
    const live = await cli(["dump", "--json", "--cgroup", scope, "--top", "50"]);
    assert.equal(live.code, 0, live.stderr);
    const back = await cli(["dump", "--root", dir, "--json", "--cgroup", scope, "--top", "50"]);
    assert.equal(back.code, 0, back.stderr);
    const liveDump = JSON.parse(live.stdout) as Dump;
    const backDump = JSON.parse(back.stdout) as Dump;
    assert.match(backDump.source, /^fixture /);
    assert.deepEqual(stable(backDump), stable(liveDump));
    return backDump;
  } finally {
    if (!keep) rmSync(path.dirname(dir), { recursive: true, force: true });
  }
}

describe("oomkit record in the guest", { skip: vmSkip() }, () => {
  // Each test tears its tree down before the next starts: a throttled hog left running spends
  // a vCPU in reclaim and slows everything after it (TCG has two).
  const trees: TestTree[] = [];
  after(async () => {
    for (const t of trees) await t.teardown();
  });

  test("throttled: a hog under memory.high with pressure, and a batch cgroup with oom_score_adj set", async () => {
    const t = await TestTree.create("throttled");
    trees.push(t);
    const web = t.mk("web", { "memory.high": "24M", "memory.swap.max": "0" });
    const batch = t.mk("batch", { "memory.low": "32M", "memory.max": "256M", "memory.swap.max": "0" });
    const keen = t.hog({ cgroup: batch, mib: 16 });
    const spare = t.hog({ cgroup: batch, mib: 8 });
    await Promise.all([keen.ready, spare.ready]);
    setAdj(keen.pid, 500);
    setAdj(spare.pid, -500);
    const throttled = t.hog({ cgroup: web, mib: 64 });
    const file = path.join(web, "memory.pressure");
    await waitFor(() => (readPressure(file).some.avg10 > 0 ? true : undefined), {
      timeoutMs: 20_000,
      what: `some pressure in ${file}`,
      last: () => JSON.stringify(readPressure(file)),
    });

    const d = await recordAndCompare(t, "throttled").finally(() => t.teardown());
    const w = d.cgroups.find((c) => c.path === cgPath(web))!;
    assert.equal(w.memory.highBytes, 24 * 1024 * 1024);
    assert.ok(w.pressure.memory!.some.avg10 > 0, "the capture holds the pressure");
    assert.ok((w.events?.high ?? 0) > 0);
    assert.deepEqual(
      d.tasks.map((x) => [x.pid, x.oomScoreAdj]).sort((a, b) => a[0]! - b[0]!),
      [[keen.pid, 500], [spare.pid, -500], [throttled.pid, 0]].sort((a, b) => a[0]! - b[0]!),
    );
  });

  test("memcg-oom: a cgroup whose memory.events shows an OOM kill, with tasks at adj 0, +100 and -1000", async () => {
    const t = await TestTree.create("memcg-oom");
    trees.push(t);
    const jobs = t.mk("jobs", { "memory.max": "64M", "memory.swap.max": "0" });
    const big = t.hog({ cgroup: jobs, mib: 16, noHugePages: true });
    const small = t.hog({ cgroup: jobs, mib: 8, noHugePages: true });
    const guarded = t.hog({ cgroup: jobs, mib: 4, noHugePages: true });
    await Promise.all([big.ready, small.ready, guarded.ready]);
    setAdj(small.pid, 100);
    setAdj(guarded.pid, -1000);
    const greedy = t.hog({ cgroup: jobs, mib: 64, noHugePages: true });
    assert.equal((await greedy.exited).signal, "SIGKILL");
    await waitMemoryEvent(jobs, "oom_kill", 1, 5_000);

    let d: Dump;
    let inJobs: Dump;
    try {
      d = await recordAndCompare(t, "memcg-oom");
      inJobs = JSON.parse((await cli(["dump", "--json", "--cgroup", cgPath(jobs)])).stdout) as Dump;
    } finally {
      await t.teardown();
    }
    const j = d.cgroups.find((c) => c.path === cgPath(jobs))!;
    assert.equal(j.events?.oomKill, 1);
    assert.ok((j.events?.oom ?? 0) >= 1);
    assert.equal(j.memory.maxBytes, 64 * 1024 * 1024);
    assert.equal(j.pids, 3);
    // Ranked for an OOM in the tree (no limit above jobs: the machine's totalpages) ...
    assert.deepEqual(d.tasks.map((x) => x.pid), [small.pid, big.pid, guarded.pid]);
    // ... and for an OOM in jobs, where its memory.max makes adj +100 worth far less.
    assert.deepEqual(inJobs.tasks.map((x) => x.pid), [big.pid, small.pid, guarded.pid]);
  });
});
