/**
 * The verifier refuses what it cannot check (issue 10, "One bad file never means 'no victim'"):
 * a task whose oom_score_adj or cgroup could not be read may be -1000 or under an omit mark; a
 * cgroup whose members or marks could not be read may hold what no check has seen. The rest of the
 * scope is still ranked, and the record says what was passed over and why.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { Engine } from "../../../src/engine/engine.js";
import type { EpisodeRecord } from "../../../src/engine/episode.js";
import { definePolicy, type OomCause, type Policy } from "../../../src/engine/policy.js";
import { takeSnapshot } from "../../../src/engine/snapshot.js";
import type { Host } from "../../../src/os/host.js";
import { FixtureHost } from "../../../src/os/fixture-host.js";
import { cgroupPath } from "../../../src/os/paths.js";
import { kernelPolicy } from "../../../src/policy/kernel.js";
import { checkEpisodeRecord } from "../../../src/report/episode-schema.js";
import { summarize } from "../../../src/report/human.js";
import { buildFixture } from "../../support/fixture.js";
import { FaultyHost } from "../../support/faulty-host.js";

const MB_KB = 1024;
const cause: OomCause = { kind: "system", trigger: "test", message: "test", figures: {} };

/** With every file readable the kernel's choice is pid 20 in /work/b... once /protected is left out. */
const MACHINE = {
  cgroups: { "/work": {}, "/work/a": {}, "/work/b": {}, "/protected": { xattrs: { "user.oomd_omit": "1" } } },
  tasks: [
    { pid: 1, comm: "init", cgroup: "/" },
    { pid: 10, comm: "guard", cgroup: "/work/a", rssAnonKb: 900 * MB_KB, oomScoreAdj: -1000 },
    { pid: 11, comm: "app", cgroup: "/work/a", rssAnonKb: 500 * MB_KB },
    { pid: 12, comm: "small", cgroup: "/work/b", rssAnonKb: 100 * MB_KB },
    { pid: 20, comm: "db", cgroup: "/protected", rssAnonKb: 800 * MB_KB },
  ],
};

const faulty = (dir = buildFixture(MACHINE)) => new FaultyHost(new FixtureHost(dir));

function explain(host: Host, scope = "/", policy?: Policy): Promise<EpisodeRecord> {
  const engine = new Engine({
    attachments: policy ? [{ cgroup: cgroupPath(scope), policy, options: {} }] : [],
    defaultPolicy: { policy: kernelPolicy, options: {} },
  });
  return engine.explain(takeSnapshot(host), scope, cause);
}

const victims = (r: EpisodeRecord) => r.plan.map((a) => (a.kind === "kill-task" ? a.pid : a.kind === "kill-cgroup" ? a.cgroup : a.kind));
const skipped = (r: EpisodeRecord, pid: number) => r.candidates.find((c) => c.pid === pid && c.skipped !== undefined)?.skipped;
const killPid = (pid: number) =>
  definePolicy({ name: `kill-${pid}`, handleOutOfMemory: (oc) => oc.killTask(oc.snapshot.task(pid) as NonNullable<ReturnType<typeof oc.snapshot.task>>, "named") });
const killCgroup = (p: string) =>
  definePolicy({ name: "kill-cgroup", handleOutOfMemory: (oc) => oc.killCgroup(oc.snapshot.cgroup(p) as NonNullable<ReturnType<typeof oc.snapshot.cgroup>>, "named") });

describe("a task whose oom_score_adj cannot be read is never taken for 0", () => {
  for (const errno of ["EIO", "ENOMEM", "EAGAIN"]) {
    test(`${errno}: the -1000 task is passed over with the reason; the default kills the next`, async () => {
      const r = await explain(faulty().fail("/proc/10/oom_score_adj", errno));
      assert.deepEqual(victims(r), [11]);
      assert.equal(skipped(r, 10), `oom_score_adj unreadable: ${errno}`);
    });
  }

  test("a plan naming it is refused with the reason", async () => {
    const r = await explain(faulty().fail("/proc/10/oom_score_adj", "EIO"), "/", killPid(10));
    assert.equal(r.chain[0]?.outcome, "rejected");
    assert.equal(r.chain[0]?.verdicts[0]?.reason, "oom_score_adj unreadable: EIO");
    assert.deepEqual(victims(r), [11]);
  });
});

describe("a task whose cgroup is unknown cannot be checked against omit marks", () => {
  test("its /proc/<pid>/cgroup unreadable: refused, and the default kills the next", async () => {
    const r = await explain(faulty().fail("/proc/20/cgroup", "EIO"));
    assert.deepEqual(victims(r), [11]);
    assert.equal(skipped(r, 20), "its cgroup is unknown (cgroup unreadable: EIO): omit rules cannot be checked");
  });

  test("its /proc/<pid>/cgroup line does not parse: the same (it was killed in an omit cgroup before)", async () => {
    const dir = buildFixture(MACHINE);
    fs.writeFileSync(path.join(dir, "proc/20/cgroup"), "garbage\n");
    const r = await explain(new FixtureHost(dir));
    assert.deepEqual(victims(r), [11]);
    assert.equal(skipped(r, 20), "its cgroup is unknown (its /proc/<pid>/cgroup has no cgroup v2 line): omit rules cannot be checked");
  });

  test("in a cgroup scope, the verifier cannot place it: refused as outside, with why", async () => {
    const r = await explain(faulty().fail("/proc/11/cgroup", "EIO"), "/work", killPid(11));
    assert.equal(r.chain[0]?.verdicts[0]?.reason, "outside the scope /work: its cgroup is unknown (cgroup unreadable: EIO)");
    assert.deepEqual(victims(r), [12]);
  });
});

describe("a cgroup whose marks or members cannot be read", () => {
  test("its xattrs unreadable: an omit mark may be there; its tasks are refused (they were killed before)", async () => {
    const r = await explain(faulty().fail("/sys/fs/cgroup/protected", "EIO", ["xattr"]));
    assert.deepEqual(victims(r), [11]);
    assert.equal(skipped(r, 20), "omit marks unknown: the xattrs of /protected unreadable: EIO");
  });

  test("its cgroup.procs unreadable: a kill of it, or of an ancestor, could reach unseen tasks", async () => {
    const host = () => faulty().fail("/sys/fs/cgroup/work/a/cgroup.procs", "EIO");
    for (const target of ["/work/a", "/work"]) {
      const r = await explain(host(), "/", killCgroup(target));
      assert.equal(r.chain[0]?.outcome, "rejected", target);
      assert.equal(r.chain[0]?.verdicts[0]?.reason, "cannot see every task in it: the cgroup.procs of /work/a unreadable: EIO", target);
    }
    const b = await explain(host(), "/", killCgroup("/work/b"));
    assert.deepEqual(victims(b), ["/work/b"], "a sibling whose members were read is killed");
  });

  test("a member whose stat cannot be read: a kill of its cgroup goes task by task, sparing it", async () => {
    const r = await explain(faulty().fail("/proc/11/stat", "EIO"), "/", killCgroup("/work"));
    const v = r.chain[0]?.verdicts[0];
    assert.equal(v?.execution?.method, "per-task");
    assert.deepEqual(v?.execution?.method === "per-task" && v.execution.tasks.map((t) => t.pid), [12]);
    assert.deepEqual(v?.execution?.method === "per-task" && [...v.execution.spared].sort((a, b) => a.pid - b.pid), [
      { pid: 10, reason: "oom_score_adj -1000" },
      { pid: 11, reason: "stat unreadable: EIO" },
    ]);
  });

  test("its folder unreadable: its subtree is unknown, a kill of it refused", async () => {
    const r = await explain(faulty().fail("/sys/fs/cgroup/work", "EIO", ["list"]), "/", killCgroup("/work"));
    assert.equal(r.chain[0]?.verdicts[0]?.reason, "cannot see every task in it: the folder of /work unreadable: EIO");
  });
});

describe("the record says what could not be read", () => {
  test("a task whose status cannot be read ranks last, and its candidate says why", async () => {
    const r = await explain(faulty().fail("/proc/11/status", "EIO"));
    assert.deepEqual(victims(r), [12], "with its memory unknown, pid 11 ranks below pid 12");
    const c = r.candidates.find((x) => x.pid === 11);
    assert.equal(c?.unreadable, "status unreadable: EIO");
    assert.equal(c?.skipped, undefined);
    assert.deepEqual(r.unreadable, [{ path: "/proc/11/status", error: "EIO" }]);
    assert.equal(r.unreadableTotal, 1);
  });

  test("a task whose stat cannot be read is skipped with why; the rest are ranked", async () => {
    const r = await explain(faulty().fail("/proc/11/stat", "ENOMEM"));
    assert.deepEqual(victims(r), [12]);
    assert.deepEqual(r.candidates.find((c) => c.pid === 11), { policy: "kernel", kind: "task", pid: 11, skipped: "stat unreadable: ENOMEM" });
    const checked = checkEpisodeRecord(JSON.parse(JSON.stringify(r)));
    assert.ok(checked.ok, checked.ok ? "" : checked.error);
    assert.match(summarize(r), / unreadable=1[ :]/);
  });

  test("meminfo unreadable: the default cannot weigh oom_score_adj; the record names the file", async () => {
    const r = await explain(faulty().fail("/proc/meminfo", "EIO"));
    assert.equal(r.handled, false);
    assert.equal(r.chain[0]?.outcome, "threw");
    assert.match(r.chain[0]?.error ?? "", /MemTotal is unknown \(\/proc\/meminfo unreadable: EIO\); it is needed to weigh oom_score_adj/);
    assert.deepEqual(r.unreadable, [{ path: "/proc/meminfo", error: "EIO" }]);
  });

  test("files a decision does not need: the decision happens, the record lists them", async () => {
    for (const p of ["/proc/pressure/cpu", "/proc/pressure/io", "/proc/sys/kernel/osrelease", "/proc/sys/vm/swappiness"]) {
      const host = faulty().fail(p, "EIO");
      const s = takeSnapshot(host);
      void s.system;
      const r = await new Engine({ defaultPolicy: { policy: kernelPolicy, options: {} } }).explain(s, "/", cause);
      assert.deepEqual(victims(r), [11], p);
      assert.deepEqual(r.unreadable, [{ path: p, error: "EIO" }], p);
    }
  });
});
